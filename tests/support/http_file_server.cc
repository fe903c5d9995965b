#include "tests/support/http_file_server.h"

#include <algorithm>
#include <stdexcept>

#include "util/asio.h"

namespace edocgw::test {

using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

// The Asio side: one io_context run by the server's thread, sessions as
// coroutines on it (plain member functions: g++ 12 mishandles the captures
// of lambda coroutines given to co_spawn).
struct HttpFileServer::Io {
  HttpFileServer& server;
  asio::io_context context;
  tcp::acceptor acceptor{context};

  explicit Io(HttpFileServer& s) : server(s) {}

  awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (!acceptor.is_open()) co_return;
        continue;
      }
      asio::co_spawn(context, session(std::move(socket)), asio::detached);
    }
  }

  awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      boost::system::error_code ec;
      http::request<http::string_body> request;
      co_await http::async_read(stream, buffer, request, asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;  // closed by the client, or garbage
      const std::string path(request.target());
      const Answer answer = server.answer_for(path);
      if (answer.delay.count() > 0) {
        asio::steady_timer timer(context, answer.delay);
        co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      http::response<http::string_body> response(static_cast<http::status>(answer.status),
                                                 request.version());
      response.set(http::field::content_type, "application/octet-stream");
      for (const auto& [name, value] : answer.headers) response.set(name, value);
      response.keep_alive(request.keep_alive());
      response.body() = answer.body;
      response.prepare_payload();
      co_await http::async_write(stream, response, asio::redirect_error(use_awaitable, ec));
      server.answered();
      if (ec || !request.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
};

HttpFileServer::HttpFileServer() : io_(std::make_unique<Io>(*this)) {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  io_->acceptor.open(endpoint.protocol());
  io_->acceptor.bind(endpoint);
  io_->acceptor.listen();
  port_ = io_->acceptor.local_endpoint().port();
  asio::co_spawn(io_->context, io_->accept_loop(), asio::detached);
  thread_ = std::thread([this] { io_->context.run(); });
}

HttpFileServer::~HttpFileServer() {
  io_->context.stop();
  thread_.join();
  io_.reset();  // destroys the suspended sessions while the server is whole
}

std::string HttpFileServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void HttpFileServer::set(const std::string& path, std::string body) {
  set(path, Answer{200, std::move(body), {}, {}});
}

void HttpFileServer::set(const std::string& path, Answer answer) {
  std::lock_guard lock(mutex_);
  answers_[path] = std::move(answer);
}

void HttpFileServer::remove(const std::string& path) {
  std::lock_guard lock(mutex_);
  answers_.erase(path);
}

void HttpFileServer::set_delay(std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  delay_ = delay;
}

std::size_t HttpFileServer::requests(const std::string& path) const {
  std::lock_guard lock(mutex_);
  const auto it = counts_.find(path);
  return it == counts_.end() ? 0 : it->second;
}

std::size_t HttpFileServer::requests() const {
  std::lock_guard lock(mutex_);
  std::size_t total = 0;
  for (const auto& [path, n] : counts_) total += n;
  return total;
}

std::size_t HttpFileServer::max_concurrent() const {
  std::lock_guard lock(mutex_);
  return max_in_flight_;
}

HttpFileServer::Answer HttpFileServer::answer_for(const std::string& path) {
  std::lock_guard lock(mutex_);
  ++counts_[path];
  max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
  const auto it = answers_.find(path);
  Answer answer = it == answers_.end() ? Answer{404, "not found\n", {}, {}} : it->second;
  answer.delay += delay_;
  return answer;
}

void HttpFileServer::answered() {
  std::lock_guard lock(mutex_);
  --in_flight_;
}

}  // namespace edocgw::test
