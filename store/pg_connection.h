// store/pg_connection.h: a small RAII wrapper over libpq, the ground the
// PostgreSQL storage engine stands on (issue 10). No ORM: SQL text, $N
// parameters, rows of values.
//
// Contract
// - Thread safety: a Connection belongs to one thread at a time and is never
//   shared; give each thread (or each worker of a pool) its own. It may be
//   moved to another thread between calls. Rows own their PGresult and are
//   plain values: they outlive the Connection and may be read from any
//   thread, by one thread at a time. A Transaction is used on the thread of
//   its Connection.
// - Errors: every call returns a Result or a Status; nothing throws (but
//   std::bad_alloc). Errc::usage for a call the wrapper refuses (a DSN that
//   does not parse, a NUL byte in a text parameter, BEGIN inside a
//   transaction); Errc::io when the server cannot be reached or goes away,
//   for a serialization failure or a deadlock (run the transaction again)
//   and for a statement timeout; Errc::invalid when the server judged the
//   data (a constraint, a bad value); Errc::internal for everything else,
//   which is our bug (bad SQL, a missing table, a column read as the wrong
//   type). Messages name the server (host and port, or the socket) and
//   libpq's or the server's reason and SQLSTATE; never the password.
//   After a failed call, last_failure() tells the kinds a caller acts on
//   apart: a duplicate key (the row is there: an answer, not an outage), a
//   transaction to retry, a timeout, a lost connection.
// - A lost connection is not reopened: every later call fails with
//   Errc::io and FailureKind::connection_lost; the owner opens a new one.
// - Timeouts: open() gives up after connect_timeout (libpq's connect_timeout,
//   whole seconds, at least 2, per address tried); a server that stops
//   answering mid-statement on a live network is bounded by TCP keepalives
//   (idle 30 s, then 3 probes 10 s apart, unless the DSN sets its own);
//   set_statement_timeout() bounds each statement on the server side.
// - Server notices (WARNING, NOTICE) are dropped, not printed to stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

struct pg_conn;
struct pg_result;

namespace edocgw::store::pg {

// What a failed call met, for callers that act on it. FailureKind::none
// after a call that succeeded.
enum class FailureKind {
  none,
  unique_violation,  // SQLSTATE 23505: a row with that key exists (Errc::invalid)
  retryable,         // 40001 serialization failure, 40P01 deadlock: the transaction was
                     // rolled back; run it again from BEGIN (Errc::io)
  timeout,           // 57014: the statement timeout (or a cancel) stopped it (Errc::io)
  connection_lost,   // the server cannot be reached or went away; the Connection is
                     // dead (Errc::io)
  other,             // any other failure; the Errc says what it is
};

struct Failure {
  FailureKind kind = FailureKind::none;
  std::string sqlstate;    // the server's five-character code, empty when it sent none
  std::string constraint;  // the constraint a violation names (unique index), if any
};

// The kind of failure a SQLSTATE stands for (connection classes 08 and
// 57P01-57P03 are connection_lost).
FailureKind classify_sqlstate(std::string_view sqlstate);

// One $N parameter of exec(). Text parameters (strings, integers) are sent
// in text form and the server infers their type; bytes() sends raw bytes in
// binary form as bytea (a package's bytes, NULs included, no escaping). A
// Param made from a string lvalue, string_view or C string only points at
// it: keep it alive until exec() returns. One made from an rvalue string or
// an integer owns its text. A null C string is SQL NULL, like Param::null().
class Param {
 public:
  Param(std::string_view text) : view_(text) {}  // NOLINT: implicit on purpose
  Param(const char* text) : view_(text != nullptr ? text : ""), null_(text == nullptr) {}  // NOLINT
  Param(const std::string& text) : view_(text) {}                                          // NOLINT
  Param(std::string&& text) : owned_(std::move(text)), owns_(true) {}                      // NOLINT
  Param(int n) : Param(static_cast<std::int64_t>(n)) {}                                    // NOLINT
  Param(std::int64_t n) : owned_(std::to_string(n)), owns_(true) {}                        // NOLINT
  static Param bytes(std::string_view raw);
  static Param null();

  bool is_null() const { return null_; }
  bool is_binary() const { return binary_; }
  std::string_view value() const { return owns_ ? std::string_view(owned_) : view_; }

 private:
  Param() = default;
  std::string owned_;
  std::string_view view_;
  bool owns_ = false;
  bool null_ = false;
  bool binary_ = false;
};

// How the server sends result values. Text: every value as PostgreSQL
// prints it (bytea as \x hex). Binary: bytea as its raw bytes, integers as
// big-endian; use it for reading package bytes.
enum class Format { text, binary };

// The rows of one statement: RAII over a PGresult. Row and column numbers
// start at 0; a number out of range is a bug (asserted; an empty or NULL
// value in release builds).
class Rows {
 public:
  Rows() = default;
  ~Rows();
  Rows(Rows&& other) noexcept;
  Rows& operator=(Rows&& other) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int rows() const;
  int columns() const;
  // The column named `name` (as the statement names it), or -1.
  int column(const std::string& name) const;
  // Rows an INSERT, UPDATE, DELETE (or SELECT) touched: PQcmdTuples.
  std::uint64_t affected() const;
  // The command tag: "INSERT 0 1", "SELECT 3", "COMMIT", "ROLLBACK".
  std::string_view command_tag() const;
  Format format() const { return format_; }

