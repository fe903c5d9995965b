// The embedded engine (store/sqlite_store.h): SQLite rows and the segment
// archive, one group commit for both. Moved from gateway/store.cc; the
// database's text values ("queued", "unsigned", "new", ...) are those of
// store::name(), read back with the parse_*() functions.
#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "store/segment_archive.h"
#include "util/bytes.h"
#include "util/time.h"

namespace edocgw::store {
namespace {

// Prepared statements by SQL text, for one connection. Its own lock (the
// store's mutex_ is not held by every caller); a statement is lent to one
// Stmt at a time, and a second Stmt of the same text at once gets its own,
// finalized when given back. Bounded: at most kMax texts are kept.
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db) : db_(db) {}
  ~StatementCache() {
    for (auto& [sql, e] : entries_) sqlite3_finalize(e.stmt);
  }
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // A ready statement, or null when it cannot be prepared (db: the
  // connection, for the error message).
  sqlite3_stmt* take(const char* sql, sqlite3*& db) {
    db = db_;
    {
      std::lock_guard lock(mutex_);
      auto it = entries_.find(sql);
      if (it != entries_.end() && !it->second.lent) {
        it->second.lent = true;
        return it->second.stmt;
      }
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return nullptr;
    }
    std::lock_guard lock(mutex_);
    if (entries_.size() < kMax && entries_.find(sql) == entries_.end())
      entries_.emplace(sql, Entry{stmt, true});
    return stmt;
  }

  void give_back(const char* sql, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);  // ends its read, whatever the last step returned
    sqlite3_clear_bindings(stmt);
    std::lock_guard lock(mutex_);
    auto it = entries_.find(sql);
    if (it != entries_.end() && it->second.stmt == stmt) {
      it->second.lent = false;
      return;
    }
    sqlite3_finalize(stmt);  // a second one of a text in use, or beyond kMax
  }

 private:
  static constexpr std::size_t kMax = 256;
  struct Entry {
    sqlite3_stmt* stmt;
    bool lent;
  };
  sqlite3* db_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

// Version 1 of the schema (user_version 1): the rows. Written with IF NOT
// EXISTS because data-dirs made before user_version was kept have it already.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS documents (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
  document_id TEXT NOT NULL, sender TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '',
  package_sha256 TEXT NOT NULL, client TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  business_type INTEGER NOT NULL DEFAULT 0, follows TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS documents_by_document_id ON documents(document_id);
CREATE TABLE IF NOT EXISTS recipients (
  document TEXT NOT NULL REFERENCES documents(id), organ_id TEXT NOT NULL, adapter TEXT NOT NULL,
  status TEXT NOT NULL, status_code TEXT NOT NULL DEFAULT '', status_description TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '', remote_id TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL,
  status_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (document, organ_id));
CREATE INDEX IF NOT EXISTS recipients_due ON recipients(status, next_attempt_at);
CREATE TABLE IF NOT EXISTS attempts (
  document TEXT NOT NULL, organ_id TEXT NOT NULL, at INTEGER NOT NULL, ok INTEGER NOT NULL,
  detail TEXT NOT NULL);
-- Every edXML status about a document, in either direction: about one of our
-- documents (ref = documents.id, organ_id = the recipient that sent it) or
-- about one we received (ref = inbox.id, organ_id = who sent the status).
CREATE TABLE IF NOT EXISTS statuses (
  ref TEXT NOT NULL, organ_id TEXT NOT NULL, code TEXT NOT NULL, description TEXT NOT NULL,
  timestamp INTEGER NOT NULL, received_at INTEGER NOT NULL, direction TEXT NOT NULL,
  applied INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS statuses_by_ref ON statuses(ref, organ_id);
-- body_sha256: the SHA-256 of the request body the key first came with
-- ('' for keys stored before it was recorded: any body then repeats them).
CREATE TABLE IF NOT EXISTS idempotency (
  client TEXT NOT NULL, key TEXT NOT NULL, document TEXT NOT NULL,
  body_sha256 TEXT NOT NULL DEFAULT '', PRIMARY KEY (client, key));
CREATE TABLE IF NOT EXISTS inbox (
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, adapter TEXT NOT NULL,
  remote_id TEXT NOT NULL, sender TEXT NOT NULL, document_id TEXT NOT NULL, subject TEXT NOT NULL,
  verification TEXT NOT NULL, reason TEXT NOT NULL, report_json TEXT NOT NULL,
  package_sha256 TEXT NOT NULL, received_at INTEGER NOT NULL, handled INTEGER NOT NULL DEFAULT 0,
  business_type INTEGER NOT NULL DEFAULT 0, concerns TEXT NOT NULL DEFAULT '',
  conflict_of TEXT NOT NULL DEFAULT '', revoked_by TEXT NOT NULL DEFAULT '',
  superseded_by TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS inbox_by_document ON inbox(sender, document_id, kind);
-- The same package again (same sender, DocumentId, business type and bytes)
-- is a duplicate; a different one is kept (a follow-up, or a conflicting copy).
CREATE UNIQUE INDEX IF NOT EXISTS inbox_once ON inbox(sender, document_id, business_type,
  package_sha256) WHERE kind = 'edoc' AND verification IN ('valid', 'unsigned');
-- The hub: one row per (package, recipient). No migration from the earlier
-- layout (nothing was deployed); a data-dir made before this one must be
-- started afresh.
CREATE TABLE IF NOT EXISTS mailbox (
  id TEXT PRIMARY KEY, package_id TEXT NOT NULL, from_organ TEXT NOT NULL, to_organ TEXT NOT NULL,
  kind TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL,
  from_system TEXT NOT NULL, to_system TEXT NOT NULL, title TEXT NOT NULL,
  notation TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS mailbox_by_recipient ON mailbox(to_system, kind, status);
CREATE INDEX IF NOT EXISTS mailbox_by_sender ON mailbox(from_system, created_at);
CREATE TABLE IF NOT EXISTS hub_agencies (
  code TEXT PRIMARY KEY, name TEXT NOT NULL, mail TEXT NOT NULL, pid TEXT NOT NULL,
  id TEXT NOT NULL);
)sql";

// Version 2: package bytes live in the segment archive (DATA_DIR/segments);
// this table says where, for every id that has a body (documents.id,
// inbox.id, mailbox.package_id). purged_at: when retention dropped the
// segment holding it (0: still there). Package files of the version 1
// layout (DATA_DIR/packages/ID.xml) are not migrated: nothing was deployed.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE packages (
  id TEXT PRIMARY KEY, seg INTEGER NOT NULL, pos INTEGER NOT NULL, len INTEGER NOT NULL,
  sha256 TEXT NOT NULL, stored_at INTEGER NOT NULL, purged_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX packages_by_segment ON packages(seg);
)sql";

// Version 3: inbox.seq indexed. Every insert took MAX(seq) and every
// listing since a row filtered and sorted by seq with a scan of the whole
// inbox, reports and all: a gateway's intake slowed down as its inbox grew
// (B's profile in load_bench: pread and page copies led).
constexpr const char* kSchemaV3 = R"sql(
CREATE UNIQUE INDEX inbox_by_seq ON inbox(seq);
)sql";

struct Migration {
  int version;
  const char* sql;
};
// Applied in order, each in a transaction with its user_version.
constexpr Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3}};
constexpr int kSchemaVersion = 3;

