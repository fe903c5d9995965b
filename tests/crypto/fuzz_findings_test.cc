// What the fuzz targets found, kept fixed: each reproducer of
// tests/fuzz/crashes/ is judged or refused instead of crashing, throwing or
// overflowing (under ASan+UBSan in the second pass).
#define BOOST_TEST_MODULE fuzz_findings
#include <boost/test/unit_test.hpp>

#include "crypto/package_verifier.h"
#include "crypto/pdf_verifier.h"
#include "crypto/trust_store.h"
#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"
#include "gateway/local_api_request.h"
#include "tests/test_support.h"

using namespace edocgw;

BOOST_AUTO_TEST_CASE(text_after_the_last_trace_header_is_no_transit_data_and_no_double_free) {
  // A digest mismatch sends the verifier looking for appended TraceHeaders;
  // this package ends its TraceHeaderList in non-blank text, which libxml2
  // merged with the whitespace the search added, and the node was freed twice.
  const std::string package = test::read(std::filesystem::path(EDOCGW_SOURCE_DIR) /
                                         "tests/fuzz/crashes/package_verifier-double-free.edxml");
  auto trust = crypto::TrustStore::load({test::pki("root.pem")}, {}, {});
  BOOST_REQUIRE(trust.ok());
  const auto report = crypto::PackageVerifier(*trust, {}).verify(package);
  BOOST_TEST(!report.accepted());
  BOOST_TEST(!report.reason.empty());
  BOOST_TEST(report.transit.empty());
}

BOOST_AUTO_TEST_CASE(an_edxml_time_in_a_far_year_is_shown_without_overflow) {
  // edxml inspect --json formats every time it read; a far year overflowed
  // the conversion to the system clock's nanoseconds (UBSan).
  const std::string package = test::read(std::filesystem::path(EDOCGW_SOURCE_DIR) /
                                         "tests/fuzz/crashes/edxml_package-time-overflow.edxml");
  auto doc = xml::parse_untrusted_xml(package);
  if (!doc) return;  // refused earlier is fine too
  auto parsed = edxml::read_package(doc->get());
  if (!parsed) return;
  BOOST_TEST(edxml::to_json(*parsed).is_object());
}

BOOST_AUTO_TEST_CASE(metadata_with_an_array_where_an_object_belongs_is_refused_not_thrown) {
  const std::string meta = test::read(std::filesystem::path(EDOCGW_SOURCE_DIR) /
                                      "tests/fuzz/crashes/package_builder-key-of-array.json");
  auto j = nlohmann::json::parse(meta, nullptr, false);
  BOOST_REQUIRE(!j.is_discarded());
  auto built = edxml::build_package(j, {}, now_seconds());
  BOOST_TEST(!built.ok());
}

BOOST_AUTO_TEST_CASE(a_form_whose_file_type_holds_a_nul_is_refused_not_built_unreadable) {
  // The local_api target's input: the request target, the Content-Type, the
  // body. A file part's Content-Type with a NUL and a non-UTF-8 byte went
  // raw into a package the builder's own reader refused.
  std::string input = test::read(std::filesystem::path(EDOCGW_SOURCE_DIR) /
                                 "tests/fuzz/crashes/local_api-built-unreadable.form");
  const size_t first = input.find('\n');
  const size_t second = input.find('\n', first + 1);
  BOOST_REQUIRE(second != std::string::npos);
  const std::string content_type = input.substr(first + 1, second - first - 1);
  const std::string body = input.substr(second + 1);
  std::string package;
  const auto refused = gateway::read_document_form(content_type, body, now_seconds(), package);
  BOOST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->status == 400u);
  BOOST_TEST(refused->code == "forbidden_character");
  BOOST_TEST(refused->message.find("Content-Type") != std::string::npos, refused->message);
}

BOOST_AUTO_TEST_CASE(a_pdf_report_quoting_a_raw_byte_is_dumped_as_valid_utf8) {
  // qpdf's warning about a bad hex string quotes the byte; the report's
  // reason carried it and its JSON dump threw.
  const std::string pdf = test::read(std::filesystem::path(EDOCGW_SOURCE_DIR) /
                                     "tests/fuzz/crashes/pdf_signature-warning-not-utf8.pdf");
  auto trust = crypto::TrustStore::load({test::pki("root.pem")}, {}, {});
  BOOST_REQUIRE(trust.ok());
  const auto report = crypto::PdfVerifier(*trust, {}).verify(pdf, "fuzz.pdf");
  BOOST_TEST(!report.accepted());
  BOOST_TEST((report.state == crypto::PdfState::cannot_verify));
  std::string dumped;
  BOOST_CHECK_NO_THROW(dumped = crypto::to_json(report).dump());
  BOOST_TEST(dumped.find("cannot be verified") != std::string::npos);
  BOOST_CHECK_NO_THROW(nlohmann::json(crypto::to_text(report)).dump());
}
