// Fuzzes the exchange protocol's request authentication
// (adapters::vdxp::verify_request) on header fields derived from the input:
// one "Name: value" per line (CRLF or LF), a first line without a colon
// (the request line) skipped, up to the first empty line. The secret of
// vxp.example.01 is the captures' (tests/fixtures/vdxp), so seeds made from
// them pass and the fuzzer starts from authenticated requests.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/vdxp/vdxp_auth.h"

namespace {

std::optional<std::string> secret_for(const std::string& system_id) {
  if (system_id == "vxp.example.01") return std::string("example-secret-not-real");
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edocgw::adapters::vdxp;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Fields fields;
  while (!input.empty()) {
    size_t nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    fields.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  auto verified = verify_request(fields, secret_for);
  if (verified) {
    (void)verified->get("docId");
    (void)verified->all("docId");
  }
  return 0;
}