// A prepared statement with positional binding; finalised on scope exit.
class Stmt {
 public:
  // A prepared statement from the store's cache (prepared once per SQL text,
  // reused while no other Stmt holds it): preparing took most of a one-row
  // read's time (perf of the hub's getEdoc).
  Stmt(StatementCache& cache, const char* sql) : cache_(&cache), sql_(sql) {
    stmt_ = cache.take(sql_, db_);
  }
  ~Stmt() {
    if (stmt_ != nullptr) cache_->give_back(sql_, stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Stmt& bind(const std::string& v) {
    sqlite3_bind_text(stmt_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(std::int64_t v) {
    sqlite3_bind_int64(stmt_, ++n_, v);
    return *this;
  }
  // A state, by its name (store::name()).
  template <class E>
  requires std::is_enum_v<E> Stmt& bind(E v) {
    const std::string_view text = name(v);
    sqlite3_bind_text(stmt_, ++n_, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  Error error(const std::string& what) const {
    return make_error(Errc::io, what + ": " + sqlite3_errmsg(db_));
  }

 private:
  StatementCache* cache_;
  const char* sql_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  int n_ = 0;
};

Status run(Stmt& s, const std::string& what) {
  if (!s.ok()) return s.error(what);
  const int rc = s.step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return s.error(what);
  return {};
}

std::int64_t now() {
  return now_seconds().time_since_epoch().count();
}

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {
    ok_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~Transaction() {
    if (ok_ && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool ok() const { return ok_; }
  Status commit() {
    done_ = true;
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return make_error(Errc::io, std::string("cannot commit: ") + sqlite3_errmsg(db_));
    }
    return {};
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool done_ = false;
};

// Reads the states of one table's rows from their text: the first value
// that names no state (a newer edocgw wrote it, or a hand edited the
// database) is kept as an Errc::io naming the table, column and value.
class StateReader {
 public:
  explicit StateReader(const char* table) : table_(table) {}
  template <class E>
  E operator()(std::optional<E> (*parse)(std::string_view), const char* column,
               const std::string& text) {
    if (auto v = parse(text)) return *v;
    if (status_)
      status_ = make_error(Errc::io, std::string("the database holds '") + text + "' in " + table_ +
                                         "." + column +
                                         ", which this edocgw does not know (written by a "
                                         "newer edocgw, or edited by hand)");
    return E{};
  }
  const Status& status() const { return status_; }

 private:
  const char* table_;
  Status status_;
};

// The engine. Group commit: every write (a document with its bytes, an
// incoming package, mail at the hub, and the bookkeeping: delivery attempts,
// statuses, hand-overs) joins a queue; one caller at a time leads a
// batch of up to kMaxBatch: one write + fdatasync of the archive for all its
// bodies, then the signature-log records naming them and one log flush
// (SqliteOptions::log_sync), then one SQLite transaction (one WAL fsync)
// with a savepoint per caller, so one caller's failed rows do not undo the
// others'. A write returns once its batch is committed.
//
// Thread-safety: one connection behind a mutex; every method may be called
// from any worker thread.
class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& data_dir,
                                             SqliteOptions options);
  SqliteStore(sqlite3* db, std::filesystem::path data_dir, std::unique_ptr<SegmentArchive> archive,
              LogSync log_sync);
  ~SqliteStore() override;

  // PackageStore.
  Result<std::optional<std::string>> read_package(const std::string& id) override;
  // Retention: drops every whole segment below the first one holding a body
  // stored at or after `before` (seconds since the epoch) or still needed
  // (a recipient pending, an incoming package not handed inward, hub mail
  // not yet fetched), and never the segment being written. Their rows say
  // purged from then on (read_package gives nullopt); the signature log is
  // not touched, and the auditor reports those bodies as purged.
  Result<PurgeReport> purge(std::int64_t before) override;

  // Outbox. With an idempotency key already used by the client, submit()
  // stores no row and returns the first document's id (the bytes stay in
  // the archive, named by the log record only; callers that want to skip
  // the work before, such as signing, ask idempotent() first). Keys without
  // a body's hash match any body.
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

  // Inbox.
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

  // HubMailbox.
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

  // Store. add_status_history: an inbox id (a recall request 13 from the
  // sender, a status this gateway sent about it) or a documents id (a
  // status this gateway sent about its own document).
  Status add_status_history(const std::string& ref, const StatusEntry& entry) override;
  Result<Counts> counts() override;
  Status ping() override;
  // What opening the archive did that an operator should hear of (a torn
  // tail cut).
  std::vector<std::string> notices() const override { return archive_->notices(); }

 private:
  // One inbox row matching `where` (positional values), the oldest.
  Result<std::optional<InboxRow>> inbox_query(const std::string& where,
                                              const std::vector<std::string>& values);
  // The statuses about `ref` (from `organ_id`, or all when ""); the caller holds mutex_.
  Result<std::vector<StatusEntry>> history_locked(StatementCache& statements,
                                                  const std::string& ref,
                                                  const std::string& organ_id);
  // The document of (client, key), "" when none; the caller holds mutex_.
  Result<std::string> idempotent_locked(StatementCache& statements, const std::string& client,
                                        const std::string& key);
  bool has_column(const char* table, const char* column);
  Status exec(const char* sql);
  Status migrate();
  Status refresh_document_status(const std::string& document, std::int64_t now);
  // Where `id`'s bytes are; the caller is inside a group commit.
  Status put_package_locked(const std::string& id, const PackageRef& ref);

  // Group commit (see above): `package` (may be empty) is archived, `log`
  // (may be null) names it in the signature log, `rows` runs inside the
  // batch's transaction with mutex_ held and gets the package's ref (null
  // without a package). Returns rows' result, or the batch's failure.
  static constexpr size_t kMaxBatch = 256;
  struct Pending;
  Status group_commit(std::string_view package, const LogRecord* log,
                      std::function<Status(const PackageRef*)> rows);
  void commit_batch(const std::vector<Pending*>& batch);
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::vector<Pending*> queue_;
  bool leader_busy_ = false;
  LogSync log_sync_;
  std::unique_ptr<SegmentArchive> archive_;

  mutable std::mutex mutex_;
  // Due deliveries leased by lease_due_deliveries(): (document, organ_id) ->
  // when the lease ends. Kept here, not in the database: one process holds
  // a data-dir at a time (the archive's lock), so a lease cannot matter
  // beyond the process that took it, and one left in the rows by a process
  // killed mid-delivery would hold that delivery back after the restart.
  std::map<std::pair<std::string, std::string>, std::int64_t> leases_;
  sqlite3* db_;
  std::unique_ptr<StatementCache> statements_;
  std::filesystem::path data_dir_;

  // Connections of their own for what only reads, so that a read never
  // waits for a commit's fsync (WAL: a reader sees the last commit, and a
  // write returns only once committed). ReadLock takes a free one, or waits
  // for one in turn.
  struct Reader {
    std::mutex mutex;
    sqlite3* db = nullptr;
    std::unique_ptr<StatementCache> statements;
  };
  static constexpr size_t kReaders = 4;
  std::array<Reader, kReaders> readers_;
  std::atomic<size_t> next_reader_{0};
  Status open_readers();
  class ReadLock {
   public:
    explicit ReadLock(SqliteStore& store) {
      const size_t first = store.next_reader_++;
      for (size_t i = 0; i < kReaders; ++i) {
        Reader& r = store.readers_[(first + i) % kReaders];
        std::unique_lock lock(r.mutex, std::try_to_lock);
        if (lock.owns_lock()) {
          lock_ = std::move(lock);
          reader_ = &r;
          return;
        }
      }
      reader_ = &store.readers_[first % kReaders];
      lock_ = std::unique_lock(reader_->mutex);
    }
    StatementCache& statements() { return *reader_->statements; }

   private:
    std::unique_lock<std::mutex> lock_;
    Reader* reader_ = nullptr;
  };
};

Result<std::unique_ptr<Store>> SqliteStore::open(const std::filesystem::path& data_dir,
                                                 SqliteOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return make_error(Errc::io, "cannot create " + data_dir.string() + ": " + ec.message());
  // The archive first: its lock keeps a second gateway off this data-dir.
  SegmentArchive::Options archive_options;
  archive_options.max_segment_bytes = options.segment_bytes;
  auto archive = SegmentArchive::open(data_dir / kSegmentsFolder, archive_options);
  if (!archive) return archive.error();
  sqlite3* db = nullptr;
  const auto path = data_dir / "edocgw.sqlite";
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error(Errc::io, "cannot open " + path.string() + ": " + msg);
  }
  auto store =
      std::make_unique<SqliteStore>(db, data_dir, std::move(*archive), std::move(options.log_sync));
  sqlite3_busy_timeout(db, 10000);
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (auto st = store->exec(pragma); !st) return st.error();
  }
  if (auto st = store->migrate(); !st) return st.error();
  if (auto st = store->open_readers(); !st) return st.error();
  return std::unique_ptr<Store>(std::move(store));
}

Status SqliteStore::migrate() {
  int version = 0;
  {
    Stmt v(*statements_, "PRAGMA user_version");
    if (!v.ok() || v.step() != SQLITE_ROW) return v.error("cannot read the schema version");
    version = static_cast<int>(v.integer(0));
  }
  if (version > kSchemaVersion)
    return make_error(Errc::unsupported,
                      (data_dir_ / "edocgw.sqlite").string() + " has schema version " +
                          std::to_string(version) + ", made by a newer edocgw (this one knows " +
                          std::to_string(kSchemaVersion) + "); run that version or a newer one");
  for (const auto& m : kMigrations) {
    if (m.version <= version) continue;
    Transaction tx(db_);
    if (!tx.ok()) return make_error(Errc::io, std::string("cannot begin: ") + sqlite3_errmsg(db_));
    if (auto st = exec(m.sql); !st) return st;
    if (m.version == 1 && !has_column("idempotency", "body_sha256")) {
      // Made before idempotency keys recorded their body (no ADD COLUMN IF
      // NOT EXISTS in SQLite: table_info tells).
      if (auto st = exec("ALTER TABLE idempotency ADD COLUMN body_sha256 TEXT NOT NULL DEFAULT ''");
          !st)
        return st;
    }
    const std::string set = "PRAGMA user_version = " + std::to_string(m.version);
    if (auto st = exec(set.c_str()); !st) return st;
    if (auto st = tx.commit(); !st) return st;
  }
  return {};
}

SqliteStore::SqliteStore(sqlite3* db, std::filesystem::path data_dir,
                         std::unique_ptr<SegmentArchive> archive, LogSync log_sync)
    : log_sync_(std::move(log_sync)),
      archive_(std::move(archive)),
      db_(db),
      statements_(std::make_unique<StatementCache>(db)),
      data_dir_(std::move(data_dir)) {}

SqliteStore::~SqliteStore() {
  statements_.reset();  // sqlite3_close refuses while statements are left
  sqlite3_close(db_);
  for (auto& r : readers_) {
    r.statements.reset();
    sqlite3_close(r.db);
  }
}

Status SqliteStore::open_readers() {
  const auto path = data_dir_ / "edocgw.sqlite";
  for (auto& r : readers_) {
    if (sqlite3_open_v2(path.c_str(), &r.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      return make_error(Errc::io, "cannot open " + path.string() + " to read: " +
                                      (r.db ? sqlite3_errmsg(r.db) : "out of memory"));
    }
    sqlite3_busy_timeout(r.db, 10000);
    if (sqlite3_exec(r.db, "PRAGMA query_only=1", nullptr, nullptr, nullptr) != SQLITE_OK)
      return make_error(Errc::io, std::string("cannot set up a reader: ") + sqlite3_errmsg(r.db));
    r.statements = std::make_unique<StatementCache>(r.db);
  }
  return {};
}

Status SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return make_error(Errc::io, "database error: " + msg);
  }
  return {};
}

Result<std::optional<std::string>> SqliteStore::read_package(const std::string& id) {
  PackageRef ref;
  {
    ReadLock reader(*this);
    Stmt q(reader.statements(),
           "SELECT seg, pos, len, sha256, purged_at FROM packages WHERE id = ?");
    q.bind(id);
    if (!q.ok()) return q.error("cannot read the package's place");
    if (q.step() != SQLITE_ROW) return make_error(Errc::invalid, "no package is stored as " + id);
    if (q.integer(4) != 0) return std::optional<std::string>();
    ref.segment = static_cast<std::uint64_t>(q.integer(0));
    ref.offset = static_cast<std::uint64_t>(q.integer(1));
    ref.length = static_cast<std::uint64_t>(q.integer(2));
    ref.sha256_hex = q.text(3);
  }
  auto body = archive_->read(ref);
  if (!body) return body.error();
  return std::optional<std::string>(std::move(*body));
}

// One caller's part of a group commit (see group_commit()).
struct SqliteStore::Pending {
  std::string_view package;        // bytes to archive, or empty: none
  const LogRecord* log = nullptr;  // appends the log record naming the bytes
  // The rows, inside the batch's transaction (under a savepoint of its own);
  // `ref` is null when there are no bytes.
  std::function<Status(const PackageRef* ref)> rows;
  bool finished = false;
  bool failed = false;  // result is an error
  Status result;
};

Status SqliteStore::group_commit(std::string_view package, const LogRecord* log,
                                 std::function<Status(const PackageRef*)> rows) {
  Pending me;
  me.package = package;
  me.log = log;
  me.rows = std::move(rows);
  std::unique_lock lock(queue_mutex_);
  queue_.push_back(&me);
  while (!me.finished) {
    if (!leader_busy_) {
      // Lead: commit everything queued so far (ours included), at most
      // kMaxBatch callers; the rest wait for the next leader.
      leader_busy_ = true;
      std::vector<Pending*> batch;
      const size_t n = std::min(queue_.size(), kMaxBatch);
      batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      lock.unlock();
      commit_batch(batch);
      lock.lock();
      for (auto* p : batch) p->finished = true;
      leader_busy_ = false;
      queue_cv_.notify_all();
    } else {
      queue_cv_.wait(lock);
    }
  }
  return std::move(me.result);
}

void SqliteStore::commit_batch(const std::vector<Pending*>& batch) {
  auto fail = [](Pending* p, const Error& e) {
    if (p->failed) return;
    p->failed = true;
    p->result = e;
  };
  auto fail_all = [&](const Error& e) {
    for (auto* p : batch) fail(p, e);
  };
  // 1. Every body in one write and one fdatasync.
  std::vector<std::string_view> bodies;
  for (auto* p : batch) {
    if (!p->package.empty()) bodies.push_back(p->package);
  }
  std::vector<PackageRef> refs(batch.size());
  if (!bodies.empty()) {
    auto written = archive_->append(bodies);
    if (!written) return fail_all(written.error());
    size_t k = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i]->package.empty()) refs[i] = (*written)[k++];
    }
  }
  // 2. The signature log's records naming them, then one flush: a record is
  // durable before the row that makes its document exist.
  bool logged = false;
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending* p = batch[i];
    if (p->log == nullptr || !*p->log) continue;
    if (auto st = (*p->log)(package_ref_name(refs[i])); !st) {
      fail(p, st.error());
      continue;
    }
    logged = true;
  }
  if (logged && log_sync_) {
    if (auto st = log_sync_(); !st) return fail_all(st.error());
  }
  // 3. Every row in one transaction (one WAL fsync); a caller whose rows
  // fail is rolled back to its savepoint, the others are kept.
  std::lock_guard db_lock(mutex_);
  Transaction tx(db_);
  if (!tx.ok())
    return fail_all(make_error(Errc::io, std::string("cannot begin: ") + sqlite3_errmsg(db_)));
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending* p = batch[i];
    if (p->failed) continue;
    if (auto st = exec("SAVEPOINT one"); !st) return fail_all(st.error());
    Status st = p->rows(p->package.empty() ? nullptr : &refs[i]);
    if (!st) {
      fail(p, st.error());
      if (auto back = exec("ROLLBACK TO one"); !back) return fail_all(back.error());
    }
    if (auto rel = exec("RELEASE one"); !rel) return fail_all(rel.error());
  }
  if (auto st = tx.commit(); !st) fail_all(st.error());
}

