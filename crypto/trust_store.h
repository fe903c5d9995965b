// crypto/trust_store.h: trust anchors, known intermediates and CRLs, and
// certificate path validation at a given time (RFC 5280 via OpenSSL).
//
// A TrustStore is immutable after load() and safe to use from many threads
// at once: the X509_STORE of anchors is built once, and each verify() builds
// its own X509_STORE_CTX over it, given the CRLs in force.
//
// Validated paths are cached (see verify()): a store is made per
// configuration, so a reload, new CRL files or new anchors start with an
// empty cache.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "crypto/certificate.h"
#include "crypto/ossl.h"
#include "util/result.h"
#include "util/time.h"

namespace edocgw::crypto {

enum class ChainCheck { validity, chain, revocation };

struct ChainProblem {
  ChainCheck check;
  int depth = 0;  // 0 is the certificate being verified
  int openssl_error = 0;
  std::string message;  // one sentence a person can act on
  // ChainCheck::revocation only: true when the status is unknown (no CRL in
  // scope, a CRL out of date or not yet valid, a CRL whose signature or
  // issuer does not check out), false when a CRL says the certificate is
  // revoked. Unknown is judged by the revocation policy; revoked always fails.
  bool status_unknown = false;
};

// What a CRL or an OCSP responder said about one certificate of the chain:
// the evidence an auditor needs later.
struct RevocationEvidence {
  std::string source = "crl";  // "crl" or "ocsp"
  std::string certificate_subject;
  std::string crl_issuer;
  std::string crl_number;                // decimal, "" when the CRL has none
  std::string this_update, next_update;  // RFC 3339
  bool revoked = false;
  bool delta = false;      // CRL: a delta CRL (deltaCRLIndicator) used with its base
  std::string crl_origin;  // CRL: "file:PATH" (configured) or the URL it was fetched from
  // OCSP only: the responder asked, who signed the answer, and its DER bytes.
  std::string ocsp_url, ocsp_responder, ocsp_status, ocsp_response_der;
};

struct ChainResult {
  std::vector<X509Ptr> chain;  // leaf first, as built by OpenSSL (empty if building failed early)
  // describe() and the DER bytes of each certificate of `chain`, in order.
  std::vector<std::shared_ptr<const CertificateInfo>> chain_info;
  std::vector<std::string> chain_der;
  std::vector<ChainProblem> problems;
  std::vector<RevocationEvidence> revocation;  // filled when CRLs were checked
  bool revocation_checked = false;
  // When PathPolicy::policies was given: the user-constrained policy set
  // (RFC 5280 6.1.6) the path is valid for, dotted OIDs, and the first of
  // the required policies in it (the one the report names).
  std::vector<std::string> valid_policies;
  std::string policy;

  bool ok() const { return problems.empty(); }
  const ChainProblem* first(ChainCheck check) const;
  // Whether this result came from the cache of validated paths.
  bool cached = false;
};

// How often verify() found its answer in the cache of validated paths.
struct ChainCacheStats {
  std::uint64_t hits = 0, misses = 0;
  size_t entries = 0;
};

// The RFC 5280 6.1.1 inputs beyond the anchors and the time. Validation
// always runs OpenSSL's policy processing (X509_V_FLAG_POLICY_CHECK), so
// policy constraints in the certificates themselves (requireExplicitPolicy,
// inhibitPolicyMapping, inhibitAnyPolicy) are enforced even when nothing is
// required here; name constraints are always enforced.
struct PathPolicy {
  // user-initial-policy-set, dotted OIDs. Non-empty: the path must be valid
  // for one of them (initial-explicit-policy is set), and ChainResult names
  // the one that held. Empty: anyPolicy, explicit policy not required.
  std::vector<std::string> policies;
  bool inhibit_policy_mapping = false;  // initial-policy-mapping-inhibit
  bool inhibit_any_policy = false;      // initial-any-policy-inhibit
};

// A CRL from outside the configured files, with where it came from.
struct SourcedCrl {
  X509CrlPtr crl;
  std::string origin;  // the URL it was fetched from
};

// CRLs fetched on demand (crypto/revocation_cache.h). TrustStore asks it
// for the CRLs of a chain it has built; it may fetch, blocking and bounded.
// Implementations are thread-safe.
class CrlSource {
 public:
  virtual ~CrlSource() = default;
  // The CRLs (base and delta) for the distribution points of the
  // certificates of `path` (leaf first, the trust anchor last; the anchor
  // needs none), the freshest it has or can get now. Never null CRLs.
  virtual std::vector<SourcedCrl> crls_for(const std::vector<X509*>& path) = 0;
  // Changes whenever a CRL crls_for() could return changes: part of the
  // key of the cache of validated paths.
  virtual std::uint64_t generation() const = 0;
};

class TrustStore {
 public:
  static Result<TrustStore> load(const std::vector<std::filesystem::path>& anchors,
                                 const std::vector<std::filesystem::path>& untrusted,
                                 const std::vector<std::filesystem::path>& crls,
                                 PathPolicy policy = {});

