#include "crypto/pdf_verifier.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "crypto/signer_checks.h"
#include "util/bytes.h"
#include "util/utf8.h"

namespace edocgw::crypto {
namespace {

using CmsPtr = std::unique_ptr<CMS_ContentInfo, OsslDeleter<CMS_ContentInfo, CMS_ContentInfo_free>>;
using TstInfoPtr = std::unique_ptr<TS_TST_INFO, OsslDeleter<TS_TST_INFO, TS_TST_INFO_free>>;
using EssV1Ptr =
    std::unique_ptr<ESS_SIGNING_CERT, OsslDeleter<ESS_SIGNING_CERT, ESS_SIGNING_CERT_free>>;
using EssV2Ptr = std::unique_ptr<ESS_SIGNING_CERT_V2,
                                 OsslDeleter<ESS_SIGNING_CERT_V2, ESS_SIGNING_CERT_V2_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OsslDeleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The bytes one signature covers: [0, a) and [b, b + c) of the file.
struct SignedRanges {
  std::string_view first, second;
};

// Digest of the signed ranges with `md`, streamed over the file's own bytes.
std::string digest_ranges(const EVP_MD* md, const SignedRanges& r,
                          const EVP_MD_CTX* prefix = nullptr) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const bool started = prefix != nullptr
                           ? EVP_MD_CTX_copy_ex(ctx.get(), prefix) == 1
                           : EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1 &&
                                 EVP_DigestUpdate(ctx.get(), r.first.data(), r.first.size()) == 1;
  if (!ctx || !started || EVP_DigestUpdate(ctx.get(), r.second.data(), r.second.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out, &len) != 1)
    return {};
  return std::string(reinterpret_cast<char*>(out), len);
}

// Every signature's first range [0, a) is a prefix of the file, and most of
// it: one SHA-256 pass over the file gives the report's file digest and,
// copied at each a, the state every SHA-256 signature continues from. A
// twice-signed 10 MB PDF is then hashed once instead of three times.
class PrefixDigests {
 public:
  PrefixDigests(std::string_view file, std::vector<size_t> cuts) : file_(file) {
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return;
    size_t pos = 0;
    for (size_t cut : cuts) {
      if (cut > file.size()) break;
      MdCtxPtr snap(EVP_MD_CTX_new());
      if (EVP_DigestUpdate(ctx.get(), file.data() + pos, cut - pos) != 1 || !snap ||
          EVP_MD_CTX_copy_ex(snap.get(), ctx.get()) != 1)
        return;
      pos = cut;
      states_.emplace_back(cut, std::move(snap));
    }
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestUpdate(ctx.get(), file.data() + pos, file.size() - pos) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), out, &len) != 1)
      return;
    file_sha256_ = to_hex(std::string_view(reinterpret_cast<char*>(out), len));
  }
  const std::string& file_sha256() const { return file_sha256_; }

  // As digest_ranges(), from a kept state when it applies.
  std::string digest(const EVP_MD* md, const SignedRanges& r) const {
    if (EVP_MD_get_type(md) == NID_sha256 && r.first.data() == file_.data()) {
      for (const auto& [cut, state] : states_)
        if (cut == r.first.size()) return digest_ranges(md, r, state.get());
    }
    return digest_ranges(md, r);
  }

 private:
  std::string_view file_;
  std::vector<std::pair<size_t, MdCtxPtr>> states_;
  std::string file_sha256_;
};

// The digest algorithms a signature may use: SHA-2 family, and SHA-1 only
// where the policy allows it (reported).
const EVP_MD* digest_by_nid(int nid) {
  switch (nid) {
    case NID_sha1:
      return EVP_sha1();
    case NID_sha256:
      return EVP_sha256();
    case NID_sha384:
      return EVP_sha384();
    case NID_sha512:
      return EVP_sha512();
    default:
      return nullptr;
  }
}

std::string digest_name(int nid) {
  const char* sn = OBJ_nid2sn(nid);
  std::string s = sn != nullptr ? sn : "unknown";
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s.rfind("sha", 0) == 0 && s.size() > 3 && s[3] == '-') s.erase(3, 1);
  return s;
}

std::optional<TimePoint> time_point_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return TimePoint(std::chrono::seconds(timegm(&tm)));
}

// A PDF date (ISO 32000 7.9.4, "D:YYYYMMDDHHmmSS+07'00'") as RFC 3339, or
// "" when it is not one. Month to second may be left out; no offset is UTC.
std::string pdf_date_rfc3339(std::string_view m) {
  if (m.substr(0, 2) == "D:") m.remove_prefix(2);
  auto digits = [&](size_t at, size_t n, int dflt) -> std::optional<int> {
    if (m.size() < at + n)
      return at >= 4 && m.size() <= at ? std::optional<int>(dflt) : std::nullopt;
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (m[i] < '0' || m[i] > '9') return std::nullopt;
      v = v * 10 + (m[i] - '0');
    }
    return v;
  };
  const auto year = digits(0, 4, 0), month = digits(4, 2, 1), day = digits(6, 2, 1),
             hour = digits(8, 2, 0), minute = digits(10, 2, 0), second = digits(12, 2, 0);
  if (!year || !month || !day || !hour || !minute || !second || *month < 1 || *month > 12 ||
      *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60)
    return {};
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  std::int64_t t = timegm(&tm);
  const std::string_view rest = m.size() > 14 ? m.substr(14) : std::string_view();
  if (!rest.empty() && (rest[0] == '+' || rest[0] == '-') && rest.size() >= 3) {
    const int sign = rest[0] == '+' ? 1 : -1;
    int oh = 0, om = 0;
    if (rest[1] < '0' || rest[1] > '9' || rest[2] < '0' || rest[2] > '9') return {};
    oh = (rest[1] - '0') * 10 + (rest[2] - '0');
    if (rest.size() >= 6 && rest[3] == '\'' && rest[4] >= '0' && rest[4] <= '9' && rest[5] >= '0' &&
        rest[5] <= '9')
      om = (rest[4] - '0') * 10 + (rest[5] - '0');
    t -= sign * (oh * 3600 + om * 60);
  }
  return format_rfc3339(TimePoint(std::chrono::seconds(t)));
}

