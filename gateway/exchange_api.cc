// The exchange API (hub mode): the national exchange's VDXP protocol as
// VNPT's client SDK speaks it (VDXP.md), served to the systems configured as
// <exchange><client .../></exchange>.
//
// Every request is authenticated on its header alone (exchange_head(), the
// HTTP server's head check), before any body is read, with the XroadVnpt
// HMAC of adapters/vdxp/vdxp_auth.h; the handler authenticates again (the
// same pure function) and reads its parameters from the signed members only.
// Every package is verified before it is accepted, and routed by its own
// content: a document to its To/OrganIds, a status to its
// ResponseFor/OrganId; `messagetype` is only a label.
//
// Answers are always JSON with `status` OK|FAIL, `ErrorCode`, `ErrorDesc`
// (and `DocId` on every sendEdoc answer), ASCII only (non-ASCII as \uXXXX).
// HTTP status: 200 with every OK; a FAIL carries the HTTP status its
// ErrorCode names (400 malformed, 401 authentication, 403 not allowed, 404
// not found, 405 method, 409 conflicting docId/docid, 413 too large, 422
// package refused, 503 storage), since the SDK reads the body whatever the
// status and other clients may look at the status.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "adapters/vdxp/vdxp_auth.h"
#include "edxml/agency_code.h"
#include "edxml/package.h"
#include "edxml/xml.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "util/bytes.h"

