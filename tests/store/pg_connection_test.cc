// The libpq wrapper against a real PostgreSQL 15 server: text and bytea
// parameters (NUL bytes, 1 MB) come back as sent in both result formats; a
// duplicate key, a serialization failure and a statement timeout are told
// apart from other failures; a Transaction not committed leaves nothing;
// two connections leasing with FOR UPDATE SKIP LOCKED never get the same
// row; and a bad DSN, an unreachable or silent server, a server stopped
// or killed mid-use give clear errors without a crash or a hang.
#define BOOST_TEST_MODULE pg_connection
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/pg_connection.h"
#include "tests/support/postgres_server.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace std::chrono_literals;
namespace pg = edocgw::store::pg;
using pg::FailureKind;
using pg::Param;

namespace {

// One server for every test (a server takes seconds to make); each test
// takes a database of its own. The tests that stop or kill it start it
// again, and it is started here if one of them failed before that.
test::PostgresServer& shared_server() {
  static test::PostgresServer server;
  if (!server.running()) server.start();
  return server;
}

std::string fresh_database() {
  static int n = 0;
  return shared_server().create_database("t" + std::to_string(++n));
}

template <class T>
std::string error_of(const Result<T>& r) {
  return r.ok() ? "(succeeded)" : r.error().message;
}
std::string error_of(const Status& s) {
  return s.ok() ? "(succeeded)" : s.error().message;
}

pg::Connection connect(const std::string& dsn) {
  auto c = pg::Connection::open(dsn, 5s);
  BOOST_REQUIRE_MESSAGE(c.ok(), error_of(c));
  return std::move(*c);
}

pg::Rows must(pg::Connection& c, const std::string& sql, const std::vector<Param>& params = {},
              pg::Format format = pg::Format::text) {
  auto r = c.exec(sql, params, format);
  BOOST_REQUIRE_MESSAGE(r.ok(), error_of(r));
  return std::move(*r);
}

std::int64_t count(pg::Connection& c, const std::string& table) {
  auto rows = must(c, "SELECT count(*) FROM " + table);
  auto n = rows.int64(0, 0);
  BOOST_REQUIRE_MESSAGE(n.ok(), error_of(n));
  return *n;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen() & 0xFF);
  return out;
}

// A loopback port that takes TCP connections (the kernel completes them)
// and never answers: a server that hangs.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace

