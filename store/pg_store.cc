#include "store/pg_store.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <iterator>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "store/pg_connection.h"
#include "util/time.h"

namespace edocgw::store {
namespace {

using pg::FailureKind;
using pg::Param;

// ---------------------------------------------------------------- schema

// Version 1. Times are seconds since the epoch (bigint), states their
// store.h names. seq columns keep insertion order where SQLite had rowid.
constexpr const char* kSchemaV1[] = {
    R"sql(CREATE TABLE documents (
  id text PRIMARY KEY, kind text NOT NULL, state text NOT NULL, reason text NOT NULL DEFAULT '',
  document_id text NOT NULL, sender text NOT NULL, subject text NOT NULL DEFAULT '',
  package_sha256 text NOT NULL, client text NOT NULL DEFAULT '',
  created_at bigint NOT NULL, updated_at bigint NOT NULL,
  business_type integer NOT NULL DEFAULT 0, follows text NOT NULL DEFAULT ''))sql",
    "CREATE INDEX documents_by_document_id ON documents (document_id)",
    // One original per DocumentId: a second one would make every status
    // about it ambiguous. Follow-ups (1, 2, 3) share it by design.
    "CREATE UNIQUE INDEX documents_one_original ON documents (document_id) "
    "WHERE kind = 'edoc' AND business_type = 0",
    R"sql(CREATE TABLE recipients (
  seq bigserial NOT NULL, document text NOT NULL REFERENCES documents (id),
  organ_id text NOT NULL, adapter text NOT NULL, state text NOT NULL,
  status_code text NOT NULL DEFAULT '', status_description text NOT NULL DEFAULT '',
  attempts integer NOT NULL DEFAULT 0, next_attempt_at bigint NOT NULL DEFAULT 0,
  last_error text NOT NULL DEFAULT '', remote_id text NOT NULL DEFAULT '',
  updated_at bigint NOT NULL, status_at bigint NOT NULL DEFAULT 0,
  leased_by text NOT NULL DEFAULT '', PRIMARY KEY (document, organ_id)))sql",
    "CREATE INDEX recipients_due ON recipients (next_attempt_at) WHERE state = 'pending'",
    R"sql(CREATE TABLE attempts (
  document text NOT NULL, organ_id text NOT NULL, at bigint NOT NULL, ok boolean NOT NULL,
  detail text NOT NULL, node text NOT NULL))sql",
    // Every edXML status about a document, in either direction: about one of
    // our documents (ref = documents.id) or one we received (ref = inbox.id).
    R"sql(CREATE TABLE statuses (
  seq bigserial PRIMARY KEY, ref text NOT NULL, organ_id text NOT NULL, code text NOT NULL,
  description text NOT NULL, status_time bigint NOT NULL, received_at bigint NOT NULL,
  direction text NOT NULL, applied boolean NOT NULL))sql",
    "CREATE INDEX statuses_by_ref ON statuses (ref, organ_id)",
    R"sql(CREATE TABLE idempotency (
  client text NOT NULL, idem_key text NOT NULL, document text NOT NULL,
  body_sha256 text NOT NULL DEFAULT '', PRIMARY KEY (client, idem_key)))sql",
    // seq: the order of arrival (inbox listings page by it); assigned under
    // an advisory lock held to commit, so that seq order is commit order and
    // a reader paging with `since` never skips a row committed late.
    R"sql(CREATE TABLE inbox (
  id text PRIMARY KEY, seq bigint NOT NULL UNIQUE, kind text NOT NULL, adapter text NOT NULL,
  remote_id text NOT NULL, sender text NOT NULL, document_id text NOT NULL,
  subject text NOT NULL, verification text NOT NULL, reason text NOT NULL,
  report_json text NOT NULL, package_sha256 text NOT NULL, received_at bigint NOT NULL,
  handled boolean NOT NULL DEFAULT false, business_type integer NOT NULL DEFAULT 0,
  concerns text NOT NULL DEFAULT '', conflict_of text NOT NULL DEFAULT '',
  revoked_by text NOT NULL DEFAULT '', superseded_by text NOT NULL DEFAULT ''))sql",
    "CREATE INDEX inbox_by_document ON inbox (sender, document_id, kind)",
    // The same package again (same sender, DocumentId, business type and
    // bytes) is a duplicate; a different one is kept (a follow-up, a conflict).
    "CREATE UNIQUE INDEX inbox_once ON inbox (sender, document_id, business_type, "
    "package_sha256) WHERE kind = 'edoc' AND verification IN ('valid', 'unsigned')",
    R"sql(CREATE TABLE mailbox (
  seq bigserial NOT NULL, id text PRIMARY KEY, package_id text NOT NULL,
  from_organ text NOT NULL, to_organ text NOT NULL, kind text NOT NULL, state text NOT NULL,
  created_at bigint NOT NULL, from_system text NOT NULL, to_system text NOT NULL,
  title text NOT NULL, notation text NOT NULL, updated_at bigint NOT NULL))sql",
    "CREATE INDEX mailbox_by_recipient ON mailbox (to_system, kind, state)",
    "CREATE INDEX mailbox_by_sender ON mailbox (from_system, created_at)",
    "CREATE INDEX mailbox_by_package ON mailbox (package_id)",
    R"sql(CREATE TABLE hub_agencies (
  code text PRIMARY KEY, name text NOT NULL, mail text NOT NULL, pid text NOT NULL,
  id text NOT NULL))sql",
    // Package bytes by id (documents.id, inbox.id, mailbox.package_id);
    // body NULL and purged_at set once retention purged it.
    R"sql(CREATE TABLE packages (
  id text PRIMARY KEY, body bytea, length bigint NOT NULL, sha256 text NOT NULL DEFAULT '',
  stored_at bigint NOT NULL, purged_at bigint NOT NULL DEFAULT 0))sql",
    "CREATE INDEX packages_unpurged ON packages (stored_at) WHERE purged_at = 0",
};

// Version 2: poll leases, one row per polled source (an adapter's name).
constexpr const char* kSchemaV2[] = {
    R"sql(CREATE TABLE poll_leases (
  source text PRIMARY KEY, node text NOT NULL, until bigint NOT NULL))sql",
};

struct Migration {
  int version;
  const char* const* begin;
  const char* const* end;
};
constexpr Migration kMigrations[] = {{1, std::begin(kSchemaV1), std::end(kSchemaV1)},
                                     {2, std::begin(kSchemaV2), std::end(kSchemaV2)}};
static_assert(static_cast<int>(std::size(kMigrations)) == kPgSchemaVersion);

// A body no row names is purged only when older than this (and the
// cut-off): longer than any batch takes from its bytes commit to its rows
// commit.
constexpr std::int64_t kOrphanGrace = 3600;

// Advisory lock keys (pg_advisory_xact_lock): schema changes; inbox seq.
constexpr const char* kSchemaLock = "SELECT pg_advisory_xact_lock(hashtext('edocgw.schema'))";
constexpr const char* kInboxSeqLock = "SELECT pg_advisory_xact_lock(hashtext('edocgw.inbox.seq'))";

// ---------------------------------------------------------------- helpers

std::int64_t now() {
  return now_seconds().time_since_epoch().count();
}

Error in_context(const std::string& what, const Error& e) {
  return make_error(e.code, what + ": " + e.message);
}

std::string text(const pg::Rows& r, int row, int col) {
  return std::string(r.text(row, col));
}
std::int64_t integer(const pg::Rows& r, int row, int col) {
  auto v = r.int64(row, col);
  return v ? *v : 0;
}
bool boolean(const pg::Rows& r, int row, int col) {
  return r.text(row, col) == "t";
}
Param flag(bool b) {
  return Param(b ? "true" : "false");
}
Param sv(std::string_view v) {
  return Param(v);
}

// One statement inside a write: its error says what it was for.
Result<pg::Rows> exec(pg::Connection& c, const char* what, const std::string& sql,
                      const std::vector<Param>& params = {}) {
  auto r = c.exec(sql, params);
  if (!r) return in_context(what, r.error());
  return r;
}