// A CMS SignedData read from a /Contents string: DER, then only zero
// padding. `error` names what is wrong when the result is null.
CmsPtr read_cms(std::string_view contents, std::string& error) {
  if (contents.empty()) {
    error = "/Contents is empty: there is no CMS signature";
    return nullptr;
  }
  if (std::all_of(contents.begin(), contents.end(), [](char c) { return c == 0; })) {
    error = "/Contents holds only zero bytes: there is no CMS signature";
    return nullptr;
  }
  const unsigned char* p = bytes_of(contents);
  CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(contents.size())));
  ERR_clear_error();
  if (!cms) {
    error = "/Contents is not a DER-encoded CMS ContentInfo";
    return nullptr;
  }
  const size_t used = static_cast<size_t>(p - bytes_of(contents));
  if (!std::all_of(contents.begin() + used, contents.end(), [](char c) { return c == 0; })) {
    error = "/Contents holds " + std::to_string(contents.size() - used) +
            " bytes after the CMS that are not zero padding";
    return nullptr;
  }
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
    error = "/Contents is a CMS " + std::string(OBJ_nid2sn(OBJ_obj2nid(CMS_get0_type(cms.get())))) +
            ", not SignedData";
    return nullptr;
  }
  const int signers = sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms.get()));
  if (signers != 1) {
    error = "the CMS holds " + std::to_string(signers) + " SignerInfos; exactly one is allowed";
    return nullptr;
  }
  return cms;
}

CMS_SignerInfo* only_signer(CMS_ContentInfo* cms) {
  return sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
}

// The signer certificate among the CMS certificates, and the others.
struct CmsCertificates {
  X509Ptr signer;
  std::vector<X509Ptr> others;
};
CmsCertificates cms_certificates(CMS_ContentInfo* cms, CMS_SignerInfo* si) {
  CmsCertificates out;
  X509StackPtr certs(CMS_get1_certs(cms));
  for (int i = 0; certs && i < sk_X509_num(certs.get()); ++i) {
    X509* c = sk_X509_value(certs.get(), i);
    if (!out.signer && CMS_SignerInfo_cert_cmp(si, c) == 0)
      out.signer = up_ref(c);
    else
      out.others.push_back(up_ref(c));
  }
  return out;
}

// The ESS signing-certificate(-v2) attribute, when present, must name the
// signer certificate first (RFC 5035): this is what stops a signer
// certificate from being swapped for another with the same key.
// Returns "" when fine; `present` says whether any was there.
std::string check_ess(CMS_SignerInfo* si, X509* signer, const std::vector<X509Ptr>& others,
                      bool& present) {
  present = false;
  EssV1Ptr v1;
  EssV2Ptr v2;
  if (auto* s = static_cast<ASN1_STRING*>(CMS_signed_get0_data_by_OBJ(
          si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3, V_ASN1_SEQUENCE))) {
    const unsigned char* p = ASN1_STRING_get0_data(s);
    v2.reset(d2i_ESS_SIGNING_CERT_V2(nullptr, &p, ASN1_STRING_length(s)));
    if (!v2) return "the ESS signing-certificate-v2 attribute cannot be decoded";
    present = true;
  }
  if (auto* s = static_cast<ASN1_STRING*>(CMS_signed_get0_data_by_OBJ(
          si, OBJ_nid2obj(NID_id_smime_aa_signingCertificate), -3, V_ASN1_SEQUENCE))) {
    const unsigned char* p = ASN1_STRING_get0_data(s);
    v1.reset(d2i_ESS_SIGNING_CERT(nullptr, &p, ASN1_STRING_length(s)));
    if (!v1) return "the ESS signing-certificate attribute cannot be decoded";
    present = true;
  }
  if (!present) return {};
  X509StackPtr chain(sk_X509_new_null());
  sk_X509_push(chain.get(), up_ref(signer).release());
  for (const auto& c : others) sk_X509_push(chain.get(), up_ref(c.get()).release());
  const int r = OSSL_ESS_check_signing_certs(v1.get(), v2.get(), chain.get(), 1);
  ERR_clear_error();
  if (r <= 0)
    return "the ESS signing-certificate attribute does not name the certificate that signed";
  return {};
}

// A verified RFC 3161 token (a signature timestamp or a document timestamp).
struct Timestamp {
  TimePoint gen_time{};
  std::string tsa_subject;
  X509Ptr tsa;
  std::vector<X509Ptr> others;
  std::string digest;  // of the imprint
};

