// Three real gateways on loopback — the province hub (UBND tỉnh Quảng Trị),
// Hướng Hóa (A) and Đakrông (B) — with real SQLite files, the sample PKI and
// signed packages crossing real HTTP.
#define BOOST_TEST_MODULE end_to_end
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "adapters/vdxp/vdxp_adapter.h"
#include "edxml/package_builder.h"
#include "tests/gateway/province.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using nlohmann::json;
using test::pki;
using test::quote;

using namespace edocgw::test;

BOOST_AUTO_TEST_CASE(
    a_document_goes_from_huong_hoa_through_the_hub_to_dakrong_and_statuses_come_back) {
  Province p;
  const std::string pkg = package("125");
  const std::string id = id_of(p.submit(pkg));

  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 1; }));
  const json item = p.inbox_b()[0];
  BOOST_TEST(item["verification"] == "valid");
  BOOST_TEST(item["from"] == "000.00.12.H50");
  BOOST_TEST(item["subject"].get<std::string>() == test::kSampleSubject);
  BOOST_TEST(item["document_id"] == "000.00.12.H50,2026/11/28,125/UBND-VP");

  // The package as received, in the API and in the office's folder, byte for byte.
  const std::string inbox_id = item["id"].get<std::string>();
  const auto got = test::http("GET", p.b->api_url() + "/v1/inbox/" + inbox_id,
                              {"Authorization: Bearer " + kTokenB});
  BOOST_TEST(got.status == 200);
  BOOST_TEST(got.body.find(test::kSampleSubject) != std::string::npos);
  BOOST_REQUIRE(test::eventually([&] { return p.office_files_b() == 1; }));
  BOOST_TEST(test::read(p.b->dir() / "var/office-inbox" / (inbox_id + ".xml")) == got.body);
  const auto report = test::http("GET", p.b->api_url() + "/v1/inbox/" + inbox_id + "/report",
                                 {"Authorization: Bearer " + kTokenB});
  BOOST_TEST(json::parse(report.body)["valid"] == true);
  BOOST_TEST(json::parse(report.body)["signer"]["organ_id"] == "000.00.12.H50");

  // 01 (arrived) comes back by itself; then the clerk registers it: 03.
  BOOST_REQUIRE(test::eventually([&] { return p.status_code_at_a(id) == "01"; }));
  BOOST_TEST(p.document(id)["status"] == "delivered");
  const auto sent = test::http("POST", p.b->api_url() + "/v1/inbox/" + inbox_id + "/status",
                               {"Authorization: Bearer " + kTokenB},
                               R"({"code": "03", "description": "Đã vào sổ"})");
  BOOST_TEST(sent.status == 202, sent.body);
  BOOST_REQUIRE(test::eventually([&] { return p.status_code_at_a(id) == "03"; }));
  BOOST_TEST(p.document(id)["recipients"][0]["status_description"] == "Đã vào sổ");

  BOOST_TEST(p.a->stop() == 0);  // SIGTERM drains and exits 0
  BOOST_TEST(p.b->stop() == 0);
  BOOST_TEST(p.hub->stop() == 0);

  // Each gateway's signature log holds what it signed and verified: A the
  // document and B's statuses, the hub every package, B the document and its
  // own statuses. All verify, packages re-verified as of their logged time.
  for (auto* g : {p.a.get(), p.b.get(), p.hub.get()}) {
    const auto audit = test::run(test::edocgw_cmd() + " audit verify --json --config " +
                                 quote(g->dir() / "gateway.xml"));
    BOOST_TEST(audit.exit_code == 0, audit.out << audit.err);
    BOOST_TEST(json::parse(audit.out)["packages_verified"].get<int>() >= 3, audit.out);
  }
  // B proves to an auditor that it verified the document, with a bundle.
  const auto prove = test::run(
      test::edocgw_cmd() + " audit prove --config " + quote(p.b->dir() / "gateway.xml") + " " +
      quote("000.00.12.H50,2026/11/28,125/UBND-VP") + " --out " + quote(p.dir / "bundle.json"));
  BOOST_REQUIRE_MESSAGE(prove.exit_code == 0, prove.err);
  const auto check = test::run(test::edocgw_cmd() + " audit check-bundle --json --trust " +
                               quote(pki("root.pem")) + " " + quote(p.dir / "bundle.json"));
  BOOST_TEST(check.exit_code == 0, check.out << check.err);
  const json record = json::parse(check.out)["record"];
  BOOST_TEST(record["event"] == "verify");
  BOOST_TEST(record["outcome"] == "valid");
  BOOST_TEST(record["revocation"].size() == 2u);  // CRL evidence for the signer and its CA
}

