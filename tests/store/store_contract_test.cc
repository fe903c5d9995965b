// The storage contract (store/store.h), one suite run against every engine:
// a submission reads back whole, its bytes named in the signature log before
// its rows exist; idempotency keys repeat the first document and refuse
// another body; one original per DocumentId; deliveries are leased; the
// document's state follows its recipients; statuses are ordered by their own
// Timestamp; incoming duplicates and conflicting copies; follow-ups; the
// inbox listing; the hub's mailboxes and agencies; retention keeps what work
// needs; and concurrent submissions all land.
#define BOOST_TEST_MODULE store_contract
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/memory_store.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "tests/support/postgres_server.h"
#include "tests/test_support.h"
#include "util/bytes.h"
#include "util/time.h"

using namespace edocgw;
using namespace edocgw::store;
namespace bdata = boost::unit_test::data;

// Not anonymous: data test cases are templates, and their lambdas capture these.
namespace contract_test {

// ---------------------------------------------------------------- engines

// An open engine and what it needs kept alive (a folder, a server).
struct Opened {
  std::unique_ptr<Store> store;
  std::shared_ptr<void> keep;
};

struct Engine {
  std::string name;
  std::function<Opened(LogSync)> open;
};

const std::vector<Engine>& engines() {
  static const std::vector<Engine> list = {
      {"memory",
       [](LogSync sync) {
         MemoryOptions options;
         options.log_sync = std::move(sync);
         auto s = open_memory_store(std::move(options));
         BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
         return Opened{std::move(*s), nullptr};
       }},
      {"sqlite",
       [](LogSync sync) {
         auto dir = std::make_shared<test::TempDir>();
         SqliteOptions options;
         // Small segments, so retention has whole segments to drop (a body
         // above this size gets a segment of its own).
         options.segment_bytes = 4096;
         options.log_sync = std::move(sync);
         auto s = open_sqlite_store(dir->path() / "data", std::move(options));
         BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
         return Opened{std::move(*s), dir};
       }},
      // ---- PostgreSQL: one server for the run (started on the first case
      // that needs it), a fresh database per case.
      {"postgres",
       [](LogSync sync) {
         static test::PostgresServer server;
         static int databases = 0;
         if (!server.running()) server.start();
         PgOptions options;
         options.dsn = server.create_database("contract" + std::to_string(++databases));
         options.connect_timeout = std::chrono::seconds(5);
         options.node_id = "contract";
         options.log_sync = std::move(sync);
         auto s = open_pg_store(options);
         BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
         return Opened{std::move(*s), nullptr};
       }},
  };
  return list;
}

std::vector<std::string> engine_names() {
  std::vector<std::string> out;
  for (const auto& e : engines()) out.push_back(e.name);
  return out;
}

// One case's engine, opened fresh, with a LogSync that counts its calls.
class Subject {
 public:
  explicit Subject(const std::string& engine) {
    for (const auto& e : engines()) {
      if (e.name == engine)
        opened_ = e.open([syncs = syncs_] {
          ++*syncs;
          return Status();
        });
    }
    BOOST_REQUIRE_MESSAGE(opened_.store != nullptr, "no engine " + engine);
  }
  Store& operator*() { return *opened_.store; }
  Store* operator->() { return opened_.store.get(); }
  int syncs() const { return *syncs_; }

 private:
  std::shared_ptr<std::atomic<int>> syncs_ = std::make_shared<std::atomic<int>>(0);
  Opened opened_;
};

// ---------------------------------------------------------------- helpers

std::int64_t wall_now() {
  return now_seconds().time_since_epoch().count();
}

template <class T>
T must(Result<T> r, const std::string& what = "") {
  BOOST_REQUIRE_MESSAGE(r.ok(), what << (r.ok() ? "" : ": " + r.error().message));
  return std::move(*r);
}

void must(const Status& st, const std::string& what = "") {
  BOOST_REQUIRE_MESSAGE(st.ok(), what << (st.ok() ? "" : ": " + st.error().message));
}

template <class T>
void expect_error(const Result<T>& r, Errc code, const std::string& what) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(static_cast<int>(r.error().code) == static_cast<int>(code));
    BOOST_TEST(!r.error().message.empty());
  }
}

// A LogRecord that keeps the names it was given.
LogRecord record_into(std::vector<std::string>& names) {
  return [&names](const std::string& name) {
    names.push_back(name);
    return Status();
  };
}

const LogRecord kNoLog;

std::string body_of(const std::string& id) {
  // Bytes a text API could lose: NUL, UTF-8, CR LF.
  return std::string("<edXMLEnvelope id=\"") + id + "\">\r\nV\xE1\xBB\x81 vi\xE1\xBB\x87" +
         std::string(1, '\0') + "c</edXMLEnvelope>";
}

DocumentRow make_document(const std::string& id, const std::string& document_id,
                          const std::vector<std::string>& organs, int business_type = 0,
                          Kind kind = Kind::edoc) {
  DocumentRow d;
  d.id = id;
  d.kind = kind;
  d.state = DocumentState::queued;
  d.document_id = document_id;
  d.sender = "000.00.01.H47";
  d.subject = test::kSampleSubject;
  d.package_sha256 = sha256_hex(body_of(id));
  d.client = "client-a";
  d.business_type = business_type;
  for (const auto& organ : organs) {
    RecipientRow r;
    r.organ_id = organ;
    r.adapter = "vdxp";
    r.state = RecipientState::pending;
    d.recipients.push_back(r);
  }
  return d;
}

Outbox::Submitted submit(Store& s, const DocumentRow& d, const std::string& key = "") {
  return must(s.submit(d, body_of(d.id), key, kNoLog), "submit " + d.id);
}

