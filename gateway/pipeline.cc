#include "gateway/pipeline.h"

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "crypto/certificate.h"
#include "crypto/package_verifier.h"
#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"
#include "gateway/log.h"
#include "util/bytes.h"

namespace edocgw::gateway {
namespace {

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
constexpr size_t kDeliveryWorkers = 8;

std::string failed_check(const crypto::VerificationReport& r) {
  for (const auto& c : r.checks) {
    if (c.outcome == crypto::CheckOutcome::fail) return c.name;
  }
  return "none";
}

}  // namespace

crypto::VerificationReport Pipeline::verify(const LoadedConfig& config,
                                            const std::string& package) const {
  crypto::VerifyOptions options;
  options.allow_sha1 = config.config.trust.allow_sha1;
  options.revocation_required = config.config.trust.revocation == config::Revocation::require;
  if (config.config.trust.ocsp) {
    options.ocsp.emplace();
    options.ocsp->url = config.config.trust.ocsp_url;
    options.ocsp->timeout = config.config.trust.ocsp_timeout;
  }
  crypto::PackageVerifier verifier(*config.trust, options);
  auto report = verifier.verify(package);
  if (!report.valid)
    metrics_.inc("edocgw_verification_failures_total{check=\"" + failed_check(report) + "\"}");
  return report;
}

Status Pipeline::log_verification(const LoadedConfig& config,
                                  const crypto::VerificationReport& report,
                                  const std::string& message_type, const std::string& id) {
  const auto full = crypto::to_json(report);
  nlohmann::json e = {{"time", format_rfc3339(now_seconds())},
                      {"event", "verify"},
                      {"message", message_type},
                      {"gateway", config.config.organ_id},
                      {"document", id},
                      {"document_id", report.document_id},
                      {"from", report.sender_organ_id},
                      {"package", id.empty() ? "" : "packages/" + id + ".xml"},
                      {"package_sha256", report.package_sha256},
                      {"signer", report.signer ? report.signer->sha256_fingerprint : ""},
                      {"outcome", report.valid ? "valid" : "invalid"},
                      {"reason", report.reason},
                      {"checked_at", report.checked_at},
                      {"allow_sha1", config.config.trust.allow_sha1},
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
  nlohmann::json fingerprints = nlohmann::json::array();
  for (const auto& der : certs) fingerprints.push_back(sha256_hex(der));
  e["certificates"] = fingerprints;
  return log_.append_event(std::move(e), certs);
}

Result<Pipeline::Queued> Pipeline::queue(const LoadedConfig& config, const std::string& kind,
                                         const std::string& signed_package,
                                         const std::string& document_id, const std::string& subject,
                                         const std::vector<std::string>& recipients,
                                         const std::string& client,
                                         const std::string& idempotency_key) {
  DocumentRow row;
  row.id = random_uuid();
  row.kind = kind;
  row.status = "queued";
  row.document_id = document_id;
  row.sender = config.config.organ_id;
  row.subject = subject;
  row.package_sha256 = sha256_hex(signed_package);
  row.client = client;
  for (const auto& organ : recipients) {
    const config::Route* route = config.config.routes.match(organ);
    RecipientRow r;
    r.organ_id = organ;
    r.adapter = route != nullptr ? route->via : "";
    r.status = "pending";
    row.recipients.push_back(std::move(r));
  }
  // The signature is logged before the document exists anywhere else.
  const auto& signer = *config.signer;
  const std::vector<std::string>& certs = signer.certificates_der();
  nlohmann::json fingerprints = nlohmann::json::array();
  for (const auto& der : certs) fingerprints.push_back(sha256_hex(der));
  const std::string signed_at = format_rfc3339(now_seconds());
  nlohmann::json event = {{"time", signed_at},
                          {"event", "sign"},
                          {"message", kind},
                          {"gateway", config.config.organ_id},
                          {"document", row.id},
                          {"document_id", document_id},
                          {"to", recipients},
                          {"package", "packages/" + row.id + ".xml"},
                          {"package_sha256", row.package_sha256},
                          {"signer", signer.signer().sha256_fingerprint},
                          {"certificates", fingerprints},
                          {"outcome", "signed"},
                          {"checked_at", signed_at},
                          {"config_sha256", config.config.sha256}};
  // Flushed once the package file is on disk, before the rows that make it a document.
  if (auto st = log_.append_event(std::move(event), certs, /*durable=*/false); !st)
    return st.error();
  auto stored = store_.submit(row, signed_package, idempotency_key, [this] { return log_.sync(); });
  if (!stored) return stored.error();
  return Queued{stored->id, stored->repeated};
}

HttpResponse Pipeline::submit(const std::string& package, const std::string& client,
                              const std::string& idempotency_key) {
  const auto config = config_();
  auto doc = xml::parse_untrusted_xml(package);
  if (!doc) return error_response(400, "malformed", doc.error().message);
  auto parsed = edxml::read_package(doc->get(), edxml::ReadOptions{.decode_attachments = false});
  if (!parsed)
    return error_response(422, "not_edxml", "not an edXML package: " + parsed.error().message);
  if (parsed->kind != edxml::PackageKind::document) {
    return error_response(422, "not_a_document",
                          "submit documents here; status packages go through "
                          "POST /v1/inbox/{id}/status");
  }
  const auto& h = parsed->header;
  if (h.from.organ_id != config->config.organ_id) {
    return error_response(422, "wrong_sender",
                          "the package is From " + h.from.organ_id +
                              " but this gateway signs for " + config->config.organ_id);
  }
  std::vector<std::string> recipients;
  for (const auto& to : h.to) {
    if (config->config.routes.match(to.organ_id) == nullptr) {
      return error_response(422, "no_route",
                            "no route leads to recipient " + to.organ_id +
                                "; add a <route> for it (see edocgw routes explain)");
    }
    if (std::find(recipients.begin(), recipients.end(), to.organ_id) == recipients.end()) {
      recipients.push_back(to.organ_id);
    }
  }
  if (parsed->signature_present) {
    return error_response(422, "already_signed",
                          "submit the package unsigned: the gateway signs it");
  }
  if (!idempotency_key.empty()) {  // a repeat is answered without signing again
    auto first = store_.idempotent(client, idempotency_key);
    if (!first) return error_response(503, "store_unavailable", first.error().message);
    if (*first)
      return json_response(202, nlohmann::json{{"id", **first}, {"status", "queued"}}.dump());
  }
  auto signed_package = config->signer->sign(package, now_seconds());
  if (!signed_package) return error_response(422, "cannot_sign", signed_package.error().message);
  auto queued = queue(*config, "edoc", *signed_package, h.document_id, h.subject, recipients,
                      client, idempotency_key);
  if (!queued) {
    log_error("cannot store a submitted document", {{"error", queued.error().message}});
    return error_response(503, "store_unavailable",
                          "the document was not stored: " + queued.error().message);
  }
  if (!queued->repeated) {
    metrics_.inc("edocgw_documents_accepted_total");
    log_info("document accepted",
             {{"document", queued->id}, {"document_id", h.document_id}, {"client", client}});
  }
  return json_response(202, nlohmann::json{{"id", queued->id}, {"status", "queued"}}.dump());
}

Result<std::string> Pipeline::reply_status(const LoadedConfig& config, const InboxRow& about,
                                           const std::string& code,
                                           const std::string& description) {
  auto original = store_.read_package(about.id);
  edxml::StatusInfo status;
  status.from.organ_id = config.config.organ_id;
  status.from.organ_name = config.config.name;
  status.response_for.organ_id = about.sender;
  status.response_for.document_id = about.document_id;
  if (original) {
    if (auto doc = xml::parse_untrusted_xml(*original)) {
      if (auto p = edxml::read_package(doc->get(), edxml::ReadOptions{.decode_attachments = false});
          p && p->kind == edxml::PackageKind::document) {
        status.response_for.code = p->header.code.number + "/" + p->header.code.notation;
        status.response_for.promulgation_date = p->header.promulgation_date;
      }
    }
  }
  status.status_code = code;
  status.description = description;
  status.timestamp = format_rfc3339(now_seconds());
  auto built = edxml::build_status_package(status);
  if (!built) return built.error();
  auto signed_package = config.signer->sign(*built, now_seconds());
  if (!signed_package) return signed_package.error();
  if (config.config.routes.match(about.sender) == nullptr) {
    return make_error(Errc::invalid, "no route leads back to " + about.sender);
  }
  auto queued = queue(config, "status", *signed_package, about.document_id, "status " + code,
                      {about.sender}, "", "");
  if (!queued) return queued.error();
  return queued->id;
}

HttpResponse Pipeline::send_status(const std::string& inbox_id, const std::string& code,
                                   const std::string& description) {
  const auto config = config_();
  auto item = store_.inbox_item(inbox_id);
  if (!item) return error_response(503, "store_unavailable", item.error().message);
  if (!*item || (*item)->kind != "edoc")
    return error_response(404, "not_found", "no inbox document " + inbox_id);
  std::string normalized = code == "14" ? "15" : code;
  if (!edxml::is_known_status_code(normalized)) {
    return error_response(400, "bad_code",
                          "'" + code + "' is not a status code (01-06, 13, 15, 16)");
  }
  auto id = reply_status(*config, **item, normalized, description);
  if (!id) return error_response(422, "cannot_send_status", id.error().message);
  return json_response(202, nlohmann::json{{"id", *id}, {"status", "queued"}}.dump());
}

int Pipeline::deliver_due() {
  const auto config = config_();
  auto due = store_.due_deliveries(now(), 64);
  if (!due) {
    log_error("cannot read due deliveries", {{"error", due.error().message}});
    return 0;
  }
  // An adapter that just failed to reach its far side is not asked again in
  // this round: its other packages stay due, untouched, for the next round.
  // Deliveries are independent and mostly wait on the far side, so several
  // run at once.
  std::mutex mutex;
  std::set<std::string> unreachable;
  std::atomic<int> attempted{0};
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < due->size();) {
      const DueDelivery& d = (*due)[i];
      {
        std::lock_guard lock(mutex);
        if (unreachable.count(d.adapter)) continue;
      }
      ++attempted;
      if (!deliver_one(*config, d)) {
        std::lock_guard lock(mutex);
        unreachable.insert(d.adapter);
      }
    }
  };
  std::vector<std::thread> workers;
  const size_t n = std::min<size_t>(kDeliveryWorkers, due->size());
  for (size_t i = 1; i < n; ++i) workers.emplace_back(work);
  work();
  for (auto& w : workers) w.join();
  return attempted;
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
  adapters::OutgoingPackage out{d.document, d.document_id,     d.sender, {d.organ_id},
                                d.kind,     std::move(*bytes), ""};
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
  const auto config = config_();
  auto adapter = config->adapter(adapter_name);
  if (!adapter || !adapter->polls()) return 0;
  auto incoming = adapter->poll();
  if (!incoming) {
    log_warn("poll failed", {{"adapter", adapter_name}, {"error", incoming.error().message}});
    return 0;
  }
  // Packages are independent (the inbox refuses a second copy of a document
  // by itself), so several are verified and stored at once: most of the time
  // goes to fsync, which concurrent writers share.
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < incoming->size();)
      take_incoming(*config, *adapter, (*incoming)[i]);
  };
  std::vector<std::thread> workers;
  const size_t n = std::min<size_t>(kIncomingWorkers, incoming->size());
  for (size_t i = 1; i < n; ++i) workers.emplace_back(work);
  work();
  for (auto& w : workers) w.join();
  return static_cast<int>(incoming->size());
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
    const HttpResponse answer =
        d.readable ? submit(d.bytes, "pickup:" + adapter_name, "pickup:" + sha256_hex(d.bytes))
                   : error_response(413, "too_large", d.bytes);
    if (answer.status >= 500) {
      log_warn("picked-up package left for the next round",
               {{"adapter", adapter_name}, {"file", d.handle}, {"answer", answer.body}});
      continue;
    }
    const bool accepted = answer.status == 202;
    if (auto st = adapter->finish_pick_up(d, accepted, answer.body); !st) {
      log_error("picked-up package could not be moved; it is offered again",
                {{"adapter", adapter_name}, {"file", d.handle}, {"error", st.error().message}});
      continue;
    }
    metrics_.inc(std::string("edocgw_pickups_total{adapter=\"") + adapter_name + "\",outcome=\"" +
                 (accepted ? "accepted" : "refused") + "\"}");
    log_info(accepted ? "picked-up package queued" : "picked-up package refused",
             {{"adapter", adapter_name}, {"file", d.handle}, {"answer", answer.body}});
  }
  return static_cast<int>(dropped->size());
}

