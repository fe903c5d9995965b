#include "crypto/certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "util/bytes.h"

namespace edocgw::crypto {

std::string last_openssl_error() {
  const unsigned long code = ERR_peek_last_error();
  std::string out;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out.empty() ? "unknown OpenSSL error" : out;
}

namespace {

BioPtr memory_bio(std::string_view bytes) {
  return BioPtr(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

bool looks_like_pem(std::string_view bytes) {
  return bytes.find("-----BEGIN") != std::string_view::npos;
}

TimePoint asn1_time_point(const ASN1_TIME* t) {
  struct tm tm {};
  ASN1_TIME_to_tm(t, &tm);
  return TimePoint(std::chrono::seconds(timegm(&tm)));
}

}  // namespace

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0,
                     (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<std::vector<X509Ptr>> parse_certificates(std::string_view bytes, const std::string& origin) {
  std::vector<X509Ptr> certs;
  ERR_clear_error();
  if (looks_like_pem(bytes)) {
    BioPtr bio = memory_bio(bytes);
    while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(c);
    ERR_clear_error();  // the end of the file reads as an error
  } else if (auto der = certificate_from_der(bytes); der) {
    certs.push_back(std::move(*der));
  }
  if (certs.empty()) {
    return make_error(Errc::malformed, origin + " holds no certificate (PEM or DER)");
  }
  return certs;
}

Result<std::vector<X509Ptr>> load_certificates(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  auto certs = parse_certificates(*bytes, path.string());
  if (!certs) return make_error(Errc::io, certs.error().message);
  return certs;
}

Result<std::vector<X509CrlPtr>> load_crls(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  std::vector<X509CrlPtr> crls;
  BioPtr bio = memory_bio(*bytes);
  if (looks_like_pem(*bytes)) {
    while (X509_CRL* c = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr))
      crls.emplace_back(c);
  } else if (X509_CRL* c = d2i_X509_CRL_bio(bio.get(), nullptr)) {
    crls.emplace_back(c);
  }
  ERR_clear_error();
  if (crls.empty()) return make_error(Errc::io, path.string() + " holds no CRL (PEM or DER)");
  return crls;
}

Result<X509Ptr> certificate_from_der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (cert == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    X509_free(cert);
    ERR_clear_error();
    return make_error(Errc::malformed, "bytes are not one DER certificate");
  }
  return X509Ptr(cert);
}

namespace {

struct CertificateCache {
  std::mutex mutex;
  size_t capacity = 512;
  std::unordered_map<std::string, SharedCertificate> by_der;
  std::deque<std::string> order;  // oldest first
};

CertificateCache& certificate_cache() {
  static CertificateCache cache;
  return cache;
}

SharedCertificate share(const SharedCertificate& c) {
  return {up_ref(c.cert.get()), c.info};
}

}  // namespace

Result<SharedCertificate> shared_certificate_from_der(std::string_view der) {
  CertificateCache& cache = certificate_cache();
  const std::string key(der);
  {
    std::lock_guard lock(cache.mutex);
    if (auto it = cache.by_der.find(key); it != cache.by_der.end()) return share(it->second);
  }
  auto cert = certificate_from_der(der);
  if (!cert) return cert.error();
  SharedCertificate parsed{std::move(*cert), nullptr};
  parsed.info = std::make_shared<const CertificateInfo>(describe(parsed.cert.get()));
  std::lock_guard lock(cache.mutex);
  if (cache.capacity == 0) return parsed;
  // Another thread may have parsed the same bytes meanwhile: keep one.
  auto [it, inserted] = cache.by_der.try_emplace(key, share(parsed));
  if (!inserted) return share(it->second);
  cache.order.push_back(key);
  while (cache.by_der.size() > cache.capacity) {
    cache.by_der.erase(cache.order.front());
    cache.order.pop_front();
  }
  return parsed;
}

void set_certificate_cache_capacity(size_t entries) {
  CertificateCache& cache = certificate_cache();
  std::lock_guard lock(cache.mutex);
  cache.capacity = entries;
  while (cache.by_der.size() > cache.capacity) {
    cache.by_der.erase(cache.order.front());
    cache.order.pop_front();
  }
}

size_t certificate_cache_capacity() {
  CertificateCache& cache = certificate_cache();
  std::lock_guard lock(cache.mutex);
  return cache.capacity;
}

std::string certificate_der(X509* cert) {
  unsigned char* buf = nullptr;
  const int len = i2d_X509(cert, &buf);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

CertificateInfo describe(X509* cert) {
  CertificateInfo info;
  info.subject = name_text(X509_get_subject_name(cert));
  info.issuer = name_text(X509_get_issuer_name(cert));
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int idx = X509_NAME_get_index_by_NID(subject, NID_userId, -1);
  if (idx >= 0) {
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, value);
    if (len >= 0) {
      info.organ_id.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
      OPENSSL_free(utf8);
    }
  }
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (bn != nullptr) {
    char* hex = BN_bn2hex(bn);
    info.serial = hex;
    OPENSSL_free(hex);
    BN_free(bn);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  X509_digest(cert, EVP_sha256(), md, &md_len);
  info.sha256_fingerprint = to_hex(std::string_view(reinterpret_cast<char*>(md), md_len));
  info.not_before = asn1_time_point(X509_get0_notBefore(cert));
  info.not_after = asn1_time_point(X509_get0_notAfter(cert));
  if (const EVP_PKEY* key = X509_get0_pubkey(cert)) {
    if (EVP_PKEY_is_a(key, "RSA")) {
      info.key_type = "RSA-" + std::to_string(EVP_PKEY_get_bits(key));
    } else if (EVP_PKEY_is_a(key, "EC")) {
      char group[64] = {0};
      size_t len = 0;
      EVP_PKEY_get_group_name(key, group, sizeof group, &len);
      info.key_type = std::string("EC-") + group;
    } else {
      info.key_type = EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown";
    }
  }
  return info;
}

nlohmann::json to_json(const CertificateInfo& info) {
  nlohmann::json j = {{"subject", info.subject},
                      {"issuer", info.issuer},
                      {"serial", info.serial},
                      {"sha256_fingerprint", info.sha256_fingerprint},
                      {"not_before", format_rfc3339(info.not_before)},
                      {"not_after", format_rfc3339(info.not_after)},
                      {"key_type", info.key_type}};
  j["organ_id"] = info.organ_id.empty() ? nlohmann::json() : nlohmann::json(info.organ_id);
  return j;
}

bool has_signing_key_usage(X509* cert) {
  if ((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) == 0) return false;
  return (X509_get_key_usage(cert) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) != 0;
}

std::optional<std::string> validity_problem(X509* cert, TimePoint at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  if (X509_cmp_time(X509_get0_notBefore(cert), const_cast<std::time_t*>(&t)) > 0) {
    return "not yet valid";
  }
  if (X509_cmp_time(X509_get0_notAfter(cert), const_cast<std::time_t*>(&t)) < 0) return "expired";
  return std::nullopt;
}

bool verify_bytes(X509* cert, std::string_view data, std::string_view signature) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      key != nullptr && ctx != nullptr &&
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

}  // namespace edocgw::crypto
