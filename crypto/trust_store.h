// crypto/trust_store.h: trust anchors, known intermediates and CRLs, and
// certificate path validation at a given time (RFC 5280 via OpenSSL).
//
// A TrustStore is immutable after load() and safe to use from many threads
// at once: the X509_STORE of anchors and CRLs is built once, and each
// verify() builds its own X509_STORE_CTX over it.
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

class TrustStore {
 public:
  static Result<TrustStore> load(const std::vector<std::filesystem::path>& anchors,
                                 const std::vector<std::filesystem::path>& untrusted,
                                 const std::vector<std::filesystem::path>& crls);

  // From certificates in memory (no CRLs): the auditor's stores.
  static TrustStore from_certificates(std::vector<X509Ptr> anchors, std::vector<X509Ptr> untrusted);

  // Path validation of `cert` at `at`. `extra` are untrusted certificates
  // that came with the document (XMLDSig X509Data). When the store holds any
  // CRL, every certificate of the chain is checked for revocation.
  //
  // A path that validated is cached, keyed by the SHA-256 of the DER bytes
  // of `cert` and `extra` in order, with the time window in which the same
  // validation must give the same answer: every certificate of the chain
  // and every CRL it used is current over [latest notBefore/thisUpdate,
  // earliest notAfter/nextUpdate]. A later call with the same certificates
  // and `at` inside that window gets the cached path; anything else (a
  // failure, another time) is validated afresh. Paths that failed are not
  // cached. Bounded to kChainCacheEntries paths, the oldest dropped first.
  ChainResult verify(X509* cert, const std::vector<X509*>& extra, TimePoint at) const;
  static constexpr size_t kChainCacheEntries = 1024;
  // 0 turns the cache off (benchmarks measure the cold path with it).
  void set_chain_cache_capacity(size_t entries) const;
  ChainCacheStats chain_cache_stats() const;

  bool has_crls() const { return !crls_.empty(); }
  const std::vector<X509Ptr>& anchors() const { return anchors_; }

 private:
  TrustStore() = default;  // made by load() or from_certificates() only
  struct ChainCache;
  void build_store();
  ChainResult validate(X509* cert, const std::vector<X509*>& extra, TimePoint at) const;

  std::vector<X509Ptr> anchors_;
  std::vector<X509Ptr> untrusted_;
  std::vector<X509CrlPtr> crls_;
  std::shared_ptr<X509_STORE> store_;  // anchors_ and crls_, built once
  std::shared_ptr<ChainCache> cache_;
};

}  // namespace edocgw::crypto
