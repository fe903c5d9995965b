#define BOOST_TEST_MODULE package
#include <boost/test/unit_test.hpp>

#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using namespace edocgw::edxml;

namespace {

Package read_back(const std::string& bytes) {
  auto doc = xml::parse_untrusted_xml(bytes);
  BOOST_REQUIRE(doc.ok());
  auto p = read_package(doc->get());
  if (!p.ok()) BOOST_FAIL(p.error().message);
  return *p;
}

const TimePoint kNow = *parse_rfc3339("2026-11-28T02:00:00Z");

}  // namespace

BOOST_AUTO_TEST_CASE(a_built_package_reads_back_field_for_field) {
  const std::string pdf = "%PDF-1.7\n" + std::string(5000, '\x01') + "%%EOF";
  auto bytes =
      build_package(test::sample_meta(), {{"công-văn.pdf", pdf, "", "Công văn gốc"}}, kNow);
  BOOST_REQUIRE(bytes.ok());
  const Package p = read_back(*bytes);
  BOOST_TEST((p.kind == PackageKind::document));
  BOOST_TEST(p.namespace_uri == xml::kEdxmlNs);
  BOOST_TEST(p.header.from.organ_id == "000.00.12.H50");
  BOOST_TEST(p.header.from.organ_name == "UBND huyện Hướng Hóa");
  BOOST_REQUIRE(p.header.to.size() == 1u);
  BOOST_TEST(p.header.to[0].organ_id == "000.00.13.H50");
  BOOST_TEST(p.header.subject == test::kSampleSubject);
  BOOST_TEST(p.header.code.number == "125");
  BOOST_TEST(p.header.promulgation_date == "2026/11/28");
  BOOST_TEST(p.header.document_id == "000.00.12.H50,2026/11/28,125/UBND-VP");
  BOOST_TEST(p.header.signer_full_name == "Nguyễn Văn Ánh");
  BOOST_REQUIRE(p.business.has_value());
  BOOST_TEST(p.business->doc_type == "0");
  BOOST_REQUIRE(p.attachments.size() == 1u);
  BOOST_TEST(p.attachments[0].name == "công-văn.pdf");
  BOOST_TEST(p.attachments[0].content_type == "application/pdf");
  BOOST_TEST(p.attachments[0].description == "Công văn gốc");
  BOOST_TEST(p.attachments[0].size == pdf.size());
  BOOST_TEST(p.attachments[0].sha256 == sha256_hex(pdf));
  BOOST_TEST(!p.signature_present);
  BOOST_TEST(p.warnings.empty());
}

