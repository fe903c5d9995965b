// The embedded engine (store/sqlite_store.h) beyond the contract every
// engine passes: its schema versions (a fresh database is at the newest, a
// newer one is refused), the lease on due deliveries (kept in memory: it
// ends with the process, since no other process can open the data-dir),
// the text its states are stored as (and what an unknown one does), and
// counts(). Times are `now` values chosen here, never waited for.
#define BOOST_TEST_MODULE sqlite_store
#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <string>
#include <vector>

#include "store/sqlite_store.h"
#include "tests/test_support.h"
#include "util/time.h"

using namespace edocgw;
using namespace edocgw::store;
using edocgw::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Store> open_store(const fs::path& dir) {
  auto s = open_sqlite_store(dir);
  BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? std::string() : s.error().message));
  return std::move(*s);
}

// Runs SQL on the closed store's database file, as another program would;
// returns the first column of the first row ("" when none).
std::string sql(const fs::path& dir, const std::string& statement) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open((dir / "edocgw.sqlite").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  BOOST_REQUIRE_MESSAGE(sqlite3_prepare_v2(db, statement.c_str(), -1, &stmt, nullptr) == SQLITE_OK,
                        sqlite3_errmsg(db));
  std::string out;
  const int rc = sqlite3_step(stmt);
  BOOST_REQUIRE_MESSAGE(rc == SQLITE_ROW || rc == SQLITE_DONE, sqlite3_errmsg(db));
  if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr)
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

const LogRecord kNoLog = [](const std::string&) { return Status(); };

std::int64_t wall_now() {
  return now_seconds().time_since_epoch().count();
}

// A queued document to `recipients`, submitted now (its recipients are due
// from now on).
std::string submit(Store& s, const std::string& document_id,
                   const std::vector<std::string>& recipients) {
  DocumentRow d;
  d.id = "doc-" + document_id;
  d.kind = Kind::edoc;
  d.state = DocumentState::queued;
  d.document_id = document_id;
  d.sender = "000.00.12.H50";
  d.package_sha256 = "sha-" + document_id;
  for (const auto& organ : recipients) {
    RecipientRow r;
    r.organ_id = organ;
    r.adapter = "province";
    r.state = RecipientState::pending;
    d.recipients.push_back(r);
  }
  auto done = s.submit(d, "<package " + document_id + "/>", "", kNoLog);
  BOOST_REQUIRE_MESSAGE(done.ok(), (done.ok() ? std::string() : done.error().message));
  return done->id;
}

// The query plan SQLite chooses for `statement` (EXPLAIN QUERY PLAN's
// details, one per line).
std::string plan(const fs::path& dir, const std::string& statement) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open((dir / "edocgw.sqlite").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  const std::string explain = "EXPLAIN QUERY PLAN " + statement;
  BOOST_REQUIRE_MESSAGE(sqlite3_prepare_v2(db, explain.c_str(), -1, &stmt, nullptr) == SQLITE_OK,
                        sqlite3_errmsg(db));
  std::string out;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    if (sqlite3_column_text(stmt, 3) != nullptr)
      out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)) + std::string("\n");
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

std::vector<std::string> leased(Store& s, std::int64_t now) {
  auto due = s.lease_due_deliveries(now, 100, 300);
  BOOST_REQUIRE_MESSAGE(due.ok(), (due.ok() ? std::string() : due.error().message));
  std::vector<std::string> out;
  for (const auto& d : *due) out.push_back(d.document + "/" + d.organ_id);
  std::sort(out.begin(), out.end());
  return out;
}

InboxRow incoming(const std::string& document_id, Verification verification) {
  InboxRow r;
  r.id = "in-" + document_id;
  r.kind = Kind::edoc;
  r.adapter = "province";
  r.sender = "000.00.13.H50";
  r.document_id = document_id;
  r.verification = verification;
  r.package_sha256 = "sha-" + document_id;
  r.received_at = wall_now();
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_fresh_database_is_at_schema_version_3) {
  TempDir dir;
  open_store(dir.path()).reset();
  BOOST_TEST(sql(dir.path(), "PRAGMA user_version") == "3");
  // Reopening a current database changes nothing.
  open_store(dir.path()).reset();
  BOOST_TEST(sql(dir.path(), "PRAGMA user_version") == "3");
}

