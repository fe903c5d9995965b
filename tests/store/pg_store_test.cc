// The PostgreSQL engine against a real PostgreSQL 15 server, as N nodes
// sharing one database see it: the schema is created once and a newer one
// refused; a leased delivery is never handed to two nodes, and a dead
// node's lease is taken over when it expires; the same idempotency key (or
// DocumentId) from two nodes at once makes one document, and the same
// incoming package one row (a different copy: one conflict); the package
// bytes are committed before the log record names them, and the record and
// its sync come before the rows are visible; bytes no row keeps are removed,
// or (left by a kill between the commits) never listed and purged; a
// megabyte with NUL bytes round-trips and purge() empties it; a server
// killed mid-use gives Errc::io, and the store works again once it is back;
// after a restart while idle, the first calls succeed on new connections.
#define BOOST_TEST_MODULE pg_store
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/pg_connection.h"
#include "store/pg_store.h"
#include "tests/support/postgres_server.h"
#include "util/time.h"

using namespace edocgw;
using namespace std::chrono_literals;
namespace pg = edocgw::store::pg;
using store::DocumentRow;
using store::Kind;
using store::Store;

namespace {

// One server for every test; each test takes a database of its own.
test::PostgresServer& shared_server() {
  static test::PostgresServer server;
  if (!server.running()) server.start();
  return server;
}

std::string fresh_database() {
  static int n = 0;
  return shared_server().create_database("s" + std::to_string(++n));
}

template <class T>
std::string error_of(const Result<T>& r) {
  return r.ok() ? "(succeeded)" : r.error().message;
}
std::string error_of(const Status& s) {
  return s.ok() ? "(succeeded)" : s.error().message;
}

std::unique_ptr<Store> open_node(const std::string& dsn, const std::string& node_id,
                                 store::LogSync log_sync = {}) {
  store::PgOptions o;
  o.dsn = dsn;
  o.connect_timeout = 5s;
  o.node_id = node_id;
  o.pool_size = 4;
  o.log_sync = std::move(log_sync);
  auto s = store::open_pg_store(o);
  BOOST_REQUIRE_MESSAGE(s.ok(), error_of(s));
  return std::move(*s);
}

std::int64_t now() {
  return now_seconds().time_since_epoch().count();
}

DocumentRow document(const std::string& id, const std::string& document_id,
                     const std::vector<std::string>& recipients = {"000.00.00.B01"}) {
  DocumentRow d;
  d.id = id;
  d.kind = Kind::edoc;
  d.document_id = document_id;
  d.sender = "000.00.00.A01";
  d.subject = "a subject";
  d.package_sha256 = "sha-" + id;
  d.client = "client";
  for (const auto& organ : recipients) {
    store::RecipientRow r;
    r.organ_id = organ;
    r.adapter = "vdxp";
    d.recipients.push_back(r);
  }
  return d;
}

const store::LogRecord kNoLog = [](const std::string&) { return Status::success(); };

store::Outbox::Submitted must_submit(Store& s, const DocumentRow& d,
                                     const std::string& package = "<edXML/>",
                                     const std::string& key = "") {
  auto r = s.submit(d, package, key, kNoLog);
  BOOST_REQUIRE_MESSAGE(r.ok(), error_of(r));
  return *r;
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen() & 0xFF);
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_schema_is_created_once_and_a_newer_version_is_refused) {
  const std::string dsn = fresh_database();
  {
    auto first = open_node(dsn, "n1");
    BOOST_REQUIRE_EQUAL(first->notices().size(), 1u);
    BOOST_TEST(contains(first->notices()[0], "created the edocgw schema (version 2)"));
    // A second node finds it made.
    auto second = open_node(dsn, "n2");
    BOOST_TEST(second->notices().empty());
    BOOST_TEST(second->ping().ok());
  }
  // Two nodes starting at once on an empty database: the advisory lock
  // lets one create the schema while the other waits.
  const std::string empty = fresh_database();
  std::vector<std::thread> starters;
  std::atomic<int> opened{0}, created{0};
  for (int i = 0; i < 4; ++i) {
    starters.emplace_back([&, i] {
      store::PgOptions o;
      o.dsn = empty;
      o.connect_timeout = 5s;
      o.node_id = "n" + std::to_string(i);
      auto s = store::open_pg_store(o);
      if (!s) return;
      ++opened;
      if (!(*s)->notices().empty()) ++created;
    });
  }
  for (auto& t : starters) t.join();
  BOOST_TEST(opened.load() == 4);
  BOOST_TEST(created.load() == 1);

  auto c = pg::Connection::open(dsn, 5s);
  BOOST_REQUIRE_MESSAGE(c.ok(), error_of(c));
  BOOST_REQUIRE(c->exec("UPDATE schema_version SET version = 99").ok());
  store::PgOptions o;
  o.dsn = dsn;
  o.connect_timeout = 5s;
  auto refused = store::open_pg_store(o);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.error().code == Errc::unsupported));
  BOOST_TEST_MESSAGE(refused.error().message);
  BOOST_TEST(contains(refused.error().message, "schema version 99"));
  BOOST_TEST(contains(refused.error().message, "newer edocgw"));
}

