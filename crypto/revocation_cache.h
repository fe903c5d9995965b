// crypto/revocation_cache.h: revocation data fetched, cached, persisted and
// kept fresh, so that a deployment needs no hand-made CRL files and no
// OCSP request per package.
//
// - CRLs are fetched from the CRL distribution points (http:// and https://
//   fullName URIs) of the certificates of a built path (CrlSource, which
//   TrustStore::verify asks), kept in memory and on disk under `dir`, and
//   refreshed before their nextUpdate. A fetched CRL replaces the one held
//   only when it parses, is at most max_crl_bytes, is signed by the issuer
//   of the certificate that named the distribution point (or names a
//   cRLIssuer: then it is kept for OpenSSL's checks), and is not older
//   (thisUpdate, cRLNumber) than the one held. A URL that failed is not
//   asked again before retry_after_failure; at most max_fetches_in_flight
//   fetches run at once, and concurrent asks for one URL share one fetch.
// - OCSP answers are cached by the certificate's CertID (issuer key hash,
//   serial) until their nextUpdate (answers without nextUpdate for
//   ocsp_default_lifetime), persisted under `dir` so that a restart asks
//   the responder nothing it already knows, and refreshed before they go
//   stale. A persisted answer is judged again (signature, responder, CertID,
//   times) before its first use after loading. After a failed ask the same
//   certificate's responder is not asked again before retry_after_failure
//   (the error is returned at once).
// - refresh() renews whatever is due and forgets what has not been used for
//   forget_unused; the gateway calls it on a timer. health() lists stale
//   data and unreachable URLs for /healthz; stats() counts for /metrics.
//
// Bounded: max_crls CRLs and max_ocsp_answers answers (least recently used
// dropped first), max_crl_bytes per CRL, fetch_timeout per request.
// Thread-safe: one instance serves every verification of a gateway.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "crypto/ocsp.h"
#include "crypto/trust_store.h"
#include "util/result.h"
#include "util/time.h"

namespace edocgw::crypto {

// One HTTP GET: the body, or an error naming the URL. Stops (error) once the
// body passes max_bytes. Errc::invalid when an answer came and is refused
// (too large: RevocationCache counts it in crl_refused), Errc::io when none
// came or its status was not 200 (crl_fetch_failures).
using HttpGet = std::function<Result<std::string>(const std::string& url, std::uint64_t max_bytes,
                                                  std::chrono::milliseconds timeout)>;
// The libcurl one: http:// and https:// only, no redirects to other schemes,
// HTTP status other than 200 is an error.
Result<std::string> http_get(const std::string& url, std::uint64_t max_bytes,
                             std::chrono::milliseconds timeout);

struct RevocationCacheSettings {
  std::filesystem::path dir;  // where CRLs and OCSP answers persist; "" = memory only
  bool fetch_crls = true;     // false: crls_for() returns nothing (configured files only)
  std::uint64_t max_crl_bytes = 16ull << 20;
  std::size_t max_fetches_in_flight = 4;
  std::chrono::milliseconds fetch_timeout{10000};
  std::chrono::seconds retry_after_failure{60};
  // OCSP thisUpdate may be this far in the future and nextUpdate this far in
  // the past (RFC 6960 allows for clock differences).
  std::chrono::seconds clock_skew{300};
  std::chrono::seconds ocsp_default_lifetime{300};
  // Entries not used for this long are dropped by refresh() instead of renewed.
  std::chrono::seconds forget_unused{std::chrono::hours(24 * 7)};
  std::size_t max_crls = 256, max_ocsp_answers = 10000;
  HttpGet get = http_get;
  OcspSettings ocsp;  // responder URL override, timeout, transport
  std::function<TimePoint()> clock = [] {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  };
};

// Something /healthz should say: stale data or a source that did not answer.
struct RevocationProblem {
  std::string kind;      // "crl" or "ocsp"
  std::string source;    // URL (or "file:PATH" for a configured CRL)
  std::string problem;   // one sentence: "stale since 2026-11-30T10:00:00Z", "unreachable: ..."
  bool stale = false;    // the data held is past its nextUpdate (or none is held)
  bool failing = false;  // its last fetch or ask failed
};

struct RevocationCacheStats {
  std::uint64_t crl_fetches = 0, crl_fetch_failures = 0, crl_refused = 0;
  std::uint64_t ocsp_requests = 0, ocsp_failures = 0, ocsp_hits = 0, ocsp_misses = 0;
  std::size_t crls = 0, ocsp_answers = 0;
};

class RevocationCache final : public CrlSource {
 public:
  // Loads what `settings.dir` holds (creating it); unreadable or foreign
  // files there are skipped with a warning, never fatal.
  static Result<std::shared_ptr<RevocationCache>> open(RevocationCacheSettings settings);
  ~RevocationCache() override;

  // CrlSource.
  std::vector<SourcedCrl> crls_for(const std::vector<X509*>& path) override;
  std::uint64_t generation() const override;

  // The same CRLs as crls_for() finds in memory, fresh or not, fetching
  // nothing: what a sender under revocation="off" is still checked against
  // (a revocation the gateway already knows is never let through).
  CrlSource& held_only() { return held_only_; }

  // The OCSP status of `cert` issued by `issuer` now: a cached answer while
  // it is current, else the responder's (then cached and persisted). An
  // error means no usable answer. answer.cached tells which.
  Result<OcspAnswer> ocsp(X509* cert, X509* issuer, const TrustStore& trust);

  // Renews CRLs and OCSP answers past 3/4 of their validity (thisUpdate to
  // nextUpdate), drops those unused for forget_unused. Blocking; bounded by
  // the fetch limits. `trust` judges renewed OCSP answers.
  void refresh(const TrustStore& trust);

  std::vector<RevocationProblem> health() const;
  RevocationCacheStats stats() const;
  std::vector<std::string> warnings() const;  // from open(): skipped files

 private:
  struct State;
  explicit RevocationCache(std::unique_ptr<State> state);
  std::vector<SourcedCrl> held_crls_for(const std::vector<X509*>& path) const;

  class HeldOnly final : public CrlSource {
   public:
    explicit HeldOnly(RevocationCache& cache) : cache_(cache) {}
    std::vector<SourcedCrl> crls_for(const std::vector<X509*>& path) override {
      return cache_.held_crls_for(path);
    }
    std::uint64_t generation() const override { return cache_.generation(); }

   private:
    RevocationCache& cache_;
  };

  std::unique_ptr<State> state_;
  HeldOnly held_only_{*this};
};

}  // namespace edocgw::crypto
