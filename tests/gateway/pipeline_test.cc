// The pipeline in process, over the in-memory store and a fake adapter: a
// submitted document is signed, stored and delivered, its recipient and
// state following each attempt; an unreachable far side leaves it pending
// for a later round; a store that refuses the write answers `unavailable`
// and stores nothing; a store that lost its answer after writing is
// repeated, not duplicated, when the client retries with its
// Idempotency-Key. What the pipeline answers is a domain Outcome (its kind
// and error code), checked here without HTTP.
#define BOOST_TEST_MODULE pipeline
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>

#include "adapters/adapter.h"
#include "gateway/pipeline.h"
#include "store/memory_store.h"
#include "tests/gateway/province.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using namespace edocgw::test;

namespace pipeline_test {

// Delivers into a list; fails with Errc::io while `unreachable` is set.
class FakeAdapter final : public adapters::Adapter {
 public:
  explicit FakeAdapter(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  const std::string& type() const override { return type_; }
  Result<adapters::DeliveryReceipt> deliver(const adapters::OutgoingPackage& p) override {
    if (unreachable) return make_error(Errc::io, "the far side does not answer");
    std::lock_guard lock(mutex_);
    delivered_.push_back(p);
    adapters::DeliveryReceipt r;
    r.remote_id = "remote-" + std::to_string(delivered_.size());
    return r;
  }
  Status health() override { return {}; }
  std::vector<adapters::OutgoingPackage> delivered() {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  std::atomic<bool> unreachable{false};

 private:
  const std::string name_, type_ = "fake";
  std::mutex mutex_;
  std::vector<adapters::OutgoingPackage> delivered_;
};

// Hướng Hóa (the sample PKI's huong-hoa) sending to Đakrông through "dakrong".
std::string config_xml() {
  return R"(<gateway organ-id="000.00.12.H50" name="UBND huyện Hướng Hóa" data-dir="var">
  <identity cert=")" +
         pki("huong-hoa.pem").string() + R"(" key=")" + pki("huong-hoa.key").string() +
         R"(" chain=")" + pki("ca.pem").string() + R"("/>
  <trust anchors=")" +
         pki("root.pem").string() + R"(" crl=")" + pki("crls.pem").string() +
         R"(" revocation="require"/>
  <adapters>
    <adapter name="dakrong" type="directory" path="var/to-dakrong"/>
  </adapters>
  <routes>
    <route to="000.00.13.H50" via="dakrong"/>
  </routes>
</gateway>
)";
}

// A pipeline over a fresh memory store whose writes fail as `fault` says.
struct Fixture {
  TempDir dir;
  std::atomic<store::WriteFault> fault{store::WriteFault::none};
  std::shared_ptr<FakeAdapter> adapter = std::make_shared<FakeAdapter>("dakrong");
  std::shared_ptr<const gateway::LoadedConfig> config;
  std::unique_ptr<audit::SignatureLog> log;
  std::unique_ptr<store::Store> store;
  gateway::Metrics metrics;
  std::unique_ptr<gateway::Pipeline> pipeline;

  Fixture() {
    write(dir / "gateway.xml", config_xml());
    adapters::AdapterRegistry registry;
    adapters::register_builtin_adapters(registry);
    auto loaded = gateway::load_and_check(dir / "gateway.xml", registry);
    BOOST_REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
    for (auto& a : loaded->adapters) {
      if (a->name() == "dakrong") a = adapter;
    }
    config = std::make_shared<const gateway::LoadedConfig>(std::move(*loaded));
    std::vector<std::string> notices;
    auto opened = audit::SignatureLog::open(config->config.data_dir, "edocgw/test", notices);
    BOOST_REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
    log = std::move(*opened);
    store::MemoryOptions options;
    options.log_sync = [this] { return log->sync(); };
    options.fail_writes = [this](std::string_view method) {
      return method == "submit" ? fault.load() : store::WriteFault::none;
    };
    auto memory = store::open_memory_store(std::move(options));
    BOOST_REQUIRE(memory.ok());
    store = std::move(*memory);
    pipeline = std::make_unique<gateway::Pipeline>(
        *store, metrics, *log, [this] { return config; },
        [](std::function<void()> task) { task(); });
  }