DocumentRow document(Store& s, const std::string& id) {
  auto d = must(s.document(id), "document " + id);
  BOOST_REQUIRE_MESSAGE(d.has_value(), "no document " + id);
  return std::move(*d);
}

const RecipientRow& recipient(const DocumentRow& d, const std::string& organ) {
  for (const auto& r : d.recipients) {
    if (r.organ_id == organ) return r;
  }
  BOOST_FAIL("document " + d.id + " has no recipient " + organ);
  throw std::logic_error("not reached");
}

StatusEntry status_from(const std::string& organ, const std::string& code, std::int64_t timestamp) {
  StatusEntry e;
  e.organ_id = organ;
  e.code = code;
  e.description = "status " + code;
  e.timestamp = timestamp;
  e.received_at = timestamp + 1;
  return e;
}

InboxRow make_inbox(const std::string& id, const std::string& document_id, const std::string& bytes,
                    int business_type = 0, Verification verification = Verification::valid,
                    Kind kind = Kind::edoc) {
  InboxRow r;
  r.id = id;
  r.kind = kind;
  r.adapter = "vdxp";
  r.remote_id = "remote-" + id;
  r.sender = "000.00.01.H47";
  r.document_id = document_id;
  r.subject = test::kSampleSubject;
  r.verification = verification;
  r.reason = verification == Verification::invalid ? "bad signature" : "";
  r.report_json = R"({"valid":true})";
  r.package_sha256 = sha256_hex(bytes);
  r.received_at = 1'700'000'000;
  r.business_type = business_type;
  return r;
}

bool add_inbox(Store& s, InboxRow& row, const std::string& bytes) {
  return must(s.add_inbox(row, bytes, kNoLog), "add_inbox " + row.id);
}

InboxRow inbox_item(Store& s, const std::string& id) {
  auto r = must(s.inbox_item(id), "inbox_item " + id);
  BOOST_REQUIRE_MESSAGE(r.has_value(), "no inbox row " + id);
  return std::move(*r);
}

