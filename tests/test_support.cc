#include "tests/test_support.h"

#include <fcntl.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "store/segment_archive.h"
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

std::string edocgw_cmd() {
  return quote(edocgw_bin());
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

bool have(const std::string& tool) {
  return run("command -v " + quote(tool)).exit_code == 0;
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

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

namespace edocgw::test {

namespace {
size_t collect(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}
}  // namespace

HttpResult http(const std::string& method, const std::string& url,
                const std::vector<std::string>& headers, const std::string& body) {
  HttpResult r;
  CURL* c = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST" || !body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return r;
}

bool eventually(const std::function<bool()>& condition, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

GatewayProcess::GatewayProcess(std::filesystem::path dir, std::string config_xml)
    : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
  write(dir_ / "gateway.xml", config_xml);
}

GatewayProcess::~GatewayProcess() {
  if (pid_ > 0) kill9();
}

void GatewayProcess::rewrite_config(const std::string& config_xml) {
  write(dir_ / "gateway.xml", config_xml);
}

std::string GatewayProcess::log() const {
  std::error_code ec;
  return std::filesystem::exists(dir_ / "gateway.log", ec) ? read(dir_ / "gateway.log")
                                                           : std::string();
}

void GatewayProcess::start() {
  const auto log_path = dir_ / "gateway.log";
  const std::string before = log();
  const std::string config = (dir_ / "gateway.xml").string();
  const std::string bin = edocgw_bin().string();
  pid_ = fork();
  if (pid_ == 0) {
    FILE* f = std::fopen(log_path.c_str(), "a");
    if (f != nullptr) dup2(fileno(f), 2);
    execl(bin.c_str(), bin.c_str(), "serve", "--config", config.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for "gateway started" in the part of the log this start wrote.
  const bool up = eventually(
      [&] { return log().find("\"gateway started\"", before.size()) != std::string::npos; }, 30);
  if (!up)
    throw std::runtime_error("the gateway in " + dir_.string() + " did not start:\n" + log());
  const std::string fresh = log().substr(before.size());
  const std::regex api(
      R"re("address":"127\.0\.0\.1:(\d+)","level":"info","msg":"local API listening")re");
  const std::regex exchange(
      R"re("address":"127\.0\.0\.1:(\d+)","level":"info","msg":"exchange API listening")re");
  std::smatch m;
  if (std::regex_search(fresh, m, api)) api_port_ = std::stoi(m[1]);
  if (std::regex_search(fresh, m, exchange)) exchange_port_ = std::stoi(m[1]);
}

bool GatewayProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void GatewayProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int GatewayProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void GatewayProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

OcspResponder::OcspResponder(const std::string& signer) : port_(free_port()) {
  const std::string index = pki("issuing-index.txt").string(), ca = pki("ca.pem").string(),
                    cert = pki(signer + ".pem").string(), key = pki(signer + ".key").string(),
                    port = std::to_string(port_);
  pid_ = fork();
  if (pid_ == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execlp("openssl", "openssl", "ocsp", "-index", index.c_str(), "-CA", ca.c_str(), "-rsigner",
           cert.c_str(), "-rkey", key.c_str(), "-port", port.c_str(), "-nmin", "10",
           static_cast<char*>(nullptr));
    _exit(127);
  }
  // Ready when it answers a real OCSP request (other requests stop it).
  const bool ready = eventually(
      [&] {
        return run("openssl ocsp -issuer " + quote(pki("ca.pem")) + " -cert " +
                   quote(pki("huong-hoa.pem")) + " -noverify -url " + url())
                   .exit_code == 0;
      },
      10);
  if (!ready) throw std::runtime_error("openssl ocsp did not start on port " + port);
}

OcspResponder::~OcspResponder() {
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
}

}  // namespace edocgw::test

#include <openssl/sha.h>
#include <sqlite3.h>

namespace edocgw::test {
namespace {

struct Row {
  store::PackageRef ref;
  std::string id;
};

// Rows of the packages table (all, or `id`'s), opened read-only.
std::vector<Row> package_rows(const std::filesystem::path& data_dir, const std::string& id) {
  sqlite3* db = nullptr;
  const auto path = (data_dir / "edocgw.sqlite").string();
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path);
  }
  sqlite3_busy_timeout(db, 10000);
  const char* sql = id.empty()
                        ? "SELECT id, seg, pos, len, sha256 FROM packages ORDER BY stored_at, rowid"
                        : "SELECT id, seg, pos, len, sha256 FROM packages WHERE id = ?";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw std::runtime_error("cannot read " + path + ": " + msg);
  }
  if (!id.empty()) sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<Row> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    Row r;
    r.id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    r.ref.segment = static_cast<std::uint64_t>(sqlite3_column_int64(st, 1));
    r.ref.offset = static_cast<std::uint64_t>(sqlite3_column_int64(st, 2));
    r.ref.length = static_cast<std::uint64_t>(sqlite3_column_int64(st, 3));
    r.ref.sha256_hex = reinterpret_cast<const char*>(sqlite3_column_text(st, 4));
    out.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::string sha256_raw(const std::string& bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  return std::string(reinterpret_cast<const char*>(md), sizeof md);
}

}  // namespace

std::string stored_package(const std::filesystem::path& data_dir, const std::string& id) {
  const auto rows = package_rows(data_dir, id);
  if (rows.empty()) throw std::runtime_error("no package " + id + " in " + data_dir.string());
  auto body = store::SegmentArchive::read_record(data_dir / store::kSegmentsFolder, rows[0].ref,
                                                 1ull << 30);
  if (!body) throw std::runtime_error(body.error().message);
  if (!*body) throw std::runtime_error("the segment of package " + id + " is gone");
  return **body;
}

std::vector<std::string> stored_package_ids(const std::filesystem::path& data_dir) {
  std::vector<std::string> ids;
  for (const auto& r : package_rows(data_dir, "")) ids.push_back(r.id);
  return ids;
}

void forge_stored_package(const std::filesystem::path& data_dir, const std::string& id,
                          const std::string& body) {
  const auto rows = package_rows(data_dir, id);
  if (rows.empty()) throw std::runtime_error("no package " + id + " in " + data_dir.string());
  const store::PackageRef& ref = rows[0].ref;
  if (body.size() != ref.length) throw std::runtime_error("a forged body must keep its length");
  const auto segment = data_dir / store::kSegmentsFolder / store::segment_file_name(ref.segment);
  std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
  std::string header(store::kRecordHeaderBytes, '\0');
  f.seekg(static_cast<std::streamoff>(ref.offset));
  f.read(header.data(), static_cast<std::streamsize>(header.size()));
  const std::string digest = sha256_raw(body);
  header.replace(40, 32, digest);
  header.replace(72, 8, sha256_raw(header.substr(0, 72)).substr(0, 8));
  f.seekp(static_cast<std::streamoff>(ref.offset));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(body.data(), static_cast<std::streamsize>(body.size()));
  f.close();
  if (!f) throw std::runtime_error("cannot rewrite " + segment.string());
  std::string hex;
  static const char* digits = "0123456789abcdef";
  for (unsigned char c : digest) {
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  sqlite3* db = nullptr;
  const auto path = (data_dir / "edocgw.sqlite").string();
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path);
  }
  sqlite3_busy_timeout(db, 10000);
  const std::string sql = "UPDATE packages SET sha256 = '" + hex + "' WHERE id = '" + id + "'";
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("cannot update " + path + ": " + msg);
}

}  // namespace edocgw::test
