// Fuzzes the edXML package reader: xml::parse_untrusted_xml, then
// edxml::read_package and what the CLI prints of it (to_json().dump(),
// to_text()), as `edocgw edxml inspect` does with a file from outside.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "edxml/package.h"
#include "edxml/xml.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edocgw::xml::init_xml();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edocgw;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto doc = xml::parse_untrusted_xml(bytes);
  if (!doc) return 0;
  auto package = edxml::read_package(doc->get());
  if (!package) return 0;
  // Both are what a report or an answer carries: neither may throw.
  (void)edxml::to_json(*package).dump();
  (void)edxml::to_text(*package);
  return 0;
}
