#include "pdf/revision_diff.h"

namespace edocgw::pdf::internal {

struct Role {};

FinalDocument::FinalDocument(QPDF& q, const FieldTree& fields, size_t max_objects)
    : q_(q), fields_(fields), max_objects_(max_objects), xref_(q.getXRefTable()) {}
FinalDocument::~FinalDocument() = default;

RevisionComparison compare_with_final(QPDF&, FinalDocument&, std::optional<int>) {
  RevisionComparison out;
  out.problems.push_back("the comparison with the final document is not written yet");
  return out;
}

}  // namespace edocgw::pdf::internal