std::string default_node_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "node") + ":" + std::to_string(::getpid());
}

// ---------------------------------------------------------------- pool

// At most `size` connections open; idle ones are kept for the next caller.
// A connection given back dead (or still in a transaction) is dropped and
// its place freed.
class ConnectionPool {
 public:
  ConnectionPool(std::string dsn, std::chrono::seconds timeout, int size)
      : dsn_(std::move(dsn)), timeout_(timeout), size_(size) {}

  // An idle connection, else a new one while fewer than `size` are open,
  // else waits. `fresh`: never an idle one (the last one was lost).
  Result<pg::Connection> take(bool fresh) {
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        if (!idle_.empty()) {
          pg::Connection c = std::move(idle_.back());
          idle_.pop_back();
          if (!fresh) return c;
          break;  // its place is ours: dropped when `c` goes out of scope
        }
        if (open_ < size_) {
          ++open_;
          break;
        }
        cv_.wait(lock);
      }
    }
    auto c = pg::Connection::open(dsn_, timeout_);
    if (!c) {
      std::lock_guard lock(mutex_);
      --open_;
      cv_.notify_one();
    }
    return c;
  }

  void give_back(pg::Connection c) {
    std::lock_guard lock(mutex_);
    if (c.connected() && !c.in_transaction())
      idle_.push_back(std::move(c));
    else
      --open_;
    cv_.notify_one();
  }

  // The server went away: the idle connections are likely dead too.
  void drop_idle() {
    std::vector<pg::Connection> dropped;
    {
      std::lock_guard lock(mutex_);
      open_ -= static_cast<int>(idle_.size());
      dropped.swap(idle_);
      cv_.notify_all();
    }
  }

 private:
  const std::string dsn_;
  const std::chrono::seconds timeout_;
  const int size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<pg::Connection> idle_;
  int open_ = 0;
};

// ---------------------------------------------------------------- rows

constexpr const char* kDocumentColumns =
    "id, kind, state, reason, document_id, sender, subject, package_sha256, client, created_at, "
    "updated_at, business_type, follows";
DocumentRow document_row(const pg::Rows& q, int i) {
  DocumentRow d;
  d.id = text(q, i, 0);
  d.kind = parse_kind(q.text(i, 1)).value_or(Kind::edoc);
  d.state = parse_document_state(q.text(i, 2)).value_or(DocumentState::queued);
  d.reason = text(q, i, 3);
  d.document_id = text(q, i, 4);
  d.sender = text(q, i, 5);
  d.subject = text(q, i, 6);
  d.package_sha256 = text(q, i, 7);
  d.client = text(q, i, 8);
  d.created_at = integer(q, i, 9);
  d.updated_at = integer(q, i, 10);
  d.business_type = static_cast<int>(integer(q, i, 11));
  d.follows = text(q, i, 12);
  return d;
}

constexpr const char* kRecipientColumns =
    "organ_id, adapter, state, status_code, status_description, attempts, next_attempt_at, "
    "last_error, remote_id, updated_at, status_at";
RecipientRow recipient_row(const pg::Rows& q, int i) {
  RecipientRow r;
  r.organ_id = text(q, i, 0);
  r.adapter = text(q, i, 1);
  r.state = parse_recipient_state(q.text(i, 2)).value_or(RecipientState::pending);
  r.status_code = text(q, i, 3);
  r.status_description = text(q, i, 4);
  r.attempts = static_cast<int>(integer(q, i, 5));
  r.next_attempt_at = integer(q, i, 6);
  r.last_error = text(q, i, 7);
  r.remote_id = text(q, i, 8);
  r.updated_at = integer(q, i, 9);
  r.status_at = integer(q, i, 10);
  return r;
}

// Statuses: ref first, then the entry's columns.
constexpr const char* kStatusColumns =
    "ref, organ_id, code, description, status_time, received_at, direction, applied";
StatusEntry status_entry(const pg::Rows& q, int i) {
  StatusEntry e;
  e.organ_id = text(q, i, 1);
  e.code = text(q, i, 2);
  e.description = text(q, i, 3);
  e.timestamp = integer(q, i, 4);
  e.received_at = integer(q, i, 5);
  e.direction = parse_direction(q.text(i, 6)).value_or(Direction::in);
  e.applied = boolean(q, i, 7);
  return e;
}
// A misbehaving peer cannot make one answer unbounded.
constexpr std::size_t kMaxHistory = 1000;

constexpr const char* kInboxColumns =
    "id, kind, adapter, remote_id, sender, document_id, subject, verification, reason, "
    "report_json, package_sha256, received_at, handled, business_type, concerns, conflict_of, "
    "revoked_by, superseded_by";
InboxRow inbox_row(const pg::Rows& q, int i) {
  InboxRow r;
  r.id = text(q, i, 0);
  r.kind = parse_kind(q.text(i, 1)).value_or(Kind::edoc);
  r.adapter = text(q, i, 2);
  r.remote_id = text(q, i, 3);
  r.sender = text(q, i, 4);
  r.document_id = text(q, i, 5);
  r.subject = text(q, i, 6);
  r.verification = parse_verification(q.text(i, 7)).value_or(Verification::invalid);
  r.reason = text(q, i, 8);
  r.report_json = text(q, i, 9);
  r.package_sha256 = text(q, i, 10);
  r.received_at = integer(q, i, 11);
  r.handled = boolean(q, i, 12);
  r.business_type = static_cast<int>(integer(q, i, 13));
  r.concerns = text(q, i, 14);
  r.conflict_of = text(q, i, 15);
  r.revoked_by = text(q, i, 16);
  r.superseded_by = text(q, i, 17);
  return r;
}

constexpr const char* kMailColumns =
    "id, package_id, from_organ, to_organ, kind, state, created_at, from_system, to_system, "
    "title, notation, updated_at";
MailboxRow mail_row(const pg::Rows& q, int i) {
  MailboxRow m;
  m.id = text(q, i, 0);
  m.package_id = text(q, i, 1);
  m.from_organ = text(q, i, 2);
  m.to_organ = text(q, i, 3);
  m.kind = parse_kind(q.text(i, 4)).value_or(Kind::edoc);
  m.state = parse_mail_state(q.text(i, 5)).value_or(MailState::fresh);
  m.created_at = integer(q, i, 6);
  m.from_system = text(q, i, 7);
  m.to_system = text(q, i, 8);
  m.title = text(q, i, 9);
  m.notation = text(q, i, 10);
  m.updated_at = integer(q, i, 11);
  return m;
}

// ---------------------------------------------------------------- the engine

class PgStore final : public Store {
 public:
  explicit PgStore(const PgOptions& o)
      : pool_(o.dsn, o.connect_timeout, o.pool_size),
        log_sync_(o.log_sync),
        node_id_(o.node_id.empty() ? default_node_id() : o.node_id) {}

  Status migrate();

  // Outbox
  Result<Submitted> submit(const DocumentRow& document, const std::string& package,
                           const std::string& idempotency_key,
                           const LogRecord& log_record) override;
  Result<std::optional<std::string>> idempotent(const std::string& client,
                                                const std::string& key) override;
  Result<std::optional<DocumentRow>> document(const std::string& id) override;
  Result<std::optional<DocumentRow>> original_document(const std::string& document_id) override;
  Result<std::vector<DueDelivery>> lease_due_deliveries(std::int64_t now, int limit,
                                                        std::int64_t lease_seconds) override;
  Status record_delivery(const std::string& document, const std::string& organ_id, bool ok,
                         bool give_up, const std::string& detail, const std::string& remote_id,
                         std::int64_t next_attempt_at) override;
  Result<StatusOutcome> record_status(const std::string& document_id, StatusEntry entry) override;

