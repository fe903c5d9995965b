// Fuzzes the signature-log frame reader (audit::scan_records) on a records
// file of the input's bytes, raw: magic, version, lengths, torn frames and
// hashes that do not match. Each whole record is read as the auditor reads
// it: its payload parsed as JSON without exceptions.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "audit/signature_log.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edocgw;
  const auto file = fuzz::scratch_dir() / "records";
  fuzz::write_bytes(file, std::string_view(reinterpret_cast<const char*>(data), size));
  std::uint64_t last_end = 0;
  auto stop = audit::scan_records(file, [&](const audit::Record& r) {
    // Whole records follow each other and stay inside the file.
    if (r.offset != last_end || r.end > size || r.end <= r.offset) std::abort();
    last_end = r.end;
    (void)nlohmann::json::parse(r.payload, nullptr, false);
    return true;
  });
  (void)stop;
  return 0;
}