namespace edocgw::gateway {
namespace {

namespace vdxp = adapters::vdxp;

constexpr int kListBite = 100;                   // getReceivedEdocList: items per answer
constexpr int kSentListLimit = 500;              // getSentEdocList: newest rows looked at
constexpr std::uint64_t kSmallBody = 64 * 1024;  // every call but sendEdoc: `{}` or a little JSON

const std::set<std::string> kPostCalls = {
    "/sendEdoc",           "/getReceivedEdocList", "/getEdoc",
    "/updateStatus",       "/getSentEdocList",     "/countReceiveEdoc",
    "/countReceiveStatus", "/getAgenciesList",     "/getAgenciesListQD20",
    "/getSynchronizeUnit", "/registerAgency",      "/deleteAgency"};

HttpResponse answer(unsigned http_status, const std::string& error_code,
                    const std::string& description,
                    nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json j = nlohmann::json::object();
  j["status"] = error_code == "0" ? "OK" : "FAIL";
  j["ErrorCode"] = error_code;
  j["ErrorDesc"] = description;
  for (auto& [k, v] : extra.items()) j[k] = std::move(v);
  HttpResponse r;
  r.status = http_status;
  // ASCII only (the SDK reads sendEdoc answers as US-ASCII), and never a
  // throw on bytes from outside that are not UTF-8.
  r.body = j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse ok(nlohmann::json extra = nlohmann::json::object()) {
  return answer(200, "0", "Success", std::move(extra));
}

HttpResponse fail(unsigned http_status, const std::string& description, bool send_edoc = false) {
  nlohmann::json extra = nlohmann::json::object();
  if (send_edoc) extra["DocId"] = "";
  return answer(http_status, std::to_string(http_status), description, std::move(extra));
}

struct Caller {
  const config::ExchangeClient* client = nullptr;
  vdxp::VerifiedRequest request;
};

Result<Caller> authenticate(const LoadedConfig& c, const HttpRequest& r) {
  vdxp::Fields fields;
  fields.reserve(r.fields.size());
  for (const auto& f : r.fields) fields.emplace_back(f.name, f.value);
  auto verified =
      vdxp::verify_request(fields, [&](const std::string& id) -> std::optional<std::string> {
        auto it = c.exchange_secrets.find(id);
        if (it == c.exchange_secrets.end()) return std::nullopt;
        return it->second;
      });
  if (!verified) return verified.error();
  Caller caller;
  for (const auto& cl : c.config.exchange->clients) {
    if (cl.system_id == verified->system_id) caller.client = &cl;
  }
  if (caller.client == nullptr)
    return make_error(Errc::invalid, "unknown system id '" + verified->system_id + "'");
  caller.request = std::move(*verified);
  return caller;
}

std::string time_text(std::int64_t unix_seconds) {
  return unix_seconds == 0 ? std::string()
                           : format_edxml_time(TimePoint(std::chrono::seconds(unix_seconds)));
}

bool serves(const config::ExchangeClient& client, const std::string& organ) {
  return std::find(client.organ_ids.begin(), client.organ_ids.end(), organ) !=
         client.organ_ids.end();
}

store::Kind message_kind(const vdxp::VerifiedRequest& q) {
  return q.get("messagetype") == "status" ? store::Kind::status : store::Kind::edoc;
}

// A mailbox state as the VDXP answers spell it: the store's name, but
// "initial" for one not fetched yet.
std::string receive_status(store::MailState state) {
  return state == store::MailState::fresh ? "initial" : std::string(store::name(state));
}

// The docId a getEdoc/downloadEdoc means: `docId` as spelled wins over a
// differently spelled one (Bkav's client leaves a stale `docid` behind).
std::string doc_id_for_reading(const vdxp::VerifiedRequest& q) {
  if (auto exact = q.exact("docId")) return *exact;
  return q.get("docid");
}

// What a hub needs from a package before it verifies it: who sent it and
// where it goes.
struct Routing {
  edxml::PackageKind kind = edxml::PackageKind::document;
  std::string from;
  std::vector<std::string> to;
  std::string document_id, title, notation;
};

Result<Routing> route_of(const std::string& package) {
  auto doc = xml::parse_untrusted_xml(package);
  if (!doc) return make_error(Errc::malformed, "the package is not XML: " + doc.error().message);
  auto p = edxml::read_package(doc->get(), edxml::ReadOptions{.decode_attachments = false});
  if (!p) return make_error(Errc::malformed, "the package is not edXML: " + p.error().message);
  Routing r;
  r.kind = p->kind;
  r.from = p->sender_organ_id();
  if (p->kind == edxml::PackageKind::status) {
    r.to.push_back(p->status.response_for.organ_id);
    r.document_id = p->status.response_for.document_id;
  } else {
    for (const auto& t : p->header.to) {
      if (std::find(r.to.begin(), r.to.end(), t.organ_id) == r.to.end()) r.to.push_back(t.organ_id);
    }
    r.document_id = p->header.document_id;
    r.title = p->header.subject;
    r.notation = p->header.code.number.empty()
                     ? p->header.code.notation
                     : p->header.code.number + "/" + p->header.code.notation;
  }
  return r;
}

// `text` as a JSON string, ASCII only. The list is the hub's busiest answer
// and its texts are ids, codes and fixed words: they are copied as they are
// unless a byte needs escaping, and only then go through nlohmann's writer.
void append_json_string(std::string& out, const std::string& text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
  });
  if (plain) {
    out += '"';
    out += text;
    out += '"';
  } else {
    out += nlohmann::json(text).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  }
}

// getReceivedEdocList's OK answer with its `data` items (VDXP.md section 5),
// written straight into one string.
std::string received_list(const std::vector<store::MailboxRow>& mail) {
  std::string out = R"({"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":[)";
  out.reserve(out.size() + mail.size() * 300);
  bool first = true;
  for (const auto& m : mail) {
    const bool waiting = m.state == store::MailState::fresh;
    const std::pair<const char*, std::string> members[] = {
        {"docId", m.id},
        {"from", m.from_organ},
        {"to", m.to_organ},
        {"status", receive_status(m.state)},
        {"status_desc", waiting ? "waiting to be fetched" : std::string(store::name(m.state))},
        {"serviceType", "eDoc"},
        {"messageType", std::string(store::name(m.kind))},
        {"created_time", time_text(m.created_at)},
        {"updated_time", time_text(m.updated_at)}};
    out += first ? "{" : ",{";
    first = false;
    bool first_member = true;
    for (const auto& [name, value] : members) {
      if (!first_member) out += ',';
      first_member = false;
      out += '"';
      out += name;
      out += "\":";
      append_json_string(out, value);
    }
    out += '}';
  }
  out += "]}";
  return out;
}

nlohmann::json sent_item(const store::MailboxRow& m) {
  const std::string state(store::name(m.state));
  return {
      {"senderDocId", m.package_id},
      {"receiverDocId", m.id},
      {"fromCode", m.from_organ},
      {"toCode", m.to_organ},
      {"sendStatus", "done"},
      {"sendStatusDesc", "accepted by the hub"},
      {"receiveStatus", receive_status(m.state)},
      {"receiveStatusDesc", m.state == store::MailState::fresh ? "not fetched yet" : state},
      {"receivedTime", m.state == store::MailState::done ? time_text(m.updated_at) : std::string()},
      {"sentTime", time_text(m.created_at)},
      {"title", m.title},
      {"notation", m.notation},
      {"messageType", std::string(store::name(m.kind))},
      {"serviceType", "eDoc"}};
}

}  // namespace

