#include "gateway/local_api_request.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "edxml/package_builder.h"
#include "gateway/multipart.h"
#include "util/bytes.h"

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
  char* end = nullptr;
  limit = static_cast<int>(std::strtol(text.c_str(), &end, 10));
  if (*end != '\0' || limit < 1)
    return refusal(400, "bad_limit", "limit must be a positive number");
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
  if (!parts) return refusal(400, "bad_multipart", parts.error().message);
  std::optional<nlohmann::json> meta;
  std::vector<edxml::AttachmentFile> files;
  for (auto& part : *parts) {
    if (part.name == "meta") {  // a value, or a file as `curl -F meta=@meta.json` sends it
      if (meta) return refusal(400, "bad_multipart", "send one \"meta\" part, not two");
      auto j = nlohmann::json::parse(part.body, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return refusal(400, "bad_meta", "the \"meta\" part is not a JSON object");
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
  out.reason = *reason;
  out.package = *package;
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
      out.receivers.push_back({*organ, *change == "added"});
    }
  }
  return std::nullopt;
}

Refused read_inbox_status(std::string_view text, StatusBody& out) {
  auto body = json_object(text);
  if (!body || !read_code_and_description(*body, out))
    return refusal(400, "bad_request", "send {\"code\": \"03\", \"description\": \"...\"}");
  return std::nullopt;
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
  return std::nullopt;
}

}  // namespace edocgw::gateway
