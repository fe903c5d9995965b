#include "tests/support/pki_builder.h"

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <stdexcept>

namespace edocgw::test::pki_builder {
namespace {

using crypto::BioPtr;
using crypto::EvpPkeyPtr;
using crypto::X509CrlPtr;
using crypto::X509Ptr;
using ConfPtr = std::unique_ptr<CONF, crypto::OsslDeleter<CONF, NCONF_free>>;
using Asn1IntegerPtr =
    std::unique_ptr<ASN1_INTEGER, crypto::OsslDeleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Asn1OctetPtr =
    std::unique_ptr<ASN1_OCTET_STRING,
                    crypto::OsslDeleter<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>>;

[[noreturn]] void fail(const std::string& what) {
  std::string detail;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail += std::string(detail.empty() ? "" : "; ") + buf;
  }
  throw std::runtime_error("pki_builder: " + what + (detail.empty() ? "" : ": " + detail));
}

void check(int rc, const std::string& what) {
  if (rc <= 0) fail(what);
}

time_t to_time_t(TimePoint t) {
  return std::chrono::system_clock::to_time_t(t);
}

Asn1IntegerPtr asn1_integer(std::uint64_t v) {
  Asn1IntegerPtr out(ASN1_INTEGER_new());
  check(ASN1_INTEGER_set_uint64(out.get(), v), "ASN1_INTEGER_set_uint64");
  return out;
}

// The SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1).
Asn1OctetPtr key_id(EVP_PKEY* key) {
  X509_PUBKEY* pub = nullptr;
  check(X509_PUBKEY_set(&pub, key), "X509_PUBKEY_set");
  const unsigned char* bits = nullptr;
  int len = 0;
  X509_PUBKEY_get0_param(nullptr, &bits, &len, nullptr, pub);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  const int ok = EVP_Digest(bits, static_cast<size_t>(len), md, &md_len, EVP_sha1(), nullptr);
  X509_PUBKEY_free(pub);
  check(ok, "EVP_Digest");
  Asn1OctetPtr out(ASN1_OCTET_STRING_new());
  check(ASN1_OCTET_STRING_set(out.get(), md, static_cast<int>(md_len)), "ASN1_OCTET_STRING_set");
  return out;
}

Asn1OctetPtr copy_of(const ASN1_OCTET_STRING* s) {
  return Asn1OctetPtr(ASN1_OCTET_STRING_dup(s));
}

// authorityKeyIdentifier with the key identifier only.
AUTHORITY_KEYID* make_aki(Asn1OctetPtr keyid) {
  AUTHORITY_KEYID* aki = AUTHORITY_KEYID_new();
  aki->keyid = keyid.release();
  return aki;
}

ConfPtr load_config(const std::string& text) {
  ConfPtr conf(NCONF_new(nullptr));
  if (text.empty()) return conf;
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  long line = 0;
  if (NCONF_load_bio(conf.get(), bio.get(), &line) <= 0) {
    fail("config text, line " + std::to_string(line));
  }
  return conf;
}

X509_EXTENSION* make_extension(CONF* conf, X509V3_CTX* ctx, const Extension& e) {
  X509_EXTENSION* ext = X509V3_EXT_nconf(conf, ctx, e.name.c_str(), e.value.c_str());
  if (ext == nullptr) fail("extension " + e.name + " = " + e.value);
  return ext;
}

// Re-reading the DER makes OpenSSL fill the caches it fills on decoding
// only (a CRL's certificateIssuer entries, issuingDistributionPoint flags).
X509Ptr reparsed(X509* cert) {
  const std::string bytes = der(cert);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  X509Ptr out(d2i_X509(nullptr, &p, static_cast<long>(bytes.size())));
  if (!out) fail("d2i_X509");
  return out;
}

X509CrlPtr reparsed(X509_CRL* crl) {
  const std::string bytes = der(crl);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  X509CrlPtr out(d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes.size())));
  if (!out) fail("d2i_X509_CRL");
  return out;
}

