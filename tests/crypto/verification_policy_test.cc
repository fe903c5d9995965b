// The verification policy for real traffic: unsigned packages, SHA-1,
// inclusive c14n, personal certificates bound by an organ map, and
// TraceHeaders appended in transit, each refused by default and accepted
// only as the policy says, with the report saying what was proven. Packages
// are signed by the xmlsec1 command line (an independent signer) with the
// sample PKI, in the shapes real senders write.
#define BOOST_TEST_MODULE verification_policy
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "crypto/package_verifier.h"
#include "edxml/package.h"
#include "edxml/xml.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace edocgw::crypto;
using test::pki;
using test::quote;

namespace {

namespace fs = std::filesystem;

const fs::path kRepo = fs::path(__FILE__).parent_path().parent_path().parent_path();
const fs::path kFixtures = kRepo / "tests" / "fixtures" / "policy";
const fs::path kSamples = kRepo.parent_path() / "shared" / "samples" / "vnpt-sdk";

constexpr const char* kRsaSha1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
constexpr const char* kSha1 = "http://www.w3.org/2000/09/xmldsig#sha1";
constexpr const char* kInclusive = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";

std::string real_shape() {
  return test::read(kFixtures / "real-shape.edxml");
}

struct Algorithms {
  std::string signature = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
  std::string digest = "http://www.w3.org/2001/04/xmlenc#sha256";
  std::string c14n = "http://www.w3.org/2001/10/xml-exc-c14n#";
  // false: only the enveloped transform, as VNPT's SDK signs (the Reference
  // is then canonicalised inclusively by XMLDSig's default).
  bool reference_c14n = true;
};

// Signs with xmlsec1 from a template in the default XMLDSig namespace, placed
// after TraceHeaderList as real senders place it.
std::string sign(const std::string& package, const std::string& stem, const Algorithms& a = {}) {
  const std::string tmpl =
      "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><SignedInfo>"
      "<CanonicalizationMethod Algorithm=\"" +
      a.c14n + "\"/><SignatureMethod Algorithm=\"" + a.signature +
      "\"/><Reference URI=\"\"><Transforms>"
      "<Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>" +
      (a.reference_c14n ? "<Transform Algorithm=\"" + a.c14n + "\"/>" : std::string()) +
      "</Transforms><DigestMethod Algorithm=\"" + a.digest +
      "\"/><DigestValue/></Reference></SignedInfo><SignatureValue/>"
      "<KeyInfo><X509Data/></KeyInfo></Signature>\n    ";
  test::TempDir dir;
  test::write(dir / "template.xml",
              test::replace_once(package, "</edXML:edXMLHeader>", tmpl + "</edXML:edXMLHeader>"));
  const std::string keys = pki(stem + ".key").string() + "," + pki(stem + ".pem").string() + "," +
                           pki("ca.pem").string();
  const auto r = test::run("xmlsec1 --sign --privkey-pem " + quote(keys) + " --output " +
                           quote(dir / "signed.xml") + " " + quote(dir / "template.xml"));
  if (r.exit_code != 0) throw std::runtime_error("xmlsec1 --sign failed: " + r.err);
  return test::read(dir / "signed.xml");
}

Algorithms legacy() {  // what real signed traffic uses: RSA-SHA1, inclusive, enveloped only
  Algorithms a;
  a.signature = kRsaSha1;
  a.digest = kSha1;
  a.c14n = kInclusive;
  a.reference_c14n = false;
  return a;
}

AcceptPolicy lenient() {
  AcceptPolicy p;
  p.sha1_warn = true;
  p.inclusive_c14n_warn = true;
  p.rule = "test: sha1 warn, c14n inclusive-warn";
  return p;
}

VerificationReport verify(const std::string& bytes, const AcceptPolicy& policy = {},
                          std::optional<TimePoint> at = std::nullopt) {
  auto store = TrustStore::load({pki("root.pem")}, {}, {pki("crls.pem")});
  if (!store) throw std::runtime_error(store.error().message);
  VerifyOptions options;
  options.at = at;
  options.policy_for = [&](const std::string&) { return policy; };
  return PackageVerifier(*store, options).verify(bytes);
}

const Check* find_check(const VerificationReport& r, const std::string& name) {
  for (const auto& c : r.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Refused by exactly `check`, with `fragment` in the reason.
void expect_refused(const VerificationReport& r, const std::string& check,
                    const std::string& fragment) {
  BOOST_TEST((r.state == VerificationState::invalid));
  BOOST_TEST(!r.valid);
  BOOST_TEST(!r.accepted());
  BOOST_TEST(r.reason.find(fragment) != std::string::npos, "reason: " << r.reason);
  const Check* c = find_check(r, check);
  BOOST_REQUIRE_MESSAGE(c != nullptr, "no check " << check << "; reason: " << r.reason);
  BOOST_TEST((c->outcome == CheckOutcome::fail), check << " should fail: " << r.reason);
}

void expect_valid(const VerificationReport& r) {
  BOOST_TEST((r.state == VerificationState::valid), "reason: " << r.reason);
  BOOST_TEST(r.valid);
  BOOST_TEST(r.accepted());
}

bool has_warning(const VerificationReport& r, const std::string& fragment) {
  for (const auto& w : r.warnings) {
    if (w.find(fragment) != std::string::npos) return true;
  }
  return false;
}

std::string trace(const std::string& organ, const std::string& when) {
  return "<edXML:TraceHeader>\n          <edXML:OrganId>" + organ +
         "</edXML:OrganId>\n          <edXML:Timestamp>" + when +
         "</edXML:Timestamp>\n        </edXML:TraceHeader>";
}

constexpr const char* kListEnd = "</edXML:TraceHeaderList>";

// Appends TraceHeaders the way a re-indenting serializer does: each on its
// own line at the children's indentation, the end tag re-indented.
std::string append_indented(const std::string& signed_bytes,
                            const std::vector<std::string>& traces) {
  std::string added;
  for (const auto& t : traces) added += "  " + t + "\n      ";
  return test::replace_once(signed_bytes, kListEnd, added + kListEnd);
}

// Appends them the way DOM appendChild without indentation does: right
// before the end tag, nothing between them.
std::string append_flat(const std::string& signed_bytes, const std::vector<std::string>& traces) {
  std::string added;
  for (const auto& t : traces) added += t;
  return test::replace_once(signed_bytes, kListEnd, added + kListEnd);
}

}  // namespace

BOOST_AUTO_TEST_CASE(
    an_unsigned_package_is_refused_by_default_and_unsigned_never_valid_when_accepted) {
  const auto strict = verify(real_shape());
  expect_refused(strict, "structure", "not signed");
  BOOST_TEST(strict.reason.find("refuses unsigned") != std::string::npos, strict.reason);

  AcceptPolicy policy;
  policy.accept_unsigned = true;
  policy.rule = "<accept from=\"*\" unsigned=\"accept\"> at line 4";
  const auto accepted = verify(real_shape(), policy);
  BOOST_TEST((accepted.state == VerificationState::unsigned_accepted));
  BOOST_TEST(!accepted.valid);
  BOOST_TEST(accepted.accepted());
  BOOST_TEST(accepted.sender_organ_id == "000.00.12.H50");
  BOOST_TEST(has_warning(accepted, "unsigned"));
  const auto j = to_json(accepted);
  BOOST_TEST(j["state"] == "unsigned");
  BOOST_TEST(j["valid"] == false);
  BOOST_TEST(j["policy"]["unsigned"] == "accept");
  BOOST_TEST(j["policy"]["rule"] == policy.rule);
  BOOST_TEST(j["proven"].size() >= 1u);  // parse and structure
  BOOST_TEST(j["not_proven"].dump().find("origin and integrity") != std::string::npos,
             j["not_proven"].dump());
  BOOST_TEST(to_text(accepted).rfind("UNSIGNED", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(a_placeholder_signature_like_the_real_samples_is_unsigned_not_broken) {
  // edoc_update.edxml carries <Signature> in the edXML namespace: not XMLDSig.
  const std::string sample = test::read(kSamples / "edoc_update.edxml");
  const auto strict = verify(sample);
  expect_refused(strict, "structure", "placeholder");
  BOOST_TEST(strict.reason.find("not XMLDSig") != std::string::npos, strict.reason);

  AcceptPolicy policy;
  policy.accept_unsigned = true;
  const auto accepted = verify(sample, policy);
  BOOST_TEST((accepted.state == VerificationState::unsigned_accepted), accepted.reason);
  BOOST_TEST(!accepted.valid);

  // A broken real XMLDSig signature is never downgraded to "unsigned".
  const std::string tampered =
      test::replace_once(sign(real_shape(), "huong-hoa"), "mưa lũ tháng 11", "mưa lũ tháng 12");
  expect_refused(verify(tampered, policy), "digest", "changed after it was signed");
}

BOOST_AUTO_TEST_CASE(sha1_is_refused_with_a_precise_reason_and_accepted_with_warn) {
  Algorithms a;
  a.signature = kRsaSha1;
  a.digest = kSha1;
  const std::string s = sign(real_shape(), "huong-hoa", a);
  const auto strict = verify(s);
  expect_refused(strict, "algorithm", "uses SHA-1");
  BOOST_TEST(strict.reason.find("rsa-sha1") != std::string::npos, strict.reason);
  BOOST_TEST(strict.reason.find("sha1=\"warn\"") != std::string::npos, strict.reason);

  AcceptPolicy policy;
  policy.sha1_warn = true;
  const auto warned = verify(s, policy);
  expect_valid(warned);
  BOOST_TEST(has_warning(warned, "SHA-1"));
  BOOST_TEST(to_json(warned)["policy"]["sha1"] == "warn");
  BOOST_TEST(warned.binding == "uid");
}

BOOST_AUTO_TEST_CASE(inclusive_c14n_is_refused_and_accepted_with_inclusive_warn) {
  Algorithms explicit_inclusive;
  explicit_inclusive.c14n = kInclusive;
  Algorithms implicit_inclusive;  // exclusive SignedInfo, no c14n transform in the Reference
  implicit_inclusive.reference_c14n = false;
  for (const auto& [a, fragment] :
       {std::pair{explicit_inclusive, "SignedInfo is canonicalised with"},
        std::pair{implicit_inclusive, "no c14n transform"}}) {
    const std::string s = sign(real_shape(), "huong-hoa", a);
    const auto strict = verify(s);
    expect_refused(strict, "canonicalisation", "inclusive canonicalisation");
    BOOST_TEST(strict.reason.find(fragment) != std::string::npos, strict.reason);
    AcceptPolicy policy;
    policy.inclusive_c14n_warn = true;
    const auto warned = verify(s, policy);
    expect_valid(warned);
    BOOST_TEST(has_warning(warned, "inclusive canonicalisation"));
    BOOST_TEST(to_json(warned)["policy"]["c14n"] == "inclusive-warn");
  }
}

BOOST_AUTO_TEST_CASE(a_personal_certificate_is_bound_only_by_an_organ_map) {
  // The legacy shape of real traffic: RSA-SHA1, inclusive, a CMND certificate.
  const std::string s = sign(real_shape(), "personal", legacy());
  const auto unbound = verify(s, lenient());
  expect_refused(unbound, "sender_binding", "personal one (UID=CMND:197000123");
  BOOST_TEST(unbound.reason.find("no organ map") != std::string::npos, unbound.reason);
  BOOST_REQUIRE(unbound.signer);
  const std::string fp = unbound.signer->sha256_fingerprint;
  const std::string subject = unbound.signer->subject;

  AcceptPolicy by_fp = lenient();
  by_fp.organ_map = "organs.txt";
  by_fp.organ_by_fingerprint[fp] = "000.00.12.H50";
  by_fp.organ_by_fingerprint[std::string(64, 'a')] = "000.00.99.H50";  // someone else's
  const auto r1 = verify(s, by_fp);
  expect_valid(r1);
  BOOST_TEST(r1.binding == "organ-map fingerprint");
  BOOST_TEST(has_warning(r1, "SHA-1"));
  BOOST_TEST(has_warning(r1, "inclusive"));
  // The report keeps only the entry about this signer.
  BOOST_TEST(r1.policy.organ_by_fingerprint.size() == 1u);
  BOOST_TEST(to_json(r1)["binding"] == "organ-map fingerprint");

  AcceptPolicy by_subject = lenient();
  by_subject.organ_map = "organs.txt";
  by_subject.organ_by_subject[subject] = "000.00.12.H50";
  const auto r2 = verify(s, by_subject);
  expect_valid(r2);
  BOOST_TEST(r2.binding == "organ-map subject");
  BOOST_TEST(subject.find("UID=CMND:197000123") != std::string::npos, subject);

  // The map names another agency: refused, whatever the certificate's chain.
  AcceptPolicy elsewhere = lenient();
  elsewhere.organ_map = "organs.txt";
  elsewhere.organ_by_subject[subject] = "000.00.13.H50";
  expect_refused(verify(s, elsewhere), "sender_binding", "belongs to 000.00.13.H50");
}

BOOST_AUTO_TEST_CASE(one_and_two_appended_trace_headers_verify_with_the_transit_note) {
  const std::string s = sign(real_shape(), "huong-hoa");
  expect_valid(verify(s));
  BOOST_TEST(verify(s).transit.empty());

  const auto one = verify(append_indented(s, {trace("000.00.00.H50", "2026/11/20 09:15:09")}));
  expect_valid(one);
  BOOST_REQUIRE(one.transit.size() == 1u);
  BOOST_TEST(one.transit[0].organ_id == "000.00.00.H50");
  BOOST_TEST(one.transit[0].timestamp == "2026/11/20 09:15:09");
  BOOST_TEST(has_warning(one, "appended after the sender signed"));
  BOOST_TEST(one.signed_at == "2026/11/20 09:15:02");  // the sender's own, signed
  const auto j = to_json(one);
  BOOST_TEST(j["transit"][0]["organ_id"] == "000.00.00.H50");
  BOOST_TEST(j["not_proven"].dump().find("not covered by the signature") != std::string::npos);

  for (const auto& two : {append_flat(s, {trace("000.00.00.H50", "2026/11/20 09:15:09"),
                                          trace("000.00.13.H50", "2026/11/20 09:16:00")}),
                          append_indented(s, {trace("000.00.00.H50", "2026/11/20 09:15:09"),
                                              trace("000.00.13.H50", "2026/11/20 09:16:00")})}) {
    const auto r = verify(two);
    expect_valid(r);
    BOOST_REQUIRE(r.transit.size() == 2u);
    BOOST_TEST(r.transit[0].organ_id == "000.00.00.H50");
    BOOST_TEST(r.transit[1].organ_id == "000.00.13.H50");
  }

  // The legacy shape too (inclusive c14n, SHA-1, personal certificate).
  AcceptPolicy policy = lenient();
  const std::string legacy_signed = sign(real_shape(), "personal", legacy());
  policy.organ_by_fingerprint[verify(legacy_signed, policy).signer->sha256_fingerprint] =
      "000.00.12.H50";
  const auto legacy_one = verify(
      append_indented(legacy_signed, {trace("000.00.00.H50", "2026/11/20 09:15:09")}), policy);
  expect_valid(legacy_one);
  BOOST_TEST(legacy_one.transit.size() == 1u);
}

// What an axis built on a DOM does: parse, append a TraceHeader element to
// TraceHeaderList, write the whole document out again.
std::string append_with_a_dom(const std::string& signed_bytes, const std::string& organ,
                              const std::string& when) {
  auto doc = xml::parse_untrusted_xml(signed_bytes);
  if (!doc) throw std::runtime_error(doc.error().message);
  auto skeleton = edxml::find_skeleton(doc->get());
  if (!skeleton) throw std::runtime_error("no edXML skeleton");
  xmlNode* list = xml::edxml_child(skeleton->header, "TraceHeaderList");
  xmlNode* trace = xmlNewChild(list, list->ns, BAD_CAST "TraceHeader", nullptr);
  xmlNewTextChild(trace, list->ns, BAD_CAST "OrganId", BAD_CAST organ.c_str());
  xmlNewTextChild(trace, list->ns, BAD_CAST "Timestamp", BAD_CAST when.c_str());
  return xml::serialize(doc->get());
}

BOOST_AUTO_TEST_CASE(a_trace_header_appended_by_a_dom_and_reserialised_verifies) {
  for (const auto& [stem, algorithms] : {std::pair{std::string("huong-hoa"), Algorithms()},
                                         std::pair{std::string("personal"), legacy()}}) {
    const std::string s = sign(real_shape(), stem, algorithms);
    AcceptPolicy policy = lenient();
    policy.organ_by_fingerprint[verify(s, policy).signer->sha256_fingerprint] = "000.00.12.H50";
    const std::string once = append_with_a_dom(s, "000.00.00.H50", "2026/11/20 09:15:09");
    BOOST_TEST(once != s);
    const auto r = verify(once, policy);
    expect_valid(r);
    BOOST_TEST(r.transit.size() == 1u);
    const auto twice =
        verify(append_with_a_dom(once, "000.00.13.H50", "2026/11/20 09:16:00"), policy);
    expect_valid(twice);
    BOOST_TEST(twice.transit.size() == 2u);
  }
}

BOOST_AUTO_TEST_CASE(any_other_change_with_appended_trace_headers_still_fails) {
  const std::string s = sign(real_shape(), "huong-hoa");
  const std::string appended = append_indented(s, {trace("000.00.00.H50", "2026/11/20 09:15:09")});
  // A changed subject.
  expect_refused(verify(test::replace_once(appended, "mưa lũ tháng 11", "mưa lũ tháng 12")),
                 "digest", "changed after it was signed");
  // A changed timestamp of the sender's own (signed) TraceHeader.
  expect_refused(verify(test::replace_once(appended, "2026/11/20 09:15:02", "2026/11/20 09:15:03")),
                 "digest", "changed after it was signed");
  // Something else than a TraceHeader appended with it.
  expect_refused(verify(test::replace_once(appended, kListEnd,
                                           "<edXML:Note>x</edXML:Note>" + std::string(kListEnd))),
                 "digest", "changed after it was signed");
  // More than the bound.
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxTransitTraceHeaders; ++i)
    many.push_back(trace("000.00.00.H50", "2026/11/20 09:15:1" + std::to_string(i % 10)));
  expect_refused(verify(append_indented(s, many)), "digest", "changed after it was signed");

  // A TraceHeader the sender signed cannot be removed, even with another appended.
  const std::string two_signed =
      sign(test::replace_once(
               real_shape(), kListEnd,
               "  " + trace("000.00.12.H50", "2026/11/20 09:15:05") + "\n      " + kListEnd),
           "huong-hoa");
  expect_valid(verify(two_signed));
  const std::string signed_trace = trace("000.00.12.H50", "2026/11/20 09:15:05");
  const std::string removed = test::replace_once(two_signed, signed_trace, "");
  expect_refused(verify(removed), "digest", "changed after it was signed");
  expect_refused(verify(test::replace_once(two_signed, signed_trace,
                                           trace("000.00.00.H50", "2026/11/20 09:15:09"))),
                 "digest", "changed after it was signed");
}

BOOST_AUTO_TEST_CASE(the_real_sample_gets_a_precise_reason_under_every_setting) {
  // RSA-SHA1 and inclusive c14n over content edited after signing, with an
  // expired CMND certificate of a CA we do not trust.
  const std::string sample = test::read(kSamples / "edoc.edxml");
  for (int bits = 0; bits < 16; ++bits) {
    AcceptPolicy p;
    p.accept_unsigned = bits & 1;
    p.sha1_warn = bits & 2;
    p.inclusive_c14n_warn = bits & 4;
    if (bits & 8) p.organ_by_subject["anything"] = "002.00.20.H13";
    const auto r = verify(sample, p);
    BOOST_TEST_CONTEXT("setting " << bits << ": " << r.reason) {
      BOOST_TEST((r.state == VerificationState::invalid));
      BOOST_TEST(!r.reason.empty());
      if (!p.sha1_warn) {
        BOOST_TEST(r.reason.find("SHA-1") != std::string::npos);
      } else if (!p.inclusive_c14n_warn) {
        BOOST_TEST(r.reason.find("inclusive canonicalisation") != std::string::npos);
      } else {
        BOOST_TEST(r.reason.find("changed after it was signed") != std::string::npos);
        BOOST_TEST((find_check(r, "chain")->outcome == CheckOutcome::fail));
        BOOST_TEST((find_check(r, "sender_binding")->outcome == CheckOutcome::fail));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_logged_policy_verifies_the_same_package_the_same_way_later) {
  // What the auditor does: the policy read back from the report's JSON.
  const std::string s = sign(real_shape(), "personal", legacy());
  AcceptPolicy policy = lenient();
  policy.organ_map = "organs.txt";
  policy.organ_by_subject[verify(s, policy).signer->subject] = "000.00.12.H50";
  policy.sources["c14n"] = "line 7";
  const auto first = verify(s, policy);
  expect_valid(first);
  const AcceptPolicy logged = accept_policy_from_json(to_json(first)["policy"]);
  BOOST_TEST(logged.sha1_warn);
  BOOST_TEST(logged.inclusive_c14n_warn);
  BOOST_TEST(!logged.accept_unsigned);
  BOOST_TEST(logged.organ_map == "organs.txt");
  BOOST_TEST(logged.sources.at("c14n") == "line 7");
  expect_valid(verify(s, logged));
  // The strict default does not: the log is what makes the outcome repeatable.
  BOOST_TEST(!verify(s).valid);

  AcceptPolicy unsigned_ok;
  unsigned_ok.accept_unsigned = true;
  const auto u = verify(real_shape(), unsigned_ok);
  const auto again = verify(real_shape(), accept_policy_from_json(to_json(u)["policy"]));
  BOOST_TEST((again.state == VerificationState::unsigned_accepted));
  // A record without a policy reads as strict.
  BOOST_TEST(!accept_policy_from_json(nlohmann::json()).accept_unsigned);
}

BOOST_AUTO_TEST_CASE(the_policy_is_asked_for_the_sender_the_package_names) {
  std::string asked;
  auto store = TrustStore::load({pki("root.pem")}, {}, {});
  BOOST_REQUIRE(store.ok());
  VerifyOptions options;
  options.policy_for = [&](const std::string& sender) {
    asked = sender;
    AcceptPolicy p;
    p.accept_unsigned = sender == "000.00.12.H50";
    return p;
  };
  const auto r = PackageVerifier(*store, options).verify(real_shape());
  BOOST_TEST(asked == "000.00.12.H50");
  BOOST_TEST((r.state == VerificationState::unsigned_accepted));
  const auto other = PackageVerifier(*store, options)
                         .verify(test::replace_once(real_shape(), "<edXML:OrganId>000.00.12.H50",
                                                    "<edXML:OrganId>000.00.14.H50"));
  BOOST_TEST(asked == "000.00.14.H50");
  BOOST_TEST(!other.accepted());
}

BOOST_AUTO_TEST_CASE(verify_on_the_command_line_prints_the_state_and_exits_by_it) {
  test::TempDir dir;
  test::write(dir / "unsigned.xml", real_shape());
  const std::string base =
      test::edocgw_cmd() + " verify --trust " + quote(pki("root.pem")) + " --json";
  const auto strict = test::run(base + " --in " + quote(dir / "unsigned.xml"));
  BOOST_TEST(strict.exit_code == 1);
  BOOST_TEST(nlohmann::json::parse(strict.out)["state"] == "invalid");
  const auto accepted = test::run(base + " --accept-unsigned --in " + quote(dir / "unsigned.xml"));
  BOOST_TEST(accepted.exit_code == 0, accepted.err);
  BOOST_TEST(nlohmann::json::parse(accepted.out)["state"] == "unsigned");
  BOOST_TEST(nlohmann::json::parse(accepted.out)["policy"]["sources"]["unsigned"] ==
             "--accept-unsigned");

  // The legacy shape, with the organ map fixture (fingerprint form).
  test::write(dir / "legacy.xml", sign(real_shape(), "personal", legacy()));
  const auto fp = verify(test::read(dir / "legacy.xml"), lenient()).signer->sha256_fingerprint;
  std::string map = test::read(kFixtures / "organs.txt");
  map = test::replace_once(map, "@PERSONAL_SHA256@", fp);
  test::write(dir / "organs.txt", map);
  const auto refused = test::run(base + " --organ-map " + quote(dir / "organs.txt") + " --in " +
                                 quote(dir / "legacy.xml"));
  BOOST_TEST(refused.exit_code == 1);
  BOOST_TEST(refused.err.find("SHA-1") != std::string::npos, refused.err);
  const auto legacy = test::run(base + " --allow-sha1 --allow-inclusive-c14n --organ-map " +
                                quote(dir / "organs.txt") + " --in " + quote(dir / "legacy.xml"));
  BOOST_TEST(legacy.exit_code == 0, legacy.err);
  const auto j = nlohmann::json::parse(legacy.out);
  BOOST_TEST(j["state"] == "valid");
  BOOST_TEST(j["binding"] == "organ-map fingerprint");
  // The old map format (a bare fingerprint) still reads.
  test::write(dir / "old.txt", fp + " 000.00.12.H50\n");
  const auto old = test::run(base + " --allow-sha1 --allow-inclusive-c14n --organ-map " +
                             quote(dir / "old.txt") + " --in " + quote(dir / "legacy.xml"));
  BOOST_TEST(old.exit_code == 0, old.err);
  // A broken map names its line; a usage error, not a judgement.
  test::write(dir / "bad.txt", "# ok\nsha256:1234 000.00.12.H50\n");
  const auto bad = test::run(base + " --organ-map " + quote(dir / "bad.txt") + " --in " +
                             quote(dir / "legacy.xml"));
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(bad.err.find("bad.txt:2:") != std::string::npos, bad.err);
}

BOOST_AUTO_TEST_CASE(verify_with_a_gateway_config_uses_its_accept_rules_per_adapter) {
  test::TempDir dir;
  test::write(dir / "unsigned.xml", real_shape());
  test::write(
      dir / "gateway.xml",
      "<gateway organ-id=\"000.00.13.H50\" name=\"UBND huyện Đakrông\" data-dir=\"var\">\n"
      "  <identity cert=\"" +
          pki("dakrong.pem").string() + "\" key=\"" + pki("dakrong.key").string() +
          "\"/>\n"
          "  <trust anchors=\"" +
          pki("root.pem").string() +
          "\">\n"
          "    <accept from=\"000.00.*.H50\" adapter=\"province\" unsigned=\"accept\"/>\n"
          "  </trust>\n"
          "  <adapters><adapter name=\"province\" type=\"directory\" path=\"p\"/></adapters>\n"
          "</gateway>\n");
  const std::string base = test::edocgw_cmd() + " verify --config " + quote(dir / "gateway.xml") +
                           " --json --in " + quote(dir / "unsigned.xml");
  const auto by_province = test::run(base + " --adapter province");
  BOOST_TEST(by_province.exit_code == 0, by_province.err);
  const auto j = nlohmann::json::parse(by_province.out);
  BOOST_TEST(j["state"] == "unsigned");
  BOOST_TEST(j["policy"]["rule"] ==
             "<accept from=\"000.00.*.H50\" adapter=\"province\"> at line 4");
  const auto no_adapter = test::run(base);
  BOOST_TEST(no_adapter.exit_code == 1);
  BOOST_TEST(nlohmann::json::parse(no_adapter.out)["state"] == "invalid");
  BOOST_TEST(test::run(base + " --adapter nowhere").exit_code == 2);
  BOOST_TEST(test::run(base + " --accept-unsigned").exit_code == 2);
}
