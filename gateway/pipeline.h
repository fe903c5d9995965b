// gateway/pipeline.h: what happens to documents, in and out.
//
// Outgoing: submit() validates an unsigned edXML package (well-formed, our
// agency as From, a route for every recipient), signs it, stores it durably
// and only then answers; deliver_due() hands stored packages to each
// recipient's adapter, retrying with exponential backoff and jitter, and
// marks a recipient failed with the last reason when it gives up.
// Incoming: poll() fetches from an adapter, verifies every package
// (signature, chain, revocation, sender binding), stores the valid ones in
// the inbox and hands them to the <inbound> adapter, quarantines the rest
// with the full report, and sends a signed status package back (01 arrived
// or 02 refused with the reason). Status packages update our documents'
// recipients. A DocumentId already received from the same sender is not
// delivered twice.
//
// Requests answer an Outcome, in the terms a caller decides by; the local
// API (gateway/local_api.cc) maps it to HTTP, and the pickup folder keeps its
// answer_text() beside the file it took.
//
// Thread-safety: methods block and run on worker threads; deliver_due() and
// poll() of one adapter are each run by one thread at a time (the daemon
// ensures it), everything else may run concurrently. Deliveries and incoming
// packages are worked on in parallel by tasks given to `post` (the daemon's
// worker pool; no thread of the pipeline's own): the calling thread works
// too and never waits for a task that has not started, so a busy pool slows
// a round down but cannot stall it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/adapter.h"
#include "audit/signature_log.h"
#include "crypto/verification_report.h"
#include "edxml/followup.h"
#include "edxml/package.h"
#include "gateway/config_check.h"
#include "gateway/metrics.h"
#include "store/store.h"

namespace edocgw::gateway {

using ConfigSource = std::function<std::shared_ptr<const LoadedConfig>()>;

// What became of a request given to the pipeline (a submission, a follow-up,
// a status to send).
struct Outcome {
  enum class Kind {
    queued,       // signed and stored durably; `body` says what ({"id", "status"} ...)
    repeated,     // the same request was queued before (its Idempotency-Key): its first `body`
    invalid,      // not a request the operation takes: not XML, a status code not sent this way
    refused,      // read and understood, but not acted on: not edXML, no route, cannot sign ...
    not_found,    // the document it is about does not exist
    conflict,     // contradicts what is stored: a DocumentId taken, a key reused for another
                  // body, a status other than 02 about a refused document
    purged,       // the package it needs was removed by retention
    too_large,    // over the limit (a file dropped for pickup)
    unavailable,  // the store failed; nothing was queued and the same request may come again
  };
  Kind kind = Kind::unavailable;
  // The error: its machine-readable code as the local API documents it
  // ("no_route"), and a message for a person; both "" on success.
  std::string code;
  std::string message;
  nlohmann::json body;  // what a success carries; null on failure

  static Outcome success(Kind kind, nlohmann::json body);
  static Outcome failure(Kind kind, std::string code, std::string message);
  bool accepted() const { return kind == Kind::queued || kind == Kind::repeated; }
};

// An outcome as one line of JSON ending in a newline: a success's body, or
// {"error": CODE, "message": TEXT} (bytes of the message that are not UTF-8
// become U+FFFD). The local API answers it; the pickup folder keeps it.
std::string answer_text(const Outcome& outcome);

struct RetryPolicy {
  int max_attempts = 40;
  std::int64_t base_seconds = 1;
  std::int64_t max_seconds = 60;
};

class Pipeline {
 public:
  // Every signature made and every package verified is appended to `log`
  // before anything depends on it; no log, no signing.
  // Runs a task later on some worker thread.
  using Post = std::function<void(std::function<void()>)>;
  Pipeline(store::Store& store, Metrics& metrics, audit::SignatureLog& log, ConfigSource config,
           Post post, RetryPolicy retry = {})
      : store_(store),
        metrics_(metrics),
        log_(log),
        config_(std::move(config)),
        post_(std::move(post)),
        retry_(retry) {}

  // POST /v1/documents with an unsigned edXML package.
  Outcome submit(const std::string& package, const std::string& client,
                 const std::string& idempotency_key);
  // POST /v1/inbox/{id}/status.
  Outcome send_status(const std::string& inbox_id, const std::string& code,
                      const std::string& description);
  // POST /v1/documents/{id}/status: a recall request (13) about one of our
  // documents, sent to each of its recipients (or those named).
  Outcome send_document_status(const std::string& document, const std::string& code,
                               const std::string& description,
                               const std::vector<std::string>& recipients);
  // POST /v1/documents/{id}/followup: a revocation, update or replacement
  // of one of our documents (README, "Follow-ups").
  struct FollowUpRequest {
    int type = 1;  // 1 revocation, 2 update, 3 replacement
    std::string reason;
    std::string package;  // update/replacement: the new unsigned package ("" repeats the original)
    std::vector<edxml::FollowUpReceiver> receivers;  // update: recipients added or removed
  };
  Outcome follow_up(const std::string& document, const FollowUpRequest& request,
                    const std::string& client, const std::string& idempotency_key);

