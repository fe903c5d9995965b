#include "pdf/signed_pdf.h"

#include <algorithm>
#include <memory>
#include <set>

#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFObjectHandle.hh>

#include "pdf/pdf_objects.h"
#include "pdf/revision_diff.h"
#include "util/utf8.h"

namespace edocgw::pdf {

using internal::bytes_of;
using internal::dict_get;
using internal::integer_of;
using internal::name_of;
using internal::ref_text;
using internal::text_of;

const char* file_problem_name(FileProblem p) {
  switch (p) {
    case FileProblem::none:
      return "none";
    case FileProblem::not_pdf:
      return "not_pdf";
    case FileProblem::too_large:
      return "too_large";
    case FileProblem::encrypted:
      return "encrypted";
    case FileProblem::needs_recovery:
      return "needs_recovery";
    case FileProblem::trailing_bytes:
      return "trailing_bytes";
    case FileProblem::too_complex:
      return "too_complex";
  }
  return "unknown";
}

bool looks_like_pdf(std::string_view bytes) {
  return bytes.substr(0, 1024 + 5).find("%PDF-") != std::string_view::npos;
}

std::string qpdf_version() {
  return QPDF::QPDFVersion();
}

namespace {

// "%%EOF" candidates tried while looking for one revision's end.
constexpr size_t kMaxEofCandidates = 4096;

// A file problem found while reading: read_signed_pdf turns it into the
// Document's problem (and drops any signature read so far).
struct FileFailure {
  FileProblem problem;
  std::string detail;
};

// Opens bytes with qpdf without recovery; nullptr and `error` when qpdf
// throws or warns while reading the cross-reference sections.
// qpdf refuses an encrypted file whose user password is not empty with a
// password error; `password_needed` says so.
std::unique_ptr<QPDF> open_qpdf(std::string_view bytes, bool recovery, std::string& error,
                                bool* password_needed = nullptr) {
  auto q = std::make_unique<QPDF>();
  q->setSuppressWarnings(true);
  q->setAttemptRecovery(recovery);
  try {
    q->processMemoryFile("PDF", bytes.data(), bytes.size());
  } catch (const QPDFExc& e) {
    if (password_needed) *password_needed = e.getErrorCode() == qpdf_e_password;
    error = e.what();
    return nullptr;
  } catch (const std::exception& e) {
    error = e.what();
    return nullptr;
  }
  if (!recovery && q->anyWarnings()) {
    error = q->getWarnings().front().what();
    return nullptr;
  }
  return q;
}

std::string first_warning(QPDF& q) {
  std::vector<QPDFExc> w = q.getWarnings();
  return w.empty() ? std::string("a warning") : std::string(w.front().what());
}

// The end of the end-of-line that may follow a %%EOF ending at `pos`: one
// of "\r\n", "\n" or "\r" (the longest that is there), else `pos` itself.
size_t eol_end(std::string_view bytes, size_t pos) {
  if (pos < bytes.size() && bytes[pos] == '\r') {
    return pos + 1 < bytes.size() && bytes[pos + 1] == '\n' ? pos + 2 : pos + 1;
  }
  if (pos < bytes.size() && bytes[pos] == '\n') return pos + 1;
  return pos;
}

// The value of the last "startxref" in the 1024 bytes before `end`, as
// qpdf finds it (it looks in the same window).
std::optional<std::int64_t> last_startxref(std::string_view bytes, size_t end) {
  size_t from = end > 1024 ? end - 1024 : 0;
  std::string_view window = bytes.substr(from, end - from);
  size_t at = window.rfind("startxref");
  if (at == std::string_view::npos) return std::nullopt;
  size_t i = at + 9;
  while (i < window.size() &&
         std::string_view(" \t\r\n\f").find(window[i]) != std::string_view::npos) {
    ++i;
  }
  std::int64_t value = 0;
  size_t digits = 0;
  for (; i < window.size() && window[i] >= '0' && window[i] <= '9' && digits < 18; ++i, ++digits) {
    value = value * 10 + (window[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  return value;
}

// One revision of the file: the bytes [0, eof_end) end with "%%EOF";
// eol_end also takes the end-of-line after it.
struct Revision {
  size_t eof_end = 0, eol_end = 0;
};

// The revisions of the file, newest first, found by following the chain of
// cross-reference sections: the final startxref, then each trailer's /Prev.
// qpdf reads that chain but does not expose it, so each step opens a
// prefix with qpdf: for a /Prev offset P the previous revision ends at the
// first "%%EOF" after P whose prefix's own last startxref is P (a "%%EOF"
// inside stream data, or the early one of a linearized file, does not
// satisfy that), and qpdf reading that prefix strictly gives its trailer and
// so the next /Prev. Counting "%%EOF" markers instead would count those in
// streams and embedded files. The chain stops when a /Prev does not point
// before the section that names it: a linearized file's first-page trailer
// points forward to the main table of the same revision.
// The end of the revision whose cross-reference section is at `xref_at`:
// the first "%%EOF" after it, ending by `limit`, whose prefix's last
// startxref names `xref_at`.
std::optional<Revision> revision_ending(std::string_view bytes, std::int64_t xref_at,
                                        size_t limit) {
  size_t tries = 0;
  for (size_t pos = bytes.find("%%EOF", static_cast<size_t>(xref_at));
       pos != std::string_view::npos && pos + 5 <= limit && tries < kMaxEofCandidates;
       pos = bytes.find("%%EOF", pos + 1), ++tries) {
    if (last_startxref(bytes, pos + 5) == xref_at)
      return Revision{pos + 5, eol_end(bytes, pos + 5)};
  }
  return std::nullopt;
}

std::vector<Revision> revision_chain(std::string_view bytes, QPDF& final_q, size_t last_eof_end) {
  std::vector<Revision> out;
  out.push_back({last_eof_end, eol_end(bytes, last_eof_end)});
  std::optional<std::int64_t> startxref = last_startxref(bytes, last_eof_end);
  // The last revision ends at the first %%EOF after its own section: bytes
  // appended after that with a %%EOF of their own but no section (so qpdf
  // still reads the section before them) belong to no revision.
  if (startxref && *startxref >= 0 && static_cast<size_t>(*startxref) < last_eof_end) {
    std::optional<Revision> own = revision_ending(bytes, *startxref, last_eof_end);
    if (own && own->eof_end != last_eof_end) {
      throw FileFailure{FileProblem::trailing_bytes,
                        std::to_string(bytes.size() - own->eol_end) +
                            " bytes after the end of the last revision (its %%EOF at offset " +
                            std::to_string(own->eof_end - 5) + ") belong to no revision"};
    }
  }
  QPDFObjectHandle trailer = final_q.getTrailer();
  std::unique_ptr<QPDF> prefix_q;
  while (startxref) {
    std::optional<std::int64_t> prev = integer_of(dict_get(trailer, "/Prev"));
    if (!prev || *prev < 0 || *prev >= *startxref) break;
    if (out.size() >= kMaxRevisions) {
      throw FileFailure{FileProblem::too_complex,
                        "the file has more than " + std::to_string(kMaxRevisions) + " revisions"};
    }
    std::optional<Revision> found = revision_ending(bytes, *prev, out.back().eof_end - 1);
    if (!found) break;
    std::string error;
    prefix_q = open_qpdf(bytes.substr(0, found->eof_end), false, error);
    if (!prefix_q) break;
    out.push_back(*found);
    trailer = prefix_q->getTrailer();
    startxref = prev;
  }
  return out;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char c) {
  if (c <= '9') return c - '0';
  return (c | 0x20) - 'a' + 10;
}

// Checks the gap [a, b): exactly '<' hex digits '>' decoding to `contents`.
std::optional<std::string> gap_problem(std::string_view bytes, size_t a, size_t b,
                                       const std::optional<std::string>& contents) {
  std::string where = "the /ByteRange gap [" + std::to_string(a) + ", " + std::to_string(b) + ")";
  auto show = [](char c) {
    if (c >= 0x21 && c <= 0x7e) return std::string("'") + c + "'";
    return std::string("byte ") + std::to_string(static_cast<unsigned char>(c));
  };
  if (b - a < 2) return where + " is too short to hold a hex string";
  if (bytes[a] != '<')
    return where + " does not start with '<' (it starts with " + show(bytes[a]) + ")";
  if (bytes[b - 1] != '>')
    return where + " does not end with '>' (it ends with " + show(bytes[b - 1]) + ")";
  std::string_view hex = bytes.substr(a + 1, b - a - 2);
  for (size_t i = 0; i < hex.size(); ++i) {
    if (!is_hex(hex[i])) {
      return where + " holds " + show(hex[i]) + " at byte " + std::to_string(a + 1 + i) +
             ", not only hex digits";
    }
  }
  if (hex.size() % 2 != 0) return where + " holds an odd number of hex digits";
  if (!contents) return std::nullopt;  // reported as a missing /Contents
  if (hex.size() / 2 != contents->size()) {
    return where + " holds " + std::to_string(hex.size() / 2) + " bytes but /Contents has " +
           std::to_string(contents->size());
  }
  for (size_t i = 0; i < contents->size(); ++i) {
    int v = hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]);
    if (static_cast<unsigned char>((*contents)[i]) != v) {
      return where + " is not the /Contents of this signature dictionary";
    }
  }
  return std::nullopt;
}

std::optional<int> read_docmdp(QPDFObjectHandle sig_dict, std::vector<std::string>& problems) {
  QPDFObjectHandle refs = dict_get(sig_dict, "/Reference");
  if (!refs.isArray()) return std::nullopt;
  int n = std::min(refs.getArrayNItems(), 16);
  for (int i = 0; i < n; ++i) {
    QPDFObjectHandle ref = refs.getArrayItem(i);
    if (name_of(dict_get(ref, "/TransformMethod")) != "DocMDP") continue;
    QPDFObjectHandle p = dict_get(dict_get(ref, "/TransformParams"), "/P");
    if (p.isNull()) return 2;
    std::optional<std::int64_t> v = integer_of(p);
    if (v && *v >= 1 && *v <= 3) return static_cast<int>(*v);
    problems.push_back("the DocMDP /P is not 1, 2 or 3 (read as 1, the strictest)");
    return 1;
  }
  return std::nullopt;
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  Document read() {
    doc_.size = bytes_.size();
    try {
      read_file();
    } catch (const FileFailure& f) {
      fail(f.problem, f.detail);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      // qpdf throws on a damaged object found while reading one (an offset
      // that points at something else, a stream whose /Length is wrong...).
      fail(FileProblem::needs_recovery,
           std::string("qpdf cannot read an object without repairing the file: ") + e.what());
    }
    make_text_valid();
    return std::move(doc_);
  }

 private:
  // Every text of the Document is valid UTF-8: qpdf's messages quote raw
  // bytes, PDF names may hold any byte, /M is kept as written. Reports
  // dump these as JSON. (/Contents stays bytes.)
  void make_text_valid() {
    auto fix = [](std::string& text) { text = valid_utf8(text); };
    fix(doc_.problem_detail);
    for (std::string& name : doc_.empty_signature_fields) fix(name);
    for (Signature& sig : doc_.signatures) {
      for (std::string* text :
           {&sig.field_name, &sig.type, &sig.filter, &sig.sub_filter, &sig.m, &sig.name,
            &sig.reason, &sig.location, &sig.contact_info, &sig.disallowed_change}) {
        fix(*text);
      }
      for (std::string& problem : sig.problems) fix(problem);
      for (Change& change : sig.changes) fix(change.description);
    }
  }

  void fail(FileProblem p, std::string detail) {
    doc_.problem = p;
    doc_.problem_detail = std::move(detail);
    doc_.signatures.clear();
    doc_.empty_signature_fields.clear();
    doc_.unreferenced_signature_dictionaries.clear();
  }

  void read_file() {
    if (bytes_.size() > kMaxPdfBytes) {
      throw FileFailure{FileProblem::too_large, "the file has " + std::to_string(bytes_.size()) +
                                                    " bytes, more than the " +
                                                    std::to_string(kMaxPdfBytes) + " read"};
    }
    if (!looks_like_pdf(bytes_)) {
      throw FileFailure{FileProblem::not_pdf, "no %PDF- header in the first 1024 bytes"};
    }
    size_t eof = bytes_.rfind("%%EOF");
    if (eof == std::string_view::npos) {
      throw FileFailure{FileProblem::not_pdf, "the file has no %%EOF marker"};
    }
    last_eof_end_ = eof + 5;
    if (eol_end(bytes_, last_eof_end_) != bytes_.size()) {
      throw FileFailure{FileProblem::trailing_bytes,
                        std::to_string(bytes_.size() - eol_end(bytes_, last_eof_end_)) +
                            " bytes follow the last %%EOF (at offset " + std::to_string(eof) +
                            ") and its end-of-line"};
    }
    std::string error;
    bool password_needed = false;
    q_ = open_qpdf(bytes_, false, error, &password_needed);
    if (!q_ && password_needed) {
      throw FileFailure{FileProblem::encrypted, "the file is encrypted with a user password"};
    }
    if (!q_) {
      std::string ignored;
      if (open_qpdf(bytes_, true, ignored)) {
        throw FileFailure{FileProblem::needs_recovery,
                          "qpdf reads the file only by repairing it: " + error};
      }
      throw FileFailure{FileProblem::not_pdf, "qpdf cannot read the file: " + error};
    }
    if (q_->isEncrypted()) {
      throw FileFailure{FileProblem::encrypted,
                        "the file is encrypted (its trailer has an /Encrypt dictionary)"};
    }
    revisions_ = revision_chain(bytes_, *q_, last_eof_end_);
    doc_.revisions = static_cast<int>(revisions_.size());
    scan_objects();
    fields_ = internal::read_fields(*q_, internal::kMaxFormFields, kMaxFieldDepth);
    if (fields_.too_deep) {
      throw FileFailure{FileProblem::too_complex, "the form field tree is deeper than " +
                                                      std::to_string(kMaxFieldDepth) + " levels"};
    }
    if (fields_.too_many) {
      throw FileFailure{
          FileProblem::too_complex,
          "the form has more than " + std::to_string(internal::kMaxFormFields) + " fields"};
    }
    if (q_->anyWarnings()) {
      throw FileFailure{FileProblem::needs_recovery,
                        "qpdf repaired something while reading: " + first_warning(*q_)};
    }
    read_signatures();
    if (q_->anyWarnings()) {
      throw FileFailure{FileProblem::needs_recovery,
                        "qpdf repaired something while reading: " + first_warning(*q_)};
    }
  }

  // Reads every object of the xref table once: a damaged object anywhere
  // makes the file one that needs repair, and every dictionary with a
  // /ByteRange is noted (for unreferenced_signature_dictionaries).
  void scan_objects() {
    std::map<QPDFObjGen, QPDFXRefEntry> xref = q_->getXRefTable();
    object_count_ = xref.size();
    if (xref.size() > kMaxObjectsCompared) {
      throw FileFailure{FileProblem::too_complex,
                        "the file has " + std::to_string(xref.size()) + " objects, more than the " +
                            std::to_string(kMaxObjectsCompared) + " compared"};
    }
    for (const auto& [og, entry] : xref) {
      QPDFObjectHandle h;
      try {
        h = q_->getObjectByObjGen(og);
        if (h.isDictionary() && h.hasKey("/ByteRange")) byte_range_dicts_.push_back(og);
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const std::exception& e) {
        throw FileFailure{FileProblem::needs_recovery,
                          "qpdf cannot read " + ref_text(og) + " without repairs: " + e.what()};
      }
    }
  }

  void read_signatures() {
    std::set<QPDFObjGen> referenced;
    size_t count = 0;
    for (const internal::FieldInfo& f : fields_.fields) {
      if (f.type != "Sig" || !f.terminal) continue;
      if (++count > kMaxSignatures) {
        throw FileFailure{
            FileProblem::too_complex,
            "the form has more than " + std::to_string(kMaxSignatures) + " signature fields"};
      }
      if (!f.has_value) {
        doc_.empty_signature_fields.push_back(f.name);
        continue;
      }
      if (f.value.isIndirect()) {
        // Two fields naming one dictionary would be one signature shown twice.
        if (!referenced.insert(f.value.getObjGen()).second) {
          Signature dup;
          dup.field_name = f.name;
          dup.object = ref_text(f.value.getObjGen());
          dup.problems.push_back("the signature dictionary " + dup.object +
                                 " is also the /V of another field");
          doc_.signatures.push_back(std::move(dup));
          continue;
        }
      }
      doc_.signatures.push_back(read_signature(f));
    }
    // A certification signature is also named by the catalog's /Perms
    // /DocMDP; one named there without its own DocMDP reference gets the
    // default P (2).
    QPDFObjectHandle perms = dict_get(dict_get(q_->getRoot(), "/Perms"), "/DocMDP");
    if (perms.isIndirect()) {
      for (Signature& sig : doc_.signatures) {
        if (sig.object == ref_text(perms.getObjGen()) && !sig.docmdp_p) sig.docmdp_p = 2;
      }
    }
    for (QPDFObjGen og : byte_range_dicts_) {
      if (!referenced.count(og)) doc_.unreferenced_signature_dictionaries.push_back(ref_text(og));
    }
    std::stable_sort(
        doc_.signatures.begin(), doc_.signatures.end(),
        [](const Signature& x, const Signature& y) { return x.signed_length < y.signed_length; });
    compare_signatures();
  }

  Signature read_signature(const internal::FieldInfo& field) {
    Signature sig;
    sig.field_name = field.name;
    QPDFObjectHandle v = field.value;
    if (!v.isIndirect() || !v.isDictionary()) {
      sig.problems.push_back("the /V of field '" + field.name + "' is not an indirect dictionary");
      return sig;
    }
    sig.object = ref_text(v.getObjGen());
    sig.type = name_of(dict_get(v, "/Type")).value_or("");
    sig.filter = name_of(dict_get(v, "/Filter")).value_or("");
    sig.sub_filter = name_of(dict_get(v, "/SubFilter")).value_or("");
    sig.m = bytes_of(dict_get(v, "/M")).value_or("");
    sig.name = text_of(dict_get(v, "/Name")).value_or("");
    sig.reason = text_of(dict_get(v, "/Reason")).value_or("");
    sig.location = text_of(dict_get(v, "/Location")).value_or("");
    sig.contact_info = text_of(dict_get(v, "/ContactInfo")).value_or("");
    sig.docmdp_p = read_docmdp(v, sig.problems);

    QPDFObjectHandle br = dict_get(v, "/ByteRange");
    bool br_integers = br.isArray();
    if (br.isArray()) {
      int n = std::min(br.getArrayNItems(), 64);
      for (int i = 0; i < n; ++i) {
        std::optional<std::int64_t> x = integer_of(br.getArrayItem(i));
        if (x) {
          sig.byte_range.push_back(*x);
        } else {
          br_integers = false;
        }
      }
    }
    std::optional<std::string> contents = bytes_of(dict_get(v, "/Contents"));
    if (contents && contents->size() > kMaxContentsBytes) {
      sig.problems.push_back("the /Contents has " + std::to_string(contents->size()) +
                             " bytes, more than the " + std::to_string(kMaxContentsBytes) +
                             " read");
      contents.reset();
    } else if (contents) {
      sig.contents = *contents;
    } else {
      sig.problems.push_back("the signature dictionary has no /Contents string");
    }

    check_structure(sig, v, br_integers, contents);
    return sig;
  }

  // The checks of signed_pdf.h in order; stops at the first that leaves
  // the signed bytes undetermined.
  void check_structure(Signature& sig, QPDFObjectHandle v, bool br_integers,
                       const std::optional<std::string>& contents) {
    const std::vector<std::int64_t>& br = sig.byte_range;
    const auto size = static_cast<std::int64_t>(bytes_.size());
    if (!br_integers || br.size() != 4) {
      sig.problems.push_back("the /ByteRange is not four integers [0 a b c]");
      return;
    }
    if (br[0] != 0) {
      sig.problems.push_back("the /ByteRange does not start at byte 0");
      return;
    }
    if (br[1] <= 0 || br[2] <= br[1] || br[3] < 0) {
      sig.problems.push_back("the /ByteRange does not describe two ranges around a gap");
      return;
    }
    if (br[2] > size || br[3] > size - br[2]) {
      sig.problems.push_back("the /ByteRange ends beyond the end of the file (" +
                             std::to_string(size) + " bytes)");
      return;
    }
    const auto a = static_cast<size_t>(br[1]), b = static_cast<size_t>(br[2]);
    const size_t end = b + static_cast<size_t>(br[3]);
    sig.signed_length = end;
    sig.covers_whole_file = end == bytes_.size() || end == last_eof_end_;
    if (auto problem = gap_problem(bytes_, a, b, contents)) {
      sig.problems.push_back(*problem);
      return;
    }
    // The end of a revision: right after its %%EOF, or after the
    // end-of-line that follows it.
    int revision = 0;
    for (size_t i = 0; i < revisions_.size(); ++i) {
      if (revisions_[i].eof_end == end || revisions_[i].eol_end == end) {
        revision = static_cast<int>(revisions_.size() - i);
      }
    }
    if (revision == 0) {
      size_t eof = end >= 5 ? bytes_.rfind("%%EOF", end - 5) : std::string_view::npos;
      bool at_eof =
          eof != std::string_view::npos && (eof + 5 == end || eol_end(bytes_, eof + 5) == end);
      sig.problems.push_back(
          at_eof ? "the signed bytes end at byte " + std::to_string(end) +
                       ", a %%EOF that ends no revision of the document's cross-reference chain"
                 : "the signed bytes end at byte " + std::to_string(end) +
                       ", which is not the end of a revision (%%EOF and an optional end-of-line)");
      return;
    }
    sig.revision = revision;
    std::string error;
    std::unique_ptr<QPDF> signed_q = open_qpdf(bytes_.substr(0, end), false, error);
    if (!signed_q) {
      sig.problems.push_back("the signed bytes do not parse on their own without repairs: " +
                             error);
      return;
    }
    try {
      if (auto problem = same_dictionary(*signed_q, v, static_cast<size_t>(br[1]))) {
        sig.problems.push_back(*problem);
        return;
      }
      if (signed_q->anyWarnings()) {
        sig.problems.push_back("qpdf repaired something while reading the signed bytes: " +
                               first_warning(*signed_q));
        return;
      }
      signed_revisions_[sig.object] = std::move(signed_q);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      sig.problems.push_back(std::string("qpdf cannot read the signed bytes: ") + e.what());
    }
  }

  // The signed revision holds `v`'s object as the same signature
  // dictionary, and the gap [a, b) lies inside that object's bytes: a
  // dictionary copied elsewhere with the same /Contents and a /ByteRange of
  // its own does not own the gap.
  std::optional<std::string> same_dictionary(QPDF& signed_q, QPDFObjectHandle v, size_t a) {
    QPDFObjGen og = v.getObjGen();
    std::string where = "the signed revision does not hold " + ref_text(og);
    std::map<QPDFObjGen, QPDFXRefEntry> xref = signed_q.getXRefTable();
    auto entry = xref.find(og);
    if (entry == xref.end()) return where;
    if (entry->second.getType() != 1) {
      return "the signature dictionary " + ref_text(og) +
             " is inside an object stream, so its /Contents is not the gap's bytes";
    }
    QPDFObjectHandle old = signed_q.getObjectByObjGen(og);
    if (!old.isDictionary()) return where + " as a dictionary";
    const auto offset = static_cast<size_t>(entry->second.getOffset());
    if (offset >= a || bytes_.substr(offset, a - offset).find("endobj") != std::string_view::npos) {
      return "the /ByteRange gap is not inside the signature dictionary " + ref_text(og) +
             " (which starts at byte " + std::to_string(offset) + ")";
    }
    if (old.getKey("/ByteRange").unparseResolved() != dict_get(v, "/ByteRange").unparseResolved()) {
      return where + " with the same /ByteRange";
    }
    if (bytes_of(old.getKey("/Contents")) != bytes_of(dict_get(v, "/Contents"))) {
      return where + " with the same /Contents";
    }
    return std::nullopt;
  }

  // The comparison of each signed revision with the final document, after
  // all signatures are read: DocMDP of an earlier certification applies.
  void compare_signatures() {
    if (signed_revisions_.empty()) return;
    size_t to_compare = 0;
    for (const Signature& sig : doc_.signatures)
      to_compare += !sig.covers_whole_file && sig.problems.empty() &&
                    signed_revisions_.count(sig.object) != 0;
    if (to_compare * object_count_ > kMaxObjectComparisons) {
      throw FileFailure{FileProblem::too_complex,
                        std::to_string(to_compare) + " signatures to compare over " +
                            std::to_string(object_count_) + " objects is more than the " +
                            std::to_string(kMaxObjectComparisons) + " comparisons made per file"};
    }
    internal::FinalDocument final_doc(*q_, fields_, kMaxObjectsCompared);
    std::optional<int> docmdp;
    for (Signature& sig : doc_.signatures) {
      // A certification governs what follows it even when its own bytes
      // are in doubt: being stricter is the safe side.
      if (sig.docmdp_p) docmdp = std::min(docmdp.value_or(3), *sig.docmdp_p);
      auto it = signed_revisions_.find(sig.object);
      if (it == signed_revisions_.end() || !sig.problems.empty()) continue;
      if (sig.covers_whole_file) {
        sig.changes_compared = true;
        continue;
      }
      internal::RevisionComparison cmp;
      try {
        cmp = internal::compare_with_final(*it->second, final_doc, docmdp);
        if (it->second->anyWarnings()) {
          cmp.problems.push_back("qpdf repaired something while reading the signed revision: " +
                                 first_warning(*it->second));
        }
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const std::exception& e) {
        cmp.problems.push_back(
            std::string(
                "qpdf failed while comparing the signed revision with the final document: ") +
            e.what());
      }
      if (!cmp.problems.empty()) {
        for (std::string& p : cmp.problems) sig.problems.push_back(std::move(p));
        continue;
      }
      sig.changes = std::move(cmp.changes);
      sig.changes_compared = true;
      for (const Change& c : sig.changes) {
        if (!c.allowed) {
          sig.disallowed_change = "after '" + sig.field_name + "' was signed, " + c.description;
          break;
        }
      }
    }
  }

  std::string_view bytes_;
  Document doc_;
  std::unique_ptr<QPDF> q_;
  size_t last_eof_end_ = 0;
  size_t object_count_ = 0;  // entries of the final xref table
  std::vector<Revision> revisions_;
  std::vector<QPDFObjGen> byte_range_dicts_;
  internal::FieldTree fields_;
  // The signed revision of each signature whose bytes are determined, by object.
  std::map<std::string, std::unique_ptr<QPDF>> signed_revisions_;
};

}  // namespace

Result<Document> read_signed_pdf(std::string_view bytes) {
  try {
    return Reader(bytes).read();
  } catch (const std::bad_alloc&) {
    return make_error(Errc::internal, "out of memory while reading the PDF");
  } catch (const std::exception& e) {
    return make_error(Errc::internal, std::string("reading the PDF failed: ") + e.what());
  }
}

}  // namespace edocgw::pdf
