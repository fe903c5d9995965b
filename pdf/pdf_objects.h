// pdf/pdf_objects.h: internal to pdf/. Small, type-checked accessors over
// libqpdf object handles, and the two structures every part of the reader
// needs from one QPDF: its pages (the page tree, in order) and its form
// fields (the /AcroForm /Fields tree). Every walk is bounded and cycle-safe.
//
// qpdf 11 answers an accessor called on the wrong type with a warning (and
// a default value) rather than an exception; the reader treats any warning
// as a damaged file, so these helpers check types before they read.
// Not thread-safe beyond qpdf's own rules: one QPDF per thread.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <qpdf/QPDF.hh>
#include <qpdf/QPDFObjGen.hh>
#include <qpdf/QPDFObjectHandle.hh>

namespace edocgw::pdf::internal {

// Form fields read per document (of every type; signature fields are
// limited apart, by kMaxSignatures).
inline constexpr size_t kMaxFormFields = 10'000;

// "12 0 R".
std::string ref_text(QPDFObjGen og);

// Dictionary entry, or a null handle when `dict` is not a dictionary (or a
// stream: its dictionary is used) or the key is absent.
QPDFObjectHandle dict_get(QPDFObjectHandle dict, const std::string& key);
std::optional<std::string> name_of(QPDFObjectHandle h);   // "/Sig" -> "Sig"
std::optional<std::string> bytes_of(QPDFObjectHandle h);  // a string's decoded bytes
std::optional<std::string> text_of(QPDFObjectHandle h);   // a text string as UTF-8
std::optional<std::int64_t> integer_of(QPDFObjectHandle h);
// "a /Font", "a /Link annotation", "a stream", "an array": for descriptions.
std::string kind_of(QPDFObjectHandle h);

// The indirect objects `h`'s direct structure refers to (a stream: its
// dictionary's), in order, at most `max`.
std::vector<QPDFObjectHandle> direct_refs(QPDFObjectHandle h, size_t max);

// A canonical text of an object's value for comparison: dictionaries and
// arrays unparsed with indirect references as "n g R" (qpdf sorts keys); a
// stream as its dictionary (without /Length), the values of the objects
// that dictionary refers to (an indirect /DecodeParms, /N or /First changes
// what the same bytes mean) and its raw, still encoded data.
std::string fingerprint(QPDFObjectHandle h);

// The pages in document order; `irregular` when the tree is deeper or
// larger than the reader follows, or tangled (a cycle, a page twice).
struct PageList {
  std::vector<QPDFObjGen> pages;  // leaves (/Type /Page), in order
  std::vector<QPDFObjGen> nodes;  // intermediate /Pages nodes
  bool irregular = false;         // a cycle, a repeated page or a non-dictionary kid
  std::string irregular_detail;
  std::map<QPDFObjGen, int> numbers;  // page -> 1-based number
  std::set<QPDFObjGen> node_set;
  int page_number(QPDFObjGen og) const;  // 1-based, 0 when not a page
};
PageList read_pages(QPDF& q, size_t max_pages);

// One terminal form field (or an intermediate node, terminal == false).
struct FieldInfo {
  QPDFObjGen og;     // the field dictionary (0 0 for a direct one)
  std::string name;  // fully qualified
  std::string type;  // /FT, inherited ("Sig", "Tx", ...); "" when none
  bool terminal = true;
  bool has_value = false;           // /V present (not null)
  QPDFObjectHandle value;           // /V as found (maybe direct)
  std::vector<QPDFObjGen> widgets;  // the field itself when merged, else its widget kids
};
struct FieldTree {
  std::vector<FieldInfo> fields;       // depth-first, parents before kids
  std::vector<QPDFObjGen> top;         // the /Fields array's entries (indirect ones)
  bool too_deep = false;               // kMaxFieldDepth passed
  bool too_many = false;               // max_fields passed
  std::map<QPDFObjGen, size_t> index;  // field object -> its place in `fields`
  std::set<QPDFObjGen> top_set;
  const FieldInfo* find(QPDFObjGen og) const;
};
FieldTree read_fields(QPDF& q, size_t max_fields, size_t max_depth);

// Whether `annot` is a widget of a /FT /Sig field (its own /FT or one
// inherited through /Parent).
bool is_signature_widget(QPDFObjectHandle annot);

}  // namespace edocgw::pdf::internal
