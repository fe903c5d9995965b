// Fuzzes the multipart/form-data splitter (gateway/multipart.h) as POST
// /v1/documents drives it. Input: the Content-Type value, a newline, then
// the body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edocgw::gateway;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  if (nl == std::string_view::npos) return 0;
  auto boundary = multipart_boundary(input.substr(0, nl));
  if (!boundary) return 0;
  auto parts = parse_multipart(input.substr(nl + 1), *boundary);
  (void)parts;
  return 0;
}