BOOST_AUTO_TEST_CASE(text_and_bytea_parameters_come_back_as_sent_in_both_formats) {
  auto c = connect(fresh_database());
  must(c,
       "CREATE TABLE docs (id text PRIMARY KEY, body bytea, n bigint, small integer, "
       "tiny smallint, note text)");
  std::string with_nuls("\0\0edXML\0\xED\xFF\0", 11);
  for (int b = 0; b < 256; ++b) with_nuls += static_cast<char>(b);
  const std::string megabyte = random_bytes(1 << 20, 7);
  const std::string id = "Văn bản số 125/UBND-VP – Hướng Hóa";
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

  must(c, "INSERT INTO docs VALUES ($1, $2, $3, $4, $5, $6)",
       {id, Param::bytes(with_nuls), kMin, -7, -2, Param::null()});
  must(c, "INSERT INTO docs VALUES ($1, $2, $3, $4, $5, $6)",
       {std::string("mb"), Param::bytes(megabyte), kMax, 2147483647, 32767, "ghi chú"});
  must(c, "INSERT INTO docs (id, body) VALUES ('empty', $1)", {Param::bytes("")});

  for (pg::Format format : {pg::Format::binary, pg::Format::text}) {
    BOOST_TEST_CONTEXT((format == pg::Format::binary ? "binary results" : "text results")) {
      auto rows = must(c, "SELECT id, body, n, small, tiny, note FROM docs ORDER BY n NULLS LAST",
                       {}, format);
      BOOST_REQUIRE_EQUAL(rows.rows(), 3);
      BOOST_TEST((rows.format() == format));
      BOOST_TEST(rows.column("note") == 5);
      BOOST_TEST(rows.column("nope") == -1);

      BOOST_TEST(rows.text(0, 0) == id);
      auto body = rows.bytes(0, 1);
      BOOST_REQUIRE_MESSAGE(body.ok(), error_of(body));
      BOOST_TEST((*body == with_nuls));
      BOOST_TEST(*rows.int64(0, 2) == kMin);
      BOOST_TEST(*rows.int64(0, 3) == -7);
      BOOST_TEST(*rows.int64(0, 4) == -2);
      BOOST_TEST(rows.is_null(0, 5));
      BOOST_TEST(!rows.is_null(0, 4));

      body = rows.bytes(1, 1);
      BOOST_REQUIRE_MESSAGE(body.ok(), error_of(body));
      BOOST_TEST(body->size() == megabyte.size());
      BOOST_TEST((*body == megabyte));
      BOOST_TEST(*rows.int64(1, 2) == kMax);
      BOOST_TEST(*rows.int64(1, 3) == 2147483647);
      BOOST_TEST(*rows.int64(1, 4) == 32767);
      BOOST_TEST(rows.text(1, 5) == "ghi chú");

      BOOST_TEST(!rows.is_null(2, 1));  // empty bytes, not NULL
      BOOST_TEST(rows.bytes(2, 1)->empty());
      BOOST_TEST(rows.is_null(2, 2));

      // Reading a column as the wrong type, or a NULL, is refused.
      BOOST_TEST(rows.int64(0, 0).error().code == Errc::internal);
      BOOST_TEST(rows.bytes(0, 2).error().code == Errc::internal);
      BOOST_TEST(contains(rows.int64(2, 2).error().message, "NULL"));
    }
  }
  // A bytes parameter is typed bytea even where nothing else says so.
  auto echoed = must(c, "SELECT $1", {Param::bytes(with_nuls)}, pg::Format::binary);
  BOOST_TEST((*echoed.bytes(0, 0) == with_nuls));
  BOOST_TEST(must(c, "UPDATE docs SET note = $1 WHERE n IS NOT NULL", {"x"}).affected() == 2u);

  // A NUL byte in a text parameter would be cut short silently: refused.
  auto nul = c.exec("SELECT $1::text", {std::string_view("a\0b", 3)});
  BOOST_REQUIRE(!nul.ok());
  BOOST_TEST((nul.error().code == Errc::usage));
  BOOST_TEST(contains(nul.error().message, "$1"), nul.error().message);
  BOOST_TEST(c.ping().ok());
}

BOOST_AUTO_TEST_CASE(a_duplicate_key_is_told_apart_from_other_failures) {
  auto c = connect(fresh_database());
  must(c, "CREATE TABLE packages (id text PRIMARY KEY, body bytea NOT NULL)");
  must(c, "INSERT INTO packages VALUES ($1, $2)", {"P-1", Param::bytes("one")});
  BOOST_TEST((c.last_failure().kind == FailureKind::none));

  auto again = c.exec("INSERT INTO packages VALUES ($1, $2)", {"P-1", Param::bytes("two")});
  BOOST_REQUIRE(!again.ok());
  BOOST_TEST((again.error().code == Errc::invalid));
  BOOST_TEST((c.last_failure().kind == FailureKind::unique_violation));
  BOOST_TEST(c.last_failure().sqlstate == "23505");
  BOOST_TEST(c.last_failure().constraint == "packages_pkey");
  BOOST_TEST(contains(again.error().message, "packages_pkey"), again.error().message);
  BOOST_TEST(contains(again.error().message, "SQLSTATE 23505"), again.error().message);
  BOOST_TEST(contains(again.error().message, c.server()), again.error().message);
  BOOST_TEST(!contains(again.error().message, "two"), again.error().message);  // no parameters

  // Another constraint is invalid data, but not a duplicate.
  auto null_body = c.exec("INSERT INTO packages VALUES ($1, NULL)", {"P-2"});
  BOOST_REQUIRE(!null_body.ok());
  BOOST_TEST((null_body.error().code == Errc::invalid));
  BOOST_TEST((c.last_failure().kind == FailureKind::other));
  BOOST_TEST(c.last_failure().sqlstate == "23502");

  // Bad SQL is our bug.
  auto typo = c.exec("SELEC 1");
  BOOST_REQUIRE(!typo.ok());
  BOOST_TEST((typo.error().code == Errc::internal));
  BOOST_TEST((c.last_failure().kind == FailureKind::other));

  BOOST_TEST(c.ping().ok());
  BOOST_TEST((c.last_failure().kind == FailureKind::none));
  BOOST_TEST(count(c, "packages") == 1);
}

