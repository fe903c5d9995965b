#include "crypto/package_verifier.h"

#include <openssl/x509v3.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_map>

#include "crypto/pdf_verifier.h"
#include "crypto/signer_checks.h"
#include "crypto/xmlsec_init.h"
#include "edxml/agency_code.h"
#include "edxml/package.h"
#include "edxml/xml.h"
#include "util/bytes.h"

namespace edocgw::crypto {
namespace {

using xml::is_dsig;

constexpr const char* kEnveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
constexpr std::array<const char*, 2> kExclusiveC14n = {
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
};
constexpr std::array<const char*, 6> kC14nMethods = {
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
};
constexpr std::array<const char*, 3> kStrongDigests = {
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
};
constexpr const char* kSha1Digest = "http://www.w3.org/2000/09/xmldsig#sha1";
constexpr std::array<const char*, 6> kStrongSignatures = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
};
constexpr std::array<const char*, 2> kSha1Signatures = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
};

template <size_t N>
bool one_of(const std::string& v, const std::array<const char*, N>& list) {
  return std::any_of(list.begin(), list.end(), [&](const char* s) { return v == s; });
}

std::string attr(const xmlNode* node, const char* name) {
  xmlChar* v = xmlGetProp(node, BAD_CAST name);
  if (v == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return out;
}

void collect_signatures(xmlNode* node, std::vector<xmlNode*>& out) {
  for (xmlNode* c = node; c != nullptr; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    if (is_dsig(c, "Signature")) out.push_back(c);
    collect_signatures(c->children, out);
  }
}

// The parts of a Signature element, once its shape has been checked.
struct SignatureParts {
  xmlNode* signed_info = nullptr;
  std::string c14n_method, signature_method, digest_method;
  std::vector<X509Ptr> certificates;
  std::vector<std::shared_ptr<const CertificateInfo>> infos;  // of `certificates`, in order
  std::vector<std::string> ders;                              // likewise
  bool sha1 = false;
  bool inclusive = false;  // inclusive c14n of SignedInfo or of the Reference
};

// Where a setting of the policy came from, for reasons: " (the strict
// default)", " (the strict default; no setting of RULE changes it)" or
// " (set at line N; rule RULE)".
std::string policy_origin(const AcceptPolicy& policy, const char* setting) {
  auto it = policy.sources.find(setting);
  const bool by_default = it == policy.sources.end() || it->second == "default";
  if (by_default) {
    return policy.rule.empty()
               ? std::string(" (the strict default)")
               : " (the strict default: no matching rule sets " + std::string(setting) +
                     "; the most specific is " + policy.rule + ")";
  }
  return " (" + std::string(setting) + " set by " + it->second +
         (policy.rule.empty() ? std::string() : "; the most specific rule is " + policy.rule) + ")";
}

// Checks the shape of Signature/SignedInfo against the strict profile. On
// failure adds the failed check to the report and returns false.
bool check_signed_info(xmlNode* sig, const AcceptPolicy& policy, SignatureParts& parts,
                       VerificationReport& report) {
  auto fail = [&](const char* check, std::string detail) {
    report.add(check, CheckOutcome::fail, std::move(detail));
    return false;
  };
  auto children = xml::element_children(sig);
  if (children.size() < 2 || !is_dsig(children[0], "SignedInfo") ||
      !is_dsig(children[1], "SignatureValue") ||
      (children.size() >= 3 && !is_dsig(children[2], "KeyInfo")) || children.size() > 3) {
    return fail("signed_info",
                "the Signature must hold SignedInfo, SignatureValue and KeyInfo "
                "only, in that order (no Object or other content is accepted)");
  }
  parts.signed_info = children[0];
  auto si = xml::element_children(parts.signed_info);
  size_t references = 0;
  xmlNode* reference = nullptr;
  for (xmlNode* n : si) {
    if (is_dsig(n, "Reference")) {
      ++references;
      reference = n;
    }
  }
  if (si.size() < 3 || !is_dsig(si[0], "CanonicalizationMethod") ||
      !is_dsig(si[1], "SignatureMethod") || references != si.size() - 2) {
    return fail("signed_info",
                "SignedInfo must hold CanonicalizationMethod, SignatureMethod and "
                "References only");
  }
  if (references != 1) {
    return fail("signed_info",
                "SignedInfo holds " + std::to_string(references) +
                    " References; exactly one, covering the whole package, is allowed");
  }
  if (xmlHasProp(reference, BAD_CAST "URI") == nullptr || !attr(reference, "URI").empty()) {
    const std::string uri = attr(reference, "URI");
    return fail("signed_info", "the Reference must be URI=\"\" (the whole package), not " +
                                   (xmlHasProp(reference, BAD_CAST "URI") ? "URI=\"" + uri + "\""
                                                                          : std::string("absent")));
  }
  parts.c14n_method = attr(si[0], "Algorithm");
  if (!one_of(parts.c14n_method, kC14nMethods)) {
    return fail("signed_info",
                "canonicalisation method '" + parts.c14n_method + "' is not allowed");
  }
  bool enveloped = false;
  size_t c14n_transforms = 0;
  bool reference_exclusive = false;
  std::string digest;
  for (xmlNode* n : xml::element_children(reference)) {
    if (is_dsig(n, "Transforms")) {
      auto transforms = xml::element_children(n);
      for (size_t i = 0; i < transforms.size(); ++i) {
        const std::string algo = attr(transforms[i], "Algorithm");
        if (!is_dsig(transforms[i], "Transform")) {
          return fail("signed_info", "Transforms holds an element that is not a Transform");
        }
        if (algo == kEnveloped && i == 0) {
          enveloped = true;
        } else if (one_of(algo, kC14nMethods)) {
          ++c14n_transforms;
          reference_exclusive = one_of(algo, kExclusiveC14n);
        } else {
          return fail("signed_info", "transform '" + algo +
                                         "' is not allowed: only the enveloped-"
                                         "signature transform, then one canonicalisation");
        }
      }
    } else if (is_dsig(n, "DigestMethod")) {
      digest = attr(n, "Algorithm");
    } else if (!is_dsig(n, "DigestValue")) {
      return fail("signed_info", "the Reference holds an unexpected element " +
                                     std::string(reinterpret_cast<const char*>(n->name)));
    }
  }
  if (!enveloped) {
    return fail("signed_info",
                "the Reference lacks the enveloped-signature transform as its first "
                "transform");
  }
  if (c14n_transforms > 1) {
    return fail("signed_info", "the Reference has more than one canonicalisation transform");
  }
  report.add("signed_info", CheckOutcome::pass,
             "one Reference URI=\"\" with the enveloped-signature transform");

  parts.signature_method = attr(si[1], "Algorithm");
  parts.digest_method = digest;
  report.algorithm = parts.signature_method;
  const bool sig_sha1 = one_of(parts.signature_method, kSha1Signatures);
  const bool dig_sha1 = digest == kSha1Digest;
  if (!one_of(parts.signature_method, kStrongSignatures) && !sig_sha1) {
    return fail("algorithm", "signature method '" + parts.signature_method + "' is not allowed");
  }
  if (!one_of(digest, kStrongDigests) && !dig_sha1) {
    return fail("algorithm", "digest method '" + digest + "' is not allowed");
  }
  parts.sha1 = sig_sha1 || dig_sha1;
  const std::string sha1_what =
      std::string(sig_sha1 ? "signature method " + parts.signature_method : "") +
      (sig_sha1 && dig_sha1 ? ", " : "") + (dig_sha1 ? "digest method " + digest : "");
  if (parts.sha1 && !policy.sha1_warn) {
    return fail("algorithm", "the signature uses SHA-1 (" + sha1_what +
                                 "), which the policy refuses" + policy_origin(policy, "sha1") +
                                 "; an administrator may accept it with sha1=\"warn\"");
  }
  if (parts.sha1) {
    report.add("algorithm", CheckOutcome::pass,
               "SHA-1 accepted with a warning because the policy says sha1=\"warn\"" +
                   policy_origin(policy, "sha1"));
    report.warnings.push_back("the signature uses SHA-1 (" + sha1_what +
                              "), accepted by policy for a legacy sender");
  } else {
    report.add("algorithm", CheckOutcome::pass, "SHA-256 or stronger");
  }

  // Inclusive c14n drags the namespace context of the ancestors into the
  // signed bytes; a Reference without a c14n transform is canonicalised
  // inclusively too (XMLDSig's default for a node-set).
  const bool si_inclusive = !one_of(parts.c14n_method, kExclusiveC14n);
  const bool ref_inclusive = !reference_exclusive;
  parts.inclusive = si_inclusive || ref_inclusive;
  const std::string c14n_what =
      std::string(si_inclusive ? "SignedInfo is canonicalised with " + parts.c14n_method : "") +
      (si_inclusive && ref_inclusive ? "; " : "") +
      (ref_inclusive ? (c14n_transforms == 0
                            ? std::string("the Reference has no c14n transform (inclusive c14n "
                                          "by default)")
                            : std::string("the Reference uses inclusive c14n"))
                     : std::string());
  if (parts.inclusive && !policy.inclusive_c14n_warn) {
    return fail("canonicalisation", "the signature uses inclusive canonicalisation (" + c14n_what +
                                        "), which the policy refuses" +
                                        policy_origin(policy, "c14n") +
                                        "; an administrator may accept it with "
                                        "c14n=\"inclusive-warn\"");
  }
  if (parts.inclusive) {
    report.add("canonicalisation", CheckOutcome::pass,
               "inclusive c14n accepted with a warning because the policy says "
               "c14n=\"inclusive-warn\"" +
                   policy_origin(policy, "c14n"));
    report.warnings.push_back("the signature uses inclusive canonicalisation (" + c14n_what +
                              "), accepted by policy");
  } else {
    report.add("canonicalisation", CheckOutcome::pass, "exclusive c14n");
  }
  return true;
}

// The certificates of KeyInfo/X509Data and which of them signed.
bool read_certificates(xmlNode* sig, SignatureParts& parts, VerificationReport& report) {
  auto fail = [&](std::string detail) {
    report.add("signer_certificate", CheckOutcome::fail, std::move(detail));
    return false;
  };
  xmlNode* key_info = nullptr;
  for (xmlNode* n : xml::element_children(sig)) {
    if (is_dsig(n, "KeyInfo")) key_info = n;
  }
  for (xmlNode* data : xml::element_children(key_info)) {
    if (!is_dsig(data, "X509Data")) continue;
    for (xmlNode* c : xml::element_children(data)) {
      if (!is_dsig(c, "X509Certificate")) continue;
      // KeyInfo is outside the signature: anyone may add certificates.
      if (parts.certificates.size() == kMaxKeyInfoCertificates) {
        return fail("KeyInfo/X509Data holds more than " + std::to_string(kMaxKeyInfoCertificates) +
                    " certificates, which is refused");
      }
      auto der = base64_decode(xml::text_of(c));
      if (!der) return fail("an X509Certificate in KeyInfo is not valid base64");
      auto cert = shared_certificate_from_der(*der);
      if (!cert) return fail("an X509Certificate in KeyInfo is not a DER certificate");
      parts.certificates.push_back(std::move(cert->cert));
      parts.infos.push_back(std::move(cert->info));
      parts.ders.push_back(std::move(*der));
    }
  }
  if (parts.certificates.empty()) {
    return fail("the signature carries no signer certificate (KeyInfo/X509Data/X509Certificate)");
  }
  // The signer is the one certificate that issued none of the others.
  // Only a certificate whose subject is another's issuer name can have
  // issued it: candidates are looked up by name hash, not tried pairwise.
  std::unordered_multimap<unsigned long, size_t> by_issuer;
  for (size_t j = 0; j < parts.certificates.size(); ++j) {
    by_issuer.emplace(X509_issuer_name_hash(parts.certificates[j].get()), j);
  }
  std::vector<size_t> leaves;
  for (size_t i = 0; i < parts.certificates.size(); ++i) {
    bool issues_another = false;
    auto [first, last] = by_issuer.equal_range(X509_subject_name_hash(parts.certificates[i].get()));
    for (auto it = first; it != last && !issues_another; ++it) {
      const size_t j = it->second;
      issues_another = i != j && X509_check_issued(parts.certificates[i].get(),
                                                   parts.certificates[j].get()) == X509_V_OK;
    }
    if (!issues_another) leaves.push_back(i);
  }
  if (leaves.size() != 1) {
    return fail("X509Data holds " + std::to_string(leaves.size()) +
                " certificates that could each be the signer's; exactly one is allowed");
  }
  std::swap(parts.certificates[0], parts.certificates[leaves[0]]);
  std::swap(parts.infos[0], parts.infos[leaves[0]]);
  std::swap(parts.ders[0], parts.ders[leaves[0]]);
  report.signer = *parts.infos[0];
  report.signer_der = parts.ders[0];
  report.add("signer_certificate", CheckOutcome::pass, report.signer->subject);
  return true;
}

enum class XmlsecOutcome { error, digest_mismatch, bad_signature, ok };

// Runs xmlsec over the Signature with the signer certificate's key, allowing
// only the algorithms of the strict profile (SHA-1 only when `sha1`).
XmlsecOutcome run_xmlsec(xmlNode* sig, X509* signer, bool sha1, std::string& error) {
  init_xmlsec();
  last_xmlsec_error();
  DSigCtxPtr ctx(xmlSecDSigCtxCreate(nullptr));
  if (!ctx) {
    error = "cannot create the XML signature context";
    return XmlsecOutcome::error;
  }
  ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty;
  const xmlSecTransformId c14n[] = {
      xmlSecTransformExclC14NId,   xmlSecTransformExclC14NWithCommentsId,
      xmlSecTransformInclC14NId,   xmlSecTransformInclC14NWithCommentsId,
      xmlSecTransformInclC14N11Id, xmlSecTransformInclC14N11WithCommentsId};
  for (auto id : c14n) {
    xmlSecDSigCtxEnableReferenceTransform(ctx.get(), id);
    xmlSecDSigCtxEnableSignatureTransform(ctx.get(), id);
  }
  xmlSecDSigCtxEnableReferenceTransform(ctx.get(), xmlSecTransformEnvelopedId);
  for (auto id : {xmlSecTransformSha256Id, xmlSecTransformSha384Id, xmlSecTransformSha512Id}) {
    xmlSecDSigCtxEnableReferenceTransform(ctx.get(), id);
  }
  for (auto id :
       {xmlSecTransformRsaSha256Id, xmlSecTransformRsaSha384Id, xmlSecTransformRsaSha512Id,
        xmlSecTransformEcdsaSha256Id, xmlSecTransformEcdsaSha384Id, xmlSecTransformEcdsaSha512Id}) {
    xmlSecDSigCtxEnableSignatureTransform(ctx.get(), id);
  }
  if (sha1) {
    xmlSecDSigCtxEnableReferenceTransform(ctx.get(), xmlSecTransformSha1Id);
    xmlSecDSigCtxEnableSignatureTransform(ctx.get(), xmlSecTransformRsaSha1Id);
    xmlSecDSigCtxEnableSignatureTransform(ctx.get(), xmlSecTransformEcdsaSha1Id);
  }

  // The key is the signer certificate's, never one looked up from KeyInfo.
  EVP_PKEY* pub = X509_get0_pubkey(signer);
  if (pub == nullptr) {
    error = "the signer certificate holds no usable public key";
    return XmlsecOutcome::error;
  }
  EVP_PKEY_up_ref(pub);
  xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(pub);
  XmlSecKeyPtr key(xmlSecKeyCreate());
  if (data == nullptr || !key || xmlSecKeySetValue(key.get(), data) < 0) {
    if (data != nullptr) xmlSecKeyDataDestroy(data);
    error = "the signer certificate's key type is not supported";
    return XmlsecOutcome::error;
  }
  ctx->signKey = key.release();

  if (xmlSecDSigCtxVerify(ctx.get(), sig) < 0) {
    const std::string why = last_xmlsec_error();
    error = "the signature could not be processed" + (why.empty() ? std::string() : ": " + why);
    return XmlsecOutcome::error;
  }
  bool digests_ok = xmlSecPtrListGetSize(&ctx->signedInfoReferences) == 1;
  for (xmlSecSize i = 0; i < xmlSecPtrListGetSize(&ctx->signedInfoReferences); ++i) {
    auto* ref =
        static_cast<xmlSecDSigReferenceCtxPtr>(xmlSecPtrListGetItem(&ctx->signedInfoReferences, i));
    if (ref == nullptr || ref->status != xmlSecDSigStatusSucceeded) digests_ok = false;
  }
  if (!digests_ok) return XmlsecOutcome::digest_mismatch;
  return ctx->status == xmlSecDSigStatusSucceeded ? XmlsecOutcome::ok
                                                  : XmlsecOutcome::bad_signature;
}

bool is_blank_text(const xmlNode* n) {
  return n != nullptr && n->type == XML_TEXT_NODE && xmlIsBlankNode(const_cast<xmlNode*>(n)) != 0;
}

std::string text_content(const xmlNode* n) {
  xmlChar* c = xmlNodeGetContent(n);
  if (c == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(c));
  xmlFree(c);
  return out;
}

// Removes the whitespace text nodes at the end of `list`; returns the text of
// the last one removed nearest the end ("" when none).
std::string pop_trailing_blanks(xmlNode* list) {
  std::string tail;
  bool first = true;
  while (is_blank_text(list->last)) {
    xmlNode* n = list->last;
    if (first) tail = text_content(n);
    first = false;
    xmlUnlinkNode(n);
    xmlFreeNode(n);
  }
  return tail;
}

// Transit TraceHeaders: on a copy of the document, sets aside the trailing
// TraceHeader elements of TraceHeaderList one at a time from the end (only
// whole elements and the whitespace between them), and tries the signature
// again after each. The whitespace left before </TraceHeaderList> may be
// what preceded the removed elements (an appender that does not indent) or
// what followed them (one that re-indents), or nothing: each is tried.
// Returns the removed entries, in document order, when the signature holds.
std::optional<std::vector<TransitTrace>> without_transit_traces(xmlDoc* doc, X509* signer,
                                                                bool sha1, XmlsecOutcome& outcome) {
  xml::XmlDocPtr copy(xmlCopyDoc(doc, 1));
  if (!copy) return std::nullopt;
  auto skeleton = edxml::find_skeleton(copy.get());
  if (!skeleton) return std::nullopt;
  xmlNode* list = xml::edxml_child(skeleton->header, "TraceHeaderList");
  std::vector<xmlNode*> signatures;
  collect_signatures(xmlDocGetRootElement(copy.get()), signatures);
  if (list == nullptr || signatures.size() != 1) return std::nullopt;
  xmlNode* sig = signatures[0];

  const std::string tail = pop_trailing_blanks(list);
  std::vector<TransitTrace> removed;
  for (size_t k = 1; k <= kMaxTransitTraceHeaders; ++k) {
    xmlNode* last = list->last;
    if (last == nullptr || last->type != XML_ELEMENT_NODE || !xml::is_edxml(last, "TraceHeader"))
      return std::nullopt;
    const std::string before = is_blank_text(last->prev) ? text_content(last->prev) : "";
    removed.insert(removed.begin(), TransitTrace{xml::child_text(last, "OrganId"),
                                                 xml::child_text(last, "Timestamp")});
    xmlUnlinkNode(last);
    xmlFreeNode(last);
    pop_trailing_blanks(list);
    // What remains must end in an element: other text there is no appended
    // TraceHeader (and libxml2 would merge the whitespace added below into
    // it, freeing the node this code frees again).
    if (list->last != nullptr && list->last->type != XML_ELEMENT_NODE) return std::nullopt;
    std::vector<std::string> variants = {before};
    if (tail != before) variants.push_back(tail);
    if (!before.empty() && !tail.empty()) variants.emplace_back();
    for (const auto& ws : variants) {
      xmlNode* text = nullptr;
      if (!ws.empty()) {
        text = xmlNewDocText(copy.get(), BAD_CAST ws.c_str());
        xmlAddChild(list, text);
      }
      std::string error;
      const XmlsecOutcome o = run_xmlsec(sig, signer, sha1, error);
      if (o == XmlsecOutcome::ok || o == XmlsecOutcome::bad_signature) {
        outcome = o;
        return removed;
      }
      if (text != nullptr) {
        xmlUnlinkNode(text);
        xmlFreeNode(text);
      }
    }
  }
  return std::nullopt;
}

// The digest and the signature value, forgiving only TraceHeaders appended
// in transit. Adds "digest" and "signature_value".
void check_cryptography(xmlDoc* doc, xmlNode* sig, const SignatureParts& parts,
                        VerificationReport& report) {
  X509* signer = parts.certificates[0].get();
  std::string error;
  XmlsecOutcome outcome = run_xmlsec(sig, signer, parts.sha1, error);
  if (outcome == XmlsecOutcome::error) {
    report.add("digest", CheckOutcome::fail, error);
    return;
  }
  if (outcome == XmlsecOutcome::digest_mismatch) {
    auto transit = without_transit_traces(doc, signer, parts.sha1, outcome);
    if (!transit) {
      report.add("digest", CheckOutcome::fail,
                 "the package was changed after it was signed: its digest does not match the "
                 "signed DigestValue (also with up to " +
                     std::to_string(kMaxTransitTraceHeaders) +
                     " trailing TraceHeaders set aside as transit data)");
      return;
    }
    report.transit = std::move(*transit);
    std::string who;
    for (const auto& t : report.transit)
      who += (who.empty() ? "" : ", ") + t.organ_id + " " + t.timestamp;
    report.add("digest", CheckOutcome::pass,
               "the package as signed matches the signed digest once " +
                   std::to_string(report.transit.size()) +
                   " TraceHeader(s) appended after signing are set aside");
    report.warnings.push_back(std::to_string(report.transit.size()) +
                              " TraceHeader(s) were appended after the sender signed (" + who +
                              "): unsigned transit data, not covered by the signature");
  } else {
    report.add("digest", CheckOutcome::pass, "the whole package matches the signed digest");
  }
  if (outcome != XmlsecOutcome::ok) {
    report.add("signature_value", CheckOutcome::fail,
               "the SignatureValue does not verify with the signer certificate's public key");
    return;
  }
  report.add("signature_value", CheckOutcome::pass, "verified with the signer certificate's key");
}

void check_certificates(const TrustStore& trust, const SignatureParts& parts, TimePoint at,
                        const VerifyOptions& options, VerificationReport& report) {
  X509* leaf = parts.certificates[0].get();
  std::vector<X509*> extra;
  for (size_t i = 1; i < parts.certificates.size(); ++i)
    extra.push_back(parts.certificates[i].get());
  const RevocationPolicy revocation = report.policy.revocation.value_or(options.revocation);
  ChainResult chain = trust.verify(
      leaf, extra, at, crl_source_for(revocation, options.fetch_crls, options.revocation_cache));
  for (size_t i = 0; i < chain.chain.size(); ++i) {
    report.chain.push_back(*chain.chain_info[i]);
    report.chain_der.push_back(chain.chain_der[i]);
  }
  report.revocation = chain.revocation;
  report.certificate_policy = chain.policy;

  if (const auto* p = chain.first(ChainCheck::validity)) {
    report.add("validity", CheckOutcome::fail, "the signer " + p->message);
  } else {
    report.add("validity", CheckOutcome::pass,
               "the signer certificate is valid at " + report.checked_at);
  }
  if (const auto* p = chain.first(ChainCheck::chain)) {
    report.add("chain", CheckOutcome::fail, p->message);
  } else {
    report.add("chain", CheckOutcome::pass,
               "chains to the trust anchor '" +
                   (chain.chain_info.empty() ? std::string() : chain.chain_info.back()->subject) +
                   "'");
  }
  // The CRL findings of the chain and, when asked, OCSP (crypto/signer_checks.h).
  RevocationInputs inputs;
  inputs.policy = revocation;
  inputs.ocsp = options.ocsp ? &*options.ocsp : nullptr;
  inputs.cache = options.revocation_cache;
  RevocationVerdict v = judge_revocation(trust, chain, inputs);
  for (auto& ev : v.evidence) report.revocation.push_back(std::move(ev));
  for (auto& w : v.warnings) report.warnings.push_back(std::move(w));
  report.revocation_unknown = v.unknown_accepted;
  report.add("revocation", v.outcome, std::move(v.detail));
  if (has_signing_key_usage(leaf)) {
    report.add("key_usage", CheckOutcome::pass, "digitalSignature or nonRepudiation");
  } else {
    report.add("key_usage", CheckOutcome::fail,
               "the signer certificate's key usage does not allow signing (digitalSignature or "
               "nonRepudiation)");
  }
}

}  // namespace

