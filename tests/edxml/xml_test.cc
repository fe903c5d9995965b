#define BOOST_TEST_MODULE xml
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "edxml/xml.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;

BOOST_AUTO_TEST_CASE(a_doctype_is_refused_before_its_entities_are_read) {
  test::TempDir dir;
  // A FIFO with no writer: opening it for reading would block forever, so a
  // parser that tried to load the entity would hang this test.
  const auto fifo = dir / "secret";
  BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  const std::string xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE edXML [<!ENTITY x SYSTEM \"file://" +
                          fifo.string() + "\">]>\n<edXML>&x;</edXML>";
  auto doc = xml::parse_untrusted_xml(xxe);
  BOOST_REQUIRE(!doc.ok());
  BOOST_TEST(doc.error().message.find("DOCTYPE") != std::string::npos);
  // No reader holds the FIFO open: a non-blocking writer finds none.
  const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  BOOST_TEST(fd < 0);
  BOOST_TEST(errno == ENXIO);
}

BOOST_AUTO_TEST_CASE(billion_laughs_is_refused_at_once) {
  std::string bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">";
  for (int i = 1; i <= 9; ++i) {
    bomb += "<!ENTITY lol" + std::to_string(i) + " \"";
    for (int j = 0; j < 10; ++j)
      bomb += "&lol" + (i == 1 ? std::string() : std::to_string(i - 1)) + ";";
    bomb += "\">";
  }
  bomb += "]><lolz>&lol9;</lolz>";
  auto doc = xml::parse_untrusted_xml(bomb);
  BOOST_REQUIRE(!doc.ok());
  BOOST_TEST(doc.error().message.find("DOCTYPE") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(empty_truncated_and_non_xml_inputs_are_malformed) {
  for (const std::string& bad :
       {std::string(), std::string("   "), std::string("<edXML><a>"),
        std::string("%PDF-1.7 not xml"), std::string("<a></b>"), std::string("\0\0\0", 3),
        std::string("<?xml version=\"1.0\"?>")}) {
    auto doc = xml::parse_untrusted_xml(bad);
    BOOST_TEST(!doc.ok());
    if (!doc.ok()) BOOST_TEST((doc.error().code == Errc::malformed));
  }
}

BOOST_AUTO_TEST_CASE(malformed_input_names_the_line) {
  auto doc = xml::parse_untrusted_xml("<a>\n<b>\n</a>");
  BOOST_REQUIRE(!doc.ok());
  BOOST_TEST(doc.error().message.find("line 3") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_refused_without_crashing) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<a>";
  BOOST_TEST(!xml::parse_untrusted_xml(deep).ok());
}

BOOST_AUTO_TEST_CASE(text_of_tens_of_megabytes_is_read_whole) {
  // libxml2 refuses text nodes over 10 MB unless asked; attachments need more.
  const std::string big(12 * 1024 * 1024 + 7, 'A');
  const std::string input = "<r><t>" + big + "</t></r>";
  auto doc = xml::parse_untrusted_xml(input);
  BOOST_REQUIRE(doc.ok());
  xmlNode* t = xmlDocGetRootElement(doc->get())->children;
  BOOST_TEST(xml::text_of(t) == big);
  // Serialised again, byte for byte (long text is held as several text nodes).
  BOOST_TEST(xml::serialize(doc->get()) ==
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + input + "\n");
}

BOOST_AUTO_TEST_CASE(parsing_hashes_the_bytes_it_reads) {
  std::string digest;
  auto doc = xml::parse_untrusted_xml("<abc/>", &digest);
  BOOST_REQUIRE(doc.ok());
  BOOST_TEST(digest == sha256_hex("<abc/>"));
  test::TempDir dir;
  test::write(dir / "f.xml", "<abc/>");
  std::string from_file;
  BOOST_REQUIRE(xml::parse_untrusted_xml_file(dir / "f.xml", &from_file).ok());
  BOOST_TEST(from_file == digest);
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_an_io_error) {
  auto doc = xml::parse_untrusted_xml_file("/nonexistent/package.xml");
  BOOST_REQUIRE(!doc.ok());
  BOOST_TEST((doc.error().code == Errc::io));
}