BOOST_AUTO_TEST_CASE(bad_requests_get_clear_errors_and_store_nothing) {
  Province p(false);
  const std::string pkg = package("200");
  BOOST_TEST(
      test::http("POST", p.a->api_url() + "/v1/documents", {"Content-Type: application/xml"}, pkg)
          .status == 401);
  BOOST_TEST(
      test::http("POST", p.a->api_url() + "/v1/documents", {"Authorization: Bearer wrong"}, pkg)
          .status == 401);
  BOOST_TEST(test::http("GET", p.a->api_url() + "/healthz").status == 200);  // no token needed

  const auto unknown_route = p.submit(package("201", "000.00.00.G22"));
  BOOST_TEST(unknown_route.status == 422);
  BOOST_TEST(json::parse(unknown_route.body)["error"] == "no_route");

  const auto too_big = p.submit(std::string(300 * 1024, 'x'));
  BOOST_TEST(too_big.status == 413);
  BOOST_TEST(json::parse(too_big.body)["error"] == "too_large");

  BOOST_TEST(p.submit("<edXML").status == 400);
  BOOST_TEST(p.submit("<html/>").status == 422);
  BOOST_TEST(
      p.submit("<!DOCTYPE x [<!ENTITY a SYSTEM \"file:///etc/passwd\">]><x>&a;</x>").status == 400);
  auto other_sender = test::sample_meta();
  other_sender["from"]["organ_id"] = "000.00.13.H50";
  auto foreign = edxml::build_package(other_sender, {}, now_seconds());
  BOOST_TEST(json::parse(p.submit(*foreign).body)["error"] == "wrong_sender");

  // Idempotency-Key: the repeat answers the first id and creates nothing.
  const std::string first = id_of(p.submit(pkg, {"Idempotency-Key: k-42"}));
  const std::string again = id_of(p.submit(pkg, {"Idempotency-Key: k-42"}));
  BOOST_TEST(first == again);
  BOOST_TEST(
      test::http("GET", p.a->api_url() + "/v1/documents/nope", {"Authorization: Bearer " + kTokenA})
          .status == 404);
}

