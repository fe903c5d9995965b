// Fuzzes crypto::PackageVerifier on a fixed trust store (the sample PKI's
// root, $EDOCGW_TEST_PKI/root.pem, loaded once), judged at a fixed time so
// that a run is reproducible, with no OCSP. The report is dumped as the CLI
// and the hub do: a report that cannot be written is a finding (issue 9 #9).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "crypto/package_verifier.h"
#include "crypto/trust_store.h"
#include "crypto/xmlsec_init.h"
#include "tests/fuzz/fuzz_support.h"
#include "util/time.h"

namespace {
std::unique_ptr<edocgw::crypto::TrustStore> trust;
std::unique_ptr<edocgw::crypto::PackageVerifier> verifier;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace edocgw;
  crypto::init_xmlsec();
  auto store =
      crypto::TrustStore::load({fuzz::pki_dir() / "root.pem"}, {fuzz::pki_dir() / "ca.pem"}, {});
  if (!store) {
    std::fprintf(stderr, "fuzz: cannot load the sample PKI: %s\n", store.error().message.c_str());
    std::abort();
  }
  trust = std::make_unique<crypto::TrustStore>(std::move(*store));
  crypto::VerifyOptions options;
  // Inside the sample certificates' validity, whatever day the run is.
  options.at = now_seconds();
  options.policy.accept_unsigned = true;  // reach the unsigned path as well
  verifier = std::make_unique<crypto::PackageVerifier>(*trust, options);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto report = verifier->verify(bytes);
  (void)edocgw::crypto::to_json(report).dump();
  return 0;
}