BOOST_AUTO_TEST_CASE(two_nodes_leasing_at_once_never_get_the_same_delivery) {
  const std::string dsn = fresh_database();
  auto node1 = open_node(dsn, "n1");
  auto node2 = open_node(dsn, "n2");
  constexpr int kDocuments = 60;
  for (int i = 0; i < kDocuments; ++i)
    must_submit(*node1, document("d" + std::to_string(i), "doc-" + std::to_string(i),
                                 {"000.00.00.B01", "000.00.00.B02"}));
  const std::int64_t t = now() + 1;
  std::mutex mutex;
  std::multiset<std::string> leased;
  std::vector<std::string> errors;
  auto lease_all = [&](Store& node) {
    for (;;) {
      auto due = node.lease_due_deliveries(t, 7, 300);
      std::lock_guard lock(mutex);
      if (!due) {
        errors.push_back(error_of(due));
        return;
      }
      if (due->empty()) return;
      for (const auto& d : *due) leased.insert(d.document + "/" + d.organ_id);
    }
  };
  std::thread a([&] { lease_all(*node1); });
  std::thread b([&] { lease_all(*node2); });
  a.join();
  b.join();
  BOOST_TEST(errors.empty());
  BOOST_TEST(leased.size() == 2u * kDocuments);
  BOOST_TEST(std::set<std::string>(leased.begin(), leased.end()).size() == leased.size());
  // Leased: nothing is due again before the lease ends.
  auto again = node2->lease_due_deliveries(t + 299, 100, 300);
  BOOST_REQUIRE_MESSAGE(again.ok(), error_of(again));
  BOOST_TEST(again->empty());
}

BOOST_AUTO_TEST_CASE(a_dead_nodes_lease_is_taken_over_when_it_expires) {
  const std::string dsn = fresh_database();
  auto node1 = open_node(dsn, "n1");
  auto node2 = open_node(dsn, "n2");
  must_submit(*node1, document("d1", "doc-1"));
  const std::int64_t t = now() + 1;
  {
    auto got = node1->lease_due_deliveries(t, 10, 60);
    BOOST_REQUIRE_MESSAGE(got.ok(), error_of(got));
    BOOST_REQUIRE_EQUAL(got->size(), 1u);
    BOOST_TEST((*got)[0].document == "d1");
    BOOST_TEST((*got)[0].organ_id == "000.00.00.B01");
    BOOST_TEST(((*got)[0].kind == Kind::edoc));
    BOOST_TEST((*got)[0].document_id == "doc-1");
    BOOST_TEST((*got)[0].sender == "000.00.00.A01");
    BOOST_TEST((*got)[0].adapter == "vdxp");
  }
  // While node 1 holds the lease, node 2 gets nothing.
  auto during = node2->lease_due_deliveries(t + 30, 10, 60);
  BOOST_REQUIRE_MESSAGE(during.ok(), error_of(during));
  BOOST_TEST(during->empty());
  // Node 1 dies mid-delivery: never records it.
  node1.reset();
  auto taken = node2->lease_due_deliveries(t + 61, 10, 60);
  BOOST_REQUIRE_MESSAGE(taken.ok(), error_of(taken));
  BOOST_REQUIRE_EQUAL(taken->size(), 1u);
  BOOST_TEST((*taken)[0].document == "d1");
  BOOST_REQUIRE(node2->record_delivery("d1", "000.00.00.B01", true, false, "", "r-1", 0).ok());
  auto after = node2->lease_due_deliveries(t + 1000, 10, 60);
  BOOST_REQUIRE_MESSAGE(after.ok(), error_of(after));
  BOOST_TEST(after->empty());
  auto d = node2->document("d1");
  BOOST_REQUIRE_MESSAGE(d.ok() && d->has_value(), error_of(d));
  BOOST_TEST(((*d)->state == store::DocumentState::sent));
  BOOST_TEST((*d)->recipients.at(0).remote_id == "r-1");
  BOOST_TEST((*d)->recipients.at(0).attempts == 1);

  // A failed attempt puts it back at next_attempt_at and ends the lease.
  must_submit(*node2, document("d2", "doc-2"));
  auto second = node2->lease_due_deliveries(t + 2000, 10, 60);
  BOOST_REQUIRE(second.ok() && second->size() == 1u);
  BOOST_REQUIRE(
      node2->record_delivery("d2", "000.00.00.B01", false, false, "refused", "", t + 2005).ok());
  auto retry = node2->lease_due_deliveries(t + 2005, 10, 60);
  BOOST_REQUIRE(retry.ok() && retry->size() == 1u);
  BOOST_TEST((*retry)[0].attempts == 1);
}

