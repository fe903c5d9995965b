// crypto/package_signer.h: signs edXML packages as the organisation.
//
// The signature is an enveloped XMLDSig over the whole package (Reference
// URI="", enveloped-signature + exclusive c14n, SHA-256), RSA-SHA256 or
// ECDSA-SHA256 by key type, with X509Data carrying the signer certificate and
// its chain, placed last in edXML/edXMLEnvelope/edXMLHeader. Before signing,
// a TraceHeader {OrganId, Timestamp} of the signer is added to
// TraceHeaderList, so the signing time is covered by the signature.
//
// Refuses certificates that are expired or not yet valid, that lack the
// signing key usage, or whose agency code (UID) differs from the package's
// sender. A PackageSigner is immutable after create(); sign() may run on many
// threads at once.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "crypto/certificate.h"
#include "crypto/identity.h"
#include "crypto/xmlsec_init.h"
#include "util/result.h"
#include "util/time.h"

namespace edocgw::crypto {

class PackageSigner {
 public:
  static Result<PackageSigner> create(Identity identity);

  Result<std::string> sign(std::string_view package, TimePoint now) const;
  Result<std::string> sign_file(const std::filesystem::path& path, TimePoint now) const;

  const CertificateInfo& signer() const { return signer_; }
  X509* certificate() const { return identity_.cert.get(); }
  // The intermediates sent with signatures: from the certificate file after
  // the leaf, a PKCS#12 and the chain file, each once.
  const std::vector<X509Ptr>& chain() const { return identity_.chain; }
  // The signer certificate then its chain, DER (encoded once).
  const std::vector<std::string>& certificates_der() const { return certificates_der_; }
  // A plain signature over `data` with the identity's key (SHA-256; RSA
  // PKCS#1 v1.5 or ECDSA, DER): the signature log's checkpoints.
  Result<std::string> sign_bytes(std::string_view data) const;

 private:
  PackageSigner() = default;
  Result<std::string> sign_document(xmlDoc* doc, TimePoint now) const;

  Identity identity_;
  CertificateInfo signer_;
  std::vector<std::string> certificates_der_;
  XmlSecKeyPtr key_;  // private key with the certificates to write into X509Data
  bool ec_ = false;
};

}  // namespace edocgw::crypto
