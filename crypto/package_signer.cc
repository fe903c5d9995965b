#include "crypto/package_signer.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>
#include <xmlsec/templates.h>
#include <xmlsec/xmldsig.h>

#include "edxml/package.h"
#include "edxml/xml.h"

namespace edocgw::crypto {
namespace {

// Adds TraceHeader {OrganId, Timestamp} to TraceHeaderList (made when
// absent), before any Bussiness element.
// The sender's TraceHeader, in edXML time (yyyy/MM/dd HH:mm:ss, UTC+7: the
// only form real parsers read), after Bussiness as the real builder writes
// it. A package that already carries one from the sender keeps it (the
// builder wrote it); a status package gets none (real ones carry no
// TraceHeaderList).
void add_trace_header(const edxml::Package& package, xmlNode* header, const std::string& organ_id,
                      TimePoint now) {
  if (package.kind == edxml::PackageKind::status) return;
  for (const auto& t : package.traces) {
    if (t.organ_id == organ_id) return;
  }
  xmlNode* list = xml::edxml_child(header, "TraceHeaderList");
  xmlNs* ns = header->ns;
  if (list == nullptr) {
    list = xmlNewNode(ns, BAD_CAST "TraceHeaderList");
    if (xmlNode* message = xml::edxml_child(header, "MessageHeader")) {
      xmlAddNextSibling(message, list);
    } else {
      xmlAddChild(header, list);
    }
  }
  xmlNode* trace = xmlNewChild(list, ns, BAD_CAST "TraceHeader", nullptr);
  xmlNewTextChild(trace, ns, BAD_CAST "OrganId", BAD_CAST organ_id.c_str());
  xmlNewTextChild(trace, ns, BAD_CAST "Timestamp", BAD_CAST format_edxml_time(now).c_str());
}

}  // namespace

Result<PackageSigner> PackageSigner::create(Identity identity) {
  init_xmlsec();
  PackageSigner signer;
  signer.signer_ = describe(identity.cert.get());
  signer.certificates_der_.push_back(certificate_der(identity.cert.get()));
  for (const auto& c : identity.chain) signer.certificates_der_.push_back(certificate_der(c.get()));
  if (!has_signing_key_usage(identity.cert.get())) {
    return make_error(Errc::invalid, "the certificate '" + signer.signer_.subject +
                                         "' does not allow signing: its key usage lacks "
                                         "digitalSignature and nonRepudiation");
  }
  EVP_PKEY* pkey = identity.key.get();
  if (EVP_PKEY_is_a(pkey, "EC")) {
    signer.ec_ = true;
  } else if (!EVP_PKEY_is_a(pkey, "RSA")) {
    return make_error(Errc::unsupported, "only RSA and EC keys can sign packages");
  }

  EVP_PKEY_up_ref(pkey);
  xmlSecKeyDataPtr value = xmlSecOpenSSLEvpKeyAdopt(pkey);
  XmlSecKeyPtr key(xmlSecKeyCreate());
  if (value == nullptr || !key || xmlSecKeySetValue(key.get(), value) < 0) {
    if (value != nullptr) xmlSecKeyDataDestroy(value);
    return make_error(Errc::internal, "xmlsec cannot take the private key: " + last_xmlsec_error());
  }
  xmlSecKeyDataPtr x509 = xmlSecKeyEnsureData(key.get(), xmlSecOpenSSLKeyDataX509Id);
  if (x509 == nullptr ||
      xmlSecOpenSSLKeyDataX509AdoptKeyCert(x509, X509_dup(identity.cert.get())) < 0 ||
      xmlSecOpenSSLKeyDataX509AdoptCert(x509, X509_dup(identity.cert.get())) < 0) {
    return make_error(Errc::internal, "xmlsec cannot take the certificate: " + last_xmlsec_error());
  }
  for (const auto& c : identity.chain) {
    if (xmlSecOpenSSLKeyDataX509AdoptCert(x509, X509_dup(c.get())) < 0) {
      return make_error(Errc::internal, "xmlsec cannot take the chain: " + last_xmlsec_error());
    }
  }
  signer.key_ = std::move(key);
  signer.identity_ = std::move(identity);
  return signer;
}

Result<std::string> PackageSigner::sign(std::string_view package, TimePoint now) const {
  auto doc = xml::parse_untrusted_xml(package);
  if (!doc) return doc.error();
  return sign_document(doc->get(), now);
}

Result<std::string> PackageSigner::sign_file(const std::filesystem::path& path,
                                             TimePoint now) const {
  auto doc = xml::parse_untrusted_xml_file(path);
  if (!doc) return doc.error();
  return sign_document(doc->get(), now);
}

Result<std::string> PackageSigner::sign_document(xmlDoc* doc, TimePoint now) const {
  if (auto problem = validity_problem(identity_.cert.get(), now)) {
    return make_error(Errc::invalid, "refusing to sign: the certificate '" + signer_.subject +
                                         "' is " + *problem + " (valid " +
                                         format_rfc3339(signer_.not_before) + " to " +
                                         format_rfc3339(signer_.not_after) + ")");
  }
  auto package = edxml::read_package(doc, edxml::ReadOptions{.decode_attachments = false});
  if (!package)
    return make_error(Errc::malformed, "not an edXML package: " + package.error().message);
  if (package->signature_present) {
    return make_error(Errc::invalid, "the package is already signed; sign an unsigned package");
  }
  const std::string& sender = package->sender_organ_id();
  if (!signer_.organ_id.empty() && signer_.organ_id != sender) {
    return make_error(Errc::invalid, "refusing to sign: the certificate belongs to " +
                                         signer_.organ_id + " but the package's sender is " +
                                         sender);
  }
  auto skeleton = edxml::find_skeleton(doc);
  if (!skeleton) return skeleton.error();
  add_trace_header(*package, skeleton->header, sender, now);

  xmlNode* sig = xmlSecTmplSignatureCreateNsPref(
      doc, xmlSecTransformExclC14NId,
      ec_ ? xmlSecTransformEcdsaSha256Id : xmlSecTransformRsaSha256Id, nullptr, BAD_CAST "ds");
  if (sig == nullptr) return make_error(Errc::internal, "cannot create the signature template");
  xmlAddChild(skeleton->header, sig);
  xmlNode* ref =
      xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, nullptr, BAD_CAST "", nullptr);
  if (ref == nullptr ||
      xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) == nullptr ||
      xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) == nullptr) {
    return make_error(Errc::internal, "cannot create the signature reference");
  }
  xmlNode* key_info = xmlSecTmplSignatureEnsureKeyInfo(sig, nullptr);
  if (key_info == nullptr || xmlSecTmplKeyInfoAddX509Data(key_info) == nullptr) {
    return make_error(Errc::internal, "cannot create KeyInfo/X509Data");
  }

  DSigCtxPtr ctx(xmlSecDSigCtxCreate(nullptr));
  if (!ctx) return make_error(Errc::internal, "cannot create the XML signature context");
  // The context borrows our key rather than a copy: xmlSecKeyDuplicate()
  // re-encodes every certificate and cost a third of a 10 KB signature. The
  // key is only read while signing, so concurrent sign() calls may share it;
  // the pointer is taken back before the context is destroyed.
  ctx->signKey = key_.get();
  last_xmlsec_error();
  const int rc = xmlSecDSigCtxSign(ctx.get(), sig);
  ctx->signKey = nullptr;
  if (rc < 0) return make_error(Errc::internal, "signing failed: " + last_xmlsec_error());
  return xml::serialize(doc);
}

Result<std::string> PackageSigner::sign_bytes(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  bool ok = ctx != nullptr &&
            EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, identity_.key.get()) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    ERR_clear_error();
    return make_error(Errc::internal, "the identity key could not sign");
  }
  return sig;
}

}  // namespace edocgw::crypto
