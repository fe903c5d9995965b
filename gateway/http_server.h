// gateway/http_server.h: a small HTTP/1.1 server on Boost.Beast, shared by
// the local API and the exchange API.
//
// One C++20 coroutine per connection on the I/O context; the request handler
// is blocking code (signing, SQLite, fsync) and runs on the worker pool, so a
// slow handler never stalls the event loop. Every connection has a body
// limit (413 beyond it), a header limit, a read timeout and an idle timeout;
// connections beyond the cap get 503 and are closed, so a slow or hostile
// client cannot hold the others up.
//
// Thread-safety: listen()/stop() from the thread that runs start-up and
// shutdown; handlers are called concurrently from pool threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/asio_ssl.h"
#include "util/result.h"

namespace edocgw::gateway {

struct HttpRequest {
  std::string method;
  std::string target;                          // path and query
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string remote;

  std::string header(const std::string& name) const;
  std::string path() const;                         // target without the query
  std::string query(const std::string& key) const;  // "" when absent
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpLimits {
  std::uint64_t max_body_bytes = 64ull << 20;
  std::chrono::seconds read_timeout{60};
  std::chrono::seconds idle_timeout{30};
  std::size_t max_connections = 512;
};

class HttpServer : public std::enable_shared_from_this<HttpServer> {
 public:
  // `tls` null: plain HTTP; else every connection starts with a TLS handshake.
  HttpServer(asio::io_context& io, asio::thread_pool& pool, HttpLimits limits, HttpHandler handler,
             std::shared_ptr<asio::ssl::context> tls = nullptr)
      : io_(io),
        pool_(pool),
        limits_(limits),
        handler_(std::move(handler)),
        tls_(std::move(tls)),
        acceptor_(io) {}

  // Binds and starts accepting; returns the bound port (port 0 picks one).
  Result<std::uint16_t> listen(const std::string& host, std::uint16_t port);
  // Stops accepting; connections finish the request in hand.
  void stop();
  // Requests being handled right now.
  std::size_t in_flight() const { return in_flight_.load(); }

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(asio::ip::tcp::socket socket);
  // The HTTP exchanges of one connection, over TCP or TLS.
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, const std::string& remote, bool over_cap);
  static asio::awaitable<HttpResponse> run_handler(const HttpHandler& handler, HttpRequest request);

  asio::io_context& io_;
  asio::thread_pool& pool_;
  HttpLimits limits_;
  HttpHandler handler_;
  std::shared_ptr<asio::ssl::context> tls_;
  asio::ip::tcp::acceptor acceptor_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<bool> stopping_{false};
};

HttpResponse json_response(unsigned status, const std::string& json);
// {"error": CODE, "message": TEXT}
HttpResponse error_response(unsigned status, const std::string& code, const std::string& message);

}  // namespace edocgw::gateway
