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
// Thread-safety: methods block and run on worker threads; deliver_due() and
// poll() of one adapter are each run by one thread at a time (the daemon
// ensures it), everything else may run concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "adapters/adapter.h"
#include "audit/signature_log.h"
#include "crypto/verification_report.h"
#include "gateway/config_check.h"
#include "gateway/http_server.h"
#include "gateway/metrics.h"
#include "gateway/store.h"

namespace edocgw::gateway {

using ConfigSource = std::function<std::shared_ptr<const LoadedConfig>()>;

struct RetryPolicy {
  int max_attempts = 40;
  std::int64_t base_seconds = 1;
  std::int64_t max_seconds = 60;
};

class Pipeline {
 public:
  // Every signature made and every package verified is appended to `log`
  // before anything depends on it; no log, no signing.
  Pipeline(Store& store, Metrics& metrics, audit::SignatureLog& log, ConfigSource config,
           RetryPolicy retry = {})
      : store_(store), metrics_(metrics), log_(log), config_(std::move(config)), retry_(retry) {}

  // POST /v1/documents with an unsigned edXML package.
  HttpResponse submit(const std::string& package, const std::string& client,
                      const std::string& idempotency_key);
  // POST /v1/inbox/{id}/status.
  HttpResponse send_status(const std::string& inbox_id, const std::string& code,
                           const std::string& description);

  // One round of deliveries that are due; returns how many were attempted.
  int deliver_due();
  // One poll of one adapter; returns how many packages came in.
  int poll(const std::string& adapter_name);
  // One round of taking packages an office dropped at an adapter (the
  // directory pickup folder): each is submitted as POST /v1/documents would
  // be and then moved aside with the answer; returns how many were taken.
  int pick_up(const std::string& adapter_name);

  // Verification as configured (trust, revocation, SHA-1).
  crypto::VerificationReport verify(const LoadedConfig& config, const std::string& package) const;
  // Appends a verification to the signature log. `id` names the stored
  // package (packages/ID.xml), "" when its bytes are not kept.
  Status log_verification(const LoadedConfig& config, const crypto::VerificationReport& report,
                          const std::string& message_type, const std::string& id);

 private:
  struct Queued {
    std::string id;
    bool repeated = false;
  };
  Result<Queued> queue(const LoadedConfig& config, const std::string& kind,
                       const std::string& signed_package, const std::string& document_id,
                       const std::string& subject, const std::vector<std::string>& recipients,
                       const std::string& client, const std::string& idempotency_key);
  // Delivers one package; false when the adapter could not reach its far side.
  bool deliver_one(const LoadedConfig& config, const DueDelivery& due);
  void take_incoming(const LoadedConfig& config, adapters::Adapter& adapter,
                     const adapters::IncomingPackage& incoming);
  // Builds, signs and queues a status package about a document we received.
  Result<std::string> reply_status(const LoadedConfig& config, const InboxRow& about,
                                   const std::string& code, const std::string& description);

  Store& store_;
  Metrics& metrics_;
  audit::SignatureLog& log_;
  ConfigSource config_;
  RetryPolicy retry_;
};

}  // namespace edocgw::gateway
