#include "gateway/store.h"

#include "util/bytes.h"

namespace edocgw::gateway {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS documents (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
  document_id TEXT NOT NULL, sender TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '',
  package_sha256 TEXT NOT NULL, client TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS documents_by_document_id ON documents(document_id);
CREATE TABLE IF NOT EXISTS recipients (
  document TEXT NOT NULL REFERENCES documents(id), organ_id TEXT NOT NULL, adapter TEXT NOT NULL,
  status TEXT NOT NULL, status_code TEXT NOT NULL DEFAULT '', status_description TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '', remote_id TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL,
  PRIMARY KEY (document, organ_id));
CREATE INDEX IF NOT EXISTS recipients_due ON recipients(status, next_attempt_at);
CREATE TABLE IF NOT EXISTS attempts (
  document TEXT NOT NULL, organ_id TEXT NOT NULL, at INTEGER NOT NULL, ok INTEGER NOT NULL,
  detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS statuses (
  document TEXT NOT NULL, organ_id TEXT NOT NULL, code TEXT NOT NULL, description TEXT NOT NULL,
  at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
  client TEXT NOT NULL, key TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (client, key));
CREATE TABLE IF NOT EXISTS inbox (
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, adapter TEXT NOT NULL,
  remote_id TEXT NOT NULL, sender TEXT NOT NULL, document_id TEXT NOT NULL, subject TEXT NOT NULL,
  verification TEXT NOT NULL, reason TEXT NOT NULL, report_json TEXT NOT NULL,
  package_sha256 TEXT NOT NULL, received_at INTEGER NOT NULL, handled INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS inbox_by_document ON inbox(sender, document_id, kind);
CREATE UNIQUE INDEX IF NOT EXISTS inbox_once ON inbox(sender, document_id)
  WHERE kind = 'edoc' AND verification = 'valid';
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

// A prepared statement with positional binding; finalised on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
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
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  Error error(const std::string& what) const {
    return make_error(Errc::io, what + ": " + sqlite3_errmsg(db_));
  }

 private:
  sqlite3* db_;
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

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir / "packages", ec);
  if (ec)
    return make_error(Errc::io,
                      "cannot create " + (data_dir / "packages").string() + ": " + ec.message());
  sqlite3* db = nullptr;
  const auto path = data_dir / "edocgw.sqlite";
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error(Errc::io, "cannot open " + path.string() + ": " + msg);
  }
  std::unique_ptr<Store> store(new Store(db, data_dir));
  sqlite3_busy_timeout(db, 10000);
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (auto st = store->exec(pragma); !st) return st.error();
  }
  if (auto st = store->exec(kSchema); !st) return st.error();
  return store;
}

Store::~Store() {
  sqlite3_close(db_);
}

Status Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return make_error(Errc::io, "database error: " + msg);
  }
  return {};
}

std::filesystem::path Store::package_path(const std::string& id) const {
  return data_dir_ / "packages" / (id + ".xml");
}

Result<std::string> Store::read_package(const std::string& id) const {
  return read_file(package_path(id));
}

struct Store::PendingSubmit {
  const DocumentRow* document;
  const std::string* idempotency_key;
  bool finished = false;
  Result<Submitted> result = make_error(Errc::internal, "not committed");
};

Result<Store::Submitted> Store::submit(const DocumentRow& d, const std::string& package,
                                       const std::string& idempotency_key,
                                       const std::function<Status()>& after_package) {
  // The bytes are on disk (file fsynced, renamed) before any row names them;
  // the folder is fsynced once per batch by the leader.
  if (auto st = write_file_atomic(package_path(d.id), package, /*sync_folder=*/false); !st)
    return st.error();
  if (after_package) {
    if (auto st = after_package(); !st) return st.error();
  }

  PendingSubmit me{&d, &idempotency_key};
  std::unique_lock lock(queue_mutex_);
  queue_.push_back(&me);
  while (!me.finished) {
    if (!leader_busy_) {
      // Lead: commit everything queued so far (ours included).
      leader_busy_ = true;
      std::vector<PendingSubmit*> batch;
      batch.swap(queue_);
      lock.unlock();
      commit_pending(std::move(batch));
      lock.lock();
      leader_busy_ = false;
      queue_cv_.notify_all();
    } else {
      queue_cv_.wait(lock);
    }
  }
  if (me.result.ok() && me.result->repeated) {
    std::error_code ec;
    std::filesystem::remove(package_path(d.id), ec);  // the first submission's package stays
  }
  return std::move(me.result);
}

