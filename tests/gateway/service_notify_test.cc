// Issue 13: readiness and reload reported to systemd (Type=notify). The
// test is the service manager's side of sd_notify(3): a unix datagram
// socket named in NOTIFY_SOCKET, read while a real `edocgw serve` starts,
// reloads (a good config, then a broken one), pings the watchdog and stops.
#define BOOST_TEST_MODULE service_notify
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tests/gateway/province.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using namespace edocgw::test;

namespace {

std::string config() {
  return R"(<gateway organ-id="000.00.12.H50" name="UBND huyện Hướng Hóa" data-dir="var">
  <identity cert=")" +
         pki("huong-hoa.pem").string() + R"(" key=")" + pki("huong-hoa.key").string() +
         R"(" chain=")" + pki("ca.pem").string() + R"("/>
  <trust anchors=")" +
         pki("root.pem").string() + R"(" revocation="off"/>
  <api listen="127.0.0.1:0">
    <client name="qlvb" token-sha256=")" +
         sha256_hex(kTokenA) + R"("/>
  </api>
  <adapters>
    <adapter name="dakrong" type="directory" path="var/to-dakrong"/>
  </adapters>
  <routes>
    <route to="000.00.13.H50" via="dakrong"/>
  </routes>
</gateway>
)";
}

// The manager's end: a datagram socket; each message is one sd_notify call.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    BOOST_REQUIRE(path.string().size() < sizeof(addr.sun_path));
    std::strcpy(addr.sun_path, path.c_str());
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    timeval tv{0, 100 * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~NotifySocket() { ::close(fd_); }

  // Every message received within `seconds`, until one contains `until`.
  std::vector<std::string> read_until(const std::string& until, double seconds = 30) {
    std::vector<std::string> got;
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int>(seconds * 1000));
    while (std::chrono::steady_clock::now() < end) {
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      got.emplace_back(buf, static_cast<size_t>(n));
      if (got.back().find(until) != std::string::npos) break;
    }
    return got;
  }

 private:
  int fd_ = -1;
};

std::string joined(const std::vector<std::string>& messages) {
  std::string all;
  for (const auto& m : messages) all += "[" + m + "]";
  return all;
}

// Sets an environment variable for the processes started in a scope.
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }
  const char* name_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(ready_reloading_watchdog_and_stopping_reach_the_manager) {
  TempDir dir;
  NotifySocket manager(dir / "notify");
  ScopedEnv socket("NOTIFY_SOCKET", (dir / "notify").string());
  ScopedEnv watchdog("WATCHDOG_USEC", "200000");  // 0.2 s: pings every 0.1 s

  GatewayProcess gateway(dir / "gw", config());
  gateway.start();
  // READY=1 comes once the listener is up: the port answers.
  const std::string started = joined(manager.read_until("READY=1"));
  BOOST_REQUIRE_MESSAGE(started.find("READY=1") != std::string::npos, started);
  BOOST_TEST(started.find("STATUS=serving") != std::string::npos, started);
  BOOST_TEST(http("GET", gateway.api_url() + "/healthz").status == 200);

  // The watchdog: several pings within a second.
  int pings = 0;
  for (const auto& m : manager.read_until("no such message", 1.0))
    pings += m.find("WATCHDOG=1") != std::string::npos;
  BOOST_TEST(pings >= 3, pings << " pings in 1 s with WatchdogSec=0.2s");

  // A reload: RELOADING=1 with the monotonic time, then READY=1.
  gateway.signal(SIGHUP);
  const std::string reload = joined(manager.read_until("configuration reloaded"));
  const auto reloading = reload.find("RELOADING=1\nMONOTONIC_USEC=");
  const auto ready = reload.find("READY=1\nSTATUS=serving; configuration reloaded");
  BOOST_TEST(reloading != std::string::npos, reload);
  BOOST_TEST(ready != std::string::npos, reload);
  BOOST_TEST(reloading < ready);

  // A broken config: the reload is refused, and systemd still hears READY=1
  // (else it would wait out its timeout), with the reason as the status.
  gateway.rewrite_config("<gateway organ-id=\"000.00.12.H50\"");
  gateway.signal(SIGHUP);
  const std::string refused = joined(manager.read_until("READY=1\nSTATUS=serving; reload refused"));
  BOOST_TEST(refused.find("RELOADING=1") != std::string::npos, refused);
  BOOST_TEST(
      refused.find("READY=1\nSTATUS=serving; reload refused, the old configuration runs on") !=
          std::string::npos,
      refused);
  BOOST_TEST(http("GET", gateway.api_url() + "/healthz").status == 200);

  gateway.signal(SIGTERM);
  const std::string stopping = joined(manager.read_until("STOPPING=1"));
  BOOST_TEST(stopping.find("STOPPING=1") != std::string::npos, stopping);
  BOOST_TEST(gateway.stop() == 0);
}

// Not started by systemd (no NOTIFY_SOCKET), or told of a manager that is
// not there: sd_notify fails, and the gateway serves and reloads all the
// same ("a manager that cannot be told must not stop the gateway").
BOOST_AUTO_TEST_CASE(without_a_reachable_manager_serve_runs_and_reloads) {
  for (const bool named : {false, true}) {
    BOOST_TEST_CONTEXT(std::string(named ? "NOTIFY_SOCKET names no socket" : "no NOTIFY_SOCKET")) {
      TempDir dir;
      std::optional<ScopedEnv> socket;
      if (named)
        socket.emplace("NOTIFY_SOCKET", (dir / "no-manager-here").string());
      else
        ::unsetenv("NOTIFY_SOCKET");
      GatewayProcess gateway(dir / "gw", config());
      gateway.start();
      socket.reset();
      BOOST_TEST(http("GET", gateway.api_url() + "/healthz").status == 200);
      gateway.signal(SIGHUP);
      BOOST_TEST(eventually(
          [&] { return gateway.log().find("configuration reloaded") != std::string::npos; }));
      BOOST_TEST(http("GET", gateway.api_url() + "/healthz").status == 200);
      BOOST_TEST(gateway.stop() == 0);
    }
  }
}
