#include "gateway/http_server.h"

#include <algorithm>
#include <array>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace edocgw::gateway {

using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

bool HttpServer::open_from(const std::string& address) {
  std::lock_guard lock(connections_mutex_);
  if (connections_ >= limits_.max_connections) return false;
  const auto it = per_address_.find(address);
  const std::size_t held = it == per_address_.end() ? 0 : it->second;
  if (held >= limits_.max_connections_per_address) return false;
  // The reserve: once only the last slots are free, a newcomer gets one and
  // an address that is already in does not.
  if (held > 0 && connections_ >= limits_.max_connections - limits_.reserved_connections())
    return false;
  ++per_address_[address];
  ++connections_;
  return true;
}

void HttpServer::close_from(const std::string& address) {
  std::lock_guard lock(connections_mutex_);
  auto it = per_address_.find(address);
  if (it == per_address_.end()) return;
  --connections_;
  if (--it->second == 0) per_address_.erase(it);
}

bool HttpServer::reserve_body(std::uint64_t bytes) {
  std::uint64_t held = bodies_reserved_.load();
  do {
    if (bytes > limits_.max_bodies_in_flight || held > limits_.max_bodies_in_flight - bytes)
      return false;
  } while (!bodies_reserved_.compare_exchange_weak(held, held + bytes));
  return true;
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
    // Counted here, in the order the clients connected, not in the
    // sessions, which the I/O threads may start in any order.
    const auto endpoint = socket.remote_endpoint(ec);
    if (ec) continue;  // gone already
    std::string remote = endpoint.address().to_string();
    const bool admitted = open_from(remote);
    asio::co_spawn(
        io_,
        [self, s = std::move(socket), remote, admitted]() mutable {
          return self->session(std::move(s), std::move(remote), admitted);
        },
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

awaitable<void> HttpServer::session(tcp::socket socket, std::string remote, bool admitted) {
  auto self = shared_from_this();
  boost::system::error_code ec;
  // The connection's slot is given back before its socket is shut down,
  // so that a client that sees the connection end finds the slot free.
  struct AddressCount {
    HttpServer* server;
    const std::string& address;
    bool counted;
    void release() {
      if (counted) server->close_from(address);
      counted = false;
    }
    ~AddressCount() { release(); }
  } by_address{this, remote, admitted};
  const bool over_cap = !admitted;
  const auto header_deadline = std::chrono::steady_clock::now() + limits_.header_timeout;
  if (!tls_) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream, remote, over_cap, header_deadline);
    by_address.release();
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_);
  // The handshake is part of the first header's time: a client that opens
  // a connection and never says hello is cut off at the header deadline.
  beast::get_lowest_layer(stream).expires_at(header_deadline);
  co_await stream.async_handshake(asio::ssl::stream_base::server,
                                  asio::redirect_error(use_awaitable, ec));
  if (ec) {  // not TLS, a certificate we refuse, or too slow: nothing to answer
    by_address.release();
    co_return;
  }
  co_await serve(stream, remote, over_cap, header_deadline);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(asio::redirect_error(use_awaitable, ec));
  by_address.release();
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
}

HeadDecision HttpServer::admit(const HttpRequest& head) const {
  // A request's header, judged before any of its body is read: the head
  // check (e.g. authentication), then the body limit. The connection caps
  // were applied when it was accepted (open_from); the body budget is
  // reserved by serve() once the length this decides is known.
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

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;  // continuation bytes
    if (c < 0x80)
      n = 0;
    else if (c >= 0xC2 && c <= 0xDF)
      n = 1;
    else if (c >= 0xE0 && c <= 0xEF)
      n = 2;
    else if (c >= 0xF0 && c <= 0xF4)
      n = 3;
    else
      return false;
    if (n > s.size() - i - 1) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

// Why a header could not be parsed, for the client: nullopt when there is
// no one to answer (closed, timed out) or nothing was sent.
std::optional<std::pair<unsigned, std::string>> header_fault(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit)
    return std::pair{431u, std::string("the request header is larger than 64 KB")};
  if (ec == http::error::bad_transfer_encoding || ec == http::error::bad_content_length)
    return std::pair{400u, "the body's framing is ambiguous or wrong (" + ec.message() +
                               "): send Content-Length or Transfer-Encoding: chunked, not both"};
  if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message &&
      ec != http::error::need_more && ec != http::error::body_limit)
    return std::pair{400u, "the request is not valid HTTP/1.1: " + ec.message()};
  return std::nullopt;
}

}  // namespace

template <class Stream>
awaitable<void> HttpServer::serve(Stream& stream, const std::string& remote, bool over_cap,
                                  std::chrono::steady_clock::time_point first_header_deadline) {
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
    // The first header is due by its deadline; later ones get the idle
    // timeout too.
    if (first)
      tcp_layer.expires_at(first_header_deadline);
    else
      tcp_layer.expires_after(limits_.idle_timeout + limits_.header_timeout);
    first = false;
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(use_awaitable, ec));
    if (ec == http::error::body_limit) {  // a Content-Length over the server's limit
      co_await refuse(error_format_(413, "too_large", too_large(limits_.max_body_bytes)));
      break;
    }
    if (auto fault = ec ? header_fault(ec) : std::nullopt) {
      co_await refuse(error_format_(fault->first, "bad_request", fault->second));
      break;
    }
    if (ec) break;  // closed or timed out: nothing to answer
    HttpRequest request = head_of(parser.get(), remote);
    const bool keep_alive = parser.get().keep_alive();
    if (!valid_utf8(request.target)) {
      co_await refuse(error_format_(400, "bad_request", "the request's path is not UTF-8"));
      break;
    }

    const HeadDecision decision = admit(request);
    if (decision.refuse) {
      co_await refuse(*decision.refuse);
      break;
    }
    const std::uint64_t limit = *decision.body_limit;
    const auto length = parser.content_length();
    if (length && *length > limit) {
      co_await refuse(error_format_(413, "too_large", too_large(limit)));
      break;
    }
    // The body's room in the budget, held while the body is read and
    // handled, and given back before the answer goes out (so that a client
    // that has its answer finds the room free).
    const std::uint64_t reserved = parser.is_done() ? 0 : length.value_or(limit);
    if (reserved > 0 && !reserve_body(reserved)) {
      co_await refuse(
          error_format_(503, "busy", "too many request bodies in flight; try again shortly"));
      break;
    }
    struct Release {
      std::atomic<std::uint64_t>& held;
      std::uint64_t bytes;
      void now() {
        held -= bytes;
        bytes = 0;
      }
      ~Release() { now(); }
    } release{bodies_reserved_, reserved};
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
      if (ec && ec.category() == http::make_error_code(http::error::bad_chunk).category() &&
          ec != http::error::partial_message && ec != http::error::end_of_stream) {
        co_await refuse(
            error_format_(400, "bad_request", "the body is malformed: " + ec.message()));
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
    release.now();  // the body is gone with the handler's request
    co_await write(response, keep_alive && !stopping_);
    if (ec || !keep_alive) break;
  }
}

}  // namespace edocgw::gateway