void Store::commit_pending(std::vector<PendingSubmit*> batch) {
  auto fail_all = [&](const Error& e) {
    for (auto* p : batch) p->result = e;
  };
  auto finish = [&] {
    std::lock_guard lock(queue_mutex_);
    for (auto* p : batch) p->finished = true;
  };
  if (auto st = sync_folder(data_dir_ / "packages"); !st) {
    fail_all(st.error());
    return finish();
  }
  std::lock_guard db_lock(mutex_);
  Transaction tx(db_);
  if (!tx.ok()) {
    fail_all(make_error(Errc::io, std::string("cannot begin: ") + sqlite3_errmsg(db_)));
    return finish();
  }
  const std::int64_t t = now();
  for (auto* p : batch) {
    const DocumentRow& d = *p->document;
    const std::string& key = *p->idempotency_key;
    if (!key.empty()) {  // a repeat, perhaps within this very batch
      // A failed lookup falls through: the INSERT below then fails the batch.
      if (auto first = idempotent_locked(d.client, key); first && !first->empty()) {
        p->result = Submitted{*first, true};
        continue;
      }
    }
    Stmt doc(db_,
             "INSERT INTO documents (id, kind, status, reason, document_id, sender, subject, "
             "package_sha256, client, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)");
    doc.bind(d.id).bind(d.kind).bind(d.status).bind(d.reason).bind(d.document_id).bind(d.sender);
    doc.bind(d.subject).bind(d.package_sha256).bind(d.client).bind(t).bind(t);
    Status st = run(doc, "cannot store the document");
    for (const auto& r : d.recipients) {
      if (!st) break;
      Stmt rec(db_,
               "INSERT INTO recipients (document, organ_id, adapter, status, last_error, "
               "next_attempt_at, updated_at) VALUES (?,?,?,?,?,?,?)");
      rec.bind(d.id)
          .bind(r.organ_id)
          .bind(r.adapter)
          .bind(r.status)
          .bind(r.last_error)
          .bind(t)
          .bind(t);
      st = run(rec, "cannot store a recipient");
    }
    if (st && !key.empty()) {
      Stmt idem(db_, "INSERT INTO idempotency (client, key, document) VALUES (?,?,?)");
      idem.bind(d.client).bind(key).bind(d.id);
      st = run(idem, "cannot store the idempotency key");
    }
    if (!st) {
      fail_all(st.error());  // the transaction rolls back: nobody in this batch is stored
      return finish();
    }
    p->result = Submitted{d.id, false};
  }
  if (auto st = tx.commit(); !st) fail_all(st.error());
  finish();
}

Result<std::string> Store::idempotent_locked(const std::string& client, const std::string& key) {
  Stmt q(db_, "SELECT document FROM idempotency WHERE client = ? AND key = ?");
  q.bind(client).bind(key);
  if (!q.ok()) return q.error("cannot read idempotency keys");
  return q.step() == SQLITE_ROW ? q.text(0) : std::string();
}

Result<std::optional<std::string>> Store::idempotent(const std::string& client,
                                                     const std::string& key) {
  std::lock_guard lock(mutex_);
  auto first = idempotent_locked(client, key);
  if (!first) return first.error();
  if (first->empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(*first));
}