VerificationReport PackageVerifier::verify(std::string_view package) const {
  VerificationReport report;
  auto doc = xml::parse_untrusted_xml(package, &report.package_sha256);
  if (!doc) {
    report.checked_at = format_rfc3339(options_.at.value_or(now_seconds()));
    report.add("parse", CheckOutcome::fail, doc.error().message);
    report.finish();
    return report;
  }
  verify_document(doc->get(), report);
  return report;
}

VerificationReport PackageVerifier::verify_file(const std::filesystem::path& path) const {
  VerificationReport report;
  auto doc = xml::parse_untrusted_xml_file(path, &report.package_sha256);
  if (!doc) {
    report.checked_at = format_rfc3339(options_.at.value_or(now_seconds()));
    report.add("parse", doc.error().code == Errc::io ? CheckOutcome::skipped : CheckOutcome::fail,
               doc.error().message);
    if (doc.error().code == Errc::io) report.add("read", CheckOutcome::fail, doc.error().message);
    report.finish();
    return report;
  }
  verify_document(doc->get(), report);
  return report;
}

namespace {

// A `Signature` element that is not XMLDSig (real senders put placeholders
// in edXMLHeader); nullptr when there is none.
xmlNode* find_placeholder_signature(xmlNode* node) {
  for (xmlNode* c = node; c != nullptr; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    if (!is_dsig(c, "Signature") && xmlStrEqual(c->name, BAD_CAST "Signature")) return c;
    if (xmlNode* found = find_placeholder_signature(c->children)) return found;
  }
  return nullptr;
}

// The policy as the report keeps it: the organ map trimmed to the entries
// about this signer (all a later re-verification needs, and no more).
AcceptPolicy trimmed_for(const AcceptPolicy& policy, const CertificateInfo* signer) {
  AcceptPolicy out = policy;
  out.organ_by_fingerprint.clear();
  out.organ_by_subject.clear();
  if (signer == nullptr) return out;
  if (auto it = policy.organ_by_fingerprint.find(signer->sha256_fingerprint);
      it != policy.organ_by_fingerprint.end())
    out.organ_by_fingerprint.insert(*it);
  if (auto it = policy.organ_by_subject.find(signer->subject); it != policy.organ_by_subject.end())
    out.organ_by_subject.insert(*it);
  return out;
}

// Binds the signer to the sender: organ map by fingerprint, then by
// subject, then the certificate's UID when it is an agency code.
void check_binding(const AcceptPolicy& policy, VerificationReport& report) {
  const CertificateInfo& signer = *report.signer;
  const SignerBinding binding = bind_signer(policy, signer);
  if (std::string problem = binding_problem(policy, signer, binding, report.sender_organ_id);
      !problem.empty()) {
    report.add("sender_binding", CheckOutcome::fail, std::move(problem));
    return;
  }
  const std::string by = binding.how == "uid" ? "the certificate's UID"
                                              : "the " + binding.how + " of " + policy.organ_map;
  report.binding = binding.how;
  report.add("sender_binding", CheckOutcome::pass,
             "signer is " + binding.organ_id + " (by " + by + ")");
}

}  // namespace

