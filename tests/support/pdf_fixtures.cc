// tests/support/pdf_fixtures.cc: see pdf_fixtures.h. qpdf writes the base
// document and reads what exists; the incremental updates (and so every
// signature) are written here by hand, byte by byte, because the offsets of
// /ByteRange and /Contents must be known and stay put.
#include "tests/support/pdf_fixtures.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
// qpdf 11 warns unless told which PointerHolder API the code uses: none.
#define POINTERHOLDER_TRANSITION 4
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>
#include <qpdf/QPDFWriter.hh>
#include <qpdf/QPDFXRefEntry.hh>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>

namespace edocgw::test::pdf {
namespace {

// ---------------------------------------------------------------- OpenSSL

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Free(p); }
};
void free_x509_stack(STACK_OF(X509) * s) {
  sk_X509_pop_free(s, X509_free);
}
void free_bio(BIO* b) {
  BIO_free_all(b);
}
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, free_bio>>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), free_x509_stack>>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, Deleter<CMS_ContentInfo, CMS_ContentInfo_free>>;
using TsCtxPtr = std::unique_ptr<TS_RESP_CTX, Deleter<TS_RESP_CTX, TS_RESP_CTX_free>>;
using TsReqPtr = std::unique_ptr<TS_REQ, Deleter<TS_REQ, TS_REQ_free>>;
using TsRespPtr = std::unique_ptr<TS_RESP, Deleter<TS_RESP, TS_RESP_free>>;
using TsImprintPtr = std::unique_ptr<TS_MSG_IMPRINT, Deleter<TS_MSG_IMPRINT, TS_MSG_IMPRINT_free>>;
using AlgorPtr = std::unique_ptr<X509_ALGOR, Deleter<X509_ALGOR, X509_ALGOR_free>>;
using ObjPtr = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT, ASN1_OBJECT_free>>;
using TimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME, ASN1_TIME_free>>;
using IntegerPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using EssPtr =
    std::unique_ptr<ESS_SIGNING_CERT_V2, Deleter<ESS_SIGNING_CERT_V2, ESS_SIGNING_CERT_V2_free>>;

[[noreturn]] void fail(const std::string& what) {
  std::string detail;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail += std::string(detail.empty() ? ": " : "; ") + buf;
  }
  throw std::runtime_error("pdf_fixtures: " + what + detail);
}

BioPtr open_file(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) fail("cannot read " + path);
  return bio;
}

X509Ptr load_cert(const std::string& path) {
  BioPtr bio = open_file(path);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) fail("no certificate in " + path);
  return cert;
}

PkeyPtr load_key(const std::string& path) {
  BioPtr bio = open_file(path);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail("no private key in " + path);
  return key;
}

X509StackPtr load_chain(const std::vector<std::string>& paths) {
  X509StackPtr chain(sk_X509_new_null());
  for (const std::string& path : paths) {
    X509Ptr cert = load_cert(path);
    if (!sk_X509_push(chain.get(), cert.get())) fail("sk_X509_push");
    cert.release();
  }
  return chain;
}

const EVP_MD* digest_by_name(const std::string& name) {
  const EVP_MD* md = EVP_get_digestbyname(name.c_str());
  if (!md) fail("unknown digest " + name);
  return md;
}

std::string digest_of(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(data.data(), data.size(), out, &len, md, nullptr)) fail("EVP_Digest");
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string to_hex(const std::string& bytes) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// The genTime the TSA writes, handed to OpenSSL's time callback.
int fixed_time_cb(TS_RESP_CTX*, void* data, long* sec, long* usec) {
  *sec = static_cast<long>(*static_cast<std::time_t*>(data));
  *usec = 0;
  return 1;
}

ASN1_INTEGER* serial_cb(TS_RESP_CTX*, void* data) {
  auto* counter = static_cast<long*>(data);
  ASN1_INTEGER* serial = ASN1_INTEGER_new();
  if (serial) ASN1_INTEGER_set(serial, ++*counter);
  return serial;
}

