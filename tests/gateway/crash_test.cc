// kill -9 of a real gateway in the middle of a stream of submissions (issue
// 10), on each store engine (SQLite, and PostgreSQL on a real server): every
// document answered 202 is still there after the restart and is delivered,
// its bytes verify, nothing was half-stored, and the signature log still
// audits. Clients that got no answer may or may not have had their document
// stored; those that were stored are delivered too.
//
// Exactly once: the directory adapter writes ID.xml, so a second delivery of
// a document would only replace its file. It shows instead in the store (a
// recipient's attempts: each recorded delivery counts one), in the gateway's
// log (one "delivered" line per recorded delivery, across both runs), and
// as counts: the documents the store holds are the files delivered, one
// DocumentId each. A file replaced after the restart with its first
// delivery never recorded is the at-least-once window of the store contract
// (the kill fell between the adapter's write and the store's commit); the
// test reports how many, and the checks above fail if such a delivery had
// been recorded before the kill.
#define BOOST_TEST_MODULE crash
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "edxml/package_builder.h"
#include "tests/support/postgres_server.h"
#include "tests/test_support.h"
#include "util/bytes.h"
#include "util/time.h"

using namespace edocgw;
using nlohmann::json;
using test::pki;
using test::quote;

namespace {

const std::string kToken = "crash-test-token";
const std::string kAuthorization = "Authorization: Bearer " + kToken;

// A gateway delivering everything to a folder, on the engine `store` (a
// <store> element) configures.
std::string config_xml(const std::string& store) {
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
  )" + store +
         R"(
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

// The delivered files, id -> inode: a file delivered again is a new inode
// (the adapter renames a fresh file over the old one).
std::map<std::string, ino_t> delivered_files(const std::filesystem::path& out) {
  std::map<std::string, ino_t> files;
  if (!std::filesystem::exists(out)) return files;
  for (const auto& e : std::filesystem::directory_iterator(out)) {
    const auto name = e.path().filename().string();
    struct stat st;
    if (e.is_regular_file() && e.path().extension() == ".xml" && name[0] != '.' &&
        ::stat(e.path().c_str(), &st) == 0)
      files[e.path().stem().string()] = st.st_ino;
  }
  return files;
}

std::set<std::string> delivered_ids(const std::filesystem::path& out) {
  std::set<std::string> ids;
  for (const auto& [id, inode] : delivered_files(out)) ids.insert(id);
  return ids;
}

// What /metrics says of the store: documents held (every state), and
// recipients still pending (-1: no answer).
struct StoreCounts {
  double documents = 0;
  double pending = -1;
};

StoreCounts store_counts(const test::GatewayProcess& gw) {
  StoreCounts c;
  const auto r = test::http("GET", gw.api_url() + "/metrics", {kAuthorization});
  if (r.status != 200) return c;
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);) {
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    const double value = std::strtod(line.c_str() + space + 1, nullptr);
    if (line.starts_with("edocgw_documents{")) c.documents += value;
    if (line.starts_with("edocgw_queue_depth ")) c.pending = value;
  }
  return c;
}

// "delivered" lines in the gateway's log (every run appends to it), per
// document. A line is written once the store has recorded the delivery; a
// line cut by the kill is skipped.
std::map<std::string, int> delivered_log_lines(const std::string& log) {
  std::map<std::string, int> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    const auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("msg", "") == "delivered") ++lines[j.value("document", "")];
  }
  return lines;
}

