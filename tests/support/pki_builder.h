// tests/support/pki_builder.h: certificates and CRLs with any RFC 5280
// extension, made in-process for tests (OpenSSL 3; EC P-256 keys unless an
// RSA key is asked for).
//
// Extensions are given as OpenSSL configuration strings, exactly as in an
// openssl.cnf extension section (x509v3_config(5)): {"certificatePolicies",
// "1.2.3.4"}, {"policyConstraints", "critical,requireExplicitPolicy:0"},
// {"nameConstraints", "critical,permitted;DNS:.example.vn"}. Values that
// name a section ("crlDistributionPoints" = "dp1", "issuingDistributionPoint"
// = "critical,@idp") find it in the spec's `config` text, e.g.
//   "[dp1]\nfullname=URI:http://127.0.0.1:8080/ca.crl\nreasons=keyCompromise\n"
// (OpenSSL reads dirName sections there as ASCII: a name with non-ASCII
// characters will not compare equal to the same name given as a Name.)
//
// Every function throws std::runtime_error (with OpenSSL's error text) when
// OpenSSL refuses: a test that builds a wrong PKI fails at once.
// Stateless apart from the keys and certificates it returns; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "crypto/ossl.h"
#include "util/time.h"

namespace edocgw::test::pki_builder {

// A distinguished name in order, e.g. {{"C", "VN"}, {"O", "Sở Nội vụ"},
// {"CN", "Test CA"}}; values are UTF-8.
using Name = std::vector<std::pair<std::string, std::string>>;
using X509NamePtr = std::unique_ptr<X509_NAME, crypto::OsslDeleter<X509_NAME, X509_NAME_free>>;
X509NamePtr to_x509_name(const Name& name);

crypto::EvpPkeyPtr make_ec_key();  // P-256
crypto::EvpPkeyPtr make_rsa_key(int bits = 2048);

// One extension in openssl.cnf form: name (short or long name) and value.
struct Extension {
  std::string name, value;
};

struct CertSpec {
  Name subject;
  std::uint64_t serial = 0;  // 0: a random 63-bit serial
  TimePoint not_before = now_seconds() - std::chrono::hours(24);
  TimePoint not_after = now_seconds() + std::chrono::hours(24 * 365);
  // Added in order; one with the name of an earlier one replaces it (so
  // {"keyUsage", ...} overrides the default of ca_spec() or leaf_spec()).
  std::vector<Extension> extensions;
  std::string config;          // openssl.cnf sections the extension values refer to
  bool subject_key_id = true;  // subjectKeyIdentifier = hash
  bool authority_key_id =
      true;  // authorityKeyIdentifier = keyid of the issuer (not for self-signed)
};

// A CA: basicConstraints critical CA:TRUE, keyUsage critical keyCertSign,cRLSign.
CertSpec ca_spec(Name subject);
// An end entity: keyUsage critical digitalSignature,nonRepudiation.
CertSpec leaf_spec(Name subject);

// The certificate of `subject_key` described by `spec`, signed by
// `issuer_key` under the name of `issuer` (its subject; its subject key
// identifier for the authorityKeyIdentifier). issuer == nullptr: self-issued
// under spec.subject (self-signed when issuer_key is subject_key; a key
// rollover link when it is another key of the same name).
crypto::X509Ptr issue(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                      EVP_PKEY* issuer_key);

// A certificate with its private key.
struct Issued {
  crypto::X509Ptr cert;
  crypto::EvpPkeyPtr key;
  X509* x509() const { return cert.get(); }
};
// A fresh EC key and its certificate; issuer == nullptr: self-signed.
Issued make(const CertSpec& spec, const Issued* issuer);

std::uint64_t serial_of(X509* cert);

struct RevokedEntry {
  std::uint64_t serial = 0;
  TimePoint revoked_at = now_seconds() - std::chrono::hours(1);
  int reason = -1;  // CRL_REASON_* (openssl/x509v3.h); -1: no reasonCode extension
  // Indirect CRLs: a certificateIssuer entry extension (critical,
  // directoryName) naming the issuer of this and the following entries.
  Name certificate_issuer;
};

struct CrlSpec {
  TimePoint this_update = now_seconds() - std::chrono::hours(1);
  TimePoint next_update = now_seconds() + std::chrono::hours(24 * 7);
  bool has_next_update = true;
  std::int64_t number = -1;      // cRLNumber; -1: none
  std::int64_t delta_base = -1;  // deltaCRLIndicator (the base CRL's number); -1: a base CRL
  std::vector<RevokedEntry> revoked;
  // e.g. {"issuingDistributionPoint", "critical,@idp"} with config
  // "[idp]\nfullname=URI:http://x/ca.crl\nindirectCRL=TRUE\nonlysomereasons=keyCompromise\n"
  std::vector<Extension> extensions;
  std::string config;
  bool authority_key_id = true;  // keyid of `issuer`'s subjectKeyIdentifier
};

// A CRL issued under `issuer`'s subject name, signed by `key` (which need
// not be `issuer`'s own: a CRL with a forged or unrelated signature).
crypto::X509CrlPtr make_crl(const CrlSpec& spec, X509* issuer, EVP_PKEY* key);
inline crypto::X509CrlPtr make_crl(const CrlSpec& spec, const Issued& issuer) {
  return make_crl(spec, issuer.cert.get(), issuer.key.get());
}

// Encodings, and the same written to a file (parent folders must exist).
std::string pem(X509* cert);
std::string der(X509* cert);
std::string pem(X509_CRL* crl);
std::string der(X509_CRL* crl);
std::string private_key_pem(EVP_PKEY* key);  // unencrypted PKCS#8
void write_file(const std::filesystem::path& path, const std::string& bytes);

}  // namespace edocgw::test::pki_builder
