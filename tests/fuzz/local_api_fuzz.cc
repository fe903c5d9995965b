// Fuzzes what the local API does with a request before any store or
// pipeline sees it. Gateway::handle_local is private and its readers
// (package_from_form, followup_from_json in gateway/local_api.cc) sit in an
// anonymous namespace, so this drives the parts they are made of, in the
// same order: the Content-Type, the multipart splitter, the "meta" part as JSON and the package
// builder, then the built package read back as its recipient would.
//
// (HttpRequest's own accessors live in gateway/http_server.cc, which
// clang 14 cannot build: no C++20 coroutines with libstdc++ 12.)
//
// Input: the request target, a newline, the Content-Type value, a
// newline, then the body.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"
#include "gateway/multipart.h"

namespace {

const edocgw::TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 29};

std::string_view next_line(std::string_view& input) {
  const size_t nl = input.find('\n');
  std::string_view line = input.substr(0, nl);
  input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edocgw::xml::init_xml();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edocgw;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view target = next_line(input);
  if (target.substr(0, target.find('?')) != "/v1/documents") return 0;
  const std::string_view content_type = next_line(input);
  if (content_type.rfind("multipart/", 0) != 0) return 0;  // as handle_local decides

  auto boundary = gateway::multipart_boundary(content_type);
  if (!boundary) return 0;
  auto parts = gateway::parse_multipart(input, *boundary);
  if (!parts) return 0;
  std::optional<nlohmann::json> meta;
  std::vector<edxml::AttachmentFile> files;
  for (auto& part : *parts) {
    if (part.name == "meta") {
      auto j = nlohmann::json::parse(part.body, nullptr, false);
      if (j.is_discarded() || !j.is_object() || meta) return 0;
      meta = std::move(j);
    } else if (!part.file_name.empty()) {
      files.push_back({part.file_name, std::move(part.body),
                       part.content_type == "application/octet-stream" ? "" : part.content_type,
                       ""});
    } else {
      return 0;
    }
  }
  if (!meta) return 0;
  auto built = edxml::build_package(*meta, std::move(files), kNow);
  if (!built) return 0;
  auto doc = xml::parse_untrusted_xml(*built);
  if (!doc) {
    std::fprintf(stderr, "the local API built a package its own parser refuses: %s\n",
                 doc.error().message.c_str());
    std::abort();
  }
  if (auto read = edxml::read_package(doc->get()); !read) {
    std::fprintf(stderr, "the local API built a package read_package refuses: %s\n",
                 read.error().message.c_str());
    std::abort();
  }
  return 0;
}
