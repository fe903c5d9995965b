// The pipeline in process, over the in-memory store and a fake adapter: a
// submitted document is signed, stored and delivered, its recipient and
// state following each attempt; an unreachable far side leaves it pending
// for a later round; a store that refuses the write answers 503 and stores
// nothing; a store that lost its answer after writing is repeated, not
// duplicated, when the client retries with its Idempotency-Key.
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

std::string id_of(const gateway::HttpResponse& r) {
  return nlohmann::json::parse(r.body).value("id", "");
}

}  // namespace pipeline_test

using namespace pipeline_test;

BOOST_AUTO_TEST_CASE(a_submitted_document_is_signed_stored_and_delivered) {
  Fixture f;
  const auto answer = f.pipeline->submit(test::package("101/UBND"), "qlvb", "");
  BOOST_TEST_REQUIRE(answer.status == 202u, answer.body);
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
  BOOST_TEST_REQUIRE(answer.status == 202u, answer.body);
  f.pipeline->deliver_due();
  BOOST_TEST(f.adapter->delivered().empty());
  const auto d = f.document(id_of(answer));
  BOOST_TEST((d.state == store::DocumentState::queued));
  BOOST_TEST((d.recipients[0].state == store::RecipientState::pending));
}

BOOST_AUTO_TEST_CASE(a_store_that_refuses_the_write_answers_503_and_keeps_nothing) {
  Fixture f;
  f.fault = store::WriteFault::before;
  const auto answer = f.pipeline->submit(test::package("103/UBND"), "qlvb", "key-103");
  BOOST_TEST(answer.status == 503u, answer.body);
  BOOST_TEST(f.store->counts()->documents.empty());
  BOOST_TEST(f.pipeline->deliver_due() == 0);
  BOOST_TEST(f.adapter->delivered().empty());

  // The store back: the client's retry is stored once.
  f.fault = store::WriteFault::none;
  const auto retry = f.pipeline->submit(test::package("103/UBND"), "qlvb", "key-103");
  BOOST_TEST(retry.status == 202u, retry.body);
}

BOOST_AUTO_TEST_CASE(a_write_whose_answer_was_lost_is_repeated_not_duplicated_on_retry) {
  Fixture f;
  f.fault = store::WriteFault::after;
  const std::string package = test::package("104/UBND");
  const auto lost = f.pipeline->submit(package, "qlvb", "key-104");
  BOOST_TEST(lost.status == 503u, lost.body);
  f.fault = store::WriteFault::none;
  const auto retry = f.pipeline->submit(package, "qlvb", "key-104");
  BOOST_TEST_REQUIRE(retry.status == 202u, retry.body);
  BOOST_TEST(f.store->counts()->documents.at(store::DocumentState::queued) == 1);
  BOOST_TEST(f.pipeline->deliver_due() == 1);
  BOOST_TEST(f.adapter->delivered().size() == 1u, "delivered once");
}