  // From certificates in memory (no CRLs): the auditor's stores.
  static TrustStore from_certificates(std::vector<X509Ptr> anchors, std::vector<X509Ptr> untrusted,
                                      PathPolicy policy = {});

  // Path validation of `cert` at `at` (RFC 5280 section 6 by OpenSSL, with
  // PathPolicy). `extra` are untrusted certificates that came with the
  // document (XMLDSig X509Data). When the store holds any CRL or `fetched`
  // is given, every certificate of the chain is checked for revocation
  // (X509_V_FLAG_CRL_CHECK_ALL with EXTENDED_CRL_SUPPORT and USE_DELTAS:
  // indirect CRLs, delta CRLs, CRLs signed by another key of the same CA,
  // distribution points with reasons), against the configured CRLs and
  // those `fetched` returns for the built path. A certificate with no CRL
  // in scope is a revocation problem with status_unknown.
  //
  // A path that validated is cached, keyed by the SHA-256 of the DER bytes
  // of `cert` and `extra` in order, with the time window in which the same
  // validation must give the same answer: every certificate of the chain
  // and every CRL it used is current over [latest notBefore/thisUpdate,
  // earliest notAfter/nextUpdate]; the key includes fetched->generation().
  // A later call with the same certificates, the same CRLs and `at` inside
  // that window gets the cached path; anything else (a
  // failure, another time) is validated afresh. Paths that failed are not
  // cached, except, without `fetched`, paths whose only problems are unknown
  // revocation statuses (the configured CRLs cannot change under a store).
  // Bounded to kChainCacheEntries paths, the oldest dropped first.
  ChainResult verify(X509* cert, const std::vector<X509*>& extra, TimePoint at,
                     CrlSource* fetched = nullptr) const;
  static constexpr size_t kChainCacheEntries = 1024;
  // 0 turns the cache off (benchmarks measure the cold path with it).
  void set_chain_cache_capacity(size_t entries) const;
  ChainCacheStats chain_cache_stats() const;

  bool has_crls() const { return !crls_.empty(); }
  const std::vector<X509CrlPtr>& crls() const { return crls_; }
  const PathPolicy& path_policy() const { return policy_; }
  const std::vector<X509Ptr>& anchors() const { return anchors_; }

 private:
  TrustStore() = default;  // made by load() or from_certificates() only
  struct ChainCache;
  void build_store();
  // The time window in which validating again must give the same answer.
  struct Window {
    TimePoint from, until;
  };
  ChainResult validate(X509* cert, const std::vector<X509*>& extra, TimePoint at,
                       CrlSource* fetched, Window& window) const;

  std::vector<X509Ptr> anchors_;
  std::vector<X509Ptr> untrusted_;
  std::vector<X509CrlPtr> crls_;
  std::vector<std::string> crl_origins_;  // "file:PATH", one per crls_ entry
  PathPolicy policy_;
  std::shared_ptr<X509_STORE> store_;  // anchors_, built once (CRLs go to each context)
  std::shared_ptr<ChainCache> cache_;
};

}  // namespace edocgw::crypto
