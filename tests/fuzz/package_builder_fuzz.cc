// Fuzzes the package builder (edxml/package_builder.h) from JSON metadata
// as `edocgw edxml build` and POST /v1/documents take it, then parses the
// result back: whatever the builder writes, its own reader must accept
// (issue 9 #19). A document meta names its attachments; each named one gets
// a small file. A meta with "status_code" builds a status package instead.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"

namespace {

// Fixed, so that a run is reproducible.
const edocgw::TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 29};

void must_read_back(const std::string& package) {
  using namespace edocgw;
  auto doc = xml::parse_untrusted_xml(package);
  if (!doc) {
    std::fprintf(stderr, "built a package its reader refuses: %s\n", doc.error().message.c_str());
    std::abort();
  }
  auto read = edxml::read_package(doc->get());
  if (!read) {
    std::fprintf(stderr, "built a package read_package refuses: %s\n",
                 read.error().message.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edocgw::xml::init_xml();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edocgw;
  auto meta = nlohmann::json::parse(data, data + size, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) return 0;
  if (meta.contains("status_code")) {
    auto status = edxml::status_from_json(meta, kNow);
    if (!status) return 0;
    auto built = edxml::build_status_package(*status);
    if (built) must_read_back(*built);
    return 0;
  }
  std::vector<edxml::AttachmentFile> files;
  if (auto it = meta.find("attachments"); it != meta.end() && it->is_array()) {
    for (const auto& a : *it) {
      if (!a.is_object()) continue;
      auto name = a.find("name");
      if (name == a.end() || !name->is_string()) continue;
      files.push_back({name->get<std::string>(), "%PDF-1.4 fuzz", "", ""});
    }
  }
  auto built = edxml::build_package(meta, std::move(files), kNow);
  if (built) must_read_back(*built);
  return 0;
}