template <class T, int (*I2d)(const T*, unsigned char**)>
std::string to_der(T* obj) {
  unsigned char* out = nullptr;
  const int len = I2d(obj, &out);
  if (len <= 0) fail("DER encoding");
  std::string bytes(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return bytes;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

X509NamePtr to_x509_name(const Name& name) {
  X509NamePtr out(X509_NAME_new());
  for (const auto& [field, value] : name) {
    check(X509_NAME_add_entry_by_txt(out.get(), field.c_str(), MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                     0),
          "name field " + field);
  }
  return out;
}

EvpPkeyPtr make_ec_key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("EC key generation");
  return key;
}

EvpPkeyPtr make_rsa_key(int bits) {
  EvpPkeyPtr key(EVP_RSA_gen(static_cast<unsigned int>(bits)));
  if (!key) fail("RSA key generation");
  return key;
}

CertSpec ca_spec(Name subject) {
  CertSpec spec;
  spec.subject = std::move(subject);
  spec.extensions = {{"basicConstraints", "critical,CA:TRUE"},
                     {"keyUsage", "critical,keyCertSign,cRLSign"}};
  return spec;
}

CertSpec leaf_spec(Name subject) {
  CertSpec spec;
  spec.subject = std::move(subject);
  spec.extensions = {{"keyUsage", "critical,digitalSignature,nonRepudiation"}};
  return spec;
}

X509Ptr issue(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  check(X509_set_version(cert.get(), 2), "X509_set_version");
  std::uint64_t serial = spec.serial;
  while (serial == 0) {
    check(RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial), "RAND_bytes");
    serial &= 0x7fffffffffffffffull;
  }
  check(X509_set_serialNumber(cert.get(), asn1_integer(serial).get()), "serial");
  check(ASN1_TIME_set(X509_getm_notBefore(cert.get()), to_time_t(spec.not_before)) != nullptr,
        "notBefore");
  check(ASN1_TIME_set(X509_getm_notAfter(cert.get()), to_time_t(spec.not_after)) != nullptr,
        "notAfter");
  const X509NamePtr subject = to_x509_name(spec.subject);
  check(X509_set_subject_name(cert.get(), subject.get()), "subject");
  check(X509_set_issuer_name(cert.get(),
                             issuer != nullptr ? X509_get_subject_name(issuer) : subject.get()),
        "issuer");
  check(X509_set_pubkey(cert.get(), subject_key), "public key");

  if (spec.subject_key_id) {
    check(X509_add1_ext_i2d(cert.get(), NID_subject_key_identifier, key_id(subject_key).get(), 0,
                            X509V3_ADD_REPLACE),
          "subjectKeyIdentifier");
  }
  const bool self_signed = issuer == nullptr && issuer_key == subject_key;
  if (spec.authority_key_id && !self_signed) {
    const ASN1_OCTET_STRING* issuer_ski =
        issuer != nullptr ? X509_get0_subject_key_id(issuer) : nullptr;
    AUTHORITY_KEYID* aki =
        make_aki(issuer_ski != nullptr ? copy_of(issuer_ski) : key_id(issuer_key));
    const int rc =
        X509_add1_ext_i2d(cert.get(), NID_authority_key_identifier, aki, 0, X509V3_ADD_REPLACE);
    AUTHORITY_KEYID_free(aki);
    check(rc, "authorityKeyIdentifier");
  }

  ConfPtr conf = load_config(spec.config);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  X509V3_set_nconf(&ctx, conf.get());
  for (const auto& e : spec.extensions) {
    X509_EXTENSION* ext = make_extension(conf.get(), &ctx, e);
    const int at = X509_get_ext_by_OBJ(cert.get(), X509_EXTENSION_get_object(ext), -1);
    if (at >= 0) X509_EXTENSION_free(X509_delete_ext(cert.get(), at));
    const int rc = X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
    check(rc, "adding " + e.name);
  }
  check(X509_sign(cert.get(), issuer_key, EVP_sha256()), "X509_sign");
  return reparsed(cert.get());
}

Issued make(const CertSpec& spec, const Issued* issuer) {
  Issued out;
  out.key = make_ec_key();
  out.cert = issuer != nullptr ? issue(spec, out.key.get(), issuer->cert.get(), issuer->key.get())
                               : issue(spec, out.key.get(), nullptr, out.key.get());
  return out;
}

std::uint64_t serial_of(X509* cert) {
  std::uint64_t v = 0;
  check(ASN1_INTEGER_get_uint64(&v, X509_get0_serialNumber(cert)), "serial does not fit 64 bits");
  return v;
}