BOOST_AUTO_TEST_CASE(a_serialization_failure_is_retryable) {
  const std::string dsn = fresh_database();
  auto a = connect(dsn), b = connect(dsn);
  must(a, "CREATE TABLE counters (id int PRIMARY KEY, n int)");
  must(a, "INSERT INTO counters VALUES (1, 0)");
  auto ta = pg::Transaction::begin(a, pg::Isolation::repeatable_read);
  auto tb = pg::Transaction::begin(b, pg::Isolation::repeatable_read);
  BOOST_REQUIRE(ta.ok() && tb.ok());
  must(a, "SELECT n FROM counters WHERE id = 1");
  must(b, "SELECT n FROM counters WHERE id = 1");  // b's snapshot predates a's update
  must(a, "UPDATE counters SET n = n + 1 WHERE id = 1");
  BOOST_REQUIRE_MESSAGE(ta->commit().ok(), error_of(a.ping()));
  auto lost_update = b.exec("UPDATE counters SET n = n + 1 WHERE id = 1");
  BOOST_REQUIRE(!lost_update.ok());
  BOOST_TEST((lost_update.error().code == Errc::io));
  BOOST_TEST((b.last_failure().kind == FailureKind::retryable));
  BOOST_TEST(b.last_failure().sqlstate == "40001");
  // The failed transaction does not commit, and says so.
  const Status commit = tb->commit();
  BOOST_REQUIRE(!commit.ok());
  BOOST_TEST((commit.error().code == Errc::usage));
  BOOST_TEST(contains(commit.error().message, "rolled the transaction back"),
             commit.error().message);
  BOOST_TEST(!b.in_transaction());
  BOOST_TEST(*must(b, "SELECT n FROM counters").int64(0, 0) == 1);
}

BOOST_AUTO_TEST_CASE(a_transaction_not_committed_leaves_nothing) {
  const std::string dsn = fresh_database();
  auto c = connect(dsn), other = connect(dsn);
  must(c, "CREATE TABLE t (id int PRIMARY KEY)");
  {
    auto tx = pg::Transaction::begin(c);
    BOOST_REQUIRE_MESSAGE(tx.ok(), error_of(tx));
    BOOST_TEST(c.in_transaction());
    for (int i = 1; i <= 3; ++i) must(c, "INSERT INTO t VALUES ($1)", {i});
    BOOST_TEST(count(c, "t") == 3);      // seen inside
    BOOST_TEST(count(other, "t") == 0);  // not outside
    auto nested = pg::Transaction::begin(c);
    BOOST_REQUIRE(!nested.ok());
    BOOST_TEST((nested.error().code == Errc::usage));
    const Status inside = c.set_statement_timeout(1s);
    BOOST_TEST((inside.error().code == Errc::usage));
  }  // destroyed: ROLLBACK
  BOOST_TEST(!c.in_transaction());
  BOOST_TEST(count(c, "t") == 0);
  BOOST_TEST(count(other, "t") == 0);

  {
    auto tx = pg::Transaction::begin(c);
    BOOST_REQUIRE(tx.ok());
    must(c, "INSERT INTO t VALUES (10)");
    BOOST_REQUIRE(tx->rollback().ok());
    BOOST_TEST(!tx->active());
    BOOST_TEST((tx->commit().error().code == Errc::usage));  // over already
  }
  BOOST_TEST(count(other, "t") == 0);

  // A duplicate inside a transaction: the destructor's rollback keeps the
  // failure for the caller to read.
  must(other, "INSERT INTO t VALUES (7)");
  {
    auto tx = pg::Transaction::begin(c);
    BOOST_REQUIRE(tx.ok());
    must(c, "INSERT INTO t VALUES (8)");
    BOOST_TEST(!c.exec("INSERT INTO t VALUES (7)").ok());
  }
  BOOST_TEST((c.last_failure().kind == FailureKind::unique_violation));
  BOOST_TEST(!c.in_transaction());
  BOOST_TEST(count(other, "t") == 1);  // 8 went with the rollback

  {
    auto tx = pg::Transaction::begin(c, pg::Isolation::serializable);
    BOOST_REQUIRE(tx.ok());
    must(c, "INSERT INTO t VALUES (9)");
    const Status committed = tx->commit();
    BOOST_REQUIRE_MESSAGE(committed.ok(), error_of(committed));
  }
  BOOST_TEST(count(other, "t") == 2);
}

