// crypto/signer_checks.h: the checks a package signer and a PDF signer share:
// whom a certificate binds to (certificate UID or the sender's organ map)
// and what CRLs and OCSP say about a validated chain. One implementation,
// so that a PDF signature is judged exactly as a package signature is.
//
// Stateless; safe from many threads.
#pragma once
#include <string>
#include <vector>
#include "crypto/ocsp.h"
#include "crypto/revocation_cache.h"
#include "crypto/trust_store.h"
#include "crypto/verification_report.h"

namespace edocgw::crypto {

// The agency a signer certificate stands for: organ map by fingerprint, then
// by subject, then the certificate's UID when it is an agency code.
struct SignerBinding {
  std::string organ_id;  // "" when the certificate binds to no agency
  std::string how;       // "organ-map fingerprint", "organ-map subject", "uid", ""
};
SignerBinding bind_signer(const AcceptPolicy& policy, const CertificateInfo& signer);

// Why `signer` cannot stand for `sender` under `policy` (one sentence), or ""
// when it is bound to exactly that agency.
std::string binding_problem(const AcceptPolicy& policy, const CertificateInfo& signer,
                            const SignerBinding& binding, const std::string& sender);

// The fetched CRLs a signer's path is validated against: fetched now when
// needed, or under revocation="off" only those already held (a known
// revocation still refuses); nullptr without fetching or a cache.
CrlSource* crl_source_for(RevocationPolicy policy, bool fetch_crls, RevocationCache* cache);

// What judge_revocation weighs besides the chain.
struct RevocationInputs {
  RevocationPolicy policy = RevocationPolicy::prefer;
  // Ask OCSP about the signer certificate (and about an intermediate whose
  // CRL status is unknown and that names a responder of its own). nullptr:
  // OCSP is not asked.
  const OcspSettings* ocsp = nullptr;
  // When set, OCSP answers come from this cache (its own responder settings)
  // instead of a request per verification.
  RevocationCache* cache = nullptr;
  // A certificate revoked after this time still passes (a signature proven
  // older than the revocation by a timestamp); nullopt: any revocation fails.
  std::optional<TimePoint> not_before_revocation;
};

// The revocation verdict on a chain built by TrustStore::verify, from the
// CRL findings of the chain and the OCSP answers. Every certificate but the
// anchor is judged: revoked by any source fails under every policy; good by
// any source is known; otherwise its status is unknown. The signer's status
// matters whenever any source was consulted, an intermediate's when CRLs
// were checked. An unknown status fails under `require`, passes with a
// warning and `unknown_accepted` under `prefer`, and is ignored under `off`
// (which also asks no OCSP). With no CRL checked and no OCSP asked the
// check is skipped, or fails under `require`.
struct RevocationVerdict {
  CheckOutcome outcome = CheckOutcome::skipped;
  std::string detail;
  std::vector<RevocationEvidence> evidence;  // OCSP answers (CRL evidence is in the ChainResult)
  std::vector<std::string> warnings;
  bool unknown_accepted = false;  // prefer: accepted with some status unknown
};
RevocationVerdict judge_revocation(const TrustStore& trust, const ChainResult& chain,
                                   const RevocationInputs& inputs);

}  // namespace edocgw::crypto
