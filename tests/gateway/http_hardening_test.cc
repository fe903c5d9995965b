// The local API against hostile clients (issue 9, items 2, 3, 14, 16): a
// real `edocgw serve` on loopback, raw sockets where libcurl would be polite.
#define BOOST_TEST_MODULE http_hardening
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

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