// An RFC 3161 TimeStampToken (the DER of its PKCS#7 SignedData) over a
// SHA-256 digest, made in-process with OpenSSL's TSA code.
std::string timestamp_token(const Signer& tsa, const std::string& sha256, std::time_t when) {
  X509Ptr cert = load_cert(tsa.cert_pem);
  PkeyPtr key = load_key(tsa.key_pem);
  X509StackPtr chain = load_chain(tsa.chain_pem);
  TsCtxPtr ctx(TS_RESP_CTX_new());
  if (!ctx) fail("TS_RESP_CTX_new");
  if (!TS_RESP_CTX_set_signer_cert(ctx.get(), cert.get()))
    fail("the TSA certificate " + tsa.cert_pem + " is not fit for time-stamping");
  if (!TS_RESP_CTX_set_signer_key(ctx.get(), key.get())) fail("TS_RESP_CTX_set_signer_key");
  if (!TS_RESP_CTX_set_signer_digest(ctx.get(), EVP_sha256())) fail("set_signer_digest");
  if (!TS_RESP_CTX_set_ess_cert_id_digest(ctx.get(), EVP_sha256())) fail("ess_cert_id_digest");
  ObjPtr policy(OBJ_txt2obj("1.2.3.4.1", 1));
  if (!policy || !TS_RESP_CTX_set_def_policy(ctx.get(), policy.get())) fail("set_def_policy");
  if (!TS_RESP_CTX_add_md(ctx.get(), EVP_sha256())) fail("TS_RESP_CTX_add_md");
  if (!TS_RESP_CTX_set_certs(ctx.get(), chain.get())) fail("TS_RESP_CTX_set_certs");
  TS_RESP_CTX_add_flags(ctx.get(), TS_ESS_CERT_ID_CHAIN);
  std::time_t gen_time = when;
  TS_RESP_CTX_set_time_cb(ctx.get(), fixed_time_cb, &gen_time);
  static long serial = 0;
  TS_RESP_CTX_set_serial_cb(ctx.get(), serial_cb, &serial);

  TsReqPtr req(TS_REQ_new());
  TsImprintPtr imprint(TS_MSG_IMPRINT_new());
  AlgorPtr algo(X509_ALGOR_new());
  if (!req || !imprint || !algo) fail("TS request");
  X509_ALGOR_set0(algo.get(), OBJ_nid2obj(NID_sha256), V_ASN1_NULL, nullptr);
  std::string digest = sha256;
  if (!TS_REQ_set_version(req.get(), 1) || !TS_MSG_IMPRINT_set_algo(imprint.get(), algo.get()) ||
      !TS_MSG_IMPRINT_set_msg(imprint.get(), reinterpret_cast<unsigned char*>(digest.data()),
                              static_cast<int>(digest.size())) ||
      !TS_REQ_set_msg_imprint(req.get(), imprint.get()) || !TS_REQ_set_cert_req(req.get(), 1))
    fail("TS request fields");
  BioPtr req_bio(BIO_new(BIO_s_mem()));
  if (!req_bio || !i2d_TS_REQ_bio(req_bio.get(), req.get())) fail("i2d_TS_REQ_bio");
  TsRespPtr resp(TS_RESP_create_response(ctx.get(), req_bio.get()));
  if (!resp) fail("TS_RESP_create_response");
  const ASN1_INTEGER* status = TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp.get()));
  if (ASN1_INTEGER_get(status) != 0) fail("the TSA refused the request");
  PKCS7* token = TS_RESP_get_token(resp.get());
  unsigned char* der = nullptr;
  const int len = i2d_PKCS7(token, &der);
  if (len <= 0) fail("i2d_PKCS7");
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

void add_signing_time(CMS_SignerInfo* si, std::time_t when) {
  TimePtr t(ASN1_TIME_set(nullptr, when));
  if (!t || !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, t->type, t.get(), -1))
    fail("signingTime attribute");
}

void add_ess_signing_certificate_v2(CMS_SignerInfo* si, const EVP_MD* md, X509* cert) {
  EssPtr ess(OSSL_ESS_signing_cert_v2_new_init(md, cert, nullptr, 0));
  if (!ess) fail("OSSL_ESS_signing_cert_v2_new_init");
  unsigned char* der = nullptr;
  const int len = i2d_ESS_SIGNING_CERT_V2(ess.get(), &der);
  if (len <= 0) fail("i2d_ESS_SIGNING_CERT_V2");
  const int ok = CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2,
                                             V_ASN1_SEQUENCE, der, len);
  OPENSSL_free(der);
  if (!ok) fail("signingCertificateV2 attribute");
}

void add_signature_timestamp(CMS_SignerInfo* si, const Signer& tsa, std::time_t when) {
  const ASN1_OCTET_STRING* sig = CMS_SignerInfo_get0_signature(si);
  const std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(sig)),
                          ASN1_STRING_length(sig));
  const std::string token = timestamp_token(tsa, digest_of(EVP_sha256(), value), when);
  if (!CMS_unsigned_add1_attr_by_NID(si, NID_id_smime_aa_timeStampToken, V_ASN1_SEQUENCE,
                                     token.data(), static_cast<int>(token.size())))
    fail("timeStampToken attribute");
}

