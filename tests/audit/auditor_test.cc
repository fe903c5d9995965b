// The auditor against a hostile data-dir and hostile bundles: a log rebuilt
// without any key, a log of another gateway, record paths that leave the
// data-dir, checkpoints whose signature fails, and JSON fields of the wrong
// type. Each must end in a verdict (exit 1 naming the thing), never in a
// read outside the data-dir or an escaping exception (exit 2).
#define BOOST_TEST_MODULE auditor
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <functional>
#include <optional>

#include <sys/stat.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "audit/auditor.h"
#include "audit/signature_log.h"
#include "crypto/certificate.h"
#include "edxml/package_builder.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using nlohmann::json;
using test::pki;
using test::quote;

namespace {

const std::string kToken = "auditor-test-token";

std::string config_xml(const std::string& organ_id = "000.00.12.H50",
                       const std::string& data_dir = "var") {
  return R"(<gateway organ-id=")" + organ_id + R"(" name="UBND huyện Hướng Hóa" data-dir=")" +
         data_dir + R"(">
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
  <store segment-size="4KB"/>
</gateway>
)";
}

std::string document_id(const std::string& number) {
  return "000.00.12.H50,2026/11/28," + number + "/UBND-VP";
}

// A gateway that signed three documents and stopped (so a checkpoint covers
// them). Records: 0-1 certificates, 2-4 the signings of 801, 802, 803.
struct Logged {
  test::TempDir dir;
  test::GatewayProcess gw{dir / "gw", config_xml()};
  std::filesystem::path data() const { return dir / "gw" / "var"; }
  std::filesystem::path records() const { return data() / "signature-log/records"; }
  std::filesystem::path checkpoints() const { return data() / "signature-log/checkpoints"; }

  explicit Logged(bool stop = true) {
    gw.start();
    submit("801");
    submit("802");
    submit("803");
    if (stop) BOOST_REQUIRE_EQUAL(gw.stop(), 0);
  }
  void submit(const std::string& number) {
    auto meta = test::sample_meta();
    meta["code"]["number"] = number;
    auto p = edxml::build_package(meta, {{"cong-van.pdf", "%PDF-1.4 số " + number, "", ""}},
                                  now_seconds());
    BOOST_REQUIRE(p.ok());
    const auto r =
        test::http("POST", gw.api_url() + "/v1/documents",
                   {"Authorization: Bearer " + kToken, "Content-Type: application/xml"}, *p);
    BOOST_REQUIRE_MESSAGE(r.status == 202, r.body);
  }
  test::CommandResult audit(const std::string& extra = "") const {
    return test::run(test::edocgw_cmd() + " audit verify --data-dir " + quote(data()) +
                     " --trust " + quote(pki("root.pem")) + " " + extra);
  }
  test::CommandResult prove(const std::string& number, const std::filesystem::path& out) const {
    return test::run(test::edocgw_cmd() + " audit prove --data-dir " + quote(data()) + " " +
                     quote(document_id(number)) + " --out " + quote(out));
  }
  // Rewrites the log as someone without any key can: each payload through
  // `edit` (nullopt deletes the record), then every number, link and hash
  // recomputed.
  void rebuild(const std::function<std::optional<std::string>(std::uint64_t, std::string)>& edit) {
    std::string rebuilt;
    audit::Hash prev{};
    std::uint64_t seq = 0;
    BOOST_REQUIRE(audit::scan_records(records(), [&](const audit::Record& r) {
                    auto payload = edit(r.seq, std::string(r.payload));
                    if (!payload) return true;
                    rebuilt += audit::encode_frame(seq++, prev, *payload);
                    std::memcpy(prev.data(), rebuilt.data() + rebuilt.size() - 32, 32);
                    return true;
                  }).ok());
    test::write(records(), rebuilt);
  }
  // Rewrites one record's payload, keeps every other, and signs a fresh
  // checkpoint over the result with the gateway's own key (a restart).
  void rewrite_record_and_resign(std::uint64_t index, const std::function<std::string(json)>& f) {
    rebuild([&](std::uint64_t seq, std::string payload) -> std::optional<std::string> {
      if (seq != index) return payload;
      return f(json::parse(payload));
    });
    std::filesystem::remove_all(checkpoints());
    gw.start();
    BOOST_REQUIRE_EQUAL(gw.stop(), 0);
  }
};

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

