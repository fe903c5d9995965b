// PDF signatures between real gateways: a PDF signed by the official and the
// organisation travels A -> hub -> B and arrives verified, reported and
// logged, and `audit verify` re-verifies it from B's log; a recipient whose
// policy requires the organisation's signature refuses a PDF only the
// official signed and tells the sender why (02); a tampered signed PDF is
// refused at the hub with the reason.
#define BOOST_TEST_MODULE pdf_flow
#include "adapters/vdxp/vdxp_adapter.h"
#include "tests/gateway/province.h"
#include "tests/support/pdf_fixtures.h"

using namespace edocgw;
using namespace edocgw::test;
namespace fx = edocgw::test::pdf;

namespace {

std::string package_with_pdf(const std::string& number, const std::string& pdf) {
  auto meta = test::sample_meta();
  meta["code"]["number"] = number;
  auto p =
      edxml::build_package(meta, {{"quyet-dinh.pdf", pdf, "application/pdf", ""}}, now_seconds());
  if (!p) throw std::runtime_error(p.error().message);
  return *p;
}

fx::SignOptions field(const std::string& name) {
  fx::SignOptions o;
  o.field_name = name;
  o.contents_reserve = 8192;  // A's API takes 256 KB bodies
  return o;
}

std::string official_only() {
  return fx::sign_pdf(fx::make_base_pdf(), fx::sample_signer(pki().string(), "personal"),
                      field("Official"));
}

std::string official_and_organisation() {
  return fx::sign_pdf(official_only(), fx::sample_signer(pki().string(), "huong-hoa"),
                      field("Organisation"));
}

json report_at_b(Province& p, const std::string& inbox_id) {
  auto r = http("GET", p.b->api_url() + "/v1/inbox/" + inbox_id + "/report",
                {"Authorization: Bearer " + kTokenB});
  BOOST_REQUIRE_EQUAL(r.status, 200);
  return json::parse(r.body);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_signed_pdf_arrives_verified_reported_logged_and_audited) {
  Province p;
  const std::string id = id_of(p.submit(package_with_pdf("600", official_and_organisation())));
  BOOST_REQUIRE(eventually([&] { return p.inbox_b().size() == 1; }));
  const json item = p.inbox_b()[0];
  BOOST_TEST(item["verification"] == "valid", item.dump());
  const json report = report_at_b(p, item["id"].get<std::string>());
  BOOST_REQUIRE_EQUAL(report["pdf"].size(), 1u);
  BOOST_TEST(report["pdf"][0]["state"] == "verified");
  BOOST_TEST(report["pdf"][0]["signatures"].size() == 2u);
  BOOST_TEST(report["pdf"][0]["signatures"][1]["organ_id"] == "000.00.12.H50");
  BOOST_REQUIRE(eventually([&] { return p.status_code_at_a(id) == "01"; }));

  // B's signature log keeps the PDF report; the auditor re-verifies it.
  BOOST_TEST(p.b->stop() == 0);
  const auto records = read(p.b->dir() / "var/signature-log/records");
  BOOST_TEST(records.find("\"pdf\":[{") != std::string::npos);
  const auto audit = run(edocgw_cmd() + " audit verify --data-dir " + quote(p.b->dir() / "var") +
                         " --trust " + quote(pki("root.pem")) + " --json");
  BOOST_TEST(audit.exit_code == 0, audit.out << audit.err);
  BOOST_TEST(json::parse(audit.out)["packages_verified"].get<int>() >= 1, audit.out);
}

BOOST_AUTO_TEST_CASE(a_recipient_requiring_the_organisation_refuses_an_official_only_pdf) {
  Province p(/*start_b=*/false);
  p.b->rewrite_config(replace_once(
      district_config("000.00.13.H50", "UBND huyện Đakrông", "dakrong", p.hub_port, kTokenB),
      R"(revocation="require"/>)",
      R"(revocation="require"><accept from="*" pdf-signatures="organisation"/></trust>)"));
  p.b->start();
  const std::string id = id_of(p.submit(package_with_pdf("601", official_only())));
  BOOST_REQUIRE(eventually([&] { return p.inbox_b().size() == 1; }));
  const json item = p.inbox_b()[0];
  BOOST_TEST(item["verification"] == "invalid");
  const std::string why = "to be 000.00.12.H50's";
  BOOST_TEST(item["reason"].get<std::string>().find(why) != std::string::npos, item.dump());
  BOOST_REQUIRE(eventually([&] { return p.status_code_at_a(id) == "02"; }));
  BOOST_TEST(p.document(id)["recipients"][0]["status_description"].get<std::string>().find(why) !=
             std::string::npos);
  BOOST_TEST(p.office_files_b() == 0u);  // never delivered inward
}

BOOST_AUTO_TEST_CASE(a_tampered_signed_pdf_is_refused_at_submission_and_at_the_hub) {
  Province p;
  std::string pdf = official_and_organisation();
  pdf[pdf.find("Quyet dinh")] = 'X';
  const std::string why = "the signed bytes were changed";
  // The office submits it: its own gateway refuses to sign it.
  const auto r = p.submit(package_with_pdf("602", pdf));
  BOOST_TEST(r.status == 422, r.body);
  BOOST_TEST(json::parse(r.body)["error"] == "invalid_pdf_signature", r.body);
  BOOST_TEST(r.body.find(why) != std::string::npos, r.body);

  // Signed elsewhere (the CLI) and pushed to the hub as Hướng Hóa's system would.
  TempDir dir;
  write(dir / "unsigned.xml", package_with_pdf("603", pdf));
  const auto signed_run =
      run(edocgw_cmd() + " sign --cert " + quote(pki("huong-hoa.pem")) + " --key " +
          quote(pki("huong-hoa.key")) + " --chain " + quote(pki("ca.pem")) + " --in " +
          quote(dir / "unsigned.xml") + " --out " + quote(dir / "signed.xml"));
  BOOST_REQUIRE_MESSAGE(signed_run.exit_code == 0, signed_run.err);
  adapters::vdxp::VdxpSettings settings;
  settings.url = "http://127.0.0.1:" + std::to_string(p.hub_port);
  settings.system_id = "huong-hoa";
  settings.secret = read(pki("huong-hoa.secret")).substr(0, 64);
  adapters::vdxp::VdxpAdapter as_huong_hoa("test", settings);
  adapters::OutgoingPackage out{
      "x", "", "000.00.12.H50", {"000.00.13.H50"}, "edoc", read(dir / "signed.xml"), ""};
  auto refused = as_huong_hoa.deliver(out);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.error().code == Errc::invalid));  // final: not retried
  BOOST_TEST(refused.error().message.find(why) != std::string::npos, refused.error().message);
  BOOST_TEST(p.inbox_b().empty());
}