// The test, on the engine `store` (a <store> element) configures.
void every_202_survives_kill_9_and_is_delivered_once(const std::string& store) {
  test::TempDir dir;
  test::GatewayProcess gw(dir / "gw", config_xml(store));
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
        const auto r = test::http("POST", url, {kAuthorization, "Content-Type: application/xml"},
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

  const auto out = dir / "gw/var/out";
  const auto before_restart = delivered_files(out);
  gw.start();
  // Every acknowledged document delivered, and nothing left to deliver
  // (documents stored just before the kill whose answer was lost are
  // delivered too). On PostgreSQL the killed node's leases run out first.
  BOOST_REQUIRE(test::eventually(
      [&] {
        const auto ids = delivered_ids(out);
        for (const auto& id : acked)
          if (!ids.count(id)) return false;
        return store_counts(gw).pending == 0;
      },
      60));

  // Exactly once: what the store holds is what was delivered, each document
  // recorded as delivered once, each submission stored once.
  const auto delivered = delivered_files(out);
  BOOST_TEST(store_counts(gw).documents == static_cast<double>(delivered.size()));
  std::set<std::string> document_ids;
  for (const auto& [id, inode] : delivered) {
    const auto r = test::http("GET", gw.api_url() + "/v1/documents/" + id, {kAuthorization});
    BOOST_REQUIRE_MESSAGE(r.status == 200, id << ": " << r.body);
    const json doc = json::parse(r.body);
    BOOST_TEST(doc["status"] == "sent", id << ": " << doc.dump());
    BOOST_REQUIRE_EQUAL(doc["recipients"].size(), 1u);
    BOOST_TEST(doc["recipients"][0]["attempts"] == 1,
               id << " recorded as delivered " << doc["recipients"][0]["attempts"] << " times");
    // Stored whole: the delivered bytes are the stored package's.
    BOOST_TEST(sha256_hex(test::read(out / (id + ".xml"))) == doc["package_sha256"], id);
    document_ids.insert(doc["document_id"].get<std::string>());
  }
  BOOST_TEST(document_ids.size() == delivered.size());
  for (const auto& [id, lines] : delivered_log_lines(gw.log()))
    BOOST_TEST(lines == 1, id << " logged as delivered " << lines << " times");
  size_t again = 0;  // delivered before the kill, not recorded, delivered again
  for (const auto& [id, inode] : before_restart) again += delivered.at(id) != inode;
  BOOST_TEST_MESSAGE(delivered.size()
                     << " delivered; " << before_restart.size() << " before the kill, of which "
                     << again << " again after the restart (not recorded before it)");

  for (const auto& id :
       std::vector<std::string>{acked.front(), acked[acked.size() / 2], acked.back()}) {
    test::write(dir / "check.xml", test::read(out / (id + ".xml")));
    const auto v = test::run(test::edocgw_cmd() + " verify --trust " + quote(pki("root.pem")) +
                             " --in " + quote(dir / "check.xml"));
    BOOST_TEST(v.exit_code == 0, id << ": " << v.out << v.err);
  }
  BOOST_REQUIRE_EQUAL(gw.stop(), 0);
  // The log after a kill -9 and a restart: every record whole, covered by a
  // checkpoint signed at the restart and at the stop, every package read
  // back from the engine's store.
  const auto audit = test::run(test::edocgw_cmd() + " audit verify --config " +
                               quote(dir / "gw/gateway.xml") + " --json");
  const auto report = json::parse(audit.out);
  BOOST_TEST(report["packages_verified"].get<size_t>() >= acked.size());
  // Any problem fails, on either engine: a record names bytes that were
  // stored before it was written, whatever the moment of the kill.
  BOOST_TEST(report["problems"].empty(), audit.out << audit.err);
  BOOST_TEST(audit.exit_code == 0, audit.out << audit.err);
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_202_survives_kill_9_mid_stream_and_is_delivered_once_on_sqlite) {
  every_202_survives_kill_9_and_is_delivered_once(R"(<store segment-size="64KB"/>)");
}

// The killed node's leases last delivery-lease (5 s here, the least allowed)
// before the restarted gateway, a new node, takes its deliveries over.
BOOST_AUTO_TEST_CASE(every_202_survives_kill_9_mid_stream_and_is_delivered_once_on_postgresql) {
  test::PostgresServer pg;
  every_202_survives_kill_9_and_is_delivered_once(R"(<store type="postgresql" dsn=")" + pg.dsn() +
                                                  R"(" delivery-lease="5s"/>)");
}
