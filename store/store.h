// store/store.h: the storage contract of the daemon: what the pipeline and
// the two HTTP APIs may ask of durable state, and nothing about how an
// engine keeps it. Engines: the embedded one (store/sqlite_store.h: SQLite
// rows plus the segment archive for package bytes), the in-memory fake for
// in-process tests (store/memory_store.h), and PostgreSQL for N nodes
// sharing one database (store/pg_store.h).
//
// Contract, for every engine and every method:
// - Thread safety: every method may be called from any number of threads at
//   once. Methods block (disk, network): never call them on an I/O thread.
// - Durability: a write that returned success survives kill -9 of the
//   process (and a power loss on a disk that honours flushes) for the
//   durable engines; the fake keeps nothing across its own destruction.
//   A write that returned an error may or may not have happened as a whole,
//   never in part: its rows are one transaction.
// - Package bytes and their signature-log record: a write that carries a
//   package (submit, add_inbox, add_mail) makes the bytes durable first, then
//   calls its LogRecord with the name of the place they are at, then makes
//   the log durable (the LogSync given at open), then commits its rows: a
//   row never exists whose signing or verification the log could lose.
// - Errors: Errc::io when the engine cannot read or write (the message says
//   what and why); Errc::invalid for a request the contract refuses (a
//   second original of a DocumentId, an idempotency key reused with another
//   body, an unknown package id), with a message a client may be shown;
//   Errc::unsupported for a database made by a newer edocgw.
// - Reads see every write that returned before them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace edocgw::store {

// ---------------------------------------------------------------- states

// What a package is, by its content (never by a transport's label).
enum class Kind { edoc, status };
// An outgoing document, derived from its recipients after every change:
// failed when any recipient was given up (reason: its last error); else
// queued while any is pending; else delivered when every recipient reported
// a status; else sent. rejected (INTERFACE.md: refused before sending) is
// never changed by that rule; no path stores it today, since a refused
// submission gets its error and no row.
enum class DocumentState { queued, sent, delivered, failed, rejected };
// One recipient of an outgoing document.
enum class RecipientState { pending, sent, failed };
// An incoming package as verified: `unsigned_` is accepted by policy and is
// never `valid`.
enum class Verification { valid, unsigned_, invalid };
// A package waiting at the hub for one recipient system.
enum class MailState { fresh, processing, done, fail };
// A status entry's direction: received by this gateway, or sent by it.
enum class Direction { in, out };

// Wire and database names ("edoc", "queued", "unsigned", "new", ...) and back.
std::string_view name(Kind v);
std::string_view name(DocumentState v);
std::string_view name(RecipientState v);
std::string_view name(Verification v);
std::string_view name(MailState v);
std::string_view name(Direction v);
std::optional<Kind> parse_kind(std::string_view text);
std::optional<DocumentState> parse_document_state(std::string_view text);
std::optional<RecipientState> parse_recipient_state(std::string_view text);
std::optional<Verification> parse_verification(std::string_view text);
std::optional<MailState> parse_mail_state(std::string_view text);
std::optional<Direction> parse_direction(std::string_view text);

inline bool accepted(Verification v) {
  return v == Verification::valid || v == Verification::unsigned_;
}

// ---------------------------------------------------------------- rows

// One edXML status in a document's history (DOMAIN.md, "The status package").
struct StatusEntry {
  std::string organ_id;  // who sent it
  std::string code, description;
  std::int64_t timestamp = 0;    // the status's own Timestamp (when its sender acted)
  std::int64_t received_at = 0;  // when it reached (or left) this gateway
  Direction direction = Direction::in;
  bool applied = false;  // it set the current state (older late arrivals do not)
};

struct RecipientRow {
  std::string organ_id;
  std::string adapter;  // the route's adapter, "" when none matched
  RecipientState state = RecipientState::pending;
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
  Kind kind = Kind::edoc;
  DocumentState state = DocumentState::queued;
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
  Kind kind = Kind::edoc;
  std::string adapter, remote_id;
  std::string sender, document_id, subject;
  Verification verification = Verification::invalid;
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
  std::vector<StatusEntry> history;  // filled by inbox_item() and inbox() only
};

struct DueDelivery {
  std::string document;  // DocumentRow::id
  Kind kind = Kind::edoc;
  std::string organ_id;
  std::string adapter;
  std::string sender;
  std::string document_id;
  int attempts = 0;
};

