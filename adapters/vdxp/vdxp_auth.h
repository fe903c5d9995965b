// adapters/vdxp/vdxp_auth.h: the XroadVnpt request authentication of the
// national exchange (VDXP.md sections 3, 4 and 11), both sides: the
// RequestSigner used by the vdxp adapter (client) and verify_request() used
// by the gateway's hub (server).
//
// Every parameter travels as a header `XroadVnpt-<key>: <value>`; the
// client signs the ordered set of those headers: `XroadVnpt-sign-header` is
// a JSON object (gson JsonObject.toString() bytes) of the signed headers,
// `XroadVnpt-sign-header-key` their keys joined by `;`, and
// `XroadVnpt-hash-header` = lower-hex HMAC-SHA256(key = UTF-8 of the secret
// TEXT, message = the sign-header bytes). What it does and does not protect:
// it authenticates the system id (whoever knows the secret), and binds the
// signed parameter values; it does not cover the method, the path or the
// body (only the body's `hash-file`, on sendEdoc), and since the SDK's
// timestamp is fixed per client object, nothing stops a replay. TLS protects
// the request on the wire; a package's XMLDSig proves its content.
//
// Stateless functions and immutable objects: thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"
#include "util/time.h"

namespace edocgw::adapters::vdxp {

// Header fields as sent: names with their case, in order, repeats kept.
using Fields = std::vector<std::pair<std::string, std::string>>;
// Parameters without the prefix, in the order they are signed.
using Parameters = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view kPrefix = "XroadVnpt-";
inline constexpr std::string_view kUserAgent = "JAVASDKAgent/1.0.0 XRoad/VPCP";
inline constexpr std::string_view kVersion = "3.0.201608";

// SHA-256 of `bytes` as the SDK writes it (createContentHA256): each digest
// byte as Integer.toHexString(b & 0xff), lower case, WITHOUT zero padding
// (0x0a -> "a"), so 32 to 64 characters.
std::string sdk_hash_file(std::string_view bytes);

// `t` as the SDK's SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS") in UTC+7:
// SSSS are the milliseconds on 4 digits, not a zone offset.
std::string sdk_timestamp(std::chrono::system_clock::time_point t);
// Whether `text` has that format (a real date and time); freshness is not
// checkable (the SDK fixes its timestamp when its service object is made).
bool is_sdk_timestamp(std::string_view text);

// A JSON string literal as gson 2.2's JsonWriter writes it with htmlSafe
// off (JsonElement.toString()): `"` and `\` escaped, \t \b \n \r \f short,
// other controls below 0x20 and U+2028/U+2029 as \u00xx (lower hex),
// everything else (non-ASCII, < > & = ') raw.
std::string gson_quote(std::string_view utf8);

// One client identity on the exchange: (system id, secret) and the
// timestamp it sends, fixed when the signer is made (like the SDK's service
// object) unless given.
class RequestSigner {
 public:
  RequestSigner(std::string system_id, std::string secret,
                std::string timestamp = sdk_timestamp(std::chrono::system_clock::now()));

  const std::string& system_id() const { return system_id_; }
  const std::string& timestamp() const { return timestamp_; }

  // The header fields to send for one call: per signed key `XroadVnpt-<key>`
  // (and `Content-Type` unprefixed right before `XroadVnpt-Content-Type`),
  // then sign-header-key, sign-header, hash-header, User-Agent and
  // XroadVnpt-version (the last two unsigned, as the SDK). The signed keys
  // are `systemid`, `parameters` in order, `timestamp`, `Content-Type`;
  // where `parameters` names systemid, timestamp or Content-Type itself,
  // that position is kept and an empty value is filled in by the signer (so
  // a caller can reproduce the SDK's HashMap order exactly).
  Fields headers(const Parameters& parameters, const std::string& content_type) const;

 private:
  std::string system_id_, secret_, timestamp_;
};

// A request whose signature checked out.
struct VerifiedRequest {
  std::string system_id;
  std::string timestamp;
  Parameters parameters;  // the signed members, prefix removed, in order

  // The first signed parameter whose key equals `key` ignoring case; "" when none.
  std::string get(std::string_view key) const;
  // The signed parameter spelled exactly `key`, if any.
  std::optional<std::string> exact(std::string_view key) const;
  // Every distinct value of the keys equal to `key` ignoring case, in order
  // (e.g. both `docId` and `docid` with different values).
  std::vector<std::string> all(std::string_view key) const;
};

// The secret of a system id; nullopt when the system is unknown.
using SecretLookup = std::function<std::optional<std::string>(const std::string& system_id)>;

// Checks a request's XroadVnpt authentication from its header fields as
// sent (VDXP.md section 4): the three sign headers present once; the
// sign-header a JSON object of strings named `XroadVnpt-...`; the key list
// equal to those names in order; each member equal to the one header of
// that exact name actually sent; a known signed systemid whose secret gives
// the hash-header; a signed timestamp in the SDK format. Errc::invalid with
// a message that says exactly what was wrong.
Result<VerifiedRequest> verify_request(const Fields& fields, const SecretLookup& secret_for);

}  // namespace edocgw::adapters::vdxp