  // Inbox
  Result<bool> add_inbox(InboxRow& row, const std::string& package,
                         const LogRecord& log_record) override;
  Result<std::optional<InboxRow>> accepted_copy(const InboxRow& row) override;
  Result<std::optional<InboxRow>> original_inbox_item(const std::string& sender,
                                                      const std::string& document_id) override;
  Status link_followup(const std::string& followup_id, const std::string& original_id,
                       bool revokes) override;
  Result<std::optional<InboxRow>> earlier_followup(const std::string& sender,
                                                   const std::string& document_id) override;
  Status mark_handled(const std::string& id) override;
  Result<std::vector<InboxRow>> inbox(const std::string& since, int limit) override;
  Result<std::optional<InboxRow>> inbox_item(const std::string& id) override;

  // HubMailbox
  Status add_mail(const std::vector<MailboxRow>& rows, const std::string& package,
                  const LogRecord& log_record) override;
  Result<std::vector<MailboxRow>> mail_for(const std::string& to_system, Kind kind,
                                           int limit) override;
  Result<std::int64_t> count_mail_for(const std::string& to_system, Kind kind) override;
  Result<std::vector<MailboxRow>> sent_mail(const std::string& from_system,
                                            std::optional<Kind> kind, const std::string& package_id,
                                            int limit) override;
  Result<std::optional<MailboxRow>> mail(const std::string& id) override;
  Status set_mail_state(const std::string& id, MailState state) override;
  Result<std::vector<AgencyRow>> agencies() override;
  Status add_agency(const AgencyRow& agency) override;
  Result<bool> delete_agency(const std::string& code) override;

  // PackageStore
  Result<std::optional<std::string>> read_package(const std::string& id) override;
  Result<PurgeReport> purge(std::int64_t before) override;

  // Store
  Status add_status_history(const std::string& ref, const StatusEntry& entry) override;
  Result<Counts> counts() override;
  Status ping() override;
  Result<bool> lease_poll(const std::string& source, std::int64_t now,
                          std::int64_t lease_seconds) override;
  std::vector<std::string> notices() const override { return notices_; }

 private:
  // Runs `fn` (reads, or one idempotent statement) on a pooled connection,
  // outside a transaction; once more on a new connection when the first
  // was lost. Errors get `what` in front.
  template <class F>
  auto run(const std::string& what, F fn) -> decltype(fn(std::declval<pg::Connection&>()));

  // Group commit, in store.h's order: the batch's package bytes commit
  // first, in one transaction of their own (store_bodies()); then, in the
  // rows transaction, each write's `rows` runs under a savepoint of its own
  // and sets `keeps_body` when its rows name its body: that body's log
  // record is appended (with `body->log`); then the log is synced once;
  // then the rows COMMIT. try_batch() says what a failure in between leaves.
  struct Body {
    std::string id;  // packages.id; the log names it "postgresql/ID"
    const std::string* bytes = nullptr;
    const LogRecord* log = nullptr;
  };
  using RowsFn = std::function<Status(pg::Connection& c, bool& keeps_body)>;
  struct Pending {
    RowsFn rows;
    const Body* body = nullptr;  // a write that carries a package
    bool body_stored = false;    // its bytes are committed (not again on a retried batch)
    bool body_ours = false;      // ... by this write, not found there already
    bool logged = false;         // its record is appended (not again on a retried batch)
    bool finished = false;
    Status result;
  };
  static constexpr std::size_t kMaxBatch = 64;
  static constexpr int kMaxBatchAttempts = 5;
  Status write(const Body* body, RowsFn rows);
  void commit_batch(const std::vector<Pending*>& batch);
  // One attempt at a batch: false when it should run again (`why` says why).
  bool try_batch(const std::vector<Pending*>& batch, bool fresh, Error& why);
  // Commits the bytes of the batch's bodies not stored yet. A body whose id
  // is already stored with the same bytes counts as stored (not ours); with
  // other bytes, that write alone fails (its result says so).
  static Status store_bodies(pg::Connection& c, const std::vector<Pending*>& batch);

  Result<std::vector<StatusEntry>> history(pg::Connection& c, const std::string& ref);
  Result<std::optional<InboxRow>> inbox_query(const std::string& where,
                                              const std::vector<std::string>& values);
  // Derives the document's state from its recipients (store.h's rule); the
  // caller holds the document's row lock.
  static Status refresh_document_state(pg::Connection& c, const std::string& document,
                                       std::int64_t t);
  static Status lock_document(pg::Connection& c, const std::string& document);

  ConnectionPool pool_;
  LogSync log_sync_;
  const std::string node_id_;
  std::vector<std::string> notices_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::vector<Pending*> queue_;
  bool leader_busy_ = false;
};

template <class F>
auto PgStore::run(const std::string& what, F fn) -> decltype(fn(std::declval<pg::Connection&>())) {
  for (int attempt = 0;; ++attempt) {
    auto c = pool_.take(attempt > 0);
    if (!c) return in_context(what, c.error());
    auto r = fn(*c);
    const bool lost = !r.ok() && c->last_failure().kind == FailureKind::connection_lost;
    pool_.give_back(std::move(*c));
    if (lost) pool_.drop_idle();
    if (r.ok()) return r;
    if (lost && attempt == 0) continue;
    return in_context(what, r.error());
  }
}

// ---- schema

Status PgStore::migrate() {
  auto c = pool_.take(false);
  if (!c) return in_context("cannot open the PostgreSQL store", c.error());
  int from = 0;
  Status st = [&]() -> Status {
    auto tx = pg::Transaction::begin(*c);
    if (!tx) return tx.error();
    // Two nodes starting at once: the second waits here, then sees the
    // first one's version.
    if (auto r = c->exec(kSchemaLock); !r) return r.error();
    if (auto r = c->exec("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)");
        !r)
      return r.error();
    auto v = c->exec("SELECT COALESCE(MAX(version), 0)::bigint FROM schema_version");
    if (!v) return v.error();
    from = static_cast<int>(integer(*v, 0, 0));
    if (from > kPgSchemaVersion)
      return make_error(
          Errc::unsupported,
          "the PostgreSQL database at " + c->server() + " has edocgw schema version " +
              std::to_string(from) + ", made by a newer edocgw (this one knows " +
              std::to_string(kPgSchemaVersion) + "); run that version or a newer one");
    if (from == kPgSchemaVersion) return tx->rollback();
    for (const auto& m : kMigrations) {
      if (m.version <= from) continue;
      for (auto sql = m.begin; sql != m.end; ++sql) {
        if (auto r = c->exec(*sql); !r) return r.error();
      }
    }
    if (auto r = c->exec("DELETE FROM schema_version"); !r) return r.error();
    if (auto r = c->exec("INSERT INTO schema_version (version) VALUES ($1)", {kPgSchemaVersion});
        !r)
      return r.error();
    return tx->commit();
  }();
  const std::string server = c->server();
  pool_.give_back(std::move(*c));
  if (!st) {
    if (st.error().code == Errc::unsupported) return st;
    return in_context("cannot prepare the edocgw schema in PostgreSQL", st.error());
  }
  const std::string to = "version " + std::to_string(kPgSchemaVersion);
  if (from == 0)
    notices_.push_back("created the edocgw schema (" + to + ") in the PostgreSQL database at " +
                       server);
  else if (from < kPgSchemaVersion)
    notices_.push_back("migrated the edocgw schema in the PostgreSQL database at " + server +
                       " from version " + std::to_string(from) + " to " + to);
  return {};
}

// ---- group commit

Status PgStore::write(const Body* body, RowsFn rows) {
  Pending me;
  me.rows = std::move(rows);
  me.body = body;
  std::unique_lock lock(queue_mutex_);
  queue_.push_back(&me);
  while (!me.finished) {
    if (leader_busy_) {
      queue_cv_.wait(lock);
      continue;
    }
    // Lead: everything queued so far (ours included), at most kMaxBatch.
    leader_busy_ = true;
    const std::size_t n = std::min(queue_.size(), kMaxBatch);
    std::vector<Pending*> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    lock.unlock();
    commit_batch(batch);
    lock.lock();
    for (auto* p : batch) p->finished = true;
    leader_busy_ = false;
    queue_cv_.notify_all();
  }
  return std::move(me.result);
}

