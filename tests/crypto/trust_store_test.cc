#define BOOST_TEST_MODULE trust_store
#include <boost/test/unit_test.hpp>

#include "crypto/certificate.h"
#include "crypto/trust_store.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace edocgw::crypto;
using test::pki;

namespace {

ChainResult check(const std::string& cert, bool with_intermediate, bool with_crls,
                  TimePoint at = now_seconds()) {
  auto store =
      TrustStore::load({pki("root.pem")},
                       with_intermediate ? std::vector<std::filesystem::path>{pki("ca.pem")}
                                         : std::vector<std::filesystem::path>{},
                       with_crls ? std::vector<std::filesystem::path>{pki("crls.pem")}
                                 : std::vector<std::filesystem::path>{});
  BOOST_REQUIRE(store.ok());
  auto certs = load_certificates(pki(cert));
  BOOST_REQUIRE(certs.ok());
  return store->verify((*certs)[0].get(), {}, at);
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_organisation_certificate_chains_to_the_root) {
  const ChainResult r = check("huong-hoa.pem", true, true);
  BOOST_TEST(r.ok());
  BOOST_TEST(r.chain.size() == 3u);
  BOOST_TEST(r.revocation_checked);
  BOOST_REQUIRE(r.revocation.size() ==
                2u);  // the leaf by the issuing CA's CRL, the CA by the root's
  BOOST_TEST(!r.revocation[0].revoked);
  BOOST_TEST(!r.revocation[0].crl_number.empty());
}

BOOST_AUTO_TEST_CASE(each_fault_is_reported_under_its_own_check) {
  const ChainResult expired = check("expired.pem", true, false);
  BOOST_REQUIRE(expired.first(ChainCheck::validity) != nullptr);
  BOOST_TEST(expired.first(ChainCheck::validity)->message.find("expired on 2021-01-01") !=
             std::string::npos);
  BOOST_TEST(expired.first(ChainCheck::chain) == nullptr);

  const ChainResult future = check("not-yet-valid.pem", true, false);
  BOOST_REQUIRE(future.first(ChainCheck::validity) != nullptr);
  BOOST_TEST(future.first(ChainCheck::validity)->message.find("not valid before 2099-01-01") !=
             std::string::npos);

  const ChainResult revoked = check("revoked.pem", true, true);
  BOOST_REQUIRE(revoked.first(ChainCheck::revocation) != nullptr);
  BOOST_TEST(revoked.first(ChainCheck::revocation)->message.find("keyCompromise") !=
             std::string::npos);
  BOOST_TEST(revoked.first(ChainCheck::chain) == nullptr);
  BOOST_TEST(check("revoked.pem", true, false).ok());  // without CRLs, nothing to say

  const ChainResult missing = check("huong-hoa.pem", false, false);
  BOOST_REQUIRE(missing.first(ChainCheck::chain) != nullptr);
  BOOST_TEST(missing.first(ChainCheck::chain)->message.find("intermediate") != std::string::npos);

  const ChainResult unrelated = check("unrelated.pem", true, false);
  BOOST_REQUIRE(unrelated.first(ChainCheck::chain) != nullptr);
}

BOOST_AUTO_TEST_CASE(validity_is_judged_at_the_time_asked) {
  BOOST_TEST(check("expired.pem", true, false, *parse_rfc3339("2020-06-01T00:00:00Z")).ok());
  BOOST_REQUIRE(!check("huong-hoa.pem", true, false, *parse_rfc3339("2020-06-01T00:00:00Z")).ok());
}

BOOST_AUTO_TEST_CASE(a_missing_crl_for_one_ca_of_the_chain_is_a_revocation_failure) {
  auto store = TrustStore::load({pki("root.pem")}, {pki("ca.pem")}, {pki("ca.crl")});
  BOOST_REQUIRE(store.ok());
  auto certs = load_certificates(pki("huong-hoa.pem"));
  const ChainResult r = store->verify((*certs)[0].get(), {}, now_seconds());
  BOOST_REQUIRE(r.first(ChainCheck::revocation) != nullptr);
  BOOST_TEST(r.first(ChainCheck::revocation)->message.find("no CRL") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(der_crls_and_certificates_load) {
  test::TempDir dir;
  BOOST_REQUIRE(test::run("openssl crl -in " + test::quote(pki("ca.crl")) + " -outform DER -out " +
                          test::quote(dir / "ca.der"))
                    .exit_code == 0);
  auto crls = load_crls(dir / "ca.der");
  BOOST_REQUIRE(crls.ok());
  BOOST_TEST(crls->size() == 1u);
  BOOST_TEST(load_crls(pki("crls.pem"))->size() == 2u);
  BOOST_TEST(!load_crls(pki("root.pem")).ok());
}