void PackageVerifier::verify_document(xmlDoc* doc, VerificationReport& report) const {
  const TimePoint at = options_.at.value_or(now_seconds());
  report.checked_at = format_rfc3339(at);
  report.add("parse", CheckOutcome::pass, "well-formed XML without DTD");

  auto package = edxml::read_package(doc, edxml::ReadOptions{.decode_attachments = false});
  if (package) report.sender_organ_id = package->sender_organ_id();
  AcceptPolicy policy =
      options_.policy_for ? options_.policy_for(report.sender_organ_id) : options_.policy;
  report.policy = trimmed_for(policy, nullptr);
  auto finish = [&] {
    report.policy = trimmed_for(policy, report.signer ? &*report.signer : nullptr);
    report.finish();
  };
  if (!package) {
    report.add("structure", CheckOutcome::fail, "not an edXML package: " + package.error().message);
    return finish();
  }
  report.document_id = package->kind == edxml::PackageKind::document
                           ? package->header.document_id
                           : package->status.response_for.document_id;
  for (const auto& w : package->warnings) report.warnings.push_back(w);

  std::vector<xmlNode*> signatures;
  collect_signatures(xmlDocGetRootElement(doc), signatures);
  if (signatures.empty()) {
    xmlNode* placeholder = find_placeholder_signature(xmlDocGetRootElement(doc));
    std::string what = "the package has no XMLDSig Signature";
    if (placeholder != nullptr) {
      const std::string ns(xml::ns_of(placeholder));
      what += " (the Signature at " + xml::path_of(placeholder) + " is a placeholder in " +
              (ns.empty() ? std::string("no namespace") : "namespace " + ns) +
              ", not XMLDSig http://www.w3.org/2000/09/xmldsig#)";
    }
    if (!policy.accept_unsigned) {
      report.add("structure", CheckOutcome::fail,
                 "the package is not signed: " + what + "; the policy refuses unsigned packages" +
                     policy_origin(policy, "unsigned"));
      return finish();
    }
    report.add("structure", CheckOutcome::pass, "an edXML package; " + what);
    report.add("signature", CheckOutcome::skipped,
               "unsigned, accepted because the policy says unsigned=\"accept\"" +
                   policy_origin(policy, "unsigned") +
                   ": neither the sender nor the content is proven");
    report.warnings.push_back("the package is unsigned (" + what + "), accepted by policy");
    report.unsigned_accepted = true;
    check_pdfs(doc, package->kind == edxml::PackageKind::document, policy, at, report);
    return finish();
  }
  if (signatures.size() > 1) {
    report.add("structure", CheckOutcome::fail,
               "the package holds " + std::to_string(signatures.size()) +
                   " XMLDSig Signatures; exactly one, in edXMLHeader, is allowed");
    return finish();
  }
  auto skeleton = edxml::find_skeleton(doc);
  xmlNode* sig = signatures[0];
  if (!skeleton || sig->parent != skeleton->header) {
    report.add("structure", CheckOutcome::fail,
               "the Signature is at " + xml::path_of(sig) +
                   ", not at /edXML/edXMLEnvelope/edXMLHeader/Signature");
    return finish();
  }
  report.add("structure", CheckOutcome::pass, "one Signature, in edXMLHeader");

  SignatureParts parts;
  if (!check_signed_info(sig, policy, parts, report)) return finish();
  if (!read_certificates(sig, parts, report)) return finish();
  check_cryptography(doc, sig, parts, report);
  check_certificates(trust_, parts, at, options_, report);
  check_binding(policy, report);

  // The sender's own TraceHeader, among those the signature covers.
  const size_t signed_traces =
      package->traces.size() - std::min(package->traces.size(), report.transit.size());
  for (size_t i = signed_traces; i-- > 0;) {
    if (package->traces[i].organ_id == report.sender_organ_id) {
      report.signed_at = package->traces[i].timestamp;
      break;
    }
  }
  // The PDFs are judged only in a package whose own checks held.
  if (std::none_of(report.checks.begin(), report.checks.end(),
                   [](const Check& c) { return c.outcome == CheckOutcome::fail; }))
    check_pdfs(doc, package->kind == edxml::PackageKind::document, policy, at, report);
  finish();
}

