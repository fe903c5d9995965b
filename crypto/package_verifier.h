// crypto/package_verifier.h: strict verification of a signed edXML package.
//
// Strict by default: exactly one XMLDSig Signature, at
// edXML/edXMLEnvelope/edXMLHeader/Signature; one Reference with URI=""; only
// the enveloped and canonicalisation transforms; SHA-256 or stronger (SHA-1
// only with allow_sha1, and the report says so); the signer certificate from
// X509Data, chained to the trust anchors at the given time, with the signing
// key usage, checked against CRLs when any are given and by OCSP when asked
// (the signer certificate; CRLs cover the CAs); and the signer bound
// to the sender named in From/OrganId (certificate UID or a configured
// mapping), so that a valid certificate of another agency cannot pass as
// this one. Parsing refuses DTDs and never touches the network.
//
// A PackageVerifier is immutable; verify() may run on many threads at once.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include <libxml/tree.h>

#include "crypto/ocsp.h"
#include "crypto/trust_store.h"
#include "crypto/verification_report.h"
#include "util/time.h"

namespace edocgw::crypto {

struct VerifyOptions {
  std::optional<TimePoint> at;  // certificates are judged at this time; default: now
  bool allow_sha1 = false;      // legacy senders only
  // Configured binding of certificates (SHA-256 fingerprint, lower-case hex)
  // to agency codes; it takes precedence over the certificate's UID.
  std::map<std::string, std::string> organ_by_fingerprint;
  // Ask OCSP about the signer certificate (only sensible when `at` is now).
  std::optional<OcspSettings> ocsp;
  // An unknown revocation status of the signer (no CRL covers it and OCSP
  // gave no answer) fails the revocation check instead of being noted.
  bool revocation_required = false;
};

class PackageVerifier {
 public:
  PackageVerifier(const TrustStore& trust, VerifyOptions options)
      : trust_(trust), options_(std::move(options)) {}

  VerificationReport verify(std::string_view package) const;
  // Streams the file into the parser (no second copy of the bytes in memory).
  VerificationReport verify_file(const std::filesystem::path& path) const;

 private:
  void verify_document(xmlDoc* doc, VerificationReport& report) const;

  const TrustStore& trust_;
  VerifyOptions options_;
};

}  // namespace edocgw::crypto