Status SqliteStore::put_package_locked(const std::string& id, const PackageRef& ref) {
  Stmt q(*statements_,
         "INSERT INTO packages (id, seg, pos, len, sha256, stored_at) VALUES (?,?,?,?,?,?)");
  q.bind(id)
      .bind(static_cast<std::int64_t>(ref.segment))
      .bind(static_cast<std::int64_t>(ref.offset))
      .bind(static_cast<std::int64_t>(ref.length))
      .bind(ref.sha256_hex)
      .bind(now());
  return run(q, "cannot record where the package is");
}

Result<SqliteStore::Submitted> SqliteStore::submit(const DocumentRow& d, const std::string& package,
                                                   const std::string& idempotency_key,
                                                   const LogRecord& log_record) {
  Submitted out;
  auto st = group_commit(package, &log_record, [&](const PackageRef* ref) -> Status {
    const std::int64_t t = now();
    const std::string& key = idempotency_key;
    if (!key.empty()) {  // a repeat, perhaps within this very batch
      // A failed lookup falls through: the INSERT below then fails.
      auto first = idempotent_locked(*statements_, d.client, key);
      if (first && !first->empty()) {
        out = Submitted{*first, true};
        return {};
      }
      if (!first && first.error().code == Errc::invalid) return first.error();  // another body
    }
    if (d.kind == Kind::edoc && d.business_type == 0) {
      // One original per DocumentId: a second one would make every status
      // about it ambiguous. Follow-ups (1, 2, 3) share it by design.
      Stmt dup(*statements_,
               "SELECT id FROM documents WHERE document_id = ? AND kind = 'edoc' AND "
               "business_type = 0");
      dup.bind(d.document_id);
      if (dup.ok() && dup.step() == SQLITE_ROW) {
        return make_error(Errc::invalid, "document " + dup.text(0) + " already has DocumentId " +
                                             d.document_id +
                                             "; send a follow-up (revocation, update, "
                                             "replacement) instead of a second original");
      }
    }
    Stmt doc(*statements_,
             "INSERT INTO documents (id, kind, status, reason, document_id, sender, subject, "
             "package_sha256, client, created_at, updated_at, business_type, follows) "
             "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    doc.bind(d.id).bind(d.kind).bind(d.state).bind(d.reason).bind(d.document_id).bind(d.sender);
    doc.bind(d.subject).bind(d.package_sha256).bind(d.client).bind(t).bind(t);
    doc.bind(static_cast<std::int64_t>(d.business_type)).bind(d.follows);
    if (auto st = run(doc, "cannot store the document"); !st) return st;
    if (auto st = put_package_locked(d.id, *ref); !st) return st;
    for (const auto& r : d.recipients) {
      Stmt rec(*statements_,
               "INSERT INTO recipients (document, organ_id, adapter, status, last_error, "
               "next_attempt_at, updated_at) VALUES (?,?,?,?,?,?,?)");
      rec.bind(d.id)
          .bind(r.organ_id)
          .bind(r.adapter)
          .bind(r.state)
          .bind(r.last_error)
          .bind(t)
          .bind(t);
      if (auto st = run(rec, "cannot store a recipient"); !st) return st;
    }
    if (!key.empty()) {
      const auto [name, body_sha256] = split_idempotency_key(key);
      Stmt idem(*statements_,
                "INSERT INTO idempotency (client, key, document, body_sha256) VALUES (?,?,?,?)");
      idem.bind(d.client).bind(name).bind(d.id).bind(body_sha256);
      if (auto st = run(idem, "cannot store the idempotency key"); !st) return st;
    }
    out = Submitted{d.id, false};
    return {};
  });
  if (!st) return st.error();
  return out;
}

bool SqliteStore::has_column(const char* table, const char* column) {
  const std::string sql = std::string("PRAGMA table_info(") + table + ")";
  Stmt q(*statements_, sql.c_str());
  while (q.ok() && q.step() == SQLITE_ROW) {
    if (q.text(1) == column) return true;
  }
  return false;
}

Result<std::string> SqliteStore::idempotent_locked(StatementCache& statements,
                                                   const std::string& client,
                                                   const std::string& key) {
  const auto [name, body_sha256] = split_idempotency_key(key);
  Stmt q(statements, "SELECT document, body_sha256 FROM idempotency WHERE client = ? AND key = ?");
  q.bind(client).bind(name);
  if (!q.ok()) return q.error("cannot read idempotency keys");
  if (q.step() != SQLITE_ROW) return std::string();
  const std::string first = q.text(0), first_body = q.text(1);
  if (!body_sha256.empty() && !first_body.empty() && body_sha256 != first_body) {
    return make_error(Errc::invalid, "the Idempotency-Key \"" + name + "\" was used for document " +
                                         first +
                                         " with another body; use a new key for a new body");
  }
  return first;
}

Result<std::optional<std::string>> SqliteStore::idempotent(const std::string& client,
                                                           const std::string& key) {
  ReadLock reader(*this);
  auto first = idempotent_locked(reader.statements(), client, key);
  if (!first) return first.error();
  if (first->empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(*first));
}

Result<std::optional<DocumentRow>> SqliteStore::document(const std::string& id) {
  ReadLock reader(*this);
  Stmt q(reader.statements(),
         "SELECT id, kind, status, reason, document_id, sender, subject, package_sha256, client, "
         "created_at, updated_at, business_type, follows FROM documents WHERE id = ?");
  q.bind(id);
  if (!q.ok()) return q.error("cannot read documents");
  if (q.step() != SQLITE_ROW) return std::optional<DocumentRow>();
  StateReader states("documents");
  DocumentRow d;
  d.id = q.text(0);
  d.kind = states(parse_kind, "kind", q.text(1));
  d.state = states(parse_document_state, "status", q.text(2));
  d.reason = q.text(3);
  d.document_id = q.text(4);
  d.sender = q.text(5);
  d.subject = q.text(6);
  d.package_sha256 = q.text(7);
  d.client = q.text(8);
  d.created_at = q.integer(9);
  d.updated_at = q.integer(10);
  d.business_type = static_cast<int>(q.integer(11));
  d.follows = q.text(12);
  if (!states.status()) return states.status().error();
  Stmt r(reader.statements(),
         "SELECT organ_id, adapter, status, status_code, status_description, attempts, "
         "next_attempt_at, last_error, remote_id, updated_at, status_at FROM recipients "
         "WHERE document = ? ORDER BY rowid");
  r.bind(id);
  StateReader recipient_states("recipients");
  while (r.ok() && r.step() == SQLITE_ROW) {
    RecipientRow rec;
    rec.organ_id = r.text(0);
    rec.adapter = r.text(1);
    rec.state = recipient_states(parse_recipient_state, "status", r.text(2));
    rec.status_code = r.text(3);
    rec.status_description = r.text(4);
    rec.attempts = static_cast<int>(r.integer(5));
    rec.next_attempt_at = r.integer(6);
    rec.last_error = r.text(7);
    rec.remote_id = r.text(8);
    rec.updated_at = r.integer(9);
    rec.status_at = r.integer(10);
    auto history = history_locked(reader.statements(), id, rec.organ_id);
    if (!history) return history.error();
    rec.history = std::move(*history);
    d.recipients.push_back(std::move(rec));
  }
  if (!recipient_states.status()) return recipient_states.status().error();
  return std::optional<DocumentRow>(std::move(d));
}

Result<std::vector<StatusEntry>> SqliteStore::history_locked(StatementCache& statements,
                                                             const std::string& ref,
                                                             const std::string& organ_id) {
  // Bounded: a misbehaving peer cannot make one answer unbounded.
  Stmt h(statements,
         "SELECT organ_id, code, description, timestamp, received_at, direction, applied "
         "FROM statuses WHERE ref = ? AND (? = '' OR organ_id = ?) "
         "ORDER BY timestamp, received_at, rowid LIMIT 1000");
  h.bind(ref).bind(organ_id).bind(organ_id);
  StateReader states("statuses");
  std::vector<StatusEntry> out;
  while (h.ok() && h.step() == SQLITE_ROW) {
    out.push_back({h.text(0), h.text(1), h.text(2), h.integer(3), h.integer(4),
                   states(parse_direction, "direction", h.text(5)), h.integer(6) != 0});
  }
  if (!states.status()) return states.status().error();
  return out;
}

Result<std::optional<DocumentRow>> SqliteStore::original_document(const std::string& document_id) {
  std::string id;
  {
    ReadLock reader(*this);
    Stmt q(reader.statements(),
           "SELECT id FROM documents WHERE document_id = ? AND kind = 'edoc' AND "
           "business_type = 0 ORDER BY created_at LIMIT 1");
    q.bind(document_id);
    if (!q.ok()) return q.error("cannot read documents");
    if (q.step() != SQLITE_ROW) return std::optional<DocumentRow>();
    id = q.text(0);
  }
  return document(id);
}

Result<std::vector<DueDelivery>> SqliteStore::lease_due_deliveries(std::int64_t at, int limit,
                                                                   std::int64_t lease_seconds) {
  std::lock_guard lock(mutex_);
  // Leases that ran out (their holder died or gave up) are taken over.
  std::erase_if(leases_, [at](const auto& lease) { return lease.second <= at; });
  // The oldest due, passing over those leased: at most leases_.size() of
  // the first rows are.
  Stmt q(*statements_,
         "SELECT r.document, d.kind, r.organ_id, r.adapter, d.sender, d.document_id, r.attempts "
         "FROM recipients r JOIN documents d ON d.id = r.document "
         "WHERE r.status = 'pending' AND r.next_attempt_at <= ? "
         "ORDER BY r.next_attempt_at LIMIT ?");
  q.bind(at).bind(static_cast<std::int64_t>(limit) + static_cast<std::int64_t>(leases_.size()));
  if (!q.ok()) return q.error("cannot read due deliveries");
  StateReader states("documents");
  std::vector<DueDelivery> out;
  int rc = SQLITE_DONE;
  while (static_cast<int>(out.size()) < limit && (rc = q.step()) == SQLITE_ROW) {
    DueDelivery d{q.text(0), states(parse_kind, "kind", q.text(1)), q.text(2), q.text(3), q.text(4),
                  q.text(5), static_cast<int>(q.integer(6))};
    if (leases_.count({d.document, d.organ_id}) != 0) continue;
    out.push_back(std::move(d));
  }
  if (static_cast<int>(out.size()) < limit && rc != SQLITE_DONE)
    return q.error("cannot read due deliveries");
  if (!states.status()) return states.status().error();
  for (const auto& d : out) leases_[{d.document, d.organ_id}] = at + lease_seconds;
  return out;
}

Status SqliteStore::refresh_document_status(const std::string& document, std::int64_t t) {
  // queued until every recipient is handed on; failed when any gave up;
  // delivered when every recipient reported a status; else sent.
  Stmt q(
      *statements_,
      "SELECT SUM(status = 'pending'), SUM(status = 'failed'), SUM(status_code != ''), COUNT(*), "
      "MAX(CASE WHEN status = 'failed' THEN last_error END) FROM recipients WHERE document = ?");
  q.bind(document);
  if (!q.ok() || q.step() != SQLITE_ROW) return q.error("cannot read recipients");
  const auto pending = q.integer(0), failed = q.integer(1), reported = q.integer(2),
             all = q.integer(3);
  DocumentState state = DocumentState::sent;
  std::string reason;
  if (failed > 0) {
    state = DocumentState::failed;
    reason = q.text(4);
  } else if (pending > 0) {
    state = DocumentState::queued;
  } else if (reported == all) {
    state = DocumentState::delivered;
  }
  Stmt u(*statements_,
         "UPDATE documents SET status = ?, reason = ?, updated_at = ? WHERE id = ? AND status != "
         "'rejected'");
  u.bind(state).bind(reason).bind(t).bind(document);
  return run(u, "cannot update the document");
}

Status SqliteStore::record_delivery(const std::string& document, const std::string& organ_id,
                                    bool ok, bool give_up, const std::string& detail,
                                    const std::string& remote_id, std::int64_t next_attempt_at) {
  Status recorded = group_commit({}, nullptr, [&](const PackageRef*) -> Status {
    const std::int64_t t = now();
    Stmt a(*statements_,
           "INSERT INTO attempts (document, organ_id, at, ok, detail) VALUES (?,?,?,?,?)");
    a.bind(document).bind(organ_id).bind(t).bind(static_cast<std::int64_t>(ok)).bind(detail);
    if (auto st = run(a, "cannot record the attempt"); !st) return st;
    Stmt u(*statements_,
           "UPDATE recipients SET status = ?, attempts = attempts + 1, next_attempt_at = ?, "
           "last_error = ?, remote_id = ?, updated_at = ? WHERE document = ? AND organ_id = ?");
    u.bind(ok        ? RecipientState::sent
           : give_up ? RecipientState::failed
                     : RecipientState::pending)
        .bind(next_attempt_at);
    u.bind(ok ? std::string() : detail).bind(remote_id).bind(t).bind(document).bind(organ_id);
    if (auto st = run(u, "cannot update the recipient"); !st) return st;
    return refresh_document_status(document, t);
  });
  // The lease ends whether or not the attempt could be recorded: unrecorded,
  // the recipient is as due as it was.
  std::lock_guard lock(mutex_);
  leases_.erase({document, organ_id});
  return recorded;
}

Result<SqliteStore::StatusOutcome> SqliteStore::record_status(const std::string& document_id,
                                                              StatusEntry entry) {
  StatusOutcome outcome = StatusOutcome::no_document;
  auto done = group_commit({}, nullptr, [&](const PackageRef*) -> Status {
    // The original the recipient was sent (follow-ups share its DocumentId;
    // only one original per DocumentId exists, see submit()).
    Stmt q(*statements_,
           "SELECT d.id, r.status_code, r.status_at FROM documents d "
           "JOIN recipients r ON r.document = d.id WHERE d.document_id = ? AND d.kind = 'edoc' AND "
           "d.business_type = 0 AND r.organ_id = ?");
    q.bind(document_id).bind(entry.organ_id);
    if (!q.ok()) return q.error("cannot find the document");
    if (q.step() != SQLITE_ROW) return {};
    const std::string id = q.text(0), current = q.text(1);
    const std::int64_t current_at = q.integer(2);
    entry.applied =
        current.empty() || entry.timestamp > current_at ||
        (entry.timestamp == current_at && status_rank(entry.code) > status_rank(current));
    const std::int64_t t = now();
    Stmt s(*statements_,
           "INSERT INTO statuses (ref, organ_id, code, description, timestamp, received_at, "
           "direction, applied) VALUES (?,?,?,?,?,?,?,?)");
    s.bind(id).bind(entry.organ_id).bind(entry.code).bind(entry.description).bind(entry.timestamp);
    s.bind(entry.received_at).bind(Direction::in).bind(std::int64_t{entry.applied});
    if (auto st = run(s, "cannot record the status"); !st) return st;
    if (entry.applied) {
      Stmt u(*statements_,
             "UPDATE recipients SET status_code = ?, status_description = ?, status_at = ?, "
             "updated_at = ? WHERE document = ? AND organ_id = ?");
      u.bind(entry.code).bind(entry.description).bind(entry.timestamp).bind(t).bind(id);
      u.bind(entry.organ_id);
      if (auto st = run(u, "cannot update the recipient"); !st) return st;
      if (auto st = refresh_document_status(id, t); !st) return st;
    }
    outcome = entry.applied ? StatusOutcome::applied : StatusOutcome::kept_older;
    return {};
  });
  if (!done) return done.error();
  return outcome;
}

Status SqliteStore::add_status_history(const std::string& ref, const StatusEntry& entry) {
  return group_commit({}, nullptr, [&](const PackageRef*) -> Status {
    Stmt s(*statements_,
           "INSERT INTO statuses (ref, organ_id, code, description, timestamp, received_at, "
           "direction, applied) VALUES (?,?,?,?,?,?,?,?)");
    s.bind(ref).bind(entry.organ_id).bind(entry.code).bind(entry.description);
    s.bind(entry.timestamp).bind(entry.received_at).bind(entry.direction);
    s.bind(std::int64_t{entry.applied});
    return run(s, "cannot record the status");
  });
}

Result<bool> SqliteStore::add_inbox(InboxRow& row, const std::string& package,
                                    const LogRecord& log_record) {
  bool added = false;
  auto done = group_commit(package, &log_record, [&](const PackageRef* ref) -> Status {
    row.conflict_of.clear();
    if (row.kind == Kind::edoc && row.business_type == 0 && accepted(row.verification)) {
      // Another accepted original with this sender and DocumentId but other
      // bytes: kept and handed inward as a conflicting copy (README, "Duplicates").
      Stmt c(*statements_,
             "SELECT id FROM inbox WHERE sender = ? AND document_id = ? AND kind = 'edoc' AND "
             "business_type = 0 AND verification IN ('valid', 'unsigned') AND package_sha256 != ? "
             "ORDER BY seq LIMIT 1");
      c.bind(row.sender).bind(row.document_id).bind(row.package_sha256);
      if (c.ok() && c.step() == SQLITE_ROW) row.conflict_of = c.text(0);
    }
    Stmt q(*statements_,
           "INSERT INTO inbox (id, seq, kind, adapter, remote_id, sender, document_id, subject, "
           "verification, reason, report_json, package_sha256, received_at, business_type, "
           "conflict_of) "
           "VALUES (?, (SELECT IFNULL(MAX(seq), 0) + 1 FROM inbox), ?,?,?,?,?,?,?,?,?,?,?,?,?)");
    q.bind(row.id).bind(row.kind).bind(row.adapter).bind(row.remote_id).bind(row.sender);
    q.bind(row.document_id).bind(row.subject).bind(row.verification).bind(row.reason);
    q.bind(row.report_json).bind(row.package_sha256).bind(row.received_at);
    q.bind(static_cast<std::int64_t>(row.business_type)).bind(row.conflict_of);
    if (!q.ok()) return q.error("cannot store the incoming package");
    const int rc = q.step();
    // inbox_once: this very package is already here. Its bytes stay in the
    // segment unnamed by any row (the log's record still names them).
    if (rc == SQLITE_CONSTRAINT) return {};
    if (rc != SQLITE_DONE) return q.error("cannot store the incoming package");
    if (auto st = put_package_locked(row.id, *ref); !st) return st;
    added = true;
    return {};
  });
  if (!done) return done.error();
  return added;
}

// One row of kInboxColumns; `states` keeps an unknown kind or verification.
InboxRow inbox_row(const Stmt& q, StateReader& states) {
  InboxRow r;
  r.id = q.text(0);
  r.kind = states(parse_kind, "kind", q.text(1));
  r.adapter = q.text(2);
  r.remote_id = q.text(3);
  r.sender = q.text(4);
  r.document_id = q.text(5);
  r.subject = q.text(6);
  r.verification = states(parse_verification, "verification", q.text(7));
  r.reason = q.text(8);
  r.report_json = q.text(9);
  r.package_sha256 = q.text(10);
  r.received_at = q.integer(11);
  r.handled = q.integer(12) != 0;
  r.business_type = static_cast<int>(q.integer(13));
  r.concerns = q.text(14);
  r.conflict_of = q.text(15);
  r.revoked_by = q.text(16);
  r.superseded_by = q.text(17);
  return r;
}
constexpr const char* kInboxColumns =
    "id, kind, adapter, remote_id, sender, document_id, subject, verification, reason, "
    "report_json, package_sha256, received_at, handled, business_type, concerns, conflict_of, "
    "revoked_by, superseded_by";

Result<std::vector<InboxRow>> SqliteStore::inbox(const std::string& since, int limit) {
  ReadLock reader(*this);
  const std::string sql =
      std::string("SELECT ") + kInboxColumns +
      " FROM inbox WHERE kind = 'edoc' AND seq > IFNULL((SELECT seq FROM inbox WHERE id = ?), 0) "
      "ORDER BY seq DESC LIMIT ?";
  Stmt q(reader.statements(), sql.c_str());
  q.bind(since).bind(static_cast<std::int64_t>(limit));
  if (!q.ok()) return q.error("cannot read the inbox");
  StateReader states("inbox");
  std::vector<InboxRow> out;
  while (q.step() == SQLITE_ROW) out.push_back(inbox_row(q, states));
  if (!states.status()) return states.status().error();
  // Every row's history in one query: the listing holds the store's lock,
  // which the incoming pipeline waits on.
  std::map<std::string, InboxRow*> by_id;
  for (auto& row : out) by_id[row.id] = &row;
  Stmt h(reader.statements(),
         "SELECT s.ref, s.organ_id, s.code, s.description, s.timestamp, s.received_at, "
         "s.direction, s.applied FROM statuses s JOIN (SELECT id FROM inbox WHERE kind = 'edoc' "
         "AND seq > IFNULL((SELECT seq FROM inbox WHERE id = ?), 0) ORDER BY seq DESC LIMIT ?) i "
         "ON s.ref = i.id ORDER BY s.ref, s.timestamp, s.received_at, s.rowid");
  h.bind(since).bind(static_cast<std::int64_t>(limit));
  StateReader status_states("statuses");
  while (h.ok() && h.step() == SQLITE_ROW) {
    auto it = by_id.find(h.text(0));
    if (it == by_id.end() || it->second->history.size() >= 1000) continue;
    it->second->history.push_back({h.text(1), h.text(2), h.text(3), h.integer(4), h.integer(5),
                                   status_states(parse_direction, "direction", h.text(6)),
                                   h.integer(7) != 0});
  }
  if (!status_states.status()) return status_states.status().error();
  return out;
}

Result<std::optional<InboxRow>> SqliteStore::inbox_item(const std::string& id) {
  ReadLock reader(*this);
  const std::string sql = std::string("SELECT ") + kInboxColumns + " FROM inbox WHERE id = ?";
  Stmt q(reader.statements(), sql.c_str());
  q.bind(id);
  if (!q.ok()) return q.error("cannot read the inbox");
  if (q.step() != SQLITE_ROW) return std::optional<InboxRow>();
  StateReader states("inbox");
  InboxRow row = inbox_row(q, states);
  if (!states.status()) return states.status().error();
  auto history = history_locked(reader.statements(), id, "");
  if (!history) return history.error();
  row.history = std::move(*history);
  return std::optional<InboxRow>(std::move(row));
}

Result<std::optional<InboxRow>> SqliteStore::inbox_query(const std::string& where,
                                                         const std::vector<std::string>& values) {
  ReadLock reader(*this);
  const std::string sql = std::string("SELECT ") + kInboxColumns + " FROM inbox WHERE " + where +
                          " ORDER BY seq LIMIT 1";
  Stmt q(reader.statements(), sql.c_str());
  for (const auto& v : values) q.bind(v);
  if (!q.ok()) return q.error("cannot read the inbox");
  if (q.step() != SQLITE_ROW) return std::optional<InboxRow>();
  StateReader states("inbox");
  InboxRow row = inbox_row(q, states);
  if (!states.status()) return states.status().error();
  return std::optional<InboxRow>(std::move(row));
}

Result<std::optional<InboxRow>> SqliteStore::accepted_copy(const InboxRow& row) {
  return inbox_query(
      "sender = ? AND document_id = ? AND business_type = ? AND package_sha256 = ? AND "
      "kind = 'edoc' AND verification IN ('valid', 'unsigned')",
      {row.sender, row.document_id, std::to_string(row.business_type), row.package_sha256});
}

Result<std::optional<InboxRow>> SqliteStore::original_inbox_item(const std::string& sender,
                                                                 const std::string& document_id) {
  return inbox_query(
      "sender = ? AND document_id = ? AND business_type = 0 AND kind = 'edoc' AND "
      "verification IN ('valid', 'unsigned')",
      {sender, document_id});
}

Result<std::optional<InboxRow>> SqliteStore::earlier_followup(const std::string& sender,
                                                              const std::string& document_id) {
  // A revocation or replacement whose original had not arrived yet (concerns = '').
  return inbox_query(
      "sender = ? AND document_id = ? AND business_type IN (1, 3) AND concerns = '' AND "
      "kind = 'edoc' AND verification IN ('valid', 'unsigned')",
      {sender, document_id});
}

Status SqliteStore::link_followup(const std::string& followup_id, const std::string& original_id,
                                  bool revokes) {
  return group_commit({}, nullptr, [&](const PackageRef*) -> Status {
    Stmt f(*statements_, "UPDATE inbox SET concerns = ? WHERE id = ?");
    f.bind(original_id).bind(followup_id);
    if (auto st = run(f, "cannot link the follow-up"); !st) return st;
    Stmt o(*statements_, revokes ? "UPDATE inbox SET revoked_by = ? WHERE id = ?"
                                 : "UPDATE inbox SET superseded_by = ? WHERE id = ?");
    o.bind(followup_id).bind(original_id);
    return run(o, "cannot mark the original");
  });
}

Status SqliteStore::mark_handled(const std::string& id) {
  return group_commit({}, nullptr, [&](const PackageRef*) -> Status {
    Stmt q(*statements_, "UPDATE inbox SET handled = 1 WHERE id = ?");
    q.bind(id);
    return run(q, "cannot update the inbox");
  });
}

Status SqliteStore::add_mail(const std::vector<MailboxRow>& rows, const std::string& package,
                             const LogRecord& log_record) {
  if (rows.empty()) return {};
  return group_commit(package, &log_record, [&](const PackageRef* ref) -> Status {
    for (const auto& m : rows) {
      Stmt q(
          *statements_,
          "INSERT INTO mailbox (id, package_id, from_organ, to_organ, kind, status, created_at, "
          "from_system, to_system, title, notation, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
      q.bind(m.id)
          .bind(m.package_id)
          .bind(m.from_organ)
          .bind(m.to_organ)
          .bind(m.kind)
          .bind(m.state);
      q.bind(m.created_at).bind(m.from_system).bind(m.to_system).bind(m.title).bind(m.notation);
      q.bind(m.created_at);
      if (auto st = run(q, "cannot store the mail"); !st) return st;
    }
    return put_package_locked(rows[0].package_id, *ref);
  });
}

constexpr const char* kMailColumns =
    "id, package_id, from_organ, to_organ, kind, status, created_at, from_system, to_system, "
    "title, notation, updated_at";
// One row of kMailColumns; `states` keeps an unknown kind or status.
MailboxRow mail_row(const Stmt& q, StateReader& states) {
  return {q.text(0),
          q.text(1),
          q.text(2),
          q.text(3),
          states(parse_kind, "kind", q.text(4)),
          states(parse_mail_state, "status", q.text(5)),
          q.integer(6),
          q.text(7),
          q.text(8),
          q.text(9),
          q.text(10),
          q.integer(11)};
}

// Every row a mailbox query gives.
Result<std::vector<MailboxRow>> mail_rows(Stmt& q) {
  StateReader states("mailbox");
  std::vector<MailboxRow> out;
  while (q.step() == SQLITE_ROW) out.push_back(mail_row(q, states));
  if (!states.status()) return states.status().error();
  return out;
}

Result<std::vector<MailboxRow>> SqliteStore::mail_for(const std::string& to_system, Kind kind,
                                                      int limit) {
  ReadLock reader(*this);
  const std::string sql = std::string("SELECT ") + kMailColumns +
                          " FROM mailbox WHERE to_system = ? AND kind = ? AND status IN ('new', "
                          "'processing') ORDER BY created_at, rowid LIMIT ?";
  Stmt q(reader.statements(), sql.c_str());
  q.bind(to_system).bind(kind).bind(static_cast<std::int64_t>(limit));
  if (!q.ok()) return q.error("cannot read the mailbox");
  return mail_rows(q);
}

Result<std::int64_t> SqliteStore::count_mail_for(const std::string& to_system, Kind kind) {
  ReadLock reader(*this);
  Stmt q(reader.statements(),
         "SELECT COUNT(*) FROM mailbox WHERE to_system = ? AND kind = ? AND status IN ('new', "
         "'processing')");
  q.bind(to_system).bind(kind);
  if (!q.ok() || q.step() != SQLITE_ROW) return q.error("cannot count the mailbox");
  return q.integer(0);
}

Result<std::vector<MailboxRow>> SqliteStore::sent_mail(const std::string& from_system,
                                                       std::optional<Kind> kind,
                                                       const std::string& package_id, int limit) {
  ReadLock reader(*this);
  const std::string sql =
      std::string("SELECT ") + kMailColumns +
      " FROM mailbox WHERE from_system = ? AND (? = '' OR kind = ?) AND (? = '' "
      "OR package_id = ?) ORDER BY created_at DESC, rowid DESC LIMIT ?";
  Stmt q(reader.statements(), sql.c_str());
  const std::string kind_name = kind ? std::string(name(*kind)) : std::string();
  q.bind(from_system).bind(kind_name).bind(kind_name).bind(package_id).bind(package_id);
  q.bind(static_cast<std::int64_t>(limit));
  if (!q.ok()) return q.error("cannot read the mailbox");
  return mail_rows(q);
}

Result<std::optional<MailboxRow>> SqliteStore::mail(const std::string& id) {
  ReadLock reader(*this);
  const std::string sql = std::string("SELECT ") + kMailColumns + " FROM mailbox WHERE id = ?";
  Stmt q(reader.statements(), sql.c_str());
  q.bind(id);
  if (!q.ok()) return q.error("cannot read the mailbox");
  if (q.step() != SQLITE_ROW) return std::optional<MailboxRow>();
  StateReader states("mailbox");
  MailboxRow row = mail_row(q, states);
  if (!states.status()) return states.status().error();
  return std::optional<MailboxRow>(std::move(row));
}

Status SqliteStore::set_mail_state(const std::string& id, MailState state) {
  return group_commit({}, nullptr, [&](const PackageRef*) -> Status {
    Stmt q(*statements_, "UPDATE mailbox SET status = ?, updated_at = ? WHERE id = ?");
    q.bind(state).bind(now()).bind(id);
    return run(q, "cannot update the mailbox");
  });
}

Result<std::vector<AgencyRow>> SqliteStore::agencies() {
  ReadLock reader(*this);
  Stmt q(reader.statements(), "SELECT code, name, mail, pid, id FROM hub_agencies ORDER BY code");
  if (!q.ok()) return q.error("cannot read the agencies");
  std::vector<AgencyRow> out;
  while (q.step() == SQLITE_ROW)
    out.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.text(4)});
  return out;
}

