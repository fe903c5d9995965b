#define BOOST_TEST_MODULE xml
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "edxml/xml.h"
#include "tests/test_support.h"
#include "util/bytes.h"
#include "util/utf8.h"

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
  // A view with no data at all (null pointer, as the local API fuzz target
  // first passed): UBSan refused the memcpy from it before.
  auto doc = xml::parse_untrusted_xml(std::string_view());
  BOOST_TEST(!doc.ok());
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

// --- limits (issue 9) ---------------------------------------------------------

namespace {

std::string nested(size_t depth) {
  std::string xml;
  xml.reserve(depth * 7);
  for (size_t i = 0; i < depth; ++i) xml += "<a>";
  for (size_t i = 0; i < depth; ++i) xml += "</a>";
  return xml;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_million_nested_elements_are_refused_naming_the_limit) {
  const std::string deep = nested(1'000'000);
  auto doc = xml::parse_untrusted_xml(deep);
  BOOST_REQUIRE(!doc.ok());
  BOOST_TEST((doc.error().code == Errc::malformed));
  BOOST_TEST(doc.error().message.find("nested deeper than 256 levels") != std::string::npos,
             doc.error().message);
  test::TempDir dir;
  test::write(dir / "deep.xml", deep);
  auto from_file = xml::parse_untrusted_xml_file(dir / "deep.xml");
  BOOST_REQUIRE(!from_file.ok());
  BOOST_TEST(from_file.error().message.find("nested deeper than 256 levels") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(nesting_up_to_the_limit_parses) {
  BOOST_TEST(xml::parse_untrusted_xml(nested(xml::kMaxXmlDepth)).ok());
  BOOST_TEST(!xml::parse_untrusted_xml(nested(xml::kMaxXmlDepth + 1)).ok());
}

BOOST_AUTO_TEST_CASE(too_many_attributes_or_elements_are_refused_naming_the_limit) {
  std::string one = "<a";
  for (int i = 0; i < 80'000; ++i) one += " a" + std::to_string(i) + "=\"\"";
  one += "/>";
  auto wide = xml::parse_untrusted_xml(one);
  BOOST_REQUIRE(!wide.ok());
  BOOST_TEST(wide.error().message.find("more than 256 attributes") != std::string::npos,
             wide.error().message);

  std::string spread = "<r>";
  for (int i = 0; i < 1'000; ++i) {
    spread += "<e";
    for (int k = 0; k < 250; ++k) spread += " a" + std::to_string(k) + "=\"\"";
    spread += "/>";
  }
  spread += "</r>";
  auto many_attributes = xml::parse_untrusted_xml(spread);
  BOOST_REQUIRE(!many_attributes.ok());
  BOOST_TEST(many_attributes.error().message.find("attributes") != std::string::npos);

  std::string flat = "<r>";
  for (size_t i = 0; i <= xml::kMaxXmlElements; ++i) flat += "<e/>";
  flat += "</r>";
  auto many_elements = xml::parse_untrusted_xml(flat);
  BOOST_REQUIRE(!many_elements.ok());
  BOOST_TEST(many_elements.error().message.find("elements") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_fifo_is_refused_at_once_not_waited_on) {
  test::TempDir dir;
  const auto fifo = dir / "pipe";
  BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto doc = xml::parse_untrusted_xml_file(fifo);
  BOOST_REQUIRE(!doc.ok());
  BOOST_TEST((doc.error().code == Errc::io));
  BOOST_TEST(doc.error().message.find("not a regular file") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_error_message_quoting_invalid_utf8_is_made_valid) {
  auto doc = xml::parse_untrusted_xml(std::string("\x3c\x61\xcb\x3e\x3c\x2f\x62\x3e", 8));
  BOOST_REQUIRE(!doc.ok());
  BOOST_TEST(valid_utf8(doc.error().message) == doc.error().message);
}

// --- the attribute pre-scan (issue 9, item 4) ----------------------------------

namespace {

const std::string kTooManyAttributes =
    "an element holds more than 256 attributes, which is refused";

// ` a0="" a1="" ...`: n attributes named from `first`.
std::string attributes(size_t n, size_t first = 0) {
  std::string out;
  out.reserve(n * 10);
  for (size_t i = first; i < first + n; ++i) out += " a" + std::to_string(i) + "=\"\"";
  return out;
}

std::string utf16le_with_bom(const std::string& ascii) {
  std::string out = "\xff\xfe";
  for (char c : ascii) {
    out += c;
    out += '\0';
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(eighty_thousand_attributes_in_one_tag_are_refused_before_libxml2_reads_them) {
  // libxml2 2.9 compares every pair of a tag's attributes (about 2 s for
  // 80,000) before any SAX callback can count them, and does so even for a
  // tag it then finds malformed (a name repeated, the tag never closed), when
  // no callback comes at all: the bytes are counted before libxml2 has them.
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"well-formed", "<a" + attributes(80'000) + "/>"},
      {"a name repeated", "<a a0=\"\"" + attributes(80'000) + "/>"},
      {"never closed", "<a" + attributes(80'000)},
  };
  test::TempDir dir;
  for (const auto& [what, input] : inputs) {
    BOOST_TEST_CONTEXT(what) {
      const auto started = std::chrono::steady_clock::now();
      auto doc = xml::parse_untrusted_xml(input);
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
      BOOST_TEST_MESSAGE(what << ": refused in " << took.count() << " s");
      BOOST_REQUIRE(!doc.ok());
      BOOST_TEST((doc.error().code == Errc::malformed));
      BOOST_TEST(doc.error().message == kTooManyAttributes);
      // The same through the file reader, which streams.
      test::write(dir / "wide.xml", input);
      auto from_file = xml::parse_untrusted_xml_file(dir / "wide.xml");
      BOOST_REQUIRE(!from_file.ok());
      BOOST_TEST(from_file.error().message == kTooManyAttributes);
    }
  }
}

BOOST_AUTO_TEST_CASE(two_hundred_fifty_six_attributes_namespaces_included_are_accepted) {
  const std::string at_limit =
      "<a xmlns=\"urn:x\" xmlns:p=\"urn:p\" p:z=\"1\"" + attributes(253) + "/>";
  auto doc = xml::parse_untrusted_xml(at_limit);
  BOOST_REQUIRE_MESSAGE(doc.ok(), (doc.ok() ? std::string() : doc.error().message));
  size_t n = 0;
  for (xmlAttr* a = xmlDocGetRootElement(doc->get())->properties; a != nullptr; a = a->next) ++n;
  BOOST_TEST(n == 254u);  // and two namespace declarations
  auto over = xml::parse_untrusted_xml("<a xmlns=\"urn:x\" xmlns:p=\"urn:p\" p:z=\"1\"" +
                                       attributes(254) + "/>");
  BOOST_REQUIRE(!over.ok());
  BOOST_TEST(over.error().message == kTooManyAttributes);
}

BOOST_AUTO_TEST_CASE(equals_signs_in_comments_cdata_pis_values_and_text_are_not_attributes) {
  const std::string eq(1000, '=');
  // Quotes and markup-like text where they mean nothing must not derail the
  // count either: an unbalanced quote in a comment, a tag in a CDATA section.
  std::string element = "<e";
  for (int i = 0; i < 128; ++i) {
    element += " d" + std::to_string(i) + " = \"x=y>z'==\"";
    element += " s" + std::to_string(i) + "='=\">=/>'";
  }
  element += ">" + eq + "</e>";
  const std::string input = "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?note " + eq +
                            " 'x\" a=b ?>\n<!-- " + eq + " ' \" <a b=c> - -->\n<r>" + eq +
                            "<![CDATA[" + eq + " <x y=\" ']] ]>" + eq + "]]>" + element + "<?pi " +
                            eq + "?>" + eq + "<!--" + eq + "--></r>\n<!-- ' -->";
  auto doc = xml::parse_untrusted_xml(input);
  BOOST_REQUIRE_MESSAGE(doc.ok(), (doc.ok() ? std::string() : doc.error().message));
  xmlNode* e = nullptr;
  for (xmlNode* c = xmlDocGetRootElement(doc->get())->children; c != nullptr; c = c->next)
    if (c->type == XML_ELEMENT_NODE) e = c;
  BOOST_REQUIRE(e != nullptr);
  size_t n = 0;
  for (xmlAttr* a = e->properties; a != nullptr; a = a->next) ++n;
  BOOST_TEST(n == 256u);
  BOOST_TEST(xml::text_of(e) == eq);
}

BOOST_AUTO_TEST_CASE(a_quoted_gt_does_not_end_the_tag_for_the_count) {
  for (const std::string first : {"x=\">\"", "x='>'", "x='\">\"'"}) {
    BOOST_TEST_CONTEXT(first) {
      auto doc = xml::parse_untrusted_xml("<a " + first + attributes(300));  // never closed
      BOOST_REQUIRE(!doc.ok());
      BOOST_TEST(doc.error().message == kTooManyAttributes);
    }
  }
  // Counted again for every tag: 200 and 200 are two fine elements.
  auto two = xml::parse_untrusted_xml("<r><a x='>'" + attributes(200) + "/><b" + attributes(200) +
                                      "/></r>");
  BOOST_TEST(two.ok());
}

BOOST_AUTO_TEST_CASE(a_doctype_full_of_equals_signs_is_refused_as_a_doctype) {
  const std::string eq(1000, '=');
  auto doc = xml::parse_untrusted_xml("<!DOCTYPE r [<!ATTLIST r a CDATA \"" + eq +
                                      "\"> <!-- ' ] --> <!ENTITY e '<a " + eq + ">'>]><r" +
                                      attributes(300) + "/>");
  BOOST_REQUIRE(!doc.ok());
  BOOST_TEST(doc.error().message.find("DOCTYPE") != std::string::npos, doc.error().message);
}

BOOST_AUTO_TEST_CASE(utf16_input_is_refused_and_a_declared_encoding_cannot_hide_markup) {
  // The count reads bytes as UTF-8 (packages are UTF-8): so must libxml2, or
  // an encoding would carry markup past it.
  auto wide = xml::parse_untrusted_xml(utf16le_with_bom("<a>x</a>"));
  BOOST_REQUIRE(!wide.ok());
  BOOST_TEST((wide.error().code == Errc::malformed));
  BOOST_TEST(wide.error().message.find("UTF-8") != std::string::npos, wide.error().message);
  // In UTF-7 "+ADw-" is '<': read as UTF-8 it is text.
  auto utf7 =
      xml::parse_untrusted_xml("<?xml version=\"1.0\" encoding=\"UTF-7\"?><a>+ADw-b/+AD4-</a>");
  BOOST_REQUIRE_MESSAGE(utf7.ok(), (utf7.ok() ? std::string() : utf7.error().message));
  xmlNode* root = xmlDocGetRootElement(utf7->get());
  BOOST_TEST(xml::element_children(root).empty());
  BOOST_TEST(xml::text_of(root) == "+ADw-b/+AD4-");
}
