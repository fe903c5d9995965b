// The exchange API (hub mode): the VDXP shape of DOMAIN.md, served to the
// district gateways configured as <exchange><client .../></exchange>.
// Every request is authenticated by system id and HMAC (adapters/vdxp/
// vdxp_auth.h); every package is verified before it is accepted.
#include <nlohmann/json.hpp>

#include "adapters/vdxp/vdxp_auth.h"
#include "edxml/agency_code.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "util/bytes.h"

namespace edocgw::gateway {
namespace {

HttpResponse answer(unsigned status, const std::string& error_code, const std::string& description,
                    nlohmann::json extra = nlohmann::json::object()) {
  extra["status"] = error_code == "0" ? "OK" : "FAIL";
  extra["ErrorCode"] = error_code;
  extra["ErrorDesc"] = description;
  return json_response(status, extra.dump());
}

}  // namespace

HttpResponse Gateway::handle_exchange(const HttpRequest& r) {
  const auto started = std::chrono::steady_clock::now();
  auto finish = [&](HttpResponse resp) {
    metrics_.observe_request(
        "exchange",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return resp;
  };
  const auto c = config();
  const adapters::vdxp::AuthScheme scheme;  // header names without prefix, hex signatures
  const std::string path = r.path();
  if (r.method != "POST") return finish(answer(405, "405", "the exchange API takes POST"));
  if (!c->config.exchange)
    return finish(answer(503, "503", "the configuration in force has no <exchange>"));

  // Who is calling.
  const std::string system_id = r.header(scheme.header("systemid"));
  const config::ExchangeClient* client = nullptr;
  for (const auto& cl : c->config.exchange->clients) {
    if (cl.system_id == system_id) client = &cl;
  }
  std::map<std::string, std::string> params;
  for (const char* name : adapters::vdxp::kSignedParameters) {
    if (auto it = r.headers.find(name); it != r.headers.end()) params[name] = it->second;
  }
  auto secret = c->exchange_secrets.find(system_id);
  if (client == nullptr || secret == c->exchange_secrets.end()) {
    return finish(answer(401, "401", "unknown system id '" + system_id + "'"));
  }
  if (auto st = adapters::vdxp::check_request(
          scheme, secret->second, system_id, r.header(scheme.header("timestamp")),
          r.header(scheme.header("signature")), "POST", path, params, r.body,
          now_seconds().time_since_epoch().count());
      !st) {
    log_warn("exchange request refused",
             {{"system_id", system_id}, {"reason", st.error().message}});
    return finish(answer(401, "401", st.error().message));
  }

  if (path == "/sendEdoc") {
    const std::string kind = params["messagetype"] == "status" ? "status" : "edoc";
    if (params["from"] != client->organ_id) {
      return finish(answer(
          403, "403",
          "system id " + system_id + " sends for " + client->organ_id + ", not " + params["from"]));
    }
    auto to = nlohmann::json::parse(params["to"], nullptr, false);
    if (to.is_discarded() || !to.is_array() || to.empty()) {
      return finish(answer(400, "400", "the to header must be a JSON array of agency codes"));
    }
    const crypto::VerificationReport report = pipeline_->verify(*c, r.body);
    const std::string package_id = random_uuid();
    // Logged before the answer; a refused package's bytes are not kept.
    const bool keep = report.valid && report.sender_organ_id == client->organ_id;
    if (auto st = pipeline_->log_verification(*c, report, kind, keep ? package_id : ""); !st) {
      return finish(
          answer(503, "503", "the signature log cannot be written: " + st.error().message));
    }
    if (!report.valid) {
      log_warn("hub refused a package", {{"from", client->organ_id}, {"reason", report.reason}});
      return finish(answer(422, "VERIFY_FAILED", report.reason));
    }
    if (report.sender_organ_id != client->organ_id) {
      return finish(answer(422, "WRONG_SENDER",
                           "the package names " + report.sender_organ_id +
                               " as sender but was sent by " + client->organ_id));
    }
    std::vector<MailboxRow> rows;
    const std::int64_t t = now_seconds().time_since_epoch().count();
    for (const auto& organ : to) {
      if (!organ.is_string() ||
          edxml::classify_agency_code(organ.get<std::string>()) == edxml::AgencyCodeForm::invalid) {
        return finish(answer(400, "400", "'" + organ.dump() + "' is not an agency code"));
      }
      rows.push_back(
          {random_uuid(), package_id, client->organ_id, organ.get<std::string>(), kind, "new", t});
    }
    if (auto st = store_->add_mail(rows, r.body); !st) {
      return finish(answer(503, "503", "not stored: " + st.error().message));
    }
    metrics_.inc("edocgw_hub_accepted_total{kind=\"" + kind + "\"}");
    log_info("hub accepted a package",
             {{"from", client->organ_id}, {"document_id", report.document_id}, {"kind", kind}});
    return finish(answer(200, "0", "", {{"DocId", package_id}}));
  }
  if (path == "/getReceivedEdocList") {
    const std::string kind = params["messagetype"] == "status" ? "status" : "edoc";
    auto mail = store_->mail_for(client->organ_id, kind);
    if (!mail) return finish(answer(503, "503", mail.error().message));
    nlohmann::json data = nlohmann::json::array();
    for (const auto& m : *mail) {
      data.push_back(
          {{"docId", m.id},
           {"from", m.from_organ},
           {"to", m.to_organ},
           {"status", m.status},
           {"created_time", format_rfc3339(TimePoint(std::chrono::seconds(m.created_at)))}});
    }
    return finish(answer(200, "0", "", {{"data", data}}));
  }
  if (path == "/getEdoc" || path == "/updateStatus") {
    auto m = store_->mail(params["docid"]);
    if (!m) return finish(answer(503, "503", m.error().message));
    if (!*m || (*m)->to_organ != client->organ_id) {
      return finish(
          answer(404, "404", "no document " + params["docid"] + " for " + client->organ_id));
    }
    if (path == "/getEdoc") {
      auto bytes = store_->read_package((*m)->package_id);
      if (!bytes) return finish(answer(503, "503", bytes.error().message));
      if ((*m)->status == "new") (void)store_->set_mail_status((*m)->id, "processing");
      return finish(answer(200, "0", "", {{"data", base64_encode(*bytes)}}));
    }
    const std::string status = params["status"];
    if (status != "processing" && status != "done" && status != "fail") {
      return finish(answer(400, "400", "status must be processing, done or fail"));
    }
    if (auto st = store_->set_mail_status((*m)->id, status); !st)
      return finish(answer(503, "503", st.error().message));
    return finish(answer(200, "0", ""));
  }
  return finish(answer(404, "404", "no such call: " + path));
}

}  // namespace edocgw::gateway