HttpResponse Gateway::exchange_error(unsigned status, const std::string& code,
                                     const std::string& message) {
  (void)code;
  // The server does not know the call here (the request may not even have
  // been read): DocId is added for sendEdoc's sake, other calls ignore it.
  return fail(status, message, /*send_edoc=*/true);
}

HeadDecision Gateway::exchange_head(const HttpRequest& head) {
  const std::string path = head.path();
  const bool send = path == "/sendEdoc";
  if (path == "/downloadEdoc" ? head.method != "GET" : head.method != "POST") {
    if (path != "/downloadEdoc" && !kPostCalls.count(path)) {
      return fail(404, "no such call: " + path);
    }
    return fail(405, path + " takes " + (path == "/downloadEdoc" ? "GET" : "POST"), send);
  }
  if (path != "/downloadEdoc" && !kPostCalls.count(path)) return fail(404, "no such call: " + path);
  const auto c = config();
  if (!c->config.exchange) return fail(503, "the configuration in force has no <exchange>", send);
  auto caller = authenticate(*c, head);
  if (!caller) {
    metrics_.inc("edocgw_hub_refused_total{reason=\"authentication\"}");
    log_warn("exchange request refused before its body",
             {{"path", path}, {"remote", head.remote}, {"reason", caller.error().message}});
    return fail(401, caller.error().message, send);
  }
  return HeadDecision::accept(send ? c->config.exchange->max_body_bytes : kSmallBody);
}

