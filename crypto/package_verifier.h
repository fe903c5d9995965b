// crypto/package_verifier.h: strict verification of a signed edXML package.
//
// Strict by default: exactly one XMLDSig Signature, at
// edXML/edXMLEnvelope/edXMLHeader/Signature; one Reference with URI=""; only
// the enveloped and canonicalisation transforms; exclusive c14n; SHA-256 or
// stronger; the signer certificate from X509Data, chained to the trust
// anchors at the given time, with the signing key usage, checked against
// CRLs when any are given and by OCSP when asked (the signer certificate;
// CRLs cover the CAs); and the signer bound to the sender named in
// From/OrganId (certificate UID or the policy's organ map), so that a valid
// certificate of another agency cannot pass as this one. Parsing refuses
// DTDs and never touches the network.
//
// The AcceptPolicy of the sender (VerifyOptions::policy_for, asked once the
// sender is read from the package) may relax exactly three things, each
// visible in the report: unsigned packages (state `unsigned`, never valid),
// SHA-1 and inclusive c14n (accepted with a warning).
//
// TraceHeaders appended in transit: when the digest fails, the verifier sets
// aside the trailing TraceHeader elements of TraceHeaderList on a copy of
// the document, one more at a time from the end (at most
// kMaxTransitTraceHeaders), with only whitespace between them; if the
// signature then holds, the package is valid and the report lists the
// removed entries as unsigned transit data. No other change is forgiven.
//
// PDF attachments (content type application/pdf, a name ending in .pdf, or
// bytes starting %PDF-) have their signatures verified too, as the law binds
// the PDF: see VerifyOptions::pdf_signatures.
//
// A PackageVerifier is immutable; verify() may run on many threads at once.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <libxml/tree.h>

#include "crypto/ocsp.h"
#include "crypto/revocation_cache.h"
#include "crypto/trust_store.h"
#include "crypto/verification_report.h"
#include "edxml/package.h"
#include "util/time.h"

namespace edocgw::crypto {

inline constexpr size_t kMaxTransitTraceHeaders = 8;
// KeyInfo/X509Data is not covered by the signature: at most this many
// certificates are read from it (a signer and its intermediates need a few);
// more is refused with the limit named.
inline constexpr size_t kMaxKeyInfoCertificates = 16;

struct VerifyOptions {
  std::optional<TimePoint> at;  // certificates are judged at this time; default: now
  // The policy for a sender (From/OrganId as the package claims it; "" when
  // the package cannot be read). When empty, `policy` applies to everyone.
  // Called once per verification, possibly on many threads at once.
  std::function<AcceptPolicy(const std::string& sender_organ_id)> policy_for;
  AcceptPolicy policy;
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
  // Verify the signatures of every PDF attachment (crypto/pdf_verifier.h)
  // under the sender's AcceptPolicy::pdf; the report gets one PdfReport per
  // PDF and a `pdf_signatures` check that fails when the policy refuses one.
  // Off only to measure what the PDF checks cost, and for records logged
  // before they existed.
  bool pdf_signatures = true;
};

// Whether an attachment is a PDF whose signatures are verified: content type
// application/pdf, a name ending in .pdf (any case), or bytes starting %PDF-.
bool is_pdf_attachment(const edxml::AttachmentInfo& attachment, std::string_view bytes);

class PackageVerifier {
 public:
  PackageVerifier(const TrustStore& trust, VerifyOptions options)
      : trust_(trust), options_(std::move(options)) {}

  VerificationReport verify(std::string_view package) const;
  // Streams the file into the parser (no second copy of the bytes in memory).
  VerificationReport verify_file(const std::filesystem::path& path) const;

 private:
  void verify_document(xmlDoc* doc, VerificationReport& report) const;
  void check_pdfs(xmlDoc* doc, bool document_package, const AcceptPolicy& policy, TimePoint at,
                  VerificationReport& report) const;

  const TrustStore& trust_;
  VerifyOptions options_;
};

}  // namespace edocgw::crypto
