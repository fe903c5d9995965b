#define BOOST_TEST_MODULE package
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <functional>
#include <sstream>

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
  std::string legacy = *bytes;
  for (size_t pos;
       (pos = legacy.find("http://www.mic.gov.vn/TBT/QCVN_102_2016")) != std::string::npos;) {
    legacy.replace(pos, 39, "http://www.e-doc.vn/Schema/");
  }
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
  BOOST_TEST(p.status.timestamp == "2026/11/28 09:00:00");  // UTC+07:00, as real parsers read
  BOOST_TEST(p.warnings.empty());
  BOOST_TEST(p.sender_organ_id() == "000.00.13.H50");
}

BOOST_AUTO_TEST_CASE(status_codes_follow_the_domain_table) {
  for (const char* code : {"01", "02", "03", "04", "05", "06", "13", "15", "16"}) {
    BOOST_TEST(is_known_status_code(code), code);
  }
  for (const char* code : {"00", "07", "1", "99", ""})
    BOOST_TEST(!is_known_status_code(code), code);
  auto meta = nlohmann::json{
      {"from", {{"organ_id", "000.00.13.H50"}, {"organ_name", "Đakrông"}}},
      {"response_for",
       {{"organ_id", "000.00.12.H50"}, {"document_id", "000.00.12.H50,2026/11/28,125/UBND-VP"}}},
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

// --- the real shapes (shared/VDXP.md section 9, VDXP-captures.md) ---------

namespace {

std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures" / "edxml" / name;
}

// Every element in document order as "{ns}/path", the structure a parser sees.
std::vector<std::string> element_paths(const std::string& bytes) {
  auto doc = xml::parse_untrusted_xml(bytes);
  BOOST_REQUIRE(doc.ok());
  std::vector<std::string> out;
  std::function<void(xmlNode*)> walk = [&](xmlNode* n) {
    for (; n != nullptr; n = n->next) {
      if (n->type != XML_ELEMENT_NODE) continue;
      out.push_back("{" + std::string(xml::ns_of(n)) + "}" + xml::path_of(n));
      walk(n->children);
    }
  };
  walk(xmlDocGetRootElement(doc->get()));
  return out;
}

// The text as a person compares it: no CR, no indentation, "<x />" as "<x/>".
std::string layout(std::string text) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos) continue;
    line = line.substr(start);
    for (size_t pos; (pos = line.find(" />")) != std::string::npos;) line.replace(pos, 3, "/>");
    out += line + "\n";
  }
  return out;
}

// The metadata that makes the status of VDXP-captures.md "Status package".
nlohmann::json captured_status_meta() {
  return {{"from", {{"organ_id", "000.00.12.H45"}, {"organ_name", "UBND huyện A"}}},
          {"response_for",
           {{"organ_id", "000.00.13.H45"},
            {"code", "45/UBND-VP"},
            {"promulgation_date", "2026/01/10"},
            {"document_id", "000.00.13.H45,2026/01/10,45/UBND-VP"}}},
          {"staff",
           {{"department", "Văn thư văn phòng"},
            {"staff", "Nguyễn Thị Mẫu"},
            {"email", "vanthu@example.gov.vn"},
            {"mobile", "84912000001"}}},
          {"status_code", "03"},
          {"description", "Đã tiếp nhận"},
          {"timestamp", "2026/11/30 01:35:54"}};
}

nlohmann::json captured_document_meta() {
  return {{"from", {{"organ_id", "000.00.12.H45"}, {"organ_name", "UBND huyện A"}}},
          {"to", {{{"organ_id", "000.00.13.H45"}, {"organ_name", "UBND huyện B"}}}},
          {"code", {{"number", "123"}, {"notation", "UBND-VP"}}},
          {"promulgation", {{"place", "Quảng Trị"}, {"date", "2026/01/15"}}},
          {"document_type", {{"type", "1"}, {"type_detail", "0"}, {"name", "Công văn"}}},
          {"subject", "Văn bản thử"},
          {"content", "Thử"},
          {"signer",
           {{"competence", "TM. Ủy ban nhân dân"},
            {"position", "Chủ tịch"},
            {"full_name", "Nguyễn Văn Mẫu"}}},
          {"due_date", "2026/11/30"},
          {"other_info",
           {{"priority", "0"},
            {"sphere_of_promulgation", "Liên thông văn bản quốc gia"},
            {"typer_notation", "VT"},
            {"promulgation_amount", "1"},
            {"page_amount", "1"},
            {"direction", "false"}}},
          {"steering_type", "1"},
          {"to_places", {"Như trên"}},
          {"timestamp", "2026/11/30 01:35:47"}};
}

