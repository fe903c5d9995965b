// The XroadVnpt request authentication against the real SDK's captured
// requests (VDXP-captures.md, secret "example-secret-not-real"): every
// capture verifies, our signer reproduces the SDK's bytes, and every
// deviation is refused with a message that names it.
#define BOOST_TEST_MODULE vdxp_auth
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>

#include "adapters/vdxp/vdxp_auth.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using namespace edocgw::adapters::vdxp;

namespace {

const std::string kSecret = "example-secret-not-real";
const std::string kSystem = "vxp.example.01";

std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures" / "vdxp" / name;
}

const std::vector<std::string> kCaptures = {
    "01-sendEdoc",     "02-sendEdoc-status", "03-getReceivedEdocList",
    "04-getEdoc",      "05-updateStatus",    "06-getEdoc",
    "07-updateStatus", "08-getSentEdocList", "09-getAgenciesList"};

// The header fields of a captured request, as sent.
Fields capture(const std::string& name) {
  const std::string head = test::read(fixture(name + ".http"));
  Fields out;
  size_t pos = head.find("\r\n") + 2;  // past the request line
  for (;;) {
    const size_t end = head.find("\r\n", pos);
    if (end == std::string::npos || end == pos) break;
    const std::string line = head.substr(pos, end - pos);
    const size_t colon = line.find(": ");
    out.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    pos = end + 2;
  }
  return out;
}

std::string field(const Fields& f, const std::string& name) {
  for (const auto& [n, v] : f) {
    if (n == name) return v;
  }
  return {};
}

void set_field(Fields& f, const std::string& name, const std::string& value) {
  for (auto& [n, v] : f) {
    if (n == name) v = value;
  }
}

std::optional<std::string> secrets(const std::string& system_id) {
  if (system_id == kSystem) return kSecret;
  return std::nullopt;
}

std::string refusal(const Fields& f) {
  auto r = verify_request(f, secrets);
  BOOST_REQUIRE_MESSAGE(!r.ok(), "the request was accepted");
  return r.error().message;
}

bool contains(const std::string& text, const std::string& part) {
  const bool found = text.find(part) != std::string::npos;
  if (!found) BOOST_TEST_MESSAGE("'" << part << "' not in '" << text << "'");
  return found;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_captured_request_of_the_real_sdk_verifies) {
  for (const auto& name : kCaptures) {
    BOOST_TEST_CONTEXT(name) {
      auto r = verify_request(capture(name), secrets);
      BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
      BOOST_TEST(r->system_id == kSystem);
      BOOST_TEST(r->get("content-type") != "");
    }
  }
  auto send = verify_request(capture("01-sendEdoc"), secrets);
  BOOST_TEST(send->timestamp == "30112026T013636+0594");
  BOOST_TEST(send->get("FROM") == "000.00.12.H45");
  BOOST_TEST(send->get("messagetype") == "edoc");
  BOOST_TEST(send->get("hash-file") ==
             "63ba69b0bd653e9ca99a558a515bd6b2faa07d64386b345a3e4a88d80b2b4");
}

BOOST_AUTO_TEST_CASE(both_spellings_of_docid_are_exposed_when_they_differ) {
  auto r = verify_request(capture("07-updateStatus"), secrets);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(*r->exact("docId") == "66666666-7777-8888-9999-aaaaaaaaaaaa");
  BOOST_TEST(*r->exact("docid") == "11111111-2222-3333-4444-555555555555");
  BOOST_TEST(r->all("DOCID").size() == 2u);
  auto same = verify_request(capture("05-updateStatus"), secrets);
  BOOST_REQUIRE(same.ok());
  BOOST_TEST(same->all("docid").size() == 1u);
}