BOOST_AUTO_TEST_CASE(the_same_key_or_document_id_from_two_nodes_at_once_makes_one_document) {
  const std::string dsn = fresh_database();
  auto node1 = open_node(dsn, "n1");
  auto node2 = open_node(dsn, "n2");
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    const std::string key =
        store::idempotency_key_with_body("key-" + std::to_string(round), "body-hash");
    Result<store::Outbox::Submitted> r1 = Error{}, r2 = Error{};
    const std::string n = std::to_string(round);
    std::thread a([&] { r1 = node1->submit(document("a" + n, "k" + n), "<a/>", key, kNoLog); });
    std::thread b([&] { r2 = node2->submit(document("b" + n, "k" + n), "<b/>", key, kNoLog); });
    a.join();
    b.join();
    BOOST_REQUIRE_MESSAGE(r1.ok(), error_of(r1));
    BOOST_REQUIRE_MESSAGE(r2.ok(), error_of(r2));
    BOOST_TEST(r1->id == r2->id);
    BOOST_TEST(r1->repeated != r2->repeated);
    // The repeat stored no package.
    const std::string other = r1->id == "a" + n ? "b" + n : "a" + n;
    auto none = node1->read_package(other);
    BOOST_TEST(!none.ok());
  }
  // The same key with another body is refused.
  auto refused = node2->submit(document("c", "kc"), "<c/>",
                               store::idempotency_key_with_body("key-0", "another"), kNoLog);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.error().code == Errc::invalid));
  BOOST_TEST(contains(refused.error().message, "another body"));

  // Two originals of one DocumentId under different keys: one is refused.
  for (int round = 0; round < kRounds; ++round) {
    const std::string n = std::to_string(round);
    Result<store::Outbox::Submitted> r1 = Error{}, r2 = Error{};
    std::thread a([&] { r1 = node1->submit(document("x" + n, "dup" + n), "<x/>", "", kNoLog); });
    std::thread b([&] { r2 = node2->submit(document("y" + n, "dup" + n), "<y/>", "", kNoLog); });
    a.join();
    b.join();
    BOOST_REQUIRE(r1.ok() != r2.ok());
    const Error& e = r1.ok() ? r2.error() : r1.error();
    BOOST_TEST((e.code == Errc::invalid));
    BOOST_TEST_MESSAGE(e.message);
    BOOST_TEST(contains(e.message, "already has DocumentId dup" + n));
    BOOST_TEST(contains(e.message, std::string("document ") + (r1.ok() ? "x" : "y") + n));
  }
  auto counts = node1->counts();
  BOOST_REQUIRE_MESSAGE(counts.ok(), error_of(counts));
  BOOST_TEST((counts->documents[store::DocumentState::queued] == 2 * kRounds));

  // A follow-up shares its original's DocumentId.
  DocumentRow followup = document("f0", "dup0");
  followup.business_type = 2;
  must_submit(*node2, followup);
}

