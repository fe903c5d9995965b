// tests/support/pdf_fixtures.h: signed PDFs for the tests, made at test time
// from the sample PKI. qpdf writes the base document; signatures and later
// changes are incremental updates appended to it, as real signing tools do;
// the CMS is made by OpenSSL's CMS API (and RFC 3161 tokens by its TS API,
// with the sample TSA). A fixture writer, not a parser: it writes the few
// objects it adds by hand and reads existing objects through qpdf.
//
// Everything throws std::runtime_error on failure (test code).
#pragma once
#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace edocgw::test::pdf {

struct BaseOptions {
  int pages = 1;
  std::string text = "Quyet dinh so 123/QD-UBND";  // drawn on every page
  // Adds one incompressible stream of about this many bytes (an embedded
  // image XObject used by page 1) to reach a size; 0 for none.
  size_t padding_bytes = 0;
  // Empty signature fields ("Sig1", "Sig2", ...) placed on page 1 in advance,
  // as document systems prepare them for the official and the clerk.
  int empty_signature_fields = 0;
  bool object_streams = false;  // qpdf writes object streams and an xref stream
};
std::string make_base_pdf(const BaseOptions& options = {});

// A signer from the sample PKI: "huong-hoa" reads huong-hoa.pem/.key, with
// ca.pem as the chain sent in the CMS.
struct Signer {
  std::string cert_pem, key_pem;           // file paths
  std::vector<std::string> chain_pem;      // extra certificates put in the CMS
};
Signer sample_signer(const std::string& pki_dir, const std::string& name);

struct SignOptions {
  // An existing empty field of that name is filled; otherwise a new field
  // (with a widget on page 1 and a small appearance stream) is added.
  std::string field_name = "Sig1";
  // "ETSI.CAdES.detached" (default), "adbe.pkcs7.detached", "adbe.pkcs7.sha1",
  // or "ETSI.RFC3161" (a document timestamp: /Type /DocTimeStamp, the
  // Contents a TimeStampToken from the TSA; `signer` is then the TSA).
  std::string sub_filter = "ETSI.CAdES.detached";
  std::string digest = "sha256";
  bool signed_attributes = true;             // false: a CMS without signed attributes
  bool ess_signing_certificate_v2 = true;    // the ESS attribute among the signed ones
  std::optional<std::time_t> signing_time;   // the signingTime attribute and /M; default now
  // A signature timestamp (unsigned attribute id-aa-timeStampToken) from this TSA.
  std::optional<Signer> timestamp_by;
  std::optional<std::time_t> timestamp_time;  // genTime of that token; default now
  std::optional<int> docmdp_p;                // makes it a certification signature
  size_t contents_reserve = 32768;            // bytes reserved for /Contents (hex is twice)
  std::string name, reason = "Ky so van ban", location = "Quang Tri";
};
// Appends an incremental update that signs `pdf` and returns the new file.
std::string sign_pdf(const std::string& pdf, const Signer& signer, const SignOptions& options = {});

// An incremental update with objects replaced or added, written by hand:
// `objects` maps an object number (existing: replaced; new: added) to its
// body as PDF syntax ("<< /Type /Annot ... >>", or a dictionary followed by
// "stream\n...\nendstream"; for a stream without /Length, the writer adds
// /Length). `trailer` entries are added to the trailer copied from the last
// one (/Size and /Prev are always set by the writer).
struct Update {
  std::map<int, std::string> objects;
  std::vector<int> freed;  // objects marked free in the new xref section
  std::map<std::string, std::string> trailer;  // key without '/', value as PDF syntax
};
std::string append_update(const std::string& pdf, const Update& update);

// Reading helpers, through qpdf (last revision of `pdf`).
int next_object_number(const std::string& pdf);            // the trailer's /Size
std::string object_text(const std::string& pdf, int objnum);  // the body, as qpdf unparses it
int page_object(const std::string& pdf, int page_index);      // 0-based page -> object number
int catalog_object(const std::string& pdf);
// Content stream object of a page (its single /Contents, or the first of an array).
int content_object(const std::string& pdf, int page_index);

// Finds the signature dictionary of `field_name` and returns its
// /ByteRange values and the offset of its '<' of /Contents in the file.
struct SignatureLocation {
  int object = 0;
  std::vector<std::int64_t> byte_range;
  size_t contents_offset = 0, contents_length = 0;  // the hex string, '<' .. '>' inclusive
  size_t byte_range_offset = 0, byte_range_length = 0;  // '[' .. ']' inclusive
};
SignatureLocation locate_signature(const std::string& pdf, const std::string& field_name);

// Runs poppler's pdfsig on the file; returns its whole output ("" with the
// exit code when pdfsig is not installed: the cross-check is skipped then).
struct PdfsigResult {
  bool ran = false;
  int exit_code = 0;
  std::string output;
};
PdfsigResult run_pdfsig(const std::string& pdf_path);

}  // namespace edocgw::test::pdf
