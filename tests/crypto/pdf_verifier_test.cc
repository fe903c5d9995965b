// The signatures inside PDFs, verified end to end: real signed PDFs made at
// test time (tests/support/pdf_fixtures.h: qpdf writes, OpenSSL's CMS and TS
// APIs sign, with the sample PKI), each attack with its precise reason, the
// Decree 30 policy, a real OCSP responder, PDFs inside signed and unsigned
// edXML packages, and `edocgw pdf verify`.
#define BOOST_TEST_MODULE pdf_verifier
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <ostream>

#include "crypto/identity.h"
#include "crypto/package_signer.h"
#include "crypto/package_verifier.h"
#include "crypto/pdf_verifier.h"
#include "edxml/package_builder.h"
#include "tests/support/pdf_fixtures.h"
#include "tests/test_support.h"
#include "util/bytes.h"

namespace edocgw::crypto {
// Boost.Test prints the states by name when a check fails.
std::ostream& operator<<(std::ostream& o, PdfState s) {
  return o << pdf_state_name(s);
}
std::ostream& operator<<(std::ostream& o, PdfSignatureState s) {
  return o << pdf_signature_state_name(s);
}
std::ostream& operator<<(std::ostream& o, CheckOutcome c) {
  return o << outcome_name(c);
}
std::ostream& operator<<(std::ostream& o, VerificationState s) {
  return o << state_name(s);
}
}  // namespace edocgw::crypto

using namespace edocgw;
using namespace edocgw::crypto;
namespace fx = edocgw::test::pdf;
using test::pki;

namespace {

const TrustStore& trust() {
  static const TrustStore store = [] {
    auto s = TrustStore::load({pki("root.pem")}, {pki("ca.pem")}, {});
    if (!s) throw std::runtime_error(s.error().message);
    return std::move(*s);
  }();
  return store;
}

const TrustStore& trust_with_crls() {
  static const TrustStore store = [] {
    auto s = TrustStore::load({pki("root.pem")}, {pki("ca.pem")}, {pki("crls.pem")});
    if (!s) throw std::runtime_error(s.error().message);
    return std::move(*s);
  }();
  return store;
}

fx::Signer signer(const std::string& name) {
  return fx::sample_signer(pki().string(), name);
}

const std::string& base() {
  static const std::string b = fx::make_base_pdf();
  return b;
}

// Official (the personal certificate) then the organisation (Hướng Hóa),
// the Decree 30 order.
const std::string& two_signatures() {
  static const std::string b = [] {
    fx::SignOptions official;
    official.field_name = "Official";
    fx::SignOptions organisation;
    organisation.field_name = "Organisation";
    return fx::sign_pdf(fx::sign_pdf(base(), signer("personal"), official), signer("huong-hoa"),
                        organisation);
  }();
  return b;
}

PdfReport verify(const std::string& pdf, PdfVerifyOptions options = {},
                 const TrustStore& store = trust()) {
  if (options.sender_organ_id.empty()) options.sender_organ_id = "000.00.12.H50";
  return PdfVerifier(store, options).verify(pdf, "quyet-dinh.pdf");
}

const Check* find_check(const PdfSignatureReport& s, const std::string& name) {
  for (const auto& c : s.checks)
    if (c.name == name) return &c;
  return nullptr;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The report's first signature failed `check` with a reason holding `phrase`.
void expect_refused(const PdfReport& r, const std::string& check, const std::string& phrase,
                    size_t signature = 0) {
  BOOST_TEST_INFO(to_text(r));
  BOOST_REQUIRE(r.signatures.size() > signature);
  const auto& s = r.signatures[signature];
  BOOST_TEST(s.state == PdfSignatureState::invalid);
  const Check* c = find_check(s, check);
  BOOST_REQUIRE_MESSAGE(c != nullptr, "no check " + check);
  BOOST_TEST(c->outcome == CheckOutcome::fail);
  BOOST_TEST(contains(s.reason, phrase), s.reason);
  BOOST_TEST(r.state == PdfState::invalid);
  BOOST_TEST(!r.accepted());
  BOOST_TEST(contains(r.reason, phrase), r.reason);
}

std::time_t utc(int year, int month, int day) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = 12;
  return timegm(&tm);
}

}  // namespace