Result<std::optional<DocumentRow>> Store::document(const std::string& id) {
  std::lock_guard lock(mutex_);
  Stmt q(db_,
         "SELECT id, kind, status, reason, document_id, sender, subject, package_sha256, client, "
         "created_at, updated_at FROM documents WHERE id = ?");
  q.bind(id);
  if (!q.ok()) return q.error("cannot read documents");
  if (q.step() != SQLITE_ROW) return std::optional<DocumentRow>();
  DocumentRow d{q.text(0), q.text(1), q.text(2), q.text(3),    q.text(4),     q.text(5),
                q.text(6), q.text(7), q.text(8), q.integer(9), q.integer(10), {}};
  Stmt r(db_,
         "SELECT organ_id, adapter, status, status_code, status_description, attempts, "
         "next_attempt_at, last_error, remote_id, updated_at FROM recipients WHERE document = ? "
         "ORDER BY rowid");
  r.bind(id);
  while (r.ok() && r.step() == SQLITE_ROW) {
    d.recipients.push_back({r.text(0), r.text(1), r.text(2), r.text(3), r.text(4),
                            static_cast<int>(r.integer(5)), r.integer(6), r.text(7), r.text(8),
                            r.integer(9)});
  }
  return std::optional<DocumentRow>(std::move(d));
}

Result<std::vector<DueDelivery>> Store::due_deliveries(std::int64_t at, int limit) {
  std::lock_guard lock(mutex_);
  Stmt q(
      db_,
      "SELECT r.document, d.kind, r.organ_id, r.adapter, d.sender, d.document_id, r.attempts "
      "FROM recipients r JOIN documents d ON d.id = r.document "
      "WHERE r.status = 'pending' AND r.next_attempt_at <= ? ORDER BY r.next_attempt_at LIMIT ?");
  q.bind(at).bind(static_cast<std::int64_t>(limit));
  if (!q.ok()) return q.error("cannot read due deliveries");
  std::vector<DueDelivery> out;
  while (q.step() == SQLITE_ROW) {
    out.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5),
                   static_cast<int>(q.integer(6))});
  }
  return out;
}

Status Store::refresh_document_status(const std::string& document, std::int64_t t) {
  // queued until every recipient is handed on; failed when any gave up;
  // delivered when every recipient reported a status; else sent.
  Stmt q(
      db_,
      "SELECT SUM(status = 'pending'), SUM(status = 'failed'), SUM(status_code != ''), COUNT(*), "
      "MAX(CASE WHEN status = 'failed' THEN last_error END) FROM recipients WHERE document = ?");
  q.bind(document);
  if (!q.ok() || q.step() != SQLITE_ROW) return q.error("cannot read recipients");
  const auto pending = q.integer(0), failed = q.integer(1), reported = q.integer(2),
             all = q.integer(3);
  std::string status = "sent", reason;
  if (failed > 0) {
    status = "failed";
    reason = q.text(4);
  } else if (pending > 0) {
    status = "queued";
  } else if (reported == all) {
    status = "delivered";
  }
  Stmt u(db_,
         "UPDATE documents SET status = ?, reason = ?, updated_at = ? WHERE id = ? AND status != "
         "'rejected'");
  u.bind(status).bind(reason).bind(t).bind(document);
  return run(u, "cannot update the document");
}

Status Store::record_delivery(const std::string& document, const std::string& organ_id, bool ok,
                              bool give_up, const std::string& detail, const std::string& remote_id,
                              std::int64_t next_attempt_at) {
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  const std::int64_t t = now();
  Stmt a(db_, "INSERT INTO attempts (document, organ_id, at, ok, detail) VALUES (?,?,?,?,?)");
  a.bind(document).bind(organ_id).bind(t).bind(static_cast<std::int64_t>(ok)).bind(detail);
  if (auto st = run(a, "cannot record the attempt"); !st) return st;
  Stmt u(db_,
         "UPDATE recipients SET status = ?, attempts = attempts + 1, next_attempt_at = ?, "
         "last_error = ?, remote_id = ?, updated_at = ? WHERE document = ? AND organ_id = ?");
  u.bind(std::string(ok ? "sent" : give_up ? "failed" : "pending")).bind(next_attempt_at);
  u.bind(ok ? std::string() : detail).bind(remote_id).bind(t).bind(document).bind(organ_id);
  if (auto st = run(u, "cannot update the recipient"); !st) return st;
  if (auto st = refresh_document_status(document, t); !st) return st;
  return tx.commit();
}

