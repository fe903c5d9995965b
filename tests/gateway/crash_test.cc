// kill -9 of a real gateway in the middle of a stream of submissions (issue
// 10): every document answered 202 is still there after the restart and is
// delivered, its bytes verify, nothing was half-stored, and the signature
// log still audits. Clients that got no answer may or may not have had
// their document stored; those that were stored are delivered too.
#define BOOST_TEST_MODULE crash
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "edxml/package_builder.h"
#include "tests/test_support.h"
#include "util/bytes.h"
#include "util/time.h"

using namespace edocgw;
using nlohmann::json;
using test::pki;
using test::quote;

namespace {

const std::string kToken = "crash-test-token";

std::string config_xml() {
  return R"(<gateway organ-id="000.00.12.H50" name="UBND huyện Hướng Hóa" data-dir="var">
  <identity cert=")" +
         pki("huong-hoa.pem").string() + R"(" key=")" + pki("huong-hoa.key").string() +
         R"(" chain=")" + pki("ca.pem").string() + R"("/>
  <trust anchors=")" +
         pki("root.pem").string() + R"("/>
  <api listen="127.0.0.1:0">
    <client name="qlvb" token-sha256=")" +
         sha256_hex(kToken) + R"("/>
  </api>
  <adapters>
    <adapter name="out" type="directory" path="var/out"/>
  </adapters>
  <routes>
    <route to="*" via="out"/>
  </routes>
  <store segment-size="64KB"/>
</gateway>
)";
}

std::string package(int number) {
  auto meta = test::sample_meta();
  meta["code"]["number"] = std::to_string(number);
  auto p = edxml::build_package(
      meta, {{"cong-van.pdf", "%PDF-1.4 số " + std::to_string(number), "", ""}}, now_seconds());
  if (!p) throw std::runtime_error(p.error().message);
  return *p;
}

std::set<std::string> delivered_ids(const std::filesystem::path& out) {
  std::set<std::string> ids;
  if (!std::filesystem::exists(out)) return ids;
  for (const auto& e : std::filesystem::directory_iterator(out)) {
    const auto name = e.path().filename().string();
    if (e.is_regular_file() && e.path().extension() == ".xml" && name[0] != '.')
      ids.insert(e.path().stem().string());
  }
  return ids;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_202_survives_kill_9_mid_stream_and_is_delivered) {
  test::TempDir dir;
  test::GatewayProcess gw(dir / "gw", config_xml());
  gw.start();
  const std::string url = gw.api_url() + "/v1/documents";

  std::mutex mutex;
  std::vector<std::string> acknowledged;  // ids answered 202
  std::atomic<int> next{1000};
  std::atomic<bool> stop{false};
  std::atomic<int> unanswered{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        const int number = next++;
        const auto r = test::http(
            "POST", url, {"Authorization: Bearer " + kToken, "Content-Type: application/xml"},
            package(number));
        if (r.status == 202) {
          std::lock_guard lock(mutex);
          acknowledged.push_back(json::parse(r.body)["id"].get<std::string>());
        } else {
          ++unanswered;  // the gateway was killed under it, or refused at once after
        }
      }
    });
  }
  // Let a stream build up, then kill the gateway under it.
  BOOST_REQUIRE(test::eventually([&] {
    std::lock_guard lock(mutex);
    return acknowledged.size() >= 100;
  }));
  gw.kill9();
  stop = true;
  for (auto& t : clients) t.join();
  const std::vector<std::string> acked = acknowledged;
  BOOST_TEST_MESSAGE(acked.size() << " acknowledged, " << unanswered << " unanswered");
  BOOST_REQUIRE_GE(acked.size(), 100u);
  BOOST_TEST(std::set<std::string>(acked.begin(), acked.end()).size() == acked.size());

  gw.start();
  const auto out = dir / "gw/var/out";
  BOOST_REQUIRE(test::eventually(
      [&] {
        const auto ids = delivered_ids(out);
        for (const auto& id : acked)
          if (!ids.count(id)) return false;
        return true;
      },
      60));
  // Every acknowledged document is stored whole and its delivered bytes
  // verify; any other delivered one is a document stored just before the
  // kill whose answer was lost, and is a real stored document too.
  for (const auto& id : delivered_ids(out)) {
    const auto doc = test::http("GET", gw.api_url() + "/v1/documents/" + id,
                                {"Authorization: Bearer " + kToken});
    BOOST_REQUIRE_MESSAGE(doc.status == 200, id << ": " << doc.body);
    BOOST_TEST(test::read(out / (id + ".xml")) == test::stored_package(dir / "gw/var", id));
  }
  for (const auto& id :
       std::vector<std::string>{acked.front(), acked[acked.size() / 2], acked.back()}) {
    test::write(dir / "check.xml", test::read(out / (id + ".xml")));
    const auto v = test::run(test::edocgw_cmd() + " verify --trust " + quote(pki("root.pem")) +
                             " --in " + quote(dir / "check.xml"));
    BOOST_TEST(v.exit_code == 0, id << ": " << v.out << v.err);
  }
  BOOST_REQUIRE_EQUAL(gw.stop(), 0);
  // The log after a kill -9 and a restart: every record whole, covered by a
  // checkpoint signed at the restart and at the stop.
  const auto audit =
      test::run(test::edocgw_cmd() + " audit verify --data-dir " + quote(dir / "gw/var") +
                " --trust " + quote(pki("root.pem")) + " --json");
  BOOST_TEST(audit.exit_code == 0, audit.out << audit.err);
  const auto report = json::parse(audit.out);
  BOOST_TEST(report["packages_verified"].get<size_t>() >= acked.size());
}
