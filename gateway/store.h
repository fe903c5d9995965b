// gateway/store.h: the gateway's durable state in data-dir: an SQLite
// database (WAL, synchronous=FULL, versioned schema in user_version) for
// documents, recipients, delivery attempts, statuses, idempotency keys, the
// inbox and the hub's mailboxes, and the package bytes in the segment
// archive (store/segment_archive.h, DATA_DIR/segments), never one file per
// package. Whatever a caller was told is stored survives kill -9.
//
// Group commit: every write (a document with its bytes, an incoming
// package, mail at the hub, and the bookkeeping: delivery attempts,
// statuses, hand-overs) joins a queue; one caller at a time leads a batch
// of up to kMaxBatch: one write + fdatasync of the archive for all its
// bodies, then the signature-log records naming them and one log flush
// (set_log_sync), then one SQLite transaction (one WAL fsync) with a
// savepoint per caller, so one caller's failed rows do not undo the others'.
// A write returns once its batch is committed.
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

#include "store/segment_archive.h"
#include "util/result.h"
#include "util/time.h"

namespace edocgw::gateway {

// One edXML status in a document's history (DOMAIN.md, "The status package").
struct StatusEntry {
  std::string organ_id;  // who sent it
  std::string code, description;
  std::int64_t timestamp = 0;    // the status's own Timestamp (when its sender acted)
  std::int64_t received_at = 0;  // when it reached (or left) this gateway
  std::string direction;         // "in": received; "out": sent by this gateway
  bool applied = false;          // it set the current state (older late arrivals do not)
};

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
  std::int64_t status_at = 0;  // Timestamp of the status in force (status_code)
  std::vector<StatusEntry> history;
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
  int business_type =
      0;                // Bussiness/BussinessDocType: 0 new, 1 revocation, 2 update, 3 replacement
  std::string follows;  // a follow-up: the id of the document it concerns
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
  bool handled = false;              // handed inward and answered (01/02 queued)
  int business_type = 0;             // 0 new, 1 revocation, 2 update, 3 replacement
  std::string concerns;              // a follow-up: the inbox id of the document it concerns
  std::string conflict_of;           // a different package with the same sender, DocumentId and
                                     // type as an earlier accepted one: that one's inbox id
  std::string revoked_by;            // the follow-up that revoked it (or removed us as recipient)
  std::string superseded_by;         // the update or replacement that followed it
  std::vector<StatusEntry> history;  // filled by inbox_item() only
};

// The verification states an inbox row can have; "unsigned" is accepted by
// policy, never "valid".
inline bool accepted_verification(const std::string& v) {
  return v == "valid" || v == "unsigned";
}

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

// An Idempotency-Key as the store keeps it: the client's key and the
// SHA-256 (hex) of the body it came with, so that the same key with another
// body is refused rather than answered with the first document. A newline
// cannot occur in an HTTP header value, so it separates them.
std::string idempotency_key_with_body(const std::string& key, const std::string& body_sha256);
std::pair<std::string, std::string> split_idempotency_key(const std::string& key);

class StatementCache;

// Appends the signature-log record that names a package's bytes by
// `package_name` (store::package_ref_name), without flushing: the store
// flushes once per batch before committing the rows.
using LogRecord = std::function<Status(const std::string& package_name)>;