// Verifies a TimeStampToken over `imprinted` (the bytes it must stamp, as
// ranges). Returns "" and fills `ts`, or the reason it does not hold.
std::string verify_token(std::string_view token_der, const SignedRanges& imprinted, Timestamp& ts,
                         const PrefixDigests& digests) {
  std::string error;
  CmsPtr token = read_cms(token_der, error);
  if (!token) return "the timestamp token: " + error;
  if (OBJ_obj2nid(CMS_get0_eContentType(token.get())) != NID_id_smime_ct_TSTInfo)
    return "the timestamp token does not hold a TSTInfo";
  ASN1_OCTET_STRING** content = CMS_get0_content(token.get());
  if (content == nullptr || *content == nullptr) return "the timestamp token has no TSTInfo";
  const unsigned char* p = ASN1_STRING_get0_data(*content);
  TstInfoPtr info(d2i_TS_TST_INFO(nullptr, &p, ASN1_STRING_length(*content)));
  if (!info) {
    ERR_clear_error();
    return "the timestamp token's TSTInfo cannot be decoded";
  }
  CMS_SignerInfo* si = only_signer(token.get());
  CmsCertificates certs = cms_certificates(token.get(), si);
  if (!certs.signer) return "the timestamp token does not carry its TSA certificate";
  // Signature and messageDigest over the TSTInfo; the chain is ours to judge.
  X509StackPtr signer_only(sk_X509_new_null());
  sk_X509_push(signer_only.get(), up_ref(certs.signer.get()).release());
  if (CMS_verify(token.get(), signer_only.get(), nullptr, nullptr, nullptr,
                 CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
    ERR_clear_error();
    return "the timestamp token's signature does not verify with its TSA certificate";
  }
  bool ess_present = false;
  if (std::string e = check_ess(si, certs.signer.get(), certs.others, ess_present); !e.empty())
    return "the timestamp token: " + e;
  TS_MSG_IMPRINT* imprint = TS_TST_INFO_get_msg_imprint(info.get());
  const X509_ALGOR* alg = TS_MSG_IMPRINT_get_algo(imprint);
  const ASN1_OBJECT* alg_obj = nullptr;
  X509_ALGOR_get0(&alg_obj, nullptr, nullptr, alg);
  const int nid = OBJ_obj2nid(alg_obj);
  const EVP_MD* md = digest_by_nid(nid);
  if (md == nullptr || nid == NID_sha1)
    return "the timestamp token's imprint uses " + digest_name(nid) + ", not SHA-256 or stronger";
  ts.digest = digest_name(nid);
  ASN1_OCTET_STRING* stamped = TS_MSG_IMPRINT_get_msg(imprint);
  const std::string expect = digests.digest(md, imprinted);
  if (expect.size() != static_cast<size_t>(ASN1_STRING_length(stamped)) ||
      std::memcmp(expect.data(), ASN1_STRING_get0_data(stamped), expect.size()) != 0)
    return "the timestamp token stamps other bytes (its messageImprint does not match)";
  auto gen = time_point_of(TS_TST_INFO_get_time(info.get()));
  if (!gen) return "the timestamp token's genTime cannot be read";
  ts.gen_time = *gen;
  ts.tsa_subject = describe(certs.signer.get()).subject;
  ts.tsa = std::move(certs.signer);
  ts.others = std::move(certs.others);
  return {};
}

// Judges a TSA certificate: timeStamping usage and a chain to the anchors
// at the token's own time. "" when it holds.
std::string judge_tsa(const TrustStore& trust, const Timestamp& ts) {
  if (X509_check_purpose(ts.tsa.get(), X509_PURPOSE_TIMESTAMP_SIGN, 0) != 1) {
    ERR_clear_error();
    return "the TSA certificate '" + ts.tsa_subject +
           "' is not for time-stamping (extendedKeyUsage timeStamping, critical)";
  }
  std::vector<X509*> extra;
  for (const auto& c : ts.others) extra.push_back(c.get());
  ChainResult chain = trust.verify(ts.tsa.get(), extra, ts.gen_time);
  if (!chain.ok())
    return "the TSA certificate '" + ts.tsa_subject + "': " + chain.problems.front().message;
  return {};
}

class SignatureCheck {
 public:
  SignatureCheck(const TrustStore& trust, const PdfVerifyOptions& options, std::string_view file,
                 const PrefixDigests& digests, const pdf::Signature& sig, PdfSignatureReport& r)
      : trust_(trust), options_(options), file_(file), digests_(digests), sig_(sig), r_(r) {}

  void run() {
    r_.field_name = sig_.field_name;
    r_.object = sig_.object;
    r_.sub_filter = sig_.sub_filter;
    r_.covers_whole_file = sig_.covers_whole_file;
    r_.signed_length = sig_.signed_length;
    r_.revision = sig_.revision;
    r_.changes = sig_.changes;
    const bool doc_ts = sig_.sub_filter == "ETSI.RFC3161" || sig_.type == "DocTimeStamp";
    if (doc_ts) r_.kind = "document timestamp";
    r_.checked_at = format_rfc3339(options_.at.value_or(now_seconds()));
    if (!structure()) return finish();
    if (sig_.sub_filter != "adbe.pkcs7.detached" && sig_.sub_filter != "ETSI.CAdES.detached" &&
        sig_.sub_filter != "adbe.pkcs7.sha1" && sig_.sub_filter != "ETSI.RFC3161") {
      r_.add("sub_filter", CheckOutcome::fail,
             "the SubFilter '" + sig_.sub_filter +
                 "' is not one edocgw verifies (adbe.pkcs7.detached, ETSI.CAdES.detached, "
                 "adbe.pkcs7.sha1, ETSI.RFC3161)");
      cannot_verify_ = true;
      return finish();
    }
    r_.add("sub_filter", CheckOutcome::pass, sig_.sub_filter);
    if (doc_ts)
      document_timestamp();
    else
      signature();
    finish();
  }

 private:
  // The pdf/ layer's verdict on the bytes this signature covers and the
  // changes after it. A disallowed change fails the signature but the CMS
  // is still checked, so that the report says who signed what was changed.
  bool structure() {
    if (!sig_.problems.empty()) {
      r_.add("byte_range", CheckOutcome::fail, sig_.problems.front());
      return false;
    }
    const auto& br = sig_.byte_range;
    if (br.size() != 4 || br[1] < 0 || br[2] < br[1] || br[3] < 0 ||
        static_cast<std::uint64_t>(br[2]) + static_cast<std::uint64_t>(br[3]) > file_.size()) {
      r_.add("byte_range", CheckOutcome::fail, "the /ByteRange is not [0 a b c] within the file");
      return false;
    }
    r_.add("byte_range", CheckOutcome::pass,
           "[0 " + std::to_string(br[1]) + " " + std::to_string(br[2]) + " " +
               std::to_string(br[3]) +
               "]: the gap is exactly /Contents and the signed bytes are revision " +
               std::to_string(sig_.revision));
    ranges_.first = file_.substr(0, static_cast<size_t>(br[1]));
    ranges_.second = file_.substr(static_cast<size_t>(br[2]), static_cast<size_t>(br[3]));
    if (!sig_.disallowed_change.empty()) {
      r_.add("changes", CheckOutcome::fail, sig_.disallowed_change);
      return true;
    }
    size_t allowed = 0;
    for (const auto& c : sig_.changes) allowed += c.allowed ? 1 : 0;
    r_.add("changes", CheckOutcome::pass,
           sig_.covers_whole_file
               ? "the signature covers the whole file"
               : std::to_string(allowed) +
                     " change(s) after signing, each one allowed after a signature");
    return true;
  }

  void signature() {
    std::string error;
    CmsPtr cms = read_cms(sig_.contents, error);
    if (!cms) return r_.add("cms", CheckOutcome::fail, error);
    CMS_SignerInfo* si = only_signer(cms.get());
    CmsCertificates certs = cms_certificates(cms.get(), si);
    if (!certs.signer)
      return r_.add("cms", CheckOutcome::fail, "the CMS does not carry the signer certificate");
    X509_ALGOR* dig_alg = nullptr;
    CMS_SignerInfo_get0_algs(si, nullptr, nullptr, &dig_alg, nullptr);
    const ASN1_OBJECT* dig_obj = nullptr;
    X509_ALGOR_get0(&dig_obj, nullptr, nullptr, dig_alg);
    const int nid = OBJ_obj2nid(dig_obj);
    const EVP_MD* md = digest_by_nid(nid);
    r_.digest_algorithm = digest_name(nid);
    if (md == nullptr)
      return r_.add("cms", CheckOutcome::fail,
                    "the digest algorithm " + r_.digest_algorithm + " is not supported");
    const bool sha1 = nid == NID_sha1 || sig_.sub_filter == "adbe.pkcs7.sha1";
    if (sha1 && !options_.policy.sha1_warn)
      return r_.add("algorithm", CheckOutcome::fail,
                    "the signature binds the document by SHA-1 only, which the policy refuses");
    r_.add("algorithm", CheckOutcome::pass, r_.digest_algorithm);
    if (sha1) r_.warnings.push_back("SHA-1 accepted by policy (sha1=\"warn\")");
    r_.signer = describe(certs.signer.get());
    r_.signer_der = certificate_der(certs.signer.get());
    r_.claimed_time = pdf_date_rfc3339(sig_.m);  // a signingTime attribute, read below, wins

    const bool detached = CMS_is_detached(cms.get()) == 1;
    const bool has_signed_attrs = CMS_signed_get_attr_count(si) > 0;
    if (sig_.sub_filter == "adbe.pkcs7.sha1") {
      if (detached)
        return r_.add("cms", CheckOutcome::fail,
                      "adbe.pkcs7.sha1 must encapsulate the SHA-1 digest of the document, but the "
                      "CMS is detached");
      if (!verify_encapsulated(cms.get(), certs.signer.get())) return;
      ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
      const std::string expect = digests_.digest(EVP_sha1(), ranges_);
      if (content == nullptr || *content == nullptr ||
          static_cast<size_t>(ASN1_STRING_length(*content)) != expect.size() ||
          std::memcmp(ASN1_STRING_get0_data(*content), expect.data(), expect.size()) != 0)
        return r_.add("digest", CheckOutcome::fail,
                      "the signed bytes were changed: their SHA-1 digest is not the one signed");
      r_.add("digest", CheckOutcome::pass, "the signed bytes match the signed SHA-1 digest");
    } else {
      if (!detached)
        return r_.add("cms", CheckOutcome::fail,
                      sig_.sub_filter + " must be a detached CMS, but it encapsulates content");
      if (OBJ_obj2nid(CMS_get0_eContentType(cms.get())) != NID_pkcs7_data)
        return r_.add("cms", CheckOutcome::fail, "the CMS content type is not id-data");
      if (has_signed_attrs) {
        if (!check_signed_attributes(si, md)) return;
        CMS_SignerInfo_set1_signer_cert(si, certs.signer.get());
        if (CMS_SignerInfo_verify(si) != 1) {
          ERR_clear_error();
          return r_.add("signature_value", CheckOutcome::fail,
                        "the CMS signature value does not verify with the signer certificate's "
                        "public key");
        }
        r_.add("signature_value", CheckOutcome::pass, "verified with the signer certificate's key");
      } else {
        if (sig_.sub_filter == "ETSI.CAdES.detached")
          return r_.add("signed_attributes", CheckOutcome::fail,
                        "ETSI.CAdES.detached requires signed attributes, and the CMS has none");
        // No signed attributes: the signature is over the content itself.
        std::string content;
        content.reserve(ranges_.first.size() + ranges_.second.size());
        content.append(ranges_.first).append(ranges_.second);
        BioPtr bio(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
        X509StackPtr signer_only(sk_X509_new_null());
        sk_X509_push(signer_only.get(), up_ref(certs.signer.get()).release());
        if (CMS_verify(cms.get(), signer_only.get(), nullptr, bio.get(), nullptr,
                       CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
          ERR_clear_error();
          return r_.add("signature_value", CheckOutcome::fail,
                        "the CMS signature does not verify over the signed bytes (the document or "
                        "the signature was changed)");
        }
        r_.add("digest", CheckOutcome::pass, "the signed bytes match the signature");
        r_.add("signature_value", CheckOutcome::pass,
               "verified with the signer certificate's key (no signed attributes)");
      }
    }
    bool ess_present = false;
    if (std::string e = check_ess(si, certs.signer.get(), certs.others, ess_present); !e.empty())
      return r_.add("signed_attributes", CheckOutcome::fail, e);
    if (!ess_present && sig_.sub_filter == "ETSI.CAdES.detached")
      return r_.add("signed_attributes", CheckOutcome::fail,
                    "ETSI.CAdES.detached requires the ESS signing-certificate-v2 attribute, and "
                    "the CMS has none");
    if (ess_present)
      r_.add("signed_attributes", CheckOutcome::pass,
             "the ESS signing-certificate attribute names the signer certificate");
    else if (has_signed_attrs)
      r_.warnings.push_back(
          "no ESS signing-certificate attribute: the signer certificate is not itself signed");

    // A signature timestamp proves when the signature existed.
    std::optional<TimePoint> proven;
    if (auto* tok = static_cast<ASN1_STRING*>(CMS_unsigned_get0_data_by_OBJ(
            si, OBJ_nid2obj(NID_id_smime_aa_timeStampToken), -3, V_ASN1_SEQUENCE))) {
      ASN1_OCTET_STRING* value = CMS_SignerInfo_get0_signature(si);
      const std::string_view sig_value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                                       static_cast<size_t>(ASN1_STRING_length(value)));
      Timestamp ts;
      const std::string_view der(reinterpret_cast<const char*>(ASN1_STRING_get0_data(tok)),
                                 static_cast<size_t>(ASN1_STRING_length(tok)));
      if (std::string e = verify_token(der, {sig_value, {}}, ts, digests_); !e.empty())
        return r_.add("timestamp", CheckOutcome::fail, "the signature timestamp: " + e);
      if (std::string e = judge_tsa(trust_, ts); !e.empty()) {
        r_.add("timestamp", CheckOutcome::skipped,
               "the signature timestamp verifies but is not trusted: " + e);
        r_.warnings.push_back("the signature timestamp of " + format_rfc3339(ts.gen_time) +
                              " is ignored: " + e);
      } else {
        proven = ts.gen_time;
        r_.timestamp_time = format_rfc3339(ts.gen_time);
        r_.timestamp_authority = ts.tsa_subject;
        r_.add("timestamp", CheckOutcome::pass,
               "a timestamp by '" + ts.tsa_subject + "' proves the signature existed at " +
                   r_.timestamp_time);
      }
    }
    certificates(certs, proven, /*tsa=*/false);
  }

  void document_timestamp() {
    Timestamp ts;
    if (std::string e = verify_token(sig_.contents, ranges_, ts, digests_); !e.empty()) {
      // The token's own failures read as what they mean for the document.
      if (e.find("messageImprint") != std::string::npos)
        return r_.add("digest", CheckOutcome::fail,
                      "the signed bytes were changed: the document timestamp stamps other bytes");
      return r_.add("cms", CheckOutcome::fail, e);
    }
    r_.digest_algorithm = ts.digest;
    r_.add("digest", CheckOutcome::pass, "the timestamp's messageImprint matches the signed bytes");
    r_.add("signature_value", CheckOutcome::pass, "verified with the TSA certificate's key");
    r_.signer = describe(ts.tsa.get());
    r_.signer_der = certificate_der(ts.tsa.get());
    r_.timestamp_time = format_rfc3339(ts.gen_time);
    r_.timestamp_authority = ts.tsa_subject;
    CmsCertificates certs{std::move(ts.tsa), std::move(ts.others)};
    certificates(certs, ts.gen_time, /*tsa=*/true);
  }

  // The messageDigest and contentType signed attributes; the signingTime as
  // claimed. Adds the failing check and returns false on a mismatch.
  bool check_signed_attributes(CMS_SignerInfo* si, const EVP_MD* md) {
    auto* digest = static_cast<ASN1_OCTET_STRING*>(CMS_signed_get0_data_by_OBJ(
        si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3, V_ASN1_OCTET_STRING));
    if (digest == nullptr) {
      r_.add("signed_attributes", CheckOutcome::fail,
             "the signed attributes hold no single messageDigest");
      return false;
    }
    auto* type = static_cast<ASN1_OBJECT*>(
        CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_contentType), -3, V_ASN1_OBJECT));
    if (type == nullptr || OBJ_obj2nid(type) != NID_pkcs7_data) {
      r_.add("signed_attributes", CheckOutcome::fail,
             "the signed contentType attribute is missing or not id-data");
      return false;
    }
    const int at = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    if (at >= 0) {
      ASN1_TYPE* t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, at), 0);
      if (t != nullptr && (t->type == V_ASN1_UTCTIME || t->type == V_ASN1_GENERALIZEDTIME)) {
        if (auto tp = time_point_of(t->value.asn1_string)) r_.claimed_time = format_rfc3339(*tp);
      }
    }
    const std::string expect = digests_.digest(md, ranges_);
    if (expect.size() != static_cast<size_t>(ASN1_STRING_length(digest)) ||
        std::memcmp(expect.data(), ASN1_STRING_get0_data(digest), expect.size()) != 0) {
      r_.add("digest", CheckOutcome::fail,
             "the signed bytes were changed: their " + r_.digest_algorithm +
                 " digest is not the messageDigest the signer signed");
      return false;
    }
    r_.add("digest", CheckOutcome::pass,
           "the signed bytes match the signed messageDigest (" + r_.digest_algorithm + ")");
    return true;
  }

  bool verify_encapsulated(CMS_ContentInfo* cms, X509* signer) {
    X509StackPtr signer_only(sk_X509_new_null());
    sk_X509_push(signer_only.get(), up_ref(signer).release());
    if (CMS_verify(cms, signer_only.get(), nullptr, nullptr, nullptr,
                   CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
      ERR_clear_error();
      r_.add("signature_value", CheckOutcome::fail,
             "the CMS signature does not verify with the signer certificate's public key");
      return false;
    }
    r_.add("signature_value", CheckOutcome::pass, "verified with the signer certificate's key");
    return true;
  }

  // Validity, chain, revocation, key usage and binding of the signer.
  void certificates(const CmsCertificates& certs, std::optional<TimePoint> proven, bool tsa) {
    const TimePoint at = proven.value_or(options_.at.value_or(now_seconds()));
    r_.checked_at = format_rfc3339(at);
    std::vector<X509*> extra;
    for (const auto& c : certs.others) extra.push_back(c.get());
    const RevocationPolicy revocation = options_.policy.revocation.value_or(options_.revocation);
    ChainResult chain =
        trust_.verify(certs.signer.get(), extra, at,
                      crl_source_for(revocation, options_.fetch_crls, options_.revocation_cache));
    for (size_t i = 0; i < chain.chain.size(); ++i) {
      r_.chain.push_back(*chain.chain_info[i]);
      r_.chain_der.push_back(chain.chain_der[i]);
    }
    r_.revocation = chain.revocation;
    const std::string who = tsa ? "the TSA certificate" : "the signer certificate";
    if (const auto* p = chain.first(ChainCheck::validity))
      r_.add("validity", CheckOutcome::fail, (tsa ? "the TSA " : "the signer ") + p->message);
    else
      r_.add("validity", CheckOutcome::pass,
             who + " is valid at " + r_.checked_at + (proven ? " (the proven time)" : ""));
    if (const auto* p = chain.first(ChainCheck::chain))
      r_.add("chain", CheckOutcome::fail, p->message);
    else
      r_.add("chain", CheckOutcome::pass,
             "chains to the trust anchor '" +
                 (chain.chain_info.empty() ? std::string() : chain.chain_info.back()->subject) +
                 "'");
    RevocationInputs inputs;
    inputs.policy = revocation;
    inputs.ocsp = options_.ocsp ? &*options_.ocsp : nullptr;
    inputs.cache = options_.revocation_cache;
    inputs.not_before_revocation = proven;
    RevocationVerdict v = judge_revocation(trust_, chain, inputs);
    for (auto& ev : v.evidence) r_.revocation.push_back(std::move(ev));
    for (auto& w : v.warnings) r_.warnings.push_back(std::move(w));
    r_.add("revocation", v.outcome, std::move(v.detail));
    if (tsa) {
      if (X509_check_purpose(certs.signer.get(), X509_PURPOSE_TIMESTAMP_SIGN, 0) == 1)
        r_.add("key_usage", CheckOutcome::pass, "extendedKeyUsage timeStamping");
      else
        r_.add("key_usage", CheckOutcome::fail,
               "the TSA certificate is not for time-stamping (extendedKeyUsage timeStamping, "
               "critical)");
      ERR_clear_error();
      return;
    }
    if (has_signing_key_usage(certs.signer.get()))
      r_.add("key_usage", CheckOutcome::pass, "digitalSignature or nonRepudiation");
    else
      r_.add("key_usage", CheckOutcome::fail,
             "the signer certificate's key usage does not allow signing (digitalSignature or "
             "nonRepudiation)");
    const SignerBinding b = bind_signer(options_.policy, *r_.signer);
    r_.organ_id = b.organ_id;
    r_.binding = b.how;
  }

  void finish() {
    for (const auto& c : r_.checks) {
      if (c.outcome != CheckOutcome::fail) continue;
      r_.state = cannot_verify_ ? PdfSignatureState::cannot_verify : PdfSignatureState::invalid;
      r_.reason = c.detail;
      return;
    }
    r_.state = PdfSignatureState::valid;
  }

  const TrustStore& trust_;
  const PdfVerifyOptions& options_;
  std::string_view file_;
  const PrefixDigests& digests_;
  const pdf::Signature& sig_;
  PdfSignatureReport& r_;
  SignedRanges ranges_;
  bool cannot_verify_ = false;
};

