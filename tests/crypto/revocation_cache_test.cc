// RevocationCache: CRLs fetched over real HTTP (a loopback server of canned
// CRLs made in-process), OCSP answers from a real `openssl ocsp` responder,
// both kept in memory and on disk, with a clock the tests move.
#define BOOST_TEST_MODULE revocation_cache
#include <boost/test/unit_test.hpp>

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "crypto/revocation_cache.h"
#include "tests/support/http_file_server.h"
#include "tests/support/pki_builder.h"
#include "tests/test_support.h"

using namespace edocgw;
using crypto::RevocationCache;
using crypto::RevocationCacheSettings;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
namespace fs = std::filesystem;
namespace pb = edocgw::test::pki_builder;

namespace {

// The cache's clock: starts at the real present, moved by the tests.
class TestClock {
 public:
  TimePoint now() const { return TimePoint(seconds(t_.load())); }
  void set(TimePoint t) { t_ = t.time_since_epoch().count(); }
  void advance(seconds s) { t_ += s.count(); }
  std::function<TimePoint()> fn() {
    return [this] { return now(); };
  }

 private:
  std::atomic<std::int64_t> t_{now_seconds().time_since_epoch().count()};
};

// settings.get around the real http_get, counting the calls.
struct CountingGet {
  std::atomic<int> calls{0};
  crypto::HttpGet fn() {
    return [this](const std::string& url, std::uint64_t max, std::chrono::milliseconds timeout) {
      ++calls;
      return crypto::http_get(url, max, timeout);
    };
  }
};

// settings.ocsp.transport around the real ocsp_http_post, counting the calls.
struct CountingTransport {
  std::atomic<int> calls{0};
  crypto::OcspTransport fn() {
    return [this](const std::string& url, const std::string& request,
                  std::chrono::milliseconds timeout) {
      ++calls;
      return crypto::ocsp_http_post(url, request, timeout);
    };
  }
};

std::shared_ptr<RevocationCache> open_cache(RevocationCacheSettings settings) {
  auto cache = RevocationCache::open(std::move(settings));
  BOOST_REQUIRE_MESSAGE(cache.ok(), (cache.ok() ? "" : cache.error().message));
  return *cache;
}

std::int64_t number_of(X509_CRL* crl) {
  std::unique_ptr<ASN1_INTEGER, crypto::OsslDeleter<ASN1_INTEGER, ASN1_INTEGER_free>> n(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr)));
  return n ? ASN1_INTEGER_get(n.get()) : -1;
}

crypto::X509Ptr up_ref_of(X509* cert) {
  return crypto::up_ref(cert);
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// A CA whose leaves name CRL distribution points on a loopback server.
struct CrlPki {
  test::HttpFileServer server;
  pb::Issued root = pb::make(pb::ca_spec({{"CN", "Revocation Test CA"}}), nullptr);
  TestClock clock;
  test::TempDir dir;

  pb::Issued leaf_naming(const std::string& url) {
    auto spec = pb::leaf_spec({{"CN", "leaf of " + url}});
    spec.extensions.push_back({"crlDistributionPoints", "URI:" + url});
    return pb::make(spec, &root);
  }
  pb::Issued leaf(const std::string& path) { return leaf_naming(server.url(path)); }

  // A CRL of `root` valid over [from, until], DER.
  std::string crl(std::int64_t number, TimePoint from, TimePoint until,
                  std::vector<pb::RevokedEntry> revoked = {}, EVP_PKEY* key = nullptr) {
    pb::CrlSpec spec;
    spec.number = number;
    spec.this_update = from;
    spec.next_update = until;
    spec.revoked = std::move(revoked);
    return pb::der(pb::make_crl(spec, root.x509(), key ? key : root.key.get()).get());
  }

  RevocationCacheSettings settings() {
    RevocationCacheSettings s;
    s.dir = dir.path();
    s.clock = clock.fn();
    s.fetch_timeout = std::chrono::milliseconds(5000);
    return s;
  }

  std::vector<crypto::SourcedCrl> crls_for(RevocationCache& cache, const pb::Issued& leaf) {
    return cache.crls_for({leaf.x509(), root.x509()});
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(crls)

BOOST_AUTO_TEST_CASE(a_crl_is_fetched_on_first_use_then_served_from_memory_then_from_disk) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  p.server.set("/ca.crl", p.crl(1, t0 - hours(1), t0 + hours(24)));
  {
    auto cache = open_cache(p.settings());
    const auto generation = cache->generation();
    auto crls = p.crls_for(*cache, leaf);
    BOOST_REQUIRE_EQUAL(crls.size(), 1u);
    BOOST_TEST(crls[0].origin == p.server.url("/ca.crl"));
    BOOST_TEST(number_of(crls[0].crl.get()) == 1);
    BOOST_TEST(cache->generation() != generation);
    BOOST_TEST(p.server.requests("/ca.crl") == 1u);
    BOOST_TEST(p.crls_for(*cache, leaf).size() == 1u);
    BOOST_TEST(p.server.requests("/ca.crl") == 1u);
    BOOST_TEST(cache->stats().crl_fetches == 1u);
    BOOST_TEST(cache->stats().crls == 1u);
    BOOST_TEST(cache->health().empty());
  }
  auto again = open_cache(p.settings());
  BOOST_TEST(again->warnings().empty(), joined(again->warnings()));
  const auto crls = p.crls_for(*again, leaf);
  BOOST_REQUIRE_EQUAL(crls.size(), 1u);
  BOOST_TEST(number_of(crls[0].crl.get()) == 1);
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);
  BOOST_TEST(again->stats().crl_fetches == 0u);
}

BOOST_AUTO_TEST_CASE(a_crl_is_fetched_again_once_past_its_next_update) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  p.server.set("/ca.crl", p.crl(1, t0 - hours(1), t0 + hours(1)));
  auto cache = open_cache(p.settings());
  BOOST_TEST(p.crls_for(*cache, leaf).size() == 1u);
  p.server.set("/ca.crl", p.crl(2, t0 + hours(1), t0 + hours(3)));
  p.clock.advance(minutes(59));
  BOOST_TEST(number_of(p.crls_for(*cache, leaf).at(0).crl.get()) == 1);
  p.clock.advance(minutes(2));
  BOOST_TEST(number_of(p.crls_for(*cache, leaf).at(0).crl.get()) == 2);
  BOOST_TEST(p.server.requests("/ca.crl") == 2u);
}