BOOST_AUTO_TEST_CASE(two_connections_leasing_with_skip_locked_never_get_the_same_row) {
  const std::string dsn = fresh_database();
  auto setup = connect(dsn);
  must(setup, "CREATE TABLE jobs (id int PRIMARY KEY, leased_by text, leases int NOT NULL)");
  must(setup, "INSERT INTO jobs SELECT g, NULL, 0 FROM generate_series(1, 300) g");
  const std::string lease =
      "SELECT id FROM jobs WHERE leased_by IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";

  // Held leases: the second connection skips the first one's rows, at once.
  {
    auto a = connect(dsn), b = connect(dsn);
    BOOST_REQUIRE(b.set_statement_timeout(2s).ok());  // a lock wait fails instead of hanging
    auto ta = pg::Transaction::begin(a);
    auto tb = pg::Transaction::begin(b);
    BOOST_REQUIRE(ta.ok() && tb.ok());
    auto rows_a = must(a, lease, {4});
    auto rows_b = must(b, lease, {4});
    BOOST_REQUIRE_EQUAL(rows_a.rows(), 4);
    BOOST_REQUIRE_EQUAL(rows_b.rows(), 4);
    std::set<std::int64_t> ids;
    for (int i = 0; i < 4; ++i) {
      ids.insert(*rows_a.int64(i, 0));
      ids.insert(*rows_b.int64(i, 0));
    }
    BOOST_TEST(ids.size() == 8u);
  }

  // Two workers lease every row one at a time, racing.
  std::vector<std::int64_t> got[2];
  std::string failures[2];
  auto worker = [&](int w) {
    auto c = pg::Connection::open(dsn, 5s);
    if (!c) {
      failures[w] = c.error().message;
      return;
    }
    for (;;) {
      auto tx = pg::Transaction::begin(*c);
      auto rows = tx ? c->exec(lease, {1}) : Result<pg::Rows>(tx.error());
      if (!rows) {
        failures[w] = rows.error().message;
        return;
      }
      if (rows->rows() == 0) return;
      const std::int64_t id = *rows->int64(0, 0);
      auto update = c->exec("UPDATE jobs SET leased_by = $1, leases = leases + 1 WHERE id = $2",
                            {"worker " + std::to_string(w), id});
      const Status committed = update ? tx->commit() : Status(update.error());
      if (!committed) {
        failures[w] = committed.error().message;
        return;
      }
      got[w].push_back(id);
    }
  };
  std::thread t0(worker, 0), t1(worker, 1);
  t0.join();
  t1.join();
  BOOST_TEST(failures[0] == "");
  BOOST_TEST(failures[1] == "");
  std::set<std::int64_t> all(got[0].begin(), got[0].end());
  all.insert(got[1].begin(), got[1].end());
  BOOST_TEST(got[0].size() + got[1].size() == 300u);
  BOOST_TEST(all.size() == 300u);  // no row twice
  BOOST_TEST(*must(setup, "SELECT max(leases) FROM jobs").int64(0, 0) == 1);
  BOOST_TEST_MESSAGE("leases: " << got[0].size() << " and " << got[1].size());
}

