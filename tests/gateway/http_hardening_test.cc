// The local API against hostile clients (issue 9, items 2, 3, 6, 14, 16): a
// real `edocgw serve` on loopback, raw sockets where libcurl would be polite.
#define BOOST_TEST_MODULE http_hardening
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/gateway/province.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace edocgw::test;
using nlohmann::json;

namespace {

// Sends `request` on a fresh connection and reads the answer until the
// server closes or 5 s pass.
std::string raw(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return {};
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

unsigned status_of(const std::string& answer) {
  return answer.size() > 12 ? static_cast<unsigned>(std::stoi(answer.substr(9, 3))) : 0;
}

// The JSON body of an answer read whole; null when there is none.
json body_of(const std::string& answer) {
  const auto blank = answer.find("\r\n\r\n");
  if (blank == std::string::npos) return json();
  return json::parse(answer.substr(blank + 4), nullptr, false);
}

using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

// A client socket, closed when it goes.
struct Client {
  int fd = -1;
  Client() = default;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() {
    if (fd >= 0) ::close(fd);
  }

  // Connects to 127.0.0.1:port from `source` (any address of 127.0.0.0/8:
  // loopback answers them all, so one machine can play several clients).
  bool connect(int port, const char* source = "127.0.0.1") {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return false;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  // Sends all of `bytes` (false when the server closed or `seconds` passed).
  bool send(const std::string& bytes, int seconds = 5) {
    timeval tv{seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until the server closes (or resets) the connection, or `seconds`
  // pass; `closed` tells which.
  std::string read_until_closed(double seconds, bool* closed = nullptr) {
    const auto deadline = SteadyClock::now() + std::chrono::duration<double>(seconds);
    std::string out;
    char buf[4096];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now())
              .count();
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
        if (closed) *closed = false;
        return out;
      }
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        return out;
      }
      out.append(buf, static_cast<size_t>(n));
    }
  }
  // Reads one whole answer (its header and Content-Length bytes of body),
  // or what came before `seconds` passed or the connection closed.
  std::string read_answer(double seconds) {
    const auto deadline = SteadyClock::now() + std::chrono::duration<double>(seconds);
    std::string out;
    char buf[4096];
    for (;;) {
      const auto blank = out.find("\r\n\r\n");
      if (blank != std::string::npos) {
        const auto cl = out.find("Content-Length: ");
        const size_t length =
            cl != std::string::npos && cl < blank ? std::stoul(out.substr(cl + 16)) : 0;
        if (out.size() >= blank + 4 + length) return out;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now())
              .count();
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return out;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  // Still open: nothing to read and no end of stream.
  bool open() const {
    char c;
    const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

// A district gateway alone, with `api_extra` added to its <api> element:
// no hub (whose absence /healthz would report), documents go to a folder.
struct District {
  test::TempDir dir;
  std::unique_ptr<test::GatewayProcess> gw;

  explicit District(const std::string& api_extra) {
    const std::string config =
        R"(<gateway organ-id="000.00.12.H50" name="UBND huyện Hướng Hóa" data-dir="var">
  <identity cert=")" +
        pki("huong-hoa.pem").string() + R"(" key=")" + pki("huong-hoa.key").string() +
        R"(" chain=")" + pki("ca.pem").string() + R"("/>
  <trust anchors=")" +
        pki("root.pem").string() + R"(" crl=")" + pki("crls.pem").string() +
        R"(" revocation="require"/>
  <api listen="127.0.0.1:0")" +
        api_extra + R"(>
    <client name="qlvb" token-sha256=")" +
        sha256_hex(kTokenA) + R"("/>
  </api>
  <adapters>
    <adapter name="office" type="directory" path="var/office"/>
  </adapters>
  <routes>
    <route to="*" via="office"/>
    <inbound via="office"/>
  </routes>
</gateway>
)";
    gw = std::make_unique<test::GatewayProcess>(dir / "huong-hoa", config);
    gw->start();
  }
  int port() const { return gw->api_port(); }

  // The gateway's process: the child of this test started with its config.
  int pid() const {
    const std::string config = (gw->dir() / "gateway.xml").string();
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream status(e.path() / "status");
      int ppid = -1;
      for (std::string line; std::getline(status, line);) {
        if (line.rfind("PPid:", 0) == 0) ppid = std::stoi(line.substr(5));
      }
      if (ppid != ::getpid()) continue;
      std::ifstream cmdline(e.path() / "cmdline");
      const std::string args((std::istreambuf_iterator<char>(cmdline)),
                             std::istreambuf_iterator<char>());
      if (args.find(config) != std::string::npos) return std::stoi(name);
    }
    return -1;
  }
  // Its resident memory in KB, once it has stopped changing (for half a
  // second, within 10 s): what the gateway holds once it has read what
  // was sent.
  long settled_rss_kb() const {
    long last = rss_kb();
    int same = 0;
    const auto start = SteadyClock::now();
    while (same < 5 && seconds_since(start) < 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const long now = rss_kb();
      same = now == last ? same + 1 : 0;
      last = now;
    }
    return last;
  }
  // Its resident memory in KB.
  long rss_kb() const {
    std::ifstream status("/proc/" + std::to_string(pid()) + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
  }
  // GET /healthz on a connection of its own from `source`.
  std::string healthz(const char* source = "127.0.0.1") const {
    Client c;
    if (!c.connect(port(), source)) return {};
    c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return c.read_until_closed(5);
  }
};

std::string upload_head(size_t length, const std::string& token = kTokenA) {
  return "POST /v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
         "\r\nContent-Type: application/xml\r\nContent-Length: " + std::to_string(length) +
         "\r\n\r\n";
}

// A valid unsigned package of about `bytes` bytes (a PDF attachment of the
// right size; base64 makes it 4/3 larger).
std::string package_of_size(const std::string& number, size_t bytes) {
  auto meta = test::sample_meta();
  meta["code"]["number"] = number;
  std::string pdf = "%PDF-1.4\n% Công văn số " + number + "\n";
  pdf += std::string(bytes * 3 / 4, 'x');
  pdf += "\n%%EOF\n";
  auto p = edxml::build_package(meta, {{"cong-van.pdf", pdf, "", ""}}, now_seconds());
  if (!p) throw std::runtime_error(p.error().message);
  return *p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_client_without_a_token_is_refused_before_its_64_mb_body) {
  Province p(false);
  const std::string head =
      "POST /v1/documents HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/xml\r\nContent-Length: 200000\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    const std::string answer = raw(p.a->api_port(), head + std::string(64 * 1024, 'x'));
    BOOST_TEST(status_of(answer) == 401u, answer.substr(0, 200));
  }
}

BOOST_AUTO_TEST_CASE(a_reused_idempotency_key_with_another_body_is_refused_with_409) {
  Province p(false);
  const std::string body = package("300");
  const std::string first = p.submit(body, {"Idempotency-Key: k-300"}).body;
  const auto same = p.submit(body, {"Idempotency-Key: k-300"});
  BOOST_TEST(same.status == 202);
  BOOST_TEST(json::parse(same.body)["id"] == json::parse(first)["id"]);
  const auto other = p.submit(package("301"), {"Idempotency-Key: k-300"});
  BOOST_TEST(other.status == 409, other.body);
  BOOST_TEST(json::parse(other.body)["error"] == "idempotency_key_reused");
}

BOOST_AUTO_TEST_CASE(malformed_requests_get_a_json_4xx_not_a_closed_connection) {
  Province p(false);
  const std::string auth = "Authorization: Bearer " + kTokenA + "\r\n";
  // Content-Length with Transfer-Encoding.
  auto both = raw(p.a->api_port(), "POST /v1/documents HTTP/1.1\r\nHost: x\r\n" + auth +
                                       "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       "0\r\n\r\n");
  BOOST_TEST(status_of(both) == 400u, both);
  // A malformed chunked body.
  auto chunked = raw(p.a->api_port(), "POST /v1/documents HTTP/1.1\r\nHost: x\r\n" + auth +
                                          "Content-Type: application/xml\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n");
  BOOST_TEST(status_of(chunked) == 400u, chunked);
  // A header over the limit.
  auto big =
      raw(p.a->api_port(),
          "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n");
  BOOST_TEST(status_of(big) == 431u, big.substr(0, 200));
  // A path that is not UTF-8.
  auto path = raw(p.a->api_port(), "GET /v1/documents/\xff\xfe HTTP/1.1\r\nHost: x\r\n" + auth +
                                       "Connection: close\r\n\r\n");
  BOOST_TEST(status_of(path) == 400u, path);
  BOOST_TEST(path.find("\"error\"") != std::string::npos);
  // A body that is not what its Content-Type says.
  const auto png =
      test::http("POST", p.a->api_url() + "/v1/documents",
                 {"Authorization: Bearer " + kTokenA, "Content-Type: image/png"}, package("310"));
  BOOST_TEST(png.status == 415, png.body);
  BOOST_TEST(json::parse(png.body)["error"] == "unsupported_media_type");
}

BOOST_AUTO_TEST_CASE(a_half_sent_header_is_cut_off_at_the_header_deadline_not_the_read_timeout) {
  District d(R"( header-timeout="1")");
  // Half a header, then silence.
  Client silent;
  BOOST_REQUIRE(silent.connect(d.port()));
  BOOST_REQUIRE(silent.send("POST /v1/documents HTTP/1.1\r\nHost: x\r\nContent-Le"));
  const auto sent = SteadyClock::now();
  // Half a header, then a byte every 200 ms: each byte is on time, the
  // header as a whole is not.
  Client trickle;
  BOOST_REQUIRE(trickle.connect(d.port()));
  BOOST_REQUIRE(trickle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  std::atomic<bool> trickle_closed{false};
  std::atomic<double> trickle_after{0};
  std::thread dripping([&] {
    const auto start = SteadyClock::now();
    while (seconds_since(start) < 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!trickle.send("X") || !trickle.open()) break;
    }
    trickle_after = seconds_since(start);
    trickle_closed = !trickle.open();
  });
  // Meanwhile another client is served at once.
  const auto start = SteadyClock::now();
  const std::string health = d.healthz();
  BOOST_TEST(status_of(health) == 200u, health);
  BOOST_TEST(seconds_since(start) < 1.0);

  // The server says nothing and closes: no answer is owed to a header that
  // never came whole.
  bool closed = false;
  const std::string answer = silent.read_until_closed(8, &closed);
  const double after = seconds_since(sent);
  BOOST_TEST(closed, "still open after " << after << " s");
  BOOST_TEST(answer.empty(), answer);
  BOOST_TEST_MESSAGE("half a header: closed after " << after << " s");
  BOOST_TEST(after >= 0.8);
  BOOST_TEST(after <= 4.0);
  dripping.join();
  BOOST_TEST(trickle_closed.load());
  BOOST_TEST(trickle_after.load() <= 4.0, "trickling header closed after " << trickle_after.load());
}

BOOST_AUTO_TEST_CASE(
    a_tls_client_that_never_finishes_its_handshake_is_cut_off_at_the_header_deadline) {
  District d(R"( header-timeout="1" tls-cert=")" + pki("tls-localhost-chain.pem").string() +
             R"(" tls-key=")" + pki("tls-localhost.key").string() + "\"");
  // One says nothing; another sends the start of a ClientHello record.
  Client silent, partial;
  BOOST_REQUIRE(silent.connect(d.port()));
  BOOST_REQUIRE(partial.connect(d.port()));
  BOOST_REQUIRE(partial.send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
  const auto start = SteadyClock::now();
  for (Client* c : {&silent, &partial}) {
    bool closed = false;
    c->read_until_closed(8, &closed);
    BOOST_TEST(closed, "still open after " << seconds_since(start) << " s");
  }
  BOOST_TEST_MESSAGE("TLS handshakes never finished: closed after " << seconds_since(start)
                                                                    << " s");
  BOOST_TEST(seconds_since(start) <= 4.0);
}

BOOST_AUTO_TEST_CASE(one_address_holds_at_most_its_share_and_healthz_is_still_answered) {
  District d(R"( max-connections-per-address="4" header-timeout="30")");
  // Four idle connections from 127.0.0.2, none of them sending a byte.
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<Client>());
    BOOST_REQUIRE(idle.back()->connect(d.port(), "127.0.0.2"));
  }
  // A fifth from the same address is refused with a JSON 503 and closed.
  Client fifth;
  BOOST_REQUIRE(fifth.connect(d.port(), "127.0.0.2"));
  fifth.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  const std::string refused = fifth.read_until_closed(5, &closed);
  BOOST_TEST(status_of(refused) == 503u, refused);
  BOOST_TEST(body_of(refused)["error"] == "busy", refused);
  BOOST_TEST(closed);
  // Another address is served at the same time.
  const std::string health = d.healthz("127.0.0.1");
  BOOST_TEST(status_of(health) == 200u, health);
  BOOST_TEST(body_of(health)["status"] == "ok", health);
  for (const auto& c : idle) BOOST_TEST(c->open());
  // Once one of the four goes, the address may open another.
  idle.pop_back();
  BOOST_TEST(eventually([&] { return status_of(d.healthz("127.0.0.2")) == 200u; }, 5));
}

BOOST_AUTO_TEST_CASE(a_full_server_keeps_its_last_slots_for_addresses_that_hold_none) {
  // 8 connections at most: 4 per address, and the last one (an eighth)
  // only for an address that holds none yet.
  District d(R"( max-connections="8" max-connections-per-address="4" header-timeout="30")");
  std::vector<std::unique_ptr<Client>> idle;
  auto hold = [&](const char* source) {
    idle.push_back(std::make_unique<Client>());
    BOOST_REQUIRE(idle.back()->connect(d.port(), source));
  };
  for (int i = 0; i < 4; ++i) hold("127.0.0.2");
  for (int i = 0; i < 3; ++i) hold("127.0.0.3");
  // 7 held. An address already holding connections cannot take the last.
  Client greedy;
  BOOST_REQUIRE(greedy.connect(d.port(), "127.0.0.3"));
  const std::string refused = greedy.read_until_closed(5);
  BOOST_TEST(status_of(refused) == 503u, refused);
  BOOST_TEST(body_of(refused)["error"] == "busy", refused);
  // A monitor's /healthz from an address that holds none gets it.
  const std::string health = d.healthz("127.0.0.1");
  BOOST_TEST(status_of(health) == 200u, health);
  for (const auto& c : idle) BOOST_TEST(c->open());
  // The reserve is one slot here: while a fourth address holds it, the
  // server is full for everyone, and says so.
  hold("127.0.0.4");
  const std::string full = d.healthz("127.0.0.1");
  BOOST_TEST(status_of(full) == 503u, full);
  idle.pop_back();
  BOOST_TEST(eventually([&] { return status_of(d.healthz("127.0.0.1")) == 200u; }, 5));
}

BOOST_AUTO_TEST_CASE(bodies_in_flight_beyond_the_budget_get_503_until_room_is_made) {
  District d(R"( max-body="1MB" max-bodies-in-flight="1MB")");
  const std::string first_body = package_of_size("401", 800 * 1024);
  const std::string second_body = package_of_size("402", 800 * 1024);
  BOOST_REQUIRE(first_body.size() > 600 * 1024);
  BOOST_REQUIRE(first_body.size() < 1024 * 1024);
  // The first upload announces its 800 KB, waits to be let in (100
  // Continue: its room is reserved) and sends half of it.
  Client first;
  BOOST_REQUIRE(first.connect(d.port()));
  std::string head = upload_head(first_body.size());
  head.insert(head.size() - 2, "Expect: 100-continue\r\n");
  BOOST_REQUIRE(first.send(head));
  const std::string go_on = first.read_answer(5);
  BOOST_REQUIRE_MESSAGE(status_of(go_on) == 100u, go_on);
  BOOST_REQUIRE(first.send(first_body.substr(0, first_body.size() / 2)));
  // The second does not fit beside it: 503 at once, before its body.
  Client second;
  BOOST_REQUIRE(second.connect(d.port()));
  BOOST_REQUIRE(second.send(upload_head(second_body.size())));
  const auto asked = SteadyClock::now();
  const std::string refused = second.read_answer(5);
  BOOST_TEST(status_of(refused) == 503u, refused);
  BOOST_TEST(body_of(refused)["error"] == "busy", refused);
  BOOST_TEST(seconds_since(asked) < 2.0);
  // The first sends the rest of its body and is taken whole.
  BOOST_REQUIRE(first.send(first_body.substr(first_body.size() / 2)));
  const std::string taken = first.read_answer(30);
  BOOST_TEST(status_of(taken) == 202u, taken.substr(0, 300));
  // Its room is given back: the second, sent again, is admitted.
  Client again;
  BOOST_REQUIRE(again.connect(d.port()));
  BOOST_REQUIRE(again.send(upload_head(second_body.size()) + second_body));
  const std::string admitted = again.read_answer(30);
  BOOST_TEST(status_of(admitted) == 202u, admitted.substr(0, 300));
}

BOOST_AUTO_TEST_CASE(fifty_tokenless_64_mb_uploads_are_refused_on_their_header_and_none_is_held) {
  // A budget far above what 50 bodies would take, so that what is tested
  // is the authentication on the header, not the budget behind it.
  District d(R"( max-bodies-in-flight="8GB")");
  const std::string head = upload_head(64u << 20, "not-a-token");
  // Warm up: the first requests' allocations are not the bodies'.
  for (int i = 0; i < 3; ++i) BOOST_TEST(status_of(raw(d.port(), head)) == 401u);
  const long before = d.settled_rss_kb();
  BOOST_REQUIRE(before > 0);

  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 50; ++i) {
    clients.push_back(std::make_unique<Client>());
    BOOST_REQUIRE(clients.back()->connect(d.port()));
    BOOST_REQUIRE(clients.back()->send(head));
  }
  // Every one is answered on its header alone, before a byte of its body.
  const auto asked = SteadyClock::now();
  int unauthorized = 0;
  for (auto& c : clients) {
    const double left = std::max(0.1, 5.0 - seconds_since(asked));
    const std::string answer = c->read_answer(left);
    if (status_of(answer) == 401u && body_of(answer)["error"] == "unauthorized") ++unauthorized;
  }
  BOOST_TEST(unauthorized == 50);
  // Then each sends 1 MB of its body anyway.
  const std::string megabyte(1u << 20, 'x');
  int sent = 0;
  for (auto& c : clients) sent += c->send(megabyte, 3);
  const long after = d.settled_rss_kb();
  const double grown_mb = static_cast<double>(after - before) / 1024.0;
  BOOST_TEST_MESSAGE("VmRSS of the gateway: " << before / 1024 << " MB before, " << after / 1024
                                              << " MB after 50 x 1 MB (" << sent
                                              << " sent whole); grew by " << grown_mb << " MB");
  // Held, the 50 MB sent would be 50 MB (3.2 GB once all announced came);
  // refused on their headers they cost the sessions only (under 1 MB in a
  // Release build, about 10 MB under ASan). Half of 50 MB is the bound.
  BOOST_TEST(grown_mb < 25.0);
}
