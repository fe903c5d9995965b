// gateway/http_server.h: a small HTTP/1.1 server on Boost.Beast, shared by
// the local API and the exchange API.
//
// One C++20 coroutine per connection on the I/O context; the request handler
// is blocking code (signing, SQLite, fsync) and runs on the worker pool, so a
// slow handler never stalls the event loop. Every connection has a body
// limit (413 beyond it), a header limit, a header deadline, a read timeout
// and an idle timeout; connections beyond the caps (in all, per address)
// get 503 and are closed, so a slow or hostile client cannot hold the
// others up. The last slots of the cap are kept for addresses that hold no
// connection yet (see HttpLimits::max_connections).
//
// A request's header is read and judged before its body: an optional head
// check (e.g. the exchange's authentication) may refuse it, answered at once
// without reading the body, or set the body limit for it. Only then is
// `Expect: 100-continue` answered and the body read. Header fields are kept
// as sent (names' case, order, repeats), for protocols that sign them.
//
// Thread-safety: listen()/stop() from the thread that runs start-up and
// shutdown; handlers are called concurrently from pool threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/http_message.h"
#include "util/asio_ssl.h"
#include "util/result.h"

namespace edocgw::gateway {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// How the server words the errors it answers by itself (413 too large, 503
// busy, 500 when a handler throws): error_response() by default; the
// exchange answers in the VDXP shape its clients read.
using HttpErrorFormat = std::function<HttpResponse(unsigned status, const std::string& code,
                                                   const std::string& message)>;

// What a server's head check decides about one request once its header is
// read and before any of its body is: refuse it (answered at once with
// Connection: close; the body is never read), or let it in with at most
// `body_limit` bytes of body (the server's own limit when unset).
struct HeadDecision {
  std::optional<HttpResponse> refuse;
  std::optional<std::uint64_t> body_limit;

  HeadDecision() = default;
  HeadDecision(std::optional<HttpResponse> refusal)  // NOLINT: implicit on purpose
      : refuse(std::move(refusal)) {}
  HeadDecision(HttpResponse refusal) : refuse(std::move(refusal)) {}  // NOLINT
  static HeadDecision accept(std::uint64_t limit) {
    HeadDecision d;
    d.body_limit = limit;
    return d;
  }
};
// Runs on an I/O thread: it must be quick and must not block (no disk, no
// network); HMACs and lookups in the configuration in force are fine.
using HttpHeadCheck = std::function<HeadDecision(const HttpRequest& head)>;

struct HttpLimits {
  std::uint64_t max_body_bytes = 64ull << 20;
  // All bodies being read or handled at once, per server: a request is
  // admitted only if what its header announces (Content-Length, or the body
  // limit for a chunked body) fits beside the others; 503 "busy" otherwise.
  std::uint64_t max_bodies_in_flight = 256ull << 20;
  // A header must arrive whole this soon after the connection, the TLS
  // handshake included (or the previous answer plus the idle timeout): a
  // slow, half-sent header cannot hold a connection for the body's read
  // timeout.
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds read_timeout{60};
  std::chrono::seconds idle_timeout{30};
  // Connections at once. The last reserved_connections() of them go only to
  // an address that holds no connection yet: a few addresses that fill the
  // server (idle, half-sent headers) still leave room for a monitor's
  // /healthz and for one more client, until the header deadline frees theirs.
  std::size_t max_connections = 512;
  // Connections from one address at once; beyond it 503 and close, so that
  // one address cannot take the room of the others (and of /healthz).
  std::size_t max_connections_per_address = 128;

  // max_connections / 8, at least 1 (none when max_connections is 1).
  std::size_t reserved_connections() const {
    return max_connections < 2 ? 0 : std::max<std::size_t>(1, max_connections / 8);
  }
};

class HttpServer : public std::enable_shared_from_this<HttpServer> {
 public:
  // `tls` null: plain HTTP; else every connection starts with a TLS handshake.
  // `head_check` empty: every request is read whole, up to the body limit.
  HttpServer(asio::io_context& io, asio::thread_pool& pool, HttpLimits limits, HttpHandler handler,
             std::shared_ptr<asio::ssl::context> tls = nullptr, HttpHeadCheck head_check = {})
      : io_(io),
        pool_(pool),
        limits_(limits),
        handler_(std::move(handler)),
        head_check_(std::move(head_check)),
        tls_(std::move(tls)),
        acceptor_(io) {}

  // Binds and starts accepting; returns the bound port (port 0 picks one).
  Result<std::uint16_t> listen(const std::string& host, std::uint16_t port);
  // Stops accepting; connections finish the request in hand.
  void stop();
  // Requests being handled right now.
  std::size_t in_flight() const { return in_flight_.load(); }
  // Before listen().
  void set_error_format(HttpErrorFormat format) { error_format_ = std::move(format); }

 private:
  asio::awaitable<void> accept_loop();
  // `admitted`: counted by open_from(), released when the session ends;
  // otherwise it is answered 503 and closed.
  asio::awaitable<void> session(asio::ip::tcp::socket socket, std::string remote, bool admitted);
  // Counts a connection from `address`; false when the server or that
  // address is at its cap, or only reserved room is left and `address`
  // already holds a connection. Called in accept order.
  bool open_from(const std::string& address);
  void close_from(const std::string& address);
  // Reserves `bytes` of the bodies-in-flight budget; false when they do not fit.
  bool reserve_body(std::uint64_t bytes);
  // The HTTP exchanges of one connection, over TCP or TLS. The first
  // header must be in by `first_header_deadline` (the TLS handshake, if
  // any, counts against it).
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, const std::string& remote, bool over_cap,
                              std::chrono::steady_clock::time_point first_header_deadline);
  static asio::awaitable<HttpResponse> run_handler(const HttpHandler& handler,
                                                   const HttpErrorFormat& error_format,
                                                   HttpRequest request);
  // Admission of one request whose header is read: the head check, then
  // the body limit that applies.
  HeadDecision admit(const HttpRequest& head) const;

  asio::io_context& io_;
  asio::thread_pool& pool_;
  HttpLimits limits_;
  HttpHandler handler_;
  HttpHeadCheck head_check_;
  HttpErrorFormat error_format_ = error_response;
  std::shared_ptr<asio::ssl::context> tls_;
  asio::ip::tcp::acceptor acceptor_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::uint64_t> bodies_reserved_{0};
  std::mutex connections_mutex_;
  std::size_t connections_ = 0;                     // admitted and open, by connections_mutex_
  std::map<std::string, std::size_t> per_address_;  // the same by address, by connections_mutex_
  std::atomic<bool> stopping_{false};
};

}  // namespace edocgw::gateway