Result<bool> Store::record_status(const std::string& document_id, const std::string& from_organ,
                                  const std::string& code, const std::string& description) {
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  Stmt q(db_,
         "SELECT d.id FROM documents d JOIN recipients r ON r.document = d.id "
         "WHERE d.document_id = ? AND d.kind = 'edoc' AND r.organ_id = ? ORDER BY d.created_at "
         "DESC LIMIT 1");
  q.bind(document_id).bind(from_organ);
  if (!q.ok()) return q.error("cannot find the document");
  if (q.step() != SQLITE_ROW) return false;
  const std::string id = q.text(0);
  const std::int64_t t = now();
  Stmt s(db_,
         "INSERT INTO statuses (document, organ_id, code, description, at) VALUES (?,?,?,?,?)");
  s.bind(id).bind(from_organ).bind(code).bind(description).bind(t);
  if (auto st = run(s, "cannot record the status"); !st) return st.error();
  Stmt u(db_,
         "UPDATE recipients SET status_code = ?, status_description = ?, updated_at = ? "
         "WHERE document = ? AND organ_id = ?");
  u.bind(code).bind(description).bind(t).bind(id).bind(from_organ);
  if (auto st = run(u, "cannot update the recipient"); !st) return st.error();
  if (auto st = refresh_document_status(id, t); !st) return st.error();
  if (auto st = tx.commit(); !st) return st.error();
  return true;
}

Result<bool> Store::add_inbox(const InboxRow& row, const std::string& package) {
  if (auto st = write_file_atomic(package_path(row.id), package); !st) return st.error();
  std::lock_guard lock(mutex_);
  Stmt q(db_,
         "INSERT INTO inbox (id, seq, kind, adapter, remote_id, sender, document_id, subject, "
         "verification, reason, report_json, package_sha256, received_at) "
         "VALUES (?, (SELECT IFNULL(MAX(seq), 0) + 1 FROM inbox), ?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(row.id).bind(row.kind).bind(row.adapter).bind(row.remote_id).bind(row.sender);
  q.bind(row.document_id).bind(row.subject).bind(row.verification).bind(row.reason);
  q.bind(row.report_json).bind(row.package_sha256).bind(row.received_at);
  if (!q.ok()) return q.error("cannot store the incoming package");
  const int rc = q.step();
  if (rc == SQLITE_CONSTRAINT) {  // inbox_once: this document is already here
    std::error_code ec;
    std::filesystem::remove(package_path(row.id), ec);
    return false;
  }
  if (rc != SQLITE_DONE) return q.error("cannot store the incoming package");
  return true;
}

namespace {
InboxRow inbox_row(const Stmt& q) {
  return {q.text(0), q.text(1), q.text(2), q.text(3),  q.text(4),     q.text(5),         q.text(6),
          q.text(7), q.text(8), q.text(9), q.text(10), q.integer(11), q.integer(12) != 0};
}
constexpr const char* kInboxColumns =
    "id, kind, adapter, remote_id, sender, document_id, subject, verification, reason, "
    "report_json, package_sha256, received_at, handled";
}  // namespace

Result<std::vector<InboxRow>> Store::inbox(const std::string& since, int limit) {
  std::lock_guard lock(mutex_);
  const std::string sql =
      std::string("SELECT ") + kInboxColumns +
      " FROM inbox WHERE kind = 'edoc' AND seq > IFNULL((SELECT seq FROM inbox WHERE id = ?), 0) "
      "ORDER BY seq DESC LIMIT ?";
  Stmt q(db_, sql.c_str());
  q.bind(since).bind(static_cast<std::int64_t>(limit));
  if (!q.ok()) return q.error("cannot read the inbox");
  std::vector<InboxRow> out;
  while (q.step() == SQLITE_ROW) out.push_back(inbox_row(q));
  return out;
}

Result<std::optional<InboxRow>> Store::inbox_item(const std::string& id) {
  std::lock_guard lock(mutex_);
  const std::string sql = std::string("SELECT ") + kInboxColumns + " FROM inbox WHERE id = ?";
  Stmt q(db_, sql.c_str());
  q.bind(id);
  if (!q.ok()) return q.error("cannot read the inbox");
  if (q.step() != SQLITE_ROW) return std::optional<InboxRow>();
  return std::optional<InboxRow>(inbox_row(q));
}

Result<std::optional<InboxRow>> Store::valid_inbox_item(const std::string& sender,
                                                        const std::string& document_id) {
  std::lock_guard lock(mutex_);
  const std::string sql = std::string("SELECT ") + kInboxColumns +
                          " FROM inbox WHERE sender = ? AND document_id = ? AND kind = 'edoc' AND "
                          "verification = 'valid'";
  Stmt q(db_, sql.c_str());
  q.bind(sender).bind(document_id);
  if (!q.ok()) return q.error("cannot read the inbox");
  if (q.step() != SQLITE_ROW) return std::optional<InboxRow>();
  return std::optional<InboxRow>(inbox_row(q));
}

Status Store::mark_handled(const std::string& id) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "UPDATE inbox SET handled = 1 WHERE id = ?");
  q.bind(id);
  return run(q, "cannot update the inbox");
}