Result<Package> try_read(const std::string& bytes) {
  auto doc = xml::parse_untrusted_xml(bytes);
  if (!doc) return doc.error();
  return read_package(doc->get());
}

}  // namespace

BOOST_AUTO_TEST_CASE(our_status_package_is_the_real_builders_status_package) {
  auto status = status_from_json(captured_status_meta(), kNow);
  BOOST_REQUIRE(status.ok());
  auto bytes = build_status_package(*status);
  BOOST_REQUIRE(bytes.ok());
  const std::string real = test::read(fixture("captured-status.edxml"));
  // The same elements, in the same namespace, in the same order...
  BOOST_TEST(element_paths(*bytes) == element_paths(real), boost::test_tools::per_element());
  // ...and the same text, namespace layout included, but for CRLF and indentation.
  BOOST_TEST(layout(*bytes) == layout(real));
  BOOST_TEST(bytes->find("<edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">") !=
             std::string::npos);
  const Package p = read_back(*bytes);
  BOOST_TEST((p.kind == PackageKind::status));
  BOOST_TEST(p.traces.empty());
  BOOST_TEST(p.unknown_elements.empty());
}

BOOST_AUTO_TEST_CASE(our_document_package_is_the_real_builders_document_package) {
  auto bytes = build_package(captured_document_meta(), {}, kNow);
  BOOST_REQUIRE(bytes.ok());
  const std::string real = test::read(fixture("captured-document.edxml"));
  BOOST_TEST(element_paths(*bytes) == element_paths(real), boost::test_tools::per_element());
  BOOST_TEST(layout(*bytes) == layout(real));
}

BOOST_AUTO_TEST_CASE(status_staff_info_is_complete_and_times_are_converted) {
  auto meta = captured_status_meta();
  meta["staff"]["department_id"] = "VP-01";
  meta["staff"]["staff_id"] = "NV-17";
  meta["timestamp"] = "2026-11-29T18:35:54Z";  // RFC 3339 on input: written in +07:00
  auto status = status_from_json(meta, kNow);
  BOOST_REQUIRE(status.ok());
  auto bytes = build_status_package(*status);
  BOOST_REQUIRE(bytes.ok());
  BOOST_TEST(bytes->find("<edXML:Timestamp>2026/11/30 01:35:54</edXML:Timestamp>") !=
             std::string::npos);
  const Package p = read_back(*bytes);
  BOOST_TEST(p.status.staff.department_id == "VP-01");
  BOOST_TEST(p.status.staff.staff_id == "NV-17");
  BOOST_TEST(p.status.staff.mobile == "84912000001");
  // A caller still holding RFC 3339 in StatusInfo gets edXML time written, never RFC 3339.
  StatusInfo s = *status;
  s.timestamp = "2026-11-29T18:35:54Z";
  auto again = build_status_package(s);
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->find("2026-11-29T") == std::string::npos);
  BOOST_TEST(read_back(*again).status.timestamp == "2026/11/30 01:35:54");
  s.timestamp = "yesterday";
  BOOST_TEST(!build_status_package(s).ok());
}

BOOST_AUTO_TEST_CASE(a_status_with_an_rfc3339_timestamp_is_reported_unreadable) {
  const std::string real = test::read(fixture("captured-status.edxml"));
  const Package p =
      read_back(test::replace_once(real, "2026/11/30 01:35:54", "2026-11-29T18:35:54Z"));
  BOOST_TEST((p.kind == PackageKind::status));
  BOOST_REQUIRE(p.warnings.size() == 1u);
  BOOST_TEST(p.warnings[0].find("RFC 3339") != std::string::npos, p.warnings[0]);
  BOOST_TEST(p.warnings[0].find("unreadable by real parsers") != std::string::npos);
  BOOST_TEST(to_json(p)["timestamp_utc"].is_null());
  // A readable time is not a warning, and is ordered by what it means.
  const Package ok = read_back(real);
  BOOST_TEST(ok.warnings.empty());
  BOOST_TEST(to_json(ok)["timestamp_utc"] == "2026-11-29T18:35:54Z");
}

