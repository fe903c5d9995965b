// crypto/trust_store.h: trust anchors, known intermediates and CRLs, and
// certificate path validation at a given time (RFC 5280 via OpenSSL).
//
// A TrustStore is immutable after load() and safe to use from many threads
// at once: each verify() builds its own X509_STORE_CTX.
#pragma once

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
  std::vector<ChainProblem> problems;
  std::vector<RevocationEvidence> revocation;  // filled when CRLs were checked
  bool revocation_checked = false;

  bool ok() const { return problems.empty(); }
  const ChainProblem* first(ChainCheck check) const;
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
  ChainResult verify(X509* cert, const std::vector<X509*>& extra, TimePoint at) const;

  bool has_crls() const { return !crls_.empty(); }
  const std::vector<X509Ptr>& anchors() const { return anchors_; }

 private:
  std::vector<X509Ptr> anchors_;
  std::vector<X509Ptr> untrusted_;
  std::vector<X509CrlPtr> crls_;
};

}  // namespace edocgw::crypto
