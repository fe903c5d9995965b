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
// XML_PARSE_IGNORE_ENC: the bytes are read as UTF-8 whatever the XML
// declaration names, as the pre-scan below reads them; an encoding libxml2
// would honour (UTF-7: "+ADw-" is '<') could otherwise carry markup past it.
constexpr int kUntrustedOptions = XML_PARSE_NONET | XML_PARSE_HUGE | XML_PARSE_NOERROR |
                                  XML_PARSE_NOWARNING | XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC;

const char* const kDoctypeRefusal =
    "the XML holds a DOCTYPE declaration, which is refused (DTDs and entities are not allowed in "
    "packages)";

std::string too_many_attributes_on_one_element() {
  return "an element holds more than " + std::to_string(kMaxXmlAttributesPerElement) +
         " attributes, which is refused";
}

// A linear pass over the raw bytes before libxml2 has them. libxml2 2.9
// compares every pair of a start tag's attributes (1.5 to 2 s for 80,000)
// before any SAX callback, and does that even for a tag it then finds
// malformed (a repeated name, no '>'), when no callback comes at all: so
// ParseGuard cannot bound it. This counts '=' outside quotes in each tag
// (one per attribute or namespace declaration in well-formed XML) and
// refuses past kMaxXmlAttributesPerElement.
//
// A bound, not a parser: it knows text, comments, CDATA sections,
// processing instructions, declarations ("<!X ...>" with quotes and
// brackets) and quoted values inside tags, enough never to count less than
// libxml2 sees in well-formed XML. On malformed input it may count more or
// start a new tag where libxml2 would not; that input is refused either
// way. A '<' inside a tag, quoted or not, starts a new tag, as it makes
// libxml2 give up the tag (a '<' is never in a well-formed value). A
// DOCTYPE is refused at once (ParseGuard would refuse it), so an internal
// subset never needs reading; and input that starts as UTF-16, UTF-32 or
// EBCDIC does is refused, as the bytes here are read as UTF-8 (see
// XML_PARSE_IGNORE_ENC above).
class PreScan {
 public:
  // Looks at the next `n` bytes of the input; false once it is refused.
  bool feed(const char* data, size_t n) {
    size_t i = 0;
    while (i < n && refusal_.empty()) {
      if (seen_ < 4) {
        if (!check_start(static_cast<unsigned char>(data[i]))) break;
      } else if (state_ == State::text) {  // most bytes: text and base64 between tags
        const void* lt = std::memchr(data + i, '<', n - i);
        const size_t at =
            lt == nullptr ? n : static_cast<size_t>(static_cast<const char*>(lt) - data);
        seen_ += at - i;
        i = at;
        if (i == n) break;
      }
      step(data[i]);
      ++seen_;
      ++i;
    }
    return refusal_.empty();
  }

  // Why the input is refused; empty while it is not.
  const std::string& refusal() const { return refusal_; }

 private:
  enum class State : unsigned char {
    text,
    lt,            // after '<'
    markup,        // after "<!", until it is known what follows
    comment,       // "<!--" ...
    comment_dash,  // ... "-"
    comment_dashes,
    cdata,  // "<![CDATA[" ...
    cdata_bracket,
    cdata_brackets,
    pi,  // "<?" ...
    pi_question,
    declaration,  // "<!X" ...: quotes and brackets until '>'
    declaration_quote,
    tag,  // "<name" or "</name" ...: '=' counted
    tag_quote,
  };

  // The first four bytes: NUL, a UTF-16 byte order mark, or EBCDIC's "<?xm".
  bool check_start(unsigned char c) {
    head_[seen_] = c;
    const bool wide = c == 0 || (seen_ == 1 && ((head_[0] == 0xfe && head_[1] == 0xff) ||
                                                (head_[0] == 0xff && head_[1] == 0xfe)));
    const bool ebcdic =
        seen_ == 3 && head_[0] == 0x4c && head_[1] == 0x6f && head_[2] == 0xa7 && head_[3] == 0x94;
    if (wide || ebcdic) {
      refusal_ =
          "the input is not UTF-8 XML (it begins with a NUL byte or as UTF-16, UTF-32 or EBCDIC "
          "text does), which is refused: packages are UTF-8";
      return false;
    }
    return true;
  }

