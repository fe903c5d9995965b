#include "store/pg_connection.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cstring>
#include <utility>

namespace edocgw::store::pg {

namespace {

// Type OIDs of the catalog (pg_type.dat); stable across versions.
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;

// libpq's messages end in newlines and indent hints with tabs; a message of
// ours is one line.
std::string one_line(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// The start of a statement, for messages (never its parameters).
std::string abbreviate(const std::string& sql) {
  std::string s = one_line(sql);
  constexpr size_t kMax = 60;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(),
                    [](char a, char b) { return std::tolower(a) == std::tolower(b); });
}

bool contains_ci(std::string_view text, std::string_view word) {
  for (size_t i = 0; i + word.size() <= text.size(); ++i)
    if (starts_with_ci(text.substr(i), word)) return true;
  return false;
}

// libpq's reason why a DSN does not parse quotes the part it choked on,
// which may be a piece of the password: drop quoted parts when the DSN
// holds one (a password= keyword or a URI with user:password@).
std::string dsn_parse_reason(const std::string& dsn, const char* libpq_reason) {
  std::string reason = one_line(libpq_reason != nullptr ? libpq_reason : "");
  const bool uri = starts_with_ci(dsn, "postgresql://") || starts_with_ci(dsn, "postgres://");
  if (!contains_ci(dsn, "password") && !(uri && dsn.find('@') != std::string::npos)) return reason;
  std::string out;
  bool quoted = false;
  for (char c : reason) {
    if (c == '"') {
      if (!quoted) out += "\"(hidden)\"";
      quoted = !quoted;
      continue;
    }
    if (!quoted) out += c;
  }
  return out;
}

// "127.0.0.1:5432", or the socket when the host is a folder.
std::string describe_server(PGconn* conn) {
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  const std::string h = host != nullptr && *host != '\0' ? host : "(default host)";
  const std::string p = port != nullptr && *port != '\0' ? port : "5432";
  if (h.front() == '/' || h.front() == '@') return "socket " + h + "/.s.PGSQL." + p;
  return h + ":" + p;
}

std::string result_field(const PGresult* r, int field) {
  const char* v = r != nullptr ? PQresultErrorField(r, field) : nullptr;
  return v != nullptr ? v : "";
}

Errc errc_for(FailureKind kind, std::string_view sqlstate) {
  switch (kind) {
    case FailureKind::none:
      return Errc::ok;
    case FailureKind::retryable:
    case FailureKind::timeout:
    case FailureKind::connection_lost:
      return Errc::io;
    case FailureKind::unique_violation:
      return Errc::invalid;
    case FailureKind::other:
      break;
  }
  const std::string_view cls = sqlstate.substr(0, std::min<size_t>(2, sqlstate.size()));
  if (cls == "22" || cls == "23") return Errc::invalid;  // data exception, integrity
  if (cls == "25") return Errc::usage;                   // invalid transaction state
  // Insufficient resources (disk full), lock not available, operator
  // intervention, system error (I/O).
  if (cls == "53" || cls == "55" || cls == "57" || cls == "58") return Errc::io;
  return Errc::internal;
}

void drop_notice(void*, const char*) {}

}  // namespace

FailureKind classify_sqlstate(std::string_view s) {
  if (s == "23505") return FailureKind::unique_violation;
  if (s == "40001" || s == "40P01") return FailureKind::retryable;
  if (s == "57014") return FailureKind::timeout;
  if (s.substr(0, 2) == "08" || s == "57P01" || s == "57P02" || s == "57P03")
    return FailureKind::connection_lost;
  return FailureKind::other;
}

// ---- Param

Param Param::bytes(std::string_view raw) {
  Param p;
  p.view_ = raw;
  p.binary_ = true;
  return p;
}

Param Param::null() {
  Param p;
  p.null_ = true;
  return p;
}

// ---- Rows

Rows::~Rows() {
  if (result_ != nullptr) PQclear(result_);
}

Rows::Rows(Rows&& other) noexcept
    : result_(std::exchange(other.result_, nullptr)), format_(other.format_) {}

Rows& Rows::operator=(Rows&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
    format_ = other.format_;
  }
  return *this;
}

int Rows::rows() const {
  return result_ != nullptr ? PQntuples(result_) : 0;
}
int Rows::columns() const {
  return result_ != nullptr ? PQnfields(result_) : 0;
}
int Rows::column(const std::string& name) const {
  return result_ != nullptr ? PQfnumber(result_, name.c_str()) : -1;
}