Status SqliteStore::add_agency(const AgencyRow& a) {
  std::lock_guard lock(mutex_);
  Stmt q(*statements_,
         "INSERT OR REPLACE INTO hub_agencies (code, name, mail, pid, id) VALUES (?,?,?,?,?)");
  q.bind(a.code).bind(a.name).bind(a.mail).bind(a.pid).bind(a.id);
  return run(q, "cannot store the agency");
}

Result<bool> SqliteStore::delete_agency(const std::string& code) {
  std::lock_guard lock(mutex_);
  Stmt q(*statements_, "DELETE FROM hub_agencies WHERE code = ?");
  q.bind(code);
  if (auto st = run(q, "cannot delete the agency"); !st) return st.error();
  return sqlite3_changes(db_) > 0;
}

Result<Counts> SqliteStore::counts() {
  ReadLock reader(*this);
  // One query: which table a row counts is its first column; only states
  // that some row has are counted (as GROUP BY gives them).
  Stmt q(reader.statements(),
         "SELECT 'documents', status, COUNT(*) FROM documents GROUP BY status "
         "UNION ALL SELECT 'recipients', 'pending', COUNT(*) FROM recipients "
         "WHERE status = 'pending' "
         "UNION ALL SELECT 'inbox', verification, COUNT(*) FROM inbox GROUP BY verification "
         "UNION ALL SELECT 'mailbox', status, COUNT(*) FROM mailbox GROUP BY status");
  if (!q.ok()) return q.error("cannot count");
  Counts out;
  StateReader documents("documents"), inbox("inbox"), mailbox("mailbox");
  int rc = SQLITE_DONE;
  while ((rc = q.step()) == SQLITE_ROW) {
    const std::string table = q.text(0), state = q.text(1);
    const std::int64_t n = q.integer(2);
    if (table == "documents") {
      out.documents[documents(parse_document_state, "status", state)] = n;
    } else if (table == "recipients") {
      out.queue_depth = n;
    } else if (table == "inbox") {
      out.inbox[inbox(parse_verification, "verification", state)] = n;
    } else {
      out.mailbox[mailbox(parse_mail_state, "status", state)] = n;
    }
  }
  if (rc != SQLITE_DONE) return q.error("cannot count");
  for (const auto* states : {&documents, &inbox, &mailbox}) {
    if (!states->status()) return states->status().error();
  }
  return out;
}

