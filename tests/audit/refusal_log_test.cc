// What the signature log says about packages that were not kept: a real
// hub logs every refused sendEdoc as refused (outcome, reason, no package
// file), even when the refusal's text quotes bytes that are not UTF-8; a
// district that signed a repeat and dropped it says so. The auditor tells
// "never kept" from "purged by retention".
#define BOOST_TEST_MODULE refusal_log
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "adapters/vdxp/vdxp_auth.h"
#include "audit/signature_log.h"
#include "edxml/package_builder.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using nlohmann::json;
using test::pki;
using test::quote;
namespace vdxp = edocgw::adapters::vdxp;

namespace {

const std::string kSecret = "refusal-log-test-secret";
const std::string kToken = "refusal-log-test-token";

// Every event record of a data-dir's signature log, parsed.
std::vector<json> events(const std::filesystem::path& data_dir) {
  std::vector<json> out;
  auto stop = audit::scan_records(data_dir / "signature-log/records", [&](const audit::Record& r) {
    const json p = json::parse(r.payload);
    if (p["kind"] == "event") out.push_back(p);
    return true;
  });
  BOOST_REQUIRE(stop.ok());
  return out;
}

test::CommandResult audit_json(const std::filesystem::path& data_dir) {
  return test::run(test::edocgw_cmd() + " audit verify --json --data-dir " + quote(data_dir) +
                   " --trust " + quote(pki("root.pem")));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_hub_logs_a_refused_send_edoc_with_raw_bytes_as_refused_and_answers_fail) {
  test::TempDir dir;
  test::write(dir / "one.secret", kSecret + "\n");
  const int port = test::free_port();
  test::GatewayProcess hub(dir / "hub",
                           R"(<gateway organ-id="000.00.00.H50" name="Hub" data-dir="var">
  <identity cert=")" + pki("quang-tri.pem").string() +
                               R"(" key=")" + pki("quang-tri.key").string() + R"(" chain=")" +
                               pki("ca.pem").string() + R"("/>
  <trust anchors=")" + pki("root.pem").string() +
                               R"("/>
  <exchange listen="127.0.0.1:)" +
                               std::to_string(port) +
                               R"(">
    <client system-id="vxp.example.01" organ-id="000.00.12.H50" secret-file=")" +
                               (dir / "one.secret").string() + R"("/>
  </exchange>
</gateway>
)");
  hub.start();
  // `<a\xcb></b>`: libxml2's message about it quotes the raw byte 0xCB.
  const std::string body = "\x3c\x61\xcb\x3e\x3c\x2f\x62\x3e";
  const vdxp::RequestSigner signer("vxp.example.01", kSecret);
  std::vector<std::string> headers;
  for (const auto& [name, value] : signer.headers({{"from", "000.00.12.H50"},
                                                   {"servicetype", "eDoc"},
                                                   {"messagetype", "edoc"},
                                                   {"hash-file", vdxp::sdk_hash_file(body)}},
                                                  "application/octet-stream"))
    headers.push_back(name + ": " + value);
  const auto r =
      test::http("POST", "http://127.0.0.1:" + std::to_string(port) + "/sendEdoc", headers, body);
  BOOST_TEST(r.status != 500, r.body);
  BOOST_TEST(r.status / 100 == 4, r.status << " " << r.body);
  const json answer = json::parse(r.body, nullptr, false);
  BOOST_REQUIRE_MESSAGE(answer.is_object(), r.body);
  BOOST_TEST(answer["status"] == "FAIL");
  BOOST_TEST(answer["DocId"] == "");
  BOOST_REQUIRE_EQUAL(hub.stop(), 0);

  const auto logged = events(dir / "hub/var");
  BOOST_REQUIRE_EQUAL(logged.size(), 1u);
  const json& e = logged[0];
  BOOST_TEST(e["event"] == "verify");
  BOOST_TEST(e["outcome"] == "invalid");
  BOOST_TEST(e["package"] == "");  // nothing was kept, so no file is named
  BOOST_TEST(e["package_sha256"] == sha256_hex(body));
  BOOST_TEST(e["from"] == "000.00.12.H50");
  BOOST_TEST(!e["reason"].get<std::string>().empty());
  BOOST_TEST(e["failed_check"] == "request");

  const auto audited = audit_json(dir / "hub/var");
  BOOST_REQUIRE_MESSAGE(audited.exit_code == 0, audited.out << audited.err);
  const json report = json::parse(audited.out);
  BOOST_TEST(report["purged"].empty());
  BOOST_TEST(report["refused_not_kept"] == 1);
}

BOOST_AUTO_TEST_CASE(a_repeat_signed_then_dropped_is_never_kept_not_purged) {
  test::TempDir dir;
  test::GatewayProcess gw(dir / "gw",
                          R"(<gateway organ-id="000.00.12.H50" name="District" data-dir="var">
  <identity cert=")" + pki("huong-hoa.pem").string() +
                              R"(" key=")" + pki("huong-hoa.key").string() + R"(" chain=")" +
                              pki("ca.pem").string() + R"("/>
  <trust anchors=")" + pki("root.pem").string() +
                              R"("/>
  <api listen="127.0.0.1:0">
    <client name="qlvb" token-sha256=")" +
                              sha256_hex(kToken) +
                              R"("/>
  </api>
  <adapters>
    <adapter name="out" type="directory" path="var/out"/>
  </adapters>
  <routes>
    <route to="*" via="out"/>
  </routes>
</gateway>
)");
  gw.start();
  auto meta = test::sample_meta();
  meta["code"]["number"] = "901";
  auto p = edxml::build_package(meta, {{"a.pdf", "%PDF-1.4 901", "", ""}}, now_seconds());
  BOOST_REQUIRE(p.ok());
  for (int i = 0; i < 2; ++i) {
    const auto r = test::http("POST", gw.api_url() + "/v1/documents",
                              {"Authorization: Bearer " + kToken, "Content-Type: application/xml",
                               "Idempotency-Key: same-901"},
                              *p);
    BOOST_REQUIRE_MESSAGE(r.status == 202, r.body);
  }
  BOOST_REQUIRE_EQUAL(gw.stop(), 0);
  size_t signings = 0;
  for (const auto& e : events(dir / "gw/var")) signings += e["event"] == "sign" ? 1 : 0;
  const auto audited = audit_json(dir / "gw/var");
  BOOST_REQUIRE_MESSAGE(audited.exit_code == 0, audited.out << audited.err);
  const json report = json::parse(audited.out);
  // The repeat may be signed and then dropped, or not signed at all; it is
  // never reported as an operator's deletion.
  BOOST_TEST(report["purged"].empty(), report["purged"].dump());
  BOOST_TEST(report["never_kept"].size() == signings - 1, report.dump());
}
