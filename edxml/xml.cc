#include "edxml/xml.h"

#include <fcntl.h>
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>

#include "util/bytes.h"
#include "util/utf8.h"

namespace edocgw::xml {
namespace {

// Parser options for untrusted input. Absent on purpose: XML_PARSE_NOENT
// (substitute entities), XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR, XML_PARSE_XINCLUDE.
constexpr int kUntrustedOptions =
    XML_PARSE_NONET | XML_PARSE_HUGE | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;

xmlParserInputPtr refuse_external_entity(const char*, const char*, xmlParserCtxtPtr) {
  return nullptr;
}

void ignore_structured_error(void*, xmlErrorPtr) {}

// What a parse found that stops it before libxml2 would; kept in
// ctxt->_private for the SAX callbacks below.
struct ParseGuard {
  bool doctype = false;
  std::string refusal;  // a limit exceeded, named; empty when none
  size_t depth = 0;
  size_t elements = 0;
  size_t attributes = 0;
};

ParseGuard& guard_of(void* user) {
  return *static_cast<ParseGuard*>(static_cast<xmlParserCtxtPtr>(user)->_private);
}

// Called by libxml2 on "<!DOCTYPE name ...", before the internal subset is
// read. Stopping here means no entity declaration is ever parsed.
void refuse_doctype(void* user, const xmlChar*, const xmlChar*, const xmlChar*) {
  guard_of(user).doctype = true;
  xmlStopParser(static_cast<xmlParserCtxtPtr>(user));
}

void refuse(void* user, std::string reason) {
  ParseGuard& guard = guard_of(user);
  if (guard.refusal.empty()) guard.refusal = std::move(reason);
  xmlStopParser(static_cast<xmlParserCtxtPtr>(user));
}

// Counts depth, elements and attributes as the tree is built, so that no
// deep or huge tree ever reaches the recursive code after the parse (the
// package reader, the signature search, c14n) and no later step is
// super-linear in what an unauthenticated sender controls.
void guarded_start_element(void* user, const xmlChar* local, const xmlChar* prefix,
                           const xmlChar* uri, int nb_namespaces, const xmlChar** namespaces,
                           int nb_attributes, int nb_defaulted, const xmlChar** attributes) {
  ParseGuard& guard = guard_of(user);
  if (!guard.refusal.empty()) return;
  if (++guard.depth > kMaxXmlDepth) {
    return refuse(user, "the XML is nested deeper than " + std::to_string(kMaxXmlDepth) +
                            " levels, which is refused");
  }
  if (++guard.elements > kMaxXmlElements) {
    return refuse(user, "the XML holds more than " + std::to_string(kMaxXmlElements) +
                            " elements, which is refused");
  }
  const auto own = static_cast<size_t>(std::max(nb_attributes, 0)) +
                   static_cast<size_t>(std::max(nb_namespaces, 0));
  if (own > kMaxXmlAttributesPerElement) {
    return refuse(user, "an element holds more than " +
                            std::to_string(kMaxXmlAttributesPerElement) +
                            " attributes, which is refused");
  }
  guard.attributes += own;
  if (guard.attributes > kMaxXmlAttributes) {
    return refuse(user, "the XML holds more than " + std::to_string(kMaxXmlAttributes) +
                            " attributes, which is refused");
  }
  xmlSAX2StartElementNs(user, local, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                        nb_defaulted, attributes);
}

void guarded_end_element(void* user, const xmlChar* local, const xmlChar* prefix,
                         const xmlChar* uri) {
  ParseGuard& guard = guard_of(user);
  if (!guard.refusal.empty()) return;
  if (guard.depth > 0) --guard.depth;
  xmlSAX2EndElementNs(user, local, prefix, uri);
}

// Text longer than this is kept as a run of adjacent text nodes of about this
// size instead of one node. The document means the same (canonical XML and
// xmlNodeGetContent() concatenate adjacent text), but libxml2's c14n then
// escapes a 32 KiB node at a time in cache instead of building a second
// 40 MB copy of a base64 attachment: a 40 MB package verifies about 20%
// faster and in about 40 MB less memory (bench/sign_verify_bench).
constexpr int kTextChunk = 1 << 15;

void chunked_characters(void* user, const xmlChar* ch, int len) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(user);
  xmlNode* parent = ctxt->node;
  xmlNode* last = parent != nullptr ? parent->last : nullptr;
  if (last != nullptr && last->type == XML_TEXT_NODE && last->name == xmlStringText &&
      ctxt->nodelen >= kTextChunk) {
    xmlNode* text = xmlNewDocTextLen(ctxt->myDoc, ch, len);
    if (text == nullptr) {
      xmlStopParser(ctxt);
      return;
    }
    // Linked by hand: xmlAddChild() would merge it into `last`.
    text->parent = parent;
    text->prev = last;
    last->next = text;
    parent->last = text;
    // Let xmlSAX2Characters() append the next chunks to this node.
    ctxt->nodelen = len;
    ctxt->nodemem = len + 1;
    return;
  }
  xmlSAX2Characters(user, ch, len);
}

struct ParserCtxtDeleter {
  void operator()(xmlParserCtxt* c) const noexcept { xmlFreeParserCtxt(c); }
};
using ParserCtxtPtr = std::unique_ptr<xmlParserCtxt, ParserCtxtDeleter>;

Result<ParserCtxtPtr> new_untrusted_ctxt(ParseGuard& guard) {
  init_xml();
  ParserCtxtPtr ctxt(xmlNewParserCtxt());
  if (!ctxt) return make_error(Errc::internal, "cannot create an XML parser (out of memory?)");
  ctxt->_private = &guard;
  ctxt->sax->internalSubset = refuse_doctype;
  ctxt->sax->startElementNs = guarded_start_element;
  ctxt->sax->endElementNs = guarded_end_element;
  ctxt->sax->serror = ignore_structured_error;
  ctxt->sax->characters = chunked_characters;
  ctxt->sax->initialized = XML_SAX2_MAGIC;
  return ctxt;
}

Result<XmlDocPtr> finish(xmlParserCtxt* ctxt, xmlDoc* raw, const ParseGuard& guard) {
  XmlDocPtr doc(raw);
  if (guard.doctype) {
    return make_error(Errc::malformed,
                      "the XML holds a DOCTYPE declaration, which is refused (DTDs and entities "
                      "are not allowed in packages)");
  }
  if (!guard.refusal.empty()) return make_error(Errc::malformed, guard.refusal);
  if (!doc || !ctxt->wellFormed) {
    const xmlError* e = xmlCtxtGetLastError(ctxt);
    std::string msg = "the input is not well-formed XML";
    if (e != nullptr && e->message != nullptr) {
      // libxml2 quotes raw input bytes in its messages: keep them valid UTF-8.
      std::string detail = valid_utf8(e->message);
      while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
      msg += " (line " + std::to_string(e->line) + ": " + detail + ")";
    }
    return make_error(Errc::malformed, msg);
  }
  if (xmlDocGetRootElement(doc.get()) == nullptr) {
    return make_error(Errc::malformed, "the XML document has no root element");
  }
  return doc;
}

// Feeds the parser from memory or from a file descriptor, hashing what
// passes. Reading through this callback, rather than xmlCtxtReadMemory(),
// spares libxml2 2.9's private copy of the whole input.
struct InputReader {
  std::string_view memory;
  int fd = -1;
  EVP_MD_CTX* md = nullptr;
  size_t total = 0;
  int failed_errno = 0;