BOOST_AUTO_TEST_CASE(a_bad_dsn_or_an_unreachable_server_gives_a_clear_error_without_the_password) {
  auto& server = shared_server();

  auto unparsable = pg::Connection::open("host=127.0.0.1 port", 5s);
  BOOST_REQUIRE(!unparsable.ok());
  BOOST_TEST((unparsable.error().code == Errc::usage));
  BOOST_TEST(contains(unparsable.error().message, "DSN"), unparsable.error().message);

  // libpq would quote the word it choked on: here a piece of the password.
  auto spaced = pg::Connection::open("host=127.0.0.1 password=s3cret pw0rd", 5s);
  BOOST_REQUIRE(!spaced.ok());
  BOOST_TEST((spaced.error().code == Errc::usage));
  BOOST_TEST(!contains(spaced.error().message, "pw0rd"), spaced.error().message);
  BOOST_TEST(!contains(spaced.error().message, "s3cret"), spaced.error().message);

  auto no_db = pg::Connection::open(server.dsn("no_such_db") + " password=s3cretpw", 5s);
  BOOST_REQUIRE(!no_db.ok());
  BOOST_TEST((no_db.error().code == Errc::io));
  BOOST_TEST(contains(no_db.error().message, "127.0.0.1:" + std::to_string(server.port())),
             no_db.error().message);
  BOOST_TEST(contains(no_db.error().message, "\"no_such_db\" does not exist"),
             no_db.error().message);
  BOOST_TEST(!contains(no_db.error().message, "s3cretpw"), no_db.error().message);

  const int closed = test::free_port();
  auto start = std::chrono::steady_clock::now();
  auto refused = pg::Connection::open(
      "postgresql://postgres:s3cretpw@127.0.0.1:" + std::to_string(closed) + "/x", 5s);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.error().code == Errc::io));
  BOOST_TEST(contains(refused.error().message, "127.0.0.1:" + std::to_string(closed)),
             refused.error().message);
  BOOST_TEST(contains(refused.error().message, "refused"), refused.error().message);
  BOOST_TEST(!contains(refused.error().message, "s3cretpw"), refused.error().message);
  BOOST_TEST(seconds_since(start) < 2.0);

  auto no_socket = pg::Connection::open("host=/nonexistent/pg dbname=x", 5s);
  BOOST_REQUIRE(!no_socket.ok());
  BOOST_TEST(contains(no_socket.error().message, "socket /nonexistent/pg/.s.PGSQL.5432"),
             no_socket.error().message);

  // A server that takes the connection and never answers: connect_timeout.
  SilentListener silent;
  start = std::chrono::steady_clock::now();
  auto hung = pg::Connection::open(
      "host=127.0.0.1 port=" + std::to_string(silent.port()) + " connect_timeout=600", 2s);
  const double took = seconds_since(start);
  BOOST_REQUIRE(!hung.ok());
  BOOST_TEST((hung.error().code == Errc::io));
  BOOST_TEST(contains(hung.error().message, "timeout"), hung.error().message);
  BOOST_TEST(took >= 1.5);
  BOOST_TEST(took < 6.0);

  BOOST_TEST((pg::Connection::open(server.dsn(), 500ms).error().code == Errc::usage));
  pg::Connection never_opened;
  BOOST_TEST((never_opened.exec("SELECT 1").error().code == Errc::usage));
  BOOST_TEST(!never_opened.connected());
}

BOOST_AUTO_TEST_CASE(a_statement_timeout_stops_a_long_statement_and_a_lock_wait) {
  const std::string dsn = fresh_database();
  auto c = connect(dsn), holder = connect(dsn);
  BOOST_REQUIRE(c.set_statement_timeout(300ms).ok());
  auto start = std::chrono::steady_clock::now();
  auto slow = c.exec("SELECT pg_sleep(10)");
  BOOST_REQUIRE(!slow.ok());
  BOOST_TEST(seconds_since(start) < 3.0);
  BOOST_TEST((slow.error().code == Errc::io));
  BOOST_TEST((c.last_failure().kind == FailureKind::timeout));
  BOOST_TEST(c.last_failure().sqlstate == "57014");
  BOOST_TEST(contains(slow.error().message, "statement timeout"), slow.error().message);
  BOOST_TEST(c.ping().ok());  // the connection lives on

  must(c, "CREATE TABLE t (id int PRIMARY KEY, n int)");
  must(c, "INSERT INTO t VALUES (1, 0)");
  auto tx = pg::Transaction::begin(holder);
  BOOST_REQUIRE(tx.ok());
  must(holder, "UPDATE t SET n = 1 WHERE id = 1");
  start = std::chrono::steady_clock::now();
  auto blocked = c.exec("UPDATE t SET n = 2 WHERE id = 1");
  BOOST_REQUIRE(!blocked.ok());
  BOOST_TEST(seconds_since(start) < 3.0);
  BOOST_TEST((c.last_failure().kind == FailureKind::timeout));

  BOOST_REQUIRE(c.set_statement_timeout(0ms).ok());  // none
  BOOST_TEST(c.exec("SELECT pg_sleep(0.5)").ok());
  BOOST_TEST((c.set_statement_timeout(-1ms).error().code == Errc::usage));
}