BOOST_AUTO_TEST_CASE(the_bytes_are_committed_before_the_record_and_the_log_synced_before_the_rows) {
  const std::string dsn = fresh_database();
  auto reader = open_node(dsn, "reader");
  std::mutex mutex;
  std::vector<std::string> records;
  int syncs = 0;
  bool visible_at_sync = false;
  std::vector<std::string> unreadable_at_record;  // named before their bytes were committed
  std::unique_ptr<Store> writer;
  writer = open_node(dsn, "writer", [&]() -> Status {
    std::lock_guard lock(mutex);
    ++syncs;
    if (records.empty()) return Status::success();
    // The record just appended names rows not committed yet.
    const std::string id = records.back().substr(records.back().find('/') + 1);
    auto d = reader->document(id);
    auto i = reader->inbox_item(id);
    if ((d.ok() && d->has_value()) || (i.ok() && i->has_value())) visible_at_sync = true;
    return Status::success();
  });
  auto record = [&](const std::string& name) {
    // Another connection already reads the bytes the record names.
    auto bytes = reader->read_package(name.substr(name.find('/') + 1));
    std::lock_guard lock(mutex);
    if (!bytes.ok() || !bytes->has_value()) unreadable_at_record.push_back(name);
    records.push_back(name);
    return Status::success();
  };
  auto s = writer->submit(document("d1", "doc-1"), "<edXML/>", "", record);
  BOOST_REQUIRE_MESSAGE(s.ok(), error_of(s));
  store::InboxRow in;
  in.id = "in1";
  in.sender = "000.00.00.B01";
  in.document_id = "doc-in";
  in.verification = store::Verification::valid;
  in.package_sha256 = "sha-in";
  auto added = writer->add_inbox(in, "<in/>", record);
  BOOST_REQUIRE_MESSAGE(added.ok() && *added, error_of(added));
  // The same package again: no row, no record.
  store::InboxRow again = in;
  again.id = "in2";
  auto repeat = writer->add_inbox(again, "<in/>", record);
  BOOST_REQUIRE_MESSAGE(repeat.ok(), error_of(repeat));
  BOOST_TEST(!*repeat);
  // A second original of doc-1: refused, no record.
  auto second = writer->submit(document("d3", "doc-1"), "<edXML/>", "", record);
  BOOST_REQUIRE(!second.ok());
  BOOST_TEST((second.error().code == Errc::invalid));

  std::unique_lock lock(mutex);
  BOOST_TEST(records == (std::vector<std::string>{"postgresql/d1", "postgresql/in1"}),
             boost::test_tools::per_element());
  BOOST_TEST(unreadable_at_record.empty());
  BOOST_TEST(syncs == 2);
  BOOST_TEST(!visible_at_sync);
  BOOST_TEST(reader->document("d1")->has_value());
  lock.unlock();
  // The bytes of the repeat and of the refused original were committed
  // first, then removed with the rows that did not keep them.
  for (const std::string id : {"in2", "d3"}) {
    auto gone = reader->read_package(id);
    BOOST_REQUIRE_MESSAGE(!gone.ok(), id);
    BOOST_TEST((gone.error().code == Errc::invalid), id);
  }

  // A log that cannot be synced: nothing stored.
  writer = open_node(dsn, "writer", [] { return Status(make_error(Errc::io, "disk full")); });
  auto refused = writer->submit(document("d2", "doc-2"), "<edXML/>", "", record);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(contains(refused.error().message, "disk full"));
  BOOST_TEST(!reader->document("d2")->has_value());
}