BOOST_AUTO_TEST_CASE(a_version_2_database_gets_the_inbox_order_index_and_keeps_its_rows) {
  TempDir dir;
  {
    auto s = open_store(dir.path());
    for (const char* id : {"D-1", "D-2"}) {
      auto row = incoming(id, Verification::valid);
      BOOST_REQUIRE(s->add_inbox(row, std::string("<in ") + id + "/>", kNoLog).ok());
    }
  }
  sql(dir.path(), "DROP INDEX inbox_by_seq");
  sql(dir.path(), "PRAGMA user_version = 2");
  open_store(dir.path()).reset();
  BOOST_TEST(sql(dir.path(), "PRAGMA user_version") == "3");
  BOOST_TEST(sql(dir.path(), "SELECT COUNT(*) FROM inbox") == "2");
  // The next seq and a listing since a row are found through the index, not
  // by reading the whole inbox.
  const std::string listing =
      plan(dir.path(),
           "SELECT id FROM inbox WHERE kind = 'edoc' AND seq > 1 ORDER BY seq DESC LIMIT 10");
  BOOST_TEST(listing.find("inbox_by_seq") != std::string::npos, listing);
  const std::string next = plan(dir.path(), "SELECT IFNULL(MAX(seq), 0) + 1 FROM inbox");
  BOOST_TEST(next.find("inbox_by_seq") != std::string::npos, next);
}

BOOST_AUTO_TEST_CASE(a_database_made_by_a_newer_edocgw_is_refused_naming_its_version) {
  TempDir dir;
  open_store(dir.path()).reset();
  sql(dir.path(), "PRAGMA user_version = 4");
  auto s = open_sqlite_store(dir.path());
  BOOST_REQUIRE(!s.ok());
  BOOST_TEST(static_cast<int>(s.error().code) == static_cast<int>(Errc::unsupported));
  BOOST_TEST(s.error().message.find("schema version 4") != std::string::npos, s.error().message);
  // Refusing it left it as it was.
  BOOST_TEST(sql(dir.path(), "PRAGMA user_version") == "4");
}

BOOST_AUTO_TEST_CASE(a_leased_delivery_is_not_due_again_until_its_lease_ends_or_it_is_recorded) {
  TempDir dir;
  auto s = open_store(dir.path());
  const std::int64_t t0 = wall_now() + 1000;  // after the submission: everything is due
  const std::string id = submit(*s, "CV-1", {"A", "B"});
  const std::vector<std::string> both = {id + "/A", id + "/B"};

  BOOST_TEST(leased(*s, t0) == both);
  // Leased for 300 s: no one is given them again meanwhile.
  BOOST_TEST(leased(*s, t0).empty());
  BOOST_TEST(leased(*s, t0 + 299).empty());
  // The lease ran out (its holder died): taken over, and leased anew.
  BOOST_TEST(leased(*s, t0 + 300) == both);
  BOOST_TEST(leased(*s, t0 + 301).empty());

  // record_delivery ends a lease: A failed, to be tried at t0 + 310, long
  // before its lease (t0 + 600) would end; B was sent and is never due again.
  BOOST_REQUIRE(s->record_delivery(id, "A", false, false, "refused", "", t0 + 310).ok());
  BOOST_REQUIRE(s->record_delivery(id, "B", true, false, "ok", "r-1", 0).ok());
  BOOST_TEST(leased(*s, t0 + 309).empty());
  BOOST_TEST(leased(*s, t0 + 310) == std::vector<std::string>{id + "/A"});
  BOOST_TEST(leased(*s, t0 + 10000) == std::vector<std::string>{id + "/A"});
  // A lease is no attempt: only the two record_delivery calls counted.
  auto d = s->document(id);
  BOOST_REQUIRE(d.ok());
  BOOST_REQUIRE(d->has_value());
  BOOST_TEST((*d)->recipients.at(0).attempts == 1);
  BOOST_TEST((*d)->recipients.at(1).attempts == 1);
  BOOST_TEST(static_cast<int>((*d)->recipients.at(1).state) ==
             static_cast<int>(RecipientState::sent));

  // The limit bounds a lease, oldest due first; the rest stay due.
  const std::string other = submit(*s, "CV-2", {"C"});
  auto one = s->lease_due_deliveries(t0 + 20000, 1, 300);
  BOOST_REQUIRE(one.ok());
  BOOST_REQUIRE(one->size() == 1u);
  BOOST_TEST(one->front().document == other);  // due since its submission, A since a later lease
  BOOST_TEST(leased(*s, t0 + 20000) == std::vector<std::string>{id + "/A"});
}

