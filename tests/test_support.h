// tests/test_support.h: what the tests share: where the sample PKI and the
// edocgw binary are (CTest passes them in the environment), temporary
// folders, running commands, and a sample Vietnamese package.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace edocgw::test {

// The PKI made by certs-sample/make-sample-pki.sh (CTest fixture "pki").
std::filesystem::path pki();
std::filesystem::path pki(const std::string& file);
// The edocgw binary under test.
std::filesystem::path edocgw_bin();
// The same, quoted for a command line given to run().
std::string edocgw_cmd();

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
// Whether the shell finds `tool` (a program on PATH, or a builtin).
bool have(const std::string& tool);
std::string quote(const std::filesystem::path& p);

// Metadata of a sample document from Hướng Hóa to Đakrông, Vietnamese subject.
nlohmann::json sample_meta();
inline const std::string kSampleSubject =
    "Về việc triển khai kế hoạch phòng, chống thiên tai năm 2026 – Hướng Hóa, Đakrông";

std::string read(const std::filesystem::path& p);
void write(const std::filesystem::path& p, const std::string& bytes);
// Replaces the first occurrence of `from`; fails the test when absent.
std::string replace_once(std::string text, const std::string& from, const std::string& to);

// A gateway's stored package (a document, inbox or hub package id) read from
// its data-dir as the auditor reads it: the row in edocgw.sqlite (opened
// read-only) and the record in segments/. Throws when it is not there.
std::string stored_package(const std::filesystem::path& data_dir, const std::string& id);
// Every id in the data-dir's packages table, oldest first.
std::vector<std::string> stored_package_ids(const std::filesystem::path& data_dir);
// The fault a gateway's own checks cannot prevent: someone with write
// access to the data-dir replaces a stored body with `body` of the same
// length and makes the segment record and the row agree with it (SHA-256 in
// the record header, its check, the row's sha256), as a careful forger
// would. Throws when the lengths differ.
void forge_stored_package(const std::filesystem::path& data_dir, const std::string& id,
                          const std::string& body);

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

namespace edocgw::test {

struct HttpResult {
  long status = 0;  // 0: no answer
  std::string body;
};
// One HTTP request with libcurl; headers as "Name: value".
HttpResult http(const std::string& method, const std::string& url,
                const std::vector<std::string>& headers = {}, const std::string& body = {});

// A real `edocgw serve` process on loopback, with its own folder, config
// and log. Ports in the config may be 0; the bound ones are read from the
// log. Killed (SIGKILL) when the object goes, unless stopped before.
class GatewayProcess {
 public:
  GatewayProcess(std::filesystem::path dir, std::string config_xml);
  ~GatewayProcess();
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;

  // Starts the process and waits until its listeners are up.
  void start();
  // SIGTERM and wait; returns the exit code.
  int stop();
  void kill9();
  void signal(int sig);
  bool running();

  int api_port() const { return api_port_; }
  int exchange_port() const { return exchange_port_; }
  std::string api_url() const { return "http://127.0.0.1:" + std::to_string(api_port_); }
  const std::filesystem::path& dir() const { return dir_; }
  std::string log() const;
  void rewrite_config(const std::string& config_xml);

 private:
  std::filesystem::path dir_;
  int pid_ = -1;
  int api_port_ = 0, exchange_port_ = 0;
};

// `openssl ocsp` answering for the sample issuing CA (its database
// issuing-index.txt) on a loopback port, signing with the PKI's `signer`
// certificate; stopped when the object goes.
class OcspResponder {
 public:
  explicit OcspResponder(const std::string& signer = "ocsp");
  ~OcspResponder();
  OcspResponder(const OcspResponder&) = delete;
  OcspResponder& operator=(const OcspResponder&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  int pid_ = -1;
};

// Polls `condition` every 50 ms until it holds or `seconds` pass.
bool eventually(const std::function<bool()>& condition, double seconds = 30);
// A loopback port that was free a moment ago.
int free_port();

}  // namespace edocgw::test