void PgStore::commit_batch(const std::vector<Pending*>& batch) {
  Error why;
  for (int attempt = 0; attempt < kMaxBatchAttempts; ++attempt) {
    if (try_batch(batch, attempt > 0, why)) return;
  }
  for (auto* p : batch) p->result = why;
}

// The order keeps store.h's promise that the log never names bytes that do
// not exist, and no row exists whose record the log could lose. What a
// failure (or kill -9) between the steps leaves:
// - after the bytes commit, before the records: bodies no row or record
//   names (orphans). Nothing lists them (every listing and read goes through
//   documents, inbox or mailbox rows); purge() empties them once they are
//   older than its cut-off (and than kOrphanGrace).
// - after the records (and perhaps their sync), before the rows commit:
//   records naming bodies that are stored but have no row. Their clients got
//   no success; the auditor reads and verifies the bytes as usual. When the
//   rows transaction failed (rather than the process dying), the pipeline
//   logs a discard for a submission or hub package, so that once retention
//   has emptied the body the auditor reports it as never kept, not purged.
// - a write whose rows keep no body (a repeat of an idempotency key, the
//   same incoming package again, a refused second original): the bytes it
//   committed, named by no record, are deleted in the rows transaction (a
//   kill before its COMMIT leaves an orphan, as above).
bool PgStore::try_batch(const std::vector<Pending*>& batch, bool fresh, Error& why) {
  auto taken = pool_.take(fresh);
  if (!taken) {
    // The server is not there: running again would only wait again.
    for (auto* p : batch) p->result = in_context("cannot write to PostgreSQL", taken.error());
    return true;
  }
  pg::Connection& c = *taken;
  std::optional<pg::Transaction> tx;
  // Ends the attempt: true (done, every result set) or false (run again).
  auto finish = [&](bool done) {
    const bool lost = c.last_failure().kind == FailureKind::connection_lost;
    if (tx && tx->active()) (void)tx->rollback();  // a failed batch: the connection stays usable
    tx.reset();
    pool_.give_back(std::move(c));
    if (lost) pool_.drop_idle();
    return done;
  };
  auto fail_all = [&](const Error& e) {
    for (auto* p : batch) p->result = e;
    return finish(true);
  };
  // A lost connection before COMMIT, a deadlock or a serialization failure:
  // the server rolled everything back, so the whole batch may run again.
  auto again = [&](const Error& e) {
    const FailureKind k = c.last_failure().kind;
    if (k != FailureKind::connection_lost && k != FailureKind::retryable) return false;
    why = in_context("cannot write to PostgreSQL", e);
    return true;
  };

  // 1. The bytes, durable before any record names them. Storing them again
  // is harmless, so a COMMIT lost on the way runs the batch again too.
  if (auto st = store_bodies(c, batch); !st) {
    if (again(st.error())) return finish(false);
    return fail_all(in_context("cannot write to PostgreSQL", st.error()));
  }

  // 2. The rows, and the record of each body they keep.
  auto begun = pg::Transaction::begin(c);
  if (!begun) {
    if (again(begun.error())) return finish(false);
    return fail_all(in_context("cannot write to PostgreSQL", begun.error()));
  }
  tx.emplace(std::move(*begun));
  bool logged = false;
  for (auto* p : batch) {
    if (p->body != nullptr && !p->body_stored) continue;  // refused in step 1: result set
    p->result = Status::success();
    if (auto r = c.exec("SAVEPOINT one"); !r) {
      if (again(r.error())) return finish(false);
      return fail_all(r.error());
    }
    bool keeps_body = false;
    Status st = p->rows(c, keeps_body);
    if (!st && again(st.error())) return finish(false);
    keeps_body = keeps_body && p->body != nullptr;
    if (st && keeps_body && p->body->log != nullptr && *p->body->log && !p->logged) {
      // The bytes are committed: the record names them where they are.
      st = (*p->body->log)("postgresql/" + p->body->id);
      if (st) p->logged = true;
    }
    if (st) {
      logged = logged || p->logged;
    } else {
      p->result = st;
      if (auto r = c.exec("ROLLBACK TO SAVEPOINT one"); !r) {
        if (again(r.error())) return finish(false);
        return fail_all(r.error());
      }
    }
    if (p->body_ours && !p->logged && !(st && keeps_body)) {
      // Bytes of ours that no row keeps and no record names.
      auto r = exec(c, "cannot remove an unused package", "DELETE FROM packages WHERE id = $1",
                    {p->body->id});
      if (!r) {
        if (again(r.error())) return finish(false);
        return fail_all(r.error());
      }
    }
    if (auto r = c.exec("RELEASE SAVEPOINT one"); !r) {
      if (again(r.error())) return finish(false);
      return fail_all(r.error());
    }
  }
  // 3. The log is durable before any row that needs it.
  if (logged && log_sync_) {
    if (auto st = log_sync_(); !st) {
      (void)tx->rollback();
      return fail_all(in_context("cannot make the signature log durable", st.error()));
    }
  }
  // 4. The rows.
  if (auto st = tx->commit(); !st) {
    if (c.last_failure().kind == FailureKind::retryable) {
      why = in_context("cannot commit to PostgreSQL", st.error());
      return finish(false);
    }
    // Lost during COMMIT: it may or may not have happened (store.h allows it).
    return fail_all(
        in_context("cannot commit to PostgreSQL (the write may or may not be stored)", st.error()));
  }
  return finish(true);
}

Status PgStore::store_bodies(pg::Connection& c, const std::vector<Pending*>& batch) {
  std::vector<Pending*> todo;
  for (auto* p : batch) {
    if (p->body != nullptr && !p->body_stored) todo.push_back(p);
  }
  if (todo.empty()) return {};
  auto tx = pg::Transaction::begin(c);
  if (!tx) return tx.error();
  const std::int64_t t = now();
  std::vector<Pending*> ours, found;
  for (auto* p : todo) {
    const Body& b = *p->body;
    // ON CONFLICT: a unique violation would abort the whole transaction.
    auto ins = exec(c, "cannot store the package",
                    "INSERT INTO packages (id, body, length, stored_at) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (id) DO NOTHING",
                    {b.id, Param::bytes(*b.bytes), static_cast<std::int64_t>(b.bytes->size()), t});
    if (!ins) return ins.error();
    if (ins->affected() == 1) {
      ours.push_back(p);
      continue;
    }
    // Already there: this batch's bytes whose COMMIT answer was lost, or a
    // clash of ids.
    auto same = exec(c, "cannot read the package", "SELECT body = $2 FROM packages WHERE id = $1",
                     {b.id, Param::bytes(*b.bytes)});
    if (!same) return same.error();
    if (same->rows() > 0 && boolean(*same, 0, 0)) {
      found.push_back(p);
    } else {
      p->result = make_error(
          Errc::io, "cannot store the package: other bytes are stored as " + b.id + "; try again");
    }
  }
  if (auto st = tx->commit(); !st) return st;
  for (auto* p : ours) p->body_stored = p->body_ours = true;
  for (auto* p : found) p->body_stored = true;
  return {};
}

Status PgStore::lock_document(pg::Connection& c, const std::string& document) {
  // Writers of one document's recipients take turns, so that each derives
  // the document's state from what the other committed.
  auto r = exec(c, "cannot lock the document", "SELECT 1 FROM documents WHERE id = $1 FOR UPDATE",
                {document});
  if (!r) return r.error();
  return {};
}