void expect_judged(const test::CommandResult& r, const std::string& fragment) {
  BOOST_TEST(r.exit_code == 1, r.out << r.err);
  BOOST_TEST(first_line(r.err).find(fragment) != std::string::npos, r.err);
}

std::uint64_t record_count(const std::filesystem::path& records) {
  std::uint64_t n = 0;
  BOOST_REQUIRE(audit::scan_records(records, [&](const audit::Record&) {
                  ++n;
                  return true;
                }).ok());
  return n;
}

}  // namespace

// Item 7 ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_log_rebuilt_without_any_key_and_stripped_of_checkpoints_does_not_verify) {
  Logged s;
  // Delete document 802's signing (record 3), renumber and relink, drop the checkpoints.
  s.rebuild([](std::uint64_t seq, std::string payload) -> std::optional<std::string> {
    if (seq == 3) return std::nullopt;
    return payload;
  });
  std::filesystem::remove_all(s.checkpoints());
  const auto r = s.audit("--json");
  expect_judged(r, "no signed checkpoint");
  BOOST_TEST(json::parse(r.out)["rests_on"].is_null());
}

BOOST_AUTO_TEST_CASE(with_config_a_log_of_another_origin_does_not_verify) {
  Logged s;
  // Honest, and this gateway's own: it verifies, and says what it rests on.
  const auto own = test::run(test::edocgw_cmd() + " audit verify --json --config " +
                             quote(s.dir / "gw/gateway.xml"));
  BOOST_REQUIRE_MESSAGE(own.exit_code == 0, own.out << own.err);
  const json report = json::parse(own.out);
  BOOST_TEST(report["rests_on"]["size"] == 5);
  auto cert = crypto::load_certificates(pki("huong-hoa.pem"));
  BOOST_REQUIRE(cert.ok() && !cert->empty());
  BOOST_TEST(report["rests_on"]["signer"] ==
             sha256_hex(crypto::certificate_der(cert->front().get())));
  // The same data-dir audited for another gateway (organ 000.00.13.H50).
  test::write(s.dir / "gw/other.xml", config_xml("000.00.13.H50"));
  const auto other =
      test::run(test::edocgw_cmd() + " audit verify --config " + quote(s.dir / "gw/other.xml"));
  expect_judged(other, "not of the configured gateway ('edocgw/000.00.13.H50')");
}