namespace {

bool ends_with_pdf(const std::string& name) {
  if (name.size() < 4) return false;
  std::string tail = name.substr(name.size() - 4);
  for (auto& c : tail) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return tail == ".pdf";
}

}  // namespace

bool is_pdf_attachment(const edxml::AttachmentInfo& a, std::string_view bytes) {
  std::string type = a.content_type;
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type == "application/pdf" || ends_with_pdf(a.name) || pdf::looks_like_pdf(bytes);
}

void PackageVerifier::check_pdfs(xmlDoc* doc, bool document_package, const AcceptPolicy& policy,
                                 TimePoint at, VerificationReport& report) const {
  if (!options_.pdf_signatures) return;
  PdfVerifyOptions po;
  po.at = at;
  po.revocation = options_.revocation;
  po.ocsp = options_.ocsp;
  po.revocation_cache = options_.revocation_cache;
  po.fetch_crls = options_.fetch_crls;
  po.policy = policy;
  po.sender_organ_id = report.sender_organ_id;
  const PdfVerifier verifier(trust_, std::move(po));
  auto st =
      edxml::for_each_attachment(doc, [&](const edxml::AttachmentInfo& a, std::string_view bytes) {
        if (!is_pdf_attachment(a, bytes)) return;
        report.pdf.push_back(verifier.verify(bytes, a.name.empty() ? a.content_id : a.name));
      });
  if (!st) {
    report.add("pdf_signatures", CheckOutcome::fail, st.error().message);
    return;
  }
  for (const auto& p : report.pdf) {
    if (!p.accepted()) {
      report.add("pdf_signatures", CheckOutcome::fail, p.reason);
      return;
    }
  }
  if (report.pdf.empty()) {
    if (document_package && policy.pdf.require != PdfPolicy::Require::none) {
      report.add("pdf_signatures", CheckOutcome::fail,
                 std::string("the policy requires a signed PDF (pdf-signatures=\"") +
                     require_name(policy.pdf.require) +
                     "\"), and the package carries no PDF attachment");
      return;
    }
    report.add("pdf_signatures", CheckOutcome::skipped, "no PDF attachment");
    return;
  }
  std::string detail;
  for (const auto& p : report.pdf) {
    if (!detail.empty()) detail += "; ";
    detail += "'" + p.name + "' " + pdf_state_name(p.state);
    size_t valid = 0;
    for (const auto& s : p.signatures) valid += s.state == PdfSignatureState::valid ? 1 : 0;
    if (!p.signatures.empty())
      detail += " (" + std::to_string(valid) + " of " + std::to_string(p.signatures.size()) +
                " signature(s) valid)";
    if (p.state == PdfState::cannot_verify)
      report.warnings.push_back(p.reason +
                                " (reported, not refused: pdf-cannot-verify=\"report\")");
  }
  report.add("pdf_signatures", CheckOutcome::pass, detail);
}

}  // namespace edocgw::crypto
