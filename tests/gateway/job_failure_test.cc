// Issue 9, item 2: no pool job may end the process. An exception escaping a
// job used to reach std::terminate (the report: a symlink loop in the pickup
// folder's accepted/ made std::filesystem::exists throw ELOOP, on every
// restart). Gateway::run_job now catches at the job boundary, logs and
// counts edocgw_job_failures_total. A real `edocgw serve` here, with real
// faults: that symlink loop, then a job that really throws.
#define BOOST_TEST_MODULE job_failure
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/gateway/province.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using namespace edocgw::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Hướng Hóa alone: documents for Đakrông are written into a folder, and
// packages dropped in var/outbox are picked up, every 100 ms.
std::string config() {
  return R"(<gateway organ-id="000.00.12.H50" name="UBND huyện Hướng Hóa" data-dir="var">
  <identity cert=")" +
         pki("huong-hoa.pem").string() + R"(" key=")" + pki("huong-hoa.key").string() +
         R"(" chain=")" + pki("ca.pem").string() + R"("/>
  <trust anchors=")" +
         pki("root.pem").string() + R"(" crl=")" + pki("crls.pem").string() +
         R"(" revocation="require"/>
  <api listen="127.0.0.1:0">
    <client name="qlvb" token-sha256=")" +
         sha256_hex(kTokenA) + R"("/>
  </api>
  <adapters>
    <adapter name="dakrong" type="directory" path="var/to-dakrong" pickup="var/outbox"
             pickup-interval="100ms"/>
  </adapters>
  <routes>
    <route to="000.00.13.H50" via="dakrong"/>
  </routes>
</gateway>
)";
}

// `edocgw serve --config ../gateway.xml` started from DIR/run, as an
// operator starts it from a deployment folder; stderr to DIR/gateway.log.
// Killed when the object goes.
class Served {
 public:
  explicit Served(const fs::path& dir) : dir_(dir) {
    fs::create_directories(dir / "run");
    const std::string bin = edocgw_bin().string();
    const std::string log = (dir / "gateway.log").string();
    const std::string run = (dir / "run").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) ::dup2(fd, 2);
      if (::chdir(run.c_str()) != 0) ::_exit(126);
      ::execl(bin.c_str(), bin.c_str(), "serve", "--config", "../gateway.xml",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (!eventually([&] { return log_text().find("\"gateway started\"") != std::string::npos; }))
      throw std::runtime_error("the gateway did not start:\n" + log_text());
    const std::string text = log_text();
    std::smatch m;
    const std::regex api(
        R"re("address":"127\.0\.0\.1:(\d+)","level":"info","msg":"local API listening")re");
    if (!std::regex_search(text, m, api)) throw std::runtime_error("no API port in:\n" + text);
    port_ = std::stoi(m[1]);
  }
  ~Served() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Served(const Served&) = delete;
  Served& operator=(const Served&) = delete;

  // Whether the process is still there; once it is not, how it ended.
  bool running() {
    if (ended_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == 0) return true;
    ended_ = true;
    how_ = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                               : "exited with " + std::to_string(WEXITSTATUS(status));
    return false;
  }
  const std::string& how_it_ended() const { return how_; }
  void signal(int sig) const { ::kill(pid_, sig); }
  std::string log_text() const {
    std::error_code ec;
    return fs::exists(dir_ / "gateway.log", ec) ? read(dir_ / "gateway.log") : std::string();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool ended_ = false;
  std::string how_;
};

// The value of edocgw_job_failures_total{job="JOB"} in /metrics; -1 when
// /metrics does not answer, 0 when the series is absent.
double job_failures(const Served& g, const std::string& job) {
  const auto r = http("GET", g.url() + "/metrics", {"Authorization: Bearer " + kTokenA});
  if (r.status != 200) return -1;
  std::smatch m;
  const std::regex series("edocgw_job_failures_total\\{job=\"" + job + "\"\\} ([0-9.e+]+)");
  return std::regex_search(r.body, m, series) ? std::stod(m[1]) : 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_job_that_throws_is_logged_and_counted_and_the_gateway_keeps_working) {
  TempDir dir;
  write(dir / "gateway.xml", config());
  Served g(dir.path());
  const fs::path outbox = dir / "var/outbox";

  // The reported fault: accepted/ is a symbolic link to itself. The pickup
  // no longer asks std::filesystem about it (it opens with O_NOFOLLOW), so
  // it is a reason in the log, not an exception.
  fs::create_directories(outbox);
  fs::create_directory_symlink("accepted", outbox / "accepted");
  write(outbox / "cv-1.xml", package("1"));
  BOOST_TEST(eventually([&] {
    return g.log_text().find("picked-up package could not be moved") != std::string::npos;
  }));
  BOOST_REQUIRE_MESSAGE(g.running(), "the gateway ended (" << g.how_it_ended() << "):\n"
                                                           << g.log_text());

  // A job that really throws: the folder the gateway was started from is
  // removed (as a redeployment does), then SIGHUP. The reload reads
  // ../gateway.xml fine, but resolving it to an absolute path asks for the
  // working folder: std::filesystem throws ENOENT inside the reload job.
  // (Should the reload stop throwing here, as it well may, this test needs
  // another job that really throws; it must not pass without one.)
  BOOST_TEST(job_failures(g, "reload") == 0);
  fs::remove(dir / "run");
  g.signal(SIGHUP);
  BOOST_TEST(eventually([&] { return job_failures(g, "reload") >= 1 || !g.running(); }));
  BOOST_REQUIRE_MESSAGE(g.running(), "the gateway ended (" << g.how_it_ended() << "):\n"
                                                           << g.log_text());
  BOOST_TEST(job_failures(g, "reload") >= 1);
  const std::string log = g.log_text();
  const auto failed = log.find("\"msg\":\"a job failed; it runs again next round\"");
  BOOST_REQUIRE(failed != std::string::npos);
  const auto line = log.rfind('\n', failed) + 1;
  BOOST_TEST_MESSAGE(log.substr(line, log.find('\n', failed) - line));

  // The configuration in force keeps running: a document submitted now goes through.
  const std::string id = id_of(
      http("POST", g.url() + "/v1/documents",
           {"Authorization: Bearer " + kTokenA, "Content-Type: application/xml"}, package("2")));
  BOOST_TEST(eventually([&] {
    const auto r =
        http("GET", g.url() + "/v1/documents/" + id, {"Authorization: Bearer " + kTokenA});
    return r.status == 200 && json::parse(r.body)["status"] == "sent";
  }));
  BOOST_TEST(fs::exists(dir / "var/to-dakrong" / (id + ".xml")));
  BOOST_TEST(g.running());
}