BOOST_AUTO_TEST_CASE(a_server_stopped_mid_use_gives_a_clear_error_and_no_hang) {
  auto& server = shared_server();
  const std::string dsn = fresh_database();
  auto c = connect(dsn);
  must(c, "CREATE TABLE t (id int PRIMARY KEY)");
  must(c, "INSERT INTO t VALUES (1)");
  BOOST_REQUIRE(c.ping().ok());
  auto tx = pg::Transaction::begin(c);
  BOOST_REQUIRE(tx.ok());
  must(c, "INSERT INTO t VALUES (2)");

  server.stop();
  BOOST_REQUIRE(!server.running());
  auto start = std::chrono::steady_clock::now();
  auto r = c.exec("INSERT INTO t VALUES (3)");
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(seconds_since(start) < 2.0);
  BOOST_TEST((r.error().code == Errc::io));
  BOOST_TEST((c.last_failure().kind == FailureKind::connection_lost));
  BOOST_TEST(contains(r.error().message, "lost the connection"), r.error().message);
  BOOST_TEST(contains(r.error().message, "127.0.0.1:" + std::to_string(server.port())),
             r.error().message);
  BOOST_TEST(!c.connected());
  const Status commit = tx->commit();  // no crash, no hang
  BOOST_TEST((commit.error().code == Errc::io));
  BOOST_TEST((c.ping().error().code == Errc::io));
  BOOST_TEST((c.last_failure().kind == FailureKind::connection_lost));

  start = std::chrono::steady_clock::now();
  auto refused = pg::Connection::open(dsn, 5s);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.error().code == Errc::io));
  BOOST_TEST(seconds_since(start) < 2.0);

  server.start();
  auto again = connect(dsn);
  auto ids = must(again, "SELECT id FROM t ORDER BY id");
  BOOST_REQUIRE_EQUAL(ids.rows(), 1);  // 2 was never committed
  BOOST_TEST(*ids.int64(0, 0) == 1);
}

BOOST_AUTO_TEST_CASE(a_killed_server_restarts_with_what_was_committed) {
  auto& server = shared_server();
  const std::string dsn = fresh_database();
  auto c = connect(dsn), writer = connect(dsn);
  must(c, "CREATE TABLE t (id int PRIMARY KEY, body bytea)");
  must(c, "INSERT INTO t VALUES (1, $1)", {Param::bytes(random_bytes(100000, 1))});
  auto tx = pg::Transaction::begin(writer);
  BOOST_REQUIRE(tx.ok());
  must(writer, "INSERT INTO t VALUES (2, NULL)");

  const int pid = server.postmaster_pid();
  BOOST_REQUIRE(pid > 0);
  const size_t log_before = server.log().size();
  server.kill9();
  BOOST_TEST(!server.running());
  auto r = c.exec("SELECT 1");
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST((c.last_failure().kind == FailureKind::connection_lost));
  BOOST_TEST((writer.exec("INSERT INTO t VALUES (3, NULL)").error().code == Errc::io));

  server.start();
  BOOST_TEST(server.postmaster_pid() != pid);
  auto again = connect(dsn);
  auto rows = must(again, "SELECT id, body FROM t ORDER BY id", {}, pg::Format::binary);
  BOOST_REQUIRE_EQUAL(rows.rows(), 1);
  BOOST_TEST((*rows.bytes(0, 1) == random_bytes(100000, 1)));
  BOOST_TEST(server.log().find("database system was interrupted", log_before) !=
             std::string::npos);  // it recovered
}
