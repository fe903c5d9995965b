#include "adapters/vdxp/vdxp_auth.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "util/bytes.h"

namespace edocgw::adapters::vdxp {
namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// HMAC-SHA256 on a context made once per thread: OpenSSL 3's one-shot
// HMAC() fetches the algorithm from the provider store on every call, under
// its lock, which was a tenth of the hub's time on small calls (perf,
// bench/exchange_bench). Re-initialising a context with a new key keeps its
// digest.
std::string hmac_sha256_hex(const std::string& secret, const std::string& message) {
  struct MacCtx {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = nullptr;
    MacCtx() {
      if (mac == nullptr) return;
      ctx = EVP_MAC_CTX_new(mac);
      char digest[] = "SHA256";
      const OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
          OSSL_PARAM_construct_end()};
      if (ctx != nullptr && EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = nullptr;
      }
    }
    ~MacCtx() {
      EVP_MAC_CTX_free(ctx);
      EVP_MAC_free(mac);
    }
  };
  thread_local MacCtx m;
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (m.ctx == nullptr ||
      EVP_MAC_init(m.ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                   nullptr) != 1 ||
      EVP_MAC_update(m.ctx, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      EVP_MAC_final(m.ctx, out, &len, sizeof out) != 1) {
    // Never a usable MAC: verification compares against it and fails.
    return std::string();
  }
  return to_hex(std::string_view(reinterpret_cast<const char*>(out), len));
}

// Reads the sign-header as the SDK writes it: one flat object whose members
// are all strings, kept in order with repeats (nlohmann's DOM would sort or
// merge them, and the key list is checked against the order).
class SignHeaderReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  Parameters members;
  std::string error;

  bool null() override { return wrong("null"); }
  bool boolean(bool) override { return wrong("a boolean"); }
  bool number_integer(number_integer_t) override { return wrong("a number"); }
  bool number_unsigned(number_unsigned_t) override { return wrong("a number"); }
  bool number_float(number_float_t, const string_t&) override { return wrong("a number"); }
  bool binary(binary_t&) override { return wrong("binary"); }
  bool string(string_t& value) override {
    if (depth_ != 1) return wrong("a string");
    members.emplace_back(key_, value);
    return true;
  }
  bool start_object(std::size_t) override {
    if (depth_ != 0) return wrong("an object");
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return wrong("an array"); }
  bool end_array() override { return false; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    if (error.empty()) error = std::string("XroadVnpt-sign-header is not JSON: ") + e.what();
    return false;
  }

 private:
  bool wrong(const char* what) {
    error = depth_ == 0
                ? std::string("XroadVnpt-sign-header is ") + what + ", not a JSON object"
                : "XroadVnpt-sign-header member \"" + key_ + "\" is " + what + ", not a string";
    return false;
  }
  int depth_ = 0;
  std::string key_;
};

// The values of the fields named exactly `name`.
std::vector<const std::string*> exact_fields(const Fields& fields, std::string_view name) {
  std::vector<const std::string*> out;
  for (const auto& [n, v] : fields) {
    if (n == name) out.push_back(&v);
  }
  return out;
}

// The one field named `name` in any case; an error when absent or repeated.
Result<std::string> single_field(const Fields& fields, std::string_view name) {
  const std::string* found = nullptr;
  int count = 0;
  for (const auto& [n, v] : fields) {
    if (iequal(n, name)) {
      found = &v;
      ++count;
    }
  }
  if (count == 0) return make_error(Errc::invalid, "the request has no " + std::string(name));
  if (count > 1) {
    return make_error(Errc::invalid, std::string(name) + " was sent " + std::to_string(count) +
                                         " times; it must be sent once");
  }
  return *found;
}

bool digits(std::string_view s, size_t from, size_t n, int lo, int hi) {
  int v = 0;
  for (size_t i = from; i < from + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  return v >= lo && v <= hi;
}

}  // namespace

