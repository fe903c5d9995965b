// adapters/vdxp/vdxp_auth.h: how a client authenticates to the exchange API
// (DOMAIN.md "The exchange API"), shared by the vdxp adapter (client) and
// the gateway's hub (server).
//
// Each request carries three headers: systemid, timestamp (Unix seconds)
// and signature = HMAC-SHA256(secret, canonical request), where the
// canonical request is, one per line: systemid, timestamp, the method, the
// path, each signed parameter header present as "name:value" in the order
// of kSignedParameters, and the hex SHA-256 of the body. Header names take
// a configurable prefix and the signature a configurable encoding (hex or
// base64), since the public SDKs differ there. Stateless; thread-safe.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>

#include "util/result.h"

namespace edocgw::adapters::vdxp {

inline constexpr std::array<const char*, 6> kSignedParameters = {
    "from", "to", "servicetype", "messagetype", "docid", "status"};

struct AuthScheme {
  std::string header_prefix;      // "" or e.g. "x-lgsp-"
  bool base64_signature = false;  // hex by default
  long max_clock_skew_seconds = 300;

  std::string header(const std::string& name) const { return header_prefix + name; }
};

// `parameters` are lower-case header names (without prefix) to values.
std::string sign_request(const AuthScheme& scheme, const std::string& secret,
                         const std::string& system_id, const std::string& timestamp,
                         const std::string& method, const std::string& path,
                         const std::map<std::string, std::string>& parameters,
                         std::string_view body);

// Checks a received signature in constant time, and the timestamp's age.
Status check_request(const AuthScheme& scheme, const std::string& secret,
                     const std::string& system_id, const std::string& timestamp,
                     const std::string& signature, const std::string& method,
                     const std::string& path, const std::map<std::string, std::string>& parameters,
                     std::string_view body, long now_unix);

}  // namespace edocgw::adapters::vdxp
