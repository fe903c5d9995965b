// Fuzzes base64_decode (util/bytes.h) on any text, and checks that what it
// accepts encodes back to bytes that decode to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "util/bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = edocgw::base64_decode(text);
  if (!decoded) return 0;
  auto again = edocgw::base64_decode(edocgw::base64_encode(*decoded));
  if (!again || *again != *decoded) std::abort();  // encode/decode must round-trip
  return 0;
}