BOOST_AUTO_TEST_CASE(one_signature_is_verified_with_signer_chain_and_binding) {
  const std::string pdf = fx::sign_pdf(base(), signer("huong-hoa"));
  const PdfReport r = verify(pdf);
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::verified);
  BOOST_TEST(r.accepted());
  BOOST_REQUIRE_EQUAL(r.signatures.size(), 1u);
  const auto& s = r.signatures[0];
  BOOST_TEST(s.state == PdfSignatureState::valid);
  BOOST_TEST(s.sub_filter == "ETSI.CAdES.detached");
  BOOST_TEST(s.covers_whole_file);
  BOOST_TEST(s.organ_id == "000.00.12.H50");
  BOOST_TEST(s.binding == "uid");
  BOOST_TEST(s.digest_algorithm == "sha256");
  BOOST_REQUIRE_EQUAL(s.chain.size(), 3u);  // signer, issuing CA, root
  BOOST_TEST(contains(s.chain.back().subject, "Root"));
  BOOST_TEST(r.sha256 == sha256_hex(pdf));
  const auto j = to_json(r);
  BOOST_TEST(j["signatures"][0]["state"] == "valid");
  BOOST_TEST(j["state"] == "verified");
}

BOOST_AUTO_TEST_CASE(official_then_organisation_meets_the_decree_30_policy) {
  PdfVerifyOptions o;
  o.policy.pdf.require = PdfPolicy::Require::organisation;
  o.policy.pdf.official_required = true;
  const PdfReport r = verify(two_signatures(), o);
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::verified);
  BOOST_REQUIRE_EQUAL(r.signatures.size(), 2u);
  BOOST_TEST(r.signatures[0].field_name == "Official");
  BOOST_TEST(!r.signatures[0].covers_whole_file);
  // The official's signature sees the organisation's signature added after it, allowed.
  BOOST_TEST(!r.signatures[0].changes.empty());
  for (const auto& c : r.signatures[0].changes) BOOST_TEST(c.allowed, c.description);
  BOOST_TEST(r.signatures[0].organ_id.empty());  // a personal certificate, no organ map
  BOOST_TEST(r.signatures[1].covers_whole_file);
  BOOST_TEST(r.signatures[1].organ_id == "000.00.12.H50");
}

BOOST_AUTO_TEST_CASE(the_policy_names_what_is_missing) {
  PdfVerifyOptions o;
  o.policy.pdf.require = PdfPolicy::Require::organisation;
  // Organisation first, official after: the organisation's is not the last.
  fx::SignOptions first, second;
  first.field_name = "Organisation";
  second.field_name = "Official";
  const std::string reversed =
      fx::sign_pdf(fx::sign_pdf(base(), signer("huong-hoa"), first), signer("personal"), second);
  PdfReport r = verify(reversed, o);
  BOOST_TEST(r.state == PdfState::invalid);
  BOOST_TEST(contains(r.reason, "the last one ('Official')"), r.reason);
  BOOST_TEST(contains(r.reason, "signed earlier"), r.reason);

  // Another agency's organisation signature.
  r = verify(fx::sign_pdf(base(), signer("dakrong")), o);
  BOOST_TEST(r.state == PdfState::invalid);
  BOOST_TEST(contains(r.reason, "is by 000.00.13.H50"), r.reason);

  // Official required, only the organisation signed.
  o.policy.pdf.official_required = true;
  r = verify(fx::sign_pdf(base(), signer("huong-hoa")), o);
  BOOST_TEST(r.state == PdfState::invalid);
  BOOST_TEST(contains(r.reason, "an official's valid signature before"), r.reason);

  // Unsigned: fine when nothing is required, refused when a signature is.
  r = verify(base());
  BOOST_TEST(r.state == PdfState::unsigned_pdf);
  BOOST_TEST(r.accepted());
  PdfVerifyOptions any;
  any.policy.pdf.require = PdfPolicy::Require::any;
  r = verify(base(), any);
  BOOST_TEST(r.state == PdfState::invalid);
  BOOST_TEST(contains(r.reason, "requires a valid signature"), r.reason);
}