BOOST_AUTO_TEST_CASE(refresh_renews_a_crl_past_three_quarters_of_its_validity) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  auto cache = open_cache(p.settings());
  const auto trust = crypto::TrustStore::from_certificates({}, {});
  p.server.set("/ca.crl", p.crl(1, t0, t0 + hours(4)));
  BOOST_TEST(p.crls_for(*cache, leaf).size() == 1u);
  const auto generation = cache->generation();
  p.server.set("/ca.crl", p.crl(2, t0 + hours(2), t0 + hours(6)));
  p.clock.advance(hours(3) - seconds(1));  // not yet 3/4 of [t0, t0 + 4 h]
  cache->refresh(trust);
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);
  BOOST_TEST(cache->generation() == generation);
  p.clock.advance(seconds(2));
  cache->refresh(trust);
  BOOST_TEST(p.server.requests("/ca.crl") == 2u);
  BOOST_TEST(cache->generation() != generation);
  BOOST_TEST(number_of(p.crls_for(*cache, leaf).at(0).crl.get()) == 2);
  BOOST_TEST(p.server.requests("/ca.crl") == 2u);
}

BOOST_AUTO_TEST_CASE(refresh_forgets_what_was_not_used_for_a_while_in_memory_and_on_disk) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  p.server.set("/ca.crl", p.crl(1, t0, t0 + hours(24 * 30)));
  auto settings = p.settings();
  settings.forget_unused = hours(24);
  auto cache = open_cache(settings);
  BOOST_TEST(p.crls_for(*cache, leaf).size() == 1u);
  // Unused for a day, still current: kept (a cached path asks nothing), not renewed.
  p.clock.advance(hours(25));
  cache->refresh(crypto::TrustStore::from_certificates({}, {}));
  BOOST_TEST(cache->stats().crls == 1u);
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);
  // Lapsed and still unused: forgotten, in memory and on disk.
  p.clock.advance(hours(24 * 30));
  cache->refresh(crypto::TrustStore::from_certificates({}, {}));
  BOOST_TEST(cache->stats().crls == 0u);
  BOOST_TEST(fs::is_empty(p.dir / "crl"));
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);
}

BOOST_AUTO_TEST_CASE(at_most_max_crls_are_held_the_least_recently_used_dropped_first) {
  CrlPki p;
  const TimePoint t0 = p.clock.now();
  std::vector<pb::Issued> leaves;
  for (int i = 0; i < 3; ++i) {
    const std::string path = "/crl-" + std::to_string(i);
    p.server.set(path, p.crl(1, t0, t0 + hours(24)));
    leaves.push_back(p.leaf(path));
  }
  auto settings = p.settings();
  settings.max_crls = 2;
  auto cache = open_cache(settings);
  for (const auto& leaf : leaves) {
    BOOST_TEST(p.crls_for(*cache, leaf).size() == 1u);
    p.clock.advance(seconds(1));
  }
  BOOST_TEST(cache->stats().crls == 2u);
  BOOST_TEST(std::distance(fs::directory_iterator(p.dir / "crl"), fs::directory_iterator()) == 4);
  BOOST_TEST(p.crls_for(*cache, leaves[2]).size() == 1u);  // held
  BOOST_TEST(p.crls_for(*cache, leaves[1]).size() == 1u);  // held
  BOOST_TEST(p.server.requests() == 3u);
  BOOST_TEST(p.crls_for(*cache, leaves[0]).size() == 1u);  // dropped: fetched again
  BOOST_TEST(p.server.requests() == 4u);
}

BOOST_AUTO_TEST_CASE(health_names_a_crl_held_past_its_next_update) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  p.server.set("/ca.crl", p.crl(1, t0 - hours(1), t0 + hours(1)));
  auto cache = open_cache(p.settings());
  BOOST_TEST(p.crls_for(*cache, leaf).size() == 1u);
  BOOST_TEST(cache->health().empty());
  p.clock.advance(hours(2));
  const auto health = cache->health();
  BOOST_REQUIRE_EQUAL(health.size(), 1u);
  BOOST_TEST(health[0].problem == "stale since " + format_rfc3339(t0 + hours(1)));
  BOOST_TEST(health[0].stale);
}

