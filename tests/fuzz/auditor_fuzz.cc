// Fuzzes the auditor (audit::audit_log, `edocgw audit verify`) over a
// data-dir generated from the input, with the sample PKI's root as anchor.
// The input is split at 0x1D (group separator) into up to three parts:
//   1. record payloads separated by 0x1E; the harness frames them with
//      correct seq, prev links and hashes (audit::encode_frame), as someone
//      rewriting the log without a key would (issue 9 #7), so the fuzzer
//      works on what the auditor reads inside the records;
//   2. checkpoint notes separated by 0x1E, written as
//      signature-log/checkpoints/<20 digits>.note;
//   3. a package body written as packages/fuzz.edxml, which records can name.
// tests/fuzz/make_audit_seeds.sh makes seeds from a real gateway's data-dir.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/auditor.h"
#include "audit/merkle.h"
#include "audit/signature_log.h"
#include "crypto/trust_store.h"
#include "crypto/xmlsec_init.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

std::unique_ptr<edocgw::crypto::TrustStore> trust;

std::vector<std::string_view> split(std::string_view s, char sep, size_t max_parts) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < max_parts) {
    const size_t at = s.find(sep);
    if (at == std::string_view::npos) break;
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  out.push_back(s);
  return out;
}

}  // namespace

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
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parts = split(input, '\x1d', 3);

  const auto dir = fuzz::scratch_dir() / "data";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "signature-log" / "checkpoints");
  std::filesystem::create_directories(dir / "packages");

  std::string records;
  audit::Hash prev{};
  std::uint64_t seq = 0;
  for (auto payload : split(parts[0], '\x1e', 4096)) {
    const std::string frame = audit::encode_frame(seq++, prev, payload);
    // The frame ends with the leaf hash, which the next record links to.
    std::copy(frame.end() - 32, frame.end(), prev.begin());
    records += frame;
  }
  fuzz::write_bytes(dir / "signature-log" / "records", records);
  if (parts.size() > 1) {
    int n = 0;
    for (auto note : split(parts[1], '\x1e', 16)) {
      char name[32];
      std::snprintf(name, sizeof name, "%020d.note", ++n);
      fuzz::write_bytes(dir / "signature-log" / "checkpoints" / name, note);
    }
  }
  if (parts.size() > 2) fuzz::write_bytes(dir / "packages" / "fuzz.edxml", parts[2]);

  audit::AuditOptions options;
  options.data_dir = dir;
  options.trust = trust.get();
  const auto report = audit::audit_log(options);
  (void)audit::to_json(report).dump();
  (void)audit::to_text(report);
  return 0;
}