std::string policy_text(const PdfPolicy& p) {
  std::string s = std::string("require ") + require_name(p.require);
  if (p.require == PdfPolicy::Require::organisation && p.official_required)
    s += ", an official's signature before the organisation's";
  s += p.refuse_cannot_verify ? ", refuse what cannot be verified"
                              : ", report what cannot be verified";
  return s;
}

std::string in_quotes(const std::string& s) {
  return "'" + s + "'";
}

// The Decree 30 policy over the verified signatures. Returns "" when met.
std::string judge_policy(const PdfVerifyOptions& o, const PdfReport& r) {
  const PdfPolicy& p = o.policy.pdf;
  if (p.require == PdfPolicy::Require::none) return {};
  std::vector<const PdfSignatureReport*> sigs;
  for (const auto& s : r.signatures)
    if (s.kind == "signature") sigs.push_back(&s);
  const bool any_valid = std::any_of(
      sigs.begin(), sigs.end(), [](const auto* s) { return s->state == PdfSignatureState::valid; });
  if (p.require == PdfPolicy::Require::any) {
    if (any_valid) return {};
    return "the policy requires a valid signature in " + in_quotes(r.name) + ", and it has " +
           (sigs.empty() ? "none" : "no valid one");
  }
  // organisation: the last signature (document timestamps aside) is the
  // sender organisation's, valid, and nothing but DSS or document
  // timestamps came after it.
  const std::string sender = o.sender_organ_id.empty() ? "the sender" : o.sender_organ_id;
  if (sigs.empty())
    return "the policy requires the signature of " + sender + " in " + in_quotes(r.name) +
           ", and it has no signature";
  const PdfSignatureReport& last = *sigs.back();
  if (last.state != PdfSignatureState::valid || last.organ_id.empty() ||
      last.organ_id != o.sender_organ_id) {
    // Name what the last signature is, and whether the organisation signed earlier.
    const bool earlier = std::any_of(sigs.begin(), sigs.end() - 1, [&](const auto* s) {
      return s->state == PdfSignatureState::valid && !s->organ_id.empty() &&
             s->organ_id == o.sender_organ_id;
    });
    std::string who;
    if (last.state != PdfSignatureState::valid)
      who = "is not valid";
    else if (last.organ_id.empty())
      who = "is by '" + (last.signer ? last.signer->subject : std::string()) +
            "', bound to no agency";
    else
      who = "is by " + last.organ_id;
    return "the policy requires the last signature of " + in_quotes(r.name) + " to be " + sender +
           "'s, and the last one (" + in_quotes(last.field_name) + ") " + who +
           (earlier ? " (" + sender + " signed earlier, and the document was signed again after)"
                    : "");
  }
  if (p.official_required) {
    const bool official =
        sigs.size() >= 2 && std::any_of(sigs.begin(), sigs.end() - 1, [](const auto* s) {
          return s->state == PdfSignatureState::valid;
        });
    if (!official)
      return "the policy requires an official's valid signature before the organisation's in " +
             in_quotes(r.name) + ", and there is none";
  }
  return {};
}

}  // namespace

