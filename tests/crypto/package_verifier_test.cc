// Signing and strict verification with the sample PKI: every refusal has its
// own check and its own reason.
#define BOOST_TEST_MODULE package_verifier
#include <boost/test/unit_test.hpp>

#include "crypto/identity.h"
#include "crypto/package_signer.h"
#include "crypto/package_verifier.h"
#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using namespace edocgw::crypto;
using test::pki;

namespace {

std::string sample_package() {
  static const std::string package = [] {
    auto p = edxml::build_package(
        test::sample_meta(), {{"cong-van.pdf", "%PDF-1.7\n" + std::string(20000, 'x'), "", ""}},
        now_seconds());
    if (!p) throw std::runtime_error(p.error().message);
    return *p;
  }();
  return package;
}

PackageSigner signer_for(const std::string& stem, const std::string& chain = "ca.pem") {
  auto id =
      load_identity({pki(stem + ".pem"), pki(stem + ".key"), chain.empty() ? "" : pki(chain), ""});
  if (!id) throw std::runtime_error(id.error().message);
  auto s = PackageSigner::create(std::move(*id));
  if (!s) throw std::runtime_error(s.error().message);
  return std::move(*s);
}

std::string sign_as(const std::string& stem, TimePoint at = now_seconds(),
                    const std::string& chain = "ca.pem") {
  auto signed_bytes = signer_for(stem, chain).sign(sample_package(), at);
  if (!signed_bytes) throw std::runtime_error(signed_bytes.error().message);
  return *signed_bytes;
}

struct Trust {
  bool crls = true;
  bool intermediate = false;
  bool allow_sha1 = false;
  std::map<std::string, std::string> organ_map;

  Trust& without_crls() {
    crls = false;
    return *this;
  }
  Trust& with_intermediate() {
    intermediate = true;
    return *this;
  }
  Trust& allowing_sha1() {
    allow_sha1 = true;
    return *this;
  }
  Trust& mapping(const std::string& fp, const std::string& organ) {
    organ_map[fp] = organ;
    return *this;
  }
};

VerificationReport verify(const std::string& bytes, const Trust& t = Trust()) {
  std::vector<std::filesystem::path> untrusted, crls;
  if (t.intermediate) untrusted.push_back(pki("ca.pem"));
  if (t.crls) crls.push_back(pki("crls.pem"));
  auto store = TrustStore::load({pki("root.pem")}, untrusted, crls);
  if (!store) throw std::runtime_error(store.error().message);
  VerifyOptions options;
  options.policy.sha1_warn = t.allow_sha1;
  options.policy.organ_by_fingerprint = t.organ_map;
  return PackageVerifier(*store, options).verify(bytes);
}

CheckOutcome outcome(const VerificationReport& r, const std::string& name) {
  for (const auto& c : r.checks) {
    if (c.name == name) return c.outcome;
  }
  BOOST_FAIL("no check named " + name);
  return CheckOutcome::skipped;
}

// Asserts a refusal by exactly `check`, with `fragment` in the reason.
void expect_refused(const VerificationReport& r, const std::string& check,
                    const std::string& fragment) {
  BOOST_TEST(!r.valid);
  BOOST_TEST(r.reason.find(fragment) != std::string::npos, "reason: " << r.reason);
  BOOST_TEST((outcome(r, check) == CheckOutcome::fail),
             check << " should fail; reason: " << r.reason);
  size_t failed = 0;
  for (const auto& c : r.checks) failed += c.outcome == CheckOutcome::fail;
  BOOST_TEST(failed == 1u, "exactly one check fails; reason: " << r.reason);
}

// Flips one character of `text` at `pos` to another of the same class.
std::string flip(std::string text, size_t pos) {
  text[pos] = text[pos] == 'A' ? 'B' : 'A';
  return text;
}

std::string cert_base64(const std::string& stem) {
  const std::string pem = test::read(pki(stem + ".pem"));
  std::string b64;
  std::istringstream in(pem);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("-----", 0) != 0) b64 += line;
  }
  return b64;
}

