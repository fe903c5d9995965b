#include "gateway/http_server.h"

#include <algorithm>
#include <array>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace edocgw::gateway {

using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& f : fields) {
    if (f.name.size() == name.size() &&
        std::equal(f.name.begin(), f.name.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return f.value;
    }
  }
  return {};
}

std::string HttpRequest::path() const {
  return target.substr(0, target.find('?'));
}

std::string HttpRequest::query(const std::string& key) const {
  const auto q = target.find('?');
  if (q == std::string::npos) return {};
  std::string rest = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    const size_t amp = std::min(rest.find('&', pos), rest.size());
    const std::string pair = rest.substr(pos, amp - pos);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key)
      return eq == std::string::npos ? std::string() : pair.substr(eq + 1);
    pos = amp + 1;
  }
  return {};
}

HttpResponse json_response(unsigned status, const std::string& json) {
  HttpResponse r;
  r.status = status;
  r.body = json + "\n";
  return r;
}

HttpResponse error_response(unsigned status, const std::string& code, const std::string& message) {
  return json_response(status, nlohmann::json{{"error", code}, {"message", message}}.dump());
}

Result<std::uint16_t> HttpServer::listen(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return make_error(Errc::usage, "'" + host + "' is not an IP address to listen on");
  const tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(
        Errc::io, "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  asio::co_spawn(
      io_, [self = shared_from_this()] { return self->accept_loop(); }, asio::detached);
  return acceptor_.local_endpoint().port();
}

void HttpServer::stop() {
  stopping_ = true;
  asio::post(io_, [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  });
}

awaitable<void> HttpServer::accept_loop() {
  auto self = shared_from_this();
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (!acceptor_.is_open()) co_return;
      continue;  // a client that went away mid-accept
    }
    asio::co_spawn(
        io_, [self, s = std::move(socket)]() mutable { return self->session(std::move(s)); },
        asio::detached);
  }
}

// A plain function, not a capturing lambda: g++ 12 destroys the captures of
// a lambda coroutine passed by value to co_spawn twice.
awaitable<HttpResponse> HttpServer::run_handler(const HttpHandler& handler,
                                                const HttpErrorFormat& error_format,
                                                HttpRequest request) {
  try {
    co_return handler(request);
  } catch (const std::exception& e) {
    co_return error_format(500, "internal", e.what());
  }
}

awaitable<void> HttpServer::session(tcp::socket socket) {
  auto self = shared_from_this();
  struct Count {
    std::atomic<std::size_t>& n;
    ~Count() { --n; }
  } count{connections_};
  const bool over_cap = ++connections_ > limits_.max_connections;
  boost::system::error_code ec;
  std::string remote;
  {
    auto ep = socket.remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string();
  }
  if (!tls_) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream, remote, over_cap);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_);
  beast::get_lowest_layer(stream).expires_after(limits_.read_timeout);
  co_await stream.async_handshake(asio::ssl::stream_base::server,
                                  asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;  // not TLS, a certificate we refuse, or too slow: nothing to answer
  co_await serve(stream, remote, over_cap);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(asio::redirect_error(use_awaitable, ec));
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
}

HeadDecision HttpServer::admit(const HttpRequest& head) const {
  // The one place where a request is admitted before its body is read. The
  // hardening of issue #9 belongs here: a memory budget shared by all bodies
  // in flight (503 beyond it) and per-address limits, both decided from the
  // head and released when the request is done.
  HeadDecision decision;
  if (head_check_) {
    try {
      decision = head_check_(head);
    } catch (const std::exception& e) {
      return error_format_(500, "internal", e.what());
    }
  }
  if (decision.refuse) return decision;
  decision.body_limit =
      std::min(decision.body_limit.value_or(limits_.max_body_bytes), limits_.max_body_bytes);
  return decision;
}

namespace {

HttpRequest head_of(const http::request<http::string_body>& req, const std::string& remote) {
  HttpRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  for (const auto& field : req) {
    request.fields.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  request.remote = remote;
  return request;
}

bool expects_continue(const HttpRequest& head) {
  std::string v = head.header("expect");
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "100-continue";
}

std::string too_large(std::uint64_t limit) {
  return "the body is larger than the limit of " + std::to_string(limit) + " bytes";
}

}  // namespace

template <class Stream>
awaitable<void> HttpServer::serve(Stream& stream, const std::string& remote, bool over_cap) {
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  auto& tcp_layer = beast::get_lowest_layer(stream);

  auto write = [&](const HttpResponse& r, bool keep_alive) -> awaitable<void> {
    http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
    res.set(http::field::server, "edocgw");
    res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    tcp_layer.expires_after(limits_.read_timeout);
    co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
  };
  // A request refused before its body: the client may still be sending it.
  // Closing with unread bytes would reset the connection and could destroy
  // the answer in flight, so (over plain TCP) stop sending, then discard
  // what arrives for a short, bounded while, keeping none of it.
  auto refuse = [&](const HttpResponse& r) -> awaitable<void> {
    co_await write(r, false);
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      if (ec) co_return;
      tcp_layer.socket().shutdown(tcp::socket::shutdown_send, ec);
      std::array<char, 4096> sink;
      std::size_t discarded = 0;
      tcp_layer.expires_after(std::chrono::seconds(2));
      while (!ec && discarded < (1u << 20)) {
        discarded += co_await tcp_layer.async_read_some(asio::buffer(sink),
                                                        asio::redirect_error(use_awaitable, ec));
      }
    }
  };

  if (over_cap) {
    co_await write(error_format_(503, "busy", "too many connections; try again shortly"), false);
    co_return;
  }

  bool first = true;
  while (!stopping_) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(limits_.max_body_bytes);
    parser.header_limit(64 * 1024);
    // The first request gets the read timeout; later ones the idle timeout too.
    tcp_layer.expires_after(first ? limits_.read_timeout
                                  : limits_.idle_timeout + limits_.read_timeout);
    first = false;
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(use_awaitable, ec));
    if (ec == http::error::body_limit) {  // a Content-Length over the server's limit
      co_await refuse(error_format_(413, "too_large", too_large(limits_.max_body_bytes)));
      break;
    }
    if (ec) break;  // closed, timed out or not HTTP: nothing to answer
    HttpRequest request = head_of(parser.get(), remote);
    const bool keep_alive = parser.get().keep_alive();

    const HeadDecision decision = admit(request);
    if (decision.refuse) {
      co_await refuse(*decision.refuse);
      break;
    }
    const std::uint64_t limit = *decision.body_limit;
    if (const auto length = parser.content_length(); length && *length > limit) {
      co_await refuse(error_format_(413, "too_large", too_large(limit)));
      break;
    }
    parser.body_limit(limit);  // also bounds a chunked body as it arrives
    if (!parser.is_done()) {
      if (expects_continue(request)) {
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        tcp_layer.expires_after(limits_.read_timeout);
        co_await http::async_write(stream, go_on, asio::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      tcp_layer.expires_after(limits_.read_timeout);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec == http::error::body_limit) {
        co_await refuse(error_format_(413, "too_large", too_large(limit)));
        break;
      }
      if (ec) break;
    }
    request.body = std::move(parser.get().body());

    ++in_flight_;
    // The handler blocks: run it on the worker pool and come back here after.
    HttpResponse response = co_await asio::co_spawn(
        pool_, run_handler(handler_, error_format_, std::move(request)), use_awaitable);
    --in_flight_;
    co_await write(response, keep_alive && !stopping_);
    if (ec || !keep_alive) break;
  }
}

}  // namespace edocgw::gateway
