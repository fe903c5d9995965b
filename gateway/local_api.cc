// The local API for office systems (shared/INTERFACE.md, "Local API").
#include <chrono>
#include <optional>

#include <nlohmann/json.hpp>

#include "edxml/package.h"
#include "gateway/gateway.h"
#include "gateway/local_api_request.h"
#include "gateway/log.h"
#include "util/bytes.h"

namespace edocgw::gateway {
namespace {

std::string time_text(std::int64_t seconds) {
  return format_rfc3339(TimePoint(std::chrono::seconds(seconds)));
}

const char* business_type_name(int type) {
  static const char* const kNames[] = {"new", "revocation", "update", "replacement"};
  return type >= 0 && type <= 3 ? kNames[type] : "new";
}

// A state as the JSON of the API spells it (the store's name).
template <class E>
std::string text(E state) {
  return std::string(store::name(state));
}

nlohmann::json history_json(const std::vector<store::StatusEntry>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& h : history) {
    out.push_back({{"code", h.code},
                   {"meaning", edxml::status_code_meaning(h.code)},
                   {"description", h.description},
                   {"organ_id", h.organ_id},
                   {"timestamp", time_text(h.timestamp)},
                   {"received_at", time_text(h.received_at)},
                   {"direction", text(h.direction)},
                   {"applied", h.applied}});
  }
  return out;
}

nlohmann::json document_json(const store::DocumentRow& d) {
  nlohmann::json j = {
      {"id", d.id},
      {"kind", text(d.kind)},
      {"status", text(d.state)},
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
        {"status", text(r.state)},
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

nlohmann::json inbox_json(const store::InboxRow& r) {
  nlohmann::json j = {{"id", r.id},
                      {"from", r.sender},
                      {"document_id", r.document_id},
                      {"subject", r.subject},
                      {"received_at", time_text(r.received_at)},
                      {"verification", text(r.verification)},
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

// The answer to what the pipeline made of a request: the status its kind
// stands for (shared/INTERFACE.md), with the outcome's text as body, the
// same text the pickup folder keeps beside a file it took.
HttpResponse answer(const Outcome& outcome) {
  HttpResponse r;  // application/json
  r.body = answer_text(outcome);
  switch (outcome.kind) {
    case Outcome::Kind::queued:
    case Outcome::Kind::repeated:
      r.status = 202;
      return r;
    case Outcome::Kind::invalid:
      r.status = 400;
      return r;
    case Outcome::Kind::refused:
      r.status = 422;
      return r;
    case Outcome::Kind::not_found:
      r.status = 404;
      return r;
    case Outcome::Kind::conflict:
      r.status = 409;
      return r;
    case Outcome::Kind::purged:
      r.status = 410;
      return r;
    case Outcome::Kind::too_large:
      r.status = 413;
      return r;
    case Outcome::Kind::unavailable:
      r.status = 503;
      return r;
  }
  r.status = 500;  // not reached: -Wswitch names a kind left out above
  return r;
}

// The answer to a request a reader of gateway/local_api_request.h refused.
HttpResponse refused(const RequestRefusal& r) {
  return error_response(r.status, r.code, r.message);
}

}  // namespace

HeadDecision Gateway::local_head(const HttpRequest& head) {
  // Judged on the header alone, so that a client without a token never gets
  // to make the gateway hold its body in memory.
  if (head.path() == "/healthz") return {};
  const auto c = config();
  if (!c->config.api) return {};  // handle_local answers 503
  if (authenticated_client(*c->config.api, head.header("authorization")).empty()) {
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
  const std::string client = authenticated_client(*c->config.api, r.header("authorization"));
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
      client_key.empty() ? client_key
                         : store::idempotency_key_with_body(client_key, sha256_hex(r.body));
  const auto s = path_segments(path);
  if (s.size() < 2 || s[0] != "v1")
    return finish(error_response(404, "not_found", "no such endpoint: " + path));
  if (s[1] == "documents") {
    if (s.size() == 2 && r.method == "POST") {
      const std::string type = r.header("content-type");
      if (type.rfind("multipart/", 0) == 0) {
        std::string package;
        if (auto refusal = read_document_form(type, r.body, now_seconds(), package))
          return finish(refused(*refusal));
        return finish(answer(pipeline_->submit(package, client, idempotency_key)));
      }
      return finish(answer(pipeline_->submit(r.body, client, idempotency_key)));
    }
    if (s.size() == 4 && s[3] == "followup" && r.method == "POST") {
      FollowUpBody body;
      if (auto refusal = read_followup(r.body, body)) return finish(refused(*refusal));
      Pipeline::FollowUpRequest request;
      request.type = body.type;
      request.reason = std::move(body.reason);
      request.package = std::move(body.package);
      request.receivers = std::move(body.receivers);
      return finish(answer(pipeline_->follow_up(s[2], request, client, idempotency_key)));
    }
    if (s.size() == 4 && s[3] == "status" && r.method == "POST") {
      StatusBody body;
      if (auto refusal = read_document_status(r.body, body)) return finish(refused(*refusal));
      return finish(answer(
          pipeline_->send_document_status(s[2], body.code, body.description, body.recipients)));
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
        if (auto refusal = read_inbox_limit(limit_text, limit)) return finish(refused(*refusal));
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
        if (!*bytes)
          return finish(error_response(410, "purged",
                                       "the package of inbox document " + s[2] +
                                           " was purged by retention; its report is kept"));
        HttpResponse resp;
        resp.content_type = "application/xml";
        resp.body = std::move(**bytes);
        return finish(resp);
      }
      if (s.size() == 4 && s[3] == "report" && r.method == "GET") {
        return finish(json_response(200, (*item)->report_json));
      }
      if (s.size() == 4 && s[3] == "status" && r.method == "POST") {
        StatusBody body;
        if (auto refusal = read_inbox_status(r.body, body)) return finish(refused(*refusal));
        return finish(answer(pipeline_->send_status(s[2], body.code, body.description)));
      }
    }
  }
  return finish(error_response(404, "not_found", "no such endpoint: " + r.method + " " + path));
}

}  // namespace edocgw::gateway