BOOST_AUTO_TEST_CASE(an_oversized_crl_is_refused_and_nothing_is_held) {
  CrlPki p;
  const auto leaf = p.leaf("/big.crl");
  const TimePoint t0 = p.clock.now();
  std::vector<pb::RevokedEntry> many(200);
  for (std::size_t i = 0; i < many.size(); ++i) many[i].serial = 1000 + i;
  const std::string big = p.crl(1, t0, t0 + hours(24), many);
  p.server.set("/big.crl", big);
  auto settings = p.settings();
  settings.max_crl_bytes = 4096;
  BOOST_REQUIRE(big.size() > settings.max_crl_bytes);
  auto cache = open_cache(settings);
  BOOST_TEST(p.crls_for(*cache, leaf).empty());
  BOOST_TEST(cache->stats().crl_refused == 1u);
  BOOST_TEST(cache->stats().crls == 0u);
  const auto health = cache->health();
  BOOST_REQUIRE_EQUAL(health.size(), 1u);
  BOOST_TEST(health[0].kind == "crl");
  BOOST_TEST(health[0].source == p.server.url("/big.crl"));
  BOOST_TEST(health[0].problem.find("larger than 4096 bytes") != std::string::npos,
             health[0].problem);
  BOOST_TEST(health[0].stale);
  BOOST_TEST(fs::is_empty(p.dir / "crl"));
}

BOOST_AUTO_TEST_CASE(an_unreachable_url_is_not_asked_again_before_retry_after_failure) {
  CrlPki p;
  const std::string dead = "http://127.0.0.1:" + std::to_string(test::free_port()) + "/ca.crl";
  const auto leaf = p.leaf_naming(dead);
  CountingGet get;
  auto settings = p.settings();
  settings.get = get.fn();
  settings.retry_after_failure = seconds(60);
  auto cache = open_cache(settings);
  BOOST_TEST(p.crls_for(*cache, leaf).empty());
  BOOST_TEST(get.calls == 1);
  const auto health = cache->health();
  BOOST_REQUIRE_EQUAL(health.size(), 1u);
  BOOST_TEST(health[0].source == dead);
  BOOST_TEST(health[0].problem.find("did not answer") != std::string::npos, health[0].problem);
  BOOST_TEST(health[0].stale);
  BOOST_TEST(cache->stats().crl_fetch_failures == 1u);
  p.clock.advance(seconds(59));
  BOOST_TEST(p.crls_for(*cache, leaf).empty());
  BOOST_TEST(get.calls == 1);
  p.clock.advance(seconds(2));
  BOOST_TEST(p.crls_for(*cache, leaf).empty());
  BOOST_TEST(get.calls == 2);
  BOOST_TEST(cache->stats().crl_fetch_failures == 2u);
}

BOOST_AUTO_TEST_CASE(a_crl_signed_by_another_key_is_refused) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  const auto stranger = pb::make_ec_key();
  p.server.set("/ca.crl", p.crl(1, t0, t0 + hours(24), {}, stranger.get()));
  auto cache = open_cache(p.settings());
  BOOST_TEST(p.crls_for(*cache, leaf).empty());
  BOOST_TEST(cache->stats().crl_refused == 1u);
  const auto health = cache->health();
  BOOST_REQUIRE_EQUAL(health.size(), 1u);
  BOOST_TEST(
      health[0].problem.find("is not signed by 'CN=Revocation Test CA'") != std::string::npos,
      health[0].problem);
}

BOOST_AUTO_TEST_CASE(an_older_crl_does_not_replace_a_newer_one) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  p.server.set("/ca.crl", p.crl(5, t0, t0 + hours(4)));
  auto cache = open_cache(p.settings());
  BOOST_TEST(p.crls_for(*cache, leaf).size() == 1u);
  const auto generation = cache->generation();
  // Same thisUpdate, a smaller number; then an earlier thisUpdate.
  for (const auto& older : {p.crl(4, t0, t0 + hours(8)), p.crl(6, t0 - hours(1), t0 + hours(8))}) {
    p.server.set("/ca.crl", older);
    p.clock.advance(hours(4) + minutes(1));  // past nextUpdate: fetched again
    const auto crls = p.crls_for(*cache, leaf);
    BOOST_REQUIRE_EQUAL(crls.size(), 1u);
    BOOST_TEST(number_of(crls[0].crl.get()) == 5);
  }
  BOOST_TEST(p.server.requests("/ca.crl") == 3u);
  BOOST_TEST(cache->stats().crl_refused == 2u);
  BOOST_TEST(cache->generation() == generation);
  const auto health = cache->health();
  BOOST_REQUIRE_EQUAL(health.size(), 1u);
  BOOST_TEST(health[0].problem.find("older than the one held") != std::string::npos);
  BOOST_TEST(health[0].stale);  // what is held is past its nextUpdate
}

BOOST_AUTO_TEST_CASE(at_most_max_fetches_in_flight_fetches_run_at_once) {
  CrlPki p;
  const TimePoint t0 = p.clock.now();
  std::vector<pb::Issued> leaves;
  for (int i = 0; i < 8; ++i) {
    const std::string path = "/crl-" + std::to_string(i);
    p.server.set(path, p.crl(1, t0, t0 + hours(24)));
    leaves.push_back(p.leaf(path));
  }
  p.server.set_delay(std::chrono::milliseconds(200));
  auto settings = p.settings();
  settings.max_fetches_in_flight = 2;
  auto cache = open_cache(settings);
  std::atomic<int> got{0};
  std::vector<std::thread> threads;
  for (const auto& leaf : leaves)
    threads.emplace_back([&] { got += static_cast<int>(p.crls_for(*cache, leaf).size()); });
  for (auto& t : threads) t.join();
  BOOST_TEST(got == 8);
  BOOST_TEST(p.server.requests() == 8u);
  BOOST_TEST(p.server.max_concurrent() == 2u);
}