BOOST_AUTO_TEST_CASE(an_office_posts_a_form_with_curl_and_the_file_arrives_whole) {
  Province p;
  auto meta = test::sample_meta();
  meta["code"]["number"] = "150";
  test::write(p.dir / "meta.json", meta.dump());
  std::string pdf = "%PDF-1.4\n";
  for (int i = 0; i < 4096; ++i) pdf += static_cast<char>(i * 7 % 256);  // binary, NULs included
  test::write(p.dir / "scan.pdf", pdf);
  const std::string curl = "curl -sS -o " + test::quote(p.dir / "answer.json") +
                           " -w '%{http_code}' -H 'Authorization: Bearer " + kTokenA + "' ";
  const auto posted =
      test::run(curl + "-F 'meta=@" + (p.dir / "meta.json").string() +
                ";type=application/json' -F 'file=@" + (p.dir / "scan.pdf").string() +
                ";filename=Công văn 150.pdf' " + p.a->api_url() + "/v1/documents");
  BOOST_REQUIRE_MESSAGE(posted.out == "202",
                        posted.out << posted.err << test::read(p.dir / "answer.json"));
  const std::string id = json::parse(test::read(p.dir / "answer.json"))["id"];

  BOOST_REQUIRE(test::eventually([&] { return p.office_files_b() == 1; }));
  const std::string inbox_id = p.inbox_b()[0]["id"];
  const auto inspected =
      test::run(test::edocgw_cmd() + " edxml inspect --json " +
                test::quote(p.b->dir() / "var/office-inbox" / (inbox_id + ".xml")));
  BOOST_REQUIRE_EQUAL(inspected.exit_code, 0);
  const json attachment = json::parse(inspected.out)["attachments"][0];
  BOOST_TEST(attachment["name"] == "Công văn 150.pdf");
  BOOST_TEST(attachment["sha256"] == sha256_hex(pdf));
  BOOST_TEST(attachment["content_type"] == "application/pdf");
  BOOST_REQUIRE(test::eventually([&] { return p.status_code_at_a(id) == "01"; }));

  // A form without metadata, or with metadata edxml build refuses, is refused whole.
  const auto no_meta = test::run(curl + "-F 'file=@" + (p.dir / "scan.pdf").string() + "' " +
                                 p.a->api_url() + "/v1/documents");
  BOOST_TEST(no_meta.out == "400");
  BOOST_TEST(test::read(p.dir / "answer.json").find("part (JSON) is missing") != std::string::npos);
  meta["subjekt"] = "typo";
  test::write(p.dir / "meta.json", meta.dump());
  const auto typo = test::run(curl + "-F 'meta=@" + (p.dir / "meta.json").string() + "' " +
                              p.a->api_url() + "/v1/documents");
  BOOST_TEST(typo.out == "422");
  BOOST_TEST(test::read(p.dir / "answer.json").find("subjekt") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(packages_dropped_in_the_pickup_folder_are_sent_once_and_moved_aside) {
  Province p;
  BOOST_TEST(p.a->stop() == 0);
  p.a->rewrite_config(test::replace_once(
      test::read(p.a->dir() / "gateway.xml"), R"(path="var/office-inbox"/>)",
      R"(path="var/office-inbox" pickup="var/outbox" pickup-interval="100ms"/>)"));
  const auto outbox = p.a->dir() / "var/outbox";
  std::filesystem::create_directories(outbox);
  // Dropped while the gateway was down: taken at start. A file being
  // written under a dot name is left alone until it is renamed.
  test::write(outbox / "cv-160.xml", package("160"));
  test::write(outbox / ".cv-161.tmp", package("161"));
  test::write(outbox / "broken.xml", "<edXML");
  p.a->start();

  BOOST_REQUIRE(test::eventually(
      [&] { return std::filesystem::exists(outbox / "accepted/cv-160.answer.json"); }));
  const json answer = json::parse(test::read(outbox / "accepted/cv-160.answer.json"));
  BOOST_TEST(answer["status"] == "queued");
  BOOST_TEST(std::filesystem::exists(outbox / "accepted/cv-160.xml"));
  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 1; }));
  BOOST_TEST(p.inbox_b()[0]["document_id"] == "000.00.12.H50,2026/11/28,160/UBND-VP");
  BOOST_REQUIRE(test::eventually(
      [&] { return std::filesystem::exists(outbox / "refused/broken.answer.json"); }));
  BOOST_TEST(json::parse(test::read(outbox / "refused/broken.answer.json"))["error"] ==
             "malformed");
  BOOST_TEST(std::filesystem::exists(outbox / ".cv-161.tmp"));

  // The office renames its finished file; the same bytes dropped again (as
  // after a crash between queueing and moving) answer the first id.
  std::filesystem::rename(outbox / ".cv-161.tmp", outbox / "cv-161.xml");
  test::write(outbox / "again.xml", test::read(outbox / "accepted/cv-160.xml"));
  BOOST_REQUIRE(test::eventually([&] {
    return std::filesystem::exists(outbox / "accepted/again.answer.json") &&
           std::filesystem::exists(outbox / "accepted/cv-161.answer.json");
  }));
  BOOST_TEST(json::parse(test::read(outbox / "accepted/again.answer.json"))["id"] == answer["id"]);
  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  BOOST_TEST(p.inbox_b().size() == 2u);  // 160 once, 161 once
}

BOOST_AUTO_TEST_CASE(
    a_package_tampered_at_the_hub_never_reaches_the_office_and_the_sender_learns_why) {
  Province p(/*start_b=*/false);
  const std::string id = id_of(p.submit(package("300")));
  BOOST_REQUIRE(test::eventually([&] { return p.document(id)["status"] == "sent"; }));
  // The fault the hub's own verification prevents: bytes changed in its store.
  const auto ids = test::stored_package_ids(p.hub->dir() / "var");
  BOOST_REQUIRE_EQUAL(ids.size(), 1u);
  test::forge_stored_package(p.hub->dir() / "var", ids[0],
                             test::replace_once(test::stored_package(p.hub->dir() / "var", ids[0]),
                                                "năm 2026", "năm 2027"));

  p.b->start();
  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 1; }));
  BOOST_TEST(p.inbox_b()[0]["verification"] == "invalid");
  BOOST_TEST(p.inbox_b()[0]["reason"].get<std::string>().find("changed after it was signed") !=
             std::string::npos);
  BOOST_REQUIRE(test::eventually([&] { return p.status_code_at_a(id) == "02"; }));
  BOOST_TEST(p.document(id)["recipients"][0]["status_description"].get<std::string>().find(
                 "changed after it was signed") != std::string::npos);
  BOOST_TEST(p.office_files_b() == 0u);  // never delivered inward
}

