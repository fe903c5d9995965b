#include "gateway/http_message.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace edocgw::gateway {

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
  // The message may quote input (a path, a header): bytes that are not
  // UTF-8 become U+FFFD rather than an exception and a 500.
  return json_response(status, nlohmann::json{{"error", code}, {"message", message}}.dump(
                                   -1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace edocgw::gateway