// A kill between a batch's bytes commit and its rows commit leaves bodies
// that no row names (the log may name them): made here by hand.
BOOST_AUTO_TEST_CASE(bodies_left_without_rows_are_never_listed_and_purge_empties_old_ones) {
  const std::string dsn = fresh_database();
  auto node = open_node(dsn, "n1");
  auto c = pg::Connection::open(dsn, 5s);
  BOOST_REQUIRE_MESSAGE(c.ok(), error_of(c));
  const std::int64_t t = now();
  for (const auto& [id, stored_at] :
       std::vector<std::pair<std::string, std::int64_t>>{{"old", t - 7200}, {"young", t - 60}}) {
    auto ins = c->exec("INSERT INTO packages (id, body, length, stored_at) VALUES ($1, $2, 3, $3)",
                       {id, pg::Param::bytes("<o>"), stored_at});
    BOOST_REQUIRE_MESSAGE(ins.ok(), error_of(ins));
  }
  auto listed = node->inbox("", 100);
  BOOST_REQUIRE_MESSAGE(listed.ok(), error_of(listed));
  BOOST_TEST(listed->empty());
  BOOST_TEST(!node->document("old")->has_value());
  auto counts = node->counts();
  BOOST_REQUIRE(counts.ok());
  BOOST_TEST(counts->documents.empty());

  // Both are older than the cut-off; the young one may still be a batch on
  // its way to its rows, and stays.
  auto purged = node->purge(t);
  BOOST_REQUIRE_MESSAGE(purged.ok(), error_of(purged));
  BOOST_TEST(purged->packages == 1u);
  // Emptied, not removed: a record naming it reads as purged.
  auto old = node->read_package("old");
  BOOST_REQUIRE_MESSAGE(old.ok(), error_of(old));
  BOOST_TEST(!old->has_value());
  auto young = node->read_package("young");
  BOOST_REQUIRE_MESSAGE(young.ok() && young->has_value(), error_of(young));

  // A write whose id already holds its very bytes (a batch run again after
  // its bytes' COMMIT answer was lost) stores its rows; other bytes under
  // its id refuse that write alone.
  auto same = node->submit(document("young", "doc-young"), "<o>", "", kNoLog);
  BOOST_REQUIRE_MESSAGE(same.ok(), error_of(same));
  BOOST_TEST(node->document("young")->has_value());
  auto clash = node->submit(document("old", "doc-old"), "<x/>", "", kNoLog);
  BOOST_REQUIRE(!clash.ok());
  BOOST_TEST((clash.error().code == Errc::io));
  BOOST_TEST(contains(clash.error().message, "other bytes are stored as old"));
  BOOST_TEST(!node->document("old")->has_value());
  must_submit(*node, document("new", "doc-new"), "<n/>");
}

BOOST_AUTO_TEST_CASE(a_megabyte_with_nul_bytes_round_trips_and_purge_empties_it) {
  const std::string dsn = fresh_database();
  auto node = open_node(dsn, "n1");
  std::string package = random_bytes(1 << 20, 7);
  package[0] = '\0';
  package[package.size() / 2] = '\0';
  package.back() = '\0';
  must_submit(*node, document("big", "doc-big"), package);
  auto back = node->read_package("big");
  BOOST_REQUIRE_MESSAGE(back.ok() && back->has_value(), error_of(back));
  BOOST_TEST((**back == package));
  auto unknown = node->read_package("nothing");
  BOOST_REQUIRE(!unknown.ok());
  BOOST_TEST((unknown.error().code == Errc::invalid));

  // Pending work keeps its body; once delivered, it goes.
  const std::int64_t later = now() + 10;
  auto kept = node->purge(later);
  BOOST_REQUIRE_MESSAGE(kept.ok(), error_of(kept));
  BOOST_TEST(kept->packages == 0u);
  BOOST_TEST(node->read_package("big")->has_value());
  BOOST_REQUIRE(node->record_delivery("big", "000.00.00.B01", true, false, "", "r", 0).ok());
  auto purged = node->purge(later);
  BOOST_REQUIRE_MESSAGE(purged.ok(), error_of(purged));
  BOOST_TEST(purged->packages == 1u);
  auto gone = node->read_package("big");
  BOOST_REQUIRE_MESSAGE(gone.ok(), error_of(gone));
  BOOST_TEST(!gone->has_value());
  BOOST_TEST(node->document("big")->has_value());
}

