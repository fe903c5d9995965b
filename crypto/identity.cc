#include "crypto/identity.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstdlib>

#include "crypto/certificate.h"
#include "util/bytes.h"

namespace edocgw::crypto {
namespace {

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

int pem_password(char* buf, int size, int, void* user) {
  const auto* pass = static_cast<const std::string*>(user);
  if (pass == nullptr || static_cast<int>(pass->size()) > size) return -1;
  std::memcpy(buf, pass->data(), pass->size());
  return static_cast<int>(pass->size());
}

}  // namespace

Result<std::string> resolve_secret(const std::string& spec) {
  if (spec.rfind("env:", 0) == 0) {
    const char* value = std::getenv(spec.substr(4).c_str());
    if (value == nullptr) {
      return make_error(Errc::usage, "environment variable " + spec.substr(4) + " is not set");
    }
    return std::string(value);
  }
  if (spec.rfind("file:", 0) == 0) {
    auto bytes = read_file(spec.substr(5));
    if (!bytes) return bytes.error();
    return trim(std::move(*bytes));
  }
  return make_error(Errc::usage,
                    "a passphrase is given as env:VARIABLE or file:PATH, never as a "
                    "literal on the command line");
}

Result<Identity> load_identity(const IdentitySource& source) {
  std::string pass;
  const bool has_pass = !source.pass.empty();
  if (has_pass) {
    auto resolved = resolve_secret(source.pass);
    if (!resolved) return resolved.error();
    pass = std::move(*resolved);
  }
  auto key_bytes = read_file(source.key);
  if (!key_bytes) return key_bytes.error();

  Identity id;
  std::vector<X509Ptr> certs;
  ERR_clear_error();
  if (key_bytes->find("-----BEGIN") != std::string::npos) {
    BioPtr bio(BIO_new_mem_buf(key_bytes->data(), static_cast<int>(key_bytes->size())));
    EVP_PKEY* key =
        PEM_read_bio_PrivateKey(bio.get(), nullptr, pem_password, has_pass ? &pass : nullptr);
    if (key == nullptr) {
      return make_error(
          Errc::io, "cannot read the private key in " + source.key.string() +
                        (has_pass ? " (wrong passphrase?)" : " (encrypted? give --pass)") + ": " +
                        last_openssl_error());
    }
    id.key.reset(key);
  } else {
    BioPtr bio(BIO_new_mem_buf(key_bytes->data(), static_cast<int>(key_bytes->size())));
    Pkcs12Ptr p12(d2i_PKCS12_bio(bio.get(), nullptr));
    if (!p12) {
      return make_error(Errc::io,
                        source.key.string() + " is neither a PEM private key nor PKCS#12");
    }
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
    STACK_OF(X509)* ca = nullptr;
    if (PKCS12_parse(p12.get(), pass.c_str(), &key, &cert, &ca) != 1) {
      return make_error(Errc::io, "cannot open the PKCS#12 file " + source.key.string() +
                                      " (wrong passphrase?): " + last_openssl_error());
    }
    id.key.reset(key);
    if (cert != nullptr) certs.emplace_back(cert);
    X509StackPtr ca_owner(ca);
    while (ca != nullptr && sk_X509_num(ca) > 0) certs.emplace_back(sk_X509_shift(ca));
  }
  if (!source.cert.empty()) {
    auto loaded = load_certificates(source.cert);
    if (!loaded) return loaded.error();
    // A certificate file replaces the PKCS#12's leaf; its extra certs join the chain.
    for (auto& c : certs) loaded->push_back(std::move(c));
    certs = std::move(*loaded);
  }
  if (certs.empty()) {
    return make_error(Errc::usage,
                      "no certificate given: use --cert, or a PKCS#12 key that holds one");
  }
  if (!source.chain.empty()) {
    auto chain = load_certificates(source.chain);
    if (!chain) return chain.error();
    for (auto& c : *chain) certs.push_back(std::move(c));
  }
  id.cert = std::move(certs.front());
  // The chain once each, without the leaf: a PKCS#12 and a chain file often overlap.
  for (size_t i = 1; i < certs.size(); ++i) {
    bool seen = X509_cmp(certs[i].get(), id.cert.get()) == 0;
    for (const auto& c : id.chain) seen = seen || X509_cmp(certs[i].get(), c.get()) == 0;
    if (!seen) id.chain.push_back(std::move(certs[i]));
  }
  if (X509_check_private_key(id.cert.get(), id.key.get()) != 1) {
    ERR_clear_error();
    return make_error(Errc::usage, "the private key does not belong to the certificate " +
                                       describe(id.cert.get()).subject);
  }
  return id;
}

}  // namespace edocgw::crypto