BOOST_AUTO_TEST_CASE(built_documents_carry_edxml_times_not_rfc3339) {
  auto bytes = build_package(test::sample_meta(), {}, *parse_rfc3339("2026-11-28T20:15:00Z"));
  BOOST_REQUIRE(bytes.ok());
  const Package p = read_back(*bytes);
  BOOST_REQUIRE(p.traces.size() == 1u);
  BOOST_TEST(p.traces[0].organ_id == "000.00.12.H50");
  BOOST_TEST(p.traces[0].timestamp == "2026/11/29 03:15:00");
  BOOST_TEST(bytes->find("T20:15") == std::string::npos);
  // Bussiness comes first in TraceHeaderList, as EdXmlBuilder writes it.
  BOOST_TEST(bytes->find("<edXML:Bussiness>") < bytes->find("<edXML:TraceHeader>"));
  auto meta = test::sample_meta();
  meta["timestamp"] = "2026-11-28T09:00:00+07:00";
  BOOST_TEST(read_back(*build_package(meta, {}, kNow)).traces[0].timestamp ==
             "2026/11/28 09:00:00");
  meta["timestamp"] = "28/11/2026";
  BOOST_TEST(!build_package(meta, {}, kNow).ok());
}

BOOST_AUTO_TEST_CASE(the_builder_refuses_non_strict_codes_of_its_own) {
  auto expect_error = [](const Result<std::string>& r, const std::string& fragment) {
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().message.find(fragment) != std::string::npos, r.error().message);
  };
  auto m = test::sample_meta();
  m["from"]["organ_id"] = "28.22.H17";
  expect_error(build_package(m, {}, kNow), "from.organ_id '28.22.H17'");
  m = test::sample_meta();
  m["document_id"] = "vxp.saas.03,2026/11/28,125/UBND-VP";
  expect_error(build_package(m, {}, kNow), "document_id 'vxp.saas.03");
  m = test::sample_meta();
  m["document_id"] = "5d0c1f7e-3b52-4c8e-9a8e-2f5b7c1d9e40";
  expect_error(build_package(m, {}, kNow), "strict agency code");
  auto s = captured_status_meta();
  s["from"]["organ_id"] = "vxp.saas.03";
  BOOST_TEST(!status_from_json(s, kNow).ok());
  StatusInfo info = *status_from_json(captured_status_meta(), kNow);
  info.from.organ_id = "001.00.20.TT2";
  BOOST_TEST(!build_status_package(info).ok());
  // Codes of others are written as they gave them.
  m = test::sample_meta();
  m["to"][0]["organ_id"] = "28.22.H17";
  auto lenient_to = build_package(m, {}, kNow);
  BOOST_REQUIRE(lenient_to.ok());
  BOOST_TEST(read_back(*lenient_to).header.to[0].organ_id == "28.22.H17");
  s = captured_status_meta();
  s["response_for"]["organ_id"] = "vxp.saas.03";
  auto lenient_rf = status_from_json(s, kNow);
  BOOST_REQUIRE(lenient_rf.ok());
  BOOST_REQUIRE(build_status_package(*lenient_rf).ok());
}