// The CMS SignedData of a PDF signature over the signed bytes (the two
// ranges, concatenated), DER.
std::string make_cms(const std::string& signed_bytes, const Signer& signer,
                     const SignOptions& options, std::time_t signing_time) {
  X509Ptr cert = load_cert(signer.cert_pem);
  PkeyPtr key = load_key(signer.key_pem);
  X509StackPtr chain = load_chain(signer.chain_pem);
  const EVP_MD* md = digest_by_name(options.digest);

  const bool sha1_style = options.sub_filter == "adbe.pkcs7.sha1";
  // adbe.pkcs7.sha1 encapsulates the SHA-1 digest of the ranges; the others
  // sign the ranges themselves, detached.
  const std::string content = sha1_style ? digest_of(EVP_sha1(), signed_bytes) : signed_bytes;
  unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
  if (!sha1_style) flags |= CMS_DETACHED;
  if (!options.signed_attributes) flags |= CMS_NOATTR;

  CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
  if (!cms) fail("CMS_sign");
  CMS_SignerInfo* si = CMS_add1_signer(cms.get(), cert.get(), key.get(), md, flags);
  if (!si) fail("CMS_add1_signer");
  if (options.signed_attributes) {
    add_signing_time(si, signing_time);
    if (options.ess_signing_certificate_v2) add_ess_signing_certificate_v2(si, md, cert.get());
  }
  for (int i = 0; i < sk_X509_num(chain.get()); ++i)
    if (!CMS_add1_cert(cms.get(), sk_X509_value(chain.get(), i))) fail("CMS_add1_cert");
  BioPtr data(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
  if (!data || !CMS_final(cms.get(), data.get(), nullptr, flags)) fail("CMS_final");
  if (options.timestamp_by)
    add_signature_timestamp(si, *options.timestamp_by,
                            options.timestamp_time.value_or(std::time(nullptr)));
  unsigned char* der = nullptr;
  const int len = i2d_CMS_ContentInfo(cms.get(), &der);
  if (len <= 0) fail("i2d_CMS_ContentInfo");
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

// ------------------------------------------------------------------- qpdf

// A QPDF over a copy of the bytes (qpdf reads the buffer lazily, so the copy
// lives as long as the QPDF).
struct Reader {
  explicit Reader(const std::string& pdf, bool recovery = true) : bytes(pdf) {
    qpdf.setSuppressWarnings(true);
    qpdf.setAttemptRecovery(recovery);
    qpdf.processMemoryFile("fixture.pdf", bytes.data(), bytes.size());
  }
  std::string bytes;
  QPDF qpdf;
};

bool opens_strictly(const std::string& pdf) {
  try {
    Reader reader(pdf, false);
    reader.qpdf.getRoot();
    return !reader.qpdf.anyWarnings();
  } catch (const std::exception&) {
    return false;
  }
}

std::string pdf_string(const std::string& text) {
  std::string out = "(";
  for (char c : text) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += c;
  }
  return out + ")";
}

std::string ref(int objnum) {
  return std::to_string(objnum) + " 0 R";
}

// The dictionary without `drop` keys, as text without its closing ">>", so
// that entries can be appended before closing it again.
std::string open_dict(QPDFObjectHandle dict, const std::vector<std::string>& drop) {
  QPDFObjectHandle copy = dict.shallowCopy();
  for (const std::string& key : drop) copy.removeKey(key);
  std::string text = copy.unparse();
  const size_t end = text.rfind(">>");
  if (end == std::string::npos) throw std::runtime_error("pdf_fixtures: not a dictionary");
  return text.substr(0, end);
}

// The array's items as text plus one more item.
std::string array_plus(QPDFObjectHandle array, const std::string& item) {
  std::string text = "[";
  if (array.isArray())
    for (QPDFObjectHandle element : array.aitems()) text += " " + element.unparse();
  return text + " " + item + " ]";
}

std::string pdf_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "D:%Y%m%d%H%M%S+00'00'", &tm);
  return buf;
}

// Where a dictionary that starts at `pos` ("<<") ends (just after its ">>"),
// skipping strings and comments.
size_t skip_dict(const std::string& s, size_t pos) {
  int depth = 0;
  while (pos < s.size()) {
    const char c = s[pos];
    if (c == '(') {
      int nest = 0;
      for (; pos < s.size(); ++pos) {
        if (s[pos] == '\\') {
          ++pos;
        } else if (s[pos] == '(') {
          ++nest;
        } else if (s[pos] == ')' && --nest == 0) {
          break;
        }
      }
      ++pos;
    } else if (c == '%') {
      pos = s.find_first_of("\r\n", pos);
      if (pos == std::string::npos) break;
    } else if (c == '<' && pos + 1 < s.size() && s[pos + 1] == '<') {
      ++depth;
      pos += 2;
    } else if (c == '>' && pos + 1 < s.size() && s[pos + 1] == '>') {
      pos += 2;
      if (--depth == 0) return pos;
    } else if (c == '<') {
      pos = s.find('>', pos) + 1;
      if (pos == 0) break;
    } else {
      ++pos;
    }
  }
  throw std::runtime_error("pdf_fixtures: unterminated dictionary in an object body");
}