  store::DocumentRow document(const std::string& id) {
    auto d = store->document(id);
    BOOST_REQUIRE(d.ok());
    BOOST_REQUIRE_MESSAGE(d->has_value(), "no document " + id);
    return **d;
  }
};

using Kind = gateway::Outcome::Kind;

std::string id_of(const gateway::Outcome& o) {
  return o.body.is_object() ? o.body.value("id", "") : "";
}

// For a failed check's message.
std::string text(const gateway::Outcome& o) {
  return gateway::answer_text(o);
}

}  // namespace pipeline_test

using namespace pipeline_test;

BOOST_AUTO_TEST_CASE(a_submitted_document_is_signed_stored_and_delivered) {
  Fixture f;
  const auto answer = f.pipeline->submit(test::package("101/UBND"), "qlvb", "");
  BOOST_TEST_REQUIRE((answer.kind == Kind::queued), text(answer));
  const std::string id = id_of(answer);
  BOOST_TEST((f.document(id).state == store::DocumentState::queued));
  auto bytes = f.store->read_package(id);
  BOOST_REQUIRE(bytes.ok() && bytes->has_value());
  BOOST_TEST((*bytes)->find("Signature") != std::string::npos);

  BOOST_TEST(f.pipeline->deliver_due() == 1);
  const auto delivered = f.adapter->delivered();
  BOOST_TEST_REQUIRE(delivered.size() == 1u);
  BOOST_TEST(delivered[0].bytes == **bytes);
  BOOST_TEST(delivered[0].to_organ_ids == std::vector<std::string>{"000.00.13.H50"},
             boost::test_tools::per_element());
  const auto d = f.document(id);
  BOOST_TEST((d.state == store::DocumentState::sent));
  BOOST_TEST_REQUIRE(d.recipients.size() == 1u);
  BOOST_TEST((d.recipients[0].state == store::RecipientState::sent));
  BOOST_TEST(d.recipients[0].remote_id == "remote-1");
  BOOST_TEST(f.pipeline->deliver_due() == 0, "nothing left");
}

BOOST_AUTO_TEST_CASE(an_unreachable_far_side_leaves_the_recipient_pending_for_later) {
  Fixture f;
  f.adapter->unreachable = true;
  const auto answer = f.pipeline->submit(test::package("102/UBND"), "qlvb", "");
  BOOST_TEST_REQUIRE((answer.kind == Kind::queued), text(answer));
  f.pipeline->deliver_due();
  BOOST_TEST(f.adapter->delivered().empty());
  const auto d = f.document(id_of(answer));
  BOOST_TEST((d.state == store::DocumentState::queued));
  BOOST_TEST((d.recipients[0].state == store::RecipientState::pending));
}

BOOST_AUTO_TEST_CASE(a_store_that_refuses_the_write_answers_unavailable_and_keeps_nothing) {
  Fixture f;
  f.fault = store::WriteFault::before;
  const auto answer = f.pipeline->submit(test::package("103/UBND"), "qlvb", "key-103");
  BOOST_TEST((answer.kind == Kind::unavailable), text(answer));
  BOOST_TEST(answer.code == "store_unavailable");
  BOOST_TEST(f.store->counts()->documents.empty());
  BOOST_TEST(f.pipeline->deliver_due() == 0);
  BOOST_TEST(f.adapter->delivered().empty());

  // The store back: the client's retry is stored once.
  f.fault = store::WriteFault::none;
  const auto retry = f.pipeline->submit(test::package("103/UBND"), "qlvb", "key-103");
  BOOST_TEST((retry.kind == Kind::queued), text(retry));
}

BOOST_AUTO_TEST_CASE(a_write_whose_answer_was_lost_is_repeated_not_duplicated_on_retry) {
  Fixture f;
  f.fault = store::WriteFault::after;
  const std::string package = test::package("104/UBND");
  const auto lost = f.pipeline->submit(package, "qlvb", "key-104");
  BOOST_TEST((lost.kind == Kind::unavailable), text(lost));
  f.fault = store::WriteFault::none;
  const auto retry = f.pipeline->submit(package, "qlvb", "key-104");
  // The store kept the first write: the retry is its repeat, with its id.
  BOOST_TEST_REQUIRE((retry.kind == Kind::repeated), text(retry));
  BOOST_TEST(f.store->counts()->documents.at(store::DocumentState::queued) == 1);
  BOOST_TEST(f.pipeline->deliver_due() == 1);
  BOOST_TEST(f.adapter->delivered().size() == 1u, "delivered once");
}

BOOST_AUTO_TEST_CASE(a_submission_to_a_recipient_without_a_route_is_refused_with_no_route) {
  Fixture f;
  const auto answer =
      f.pipeline->submit(test::package("105/UBND", "000.00.99.H50"), "qlvb", "key-105");
  BOOST_TEST((answer.kind == Kind::refused), text(answer));
  BOOST_TEST(!answer.accepted());
  BOOST_TEST(answer.code == "no_route");
  BOOST_TEST(answer.message.find("000.00.99.H50") != std::string::npos, answer.message);
  BOOST_TEST(answer.body.is_null());
  BOOST_TEST(f.store->counts()->documents.empty());
  // What the local API answers and the pickup folder keeps: the error's JSON.
  const nlohmann::json error = {{"error", "no_route"}, {"message", answer.message}};
  BOOST_TEST(gateway::answer_text(answer) == error.dump() + "\n");
}

BOOST_AUTO_TEST_CASE(a_submission_repeated_with_its_key_is_repeated_and_without_it_a_conflict) {
  Fixture f;
  const std::string package = test::package("106/UBND");
  const auto first = f.pipeline->submit(package, "qlvb", "key-106");
  BOOST_TEST_REQUIRE((first.kind == Kind::queued), text(first));
  BOOST_TEST(first.accepted());
  BOOST_TEST(first.code.empty());
  BOOST_TEST(text(first) == "{\"id\":\"" + id_of(first) + "\",\"status\":\"queued\"}\n");

  const auto again = f.pipeline->submit(package, "qlvb", "key-106");
  BOOST_TEST_REQUIRE((again.kind == Kind::repeated), text(again));
  BOOST_TEST(again.accepted());
  BOOST_TEST(again.body == first.body, "the first answer again");
  BOOST_TEST(f.store->counts()->documents.at(store::DocumentState::queued) == 1);

  // The same DocumentId without the key is a second original: refused.
  const auto second = f.pipeline->submit(package, "qlvb", "");
  BOOST_TEST((second.kind == Kind::conflict), text(second));
  BOOST_TEST(second.code == "duplicate_document_id");
  BOOST_TEST(second.message.find(id_of(first)) != std::string::npos, second.message);
  BOOST_TEST(f.store->counts()->documents.at(store::DocumentState::queued) == 1);
}

BOOST_AUTO_TEST_CASE(requests_the_pipeline_cannot_act_on_name_their_kind_and_code) {
  Fixture f;
  const auto not_xml = f.pipeline->submit("not <xml", "qlvb", "");
  BOOST_TEST((not_xml.kind == Kind::invalid), text(not_xml));
  BOOST_TEST(not_xml.code == "malformed");

  const auto unknown = f.pipeline->follow_up("no-such-id", {}, "qlvb", "");
  BOOST_TEST((unknown.kind == Kind::not_found), text(unknown));
  BOOST_TEST(unknown.code == "not_found");
  BOOST_TEST(unknown.message == "no document no-such-id");

  const auto no_inbox = f.pipeline->send_status("no-such-id", "03", "");
  BOOST_TEST((no_inbox.kind == Kind::not_found), text(no_inbox));
  BOOST_TEST(no_inbox.message == "no inbox document no-such-id");

  const auto not_a_recall = f.pipeline->send_document_status("no-such-id", "03", "", {});
  BOOST_TEST((not_a_recall.kind == Kind::invalid), text(not_a_recall));
  BOOST_TEST(not_a_recall.code == "bad_code");

  // A recall of a document we sent is queued once per recipient.
  const auto sent = f.pipeline->submit(test::package("107/UBND"), "qlvb", "");
  BOOST_TEST_REQUIRE((sent.kind == Kind::queued), text(sent));
  const auto recall = f.pipeline->send_document_status(id_of(sent), "13", "gửi nhầm", {});
  BOOST_TEST_REQUIRE((recall.kind == Kind::queued), text(recall));
  BOOST_TEST(recall.body.at("status") == "queued");
  BOOST_TEST_REQUIRE(recall.body.at("statuses").size() == 1u);
  BOOST_TEST(recall.body["statuses"][0].at("organ_id") == "000.00.13.H50");
}
