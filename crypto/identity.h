// crypto/identity.h: the organisation's signing identity: its certificate,
// its private key and the chain to send with signatures. Keys come from PEM
// (optionally encrypted) or PKCS#12; passphrases from "env:VAR" or
// "file:PATH", never from a literal on the command line.
//
// An Identity is immutable after loading and may be shared between threads
// (OpenSSL 3 keys are safe for concurrent signing).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "crypto/ossl.h"
#include "util/result.h"

namespace edocgw::crypto {

struct IdentitySource {
  std::filesystem::path cert;   // PEM, the leaf first; may be empty with a PKCS#12 key
  std::filesystem::path key;    // PEM or PKCS#12 (.p12/.pfx or DER)
  std::filesystem::path chain;  // optional PEM of intermediates
  std::string pass;             // "env:VAR", "file:PATH" or "" (no passphrase)
};

struct Identity {
  X509Ptr cert;
  EvpPkeyPtr key;
  std::vector<X509Ptr> chain;  // intermediates (and possibly the root), leaf excluded
};

// Resolves "env:VAR" or "file:PATH" (surrounding white space dropped).
Result<std::string> resolve_secret(const std::string& spec);

Result<Identity> load_identity(const IdentitySource& source);

}  // namespace edocgw::crypto
