#include "adapters/vdxp/vdxp_auth.h"

#include <openssl/hmac.h>

#include <cstdlib>

#include "util/bytes.h"

namespace edocgw::adapters::vdxp {
namespace {

std::string canonical(const std::string& system_id, const std::string& timestamp,
                      const std::string& method, const std::string& path,
                      const std::map<std::string, std::string>& parameters, std::string_view body) {
  std::string c = system_id + "\n" + timestamp + "\n" + method + "\n" + path + "\n";
  for (const char* name : kSignedParameters) {
    if (auto it = parameters.find(name); it != parameters.end())
      c += std::string(name) + ":" + it->second + "\n";
  }
  return c + sha256_hex(body);
}

}  // namespace

std::string sign_request(const AuthScheme& scheme, const std::string& secret,
                         const std::string& system_id, const std::string& timestamp,
                         const std::string& method, const std::string& path,
                         const std::map<std::string, std::string>& parameters,
                         std::string_view body) {
  const std::string message = canonical(system_id, timestamp, method, path, parameters, body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  const std::string_view raw(reinterpret_cast<const char*>(mac), len);
  return scheme.base64_signature ? base64_encode(raw) : to_hex(raw);
}

Status check_request(const AuthScheme& scheme, const std::string& secret,
                     const std::string& system_id, const std::string& timestamp,
                     const std::string& signature, const std::string& method,
                     const std::string& path, const std::map<std::string, std::string>& parameters,
                     std::string_view body, long now_unix) {
  char* end = nullptr;
  const long ts = std::strtol(timestamp.c_str(), &end, 10);
  if (timestamp.empty() || end == nullptr || *end != '\0') {
    return make_error(Errc::invalid,
                      "the " + scheme.header("timestamp") + " header is not Unix seconds");
  }
  if (std::labs(now_unix - ts) > scheme.max_clock_skew_seconds) {
    return make_error(Errc::invalid, "the request timestamp is more than " +
                                         std::to_string(scheme.max_clock_skew_seconds) +
                                         " s away from this server's clock");
  }
  const std::string expected =
      sign_request(scheme, secret, system_id, timestamp, method, path, parameters, body);
  if (!constant_time_equal(expected, signature)) {
    return make_error(Errc::invalid,
                      "the request signature does not match this system id's secret");
  }
  return {};
}

}  // namespace edocgw::adapters::vdxp