  // One round of deliveries that are due (leased from the store for
  // kDeliveryLeaseSeconds); returns how many were attempted, less those
  // that failed with an exception (they stay due).
  int deliver_due();
  // One poll of one adapter; returns how many packages came in.
  int poll(const std::string& adapter_name);
  // One round of taking packages an office dropped at an adapter (the
  // directory pickup folder): each is submitted as POST /v1/documents would
  // be and then moved aside with the answer; returns how many were taken.
  int pick_up(const std::string& adapter_name);

  // Verification as configured (trust, revocation, the <accept> policy for
  // the sender and `adapter`, the adapter the package came through).
  crypto::VerificationReport verify(const LoadedConfig& config, const std::string& package,
                                    const std::string& adapter = {}) const;
  // Appends a verification to the signature log. `id` is the stored
  // package's id and `package_name` where its bytes are
  // (store::package_ref_name), both "" when its bytes are not kept. With
  // durable=false the caller flushes the log (a Store LogRecord).
  Status log_verification(const LoadedConfig& config, const crypto::VerificationReport& report,
                          const std::string& message_type, const std::string& id,
                          const std::string& package_name = "", bool durable = true);
  // Appends that the package of document `id`, logged above, was not kept
  // after all (a repeat, a store failure): the auditor then says "never
  // kept", not "purged".
  Status log_discard(const LoadedConfig& config, const std::string& id,
                     const std::string& document_id, const std::string& reason);

 private:
  struct Queued {
    std::string id;
    bool repeated = false;
  };
  // What queue() stores besides the package.
  struct QueueRequest {
    store::Kind kind = store::Kind::edoc;
    std::string document_id, subject;
    std::vector<std::string> recipients;
    std::string client, idempotency_key;
    int business_type = 0;
    std::string follows;
  };
  static QueueRequest status_request(const std::string& document_id, const std::string& code,
                                     const std::string& to);
  Result<Queued> queue(const LoadedConfig& config, const std::string& signed_package,
                       const QueueRequest& request);
  // Why a PDF attachment of an outgoing package fails its own signatures, or "".
  std::string broken_pdf_signature(const LoadedConfig& config, xmlDoc* doc) const;
  // Signs and queues an unsigned document package; the outcome of POST /v1/documents.
  Outcome sign_and_queue(const LoadedConfig& config, const std::string& package,
                         const std::string& client, const std::string& idempotency_key,
                         const std::string& follows);
  // A received document that was accepted: follow-ups linked, handed
  // inward, 01 sent; false when it must be offered again.
  bool take_document(const LoadedConfig& config, store::InboxRow& row,
                     const edxml::Package& package, const std::string& bytes);
  // A received status that was accepted: recorded where it belongs.
  void take_status(const LoadedConfig& config, const store::InboxRow& row,
                   const edxml::Package& package);
  // A received document that was refused: 02 unless that would contradict
  // a copy already accepted.
  void refuse_document(const LoadedConfig& config, const store::InboxRow& row);
  // Delivers one package; false when the adapter could not reach its far side.
  bool deliver_one(const LoadedConfig& config, const store::DueDelivery& due);
  // One poll of `adapter`: how many packages it handed over.
  int poll_once(const LoadedConfig& config, adapters::Adapter& adapter);
  void take_incoming(const LoadedConfig& config, adapters::Adapter& adapter,
                     const adapters::IncomingPackage& incoming);
  // Builds, signs and queues a status package about a document we received.
  // `original`: its bytes when the caller holds them (else read from the store).
  Result<std::string> reply_status(const LoadedConfig& config, const store::InboxRow& about,
                                   const std::string& code, const std::string& description,
                                   const std::string* original = nullptr);

  // Runs `work` on this thread and on up to n-1 tasks given to post_ at
  // once; returns when every copy that started has returned (copies that
  // start later do nothing).
  void fan_out(size_t n, const std::function<void()>& work);

  store::Store& store_;
  Metrics& metrics_;
  audit::SignatureLog& log_;
  ConfigSource config_;
  Post post_;
  RetryPolicy retry_;
  // Leased deliveries not tried in their round (their adapter was
  // unreachable, or the attempt threw): tried in the next rounds while
  // their lease lasts, as they would be if they had not been leased.
  // deliver_due() alone touches it (one call at a time).
  struct Held {
    store::DueDelivery due;
    std::int64_t lease_ends = 0;
  };
  std::vector<Held> held_;
};

}  // namespace edocgw::gateway