bool has_top_key(const std::string& dict, const std::string& key) {
  for (size_t at = dict.find(key); at != std::string::npos; at = dict.find(key, at + 1)) {
    const size_t after = at + key.size();
    if (after >= dict.size() || !std::isalnum(static_cast<unsigned char>(dict[after]))) return true;
  }
  return false;
}

// A stream body without /Length gets one (the data runs from the EOL after
// "stream" to the EOL before "endstream").
std::string with_length(const std::string& body) {
  const size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string::npos || body.compare(start, 2, "<<") != 0) return body;
  const size_t dict_end = skip_dict(body, start);
  size_t kw = body.find_first_not_of(" \t\r\n", dict_end);
  if (kw == std::string::npos || body.compare(kw, 6, "stream") != 0) return body;
  std::string dict = body.substr(start, dict_end - start);
  if (has_top_key(dict, "/Length")) return body;
  size_t data = kw + 6;
  if (body.compare(data, 2, "\r\n") == 0) {
    data += 2;
  } else if (body[data] == '\n') {
    data += 1;
  } else {
    throw std::runtime_error("pdf_fixtures: 'stream' not followed by an EOL");
  }
  size_t end = body.rfind("endstream");
  if (end == std::string::npos || end < data)
    throw std::runtime_error("pdf_fixtures: stream body without endstream");
  if (end > data && body[end - 1] == '\n') --end;
  if (end > data && body[end - 1] == '\r') --end;
  dict.insert(dict.size() - 2, " /Length " + std::to_string(end - data) + " ");
  return body.substr(0, start) + dict + body.substr(dict_end);
}

int64_t last_startxref(const std::string& pdf) {
  const size_t at = pdf.rfind("startxref");
  if (at == std::string::npos) throw std::runtime_error("pdf_fixtures: no startxref");
  return std::stoll(pdf.substr(at + 9, 32));
}

QPDFObjectHandle find_field(QPDF& qpdf, const std::string& name) {
  QPDFObjectHandle fields = qpdf.getRoot().getKey("/AcroForm").getKey("/Fields");
  if (!fields.isArray()) return QPDFObjectHandle::newNull();
  for (QPDFObjectHandle field : fields.aitems())
    if (field.getKey("/T").isString() && field.getKey("/T").getUTF8Value() == name) return field;
  return QPDFObjectHandle::newNull();
}

}  // namespace

// --------------------------------------------------------------- the base