BOOST_AUTO_TEST_CASE(business_is_written_and_read_with_every_child) {
  auto meta = test::sample_meta();
  meta["document_type"]["type_detail"] = "3";
  meta["trace_list"] = {{"id", "tl-1"}, {"version", "2.0"}};
  meta["business"] = {{"doc_type", 2},
                      {"document_id", "000.00.12.H50,2026/11/20,100/UBND-VP"},
                      {"paper", "1"},
                      {"document_info",
                       {{"document_info", "1"},
                        {"document_receiver", "1"},
                        {"receivers",
                         {{{"organ_id", "000.00.13.H50"}, {"receiver_type", "0"}},
                          {{"organ_id", "28.22.H17"}, {"receiver_type", "1"}}}}}},
                      {"staff",
                       {{"department", "Văn phòng"},
                        {"department_id", "VP"},
                        {"staff", "Trần Thị Bình"},
                        {"staff_id", "42"},
                        {"email", "binh@huonghoa.example"},
                        {"mobile", "0912000002"}}}};
  auto bytes = build_package(meta, {}, kNow);
  BOOST_REQUIRE(bytes.ok());
  const Package p = read_back(*bytes);
  BOOST_TEST(p.header.document_type_detail == "3");
  BOOST_TEST(p.trace_list_id == "tl-1");
  BOOST_TEST(p.trace_list_version == "2.0");
  BOOST_REQUIRE(p.business.has_value());
  const Business& b = *p.business;
  BOOST_TEST((b.type == BusinessDocType::update));
  BOOST_TEST(b.doc_type == "2");
  BOOST_TEST(b.reason == "Cập nhật văn bản điện tử");  // the real samples' default
  BOOST_TEST(b.paper == "1");
  BOOST_TEST(p.concerned_document_id() == "000.00.12.H50,2026/11/20,100/UBND-VP");
  BOOST_TEST(p.header.document_id == "000.00.12.H50,2026/11/28,125/UBND-VP");
  BOOST_REQUIRE(b.document_info.has_value());
  BOOST_TEST(b.document_info->document_info == "1");
  BOOST_REQUIRE(b.document_info->receivers.size() == 2u);
  BOOST_TEST(b.document_info->receivers[1].organ_id == "28.22.H17");
  BOOST_TEST(b.document_info->receivers[1].receiver_type == "1");
  BOOST_REQUIRE(b.staff.has_value());
  BOOST_TEST(b.staff->staff_id == "42");
  BOOST_TEST(p.unknown_elements.empty());
  const auto j = to_json(p);
  BOOST_TEST(j["business"]["doc_type_name"] == "update");
  BOOST_TEST(j["business"]["document_info"]["receivers"][1]["organ_id"] == "28.22.H17");
  BOOST_TEST(j["document_type"]["type_detail"] == "3");

  meta["business"] = {{"doc_type", "3"},
                      {"replacements",
                       {{{"document_id", "000.00.12.H50,2026/11/01,90/UBND-VP"},
                         {"organ_ids", {"000.00.13.H50", "000.00.14.H50"}}}}}};
  const Package r = read_back(*build_package(meta, {}, kNow));
  BOOST_TEST((r.business_type() == BusinessDocType::replacement));
  BOOST_REQUIRE(r.business->replacements.size() == 1u);
  BOOST_TEST(r.business->replacements[0].organ_ids.size() == 2u);
  // A new document concerns itself.
  BOOST_TEST(read_back(*build_package(test::sample_meta(), {}, kNow)).concerned_document_id() ==
             "000.00.12.H50,2026/11/28,125/UBND-VP");

  meta["business"] = {{"doc_type", "3"}};
  BOOST_TEST(!build_package(meta, {}, kNow).ok());  // a replacement names what it replaces
  meta["business"] = {{"doc_type", "1"}, {"reson", "typo"}};
  BOOST_TEST(!build_package(meta, {}, kNow).ok());
  meta["business"] = {{"doc_type", "2"},
                      {"document_info", {{"receivers", {{{"organ_id", "000.00.13.H50"}}}}}}};
  BOOST_TEST(!build_package(meta, {}, kNow).ok());  // receiver_type 0 or 1
}

BOOST_AUTO_TEST_CASE(content_ids_carry_cid_on_both_sides_and_match_either_form) {
  auto bytes = build_package(test::sample_meta(), {{"a.pdf", "PDF", "", ""}}, kNow);
  BOOST_REQUIRE(bytes.ok());
  const Package p = read_back(*bytes);
  BOOST_REQUIRE(p.attachments.size() == 1u);
  BOOST_TEST(p.attachments[0].content_id.rfind("cid:", 0) == 0u);
  BOOST_TEST(bytes->find("<edXML:ContentId>" + p.attachments[0].content_id) != std::string::npos);
  BOOST_TEST(bytes->find("<ContentId>" + p.attachments[0].content_id) != std::string::npos);
  BOOST_TEST(p.warnings.empty());
  // The Attachment without "cid:" (what we used to write) is still matched.
  const std::string bare = test::replace_once(*bytes, "<ContentId>cid:", "<ContentId>");
  BOOST_TEST(read_back(bare).warnings.empty());
  // A Reference without an Attachment, or the reverse, is reported.
  const std::string other = test::replace_once(*bytes, "<ContentId>cid:", "<ContentId>cid:x");
  BOOST_TEST(read_back(other).warnings.size() == 2u);
  BOOST_TEST(bare_content_id("cid:209") == "209");
  BOOST_TEST(bare_content_id(" CID:209\n") == "209");
  BOOST_TEST(bare_content_id("209") == "209");
}