std::string sdk_hash_file(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : sha256(bytes)) {
    if (b >= 0x10) out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::string sdk_timestamp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto local = time_point_cast<milliseconds>(t) + hours(7);  // Vietnam: UTC+7, no DST
  const auto day = floor<days>(local);
  const year_month_day ymd(day);
  const hh_mm_ss hms(local - day);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02u%02u%04dT%02d%02d%02d+%04d", unsigned(ymd.day()),
                unsigned(ymd.month()), int(ymd.year()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()),
                int(hms.subseconds().count()));
  return buf;
}

bool is_sdk_timestamp(std::string_view s) {
  // ddMMyyyyTHHmmss+SSSS
  if (s.size() != 20 || s[8] != 'T' || s[15] != '+') return false;
  if (!digits(s, 0, 2, 1, 31) || !digits(s, 2, 2, 1, 12) || !digits(s, 4, 4, 1, 9999) ||
      !digits(s, 9, 2, 0, 23) || !digits(s, 11, 2, 0, 59) || !digits(s, 13, 2, 0, 59) ||
      !digits(s, 16, 4, 0, 999)) {
    return false;
  }
  using namespace std::chrono;
  const year_month_day ymd{
      year((s[4] - '0') * 1000 + (s[5] - '0') * 100 + (s[6] - '0') * 10 + (s[7] - '0')),
      month(unsigned((s[2] - '0') * 10 + (s[3] - '0'))),
      day(unsigned((s[0] - '0') * 10 + (s[1] - '0')))};
  return ymd.ok();
}