BOOST_AUTO_TEST_CASE(concurrent_writers_share_commits_and_all_succeed) {
  const std::string dsn = fresh_database();
  std::atomic<int> syncs{0};
  auto node = open_node(dsn, "n1", [&] {
    ++syncs;
    return Status::success();
  });
  constexpr int kThreads = 16, kEach = 25;
  std::atomic<int> failures{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!node->submit(document(id, "doc-" + id), "<p>" + id + "</p>", "", kNoLog).ok())
          ++failures;
        // Readers share the bounded pool with the group commit's leader.
        if (!node->document(id).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST_MESSAGE(kThreads * kEach << " submissions in " << seconds_since(start) << " s, "
                                      << syncs.load() << " log syncs");
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(syncs.load() <= kThreads * kEach);
  auto counts = node->counts();
  BOOST_REQUIRE(counts.ok());
  BOOST_TEST((counts->documents[store::DocumentState::queued] == kThreads * kEach));
  BOOST_TEST(counts->queue_depth == kThreads * kEach);
  // The pool stayed within its bound (4, open_node()): count the sessions
  // besides this one.
  auto c = pg::Connection::open(dsn, 5s);
  BOOST_REQUIRE_MESSAGE(c.ok(), error_of(c));
  auto sessions = c->exec(
      "SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database() AND "
      "application_name = 'edocgw'");
  BOOST_REQUIRE_MESSAGE(sessions.ok(), error_of(sessions));
  const auto open = sessions->int64(0, 0);
  BOOST_REQUIRE(open.ok());
  BOOST_TEST_MESSAGE(*open << " connections open");
  BOOST_TEST(*open >= 1);
  BOOST_TEST(*open <= 4);
}

BOOST_AUTO_TEST_CASE(a_killed_server_gives_io_errors_and_the_store_works_once_it_is_back) {
  auto& server = shared_server();
  const std::string dsn = fresh_database();
  auto node = open_node(dsn, "n1");
  must_submit(*node, document("d1", "doc-1"));
  BOOST_REQUIRE(node->document("d1")->has_value());

  server.kill9();
  const auto start = std::chrono::steady_clock::now();
  auto read = node->document("d1");
  BOOST_REQUIRE(!read.ok());
  BOOST_TEST((read.error().code == Errc::io));
  BOOST_TEST_MESSAGE(read.error().message);
  BOOST_TEST(contains(read.error().message, "cannot read documents"));
  BOOST_TEST(contains(read.error().message, "127.0.0.1:" + std::to_string(server.port())));
  auto write = node->submit(document("d2", "doc-2"), "<p/>", "", kNoLog);
  BOOST_REQUIRE(!write.ok());
  BOOST_TEST((write.error().code == Errc::io));
  BOOST_TEST_MESSAGE(write.error().message);
  auto lease = node->lease_due_deliveries(now() + 1, 10, 60);
  BOOST_REQUIRE(!lease.ok());
  BOOST_TEST((lease.error().code == Errc::io));
  BOOST_TEST(!node->ping().ok());
  BOOST_TEST(seconds_since(start) < 10.0);

  server.start();
  auto ping = node->ping();
  BOOST_TEST(ping.ok(), error_of(ping));
  auto back = node->document("d1");
  BOOST_REQUIRE_MESSAGE(back.ok() && back->has_value(), error_of(back));
  must_submit(*node, document("d3", "doc-3"));
  auto due = node->lease_due_deliveries(now() + 1, 10, 60);
  BOOST_REQUIRE_MESSAGE(due.ok(), error_of(due));
  BOOST_TEST(due->size() == 2u);
}

BOOST_AUTO_TEST_CASE(after_a_restart_while_idle_the_first_calls_succeed_on_new_connections) {
  auto& server = shared_server();
  const std::string dsn = fresh_database();
  auto node = open_node(dsn, "n1");
  // Several pooled connections, all of which the restart kills.
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) readers.emplace_back([&] { (void)node->counts(); });
  for (auto& t : readers) t.join();
  must_submit(*node, document("d1", "doc-1"));

  server.stop();
  server.start();
  // A read, a write and a lease: each meets a dead pooled connection and
  // runs again once on a new one.
  auto read = node->document("d1");
  BOOST_REQUIRE_MESSAGE(read.ok() && read->has_value(), error_of(read));
  must_submit(*node, document("d2", "doc-2"));
  server.stop();
  server.start();
  auto due = node->lease_due_deliveries(now() + 1, 10, 60);
  BOOST_REQUIRE_MESSAGE(due.ok(), error_of(due));
  BOOST_TEST(due->size() == 2u);
  server.stop();
  server.start();
  BOOST_REQUIRE(node->record_delivery("d1", "000.00.00.B01", true, false, "", "r", 0).ok());
}