// One package waiting at the hub for one recipient: `id` is the
// recipient's docId, `package_id` the sender's DocId (one per sendEdoc,
// shared by its recipients and naming the bytes).
struct MailboxRow {
  std::string id;
  std::string package_id;
  std::string from_organ, to_organ;
  Kind kind = Kind::edoc;
  MailState state = MailState::fresh;
  std::int64_t created_at = 0;
  std::string from_system, to_system;  // the exchange clients' system ids
  std::string title, notation;         // Subject, CodeNumber/CodeNotation ("" for a status)
  std::int64_t updated_at = 0;
};

// An agency registered through the hub's /registerAgency.
struct AgencyRow {
  std::string code, name, mail, pid, id;
};

// Appends the signature-log record that names a package's bytes by
// `package_name`, without flushing (see the contract above).
using LogRecord = std::function<Status(const std::string& package_name)>;
// Makes every record appended so far durable.
using LogSync = std::function<Status()>;

// ---------------------------------------------------------------- interfaces

// Outgoing documents and their recipients.
class Outbox {
 public:
  virtual ~Outbox() = default;
  struct Submitted {
    std::string id;
    bool repeated = false;
  };
  // Stores a signed package with its document and recipient rows. With an
  // idempotency key `client` already used, stores no row and returns the
  // first document's id (repeated); the same key with another body (see
  // idempotency_key_with_body) is Errc::invalid, as is a second original
  // (business_type 0) of a DocumentId already stored.
  virtual Result<Submitted> submit(const DocumentRow& document, const std::string& package,
                                   const std::string& idempotency_key,
                                   const LogRecord& log_record) = 0;
  // The document a client's key already created, if any (Errc::invalid: the
  // key came with another body).
  virtual Result<std::optional<std::string>> idempotent(const std::string& client,
                                                        const std::string& key) = 0;
  virtual Result<std::optional<DocumentRow>> document(const std::string& id) = 0;
  // Our original (business_type 0) outgoing document with this DocumentId.
  virtual Result<std::optional<DocumentRow>> original_document(const std::string& document_id) = 0;
  // Pending recipients whose next attempt is due at `now`, oldest first,
  // leased: none of them is returned again (to this or another node sharing
  // the engine) before now + lease_seconds, unless record_delivery() is
  // called for it. A node that dies mid-delivery loses its lease when it
  // expires, and the delivery is taken over (at least once: the receiver
  // drops a repeat). An engine that one process holds at a time may end its
  // leases with that process (the embedded engine does: a restarted gateway
  // retries at once what the killed one was delivering).
  virtual Result<std::vector<DueDelivery>> lease_due_deliveries(std::int64_t now, int limit,
                                                                std::int64_t lease_seconds) = 0;
  // One attempt: ok (sent), or not (pending again at next_attempt_at, or
  // failed for good with give_up); ends the lease.
  virtual Status record_delivery(const std::string& document, const std::string& organ_id, bool ok,
                                 bool give_up, const std::string& detail,
                                 const std::string& remote_id, std::int64_t next_attempt_at) = 0;
  // A status from `entry.organ_id` about our original `document_id`, added
  // to that recipient's history; it becomes the recipient's state only when
  // newer by its own Timestamp (equal: the higher of status_rank()).
  enum class StatusOutcome { applied, kept_older, no_document };
  virtual Result<StatusOutcome> record_status(const std::string& document_id,
                                              StatusEntry entry) = 0;
};

// Incoming packages.
class Inbox {
 public:
  virtual ~Inbox() = default;
  // Stores an incoming package; false (no row) when the same package
  // (sender, DocumentId, business type and bytes) was already accepted. A
  // different accepted original with the sender and DocumentId of an earlier
  // one is stored with conflict_of set (in `row`).
  virtual Result<bool> add_inbox(InboxRow& row, const std::string& package,
                                 const LogRecord& log_record) = 0;
  // The accepted copy already received of exactly this package, if any.
  virtual Result<std::optional<InboxRow>> accepted_copy(const InboxRow& row) = 0;
  // The first accepted original received from `sender` with this DocumentId.
  virtual Result<std::optional<InboxRow>> original_inbox_item(const std::string& sender,
                                                              const std::string& document_id) = 0;
  // Links a follow-up to its original and marks the original revoked or superseded.
  virtual Status link_followup(const std::string& followup_id, const std::string& original_id,
                               bool revokes) = 0;
  // A revocation or replacement received earlier than the original it concerns.
  virtual Result<std::optional<InboxRow>> earlier_followup(const std::string& sender,
                                                           const std::string& document_id) = 0;
  // After the inward hand-over and the 01/02 answer are done (or queued).
  virtual Status mark_handled(const std::string& id) = 0;
  // Documents (not statuses), newest first, after `since` (an inbox id, ""
  // for all), at most `limit`, each with its history.
  virtual Result<std::vector<InboxRow>> inbox(const std::string& since, int limit) = 0;
  virtual Result<std::optional<InboxRow>> inbox_item(const std::string& id) = 0;
};

