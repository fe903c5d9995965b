// gateway/store.h: the gateway's durable state in data-dir: an SQLite
// database (WAL, synchronous=FULL) for documents, recipients, delivery
// attempts, statuses, idempotency keys, the inbox and the hub's mailboxes,
// and the package bytes as files under data-dir/packages, each written
// atomically (temporary file, fsync, rename, fsync of the folder) before the
// row that names it is committed. Whatever a caller was told is stored
// survives kill -9.
//
// Thread-safety: one connection behind a mutex; every method may be called
// from any worker thread. Methods block (disk): never call them on an I/O
// thread.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"
#include "util/time.h"

namespace edocgw::gateway {

struct RecipientRow {
  std::string organ_id;
  std::string adapter;      // the route's adapter, "" when none matched
  std::string status;       // pending, sent, failed
  std::string status_code;  // edXML status code reported back, "" until one arrives
  std::string status_description;
  int attempts = 0;
  std::int64_t next_attempt_at = 0;
  std::string last_error;
  std::string remote_id;
  std::int64_t updated_at = 0;
};

struct DocumentRow {
  std::string id;
  std::string kind;    // "edoc" or "status"
  std::string status;  // queued, sent, delivered, failed, rejected
  std::string reason;
  std::string document_id;  // edXML DocumentId
  std::string sender;       // From/OrganId
  std::string subject;
  std::string package_sha256;
  std::string client;
  std::int64_t created_at = 0, updated_at = 0;
  std::vector<RecipientRow> recipients;
};

struct InboxRow {
  std::string id;
  std::string kind;  // "edoc" or "status"
  std::string adapter, remote_id;
  std::string sender, document_id, subject;
  std::string verification;  // valid, invalid
  std::string reason;
  std::string report_json;
  std::string package_sha256;
  std::int64_t received_at = 0;
  bool handled = false;  // handed inward and answered (01/02 queued)
};

struct DueDelivery {
  std::string document;  // DocumentRow::id
  std::string kind;
  std::string organ_id;
  std::string adapter;
  std::string sender;
  std::string document_id;
  int attempts = 0;
};

// One package waiting at the hub for one recipient: `id` is the
// recipient's docId, `package_id` the sender's DocId (one per sendEdoc,
// shared by its recipients; the bytes are packages/PACKAGE_ID.xml).
struct MailboxRow {
  std::string id;
  std::string package_id;
  std::string from_organ, to_organ, kind, status;  // status: new, processing, done, fail
  std::int64_t created_at = 0;
  std::string from_system, to_system;  // the exchange clients' system ids
  std::string title, notation;         // Subject, CodeNumber/CodeNotation ("" for a status)
  std::int64_t updated_at = 0;
};

// An agency registered through the hub's /registerAgency.
struct AgencyRow {
  std::string code, name, mail, pid, id;
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& data_dir);
  ~Store();

  std::filesystem::path package_path(const std::string& id) const;
  Result<std::string> read_package(const std::string& id) const;

  // Outgoing. Writes the package file then the rows in one transaction. With
  // an idempotency key already used by `client`, stores nothing and returns
  // the first document's id (callers that want to skip the work before,
  // such as signing, ask idempotent() first).
  struct Submitted {
    std::string id;
    bool repeated = false;
  };
  // `after_package` runs once the package file is on disk and before the
  // rows are committed (the signature log flushes there: its data has
  // usually reached the disk with the package's journal commit).
  Result<Submitted> submit(const DocumentRow& document, const std::string& package,
                           const std::string& idempotency_key,
                           const std::function<Status()>& after_package = {});
  // The document a client's Idempotency-Key already created, if any.
  Result<std::optional<std::string>> idempotent(const std::string& client, const std::string& key);
  Result<std::optional<DocumentRow>> document(const std::string& id);
  Result<std::vector<DueDelivery>> due_deliveries(std::int64_t now, int limit);
  Status record_delivery(const std::string& document, const std::string& organ_id, bool ok,
                         bool give_up, const std::string& detail, const std::string& remote_id,
                         std::int64_t next_attempt_at);
  // A status package from `from_organ` about our document `document_id`.
  // Returns false when no outgoing document matches.
  Result<bool> record_status(const std::string& document_id, const std::string& from_organ,
                             const std::string& code, const std::string& description);

  // Incoming.
  // Stores an incoming package; false (and nothing stored) when a valid
  // document with the same sender and DocumentId is already in the inbox.
  Result<bool> add_inbox(const InboxRow& row, const std::string& package);
  // The valid copy already received of a document, if any.
  Result<std::optional<InboxRow>> valid_inbox_item(const std::string& sender,
                                                   const std::string& document_id);
  // After the inward hand-over and the 01/02 answer are done (or queued).
  Status mark_handled(const std::string& id);
  Result<std::vector<InboxRow>> inbox(const std::string& since, int limit);
  Result<std::optional<InboxRow>> inbox_item(const std::string& id);

  // Hub mailboxes.
  Status add_mail(const std::vector<MailboxRow>& rows, const std::string& package);
  // The oldest `limit` of `kind` waiting (not done) for `to_system`: a poll
  // takes a bounded bite.
  Result<std::vector<MailboxRow>> mail_for(const std::string& to_system, const std::string& kind,
                                           int limit = 100);
  Result<std::int64_t> count_mail_for(const std::string& to_system, const std::string& kind);
  // What `from_system` sent, newest first, one row per recipient; `kind`
  // and `package_id` filter when not empty.
  Result<std::vector<MailboxRow>> sent_mail(const std::string& from_system, const std::string& kind,
                                            const std::string& package_id, int limit = 500);
  Result<std::optional<MailboxRow>> mail(const std::string& id);
  Status set_mail_status(const std::string& id, const std::string& status);
  // The hub's registered agencies (beside those of its configuration).
  Result<std::vector<AgencyRow>> agencies();
  Status add_agency(const AgencyRow& agency);  // replaces one with the same code
  Result<bool> delete_agency(const std::string& code);

  // Counts for /metrics: documents by status, pending deliveries, inbox by verification.
  Result<std::vector<std::pair<std::string, std::int64_t>>> counts();
  Status ping();

 private:
  // The document of (client, key), "" when none; the caller holds mutex_.
  Result<std::string> idempotent_locked(const std::string& client, const std::string& key);
  Store(sqlite3* db, std::filesystem::path data_dir) : db_(db), data_dir_(std::move(data_dir)) {}
  Status exec(const char* sql);
  Status refresh_document_status(const std::string& document, std::int64_t now);

  // Group commit: concurrent submit() calls queue their rows; one of them
  // (the leader) fsyncs the packages folder once and commits them all in one
  // transaction, so one WAL fsync serves many documents.
  struct PendingSubmit;
  void commit_pending(std::vector<PendingSubmit*> batch);
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::vector<PendingSubmit*> queue_;
  bool leader_busy_ = false;

  mutable std::mutex mutex_;
  sqlite3* db_;
  std::filesystem::path data_dir_;
};

}  // namespace edocgw::gateway