std::string gson_quote(std::string_view utf8) {
  std::string out = "\"";
  for (size_t i = 0; i < utf8.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(utf8[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else if (c == 0xe2 && i + 2 < utf8.size() &&
                   static_cast<unsigned char>(utf8[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(utf8[i + 2]) == 0xa8 ||
                    static_cast<unsigned char>(utf8[i + 2]) == 0xa9)) {
          // U+2028 / U+2029, which JavaScript reads as line ends.
          out += static_cast<unsigned char>(utf8[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
          i += 2;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

RequestSigner::RequestSigner(std::string system_id, std::string secret, std::string timestamp)
    : system_id_(std::move(system_id)),
      secret_(std::move(secret)),
      timestamp_(std::move(timestamp)) {}

Fields RequestSigner::headers(const Parameters& parameters, const std::string& content_type) const {
  Parameters signed_set;
  auto has = [&](std::string_view key) {
    return std::any_of(parameters.begin(), parameters.end(),
                       [&](const auto& p) { return p.first == key; });
  };
  auto fill = [&](const std::string& key, const std::string& value) {
    if (key == "systemid" && value.empty()) return system_id_;
    if (key == "timestamp" && value.empty()) return timestamp_;
    if (key == "Content-Type" && value.empty()) return content_type;
    return value;
  };
  if (!has("systemid")) signed_set.emplace_back("systemid", system_id_);
  for (const auto& [k, v] : parameters) signed_set.emplace_back(k, fill(k, v));
  if (!has("timestamp")) signed_set.emplace_back("timestamp", timestamp_);
  if (!has("Content-Type")) signed_set.emplace_back("Content-Type", content_type);

  Fields out;
  std::string sign = "{", keys;
  for (const auto& [k, v] : signed_set) {
    const std::string name = std::string(kPrefix) + k;
    if (k == "Content-Type") out.emplace_back("Content-Type", v);
    out.emplace_back(name, v);
    sign += (sign.size() > 1 ? "," : "") + gson_quote(name) + ":" + gson_quote(v);
    keys += (keys.empty() ? "" : ";") + k;
  }
  sign += "}";
  out.emplace_back("XroadVnpt-sign-header-key", keys);
  out.emplace_back("XroadVnpt-sign-header", sign);
  out.emplace_back("XroadVnpt-hash-header", hmac_sha256_hex(secret_, sign));
  out.emplace_back("User-Agent", std::string(kUserAgent));
  out.emplace_back("XroadVnpt-version", std::string(kVersion));
  return out;
}

std::string VerifiedRequest::get(std::string_view key) const {
  for (const auto& [k, v] : parameters) {
    if (iequal(k, key)) return v;
  }
  return {};
}

std::optional<std::string> VerifiedRequest::exact(std::string_view key) const {
  for (const auto& [k, v] : parameters) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::vector<std::string> VerifiedRequest::all(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : parameters) {
    if (iequal(k, key) && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

Result<VerifiedRequest> verify_request(const Fields& fields, const SecretLookup& secret_for) {
  auto sign = single_field(fields, "XroadVnpt-sign-header");
  if (!sign) return sign.error();
  auto keys = single_field(fields, "XroadVnpt-sign-header-key");
  if (!keys) return keys.error();
  auto hash = single_field(fields, "XroadVnpt-hash-header");
  if (!hash) return hash.error();

  SignHeaderReader reader;
  bool parsed = false;
  try {
    parsed = nlohmann::json::sax_parse(*sign, &reader);
  } catch (const std::exception& e) {
    return make_error(Errc::invalid, std::string("XroadVnpt-sign-header is not JSON: ") + e.what());
  }
  if (!parsed) {
    return make_error(Errc::invalid, reader.error.empty()
                                         ? "XroadVnpt-sign-header is not a JSON object"
                                         : reader.error);
  }

  VerifiedRequest out;
  std::set<std::string> seen;
  for (const auto& [name, value] : reader.members) {
    if (name.size() <= kPrefix.size() || name.compare(0, kPrefix.size(), kPrefix) != 0) {
      return make_error(Errc::invalid, "XroadVnpt-sign-header member \"" + name +
                                           "\" does not start with " + std::string(kPrefix));
    }
    if (!seen.insert(name).second) {
      return make_error(Errc::invalid, "XroadVnpt-sign-header names \"" + name + "\" twice");
    }
    out.parameters.emplace_back(name.substr(kPrefix.size()), value);
  }

  // The key list, in order, must name exactly the members.
  std::string expected_keys;
  for (const auto& [k, v] : out.parameters) expected_keys += (expected_keys.empty() ? "" : ";") + k;
  if (*keys != expected_keys) {
    return make_error(Errc::invalid, "XroadVnpt-sign-header-key is '" + *keys +
                                         "' but the sign-header's members are '" + expected_keys +
                                         "' (names and order must agree)");
  }

  // Each signed member is what the request actually carries under that name.
  for (const auto& [k, v] : out.parameters) {
    const std::string name = std::string(kPrefix) + k;
    const auto sent = exact_fields(fields, name);
    if (sent.empty()) {
      return make_error(Errc::invalid, "the signed member " + name + " has no header " + name);
    }
    for (const std::string* s : sent) {
      if (*s == v) continue;
      return make_error(
          Errc::invalid,
          sent.size() > 1
              ? "the header " + name + " was sent " + std::to_string(sent.size()) +
                    " times with different values"
              : "the header " + name + " is '" + *s + "' but the signed value is '" + v + "'");
    }
  }

  const auto system_id = out.exact("systemid");
  if (!system_id) return make_error(Errc::invalid, "XroadVnpt-systemid is not signed");
  out.system_id = *system_id;
  const auto secret = secret_for(out.system_id);
  if (!secret) return make_error(Errc::invalid, "unknown system id '" + out.system_id + "'");
  const std::string expected = hmac_sha256_hex(*secret, *sign);
  if (expected.empty()) return make_error(Errc::io, "HMAC-SHA256 is not available");
  if (!constant_time_equal(expected, *hash)) {
    return make_error(Errc::invalid,
                      "XroadVnpt-hash-header does not match the HMAC of the "
                      "sign-header with the secret of system id '" +
                          out.system_id + "'");
  }
  const auto timestamp = out.exact("timestamp");
  if (!timestamp) return make_error(Errc::invalid, "XroadVnpt-timestamp is not signed");
  if (!is_sdk_timestamp(*timestamp)) {
    return make_error(Errc::invalid, "XroadVnpt-timestamp '" + *timestamp +
                                         "' is not in the SDK's format ddMMyyyy'T'HHmmss+SSSS");
  }
  out.timestamp = *timestamp;
  return out;
}

}  // namespace edocgw::adapters::vdxp
