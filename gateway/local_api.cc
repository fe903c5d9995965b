// The local API for office systems (shared/INTERFACE.md, "Local API").
#include <chrono>
#include <optional>

#include <nlohmann/json.hpp>

#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/multipart.h"
#include "util/bytes.h"

namespace edocgw::gateway {
namespace {

// The client whose token the request carries, or "" when none matches.
// Compares SHA-256 digests in constant time; every client is compared.
std::string authenticate(const config::ApiConfig& api, const HttpRequest& r) {
  const std::string auth = r.header("authorization");
  if (auth.rfind("Bearer ", 0) != 0) return {};
  const std::string digest = sha256_hex(auth.substr(7));
  std::string who;
  for (const auto& c : api.clients) {
    if (constant_time_equal(digest, c.token_sha256)) who = c.name;
  }
  return who;
}

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos <= path.size()) {
    const size_t slash = std::min(path.find('/', pos), path.size());
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

std::string time_text(std::int64_t seconds) {
  return format_rfc3339(TimePoint(std::chrono::seconds(seconds)));
}

const char* business_type_name(int type) {
  static const char* const kNames[] = {"new", "revocation", "update", "replacement"};
  return type >= 0 && type <= 3 ? kNames[type] : "new";
}

nlohmann::json history_json(const std::vector<StatusEntry>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& h : history) {
    out.push_back({{"code", h.code},
                   {"meaning", edxml::status_code_meaning(h.code)},
                   {"description", h.description},
                   {"organ_id", h.organ_id},
                   {"timestamp", time_text(h.timestamp)},
                   {"received_at", time_text(h.received_at)},
                   {"direction", h.direction},
                   {"applied", h.applied}});
  }
  return out;
}

// A JSON string member of `body`, `fallback` when absent; nullopt when present but not a string.
std::optional<std::string> string_member(const nlohmann::json& body, const char* name,
                                         std::string fallback = {}) {
  if (!body.contains(name)) return fallback;
  if (!body[name].is_string()) return std::nullopt;
  return body[name].get<std::string>();
}

nlohmann::json document_json(const DocumentRow& d) {
  nlohmann::json j = {
      {"id", d.id},
      {"kind", d.kind},
      {"status", d.status},
      {"document_id", d.document_id},
      {"subject", d.subject},
      {"package_sha256", d.package_sha256},
      {"created_at", format_rfc3339(TimePoint(std::chrono::seconds(d.created_at)))},
      {"updated_at", format_rfc3339(TimePoint(std::chrono::seconds(d.updated_at)))}};
  if (!d.reason.empty()) j["reason"] = d.reason;
  j["business_type"] = business_type_name(d.business_type);
  if (!d.follows.empty()) j["follows"] = d.follows;
  j["recipients"] = nlohmann::json::array();
  for (const auto& r : d.recipients) {
    nlohmann::json rj = {
        {"organ_id", r.organ_id},
        {"status", r.status},
        {"status_code", r.status_code.empty() ? nlohmann::json() : nlohmann::json(r.status_code)},
        {"attempts", r.attempts},
        {"adapter", r.adapter},
        {"updated_at", format_rfc3339(TimePoint(std::chrono::seconds(r.updated_at)))}};
    if (!r.status_description.empty()) rj["status_description"] = r.status_description;
    if (!r.last_error.empty()) rj["last_error"] = r.last_error;
    if (r.status_at != 0) rj["status_timestamp"] = time_text(r.status_at);
    rj["history"] = history_json(r.history);
    j["recipients"].push_back(rj);
  }
  return j;
}

nlohmann::json inbox_json(const InboxRow& r) {
  nlohmann::json j = {{"id", r.id},
                      {"from", r.sender},
                      {"document_id", r.document_id},
                      {"subject", r.subject},
                      {"received_at", time_text(r.received_at)},
                      {"verification", r.verification},
                      {"reason", r.reason.empty() ? nlohmann::json() : nlohmann::json(r.reason)},
                      {"business_type", business_type_name(r.business_type)},
                      {"revoked", !r.revoked_by.empty()},
                      {"history", history_json(r.history)}};
  if (!r.concerns.empty()) j["concerns"] = r.concerns;
  if (!r.conflict_of.empty()) j["conflict_of"] = r.conflict_of;
  if (!r.revoked_by.empty()) j["revoked_by"] = r.revoked_by;
  if (!r.superseded_by.empty()) j["superseded_by"] = r.superseded_by;
  return j;
}

// POST /v1/documents/{id}/followup: {"type": "revocation"|"update"|"replacement",
// "reason": TEXT, "package": unsigned edXML (update: optional, replacement:
// required), "receivers": [{"organ_id": ID, "change": "added"|"removed"}] (update)}.
std::optional<HttpResponse> followup_from_json(const std::string& text,
                                               Pipeline::FollowUpRequest& out) {
  auto body = nlohmann::json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return error_response(400, "bad_request", "send a JSON object");
  auto type = string_member(body, "type");
  auto reason = string_member(body, "reason");
  auto package = string_member(body, "package");
  if (!type || !reason || !package)
    return error_response(400, "bad_request", "type, reason and package are strings");
  if (*type == "revocation")
    out.type = 1;
  else if (*type == "update")
    out.type = 2;
  else if (*type == "replacement")
    out.type = 3;
  else
    return error_response(400, "bad_type",
                          "type must be \"revocation\", \"update\" or \"replacement\"");
  out.reason = *reason;
  out.package = *package;
  if (body.contains("receivers")) {
    if (out.type != 2 || !body["receivers"].is_array())
      return error_response(400, "bad_receivers", "receivers is a list, for an update only");
    for (const auto& r : body["receivers"]) {
      if (!r.is_object()) return error_response(400, "bad_receivers", "a receiver is an object");
      auto organ = string_member(r, "organ_id");
      auto change = string_member(r, "change", "added");
      if (!organ || organ->empty() || !change || (*change != "added" && *change != "removed"))
        return error_response(
            400, "bad_receivers",
            "a receiver is {\"organ_id\": ID, \"change\": \"added\"|\"removed\"}");
      out.receivers.push_back({*organ, *change == "added"});
    }
  }
  return std::nullopt;
}

// POST /v1/documents as multipart/form-data: a "meta" part with the JSON
// metadata of `edxml build` (README, "edXML metadata") and one part per
// attached file. Builds the unsigned package into `package`; returns the
// error answer when it cannot.
std::optional<HttpResponse> package_from_form(const std::string& content_type,
                                              const std::string& body, std::string& package) {
  auto boundary = multipart_boundary(content_type);
  if (!boundary) {
    return error_response(boundary.error().code == Errc::unsupported ? 415 : 400, "bad_multipart",
                          boundary.error().message);
  }
  auto parts = parse_multipart(body, *boundary);
  if (!parts) return error_response(400, "bad_multipart", parts.error().message);
  std::optional<nlohmann::json> meta;
  std::vector<edxml::AttachmentFile> files;
  for (auto& part : *parts) {
    if (part.name == "meta") {  // a value, or a file as `curl -F meta=@meta.json` sends it
      if (meta) return error_response(400, "bad_multipart", "send one \"meta\" part, not two");
      auto j = nlohmann::json::parse(part.body, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return error_response(400, "bad_meta", "the \"meta\" part is not a JSON object");
      meta = std::move(j);
    } else if (!part.file_name.empty()) {
      edxml::AttachmentFile f;
      f.name = part.file_name;
      f.bytes = std::move(part.body);
      // A generic type says nothing; the extension then tells more.
      if (part.content_type != "application/octet-stream") f.content_type = part.content_type;
      files.push_back(std::move(f));
    } else {
      return error_response(400, "bad_multipart",
                            "unexpected form field \"" + part.name +
                                "\": send \"meta\" (JSON) and files with a file name");
    }
  }
  if (!meta) return error_response(400, "bad_multipart", "the \"meta\" part (JSON) is missing");
  auto built = edxml::build_package(*meta, std::move(files), now_seconds());
  if (!built) return error_response(422, "bad_meta", built.error().message);
  package = std::move(*built);
  return std::nullopt;
}

// The body types POST /v1/documents takes: XML, a form, and the types
// generic clients send an XML body with (curl -d: form-urlencoded). Anything
// else (image/png...) is a client's mistake worth naming before the body.
bool acceptable_document_type(std::string type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  for (auto& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return type.empty() || type == "application/xml" || type == "text/xml" ||
         (type.size() > 4 && type.ends_with("+xml")) || type == "multipart/form-data" ||
         type == "application/x-www-form-urlencoded" || type == "application/octet-stream";
}

}  // namespace

HeadDecision Gateway::local_head(const HttpRequest& head) {
  // Judged on the header alone, so that a client without a token never gets
  // to make the gateway hold its body in memory.
  if (head.path() == "/healthz") return {};
  const auto c = config();
  if (!c->config.api) return {};  // handle_local answers 503
  if (authenticate(*c->config.api, head).empty()) {
    return error_response(401, "unauthorized",
                          "send Authorization: Bearer TOKEN of a configured client");
  }
  if (head.method == "POST" && head.path() == "/v1/documents" &&
      !acceptable_document_type(head.header("content-type"))) {
    return error_response(415, "unsupported_media_type",
                          "send the package as application/xml or a multipart/form-data form, "
                          "not " +
                              head.header("content-type"));
  }
  return {};
}

HttpResponse Gateway::handle_local(const HttpRequest& r) {
  const auto started = std::chrono::steady_clock::now();
  const auto c = config();
  const std::string path = r.path();
  auto finish = [&](HttpResponse resp) {
    metrics_.observe_request(
        "local", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return resp;
  };
  if (path == "/healthz" && r.method == "GET") return finish(healthz());
  if (!c->config.api) {  // removed by a reload; the listener closes at the next restart
    return finish(error_response(503, "api_disabled", "the configuration in force has no <api>"));
  }
  const std::string client = authenticate(*c->config.api, r);
  if (client.empty()) {
    return finish(error_response(401, "unauthorized",
                                 "send Authorization: Bearer TOKEN of a configured client"));
  }
  if (path == "/metrics" && r.method == "GET") return finish(metrics());
  if (path == "/v1/audit/checkpoint" && r.method == "POST") {
    auto note = checkpoint();
    if (!note) return finish(error_response(503, "checkpoint_failed", note.error().message));
    HttpResponse resp;
    resp.content_type = "text/plain; charset=utf-8";
    resp.body = *note;
    return finish(resp);
  }

  // The key with its body's hash: a key reused for another body is refused.
  const std::string client_key = r.header("idempotency-key");
  const std::string idempotency_key =
      client_key.empty() ? client_key : idempotency_key_with_body(client_key, sha256_hex(r.body));
  const auto s = segments(path);
  if (s.size() < 2 || s[0] != "v1")
    return finish(error_response(404, "not_found", "no such endpoint: " + path));
  if (s[1] == "documents") {
    if (s.size() == 2 && r.method == "POST") {
      const std::string type = r.header("content-type");
      if (type.rfind("multipart/", 0) == 0) {
        std::string package;
        if (auto refused = package_from_form(type, r.body, package)) return finish(*refused);
        return finish(pipeline_->submit(package, client, idempotency_key));
      }
      return finish(pipeline_->submit(r.body, client, idempotency_key));
    }
    if (s.size() == 4 && s[3] == "followup" && r.method == "POST") {
      Pipeline::FollowUpRequest request;
      if (auto refused = followup_from_json(r.body, request)) return finish(*refused);
      return finish(pipeline_->follow_up(s[2], request, client, idempotency_key));
    }
    if (s.size() == 4 && s[3] == "status" && r.method == "POST") {
      // {"code": "13", "description": TEXT, "recipients": [ID...] (optional: all)}
      auto body = nlohmann::json::parse(r.body, nullptr, false);
      std::vector<std::string> recipients;
      bool ok = body.is_object() && body.contains("code") && body["code"].is_string() &&
                string_member(body, "description").has_value();
      if (ok && body.contains("recipients")) {
        ok = body["recipients"].is_array();
        for (const auto& organ : ok ? body["recipients"] : nlohmann::json::array()) {
          if (!organ.is_string())
            ok = false;
          else
            recipients.push_back(organ.get<std::string>());
        }
      }
      if (!ok) {
        return finish(error_response(
            400, "bad_request",
            "send {\"code\": \"13\", \"description\": \"...\", \"recipients\": [...]}"));
      }
      return finish(pipeline_->send_document_status(s[2], body["code"].get<std::string>(),
                                                    body.value("description", ""), recipients));
    }
    if (s.size() == 3 && r.method == "GET") {
      auto d = store_->document(s[2]);
      if (!d) return finish(error_response(503, "store_unavailable", d.error().message));
      if (!*d) return finish(error_response(404, "not_found", "no document " + s[2]));
      return finish(json_response(200, document_json(**d).dump()));
    }
  }
  if (s[1] == "inbox") {
    if (s.size() == 2 && r.method == "GET") {
      const std::string limit_text = r.query("limit");
      int limit = 1000000;
      if (!limit_text.empty()) {
        char* end = nullptr;
        limit = static_cast<int>(std::strtol(limit_text.c_str(), &end, 10));
        if (*end != '\0' || limit < 1)
          return finish(error_response(400, "bad_limit", "limit must be a positive number"));
      }
      auto rows = store_->inbox(r.query("since"), limit);
      if (!rows) return finish(error_response(503, "store_unavailable", rows.error().message));
      nlohmann::json list = nlohmann::json::array();
      for (const auto& row : *rows) list.push_back(inbox_json(row));
      return finish(json_response(200, list.dump()));
    }
    if (s.size() >= 3) {
      auto item = store_->inbox_item(s[2]);
      if (!item) return finish(error_response(503, "store_unavailable", item.error().message));
      if (!*item) return finish(error_response(404, "not_found", "no inbox document " + s[2]));
      if (s.size() == 3 && r.method == "GET") {
        auto bytes = store_->read_package(s[2]);
        if (!bytes) return finish(error_response(503, "store_unavailable", bytes.error().message));
        HttpResponse resp;
        resp.content_type = "application/xml";
        resp.body = std::move(*bytes);
        return finish(resp);
      }
      if (s.size() == 4 && s[3] == "report" && r.method == "GET") {
        return finish(json_response(200, (*item)->report_json));
      }
      if (s.size() == 4 && s[3] == "status" && r.method == "POST") {
        auto body = nlohmann::json::parse(r.body, nullptr, false);
        if (body.is_discarded() || !body.is_object() || !body.contains("code") ||
            !body["code"].is_string() || !string_member(body, "description")) {
          return finish(error_response(400, "bad_request",
                                       "send {\"code\": \"03\", \"description\": \"...\"}"));
        }
        const std::string description = body.value("description", "");
        return finish(pipeline_->send_status(s[2], body["code"].get<std::string>(), description));
      }
    }
  }
  return finish(error_response(404, "not_found", "no such endpoint: " + r.method + " " + path));
}

}  // namespace edocgw::gateway
