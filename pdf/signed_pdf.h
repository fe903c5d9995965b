// pdf/signed_pdf.h: the structure of a signed PDF, read with libqpdf: its
// signatures, the bytes each one signs, and what changed in the document
// after each one was made. No cryptography here (crypto/pdf_verifier.h
// checks the CMS and the certificates); this layer answers "which bytes does
// this signature cover, and is the document the reader sees still the one
// that was signed, apart from changes the PAdES profile allows?"
//
// Strict on purpose. The file must parse without qpdf's xref recovery and
// without warnings, must not be encrypted and must end at its last %%EOF
// (an end-of-line after it is allowed). For each signature dictionary
// (the /V of an AcroForm field of /FT /Sig):
//   - /ByteRange is exactly [0 a b c] with 0 < a < b and b + c <= file size;
//   - the gap [a, b) is exactly the /Contents hex string of that same
//     dictionary, '<' and '>' included;
//   - the signed bytes [0, b + c) end at the end of a revision (%%EOF and an
//     optional end-of-line) and parse on their own, strictly, as a complete
//     PDF holding the same dictionary (same object number, same /ByteRange
//     and /Contents);
//   - the final document is compared with that signed revision object by
//     object; every change is listed, and only those PAdES allows after a
//     signature are allowed (see Change).
// Any dictionary with a /ByteRange that no signature field references is
// listed in `unreferenced_signature_dictionaries`.
//
// Pure function of the bytes; safe on many threads at once (each call has
// its own QPDF objects). Every size and loop is bounded (limits below).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "util/result.h"

namespace edocgw::pdf {

inline constexpr size_t kMaxPdfBytes = 64u << 20;        // larger files are refused
inline constexpr size_t kMaxSignatures = 32;             // signature fields read per file
inline constexpr size_t kMaxContentsBytes = 512u << 10;  // decoded /Contents per signature
inline constexpr size_t kMaxRevisions = 256;             // incremental updates followed
inline constexpr size_t kMaxObjectsCompared = 200'000;   // objects diffed per signature
// Objects times signatures compared per file: 16 signatures over 190,000
// objects take about 4.7 s on the 2-core VM; beyond this bound a file is
// too_complex rather than many seconds of CPU.
inline constexpr size_t kMaxObjectComparisons = 2'000'000;
inline constexpr size_t kMaxFieldDepth = 32;  // /Kids levels of the field tree

// Why a file as a whole cannot be verified. `none` when it can.
enum class FileProblem {
  none,
  not_pdf,         // no %PDF- header, or qpdf cannot open it even strictly
  too_large,       // over kMaxPdfBytes
  encrypted,       // an /Encrypt dictionary: the signed bytes cannot be judged
  needs_recovery,  // parses only with xref recovery, or qpdf warned while reading
  trailing_bytes,  // bytes other than one end-of-line after the last %%EOF
  too_complex,     // a limit above was hit
};
const char* file_problem_name(FileProblem p);  // "not_pdf", "encrypted", ...

// One change between a signed revision and the final document.
struct Change {
  std::string object;  // "12 0 R" (the object in the final document, or the one removed)
  std::string
      description;       // one phrase: "the content stream of page 1 was replaced",
                         // "a /Text annotation was added to page 1", "a new signature field 'Sig2'"
  bool allowed = false;  // allowed by the PAdES rules (and by DocMDP, when present)
};

struct Signature {
  std::string field_name;  // fully qualified (/T of the field and its parents, joined by '.')
  std::string object;      // "12 0 R": the signature dictionary
  std::string type;        // /Type: "Sig", "DocTimeStamp" or "" when absent
  std::string filter, sub_filter;                    // "Adobe.PPKLite", "ETSI.CAdES.detached", ...
  std::string m;                                     // /M as written (PDF date), "" when absent
  std::string name, reason, location, contact_info;  // text strings as UTF-8, "" when absent
  std::vector<std::int64_t> byte_range;              // as written (any length, any values)
  std::string contents;             // /Contents decoded (CMS DER, usually followed by zero padding)
  std::uint64_t signed_length = 0;  // b + c when the ByteRange has the right shape, else 0
  bool covers_whole_file = false;   // signed_length == the file size (minus a final end-of-line)
  int revision = 0;                 // 1-based revision it signs (0 when unknown)
  // Certification signature: /Reference with /TransformMethod /DocMDP; its
  // /TransformParams /P (1, 2 or 3; 2 when absent).
  std::optional<int> docmdp_p;
  // Structural failures of this signature, one sentence each, in check
  // order (ByteRange shape, gap, revision, prefix parse, dictionary match).
  // Empty when the signed bytes are exactly determined.
  std::vector<std::string> problems;
  // Changes from the signed revision to the final document, allowed or not
  // (empty when the signature covers the whole file, or when problems is
  // not empty and no comparison was possible).
  std::vector<Change> changes;
  bool changes_compared = false;  // the comparison ran
  // The first change that is not allowed, as one sentence naming it; "" when none.
  std::string disallowed_change;
};

struct Document {
  FileProblem problem = FileProblem::none;
  std::string problem_detail;  // one sentence; "" when problem == none
  std::uint64_t size = 0;
  int revisions = 0;  // incremental updates, counting the original as 1
  // In the order of their signed_length (the first signed first); the
  // fields with no /V (empty signature fields) are not listed.
  std::vector<Signature> signatures;
  std::vector<std::string> empty_signature_fields;  // names of /Sig fields without /V
  // "12 0 R" of every dictionary with a /ByteRange that no field's /V references.
  std::vector<std::string> unreferenced_signature_dictionaries;
};

// Reads `bytes`. A Document with `problem` set (and no signatures) when the
// file as a whole cannot be verified; an Error only for an internal fault.
Result<Document> read_signed_pdf(std::string_view bytes);

// Whether `bytes` starts like a PDF ("%PDF-" within the first 1024 bytes, as readers accept).
bool looks_like_pdf(std::string_view bytes);

// The version of libqpdf in use ("11.3.0"), for --version.
std::string qpdf_version();

}  // namespace edocgw::pdf
