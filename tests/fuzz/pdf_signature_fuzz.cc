// Fuzzes crypto::PdfVerifier, the whole verification of the signatures in a
// PDF (the structure by pdf/, then each /Contents as CMS: DER parsing,
// signed attributes, ESS, timestamp tokens, chains) on a fixed trust store
// (the sample PKI's root and issuing CA), under the Decree 30 policy, with
// no OCSP. The report is dumped as the CLI and the signature log dump it.
// Seeds are signed PDFs: a mutation inside a /Contents hex string keeps the
// structure and hands the CMS code a changed DER.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "crypto/pdf_verifier.h"
#include "crypto/trust_store.h"
#include "tests/fuzz/fuzz_support.h"
#include "util/time.h"

namespace {
std::unique_ptr<edocgw::crypto::TrustStore> trust;
std::unique_ptr<edocgw::crypto::PdfVerifier> verifier;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace edocgw;
  auto store =
      crypto::TrustStore::load({fuzz::pki_dir() / "root.pem"}, {fuzz::pki_dir() / "ca.pem"}, {});
  if (!store) {
    std::fprintf(stderr, "fuzz: cannot load the sample PKI: %s\n", store.error().message.c_str());
    std::abort();
  }
  trust = std::make_unique<crypto::TrustStore>(std::move(*store));
  crypto::PdfVerifyOptions options;
  options.at = now_seconds();
  options.policy.pdf.require = crypto::PdfPolicy::Require::organisation;
  options.policy.pdf.official_required = true;
  options.sender_organ_id = "000.00.12.H50";
  verifier = std::make_unique<crypto::PdfVerifier>(*trust, options);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto report = verifier->verify(bytes, "fuzz.pdf");
  (void)edocgw::crypto::to_json(report).dump();
  (void)edocgw::crypto::to_text(report);
  return 0;
}
