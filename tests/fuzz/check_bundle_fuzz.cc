// Fuzzes `edocgw audit check-bundle`: a bundle file's bytes, in process,
// through audit::check_bundle_bytes (the JSON parse without exceptions, then
// audit::check_bundle) against the sample PKI's root (loaded once). A
// bundle comes from whoever wants a record believed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "audit/auditor.h"
#include "crypto/trust_store.h"
#include "crypto/xmlsec_init.h"
#include "tests/fuzz/fuzz_support.h"

namespace {
std::unique_ptr<edocgw::crypto::TrustStore> trust;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace edocgw;
  crypto::init_xmlsec();
  auto store = crypto::TrustStore::load({fuzz::pki_dir() / "root.pem"}, {}, {});
  if (!store) {
    std::fprintf(stderr, "fuzz: cannot load the sample PKI: %s\n", store.error().message.c_str());
    std::abort();
  }
  trust = std::make_unique<crypto::TrustStore>(std::move(*store));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edocgw;
  const auto check = audit::check_bundle_bytes(
      std::string_view(reinterpret_cast<const char*>(data), size), *trust);
  // The verdict and its reasons agree: a bundle that checks has no
  // problem, one that does not names at least one.
  if (check.ok != check.problems.empty()) {
    std::fprintf(stderr, "check_bundle: ok=%d with %zu problems\n", check.ok ? 1 : 0,
                 check.problems.size());
    std::abort();
  }
  (void)check.record.dump();
  return 0;
}