  void step(char c) {
    switch (state_) {
      case State::text:
        if (c == '<') state_ = State::lt;
        break;
      case State::lt:
        if (c == '!') {
          state_ = State::markup;
          markup_.clear();
        } else if (c == '?') {
          state_ = State::pi;
        } else {
          state_ = State::tag;
          equals_ = 0;
          step(c);
        }
        break;
      case State::markup:
        after_bang(c);
        break;
      case State::comment:
        if (c == '-') state_ = State::comment_dash;
        break;
      case State::comment_dash:
        state_ = c == '-' ? State::comment_dashes : State::comment;
        break;
      case State::comment_dashes:
        if (c == '>')
          state_ = State::text;
        else if (c != '-')
          state_ = State::comment;
        break;
      case State::cdata:
        if (c == ']') state_ = State::cdata_bracket;
        break;
      case State::cdata_bracket:
        state_ = c == ']' ? State::cdata_brackets : State::cdata;
        break;
      case State::cdata_brackets:
        if (c == '>')
          state_ = State::text;
        else if (c != ']')
          state_ = State::cdata;
        break;
      case State::pi:
        if (c == '?') state_ = State::pi_question;
        break;
      case State::pi_question:
        if (c == '>')
          state_ = State::text;
        else if (c != '?')
          state_ = State::pi;
        break;
      case State::declaration:
        if (c == '"' || c == '\'') {
          quote_ = c;
          state_ = State::declaration_quote;
        } else if (c == '[') {
          ++brackets_;
        } else if (c == ']') {
          if (brackets_ > 0) --brackets_;
        } else if (c == '>' && brackets_ == 0) {
          state_ = State::text;
        }
        break;
      case State::declaration_quote:
        if (c == quote_) state_ = State::declaration;
        break;
      case State::tag:
        if (c == '"' || c == '\'') {
          quote_ = c;
          state_ = State::tag_quote;
        } else if (c == '=') {
          if (++equals_ > kMaxXmlAttributesPerElement)
            refusal_ = too_many_attributes_on_one_element();
        } else if (c == '>') {
          state_ = State::text;
        } else if (c == '<') {
          state_ = State::lt;
        }
        break;
      case State::tag_quote:
        if (c == quote_)
          state_ = State::tag;
        else if (c == '<')
          state_ = State::lt;
        break;
    }
  }

  // After "<!": a comment, a CDATA section, a DOCTYPE (refused) or another
  // declaration, known once the bytes so far begin only one of them.
  void after_bang(char c) {
    static constexpr std::string_view kComment = "--", kCdata = "[CDATA[", kDoctype = "DOCTYPE";
    markup_.push_back(c);
    const std::string_view so_far = markup_;
    if (so_far == kComment) {
      state_ = State::comment;
    } else if (so_far == kCdata) {
      state_ = State::cdata;
    } else if (so_far == kDoctype) {
      refusal_ = kDoctypeRefusal;
    } else if (!kComment.starts_with(so_far) && !kCdata.starts_with(so_far) &&
               !kDoctype.starts_with(so_far)) {
      state_ = State::declaration;
      brackets_ = 0;
      for (char b : markup_) step(b);
    }
  }

  State state_ = State::text;
  char quote_ = 0;
  size_t equals_ = 0;    // in the current tag
  size_t brackets_ = 0;  // open '[' in the current declaration
  std::string markup_;   // the bytes after "<!" while they are read
  size_t seen_ = 0;      // bytes looked at
  unsigned char head_[4] = {};
  std::string refusal_;
};

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
  if (own > kMaxXmlAttributesPerElement) return refuse(user, too_many_attributes_on_one_element());
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
  if (guard.doctype) return make_error(Errc::malformed, kDoctypeRefusal);
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
// passes and pre-scanning it (PreScan): bytes it refuses never reach
// libxml2, which sees a read error instead. Reading through this callback,
// rather than xmlCtxtReadMemory(), spares libxml2 2.9's private copy of the
// whole input.
struct InputReader {
  std::string_view memory;
  int fd = -1;
  EVP_MD_CTX* md = nullptr;
  size_t total = 0;
  int failed_errno = 0;
  PreScan prescan;

  static int read(void* ctx, char* buf, int len) {
    auto* self = static_cast<InputReader*>(ctx);
    if (!self->prescan.refusal().empty()) return -1;
    size_t n = 0;
    if (self->fd < 0) {
      n = std::min(self->memory.size() - self->total, static_cast<size_t>(len));
      if (n > 0) std::memcpy(buf, self->memory.data() + self->total, n);  // data() may be null
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
    if (!self->prescan.feed(buf, n)) return -1;
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
    } else if (!reader.prescan.refusal().empty() && !guard.doctype && guard.refusal.empty()) {
      // What PreScan refused, unless ParseGuard stopped the parse earlier
      // in the input (finish() names that).
      xmlFreeDoc(raw);
      result = make_error(Errc::malformed, reader.prescan.refusal());
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
  // Saving looks up the UTF-8 encoder, and libxml2 2.9 builds its encoder
  // table unlocked on first use: two threads serialising before any parse
  // raced there (a leaked table, seen by LeakSanitizer in crash_test).
  init_xml();
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