BOOST_AUTO_TEST_CASE(unknown_elements_are_reported_where_they_are) {
  const std::string axis = test::read(fixture("axis-like-document.edxml"));
  const Package p = read_back(axis);
  BOOST_REQUIRE(p.unknown_elements.size() == 2u);
  BOOST_TEST(p.unknown_elements[0].path ==
             "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/OtherInfo/VendorPriorityLabel");
  BOOST_TEST(p.unknown_elements[0].namespace_uri == xml::kEdxmlNs);
  BOOST_TEST(p.unknown_elements[1].path ==
             "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/RoutingHint");
  BOOST_TEST(p.unknown_elements[1].namespace_uri == "urn:example:vendor");
  BOOST_TEST(p.header.other_info.direction == "false");  // written by the real builder: known
  BOOST_TEST(p.header.application_type == "QLVB");
  const auto j = to_json(p);
  BOOST_REQUIRE(j["unknown_elements"].size() == 2u);
  BOOST_TEST(j["unknown_elements"][1]["namespace"] == "urn:example:vendor");
  BOOST_TEST(j["unknown_elements"][1]["name"] == "RoutingHint");
  BOOST_TEST(to_text(p).find("unknown:     /edXML/edXMLEnvelope/edXMLHeader/MessageHeader/"
                             "RoutingHint {urn:example:vendor}") != std::string::npos);
  // A vendor element in a status, and one at the top.
  const std::string status = test::replace_once(
      test::replace_once(test::read(fixture("captured-status.edxml")), "<edXML:StatusCode>",
                         "<edXML:Urgency>1</edXML:Urgency><edXML:StatusCode>"),
      "</edXML>", "<Trailer/></edXML>");
  const Package s = read_back(status);
  BOOST_REQUIRE(s.unknown_elements.size() == 2u);
  BOOST_TEST(s.unknown_elements[0].path ==
             "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/Urgency");
  BOOST_TEST(s.unknown_elements[1].path == "/edXML/Trailer");
}

BOOST_AUTO_TEST_CASE(packages_from_a_real_axis_read_with_lenient_codes_and_null_hops) {
  const Package p = read_back(test::read(fixture("axis-like-document.edxml")));
  BOOST_TEST((p.kind == PackageKind::document));
  BOOST_TEST(p.header.from.organ_id == "vxp.saas.03");
  BOOST_TEST(p.header.document_id == "5d0c1f7e-3b52-4c8e-9a8e-2f5b7c1d9e40");  // opaque
  BOOST_TEST(p.header.document_type_detail == "2");
  BOOST_REQUIRE(p.traces.size() == 3u);
  BOOST_TEST(p.traces[1].organ_id == "null");
  BOOST_TEST(p.traces[2].organ_id == "");
  BOOST_TEST(p.trace_list_id == "th-5d0c1f7e");
  BOOST_TEST(p.trace_list_version == "2.0");
  BOOST_TEST(p.business->paper == "1");
  BOOST_TEST(p.signature_placeholder);
  BOOST_TEST(!p.signature_present);
  BOOST_REQUIRE(p.attachments.size() == 2u);
  // The lenient codes, each once: From, the two To, the first TraceHeader; no word on null hops.
  std::vector<std::string> lenient;
  for (const auto& w : p.warnings) {
    if (w.find("leniently") != std::string::npos) lenient.push_back(w);
  }
  BOOST_TEST(lenient.size() == 4u);
  BOOST_TEST(p.warnings.size() == 4u);  // cid:a2 / a2 match: no manifest warning
}

