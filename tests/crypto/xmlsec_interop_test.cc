// Interoperability with an independent XMLDSig implementation: the xmlsec1
// command-line tool verifies what edocgw signs, and edocgw verifies what
// xmlsec1 signs from a template. RSA and ECDSA.
#define BOOST_TEST_MODULE xmlsec_interop
#include <boost/test/unit_test.hpp>

#include "edxml/package_builder.h"
#include "tests/test_support.h"

using namespace edocgw;
using test::pki;
using test::quote;

namespace {

std::string package_file(const test::TempDir& dir) {
  auto p = edxml::build_package(test::sample_meta(), {{"cong-van.pdf", "%PDF-1.7 sample", "", ""}},
                                now_seconds());
  if (!p) throw std::runtime_error(p.error().message);
  test::write(dir / "package.xml", *p);
  return *p;
}

void edocgw_signs_xmlsec1_verifies(const std::string& stem) {
  test::TempDir dir;
  package_file(dir);
  const auto sign =
      test::run(test::edocgw_cmd() + " sign --cert " + quote(pki(stem + ".pem")) + " --key " +
                quote(pki(stem + ".key")) + " --chain " + quote(pki("ca.pem")) + " --in " +
                quote(dir / "package.xml") + " --out " + quote(dir / "signed.xml"));
  BOOST_REQUIRE_MESSAGE(sign.exit_code == 0, sign.err);
  const auto check = test::run("xmlsec1 --verify --trusted-pem " + quote(pki("root.pem")) + " " +
                               quote(dir / "signed.xml"));
  BOOST_TEST(check.exit_code == 0, check.err);
  BOOST_TEST(check.err.find("OK") != std::string::npos, check.err);

  // And xmlsec1 notices a change too: the check above can fail.
  std::string tampered = test::read(dir / "signed.xml");
  tampered = test::replace_once(tampered, "năm 2026", "năm 2027");
  test::write(dir / "tampered.xml", tampered);
  BOOST_TEST(test::run("xmlsec1 --verify --trusted-pem " + quote(pki("root.pem")) + " " +
                       quote(dir / "tampered.xml"))
                 .exit_code != 0);
}

void xmlsec1_signs_edocgw_verifies(const std::string& stem, const std::string& algorithm) {
  test::TempDir dir;
  const std::string package = package_file(dir);
  test::TemplateAlgorithms algorithms;
  algorithms.signature = algorithm;
  test::write(dir / "signed.xml",
              test::xmlsec1_sign(package, pki(stem + ".key"), pki(stem + ".pem"), pki("ca.pem"),
                                 algorithms));
  const auto verify =
      test::run(test::edocgw_cmd() + " verify --trust " + quote(pki("root.pem")) + " --crl " +
                quote(pki("crls.pem")) + " --in " + quote(dir / "signed.xml"));
  BOOST_TEST(verify.exit_code == 0, verify.err << verify.out);
  BOOST_TEST(verify.out.rfind("VALID", 0) == 0u, verify.out);
}

}  // namespace

BOOST_AUTO_TEST_CASE(xmlsec1_verifies_an_rsa_signature_made_by_edocgw) {
  edocgw_signs_xmlsec1_verifies("huong-hoa");
}

BOOST_AUTO_TEST_CASE(xmlsec1_verifies_an_ecdsa_signature_made_by_edocgw) {
  edocgw_signs_xmlsec1_verifies("huong-hoa-ec");
}

BOOST_AUTO_TEST_CASE(edocgw_verifies_an_rsa_signature_made_by_xmlsec1) {
  xmlsec1_signs_edocgw_verifies("huong-hoa", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
}

BOOST_AUTO_TEST_CASE(edocgw_verifies_an_ecdsa_signature_made_by_xmlsec1) {
  xmlsec1_signs_edocgw_verifies("huong-hoa-ec",
                                "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256");
}

// Inclusive c14n is refused by default (the verification policy) and
// verifies when the administrator accepts it.
BOOST_AUTO_TEST_CASE(edocgw_verifies_inclusive_c14n_as_older_senders_emit_it_when_allowed) {
  test::TempDir dir;
  const std::string package = package_file(dir);
  test::TemplateAlgorithms algorithms;
  algorithms.c14n = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
  test::write(dir / "signed.xml",
              test::xmlsec1_sign(package, pki("huong-hoa.key"), pki("huong-hoa.pem"), pki("ca.pem"),
                                 algorithms));
  const auto strict = test::run(test::edocgw_cmd() + " verify --trust " + quote(pki("root.pem")) +
                                " --in " + quote(dir / "signed.xml"));
  BOOST_TEST(strict.exit_code == 1);
  BOOST_TEST(strict.err.find("inclusive canonicalisation") != std::string::npos, strict.err);
  const auto verify = test::run(test::edocgw_cmd() + " verify --trust " + quote(pki("root.pem")) +
                                " --allow-inclusive-c14n --in " + quote(dir / "signed.xml"));
  BOOST_TEST(verify.exit_code == 0, verify.err);
}