BOOST_AUTO_TEST_CASE(two_nodes_recording_attempts_at_once_keep_every_count_and_state) {
  const std::string dsn = fresh_database();
  auto node1 = open_node(dsn, "n1");
  auto node2 = open_node(dsn, "n2");
  constexpr int kDocuments = 8, kThreadsPerNode = 4, kEach = 30;
  const std::vector<std::string> organs = {"000.00.00.B01", "000.00.00.B02", "000.00.00.B03",
                                           "000.00.00.B04"};
  for (int i = 0; i < kDocuments; ++i)
    must_submit(*node1, document("d" + std::to_string(i), "doc-" + std::to_string(i), organs));
  // Failed attempts on random recipients from both nodes at once: batches
  // of the two nodes lock documents in different orders (a deadlock is
  // rolled back by the server and the batch run again).
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerNode; ++t) {
    Store& node = t % 2 == 0 ? *node1 : *node2;
    threads.emplace_back([&, t] {
      std::mt19937 gen(static_cast<unsigned>(t));
      for (int i = 0; i < kEach; ++i) {
        const std::string doc = "d" + std::to_string(gen() % kDocuments);
        const std::string& organ = organs[gen() % organs.size()];
        auto st = node.record_delivery(doc, organ, false, false, "busy", "", 0);
        if (!st.ok()) {
          ++failures;
          BOOST_TEST_MESSAGE(st.error().message);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  threads.clear();
  BOOST_TEST(failures.load() == 0);
  // Then every recipient delivered, half of them by each node at once: each
  // document's state is derived from what the other node committed.
  for (int half = 0; half < 2; ++half) {
    Store& node = half == 0 ? *node1 : *node2;
    threads.emplace_back([&, half] {
      for (int i = 0; i < kDocuments; ++i) {
        for (size_t o = static_cast<size_t>(half); o < organs.size(); o += 2) {
          if (!node.record_delivery("d" + std::to_string(i), organs[o], true, false, "", "r", 0)
                   .ok())
            ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(failures.load() == 0);
  int attempts = 0;
  for (int i = 0; i < kDocuments; ++i) {
    auto d = node2->document("d" + std::to_string(i));
    BOOST_REQUIRE_MESSAGE(d.ok() && d->has_value(), error_of(d));
    BOOST_TEST(((*d)->state == store::DocumentState::sent), (*d)->id);
    for (const auto& r : (*d)->recipients) attempts += r.attempts;
  }
  BOOST_TEST(attempts ==
             2 * kThreadsPerNode * kEach + kDocuments * static_cast<int>(organs.size()));
  auto c = pg::Connection::open(dsn, 5s);
  BOOST_REQUIRE_MESSAGE(c.ok(), error_of(c));
  auto deadlocks =
      c->exec("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
  if (deadlocks.ok() && deadlocks->rows() == 1)
    BOOST_TEST_MESSAGE(
        "deadlocks the server broke (and the batches ran again): " << deadlocks->text(0, 0));
}

BOOST_AUTO_TEST_CASE(incoming_copies_at_two_nodes_at_once_are_stored_once_or_as_a_conflict) {
  const std::string dsn = fresh_database();
  auto node1 = open_node(dsn, "n1");
  auto node2 = open_node(dsn, "n2");
  auto incoming = [](const std::string& id, const std::string& document_id,
                     const std::string& sha) {
    store::InboxRow row;
    row.id = id;
    row.sender = "000.00.00.B01";
    row.document_id = document_id;
    row.verification = store::Verification::valid;
    row.package_sha256 = sha;
    return row;
  };
  for (int round = 0; round < 10; ++round) {
    const std::string n = std::to_string(round);
    // The same package at both nodes: stored once.
    store::InboxRow a = incoming("a" + n, "same" + n, "sha"),
                    b = incoming("b" + n, "same" + n, "sha");
    Result<bool> ra = Error{}, rb = Error{};
    std::thread ta([&] { ra = node1->add_inbox(a, "<p/>", kNoLog); });
    std::thread tb([&] { rb = node2->add_inbox(b, "<p/>", kNoLog); });
    ta.join();
    tb.join();
    BOOST_REQUIRE_MESSAGE(ra.ok() && rb.ok(), error_of(ra) << " / " << error_of(rb));
    BOOST_TEST(*ra != *rb);
    // Two different originals of one DocumentId: the later is a conflict of the earlier.
    store::InboxRow c = incoming("c" + n, "diff" + n, "sha-c"),
                    d = incoming("d" + n, "diff" + n, "sha-d");
    Result<bool> rc = Error{}, rd = Error{};
    std::thread tc([&] { rc = node1->add_inbox(c, "<c/>", kNoLog); });
    std::thread td([&] { rd = node2->add_inbox(d, "<d/>", kNoLog); });
    tc.join();
    td.join();
    BOOST_REQUIRE_MESSAGE(rc.ok() && rd.ok() && *rc && *rd, error_of(rc) << " / " << error_of(rd));
    BOOST_TEST((c.conflict_of == d.id) != (d.conflict_of == c.id));
    BOOST_TEST((c.conflict_of.empty() || d.conflict_of.empty()));
  }
}

// Polls are leased per source: nodes sharing the database poll one at a
// time, the holder renews its lease, and when it stops (dies) another node
// takes over once the lease has run out.
BOOST_AUTO_TEST_CASE(one_node_at_a_time_holds_a_poll_lease_and_an_expired_one_is_taken_over) {
  const std::string dsn = fresh_database();
  auto a = open_node(dsn, "node-a");
  auto b = open_node(dsn, "node-b");
  const std::int64_t t = 1'800'000'000;
  auto holds = [](Store& s, const std::string& source, std::int64_t at) {
    auto r = s.lease_poll(source, at, 30);
    BOOST_REQUIRE_MESSAGE(r.ok(), error_of(r));
    return *r;
  };
  BOOST_TEST(holds(*a, "province", t));
  BOOST_TEST(!holds(*b, "province", t + 1));
  BOOST_TEST(holds(*b, "office-folder", t + 1));  // another source, another lease
  BOOST_TEST(holds(*a, "province", t + 20));      // renewed until t + 50
  BOOST_TEST(!holds(*b, "province", t + 45));
  // a stops renewing: at t + 50 its lease has run out and b takes it.
  BOOST_TEST(holds(*b, "province", t + 50));
  BOOST_TEST(!holds(*a, "province", t + 51));

  // Many nodes asking at once: exactly one gets it.
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < 6; ++i) nodes.push_back(open_node(dsn, "racer-" + std::to_string(i)));
  std::atomic<int> winners{0};
  std::vector<std::thread> racers;
  for (auto& n : nodes) {
    racers.emplace_back([&, node = n.get()] {
      auto r = node->lease_poll("race", t, 30);
      if (r.ok() && *r) ++winners;
    });
  }
  for (auto& r : racers) r.join();
  BOOST_TEST(winners.load() == 1);
}

BOOST_AUTO_TEST_CASE(a_version_1_database_is_migrated_to_poll_leases) {
  const std::string dsn = fresh_database();
  open_node(dsn, "n1").reset();
  {
    auto c = pg::Connection::open(dsn, 5s);
    BOOST_REQUIRE_MESSAGE(c.ok(), error_of(c));
    BOOST_REQUIRE(c->exec("DROP TABLE poll_leases").ok());
    BOOST_REQUIRE(c->exec("UPDATE schema_version SET version = 1").ok());
  }
  auto s = open_node(dsn, "n1");
  BOOST_REQUIRE_EQUAL(s->notices().size(), 1u);
  BOOST_TEST(contains(s->notices()[0], "from version 1 to version 2"), s->notices()[0]);
  auto r = s->lease_poll("province", 1'800'000'000, 30);
  BOOST_TEST((r.ok() && *r));
}