const char* pdf_signature_state_name(PdfSignatureState s) {
  switch (s) {
    case PdfSignatureState::valid:
      return "valid";
    case PdfSignatureState::invalid:
      return "invalid";
    case PdfSignatureState::cannot_verify:
      return "cannot_verify";
  }
  return "invalid";
}

const char* pdf_state_name(PdfState s) {
  switch (s) {
    case PdfState::verified:
      return "verified";
    case PdfState::unsigned_pdf:
      return "unsigned";
    case PdfState::invalid:
      return "invalid";
    case PdfState::cannot_verify:
      return "cannot_verify";
  }
  return "invalid";
}

const char* require_name(PdfPolicy::Require r) {
  switch (r) {
    case PdfPolicy::Require::none:
      return "none";
    case PdfPolicy::Require::any:
      return "any";
    case PdfPolicy::Require::organisation:
      return "organisation";
  }
  return "none";
}

PdfReport PdfVerifier::verify(std::string_view pdf_bytes, std::string name) const {
  PdfReport r;
  r.name = std::move(name);
  r.size = pdf_bytes.size();
  const PdfPolicy& policy = options_.policy.pdf;
  r.policy = policy_text(policy);

  auto doc = pdf::read_signed_pdf(pdf_bytes);
  std::vector<size_t> cuts;
  if (doc && doc->problem == pdf::FileProblem::none) {
    for (const auto& sig : doc->signatures)
      if (sig.problems.empty() && sig.byte_range.size() == 4)
        cuts.push_back(static_cast<size_t>(sig.byte_range[1]));
  }
  const PrefixDigests digests(pdf_bytes, std::move(cuts));
  r.sha256 = digests.file_sha256();
  if (!doc || doc->problem != pdf::FileProblem::none) {
    r.file_problem = doc ? pdf::file_problem_name(doc->problem) : "internal";
    const std::string detail = doc ? doc->problem_detail : doc.error().message;
    // A file that cannot be read strictly and carries no signature
    // dictionary at all (they cannot hide in compressed object streams:
    // their byte offsets must be in the file) claims nothing.
    const bool claims_signature = pdf_bytes.find("/ByteRange") != std::string_view::npos;
    if (!claims_signature) {
      r.state = PdfState::unsigned_pdf;
      r.warnings.push_back("the PDF cannot be read strictly (" + detail +
                           "); it carries no signature dictionary");
    } else {
      r.state = PdfState::cannot_verify;
      r.reason = "the signatures of " + in_quotes(r.name) + " cannot be verified: " + detail;
    }
  } else {
    r.empty_signature_fields = doc->empty_signature_fields;
    r.unreferenced_signature_dictionaries = doc->unreferenced_signature_dictionaries;
    for (const auto& u : doc->unreferenced_signature_dictionaries)
      r.warnings.push_back("the signature dictionary " + u +
                           " is referenced by no signature field (a reader may show it, edocgw "
                           "does not count it)");
    for (const auto& sig : doc->signatures) {
      PdfSignatureReport sr;
      SignatureCheck(trust_, options_, pdf_bytes, digests, sig, sr).run();
      r.signatures.push_back(std::move(sr));
    }
    const PdfSignatureReport* invalid = nullptr;
    const PdfSignatureReport* unverifiable = nullptr;
    for (const auto& s : r.signatures) {
      if (s.state == PdfSignatureState::invalid && invalid == nullptr) invalid = &s;
      if (s.state == PdfSignatureState::cannot_verify && unverifiable == nullptr) unverifiable = &s;
    }
    if (invalid != nullptr) {
      r.state = PdfState::invalid;
      r.reason = "the " + invalid->kind + " " + in_quotes(invalid->field_name) + " of " +
                 in_quotes(r.name) + " is invalid: " + invalid->reason;
    } else if (unverifiable != nullptr) {
      r.state = PdfState::cannot_verify;
      r.reason = "the " + unverifiable->kind + " " + in_quotes(unverifiable->field_name) + " of " +
                 in_quotes(r.name) + " cannot be verified: " + unverifiable->reason;
    } else {
      r.state = r.signatures.empty() ? PdfState::unsigned_pdf : PdfState::verified;
    }
  }
  if (r.state == PdfState::verified || r.state == PdfState::unsigned_pdf) {
    if (std::string unmet = judge_policy(options_, r); !unmet.empty()) {
      r.state = PdfState::invalid;
      r.reason = std::move(unmet);
    }
  }
  switch (r.state) {
    case PdfState::verified:
    case PdfState::unsigned_pdf:
      r.policy_accepts = true;
      break;
    case PdfState::cannot_verify:
      r.policy_accepts = !policy.refuse_cannot_verify;
      break;
    case PdfState::invalid:
      r.policy_accepts = false;
      break;
  }
  return r;
}