HttpResponse Gateway::handle_exchange(const HttpRequest& r) {
  const auto started = std::chrono::steady_clock::now();
  auto finish = [&](HttpResponse resp) {
    metrics_.observe_request(
        "exchange",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return resp;
  };
  const auto c = config();
  const std::string path = r.path();
  const bool send = path == "/sendEdoc";
  if (!c->config.exchange)
    return finish(fail(503, "the configuration in force has no <exchange>", send));
  // Again, on the configuration this request runs with (a reload may have
  // come between the head and now); the head check already refused most.
  auto auth = authenticate(*c, r);
  if (!auth) return finish(fail(401, auth.error().message, send));
  const config::ExchangeClient& client = *auth->client;
  const vdxp::VerifiedRequest& q = auth->request;
  const config::ExchangeConfig& ex = *c->config.exchange;

  if (send) {
    std::string package;
    // Every refusal of an authenticated sendEdoc is logged as refused, with
    // its reason and no package file (nothing is kept), before it is
    // answered: no refusal goes unlogged.
    auto refuse = [&](unsigned status, const std::string& reason) {
      crypto::VerificationReport refused;
      refused.sender_organ_id = q.get("from");
      refused.package_sha256 = sha256_hex(package.empty() ? r.body : package);
      refused.checked_at = format_rfc3339(now_seconds());
      refused.add("request", crypto::CheckOutcome::fail, reason);
      refused.finish();
      const std::string label = q.get("messagetype") == "status" ? "status" : "edoc";
      if (auto st = pipeline_->log_verification(*c, refused, label, ""); !st)
        return finish(
            fail(503, "the signature log cannot be written: " + st.error().message, true));
      metrics_.inc("edocgw_hub_refused_total{reason=\"request\"}");
      return finish(fail(status, reason, true));
    };
    // The body is the package, plus the CRLF the SDK appends: the hash-file
    // (SHA-256 without zero padding, as the SDK writes it) says which.
    const std::string hash = q.get("hash-file");
    if (hash.empty()) return refuse(400, "sendEdoc needs a signed hash-file");
    if (r.body.size() >= 2 && r.body.compare(r.body.size() - 2, 2, "\r\n") == 0 &&
        vdxp::sdk_hash_file(std::string_view(r.body).substr(0, r.body.size() - 2)) == hash) {
      package = r.body.substr(0, r.body.size() - 2);
    } else if (vdxp::sdk_hash_file(r.body) == hash) {
      package = r.body;
    } else {
      return refuse(400, "hash-file " + hash +
                             " is not the SDK's SHA-256 (unpadded hex) of the body, with or "
                             "without its trailing CRLF");
    }
    std::string service = q.get("servicetype");
    for (auto& ch : service) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (service != "edoc") return refuse(400, "servicetype must be eDoc");
    const std::string label = q.get("messagetype");
    if (label != "edoc" && label != "status")
      return refuse(400, "messagetype must be edoc or status, not '" + label + "'");
    const std::string from = q.get("from");
    if (!serves(client, from)) {
      return refuse(403, "system id " + client.system_id + " does not send for '" + from + "'");
    }
    auto route = route_of(package);
    if (!route) return refuse(400, route.error().message);
    const store::Kind package_kind =
        route->kind == edxml::PackageKind::status ? store::Kind::status : store::Kind::edoc;
    const std::string kind(store::name(package_kind));
    if (route->from != from) {
      return refuse(
          422, "the package's From/OrganId is '" + route->from + "' but from is '" + from + "'");
    }
    if (route->to.empty() || std::any_of(route->to.begin(), route->to.end(),
                                         [](const std::string& t) { return t.empty(); })) {
      return refuse(422, kind == "status" ? "the status package has no ResponseFor/OrganId"
                                          : "the package has no To/OrganId");
    }
    // `to` is optional (real clients do not send it); when sent, a JSON
    // array naming exactly the package's recipients, in any order.
    if (const std::string to_header = q.get("to"); !to_header.empty()) {
      auto to = nlohmann::json::parse(to_header, nullptr, false);
      std::set<std::string> named;
      bool strings = !to.is_discarded() && to.is_array();
      if (strings) {
        for (const auto& t : to) {
          if (!t.is_string())
            strings = false;
          else
            named.insert(t.get<std::string>());
        }
      }
      if (!strings) return refuse(400, "to must be a JSON array of agency codes");
      if (named != std::set<std::string>(route->to.begin(), route->to.end())) {
        return refuse(422, "to " + to_header + " does not name the package's recipients");
      }
    }
    std::vector<const config::ExchangeClient*> recipients;
    for (const auto& organ : route->to) {
      const config::ExchangeClient* served = ex.client_for_organ(organ);
      if (served == nullptr) return refuse(422, "no system connected to this hub serves " + organ);
      recipients.push_back(served);
    }
    if (label != kind) {
      log_warn("sendEdoc label differs from the package's kind",
               {{"messagetype", label}, {"kind", kind}, {"from", from}});
    }

    const crypto::VerificationReport report = pipeline_->verify(*c, package);
    const std::string package_id = random_uuid();
    // Valid, or unsigned where the <accept> policy for this sender allows it.
    const bool accepted = report.accepted();
    if (!accepted) {
      if (auto st = pipeline_->log_verification(*c, report, kind, ""); !st)
        return finish(
            fail(503, "the signature log cannot be written: " + st.error().message, true));
      metrics_.inc("edocgw_hub_refused_total{reason=\"verification\"}");
      log_warn("hub refused a package", {{"from", from}, {"reason", report.reason}});
      return finish(fail(422, report.reason, true));
    }
    std::vector<store::MailboxRow> rows;
    const std::int64_t t = now_seconds().time_since_epoch().count();
    for (size_t i = 0; i < route->to.size(); ++i) {
      store::MailboxRow m;
      m.id = random_uuid();
      m.package_id = package_id;
      m.from_organ = from;
      m.to_organ = route->to[i];
      m.kind = package_kind;
      m.state = store::MailState::fresh;
      m.created_at = t;
      m.from_system = client.system_id;
      m.to_system = recipients[i]->system_id;
      m.title = route->title;
      m.notation = route->notation;
      rows.push_back(std::move(m));
    }
    if (auto st = store_->add_mail(rows, package,
                                   [&](const std::string& package_name) {
                                     return pipeline_->log_verification(*c, report, kind,
                                                                        package_id, package_name,
                                                                        /*durable=*/false);
                                   });
        !st) {
      (void)pipeline_->log_discard(*c, package_id, report.document_id,
                                   "not stored: " + st.error().message);
      return finish(fail(503, "not stored: " + st.error().message, true));
    }
    metrics_.inc("edocgw_hub_accepted_total{kind=\"" + kind + "\"}");
    log_info("hub accepted a package", {{"from", from},
                                        {"document_id", route->document_id},
                                        {"kind", kind},
                                        {"recipients", std::to_string(rows.size())}});
    return finish(ok({{"DocId", package_id}}));
  }

  if (path == "/getReceivedEdocList") {
    auto mail = store_->mail_for(client.system_id, message_kind(q), kListBite);
    if (!mail) return finish(fail(503, mail.error().message));
    return finish(json_response(200, received_list(*mail)));
  }
  if (path == "/countReceiveEdoc" || path == "/countReceiveStatus") {
    auto n = store_->count_mail_for(
        client.system_id, path == "/countReceiveEdoc" ? store::Kind::edoc : store::Kind::status);
    if (!n) return finish(fail(503, n.error().message));
    return finish(ok({{"count", *n}}));
  }
  if (path == "/getSentEdocList") {
    // A docId narrows to one sendEdoc (its DocId) or one recipient's copy.
    const std::string doc = doc_id_for_reading(q);
    auto mail = store_->sent_mail(
        client.system_id,
        q.get("messagetype").empty() ? std::nullopt : std::optional<store::Kind>(message_kind(q)),
        "", kSentListLimit);
    if (!mail) return finish(fail(503, mail.error().message));
    nlohmann::json data = nlohmann::json::array();
    for (const auto& m : *mail) {
      if (doc.empty() || m.package_id == doc || m.id == doc) data.push_back(sent_item(m));
    }
    return finish(ok({{"data", data}}));
  }
  if (path == "/getEdoc" || path == "/downloadEdoc" || path == "/updateStatus") {
    std::string doc;
    if (path == "/updateStatus") {
      // Acknowledge nothing the caller may not mean: docId and docid must agree.
      const auto ids = q.all("docid");
      if (ids.size() > 1) {
        return finish(fail(409, "docId and docid name different documents (" + ids[0] + ", " +
                                    ids[1] + "); send one"));
      }
      doc = ids.empty() ? std::string() : ids[0];
    } else {
      doc = doc_id_for_reading(q);
    }
    if (doc.empty()) return finish(fail(400, path + " needs a docId"));
    auto m = store_->mail(doc);
    if (!m) return finish(fail(503, m.error().message));
    if (!*m || (*m)->to_system != client.system_id)
      return finish(fail(404, "no document " + doc + " for system id " + client.system_id));
    if (path == "/updateStatus") {
      const std::string status = q.get("status");
      const auto state = store::parse_mail_state(status);
      if (!state || state == store::MailState::fresh)
        return finish(fail(400, "status must be processing, done or fail, not '" + status + "'"));
      if (auto st = store_->set_mail_state((*m)->id, *state); !st)
        return finish(fail(503, st.error().message));
      return finish(ok());
    }
    auto read = store_->read_package((*m)->package_id);
    if (!read) return finish(fail(503, read.error().message));
    if (!*read)
      return finish(fail(410, "the package of document " + doc + " was purged by retention"));
    std::string& bytes = **read;
    if ((*m)->state == store::MailState::fresh)
      (void)store_->set_mail_state((*m)->id, store::MailState::processing);
    if (path == "/downloadEdoc") {
      HttpResponse raw;
      raw.content_type = "application/octet-stream";
      raw.body = std::move(bytes);
      return finish(raw);
    }
    // Written straight, as ok() would write it: base64 needs no escaping,
    // and nlohmann's writer would check a 10 MB text byte by byte.
    HttpResponse got;
    got.status = 200;
    const std::string data = base64_encode(bytes);
    got.body.reserve(data.size() + 80);
    got.body.append(R"({"ErrorCode":"0","ErrorDesc":"Success","data":")")
        .append(data)
        .append(R"(","status":"OK"})");
    return finish(got);
  }

  if (path == "/getAgenciesList" || path == "/getAgenciesListQD20" ||
      path == "/getSynchronizeUnit") {
    auto registered = store_->agencies();
    if (!registered) return finish(fail(503, registered.error().message));
    std::vector<store::AgencyRow> all;
    std::set<std::string> codes;
    for (const auto& a : ex.agencies) {
      if (codes.insert(a.code).second) all.push_back({a.code, a.name, a.mail, a.pid, a.code});
    }
    for (const auto& cl : ex.clients) {
      for (const auto& o : cl.organ_ids) {
        if (codes.insert(o).second) all.push_back({o, o, "", "", o});
      }
    }
    for (const auto& a : *registered) {
      if (codes.insert(a.code).second) all.push_back(a);
    }
    nlohmann::json data = nlohmann::json::array();
    for (const auto& a : all) {
      const std::string id = a.id.empty() ? a.code : a.id;
      if (path == "/getAgenciesList") {
        data.push_back({{"code", a.code},
                        {"id", id},
                        {"mail", a.mail},
                        {"name", a.name},
                        {"pid", a.pid},
                        {"oldCode", ""}});
      } else if (path == "/getAgenciesListQD20") {
        data.push_back({{"code", a.code},
                        {"id", id},
                        {"mail", a.mail},
                        {"name", a.name},
                        {"code102", a.code}});
      } else {
        data.push_back({{"code", a.code},
                        {"id", id},
                        {"mail", a.mail},
                        {"name", a.name},
                        {"pid", a.pid},
                        {"version", 1},
                        {"centerCode", ""},
                        {"deleted", false},
                        {"modifyDate", ""},
                        {"isAgency", true}});
      }
    }
    return finish(ok({{"data", data}}));
  }
  if (path == "/registerAgency" || path == "/deleteAgency") {
    if (!ex.register_agencies) {
      return finish(fail(403, "this hub does not take " + path +
                                  " (<exchange register-agencies=\"allow\"> turns it on)"));
    }
    if (path == "/deleteAgency") {
      const std::string code = q.get("AgencyCode");
      if (code.empty()) return finish(fail(400, "deleteAgency needs an AgencyCode"));
      auto gone = store_->delete_agency(code);
      if (!gone) return finish(fail(503, gone.error().message));
      if (!*gone) {
        return finish(fail(404, "no registered agency " + code +
                                    " (agencies of the hub's configuration cannot be deleted)"));
      }
      return finish(ok());
    }
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return finish(fail(400, "registerAgency takes a JSON object"));
    auto text = [&](const char* key) {
      auto it = body.find(key);
      return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    const store::AgencyRow a{text("code"), text("name"), text("mail"), text("pcode"), text("id")};
    if (!edxml::is_strict_agency_code(a.code))
      return finish(fail(400, "code '" + a.code + "' is not an agency code"));
    if (a.name.empty()) return finish(fail(400, "registerAgency needs a name"));
    if (auto st = store_->add_agency(a); !st) return finish(fail(503, st.error().message));
    return finish(ok());
  }
  return finish(fail(404, "no such call: " + path));
}

}  // namespace edocgw::gateway