BOOST_AUTO_TEST_CASE(a_lease_ends_with_the_store_that_took_it) {
  TempDir dir;
  auto s = open_store(dir.path());
  const std::int64_t t0 = wall_now() + 1000;
  const std::string id = submit(*s, "CV-1", {"A"});
  const std::string due_at = sql(dir.path(), "SELECT next_attempt_at FROM recipients");
  BOOST_TEST(leased(*s, t0) == std::vector<std::string>{id + "/A"});
  BOOST_TEST(leased(*s, t0).empty());
  // A gateway killed mid-delivery: the next one to open the data-dir
  // delivers at once, not when the lease would have ended.
  s.reset();
  BOOST_TEST(sql(dir.path(), "SELECT next_attempt_at FROM recipients") == due_at);
  s = open_store(dir.path());
  BOOST_TEST(leased(*s, t0) == std::vector<std::string>{id + "/A"});
}

BOOST_AUTO_TEST_CASE(every_state_has_one_name_and_comes_back_from_it) {
  BOOST_TEST(name(Kind::edoc) == "edoc");
  BOOST_TEST(name(Kind::status) == "status");
  BOOST_TEST(name(Verification::unsigned_) == "unsigned");
  BOOST_TEST(name(MailState::fresh) == "new");
  BOOST_TEST(name(Direction::out) == "out");
  for (auto v : {Kind::edoc, Kind::status}) BOOST_TEST((parse_kind(name(v)) == v));
  for (auto v : {DocumentState::queued, DocumentState::sent, DocumentState::delivered,
                 DocumentState::failed, DocumentState::rejected})
    BOOST_TEST((parse_document_state(name(v)) == v));
  for (auto v : {RecipientState::pending, RecipientState::sent, RecipientState::failed})
    BOOST_TEST((parse_recipient_state(name(v)) == v));
  for (auto v : {Verification::valid, Verification::unsigned_, Verification::invalid})
    BOOST_TEST((parse_verification(name(v)) == v));
  for (auto v : {MailState::fresh, MailState::processing, MailState::done, MailState::fail})
    BOOST_TEST((parse_mail_state(name(v)) == v));
  for (auto v : {Direction::in, Direction::out}) BOOST_TEST((parse_direction(name(v)) == v));
  BOOST_TEST(!parse_kind("EDOC").has_value());
  BOOST_TEST(!parse_mail_state("fresh").has_value());
  BOOST_TEST(!parse_verification("").has_value());
}