Status PgStore::refresh_document_state(pg::Connection& c, const std::string& document,
                                       std::int64_t t) {
  // failed when any gave up (reason: its last error); else queued while any
  // is pending; else delivered when every one reported a status; else sent.
  auto r = exec(c, "cannot update the document", R"sql(
UPDATE documents d SET
  state = CASE WHEN s.failed > 0 THEN 'failed' WHEN s.pending > 0 THEN 'queued'
               WHEN s.reported = s.total THEN 'delivered' ELSE 'sent' END,
  reason = CASE WHEN s.failed > 0 THEN s.error ELSE '' END, updated_at = $2
FROM (SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
             count(*) FILTER (WHERE state = 'failed') AS failed,
             count(*) FILTER (WHERE status_code <> '') AS reported, count(*) AS total,
             COALESCE(max(last_error) FILTER (WHERE state = 'failed'), '') AS error
      FROM recipients WHERE document = $1) s
WHERE d.id = $1 AND d.state <> 'rejected')sql",
                {document, t});
  if (!r) return r.error();
  return {};
}

// ---- Outbox

Result<Outbox::Submitted> PgStore::submit(const DocumentRow& d, const std::string& package,
                                          const std::string& idempotency_key,
                                          const LogRecord& log_record) {
  Submitted out;
  const Body body{d.id, &package, &log_record};
  auto st = write(&body, [&](pg::Connection& c, bool& keeps_body) -> Status {
    const std::int64_t t = now();
    if (!idempotency_key.empty()) {
      // First, so that the same key from two nodes at once meets here: the
      // second waits for the first to commit, then inserts nothing.
      const auto [key, body_sha256] = split_idempotency_key(idempotency_key);
      auto ins = exec(c, "cannot store the idempotency key",
                      "INSERT INTO idempotency (client, idem_key, document, body_sha256) "
                      "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                      {d.client, key, d.id, body_sha256});
      if (!ins) return ins.error();
      if (ins->affected() == 0) {
        auto q = exec(c, "cannot read idempotency keys",
                      "SELECT document, body_sha256 FROM idempotency "
                      "WHERE client = $1 AND idem_key = $2",
                      {d.client, key});
        if (!q) return q.error();
        if (q->rows() == 0) return make_error(Errc::io, "an idempotency key vanished; try again");
        const std::string first = text(*q, 0, 0), first_body = text(*q, 0, 1);
        if (!body_sha256.empty() && !first_body.empty() && body_sha256 != first_body)
          return make_error(Errc::invalid, "the Idempotency-Key \"" + key +
                                               "\" was used for document " + first +
                                               " with another body; use a new key for a new body");
        out = Submitted{first, true};
        return {};
      }
    }
    const bool original = d.kind == Kind::edoc && d.business_type == 0;
    if (original) {
      // The unique index is the judge (it holds across nodes); the savepoint
      // lets us name the document that holds the DocumentId.
      if (auto r = exec(c, "cannot store the document", "SAVEPOINT original"); !r) return r.error();
    }
    auto doc = c.exec(
        "INSERT INTO documents (id, kind, state, reason, document_id, sender, subject, "
        "package_sha256, client, created_at, updated_at, business_type, follows) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12)",
        {d.id, sv(name(d.kind)), sv(name(d.state)), d.reason, d.document_id, d.sender, d.subject,
         d.package_sha256, d.client, t, d.business_type, d.follows});
    if (!doc) {
      const pg::Failure failure = c.last_failure();
      if (!original || failure.kind != FailureKind::unique_violation ||
          failure.constraint != "documents_one_original")
        return in_context("cannot store the document", doc.error());
      if (auto r = exec(c, "cannot store the document", "ROLLBACK TO SAVEPOINT original"); !r)
        return r.error();
      auto holder = exec(c, "cannot read documents",
                         "SELECT id FROM documents WHERE document_id = $1 AND kind = 'edoc' AND "
                         "business_type = 0",
                         {d.document_id});
      if (!holder) return holder.error();
      const std::string other = holder->rows() > 0 ? text(*holder, 0, 0) : "(another)";
      return make_error(Errc::invalid, "document " + other + " already has DocumentId " +
                                           d.document_id +
                                           "; send a follow-up (revocation, update, "
                                           "replacement) instead of a second original");
    }
    for (const auto& r : d.recipients) {
      auto rec = exec(c, "cannot store a recipient",
                      "INSERT INTO recipients (document, organ_id, adapter, state, last_error, "
                      "next_attempt_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                      {d.id, r.organ_id, r.adapter, sv(name(r.state)), r.last_error, t});
      if (!rec) return rec.error();
    }
    keeps_body = true;
    out = Submitted{d.id, false};
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<std::optional<std::string>> PgStore::idempotent(const std::string& client,
                                                       const std::string& key_with_body) {
  const auto [key, body_sha256] = split_idempotency_key(key_with_body);
  return run(
      "cannot read idempotency keys", [&](pg::Connection& c) -> Result<std::optional<std::string>> {
        auto q = c.exec(
            "SELECT document, body_sha256 FROM idempotency WHERE client = $1 AND "
            "idem_key = $2",
            {client, key});
        if (!q) return q.error();
        if (q->rows() == 0) return std::optional<std::string>();
        const std::string first = text(*q, 0, 0), first_body = text(*q, 0, 1);
        if (!body_sha256.empty() && !first_body.empty() && body_sha256 != first_body)
          return make_error(Errc::invalid, "the Idempotency-Key \"" + key +
                                               "\" was used for document " + first +
                                               " with another body; use a new key for a new body");
        return std::optional<std::string>(first);
      });
}

Result<std::vector<StatusEntry>> PgStore::history(pg::Connection& c, const std::string& ref) {
  // Bounded: one answer's history is at most kMaxHistory per recipient.
  auto h = c.exec(std::string("SELECT ") + kStatusColumns +
                      " FROM statuses WHERE ref = $1 ORDER BY status_time, received_at, seq "
                      "LIMIT 100000",
                  {ref});
  if (!h) return h.error();
  std::vector<StatusEntry> out;
  for (int i = 0; i < h->rows(); ++i) out.push_back(status_entry(*h, i));
  return out;
}

Result<std::optional<DocumentRow>> PgStore::document(const std::string& id) {
  return run("cannot read documents", [&](pg::Connection& c) -> Result<std::optional<DocumentRow>> {
    // One snapshot for the document, its recipients and their history.
    auto tx = pg::Transaction::begin(c, pg::Isolation::repeatable_read);
    if (!tx) return tx.error();
    auto q =
        c.exec(std::string("SELECT ") + kDocumentColumns + " FROM documents WHERE id = $1", {id});
    if (!q) return q.error();
    if (q->rows() == 0) return std::optional<DocumentRow>();
    DocumentRow d = document_row(*q, 0);
    auto r = c.exec(std::string("SELECT ") + kRecipientColumns +
                        " FROM recipients WHERE document = $1 ORDER BY seq",
                    {id});
    if (!r) return r.error();
    auto h = history(c, id);
    if (!h) return h.error();
    for (int i = 0; i < r->rows(); ++i) {
      RecipientRow rec = recipient_row(*r, i);
      for (const auto& e : *h) {
        if (e.organ_id == rec.organ_id && rec.history.size() < kMaxHistory)
          rec.history.push_back(e);
      }
      d.recipients.push_back(std::move(rec));
    }
    if (auto st = tx->commit(); !st) return st.error();
    return std::optional<DocumentRow>(std::move(d));
  });
}

Result<std::optional<DocumentRow>> PgStore::original_document(const std::string& document_id) {
  auto id = run("cannot read documents", [&](pg::Connection& c) -> Result<std::string> {
    auto q = c.exec(
        "SELECT id FROM documents WHERE document_id = $1 AND kind = 'edoc' AND business_type = 0",
        {document_id});
    if (!q) return q.error();
    return q->rows() > 0 ? text(*q, 0, 0) : std::string();
  });
  if (!id) return id.error();
  if (id->empty()) return std::optional<DocumentRow>();
  return document(*id);
}

Result<std::vector<DueDelivery>> PgStore::lease_due_deliveries(std::int64_t at, int limit,
                                                               std::int64_t lease_seconds) {
  // One statement (one transaction): rows another node holds locked are
  // skipped, and a row leased and committed by another node no longer
  // matches `next_attempt_at <= at` when re-checked.
  return run("cannot lease due deliveries",
             [&](pg::Connection& c) -> Result<std::vector<DueDelivery>> {
               auto q = c.exec(R"sql(
WITH due AS (
  SELECT document, organ_id, next_attempt_at, seq FROM recipients
  WHERE state = 'pending' AND next_attempt_at <= $1
  ORDER BY next_attempt_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED)
UPDATE recipients r SET next_attempt_at = $3, leased_by = $4
FROM due, documents d
WHERE r.document = due.document AND r.organ_id = due.organ_id AND d.id = r.document
RETURNING r.document, d.kind, r.organ_id, r.adapter, d.sender, d.document_id, r.attempts,
          due.next_attempt_at, due.seq)sql",
                               {at, limit, at + lease_seconds, node_id_});
               if (!q) return q.error();
               std::vector<std::tuple<std::int64_t, std::int64_t, DueDelivery>> rows;
               for (int i = 0; i < q->rows(); ++i) {
                 DueDelivery due;
                 due.document = text(*q, i, 0);
                 due.kind = parse_kind(q->text(i, 1)).value_or(Kind::edoc);
                 due.organ_id = text(*q, i, 2);
                 due.adapter = text(*q, i, 3);
                 due.sender = text(*q, i, 4);
                 due.document_id = text(*q, i, 5);
                 due.attempts = static_cast<int>(integer(*q, i, 6));
                 rows.emplace_back(integer(*q, i, 7), integer(*q, i, 8), std::move(due));
               }
               // Oldest first (RETURNING keeps no order).
               std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
                 return std::tie(std::get<0>(a), std::get<1>(a)) <
                        std::tie(std::get<0>(b), std::get<1>(b));
               });
               std::vector<DueDelivery> out;
               out.reserve(rows.size());
               for (auto& row : rows) out.push_back(std::move(std::get<2>(row)));
               return out;
             });
}

Status PgStore::record_delivery(const std::string& document, const std::string& organ_id, bool ok,
                                bool give_up, const std::string& detail,
                                const std::string& remote_id, std::int64_t next_attempt_at) {
  return write(nullptr, [&](pg::Connection& c, bool&) -> Status {
    const std::int64_t t = now();
    if (auto st = lock_document(c, document); !st) return st;
    auto a = exec(c, "cannot record the attempt",
                  "INSERT INTO attempts (document, organ_id, at, ok, detail, node) "
                  "VALUES ($1, $2, $3, $4, $5, $6)",
                  {document, organ_id, t, flag(ok), detail, node_id_});
    if (!a) return a.error();
    const RecipientState state = ok        ? RecipientState::sent
                                 : give_up ? RecipientState::failed
                                           : RecipientState::pending;
    auto u =
        exec(c, "cannot update the recipient",
             "UPDATE recipients SET state = $1, attempts = attempts + 1, next_attempt_at = $2, "
             "last_error = $3, remote_id = $4, updated_at = $5, leased_by = '' "
             "WHERE document = $6 AND organ_id = $7",
             {sv(name(state)), next_attempt_at, ok ? std::string() : detail, remote_id, t, document,
              organ_id});
    if (!u) return u.error();
    return refresh_document_state(c, document, t);
  });
}

Result<Outbox::StatusOutcome> PgStore::record_status(const std::string& document_id,
                                                     StatusEntry entry) {
  StatusOutcome outcome = StatusOutcome::no_document;
  auto st = write(nullptr, [&](pg::Connection& c, bool&) -> Status {
    outcome = StatusOutcome::no_document;
    // The original the recipient was sent, locked first (as record_delivery
    // does): statuses about it from two nodes at once are compared one
    // after the other, each reading what the other committed.
    auto d = exec(c, "cannot find the document",
                  "SELECT id FROM documents WHERE document_id = $1 AND kind = 'edoc' AND "
                  "business_type = 0 FOR UPDATE",
                  {document_id});
    if (!d) return d.error();
    if (d->rows() == 0) return {};
    const std::string id = text(*d, 0, 0);
    auto q = exec(c, "cannot find the recipient",
                  "SELECT status_code, status_at FROM recipients WHERE document = $1 AND "
                  "organ_id = $2 FOR UPDATE",
                  {id, entry.organ_id});
    if (!q) return q.error();
    if (q->rows() == 0) return {};
    const std::string current = text(*q, 0, 0);
    const std::int64_t current_at = integer(*q, 0, 1);
    entry.applied =
        current.empty() || entry.timestamp > current_at ||
        (entry.timestamp == current_at && status_rank(entry.code) > status_rank(current));
    const std::int64_t t = now();
    auto s = exec(c, "cannot record the status",
                  "INSERT INTO statuses (ref, organ_id, code, description, status_time, "
                  "received_at, direction, applied) VALUES ($1, $2, $3, $4, $5, $6, 'in', $7)",
                  {id, entry.organ_id, entry.code, entry.description, entry.timestamp,
                   entry.received_at, flag(entry.applied)});
    if (!s) return s.error();
    if (entry.applied) {
      auto u = exec(c, "cannot update the recipient",
                    "UPDATE recipients SET status_code = $1, status_description = $2, "
                    "status_at = $3, updated_at = $4 WHERE document = $5 AND organ_id = $6",
                    {entry.code, entry.description, entry.timestamp, t, id, entry.organ_id});
      if (!u) return u.error();
      if (auto r = refresh_document_state(c, id, t); !r) return r;
    }
    outcome = entry.applied ? StatusOutcome::applied : StatusOutcome::kept_older;
    return {};
  });
  if (!st) return st.error();
  return outcome;
}

Status PgStore::add_status_history(const std::string& ref, const StatusEntry& entry) {
  return write(nullptr, [&](pg::Connection& c, bool&) -> Status {
    auto s = exec(c, "cannot record the status",
                  "INSERT INTO statuses (ref, organ_id, code, description, status_time, "
                  "received_at, direction, applied) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                  {ref, entry.organ_id, entry.code, entry.description, entry.timestamp,
                   entry.received_at, sv(name(entry.direction)), flag(entry.applied)});
    if (!s) return s.error();
    return {};
  });
}

// ---- Inbox

Result<bool> PgStore::add_inbox(InboxRow& row, const std::string& package,
                                const LogRecord& log_record) {
  bool added = false;
  const Body body{row.id, &package, &log_record};
  auto st = write(&body, [&](pg::Connection& c, bool& keeps_body) -> Status {
    added = false;
    row.conflict_of.clear();
    // Incoming packages are stored one at a time across nodes (the lock is
    // held to COMMIT): the conflict check below sees every earlier copy, and
    // seq order is commit order.
    if (auto r = exec(c, "cannot store the incoming package", kInboxSeqLock); !r) return r.error();
    if (row.kind == Kind::edoc && row.business_type == 0 && accepted(row.verification)) {
      // Another accepted original with this sender and DocumentId but other
      // bytes: kept and handed inward as a conflicting copy.
      auto q = exec(c, "cannot read the inbox",
                    "SELECT id FROM inbox WHERE sender = $1 AND document_id = $2 AND "
                    "kind = 'edoc' AND business_type = 0 AND verification IN ('valid', "
                    "'unsigned') AND package_sha256 <> $3 ORDER BY seq LIMIT 1",
                    {row.sender, row.document_id, row.package_sha256});
      if (!q) return q.error();
      if (q->rows() > 0) row.conflict_of = text(*q, 0, 0);
    }
    // inbox_once (or the id) taken: this very package is already here
    // (committed, or waited for until its writer committed).
    auto q =
        exec(c, "cannot store the incoming package",
             "INSERT INTO inbox (id, seq, kind, adapter, remote_id, sender, document_id, "
             "subject, verification, reason, report_json, package_sha256, received_at, "
             "business_type, conflict_of) VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 "
             "FROM inbox), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
             "ON CONFLICT DO NOTHING",
             {row.id, sv(name(row.kind)), row.adapter, row.remote_id, row.sender, row.document_id,
              row.subject, sv(name(row.verification)), row.reason, row.report_json,
              row.package_sha256, row.received_at, row.business_type, row.conflict_of});
    if (!q) return q.error();
    if (q->affected() == 0) return {};
    keeps_body = true;
    added = true;
    return {};
  });
  if (!st) return st.error();
  return added;
}

Result<std::optional<InboxRow>> PgStore::inbox_query(const std::string& where,
                                                     const std::vector<std::string>& values) {
  return run("cannot read the inbox", [&](pg::Connection& c) -> Result<std::optional<InboxRow>> {
    std::vector<Param> params(values.begin(), values.end());
    auto q = c.exec(std::string("SELECT ") + kInboxColumns + " FROM inbox WHERE " + where +
                        " ORDER BY seq LIMIT 1",
                    params);
    if (!q) return q.error();
    if (q->rows() == 0) return std::optional<InboxRow>();
    return std::optional<InboxRow>(inbox_row(*q, 0));
  });
}

Result<std::optional<InboxRow>> PgStore::accepted_copy(const InboxRow& row) {
  return inbox_query(
      "sender = $1 AND document_id = $2 AND business_type = $3::integer AND package_sha256 = $4 "
      "AND kind = 'edoc' AND verification IN ('valid', 'unsigned')",
      {row.sender, row.document_id, std::to_string(row.business_type), row.package_sha256});
}

Result<std::optional<InboxRow>> PgStore::original_inbox_item(const std::string& sender,
                                                             const std::string& document_id) {
  return inbox_query(
      "sender = $1 AND document_id = $2 AND business_type = 0 AND kind = 'edoc' AND "
      "verification IN ('valid', 'unsigned')",
      {sender, document_id});
}

Result<std::optional<InboxRow>> PgStore::earlier_followup(const std::string& sender,
                                                          const std::string& document_id) {
  // A revocation or replacement whose original had not arrived yet.
  return inbox_query(
      "sender = $1 AND document_id = $2 AND business_type IN (1, 3) AND concerns = '' AND "
      "kind = 'edoc' AND verification IN ('valid', 'unsigned')",
      {sender, document_id});
}

Status PgStore::link_followup(const std::string& followup_id, const std::string& original_id,
                              bool revokes) {
  return write(nullptr, [&](pg::Connection& c, bool&) -> Status {
    auto f = exec(c, "cannot link the follow-up", "UPDATE inbox SET concerns = $1 WHERE id = $2",
                  {original_id, followup_id});
    if (!f) return f.error();
    auto o = exec(c, "cannot mark the original",
                  revokes ? "UPDATE inbox SET revoked_by = $1 WHERE id = $2"
                          : "UPDATE inbox SET superseded_by = $1 WHERE id = $2",
                  {followup_id, original_id});
    if (!o) return o.error();
    return {};
  });
}

Status PgStore::mark_handled(const std::string& id) {
  return write(nullptr, [&](pg::Connection& c, bool&) -> Status {
    auto q =
        exec(c, "cannot update the inbox", "UPDATE inbox SET handled = true WHERE id = $1", {id});
    if (!q) return q.error();
    return {};
  });
}

Result<std::vector<InboxRow>> PgStore::inbox(const std::string& since, int limit) {
  return run("cannot read the inbox", [&](pg::Connection& c) -> Result<std::vector<InboxRow>> {
    auto tx = pg::Transaction::begin(c, pg::Isolation::repeatable_read);
    if (!tx) return tx.error();
    const std::string page =
        "kind = 'edoc' AND seq > COALESCE((SELECT seq FROM inbox WHERE id = $1), 0) "
        "ORDER BY seq DESC LIMIT $2";
    auto q = c.exec(std::string("SELECT ") + kInboxColumns + " FROM inbox WHERE " + page,
                    {since, limit});
    if (!q) return q.error();
    std::vector<InboxRow> out;
    std::map<std::string, InboxRow*> by_id;
    out.reserve(static_cast<std::size_t>(q->rows()));
    for (int i = 0; i < q->rows(); ++i) out.push_back(inbox_row(*q, i));
    for (auto& row : out) by_id[row.id] = &row;
    // Every row's history in one query.
    auto h = c.exec(std::string("SELECT s.") + kStatusColumns +
                        " FROM statuses s JOIN (SELECT id FROM inbox WHERE " + page +
                        ") i ON s.ref = i.id ORDER BY s.ref, s.status_time, s.received_at, s.seq",
                    {since, limit});
    if (!h) return h.error();
    for (int i = 0; i < h->rows(); ++i) {
      auto it = by_id.find(std::string(h->text(i, 0)));
      if (it == by_id.end() || it->second->history.size() >= kMaxHistory) continue;
      it->second->history.push_back(status_entry(*h, i));
    }
    if (auto st = tx->commit(); !st) return st.error();
    return out;
  });
}

Result<std::optional<InboxRow>> PgStore::inbox_item(const std::string& id) {
  return run("cannot read the inbox", [&](pg::Connection& c) -> Result<std::optional<InboxRow>> {
    auto q = c.exec(std::string("SELECT ") + kInboxColumns + " FROM inbox WHERE id = $1", {id});
    if (!q) return q.error();
    if (q->rows() == 0) return std::optional<InboxRow>();
    InboxRow row = inbox_row(*q, 0);
    auto h = history(c, id);
    if (!h) return h.error();
    row.history = std::move(*h);
    if (row.history.size() > kMaxHistory) row.history.resize(kMaxHistory);
    return std::optional<InboxRow>(std::move(row));
  });
}

// ---- HubMailbox

Status PgStore::add_mail(const std::vector<MailboxRow>& rows, const std::string& package,
                         const LogRecord& log_record) {
  if (rows.empty()) return {};
  const Body body{rows[0].package_id, &package, &log_record};
  return write(&body, [&](pg::Connection& c, bool& keeps_body) -> Status {
    for (const auto& m : rows) {
      auto q =
          exec(c, "cannot store the mail",
               "INSERT INTO mailbox (id, package_id, from_organ, to_organ, kind, state, "
               "created_at, from_system, to_system, title, notation, updated_at) VALUES "
               "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $7)",
               {m.id, m.package_id, m.from_organ, m.to_organ, sv(name(m.kind)), sv(name(m.state)),
                m.created_at, m.from_system, m.to_system, m.title, m.notation});
      if (!q) return q.error();
    }
    keeps_body = true;
    return {};
  });
}

Result<std::vector<MailboxRow>> PgStore::mail_for(const std::string& to_system, Kind kind,
                                                  int limit) {
  return run("cannot read the mailbox", [&](pg::Connection& c) -> Result<std::vector<MailboxRow>> {
    auto q = c.exec(std::string("SELECT ") + kMailColumns +
                        " FROM mailbox WHERE to_system = $1 AND kind = $2 AND state IN ('new', "
                        "'processing') ORDER BY created_at, seq LIMIT $3",
                    {to_system, sv(name(kind)), limit});
    if (!q) return q.error();
    std::vector<MailboxRow> out;
    for (int i = 0; i < q->rows(); ++i) out.push_back(mail_row(*q, i));
    return out;
  });
}

Result<std::int64_t> PgStore::count_mail_for(const std::string& to_system, Kind kind) {
  return run("cannot count the mailbox", [&](pg::Connection& c) -> Result<std::int64_t> {
    auto q = c.exec(
        "SELECT count(*) FROM mailbox WHERE to_system = $1 AND kind = $2 AND state IN ('new', "
        "'processing')",
        {to_system, sv(name(kind))});
    if (!q) return q.error();
    return integer(*q, 0, 0);
  });
}

Result<std::vector<MailboxRow>> PgStore::sent_mail(const std::string& from_system,
                                                   std::optional<Kind> kind,
                                                   const std::string& package_id, int limit) {
  return run("cannot read the mailbox", [&](pg::Connection& c) -> Result<std::vector<MailboxRow>> {
    auto q = c.exec(std::string("SELECT ") + kMailColumns +
                        " FROM mailbox WHERE from_system = $1 AND ($2 = '' OR kind = $2) AND "
                        "($3 = '' OR package_id = $3) ORDER BY created_at DESC, seq DESC LIMIT $4",
                    {from_system, kind ? sv(name(*kind)) : sv(""), package_id, limit});
    if (!q) return q.error();
    std::vector<MailboxRow> out;
    for (int i = 0; i < q->rows(); ++i) out.push_back(mail_row(*q, i));
    return out;
  });
}

Result<std::optional<MailboxRow>> PgStore::mail(const std::string& id) {
  return run(
      "cannot read the mailbox", [&](pg::Connection& c) -> Result<std::optional<MailboxRow>> {
        auto q =
            c.exec(std::string("SELECT ") + kMailColumns + " FROM mailbox WHERE id = $1", {id});
        if (!q) return q.error();
        if (q->rows() == 0) return std::optional<MailboxRow>();
        return std::optional<MailboxRow>(mail_row(*q, 0));
      });
}

Status PgStore::set_mail_state(const std::string& id, MailState state) {
  return write(nullptr, [&](pg::Connection& c, bool&) -> Status {
    auto q = exec(c, "cannot update the mailbox",
                  "UPDATE mailbox SET state = $1, updated_at = $2 WHERE id = $3",
                  {sv(name(state)), now(), id});
    if (!q) return q.error();
    return {};
  });
}

Result<std::vector<AgencyRow>> PgStore::agencies() {
  return run("cannot read the agencies", [&](pg::Connection& c) -> Result<std::vector<AgencyRow>> {
    auto q = c.exec("SELECT code, name, mail, pid, id FROM hub_agencies ORDER BY code");
    if (!q) return q.error();
    std::vector<AgencyRow> out;
    for (int i = 0; i < q->rows(); ++i)
      out.push_back(
          {text(*q, i, 0), text(*q, i, 1), text(*q, i, 2), text(*q, i, 3), text(*q, i, 4)});
    return out;
  });
}

Status PgStore::add_agency(const AgencyRow& a) {
  // One statement that may run twice (an upsert): outside the group commit.
  return run("cannot store the agency", [&](pg::Connection& c) -> Status {
    auto q = c.exec(
        "INSERT INTO hub_agencies (code, name, mail, pid, id) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, mail = EXCLUDED.mail, "
        "pid = EXCLUDED.pid, id = EXCLUDED.id",
        {a.code, a.name, a.mail, a.pid, a.id});
    if (!q) return q.error();
    return {};
  });
}

Result<bool> PgStore::delete_agency(const std::string& code) {
  return run("cannot delete the agency", [&](pg::Connection& c) -> Result<bool> {
    auto q = c.exec("DELETE FROM hub_agencies WHERE code = $1", {code});
    if (!q) return q.error();
    return q->affected() > 0;
  });
}

// ---- PackageStore

Result<std::optional<std::string>> PgStore::read_package(const std::string& id) {
  return run("cannot read the package",
             [&](pg::Connection& c) -> Result<std::optional<std::string>> {
               auto q = c.exec("SELECT body FROM packages WHERE id = $1", {id}, pg::Format::binary);
               if (!q) return q.error();
               if (q->rows() == 0)
                 return make_error(Errc::invalid, "no package is stored as " + id);
               if (q->is_null(0, 0)) return std::optional<std::string>();  // purged
               auto body = q->bytes(0, 0);
               if (!body) return body.error();
               return std::optional<std::string>(std::move(*body));
             });
}

Result<PackageStore::PurgeReport> PgStore::purge(std::int64_t before) {
  PurgeReport report;
  auto st = write(nullptr, [&](pg::Connection& c, bool&) -> Status {
    // Bodies stored before `before` that no work needs any more (a recipient
    // not yet reached, an incoming package not yet handed inward, mail not
    // yet fetched). Rows, reports and the log stay.
    //
    // That includes orphans, bodies no row names (a kill between a batch's
    // bytes commit and its rows commit, see try_batch()), once they are also
    // older than kOrphanGrace: a younger one may belong to a batch whose
    // rows are still on their way. The row stays, emptied like any purged
    // body, because the log may name it: the auditor then reads "purged"
    // (or "never kept", after a discard record) instead of "no package".
    const std::int64_t t = std::max<std::int64_t>(now(), 1);
    auto q = exec(c, "cannot purge packages", R"sql(
UPDATE packages p SET body = NULL, purged_at = $2
WHERE p.purged_at = 0 AND p.stored_at < $1
  AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.document = p.id AND r.state = 'pending')
  AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.id = p.id AND NOT i.handled)
  AND NOT EXISTS (SELECT 1 FROM mailbox m WHERE m.package_id = p.id
                  AND m.state IN ('new', 'processing'))
  AND (p.stored_at < $3 OR EXISTS (SELECT 1 FROM documents d WHERE d.id = p.id)
       OR EXISTS (SELECT 1 FROM inbox i WHERE i.id = p.id)
       OR EXISTS (SELECT 1 FROM mailbox m WHERE m.package_id = p.id)))sql",
                  {before, t, t - kOrphanGrace});
    if (!q) return q.error();
    report.packages = q->affected();
    return {};
  });
  if (!st) return st.error();
  return report;
}

