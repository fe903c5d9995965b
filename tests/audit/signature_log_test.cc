// The signature log of a real gateway: what it records, what `edocgw audit`
// catches when any byte, record or checkpoint is changed, and what survives
// a crash while appending.
#define BOOST_TEST_MODULE signature_log
#include <boost/test/unit_test.hpp>

#include <cstring>

#include <nlohmann/json.hpp>

#include "audit/signature_log.h"
#include "edxml/package_builder.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using nlohmann::json;
using test::pki;
using test::quote;

namespace {

const std::string kToken = "audit-test-token";

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
  <store segment-size="4KB"/>
</gateway>
)";
}

std::string package(const std::string& number) {
  auto meta = test::sample_meta();
  meta["code"]["number"] = number;
  auto p = edxml::build_package(meta, {{"cong-van.pdf", "%PDF-1.4 số " + number, "", ""}},
                                now_seconds());
  if (!p) throw std::runtime_error(p.error().message);
  return *p;
}

std::string document_id(const std::string& number) {
  return "000.00.12.H50,2026/11/28," + number + "/UBND-VP";
}

// A gateway that signed four documents: checkpoint after two (kept by the
// auditor as kept.note), two more, then the checkpoint signed on shutdown.
// Records: 0-1 certificates, 2-5 the four signings.
struct Signed {
  test::TempDir dir;
  test::GatewayProcess gw{dir / "gw", config_xml()};
  std::filesystem::path data() const { return dir / "gw" / "var"; }
  std::filesystem::path records() const { return data() / "signature-log/records"; }

  Signed() {
    gw.start();
    submit("701");
    submit("702");
    const auto note = test::http("POST", gw.api_url() + "/v1/audit/checkpoint",
                                 {"Authorization: Bearer " + kToken});
    BOOST_REQUIRE_EQUAL(note.status, 200);
    test::write(dir / "kept.note", note.body);
    submit("703");
    submit("704");
    BOOST_REQUIRE_EQUAL(gw.stop(), 0);
  }
  void submit(const std::string& number) {
    const auto r = test::http("POST", gw.api_url() + "/v1/documents",
                              {"Authorization: Bearer " + kToken, "Content-Type: application/xml"},
                              package(number));
    BOOST_REQUIRE_MESSAGE(r.status == 202, r.body);
  }
  // A copy of the data-dir to damage.
  std::filesystem::path copy(const std::string& name) const {
    const auto to = dir / name;
    std::filesystem::copy(data(), to, std::filesystem::copy_options::recursive);
    return to;
  }
  test::CommandResult audit(const std::filesystem::path& data_dir,
                            const std::string& extra = "") const {
    return test::run(test::edocgw_cmd() + " audit verify --data-dir " + quote(data_dir) +
                     " --trust " + quote(pki("root.pem")) + " " + extra);
  }
};