BOOST_AUTO_TEST_CASE(a_changed_signed_byte_fails_the_digest) {
  std::string pdf = fx::sign_pdf(base(), signer("huong-hoa"));
  // A byte of the page text, inside the first signed range: same length.
  const size_t at = pdf.find("Quyet dinh");
  BOOST_REQUIRE(at != std::string::npos);
  pdf[at] = 'X';
  expect_refused(verify(pdf), "digest", "the signed bytes were changed");
}

BOOST_AUTO_TEST_CASE(zeroed_or_foreign_contents_are_no_signature) {
  std::string pdf = fx::sign_pdf(base(), signer("huong-hoa"));
  const auto loc = fx::locate_signature(pdf, "Sig1");
  for (size_t i = loc.contents_offset + 1; i + 1 < loc.contents_offset + loc.contents_length; ++i)
    pdf[i] = '0';
  expect_refused(verify(pdf), "cms", "only zero bytes");

  // The CMS of another signing of the same file: a valid CMS, other bytes.
  const std::string a = fx::sign_pdf(base(), signer("huong-hoa"));
  fx::SignOptions later;
  later.signing_time = utc(2026, 1, 2);
  std::string b = fx::sign_pdf(base(), signer("huong-hoa"), later);
  const auto la = fx::locate_signature(a, "Sig1");
  const auto lb = fx::locate_signature(b, "Sig1");
  BOOST_REQUIRE_EQUAL(la.contents_length, lb.contents_length);
  b.replace(lb.contents_offset, lb.contents_length,
            a.substr(la.contents_offset, la.contents_length));
  const PdfReport r = verify(b);
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::invalid);
}

BOOST_AUTO_TEST_CASE(a_rogue_ca_with_the_same_names_does_not_chain) {
  fx::Signer rogue = signer("rogue-huong-hoa");
  rogue.chain_pem = {pki("rogue-ca.pem").string(), pki("rogue-root.pem").string()};
  const PdfReport r = verify(fx::sign_pdf(base(), rogue));
  expect_refused(r, "chain", "");
  BOOST_TEST(r.signatures[0].signer->subject ==
             describe(load_certificates(pki("huong-hoa.pem"))->front().get()).subject);
}

BOOST_AUTO_TEST_CASE(certificate_problems_fail_with_their_check) {
  expect_refused(verify(fx::sign_pdf(base(), signer("expired"))), "validity", "expired");
  expect_refused(verify(fx::sign_pdf(base(), signer("no-sign-usage"))), "key_usage",
                 "does not allow signing");
  expect_refused(verify(fx::sign_pdf(base(), signer("revoked")), {}, trust_with_crls()),
                 "revocation", "revoked");
  expect_refused(verify(fx::sign_pdf(base(), signer("unrelated"))), "chain", "");
}