void Pipeline::take_incoming(const LoadedConfig& config, adapters::Adapter& adapter,
                             const adapters::IncomingPackage& incoming) {
  const crypto::VerificationReport report = verify(config, incoming.bytes);
  InboxRow row;
  row.id = random_uuid();
  row.kind = incoming.message_type == "status" ? "status" : "edoc";
  row.adapter = adapter.name();
  row.remote_id = incoming.remote_id;
  row.sender = report.sender_organ_id.empty() ? incoming.from_organ_id : report.sender_organ_id;
  row.document_id = report.document_id;
  row.verification = report.valid ? "valid" : "invalid";
  row.reason = report.reason;
  row.report_json = crypto::to_json(report).dump(2);
  row.package_sha256 = report.package_sha256;
  row.received_at = now();

  // A status package: it tells us about one of our documents.
  std::optional<edxml::Package> parsed;
  if (auto doc = xml::parse_untrusted_xml(incoming.bytes)) {
    if (auto p = edxml::read_package(doc->get(), edxml::ReadOptions{.decode_attachments = false}))
      parsed = std::move(*p);
  }
  if (parsed && parsed->kind == edxml::PackageKind::document) row.subject = parsed->header.subject;
  const bool is_status = parsed && parsed->kind == edxml::PackageKind::status;
  if (is_status) row.kind = "status";

  if (auto st = log_verification(config, report, row.kind, row.id); !st) {
    // Not acknowledged: the exchange offers it again on the next poll.
    log_error("cannot append to the signature log", {{"error", st.error().message}});
    return;
  }
  auto stored = store_.add_inbox(row, incoming.bytes);
  if (!stored) {
    // Not acknowledged: the exchange offers it again on the next poll.
    log_error("cannot store an incoming package", {{"error", stored.error().message}});
    return;
  }
  if (!*stored) {
    // A second copy. If the first was stored but its hand-over or answer was
    // cut short (a crash before the acknowledgement), finish that now;
    // otherwise the copy is acknowledged and dropped.
    auto first = store_.valid_inbox_item(row.sender, row.document_id);
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
    if (report.valid) {
      auto applied = store_.record_status(parsed->status.response_for.document_id, row.sender,
                                          parsed->status.status_code, parsed->status.description);
      log_info("status received", {{"document_id", parsed->status.response_for.document_id},
                                   {"from", row.sender},
                                   {"code", parsed->status.status_code},
                                   {"applied", applied && *applied ? "yes" : "no"}});
    } else {
      log_warn("invalid status package quarantined",
               {{"inbox", row.id}, {"reason", report.reason}});
    }
    (void)adapter.acknowledge(incoming.remote_id, report.valid);
    return;
  }

  if (report.valid) {
    metrics_.inc("edocgw_incoming_total{verification=\"valid\"}");
    if (const auto& inbound = config.config.routes.inbound()) {
      if (auto office = config.adapter(*inbound)) {
        adapters::OutgoingPackage inward{
            row.id, row.document_id, row.sender,     {config.config.organ_id},
            "edoc", incoming.bytes,  row.report_json};
        if (auto r = office->deliver(inward); !r) {
          // Not acknowledged: the exchange offers it again and the hand-over is retried.
          log_error("inbound delivery failed", {{"inbox", row.id}, {"error", r.error().message}});
          return;
        }
      }
    }
    log_info("document received",
             {{"inbox", row.id}, {"document_id", row.document_id}, {"from", row.sender}});
    if (auto st = reply_status(config, row, "01", "Đã nhận: chữ ký hợp lệ"); !st) {
      log_warn("cannot send status 01", {{"inbox", row.id}, {"error", st.error().message}});
    }
    if (auto st = store_.mark_handled(row.id); !st) {
      log_error("cannot mark the package handled",
                {{"inbox", row.id}, {"error", st.error().message}});
      return;  // not acknowledged: offered again, finished then
    }
  } else {
    metrics_.inc("edocgw_incoming_total{verification=\"invalid\"}");
    log_warn("document refused and quarantined", {{"inbox", row.id}, {"reason", report.reason}});
    if (!row.sender.empty() && !row.document_id.empty()) {
      if (auto st = reply_status(config, row, "02", "Từ chối tiếp nhận: " + report.reason); !st) {
        log_warn("cannot send status 02", {{"inbox", row.id}, {"error", st.error().message}});
      }
    }
  }
  (void)adapter.acknowledge(incoming.remote_id, report.valid);
}

}  // namespace edocgw::gateway
