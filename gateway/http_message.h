// gateway/http_message.h: an HTTP request as the server hands it to a
// handler, and the response a handler gives back. Plain data and small
// accessors, with no Asio and no coroutines, so that code reading requests
// (gateway/local_api_request.h) and its fuzz target link without the server.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edocgw::gateway {

// One header field as the client sent it: the name with its case.
struct HeaderField {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method;
  std::string target;               // path and query
  std::vector<HeaderField> fields;  // every field as sent, in order, repeats kept
  std::string body;                 // empty in a head check: not read yet
  std::string remote;

  // The first field named `name`, ignoring case; "" when none.
  std::string header(std::string_view name) const;
  std::string path() const;                         // target without the query
  std::string query(const std::string& key) const;  // "" when absent
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

HttpResponse json_response(unsigned status, const std::string& json);
// {"error": CODE, "message": TEXT}
HttpResponse error_response(unsigned status, const std::string& code, const std::string& message);

}  // namespace edocgw::gateway