BOOST_AUTO_TEST_CASE(our_signer_reproduces_the_sdk_bytes_given_the_same_parameters) {
  for (const auto& name : kCaptures) {
    BOOST_TEST_CONTEXT(name) {
      const Fields sent = capture(name);
      // The SDK's order, systemid/timestamp/Content-Type left for the signer to fill.
      Parameters params;
      std::string keys = field(sent, "XroadVnpt-sign-header-key");
      for (size_t pos = 0; pos <= keys.size();) {
        const size_t semi = std::min(keys.find(';', pos), keys.size());
        const std::string k = keys.substr(pos, semi - pos);
        const bool filled = k == "systemid" || k == "timestamp" || k == "Content-Type";
        params.emplace_back(k, filled ? "" : field(sent, "XroadVnpt-" + k));
        pos = semi + 1;
      }
      const RequestSigner signer(kSystem, kSecret, field(sent, "XroadVnpt-timestamp"));
      const Fields ours = signer.headers(params, field(sent, "XroadVnpt-Content-Type"));
      BOOST_TEST(field(ours, "XroadVnpt-sign-header") == field(sent, "XroadVnpt-sign-header"));
      BOOST_TEST(field(ours, "XroadVnpt-sign-header-key") == keys);
      BOOST_TEST(field(ours, "XroadVnpt-hash-header") == field(sent, "XroadVnpt-hash-header"));
      BOOST_TEST(field(ours, "Content-Type") == field(sent, "Content-Type"));
      BOOST_TEST(field(ours, "User-Agent") == "JAVASDKAgent/1.0.0 XRoad/VPCP");
      BOOST_TEST(field(ours, "XroadVnpt-version") == "3.0.201608");
      BOOST_TEST(verify_request(ours, secrets).ok());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_signer_with_its_own_order_verifies_too) {
  const RequestSigner signer(kSystem, kSecret);
  BOOST_TEST(is_sdk_timestamp(signer.timestamp()));
  const Fields f = signer.headers({{"docId", "x"}, {"status", "done"}}, "application/json");
  BOOST_TEST(field(f, "XroadVnpt-sign-header-key") ==
             "systemid;docId;status;timestamp;Content-Type");
  auto r = verify_request(f, secrets);
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  BOOST_TEST(r->get("status") == "done");
}

BOOST_AUTO_TEST_CASE(the_timestamp_has_the_sdk_format_in_vietnam_time) {
  using namespace std::chrono;
  // 2026-11-30 01:36:36.594 in UTC+7.
  const sys_time<milliseconds> t =
      sys_days(year(2026) / 11 / 29) + hours(18) + minutes(36) + seconds(36) + milliseconds(594);
  BOOST_TEST(sdk_timestamp(t) == "30112026T013636+0594");
  BOOST_TEST(sdk_timestamp(sys_days(year(2026) / 1 / 1) - milliseconds(1)) ==
             "01012026T065959+0999");
  BOOST_TEST(is_sdk_timestamp("30112026T013636+0594"));
  BOOST_TEST(!is_sdk_timestamp("1764441396"));
  BOOST_TEST(!is_sdk_timestamp("31022026T013636+0594"));   // no 31 February
  BOOST_TEST(!is_sdk_timestamp("30112026T013636+1594"));   // milliseconds below 1000
  BOOST_TEST(!is_sdk_timestamp("30112026T013636+07:00"));  // not a zone offset
}

BOOST_AUTO_TEST_CASE(hash_file_is_the_sdk_unpadded_sha256_of_the_package) {
  const std::string document = test::read(fixture("document.edxml"));
  const std::string status = test::read(fixture("status.edxml"));
  BOOST_TEST(sha256_hex(document) ==
             "63ba69b0bd653e9ca99a558a0515bd6b2f0aa07d64386b345a3e4a880d80b2b4");
  BOOST_TEST(sha256_hex(status) ==
             "ca0de52db6d59bd2a8fa3a3d7f5bc77842210c60c724a993c4ce91f950e30616");
  BOOST_TEST(sdk_hash_file(document) == field(capture("01-sendEdoc"), "XroadVnpt-hash-file"));
  BOOST_TEST(sdk_hash_file(status) == field(capture("02-sendEdoc-status"), "XroadVnpt-hash-file"));
  BOOST_TEST(sdk_hash_file(document).size() == 61u);
}

BOOST_AUTO_TEST_CASE(the_sign_header_is_quoted_as_gson_2_2_does) {
  BOOST_TEST(gson_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  BOOST_TEST(gson_quote("<>&='") == "\"<>&='\"");  // htmlSafe is off in JsonElement.toString()
  BOOST_TEST(gson_quote("\t\n\r\b\f\x01\x1f") == "\"\\t\\n\\r\\b\\f\\u0001\\u001f\"");
  BOOST_TEST(gson_quote("Quảng Trị /") == "\"Quảng Trị /\"");  // raw, '/' not escaped
  BOOST_TEST(gson_quote("\xe2\x80\xa8") == "\"\\u2028\"");
  BOOST_TEST(gson_quote("[\"000.00.13.H45\"]") == "\"[\\\"000.00.13.H45\\\"]\"");
}

// Deviations: each refused, and the message says which.

BOOST_AUTO_TEST_CASE(a_wrong_secret_or_an_unknown_system_is_refused) {
  auto wrong = verify_request(capture("03-getReceivedEdocList"),
                              [](const std::string&) { return std::optional<std::string>("x"); });
  BOOST_REQUIRE(!wrong.ok());
  BOOST_TEST(contains(wrong.error().message, "does not match the HMAC"));
  auto unknown = verify_request(capture("03-getReceivedEdocList"),
                                [](const std::string&) { return std::optional<std::string>(); });
  BOOST_REQUIRE(!unknown.ok());
  BOOST_TEST(contains(unknown.error().message, "unknown system id 'vxp.example.01'"));
}

BOOST_AUTO_TEST_CASE(a_changed_member_or_header_is_refused) {
  Fields f = capture("01-sendEdoc");
  set_field(f, "XroadVnpt-from", "000.00.13.H45");
  BOOST_TEST(contains(refusal(f),
                      "the header XroadVnpt-from is '000.00.13.H45' but the signed "
                      "value is '000.00.12.H45'"));

  f = capture("01-sendEdoc");
  std::string sign = field(f, "XroadVnpt-sign-header");
  sign = test::replace_once(sign, "000.00.12.H45", "000.00.13.H45");
  set_field(f, "XroadVnpt-sign-header", sign);
  set_field(f, "XroadVnpt-from", "000.00.13.H45");
  BOOST_TEST(contains(refusal(f), "does not match the HMAC"));
}

BOOST_AUTO_TEST_CASE(a_header_sent_twice_with_another_value_is_refused) {
  Fields f = capture("04-getEdoc");
  f.emplace_back("XroadVnpt-docId", "66666666-7777-8888-9999-aaaaaaaaaaaa");
  BOOST_TEST(contains(refusal(f), "XroadVnpt-docId was sent 2 times with different values"));
  // The same value twice changes nothing.
  Fields same = capture("04-getEdoc");
  same.emplace_back("XroadVnpt-docId", "11111111-2222-3333-4444-555555555555");
  BOOST_TEST(verify_request(same, secrets).ok());
  // An unsigned parameter header is ignored: it never reaches the parameters.
  Fields extra = capture("04-getEdoc");
  extra.emplace_back("XroadVnpt-to", "[\"000.00.99.H45\"]");
  auto r = verify_request(extra, secrets);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->get("to") == "");
}

BOOST_AUTO_TEST_CASE(a_signed_member_without_its_header_is_refused) {
  Fields f = capture("04-getEdoc");
  std::erase_if(f, [](const auto& p) { return p.first == "XroadVnpt-filePath"; });
  BOOST_TEST(contains(refusal(f), "the signed member XroadVnpt-filePath has no header"));
  // Another case is another header: docId is not docid.
  Fields c = capture("04-getEdoc");
  for (auto& [n, v] : c) {
    if (n == "XroadVnpt-docId") n = "XroadVnpt-docid";
  }
  BOOST_TEST(contains(refusal(c), "the signed member XroadVnpt-docId has no header"));
}

BOOST_AUTO_TEST_CASE(a_reordered_or_different_key_list_is_refused) {
  Fields f = capture("09-getAgenciesList");
  set_field(f, "XroadVnpt-sign-header-key", "timestamp;systemid;Content-Type");
  BOOST_TEST(contains(refusal(f), "names and order must agree"));
  set_field(f, "XroadVnpt-sign-header-key", "systemid;timestamp");
  BOOST_TEST(contains(refusal(f), "names and order must agree"));
}

BOOST_AUTO_TEST_CASE(missing_or_repeated_sign_headers_are_refused) {
  for (const std::string name :
       {"XroadVnpt-sign-header", "XroadVnpt-sign-header-key", "XroadVnpt-hash-header"}) {
    Fields f = capture("09-getAgenciesList");
    std::erase_if(f, [&](const auto& p) { return p.first == name; });
    BOOST_TEST(contains(refusal(f), "the request has no " + name));
    Fields twice = capture("09-getAgenciesList");
    twice.emplace_back(name, field(twice, name));
    BOOST_TEST(contains(refusal(twice), name + " was sent 2 times"));
  }
  // Names are case-insensitive in HTTP: a lower-case copy is a second one.
  Fields lower = capture("09-getAgenciesList");
  lower.emplace_back("xroadvnpt-hash-header", field(lower, "XroadVnpt-hash-header"));
  BOOST_TEST(contains(refusal(lower), "sent 2 times"));
}

BOOST_AUTO_TEST_CASE(a_sign_header_that_is_not_an_object_of_prefixed_strings_is_refused) {
  auto with_sign = [](const std::string& sign, const std::string& keys) {
    Fields f = capture("09-getAgenciesList");
    set_field(f, "XroadVnpt-sign-header", sign);
    set_field(f, "XroadVnpt-sign-header-key", keys);
    return refusal(f);
  };
  BOOST_TEST(contains(with_sign("{\"XroadVnpt-systemid\":", "systemid"), "is not JSON"));
  BOOST_TEST(contains(with_sign("[\"XroadVnpt-systemid\"]", "systemid"), "not a JSON object"));
  BOOST_TEST(contains(with_sign("{\"XroadVnpt-systemid\":5}", "systemid"),
                      "member \"XroadVnpt-systemid\" is a number, not a string"));
  BOOST_TEST(contains(with_sign("{\"XroadVnpt-systemid\":{\"a\":\"b\"}}", "systemid"),
                      "is an object, not a string"));
  BOOST_TEST(contains(with_sign("{\"systemid\":\"vxp.example.01\"}", "systemid"),
                      "\"systemid\" does not start with XroadVnpt-"));
  BOOST_TEST(contains(
      with_sign(
          "{\"XroadVnpt-systemid\":\"vxp.example.01\",\"XroadVnpt-systemid\":\"vxp.example.01\"}",
          "systemid;systemid"),
      "names \"XroadVnpt-systemid\" twice"));
}

BOOST_AUTO_TEST_CASE(an_unsigned_systemid_or_a_bad_timestamp_is_refused) {
  const RequestSigner no_time(kSystem, kSecret, "1764441396");
  BOOST_TEST(contains(refusal(no_time.headers({}, "application/json")),
                      "XroadVnpt-timestamp '1764441396' is not in the SDK's format"));
  // A request signed without a systemid: nothing says whose secret to use.
  Fields f = capture("09-getAgenciesList");
  set_field(f, "XroadVnpt-sign-header",
            "{\"XroadVnpt-timestamp\":\"30112026T013636+0624\",\"XroadVnpt-Content-Type\":"
            "\"application/json\"}");
  set_field(f, "XroadVnpt-sign-header-key", "timestamp;Content-Type");
  BOOST_TEST(contains(refusal(f), "XroadVnpt-systemid is not signed"));
}

BOOST_AUTO_TEST_CASE(a_padded_hash_file_differs_from_the_sdk_form) {
  // The SDK drops leading zeros; a correctly padded hex is not what it sends.
  const std::string document = test::read(fixture("document.edxml"));
  BOOST_TEST(sha256_hex(document) != sdk_hash_file(document));
  BOOST_TEST(sha256_hex(document) != field(capture("01-sendEdoc"), "XroadVnpt-hash-file"));
}
