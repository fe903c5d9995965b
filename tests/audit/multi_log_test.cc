// `edocgw audit verify` over several logs (issue 10): the nodes of one
// organisation each keep their own signature log in their own data-dir.
// Real gateways make the logs (SQLite, and two nodes on one real
// PostgreSQL); each log is judged on its own, then all together: a tampered
// log fails by name while the others pass, one data-dir given twice or
// copied is refused, and each kept checkpoint goes to the log it is of.
#define BOOST_TEST_MODULE multi_log
#include <boost/test/unit_test.hpp>

#include <cstring>

#include <nlohmann/json.hpp>

#include "audit/signature_log.h"
#include "edxml/package_builder.h"
#include "tests/support/postgres_server.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using nlohmann::json;
using test::pki;
using test::quote;

namespace {

const std::string kToken = "multi-log-test-token";

// A gateway of `organ` signing with the sample PKI's `stem` key; its
// packages go to a folder. `store` is its <store> element.
std::string config_xml(const std::string& organ = "000.00.12.H50",
                       const std::string& stem = "huong-hoa",
                       const std::string& store = R"(<store segment-size="4KB"/>)") {
  return R"(<gateway organ-id=")" + organ + R"(" name="node" data-dir="var">
  <identity cert=")" +
         pki(stem + ".pem").string() + R"(" key=")" + pki(stem + ".key").string() + R"(" chain=")" +
         pki("ca.pem").string() + R"("/>
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

// One node: a real `edocgw serve` in DIR/NAME that signed documents and
// stopped, so that a checkpoint covers them.
struct Node {
  std::string organ;
  test::GatewayProcess gw;
  Node(const std::filesystem::path& dir, const std::string& organ = "000.00.12.H50",
       const std::string& stem = "huong-hoa", const std::string& store = "")
      : organ(organ),
        gw(dir, store.empty() ? config_xml(organ, stem) : config_xml(organ, stem, store)) {}
  std::filesystem::path data() const { return gw.dir() / "var"; }
  std::filesystem::path config() const { return gw.dir() / "gateway.xml"; }
  std::filesystem::path records() const { return data() / "signature-log/records"; }
  std::filesystem::path checkpoints() const { return data() / "signature-log/checkpoints"; }

  void sign(const std::vector<std::string>& numbers) {
    gw.start();
    for (const auto& number : numbers) {
      auto meta = test::sample_meta();
      meta["from"]["organ_id"] = organ;
      meta["to"][0]["organ_id"] = organ == "000.00.12.H50" ? "000.00.13.H50" : "000.00.12.H50";
      meta["code"]["number"] = number;
      auto p = edxml::build_package(meta, {{"cong-van.pdf", "%PDF-1.4 số " + number, "", ""}},
                                    now_seconds());
      BOOST_REQUIRE(p.ok());
      const auto r =
          test::http("POST", gw.api_url() + "/v1/documents",
                     {"Authorization: Bearer " + kToken, "Content-Type: application/xml"}, *p);
      BOOST_REQUIRE_MESSAGE(r.status == 202, r.body);
    }
    BOOST_REQUIRE_EQUAL(gw.stop(), 0);
  }
  // The latest checkpoint note's file.
  std::filesystem::path latest_note() const {
    std::filesystem::path latest;
    for (const auto& e : std::filesystem::directory_iterator(checkpoints()))
      if (latest.empty() || e.path().filename() > latest.filename()) latest = e.path();
    return latest;
  }
};

test::CommandResult verify_logs(const std::string& sources) {
  return test::run(test::edocgw_cmd() + " audit verify " + sources);
}

std::string data_dirs(const std::vector<const Node*>& nodes) {
  std::string out;
  for (const Node* n : nodes) out += " --data-dir " + quote(n->data());
  return out + " --trust " + quote(pki("root.pem"));
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

// Flips one byte inside the payload of record `index` of a log.
void flip_byte_of_record(const std::filesystem::path& records, std::uint64_t index) {
  std::uint64_t at = 0;
  BOOST_REQUIRE(audit::scan_records(records, [&](const audit::Record& r) {
                  if (r.seq == index) at = r.offset + audit::kFrameHeader + audit::kLeafPrefix + 9;
                  return true;
                }).ok());
  BOOST_REQUIRE(at > 0);
  std::string bytes = test::read(records);
  bytes[at] ^= 0x01;
  test::write(records, bytes);
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_nodes_logs_with_real_activity_verify_together_each_with_its_result) {
  test::TempDir dir;
  // Two nodes of one organisation with its one identity: same origin, same
  // key, and still two logs.
  Node a(dir / "a"), b(dir / "b");
  a.sign({"801", "802"});
  b.sign({"901", "902", "903"});

  const auto r = verify_logs(data_dirs({&a, &b}) + " --json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  const json report = json::parse(r.out);
  BOOST_TEST(report["ok"] == true);
  BOOST_REQUIRE(report["logs"].size() == 2u);
  BOOST_TEST(report["logs_verified"] == 2);
  BOOST_TEST(report["logs"][0]["source"] == "--data-dir " + a.data().string());
  BOOST_TEST(report["logs"][1]["source"] == "--data-dir " + b.data().string());
  for (const auto& [log, signed_documents] : {std::pair{0, 2}, std::pair{1, 3}}) {
    BOOST_TEST(report["logs"][log]["ok"] == true);
    BOOST_TEST(report["logs"][log]["origin"] == "edocgw/000.00.12.H50");
    BOOST_TEST(report["logs"][log]["packages_verified"] == signed_documents);
    BOOST_TEST(report["logs"][log]["rests_on"]["size"] == 2 + signed_documents);
  }

  // The same through the configurations, in text: each log, then the verdict.
  const auto text = verify_logs("--config " + quote(a.config()) + " --config " + quote(b.config()));
  BOOST_REQUIRE_MESSAGE(text.exit_code == 0, text.out << text.err);
  BOOST_TEST(text.out.find("== log 1 of 2: --config " + a.config().string()) != std::string::npos,
             text.out);
  BOOST_TEST(text.out.find("== log 2 of 2: --config " + b.config().string()) != std::string::npos,
             text.out);
  BOOST_TEST(text.out.find("ALL LOGS VERIFY (2 of 2)") != std::string::npos, text.out);

  // One source: the single-log report, shape unchanged (no "logs").
  const auto one = verify_logs(data_dirs({&a}) + " --json");
  BOOST_REQUIRE_MESSAGE(one.exit_code == 0, one.out << one.err);
  const json single = json::parse(one.out);
  BOOST_TEST(!single.contains("logs"));
  BOOST_TEST(single["rests_on"]["size"] == 4);
}

BOOST_AUTO_TEST_CASE(a_tampered_log_fails_by_name_while_the_others_are_reported_ok) {
  test::TempDir dir;
  Node a(dir / "a"), b(dir / "b"), c(dir / "c");
  a.sign({"801"});
  b.sign({"901", "902"});
  c.sign({"701"});
  flip_byte_of_record(b.records(), 3);  // the signing of 902

  const auto r = verify_logs(data_dirs({&a, &b, &c}) + " --json");
  BOOST_TEST(r.exit_code == 1, r.out << r.err);
  BOOST_TEST(first_line(r.err).find("log 2 (--data-dir " + b.data().string() +
                                    ") does not verify: record 3") != std::string::npos,
             r.err);
  const json report = json::parse(r.out);
  BOOST_TEST(report["ok"] == false);
  BOOST_TEST(report["logs_verified"] == 2);
  BOOST_TEST(report["logs"][0]["ok"] == true);
  BOOST_TEST(report["logs"][1]["ok"] == false);
  BOOST_TEST(report["logs"][2]["ok"] == true);
  BOOST_TEST(report["first_problem"].get<std::string>().find("log 2 (") == 0,
             report["first_problem"]);
  BOOST_TEST(
      report["logs"][1]["first_problem"].get<std::string>().find("record 3") != std::string::npos,
      report["logs"][1]["first_problem"]);

  const auto text = verify_logs(data_dirs({&a, &b, &c}));
  BOOST_TEST(text.exit_code == 1);
  BOOST_TEST(text.out.find("NOT ALL LOGS VERIFY (2 of 3 do): log 2 (") != std::string::npos,
             text.out);
}

BOOST_AUTO_TEST_CASE(one_data_dir_given_twice_or_copied_is_refused) {
  test::TempDir dir;
  Node a(dir / "a"), b(dir / "b");
  a.sign({"801", "802"});
  b.sign({"901"});

  // The same data-dir twice, however it is spelled: a usage error.
  for (const std::string& again :
       {a.data().string(), (a.data() / ".").string(), (dir / "b/../a/var").string()}) {
    const auto r = verify_logs(data_dirs({&a, &b}) + " --data-dir " + quote(again));
    BOOST_TEST(r.exit_code == 2, again << ": " << r.out << r.err);
    BOOST_TEST(first_line(r.err).find("are the same data-dir") != std::string::npos, r.err);
  }
  // Through a configuration and the data-dir it names.
  const auto both = verify_logs("--config " + quote(a.config()) + " --data-dir " + quote(a.data()));
  BOOST_TEST(both.exit_code == 2, both.out << both.err);
  BOOST_TEST(both.err.find("are the same data-dir") != std::string::npos, both.err);

  // A copy of node a's data-dir, then run as a node of its own: both logs
  // verify on their own, and together they are one log.
  std::filesystem::copy(dir / "a", dir / "copy", std::filesystem::copy_options::recursive);
  std::filesystem::remove(dir / "copy/var/LOCK");
  Node copy(dir / "copy");
  copy.sign({"803"});
  const auto r = verify_logs(data_dirs({&a, &b, &copy}) + " --json");
  BOOST_TEST(r.exit_code == 1, r.out << r.err);
  const json report = json::parse(r.out);
  BOOST_TEST(report["logs_verified"] == 3);
  BOOST_REQUIRE(report["problems"].size() == 1u);
  const std::string problem = report["problems"][0];
  BOOST_TEST(problem.find("log 1 (--data-dir " + a.data().string() + ") and log 3 (--data-dir " +
                          copy.data().string() + ") are one log") == 0,
             problem);
  BOOST_TEST(problem.find("one data-dir is a copy of the other") != std::string::npos, problem);
  BOOST_TEST(first_line(r.err).find("are one log") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(each_kept_checkpoint_goes_to_the_log_it_is_of_and_an_unmatched_one_fails) {
  test::TempDir dir;
  Node a(dir / "a");
  Node d(dir / "d", "000.00.13.H50", "dakrong");  // another key and origin
  a.sign({"801"});
  d.sign({"901"});
  const auto kept_a = dir / "a-then.note";
  const auto kept_d = dir / "d-then.note";
  std::filesystem::copy_file(a.latest_note(), kept_a);
  std::filesystem::copy_file(d.latest_note(), kept_d);
  a.sign({"802"});
  d.sign({"902"});

  const std::string keep = " --keep " + quote(kept_d) + " --keep " + quote(kept_a);
  const auto r = verify_logs(data_dirs({&a, &d}) + keep + " --json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  const json report = json::parse(r.out);
  // Each log judged its own kept note, besides its two checkpoints.
  BOOST_TEST(report["logs"][0]["checkpoints"] == 3);
  BOOST_TEST(report["logs"][1]["checkpoints"] == 3);

  // Node d's note with logs of another origin and key only: a failure of
  // the whole, named. A note of a third node with the same key as two
  // given logs and the tree of neither: the same.
  Node other(dir / "other");
  other.sign({"111"});
  const auto stranger = verify_logs(data_dirs({&a, &other}) + " --keep " + quote(kept_d));
  BOOST_TEST(stranger.exit_code == 1, stranger.out << stranger.err);
  BOOST_TEST(first_line(stranger.err)
                     .find("kept checkpoint " + kept_d.string() +
                           " (log 'edocgw/000.00.13.H50', size 3) is of none of "
                           "the logs given") != std::string::npos,
             stranger.err);
  Node third(dir / "third");
  third.sign({"222", "223"});
  const auto ambiguous =
      verify_logs(data_dirs({&a, &other}) + " --keep " + quote(third.latest_note()));
  BOOST_TEST(ambiguous.exit_code == 1, ambiguous.out << ambiguous.err);
  BOOST_TEST(
      first_line(ambiguous.err).find(") is signed with the key of log 1 (") != std::string::npos,
      ambiguous.err);
  BOOST_TEST(first_line(ambiguous.err).find("none of them has its tree") != std::string::npos,
             ambiguous.err);

  // Node d's history rewritten and re-signed with its own key: its kept
  // note still goes to it (its key and origin), and d fails on it.
  std::string rebuilt;
  audit::Hash prev{};
  std::uint64_t seq = 0;
  BOOST_REQUIRE(audit::scan_records(d.records(), [&](const audit::Record& rec) {
                  if (rec.seq == 2) return true;  // the signing of 901, deleted
                  rebuilt += audit::encode_frame(seq++, prev, rec.payload);
                  std::memcpy(prev.data(), rebuilt.data() + rebuilt.size() - 32, 32);
                  return true;
                }).ok());
  test::write(d.records(), rebuilt);
  std::filesystem::remove_all(d.checkpoints());
  d.sign({});
  const auto rewritten = verify_logs(data_dirs({&a, &d}) + keep + " --json");
  BOOST_TEST(rewritten.exit_code == 1, rewritten.out << rewritten.err);
  const json after = json::parse(rewritten.out);
  BOOST_TEST(after["logs"][0]["ok"] == true);
  BOOST_TEST(after["logs"][1]["ok"] == false);
  BOOST_TEST(after["first_problem"].get<std::string>().find(
                 "log 2 (--data-dir " + d.data().string() + ") does not verify: checkpoint kept " +
                 "checkpoint " + kept_d.string() + " (size 3) does not match") == 0,
             after["first_problem"]);
}

BOOST_AUTO_TEST_CASE(two_nodes_on_one_postgresql_are_audited_together_with_bodies_from_it) {
  test::PostgresServer pg;
  test::TempDir dir;
  const std::string store = R"(<store type="postgresql" dsn=")" + pg.dsn() + R"("/>)";
  Node a(dir / "a", "000.00.12.H50", "huong-hoa", store);
  Node b(dir / "b", "000.00.12.H50", "huong-hoa", store);
  a.sign({"801", "802"});
  b.sign({"901"});
  BOOST_TEST(test::read(b.records()).find("postgresql/") != std::string::npos);

  const std::string both =
      "--config " + quote(a.config()) + " --config " + quote(b.config()) + " --json";
  const auto r = verify_logs(both);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  json report = json::parse(r.out);
  // Every body read back from the database and re-verified.
  BOOST_TEST(report["logs"][0]["packages_verified"] == 2);
  BOOST_TEST(report["logs"][1]["packages_verified"] == 1);

  // Node b's body changed in the database: node b's log fails, naming it.
  std::string package;  // node b's body, named postgresql/ID in its log
  BOOST_REQUIRE(audit::scan_records(b.records(), [&](const audit::Record& rec) {
                  const json e = json::parse(rec.payload);
                  if (e.value("kind", "") == "event") package = e.value("package", "");
                  return true;
                }).ok());
  BOOST_REQUIRE(package.rfind("postgresql/", 0) == 0);
  const auto psql = test::run(
      std::string(test::PostgresServer::kBinDir) + "/psql " + quote(pg.dsn()) +
      " -v ON_ERROR_STOP=1 -c \"UPDATE packages SET body = overlay(body placing '\\x01' from "
      "200 for 1) WHERE id = '" +
      package.substr(std::string("postgresql/").size()) + "'\"");
  BOOST_REQUIRE_MESSAGE(psql.exit_code == 0, psql.out << psql.err);
  const auto tampered = verify_logs(both);
  BOOST_TEST(tampered.exit_code == 1, tampered.out << tampered.err);
  report = json::parse(tampered.out);
  BOOST_TEST(report["logs"][0]["ok"] == true);
  BOOST_TEST(report["logs"][1]["ok"] == false);
  BOOST_TEST(
      first_line(tampered.err)
              .find("log 2 (--config " + b.config().string() +
                    ") does not verify: the archived package of record") != std::string::npos,
      tampered.err);
}
