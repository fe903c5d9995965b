// The vdxp adapter against a hostile exchange: a fake hub on loopback (the
// one fault we cannot make our own hub commit) answering endless lists,
// endless packages, millions of tiny JSON objects and numbers out of every
// range. The adapter must refuse each with an error, promptly, in bounded
// memory (VmRSS of this process), and hand packages over one at a time.
#define BOOST_TEST_MODULE vdxp_adapter
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "adapters/vdxp/vdxp_adapter.h"
#include "util/bytes.h"

using namespace edocgw;
using namespace edocgw::adapters;

namespace {

long vm_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

bool send_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// A one-thread HTTP/1.1 server on a loopback port: each request's path goes
// to `answer`, which writes the whole response (it may stream without end:
// a write error ends it). One request per connection.
class FakeHub {
 public:
  using Answer = std::function<void(const std::string& path, int fd)>;
  explicit FakeHub(Answer answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 16);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeHub() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> paths() {
    std::lock_guard lock(m_);
    return paths_;
  }

 private:
  void run() {
    while (!stop_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::string head;
      char buf[4096];
      size_t body_needed = 0;
      for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
        const auto end = head.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        const auto cl = head.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) body_needed = std::stoul(head.substr(cl + 16));
        if (head.size() >= end + 4 + body_needed) break;
      }
      const auto sp = head.find(' ');
      const std::string path = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
      {
        std::lock_guard lock(m_);
        paths_.push_back(path);
      }
      answer_(path, fd);
      ::close(fd);
    }
  }

  Answer answer_;
  int listener_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex m_;
  std::vector<std::string> paths_;
};

void answer_json(int fd, const std::string& body) {
  send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

// Claims `claimed` bytes and streams `prefix` then `unit` until the client hangs up.
void answer_endless(int fd, const std::string& claimed, const std::string& prefix,
                    const std::string& unit) {
  if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                        claimed + "\r\nConnection: close\r\n\r\n" + prefix))
    return;
  std::string chunk;
  while (chunk.size() < (1u << 20)) chunk += unit;
  for (size_t sent = 0; sent < (size_t{3} << 30); sent += chunk.size()) {
    if (!send_all(fd, chunk)) return;
  }
}

vdxp::VdxpAdapter adapter_for(const FakeHub& hub) {
  vdxp::VdxpSettings s;
  s.url = hub.url();
  s.system_id = "district";
  s.secret = "example-secret-not-real";
  s.timeout = std::chrono::seconds(60);
  return vdxp::VdxpAdapter("province", s);
}

const std::string kOk = R"("status":"OK","ErrorCode":0,"ErrorDesc":"")";

}  // namespace

BOOST_AUTO_TEST_CASE(a_list_of_one_and_a_half_gigabytes_is_refused_in_bounded_memory) {
  FakeHub hub([](const std::string&, int fd) {
    answer_endless(fd, "1610612736", "{" + kOk + R"(,"data":[)", R"({"docId":"x","from":"y"},)");
  });
  auto a = adapter_for(hub);
  const long before = vm_rss_kb();
  size_t handed = 0;
  auto n = a.poll([&](IncomingPackage&&) { ++handed; });
  const long grown_mb = (vm_rss_kb() - before) / 1024;
  BOOST_TEST_MESSAGE("VmRSS grew by " << grown_mb << " MB");
  BOOST_REQUIRE(!n.ok());
  BOOST_TEST(n.error().message.find("larger than") != std::string::npos, n.error().message);
  BOOST_TEST(handed == 0u);
  BOOST_TEST(grown_mb < 64);
}

BOOST_AUTO_TEST_CASE(an_endless_package_is_refused_in_bounded_memory) {
  FakeHub hub([](const std::string& path, int fd) {
    if (path == "/getReceivedEdocList")
      return answer_json(fd, "{" + kOk + R"(,"data":[{"docId":"d1","from":"hub"}]})");
    answer_endless(fd, "1610612736", "{" + kOk + R"(,"data":")", "QUFB");
  });
  auto a = adapter_for(hub);
  const long before = vm_rss_kb();
  auto n = a.poll([&](IncomingPackage&&) {});
  const long grown_mb = (vm_rss_kb() - before) / 1024;
  BOOST_TEST_MESSAGE("VmRSS grew by " << grown_mb << " MB");
  BOOST_REQUIRE(!n.ok());
  BOOST_TEST(n.error().message.find("larger than") != std::string::npos, n.error().message);
  // The cap on a package answer (128 MB) with its one copy, no more.
  BOOST_TEST(grown_mb < 2 * 128 + 32);
}

