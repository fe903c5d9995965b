// Fuzzes `edocgw audit check-bundle`: a bundle file's bytes, parsed as JSON
// without exceptions, then audit::check_bundle against the sample PKI's
// root (loaded once). A bundle comes from whoever wants a record believed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

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
  auto bundle = nlohmann::json::parse(data, data + size, nullptr, false);
  if (bundle.is_discarded()) return 0;
  const auto check = audit::check_bundle(bundle, *trust);
  (void)check.record.dump();
  return 0;
}
