#include "gateway/local_api_request.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include <nlohmann/json.hpp>

#include "edxml/package_builder.h"
#include "gateway/multipart.h"
#include "util/bytes.h"
#include "util/utf8.h"

namespace edocgw::gateway {
namespace {

RequestRefusal refusal(unsigned status, std::string code, std::string message) {
  RequestRefusal r;
  r.status = status;
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

// A JSON string member of `body`, `fallback` when absent; nullopt when present but not a string.
std::optional<std::string> string_member(const nlohmann::json& body, const char* name,
                                         std::string fallback = {}) {
  if (!body.contains(name)) return fallback;
  if (!body[name].is_string()) return std::nullopt;
  return body[name].get<std::string>();
}

// The JSON object of a request body; nullopt when the body is not one.
std::optional<nlohmann::json> json_object(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// A status body's code and description, both strings (the description may be absent).
bool read_code_and_description(const nlohmann::json& body, StatusBody& out) {
  if (!body.contains("code") || !body["code"].is_string()) return false;
  auto description = string_member(body, "description");
  if (!description) return false;
  out.code = body["code"].get<std::string>();
  out.description = std::move(*description);
  return true;
}

// Every text read from a request ends up in an edXML package, the store or a
// JSON answer. libxml2 takes C strings (a NUL cuts the text short, silently)
// and writes U+0001 or U+FFFE raw into a package no reader accepts: such a
// text, or one that is not UTF-8, is refused naming `field`.
Refused text_refusal(const std::string& field, std::string_view text) {
  const std::string why = xml_char_problem(text);
  if (why.empty()) return std::nullopt;
  return refusal(400, "forbidden_character",
                 field + " holds " + why + ", which XML does not allow");
}

// The same for every text of the metadata, member names included, at any
// depth (walked breadth first without recursion: a body may nest deeply),
// named by its path: "subject", "to[0].organ_name".
Refused meta_text_refusal(const nlohmann::json& meta) {
  constexpr size_t kRoot = static_cast<size_t>(-1);
  struct Step {
    const nlohmann::json* node;
    size_t parent;           // index in `steps`; kRoot for the metadata itself
    const std::string* key;  // the member name, or nullptr for an array element
    size_t index;            // the array index
  };
  std::vector<Step> steps;
  steps.push_back(Step{&meta, kRoot, nullptr, 0});
  const auto path = [&](size_t i) {
    std::vector<std::string> parts;
    for (; steps[i].parent != kRoot; i = steps[i].parent) {
      parts.push_back(steps[i].key ? "." + *steps[i].key
                                   : "[" + std::to_string(steps[i].index) + "]");
    }
    std::string out;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += *it;
    return out.starts_with(".") ? out.substr(1) : out;
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    const nlohmann::json& node = *steps[i].node;
    if (node.is_string()) {
      if (auto refused =
              text_refusal("the meta field " + path(i), node.get_ref<const std::string&>()))
        return refused;
    } else if (node.is_object()) {
      for (auto it = node.begin(); it != node.end(); ++it) {
        const std::string where = path(i);
        if (auto refused = text_refusal(
                where.empty() ? "a member name of meta" : "a member name in meta field " + where,
                it.key()))
          return refused;
        steps.push_back(Step{&it.value(), i, &it.key(), 0});
      }
    } else if (node.is_array()) {
      for (size_t k = 0; k < node.size(); ++k) steps.push_back(Step{&node[k], i, nullptr, k});
    }
  }
  return std::nullopt;
}

// A status's code (quoted back when it is not one the pipeline knows), its
// description and the recipients it names.
Refused status_text_refusal(const StatusBody& status) {
  if (auto refused = text_refusal("code", status.code)) return refused;
  if (auto refused = text_refusal("description", status.description)) return refused;
  for (size_t i = 0; i < status.recipients.size(); ++i) {
    if (auto refused = text_refusal("recipients[" + std::to_string(i) + "]", status.recipients[i]))
      return refused;
  }
  return std::nullopt;
}

}  // namespace

std::string authenticated_client(const config::ApiConfig& api, std::string_view authorization) {
  if (authorization.substr(0, 7) != "Bearer ") return {};
  const std::string digest = sha256_hex(authorization.substr(7));
  std::string who;
  for (const auto& c : api.clients) {
    if (constant_time_equal(digest, c.token_sha256)) who = c.name;
  }
  return who;
}

bool acceptable_document_type(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  for (auto& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return type.empty() || type == "application/xml" || type == "text/xml" ||
         (type.size() > 4 && type.ends_with("+xml")) || type == "multipart/form-data" ||
         type == "application/x-www-form-urlencoded" || type == "application/octet-stream";
}

std::vector<std::string> path_segments(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos <= path.size()) {
    const size_t slash = std::min(path.find('/', pos), path.size());
    if (slash > pos) out.emplace_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

Refused read_inbox_limit(const std::string& text, int& limit) {
  // Judged as written, before any narrowing: a cast to int made 2^32 a 0
  // (refused) and -(2^32 - 1) a 1 (taken). Beyond an int is everything.
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || n < 1)
    return refusal(400, "bad_limit", "limit must be a positive number");
  limit = errno == ERANGE || n > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                                                 : static_cast<int>(n);
  return std::nullopt;
}

Refused read_document_form(std::string_view content_type, std::string_view body, TimePoint now,
                           std::string& package) {
  auto boundary = multipart_boundary(content_type);
  if (!boundary) {
    return refusal(boundary.error().code == Errc::unsupported ? 415 : 400, "bad_multipart",
                   boundary.error().message);
  }
  auto parts = parse_multipart(body, *boundary);
  if (!parts) {
    return refusal(400,
                   parts.error().code == Errc::invalid ? "forbidden_character" : "bad_multipart",
                   parts.error().message);
  }
  std::optional<nlohmann::json> meta;
  std::vector<edxml::AttachmentFile> files;
  for (auto& part : *parts) {
    if (part.name == "meta") {  // a value, or a file as `curl -F meta=@meta.json` sends it
      if (meta) return refusal(400, "bad_multipart", "send one \"meta\" part, not two");
      auto j = nlohmann::json::parse(part.body, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return refusal(400, "bad_meta", "the \"meta\" part is not a JSON object");
      if (auto refused = meta_text_refusal(j)) return refused;
      meta = std::move(j);
    } else if (!part.file_name.empty()) {
      edxml::AttachmentFile f;
      f.name = part.file_name;
      f.bytes = std::move(part.body);
      // A generic type says nothing; the extension then tells more.
      if (part.content_type != "application/octet-stream") f.content_type = part.content_type;
      files.push_back(std::move(f));
    } else {
      return refusal(400, "bad_multipart",
                     "unexpected form field \"" + part.name +
                         "\": send \"meta\" (JSON) and files with a file name");
    }
  }
  if (!meta) return refusal(400, "bad_multipart", "the \"meta\" part (JSON) is missing");
  auto built = edxml::build_package(*meta, std::move(files), now);
  if (!built) return refusal(422, "bad_meta", built.error().message);
  package = std::move(*built);
  return std::nullopt;
}

Refused read_followup(std::string_view text, FollowUpBody& out) {
  auto body = json_object(text);
  if (!body) return refusal(400, "bad_request", "send a JSON object");
  auto type = string_member(*body, "type");
  auto reason = string_member(*body, "reason");
  auto package = string_member(*body, "package");
  if (!type || !reason || !package)
    return refusal(400, "bad_request", "type, reason and package are strings");
  if (*type == "revocation")
    out.type = 1;
  else if (*type == "update")
    out.type = 2;
  else if (*type == "replacement")
    out.type = 3;
  else
    return refusal(400, "bad_type", "type must be \"revocation\", \"update\" or \"replacement\"");
  if (auto refused = text_refusal("reason", *reason)) return refused;
  out.reason = *reason;
  out.package = *package;  // XML, judged by its parser
  if (body->contains("receivers")) {
    const auto& receivers = (*body)["receivers"];
    if (out.type != 2 || !receivers.is_array())
      return refusal(400, "bad_receivers", "receivers is a list, for an update only");
    for (const auto& r : receivers) {
      if (!r.is_object()) return refusal(400, "bad_receivers", "a receiver is an object");
      auto organ = string_member(r, "organ_id");
      auto change = string_member(r, "change", "added");
      if (!organ || organ->empty() || !change || (*change != "added" && *change != "removed"))
        return refusal(400, "bad_receivers",
                       "a receiver is {\"organ_id\": ID, \"change\": \"added\"|\"removed\"}");
      if (auto refused = text_refusal(
              "receivers[" + std::to_string(out.receivers.size()) + "].organ_id", *organ))
        return refused;
      out.receivers.push_back({*organ, *change == "added"});
    }
  }
  return std::nullopt;
}

Refused read_inbox_status(std::string_view text, StatusBody& out) {
  auto body = json_object(text);
  if (!body || !read_code_and_description(*body, out))
    return refusal(400, "bad_request", "send {\"code\": \"03\", \"description\": \"...\"}");
  return status_text_refusal(out);
}

Refused read_document_status(std::string_view text, StatusBody& out) {
  auto body = json_object(text);
  bool ok = body && read_code_and_description(*body, out);
  if (ok && body->contains("recipients")) {
    const auto& recipients = (*body)["recipients"];
    ok = recipients.is_array();
    for (const auto& organ : ok ? recipients : nlohmann::json::array()) {
      if (!organ.is_string())
        ok = false;
      else
        out.recipients.push_back(organ.get<std::string>());
    }
  }
  if (!ok) {
    return refusal(400, "bad_request",
                   "send {\"code\": \"13\", \"description\": \"...\", \"recipients\": [...]}");
  }
  return status_text_refusal(out);
}

}  // namespace edocgw::gateway
