// Fuzzes what revocation data a gateway takes from the network and from
// DATA_DIR/revocation: the first byte picks
//   even: a CRL body as a distribution point answers it, taken (or refused)
//         by crypto::RevocationCache and then used by TrustStore::verify
//         for a path whose certificates name that distribution point
//         (OpenSSL's extended CRL support, our cert_crl hook, the messages);
//   odd:  an OCSP response as a responder (or a persisted file) gives it,
//         judged by crypto::judge_ocsp_response for a sample certificate.
// The rest of the input is the body. Seeds: a real CRL of the path's CA and
// a real OCSP response of the sample PKI (corpus/revocation_data/).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "crypto/certificate.h"
#include "crypto/ocsp.h"
#include "crypto/revocation_cache.h"
#include "crypto/trust_store.h"
#include "crypto/verification_report.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/support/pki_builder.h"
#include "util/time.h"

namespace {

namespace pb = edocgw::test::pki_builder;
using namespace edocgw;

struct Fixture {
  // A root, a CA and a leaf naming http://fuzz.invalid/ca.crl: built once.
  pb::Issued root, ca, leaf;
  std::unique_ptr<crypto::TrustStore> built_trust;
  // The sample PKI, for OCSP: huong-hoa issued by the issuing CA.
  crypto::X509Ptr sample_leaf, sample_ca;
  std::unique_ptr<crypto::TrustStore> sample_trust;
};
Fixture* fixture = nullptr;
std::string body;  // what the distribution point answers for this input

crypto::X509Ptr first_certificate(const std::filesystem::path& file) {
  auto certs = crypto::load_certificates(file);
  if (!certs || certs->empty()) {
    std::fprintf(stderr, "fuzz: cannot read %s\n", file.c_str());
    std::abort();
  }
  return std::move(certs->front());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto* f = new Fixture;
  f->root = pb::make(pb::ca_spec({{"CN", "Fuzz Root"}}), nullptr);
  f->ca = pb::make(pb::ca_spec({{"CN", "Fuzz CA"}}), &f->root);
  auto spec = pb::leaf_spec({{"CN", "Fuzz Leaf"}});
  spec.extensions.push_back({"crlDistributionPoints", "URI:http://fuzz.invalid/ca.crl"});
  f->leaf = pb::make(spec, &f->ca);
  std::vector<crypto::X509Ptr> anchors, untrusted;
  anchors.push_back(crypto::up_ref(f->root.x509()));
  untrusted.push_back(crypto::up_ref(f->ca.x509()));
  f->built_trust = std::make_unique<crypto::TrustStore>(
      crypto::TrustStore::from_certificates(std::move(anchors), std::move(untrusted)));
  f->sample_leaf = first_certificate(fuzz::pki_dir() / "huong-hoa.pem");
  f->sample_ca = first_certificate(fuzz::pki_dir() / "ca.pem");
  auto sample =
      crypto::TrustStore::load({fuzz::pki_dir() / "root.pem"}, {fuzz::pki_dir() / "ca.pem"}, {});
  if (!sample) std::abort();
  f->sample_trust = std::make_unique<crypto::TrustStore>(std::move(*sample));
  fixture = f;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    body = input;
    crypto::RevocationCacheSettings settings;  // memory only: nothing on disk
    settings.max_crl_bytes = 1 << 20;
    settings.get = [](const std::string&, std::uint64_t max, std::chrono::milliseconds) {
      if (body.size() > max) return Result<std::string>(make_error(Errc::invalid, "too large"));
      return Result<std::string>(body);
    };
    auto cache = crypto::RevocationCache::open(std::move(settings));
    if (!cache) std::abort();
    const auto chain =
        fixture->built_trust->verify(fixture->leaf.x509(), {}, now_seconds(), cache->get());
    for (const auto& p : chain.problems) (void)p.message.size();
    for (const auto& ev : chain.revocation) (void)crypto::to_json(ev).dump();
    (void)(*cache)->health();
  } else {
    auto answer = crypto::judge_ocsp_response(
        input, fixture->sample_leaf.get(), fixture->sample_ca.get(), *fixture->sample_trust,
        now_seconds(), std::chrono::seconds(300), "http://fuzz.invalid/ocsp");
    if (answer) (void)answer->this_update.size();
  }
  return 0;
}