Status SqliteStore::ping() {
  ReadLock reader(*this);
  Stmt q(reader.statements(), "SELECT COUNT(*) FROM documents");
  return run(q, "the database does not answer");
}

Result<SqliteStore::PurgeReport> SqliteStore::purge(std::int64_t before) {
  PurgeReport report;
  const std::uint64_t current = archive_->current_segment();
  std::uint64_t keep_from = current;
  {
    std::lock_guard lock(mutex_);
    // The lowest segment that must stay: it holds a body stored at or after
    // `before`, or one that work still needs (a recipient not yet reached,
    // an incoming package not yet handed inward, mail not yet fetched).
    Stmt q(*statements_,
           "SELECT MIN(p.seg) FROM packages p WHERE p.purged_at = 0 AND (p.stored_at >= ? OR "
           "EXISTS (SELECT 1 FROM recipients r WHERE r.document = p.id AND r.status = 'pending') "
           "OR EXISTS (SELECT 1 FROM inbox i WHERE i.id = p.id AND i.handled = 0) OR "
           "EXISTS (SELECT 1 FROM mailbox m WHERE m.package_id = p.id AND m.status IN ('new', "
           "'processing')))");
    q.bind(before);
    if (!q.ok() || q.step() != SQLITE_ROW) return q.error("cannot find what retention keeps");
    if (!q.is_null(0))
      keep_from = std::min<std::uint64_t>(keep_from, static_cast<std::uint64_t>(q.integer(0)));
  }
  report.kept_from_segment = keep_from;
  // The rows first: once committed, a read says "purged", never an I/O error.
  auto marked = group_commit({}, nullptr, [&](const PackageRef*) -> Status {
    Stmt u(*statements_, "UPDATE packages SET purged_at = ? WHERE seg < ? AND purged_at = 0");
    u.bind(now()).bind(static_cast<std::int64_t>(keep_from));
    if (auto st = run(u, "cannot mark the purged packages"); !st) return st;
    report.packages = static_cast<std::uint64_t>(sqlite3_changes(db_));
    return {};
  });
  if (!marked) return marked.error();
  auto before_drop = archive_->segments();
  if (!before_drop) return before_drop.error();
  if (auto st = archive_->drop_segments_before(keep_from); !st) return st.error();
  for (auto seq : *before_drop) {
    if (seq < keep_from && seq != current) ++report.segments;
  }
  return report;
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::filesystem::path& data_dir,
                                                 SqliteOptions options) {
  return SqliteStore::open(data_dir, std::move(options));
}

}  // namespace edocgw::store