  static int read(void* ctx, char* buf, int len) {
    auto* self = static_cast<InputReader*>(ctx);
    size_t n = 0;
    if (self->fd < 0) {
      n = std::min(self->memory.size() - self->total, static_cast<size_t>(len));
      std::memcpy(buf, self->memory.data() + self->total, n);
    } else {
      ssize_t got;
      do {
        got = ::read(self->fd, buf, static_cast<size_t>(len));
      } while (got < 0 && errno == EINTR);
      if (got < 0) {
        self->failed_errno = errno;
        return -1;
      }
      n = static_cast<size_t>(got);
    }
    if (n > 0 && self->md != nullptr) EVP_DigestUpdate(self->md, buf, n);
    self->total += n;
    return static_cast<int>(n);
  }
};

// Parses what `reader` yields; `origin` names it in messages.
Result<XmlDocPtr> parse_with(InputReader& reader, const std::string& origin,
                             std::string* sha256_hex) {
  if (sha256_hex != nullptr) {
    reader.md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(reader.md, EVP_sha256(), nullptr);
  }
  ParseGuard guard;
  auto ctxt = new_untrusted_ctxt(guard);
  Result<XmlDocPtr> result = make_error(Errc::internal, "not parsed");
  if (!ctxt) {
    result = ctxt.error();
  } else {
    xmlDoc* raw = xmlCtxtReadIO(ctxt->get(), InputReader::read, nullptr, &reader, "package.xml",
                                nullptr, kUntrustedOptions);
    if (reader.failed_errno != 0) {
      xmlFreeDoc(raw);
      result =
          make_error(Errc::io, "cannot read " + origin + ": " + std::strerror(reader.failed_errno));
    } else if (reader.total == 0) {
      xmlFreeDoc(raw);
      result = make_error(Errc::malformed, "the input is empty, not an XML document");
    } else {
      result = finish(ctxt->get(), raw, guard);
    }
  }
  if (reader.md != nullptr) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(reader.md, md, &len);
    EVP_MD_CTX_free(reader.md);
    *sha256_hex = to_hex(std::string_view(reinterpret_cast<char*>(md), len));
  }
  return result;
}