BOOST_AUTO_TEST_CASE(cms_profiles) {
  // CAdES without ESS signing-certificate-v2 is not CAdES.
  fx::SignOptions no_ess;
  no_ess.ess_signing_certificate_v2 = false;
  expect_refused(verify(fx::sign_pdf(base(), signer("huong-hoa"), no_ess)), "signed_attributes",
                 "ESS signing-certificate-v2");

  // adbe.pkcs7.detached with no signed attributes: the signature over the bytes.
  fx::SignOptions bare;
  bare.sub_filter = "adbe.pkcs7.detached";
  bare.signed_attributes = false;
  bare.signing_time = utc(2026, 3, 4);
  std::string pdf = fx::sign_pdf(base(), signer("huong-hoa"), bare);
  PdfReport r = verify(pdf);
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::verified);
  BOOST_TEST(r.signatures[0].claimed_time == "2026-03-04T12:00:00Z");  // from /M
  pdf[pdf.find("Quyet dinh")] = 'X';
  expect_refused(verify(pdf), "signature_value", "does not verify over the signed bytes");

  // adbe.pkcs7.sha1: SHA-1 binds the document; refused unless the policy says warn.
  fx::SignOptions sha1;
  sha1.sub_filter = "adbe.pkcs7.sha1";
  const std::string sha1_pdf = fx::sign_pdf(base(), signer("huong-hoa"), sha1);
  expect_refused(verify(sha1_pdf), "algorithm", "SHA-1");
  PdfVerifyOptions warn;
  warn.policy.sha1_warn = true;
  r = verify(sha1_pdf, warn);
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::verified);
  BOOST_TEST(!r.signatures[0].warnings.empty());
}

BOOST_AUTO_TEST_CASE(timestamps_prove_time_and_document_timestamps_are_verified) {
  // A signature timestamp: the chain is judged at its genTime.
  fx::SignOptions ts;
  ts.timestamp_by = signer("tsa");
  PdfReport r = verify(fx::sign_pdf(base(), signer("huong-hoa"), ts));
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::verified);
  BOOST_TEST(!r.signatures[0].timestamp_time.empty());
  BOOST_TEST(contains(r.signatures[0].timestamp_authority, "Time-Stamping"));
  BOOST_TEST(r.signatures[0].checked_at == r.signatures[0].timestamp_time);

  // The certificate expired in 2021; a timestamp of 2020 proves the
  // signature was made while it was valid: the chain is judged then.
  fx::SignOptions in_time;
  in_time.timestamp_by = signer("tsa");
  in_time.signing_time = utc(2020, 6, 1);
  in_time.timestamp_time = utc(2020, 6, 1);
  const std::string expired_pdf = fx::sign_pdf(base(), signer("expired"), in_time);
  r = verify(expired_pdf);
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::verified);
  BOOST_TEST(r.signatures[0].checked_at == "2020-06-01T12:00:00Z");
  // Without the timestamp the same signer is judged now, and has expired.
  fx::SignOptions no_ts;
  no_ts.signing_time = utc(2020, 6, 1);
  expect_refused(verify(fx::sign_pdf(base(), signer("expired"), no_ts)), "validity", "expired");

  // A timestamp whose TSA certificate was not valid at the genTime it
  // claims (2017) is not trusted: ignored, reported, the chain judged now.
  fx::SignOptions old_ts;
  old_ts.timestamp_by = signer("tsa");
  old_ts.timestamp_time = utc(2017, 1, 1);
  r = verify(fx::sign_pdf(base(), signer("huong-hoa"), old_ts));
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::verified);
  BOOST_TEST(r.signatures[0].timestamp_time.empty());
  BOOST_TEST(find_check(r.signatures[0], "timestamp")->outcome == CheckOutcome::skipped);
  BOOST_TEST(!r.signatures[0].warnings.empty());

  // A document timestamp after the organisation's signature: allowed, and
  // the organisation's is still the last signature.
  fx::SignOptions doc_ts;
  doc_ts.sub_filter = "ETSI.RFC3161";
  doc_ts.field_name = "DocTS";
  const std::string stamped = fx::sign_pdf(two_signatures(), signer("tsa"), doc_ts);
  PdfVerifyOptions o;
  o.policy.pdf.require = PdfPolicy::Require::organisation;
  r = verify(stamped, o);
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::verified);
  BOOST_REQUIRE_EQUAL(r.signatures.size(), 3u);
  BOOST_TEST(r.signatures[2].kind == "document timestamp");
  BOOST_TEST(r.signatures[2].covers_whole_file);

  // A document timestamp over changed bytes.
  std::string changed = stamped;
  changed[changed.find("Quyet dinh")] = 'X';
  r = verify(changed, o);
  BOOST_TEST(r.state == PdfState::invalid);
  BOOST_TEST(contains(r.reason, "the signed bytes were changed"), r.reason);
}