BOOST_AUTO_TEST_CASE(states_are_stored_as_their_names_and_an_unknown_one_is_an_io_error) {
  TempDir dir;
  auto s = open_store(dir.path());
  const std::string id = submit(*s, "CV-1", {"A"});
  InboxRow row = incoming("CV-9", Verification::unsigned_);
  BOOST_REQUIRE(s->add_inbox(row, "<package/>", kNoLog).ok());
  s.reset();
  BOOST_TEST(sql(dir.path(), "SELECT kind || ' ' || status FROM documents") == "edoc queued");
  BOOST_TEST(sql(dir.path(), "SELECT status FROM recipients") == "pending");
  BOOST_TEST(sql(dir.path(), "SELECT verification FROM inbox") == "unsigned");

  // Text no edocgw of this version writes: reading the row says where.
  sql(dir.path(), "UPDATE documents SET status = 'paused'");
  s = open_store(dir.path());
  auto d = s->document(id);
  BOOST_REQUIRE(!d.ok());
  BOOST_TEST(static_cast<int>(d.error().code) == static_cast<int>(Errc::io));
  BOOST_TEST(d.error().message.find("documents.status") != std::string::npos, d.error().message);
  BOOST_TEST(d.error().message.find("'paused'") != std::string::npos, d.error().message);
  auto c = s->counts();
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST(c.error().message.find("'paused'") != std::string::npos, c.error().message);
}

BOOST_AUTO_TEST_CASE(counts_give_documents_pending_recipients_inbox_and_mailbox_by_state) {
  TempDir dir;
  auto s = open_store(dir.path());
  auto empty = s->counts();
  BOOST_REQUIRE(empty.ok());
  BOOST_TEST(empty->documents.empty());
  BOOST_TEST(empty->queue_depth == 0);
  BOOST_TEST(empty->inbox.empty());
  BOOST_TEST(empty->mailbox.empty());

  const std::int64_t t0 = wall_now() + 1000;
  const std::string first = submit(*s, "CV-1", {"A", "B"});
  submit(*s, "CV-2", {"C"});
  BOOST_REQUIRE(s->lease_due_deliveries(t0, 100, 300).ok());  // a lease changes no count
  BOOST_REQUIRE(s->record_delivery(first, "A", true, false, "ok", "", 0).ok());
  BOOST_REQUIRE(s->record_delivery(first, "B", false, true, "gone", "", 0).ok());
  const std::vector<std::pair<std::string, Verification>> received = {
      {"I-1", Verification::valid},
      {"I-2", Verification::unsigned_},
      {"I-3", Verification::invalid},
      {"I-4", Verification::valid}};
  for (const auto& [document_id, v] : received) {
    InboxRow row = incoming(document_id, v);
    BOOST_REQUIRE(s->add_inbox(row, "<in " + document_id + "/>", kNoLog).ok());
  }
  std::vector<MailboxRow> mail;
  for (const char* to : {"X", "Y", "Z"}) {
    MailboxRow m;
    m.id = std::string("mail-") + to;
    m.package_id = "pkg-1";
    m.from_organ = "000.00.12.H50";
    m.to_organ = to;
    m.kind = Kind::edoc;
    m.state = MailState::fresh;
    m.created_at = wall_now();
    m.from_system = "sys-a";
    m.to_system = std::string("sys-") + to;
    mail.push_back(m);
  }
  BOOST_REQUIRE(s->add_mail(mail, "<hub package/>", kNoLog).ok());
  BOOST_REQUIRE(s->set_mail_state("mail-X", MailState::done).ok());
  BOOST_REQUIRE(s->set_mail_state("mail-Y", MailState::processing).ok());

  auto c = s->counts();
  BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? std::string() : c.error().message));
  const std::map<DocumentState, std::int64_t> documents = {{DocumentState::queued, 1},
                                                           {DocumentState::failed, 1}};
  BOOST_TEST((c->documents == documents));
  BOOST_TEST(c->queue_depth == 1);  // CV-2's C
  const std::map<Verification, std::int64_t> inbox = {
      {Verification::valid, 2}, {Verification::unsigned_, 1}, {Verification::invalid, 1}};
  BOOST_TEST((c->inbox == inbox));
  const std::map<MailState, std::int64_t> mailbox = {
      {MailState::fresh, 1}, {MailState::processing, 1}, {MailState::done, 1}};
  BOOST_TEST((c->mailbox == mailbox));
}
