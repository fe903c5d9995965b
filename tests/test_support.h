// tests/test_support.h: what the tests share: where the sample PKI and the
// edocgw binary are (CTest passes them in the environment), temporary
// folders, running commands, and a sample Vietnamese package.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace edocgw::test {

// The PKI made by certs-sample/make-sample-pki.sh (CTest fixture "pki").
std::filesystem::path pki();
std::filesystem::path pki(const std::string& file);
// The edocgw binary under test.
std::filesystem::path edocgw_bin();

// A fresh folder under the build tree, removed when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs a shell command line; stdout and stderr are captured apart.
CommandResult run(const std::string& command_line);
std::string quote(const std::filesystem::path& p);

// Metadata of a sample document from Hướng Hóa to Đakrông, Vietnamese subject.
nlohmann::json sample_meta();
inline const std::string kSampleSubject =
    "Về việc triển khai kế hoạch phòng, chống thiên tai năm 2026 – Hướng Hóa, Đakrông";

std::string read(const std::filesystem::path& p);
void write(const std::filesystem::path& p, const std::string& bytes);
// Replaces the first occurrence of `from`; fails the test when absent.
std::string replace_once(std::string text, const std::string& from, const std::string& to);

}  // namespace edocgw::test

namespace edocgw::test {

struct TemplateAlgorithms {
  std::string signature = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
  std::string digest = "http://www.w3.org/2001/04/xmlenc#sha256";
  std::string c14n = "http://www.w3.org/2001/10/xml-exc-c14n#";
};
// Signs `package` with the xmlsec1 command-line tool from an XMLDSig
// template placed in edXMLHeader: an independent signer for interop tests
// and for packages edocgw itself refuses to make (SHA-1, wrong key usage).
std::string xmlsec1_sign(const std::string& package, const std::string& key_pem,
                         const std::string& cert_pem, const std::string& chain_pem,
                         const TemplateAlgorithms& algorithms = {});

}  // namespace edocgw::test