int write_to_string(void* ctx, const char* buf, int len) {
  static_cast<std::string*>(ctx)->append(buf, static_cast<size_t>(len));
  return len;
}

}  // namespace

void init_xml() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    xmlSetExternalEntityLoader(refuse_external_entity);
    xmlSetStructuredErrorFunc(nullptr, ignore_structured_error);
  });
}

Result<XmlDocPtr> parse_untrusted_xml(std::string_view bytes, std::string* sha256_hex) {
  InputReader reader;
  reader.memory = bytes;
  return parse_with(reader, "the input", sha256_hex);
}

Result<XmlDocPtr> parse_untrusted_xml_file(const std::filesystem::path& path,
                                           std::string* sha256_hex) {
  const bool stdin_input = path == "-";
  InputReader reader;
  // O_NONBLOCK: opening a FIFO with no writer must not block; anything but
  // a regular file (FIFO, device, directory) is then refused before a read.
  reader.fd = stdin_input ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (reader.fd < 0) {
    return make_error(Errc::io, "cannot read " + path.string() + ": " + std::strerror(errno));
  }
  if (!stdin_input) {
    struct stat st {};
    if (::fstat(reader.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(reader.fd);
      return make_error(Errc::io, "cannot read " + path.string() + ": not a regular file");
    }
  }
  auto result = parse_with(reader, stdin_input ? "standard input" : path.string(), sha256_hex);
  if (!stdin_input) ::close(reader.fd);
  return result;
}

std::string serialize(xmlDoc* doc, bool pretty) {
  std::string out;
  xmlSaveCtxtPtr save =
      xmlSaveToIO(write_to_string, nullptr, &out, "UTF-8", pretty ? XML_SAVE_FORMAT : 0);
  if (save == nullptr) return out;
  xmlSaveDoc(save, doc);
  xmlSaveClose(save);
  return out;
}

std::string_view ns_of(const xmlNode* node) {
  if (node == nullptr || node->ns == nullptr || node->ns->href == nullptr) return {};
  return reinterpret_cast<const char*>(node->ns->href);
}

static bool named(const xmlNode* node, const char* local) {
  return node != nullptr && node->type == XML_ELEMENT_NODE &&
         std::strcmp(reinterpret_cast<const char*>(node->name), local) == 0;
}

bool is_edxml(const xmlNode* node, const char* local) {
  if (!named(node, local)) return false;
  const auto ns = ns_of(node);
  return ns == kEdxmlNs || ns == kEdxmlLegacyNs;
}

bool is_dsig(const xmlNode* node, const char* local) {
  return named(node, local) && ns_of(node) == kDsigNs;
}

xmlNode* edxml_child(const xmlNode* parent, const char* local) {
  if (parent == nullptr) return nullptr;
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (is_edxml(c, local)) return c;
  }
  return nullptr;
}

std::vector<xmlNode*> edxml_children(const xmlNode* parent, const char* local) {
  std::vector<xmlNode*> out;
  if (parent == nullptr) return out;
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (is_edxml(c, local)) out.push_back(c);
  }
  return out;
}

std::vector<xmlNode*> element_children(const xmlNode* parent) {
  std::vector<xmlNode*> out;
  if (parent == nullptr) return out;
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) out.push_back(c);
  }
  return out;
}

std::string text_of(const xmlNode* node) {
  if (node == nullptr) return {};
  xmlChar* content = xmlNodeGetContent(node);
  if (content == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(content));
  xmlFree(content);
  return out;
}

std::string child_text(const xmlNode* parent, const char* local) {
  return text_of(edxml_child(parent, local));
}

std::string path_of(const xmlNode* node) {
  std::string path;
  for (const xmlNode* n = node; n != nullptr && n->type == XML_ELEMENT_NODE; n = n->parent) {
    path = "/" + std::string(reinterpret_cast<const char*>(n->name)) + path;
  }
  return path;
}

}  // namespace edocgw::xml
