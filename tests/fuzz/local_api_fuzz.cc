// Fuzzes what the local API reads from a request before any store or
// pipeline sees it: the readers of gateway/local_api_request.h, which
// Gateway::handle_local calls, routed by the path as it routes them. Then
// what the pipeline does next with what was read, where that needs no
// store: a submitted package parsed and read; a form's built package read
// back; a follow-up made from the package given (or a fixed original) and
// read back; a status package built from a status's code and description
// and read back. A text a reader lets through must never make a package
// its own reader refuses (issue 9 #16, #19): that aborts.
//
// (Gateway::handle_local itself lives beside the coroutine server, which
// clang 14 cannot build against libstdc++ 12; the request type and its
// accessors, gateway/http_message.h, do not.)
//
// Input: the request target, a newline, the Content-Type value, a
// newline, then the body.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "edxml/followup.h"
#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"
#include "gateway/http_message.h"
#include "gateway/local_api_request.h"
#include "util/utf8.h"

namespace {

using namespace edocgw;

// Fixed, so that a run is reproducible.
const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 29};

// The original a follow-up without a package of its own repeats.
std::string original_package;

config::ApiConfig api_with_one_client() {
  config::ApiConfig api;
  config::ApiClient client;
  client.name = "qlvb";
  client.token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  api.clients.push_back(client);
  return api;
}
const config::ApiConfig kApi = api_with_one_client();

std::string_view next_line(std::string_view& input) {
  const size_t nl = input.find('\n');
  std::string_view line = input.substr(0, nl);
  input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  return line;
}

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "local_api: %s: %s\n", what, detail.c_str());
  std::abort();
}

// A text a reader let through must be one XML can hold.
void must_be_clean(const char* field, const std::string& text) {
  if (auto why = xml_char_problem(text); !why.empty())
    finding("a reader let through a text XML cannot hold", std::string(field) + ": " + why);
}

// What the pipeline does first with a submitted package: parse and read it.
Result<edxml::Package> read(std::string_view package) {
  auto doc = xml::parse_untrusted_xml(package);
  if (!doc) return doc.error();
  return edxml::read_package(doc->get(), edxml::ReadOptions{.decode_attachments = false});
}

// A package the gateway made itself must read back.
void must_read_back(const char* what, const std::string& package) {
  if (auto r = read(package); !r) finding(what, r.error().message);
}

void submit(std::string_view content_type, std::string_view body) {
  if (!gateway::acceptable_document_type(content_type)) return;  // 415 on the header
  if (content_type.substr(0, 10) != "multipart/") {
    (void)read(body);
    return;
  }
  std::string package;
  if (gateway::read_document_form(content_type, body, kNow, package)) return;
  must_read_back("the local API built a package its own reader refuses", package);
}

void follow_up(std::string_view body) {
  gateway::FollowUpBody request;
  if (gateway::read_followup(body, request)) return;
  must_be_clean("reason", request.reason);
  edxml::FollowUp f;
  f.type = request.type;
  f.reason = request.reason;
  f.document_id = "000.00.12.H50,2026/11/28,701/UBND-VP";
  f.sender_organ_id = "000.00.12.H50";
  f.content_changed = !request.package.empty();
  f.receivers = request.receivers;
  for (const auto& r : request.receivers) must_be_clean("receivers[].organ_id", r.organ_id);
  f.replaced_for = {"000.00.13.H50"};
  const std::string& base = request.package.empty() ? original_package : request.package;
  auto made = edxml::make_followup(base, f, kNow);
  // From a package that reads, the follow-up must read too; from one that
  // does not, the pipeline refuses what comes out (422), which is fine.
  if (made && read(base))
    must_read_back("a follow-up the local API made from a readable package does not read back",
                   *made);
}

void status(const gateway::StatusBody& s) {
  must_be_clean("code", s.code);
  must_be_clean("description", s.description);
  for (const auto& r : s.recipients) must_be_clean("recipients[]", r);
  const std::string code = s.code == "14" ? "15" : s.code;  // as Pipeline::send_status
  if (!edxml::is_known_status_code(code)) return;           // refused by the pipeline
  edxml::StatusInfo info;  // as the pipeline's status_about fills it
  info.from.organ_id = "000.00.13.H50";
  info.from.organ_name = "UBND huyện Đakrông";
  info.response_for.organ_id = "000.00.12.H50";
  info.response_for.document_id = "000.00.12.H50,2026/11/28,701/UBND-VP";
  info.response_for.code = "701/UBND-VP";
  info.response_for.promulgation_date = "2026/11/28";
  info.status_code = code;
  info.description = s.description;
  info.timestamp = format_edxml_time(kNow);
  auto built = edxml::build_status_package(info);
  if (!built) finding("a status the local API read cannot be built", built.error().message);
  must_read_back("a status package the local API built does not read back", *built);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  xml::init_xml();
  nlohmann::json meta = {
      {"from", {{"organ_id", "000.00.12.H50"}, {"organ_name", "UBND huyện Hướng Hóa"}}},
      {"to", {{{"organ_id", "000.00.13.H50"}, {"organ_name", "UBND huyện Đakrông"}}}},
      {"code", {{"number", "701"}, {"notation", "UBND-VP"}}},
      {"promulgation", {{"place", "Hướng Hóa"}, {"date", "2026/11/28"}}},
      {"document_type", {{"type", "1"}, {"name", "Công văn"}}},
      {"subject", "V/v phối hợp kiểm tra"},
      {"signer",
       {{"competence", "TM. UBND"}, {"position", "Chủ tịch"}, {"full_name", "Nguyễn Văn Ánh"}}}};
  auto built = edxml::build_package(meta, {}, kNow);
  if (!built) finding("cannot build the original package", built.error().message);
  original_package = std::move(*built);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view target = next_line(input);
  const std::string_view content_type = next_line(input);
  // A std::string, as HttpRequest::body is: never a null data() when empty.
  gateway::HttpRequest request;
  request.method = "POST";
  request.target = std::string(target);
  request.fields.push_back({"Content-Type", std::string(content_type)});
  request.body = std::string(input);
  const std::string& body = request.body;
  // The header checks: the token (here the Content-Type line stands in for
  // the Authorization value) and the body's type.
  (void)gateway::authenticated_client(kApi, content_type);
  const auto s = gateway::path_segments(request.path());
  if (s.size() < 2 || s[0] != "v1") return 0;
  if (s[1] == "documents") {
    if (s.size() == 2) submit(content_type, body);
    if (s.size() == 4 && s[3] == "followup") follow_up(body);
    if (s.size() == 4 && s[3] == "status") {
      gateway::StatusBody status_body;
      if (!gateway::read_document_status(body, status_body)) status(status_body);
    }
  } else if (s[1] == "inbox") {
    if (s.size() == 2) {
      int limit = 1000000;
      if (const std::string text = request.query("limit"); !text.empty()) {
        if (!gateway::read_inbox_limit(text, limit) && limit < 1)
          finding("an inbox limit was taken that is not positive", text);
      }
    }
    if (s.size() == 4 && s[3] == "status") {
      gateway::StatusBody status_body;
      if (!gateway::read_inbox_status(body, status_body)) status(status_body);
    }
  }
  return 0;
}
