// The in-memory engine's own promises beyond the contract (which
// store_contract_test checks for every engine): its bytes are named
// "memory/ID" in the log; a fault injected before a write leaves nothing
// and calls no LogRecord, one injected after it leaves the write whole; a
// failing LogRecord or log sync stores no row; read faults; its clock.
#define BOOST_TEST_MODULE memory_store
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <string>
#include <vector>

#include "store/memory_store.h"

using namespace edocgw;
using namespace edocgw::store;

namespace {

std::unique_ptr<Store> open(MemoryOptions options) {
  auto s = open_memory_store(std::move(options));
  BOOST_REQUIRE(s.ok());
  return std::move(*s);
}

DocumentRow make_document(const std::string& id) {
  DocumentRow d;
  d.id = id;
  d.kind = Kind::edoc;
  d.document_id = "DOC-" + id;
  d.sender = "000.00.01.H47";
  d.client = "client-a";
  RecipientRow r;
  r.organ_id = "000.00.02.H47";
  r.adapter = "vdxp";
  d.recipients.push_back(r);
  return d;
}

bool stored(Store& s, const std::string& id) {
  auto d = s.document(id);
  BOOST_REQUIRE(d.ok());
  return d->has_value();
}

}  // namespace

BOOST_AUTO_TEST_CASE(package_bytes_are_named_memory_slash_their_id_then_synced) {
  std::vector<std::string> events;
  MemoryOptions options;
  options.log_sync = [&] {
    events.push_back("sync");
    return Status();
  };
  auto s = open(std::move(options));
  LogRecord log = [&](const std::string& name) {
    events.push_back(name);
    return Status();
  };
  BOOST_REQUIRE(s->submit(make_document("d1"), "bytes", "", log).ok());
  InboxRow row;
  row.id = "i1";
  row.verification = Verification::valid;
  BOOST_REQUIRE(s->add_inbox(row, "bytes", log).ok());
  MailboxRow m;
  m.id = "m1";
  m.package_id = "p1";
  BOOST_REQUIRE(s->add_mail({m}, "bytes", log).ok());
  BOOST_TEST(events == (std::vector<std::string>{"memory/d1", "sync", "memory/i1", "sync",
                                                 "memory/p1", "sync"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_fault_before_a_write_leaves_nothing_and_one_after_leaves_it_whole) {
  std::atomic<WriteFault> fault{WriteFault::before};
  std::vector<std::string> asked;
  MemoryOptions options;
  options.fail_writes = [&](std::string_view method) {
    asked.emplace_back(method);
    return fault.load();
  };
  auto s = open(std::move(options));
  int records = 0;
  LogRecord log = [&](const std::string&) {
    ++records;
    return Status();
  };

  auto r = s->submit(make_document("d1"), "bytes", "key-1\nhash", log);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(static_cast<int>(r.error().code) == static_cast<int>(Errc::io));
  BOOST_TEST(records == 0);
  BOOST_TEST(!stored(*s, "d1"));
  BOOST_TEST(asked == std::vector<std::string>{"submit"}, boost::test_tools::per_element());

  // After: the answer is lost, the write is not; a retry with its key repeats it.
  fault = WriteFault::after;
  r = s->submit(make_document("d1"), "bytes", "key-1\nhash", log);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(static_cast<int>(r.error().code) == static_cast<int>(Errc::io));
  BOOST_TEST(records == 1);
  BOOST_TEST(stored(*s, "d1"));
  fault = WriteFault::none;
  auto again = s->submit(make_document("d1-retry"), "bytes", "key-1\nhash", log);
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->id == "d1");
  BOOST_TEST(again->repeated);

  // Every kind of write asks.
  fault = WriteFault::before;
  BOOST_TEST(!s->record_delivery("d1", "000.00.02.H47", true, false, "", "", 0).ok());
  BOOST_TEST(!s->lease_due_deliveries(0, 10, 60).ok());
  BOOST_TEST(!s->mark_handled("x").ok());
  BOOST_TEST(!s->purge(0).ok());
  BOOST_TEST(asked.back() == "purge");
  fault = WriteFault::none;
  auto d = s->document("d1");
  BOOST_REQUIRE(d.ok() && d->has_value());
  BOOST_TEST(((*d)->recipients[0].state == RecipientState::pending),
             "the refused attempt left none");
}

BOOST_AUTO_TEST_CASE(a_failing_log_record_or_sync_stores_no_row) {
  std::atomic<bool> sync_fails{false};
  MemoryOptions options;
  options.log_sync = [&]() -> Status {
    if (sync_fails) return make_error(Errc::io, "disk full");
    return {};
  };
  auto s = open(std::move(options));
  LogRecord refuse = [](const std::string&) -> Status {
    return make_error(Errc::io, "log closed");
  };
  auto r = s->submit(make_document("d1"), "bytes", "", refuse);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().message == "log closed");
  BOOST_TEST(!stored(*s, "d1"));

  sync_fails = true;
  LogRecord accept = [](const std::string&) { return Status(); };
  r = s->submit(make_document("d2"), "bytes", "", accept);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().message == "disk full");
  BOOST_TEST(!stored(*s, "d2"));
  auto bytes = s->read_package("d2");
  BOOST_TEST(!bytes.ok(), "no body either");
}

BOOST_AUTO_TEST_CASE(a_read_fault_fails_that_read_only) {
  std::atomic<bool> fail{false};
  MemoryOptions options;
  options.fail_reads = [&](std::string_view method) { return fail && method != "inbox"; };
  auto s = open(std::move(options));
  BOOST_REQUIRE(s->submit(make_document("d1"), "bytes", "", {}).ok());
  fail = true;
  BOOST_TEST(!s->document("d1").ok());
  BOOST_TEST(!s->read_package("d1").ok());
  BOOST_TEST(!s->ping().ok());
  BOOST_TEST(s->inbox("", 10).ok());
  fail = false;
  BOOST_TEST(stored(*s, "d1"));
}

BOOST_AUTO_TEST_CASE(its_clock_stamps_rows_and_first_attempts) {
  std::atomic<std::int64_t> now{1'000};
  MemoryOptions options;
  options.clock = [&] { return now.load(); };
  auto s = open(std::move(options));
  BOOST_REQUIRE(s->submit(make_document("d1"), "bytes", "", {}).ok());
  auto d = s->document("d1");
  BOOST_REQUIRE(d.ok() && d->has_value());
  BOOST_TEST((*d)->created_at == 1'000);
  BOOST_TEST((*d)->recipients[0].next_attempt_at == 1'000);
  BOOST_TEST(s->lease_due_deliveries(999, 10, 60)->empty());
  BOOST_TEST(s->lease_due_deliveries(1'000, 10, 60)->size() == 1u);
  // Retention by the same clock: stored at 1000, done, purged before 1001.
  BOOST_REQUIRE(s->record_delivery("d1", "000.00.02.H47", true, false, "", "r", 0).ok());
  BOOST_TEST(s->purge(1'000)->packages == 0u);
  BOOST_TEST(s->purge(1'001)->packages == 1u);
  now = 2'000;
  BOOST_REQUIRE(s->record_delivery("d1", "000.00.02.H47", true, false, "", "r", 0).ok());
  BOOST_TEST(s->document("d1")->value().updated_at == 2'000);
}