BOOST_AUTO_TEST_CASE(concurrent_asks_for_one_url_share_one_fetch) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  p.server.set("/ca.crl", p.crl(1, t0, t0 + hours(24)));
  p.server.set_delay(std::chrono::milliseconds(300));
  auto cache = open_cache(p.settings());
  std::atomic<int> got{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] { got += static_cast<int>(p.crls_for(*cache, leaf).size()); });
  for (auto& t : threads) t.join();
  BOOST_TEST(got == 8);
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);
  BOOST_TEST(cache->stats().crl_fetches == 1u);
}

BOOST_AUTO_TEST_CASE(a_torn_or_foreign_file_on_disk_is_skipped_with_a_warning) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  p.server.set("/ca.crl", p.crl(1, t0, t0 + hours(24)));
  BOOST_TEST(p.crls_for(*open_cache(p.settings()), leaf).size() == 1u);
  fs::path file;
  for (const auto& item : fs::directory_iterator(p.dir / "crl"))
    if (item.path().extension() == ".crl") file = item.path();
  BOOST_REQUIRE(!file.empty());
  test::write(file, test::read(file).substr(0, 40));
  test::write(p.dir / "crl" / "notes.txt", "hello");
  auto cache = open_cache(p.settings());
  const std::string warnings = joined(cache->warnings());
  BOOST_TEST(warnings.find("not a readable CRL") != std::string::npos, warnings);
  BOOST_TEST(warnings.find("notes.txt") != std::string::npos, warnings);
  BOOST_TEST(p.crls_for(*cache, leaf).size() == 1u);  // fetched again
  BOOST_TEST(p.server.requests("/ca.crl") == 2u);
}

BOOST_AUTO_TEST_CASE(ldap_points_are_ignored_and_the_anchor_needs_none) {
  CrlPki p;
  auto spec = pb::leaf_spec({{"CN", "ldap leaf"}});
  spec.extensions.push_back(
      {"crlDistributionPoints", "URI:ldap://ldap.example.vn/cn=CA?certificateRevocationList"});
  const auto leaf = pb::make(spec, &p.root);
  CountingGet get;
  auto settings = p.settings();
  settings.get = get.fn();
  auto cache = open_cache(settings);
  BOOST_TEST(p.crls_for(*cache, leaf).empty());
  BOOST_TEST(cache->crls_for({p.root.x509()}).empty());
  BOOST_TEST(get.calls == 0);
}

BOOST_AUTO_TEST_CASE(a_delta_crl_named_by_freshest_crl_is_fetched_with_its_base) {
  CrlPki p;
  auto spec = pb::leaf_spec({{"CN", "leaf with a delta"}});
  spec.extensions.push_back({"crlDistributionPoints", "URI:" + p.server.url("/base.crl")});
  spec.extensions.push_back({"freshestCRL", "URI:" + p.server.url("/delta.crl")});
  const auto leaf = pb::make(spec, &p.root);
  const TimePoint t0 = p.clock.now();
  p.server.set("/base.crl", p.crl(1, t0, t0 + hours(24)));
  pb::CrlSpec delta;
  delta.number = 2;
  delta.delta_base = 1;
  delta.this_update = t0;
  delta.next_update = t0 + hours(1);
  p.server.set("/delta.crl", pb::pem(pb::make_crl(delta, p.root).get()));  // PEM is read too
  auto cache = open_cache(p.settings());
  const auto crls = p.crls_for(*cache, leaf);
  BOOST_REQUIRE_EQUAL(crls.size(), 2u);
  BOOST_TEST(crls[0].origin == p.server.url("/base.crl"));
  BOOST_TEST(crls[1].origin == p.server.url("/delta.crl"));
  BOOST_TEST(X509_CRL_get_ext_by_NID(crls[1].crl.get(), NID_delta_crl, -1) >= 0);
}

