// OCSP against a real responder: `openssl ocsp` serving the sample issuing
// CA's database, asked by `edocgw verify` and by a gateway's configuration.
#define BOOST_TEST_MODULE ocsp
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "tests/test_support.h"

using namespace edocgw;
using test::pki;
using test::quote;

namespace {

using Responder = test::OcspResponder;

struct Signed {
  test::TempDir dir;
  explicit Signed(const std::string& stem) {
    test::write(dir / "meta.json", test::sample_meta().dump());
    const auto built = test::run(test::edocgw_cmd() + " edxml build --meta " +
                                 quote(dir / "meta.json") + " --out " + quote(dir / "package.xml"));
    BOOST_REQUIRE(built.exit_code == 0);
    const auto s =
        test::run(test::edocgw_cmd() + " sign --cert " + quote(pki(stem + ".pem")) + " --key " +
                  quote(pki(stem + ".key")) + " --chain " + quote(pki("ca.pem")) + " --in " +
                  quote(dir / "package.xml") + " --out " + quote(dir / "signed.xml"));
    BOOST_REQUIRE_MESSAGE(s.exit_code == 0, s.err);
  }
  test::CommandResult verify(const std::string& extra) {
    return test::run(test::edocgw_cmd() + " verify --json --trust " + quote(pki("root.pem")) +
                     " --in " + quote(dir / "signed.xml") + " " + extra);
  }
};

nlohmann::json check(const nlohmann::json& report, const std::string& name) {
  for (const auto& c : report["checks"])
    if (c["name"] == name) return c;
  return {};
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_good_certificate_is_confirmed_and_the_signed_answer_kept_as_evidence) {
  Responder responder;
  Signed s("huong-hoa");
  const auto v = s.verify("--crl " + quote(pki("crls.pem")) + " --ocsp-url " + responder.url());
  BOOST_TEST(v.exit_code == 0, v.err);
  const auto report = nlohmann::json::parse(v.out);
  BOOST_TEST(check(report, "revocation")["outcome"] == "pass");
  BOOST_TEST(check(report, "revocation")["detail"].get<std::string>().find("says the signer "
                                                                           "certificate is good") !=
             std::string::npos);
  nlohmann::json ocsp;
  for (const auto& ev : report["revocation"])
    if (ev["source"] == "ocsp") ocsp = ev;
  BOOST_REQUIRE(ocsp.is_object());
  BOOST_TEST(ocsp["ocsp_status"] == "good");
  BOOST_TEST(ocsp["ocsp_responder"].get<std::string>().find("OCSP responder") != std::string::npos);
  BOOST_TEST(ocsp["ocsp_response"].get<std::string>().size() > 500u);  // the DER, base64
}

BOOST_AUTO_TEST_CASE(a_revocation_newer_than_the_crl_is_caught_only_by_ocsp) {
  Responder responder;
  Signed s("late-revoked");
  // The CRL was published before the revocation: it says nothing.
  BOOST_TEST(s.verify("--crl " + quote(pki("crls.pem"))).exit_code == 0);
  const auto v = s.verify("--crl " + quote(pki("crls.pem")) + " --ocsp-url " + responder.url());
  BOOST_TEST(v.exit_code == 1);
  BOOST_TEST(v.err.find("was revoked on") != std::string::npos, v.err);
  BOOST_TEST(v.err.find("keyCompromise") != std::string::npos, v.err);
  BOOST_TEST(v.err.find("per the OCSP responder " + responder.url()) != std::string::npos, v.err);
}

BOOST_AUTO_TEST_CASE(an_unreachable_responder_is_unknown_status_and_fails_only_when_required) {
  Signed s("huong-hoa");
  const std::string dead = "http://127.0.0.1:" + std::to_string(test::free_port());
  const auto required = s.verify("--ocsp-url " + dead + " --require-revocation");
  BOOST_TEST(required.exit_code == 1);
  BOOST_TEST(required.err.find("revocation status of the signer certificate is unknown") !=
                 std::string::npos,
             required.err);
  const auto preferred = s.verify("--ocsp-url " + dead);
  BOOST_TEST(preferred.exit_code == 0, preferred.err);
  BOOST_TEST(nlohmann::json::parse(preferred.out)["warnings"].dump().find("OCSP gave no answer") !=
             std::string::npos);
  // Required with no source at all (no CRL, no OCSP): refused, not skipped.
  const auto nothing = s.verify("--require-revocation");
  BOOST_TEST(nothing.exit_code == 1);
  BOOST_TEST(
      nothing.err.find("no CRL was given or fetched and OCSP was not asked") != std::string::npos,
      nothing.err);
  // A CRL that covers the signer makes the missing OCSP answer harmless.
  BOOST_TEST(
      s.verify("--crl " + quote(pki("crls.pem")) + " --ocsp-url " + dead + " --require-revocation")
          .exit_code == 0);
}

BOOST_AUTO_TEST_CASE(an_answer_signed_by_someone_the_ca_did_not_authorise_is_refused) {
  Responder impostor("dakrong");  // a valid certificate of the same CA, without OCSPSigning
  Signed s("late-revoked");
  const auto v = s.verify("--ocsp-url " + impostor.url() + " --require-revocation");
  BOOST_TEST(v.exit_code == 1);
  BOOST_TEST(v.err.find("not signed by the CA or a responder it authorised") != std::string::npos,
             v.err);
}

BOOST_AUTO_TEST_CASE(ocsp_and_at_together_are_a_usage_error) {
  Signed s("huong-hoa");
  const auto v = s.verify("--ocsp --at 2026-01-01T00:00:00Z");
  BOOST_TEST(v.exit_code == 2);
}