BOOST_AUTO_TEST_CASE(changes_after_signing_are_refused_by_name) {
  // The incremental saving attack: a new page content appended after signing.
  const std::string signed_pdf = fx::sign_pdf(base(), signer("huong-hoa"));
  fx::Update u;
  const int content = fx::content_object(signed_pdf, 0);
  u.objects[content] = "<< >>\nstream\nBT /F1 24 Tf 72 700 Td (Quyet dinh so 999) Tj ET\nendstream";
  const PdfReport r = verify(fx::append_update(signed_pdf, u));
  BOOST_TEST_INFO(to_text(r));
  expect_refused(r, "changes", "content");
  // The signature itself still verifies over what it signed: the report
  // says who signed the document that was then changed.
  BOOST_TEST(find_check(r.signatures[0], "signature_value")->outcome == CheckOutcome::pass);
  BOOST_REQUIRE(r.signatures[0].signer.has_value());
  BOOST_TEST(r.signatures[0].organ_id == "000.00.12.H50");
  // The report lists the change as not allowed.
  bool listed = false;
  for (const auto& c : r.signatures[0].changes) listed = listed || !c.allowed;
  BOOST_TEST(listed);
}

BOOST_AUTO_TEST_CASE(a_file_that_cannot_be_judged_is_refused_or_reported_by_policy) {
  const std::string junk = fx::sign_pdf(base(), signer("huong-hoa")) + "\n%% appended junk\n";
  PdfReport r = verify(junk);
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::cannot_verify);
  BOOST_TEST(r.file_problem == "trailing_bytes");
  BOOST_TEST(!r.accepted());
  BOOST_TEST(contains(r.reason, "cannot be verified"), r.reason);
  PdfVerifyOptions report;
  report.policy.pdf.refuse_cannot_verify = false;
  r = verify(junk, report);
  BOOST_TEST(r.state == PdfState::cannot_verify);
  BOOST_TEST(r.accepted());
  // An unsigned file with the same junk claims nothing: unsigned, with a warning.
  r = verify(base() + "\n%% appended junk\n");
  BOOST_TEST(r.state == PdfState::unsigned_pdf);
  BOOST_TEST(!r.warnings.empty());
}

BOOST_AUTO_TEST_CASE(ocsp_is_asked_and_its_evidence_kept) {
  test::OcspResponder responder;
  PdfVerifyOptions o;
  o.ocsp.emplace();
  o.ocsp->url = responder.url();
  // late-revoked: revoked after the CRL was made, only OCSP knows.
  PdfReport r = verify(fx::sign_pdf(base(), signer("late-revoked")), o);
  expect_refused(r, "revocation", "revoked");
  BOOST_REQUIRE(!r.signatures[0].revocation.empty());
  BOOST_TEST(r.signatures[0].revocation.back().source == "ocsp");
  r = verify(fx::sign_pdf(base(), signer("huong-hoa")), o);
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == PdfState::verified);
  BOOST_REQUIRE(!r.signatures[0].revocation.empty());
  BOOST_TEST(r.signatures[0].revocation.back().ocsp_status == "good");
  BOOST_TEST(!r.signatures[0].revocation.back().ocsp_response_der.empty());
}