namespace {

nlohmann::json to_json(const pdf::Change& c) {
  return {{"object", c.object}, {"description", c.description}, {"allowed", c.allowed}};
}

nlohmann::json to_json(const PdfSignatureReport& s) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : s.checks) checks.push_back(crypto::to_json(c));
  nlohmann::json chain = nlohmann::json::array();
  for (const auto& c : s.chain) chain.push_back(crypto::to_json(c));
  nlohmann::json chain_der = nlohmann::json::array();
  for (const auto& d : s.chain_der) chain_der.push_back(base64_encode(d));
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : s.changes) changes.push_back(to_json(c));
  nlohmann::json revocation = nlohmann::json::array();
  for (const auto& ev : s.revocation) revocation.push_back(crypto::to_json(ev));
  return {{"field", s.field_name},
          {"object", s.object},
          {"kind", s.kind},
          {"sub_filter", s.sub_filter},
          {"state", pdf_signature_state_name(s.state)},
          {"reason", s.reason},
          {"signer", s.signer ? crypto::to_json(*s.signer) : nlohmann::json()},
          {"signer_der", base64_encode(s.signer_der)},
          {"chain", chain},
          {"chain_der", chain_der},
          {"digest_algorithm", s.digest_algorithm},
          {"claimed_time", s.claimed_time},
          {"timestamp_time", s.timestamp_time},
          {"timestamp_authority", s.timestamp_authority},
          {"checked_at", s.checked_at},
          {"organ_id", s.organ_id},
          {"binding", s.binding},
          {"covers_whole_file", s.covers_whole_file},
          {"signed_length", s.signed_length},
          {"revision", s.revision},
          {"changes_after", changes},
          {"revocation", revocation},
          {"warnings", s.warnings},
          {"checks", checks}};
}

}  // namespace