class Store {
 public:
  // Opens DATA_DIR/edocgw.sqlite (migrating its schema) and the archive in
  // DATA_DIR/segments, whose lock keeps a second process off the data-dir.
  // `segment_bytes`: the size a segment grows to before the next one starts.
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& data_dir,
                                             std::uint64_t segment_bytes = 256ull << 20);
  ~Store();

  // Called once, before the first write: flushes the signature log that
  // LogRecord functions append to.
  void set_log_sync(std::function<Status()> sync);

  // The bytes stored as `id` (a document, an inbox package or a hub
  // package id); nullopt when retention purged them; an error when no
  // package has that id or its record cannot be read.
  Result<std::optional<std::string>> read_package(const std::string& id) const;
  store::SegmentArchive::Stats archive_stats() const;
  // What opening the archive did that an operator should hear of (a torn
  // tail cut), one sentence each.
  const std::vector<std::string>& notices() const { return archive_->notices(); }

  // Retention: drops every whole segment below the first one holding a body
  // stored at or after `before` (seconds since the epoch) or still needed
  // (a recipient pending, an incoming package not handed inward, hub mail
  // not yet fetched), and never the segment being written. Their rows say
  // purged from then on (read_package gives nullopt); the signature log is
  // not touched, and the auditor reports those bodies as purged.
  struct PurgeReport {
    std::uint64_t segments = 0;  // segment files removed
    std::uint64_t packages = 0;  // bodies now purged
    std::uint64_t kept_from_segment = 0;
  };
  Result<PurgeReport> purge(std::int64_t before);

  // Outgoing: the bytes, then `log_record` naming them, then the rows, in
  // one group commit. With an idempotency key already used by `client`,
  // stores no row and returns the first document's id (the bytes stay in
  // the archive, named by the log record only; callers that want to skip
  // the work before, such as signing, ask idempotent() first).
  struct Submitted {
    std::string id;
    bool repeated = false;
  };
  Result<Submitted> submit(const DocumentRow& document, const std::string& package,
                           const std::string& idempotency_key, const LogRecord& log_record);
  // The document a client's Idempotency-Key already created, if any; an
  // Errc::invalid error when the key came with another body's hash (see
  // idempotency_key_with_body). Keys without a hash match any body.
  Result<std::optional<std::string>> idempotent(const std::string& client, const std::string& key);
  Result<std::optional<DocumentRow>> document(const std::string& id);
  Result<std::vector<DueDelivery>> due_deliveries(std::int64_t now, int limit);
  Status record_delivery(const std::string& document, const std::string& organ_id, bool ok,
                         bool give_up, const std::string& detail, const std::string& remote_id,
                         std::int64_t next_attempt_at);
  // Our original (BussinessDocType 0) outgoing document with this DocumentId, if any.
  Result<std::optional<DocumentRow>> original_document(const std::string& document_id);
  // A status package from `entry.organ_id` about our document `document_id`
  // (the original, never a follow-up or another copy), added to that
  // recipient's history. It becomes the recipient's state only when it is
  // newer by its own Timestamp (equal Timestamps: the higher code of 01..06);
  // an older one arriving late is kept in the history, not applied.
  enum class StatusOutcome { applied, kept_older, no_document };
  Result<StatusOutcome> record_status(const std::string& document_id, StatusEntry entry);
  // Adds to the history of `ref` (an inbox id: a recall request 13 from the
  // sender, a status this gateway sent about it; or a documents id: a status
  // this gateway sent about its own document) without changing any state.
  Status add_status_history(const std::string& ref, const StatusEntry& entry);
  // Which of 01..06, 13, 15, 16 wins between two statuses of the same Timestamp.
  static int status_rank(const std::string& code);

  // Incoming.
  // Stores an incoming package; false (and nothing stored) when the same
  // package (sender, DocumentId, business type and bytes) was already
  // accepted. A different accepted document (type 0) with the sender and
  // DocumentId of an earlier one is stored with conflict_of set (in `row`).
  // `log_record` names the bytes in the signature log (see submit()).
  Result<bool> add_inbox(InboxRow& row, const std::string& package, const LogRecord& log_record);
  // The accepted copy already received of exactly this package, if any.
  Result<std::optional<InboxRow>> accepted_copy(const InboxRow& row);
  // The first accepted original (type 0) received from `sender` with this DocumentId.
  Result<std::optional<InboxRow>> original_inbox_item(const std::string& sender,
                                                      const std::string& document_id);
  // A follow-up arrived: link it to the original and mark the original
  // revoked (revocation, or we were removed from its recipients) or
  // superseded (update, replacement).
  Status link_followup(const std::string& followup_id, const std::string& original_id,
                       bool revokes);
  // A revocation or replacement received earlier than the original it concerns.
  Result<std::optional<InboxRow>> earlier_followup(const std::string& sender,
                                                   const std::string& document_id);
  // After the inward hand-over and the 01/02 answer are done (or queued).
  Status mark_handled(const std::string& id);
  Result<std::vector<InboxRow>> inbox(const std::string& since, int limit);
  Result<std::optional<InboxRow>> inbox_item(const std::string& id);

  // Hub mailboxes.
  Status add_mail(const std::vector<MailboxRow>& rows, const std::string& package,
                  const LogRecord& log_record);
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
  // One inbox row matching `where` (positional values), the oldest.
  Result<std::optional<InboxRow>> inbox_query(const std::string& where,
                                              const std::vector<std::string>& values);
  // The statuses about `ref` (from `organ_id`, or all when ""); the caller holds mutex_.
  std::vector<StatusEntry> history_locked(const std::string& ref, const std::string& organ_id);
  // The document of (client, key), "" when none; the caller holds mutex_.
  Result<std::string> idempotent_locked(const std::string& client, const std::string& key);
  bool has_column(const char* table, const char* column);
  Store(sqlite3* db, std::filesystem::path data_dir,
        std::unique_ptr<store::SegmentArchive> archive);
  Status exec(const char* sql);
  Status migrate();
  Status refresh_document_status(const std::string& document, std::int64_t now);
  // Where `id`'s bytes are; the caller is inside a group commit.
  Status put_package_locked(const std::string& id, const store::PackageRef& ref);

  // Group commit (see the top of this file): `package` (may be empty) is
  // archived, `log` (may be null) names it in the signature log, `rows`
  // runs inside the batch's transaction with mutex_ held and gets the
  // package's ref (null without a package). Returns rows' result, or the
  // batch's failure.
  static constexpr size_t kMaxBatch = 256;
  struct Pending;
  Status group_commit(std::string_view package, const LogRecord* log,
                      std::function<Status(const store::PackageRef*)> rows);
  void commit_batch(const std::vector<Pending*>& batch);
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::vector<Pending*> queue_;
  bool leader_busy_ = false;
  std::function<Status()> log_sync_;
  std::unique_ptr<store::SegmentArchive> archive_;

  mutable std::mutex mutex_;
  sqlite3* db_;
  std::unique_ptr<StatementCache> statements_;
  std::filesystem::path data_dir_;
};

}  // namespace edocgw::gateway
