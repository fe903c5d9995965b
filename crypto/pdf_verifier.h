// crypto/pdf_verifier.h: verification of the signatures inside a PDF
// (PAdES / ISO 32000 signature fields), the legally binding part of most
// official documents under Decree 30/2020/NĐ-CP.
//
// pdf/signed_pdf.h says which bytes each signature covers and what changed
// after it; this layer checks each signature's CMS over exactly those bytes
// (DER SignedData, one SignerInfo, detached; adbe.pkcs7.sha1 as the SHA-1
// digest it signs; ETSI.RFC3161 document timestamps as timestamp tokens),
// the signed attributes (messageDigest, contentType, ESS
// signing-certificate-v2 or v1; required for ETSI.CAdES.detached), the
// signer's key usage, the chain to the gateway's own trust anchors (never
// the system store) at the time of a verified signature timestamp if there
// is one, else at the verification time, and revocation as for packages
// (CRLs of the trust store, OCSP when asked, evidence kept; a revocation
// after a timestamp's proven time does not fail the signature).
//
// Timestamp tokens (a signature timestamp in the SignerInfo's unsigned
// attributes, or a document timestamp) are verified as CMS over their
// TSTInfo, their messageImprint against the bytes they stamp, and their TSA
// certificate (extendedKeyUsage timeStamping) chained to the same anchors at
// the token's own genTime. A token that does not verify fails the
// signature; a token whose TSA does not chain to the anchors is reported
// and ignored (the signer's chain is then judged at the verification time).
//
// A signature is `valid`, `invalid` (something was proven wrong: a digest,
// a signature value, a chain, a change after signing) or `cannot_verify`
// (the file cannot be judged: encrypted, repaired, trailing bytes, an
// unsupported SubFilter). `cannot_verify` is never valid.
//
// The Decree 30 policy (PdfPolicy) then judges the file as a whole: what it
// requires of the signatures and whether "cannot verify" refuses.
//
// A PdfVerifier is immutable; verify() may run on many threads at once.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "crypto/ocsp.h"
#include "crypto/revocation_cache.h"
#include "crypto/trust_store.h"
#include "crypto/verification_report.h"
#include "util/time.h"

namespace edocgw::crypto {

struct PdfVerifyOptions {
  std::optional<TimePoint> at;  // default: now
  // Revocation (crypto/signer_checks.h): what an unknown status means (the
  // sender's AcceptPolicy::revocation overrides it), whether OCSP is asked
  // (only sensible when `at` is now), and the gateway's cache of fetched
  // CRLs and OCSP answers (non-owning; nullptr: only the trust store's CRL
  // files, and OCSP asked afresh every time). CRLs are fetched from the
  // chain's distribution points only with fetch_crls and a cache.
  RevocationPolicy revocation = RevocationPolicy::prefer;
  std::optional<OcspSettings> ocsp;
  RevocationCache* revocation_cache = nullptr;
  bool fetch_crls = false;
  // The sender's policy: `pdf` judges the file; sha1 and the organ maps
  // judge each signer as for packages.
  AcceptPolicy policy;
  // The agency the organisation's signer must be bound to (From/OrganId;
  // "" when unknown: no signer counts as the organisation).
  std::string sender_organ_id;
};

class PdfVerifier {
 public:
  PdfVerifier(const TrustStore& trust, PdfVerifyOptions options)
      : trust_(trust), options_(std::move(options)) {}
  PdfReport verify(std::string_view pdf, std::string name) const;

 private:
  const TrustStore& trust_;
  PdfVerifyOptions options_;
};

}  // namespace edocgw::crypto