  bool is_null(int row, int col) const;
  // The value's bytes as sent: text in text results (empty for NULL); in
  // binary results the binary form (raw bytes for text and bytea columns).
  std::string_view text(int row, int col) const;
  // A bytea value: the raw bytes in binary results, the \x hex form decoded
  // in text results. Errc::internal for NULL or a value that is not bytea.
  Result<std::string> bytes(int row, int col) const;
  // An integer (int2, int4, int8) value, in either format. Errc::internal
  // for NULL or a value that is not an integer.
  Result<std::int64_t> int64(int row, int col) const;

 private:
  friend class Connection;
  Rows(pg_result* result, Format format) : result_(result), format_(format) {}
  bool in_range(int row, int col) const;
  std::string where(int row, int col) const;

  pg_result* result_ = nullptr;
  Format format_ = Format::text;
};

class Connection {
 public:
  // Connects to the server the DSN names ("host=... port=... dbname=...
  // user=... password=..." or "postgresql://..."), waiting at most
  // connect_timeout (rounded up to whole seconds, at least 2: libpq's rule;
  // it overrides a connect_timeout in the DSN). Errc::usage for a DSN that
  // does not parse or a timeout below 1 s; Errc::io when the server cannot
  // be reached or refuses us (the message names the host and port or the
  // socket, and libpq's reason).
  static Result<Connection> open(const std::string& dsn, std::chrono::milliseconds connect_timeout);

  Connection() = default;  // not connected: every call fails with Errc::usage
  ~Connection();
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement (no `;`-separated lists, no COPY) with $1..$N bound to
  // `params`, through PQexecParams. Results come in `format`. A statement
  // that fails inside a transaction leaves it failed: every later one fails
  // until the transaction ends (the Transaction rolls it back).
  Result<Rows> exec(const std::string& sql, const std::vector<Param>& params = {},
                    Format format = Format::text);

  // SELECT 1: Errc::io (connection_lost) when the server is gone.
  Status ping();
  // Sets the session's statement_timeout (0: none). Refused (Errc::usage)
  // inside a transaction, whose rollback would undo it.
  Status set_statement_timeout(std::chrono::milliseconds timeout);

  // What the last call met (exec, ping, set_statement_timeout, and the
  // BEGIN/COMMIT/ROLLBACK of a Transaction). A Transaction's rollback on
  // destruction leaves it as it was, so a caller may check it after the
  // failed call's scope.
  const Failure& last_failure() const { return last_failure_; }
  // The connection is up as far as libpq knows (it learns of a loss at the
  // next call).
  bool connected() const;
  // BEGIN has run and neither COMMIT nor ROLLBACK yet.
  bool in_transaction() const;
  // The server, for messages: "127.0.0.1:5432" or "socket /run/x/.s.PGSQL.5432".
  const std::string& server() const { return server_; }

 private:
  friend class Transaction;
  // Runs `sql` and records its failure in last_failure_ unless `record` is
  // false (the Transaction destructor's rollback).
  Result<Rows> run(const std::string& sql, const std::vector<Param>& params, Format format,
                   bool record);
  // The error for a statement that did not succeed; fills `failure`.
  Error describe_failure(const std::string& sql, const pg_result* result, Failure& failure);

  struct ConnDeleter {
    void operator()(pg_conn* c) const;
  };
  std::unique_ptr<pg_conn, ConnDeleter> conn_;
  std::string server_;
  Failure last_failure_;
};

enum class Isolation { read_committed, repeatable_read, serializable };

// BEGIN now; COMMIT by commit(); ROLLBACK by rollback() or, unless one of
// them ran, by the destructor (whose error, on a lost connection, is
// dropped: the server rolls back a transaction whose connection is gone).
// It points at its Connection: do not move or destroy the Connection while
// the Transaction lives.
class Transaction {
 public:
  // Errc::usage when `connection` is already in a transaction.
  static Result<Transaction> begin(Connection& connection,
                                   Isolation isolation = Isolation::read_committed);
  ~Transaction();
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // COMMIT. A transaction in which a statement failed does not commit: the
  // server answers ROLLBACK, and commit() returns Errc::usage (the failed
  // statement had returned its own error). A serialization failure found at
  // COMMIT is Errc::io with FailureKind::retryable. After commit(), whatever
  // it returned, the transaction is over.
  Status commit();
  Status rollback();
  // commit() or rollback() has not run yet.
  bool active() const { return connection_ != nullptr; }

 private:
  explicit Transaction(Connection& connection) : connection_(&connection) {}
  Connection* connection_ = nullptr;
};

}  // namespace edocgw::store::pg