nlohmann::json to_json(const PdfReport& r) {
  nlohmann::json sigs = nlohmann::json::array();
  for (const auto& s : r.signatures) sigs.push_back(to_json(s));
  nlohmann::json j = {
      {"name", r.name},
      {"sha256", r.sha256},
      {"size", r.size},
      {"state", pdf_state_name(r.state)},
      {"accepted", r.policy_accepts},
      {"reason", r.reason},
      {"file_problem", r.file_problem},
      {"policy", r.policy},
      {"signatures", sigs},
      {"empty_signature_fields", r.empty_signature_fields},
      {"unreferenced_signature_dictionaries", r.unreferenced_signature_dictionaries},
      {"warnings", r.warnings}};
  // Field names, SubFilters and the texts quoting them come from the PDF.
  make_strings_valid(j);
  return j;
}

std::string to_text(const PdfReport& r) {
  std::string out = "pdf " + in_quotes(r.name) + ": " + pdf_state_name(r.state) +
                    (r.policy_accepts ? "" : " (refused)") + "\n";
  if (!r.reason.empty()) out += "  reason: " + r.reason + "\n";
  out += "  sha256: " + r.sha256 + ", " + std::to_string(r.size) + " bytes\n";
  out += "  policy: " + r.policy + "\n";
  if (!r.file_problem.empty()) out += "  file: " + r.file_problem + "\n";
  for (const auto& s : r.signatures) {
    out += "  " + s.kind + " " + in_quotes(s.field_name) + " (" + s.object + ", " + s.sub_filter +
           "): " + pdf_signature_state_name(s.state) + "\n";
    if (!s.reason.empty()) out += "    reason: " + s.reason + "\n";
    if (s.signer) out += "    signer: " + s.signer->subject + "\n";
    if (!s.organ_id.empty()) out += "    agency: " + s.organ_id + " (by " + s.binding + ")\n";
    if (!s.claimed_time.empty()) out += "    claimed time: " + s.claimed_time + "\n";
    if (!s.timestamp_time.empty())
      out += "    timestamp: " + s.timestamp_time + " by " + s.timestamp_authority + "\n";
    out += "    chain judged at: " + s.checked_at + "\n";
    out += "    covers: " +
           (s.covers_whole_file ? std::string("the whole file")
                                : std::to_string(s.signed_length) + " bytes (revision " +
                                      std::to_string(s.revision) + ")") +
           "\n";
    for (const auto& c : s.changes)
      out += std::string("    ") + (c.allowed ? "allowed" : "NOT ALLOWED") +
             " after: " + c.description + "\n";
    for (const auto& c : s.checks)
      out += "    " + std::string(outcome_name(c.outcome)) + " " + c.name + ": " + c.detail + "\n";
    for (const auto& w : s.warnings) out += "    warning: " + w + "\n";
  }
  for (const auto& f : r.empty_signature_fields) out += "  empty signature field: " + f + "\n";
  for (const auto& w : r.warnings) out += "  warning: " + w + "\n";
  return valid_utf8(out);
}

}  // namespace edocgw::crypto
