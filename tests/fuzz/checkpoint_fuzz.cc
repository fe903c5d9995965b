// Fuzzes the checkpoint reader (audit::parse_checkpoint) and, on what it
// accepts, the signature check against a fixed certificate (the sample
// PKI's quang-tri.pem, loaded once): a note is read from a data-dir or a
// bundle that an attacker may have written.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <openssl/pem.h>

#include "audit/signature_log.h"
#include "tests/fuzz/fuzz_support.h"

namespace {
X509* cert = nullptr;  // for the whole run
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const auto path = edocgw::fuzz::pki_dir() / "quang-tri.pem";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f) {
    cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
  }
  if (!cert) {
    std::fprintf(stderr, "fuzz: cannot read %s\n", path.c_str());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edocgw;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto checkpoint = audit::parse_checkpoint(text);
  if (!checkpoint) return 0;
  (void)audit::verify_checkpoint(*checkpoint, cert);
  return 0;
}
