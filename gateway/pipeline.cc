#include "gateway/pipeline.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "crypto/certificate.h"
#include "crypto/package_verifier.h"
#include "crypto/pdf_verifier.h"
#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"
#include "gateway/log.h"
#include "util/bytes.h"

namespace edocgw::gateway {
using store::DocumentRow;
using store::DueDelivery;
using store::InboxRow;
using store::RecipientRow;
using store::StatusEntry;

Outcome Outcome::success(Kind kind, nlohmann::json body) {
  Outcome o;
  o.kind = kind;
  o.body = std::move(body);
  return o;
}

Outcome Outcome::failure(Kind kind, std::string code, std::string message) {
  Outcome o;
  o.kind = kind;
  o.code = std::move(code);
  o.message = std::move(message);
  return o;
}

std::string answer_text(const Outcome& outcome) {
  if (outcome.accepted()) return outcome.body.dump() + "\n";
  // The message may quote input (a file name, a parser's complaint): bytes
  // that are not UTF-8 become U+FFFD rather than an exception.
  return nlohmann::json{{"error", outcome.code}, {"message", outcome.message}}.dump(
             -1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

namespace {

using Kind = Outcome::Kind;

// A request queued, or repeated (the first one's `id`): {"id", "status": "queued"}.
Outcome queued_as(Kind kind, const std::string& id) {
  return Outcome::success(kind, {{"id", id}, {"status", "queued"}});
}

std::int64_t now() {
  return now_seconds().time_since_epoch().count();
}

// Exponential backoff with full jitter between half and the whole delay.
std::int64_t backoff(const RetryPolicy& p, int attempts) {
  std::int64_t delay = p.base_seconds << std::min(attempts, 20);
  delay = std::min(delay, p.max_seconds);
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<std::int64_t> jitter(std::max<std::int64_t>(1, delay / 2),
                                                     std::max<std::int64_t>(1, delay));
  return jitter(rng);
}

constexpr size_t kIncomingWorkers = 8;
constexpr size_t kIncomingBytesInFlight = 64u << 20;
constexpr size_t kDeliveryWorkers = 8;
// Due deliveries taken per round.
constexpr int kDeliveriesPerRound = 64;
// How long a round's deliveries are leased (<store delivery-lease>, 5 min
// by default): another node sharing the store takes a delivery over only
// when its lease has run out, so it must outlast an attempt (an adapter's
// connect and read timeouts) with room to spare; a delivery whose node died
// waits that long.
std::int64_t lease_seconds(const LoadedConfig& config) {
  return config.config.store.delivery_lease.count();
}

// Bussiness/BussinessDocType as stored: 0 new (also when absent or unknown), 1 revocation,
// 2 update, 3 replacement.
int business_type_of(const edxml::Package& p) {
  if (!p.business) return 0;
  switch (p.business->type) {
    case edxml::BusinessDocType::revocation:
      return 1;
    case edxml::BusinessDocType::update:
      return 2;
    case edxml::BusinessDocType::replacement:
      return 3;
    default:
      return 0;
  }
}

std::string concerned_document_id(const edxml::Package& p) {
  return p.concerned_document_id();
}

const char* business_name(int type) {
  static const char* const kNames[] = {"new", "revocation", "update", "replacement"};
  return type >= 0 && type <= 3 ? kNames[type] : "new";
}

// What the inbox records: valid, unsigned (accepted by policy) or invalid.
store::Verification verification_state(const crypto::VerificationReport& r) {
  switch (r.state) {
    case crypto::VerificationState::valid:
      return store::Verification::valid;
    case crypto::VerificationState::unsigned_accepted:
      return store::Verification::unsigned_;
    case crypto::VerificationState::invalid:
      break;
  }
  return store::Verification::invalid;
}

// A status's own Timestamp (yyyy/MM/dd HH:mm:ss, UTC+7) in seconds; `fallback` when unreadable.
std::int64_t status_time(const std::string& text, std::int64_t fallback) {
  auto t = parse_edxml_time(text);
  return t ? t->time_since_epoch().count() : fallback;
}

// A status from this gateway about the document `package` (its bytes, ""
// when unreadable): ResponseFor's Code and PromulgationDate come from the
// document; the caller sets ResponseFor/OrganId, where the status goes.
edxml::StatusInfo status_about(const LoadedConfig& config, const std::string& package,
                               const std::string& document_id, const std::string& code,
                               const std::string& description, TimePoint at) {
  edxml::StatusInfo status;
  status.from.organ_id = config.config.organ_id;
  status.from.organ_name = config.config.name;
  status.response_for.document_id = document_id;
  if (auto doc = xml::parse_untrusted_xml(package)) {
    if (auto p = edxml::read_package(doc->get(), edxml::ReadOptions{.decode_attachments = false});
        p && p->kind == edxml::PackageKind::document) {
      status.response_for.code = p->header.code.number + "/" + p->header.code.notation;
      status.response_for.promulgation_date = p->header.promulgation_date;
    }
  }
  status.status_code = code;
  status.description = description;
  status.timestamp = format_edxml_time(at);
  return status;
}

std::string failed_check(const crypto::VerificationReport& r) {
  for (const auto& c : r.checks) {
    if (c.outcome == crypto::CheckOutcome::fail) return c.name;
  }
  return "none";
}

}  // namespace

crypto::VerificationReport Pipeline::verify(const LoadedConfig& config, const std::string& package,
                                            const std::string& adapter) const {
  // Revocation policy, OCSP and CRL fetching of <trust>, through the
  // gateway's revocation cache.
  crypto::VerifyOptions options = verify_options_for(config.config, config.revocation.get());
  // The <accept> rule for the sender the package names and the adapter it came by.
  options.policy_for = [&config, &adapter](const std::string& sender) {
    return accept_policy(config.config.trust.policy_for(sender, adapter));
  };
  crypto::PackageVerifier verifier(*config.trust, options);
  auto report = verifier.verify(package);
  if (!report.accepted())
    metrics_.inc("edocgw_verification_failures_total{check=\"" + failed_check(report) + "\"}");
  if (report.revocation_unknown) metrics_.inc("edocgw_revocation_unknown_accepted_total");
  return report;
}

Status Pipeline::log_verification(const LoadedConfig& config,
                                  const crypto::VerificationReport& report,
                                  const std::string& message_type, const std::string& id,
                                  const std::string& package_name, bool durable) {
  const auto full = crypto::to_json(report);
  nlohmann::json e = {{"time", format_rfc3339(now_seconds())},
                      {"event", "verify"},
                      {"message", message_type},
                      {"gateway", config.config.organ_id},
                      {"document", id},
                      {"document_id", report.document_id},
                      {"from", report.sender_organ_id},
                      {"package", package_name},
                      {"package_sha256", report.package_sha256},
                      {"signer", report.signer ? report.signer->sha256_fingerprint : ""},
                      {"outcome", crypto::state_name(report.state)},
                      {"reason", report.reason},
                      {"checked_at", report.checked_at},
                      {"policy", full["policy"]},
                      {"revocation", full["revocation"]},
                      {"checks", full["checks"]},
                      {"config_sha256", config.config.sha256}};
  for (const auto& c : report.checks) {
    if (c.outcome == crypto::CheckOutcome::fail) {
      e["failed_check"] = c.name;
      break;
    }
  }
  std::vector<std::string> certs = report.chain_der;
  if (certs.empty() && !report.signer_der.empty()) certs.push_back(report.signer_der);
  // The PDF attachments' signatures: their reports, with each certificate
  // logged once as a certificate record (the fingerprints in the report
  // name them) instead of inline DER.
  if (!report.pdf.empty()) {
    nlohmann::json pdfs = full["pdf"];
    for (auto& p : pdfs) {
      for (auto& sig : p["signatures"]) {
        sig.erase("chain_der");
        sig.erase("signer_der");
      }
    }
    e["pdf"] = std::move(pdfs);
    for (const auto& p : report.pdf) {
      for (const auto& sig : p.signatures) {
        std::vector<std::string> chain = sig.chain_der;
        if (chain.empty() && !sig.signer_der.empty()) chain.push_back(sig.signer_der);
        for (auto& der : chain) {
          if (std::find(certs.begin(), certs.end(), der) == certs.end())
            certs.push_back(std::move(der));
        }
      }
    }
  } else {
    e["pdf"] = nlohmann::json::array();
  }
  nlohmann::json fingerprints = nlohmann::json::array();
  for (const auto& der : certs) fingerprints.push_back(sha256_hex(der));
  e["certificates"] = fingerprints;
  return log_.append_event(std::move(e), certs, durable);
}

Status Pipeline::log_discard(const LoadedConfig& config, const std::string& id,
                             const std::string& document_id, const std::string& reason) {
  nlohmann::json e = {{"time", format_rfc3339(now_seconds())},
                      {"event", "discard"},
                      {"gateway", config.config.organ_id},
                      {"document", id},
                      {"document_id", document_id},
                      {"package", ""},
                      {"outcome", "discarded"},
                      {"reason", reason},
                      {"config_sha256", config.config.sha256}};
  return log_.append_event(std::move(e), {});
}

Pipeline::QueueRequest Pipeline::status_request(const std::string& document_id,
                                                const std::string& code, const std::string& to) {
  QueueRequest q;
  q.kind = store::Kind::status;
  q.document_id = document_id;
  q.subject = "status " + code;
  q.recipients = {to};
  return q;
}

Result<Pipeline::Queued> Pipeline::queue(const LoadedConfig& config,
                                         const std::string& signed_package, const QueueRequest& q) {
  DocumentRow row;
  row.id = random_uuid();
  row.kind = q.kind;
  row.state = store::DocumentState::queued;
  row.document_id = q.document_id;
  row.sender = config.config.organ_id;
  row.subject = q.subject;
  row.package_sha256 = sha256_hex(signed_package);
  row.client = q.client;
  row.business_type = q.business_type;
  row.follows = q.follows;
  for (const auto& organ : q.recipients) {
    const config::Route* route = config.config.routes.match(organ);
    RecipientRow r;
    r.organ_id = organ;
    r.adapter = route != nullptr ? route->via : "";
    r.state = store::RecipientState::pending;
    row.recipients.push_back(std::move(r));
  }
  // The signature is logged, naming the archived bytes, before the rows
  // that make the document exist (Store::submit's group commit).
  const auto& signer = *config.signer;
  const std::vector<std::string>& certs = signer.certificates_der();
  nlohmann::json fingerprints = nlohmann::json::array();
  for (const auto& der : certs) fingerprints.push_back(sha256_hex(der));
  const std::string signed_at = format_rfc3339(now_seconds());
  nlohmann::json event = {{"time", signed_at},
                          {"event", "sign"},
                          {"message", std::string(store::name(q.kind))},
                          {"gateway", config.config.organ_id},
                          {"document", row.id},
                          {"document_id", q.document_id},
                          {"to", q.recipients},
                          {"package", ""},  // the archive's name, set below
                          {"package_sha256", row.package_sha256},
                          {"signer", signer.signer().sha256_fingerprint},
                          {"certificates", fingerprints},
                          {"outcome", "signed"},
                          {"checked_at", signed_at},
                          {"config_sha256", config.config.sha256}};
  if (q.business_type != 0) event["business_type"] = business_name(q.business_type);
  auto stored =
      store_.submit(row, signed_package, q.idempotency_key, [&](const std::string& package_name) {
        event["package"] = package_name;
        return log_.append_event(event, certs, /*durable=*/false);
      });
  // The signing record names the archived bytes; when the store did not
  // keep a document of them, say so, so that the auditor does not call the
  // body purged.
  if (!stored || stored->repeated) {
    (void)log_discard(config, row.id, q.document_id,
                      stored ? "a repeat of document " + stored->id +
                                   " (the same Idempotency-Key): these signed bytes were not kept"
                             : "not stored: " + stored.error().message);
  }
  if (!stored) return stored.error();
  return Queued{stored->id, stored->repeated};
}

// The first PDF attachment of an outgoing package whose signatures do not
// verify (a changed byte, a change after signing, an untrusted or expired
// signer), as its reason; "" when none. Judged now, without OCSP (no network
// call on submission) and requiring nothing: unsigned PDFs and PDFs that
// cannot be judged leave as they are, for the recipient's policy to decide.
std::string Pipeline::broken_pdf_signature(const LoadedConfig& config, xmlDoc* doc) const {
  crypto::PdfVerifyOptions options;
  options.policy = accept_policy(config.config.trust.policy_for(config.config.organ_id, ""));
  options.policy.pdf = crypto::PdfPolicy{};
  options.policy.pdf.refuse_cannot_verify = false;
  // Nothing fetched or asked on submission: the CRL files say what they know.
  options.policy.revocation = crypto::RevocationPolicy::off;
  options.sender_organ_id = config.config.organ_id;
  const crypto::PdfVerifier verifier(*config.trust, options);
  std::string broken;
  // The package was read as edXML already: for_each_attachment cannot fail here.
  (void)edxml::for_each_attachment(
      doc, [&](const edxml::AttachmentInfo& a, std::string_view bytes) {
        if (!broken.empty() || !crypto::is_pdf_attachment(a, bytes)) return;
        const auto report = verifier.verify(bytes, a.name.empty() ? a.content_id : a.name);
        if (report.state == crypto::PdfState::invalid) broken = report.reason;
      });
  return broken;
}

Outcome Pipeline::submit(const std::string& package, const std::string& client,
                         const std::string& idempotency_key) {
  return sign_and_queue(*config_(), package, client, idempotency_key, "");
}

Outcome Pipeline::sign_and_queue(const LoadedConfig& config, const std::string& package,
                                 const std::string& client, const std::string& idempotency_key,
                                 const std::string& follows) {
  auto doc = xml::parse_untrusted_xml(package);
  if (!doc) return Outcome::failure(Kind::invalid, "malformed", doc.error().message);
  auto parsed = edxml::read_package(doc->get(), edxml::ReadOptions{.decode_attachments = false});
  if (!parsed)
    return Outcome::failure(Kind::refused, "not_edxml",
                            "not an edXML package: " + parsed.error().message);
  if (parsed->kind != edxml::PackageKind::document) {
    return Outcome::failure(Kind::refused, "not_a_document",
                            "submit documents here; status packages go through "
                            "POST /v1/inbox/{id}/status");
  }
  const auto& h = parsed->header;
  if (h.from.organ_id != config.config.organ_id) {
    return Outcome::failure(Kind::refused, "wrong_sender",
                            "the package is From " + h.from.organ_id +
                                " but this gateway signs for " + config.config.organ_id);
  }
  std::vector<std::string> recipients;
  for (const auto& to : h.to) {
    if (config.config.routes.match(to.organ_id) == nullptr) {
      return Outcome::failure(Kind::refused, "no_route",
                              "no route leads to recipient " + to.organ_id +
                                  "; add a <route> for it (see edocgw routes explain)");
    }
    if (std::find(recipients.begin(), recipients.end(), to.organ_id) == recipients.end()) {
      recipients.push_back(to.organ_id);
    }
  }
  if (parsed->signature_present) {
    return Outcome::failure(Kind::refused, "already_signed",
                            "submit the package unsigned: the gateway signs it");
  }
  // A PDF whose signature no longer holds would leave under the
  // organisation's package signature and be refused downstream: say so now.
  if (std::string broken = broken_pdf_signature(config, doc->get()); !broken.empty())
    return Outcome::failure(Kind::refused, "invalid_pdf_signature", broken);
  const int business_type = business_type_of(*parsed);
  std::string follows_id = follows;
  if (business_type != 0 && follows_id.empty()) {
    // A follow-up submitted as a package: linked to our original when we have it.
    if (auto original = store_.original_document(concerned_document_id(*parsed));
        original && *original)
      follows_id = (*original)->id;
  }
  if (!idempotency_key.empty()) {  // a repeat is answered without signing again
    auto first = store_.idempotent(client, idempotency_key);
    if (!first && first.error().code == Errc::invalid)  // the key, another body: sign nothing
      return Outcome::failure(Kind::conflict, "idempotency_key_reused", first.error().message);
    if (!first)
      return Outcome::failure(Kind::unavailable, "store_unavailable", first.error().message);
    if (*first) return queued_as(Kind::repeated, **first);
  }
  if (business_type == 0) {
    // Checked here for a clear answer before signing; the store checks again atomically.
    auto original = store_.original_document(h.document_id);
    if (!original)
      return Outcome::failure(Kind::unavailable, "store_unavailable", original.error().message);
    if (*original) {
      return Outcome::failure(Kind::conflict, "duplicate_document_id",
                              "document " + (*original)->id + " already has DocumentId " +
                                  h.document_id + "; send a follow-up (POST /v1/documents/" +
                                  (*original)->id + "/followup) instead of a second original");
    }
  }
  auto signed_package = config.signer->sign(package, now_seconds());
  if (!signed_package)
    return Outcome::failure(Kind::refused, "cannot_sign", signed_package.error().message);
  auto queued = queue(config, *signed_package,
                      QueueRequest{store::Kind::edoc, h.document_id, h.subject, recipients, client,
                                   idempotency_key, business_type, follows_id});
  if (!queued) {
    if (queued.error().code == Errc::invalid)
      return Outcome::failure(Kind::conflict, "duplicate_document_id", queued.error().message);
    log_error("cannot store a submitted document", {{"error", queued.error().message}});
    return Outcome::failure(Kind::unavailable, "store_unavailable",
                            "the document was not stored: " + queued.error().message);
  }
  if (!queued->repeated) {
    metrics_.inc("edocgw_documents_accepted_total");
    log_info("document accepted", {{"document", queued->id},
                                   {"document_id", h.document_id},
                                   {"client", client},
                                   {"business", business_name(business_type)}});
  }
  return queued_as(queued->repeated ? Kind::repeated : Kind::queued, queued->id);
}

Outcome Pipeline::follow_up(const std::string& document, const FollowUpRequest& request,
                            const std::string& client, const std::string& idempotency_key) {
  const auto config = config_();
  auto original = store_.document(document);
  if (!original)
    return Outcome::failure(Kind::unavailable, "store_unavailable", original.error().message);
  if (!*original || (*original)->kind != store::Kind::edoc)
    return Outcome::failure(Kind::not_found, "not_found", "no document " + document);
  const DocumentRow& d = **original;
  if (d.business_type != 0) {
    return Outcome::failure(Kind::refused, "not_an_original",
                            "document " + document + " is itself a follow-up; follow up " +
                                (d.follows.empty() ? "the original" : d.follows));
  }
  if (request.type == 3 && request.package.empty()) {
    return Outcome::failure(Kind::refused, "package_required",
                            "a replacement carries the new document: give \"package\"");
  }
  std::string base = request.package;
  if (base.empty()) {
    auto bytes = store_.read_package(d.id);
    if (!bytes)
      return Outcome::failure(Kind::unavailable, "store_unavailable", bytes.error().message);
    if (!*bytes)
      return Outcome::failure(Kind::purged, "purged",
                              "the package of document " + d.id +
                                  " was purged by retention: give \"package\" for the follow-up");
    base = std::move(**bytes);
  }
  edxml::FollowUp f;
  f.type = request.type;
  f.reason = request.reason;
  f.document_id = d.document_id;
  f.sender_organ_id = config->config.organ_id;
  f.content_changed = !request.package.empty();
  f.receivers = request.receivers;
  for (const auto& r : d.recipients) f.replaced_for.push_back(r.organ_id);
  auto followup = edxml::make_followup(base, f, now_seconds());
  if (!followup) return Outcome::failure(Kind::refused, "cannot_build", followup.error().message);
  return sign_and_queue(*config, *followup, client, idempotency_key, d.id);
}

Result<std::string> Pipeline::reply_status(const LoadedConfig& config, const InboxRow& about,
                                           const std::string& code, const std::string& description,
                                           const std::string* original) {
  std::string stored;
  if (original == nullptr) {
    if (auto read = store_.read_package(about.id); read && *read) stored = std::move(**read);
    original = &stored;
  }
  const TimePoint at = now_seconds();
  edxml::StatusInfo status =
      status_about(config, *original, about.document_id, code, description, at);
  status.response_for.organ_id = about.sender;
  if (config.config.routes.match(about.sender) == nullptr) {
    return make_error(Errc::invalid, "no route leads back to " + about.sender);
  }
  auto built = edxml::build_status_package(status);
  if (!built) return built.error();
  auto signed_package = config.signer->sign(*built, at);
  if (!signed_package) return signed_package.error();
  auto queued =
      queue(config, *signed_package, status_request(about.document_id, code, about.sender));
  if (!queued) return queued.error();
  const std::int64_t t = at.time_since_epoch().count();
  (void)store_.add_status_history(
      about.id, {config.config.organ_id, code, description, t, t, store::Direction::out, true});
  return queued->id;
}

Outcome Pipeline::send_status(const std::string& inbox_id, const std::string& code,
                              const std::string& description) {
  const auto config = config_();
  auto item = store_.inbox_item(inbox_id);
  if (!item) return Outcome::failure(Kind::unavailable, "store_unavailable", item.error().message);
  if (!*item || (*item)->kind != store::Kind::edoc)
    return Outcome::failure(Kind::not_found, "not_found", "no inbox document " + inbox_id);
  std::string normalized = code == "14" ? "15" : code;
  if (!edxml::is_known_status_code(normalized) || normalized == "13") {
    return Outcome::failure(Kind::invalid, "bad_code",
                            "'" + code +
                                "' is not a status a recipient sends (01-06, 15, 16); a recall "
                                "request 13 is sent about your own document: POST "
                                "/v1/documents/{id}/status");
  }
  if (!store::accepted((*item)->verification) && normalized != "02") {
    return Outcome::failure(Kind::conflict, "not_accepted",
                            "inbox document " + inbox_id + " was refused (" + (*item)->reason +
                                "); only 02 can be sent about it");
  }
  auto id = reply_status(*config, **item, normalized, description);
  if (!id) return Outcome::failure(Kind::refused, "cannot_send_status", id.error().message);
  return queued_as(Kind::queued, *id);
}

Outcome Pipeline::send_document_status(const std::string& document, const std::string& code,
                                       const std::string& description,
                                       const std::vector<std::string>& only) {
  const auto config = config_();
  if (code != "13") {
    return Outcome::failure(Kind::invalid, "bad_code",
                            "about your own document you send a recall request (13); statuses "
                            "01-06, 15, 16 answer documents you received (POST "
                            "/v1/inbox/{id}/status)");
  }
  auto found = store_.document(document);
  if (!found)
    return Outcome::failure(Kind::unavailable, "store_unavailable", found.error().message);
  if (!*found || (*found)->kind != store::Kind::edoc || (*found)->business_type != 0)
    return Outcome::failure(Kind::not_found, "not_found", "no original document " + document);
  const DocumentRow& d = **found;
  auto package = store_.read_package(d.id);
  if (!package)
    return Outcome::failure(Kind::unavailable, "store_unavailable", package.error().message);
  const TimePoint at = now_seconds();
  edxml::StatusInfo status = status_about(*config, *package ? **package : std::string(),
                                          d.document_id, code, description, at);
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& r : d.recipients) {
    if (!only.empty() && std::find(only.begin(), only.end(), r.organ_id) == only.end()) continue;
    // ResponseFor/OrganId is where a 13 goes: the recipient (DOMAIN.md).
    status.response_for.organ_id = r.organ_id;
    auto built = edxml::build_status_package(status);
    if (!built) return Outcome::failure(Kind::refused, "cannot_build", built.error().message);
    auto signed_package = config->signer->sign(*built, at);
    if (!signed_package)
      return Outcome::failure(Kind::refused, "cannot_sign", signed_package.error().message);
    auto queued = queue(*config, *signed_package, status_request(d.document_id, code, r.organ_id));
    if (!queued)
      return Outcome::failure(Kind::unavailable, "store_unavailable", queued.error().message);
    const std::int64_t t = at.time_since_epoch().count();
    (void)store_.add_status_history(
        d.id, {r.organ_id, code, description, t, t, store::Direction::out, false});
    ids.push_back({{"organ_id", r.organ_id}, {"id", queued->id}});
  }
  if (ids.empty())
    return Outcome::failure(Kind::refused, "no_recipient", "no such recipient of " + document);
  return Outcome::success(Kind::queued, {{"status", "queued"}, {"statuses", ids}});
}

void Pipeline::fan_out(size_t n, const std::function<void()>& work) {
  struct Shared {
    std::mutex m;
    std::condition_variable cv;
    size_t running = 0;
    bool closed = false;
  };
  auto shared = std::make_shared<Shared>();
  for (size_t i = 1; i < n; ++i) {
    post_([shared, &work] {
      {
        std::lock_guard lock(shared->m);
        if (shared->closed) return;  // the caller is done: `work` may be gone
        ++shared->running;
      }
      work();
      std::lock_guard lock(shared->m);
      --shared->running;
      shared->cv.notify_all();
    });
  }
  work();
  std::unique_lock lock(shared->m);
  shared->closed = true;
  shared->cv.wait(lock, [&] { return shared->running == 0; });
}

int Pipeline::deliver_due() {
  const auto config = config_();
  const std::int64_t t = now();
  // This round: what earlier rounds leased and did not try (while the lease
  // lasts), then as many newly due as make a round.
  std::vector<Held> round;
  for (auto& h : held_) {
    if (h.lease_ends > t) round.push_back(std::move(h));
  }
  held_.clear();
  if (round.size() < static_cast<size_t>(kDeliveriesPerRound)) {
    auto due = store_.lease_due_deliveries(t, kDeliveriesPerRound - static_cast<int>(round.size()),
                                           lease_seconds(*config));
    if (!due) {
      log_error("cannot read due deliveries", {{"error", due.error().message}});
      if (round.empty()) return 0;
    } else {
      for (auto& d : *due) {
        const bool held = std::any_of(round.begin(), round.end(), [&](const Held& h) {
          return h.due.document == d.document && h.due.organ_id == d.organ_id;
        });
        if (!held) round.push_back({std::move(d), t + lease_seconds(*config)});
      }
    }
  }
  // An adapter that just failed to reach its far side is not asked again in
  // this round: its other packages stay due, untouched, for the next round.
  // Deliveries are independent and mostly wait on the far side, so several
  // run at once.
  std::mutex mutex;
  std::set<std::string> unreachable;
  std::atomic<int> attempted{0}, failed{0};
  std::atomic<size_t> next{0};
  // Per delivery, written by the one task that took it: recorded in the
  // store (which ends its lease), or still to be tried.
  std::vector<char> recorded(round.size(), 0);
  auto work = [&] {
    for (size_t i; (i = next++) < round.size();) {
      const DueDelivery& d = round[i].due;
      {
        std::lock_guard lock(mutex);
        if (unreachable.count(d.adapter)) continue;
      }
      ++attempted;
      bool reached = true;
      if (!run_counted(metrics_, "delivery", d.document,
                       [&] { reached = deliver_one(*config, d); })) {
        ++failed;
        continue;
      }
      recorded[i] = 1;
      if (!reached) {
        std::lock_guard lock(mutex);
        unreachable.insert(d.adapter);
      }
    }
  };
  fan_out(std::min<size_t>(kDeliveryWorkers, round.size()), work);
  for (size_t i = 0; i < round.size(); ++i) {
    if (!recorded[i]) held_.push_back(std::move(round[i]));
  }
  // What threw is still due: not counted, so that the caller's "again while
  // something was attempted" loop ends when only such packages are left.
  return attempted - failed;
}

bool Pipeline::deliver_one(const LoadedConfig& config, const DueDelivery& d) {
  auto adapter = config.adapter(d.adapter);
  if (!adapter) {
    const std::string why = d.adapter.empty()
                                ? "no route leads to " + d.organ_id
                                : "adapter '" + d.adapter + "' is no longer configured";
    (void)store_.record_delivery(d.document, d.organ_id, false, true, why, "", 0);
    return true;
  }
  auto bytes = store_.read_package(d.document);
  if (!bytes) {
    log_error("stored package unreadable",
              {{"document", d.document}, {"error", bytes.error().message}});
    (void)store_.record_delivery(d.document, d.organ_id, false, false, bytes.error().message, "",
                                 now() + backoff(retry_, d.attempts));
    return true;
  }
  if (!*bytes) {  // retention never purges a pending recipient's package: a bug if seen
    (void)store_.record_delivery(d.document, d.organ_id, false, true,
                                 "the package was purged by retention", "", 0);
    return true;
  }
  adapters::OutgoingPackage out{d.document,
                                d.document_id,
                                d.sender,
                                {d.organ_id},
                                std::string(store::name(d.kind)),
                                std::move(**bytes),
                                ""};
  auto receipt = adapter->deliver(out);
  const std::string series = "{adapter=\"" + adapter->name() + "\"}";
  if (receipt) {
    metrics_.inc("edocgw_deliveries_total" + series);
    (void)store_.record_delivery(d.document, d.organ_id, true, false, receipt->detail,
                                 receipt->remote_id, 0);
    log_info("delivered",
             {{"document", d.document}, {"to", d.organ_id}, {"adapter", adapter->name()}});
    return true;
  }
  metrics_.inc("edocgw_delivery_failures_total" + series);
  const bool final = receipt.error().code != Errc::io;
  const bool give_up = final || d.attempts + 1 >= retry_.max_attempts;
  (void)store_.record_delivery(d.document, d.organ_id, false, give_up, receipt.error().message, "",
                               now() + backoff(retry_, d.attempts));
  (give_up ? log_error : log_warn)(
      give_up ? "delivery failed, giving up" : "delivery failed, will retry",
      {{"document", d.document}, {"to", d.organ_id}, {"error", receipt.error().message}});
  return final;  // false: the far side is unreachable
}

int Pipeline::poll(const std::string& adapter_name) {
  // A full bite may have left more waiting at the exchange: poll again at
  // once (a backlog drains at the pipeline's pace, not one bite per
  // interval), within a time budget so that packages offered again and
  // again (an office folder that cannot be written) cannot keep it busy.
  constexpr auto kDrainBudget = std::chrono::seconds(10);
  const auto started = std::chrono::steady_clock::now();
  int total = 0;
  for (;;) {
    const auto config = config_();
    auto adapter = config->adapter(adapter_name);
    if (!adapter || !adapter->polls()) return total;
    const int n = poll_once(*config, *adapter);
    total += n;
    const std::size_t bite = adapter->poll_bite();
    if (bite == 0 || static_cast<std::size_t>(n) < bite ||
        std::chrono::steady_clock::now() - started > kDrainBudget)
      return total;
  }
}

int Pipeline::poll_once(const LoadedConfig& loaded, adapters::Adapter& polled) {
  const LoadedConfig* config = &loaded;
  adapters::Adapter* adapter = &polled;
  const std::string& adapter_name = polled.name();
  // Packages are taken as the adapter fetches them, never a whole poll at
  // once: at most kIncomingWorkers at a time and, beyond the first,
  // kIncomingBytesInFlight bytes together (the fetch waits), so memory
  // stays bounded however much is pending. Packages are independent (the
  // inbox refuses a second copy of a document by itself), so several are
  // verified and stored at once: most of the time goes to fsync, which
  // concurrent writers share.
  // The state pool tasks share with this call; a task that starts after
  // the call has returned (the pool was busy) finds it closed and leaves.
  struct Shared {
    std::mutex m;
    std::condition_variable cv;
    std::deque<adapters::IncomingPackage> queue;
    size_t busy = 0, bytes_in_flight = 0;
    size_t workers = 0;  // tasks posted to the pool, started or not
    size_t running = 0;  // tasks inside work() now
    bool closed = false;
  };
  auto shared = std::make_shared<Shared>();
  // Takes one queued package; `lock` is held on entry and on return.
  auto take_one = [this, config, adapter](Shared& st, std::unique_lock<std::mutex>& lock) {
    adapters::IncomingPackage package = std::move(st.queue.front());
    st.queue.pop_front();
    ++st.busy;
    lock.unlock();
    const size_t size = package.bytes.size();
    run_counted(metrics_, "incoming", package.remote_id,
                [&] { take_incoming(*config, *adapter, package); });
    package = {};
    lock.lock();
    --st.busy;
    st.bytes_in_flight -= size;
    st.cv.notify_all();
  };
  auto work = [shared, take_one] {
    Shared& st = *shared;
    std::unique_lock lock(st.m);
    if (st.closed) return;  // started after the poll was over
    ++st.running;
    for (;;) {
      st.cv.wait(lock, [&] { return st.closed || !st.queue.empty(); });
      if (st.queue.empty()) break;
      take_one(st, lock);
    }
    --st.running;
    st.cv.notify_all();
  };
  Shared& st = *shared;
  auto incoming = adapter->poll([&](adapters::IncomingPackage&& package) {
    std::unique_lock lock(st.m);
    // Room for it, or help: a queued package is taken here, so the fetch
    // never waits on pool tasks that have not started (a busy pool).
    for (;;) {
      const bool room = st.busy + st.queue.size() < kIncomingWorkers &&
                        (st.bytes_in_flight == 0 ||
                         st.bytes_in_flight + package.bytes.size() <= kIncomingBytesInFlight);
      if (room) break;
      if (!st.queue.empty()) {
        take_one(st, lock);
      } else {
        st.cv.wait(lock);
      }
    }
    st.bytes_in_flight += package.bytes.size();
    st.queue.push_back(std::move(package));
    if (st.workers < st.busy + st.queue.size()) {
      ++st.workers;
      post_(work);
    }
    st.cv.notify_all();
  });
  {
    std::unique_lock lock(st.m);
    // What no pool task has taken yet is taken here; then the call waits
    // for the tasks at work, never for those not started.
    while (!st.queue.empty()) take_one(st, lock);
    st.closed = true;
    st.cv.notify_all();
    st.cv.wait(lock, [&] { return st.running == 0 && st.busy == 0; });
  }
  if (!incoming) {
    log_warn("poll failed", {{"adapter", adapter_name}, {"error", incoming.error().message}});
    return 0;
  }
  return static_cast<int>(*incoming);
}

int Pipeline::pick_up(const std::string& adapter_name) {
  const auto config = config_();
  auto adapter = config->adapter(adapter_name);
  if (!adapter || !adapter->picks_up()) return 0;
  auto dropped = adapter->pick_up();
  if (!dropped) {
    log_warn("pickup failed", {{"adapter", adapter_name}, {"error", dropped.error().message}});
    return 0;
  }
  for (const auto& d : *dropped) {
    // The same bytes dropped again (or offered again after a crash before
    // the file moved) get the first answer, not a second document.
    const Outcome outcome =
        d.readable
            ? submit(d.bytes, "pickup:" + adapter_name, "pickup:" + sha256_hex(d.bytes))
            : Outcome::failure(d.refusal_code == "too_large" ? Kind::too_large : Kind::refused,
                               d.refusal_code, d.bytes);
    const std::string answer = answer_text(outcome);
    if (outcome.kind == Kind::unavailable) {
      log_warn("picked-up package left for the next round",
               {{"adapter", adapter_name}, {"file", d.handle}, {"answer", answer}});
      continue;
    }
    const bool accepted = outcome.accepted();
    if (auto st = adapter->finish_pick_up(d, accepted, answer); !st) {
      log_error("picked-up package could not be moved",
                {{"adapter", adapter_name}, {"file", d.handle}, {"error", st.error().message}});
      continue;
    }
    metrics_.inc(std::string("edocgw_pickups_total{adapter=\"") + adapter_name + "\",outcome=\"" +
                 (accepted ? "accepted" : "refused") + "\"}");
    log_info(accepted ? "picked-up package queued" : "picked-up package refused",
             {{"adapter", adapter_name}, {"file", d.handle}, {"answer", answer}});
  }
  return static_cast<int>(dropped->size());
}

void Pipeline::take_incoming(const LoadedConfig& config, adapters::Adapter& adapter,
                             const adapters::IncomingPackage& incoming) {
  crypto::VerificationReport report = verify(config, incoming.bytes, adapter.name());
  std::optional<edxml::Package> parsed;
  if (auto doc = xml::parse_untrusted_xml(incoming.bytes)) {
    if (auto p = edxml::read_package(doc->get(), edxml::ReadOptions{.decode_attachments = false}))
      parsed = std::move(*p);
  }
  // The kind comes from the package itself, never from the transport's label.
  const bool is_status = parsed && parsed->kind == edxml::PackageKind::status;
  if (parsed) {
    // A package not addressed to this organisation is refused, whatever its signature.
    const std::string& us = config.config.organ_id;
    bool for_us = false;
    std::string named;
    if (is_status) {
      named = parsed->status.response_for.organ_id;
      for_us = named == us;
    } else {
      for (const auto& to : parsed->header.to) {
        named += (named.empty() ? "" : ", ") + to.organ_id;
        for_us = for_us || to.organ_id == us;
      }
    }
    if (!for_us) {
      report.add("addressee", crypto::CheckOutcome::fail,
                 std::string(is_status ? "the status is for " : "the document is addressed to ") +
                     (named.empty() ? "nobody" : named) + ", not to this organisation (" + us +
                     ")");
      report.finish();
    }
  }
  InboxRow row;
  row.id = random_uuid();
  row.kind = is_status ? store::Kind::status : store::Kind::edoc;
  row.adapter = adapter.name();
  row.remote_id = incoming.remote_id;
  row.sender = report.sender_organ_id.empty() ? incoming.from_organ_id : report.sender_organ_id;
  row.document_id = report.document_id;
  row.verification = verification_state(report);
  row.reason = report.reason;
  row.report_json = crypto::to_json(report).dump(2);
  row.package_sha256 = report.package_sha256;
  row.received_at = now();
  if (parsed && !is_status) {
    row.subject = parsed->header.subject;
    row.business_type = business_type_of(*parsed);
  }
  const bool accepted = store::accepted(row.verification);

  auto stored = store_.add_inbox(row, incoming.bytes, [&](const std::string& package_name) {
    return log_verification(config, report, std::string(store::name(row.kind)), row.id,
                            package_name, false);
  });
  if (!stored) {
    // Not acknowledged: the exchange offers it again on the next poll. The
    // verification record may already name the bytes (the engine writes
    // them first): say they were not kept, so that the auditor does not
    // call the body purged once retention drops it.
    log_error("cannot store an incoming package", {{"error", stored.error().message}});
    (void)log_discard(config, row.id, row.document_id, "not stored: " + stored.error().message);
    return;
  }
  if (!*stored) {
    // The same package again. If the first copy's hand-over or answer was
    // cut short (a crash before the acknowledgement), finish that now;
    // otherwise the copy is acknowledged and dropped.
    auto first = store_.accepted_copy(row);
    if (!first || !*first || (*first)->handled) {
      log_info("duplicate package ignored",
               {{"sender", row.sender}, {"document_id", row.document_id}});
      (void)adapter.acknowledge(incoming.remote_id, true);
      return;
    }
    log_info("finishing a package whose hand-over was cut short", {{"inbox", (*first)->id}});
    const std::string subject = row.subject;
    row = **first;
    if (row.subject.empty()) row.subject = subject;
  }
  if (is_status) {
    if (accepted) {
      take_status(config, row, *parsed);
    } else {
      log_warn("invalid status package quarantined",
               {{"inbox", row.id}, {"reason", report.reason}});
    }
    (void)adapter.acknowledge(incoming.remote_id, accepted);
    return;
  }
  if (accepted && parsed) {
    metrics_.inc("edocgw_incoming_total{verification=\"" +
                 std::string(store::name(row.verification)) + "\"}");
    if (!take_document(config, row, *parsed, incoming.bytes)) return;  // offered again
  } else {
    metrics_.inc("edocgw_incoming_total{verification=\"invalid\"}");
    log_warn("document refused and quarantined", {{"inbox", row.id}, {"reason", report.reason}});
    refuse_document(config, row);
  }
  (void)adapter.acknowledge(incoming.remote_id, accepted);
}

bool Pipeline::take_document(const LoadedConfig& config, InboxRow& row,
                             const edxml::Package& package, const std::string& bytes) {
  const std::string& us = config.config.organ_id;
  if (row.business_type == 0) {
    // A revocation or replacement that overtook its original applies now.
    if (auto early = store_.earlier_followup(row.sender, row.document_id); early && *early) {
      (void)store_.link_followup((*early)->id, row.id, (*early)->business_type == 1);
      row.revoked_by = (*early)->business_type == 1 ? (*early)->id : "";
      row.superseded_by = (*early)->business_type == 3 ? (*early)->id : "";
    }
  } else {
    // A follow-up: the receiver acts on the document it concerns.
    bool revokes = row.business_type == 1;
    std::vector<std::string> concerned = {concerned_document_id(package)};
    if (const auto& b = package.business) {
      if (b->document_info) {
        for (const auto& r : b->document_info->receivers) {
          // We were taken off its recipients: for us it is withdrawn.
          if (r.organ_id == us && r.receiver_type == "0") revokes = true;
        }
      }
      for (const auto& replaced : b->replacements) {
        if (std::find(concerned.begin(), concerned.end(), replaced.document_id) == concerned.end())
          concerned.push_back(replaced.document_id);
      }
    }
    for (const auto& document_id : concerned) {
      auto original = store_.original_inbox_item(row.sender, document_id);
      if (!original) return false;
      if (!*original) {
        log_warn("follow-up of a document not received (yet)",
                 {{"inbox", row.id}, {"concerns", document_id}});
        continue;
      }
      if ((*original)->id == row.id) continue;
      if (auto st = store_.link_followup(row.id, (*original)->id, revokes); !st) return false;
      row.concerns = (*original)->id;
    }
  }
  // The office gets the package and the report, with what the gateway made of it.
  nlohmann::json report = nlohmann::json::parse(row.report_json, nullptr, false);
  if (!report.is_object()) report = nlohmann::json::object();
  report["edocgw"] = {{"inbox_id", row.id},
                      {"verification", std::string(store::name(row.verification))},
                      {"business_type", business_name(row.business_type)}};
  if (!row.concerns.empty()) report["edocgw"]["concerns"] = row.concerns;
  if (!row.conflict_of.empty()) report["edocgw"]["conflict_of"] = row.conflict_of;
  if (!row.revoked_by.empty()) report["edocgw"]["revoked_by"] = row.revoked_by;
  if (!row.superseded_by.empty()) report["edocgw"]["superseded_by"] = row.superseded_by;
  if (const auto& inbound = config.config.routes.inbound()) {
    if (auto office = config.adapter(*inbound)) {
      adapters::OutgoingPackage inward{row.id, row.document_id, row.sender,    {us},
                                       "edoc", bytes,           report.dump(2)};
      if (auto r = office->deliver(inward); !r) {
        // Not acknowledged: the exchange offers it again and the hand-over is retried.
        log_error("inbound delivery failed", {{"inbox", row.id}, {"error", r.error().message}});
        return false;
      }
    }
  }
  log_info("document received", {{"inbox", row.id},
                                 {"document_id", row.document_id},
                                 {"from", row.sender},
                                 {"business", business_name(row.business_type)},
                                 {"conflict_of", row.conflict_of}});
  // 01 answers a new original. A follow-up or a conflicting copy shares the
  // DocumentId of a document already answered: a new 01 about it would
  // regress that document's state at its sender.
  if (row.business_type == 0 && row.conflict_of.empty()) {
    const std::string note =
        row.verification == store::Verification::valid
            ? "Đã nhận: chữ ký hợp lệ"
            : "Đã nhận: gói tin không có chữ ký số (chấp nhận theo chính sách)";
    if (auto st = reply_status(config, row, "01", note, &bytes); !st)
      log_warn("cannot send status 01", {{"inbox", row.id}, {"error", st.error().message}});
  }
  if (auto st = store_.mark_handled(row.id); !st) {
    log_error("cannot mark the package handled",
              {{"inbox", row.id}, {"error", st.error().message}});
    return false;  // not acknowledged: offered again, finished then
  }
  return true;
}

void Pipeline::take_status(const LoadedConfig& config, const InboxRow& row,
                           const edxml::Package& package) {
  (void)config;
  const edxml::StatusInfo& s = package.status;
  StatusEntry entry{row.sender,
                    s.status_code == "14" ? "15" : s.status_code,
                    s.description,
                    status_time(s.timestamp, row.received_at),
                    row.received_at,
                    store::Direction::in,
                    true};
  const std::string& document_id = s.response_for.document_id;
  if (entry.code == "13") {
    // A recall request from the sender of a document we received.
    auto original = store_.original_inbox_item(row.sender, document_id);
    if (original && *original) {
      (void)store_.add_status_history((*original)->id, entry);
      log_info("recall requested", {{"inbox", (*original)->id}, {"from", row.sender}});
    } else {
      log_warn("recall request for a document not received",
               {{"document_id", document_id}, {"from", row.sender}});
    }
    return;
  }
  auto outcome = store_.record_status(document_id, entry);
  const char* what = !outcome                                            ? "not recorded"
                     : *outcome == store::Outbox::StatusOutcome::applied ? "applied"
                     : *outcome == store::Outbox::StatusOutcome::kept_older
                         ? "older, kept in history"
                         : "no such document";
  log_info("status received", {{"document_id", document_id},
                               {"from", row.sender},
                               {"code", entry.code},
                               {"timestamp", s.timestamp},
                               {"outcome", what}});
}

void Pipeline::refuse_document(const LoadedConfig& config, const InboxRow& row) {
  // 02 speaks of a DocumentId. It is sent only about an original we could
  // not accept and of which no copy was accepted: about a follow-up, or
  // when an accepted copy exists, it would read as refusing that document.
  if (row.sender.empty() || row.document_id.empty() || row.business_type != 0) return;
  auto accepted = store_.original_inbox_item(row.sender, row.document_id);
  if (!accepted || *accepted) {
    log_info("no 02 sent: a copy of this document was accepted",
             {{"inbox", row.id}, {"document_id", row.document_id}});
    return;
  }
  if (auto st = reply_status(config, row, "02", "Từ chối tiếp nhận: " + row.reason); !st)
    log_warn("cannot send status 02", {{"inbox", row.id}, {"error", st.error().message}});
}

}  // namespace edocgw::gateway
