// edxml/xml.h: safe parsing and writing of XML with libxml2, and the few
// DOM helpers the edXML and signature code share.
//
// Every byte that comes from outside is parsed with parse_untrusted_xml*():
// a DOCTYPE stops the parse before its internal subset is read (so no
// entity is ever declared, expanded or fetched: no XXE, no billion laughs),
// network access is off and no external entity loader exists. Large text
// nodes (base64 attachments of tens of MB) are allowed.
//
// Limits, checked as the tree is built (a parse beyond one fails with
// Errc::malformed naming the limit): depth kMaxXmlDepth (real edXML is
// under 15 levels; the recursive code after the parse, c14n and the
// signature search among it, must never see a deep tree), kMaxXmlElements
// elements and kMaxXmlAttributes attributes (namespace declarations count)
// in all, kMaxXmlAttributesPerElement on one element. That last one is also
// checked by a linear pre-scan of the bytes before libxml2 reads them, as
// libxml2 spends quadratic time on a tag's attributes before the tree sees
// any (and does so even for a malformed tag).
//
// The bytes are read as UTF-8 (QCVN 102 packages are): an encoding named in
// the XML declaration is not honoured, and input that begins as UTF-16,
// UTF-32 or EBCDIC text does is refused.
//
// Thread-safety: init_xml() runs once per process (call_once); after it,
// parsing distinct documents in distinct threads is safe. A document is not
// shared between threads.
#pragma once

#include <libxml/tree.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace edocgw::xml {

inline constexpr const char* kEdxmlNs = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
inline constexpr const char* kEdxmlLegacyNs = "http://www.e-doc.vn/Schema/";
inline constexpr const char* kDsigNs = "http://www.w3.org/2000/09/xmldsig#";

inline constexpr size_t kMaxXmlDepth = 256;
inline constexpr size_t kMaxXmlElements = 100000;
inline constexpr size_t kMaxXmlAttributes = 200000;
inline constexpr size_t kMaxXmlAttributesPerElement = 256;

struct XmlDocDeleter {
  void operator()(xmlDoc* doc) const noexcept { xmlFreeDoc(doc); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocDeleter>;

// Initialises libxml2 for the whole process and turns external entity
// loading off. Safe to call many times, from any thread.
void init_xml();

// `sha256_hex`, when given, receives the SHA-256 of the bytes, computed while parsing.
Result<XmlDocPtr> parse_untrusted_xml(std::string_view bytes, std::string* sha256_hex = nullptr);
// Streams the file through the parser: the whole file never sits in memory
// next to the tree. "-" reads standard input. When `sha256_hex` is given it
// receives the SHA-256 of the bytes read, computed on the way.
Result<XmlDocPtr> parse_untrusted_xml_file(const std::filesystem::path& path,
                                           std::string* sha256_hex = nullptr);

// The document as UTF-8 bytes with an XML declaration. `pretty` indents
// element-only content (only for documents we build; never after signing).
std::string serialize(xmlDoc* doc, bool pretty = false);

// The namespace URI of a node, or "" when it has none.
std::string_view ns_of(const xmlNode* node);
// Whether `node` is an element named `local` in an edXML namespace (current or legacy).
bool is_edxml(const xmlNode* node, const char* local);
// Whether `node` is an element named `local` in the XMLDSig namespace.
bool is_dsig(const xmlNode* node, const char* local);

// First child element named `local` in an edXML namespace, or nullptr.
xmlNode* edxml_child(const xmlNode* parent, const char* local);
std::vector<xmlNode*> edxml_children(const xmlNode* parent, const char* local);
// Element children whatever their name.
std::vector<xmlNode*> element_children(const xmlNode* parent);
// The text content (all descendant text), UTF-8.
std::string text_of(const xmlNode* node);
// Text of the named edXML child, or "" when absent.
std::string child_text(const xmlNode* parent, const char* local);
// "/edXML/edXMLEnvelope/..." by local names, for messages.
std::string path_of(const xmlNode* node);

}  // namespace edocgw::xml