BOOST_AUTO_TEST_CASE(millions_of_tiny_objects_cost_no_more_than_their_bytes) {
  // 8 MB of {} in a list that is not `data`: a document tree of them would
  // take hundreds of megabytes.
  std::string junk = "{" + kOk + R"(,"junk":[)";
  while (junk.size() < vdxp::VdxpAdapter::kMaxSmallAnswerBytes - 64) junk += "{},";
  junk += R"({}],"data":[]})";
  FakeHub hub([&](const std::string&, int fd) { answer_json(fd, junk); });
  auto a = adapter_for(hub);
  const long before = vm_rss_kb();
  auto n = a.poll([&](IncomingPackage&&) {});
  const long grown_mb = (vm_rss_kb() - before) / 1024;
  BOOST_TEST_MESSAGE("VmRSS grew by " << grown_mb << " MB");
  BOOST_REQUIRE_MESSAGE(n.ok(), (n.ok() ? std::string() : n.error().message));
  BOOST_TEST(*n == 0u);
  BOOST_TEST(grown_mb < 48);
}

BOOST_AUTO_TEST_CASE(packages_are_handed_over_one_at_a_time_as_they_are_fetched) {
  FakeHub* self = nullptr;
  FakeHub hub([&](const std::string& path, int fd) {
    if (path == "/getReceivedEdocList") {
      static int lists = 0;
      return answer_json(fd, ++lists == 1 ? "{" + kOk +
                                                R"(,"data":[{"docId":"d1","from":"a"},)"
                                                R"({"docId":"d2","from":"b"},)"
                                                R"({"docId":"d3","from":"c"}]})"
                                          : "{" + kOk + R"(,"data":[]})");
    }
    answer_json(fd, "{" + kOk + R"(,"data":")" + base64_encode("<p/>") + "\"}");
  });
  self = &hub;
  auto a = adapter_for(hub);
  std::vector<std::string> got;
  auto n = a.poll([&](IncomingPackage&& p) {
    got.push_back(p.remote_id + "<-" + p.from_organ_id);
    // The next package is not fetched before this one is handed over.
    size_t fetched = 0;
    for (const auto& path : self->paths()) fetched += path == "/getEdoc";
    BOOST_TEST(fetched == got.size());
    BOOST_TEST(p.bytes == "<p/>");
  });
  BOOST_REQUIRE(n.ok());
  BOOST_TEST(*n == 3u);
  BOOST_TEST(got == (std::vector<std::string>{"d1<-a", "d2<-b", "d3<-c"}));
}

BOOST_AUTO_TEST_CASE(numbers_out_of_every_range_are_errors_or_text_never_a_crash) {
  for (const std::string number :
       {"-9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "99999999999999999999999999999999", "1e999", "-1e999", "1e-999"}) {
    FakeHub hub([&](const std::string&, int fd) {
      answer_json(fd, R"({"status":"FAIL","ErrorCode":)" + number + R"(,"ErrorDesc":)" + number +
                          R"(,"DocId":)" + number + "}");
    });
    auto a = adapter_for(hub);
    auto n = a.poll();
    BOOST_TEST(!n.ok(), number);  // FAIL, or not JSON: an error either way
    auto r = a.deliver({"x", "", "000.00.12.H50", {}, "edoc", "<p/>", ""});
    BOOST_TEST(!r.ok(), number);
  }
  BOOST_TEST(!vdxp::is_sdk_timestamp("-9223372036854775808"));
  BOOST_TEST(!vdxp::is_sdk_timestamp("99999999T999999+9999"));
  BOOST_TEST(!vdxp::is_sdk_timestamp("-1-1-1-1T-1-1-1+-1-1"));
  BOOST_TEST(vdxp::is_sdk_timestamp("29112026T203000+0123"));
}