BOOST_AUTO_TEST_CASE(only_the_issuers_own_crl_is_taken_and_indirect_points_are_not_fetched) {
  CrlPki p;
  const auto other =
      pb::make(pb::ca_spec({{"CN", "CRL Issuer of the Revocation Test CA"}}), nullptr);
  const TimePoint t0 = p.clock.now();
  pb::CrlSpec spec_crl;
  spec_crl.this_update = t0;
  spec_crl.next_update = t0 + hours(24);
  // A point naming a cRLIssuer (an indirect CRL): not fetched at all.
  auto spec = pb::leaf_spec({{"CN", "leaf with an indirect CRL"}});
  spec.extensions.push_back({"crlDistributionPoints", "dp"});
  spec.config = "[dp]\nfullname=URI:" + p.server.url("/indirect.crl") +
                "\nCRLissuer=dirName:crl_issuer\n[crl_issuer]\nCN=CRL Issuer of the Revocation "
                "Test CA\n";
  const auto indirect_leaf = pb::make(spec, &p.root);
  p.server.set("/indirect.crl", pb::der(pb::make_crl(spec_crl, other).get()));
  auto cache = open_cache(p.settings());
  BOOST_TEST(p.crls_for(*cache, indirect_leaf).empty());
  BOOST_TEST(p.server.requests("/indirect.crl") == 0u);
  // A plain point serving a CRL under another name (validly signed by its
  // own issuer, far in the future): refused, so that it can never stand in
  // for the real one.
  const auto leaf = p.leaf("/ca.crl");
  pb::CrlSpec future = spec_crl;
  future.this_update = t0 + hours(24 * 365 * 70);
  future.next_update = future.this_update + hours(24);
  p.server.set("/ca.crl", pb::der(pb::make_crl(future, other).get()));
  BOOST_TEST(p.crls_for(*cache, leaf).empty());
  BOOST_TEST(cache->stats().crl_refused == 1u);
  auto health = cache->health();
  BOOST_REQUIRE_EQUAL(health.size(), 1u);
  BOOST_TEST(
      health[0].problem.find("not by the issuer of the certificate naming it") != std::string::npos,
      health[0].problem);
  // The issuer's own CRL dated in the future: refused too.
  p.clock.advance(minutes(2));  // past retry_after_failure
  p.server.set("/ca.crl", p.crl(7, t0 + hours(2), t0 + hours(24)));
  BOOST_TEST(p.crls_for(*cache, leaf).empty());
  BOOST_TEST(cache->stats().crl_refused == 2u);
  BOOST_TEST(cache->health().at(0).problem.find("dated in the future") != std::string::npos,
             cache->health().at(0).problem);
  // And its current one is taken.
  p.clock.advance(minutes(2));
  p.server.set("/ca.crl", p.crl(8, t0, t0 + hours(24)));
  BOOST_TEST(p.crls_for(*cache, leaf).size() == 1u);
}

BOOST_AUTO_TEST_CASE(trust_store_verifies_with_the_fetched_crl_and_sees_a_later_revocation) {
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const TimePoint t0 = p.clock.now();
  p.server.set("/ca.crl", p.crl(1, t0, t0 + hours(4)));
  std::vector<crypto::X509Ptr> anchors;
  anchors.push_back(up_ref_of(p.root.x509()));
  const auto trust = crypto::TrustStore::from_certificates(std::move(anchors), {});
  auto cache = open_cache(p.settings());

  const auto good = trust.verify(leaf.x509(), {}, p.clock.now(), cache.get());
  BOOST_TEST(good.ok(), (good.problems.empty() ? "" : good.problems[0].message));
  BOOST_TEST(good.revocation_checked);
  BOOST_REQUIRE(!good.revocation.empty());
  BOOST_TEST(good.revocation[0].crl_origin == p.server.url("/ca.crl"));
  BOOST_TEST(good.revocation[0].crl_number == "1");
  BOOST_TEST(!good.revocation[0].revoked);
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);

  pb::RevokedEntry entry;
  entry.serial = pb::serial_of(leaf.x509());
  entry.revoked_at = t0 + hours(2);
  entry.reason = CRL_REASON_KEY_COMPROMISE;
  p.server.set("/ca.crl", p.crl(2, t0 + hours(3), t0 + hours(7), {entry}));
  p.clock.advance(hours(3) + seconds(1));
  // Still within the first CRL's validity: the path validated before holds.
  BOOST_TEST(trust.verify(leaf.x509(), {}, p.clock.now(), cache.get()).ok());
  cache->refresh(trust);
  BOOST_TEST(p.server.requests("/ca.crl") == 2u);
  const auto revoked = trust.verify(leaf.x509(), {}, p.clock.now(), cache.get());
  BOOST_TEST(!revoked.ok());
  const auto* problem = revoked.first(crypto::ChainCheck::revocation);
  BOOST_REQUIRE(problem != nullptr);
  BOOST_TEST(!problem->status_unknown, problem->message);
  BOOST_TEST(problem->depth == 0);
}

BOOST_AUTO_TEST_CASE(held_only_fetches_nothing_yet_a_held_crl_still_revokes) {
  // What a sender under revocation="off" is checked against.
  CrlPki p;
  const auto leaf = p.leaf("/ca.crl");
  const auto other = p.leaf("/other.crl");
  const TimePoint t0 = p.clock.now();
  pb::RevokedEntry entry;
  entry.serial = pb::serial_of(leaf.x509());
  entry.revoked_at = t0 - hours(1);
  p.server.set("/ca.crl", p.crl(1, t0, t0 + hours(4), {entry}));
  p.server.set("/other.crl", p.crl(1, t0, t0 + hours(4)));
  std::vector<crypto::X509Ptr> anchors;
  anchors.push_back(up_ref_of(p.root.x509()));
  const auto trust = crypto::TrustStore::from_certificates(std::move(anchors), {});
  auto cache = open_cache(p.settings());
  // Nothing held yet: nothing fetched, the status unknown.
  const auto before = trust.verify(leaf.x509(), {}, p.clock.now(), &cache->held_only());
  BOOST_TEST(p.server.requests() == 0u);
  const auto* unknown = before.first(crypto::ChainCheck::revocation);
  BOOST_REQUIRE(unknown != nullptr);
  BOOST_TEST(unknown->status_unknown);
  // Once another verification fetched it, the held CRL's revocation counts.
  BOOST_TEST(!p.crls_for(*cache, leaf).empty());
  const auto after = trust.verify(leaf.x509(), {}, p.clock.now(), &cache->held_only());
  const auto* revoked = after.first(crypto::ChainCheck::revocation);
  BOOST_REQUIRE(revoked != nullptr);
  BOOST_TEST(!revoked->status_unknown, revoked->message);
  // A point nobody fetched stays unfetched.
  (void)trust.verify(other.x509(), {}, p.clock.now(), &cache->held_only());
  BOOST_TEST(p.server.requests("/other.crl") == 0u);
}