namespace {

std::string package_with(const std::string& pdf, bool sign) {
  std::vector<edxml::AttachmentFile> files{{"quyet-dinh.pdf", pdf, "application/pdf", ""}};
  auto built = edxml::build_package(test::sample_meta(), std::move(files), now_seconds());
  if (!built) throw std::runtime_error(built.error().message);
  if (!sign) return *built;
  auto id = load_identity({pki("huong-hoa.pem"), pki("huong-hoa.key"), pki("ca.pem"), ""});
  if (!id) throw std::runtime_error(id.error().message);
  auto signer = PackageSigner::create(std::move(*id));
  if (!signer) throw std::runtime_error(signer.error().message);
  auto signed_package = signer->sign(*built, now_seconds());
  if (!signed_package) throw std::runtime_error(signed_package.error().message);
  return *signed_package;
}

const Check* find_check(const VerificationReport& r, const std::string& name) {
  for (const auto& c : r.checks)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

BOOST_AUTO_TEST_CASE(pdfs_inside_packages_are_verified_and_reported) {
  std::string tampered = two_signatures();
  tampered[tampered.find("Quyet dinh")] = 'X';

  VerifyOptions vo;
  vo.policy.pdf.require = PdfPolicy::Require::organisation;
  vo.policy.pdf.official_required = true;
  PackageVerifier verifier(trust(), vo);

  auto r = verifier.verify(package_with(two_signatures(), true));
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == VerificationState::valid);
  BOOST_REQUIRE_EQUAL(r.pdf.size(), 1u);
  BOOST_TEST(r.pdf[0].state == PdfState::verified);
  BOOST_TEST(r.pdf[0].name == "quyet-dinh.pdf");
  BOOST_TEST(find_check(r, "pdf_signatures")->outcome == CheckOutcome::pass);
  BOOST_TEST(to_json(r)["pdf"][0]["signatures"].size() == 2u);

  // A validly signed package carrying a tampered PDF: the package is refused.
  r = verifier.verify(package_with(tampered, true));
  BOOST_TEST(r.state == VerificationState::invalid);
  BOOST_TEST(find_check(r, "pdf_signatures")->outcome == CheckOutcome::fail);
  BOOST_TEST(contains(r.reason, "the signed bytes were changed"), r.reason);

  // Real traffic: unsigned packages accepted by policy; the PDF still decides.
  vo.policy.accept_unsigned = true;
  PackageVerifier lenient(trust(), vo);
  r = lenient.verify(package_with(two_signatures(), false));
  BOOST_TEST_INFO(to_text(r));
  BOOST_TEST(r.state == VerificationState::unsigned_accepted);
  BOOST_TEST(r.pdf[0].state == PdfState::verified);
  r = lenient.verify(package_with(tampered, false));
  BOOST_TEST(r.state == VerificationState::invalid);
  r = lenient.verify(package_with(base(), false));
  BOOST_TEST(r.state == VerificationState::invalid);
  BOOST_TEST(contains(r.reason, "no signature"), r.reason);

  // The switch the benchmark uses: no PDF checks, no PDF report.
  vo.pdf_signatures = false;
  r = PackageVerifier(trust(), vo).verify(package_with(tampered, true));
  BOOST_TEST(r.state == VerificationState::valid);
  BOOST_TEST(r.pdf.empty());
}

BOOST_AUTO_TEST_CASE(the_cli_verifies_a_bare_pdf) {
  test::TempDir dir;
  const auto good = dir.path() / "good.pdf";
  const auto bad = dir.path() / "bad.pdf";
  test::write(good, two_signatures());
  std::string tampered = two_signatures();
  tampered[tampered.find("Quyet dinh")] = 'X';
  test::write(bad, tampered);
  const std::string trust_args =
      " --trust " + test::quote(pki("root.pem")) + " --untrusted " + test::quote(pki("ca.pem"));
  auto ok = test::run(test::edocgw_cmd() + " pdf verify" + trust_args +
                      " --pdf-signatures organisation --pdf-official --sender 000.00.12.H50 " +
                      test::quote(good));
  BOOST_TEST(ok.exit_code == 0, ok.err + ok.out);
  BOOST_TEST(contains(ok.out, "verified"), ok.out);
  auto no =
      test::run(test::edocgw_cmd() + " pdf verify" + trust_args + " --json " + test::quote(bad));
  BOOST_TEST(no.exit_code == 1, no.err + no.out);
  BOOST_TEST(contains(no.err, "the signed bytes were changed"), no.err);
  const auto j = nlohmann::json::parse(no.out);
  BOOST_TEST(j["state"] == "invalid");
  auto usage = test::run(test::edocgw_cmd() + " pdf verify" + trust_args +
                         " --pdf-signatures organisation " + test::quote(good));
  BOOST_TEST(usage.exit_code == 2, usage.err);
}

BOOST_AUTO_TEST_CASE(pdfsig_and_edocgw_agree_on_the_honest_files_and_not_on_an_attack) {
  // Honest signed PDFs in the shapes signing tools write: poppler's pdfsig
  // calls every signature valid, and so does edocgw. (pdfsig does not check
  // document timestamps, so none is among them.)
  fx::SignOptions cades, adbe, stamped, first, second, certify;
  adbe.sub_filter = "adbe.pkcs7.detached";
  stamped.timestamp_by = signer("tsa");
  first.field_name = "Sig1";
  second.field_name = "Sig2";
  certify.docmdp_p = 2;
  fx::BaseOptions with_fields;
  with_fields.empty_signature_fields = 2;
  fx::BaseOptions object_streams;
  object_streams.object_streams = true;
  const std::vector<std::pair<std::string, std::string>> honest = {
      {"one CAdES signature", fx::sign_pdf(base(), signer("huong-hoa"), cades)},
      {"adbe.pkcs7.detached", fx::sign_pdf(base(), signer("huong-hoa"), adbe)},
      {"a signature timestamp", fx::sign_pdf(base(), signer("huong-hoa"), stamped)},
      {"official then organisation", two_signatures()},
      {"pre-placed fields filled",
       fx::sign_pdf(fx::sign_pdf(fx::make_base_pdf(with_fields), signer("personal"), first),
                    signer("huong-hoa"), second)},
      {"object streams", fx::sign_pdf(fx::make_base_pdf(object_streams), signer("huong-hoa"))},
      {"certified (P=2) then signed",
       fx::sign_pdf(fx::sign_pdf(base(), signer("personal"), certify), signer("huong-hoa"),
                    second)},
  };
  test::TempDir dir;
  for (const auto& [what, pdf] : honest) {
    BOOST_TEST_CONTEXT(what) {
      const auto path = dir / "honest.pdf";
      test::write(path, pdf);
      const auto ps = fx::run_pdfsig(path.string());
      BOOST_REQUIRE_MESSAGE(ps.ran, "pdfsig is missing: install poppler-utils (scripts/setup.sh)");
      const PdfReport r = verify(pdf);
      BOOST_TEST_INFO(to_text(r) + ps.output);
      size_t valid_in_pdfsig = 0;
      for (size_t at = 0; (at = ps.output.find("Signature is Valid.", at)) != std::string::npos;
           ++at)
        ++valid_in_pdfsig;
      BOOST_TEST(valid_in_pdfsig == r.signatures.size());
      BOOST_TEST(r.state == PdfState::verified);
      for (const auto& s : r.signatures) BOOST_TEST(s.state == PdfSignatureState::valid);
    }
  }
  // Where they part: content appended after signing. pdfsig still says
  // valid; edocgw names the change.
  const std::string signed_pdf = fx::sign_pdf(base(), signer("huong-hoa"));
  fx::Update u;
  u.objects[fx::content_object(signed_pdf, 0)] =
      "<< >>\nstream\nBT /F1 24 Tf 72 700 Td (Quyet dinh so 999) Tj ET\nendstream";
  const std::string attacked = fx::append_update(signed_pdf, u);
  const auto path = dir / "attacked.pdf";
  test::write(path, attacked);
  const auto ps = fx::run_pdfsig(path.string());
  BOOST_TEST(ps.output.find("Signature is Valid.") != std::string::npos, ps.output);
  const PdfReport r = verify(attacked);
  BOOST_TEST(r.state == PdfState::invalid);
  BOOST_TEST(contains(r.reason, "was changed"), r.reason);
}