// ---- Store

Result<Counts> PgStore::counts() {
  return run("cannot count", [&](pg::Connection& c) -> Result<Counts> {
    auto q = c.exec(
        "SELECT 'd', state, count(*) FROM documents GROUP BY state "
        "UNION ALL SELECT 'q', '', count(*) FROM recipients WHERE state = 'pending' "
        "UNION ALL SELECT 'i', verification, count(*) FROM inbox GROUP BY verification "
        "UNION ALL SELECT 'm', state, count(*) FROM mailbox GROUP BY state");
    if (!q) return q.error();
    Counts out;
    for (int i = 0; i < q->rows(); ++i) {
      const std::string_view what = q->text(i, 0), state = q->text(i, 1);
      const std::int64_t n = integer(*q, i, 2);
      if (what == "q") {
        out.queue_depth = n;
      } else if (what == "d") {
        if (auto s = parse_document_state(state)) out.documents[*s] = n;
      } else if (what == "i") {
        if (auto s = parse_verification(state)) out.inbox[*s] = n;
      } else if (auto s = parse_mail_state(state)) {
        out.mailbox[*s] = n;
      }
    }
    return out;
  });
}

Status PgStore::ping() {
  return run("PostgreSQL does not answer", [&](pg::Connection& c) { return c.ping(); });
}

Result<bool> PgStore::lease_poll(const std::string& source, std::int64_t now,
                                 std::int64_t lease_seconds) {
  // One statement: insert the lease, or take it over when it is ours or has
  // expired; a row comes back only when this node holds it now.
  return run("cannot take the poll lease", [&](pg::Connection& c) -> Result<bool> {
    auto q = c.exec(
        "INSERT INTO poll_leases (source, node, until) VALUES ($1, $2, $3) "
        "ON CONFLICT (source) DO UPDATE SET node = EXCLUDED.node, until = EXCLUDED.until "
        "WHERE poll_leases.node = EXCLUDED.node OR poll_leases.until <= $4 RETURNING node",
        {source, node_id_, now + lease_seconds, now});
    if (!q) return q.error();
    return q->rows() == 1;
  });
}

}  // namespace

Result<std::unique_ptr<Store>> open_pg_store(const PgOptions& options) {
  if (options.pool_size < 1)
    return make_error(Errc::usage, "the PostgreSQL pool needs at least 1 connection, not " +
                                       std::to_string(options.pool_size));
  auto store = std::make_unique<PgStore>(options);
  if (auto st = store->migrate(); !st) return st.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace edocgw::store
