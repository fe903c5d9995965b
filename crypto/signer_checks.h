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

// The revocation verdict on a chain built by TrustStore::verify: the CRL
// findings of the chain and, when `ocsp` is given, the OCSP answer about the
// leaf. `required`: an unknown status of the leaf fails instead of being
// noted. `not_before_revocation`: a certificate revoked after this time
// still passes (a signature proven older than the revocation by a
// timestamp); nullopt means any revocation fails.
struct RevocationVerdict {
  CheckOutcome outcome = CheckOutcome::skipped;
  std::string detail;
  std::vector<RevocationEvidence> evidence;  // OCSP answers (CRL evidence is in the ChainResult)
  std::vector<std::string> warnings;
};
RevocationVerdict judge_revocation(const TrustStore& trust, const ChainResult& chain,
                                   const OcspSettings* ocsp, bool required,
                                   std::optional<TimePoint> not_before_revocation = std::nullopt);

}  // namespace edocgw::crypto