std::string signature_element(const std::string& signed_bytes) {
  const auto begin = signed_bytes.find("<ds:Signature");
  const auto end = signed_bytes.find("</ds:Signature>") + std::string("</ds:Signature>").size();
  return signed_bytes.substr(begin, end - begin);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_package_signed_with_rsa_verifies_with_every_check_passing) {
  const auto r = verify(sign_as("huong-hoa"));
  BOOST_TEST(r.valid, r.reason);
  for (const auto& c : r.checks)
    BOOST_TEST((c.outcome == CheckOutcome::pass), c.name << ": " << c.detail);
  BOOST_REQUIRE(r.signer.has_value());
  BOOST_TEST(r.signer->organ_id == "000.00.12.H50");
  BOOST_TEST(r.chain.size() == 3u);
  BOOST_TEST(r.algorithm == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
  BOOST_TEST(!r.signed_at.empty());
  BOOST_TEST(r.document_id == "000.00.12.H50,2026/11/28,125/UBND-VP");
  BOOST_TEST(r.revocation.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_package_signed_with_ecdsa_verifies) {
  const auto r = verify(sign_as("huong-hoa-ec"));
  BOOST_TEST(r.valid, r.reason);
  BOOST_TEST(r.algorithm == "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256");
}

BOOST_AUTO_TEST_CASE(the_signature_carries_the_chain_and_sits_last_in_the_header) {
  const std::string s = sign_as("huong-hoa");
  BOOST_TEST(s.find("</ds:Signature></edXML:edXMLHeader>") != std::string::npos);
  size_t certs = 0;
  for (size_t pos = 0; (pos = s.find("<ds:X509Certificate>", pos)) != std::string::npos; ++pos)
    ++certs;
  BOOST_TEST(certs == 2u);  // signer + issuing CA
  // One TraceHeader of the sender (the builder's; the signer adds none
  // beside it), in the time format real parsers read.
  auto doc = xml::parse_untrusted_xml(s);
  BOOST_REQUIRE(doc.ok());
  auto package = edxml::read_package(doc->get());
  BOOST_REQUIRE(package.ok());
  BOOST_REQUIRE(package->traces.size() == 1u);
  BOOST_TEST(package->traces[0].organ_id == "000.00.12.H50");
  BOOST_TEST(is_edxml_time(package->traces[0].timestamp), package->traces[0].timestamp);
}

BOOST_AUTO_TEST_CASE(a_signed_status_package_carries_no_trace_header_list) {
  edxml::StatusInfo status;
  status.from.organ_id = "000.00.12.H50";
  status.response_for.organ_id = "000.00.13.H50";
  status.response_for.document_id = "000.00.13.H50,2026/11/28,7/UBND-VP";
  status.status_code = "03";
  status.timestamp = format_edxml_time(now_seconds());
  auto built = edxml::build_status_package(status);
  BOOST_REQUIRE(built.ok());
  auto signed_status = signer_for("huong-hoa", "ca.pem").sign(*built, now_seconds());
  BOOST_REQUIRE(signed_status.ok());
  BOOST_TEST(signed_status->find("TraceHeaderList") == std::string::npos);
  BOOST_TEST(verify(*signed_status).valid, verify(*signed_status).reason);
}

BOOST_AUTO_TEST_CASE(one_changed_byte_in_the_header_is_refused) {
  const std::string s = sign_as("huong-hoa");
  expect_refused(verify(test::replace_once(s, "năm 2026", "năm 2027")), "digest",
                 "changed after it was signed");
}

BOOST_AUTO_TEST_CASE(one_changed_byte_in_an_attachment_is_refused) {
  const std::string s = sign_as("huong-hoa");
  // The element may carry its own xmlns:edXML (as the real samples write it).
  const auto pos = s.find('>', s.find("<edXML:ContentTransferEncoded")) + 100;
  expect_refused(verify(flip(s, pos)), "digest", "changed after it was signed");
}

BOOST_AUTO_TEST_CASE(one_changed_byte_in_the_signature_value_is_refused) {
  const std::string s = sign_as("huong-hoa");
  const auto pos = s.find("<ds:SignatureValue>") + 40;
  expect_refused(verify(flip(s, pos)), "signature_value", "SignatureValue does not verify");
}

BOOST_AUTO_TEST_CASE(a_signature_made_with_another_key_is_refused) {
  // Signed by the "revoked" key (same agency), then the X509Data leaf swapped for Hướng Hóa's.
  std::string s = sign_as("revoked");
  const auto begin = s.find("<ds:X509Certificate>") + std::string("<ds:X509Certificate>").size();
  const auto end = s.find("</ds:X509Certificate>");
  s.replace(begin, end - begin, cert_base64("huong-hoa"));
  expect_refused(verify(s, Trust().without_crls()), "signature_value",
                 "SignatureValue does not verify");
}

BOOST_AUTO_TEST_CASE(an_expired_signer_is_refused) {
  const auto r =
      verify(sign_as("expired", *parse_rfc3339("2020-06-01T00:00:00Z")), Trust().without_crls());
  expect_refused(r, "validity", "expired on 2021-01-01");
}

BOOST_AUTO_TEST_CASE(a_signer_not_yet_valid_is_refused) {
  const auto r = verify(sign_as("not-yet-valid", *parse_rfc3339("2099-06-01T00:00:00Z")),
                        Trust().without_crls());
  expect_refused(r, "validity", "not valid before 2099-01-01");
}

BOOST_AUTO_TEST_CASE(a_revoked_signer_is_refused_when_crls_are_given) {
  const std::string s = sign_as("revoked");
  expect_refused(verify(s), "revocation", "was revoked");
  BOOST_TEST(verify(s).reason.find("keyCompromise") != std::string::npos);
  const auto without = verify(s, Trust().without_crls());
  BOOST_TEST(without.valid);
  BOOST_TEST((outcome(without, "revocation") == CheckOutcome::skipped));
}

BOOST_AUTO_TEST_CASE(a_signer_from_an_unrelated_root_is_refused) {
  const auto r =
      verify(sign_as("unrelated", now_seconds(), "unrelated-root.pem"), Trust().without_crls());
  expect_refused(r, "chain", "not a trust anchor");
}

BOOST_AUTO_TEST_CASE(a_missing_intermediate_is_named) {
  const std::string s = sign_as("huong-hoa", now_seconds(), "");
  expect_refused(verify(s, Trust().without_crls()), "chain", "intermediate certificate is missing");
  BOOST_TEST(verify(s, Trust().without_crls().with_intermediate()).valid);
}

BOOST_AUTO_TEST_CASE(a_signer_without_the_signing_key_usage_is_refused) {
  const std::string s = test::xmlsec1_sign(sample_package(), pki("no-sign-usage.key"),
                                           pki("no-sign-usage.pem"), pki("ca.pem"));
  expect_refused(verify(s), "key_usage", "key usage does not allow signing");
}

BOOST_AUTO_TEST_CASE(sha1_is_refused_by_default_and_reported_when_allowed) {
  const std::string s = test::xmlsec1_sign(
      sample_package(), pki("huong-hoa.key"), pki("huong-hoa.pem"), pki("ca.pem"),
      {"http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1"});
  expect_refused(verify(s), "algorithm", "uses SHA-1");
  const auto allowed = verify(s, Trust().allowing_sha1());
  BOOST_TEST(allowed.valid, allowed.reason);
  BOOST_REQUIRE(!allowed.warnings.empty());
  BOOST_TEST(allowed.warnings.back().find("SHA-1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(two_signatures_are_refused) {
  const std::string s = sign_as("huong-hoa");
  const std::string sig = signature_element(s);
  expect_refused(
      verify(test::replace_once(s, "</edXML:edXMLHeader>", sig + "</edXML:edXMLHeader>")),
      "structure", "holds 2 XMLDSig Signatures");
}

BOOST_AUTO_TEST_CASE(a_signature_moved_out_of_the_header_is_refused) {
  const std::string s = sign_as("huong-hoa");
  const std::string sig = signature_element(s);
  std::string moved = test::replace_once(s, sig, "");
  moved = test::replace_once(moved, "<edXML:edXMLBody>", "<edXML:edXMLBody>" + sig);
  expect_refused(verify(moved), "structure", "/edXML/edXMLEnvelope/edXMLBody/Signature");
}

BOOST_AUTO_TEST_CASE(a_signature_wrapped_in_another_element_is_refused) {
  const std::string s = sign_as("huong-hoa");
  const std::string sig = signature_element(s);
  const std::string wrapped =
      test::replace_once(s, sig, "<edXML:Wrapper>" + sig + "</edXML:Wrapper>");
  expect_refused(verify(wrapped), "structure", "/edXMLHeader/Wrapper/Signature");
}

BOOST_AUTO_TEST_CASE(a_reference_to_part_of_the_package_is_refused) {
  // The signature-wrapping shape: the Reference points at one element by Id.
  std::string s = sign_as("huong-hoa");
  s = test::replace_once(s, "<ds:Reference URI=\"\">", "<ds:Reference URI=\"#body\">");
  s = test::replace_once(s, "<edXML:edXMLBody>", "<edXML:edXMLBody Id=\"body\">");
  expect_refused(verify(s), "signed_info", "must be URI=\"\"");
}

BOOST_AUTO_TEST_CASE(extra_objects_and_transforms_are_refused) {
  const std::string s = sign_as("huong-hoa");
  expect_refused(
      verify(test::replace_once(s, "</ds:KeyInfo>", "</ds:KeyInfo><ds:Object>x</ds:Object>")),
      "signed_info", "no Object");
  expect_refused(
      verify(test::replace_once(
          s, "</ds:Transforms>",
          "<ds:Transform "
          "Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/></ds:Transforms>")),
      "signed_info", "is not allowed");
}

BOOST_AUTO_TEST_CASE(an_unsigned_package_is_refused) {
  expect_refused(verify(sample_package()), "structure", "not signed");
}

BOOST_AUTO_TEST_CASE(a_valid_certificate_of_another_agency_does_not_pass_as_the_sender) {
  // Đakrông's valid key signs a package that claims to come from Hướng Hóa.
  const std::string s =
      test::xmlsec1_sign(sample_package(), pki("dakrong.key"), pki("dakrong.pem"), pki("ca.pem"));
  expect_refused(verify(s), "sender_binding", "belongs to 000.00.13.H50");
  // A configured mapping decides instead of the certificate's UID.
  const auto fp = verify(s).signer->sha256_fingerprint;
  BOOST_TEST(verify(s, Trust().mapping(fp, "000.00.12.H50")).valid);
}

BOOST_AUTO_TEST_CASE(the_signer_refuses_what_it_must_not_sign) {
  auto expired = signer_for("expired").sign(sample_package(), now_seconds());
  BOOST_REQUIRE(!expired.ok());
  BOOST_TEST(expired.error().message.find("expired") != std::string::npos);

  auto id = load_identity({pki("no-sign-usage.pem"), pki("no-sign-usage.key"), "", ""});
  BOOST_REQUIRE(id.ok());
  auto no_usage = PackageSigner::create(std::move(*id));
  BOOST_REQUIRE(!no_usage.ok());
  BOOST_TEST(no_usage.error().message.find("key usage") != std::string::npos);

  auto other_agency = signer_for("dakrong").sign(sample_package(), now_seconds());
  BOOST_REQUIRE(!other_agency.ok());
  BOOST_TEST(other_agency.error().message.find("000.00.13.H50") != std::string::npos);

  auto twice = signer_for("huong-hoa").sign(sign_as("huong-hoa"), now_seconds());
  BOOST_REQUIRE(!twice.ok());
  BOOST_TEST(twice.error().message.find("already signed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(status_packages_sign_and_verify) {
  const nlohmann::json meta = {
      {"from", {{"organ_id", "000.00.13.H50"}, {"organ_name", "UBND huyện Đakrông"}}},
      {"response_for",
       {{"organ_id", "000.00.12.H50"}, {"document_id", "000.00.12.H50,2026/11/28,125/UBND-VP"}}},
      {"status_code", "01"}};
  auto status = edxml::status_from_json(meta, now_seconds());
  BOOST_REQUIRE(status.ok());
  auto pkg = edxml::build_status_package(*status);
  BOOST_REQUIRE(pkg.ok());
  auto signed_bytes = signer_for("dakrong").sign(*pkg, now_seconds());
  BOOST_REQUIRE(signed_bytes.ok());
  const auto r = verify(*signed_bytes);
  BOOST_TEST(r.valid, r.reason);
  BOOST_TEST(r.sender_organ_id == "000.00.13.H50");
}

BOOST_AUTO_TEST_CASE(verification_judges_at_the_time_asked) {
  const std::string s = sign_as("huong-hoa");
  auto store = TrustStore::load({pki("root.pem")}, {}, {});
  BOOST_REQUIRE(store.ok());
  VerifyOptions options;
  options.at = *parse_rfc3339("2020-01-01T00:00:00Z");
  const auto r = PackageVerifier(*store, options).verify(s);
  BOOST_TEST(r.checked_at == "2020-01-01T00:00:00Z");
  BOOST_TEST(!r.valid);
  BOOST_TEST((outcome(r, "validity") == CheckOutcome::fail));
  BOOST_TEST(r.reason.find("not valid before") != std::string::npos, r.reason);
}
