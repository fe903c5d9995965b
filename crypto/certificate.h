// crypto/certificate.h: reading certificates and CRLs, and the facts about a
// certificate that reports and checks need (subject, agency code, serial,
// fingerprint, validity, key usage).
//
// Stateless functions; thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/ossl.h"
#include "util/result.h"
#include "util/time.h"

namespace edocgw::crypto {

// All certificates of a PEM file (one or many), or a single DER certificate.
Result<std::vector<X509Ptr>> load_certificates(const std::filesystem::path& path);
Result<std::vector<X509Ptr>> parse_certificates(std::string_view bytes, const std::string& origin);
// All CRLs of a PEM file (one or many), or a single DER CRL.
Result<std::vector<X509CrlPtr>> load_crls(const std::filesystem::path& path);

Result<X509Ptr> certificate_from_der(std::string_view der);
std::string certificate_der(X509* cert);

struct CertificateInfo {
  std::string subject;  // RFC 2253 order, UTF-8
  std::string issuer;
  std::string organ_id;            // subject UID (agency code), "" when absent
  std::string serial;              // upper-case hex
  std::string sha256_fingerprint;  // lower-case hex of the DER
  TimePoint not_before{}, not_after{};
  std::string key_type;  // "RSA-2048", "EC-P-256", ...
};

CertificateInfo describe(X509* cert);
// A distinguished name as describe() writes it: RFC 2253 order, UTF-8.
std::string name_text(const X509_NAME* name);

// A certificate read from DER together with its description, shared by
// every caller that brings the same bytes: signers send the same few
// certificates with every package, and parsing one (OpenSSL 3 decodes the
// key through its provider decoders) cost a third of a 10 KB package's
// verification. A process-wide cache keyed by the DER bytes themselves
// (never by a digest that could collide), bounded to
// certificate_cache_capacity() entries, the oldest dropped first.
// Thread-safe; the X509 objects are never modified after parsing.
struct SharedCertificate {
  X509Ptr cert;  // a reference of the caller's own
  std::shared_ptr<const CertificateInfo> info;
};
Result<SharedCertificate> shared_certificate_from_der(std::string_view der);
// 0 turns the cache off (benchmarks measure the cold path with it); the
// default is 512 certificates (about 3 MB).
void set_certificate_cache_capacity(size_t entries);
size_t certificate_cache_capacity();

// Whether `signature` (SHA-256; RSA PKCS#1 v1.5 or ECDSA DER) over `data`
// verifies with the certificate's public key.
bool verify_bytes(X509* cert, std::string_view data, std::string_view signature);
nlohmann::json to_json(const CertificateInfo& info);

// Whether the keyUsage extension is present and allows digitalSignature or
// nonRepudiation (contentCommitment): what signing an official package needs.
bool has_signing_key_usage(X509* cert);

// "not yet valid", "expired" or nullopt when `at` lies in the validity period.
std::optional<std::string> validity_problem(X509* cert, TimePoint at);

}  // namespace edocgw::crypto
