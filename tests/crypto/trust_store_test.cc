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

// The cache of validated paths (issue 12, "verification as fast as
// signing"): a path is reused only with the same certificates, inside the
// window where every certificate and CRL of it is current, and never across
// stores (a reload makes a new store).
BOOST_AUTO_TEST_CASE(a_validated_path_is_reused_only_inside_its_window) {
  auto store = TrustStore::load({pki("root.pem")}, {pki("ca.pem")}, {});
  BOOST_REQUIRE(store.ok());
  auto expired = load_certificates(pki("expired.pem"));
  BOOST_REQUIRE(expired.ok());
  X509* cert = (*expired)[0].get();
  const TimePoint in_2020 = *parse_rfc3339("2020-06-01T00:00:00Z");

  const ChainResult first = store->verify(cert, {}, in_2020);
  BOOST_REQUIRE(first.ok());
  BOOST_TEST(!first.cached);
  const ChainResult again = store->verify(cert, {}, *parse_rfc3339("2020-09-01T00:00:00Z"));
  BOOST_TEST(again.ok());
  BOOST_TEST(again.cached);
  BOOST_TEST(again.chain.size() == first.chain.size());
  BOOST_TEST(again.chain_info.size() == first.chain.size());
  BOOST_TEST(again.chain_info[0]->subject == describe(cert).subject);
  // After the certificate's notAfter the cached path does not hold: validated afresh.
  const ChainResult now = store->verify(cert, {}, now_seconds());
  BOOST_TEST(!now.cached);
  BOOST_REQUIRE(now.first(ChainCheck::validity) != nullptr);
  BOOST_TEST(now.first(ChainCheck::validity)->message.find("expired on 2021-01-01") !=
             std::string::npos);
  const auto stats = store->chain_cache_stats();
  BOOST_TEST(stats.hits == 1u);
  BOOST_TEST(stats.misses == 2u);
  BOOST_TEST(stats.entries == 1u);
}

BOOST_AUTO_TEST_CASE(a_failed_path_is_never_cached_and_stores_do_not_share_paths) {
  auto revoked = load_certificates(pki("revoked.pem"));
  BOOST_REQUIRE(revoked.ok());
  X509* cert = (*revoked)[0].get();
  auto without_crls = TrustStore::load({pki("root.pem")}, {pki("ca.pem")}, {});
  BOOST_REQUIRE(without_crls.ok());
  BOOST_TEST(without_crls->verify(cert, {}, now_seconds()).ok());
  BOOST_TEST(without_crls->verify(cert, {}, now_seconds()).cached);
  // The same certificate in a store with the CRLs (as after a reload that added them).
  auto with_crls = TrustStore::load({pki("root.pem")}, {pki("ca.pem")}, {pki("crls.pem")});
  BOOST_REQUIRE(with_crls.ok());
  for (int i = 0; i < 2; ++i) {
    const ChainResult r = with_crls->verify(cert, {}, now_seconds());
    BOOST_TEST(!r.cached);
    BOOST_TEST(r.first(ChainCheck::revocation) != nullptr);
  }
  BOOST_TEST(with_crls->chain_cache_stats().entries == 0u);
}

BOOST_AUTO_TEST_CASE(the_path_cache_keys_on_every_certificate_given_and_is_bounded) {
  auto store = TrustStore::load({pki("root.pem")}, {}, {pki("crls.pem")});
  BOOST_REQUIRE(store.ok());
  auto leaf = load_certificates(pki("huong-hoa.pem"));
  auto ca = load_certificates(pki("ca.pem"));
  BOOST_REQUIRE(leaf.ok() && ca.ok());
  // With its intermediate the leaf validates; without it, the cached path
  // (keyed on the leaf and the intermediate) must not be used.
  BOOST_TEST(store->verify((*leaf)[0].get(), {(*ca)[0].get()}, now_seconds()).ok());
  const ChainResult alone = store->verify((*leaf)[0].get(), {}, now_seconds());
  BOOST_TEST(!alone.cached);
  BOOST_TEST(alone.first(ChainCheck::chain) != nullptr);

  store->set_chain_cache_capacity(2);
  for (const char* name : {"dakrong.pem", "quang-tri.pem", "huong-hoa-ec.pem"}) {
    auto c = load_certificates(pki(name));
    BOOST_REQUIRE(c.ok());
    BOOST_TEST(store->verify((*c)[0].get(), {(*ca)[0].get()}, now_seconds()).ok(), name);
  }
  BOOST_TEST(store->chain_cache_stats().entries == 2u);
}

BOOST_AUTO_TEST_CASE(certificates_parsed_from_the_same_bytes_are_shared_and_bounded) {
  auto pem = load_certificates(pki("huong-hoa.pem"));
  auto other = load_certificates(pki("dakrong.pem"));
  BOOST_REQUIRE(pem.ok() && other.ok());
  const std::string der = certificate_der((*pem)[0].get());
  auto a = shared_certificate_from_der(der);
  auto b = shared_certificate_from_der(der);
  BOOST_REQUIRE(a.ok() && b.ok());
  BOOST_TEST(a->cert.get() == b->cert.get());
  BOOST_TEST(a->info->subject == describe((*pem)[0].get()).subject);
  BOOST_TEST(!shared_certificate_from_der(der.substr(1)).ok());

  const size_t capacity = certificate_cache_capacity();
  set_certificate_cache_capacity(1);
  auto c = shared_certificate_from_der(certificate_der((*other)[0].get()));
  BOOST_REQUIRE(c.ok());
  auto d = shared_certificate_from_der(der);  // dropped by the bound: parsed again
  BOOST_REQUIRE(d.ok());
  BOOST_TEST(d->cert.get() != a->cert.get());
  BOOST_TEST(X509_cmp(d->cert.get(), a->cert.get()) == 0);
  set_certificate_cache_capacity(capacity);
}
