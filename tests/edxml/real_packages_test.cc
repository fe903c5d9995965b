#define BOOST_TEST_MODULE real_packages
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <functional>
#include <map>

#include "crypto/identity.h"
#include "crypto/package_signer.h"
#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"
#include "tests/test_support.h"
#include "util/bytes.h"

// What real systems write, read as they are: the samples of VNPT's SDK
// (shared/samples/vnpt-sdk), the two packages EdXML102 built for
// VDXP-captures.md (tests/fixtures/edxml, CRLF kept), and what the gateway's
// signing does to a package with elements our model does not know.

using namespace edocgw;
using namespace edocgw::edxml;

namespace {

const std::filesystem::path kTests = std::filesystem::path(__FILE__).parent_path().parent_path();
const std::filesystem::path kSamples = kTests / ".." / ".." / "shared" / "samples" / "vnpt-sdk";

Package read_file_package(const std::filesystem::path& path) {
  auto doc = xml::parse_untrusted_xml_file(path);
  if (!doc) BOOST_FAIL(path.string() + ": " + doc.error().message);
  auto p = read_package(doc->get());
  if (!p) BOOST_FAIL(path.string() + ": " + p.error().message);
  return *p;
}

Package read_bytes(const std::string& bytes) {
  auto doc = xml::parse_untrusted_xml(bytes);
  if (!doc) BOOST_FAIL(doc.error().message);
  auto p = read_package(doc->get());
  if (!p) BOOST_FAIL(p.error().message);
  return *p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_status_sample_reads_as_a_status_of_its_code) {
  const std::map<std::string, std::string> code_of = {{"status.edxml", "01"},
                                                      {"status_inbox__01.edxml", "01"},
                                                      {"status_rejection_02.edxml", "02"},
                                                      {"status_acceptance_03.edxml", "03"},
                                                      {"status_assignment_04.edxml", "04"},
                                                      {"status_processing_05.edxml", "05"},
                                                      {"status_finish_06.edxml", "06"},
                                                      {"status_cancellation_13.edxml", "13"},
                                                      {"status_change-acceptance_15.edxml", "15"},
                                                      {"status_change-rejection_16.edxml", "16"}};
  for (const auto& [file, code] : code_of) {
    BOOST_TEST_CONTEXT(file) {
      const Package p = read_file_package(kSamples / file);
      BOOST_TEST((p.kind == PackageKind::status));
      BOOST_TEST(!p.legacy_status_element);
      BOOST_TEST(p.status.status_code == code);
      BOOST_TEST(p.status.response_for.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT");
      BOOST_TEST(parse_edxml_time(p.status.timestamp).has_value());
      BOOST_TEST(p.concerned_document_id() == p.status.response_for.document_id);
      BOOST_TEST(p.unknown_elements.empty());
      BOOST_TEST(p.warnings.empty());
      BOOST_TEST(!p.status.staff.staff.empty());
      // Routed by ResponseFor/OrganId: the recipient for a recall request 13, else the sender.
      if (code == "13") {
        BOOST_TEST(p.status.from.organ_id == "000.00.00.G22");
        BOOST_TEST(p.status.response_for.organ_id == "000.00.00.H41");
      } else {
        BOOST_TEST(p.status.response_for.organ_id == "000.00.00.G22");
      }
    }
  }
  BOOST_TEST(read_file_package(kSamples / "status.edxml").status.timestamp ==
             "2018/09/28 17:25:11");
}

BOOST_AUTO_TEST_CASE(every_document_sample_reads_with_its_business) {
  const Package n = read_file_package(kSamples / "edoc_new.edxml.bak");
  BOOST_TEST((n.kind == PackageKind::document));
  BOOST_TEST((n.business_type() == BusinessDocType::new_document));
  BOOST_TEST(n.header.to[0].organ_id == "28.22.H17");
  BOOST_TEST(n.header.document_type_detail == "0");
  BOOST_TEST(n.header.other_info.direction == "false");
  BOOST_TEST(n.business->staff->staff == "Nguyễn Thị Ngọc Trâm");
  BOOST_TEST(n.concerned_document_id() == "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT");
  BOOST_TEST(n.signature_placeholder);
  BOOST_TEST(!n.signature_present);
  BOOST_REQUIRE(n.attachments.size() == 1u);
  BOOST_TEST(n.attachments[0].content_id == "cid:209");
  BOOST_TEST(n.attachments[0].decoded);
  BOOST_TEST(n.unknown_elements.empty());

  const Package rev = read_file_package(kSamples / "edoc_revocation.edxml");
  BOOST_TEST((rev.business_type() == BusinessDocType::revocation));
  BOOST_TEST(rev.business->document_id.empty());
  // No Bussiness/DocumentId: the document concerned is the MessageHeader's.
  BOOST_TEST(rev.concerned_document_id() == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT");
  BOOST_REQUIRE(rev.header.response_for.size() == 1u);
  BOOST_TEST(rev.header.response_for[0].organ_id == "000.00.00.H14");
  BOOST_TEST(rev.header.response_for[0].code == "267/VPCP-TTĐT");
  BOOST_TEST(rev.header.response_for[0].document_id == "000.00.04.G14,2012/08/06,267/VPCP-TTĐT");
  BOOST_TEST(rev.header.to.size() == 3u);

  const Package upd = read_file_package(kSamples / "edoc_update.edxml");
  BOOST_TEST((upd.business_type() == BusinessDocType::update));
  BOOST_TEST(upd.concerned_document_id() == "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT");
  BOOST_REQUIRE(upd.business->document_info.has_value());
  BOOST_TEST(upd.business->document_info->document_info == "1");
  BOOST_TEST(upd.business->document_info->document_receiver == "1");
  BOOST_REQUIRE(upd.business->document_info->receivers.size() == 2u);
  BOOST_TEST(upd.business->document_info->receivers[0].organ_id == "000.00.00.H41");
  BOOST_TEST(upd.business->document_info->receivers[0].receiver_type == "0");
  BOOST_TEST(upd.business->document_info->receivers[1].receiver_type == "1");

  const Package rep = read_file_package(kSamples / "edoc_replacement.edxml");
  BOOST_TEST((rep.business_type() == BusinessDocType::replacement));
  BOOST_TEST(rep.business->reason == "Văn bản thay thế");
  BOOST_REQUIRE(rep.business->replacements.size() == 2u);
  BOOST_TEST(rep.business->replacements[0].document_id ==
             "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT");
  BOOST_TEST(rep.business->replacements[0].organ_ids ==
                 (std::vector<std::string>{"000.00.00.H41", "000.00.00.H14"}),
             boost::test_tools::per_element());

  for (const char* file : {"edoc.edxml", "edoc.edxml.bak"}) {
    BOOST_TEST_CONTEXT(file) {
      const Package e = read_file_package(kSamples / file);
      BOOST_TEST((e.kind == PackageKind::document));
      BOOST_TEST(!e.business.has_value());
      BOOST_TEST((e.business_type() == BusinessDocType::new_document));
      BOOST_TEST(e.header.document_id == "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb");
      BOOST_TEST(e.signature_present);  // real XMLDSig (RSA-SHA1), for the verifier to judge
      BOOST_TEST(e.traces[0].organ_id == "01.02.G22");
      // Its AttachmentEncoded uses the prefix edXML outside the envelope that
      // declares it: in no namespace, so not an edXML attachment; listed as unknown.
      BOOST_TEST(e.attachments.empty());
      BOOST_REQUIRE(e.unknown_elements.size() == 1u);
      BOOST_TEST(e.unknown_elements[0].path == "/edXML/edXML:AttachmentEncoded");
      BOOST_TEST(e.warnings.back().find("no Attachment carries it") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_captured_packages_are_byte_exact_and_read) {
  const std::string doc_bytes =
      test::read(kTests / "fixtures" / "edxml" / "captured-document.edxml");
  const std::string status_bytes =
      test::read(kTests / "fixtures" / "edxml" / "captured-status.edxml");
  BOOST_TEST(sha256_hex(doc_bytes) ==
             "63ba69b0bd653e9ca99a558a0515bd6b2f0aa07d64386b345a3e4a880d80b2b4");
  BOOST_TEST(sha256_hex(status_bytes) ==
             "ca0de52db6d59bd2a8fa3a3d7f5bc77842210c60c724a993c4ce91f950e30616");
  const Package d = read_bytes(doc_bytes);
  BOOST_TEST((d.kind == PackageKind::document));
  BOOST_TEST(d.header.from.organ_id == "000.00.12.H45");
  BOOST_TEST(d.header.document_id == "000.00.12.H45,2026/01/15,123/UBND-VP");
  BOOST_TEST((d.business_type() == BusinessDocType::new_document));
  BOOST_REQUIRE(d.traces.size() == 1u);
  BOOST_TEST(format_rfc3339(*parse_edxml_time(d.traces[0].timestamp)) == "2026-11-29T18:35:47Z");
  BOOST_TEST(d.warnings.empty());
  BOOST_TEST(d.unknown_elements.empty());
  const Package s = read_bytes(status_bytes);
  BOOST_TEST((s.kind == PackageKind::status));
  BOOST_TEST(s.status.status_code == "03");
  BOOST_TEST(s.status.response_for.organ_id == "000.00.13.H45");
  BOOST_TEST(s.status.response_for.code == "45/UBND-VP");
  BOOST_TEST(s.status.response_for.promulgation_date == "2026/01/10");
  BOOST_TEST(s.warnings.empty());
}

BOOST_AUTO_TEST_CASE(signing_keeps_unknown_elements_in_place_and_in_order) {
  // An office's package with elements we do not know, in the header, in
  // OtherInfo and after the envelope: the gateway signs these bytes.
  auto built = build_package(test::sample_meta(), {{"a.pdf", "%PDF-1.4", "", ""}}, now_seconds());
  BOOST_REQUIRE(built.ok());
  std::string office = test::replace_once(
      *built, "</edXML:OtherInfo>", "<edXML:VendorFlag>x</edXML:VendorFlag></edXML:OtherInfo>");
  office = test::replace_once(office, "</edXML:MessageHeader>",
                              "<v:Hint xmlns:v=\"urn:example:v\"><v:Inner/></v:Hint>"
                              "</edXML:MessageHeader>");
  office = test::replace_once(office, "</edXML>", "<Trailer>t</Trailer></edXML>");
  const Package before = read_bytes(office);
  BOOST_REQUIRE(before.unknown_elements.size() == 3u);

  auto id = crypto::load_identity(
      {test::pki("huong-hoa.pem"), test::pki("huong-hoa.key"), test::pki("ca.pem"), ""});
  BOOST_REQUIRE(id.ok());
  auto signer = crypto::PackageSigner::create(std::move(*id));
  BOOST_REQUIRE(signer.ok());
  auto signed_bytes = signer->sign(office, now_seconds());
  BOOST_REQUIRE(signed_bytes.ok());
  const Package after = read_bytes(*signed_bytes);
  BOOST_REQUIRE(after.unknown_elements.size() == before.unknown_elements.size());
  for (size_t i = 0; i < before.unknown_elements.size(); ++i) {
    BOOST_TEST(after.unknown_elements[i].path == before.unknown_elements[i].path);
    BOOST_TEST(after.unknown_elements[i].namespace_uri == before.unknown_elements[i].namespace_uri);
  }
  BOOST_TEST(signed_bytes->find("<v:Hint xmlns:v=\"urn:example:v\"><v:Inner/></v:Hint>") !=
             std::string::npos);
  // Every element of the office's package is still there, in its order; the
  // signer only adds (its TraceHeader and the Signature).
  std::vector<std::string> original, result;
  std::function<void(xmlNode*, std::vector<std::string>&)> walk = [&](xmlNode* n, auto& out) {
    for (; n != nullptr; n = n->next) {
      if (n->type != XML_ELEMENT_NODE) continue;
      out.push_back(xml::path_of(n) + "=" +
                    (n->children == nullptr || n->children->next != nullptr ? std::string()
                                                                            : xml::text_of(n)));
      walk(n->children, out);
    }
  };
  auto d1 = xml::parse_untrusted_xml(office);
  auto d2 = xml::parse_untrusted_xml(*signed_bytes);
  walk(xmlDocGetRootElement(d1->get()), original);
  walk(xmlDocGetRootElement(d2->get()), result);
  size_t next = 0;
  for (const auto& e : result) {
    if (next < original.size() && e == original[next]) ++next;
  }
  BOOST_TEST(next == original.size(),
             "first element missing or moved: " << (next < original.size() ? original[next] : ""));
}

BOOST_AUTO_TEST_CASE(the_cli_builds_and_shows_all_of_it) {
  test::TempDir dir;
  test::write(dir / "meta.json", R"({
    "from": {"organ_id": "000.00.12.H50", "organ_name": "UBND huyện Hướng Hóa"},
    "to": [{"organ_id": "28.22.H17", "organ_name": "UBND xã Hòa Sơn"}],
    "code": {"number": "7", "notation": "UBND-VP"},
    "promulgation": {"place": "Khe Sanh", "date": "2026/11/28"},
    "document_type": {"type": "1", "type_detail": "0", "name": "Công văn"},
    "subject": "Thay thế văn bản số 5",
    "other_info": {"priority": 1, "direction": "false"},
    "timestamp": "2026-11-28T02:00:00Z",
    "trace_list": {"id": "t1", "version": "1.0"},
    "business": {"doc_type": 3, "paper": 1,
                 "replacements": [{"document_id": "000.00.12.H50,2026/11/01,5/UBND-VP",
                                   "organ_ids": ["28.22.H17"]}],
                 "staff": {"department": "Văn phòng", "department_id": "VP", "staff": "Bình",
                           "staff_id": "42", "email": "b@example.vn", "mobile": "0912"}}})");
  test::write(dir / "a.pdf", "%PDF-1.4 x");
  auto built = test::run(test::edocgw_cmd() + " edxml build --meta " +
                         test::quote(dir / "meta.json") + " --attach " +
                         test::quote(dir / "a.pdf") + " --out " + test::quote(dir / "p.edxml"));
  BOOST_REQUIRE_MESSAGE(built.exit_code == 0, built.err);
  auto shown =
      test::run(test::edocgw_cmd() + " edxml inspect --json " + test::quote(dir / "p.edxml"));
  BOOST_REQUIRE_MESSAGE(shown.exit_code == 0, shown.err);
  const auto j = nlohmann::json::parse(shown.out);
  BOOST_TEST(j["document_type"]["type_detail"] == "0");
  BOOST_TEST(j["business"]["doc_type_name"] == "replacement");
  BOOST_TEST(j["business"]["replacements"][0]["organ_ids"][0] == "28.22.H17");
  BOOST_TEST(j["business"]["staff"]["staff_id"] == "42");
  BOOST_TEST(j["traces"][0]["timestamp"] == "2026/11/28 09:00:00");
  BOOST_TEST(j["traces"][0]["timestamp_utc"] == "2026-11-28T02:00:00Z");
  BOOST_TEST(j["trace_list"]["version"] == "1.0");
  BOOST_TEST(j["other_info"]["direction"] == "false");
  BOOST_TEST(j["attachments"][0]["content_id"].get<std::string>().rfind("cid:", 0) == 0u);
  BOOST_TEST(j["unknown_elements"].empty());

  // Unknown metadata keys stay errors, wherever they are.
  test::write(dir / "typo.json", R"({"from": {"organ_id": "000.00.12.H50"},
    "to": [{"organ_id": "000.00.13.H50"}], "code": {"number": "1", "notation": "X"},
    "subject": "s", "business": {"doc_type": 2, "document_info": {"recievers": []}}})");
  auto typo =
      test::run(test::edocgw_cmd() + " edxml build --meta " + test::quote(dir / "typo.json"));
  BOOST_TEST(typo.exit_code == 1);
  BOOST_TEST(typo.err.find("business.document_info.recievers") != std::string::npos, typo.err);

  // A status with complete StaffInfo; inspect lists a vendor element it saw.
  test::write(dir / "status.json", R"({
    "from": {"organ_id": "000.00.13.H50", "organ_name": "UBND huyện Đakrông"},
    "response_for": {"organ_id": "vxp.saas.03", "code": "58/UBND-VP",
                     "promulgation_date": "2025/10/14",
                     "document_id": "5d0c1f7e-3b52-4c8e-9a8e-2f5b7c1d9e40"},
    "status_code": "14", "description": "Đồng ý thu hồi",
    "timestamp": "2026/11/28 09:00:00",
    "staff": {"department": "VP", "department_id": "1", "staff": "An", "staff_id": "2",
              "email": "an@example.vn", "mobile": "0913"}})");
  auto status =
      test::run(test::edocgw_cmd() + " edxml status --meta " + test::quote(dir / "status.json") +
                " --out " + test::quote(dir / "s.edxml"));
  BOOST_REQUIRE_MESSAGE(status.exit_code == 0, status.err);
  test::write(dir / "s2.edxml",
              test::replace_once(test::read(dir / "s.edxml"), "</edXML:MessageHeader>",
                                 "<edXML:VendorNote>n</edXML:VendorNote></edXML:MessageHeader>"));
  auto text = test::run(test::edocgw_cmd() + " edxml inspect " + test::quote(dir / "s2.edxml"));
  BOOST_REQUIRE_MESSAGE(text.exit_code == 0, text.err);
  BOOST_TEST(
      text.out.find("status:      15 (recipient agrees to recall/update)") != std::string::npos,
      text.out);
  BOOST_TEST(text.out.find("to:          vxp.saas.03") != std::string::npos);
  BOOST_TEST(text.out.find("staff:       An [2], VP [1], an@example.vn, 0913") !=
             std::string::npos);
  BOOST_TEST(
      text.out.find("unknown:     /edXML/edXMLEnvelope/edXMLHeader/MessageHeader/VendorNote") !=
      std::string::npos);
  BOOST_TEST(text.out.find("timestamp:   2026/11/28 09:00:00 (2026-11-28T02:00:00Z)") !=
             std::string::npos);
}