BOOST_AUTO_TEST_CASE(http_get_stops_past_max_bytes_and_names_a_status_other_than_200) {
  test::HttpFileServer server;
  server.set("/big", std::string(5000, 'x'));
  server.set("/small", "ok");
  server.set("/broken", test::HttpFileServer::Answer{500, "oops", {}, {}});
  const std::chrono::milliseconds timeout(5000);
  const auto big = crypto::http_get(server.url("/big"), 4999, timeout);
  BOOST_REQUIRE(!big.ok());
  BOOST_TEST(big.error().message ==
             "the CRL at " + server.url("/big") + " is larger than 4999 bytes");
  BOOST_TEST((big.error().code == Errc::invalid));
  BOOST_TEST(crypto::http_get(server.url("/big"), 5000, timeout).ok());
  BOOST_TEST(*crypto::http_get(server.url("/small"), 100, timeout) == "ok");
  const auto missing = crypto::http_get(server.url("/none"), 100, timeout);
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.error().message == server.url("/none") + " answered HTTP 404");
  const auto broken = crypto::http_get(server.url("/broken"), 100, timeout);
  BOOST_REQUIRE(!broken.ok());
  BOOST_TEST(broken.error().message == server.url("/broken") + " answered HTTP 500");
  BOOST_TEST((broken.error().code == Errc::io));
  BOOST_TEST(!crypto::http_get("file:///etc/passwd", 100000, timeout).ok());
  BOOST_TEST(!crypto::http_get("ftp://127.0.0.1/x", 100000, timeout).ok());
}

BOOST_AUTO_TEST_CASE(http_get_follows_at_most_three_redirects_and_only_to_http) {
  test::HttpFileServer server;
  server.set("/crl", "the body");
  const auto redirect = [&](const std::string& to) {
    return test::HttpFileServer::Answer{302, "", {}, {{"Location", to}}};
  };
  for (int i = 1; i <= 4; ++i)
    server.set("/r" + std::to_string(i),
               redirect(i == 1 ? server.url("/crl") : server.url("/r" + std::to_string(i - 1))));
  server.set("/to-file", redirect("file:///etc/passwd"));
  server.set("/to-ftp", redirect("ftp://127.0.0.1/crl"));
  const std::chrono::milliseconds timeout(5000);
  const auto three = crypto::http_get(server.url("/r3"), 100, timeout);
  BOOST_TEST((three.ok() && *three == "the body"), (three.ok() ? *three : three.error().message));
  const auto four = crypto::http_get(server.url("/r4"), 100, timeout);
  BOOST_REQUIRE(!four.ok());
  BOOST_TEST(four.error().message.find(server.url("/r4")) == 0u, four.error().message);
  BOOST_TEST(!crypto::http_get(server.url("/to-file"), 100, timeout).ok());
  BOOST_TEST(!crypto::http_get(server.url("/to-ftp"), 100, timeout).ok());
  BOOST_TEST(server.requests("/crl") == 1u);
}

BOOST_AUTO_TEST_CASE(a_slow_distribution_point_runs_into_the_fetch_timeout) {
  CrlPki p;
  const auto leaf = p.leaf("/slow.crl");
  const TimePoint t0 = p.clock.now();
  p.server.set("/slow.crl",
               test::HttpFileServer::Answer{
                   200, p.crl(1, t0, t0 + hours(24)), std::chrono::milliseconds(2000), {}});
  auto settings = p.settings();
  settings.fetch_timeout = std::chrono::milliseconds(300);
  auto cache = open_cache(settings);
  const auto started = std::chrono::steady_clock::now();
  BOOST_TEST(p.crls_for(*cache, leaf).empty());
  BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::milliseconds(1500)));
  const auto health = cache->health();
  BOOST_REQUIRE_EQUAL(health.size(), 1u);
  BOOST_TEST(health[0].problem.find("did not answer") != std::string::npos, health[0].problem);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

crypto::X509Ptr load_cert(const std::string& name) {
  const std::string pem = test::read(test::pki(name));
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  crypto::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) throw std::runtime_error("cannot read " + name);
  return cert;
}

crypto::TrustStore trust_of(const std::string& anchor, const std::string& intermediate) {
  std::vector<crypto::X509Ptr> anchors, untrusted;
  anchors.push_back(load_cert(anchor));
  untrusted.push_back(load_cert(intermediate));
  return crypto::TrustStore::from_certificates(std::move(anchors), std::move(untrusted));
}

// The sample PKI's issuing CA answered for by `openssl ocsp` (-nmin 10).
struct OcspPki {
  test::OcspResponder responder;
  crypto::X509Ptr ca = load_cert("ca.pem");
  crypto::TrustStore trust = trust_of("root.pem", "ca.pem");
  CountingTransport transport;
  TestClock clock;
  test::TempDir dir;