// The hub's mailboxes and agency directory.
class HubMailbox {
 public:
  virtual ~HubMailbox() = default;
  // One package for several recipients: rows share package_id.
  virtual Status add_mail(const std::vector<MailboxRow>& rows, const std::string& package,
                          const LogRecord& log_record) = 0;
  // The oldest `limit` of `kind` not done for `to_system`.
  virtual Result<std::vector<MailboxRow>> mail_for(const std::string& to_system, Kind kind,
                                                   int limit) = 0;
  virtual Result<std::int64_t> count_mail_for(const std::string& to_system, Kind kind) = 0;
  // What `from_system` sent, newest first; `kind` and `package_id` filter when given.
  virtual Result<std::vector<MailboxRow>> sent_mail(const std::string& from_system,
                                                    std::optional<Kind> kind,
                                                    const std::string& package_id, int limit) = 0;
  virtual Result<std::optional<MailboxRow>> mail(const std::string& id) = 0;
  virtual Status set_mail_state(const std::string& id, MailState state) = 0;
  virtual Result<std::vector<AgencyRow>> agencies() = 0;
  virtual Status add_agency(const AgencyRow& agency) = 0;  // replaces one with the same code
  virtual Result<bool> delete_agency(const std::string& code) = 0;
};

// Package bytes and their lifetime.
class PackageStore {
 public:
  virtual ~PackageStore() = default;
  // The bytes stored as `id` (a document, inbox or hub package id); nullopt
  // when retention purged them; Errc::invalid when nothing has that id.
  virtual Result<std::optional<std::string>> read_package(const std::string& id) = 0;
  // Retention: purges bodies stored before `before` (seconds since the
  // epoch) that no pending work needs, as the engine can (whole segments
  // for the embedded engine). Rows, reports and the log stay.
  struct PurgeReport {
    std::uint64_t segments = 0;  // files removed (0 for engines without files)
    std::uint64_t packages = 0;  // bodies now purged
    std::uint64_t kept_from_segment = 0;
  };
  virtual Result<PurgeReport> purge(std::int64_t before) = 0;
};

// Counts for /metrics (the text is built by the gateway).
struct Counts {
  std::map<DocumentState, std::int64_t> documents;
  std::int64_t queue_depth = 0;  // recipients pending
  std::map<Verification, std::int64_t> inbox;
  std::map<MailState, std::int64_t> mailbox;
};

// Everything an engine offers.
class Store : public Outbox, public Inbox, public HubMailbox, public PackageStore {
 public:
  // Adds to the history of `ref` (an inbox id or a document id) without
  // changing any state.
  virtual Status add_status_history(const std::string& ref, const StatusEntry& entry) = 0;
  virtual Result<Counts> counts() = 0;
  // Cheap check that the engine answers (for /healthz).
  virtual Status ping() = 0;
  // Whether this node may poll `source` (an adapter's name) at `now`: true
  // while it holds the source's poll lease, which this call takes (when
  // free or expired) or renews until now + lease_seconds. Nodes sharing an
  // engine then poll a source one at a time, and when the polling node dies
  // another takes over once the lease ends. A round that outlasts the lease
  // may overlap another node's (duplicates are refused by the inbox all the
  // same). The default is the answer of an engine one process holds at a
  // time: always true.
  virtual Result<bool> lease_poll(const std::string& source, std::int64_t now,
                                  std::int64_t lease_seconds) {
    (void)source, (void)now, (void)lease_seconds;
    return true;
  }
  // What opening did that an operator should hear of, one sentence each.
  virtual std::vector<std::string> notices() const = 0;
};

// Which of 01..06, 13, 15, 16 wins between two statuses of the same Timestamp.
int status_rank(const std::string& code);

// An Idempotency-Key as stores keep it: the client's key and the SHA-256
// (hex) of the body it came with, so that the same key with another body is
// refused rather than answered with the first document.
std::string idempotency_key_with_body(const std::string& key, const std::string& body_sha256);
std::pair<std::string, std::string> split_idempotency_key(const std::string& key);

}  // namespace edocgw::store