BOOST_AUTO_TEST_CASE(vietnamese_text_is_written_as_utf8_bytes_not_character_references) {
  auto bytes = build_package(test::sample_meta(), {}, kNow);
  BOOST_REQUIRE(bytes.ok());
  BOOST_TEST(bytes->find(test::kSampleSubject) != std::string::npos);
  BOOST_TEST(bytes->find("&#") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(text_that_needs_escaping_survives) {
  auto meta = test::sample_meta();
  meta["subject"] = "A < B & C > D \"quoted\" 'single' ]]>";
  auto bytes = build_package(meta, {}, kNow);
  BOOST_REQUIRE(bytes.ok());
  BOOST_TEST(read_back(*bytes).header.subject == "A < B & C > D \"quoted\" 'single' ]]>");
}

BOOST_AUTO_TEST_CASE(a_missing_promulgation_date_is_today_in_vietnam) {
  auto meta = test::sample_meta();
  meta.erase("promulgation");
  auto bytes = build_package(meta, {}, *parse_rfc3339("2026-11-28T20:00:00Z"));
  BOOST_REQUIRE(bytes.ok());
  BOOST_TEST(read_back(*bytes).header.promulgation_date == "2026/11/29");
}

BOOST_AUTO_TEST_CASE(metadata_errors_are_precise) {
  auto expect_error = [](nlohmann::json meta, const std::string& fragment) {
    auto r = build_package(meta, {}, kNow);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().message.find(fragment) != std::string::npos, r.error().message);
  };
  auto m = test::sample_meta();
  m["subjet"] = "typo";
  expect_error(m, "unknown field subjet");
  m = test::sample_meta();
  m["from"]["organ_id"] = "A00.00.12.H50";  // lenient codes are accepted on input only
  expect_error(m, "from.organ_id 'A00.00.12.H50'");
  m = test::sample_meta();
  m["to"] = nlohmann::json::array();
  expect_error(m, "\"to\"");
  m = test::sample_meta();
  m.erase("subject");
  expect_error(m, "subject");
  m = test::sample_meta();
  m["promulgation"]["date"] = "28/11/2026";
  expect_error(m, "yyyy/MM/dd");
  m = test::sample_meta();
  m["to"][0]["organ_nam"] = "typo";
  expect_error(m, "unknown field to[0].organ_nam");
}

BOOST_AUTO_TEST_CASE(the_legacy_namespace_is_read_with_a_warning) {
  auto bytes = build_package(test::sample_meta(), {}, kNow);
  BOOST_REQUIRE(bytes.ok());
  const std::string legacy = test::replace_once(*bytes, "http://www.mic.gov.vn/TBT/QCVN_102_2016",
                                                "http://www.e-doc.vn/Schema/");
  const Package p = read_back(legacy);
  BOOST_TEST(p.header.subject == test::kSampleSubject);
  BOOST_REQUIRE(!p.warnings.empty());
  BOOST_TEST(p.warnings[0].find("legacy namespace") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(elements_are_found_by_namespace_not_by_prefix) {
  auto bytes = build_package(test::sample_meta(), {}, kNow);
  BOOST_REQUIRE(bytes.ok());
  std::string renamed = *bytes;
  for (size_t pos; (pos = renamed.find("edXML:")) != std::string::npos;)
    renamed.replace(pos, 6, "x:");
  renamed = test::replace_once(renamed, "xmlns:edXML=", "xmlns:x=");
  BOOST_TEST(read_back(renamed).header.subject == test::kSampleSubject);

  // The right names in another namespace are not edXML.
  const std::string foreign = test::replace_once(*bytes, "http://www.mic.gov.vn/TBT/QCVN_102_2016",
                                                 "urn:example:not-edxml");
  auto doc = xml::parse_untrusted_xml(foreign);
  BOOST_REQUIRE(doc.ok());
  auto p = read_package(doc->get());
  BOOST_REQUIRE(!p.ok());
  BOOST_TEST(p.error().message.find("not edXML") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(lenient_agency_codes_on_input_are_warned_about) {
  auto bytes = build_package(test::sample_meta(), {}, kNow);
  BOOST_REQUIRE(bytes.ok());
  const std::string lenient =
      test::replace_once(*bytes, "<edXML:OrganId>000.00.13.H50", "<edXML:OrganId>0A0.00.13.H50");
  const Package p = read_back(lenient);
  BOOST_REQUIRE(p.warnings.size() == 1u);
  BOOST_TEST(p.warnings[0].find("leniently") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(status_packages_build_and_read_back) {
  const nlohmann::json meta = {
      {"from", {{"organ_id", "000.00.13.H50"}, {"organ_name", "UBND huyện Đakrông"}}},
      {"response_for",
       {{"organ_id", "000.00.12.H50"},
        {"code", "125/UBND-VP"},
        {"promulgation_date", "2026/11/28"},
        {"document_id", "000.00.12.H50,2026/11/28,125/UBND-VP"}}},
      {"status_code", "03"},
      {"description", "Đã vào sổ công văn đến"},
      {"staff", {{"department", "Văn phòng"}, {"staff", "Trần Thị Bình"}}}};
  auto status = status_from_json(meta, kNow);
  BOOST_REQUIRE(status.ok());
  auto bytes = build_status_package(*status);
  BOOST_REQUIRE(bytes.ok());
  const Package p = read_back(*bytes);
  BOOST_TEST((p.kind == PackageKind::status));
  BOOST_TEST(p.status.status_code == "03");
  BOOST_TEST(status_code_meaning(p.status.status_code) == "accepted and registered");
  BOOST_TEST(p.status.from.organ_id == "000.00.13.H50");
  BOOST_TEST(p.status.response_for.document_id == "000.00.12.H50,2026/11/28,125/UBND-VP");
  BOOST_TEST(p.status.description == "Đã vào sổ công văn đến");
  BOOST_TEST(p.status.staff.staff == "Trần Thị Bình");
  BOOST_TEST(p.status.timestamp == "2026-11-28T02:00:00Z");
  BOOST_TEST(p.sender_organ_id() == "000.00.13.H50");
}

BOOST_AUTO_TEST_CASE(status_codes_follow_the_domain_table) {
  for (const char* code : {"01", "02", "03", "04", "05", "06", "13", "15", "16"}) {
    BOOST_TEST(is_known_status_code(code), code);
  }
  for (const char* code : {"00", "07", "1", "99", ""})
    BOOST_TEST(!is_known_status_code(code), code);
  auto meta = nlohmann::json{{"from", {{"organ_id", "000.00.13.H50"}, {"organ_name", "Đakrông"}}},
                             {"response_for", {{"organ_id", "000.00.12.H50"}}},
                             {"status_code", "14"}};
  auto alias = status_from_json(meta, kNow);
  BOOST_REQUIRE(alias.ok());
  BOOST_TEST(alias->status_code == "15");  // 14 is read as an alias of 15
  meta["status_code"] = "07";
  BOOST_TEST(!status_from_json(meta, kNow).ok());
}

BOOST_AUTO_TEST_CASE(inspect_json_lists_what_a_clerk_needs) {
  auto bytes = build_package(test::sample_meta(), {{"a.pdf", "PDF", "", ""}}, kNow);
  BOOST_REQUIRE(bytes.ok());
  const auto j = to_json(read_back(*bytes));
  BOOST_TEST(j["from"]["organ_id"] == "000.00.12.H50");
  BOOST_TEST(j["subject"] == test::kSampleSubject);
  BOOST_TEST(j["attachments"][0]["size"] == 3);
  BOOST_TEST(j["attachments"][0]["sha256"] == sha256_hex("PDF"));
  BOOST_TEST(j["signature_present"] == false);
  BOOST_TEST(to_text(read_back(*bytes)).find("signature:   absent") != std::string::npos);
}