struct Frame {
  std::uint64_t offset, end;
};
std::vector<Frame> frames(const std::filesystem::path& records) {
  std::vector<Frame> out;
  auto stop = audit::scan_records(records, [&](const audit::Record& r) {
    out.push_back({r.offset, r.end});
    return true;
  });
  BOOST_REQUIRE(stop.ok());
  return out;
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

void expect_caught(const test::CommandResult& r, const std::string& fragment) {
  BOOST_TEST(r.exit_code == 1, r.out);
  BOOST_TEST(first_line(r.err).find(fragment) != std::string::npos, r.err);
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_signing_is_logged_and_the_untouched_log_verifies) {
  Signed s;
  const auto r = s.audit(s.data(), "--json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  const json report = json::parse(r.out);
  BOOST_TEST(report["records"] == 6);
  BOOST_TEST(report["certificates"] == 2);
  BOOST_TEST(report["events"] == 4);
  BOOST_TEST(report["checkpoints"] == 2);
  BOOST_TEST(report["packages_verified"] == 4);
  BOOST_TEST(report["origin"] == "edocgw/000.00.12.H50");
  // With the gateway's own configuration, too.
  const auto with_config =
      test::run(test::edocgw_cmd() + " audit verify --config " + quote(s.dir / "gw/gateway.xml"));
  BOOST_TEST(with_config.exit_code == 0, with_config.out);
  BOOST_TEST(first_line(with_config.out) == "LOG VERIFIES");
}

BOOST_AUTO_TEST_CASE(a_changed_byte_anywhere_is_caught_and_named) {
  Signed s;
  const auto f = frames(s.records());
  BOOST_REQUIRE_EQUAL(f.size(), 6u);
  {  // a byte of record 3's payload
    const auto d = s.copy("byte");
    std::string bytes = test::read(d / "signature-log/records");
    bytes[f[3].end - 40] ^= 0x01;
    test::write(d / "signature-log/records", bytes);
    expect_caught(s.audit(d), "record 3 (byte " + std::to_string(f[3].offset) + ") was changed");
    // The gateway refuses to append to it.
    test::write(s.dir / "gw/byte.xml", test::replace_once(config_xml(), R"(data-dir="var")",
                                                          "data-dir=\"" + d.string() + "\""));
    const auto start = test::run("timeout 20 " + test::edocgw_cmd() + " serve --config " +
                                 quote(s.dir / "gw/byte.xml"));
    BOOST_TEST(start.exit_code == 1);
    BOOST_TEST(start.err.find("signature log damaged") != std::string::npos, start.err);
  }
  {  // record 3 changed and its hash recomputed: record 4's link gives it away
    const auto d = s.copy("rehashed");
    std::string bytes = test::read(d / "signature-log/records");
    std::string leaf = bytes.substr(f[3].offset + 6, f[3].end - f[3].offset - 38);
    leaf = test::replace_once(leaf, R"("gateway":"000.00.12.H50")", R"("gateway":"000.00.12.H51")");
    const audit::Hash h = audit::leaf_hash(leaf);
    bytes.replace(f[3].offset + 6, leaf.size(), leaf);
    bytes.replace(f[3].end - 32, 32, std::string(reinterpret_cast<const char*>(h.data()), 32));
    test::write(d / "signature-log/records", bytes);
    expect_caught(s.audit(d), "record 4 does not link to record 3");
  }
  {  // an archived package, bytes changed in its segment: the record's own hash gives it away
    const auto d = s.copy("package");
    const auto id = test::stored_package_ids(d)[0];
    const std::string body = test::stored_package(d, id);
    std::filesystem::path segment;
    for (const auto& e : std::filesystem::directory_iterator(d / "segments")) {
      if (e.path().extension() == ".seg" && test::read(e.path()).find(body) != std::string::npos)
        segment = e.path();
    }
    BOOST_REQUIRE(!segment.empty());
    test::write(segment, test::replace_once(test::read(segment), "năm 2026", "năm 2027"));
    expect_caught(s.audit(d), "the body was changed");
  }
  {  // the same, forged with the segment record and the row made to agree: the log's hash
    const auto d = s.copy("forged");
    const auto id = test::stored_package_ids(d)[0];
    test::forge_stored_package(
        d, id, test::replace_once(test::stored_package(d, id), "năm 2026", "năm 2027"));
    expect_caught(s.audit(d), "the record there holds another body");
  }
  {  // a checkpoint
    const auto d = s.copy("checkpoint");
    std::filesystem::path note;
    for (const auto& e : std::filesystem::directory_iterator(d / "signature-log/checkpoints"))
      note = std::max(note, e.path());
    test::write(note, test::replace_once(test::read(note), "\ntime 2", "\ntime 3"));
    expect_caught(s.audit(d), "signature does not verify");
  }
}

BOOST_AUTO_TEST_CASE(deleted_reordered_duplicated_and_truncated_records_are_caught) {
  Signed s;
  const auto f = frames(s.records());
  const std::string bytes = test::read(s.records());
  auto frame = [&](int i) { return bytes.substr(f[i].offset, f[i].end - f[i].offset); };
  auto with = [&](const std::string& name, const std::string& records) {
    const auto d = s.copy(name);
    test::write(d / "signature-log/records", records);
    return s.audit(d);
  };
  expect_caught(with("deleted", bytes.substr(0, f[3].offset) + bytes.substr(f[3].end)),
                "record at position 3 says it is record 4: record 3 was deleted");
  expect_caught(with("reordered",
                     bytes.substr(0, f[3].offset) + frame(4) + frame(3) + bytes.substr(f[4].end)),
                "record at position 3 says it is record 4");
  expect_caught(
      with("duplicated", bytes.substr(0, f[4].offset) + frame(3) + bytes.substr(f[4].offset)),
      "record at position 4 repeats record 3");
  expect_caught(with("truncated", bytes.substr(0, f[5].offset)),
                "covers 6 records but the log has 5: records were removed from the end");
}

BOOST_AUTO_TEST_CASE(a_rebuilt_history_is_caught_by_a_checkpoint_kept_from_before) {
  Signed s;
  // The operator rewrites record 3, rebuilds every hash and link, deletes the
  // checkpoints and lets the gateway sign new ones: the data-dir alone agrees.
  std::string rebuilt;
  audit::Hash prev{};
  std::uint64_t seq = 0;
  BOOST_REQUIRE(audit::scan_records(s.records(), [&](const audit::Record& r) {
                  std::string payload(r.payload);
                  if (r.seq == 3)
                    payload = test::replace_once(payload, "\"outcome\":\"signed\"",
                                                 "\"outcome\":\"signed\",\"x\":1");
                  rebuilt += audit::encode_frame(seq++, prev, payload);
                  std::memcpy(prev.data(), rebuilt.data() + rebuilt.size() - 32, 32);
                  return true;
                }).ok());
  test::write(s.records(), rebuilt);
  std::filesystem::remove_all(s.data() / "signature-log/checkpoints");
  s.gw.start();
  BOOST_REQUIRE_EQUAL(s.gw.stop(), 0);
  BOOST_TEST(s.audit(s.data()).exit_code == 0);  // consistent with itself

  expect_caught(s.audit(s.data(), "--keep " + quote(s.dir / "kept.note")),
                "does not match records 0..3");
  const auto proof = test::run(test::edocgw_cmd() + " audit consistency --data-dir " +
                               quote(s.data()) + " --old " + quote(s.dir / "kept.note"));
  BOOST_TEST(proof.exit_code == 1);
  BOOST_TEST(proof.err.find("history was rewritten") != std::string::npos, proof.err);
}

BOOST_AUTO_TEST_CASE(an_honest_log_proves_consistency_with_a_kept_checkpoint) {
  Signed s;
  const auto proof = test::run(test::edocgw_cmd() + " audit consistency --data-dir " +
                               quote(s.data()) + " --old " + quote(s.dir / "kept.note"));
  BOOST_REQUIRE_MESSAGE(proof.exit_code == 0, proof.err);
  const json p = json::parse(proof.out);
  BOOST_TEST(p["consistent"] == true);
  BOOST_TEST(p["old_size"] == 4);
  BOOST_TEST(p["new_size"] == 6);
  BOOST_TEST(!p["proof"].empty());
  BOOST_TEST(s.audit(s.data(), "--keep " + quote(s.dir / "kept.note")).exit_code == 0);
}

BOOST_AUTO_TEST_CASE(a_torn_last_record_is_dropped_at_start_and_a_covered_one_is_refused) {
  Signed s;
  const auto f = frames(s.records());
  const std::string bytes = test::read(s.records());
  // A crash while appending a seventh record: half a frame at the end.
  test::write(s.records(), bytes + bytes.substr(f[5].offset, 50));
  const auto before = s.audit(s.data());
  BOOST_TEST(before.exit_code == 0, before.out << before.err);
  BOOST_TEST(before.out.find("a crash while appending") != std::string::npos, before.out);
  s.gw.start();
  BOOST_TEST(s.gw.log().find("dropped a torn last record") != std::string::npos);
  BOOST_REQUIRE_EQUAL(s.gw.stop(), 0);
  BOOST_TEST(std::filesystem::exists(
      s.data() / ("signature-log/torn-" + std::to_string(bytes.size()) + ".bin")));
  BOOST_TEST(s.audit(s.data()).exit_code == 0);
  BOOST_TEST(test::read(s.records()).substr(0, bytes.size()) == bytes);

  // A record a checkpoint covers is never dropped: the gateway refuses to start.
  const std::string now = test::read(s.records());
  const auto g = frames(s.records());
  test::write(s.records(), now.substr(0, g.back().end - 10));
  const auto start = test::run("timeout 20 " + test::edocgw_cmd() + " serve --config " +
                               quote(s.dir / "gw/gateway.xml"));
  BOOST_TEST(start.exit_code == 1);
  BOOST_TEST(start.err.find("signature log damaged") != std::string::npos, start.err);
  expect_caught(s.audit(s.data()), "is cut short");
}

BOOST_AUTO_TEST_CASE(purged_package_bodies_are_reported_and_the_log_still_verifies) {
  Signed s;
  // Four bodies of about 8 KB in segments of 4 KB: one segment each. Once
  // every document is delivered, retention may drop all but the segment
  // being written.
  const auto ids = test::stored_package_ids(s.data());
  BOOST_REQUIRE_EQUAL(ids.size(), 4u);
  s.gw.start();
  BOOST_REQUIRE(test::eventually([&] {
    size_t files = 0;
    if (!std::filesystem::exists(s.data() / "out")) return false;
    for (const auto& e : std::filesystem::directory_iterator(s.data() / "out"))
      files += e.is_regular_file() && e.path().extension() == ".xml";
    return files == 4;
  }));
  BOOST_REQUIRE_EQUAL(s.gw.stop(), 0);
  // The gateway holds the store while it runs: purge says so and touches nothing.
  s.gw.start();
  const auto busy = test::run(test::edocgw_cmd() + " purge --data-dir " + quote(s.data()) +
                              " --before 2999-01-01");
  BOOST_TEST(busy.exit_code == 2);
  BOOST_TEST(busy.err.find("a running gateway holds it") != std::string::npos, busy.err);
  BOOST_REQUIRE_EQUAL(s.gw.stop(), 0);
  const auto purge = test::run(test::edocgw_cmd() + " purge --data-dir " + quote(s.data()) +
                               " --before 2999-01-01 --json");
  BOOST_REQUIRE_MESSAGE(purge.exit_code == 0, purge.out << purge.err);
  const json purged = json::parse(purge.out);
  BOOST_TEST(purged["packages_purged"] == 3);
  BOOST_TEST(purged["segments_removed"] == 3);
  const auto r = s.audit(s.data(), "--json");
  BOOST_TEST(r.exit_code == 0, r.out);
  const json report = json::parse(r.out);
  BOOST_TEST(report["purged"].size() == 3u);
  BOOST_TEST(report["packages_verified"] == 1);
  // A second purge finds nothing more to drop; the last body stays readable.
  const auto again = test::run(test::edocgw_cmd() + " purge --data-dir " + quote(s.data()) +
                               " --before 2999-01-01 --json");
  BOOST_TEST(json::parse(again.out)["packages_purged"] == 0);
  BOOST_TEST(!test::stored_package(s.data(), ids.back()).empty());
}

BOOST_AUTO_TEST_CASE(a_bundle_proves_a_record_with_no_data_dir_and_a_tampered_one_fails) {
  Signed s;
  test::TempDir away;  // the auditor's machine: a bundle and the anchors, nothing else
  const auto made =
      test::run(test::edocgw_cmd() + " audit prove --data-dir " + quote(s.data()) + " " +
                quote(document_id("703")) + " --out " + quote(away / "bundle.json"));
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  std::filesystem::remove_all(s.dir / "gw");
  auto check = [&](const std::string& file) {
    return test::run(test::edocgw_cmd() + " audit check-bundle --trust " + quote(pki("root.pem")) +
                     " " + quote(away / file));
  };
  const auto good = check("bundle.json");
  BOOST_TEST(good.exit_code == 0, good.out << good.err);
  BOOST_TEST(first_line(good.out) == "BUNDLE VERIFIES");
  BOOST_TEST(good.out.find("record 4 is in the signed tree of size 6") != std::string::npos,
             good.out);

  json bundle = json::parse(test::read(away / "bundle.json"));
  json tampered = bundle;
  auto pkg = base64_decode(bundle["package"].get<std::string>());
  tampered["package"] = base64_encode(test::replace_once(*pkg, "năm 2026", "năm 2027"));
  test::write(away / "package.json", tampered.dump());
  expect_caught(check("package.json"), "its SHA-256 differs");

  tampered = bundle;
  auto leaf = base64_decode(bundle["record"]["leaf"].get<std::string>());
  tampered["record"]["leaf"] = base64_encode(test::replace_once(*leaf, "signed", "Signed"));
  test::write(away / "record.json", tampered.dump());
  expect_caught(check("record.json"), "inclusion proof fails");

  // Anchors that did not issue the gateway's certificate prove nothing.
  const auto stranger =
      test::run(test::edocgw_cmd() + " audit check-bundle --trust " +
                quote(pki("unrelated-root.pem")) + " " + quote(away / "bundle.json"));
  expect_caught(stranger, "does not chain to the trust anchors");
}
