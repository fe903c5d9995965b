// Fuzzes pdf::read_signed_pdf (pdf/signed_pdf.h) on any bytes: qpdf's
// strict reading, the revision chain, the signature checks and the
// comparison of each signed revision with the final document. An Error
// (an internal fault) or a Document that breaks the header's promises aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pdf/signed_pdf.h"
#include "util/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto result = edocgw::pdf::read_signed_pdf(bytes);
  if (!result) std::abort();
  const edocgw::pdf::Document& doc = *result;
  if (doc.size != size) std::abort();
  auto text = [](const std::string& t) {
    if (edocgw::valid_utf8(t) != t) std::abort();  // reports dump these as JSON
  };
  text(doc.problem_detail);
  if (doc.problem != edocgw::pdf::FileProblem::none) {
    if (!doc.signatures.empty() || doc.problem_detail.empty()) std::abort();
    return 0;
  }
  if (doc.signatures.size() > edocgw::pdf::kMaxSignatures) std::abort();
  for (const edocgw::pdf::Signature& s : doc.signatures) {
    if (s.signed_length > size) std::abort();
    if (s.covers_whole_file && s.signed_length == 0) std::abort();
    if (s.contents.size() > edocgw::pdf::kMaxContentsBytes) std::abort();
    for (const std::string& p : s.problems) text(p);
    text(s.field_name);
    text(s.m);
    text(s.disallowed_change);
    bool refused = false;
    for (const edocgw::pdf::Change& c : s.changes) {
      refused = refused || !c.allowed;
      text(c.description);
    }
    if (refused != !s.disallowed_change.empty()) std::abort();
    if (!s.changes.empty() && !s.changes_compared) std::abort();
    if (s.changes_compared && !s.problems.empty()) std::abort();
  }
  return 0;
}