std::uint64_t Rows::affected() const {
  if (result_ == nullptr) return 0;
  const std::string_view n = PQcmdTuples(result_);
  std::uint64_t v = 0;
  std::from_chars(n.data(), n.data() + n.size(), v);
  return v;
}

std::string_view Rows::command_tag() const {
  return result_ != nullptr ? PQcmdStatus(result_) : "";
}

bool Rows::in_range(int row, int col) const {
  const bool ok = row >= 0 && row < rows() && col >= 0 && col < columns();
  assert(ok && "Rows: row or column out of range");
  return ok;
}

std::string Rows::where(int row, int col) const {
  const char* name = PQfname(result_, col);
  return "row " + std::to_string(row) + ", column " + std::to_string(col) + " (" +
         (name != nullptr ? name : "?") + ")";
}

bool Rows::is_null(int row, int col) const {
  return !in_range(row, col) || PQgetisnull(result_, row, col) != 0;
}

std::string_view Rows::text(int row, int col) const {
  if (!in_range(row, col)) return {};
  return std::string_view(PQgetvalue(result_, row, col),
                          static_cast<size_t>(PQgetlength(result_, row, col)));
}

Result<std::string> Rows::bytes(int row, int col) const {
  if (!in_range(row, col))
    return make_error(Errc::internal, "bytes(): no row " + std::to_string(row) + ", column " +
                                          std::to_string(col) + " in the result");
  if (PQftype(result_, col) != kByteaOid)
    return make_error(Errc::internal, "bytes(): " + where(row, col) + " is of type oid " +
                                          std::to_string(PQftype(result_, col)) + ", not bytea");
  if (PQgetisnull(result_, row, col) != 0)
    return make_error(Errc::internal, "bytes(): " + where(row, col) + " is NULL");
  const std::string_view value = text(row, col);
  if (format_ == Format::binary) return std::string(value);
  size_t n = 0;
  unsigned char* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, col)), &n);
  if (raw == nullptr)
    return make_error(Errc::internal, "bytes(): " + where(row, col) + " is not bytea text");
  std::string out(reinterpret_cast<const char*>(raw), n);
  PQfreemem(raw);
  return out;
}

Result<std::int64_t> Rows::int64(int row, int col) const {
  if (!in_range(row, col))
    return make_error(Errc::internal, "int64(): no row " + std::to_string(row) + ", column " +
                                          std::to_string(col) + " in the result");
  const Oid type = PQftype(result_, col);
  if (type != kInt8Oid && type != kInt4Oid && type != kInt2Oid)
    return make_error(Errc::internal, "int64(): " + where(row, col) + " is of type oid " +
                                          std::to_string(type) + ", not an integer");
  if (PQgetisnull(result_, row, col) != 0)
    return make_error(Errc::internal, "int64(): " + where(row, col) + " is NULL");
  const std::string_view v = text(row, col);
  if (format_ == Format::binary) {
    // Network byte order, two's complement, as wide as its type.
    const size_t width = type == kInt8Oid ? 8 : type == kInt4Oid ? 4 : 2;
    if (v.size() != width)
      return make_error(Errc::internal, "int64(): " + where(row, col) + " holds " +
                                            std::to_string(v.size()) + " bytes, not " +
                                            std::to_string(width));
    std::uint64_t u = 0;
    for (char c : v) u = u << 8 | static_cast<unsigned char>(c);
    if (width == 8) return static_cast<std::int64_t>(u);
    if (width == 4) return static_cast<std::int64_t>(static_cast<std::int32_t>(u));
    return static_cast<std::int64_t>(static_cast<std::int16_t>(u));
  }
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size())
    return make_error(Errc::internal,
                      "int64(): " + where(row, col) + " is not an integer: " + std::string(v));
  return n;
}

// ---- Connection

void Connection::ConnDeleter::operator()(pg_conn* c) const {
  PQfinish(c);
}