template <class Row>
std::vector<std::string> ids(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

std::vector<std::string> due_ids(const std::vector<DueDelivery>& due) {
  std::vector<std::string> out;
  for (const auto& d : due) out.push_back(d.document + "/" + d.organ_id);
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

MailboxRow make_mail(const std::string& id, const std::string& package_id,
                     const std::string& from_system, const std::string& to_system, Kind kind,
                     std::int64_t created_at) {
  MailboxRow m;
  m.id = id;
  m.package_id = package_id;
  m.from_organ = "organ-" + from_system;
  m.to_organ = "organ-" + to_system;
  m.kind = kind;
  m.state = MailState::fresh;
  m.created_at = created_at;
  m.from_system = from_system;
  m.to_system = to_system;
  m.title = kind == Kind::edoc ? test::kSampleSubject : "";
  m.notation = kind == Kind::edoc ? "12/UBND-VP" : "";
  return m;
}

// A count of Counts: a state with none may be absent or 0.
template <class State>
std::int64_t count_of(const std::map<State, std::int64_t>& counts, State state) {
  auto it = counts.find(state);
  return it == counts.end() ? 0 : it->second;
}

// The bytes stored as `id`, or "(purged)".
std::string package(Store& s, const std::string& id) {
  return must(s.read_package(id), "read_package " + id).value_or("(purged)");
}

}  // namespace contract_test

using namespace contract_test;

// ---------------------------------------------------------------- Outbox

BOOST_DATA_TEST_CASE(a_submission_reads_back_whole_after_its_log_record,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  const std::int64_t t0 = wall_now();
  DocumentRow d = make_document("doc-1", "DOC-ID-1", {"000.00.02.H47", "000.00.03.H47"});
  d.follows = "";
  std::vector<std::string> names;
  std::vector<bool> visible_at_record;
  int syncs_at_record = -1;
  LogRecord log = [&](const std::string& name) {
    names.push_back(name);
    syncs_at_record = s.syncs();
    auto seen = s->document(d.id);
    visible_at_record.push_back(!seen.ok() || seen->has_value());
    return Status();
  };
  const auto submitted = must(s->submit(d, body_of(d.id), "", log), "submit");
  const std::int64_t t1 = wall_now();
  BOOST_TEST(submitted.id == d.id);
  BOOST_TEST(!submitted.repeated);

  BOOST_TEST_REQUIRE(names.size() == 1u);
  BOOST_TEST(!names[0].empty());
  BOOST_TEST(visible_at_record == std::vector<bool>{false}, "no row before the log record");
  BOOST_TEST(s.syncs() > syncs_at_record, "the log is synced after its record");

  const DocumentRow got = document(*s, d.id);
  BOOST_TEST(got.id == d.id);
  BOOST_TEST((got.kind == Kind::edoc));
  BOOST_TEST((got.state == DocumentState::queued));
  BOOST_TEST(got.reason == "");
  BOOST_TEST(got.document_id == "DOC-ID-1");
  BOOST_TEST(got.sender == d.sender);
  BOOST_TEST(got.subject == test::kSampleSubject);
  BOOST_TEST(got.package_sha256 == d.package_sha256);
  BOOST_TEST(got.client == "client-a");
  BOOST_TEST(got.business_type == 0);
  BOOST_TEST(got.follows == "");
  BOOST_TEST(got.created_at >= t0);
  BOOST_TEST(got.created_at <= t1);
  BOOST_TEST(got.updated_at >= got.created_at);
  BOOST_TEST_REQUIRE(got.recipients.size() == 2u);
  BOOST_TEST(got.recipients[0].organ_id == "000.00.02.H47");
  BOOST_TEST(got.recipients[1].organ_id == "000.00.03.H47");
  for (const auto& r : got.recipients) {
    BOOST_TEST(r.adapter == "vdxp");
    BOOST_TEST((r.state == RecipientState::pending));
    BOOST_TEST(r.attempts == 0);
    BOOST_TEST(r.status_code == "");
    BOOST_TEST(r.last_error == "");
    BOOST_TEST(r.history.empty());
  }
  BOOST_TEST(package(*s, d.id) == body_of(d.id));

  BOOST_TEST(!must(s->document("no-such-doc")).has_value());
  const Counts c = must(s->counts());
  BOOST_TEST(count_of(c.documents, DocumentState::queued) == 1);
  BOOST_TEST(c.queue_depth == 2);
  must(s->ping(), "ping");
}

BOOST_DATA_TEST_CASE(read_package_of_an_unknown_id_is_invalid, bdata::make(engine_names()),
                     engine) {
  Subject s(engine);
  expect_error(s->read_package("no-such-package"), Errc::invalid, "unknown package id");
}

BOOST_DATA_TEST_CASE(an_idempotency_key_repeats_its_document_and_refuses_another_body,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  const std::string body_hash = sha256_hex("request body 1");
  const std::string key = idempotency_key_with_body("key-1", body_hash);
  const DocumentRow first = make_document("doc-a1", "DOC-A1", {"000.00.02.H47"});
  const auto a = submit(*s, first, key);
  BOOST_TEST(a.id == "doc-a1");
  BOOST_TEST(!a.repeated);

  // The same key and body: the first document, nothing new stored.
  const auto again = submit(*s, make_document("doc-a2", "DOC-A2", {"000.00.02.H47"}), key);
  BOOST_TEST(again.id == "doc-a1");
  BOOST_TEST(again.repeated);
  BOOST_TEST(!must(s->document("doc-a2")).has_value());
  BOOST_TEST(!must(s->original_document("DOC-A2")).has_value());
  BOOST_TEST(must(s->idempotent("client-a", key)).value_or("(none)") == "doc-a1");

  // The same key with another body: refused, nothing stored.
  const std::string other = idempotency_key_with_body("key-1", sha256_hex("request body 2"));
  expect_error(s->idempotent("client-a", other), Errc::invalid, "idempotent, another body");
  expect_error(s->submit(make_document("doc-a3", "DOC-A3", {"000.00.02.H47"}), body_of("doc-a3"),
                         other, kNoLog),
               Errc::invalid, "submit, another body");
  BOOST_TEST(!must(s->document("doc-a3")).has_value());

  // Keys belong to a client; another key is free.
  BOOST_TEST(!must(s->idempotent("client-b", key)).has_value());
  BOOST_TEST(
      !must(s->idempotent("client-a", idempotency_key_with_body("key-2", body_hash))).has_value());
  DocumentRow b = make_document("doc-b1", "DOC-B1", {"000.00.02.H47"});
  b.client = "client-b";
  BOOST_TEST(!submit(*s, b, key).repeated);
  BOOST_TEST(must(s->idempotent("client-b", key)).value_or("(none)") == "doc-b1");
  BOOST_TEST(must(s->idempotent("client-a", key)).value_or("(none)") == "doc-a1");
  BOOST_TEST(split_idempotency_key(key).first == "key-1");
  BOOST_TEST(split_idempotency_key(key).second == body_hash);
}

BOOST_DATA_TEST_CASE(a_second_original_of_a_document_id_is_refused_and_follow_ups_are_not,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  submit(*s, make_document("orig", "DOC-X", {"000.00.02.H47"}));
  expect_error(
      s->submit(make_document("orig-2", "DOC-X", {"000.00.02.H47"}), body_of("orig-2"), "", kNoLog),
      Errc::invalid, "a second original");
  BOOST_TEST(!must(s->document("orig-2")).has_value());

  for (int type : {1, 2, 3}) {
    DocumentRow f =
        make_document("follow-" + std::to_string(type), "DOC-X", {"000.00.02.H47"}, type);
    f.follows = "orig";
    BOOST_TEST(!submit(*s, f).repeated);
    const DocumentRow got = document(*s, f.id);
    BOOST_TEST(got.business_type == type);
    BOOST_TEST(got.follows == "orig");
  }
  // A status package about it is no second original either.
  submit(*s, make_document("status-1", "DOC-X", {"000.00.02.H47"}, 0, Kind::status));

  const auto original = must(s->original_document("DOC-X"));
  BOOST_TEST_REQUIRE(original.has_value());
  BOOST_TEST(original->id == "orig");
  BOOST_TEST(original->recipients.size() == 1u);
  BOOST_TEST(!must(s->original_document("DOC-NONE")).has_value());
}

BOOST_DATA_TEST_CASE(due_deliveries_are_leased_until_the_lease_ends_or_an_attempt_is_recorded,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  const std::int64_t t = wall_now() + 5;  // after every submission below
  submit(*s, make_document("d1", "DOC-1", {"X", "Y"}));
  submit(*s, make_document("d2", "DOC-2", {"Z"}, 0, Kind::status));

  const auto first = must(s->lease_due_deliveries(t, 10, 60), "lease");
  BOOST_TEST(sorted(due_ids(first)) == (std::vector<std::string>{"d1/X", "d1/Y", "d2/Z"}),
             boost::test_tools::per_element());
  for (const auto& d : first) {
    BOOST_TEST(d.adapter == "vdxp");
    BOOST_TEST(d.sender == "000.00.01.H47");
    BOOST_TEST(d.attempts == 0);
    BOOST_TEST((d.kind == (d.document == "d2" ? Kind::status : Kind::edoc)));
    BOOST_TEST(d.document_id == (d.document == "d2" ? "DOC-2" : "DOC-1"));
  }
  // Leased: to nobody else before t + 60, to anyone after.
  BOOST_TEST(must(s->lease_due_deliveries(t, 10, 60)).empty());
  BOOST_TEST(must(s->lease_due_deliveries(t + 59, 10, 60)).empty());
  BOOST_TEST(must(s->lease_due_deliveries(t + 60, 10, 60)).size() == 3u);

  // An attempt ends the lease; the next one is due at its own time, oldest first.
  must(s->record_delivery("d1", "X", false, false, "timeout", "", t + 200));
  must(s->record_delivery("d1", "Y", false, false, "timeout", "", t + 150));
  must(s->record_delivery("d2", "Z", false, false, "timeout", "", t + 100));
  BOOST_TEST(must(s->lease_due_deliveries(t + 99, 10, 60)).empty());
  const auto two = must(s->lease_due_deliveries(t + 300, 2, 60));
  BOOST_TEST(due_ids(two) == (std::vector<std::string>{"d2/Z", "d1/Y"}),
             boost::test_tools::per_element());
  for (const auto& d : two) BOOST_TEST(d.attempts == 1);
  BOOST_TEST(
      due_ids(must(s->lease_due_deliveries(t + 300, 10, 60))) == (std::vector<std::string>{"d1/X"}),
      boost::test_tools::per_element());
  BOOST_TEST(must(s->lease_due_deliveries(t + 301, 10, 60)).empty());

  // Within its lease, an attempt recorded makes it due again at once.
  must(s->record_delivery("d2", "Z", false, false, "busy", "", t + 301));
  BOOST_TEST(
      due_ids(must(s->lease_due_deliveries(t + 302, 10, 60))) == (std::vector<std::string>{"d2/Z"}),
      boost::test_tools::per_element());
  // Sent or given up: never due again.
  must(s->record_delivery("d2", "Z", true, false, "", "remote-z", 0));
  must(s->record_delivery("d1", "Y", false, true, "refused", "", 0));
  BOOST_TEST(due_ids(must(s->lease_due_deliveries(t + 1000, 10, 60))) ==
                 (std::vector<std::string>{"d1/X"}),
             boost::test_tools::per_element());
}

BOOST_DATA_TEST_CASE(the_document_state_follows_its_recipients, bdata::make(engine_names()),
                     engine) {
  Subject s(engine);
  const std::int64_t t = wall_now();
  submit(*s, make_document("d1", "DOC-1", {"X", "Y"}));
  submit(*s, make_document("d2", "DOC-2", {"X", "Y"}));

  must(s->record_delivery("d1", "X", true, false, "", "remote-x", 0));
  DocumentRow d = document(*s, "d1");
  BOOST_TEST((d.state == DocumentState::queued), "Y is still pending");
  BOOST_TEST((recipient(d, "X").state == RecipientState::sent));
  BOOST_TEST(recipient(d, "X").attempts == 1);
  BOOST_TEST(recipient(d, "X").remote_id == "remote-x");
  BOOST_TEST(recipient(d, "X").last_error == "");

  must(s->record_delivery("d1", "Y", false, false, "busy", "", t + 100));
  d = document(*s, "d1");
  BOOST_TEST((d.state == DocumentState::queued));
  BOOST_TEST((recipient(d, "Y").state == RecipientState::pending));
  BOOST_TEST(recipient(d, "Y").last_error == "busy");
  BOOST_TEST(recipient(d, "Y").next_attempt_at == t + 100);
  BOOST_TEST(recipient(d, "Y").attempts == 1);

  must(s->record_delivery("d1", "Y", true, false, "", "remote-y", 0));
  d = document(*s, "d1");
  BOOST_TEST((d.state == DocumentState::sent), "every recipient handed on, none reported");
  BOOST_TEST(d.reason == "");
  BOOST_TEST(recipient(d, "Y").attempts == 2);
  BOOST_TEST(recipient(d, "Y").last_error == "");

  BOOST_TEST((must(s->record_status("DOC-1", status_from("X", "01", 1000))) ==
              Outbox::StatusOutcome::applied));
  BOOST_TEST((document(*s, "d1").state == DocumentState::sent), "Y has not reported");
  BOOST_TEST((must(s->record_status("DOC-1", status_from("Y", "03", 1000))) ==
              Outbox::StatusOutcome::applied));
  BOOST_TEST((document(*s, "d1").state == DocumentState::delivered));

  // Given up: failed with its error, even while another is pending.
  must(s->record_delivery("d2", "X", false, true, "refused by X", "", 0));
  d = document(*s, "d2");
  BOOST_TEST((d.state == DocumentState::failed));
  BOOST_TEST(d.reason == "refused by X");
  BOOST_TEST((recipient(d, "X").state == RecipientState::failed));
  BOOST_TEST((recipient(d, "Y").state == RecipientState::pending));

  const Counts c = must(s->counts());
  BOOST_TEST(count_of(c.documents, DocumentState::delivered) == 1);
  BOOST_TEST(count_of(c.documents, DocumentState::failed) == 1);
  BOOST_TEST(count_of(c.documents, DocumentState::queued) == 0);
  BOOST_TEST(c.queue_depth == 1);
}

BOOST_DATA_TEST_CASE(a_status_applies_by_its_timestamp_and_older_ones_stay_in_the_history,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  submit(*s, make_document("d1", "DOC-1", {"X", "Y"}));
  DocumentRow follow = make_document("f1", "DOC-1", {"W"}, 2);
  follow.follows = "d1";
  submit(*s, follow);
  using O = Outbox::StatusOutcome;
  auto record = [&](const std::string& organ, const std::string& code, std::int64_t ts) {
    return must(s->record_status("DOC-1", status_from(organ, code, ts)), "status " + code);
  };

  BOOST_TEST((record("X", "03", 200) == O::applied));
  BOOST_TEST((record("X", "02", 100) == O::kept_older), "older, arriving late");
  BOOST_TEST((record("X", "01", 200) == O::kept_older), "same time, lower rank");
  BOOST_TEST((record("X", "05", 200) == O::applied), "same time, higher rank");
  BOOST_TEST((record("X", "13", 200) == O::kept_older), "a recall request ranks first");
  BOOST_TEST((record("X", "04", 300) == O::applied), "newer");
  BOOST_TEST(status_rank("05") > status_rank("03"));
  BOOST_TEST(status_rank("13") < status_rank("01"));

  const DocumentRow d = document(*s, "d1");
  const RecipientRow& x = recipient(d, "X");
  BOOST_TEST(x.status_code == "04");
  BOOST_TEST(x.status_description == "status 04");
  BOOST_TEST(x.status_at == 300);
  // Every status, by its own Timestamp; only X's under X.
  std::vector<std::string> history;
  for (const auto& e : x.history) {
    history.push_back(e.code + "@" + std::to_string(e.timestamp) + (e.applied ? "+" : "-"));
    BOOST_TEST((e.direction == Direction::in));
    BOOST_TEST(e.organ_id == "X");
    BOOST_TEST(e.received_at == e.timestamp + 1);
  }
  BOOST_TEST_REQUIRE(history.size() == 6u);
  BOOST_TEST(history[0] == "02@100-");
  std::vector<std::string> at200(history.begin() + 1, history.begin() + 5);
  BOOST_TEST(
      sorted(at200) == (std::vector<std::string>{"01@200-", "03@200+", "05@200+", "13@200-"}),
      boost::test_tools::per_element());
  BOOST_TEST(history[5] == "04@300+");
  BOOST_TEST(recipient(d, "Y").history.empty());
  BOOST_TEST(recipient(d, "Y").status_code == "");

  // Nothing to apply it to: no history either.
  BOOST_TEST((must(s->record_status("DOC-NONE", status_from("X", "01", 1))) == O::no_document));
  BOOST_TEST((must(s->record_status("DOC-1", status_from("Q", "01", 1))) == O::no_document),
             "not a recipient");
  BOOST_TEST((must(s->record_status("DOC-1", status_from("W", "01", 1))) == O::no_document),
             "a follow-up's recipient: statuses concern the original");
  BOOST_TEST(recipient(document(*s, "f1"), "W").history.empty());
}

BOOST_DATA_TEST_CASE(status_history_is_added_without_changing_state, bdata::make(engine_names()),
                     engine) {
  Subject s(engine);
  submit(*s, make_document("d1", "DOC-1", {"X"}));
  StatusEntry sent = status_from("X", "13", 500);
  sent.direction = Direction::out;
  must(s->add_status_history("d1", sent));
  const DocumentRow d = document(*s, "d1");
  BOOST_TEST(recipient(d, "X").status_code == "");
  BOOST_TEST_REQUIRE(recipient(d, "X").history.size() == 1u);
  BOOST_TEST((recipient(d, "X").history[0].direction == Direction::out));
  BOOST_TEST(!recipient(d, "X").history[0].applied);
  BOOST_TEST((d.state == DocumentState::queued));
}

// ---------------------------------------------------------------- Inbox

BOOST_DATA_TEST_CASE(an_incoming_package_is_stored_once_and_a_different_copy_as_a_conflict,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  const std::string b1 = body_of("incoming 1"), b2 = body_of("incoming 2");
  std::vector<std::string> names;
  InboxRow r1 = make_inbox("i1", "DOC-1", b1);
  BOOST_TEST(must(s->add_inbox(r1, b1, record_into(names))));
  BOOST_TEST(names.size() == 1u);
  BOOST_TEST(r1.conflict_of == "");

  // The same bytes again: no row, whatever its id.
  InboxRow r2 = make_inbox("i2", "DOC-1", b1);
  r2.verification = Verification::unsigned_;
  BOOST_TEST(!add_inbox(*s, r2, b1));
  BOOST_TEST(!must(s->inbox_item("i2")).has_value());

  // Other bytes of the same original: kept, naming the first.
  InboxRow r3 = make_inbox("i3", "DOC-1", b2, 0, Verification::unsigned_);
  BOOST_TEST(add_inbox(*s, r3, b2));
  BOOST_TEST(r3.conflict_of == "i1");
  BOOST_TEST(inbox_item(*s, "i3").conflict_of == "i1");

  // Refused packages are kept every time, and never conflict.
  InboxRow r4 = make_inbox("i4", "DOC-1", b1, 0, Verification::invalid);
  BOOST_TEST(add_inbox(*s, r4, b1));
  BOOST_TEST(r4.conflict_of == "");
  InboxRow r4b = make_inbox("i4b", "DOC-1", b1, 0, Verification::invalid);
  BOOST_TEST(add_inbox(*s, r4b, b1));
  // Status packages are not documents: each is kept.
  InboxRow st1 = make_inbox("s1", "DOC-1", b1, 0, Verification::valid, Kind::status);
  InboxRow st2 = make_inbox("s2", "DOC-1", b1, 0, Verification::valid, Kind::status);
  BOOST_TEST(add_inbox(*s, st1, b1));
  BOOST_TEST(add_inbox(*s, st2, b1));
  // The same bytes as a follow-up type are another package.
  InboxRow r5 = make_inbox("i5", "DOC-1", b1, 2);
  BOOST_TEST(add_inbox(*s, r5, b1));

  const auto copy = must(s->accepted_copy(r2));
  BOOST_TEST_REQUIRE(copy.has_value());
  BOOST_TEST(copy->id == "i1");
  BOOST_TEST(!must(s->accepted_copy(make_inbox("x", "DOC-1", body_of("other")))).has_value());
  const auto original = must(s->original_inbox_item("000.00.01.H47", "DOC-1"));
  BOOST_TEST_REQUIRE(original.has_value());
  BOOST_TEST(original->id == "i1");
  BOOST_TEST(!must(s->original_inbox_item("000.00.01.H47", "DOC-2")).has_value());
  BOOST_TEST(!must(s->original_inbox_item("000.00.09.H47", "DOC-1")).has_value());

  const InboxRow got = inbox_item(*s, "i1");
  BOOST_TEST((got.kind == Kind::edoc));
  BOOST_TEST(got.adapter == "vdxp");
  BOOST_TEST(got.remote_id == "remote-i1");
  BOOST_TEST(got.sender == "000.00.01.H47");
  BOOST_TEST(got.subject == test::kSampleSubject);
  BOOST_TEST((got.verification == Verification::valid));
  BOOST_TEST(got.report_json == R"({"valid":true})");
  BOOST_TEST(got.package_sha256 == sha256_hex(b1));
  BOOST_TEST(got.received_at == 1'700'000'000);
  BOOST_TEST(!got.handled);
  BOOST_TEST(got.business_type == 0);
  BOOST_TEST(inbox_item(*s, "i4").reason == "bad signature");
  BOOST_TEST(package(*s, "i1") == b1);
  BOOST_TEST(package(*s, "i3") == b2);

  const Counts c = must(s->counts());
  BOOST_TEST(count_of(c.inbox, Verification::valid) == 4);  // i1, s1, s2, i5
  BOOST_TEST(count_of(c.inbox, Verification::unsigned_) == 1);
  BOOST_TEST(count_of(c.inbox, Verification::invalid) == 2);
}

BOOST_DATA_TEST_CASE(follow_ups_link_to_their_original_whichever_arrives_first,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  // A revocation before the original it concerns.
  InboxRow revocation = make_inbox("rev", "DOC-2", body_of("rev"), 1);
  BOOST_TEST(add_inbox(*s, revocation, body_of("rev")));
  InboxRow update = make_inbox("upd", "DOC-2", body_of("upd"), 2);
  BOOST_TEST(add_inbox(*s, update, body_of("upd")));
  auto early = must(s->earlier_followup("000.00.01.H47", "DOC-2"));
  BOOST_TEST_REQUIRE(early.has_value());
  BOOST_TEST(early->id == "rev");
  BOOST_TEST(!must(s->earlier_followup("000.00.01.H47", "DOC-3")).has_value());

  InboxRow original = make_inbox("orig", "DOC-2", body_of("orig"));
  BOOST_TEST(add_inbox(*s, original, body_of("orig")));
  must(s->link_followup("rev", "orig", true));
  BOOST_TEST(inbox_item(*s, "rev").concerns == "orig");
  BOOST_TEST(inbox_item(*s, "orig").revoked_by == "rev");
  BOOST_TEST(inbox_item(*s, "orig").superseded_by == "");
  BOOST_TEST(!must(s->earlier_followup("000.00.01.H47", "DOC-2")).has_value(), "linked now");

  InboxRow replacement = make_inbox("rep", "DOC-2", body_of("rep"), 3);
  BOOST_TEST(add_inbox(*s, replacement, body_of("rep")));
  must(s->link_followup("rep", "orig", false));
  BOOST_TEST(inbox_item(*s, "orig").superseded_by == "rep");
  BOOST_TEST(inbox_item(*s, "rep").concerns == "orig");

  BOOST_TEST(!inbox_item(*s, "orig").handled);
  must(s->mark_handled("orig"));
  BOOST_TEST(inbox_item(*s, "orig").handled);
  BOOST_TEST(!inbox_item(*s, "rev").handled);

  // History in both directions, by Timestamp.
  StatusEntry recall = status_from("000.00.01.H47", "13", 50);
  StatusEntry answer = status_from("000.00.04.H47", "01", 40);
  answer.direction = Direction::out;
  must(s->add_status_history("orig", recall));
  must(s->add_status_history("orig", answer));
  const auto history = inbox_item(*s, "orig").history;
  BOOST_TEST_REQUIRE(history.size() == 2u);
  BOOST_TEST(history[0].code == "01");
  BOOST_TEST((history[0].direction == Direction::out));
  BOOST_TEST(history[1].code == "13");
  BOOST_TEST((history[1].direction == Direction::in));
}

BOOST_DATA_TEST_CASE(the_inbox_lists_documents_newest_first_after_a_given_row,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  for (const std::string id : {"e1", "s1", "e2", "e3"}) {
    InboxRow r = make_inbox(id, "DOC-" + id, body_of(id), 0, Verification::valid,
                            id[0] == 's' ? Kind::status : Kind::edoc);
    BOOST_TEST(add_inbox(*s, r, body_of(id)));
  }
  must(s->add_status_history("e2", status_from("X", "02", 10)));
  must(s->add_status_history("e2", status_from("X", "01", 5)));

  const auto all = must(s->inbox("", 10));
  BOOST_TEST(ids(all) == (std::vector<std::string>{"e3", "e2", "e1"}),
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(all.size() == 3u);
  BOOST_TEST_REQUIRE(all[1].history.size() == 2u);
  BOOST_TEST(all[1].history[0].code == "01");
  BOOST_TEST(all[0].history.empty());
  BOOST_TEST(ids(must(s->inbox("", 2))) == (std::vector<std::string>{"e3", "e2"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids(must(s->inbox("e1", 10))) == (std::vector<std::string>{"e3", "e2"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids(must(s->inbox("s1", 10))) == (std::vector<std::string>{"e3", "e2"}),
             boost::test_tools::per_element());
  BOOST_TEST(must(s->inbox("e3", 10)).empty());
  BOOST_TEST(!must(s->inbox_item("nothing")).has_value());
}

// ---------------------------------------------------------------- HubMailbox

BOOST_DATA_TEST_CASE(the_hub_mailbox_gives_each_system_its_oldest_waiting_mail,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  std::vector<std::string> names;
  must(s->add_mail({make_mail("m1", "P1", "A", "B", Kind::edoc, 100),
                    make_mail("m2", "P1", "A", "C", Kind::edoc, 100)},
                   body_of("P1"), record_into(names)),
       "add_mail P1");
  BOOST_TEST(names.size() == 1u, "one record for the package, whatever its recipients");
  must(s->add_mail({make_mail("m3", "P2", "A", "B", Kind::edoc, 200)}, body_of("P2"), kNoLog));
  must(s->add_mail({make_mail("m4", "P3", "A", "B", Kind::status, 150)}, body_of("P3"), kNoLog));
  must(s->add_mail({make_mail("m5", "P4", "X", "B", Kind::edoc, 50)}, body_of("P4"), kNoLog));

  BOOST_TEST(
      ids(must(s->mail_for("B", Kind::edoc, 10))) == (std::vector<std::string>{"m5", "m1", "m3"}),
      boost::test_tools::per_element());
  BOOST_TEST(ids(must(s->mail_for("B", Kind::edoc, 2))) == (std::vector<std::string>{"m5", "m1"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids(must(s->mail_for("B", Kind::status, 10))) == (std::vector<std::string>{"m4"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids(must(s->mail_for("C", Kind::edoc, 10))) == (std::vector<std::string>{"m2"}),
             boost::test_tools::per_element());
  BOOST_TEST(must(s->mail_for("D", Kind::edoc, 10)).empty());
  BOOST_TEST(must(s->count_mail_for("B", Kind::edoc)) == 3);
  BOOST_TEST(must(s->count_mail_for("B", Kind::status)) == 1);

  // Processing still waits; done and fail do not.
  must(s->set_mail_state("m1", MailState::processing));
  must(s->set_mail_state("m5", MailState::done));
  must(s->set_mail_state("m3", MailState::fail));
  BOOST_TEST(ids(must(s->mail_for("B", Kind::edoc, 10))) == (std::vector<std::string>{"m1"}),
             boost::test_tools::per_element());
  BOOST_TEST(must(s->count_mail_for("B", Kind::edoc)) == 1);

  const auto m1 = must(s->mail("m1"));
  BOOST_TEST_REQUIRE(m1.has_value());
  BOOST_TEST((m1->state == MailState::processing));
  BOOST_TEST(m1->package_id == "P1");
  BOOST_TEST(m1->from_organ == "organ-A");
  BOOST_TEST(m1->to_organ == "organ-B");
  BOOST_TEST((m1->kind == Kind::edoc));
  BOOST_TEST(m1->created_at == 100);
  BOOST_TEST(m1->from_system == "A");
  BOOST_TEST(m1->to_system == "B");
  BOOST_TEST(m1->title == test::kSampleSubject);
  BOOST_TEST(m1->notation == "12/UBND-VP");
  BOOST_TEST(!must(s->mail("m-none")).has_value());
  BOOST_TEST(package(*s, "P1") == body_of("P1"));

  // What a system sent: newest first, filtered by kind and package.
  BOOST_TEST(ids(must(s->sent_mail("A", std::nullopt, "", 10))) ==
                 (std::vector<std::string>{"m3", "m4", "m2", "m1"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids(must(s->sent_mail("A", Kind::edoc, "", 10))) ==
                 (std::vector<std::string>{"m3", "m2", "m1"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids(must(s->sent_mail("A", std::nullopt, "P1", 10))) ==
                 (std::vector<std::string>{"m2", "m1"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids(must(s->sent_mail("A", Kind::status, "P1", 10))).empty());
  BOOST_TEST(ids(must(s->sent_mail("A", std::nullopt, "", 1))) == (std::vector<std::string>{"m3"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids(must(s->sent_mail("X", std::nullopt, "", 10))) == (std::vector<std::string>{"m5"}),
             boost::test_tools::per_element());

  const Counts c = must(s->counts());
  BOOST_TEST(count_of(c.mailbox, MailState::fresh) == 2);  // m2, m4
  BOOST_TEST(count_of(c.mailbox, MailState::processing) == 1);
  BOOST_TEST(count_of(c.mailbox, MailState::done) == 1);
  BOOST_TEST(count_of(c.mailbox, MailState::fail) == 1);
}

BOOST_DATA_TEST_CASE(agencies_are_added_replaced_by_code_and_deleted, bdata::make(engine_names()),
                     engine) {
  Subject s(engine);
  BOOST_TEST(must(s->agencies()).empty());
  AgencyRow a;
  a.code = "000.00.01.H47";
  a.name = "UBND huyện Hướng Hóa";
  a.mail = "vt@huonghoa.gov.vn";
  a.pid = "000.00.00.H47";
  a.id = "17";
  AgencyRow b = a;
  b.code = "000.00.00.G22";
  b.name = "Bộ Nội vụ";
  must(s->add_agency(a));
  must(s->add_agency(b));
  auto list = must(s->agencies());
  BOOST_TEST_REQUIRE(list.size() == 2u);
  BOOST_TEST(list[0].code == "000.00.00.G22");
  BOOST_TEST(list[1].code == "000.00.01.H47");
  BOOST_TEST(list[1].name == "UBND huyện Hướng Hóa");
  BOOST_TEST(list[1].mail == "vt@huonghoa.gov.vn");
  BOOST_TEST(list[1].pid == "000.00.00.H47");
  BOOST_TEST(list[1].id == "17");

  a.name = "Huyện Hướng Hóa";
  must(s->add_agency(a));
  list = must(s->agencies());
  BOOST_TEST_REQUIRE(list.size() == 2u);
  BOOST_TEST(list[1].name == "Huyện Hướng Hóa");

  BOOST_TEST(must(s->delete_agency("000.00.01.H47")));
  BOOST_TEST(!must(s->delete_agency("000.00.01.H47")));
  list = must(s->agencies());
  BOOST_TEST_REQUIRE(list.size() == 1u);
  BOOST_TEST(list[0].code == "000.00.00.G22");
}

// ---------------------------------------------------------------- PackageStore

BOOST_DATA_TEST_CASE(retention_purges_old_bodies_and_keeps_what_work_needs,
                     bdata::make(engine_names()), engine) {
  Subject s(engine);
  // Bodies above the SQLite factory's segment size: a segment each, so
  // whole-segment retention can drop them one by one.
  auto big = [](const std::string& id) { return body_of(id) + std::string(8192, 'x'); };
  auto store_document = [&](const std::string& id) {
    DocumentRow d = make_document(id, "DOC-" + id, {"X"});
    must(s->submit(d, big(id), "", kNoLog), "submit " + id);
  };
  auto store_inbox = [&](const std::string& id) {
    InboxRow r = make_inbox(id, "DOC-" + id, big(id));
    BOOST_TEST(add_inbox(*s, r, big(id)));
  };
  auto store_mail = [&](const std::string& id) {
    must(s->add_mail({make_mail("m-" + id, id, "A", "B", Kind::edoc, 100)}, big(id), kNoLog));
  };
  // Work done: delivered, handed inward, fetched.
  store_document("done-doc");
  must(s->record_delivery("done-doc", "X", true, false, "", "r", 0));
  store_inbox("done-inbox");
  must(s->mark_handled("done-inbox"));
  store_mail("done-mail");
  must(s->set_mail_state("m-done-mail", MailState::done));
  // Work waiting.
  store_document("pending-doc");
  store_inbox("pending-inbox");
  store_mail("pending-mail");
  const std::vector<std::string> done = {"done-doc", "done-inbox", "done-mail"};
  const std::vector<std::string> waiting = {"pending-doc", "pending-inbox", "pending-mail"};

  // Nothing was stored before a time long past.
  const auto none = must(s->purge(wall_now() - 3600), "purge, an hour ago");
  BOOST_TEST(none.packages == 0u);
  for (const auto& id : done) BOOST_TEST(package(*s, id) == big(id));

  const auto report = must(s->purge(wall_now() + 3600), "purge, everything before an hour ahead");
  BOOST_TEST(report.packages == done.size());
  for (const auto& id : done) BOOST_TEST(package(*s, id) == "(purged)", id << " is purged");
  for (const auto& id : waiting) BOOST_TEST(package(*s, id) == big(id), id << " is kept");
  // The rows stay.
  BOOST_TEST(document(*s, "done-doc").id == "done-doc");
  BOOST_TEST(inbox_item(*s, "done-inbox").handled);
  BOOST_TEST(must(s->mail("m-done-mail")).has_value());
  BOOST_TEST(must(s->purge(wall_now() + 3600)).packages == 0u, "purged once");
}

// ---------------------------------------------------------------- threads

BOOST_DATA_TEST_CASE(concurrent_submissions_all_land_with_unique_ids, bdata::make(engine_names()),
                     engine) {
  Subject s(engine);
  constexpr int kThreads = 16, kEach = 50;
  // Boost.Test's assertions are not thread-safe: threads collect, main checks.
  std::vector<std::vector<std::string>> returned(kThreads), errors(kThreads);
  std::atomic<int> records{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int n = 0; n < kEach; ++n) {
          const std::string id = "t" + std::to_string(t) + "-" + std::to_string(n);
          DocumentRow d = make_document(id, "DOC-" + id, {"X", "Y"});
          auto r = s->submit(d, body_of(id), idempotency_key_with_body("k-" + id, "h"),
                             [&records](const std::string&) {
                               ++records;
                               return Status();
                             });
          if (r.ok()) {
            returned[t].push_back(r->id);
          } else {
            errors[t].push_back(id + ": " + r.error().message);
          }
        }
      });
    }
  }
  std::set<std::string> unique;
  for (int t = 0; t < kThreads; ++t) {
    BOOST_TEST(errors[t].empty(),
               "thread " << t << ": " << (errors[t].empty() ? "" : errors[t][0]));
    unique.insert(returned[t].begin(), returned[t].end());
  }
  BOOST_TEST(unique.size() == static_cast<std::size_t>(kThreads * kEach));
  BOOST_TEST(records.load() == kThreads * kEach);
  for (const auto& id : unique) {
    const auto d = must(s->document(id));
    BOOST_TEST_REQUIRE(d.has_value(), id);
    BOOST_TEST(d->recipients.size() == 2u);
    BOOST_TEST(package(*s, id) == body_of(id));
  }
  BOOST_TEST(must(s->counts()).queue_depth == 2 * kThreads * kEach);
  BOOST_TEST(must(s->lease_due_deliveries(wall_now() + 5, 10 * kThreads * kEach, 60)).size() ==
             static_cast<std::size_t>(2 * kThreads * kEach));
}