BOOST_AUTO_TEST_CASE(the_old_status_element_is_read_but_never_written) {
  std::string legacy = test::read(fixture("captured-status.edxml"));
  legacy = test::replace_once(legacy, "<edXML:MessageHeader>", "<edXML:Status>");
  legacy = test::replace_once(legacy, "</edXML:MessageHeader>", "</edXML:Status>");
  const Package p = read_back(legacy);
  BOOST_TEST((p.kind == PackageKind::status));
  BOOST_TEST(p.legacy_status_element);
  BOOST_TEST(p.status.status_code == "03");
  BOOST_TEST(p.status.response_for.organ_id == "000.00.13.H45");
  BOOST_TEST(p.unknown_elements.empty());
  BOOST_REQUIRE(p.warnings.size() == 1u);
  BOOST_TEST(p.warnings[0].find("non-standard") != std::string::npos);
  auto built = build_status_package(*status_from_json(captured_status_meta(), kNow));
  BOOST_TEST(built->find("Status>") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_kind_comes_from_the_content) {
  const std::string status = test::read(fixture("captured-status.edxml"));
  // 14 is read as 15.
  const Package alias =
      read_back(test::replace_once(status, "<edXML:StatusCode>03", "<edXML:StatusCode> 14 "));
  BOOST_TEST(alias.status.status_code == "15");
  // A StatusCode and a To: neither a document nor a status.
  auto both = try_read(test::replace_once(
      status, "<edXML:ResponseFor>",
      "<edXML:To><edXML:OrganId>000.00.13.H45</edXML:OrganId></edXML:To><edXML:ResponseFor>"));
  BOOST_REQUIRE(!both.ok());
  BOOST_TEST(both.error().message.find("both a StatusCode and a To") != std::string::npos);
  // A status that names no document cannot be attached or routed.
  auto nothing = try_read(test::replace_once(
      status, "<edXML:DocumentId>000.00.13.H45,2026/01/10,45/UBND-VP</edXML:DocumentId>", ""));
  BOOST_TEST(!nothing.ok());
  auto unknown =
      try_read(test::replace_once(status, "<edXML:StatusCode>03", "<edXML:StatusCode>07"));
  BOOST_TEST(!unknown.ok());
  // A document without To is not a status either.
  const std::string doc = test::read(fixture("captured-document.edxml"));
  const size_t a = doc.find("<edXML:To>"), b = doc.find("</edXML:To>") + 11;
  auto no_to = try_read(doc.substr(0, a) + doc.substr(b));
  BOOST_REQUIRE(!no_to.ok());
  BOOST_TEST(no_to.error().message.find("no To") != std::string::npos);
}

// --- limits and forbidden characters (issue 9) --------------------------------

namespace {

// `bytes` with the element `<tag ...>...</tag>` (first one) repeated to `n` copies.
std::string repeated(const std::string& bytes, const std::string& tag, size_t n) {
  const auto from = bytes.find("<" + tag + ">");
  const std::string close = "</" + tag + ">";
  const auto to = bytes.find(close, from) + close.size();
  BOOST_REQUIRE(from != std::string::npos && to > from);
  std::string one = bytes.substr(from, to - from), copies;
  for (size_t i = 1; i < n; ++i) copies += one;
  std::string out = bytes;
  out.insert(to, copies);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(twenty_thousand_attachments_are_refused_naming_the_limit) {
  auto bytes = build_package(test::sample_meta(), {{"a.pdf", "%PDF", "", ""}}, kNow);
  BOOST_REQUIRE(bytes.ok());
  for (const char* tag : {"Attachment", "edXML:Reference"}) {
    // 2,000: the package reader's cap; 20,000: the parser's element cap first.
    auto doc = xml::parse_untrusted_xml(repeated(*bytes, tag, 2'000));
    BOOST_REQUIRE(doc.ok());
    auto p = read_package(doc->get());
    BOOST_REQUIRE(!p.ok());
    BOOST_TEST(p.error().message.find("more than 1000 attachments") != std::string::npos,
               p.error().message);
    auto huge = xml::parse_untrusted_xml(repeated(*bytes, tag, 20'000));
    BOOST_REQUIRE(!huge.ok());
    BOOST_TEST(huge.error().message.find("more than 100000 elements") != std::string::npos,
               huge.error().message);
  }
  // At the limit, every attachment is matched to its manifest entry.
  auto at_limit = xml::parse_untrusted_xml(repeated(*bytes, "Attachment", kMaxAttachments));
  BOOST_REQUIRE(at_limit.ok());
  auto p = read_package(at_limit->get());
  BOOST_REQUIRE(p.ok());
  BOOST_TEST(p->attachments.size() == kMaxAttachments);
  for (const auto& w : p->warnings) BOOST_TEST(w.find("not listed") == std::string::npos, w);
}

BOOST_AUTO_TEST_CASE(characters_xml_forbids_are_refused_naming_the_field) {
  for (const std::string& bad : {std::string("Công văn \x01"), std::string("x\xEF\xBF\xBEy")}) {
    auto meta = test::sample_meta();
    meta["subject"] = bad;
    auto built = build_package(meta, {}, kNow);
    BOOST_REQUIRE(!built.ok());
    BOOST_TEST(built.error().message.find("Subject") != std::string::npos, built.error().message);
    BOOST_TEST(built.error().message.find("XML does not allow") != std::string::npos);
  }
  // A file name is a field too.
  auto named = build_package(test::sample_meta(), {{"a\x02.pdf", "%PDF", "", ""}}, kNow);
  BOOST_REQUIRE(!named.ok());
  BOOST_TEST(named.error().message.find("AttachmentName") != std::string::npos);
  // What we do build, we read back.
  auto good = build_package(test::sample_meta(), {{"a.pdf", "%PDF", "", "tab\there"}}, kNow);
  BOOST_REQUIRE(good.ok());
  read_back(*good);
}