Result<Connection> Connection::open(const std::string& dsn,
                                    std::chrono::milliseconds connect_timeout) {
  if (connect_timeout < std::chrono::seconds(1))
    return make_error(Errc::usage, "PostgreSQL connect timeout must be at least 1 s, not " +
                                       std::to_string(connect_timeout.count()) + " ms");
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &parse_error);
  if (parsed == nullptr) {
    const std::string reason = dsn_parse_reason(dsn, parse_error);
    PQfreemem(parse_error);
    return make_error(Errc::usage,
                      "the PostgreSQL DSN is not a connection string libpq reads: " + reason);
  }
  PQconninfoFree(parsed);

  // Keywords are applied in order: the defaults before the DSN (it may
  // override them), the timeout after it (it overrides the DSN's).
  const std::string seconds =
      std::to_string((connect_timeout.count() + 999) / 1000);  // whole seconds, rounded up
  const char* keywords[] = {
      "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
      "keepalives_count", "dbname",     "connect_timeout", nullptr};
  const char* values[] = {"edocgw", "1", "30", "10", "3", dsn.c_str(), seconds.c_str(), nullptr};
  Connection c;
  c.conn_.reset(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (!c.conn_) return make_error(Errc::io, "cannot connect to PostgreSQL: libpq is out of memory");
  c.server_ = describe_server(c.conn_.get());
  if (PQstatus(c.conn_.get()) != CONNECTION_OK) {
    const char* db = PQdb(c.conn_.get());
    const char* user = PQuser(c.conn_.get());
    return make_error(Errc::io, "cannot connect to PostgreSQL at " + c.server_ + " (database " +
                                    (db != nullptr ? db : "?") + ", user " +
                                    (user != nullptr ? user : "?") +
                                    "): " + one_line(PQerrorMessage(c.conn_.get())));
  }
  PQsetNoticeProcessor(c.conn_.get(), drop_notice, nullptr);
  return c;
}

Connection::~Connection() = default;
Connection::Connection(Connection&& other) noexcept = default;
Connection& Connection::operator=(Connection&& other) noexcept = default;

bool Connection::connected() const {
  return conn_ && PQstatus(conn_.get()) == CONNECTION_OK;
}

bool Connection::in_transaction() const {
  if (!conn_) return false;
  const PGTransactionStatusType t = PQtransactionStatus(conn_.get());
  return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

Result<Rows> Connection::exec(const std::string& sql, const std::vector<Param>& params,
                              Format format) {
  return run(sql, params, format, /*record=*/true);
}

Result<Rows> Connection::run(const std::string& sql, const std::vector<Param>& params,
                             Format format, bool record) {
  if (record) last_failure_ = Failure();
  if (!conn_) {
    if (record) last_failure_.kind = FailureKind::other;
    return make_error(Errc::usage,
                      "no PostgreSQL connection (this Connection was never opened "
                      "or was moved from)");
  }
  const size_t n = params.size();
  // Text values go NUL-terminated, as PQexecParams reads them.
  std::vector<std::string> texts;
  texts.reserve(n);
  std::vector<const char*> values(n, nullptr);
  std::vector<int> lengths(n, 0), formats(n, 0);
  std::vector<Oid> types(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const Param& p = params[i];
    if (p.is_null()) continue;
    const std::string_view v = p.value();
    if (p.is_binary()) {
      if (v.size() > static_cast<size_t>(INT32_MAX)) {
        if (record) last_failure_.kind = FailureKind::other;
        return make_error(Errc::usage, "parameter $" + std::to_string(i + 1) + " of `" +
                                           abbreviate(sql) + "` is above 2 GiB");
      }
      values[i] = v.data() != nullptr ? v.data() : "";  // a null pointer would mean NULL
      lengths[i] = static_cast<int>(v.size());
      formats[i] = 1;
      types[i] = kByteaOid;
      continue;
    }
    if (v.find('\0') != std::string_view::npos) {
      if (record) last_failure_.kind = FailureKind::other;
      return make_error(Errc::usage, "text parameter $" + std::to_string(i + 1) + " of `" +
                                         abbreviate(sql) +
                                         "` holds a NUL byte, which PostgreSQL text cannot; "
                                         "send bytes with Param::bytes");
    }
    texts.emplace_back(v);
    values[i] = texts.back().c_str();
  }
  PGresult* r =
      PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(n), types.data(), values.data(),
                   lengths.data(), formats.data(), format == Format::binary ? 1 : 0);
  const ExecStatusType status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY)
    return Rows(r, format);
  Failure failure;
  Error error = describe_failure(sql, r, failure);
  if (r != nullptr) PQclear(r);
  if (record) last_failure_ = std::move(failure);
  return error;
}

