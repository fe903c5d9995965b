// tests/support/http_file_server.h: a real HTTP/1.1 server on loopback that
// answers GET requests with canned bodies, for tests of code that fetches
// (CRL distribution points, OCSP-like endpoints).
//
// It listens on 127.0.0.1 port 0 (port() tells which port it got) and runs
// on a thread of its own until it is destroyed. Answers are set by path and
// may be replaced while it runs; a path without one is 404. An answer may
// carry headers (a redirect's Location) and may be delayed, to hold fetches in flight or run into a
// client's timeout. The server counts requests per path and remembers the largest number it was
// answering at once.
//
// Thread-safe: every member function may be called from any thread while
// the server runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace edocgw::test {

class HttpFileServer {
 public:
  struct Answer {
    int status = 200;
    std::string body;
    std::chrono::milliseconds delay{0};                        // before the answer is written
    std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Location", URL}
  };

  HttpFileServer();   // listening when it returns; throws when it cannot
  ~HttpFileServer();  // stops the server and joins its thread
  HttpFileServer(const HttpFileServer&) = delete;
  HttpFileServer& operator=(const HttpFileServer&) = delete;

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT" + path (path starts with '/').
  std::string url(const std::string& path) const;

  // 200 with `body`, or any status; replaces what the path answered before.
  void set(const std::string& path, std::string body);
  void set(const std::string& path, Answer answer);
  void remove(const std::string& path);  // 404 from now on
  // A delay added to every answer (on top of an answer's own).
  void set_delay(std::chrono::milliseconds delay);

  std::size_t requests(const std::string& path) const;
  std::size_t requests() const;  // every path
  // The most requests that were being answered at the same time.
  std::size_t max_concurrent() const;

 private:
  struct Io;
  Answer answer_for(const std::string& path);  // counts the request
  void answered();

  mutable std::mutex mutex_;
  std::map<std::string, Answer> answers_;
  std::map<std::string, std::size_t> counts_;
  std::chrono::milliseconds delay_{0};
  std::size_t in_flight_ = 0, max_in_flight_ = 0;
  std::uint16_t port_ = 0;
  std::unique_ptr<Io> io_;
  std::thread thread_;
};

}  // namespace edocgw::test
