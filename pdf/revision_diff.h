// pdf/revision_diff.h: internal to pdf/. What changed between a signed
// revision of a PDF and the final document, and whether PAdES (and DocMDP)
// allows each change.
//
// Which objects changed comes from the two cross-reference tables: an
// object whose entry (offset, or object stream and index) is the same in
// both is the same bytes, since the signed revision is a prefix of the
// final file; only the others are parsed and compared by value. Whether a
// change is allowed comes from the role the object plays in the final
// document (page content, annotation, signature field, DSS, ...), found by
// one walk of the final document from its catalog and trailer.
//
// One FinalDocument per read, used by one thread; it borrows the QPDF and
// the field tree. (The comparison also walks a signed revision with it, to
// say what a deleted object was.)
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <qpdf/QPDF.hh>

#include "pdf/pdf_objects.h"
#include "pdf/signed_pdf.h"

namespace edocgw::pdf::internal {

struct Role;  // revision_diff.cc

class FinalDocument {
 public:
  FinalDocument(QPDF& q, const FieldTree& fields, size_t max_objects);
  ~FinalDocument();
  FinalDocument(const FinalDocument&) = delete;
  FinalDocument& operator=(const FinalDocument&) = delete;

  QPDF& qpdf() { return q_; }
  const FieldTree& fields() const { return fields_; }
  const PageList& pages();
  const std::map<QPDFObjGen, QPDFXRefEntry>& xref() const { return xref_; }
  // Every object's roles, found on first use.
  const std::vector<Role>* roles(QPDFObjGen og);
  // Objects some reachable object refers to but the xref table lacks,
  // with the first referrer's description.
  const std::map<QPDFObjGen, std::string>& dangling();
  // The walk gave up (more roles than the limit allows): roles are partial.
  bool incomplete();
  // Streams whose dictionary refers to indirect objects (an indirect
  // /Length, /Filter, /DecodeParms, an object stream's /N or /First):
  // stream -> those objects. The same bytes read differently when they change.
  const std::map<QPDFObjGen, std::vector<QPDFObjGen>>& stream_dependencies();

 private:
  void walk();
  struct Walk;
  QPDF& q_;
  const FieldTree& fields_;
  size_t max_objects_;
  std::map<QPDFObjGen, QPDFXRefEntry> xref_;
  std::optional<PageList> pages_;
  bool walked_ = false, incomplete_ = false;
  std::map<QPDFObjGen, std::vector<Role>> roles_;
  std::map<QPDFObjGen, std::string> dangling_;
  std::optional<std::map<QPDFObjGen, std::vector<QPDFObjGen>>> stream_deps_;
};

struct RevisionComparison {
  std::vector<Change> changes;        // by object number
  std::vector<std::string> problems;  // the comparison could not be made (limits, damage)
};
// `docmdp_p`: the P of a certification signature made at or before the
// signed revision, if any (1, 2 or 3).
RevisionComparison compare_with_final(QPDF& signed_revision, FinalDocument& final_doc,
                                      std::optional<int> docmdp_p);

}  // namespace edocgw::pdf::internal