Error Connection::describe_failure(const std::string& sql, const PGresult* r, Failure& failure) {
  failure.sqlstate = result_field(r, PG_DIAG_SQLSTATE);
  failure.constraint = result_field(r, PG_DIAG_CONSTRAINT_NAME);
  if (PQstatus(conn_.get()) == CONNECTION_BAD) {
    failure.kind = FailureKind::connection_lost;
    std::string reason = one_line(PQerrorMessage(conn_.get()));
    while (!reason.empty() && reason.back() == '.') reason.pop_back();
    if (reason.empty()) reason = "libpq gave no reason";
    return make_error(Errc::io, "lost the connection to PostgreSQL at " + server_ + " (running `" +
                                    abbreviate(sql) + "`): " + reason +
                                    "; this connection is dead, open a new one");
  }
  failure.kind = classify_sqlstate(failure.sqlstate);
  std::string reason = result_field(r, PG_DIAG_MESSAGE_PRIMARY);
  if (reason.empty() && r != nullptr) reason = PQresultErrorMessage(r);
  if (reason.empty()) reason = PQerrorMessage(conn_.get());
  if (r != nullptr && (PQresultStatus(r) == PGRES_COPY_IN || PQresultStatus(r) == PGRES_COPY_OUT))
    reason = "COPY is not supported by exec()";
  reason = one_line(reason);
  if (!failure.sqlstate.empty()) reason += " (SQLSTATE " + failure.sqlstate + ")";
  return make_error(errc_for(failure.kind, failure.sqlstate),
                    "PostgreSQL at " + server_ + " refused `" + abbreviate(sql) + "`: " + reason);
}

Status Connection::ping() {
  auto r = run("SELECT 1", {}, Format::text, /*record=*/true);
  if (!r) return r.error();
  return Status::success();
}

Status Connection::set_statement_timeout(std::chrono::milliseconds timeout) {
  last_failure_ = Failure();
  if (timeout.count() < 0 || in_transaction()) {
    last_failure_.kind = FailureKind::other;
    return make_error(Errc::usage, timeout.count() < 0
                                       ? "a statement timeout cannot be negative"
                                       : "the statement timeout is set outside a transaction "
                                         "(its rollback would undo it)");
  }
  auto r = run("SELECT set_config('statement_timeout', $1, false)",
               {std::to_string(timeout.count())}, Format::text, /*record=*/true);
  if (!r) return r.error();
  return Status::success();
}

// ---- Transaction

Result<Transaction> Transaction::begin(Connection& connection, Isolation isolation) {
  if (connection.in_transaction()) {
    connection.last_failure_ = Failure();
    connection.last_failure_.kind = FailureKind::other;
    return make_error(Errc::usage, "BEGIN on a PostgreSQL connection already in a transaction");
  }
  std::string sql = "BEGIN ISOLATION LEVEL ";
  switch (isolation) {
    case Isolation::read_committed:
      sql += "READ COMMITTED";
      break;
    case Isolation::repeatable_read:
      sql += "REPEATABLE READ";
      break;
    case Isolation::serializable:
      sql += "SERIALIZABLE";
      break;
  }
  auto r = connection.run(sql, {}, Format::text, /*record=*/true);
  if (!r) return r.error();
  return Transaction(connection);
}

Transaction::Transaction(Transaction&& other) noexcept
    : connection_(std::exchange(other.connection_, nullptr)) {}

Transaction::~Transaction() {
  if (connection_ == nullptr) return;
  // A dead connection fails at once; the server rolls back on its own then.
  (void)connection_->run("ROLLBACK", {}, Format::text, /*record=*/false);
}

Status Transaction::commit() {
  Connection* c = std::exchange(connection_, nullptr);
  if (c == nullptr) return make_error(Errc::usage, "COMMIT of a transaction already ended");
  auto r = c->run("COMMIT", {}, Format::text, /*record=*/true);
  if (!r) return r.error();
  // The server ends a failed transaction with ROLLBACK, even when told COMMIT.
  if (r->command_tag() == "ROLLBACK") {
    c->last_failure_.kind = FailureKind::other;
    return make_error(Errc::usage, "PostgreSQL at " + c->server() +
                                       " rolled the transaction back instead of committing it: a "
                                       "statement in it had failed");
  }
  return Status::success();
}

Status Transaction::rollback() {
  Connection* c = std::exchange(connection_, nullptr);
  if (c == nullptr) return make_error(Errc::usage, "ROLLBACK of a transaction already ended");
  auto r = c->run("ROLLBACK", {}, Format::text, /*record=*/true);
  if (!r) return r.error();
  return Status::success();
}

}  // namespace edocgw::store::pg
