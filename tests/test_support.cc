#include "tests/test_support.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "util/bytes.h"

namespace edocgw::test {

namespace {
std::filesystem::path env_path(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr)
    throw std::runtime_error(std::string(name) + " is not set: run the tests with ctest");
  return v;
}
}  // namespace

std::filesystem::path pki() {
  return env_path("EDOCGW_TEST_PKI");
}
std::filesystem::path pki(const std::string& file) {
  return pki() / file;
}
std::filesystem::path edocgw_bin() {
  return env_path("EDOCGW_BIN");
}

TempDir::TempDir() {
  const auto base = env_path("EDOCGW_TEST_TMP");
  std::filesystem::create_directories(base);
  path_ = base / random_uuid();
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string quote(const std::filesystem::path& p) {
  std::string out = "'";
  for (char c : p.string()) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

CommandResult run(const std::string& command_line) {
  TempDir dir;
  const auto out = dir / "stdout";
  const auto err = dir / "stderr";
  const std::string full =
      "(" + command_line + ") >" + quote(out) + " 2>" + quote(err) + " </dev/null";
  const int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read(out);
  r.err = read(err);
  return r;
}

nlohmann::json sample_meta() {
  return {
      {"from",
       {{"organ_id", "000.00.12.H50"},
        {"organ_name", "UBND huyện Hướng Hóa"},
        {"organ_add", "Thị trấn Khe Sanh, huyện Hướng Hóa, tỉnh Quảng Trị"},
        {"email", "vanthu@huonghoa.example"}}},
      {"to", {{{"organ_id", "000.00.13.H50"}, {"organ_name", "UBND huyện Đakrông"}}}},
      {"code", {{"number", "125"}, {"notation", "UBND-VP"}}},
      {"promulgation", {{"place", "Hướng Hóa"}, {"date", "2026/11/28"}}},
      {"document_type", {{"type", "1"}, {"name", "Công văn"}}},
      {"subject", kSampleSubject},
      {"content", "Kính gửi: Ủy ban nhân dân huyện Đakrông."},
      {"signer",
       {{"competence", "TM. UBND"}, {"position", "Chủ tịch"}, {"full_name", "Nguyễn Văn Ánh"}}},
      {"due_date", "2026/12/15"},
  };
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  if (pos == std::string::npos) throw std::runtime_error("'" + from + "' not found");
  return text.replace(pos, from.size(), to);
}

}  // namespace edocgw::test

namespace edocgw::test {

std::string xmlsec1_sign(const std::string& package, const std::string& key_pem,
                         const std::string& cert_pem, const std::string& chain_pem,
                         const TemplateAlgorithms& a) {
  const std::string tmpl =
      "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>"
      "<ds:CanonicalizationMethod Algorithm=\"" +
      a.c14n +
      "\"/>"
      "<ds:SignatureMethod Algorithm=\"" +
      a.signature +
      "\"/>"
      "<ds:Reference URI=\"\"><ds:Transforms>"
      "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>"
      "<ds:Transform Algorithm=\"" +
      a.c14n +
      "\"/></ds:Transforms>"
      "<ds:DigestMethod Algorithm=\"" +
      a.digest +
      "\"/><ds:DigestValue/></ds:Reference>"
      "</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>";
  TempDir dir;
  write(dir / "template.xml",
        replace_once(package, "</edXML:edXMLHeader>", tmpl + "</edXML:edXMLHeader>"));
  std::string keys = key_pem + "," + cert_pem;
  if (!chain_pem.empty()) keys += "," + chain_pem;
  const auto r = run("xmlsec1 --sign --privkey-pem " + quote(keys) + " --output " +
                     quote(dir / "signed.xml") + " " + quote(dir / "template.xml"));
  if (r.exit_code != 0) throw std::runtime_error("xmlsec1 --sign failed: " + r.err);
  return read(dir / "signed.xml");
}

}  // namespace edocgw::test