std::string make_base_pdf(const BaseOptions& options) {
  if (options.pages < 1) throw std::runtime_error("pdf_fixtures: a PDF needs a page");
  QPDF qpdf;
  qpdf.emptyPDF();
  QPDFObjectHandle font = qpdf.makeIndirectObject(QPDFObjectHandle::parse(
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"));
  QPDFObjectHandle image;
  if (options.padding_bytes > 0) {
    // Random gray pixels: deflate cannot shrink them, so the file really
    // grows by about padding_bytes. A fixed seed keeps the output the same.
    const size_t width = 1024;
    const size_t height = (options.padding_bytes + width - 1) / width;
    std::string pixels(width * height, '\0');
    std::mt19937_64 rng(20261130);
    for (size_t i = 0; i < pixels.size(); i += 8) {
      const uint64_t r = rng();
      std::memcpy(&pixels[i], &r, std::min<size_t>(8, pixels.size() - i));
    }
    image = qpdf.makeIndirectObject(QPDFObjectHandle::newStream(&qpdf, pixels));
    image.getDict().replaceKey("/Type", QPDFObjectHandle::newName("/XObject"));
    image.getDict().replaceKey("/Subtype", QPDFObjectHandle::newName("/Image"));
    image.getDict().replaceKey("/Width", QPDFObjectHandle::newInteger(width));
    image.getDict().replaceKey("/Height", QPDFObjectHandle::newInteger(height));
    image.getDict().replaceKey("/ColorSpace", QPDFObjectHandle::newName("/DeviceGray"));
    image.getDict().replaceKey("/BitsPerComponent", QPDFObjectHandle::newInteger(8));
  }
  QPDFPageDocumentHelper pages(qpdf);
  QPDFObjectHandle first_page;
  for (int i = 0; i < options.pages; ++i) {
    std::string content = "BT /F1 14 Tf 72 770 Td " + pdf_string(options.text) + " Tj ET\n";
    content += "BT /F1 10 Tf 72 750 Td " +
               pdf_string("Trang " + std::to_string(i + 1) + "/" + std::to_string(options.pages)) +
               " Tj ET\n";
    QPDFObjectHandle resources = QPDFObjectHandle::newDictionary();
    QPDFObjectHandle fonts = QPDFObjectHandle::newDictionary();
    fonts.replaceKey("/F1", font);
    resources.replaceKey("/Font", fonts);
    if (i == 0 && image.isStream()) {
      QPDFObjectHandle xobjects = QPDFObjectHandle::newDictionary();
      xobjects.replaceKey("/Im1", image);
      resources.replaceKey("/XObject", xobjects);
      content += "q 200 0 0 200 72 450 cm /Im1 Do Q\n";
    }
    QPDFObjectHandle page = QPDFObjectHandle::parse("<< /Type /Page /MediaBox [0 0 595 842] >>");
    page.replaceKey("/Resources", resources);
    page.replaceKey("/Contents",
                    qpdf.makeIndirectObject(QPDFObjectHandle::newStream(&qpdf, content)));
    page = qpdf.makeIndirectObject(page);
    pages.addPage(QPDFPageObjectHelper(page), false);
    if (i == 0) first_page = page;
  }
  if (options.empty_signature_fields > 0) {
    QPDFObjectHandle fields = QPDFObjectHandle::newArray();
    QPDFObjectHandle annots = QPDFObjectHandle::newArray();
    for (int k = 0; k < options.empty_signature_fields; ++k) {
      // Field and widget in one dictionary, as most document systems write them.
      const int x = 72 + k * 180;
      QPDFObjectHandle field = QPDFObjectHandle::parse(
          "<< /FT /Sig /Type /Annot /Subtype /Widget /T (Sig" + std::to_string(k + 1) +
          ") /Rect [" + std::to_string(x) + " 80 " + std::to_string(x + 170) + " 130] /F 4 >>");
      field.replaceKey("/P", first_page);
      field = qpdf.makeIndirectObject(field);
      fields.appendItem(field);
      annots.appendItem(field);
    }
    first_page.replaceKey("/Annots", annots);
    QPDFObjectHandle acroform = QPDFObjectHandle::newDictionary();
    acroform.replaceKey("/Fields", fields);
    qpdf.getRoot().replaceKey("/AcroForm", acroform);
  }

  QPDFWriter writer(qpdf);
  writer.setOutputMemory();
  writer.setStaticID(true);
  writer.setCompressStreams(false);
  writer.setObjectStreamMode(options.object_streams ? qpdf_o_generate : qpdf_o_disable);
  writer.write();
  std::shared_ptr<Buffer> buffer = writer.getBufferSharedPointer();
  return std::string(reinterpret_cast<const char*>(buffer->getBuffer()), buffer->getSize());
}

// ------------------------------------------------------ incremental update

std::string append_update(const std::string& pdf, const Update& update) {
  const int64_t prev = last_startxref(pdf);
  const bool base_was_clean = opens_strictly(pdf);
  Reader reader(pdf);
  QPDFObjectHandle old_trailer = reader.qpdf.getTrailer();

  std::string out = pdf;
  if (out.empty() || (out.back() != '\n' && out.back() != '\r')) out += '\n';
  std::map<int, int64_t> offsets;  // object number -> offset; -1 for freed
  for (const auto& [objnum, body] : update.objects) {
    if (objnum <= 0) throw std::runtime_error("pdf_fixtures: bad object number");
    offsets[objnum] = static_cast<int64_t>(out.size());
    out += std::to_string(objnum) + " 0 obj\n" + with_length(body) + "\nendobj\n";
  }
  for (int objnum : update.freed) {
    if (update.objects.count(objnum))
      throw std::runtime_error("pdf_fixtures: object both written and freed");
    offsets[objnum] = -1;
  }

  int size =
      old_trailer.getKey("/Size").isInteger() ? old_trailer.getKey("/Size").getIntValueAsInt() : 0;
  if (!offsets.empty()) size = std::max(size, offsets.rbegin()->first + 1);

  const int64_t xref_offset = static_cast<int64_t>(out.size());
  out += "xref\n";
  for (auto it = offsets.begin(); it != offsets.end();) {
    auto run_end = it;
    int count = 0;
    while (run_end != offsets.end() && run_end->first == it->first + count) {
      ++run_end;
      ++count;
    }
    out += std::to_string(it->first) + " " + std::to_string(count) + "\n";
    for (; it != run_end; ++it) {
      char entry[32];
      if (it->second < 0) {
        // Free: the next generation to use, linked to the head of the list.
        std::snprintf(entry, sizeof entry, "%010d %05d f\r\n", 0, 1);
      } else {
        std::snprintf(entry, sizeof entry, "%010lld %05d n\r\n", static_cast<long long>(it->second),
                      0);
      }
      out += entry;
    }
  }
  out += "trailer\n<< /Size " + std::to_string(size) + " /Prev " + std::to_string(prev);
  for (const char* key : {"/Root", "/Info", "/ID"}) {
    const std::string k = key;
    if (old_trailer.hasKey(k) && !update.trailer.count(k.substr(1)))
      out += " " + k + " " + old_trailer.getKey(k).unparse();
  }
  for (const auto& [key, value] : update.trailer) {
    if (key == "Size" || key == "Prev")
      throw std::runtime_error("pdf_fixtures: /Size and /Prev are the writer's");
    out += " /" + key + " " + value;
  }
  out += " >>\nstartxref\n" + std::to_string(xref_offset) + "\n%%EOF\n";

  // The writer's own check: when qpdf read the base without repairs, it
  // must read the new section so too. (A base broken on purpose by a test
  // stays broken; that is not the writer's fault.)
  if (base_was_clean && !opens_strictly(out))
    throw std::runtime_error("pdf_fixtures: qpdf cannot read the update without recovery");
  return out;
}

// --------------------------------------------------------------- signing

namespace {

// Fixed width, so that the real values can be written over it in place.
const std::string kByteRangePlaceholder = "[0 0000000000 0000000000 0000000000]";

std::string signature_dictionary(const SignOptions& options, bool doc_timestamp,
                                 std::time_t signing_time) {
  std::string sig = doc_timestamp ? "<< /Type /DocTimeStamp" : "<< /Type /Sig";
  sig += " /Filter /Adobe.PPKLite /SubFilter /" + options.sub_filter;
  sig += " /ByteRange " + kByteRangePlaceholder;
  sig += " /Contents <" + std::string(2 * options.contents_reserve, '0') + ">";
  if (!doc_timestamp) {
    sig += " /M " + pdf_string(pdf_date(signing_time));
    if (!options.name.empty()) sig += " /Name " + pdf_string(options.name);
    if (!options.reason.empty()) sig += " /Reason " + pdf_string(options.reason);
    if (!options.location.empty()) sig += " /Location " + pdf_string(options.location);
  }
  if (options.docmdp_p) {
    sig += " /Reference [ << /Type /SigRef /TransformMethod /DocMDP /TransformParams";
    sig += " << /Type /TransformParams /P " + std::to_string(*options.docmdp_p) + " /V /1.2 >>";
    sig += " >> ]";
  }
  return sig + " >>";
}

std::string appearance_stream(bool doc_timestamp, std::time_t signing_time) {
  return "<< /Type /XObject /Subtype /Form /BBox [0 0 170 50] /Resources << /Font << /F1 << "
         "/Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>\nstream\n"
         "0 0 1 RG 0.5 0.5 169 49 re S BT /F1 8 Tf 4 30 Td " +
         pdf_string(doc_timestamp ? "Document timestamp" : "Digitally signed") + " Tj 0 -12 Td " +
         pdf_string(pdf_date(signing_time)) + " Tj ET\nendstream";
}

// Adds to `update` what makes the signature dictionary `sig_obj` the value
// of the field: the field filled, or a new field with its widget on page 1;
// the AcroForm (its /Fields, /SigFlags 3) and, for a certification, the
// catalog's /Perms. `next` is the next free object number.
void attach_to_field(QPDF& qpdf, const SignOptions& options, int sig_obj, int ap_obj, int next,
                     Update& update) {
  QPDFObjectHandle catalog = qpdf.getRoot();
  QPDFObjectHandle page = qpdf.getAllPages().at(0);
  QPDFObjectHandle acroform = catalog.getKey("/AcroForm");
  const std::string ap_entry = " /AP << /N " + ref(ap_obj) + " >>";
  QPDFObjectHandle existing = find_field(qpdf, options.field_name);
  std::string acroform_text;  // the new AcroForm dictionary, when it changes
  if (existing.isDictionary()) {
    if (!existing.isIndirect())
      throw std::runtime_error("pdf_fixtures: field " + options.field_name + " is direct");
    if (existing.hasKey("/V"))
      throw std::runtime_error("pdf_fixtures: field " + options.field_name + " is signed already");
    const bool merged = existing.getKey("/Subtype").isNameAndEquals("/Widget");
    update.objects[existing.getObjectID()] = open_dict(existing, {"/V", "/AP"}) + " /V " +
                                             ref(sig_obj) + (merged ? ap_entry : "") + " >>";
    // Readers look for /SigFlags on the form once a signature is there.
    if (acroform.getKey("/SigFlags").getIntValueAsInt() != 3)
      acroform_text = open_dict(acroform, {"/SigFlags"}) + " /SigFlags 3 >>";
  } else {
    const int field_obj = next++;
    QPDFObjectHandle fields = acroform.getKey("/Fields");
    const int y = 140 + 60 * (fields.isArray() ? fields.getArrayNItems() : 0);
    update.objects[field_obj] = "<< /FT /Sig /Type /Annot /Subtype /Widget /T " +
                                pdf_string(options.field_name) + " /Rect [72 " + std::to_string(y) +
                                " 242 " + std::to_string(y + 50) + "] /F 132 /P " +
                                ref(page.getObjectID()) + " /V " + ref(sig_obj) + ap_entry + " >>";
    // The widget joins page 1's /Annots (or the array object, when indirect).
    QPDFObjectHandle annots = page.getKey("/Annots");
    if (annots.isIndirect()) {
      update.objects[annots.getObjectID()] = array_plus(annots, ref(field_obj));
    } else {
      update.objects[page.getObjectID()] =
          open_dict(page, {"/Annots"}) + " /Annots " + array_plus(annots, ref(field_obj)) + " >>";
    }
    if (fields.isIndirect()) {
      update.objects[fields.getObjectID()] = array_plus(fields, ref(field_obj));
      acroform_text = open_dict(acroform, {"/SigFlags"}) + " /SigFlags 3 >>";
    } else {
      acroform_text = (acroform.isDictionary() ? open_dict(acroform, {"/Fields", "/SigFlags"})
                                               : std::string("<<")) +
                      " /Fields " + array_plus(fields, ref(field_obj)) + " /SigFlags 3 >>";
    }
  }
  if (!acroform_text.empty() && acroform.isIndirect()) {
    update.objects[acroform.getObjectID()] = acroform_text;
    acroform_text.clear();
  }
  if (acroform_text.empty() && !options.docmdp_p) return;
  // The catalog changes: a direct AcroForm, or the certification's /Perms.
  std::vector<std::string> drop;
  std::string extra;
  if (!acroform_text.empty()) {
    drop.push_back("/AcroForm");
    extra += " /AcroForm " + acroform_text;
  }
  if (options.docmdp_p) {
    drop.push_back("/Perms");
    extra += " /Perms << /DocMDP " + ref(sig_obj) + " >>";
  }
  update.objects[catalog.getObjectID()] = open_dict(catalog, drop) + extra + " >>";
}

// Writes the real /ByteRange over the placeholder of the update that starts
// at `update_start`, then the CMS (or the token) made by `sign` over the
// two ranges into /Contents.
std::string fill_signature(std::string out, size_t update_start, size_t contents_reserve,
                           const std::function<std::string(const std::string&)>& sign) {
  const size_t br = out.rfind(kByteRangePlaceholder);
  if (br == std::string::npos || br < update_start)
    throw std::runtime_error("pdf_fixtures: lost the /ByteRange placeholder");
  const size_t lt = out.find('<', br + kByteRangePlaceholder.size());
  const size_t gt = lt + 1 + 2 * contents_reserve;
  if (gt >= out.size() || out[gt] != '>')
    throw std::runtime_error("pdf_fixtures: lost the /Contents placeholder");
  const size_t after = gt + 1;
  std::string range = "[0 " + std::to_string(lt) + " " + std::to_string(after) + " " +
                      std::to_string(out.size() - after);
  if (range.size() + 1 > kByteRangePlaceholder.size())
    throw std::runtime_error("pdf_fixtures: /ByteRange does not fit its placeholder");
  range += std::string(kByteRangePlaceholder.size() - 1 - range.size(), ' ') + "]";
  out.replace(br, range.size(), range);

  const std::string der = sign(out.substr(0, lt) + out.substr(after));
  const std::string hex = to_hex(der);
  if (hex.size() > 2 * contents_reserve)
    throw std::runtime_error("pdf_fixtures: the CMS (" + std::to_string(der.size()) +
                             " bytes) does not fit contents_reserve");
  out.replace(lt + 1, hex.size(), hex);
  return out;
}

}  // namespace

std::string sign_pdf(const std::string& pdf, const Signer& signer, const SignOptions& options) {
  const bool doc_timestamp = options.sub_filter == "ETSI.RFC3161";
  if (!doc_timestamp && options.sub_filter != "ETSI.CAdES.detached" &&
      options.sub_filter != "adbe.pkcs7.detached" && options.sub_filter != "adbe.pkcs7.sha1")
    throw std::runtime_error("pdf_fixtures: unknown /SubFilter " + options.sub_filter);
  const std::time_t signing_time = options.signing_time.value_or(std::time(nullptr));

  Update update;
  {
    Reader reader(pdf);
    const int size = reader.qpdf.getTrailer().getKey("/Size").getIntValueAsInt();
    const int sig_obj = size, ap_obj = size + 1;
    update.objects[sig_obj] = signature_dictionary(options, doc_timestamp, signing_time);
    update.objects[ap_obj] = appearance_stream(doc_timestamp, signing_time);
    attach_to_field(reader.qpdf, options, sig_obj, ap_obj, size + 2, update);
  }
  return fill_signature(append_update(pdf, update), pdf.size(), options.contents_reserve,
                        [&](const std::string& signed_bytes) {
                          if (doc_timestamp)
                            return timestamp_token(signer, digest_of(EVP_sha256(), signed_bytes),
                                                   options.timestamp_time.value_or(signing_time));
                          return make_cms(signed_bytes, signer, options, signing_time);
                        });
}

// ------------------------------------------------------------ the signers

Signer sample_signer(const std::string& pki_dir, const std::string& name) {
  Signer s;
  s.cert_pem = pki_dir + "/" + name + ".pem";
  s.key_pem = pki_dir + "/" + name + ".key";
  s.chain_pem = {pki_dir + (name.rfind("rogue-", 0) == 0 ? "/rogue-ca.pem" : "/ca.pem")};
  return s;
}

// ---------------------------------------------------------------- reading

int next_object_number(const std::string& pdf) {
  Reader reader(pdf);
  return reader.qpdf.getTrailer().getKey("/Size").getIntValueAsInt();
}

std::string object_text(const std::string& pdf, int objnum) {
  Reader reader(pdf);
  QPDFObjectHandle object = reader.qpdf.getObjectByID(objnum, 0);
  if (object.isNull())
    throw std::runtime_error("pdf_fixtures: no object " + std::to_string(objnum));
  return object.unparseResolved();
}

int page_object(const std::string& pdf, int page_index) {
  Reader reader(pdf);
  return reader.qpdf.getAllPages().at(page_index).getObjectID();
}

int catalog_object(const std::string& pdf) {
  Reader reader(pdf);
  return reader.qpdf.getRoot().getObjectID();
}

int content_object(const std::string& pdf, int page_index) {
  Reader reader(pdf);
  QPDFObjectHandle page = reader.qpdf.getAllPages().at(page_index);
  QPDFObjectHandle contents = page.getKey("/Contents");
  if (contents.isArray()) contents = contents.getArrayItem(0);
  if (!contents.isIndirect()) throw std::runtime_error("pdf_fixtures: no content stream object");
  return contents.getObjectID();
}

SignatureLocation locate_signature(const std::string& pdf, const std::string& field_name) {
  Reader reader(pdf);
  QPDFObjectHandle field = find_field(reader.qpdf, field_name);
  if (!field.isDictionary()) throw std::runtime_error("pdf_fixtures: no field " + field_name);
  QPDFObjectHandle sig = field.getKey("/V");
  if (!sig.isIndirect() || !sig.isDictionary())
    throw std::runtime_error("pdf_fixtures: field " + field_name + " has no signature object");
  SignatureLocation loc;
  loc.object = sig.getObjectID();
  for (QPDFObjectHandle v : sig.getKey("/ByteRange").aitems())
    loc.byte_range.push_back(v.getIntValue());

  const auto xref = reader.qpdf.getXRefTable();
  const auto entry = xref.find(sig.getObjGen());
  if (entry == xref.end() || entry->second.getType() != 1)
    throw std::runtime_error("pdf_fixtures: the signature object is not at a file offset");
  const size_t start = static_cast<size_t>(entry->second.getOffset());
  const size_t end = pdf.find("endobj", start);
  const size_t br = pdf.find("/ByteRange", start);
  const size_t ct = pdf.find("/Contents", start);
  if (end == std::string::npos || br > end || ct > end)
    throw std::runtime_error("pdf_fixtures: /ByteRange or /Contents not in the object");
  loc.byte_range_offset = pdf.find('[', br);
  loc.byte_range_length = pdf.find(']', loc.byte_range_offset) + 1 - loc.byte_range_offset;
  loc.contents_offset = pdf.find('<', ct);
  loc.contents_length = pdf.find('>', loc.contents_offset) + 1 - loc.contents_offset;
  return loc;
}

// ---------------------------------------------------------------- pdfsig

PdfsigResult run_pdfsig(const std::string& pdf_path) {
  PdfsigResult result;
  if (access("/usr/bin/pdfsig", X_OK) != 0) return result;
  std::string quoted = "'";
  for (char c : pdf_path) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  FILE* pipe = popen(("/usr/bin/pdfsig " + quoted + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("pdf_fixtures: cannot run pdfsig");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
  const int status = pclose(pipe);
  result.ran = true;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace edocgw::test::pdf