Status Store::add_mail(const std::vector<MailboxRow>& rows, const std::string& package) {
  if (rows.empty()) return {};
  if (auto st = write_file_atomic(package_path(rows[0].package_id), package); !st) return st;
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  for (const auto& m : rows) {
    Stmt q(db_,
           "INSERT INTO mailbox (id, package_id, from_organ, to_organ, kind, status, created_at, "
           "from_system, to_system, title, notation, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    q.bind(m.id).bind(m.package_id).bind(m.from_organ).bind(m.to_organ).bind(m.kind).bind(m.status);
    q.bind(m.created_at).bind(m.from_system).bind(m.to_system).bind(m.title).bind(m.notation);
    q.bind(m.created_at);
    if (auto st = run(q, "cannot store the mail"); !st) return st;
  }
  return tx.commit();
}

namespace {
constexpr const char* kMailColumns =
    "id, package_id, from_organ, to_organ, kind, status, created_at, from_system, to_system, "
    "title, notation, updated_at";
MailboxRow mail_row(const Stmt& q) {
  return {q.text(0),    q.text(1), q.text(2), q.text(3), q.text(4),  q.text(5),
          q.integer(6), q.text(7), q.text(8), q.text(9), q.text(10), q.integer(11)};
}
}  // namespace

Result<std::vector<MailboxRow>> Store::mail_for(const std::string& to_system,
                                                const std::string& kind, int limit) {
  std::lock_guard lock(mutex_);
  const std::string sql = std::string("SELECT ") + kMailColumns +
                          " FROM mailbox WHERE to_system = ? AND kind = ? AND status IN ('new', "
                          "'processing') ORDER BY created_at, rowid LIMIT ?";
  Stmt q(db_, sql.c_str());
  q.bind(to_system).bind(kind).bind(static_cast<std::int64_t>(limit));
  if (!q.ok()) return q.error("cannot read the mailbox");
  std::vector<MailboxRow> out;
  while (q.step() == SQLITE_ROW) out.push_back(mail_row(q));
  return out;
}

Result<std::int64_t> Store::count_mail_for(const std::string& to_system, const std::string& kind) {
  std::lock_guard lock(mutex_);
  Stmt q(db_,
         "SELECT COUNT(*) FROM mailbox WHERE to_system = ? AND kind = ? AND status IN ('new', "
         "'processing')");
  q.bind(to_system).bind(kind);
  if (!q.ok() || q.step() != SQLITE_ROW) return q.error("cannot count the mailbox");
  return q.integer(0);
}

Result<std::vector<MailboxRow>> Store::sent_mail(const std::string& from_system,
                                                 const std::string& kind,
                                                 const std::string& package_id, int limit) {
  std::lock_guard lock(mutex_);
  const std::string sql =
      std::string("SELECT ") + kMailColumns +
      " FROM mailbox WHERE from_system = ? AND (? = '' OR kind = ?) AND (? = '' "
      "OR package_id = ?) ORDER BY created_at DESC, rowid DESC LIMIT ?";
  Stmt q(db_, sql.c_str());
  q.bind(from_system).bind(kind).bind(kind).bind(package_id).bind(package_id);
  q.bind(static_cast<std::int64_t>(limit));
  if (!q.ok()) return q.error("cannot read the mailbox");
  std::vector<MailboxRow> out;
  while (q.step() == SQLITE_ROW) out.push_back(mail_row(q));
  return out;
}

Result<std::optional<MailboxRow>> Store::mail(const std::string& id) {
  std::lock_guard lock(mutex_);
  const std::string sql = std::string("SELECT ") + kMailColumns + " FROM mailbox WHERE id = ?";
  Stmt q(db_, sql.c_str());
  q.bind(id);
  if (!q.ok()) return q.error("cannot read the mailbox");
  if (q.step() != SQLITE_ROW) return std::optional<MailboxRow>();
  return std::optional<MailboxRow>(mail_row(q));
}

Status Store::set_mail_status(const std::string& id, const std::string& status) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "UPDATE mailbox SET status = ?, updated_at = ? WHERE id = ?");
  q.bind(status).bind(now()).bind(id);
  return run(q, "cannot update the mailbox");
}