  RevocationCacheSettings settings() {
    RevocationCacheSettings s;
    s.dir = dir.path();
    s.clock = clock.fn();
    s.ocsp.url = responder.url();
    s.ocsp.transport = transport.fn();
    return s;
  }
  Result<crypto::OcspAnswer> ask(RevocationCache& cache, const std::string& cert) {
    return cache.ocsp(load_cert(cert).get(), ca.get(), trust);
  }
};

std::string error_of(const Result<crypto::OcspAnswer>& r) {
  return r.ok() ? "" : r.error().message;
}

fs::path only_file(const fs::path& folder, const std::string& extension) {
  fs::path found;
  for (const auto& item : fs::directory_iterator(folder))
    if (item.path().extension() == extension) found = item.path();
  BOOST_REQUIRE(!found.empty());
  return found;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ocsp)

BOOST_AUTO_TEST_CASE(an_answer_is_cached_then_persisted_across_a_restart) {
  OcspPki p;
  {
    auto cache = open_cache(p.settings());
    const auto first = p.ask(*cache, "huong-hoa.pem");
    BOOST_REQUIRE_MESSAGE(first.ok(), error_of(first));
    BOOST_TEST((first->status == crypto::OcspStatus::good));
    BOOST_TEST(!first->cached);
    BOOST_TEST(p.transport.calls == 1);
    const auto second = p.ask(*cache, "huong-hoa.pem");
    BOOST_REQUIRE(second.ok());
    BOOST_TEST(second->cached);
    BOOST_TEST(second->response_der == first->response_der);
    BOOST_TEST(p.transport.calls == 1);
    BOOST_TEST(cache->stats().ocsp_hits == 1u);
    BOOST_TEST(cache->stats().ocsp_misses == 1u);
  }
  auto again = open_cache(p.settings());
  BOOST_TEST(again->warnings().empty(), joined(again->warnings()));
  const auto kept = p.ask(*again, "huong-hoa.pem");
  BOOST_REQUIRE_MESSAGE(kept.ok(), error_of(kept));
  BOOST_TEST(kept->cached);
  BOOST_TEST((kept->status == crypto::OcspStatus::good));
  BOOST_TEST(kept->responder.find("OCSP responder") != std::string::npos, kept->responder);
  BOOST_TEST(p.transport.calls == 1);
}

BOOST_AUTO_TEST_CASE(a_dead_responder_is_not_asked_again_before_retry_after_failure) {
  OcspPki p;
  auto settings = p.settings();
  settings.ocsp.url = "http://127.0.0.1:" + std::to_string(test::free_port());  // nobody there
  settings.retry_after_failure = seconds(60);
  auto cache = open_cache(settings);
  const auto first = p.ask(*cache, "huong-hoa.pem");
  BOOST_TEST(!first.ok());
  BOOST_TEST(p.transport.calls == 1);
  // At once, and 59 s later: the error again, without a request.
  const auto again = p.ask(*cache, "huong-hoa.pem");
  BOOST_TEST(!again.ok());
  BOOST_TEST(error_of(again).find("not asked again before 60 s") != std::string::npos,
             error_of(again));
  p.clock.advance(seconds(59));
  BOOST_TEST(!p.ask(*cache, "huong-hoa.pem").ok());
  BOOST_TEST(p.transport.calls == 1);
  BOOST_TEST(cache->stats().ocsp_failures == 1u);
  // Another certificate is its own entry: asked.
  BOOST_TEST(!p.ask(*cache, "dakrong.pem").ok());
  BOOST_TEST(p.transport.calls == 2);
  // Past the pause: asked again.
  p.clock.advance(seconds(2));
  BOOST_TEST(!p.ask(*cache, "huong-hoa.pem").ok());
  BOOST_TEST(p.transport.calls == 3);
}

BOOST_AUTO_TEST_CASE(a_revoked_answer_is_cached_too) {
  OcspPki p;
  auto cache = open_cache(p.settings());
  const auto first = p.ask(*cache, "late-revoked.pem");
  BOOST_REQUIRE_MESSAGE(first.ok(), error_of(first));
  BOOST_TEST((first->status == crypto::OcspStatus::revoked));
  const auto second = p.ask(*cache, "late-revoked.pem");
  BOOST_REQUIRE(second.ok());
  BOOST_TEST(second->cached);
  BOOST_TEST((second->status == crypto::OcspStatus::revoked));
  BOOST_TEST(second->reason == "keyCompromise");
  BOOST_TEST(p.transport.calls == 1);
}

BOOST_AUTO_TEST_CASE(an_answer_past_next_update_and_the_skew_is_asked_again) {
  OcspPki p;
  auto cache = open_cache(p.settings());
  BOOST_REQUIRE(p.ask(*cache, "huong-hoa.pem").ok());
  p.clock.advance(minutes(10) + seconds(299));  // nextUpdate is 10 minutes on, skew 300 s
  BOOST_TEST(p.ask(*cache, "huong-hoa.pem").ok());
  BOOST_TEST(p.transport.calls == 1);
  p.clock.advance(seconds(62));
  // Asked again; the responder's answer is just as old to this clock, so refused.
  const auto late = p.ask(*cache, "huong-hoa.pem");
  BOOST_TEST(p.transport.calls == 2);
  BOOST_TEST(!late.ok());
  BOOST_TEST(error_of(late).find("expired") != std::string::npos, error_of(late));
  const auto health = cache->health();
  BOOST_REQUIRE_EQUAL(health.size(), 1u);
  BOOST_TEST(health[0].kind == "ocsp");
  BOOST_TEST(health[0].source == p.responder.url());
  BOOST_TEST(health[0].stale);
}