BOOST_AUTO_TEST_CASE(a_signer_revoked_after_the_last_crl_is_refused_by_an_ocsp_checking_gateway) {
  test::OcspResponder responder;
  Province p(/*start_b=*/false);
  // Hướng Hóa signs with a certificate its CA revoked after publishing the
  // CRL: the hub (CRLs only) lets it through, Đakrông asks OCSP and refuses it.
  BOOST_TEST(p.a->stop() == 0);
  std::string a_config = test::read(p.a->dir() / "gateway.xml");
  a_config =
      test::replace_once(a_config, pki("huong-hoa.pem").string(), pki("late-revoked.pem").string());
  a_config =
      test::replace_once(a_config, pki("huong-hoa.key").string(), pki("late-revoked.key").string());
  p.a->rewrite_config(a_config);
  p.a->start();
  p.b->rewrite_config(test::replace_once(
      test::read(p.b->dir() / "gateway.xml"), R"(revocation="require")",
      R"(revocation="require" ocsp="on" ocsp-url=")" + responder.url() + R"(")"));
  p.b->start();

  const std::string id = id_of(p.submit(package("400")));
  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 1; }));
  BOOST_TEST(p.inbox_b()[0]["verification"] == "invalid");
  BOOST_REQUIRE(test::eventually([&] { return p.status_code_at_a(id) == "02"; }));
  const std::string why = p.document(id)["recipients"][0]["status_description"];
  BOOST_TEST(why.find("was revoked on") != std::string::npos, why);
  BOOST_TEST(why.find("OCSP responder") != std::string::npos, why);
  BOOST_TEST(p.office_files_b() == 0u);
}

BOOST_AUTO_TEST_CASE(over_tls_with_client_certificates_the_document_and_its_status_travel) {
  Province p(/*start_b=*/true, /*start_hub=*/true, /*tls=*/true);
  const std::string id = id_of(p.submit(package("500")));
  BOOST_REQUIRE_MESSAGE(test::eventually([&] { return p.status_code_at_a(id) == "01"; }),
                        p.document(id).dump());
  BOOST_TEST(p.inbox_b()[0]["verification"] == "valid");

  const std::string hub =
      "https://127.0.0.1:" + std::to_string(p.hub_port) + "/getReceivedEdocList";
  // Plain HTTP to the TLS port, and TLS without a client certificate, get nowhere.
  BOOST_TEST(
      test::http("POST", "http://127.0.0.1:" + std::to_string(p.hub_port) + "/getReceivedEdocList")
          .status == 0);
  const auto no_client_cert = test::run("curl -sS -o /dev/null -w '%{http_code}' --cacert " +
                                        quote(pki("root.pem")) + " -X POST " + hub);
  BOOST_TEST(no_client_cert.exit_code != 0);
  // With one, TLS holds and the hub's own authentication answers.
  const auto with_cert =
      test::run("curl -sS -o /dev/null -w '%{http_code}' --cacert " + quote(pki("root.pem")) +
                " --cert " + quote(pki("tls-localhost-chain.pem")) + " --key " +
                quote(pki("tls-localhost.key")) + " -X POST " + hub);
  BOOST_TEST(with_cert.exit_code == 0, with_cert.err);
  BOOST_TEST(with_cert.out == "401");
}