X509CrlPtr make_crl(const CrlSpec& spec, X509* issuer, EVP_PKEY* key) {
  X509CrlPtr crl(X509_CRL_new());
  check(X509_CRL_set_version(crl.get(), 1), "X509_CRL_set_version");
  check(X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer)), "CRL issuer");
  auto set_time = [&](int (*setter)(X509_CRL*, const ASN1_TIME*), TimePoint t, const char* what) {
    ASN1_TIME* at = ASN1_TIME_set(nullptr, to_time_t(t));
    const int rc = setter(crl.get(), at);
    ASN1_TIME_free(at);
    check(rc, what);
  };
  set_time(X509_CRL_set1_lastUpdate, spec.this_update, "thisUpdate");
  if (spec.has_next_update) set_time(X509_CRL_set1_nextUpdate, spec.next_update, "nextUpdate");

  for (const auto& entry : spec.revoked) {
    X509_REVOKED* rev = X509_REVOKED_new();
    check(X509_REVOKED_set_serialNumber(rev, asn1_integer(entry.serial).get()), "entry serial");
    ASN1_TIME* when = ASN1_TIME_set(nullptr, to_time_t(entry.revoked_at));
    check(X509_REVOKED_set_revocationDate(rev, when), "revocationDate");
    ASN1_TIME_free(when);
    if (entry.reason >= 0) {
      ASN1_ENUMERATED* reason = ASN1_ENUMERATED_new();
      ASN1_ENUMERATED_set(reason, entry.reason);
      const int rc = X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0);
      ASN1_ENUMERATED_free(reason);
      check(rc, "reasonCode");
    }
    if (!entry.certificate_issuer.empty()) {
      GENERAL_NAMES* names = GENERAL_NAMES_new();
      GENERAL_NAME* gn = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(gn, GEN_DIRNAME, to_x509_name(entry.certificate_issuer).release());
      sk_GENERAL_NAME_push(names, gn);
      const int rc = X509_REVOKED_add1_ext_i2d(rev, NID_certificate_issuer, names, 1, 0);
      GENERAL_NAMES_free(names);
      check(rc, "certificateIssuer");
    }
    check(X509_CRL_add0_revoked(crl.get(), rev), "X509_CRL_add0_revoked");
  }

  if (spec.number >= 0) {
    check(X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number,
                                asn1_integer(static_cast<std::uint64_t>(spec.number)).get(), 0, 0),
          "cRLNumber");
  }
  if (spec.delta_base >= 0) {
    check(X509_CRL_add1_ext_i2d(crl.get(), NID_delta_crl,
                                asn1_integer(static_cast<std::uint64_t>(spec.delta_base)).get(), 1,
                                0),
          "deltaCRLIndicator");
  }
  if (spec.authority_key_id) {
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(issuer);
    AUTHORITY_KEYID* aki = make_aki(ski != nullptr ? copy_of(ski) : key_id(key));
    const int rc = X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, aki, 0, 0);
    AUTHORITY_KEYID_free(aki);
    check(rc, "authorityKeyIdentifier");
  }
  ConfPtr conf = load_config(spec.config);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, nullptr, nullptr, crl.get(), 0);
  X509V3_set_nconf(&ctx, conf.get());
  for (const auto& e : spec.extensions) {
    X509_EXTENSION* ext = make_extension(conf.get(), &ctx, e);
    const int at = X509_CRL_get_ext_by_OBJ(crl.get(), X509_EXTENSION_get_object(ext), -1);
    if (at >= 0) X509_EXTENSION_free(X509_CRL_delete_ext(crl.get(), at));
    const int rc = X509_CRL_add_ext(crl.get(), ext, -1);
    X509_EXTENSION_free(ext);
    check(rc, "adding " + e.name);
  }
  check(X509_CRL_sign(crl.get(), key, EVP_sha256()), "X509_CRL_sign");
  return reparsed(crl.get());
}

std::string pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  return bio_text(bio.get());
}

std::string der(X509* cert) {
  return to_der<X509, i2d_X509>(cert);
}

std::string pem(X509_CRL* crl) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509_CRL(bio.get(), crl), "PEM_write_bio_X509_CRL");
  return bio_text(bio.get());
}

std::string der(X509_CRL* crl) {
  return to_der<X509_CRL, i2d_X509_CRL>(crl);
}

std::string private_key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("pki_builder: cannot write " + path.string());
}

}  // namespace edocgw::test::pki_builder