Result<std::vector<AgencyRow>> Store::agencies() {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "SELECT code, name, mail, pid, id FROM hub_agencies ORDER BY code");
  if (!q.ok()) return q.error("cannot read the agencies");
  std::vector<AgencyRow> out;
  while (q.step() == SQLITE_ROW)
    out.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.text(4)});
  return out;
}

Status Store::add_agency(const AgencyRow& a) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "INSERT OR REPLACE INTO hub_agencies (code, name, mail, pid, id) VALUES (?,?,?,?,?)");
  q.bind(a.code).bind(a.name).bind(a.mail).bind(a.pid).bind(a.id);
  return run(q, "cannot store the agency");
}

Result<bool> Store::delete_agency(const std::string& code) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "DELETE FROM hub_agencies WHERE code = ?");
  q.bind(code);
  if (auto st = run(q, "cannot delete the agency"); !st) return st.error();
  return sqlite3_changes(db_) > 0;
}

Result<std::vector<std::pair<std::string, std::int64_t>>> Store::counts() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::int64_t>> out;
  Stmt q(db_,
         "SELECT 'documents{status=\"' || status || '\"}', COUNT(*) FROM documents GROUP BY status "
         "UNION ALL SELECT 'queue_depth', COUNT(*) FROM recipients WHERE status = 'pending' "
         "UNION ALL SELECT 'inbox{verification=\"' || verification || '\"}', COUNT(*) FROM inbox "
         "GROUP BY verification "
         "UNION ALL SELECT 'hub_mailbox{status=\"' || status || '\"}', COUNT(*) FROM mailbox GROUP "
         "BY status");
  if (!q.ok()) return q.error("cannot count");
  while (q.step() == SQLITE_ROW) out.emplace_back(q.text(0), q.integer(1));
  return out;
}

Status Store::ping() {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "SELECT COUNT(*) FROM documents");
  return run(q, "the database does not answer");
}

}  // namespace edocgw::gateway