BOOST_AUTO_TEST_CASE(the_local_api_serves_tls_and_config_check_names_a_bad_key) {
  test::TempDir dir;
  std::string xml = district_config("000.00.12.H50", "UBND huyện Hướng Hóa", "huong-hoa",
                                    test::free_port(), kTokenA);
  xml = test::replace_once(xml, R"(<api listen="127.0.0.1:0")",
                           R"(<api listen="127.0.0.1:0" tls-cert=")" +
                               pki("tls-localhost-chain.pem").string() + R"(" tls-key=")" +
                               pki("tls-localhost.key").string() + "\"");
  test::GatewayProcess a(dir / "a", xml);
  a.start();
  const std::string url = "https://127.0.0.1:" + std::to_string(a.api_port()) + "/healthz";
  const auto ok = test::run("curl -sS --cacert " + quote(pki("root.pem")) + " " + url);
  BOOST_TEST(ok.exit_code == 0, ok.err);
  BOOST_TEST(ok.out.find("\"ok\"") != std::string::npos, ok.out);
  const auto untrusted = test::run("curl -sS -o /dev/null " + url);  // system CAs only
  BOOST_TEST(untrusted.exit_code != 0);
  BOOST_TEST(a.stop() == 0);

  test::write(dir / "b.xml", test::replace_once(xml, pki("tls-localhost.key").string(),
                                                pki("huong-hoa.key").string()));
  const auto check = test::run(test::edocgw_cmd() + " config check " + quote(dir / "b.xml"));
  BOOST_TEST(check.exit_code == 1);
  BOOST_TEST(check.err.find("cannot serve tls-cert") != std::string::npos, check.err);
}

BOOST_AUTO_TEST_CASE(the_hub_refuses_a_tampered_package_and_a_stranger_with_the_reason) {
  Province p(false);
  const std::string id = id_of(p.submit(package("310")));
  BOOST_REQUIRE(test::eventually([&] { return p.document(id)["status"] == "sent"; }));
  const std::string signed_bytes = test::stored_package(p.a->dir() / "var", id);

  // Push straight to the hub with Hướng Hóa's credentials, as its adapter does.
  adapters::vdxp::VdxpSettings settings;
  settings.url = "http://127.0.0.1:" + std::to_string(p.hub_port);
  settings.system_id = "huong-hoa";
  settings.secret = test::read(pki("huong-hoa.secret")).substr(0, 64);
  adapters::vdxp::VdxpAdapter as_huong_hoa("test", settings);
  adapters::OutgoingPackage out{"x",
                                "",
                                "000.00.12.H50",
                                {"000.00.13.H50"},
                                "edoc",
                                test::replace_once(signed_bytes, "năm 2026", "năm 2027"),
                                ""};
  auto refused = as_huong_hoa.deliver(out);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.error().code == Errc::invalid));  // final: not retried
  BOOST_TEST(refused.error().message.find("changed after it was signed") != std::string::npos,
             refused.error().message);

  // The untouched package is accepted; the same with a wrong secret is not.
  out.bytes = signed_bytes;
  BOOST_TEST(as_huong_hoa.deliver(out).ok());
  settings.secret = "not-the-secret";
  adapters::vdxp::VdxpAdapter impostor("test", settings);
  auto unauthorised = impostor.deliver(out);
  BOOST_REQUIRE(!unauthorised.ok());
  BOOST_TEST(unauthorised.error().message.find("refused our credentials") != std::string::npos,
             unauthorised.error().message);
}

BOOST_AUTO_TEST_CASE(a_dead_hub_delays_delivery_but_loses_nothing) {
  Province p(/*start_b=*/true, /*start_hub=*/false);
  const std::string id = id_of(p.submit(package("400")));
  BOOST_REQUIRE(test::eventually(
      [&] { return p.document(id)["recipients"][0]["attempts"].get<int>() >= 1; }));
  BOOST_TEST(p.document(id)["status"] == "queued");
  BOOST_TEST(p.document(id)["recipients"][0]["last_error"].get<std::string>().find(
                 "cannot reach the exchange") != std::string::npos);
  p.hub->start();
  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 1; }, 60));
  BOOST_REQUIRE(test::eventually([&] { return p.status_code_at_a(id) == "01"; }));
}

BOOST_AUTO_TEST_CASE(kill_9_right_after_202_delivers_exactly_once_after_restart) {
  Province p;
  const std::string id = id_of(p.submit(package("500")));
  p.a->kill9();
  p.a->start();
  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 1; }));
  BOOST_REQUIRE(test::eventually([&] { return p.status_code_at_a(id) == "01"; }));
  // Give a duplicate every chance to show up.
  test::eventually([] { return false; }, 2);
  BOOST_TEST(p.inbox_b().size() == 1u);
  BOOST_TEST(p.office_files_b() == 1u);
}

