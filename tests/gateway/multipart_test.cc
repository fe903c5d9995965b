// multipart/form-data parsing: what curl -F sends, and what must be refused.
#define BOOST_TEST_MODULE multipart
#include <boost/test/unit_test.hpp>

#include "gateway/multipart.h"

using namespace edocgw;
using namespace edocgw::gateway;

namespace {
using namespace std::string_literals;
const std::string kBody =
    "preamble is ignored\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"meta\"\r\n"
    "Content-Type: application/json\r\n"
    "\r\n"
    "{\"subject\": \"Về việc\"}\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"C:\\\\Users\\\\công văn.pdf\"\r\n"
    "Content-Type: application/pdf\r\n"
    "\r\n"
    "%PDF\r\n--XyZnot-a-boundary\r\n\0binary\r\n"
    "--XyZ \r\n"
    "content-disposition: FORM-DATA; name=file2; filename*=UTF-8''t%E1%BB%9D%20tr%C3%ACnh.docx\r\n"
    "\r\n"
    "\r\n"
    "--XyZ--\r\n"
    "epilogue"s;
}  // namespace

BOOST_AUTO_TEST_CASE(the_parts_of_a_form_come_out_whole) {
  auto parts = parse_multipart(kBody, "XyZ");
  BOOST_REQUIRE_MESSAGE(parts.ok(), (parts.ok() ? "" : parts.error().message));
  BOOST_REQUIRE_EQUAL(parts->size(), 3u);
  BOOST_TEST((*parts)[0].name == "meta");
  BOOST_TEST((*parts)[0].file_name.empty());
  BOOST_TEST((*parts)[0].content_type == "application/json");
  BOOST_TEST((*parts)[0].body == "{\"subject\": \"Về việc\"}");
  BOOST_TEST((*parts)[1].name == "file");
  BOOST_TEST((*parts)[1].file_name == "công văn.pdf");  // the client's path is dropped
  BOOST_TEST((*parts)[1].body == "%PDF\r\n--XyZnot-a-boundary\r\n\0binary"s);
  BOOST_TEST((*parts)[2].name == "file2");
  BOOST_TEST((*parts)[2].file_name == "tờ trình.docx");
  BOOST_TEST((*parts)[2].body.empty());
}

BOOST_AUTO_TEST_CASE(a_body_containing_nul_bytes_keeps_them) {
  const std::string body = std::string(
                               "--b\r\nContent-Disposition: form-data; name=\"f\"; "
                               "filename=\"x.bin\"\r\n\r\n") +
                           std::string("a\0b", 3) + "\r\n--b--";
  auto parts = parse_multipart(body, "b");
  BOOST_REQUIRE(parts.ok());
  BOOST_TEST((*parts)[0].body == std::string("a\0b", 3));
}

BOOST_AUTO_TEST_CASE(broken_forms_are_errors_not_partial_results) {
  const auto refused = [](const std::string& body) {
    auto r = parse_multipart(body, "b");
    return r.ok() ? std::string() : r.error().message;
  };
  BOOST_TEST(refused("no boundary here").find("does not contain") != std::string::npos);
  BOOST_TEST(
      refused("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx").find("truncated") !=
      std::string::npos);
  BOOST_TEST(
      refused("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--").find("no Content-Disposition") !=
      std::string::npos);
  BOOST_TEST(refused("--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--b--")
                 .find("form-data") != std::string::npos);
  BOOST_TEST(
      refused("--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b--").find("broken") !=
      std::string::npos);
  BOOST_TEST(refused("--b\r\nno colon\r\n\r\nx\r\n--b--").find("colon") != std::string::npos);
  BOOST_TEST(refused("--bjunk\r\n") != "");
  BOOST_TEST(refused("--b\r\nContent-Disposition: form-data; name=a\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\nx\r\n--b--")
                 .find("binary") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_boundary_comes_from_the_content_type) {
  BOOST_TEST(*multipart_boundary("multipart/form-data; boundary=----abc") == "----abc");
  BOOST_TEST(*multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"") == "a b");
  BOOST_TEST(!multipart_boundary("multipart/form-data").ok());
  BOOST_TEST(!multipart_boundary("multipart/form-data; boundary=").ok());
  BOOST_TEST(!multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')).ok());
  BOOST_TEST((multipart_boundary("multipart/mixed; boundary=x").error().code == Errc::unsupported));
}

BOOST_AUTO_TEST_CASE(a_control_character_in_a_name_or_file_name_is_refused_naming_the_field) {
  // Names end up in the edXML package and in JSON answers: a NUL would
  // truncate them in libxml2, a U+0001 would make a package XML refuses.
  const auto refused = [](const std::string& headers) {
    auto r = parse_multipart("--b\r\n" + headers + "\r\n\r\nx\r\n--b--", "b");
    return r.ok() ? std::string() : r.error().message;
  };
  const std::string nul_file_name =
      refused("Content-Disposition: form-data; name=\"file\"; filename=\"cong\0van.pdf\""s);
  BOOST_TEST(nul_file_name.find("file name") != std::string::npos, nul_file_name);
  BOOST_TEST(nul_file_name.find("U+0000") != std::string::npos, nul_file_name);
  BOOST_TEST(nul_file_name.find("part 1") != std::string::npos, nul_file_name);
  const std::string encoded =
      refused("Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''cong%00van.pdf");
  BOOST_TEST(encoded.find("file name") != std::string::npos, encoded);
  BOOST_TEST(encoded.find("U+0000") != std::string::npos, encoded);
  const std::string control =
      refused("Content-Disposition: form-data; name=\"file\"; filename=\"a\x01.pdf\"");
  BOOST_TEST(control.find("U+0001") != std::string::npos, control);
  const std::string field = refused("Content-Disposition: form-data; name=\"me\0ta\""s);
  BOOST_TEST(field.find("field name") != std::string::npos, field);
  BOOST_TEST(field.find("U+0000") != std::string::npos, field);
  const std::string type = refused(
      "Content-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
      "Content-Type: application/pdf\0x"s);
  BOOST_TEST(type.find("Content-Type") != std::string::npos, type);
  const std::string not_utf8 =
      refused("Content-Disposition: form-data; name=\"file\"; filename=\"c\xf4ng.pdf\"");
  BOOST_TEST(not_utf8.find("not UTF-8") != std::string::npos, not_utf8);
  // Tabs are text; bodies may hold anything (see above).
  BOOST_TEST(
      refused("Content-Disposition: form-data; name=\"file\"; filename=\"a\tb.pdf\"").empty());
}