BOOST_AUTO_TEST_CASE(a_clock_behind_the_responder_is_allowed_for_up_to_the_skew) {
  OcspPki p;
  auto settings = p.settings();
  settings.clock_skew = seconds(120);
  auto cache = open_cache(settings);
  p.clock.advance(-seconds(60));
  const auto inside = p.ask(*cache, "huong-hoa.pem");
  BOOST_TEST(inside.ok(), error_of(inside));
  auto other = open_cache([&] {
    auto s = settings;
    s.dir = p.dir / "other";
    return s;
  }());
  p.clock.advance(-seconds(240));
  const auto outside = p.ask(*other, "huong-hoa.pem");
  BOOST_REQUIRE(!outside.ok());
  BOOST_TEST(error_of(outside).find("made after the clock's present") != std::string::npos,
             error_of(outside));
  BOOST_TEST(error_of(outside).find("allowed skew 120 s") != std::string::npos, error_of(outside));
}

BOOST_AUTO_TEST_CASE(refresh_renews_an_answer_past_three_quarters_of_its_validity) {
  OcspPki p;
  auto cache = open_cache(p.settings());
  BOOST_REQUIRE(p.ask(*cache, "huong-hoa.pem").ok());
  p.clock.advance(minutes(7));  // 3/4 of 10 minutes is 7.5
  cache->refresh(p.trust);
  BOOST_TEST(p.transport.calls == 1);
  p.clock.advance(seconds(40));
  cache->refresh(p.trust);
  BOOST_TEST(p.transport.calls == 2);
  BOOST_TEST(cache->stats().ocsp_failures == 0u);
  const auto after = p.ask(*cache, "huong-hoa.pem");
  BOOST_REQUIRE(after.ok());
  BOOST_TEST(after->cached);
  BOOST_TEST(p.transport.calls == 2);
}

BOOST_AUTO_TEST_CASE(a_garbage_persisted_answer_is_skipped_with_a_warning_and_asked_again) {
  OcspPki p;
  BOOST_REQUIRE(p.ask(*open_cache(p.settings()), "huong-hoa.pem").ok());
  test::write(only_file(p.dir / "ocsp", ".der"), "not an OCSP response");
  auto cache = open_cache(p.settings());
  const std::string warnings = joined(cache->warnings());
  BOOST_TEST(warnings.find("not a readable OCSP response") != std::string::npos, warnings);
  const auto answer = p.ask(*cache, "huong-hoa.pem");
  BOOST_REQUIRE(answer.ok());
  BOOST_TEST(!answer->cached);
  BOOST_TEST(p.transport.calls == 2);
}

BOOST_AUTO_TEST_CASE(a_tampered_persisted_answer_is_judged_again_dropped_and_asked_again) {
  OcspPki p;
  BOOST_REQUIRE(p.ask(*open_cache(p.settings()), "huong-hoa.pem").ok());
  const fs::path file = only_file(p.dir / "ocsp", ".der");
  std::string der = test::read(file);
  // Flip the last byte of the response's signature.
  const auto* in = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<OCSP_RESPONSE, decltype(&OCSP_RESPONSE_free)> response(
      d2i_OCSP_RESPONSE(nullptr, &in, static_cast<long>(der.size())), OCSP_RESPONSE_free);
  BOOST_REQUIRE(response);
  std::unique_ptr<OCSP_BASICRESP, decltype(&OCSP_BASICRESP_free)> basic(
      OCSP_response_get1_basic(response.get()), OCSP_BASICRESP_free);
  const ASN1_OCTET_STRING* signature = OCSP_resp_get0_signature(basic.get());
  const std::string sig(reinterpret_cast<const char*>(ASN1_STRING_get0_data(signature)),
                        static_cast<size_t>(ASN1_STRING_length(signature)));
  const auto at = der.find(sig);
  BOOST_REQUIRE(at != std::string::npos);
  der[at + sig.size() - 1] ^= 0x01;
  test::write(file, der);

  auto cache = open_cache(p.settings());
  BOOST_TEST(cache->warnings().empty());  // it still reads as an OCSP response
  const auto answer = p.ask(*cache, "huong-hoa.pem");
  BOOST_REQUIRE_MESSAGE(answer.ok(), error_of(answer));
  BOOST_TEST(!answer->cached);
  BOOST_TEST(p.transport.calls == 2);
  const std::string warnings = joined(cache->warnings());
  BOOST_TEST(
      warnings.find("not signed by the CA or a responder it authorised") != std::string::npos,
      warnings);
  BOOST_TEST(test::read(file) != der);  // replaced by the new answer
}

BOOST_AUTO_TEST_CASE(concurrent_asks_for_one_certificate_share_one_request) {
  OcspPki p;
  auto cache = open_cache(p.settings());
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] { good += p.ask(*cache, "huong-hoa.pem").ok() ? 1 : 0; });
  for (auto& t : threads) t.join();
  BOOST_TEST(good == 8);
  BOOST_TEST(p.transport.calls == 1);
}

BOOST_AUTO_TEST_SUITE_END()
