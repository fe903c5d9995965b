#define BOOST_TEST_MODULE identity
#include <boost/test/unit_test.hpp>

#include <cstdlib>

#include "crypto/certificate.h"
#include "crypto/identity.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace edocgw::crypto;
using test::pki;

BOOST_AUTO_TEST_CASE(pem_identity_loads_with_its_chain) {
  auto id = load_identity({pki("huong-hoa.pem"), pki("huong-hoa.key"), pki("ca.pem"), ""});
  BOOST_REQUIRE(id.ok());
  const CertificateInfo info = describe(id->cert.get());
  BOOST_TEST(info.organ_id == "000.00.12.H50");
  BOOST_TEST(info.subject.find("UBND huyện Hướng Hóa") != std::string::npos);
  BOOST_TEST(info.key_type == "RSA-2048");
  BOOST_REQUIRE(id->chain.size() == 1u);
  BOOST_TEST(describe(id->chain[0].get()).subject.find("Issuing CA G2") != std::string::npos);
  BOOST_TEST(has_signing_key_usage(id->cert.get()));
}

BOOST_AUTO_TEST_CASE(pkcs12_identity_takes_its_passphrase_from_a_file_or_the_environment) {
  auto from_file =
      load_identity({"", pki("huong-hoa.p12"), "", "file:" + pki("huong-hoa.p12.pass").string()});
  BOOST_REQUIRE(from_file.ok());
  BOOST_TEST(describe(from_file->cert.get()).organ_id == "000.00.12.H50");
  BOOST_TEST(from_file->chain.size() == 1u);

  // The PKCS#12 already holds the issuing CA: a chain file repeating it adds only the root.
  auto with_chain = load_identity(
      {"", pki("huong-hoa.p12"), pki("chain.pem"), "file:" + pki("huong-hoa.p12.pass").string()});
  BOOST_REQUIRE(with_chain.ok());
  BOOST_TEST(with_chain->chain.size() == 2u);

  const std::string pass = test::read(pki("huong-hoa.p12.pass"));
  ::setenv("EDOCGW_TEST_P12_PASS", pass.substr(0, pass.find('\n')).c_str(), 1);
  auto from_env = load_identity({"", pki("huong-hoa.p12"), "", "env:EDOCGW_TEST_P12_PASS"});
  BOOST_REQUIRE(from_env.ok());
}

BOOST_AUTO_TEST_CASE(a_wrong_pkcs12_passphrase_is_said_plainly) {
  ::setenv("EDOCGW_TEST_WRONG_PASS", "not-the-passphrase", 1);
  auto id = load_identity({"", pki("huong-hoa.p12"), "", "env:EDOCGW_TEST_WRONG_PASS"});
  BOOST_REQUIRE(!id.ok());
  BOOST_TEST(id.error().message.find("wrong passphrase") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_literal_passphrase_is_refused) {
  auto secret = resolve_secret("hunter2");
  BOOST_REQUIRE(!secret.ok());
  BOOST_TEST(secret.error().message.find("env:") != std::string::npos);
  ::unsetenv("EDOCGW_TEST_UNSET");
  BOOST_TEST(!resolve_secret("env:EDOCGW_TEST_UNSET").ok());
}

BOOST_AUTO_TEST_CASE(a_key_that_is_not_the_certificates_is_refused) {
  auto id = load_identity({pki("huong-hoa.pem"), pki("dakrong.key"), "", ""});
  BOOST_REQUIRE(!id.ok());
  BOOST_TEST(id.error().message.find("does not belong") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ec_identities_load) {
  auto id = load_identity({pki("huong-hoa-ec.pem"), pki("huong-hoa-ec.key"), pki("ca.pem"), ""});
  BOOST_REQUIRE(id.ok());
  BOOST_TEST(describe(id->cert.get()).key_type == "EC-prime256v1");
}