BOOST_AUTO_TEST_CASE(the_recipient_killed_mid_poll_loses_nothing_and_duplicates_nothing) {
  Province p;
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(id_of(p.submit(package(std::to_string(600 + i)))));
  BOOST_REQUIRE(test::eventually([&] { return !p.inbox_b().empty(); }));
  p.b->kill9();
  p.b->start();
  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 6; }, 60));
  for (const auto& id : ids)
    BOOST_REQUIRE(test::eventually([&] { return p.status_code_at_a(id) == "01"; }));
  test::eventually([] { return false; }, 2);
  BOOST_TEST(p.inbox_b().size() == 6u);
  std::set<std::string> document_ids;
  for (const auto& item : p.inbox_b()) document_ids.insert(item["document_id"].get<std::string>());
  BOOST_TEST(document_ids.size() == 6u);
}

BOOST_AUTO_TEST_CASE(a_hand_over_cut_short_is_finished_when_the_package_is_offered_again) {
  // The office folder cannot be made (a file stands in its place), as when a
  // crash cuts the hand-over short: the package is stored but not
  // acknowledged, so the hub offers it again; once the folder works, the
  // hand-over and the 01 answer are finished, once.
  Province p;
  const auto office = p.b->dir() / "var/office-inbox";
  std::filesystem::remove_all(office);
  test::write(office, "not a folder");
  const std::string id = id_of(p.submit(package("700")));
  BOOST_REQUIRE(test::eventually(
      [&] { return p.b->log().find("inbound delivery failed") != std::string::npos; }));
  BOOST_TEST(p.inbox_b().size() == 1u);
  BOOST_TEST(p.status_code_at_a(id) != "01");  // not answered before the hand-over

  std::filesystem::remove(office);
  BOOST_REQUIRE(test::eventually([&] { return p.office_files_b() == 1; }));
  BOOST_REQUIRE(test::eventually([&] { return p.status_code_at_a(id) == "01"; }));
  BOOST_TEST(p.inbox_b().size() == 1u);
  BOOST_TEST(p.b->log().find("finishing a package whose hand-over was cut short") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(sighup_reloads_a_good_config_and_refuses_a_bad_one) {
  Province p(false);
  const std::string good =
      district_config("000.00.12.H50", "UBND huyện Hướng Hóa", "huong-hoa", p.hub_port, kTokenA);
  // A broken file: the old configuration keeps running.
  p.a->rewrite_config(test::replace_once(good, "type=\"directory\"", "type=\"ftp\""));
  p.a->signal(SIGHUP);
  BOOST_REQUIRE(
      test::eventually([&] { return p.a->log().find("reload refused") != std::string::npos; }));
  BOOST_TEST(p.a->log().find("unknown type 'ftp'") != std::string::npos);
  BOOST_TEST(test::http("GET", p.a->api_url() + "/healthz").status == 200);

  // A good one with a second client: its token works after the reload.
  const std::string second = "second-office-token";
  p.a->rewrite_config(test::replace_once(
      good, "</api>",
      "  <client name=\"archive\" token-sha256=\"" + sha256_hex(second) + "\"/>\n  </api>"));
  BOOST_TEST(
      test::http("GET", p.a->api_url() + "/v1/inbox", {"Authorization: Bearer " + second}).status ==
      401);
  p.a->signal(SIGHUP);
  BOOST_REQUIRE(test::eventually([&] {
    return test::http("GET", p.a->api_url() + "/v1/inbox", {"Authorization: Bearer " + second})
               .status == 200;
  }));

  // A reload that turns a pickup folder on starts taking files at once, and
  // one that turns it off again stops.
  const auto outbox = p.a->dir() / "var/outbox";
  std::filesystem::create_directories(outbox);
  test::write(outbox / "cv-600.xml", package("600"));
  const std::string with_pickup = test::replace_once(
      good, R"(path="var/office-inbox"/>)",
      R"(path="var/office-inbox" pickup="var/outbox" pickup-interval="100ms"/>)");
  p.a->rewrite_config(with_pickup);
  p.a->signal(SIGHUP);
  BOOST_REQUIRE(test::eventually(
      [&] { return std::filesystem::exists(outbox / "accepted/cv-600.answer.json"); }));
  p.a->rewrite_config(good);
  p.a->signal(SIGHUP);
  BOOST_REQUIRE(test::eventually(
      [&] { return p.a->log().rfind("configuration reloaded") > p.a->log().find("cv-600"); }));
  test::write(outbox / "cv-601.xml", package("601"));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  BOOST_TEST(std::filesystem::exists(outbox / "cv-601.xml"));  // no longer picked up
}