BOOST_AUTO_TEST_CASE(
    an_honest_log_after_kill_9_verifies_with_its_tail_named_and_is_signed_at_start) {
  Logged s(/*stop=*/false);
  s.gw.kill9();
  const std::uint64_t records = record_count(s.records());
  BOOST_REQUIRE_EQUAL(records, 5u);
  // No checkpoint at all yet (the timer did not fire): nothing is signed.
  BOOST_REQUIRE(!std::filesystem::exists(s.checkpoints()) ||
                std::filesystem::is_empty(s.checkpoints()));
  expect_judged(s.audit(), "no signed checkpoint");

  // The restart signs a checkpoint over the tail at once, not at shutdown.
  s.gw.start();
  const auto note = s.checkpoints() / "00000000000000000005.note";
  BOOST_TEST(test::eventually([&] { return std::filesystem::exists(note); }, 20));
  s.gw.kill9();
  // One more signing after that checkpoint, then kill -9 again: a tail.
  s.gw.start();
  s.submit("804");
  s.gw.kill9();
  const auto r = s.audit("--json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  const json report = json::parse(r.out);
  BOOST_TEST(report["rests_on"]["size"] == 5);
  BOOST_TEST(report["records"] == 6);
  BOOST_TEST(report["notes"].dump().find("records 5..5 come after the last checkpoint and are "
                                         "not yet covered") != std::string::npos,
             report["notes"].dump());
  const auto text = s.audit();
  BOOST_TEST(text.out.find("rests on:     checkpoint 00000000000000000005.note (size 5") !=
                 std::string::npos,
             text.out);
}

// Item 10 --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_record_naming_a_path_outside_the_data_dir_is_never_read) {
  for (const std::string path :
       {"/dev/zero", "/etc/hostname", "../../../../etc/hostname", "packages/../../gateway.xml"}) {
    BOOST_TEST_CONTEXT(path) {
      Logged s;
      s.rewrite_record_and_resign(3, [&](json e) {
        e["package"] = path;
        return e.dump();
      });
      expect_judged(s.audit(), "record 3 (sign of " + document_id("802") +
                                   ") names its package as the path '" + path + "'");
      const auto bundle = s.prove("802", s.dir / "bundle.json");
      expect_judged(bundle, "names its package as the path '" + path + "'");
      BOOST_TEST(!std::filesystem::exists(s.dir / "bundle.json"));
    }
  }
}

BOOST_AUTO_TEST_CASE(an_archived_package_replaced_by_a_link_or_a_fifo_is_not_followed) {
  Logged s;
  std::vector<std::filesystem::path> packages;  // segments of one body each (4 KB segments)
  for (const auto& e : std::filesystem::directory_iterator(s.data() / "segments"))
    if (e.path().extension() == ".seg") packages.push_back(e.path());
  std::sort(packages.begin(), packages.end());
  BOOST_REQUIRE_EQUAL(packages.size(), 3u);
  std::filesystem::remove(packages[0]);
  std::filesystem::create_symlink("/etc/hostname", packages[0]);
  std::filesystem::remove(packages[1]);
  BOOST_REQUIRE_EQUAL(::mkfifo(packages[1].c_str(), 0600), 0);
  const auto r = s.audit("--json");
  BOOST_TEST(r.exit_code == 1, r.out << r.err);
  const std::string problems = json::parse(r.out)["problems"].dump();
  BOOST_TEST(problems.find("symbolic link") != std::string::npos, problems);
  BOOST_TEST(problems.find("is not a regular file") != std::string::npos, problems);
  // No bundle carries the linked file's bytes.
  for (const std::string number : {"801", "802", "803"}) {
    const auto made = s.prove(number, s.dir / ("bundle-" + number + ".json"));
    if (made.exit_code == 0) {
      const json b = json::parse(test::read(s.dir / ("bundle-" + number + ".json")));
      BOOST_TEST(!b["package"].is_null());
      BOOST_TEST(*base64_decode(b["package"].get<std::string>()) != test::read("/etc/hostname"));
    } else {
      BOOST_TEST(made.exit_code == 1, made.err);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_bundle_is_never_made_from_a_checkpoint_whose_signature_fails) {
  Logged s;
  for (const auto& e : std::filesystem::directory_iterator(s.checkpoints())) {
    const std::string text = test::read(e.path());
    test::write(e.path(), test::replace_once(text, "\ntime 2", "\ntime 3"));
  }
  expect_judged(s.prove("802", s.dir / "bundle.json"),
                "no checkpoint with a valid signature covers record 3");
}

// Item 11 --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(records_with_fields_of_the_wrong_type_are_named_not_thrown) {
  const std::vector<std::pair<std::function<std::string(json)>, std::string>> cases = {
      {[](json e) {
         e["v"] = "1";
         return e.dump();
       },
       "record 3: field v is not the number 1"},
      {[](json e) {
         e["event"] = 5;
         return e.dump();
       },
       "record 3: field event is not a string"},
      {[](json e) {
         e["package"] = json::array({1});
         return e.dump();
       },
       "record 3: field package is not a string"},
      {[](json e) {
         e["certificates"] = "abc";
         return e.dump();
       },
       "record 3: field certificates is not an array of strings"},
      {[](json) { return std::string("[1,2,3]"); }, "record 3 is not a JSON object"},
  };
  for (const auto& [edit, expected] : cases) {
    BOOST_TEST_CONTEXT(expected) {
      Logged s;
      s.rewrite_record_and_resign(3, edit);
      expect_judged(s.audit(), expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_checkpoint_origin_that_is_not_utf8_is_a_malformed_checkpoint) {
  Logged s;
  for (const auto& e : std::filesystem::directory_iterator(s.checkpoints())) {
    const std::string text = test::read(e.path());
    test::write(e.path(), "edocgw/\xff\xfe" + text.substr(text.find('\n')));
  }
  const auto r = s.audit("--json");
  BOOST_TEST(r.exit_code == 1, r.out << r.err);
  BOOST_TEST(first_line(r.err).find("is malformed") != std::string::npos, r.err);
  BOOST_TEST(json::parse(r.out)["ok"] == false);
}

BOOST_AUTO_TEST_CASE(bundles_with_fields_of_the_wrong_type_are_refused_with_the_field_named) {
  Logged s;
  const auto made = s.prove("802", s.dir / "bundle.json");
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  const json good = json::parse(test::read(s.dir / "bundle.json"));
  auto check = [&](const json& bundle) {
    test::write(s.dir / "bad.json", bundle.dump());
    return test::run(test::edocgw_cmd() + " audit check-bundle --trust " + quote(pki("root.pem")) +
                     " " + quote(s.dir / "bad.json"));
  };
  json b = good;
  b["format"] = 1;
  expect_judged(check(b), "not an edocgw audit bundle");
  b = good;
  b["record"]["index"] = "3";
  expect_judged(check(b), "field record.index is not a non-negative integer");
  b = good;
  b["inclusion_proof"] = json::array({1, 2});
  expect_judged(check(b), "field inclusion_proof is not an array of strings");
  b = good;
  b["package"] = 7;
  expect_judged(check(b), "field package is neither base64 text nor null");
  b = good;
  b["certificates"] = "x";
  expect_judged(check(b), "field certificates is not an array of strings");
  test::write(s.dir / "bad.json", "{\"format\": \"edocgw-audit-bundle/1\", \"x\": \"\xff\"}");
  expect_judged(test::run(test::edocgw_cmd() + " audit check-bundle --trust " +
                          quote(pki("root.pem")) + " " + quote(s.dir / "bad.json")),
                "not JSON in UTF-8");
}

// The entry points a fuzzer drives: bytes and a folder, no configuration.
BOOST_AUTO_TEST_CASE(the_bytes_and_folder_entry_points_judge_garbage_without_throwing) {
  test::TempDir dir;
  auto anchors = crypto::TrustStore::load({pki("root.pem")}, {}, {});
  BOOST_REQUIRE(anchors.ok());
  for (const std::string& bytes :
       {std::string(), std::string("{"), std::string("{\"format\":1}"), std::string("\xff"),
        std::string(
            "{\"format\":\"edocgw-audit-bundle/1\",\"record\":{\"index\":0,\"leaf\":\"\"}}")}) {
    const auto check = audit::check_bundle_bytes(bytes, *anchors);
    BOOST_TEST(!check.ok);
    BOOST_TEST(!check.problems.empty());
  }
  std::filesystem::create_directories(dir / "signature-log/checkpoints");
  test::write(dir / "signature-log/records", audit::encode_frame(0, {}, "{\"v\":\"1\"}"));
  audit::AuditOptions options;
  options.data_dir = dir.path();
  const auto report = audit::audit_log(options);
  BOOST_TEST(!report.ok);
  BOOST_TEST(report.problems[0] ==
             "record 0: field v is not the number 1 (this edocgw reads "
             "version 1 records)");
}
