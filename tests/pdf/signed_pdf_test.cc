// pdf/signed_pdf.h: which bytes each signature of a PDF covers, and what
// changed after it. Every attack poppler's pdfsig calls "valid" (content
// appended after signing, changes between two signatures, an annotation, a
// shadow hide or replace, a relocated /ByteRange) is made here with the
// fixture writer and must be caught with its reason; the changes PAdES
// allows (a second signature, an empty field filled, /Info, a DSS) must not.
#define BOOST_TEST_MODULE signed_pdf
#include <boost/test/unit_test.hpp>

#include <map>
#include <ostream>
#include <regex>
#include <string>
#include <vector>

#include "pdf/signed_pdf.h"
#include "tests/support/pdf_fixtures.h"
#include "tests/test_support.h"
#include "util/utf8.h"

using namespace edocgw;
using namespace edocgw::test::pdf;
using edocgw::pdf::Change;
using edocgw::pdf::Document;
using edocgw::pdf::FileProblem;
using edocgw::pdf::Signature;

namespace edocgw::pdf {
// For Boost.Test's messages.
std::ostream& operator<<(std::ostream& out, FileProblem p) {
  return out << file_problem_name(p);
}
}  // namespace edocgw::pdf

namespace {

Signer signer(const std::string& name = "huong-hoa") {
  return sample_signer(test::pki().string(), name);
}

SignOptions field(const std::string& name) {
  SignOptions o;
  o.field_name = name;
  o.contents_reserve = 8192;
  return o;
}

std::string signed_once(const BaseOptions& base = {}) {
  return sign_pdf(make_base_pdf(base), signer(), field("Sig1"));
}

Document read(const std::string& pdf) {
  auto r = pdf::read_signed_pdf(pdf);
  if (!r.ok()) BOOST_FAIL(r.error().message);
  return std::move(r).value();
}

bool has(const std::string& text, const std::string& phrase) {
  return text.find(phrase) != std::string::npos;
}

std::string all_problems(const Signature& s) {
  std::string out;
  for (const std::string& p : s.problems) out += p + "\n";
  return out;
}

std::string all_changes(const Signature& s) {
  std::string out;
  for (const Change& c : s.changes) {
    out += (c.allowed ? "allowed: " : "REFUSED: ") + c.object + ": " + c.description + "\n";
  }
  return out;
}

// A signature whose bytes are exactly determined and whose later changes
// are all allowed.
void check_clean(const Signature& s) {
  BOOST_TEST(s.problems.empty(), s.field_name << ":\n" << all_problems(s));
  BOOST_TEST(s.changes_compared, s.field_name);
  BOOST_TEST(s.disallowed_change == "", s.field_name << ":\n" << all_changes(s));
  for (const Change& c : s.changes) BOOST_TEST(c.allowed, c.object << ": " << c.description);
}

// The disallowed change of `s` names `phrase`.
void check_refused(const Signature& s, const std::string& phrase) {
  BOOST_TEST(s.problems.empty(), s.field_name << ":\n" << all_problems(s));
  BOOST_TEST(s.changes_compared);
  BOOST_TEST(has(s.disallowed_change, phrase), "'" << s.disallowed_change << "' lacks '" << phrase
                                                   << "'\n"
                                                   << all_changes(s));
  BOOST_TEST(has(s.disallowed_change, "after '" + s.field_name + "' was signed, "));
}

bool problems_have(const Signature& s, const std::string& phrase) {
  return has(all_problems(s), phrase);
}

// An object's reference inside another's text: "/Parent 2 0 R" -> 2.
int ref_after(const std::string& text, const std::string& key) {
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(text, m, std::regex(key + " (\\d+) 0 R")));
  return std::stoi(m[1]);
}

// Rewrites bytes in place (same length), as a forger patching a file would.
std::string patch(std::string pdf, size_t at, const std::string& bytes) {
  BOOST_REQUIRE(at + bytes.size() <= pdf.size());
  pdf.replace(at, bytes.size(), bytes);
  return pdf;
}

std::string byte_range_text(const SignatureLocation& loc, std::int64_t a, std::int64_t b,
                            std::int64_t c) {
  std::string text = "[0 " + std::to_string(a) + " " + std::to_string(b) + " " + std::to_string(c);
  BOOST_REQUIRE(text.size() + 1 <= loc.byte_range_length);
  return text + std::string(loc.byte_range_length - 1 - text.size(), ' ') + "]";
}

}  // namespace

// --------------------------------------------------------- honest documents

BOOST_AUTO_TEST_CASE(one_signature_covering_the_whole_file) {
  const std::string pdf = signed_once();
  const Document doc = read(pdf);
  BOOST_TEST(doc.problem == FileProblem::none, doc.problem_detail);
  BOOST_TEST(doc.size == pdf.size());
  BOOST_TEST(doc.revisions == 2);
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  const Signature& s = doc.signatures[0];
  check_clean(s);
  BOOST_TEST(s.field_name == "Sig1");
  BOOST_TEST(s.type == "Sig");
  BOOST_TEST(s.filter == "Adobe.PPKLite");
  BOOST_TEST(s.sub_filter == "ETSI.CAdES.detached");
  BOOST_TEST(s.reason == "Ky so van ban");
  BOOST_TEST(s.location == "Quang Tri");
  BOOST_TEST(has(s.m, "D:20"));
  BOOST_TEST(s.covers_whole_file);
  BOOST_TEST(s.revision == 2);
  BOOST_TEST(s.signed_length == pdf.size());
  BOOST_TEST(s.changes.empty());
  BOOST_TEST(!s.docmdp_p.has_value());
  const SignatureLocation loc = locate_signature(pdf, "Sig1");
  BOOST_TEST(s.byte_range == loc.byte_range);
  BOOST_TEST(s.object == std::to_string(loc.object) + " 0 R");
  BOOST_TEST(s.contents.size() == 8192u);
  BOOST_TEST(s.contents[0] == '\x30');  // a DER SEQUENCE, then zero padding
  BOOST_TEST(doc.unreferenced_signature_dictionaries.empty());
}

BOOST_AUTO_TEST_CASE(two_signatures_the_second_is_the_first_ones_allowed_change) {
  const std::string pdf = sign_pdf(signed_once(), signer("dakrong"), field("Sig2"));
  const Document doc = read(pdf);
  BOOST_REQUIRE(doc.problem == FileProblem::none);
  BOOST_TEST(doc.revisions == 3);
  BOOST_REQUIRE(doc.signatures.size() == 2u);
  BOOST_TEST(doc.signatures[0].field_name == "Sig1");  // in signing order
  BOOST_TEST(doc.signatures[1].field_name == "Sig2");
  const Signature& first = doc.signatures[0];
  check_clean(first);
  BOOST_TEST(!first.covers_whole_file);
  BOOST_TEST(first.revision == 2);
  BOOST_TEST(has(all_changes(first), "a new signature field 'Sig2'"), all_changes(first));
  BOOST_TEST(has(all_changes(first), "the signature dictionary of 'Sig2'"));
  BOOST_TEST(has(all_changes(first), "signature widget was added to page 1"));
  check_clean(doc.signatures[1]);
  BOOST_TEST(doc.signatures[1].covers_whole_file);
  BOOST_TEST(doc.signatures[1].revision == 3);
}

BOOST_AUTO_TEST_CASE(pre_placed_empty_fields_are_listed_and_filling_them_is_allowed) {
  BaseOptions base;
  base.empty_signature_fields = 2;
  const std::string one = sign_pdf(make_base_pdf(base), signer(), field("Sig1"));
  const Document first = read(one);
  BOOST_REQUIRE(first.signatures.size() == 1u);
  BOOST_TEST(first.empty_signature_fields == std::vector<std::string>{"Sig2"});
  const Document doc = read(sign_pdf(one, signer("dakrong"), field("Sig2")));
  BOOST_REQUIRE(doc.signatures.size() == 2u);
  BOOST_TEST(doc.empty_signature_fields.empty());
  check_clean(doc.signatures[0]);
  BOOST_TEST(has(all_changes(doc.signatures[0]), "the empty signature field 'Sig2'"),
             all_changes(doc.signatures[0]));
  check_clean(doc.signatures[1]);
}

BOOST_AUTO_TEST_CASE(info_dictionary_changed_after_signing_is_allowed) {
  const std::string pdf = signed_once();
  const int info = next_object_number(pdf);
  Update u;
  u.objects[info] = "<< /Title (Quyet dinh) /ModDate (D:20261130090000Z) >>";
  u.trailer["Info"] = std::to_string(info) + " 0 R";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_clean(doc.signatures[0]);
  BOOST_TEST(has(all_changes(doc.signatures[0]), "the document information dictionary"));
}

BOOST_AUTO_TEST_CASE(a_dss_added_after_signing_is_allowed) {
  const std::string pdf = signed_once();
  const int catalog = catalog_object(pdf), dss = next_object_number(pdf);
  std::string text = object_text(pdf, catalog);
  text = text.substr(0, text.rfind(">>")) + " /DSS " + std::to_string(dss) + " 0 R >>";
  Update u;
  u.objects[catalog] = text;
  u.objects[dss] = "<< /Certs [" + std::to_string(dss + 1) + " 0 R] >>";
  u.objects[dss + 1] = "<< >>\nstream\n0123456789\nendstream";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_clean(doc.signatures[0]);
  BOOST_TEST(has(all_changes(doc.signatures[0]), "changed only in /DSS"),
             all_changes(doc.signatures[0]));
  BOOST_TEST(has(all_changes(doc.signatures[0]), "validation data in the DSS"));
}

BOOST_AUTO_TEST_CASE(a_font_added_to_the_form_resources_is_allowed_a_changed_one_is_not) {
  // Acrobat adds /Helv to /AcroForm /DR as it signs.
  const std::string pdf = signed_once();
  const int catalog = catalog_object(pdf), font = next_object_number(pdf);
  const std::string text = object_text(pdf, catalog);
  const size_t fields = text.find("/Fields");
  BOOST_REQUIRE(fields != std::string::npos);
  Update u;
  u.objects[catalog] = text.substr(0, fields) + "/DR << /Font << /Helv " + std::to_string(font) +
                       " 0 R >> >> " + text.substr(fields);
  u.objects[font] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
  const std::string grown = append_update(pdf, u);
  const Document doc = read(grown);
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_clean(doc.signatures[0]);
  BOOST_TEST(has(all_changes(doc.signatures[0]), "was added to the form's resources"),
             all_changes(doc.signatures[0]));

  // Once signed with it, replacing that font is a change.
  const std::string signed_again = sign_pdf(grown, signer("dakrong"), field("Sig2"));
  Update v;
  v.objects[font] = "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>";
  const Document after = read(append_update(signed_again, v));
  BOOST_REQUIRE(after.signatures.size() == 2u);
  check_refused(after.signatures[1],
                std::to_string(font) +
                    " 0 R (a /Font /Type1, at the catalog's /AcroForm/DR/Font/Helv) was replaced");
}

BOOST_AUTO_TEST_CASE(a_document_timestamp_is_read_as_one) {
  SignOptions ts = field("TS1");
  ts.sub_filter = "ETSI.RFC3161";
  const Document doc = read(sign_pdf(signed_once(), signer("tsa"), ts));
  BOOST_REQUIRE(doc.signatures.size() == 2u);
  check_clean(doc.signatures[0]);
  BOOST_TEST(doc.signatures[1].type == "DocTimeStamp");
  BOOST_TEST(doc.signatures[1].sub_filter == "ETSI.RFC3161");
  BOOST_TEST(has(all_changes(doc.signatures[0]), "the document timestamp dictionary of 'TS1'"),
             all_changes(doc.signatures[0]));
}

BOOST_AUTO_TEST_CASE(a_file_with_object_streams_is_read_and_compared) {
  BaseOptions base;
  base.object_streams = true;
  const std::string one = signed_once(base);
  const std::string two = sign_pdf(one, signer("dakrong"), field("Sig2"));
  const Document doc = read(two);
  BOOST_TEST(doc.problem == FileProblem::none, doc.problem_detail);
  BOOST_REQUIRE(doc.signatures.size() == 2u);
  check_clean(doc.signatures[0]);
  check_clean(doc.signatures[1]);
  BOOST_TEST(!doc.signatures[0].changes.empty());

  // The font lives in an object stream: overriding it is still seen.
  const int font = ref_after(object_text(one, page_object(one, 0)), "/F1");
  Update u;
  u.objects[font] = "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>";
  const Document hidden = read(append_update(one, u));
  BOOST_REQUIRE(hidden.signatures.size() == 1u);
  check_refused(hidden.signatures[0], std::to_string(font) + " 0 R (a /Font /Type1 used by page 1");
}

// ----------------------------------------------------- changes after signing

BOOST_AUTO_TEST_CASE(content_appended_after_signing_is_refused_naming_the_page_content) {
  const std::string pdf = signed_once();
  const int content = content_object(pdf, 0);
  Update u;
  u.objects[content] = "<< >>\nstream\nBT /F1 14 Tf 72 770 Td (Quyet dinh so 999) Tj ET\nendstream";
  const Document doc = read(append_update(pdf, u));
  BOOST_TEST(doc.problem == FileProblem::none);
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0],
                "the content stream of page 1 (" + std::to_string(content) + " 0 R) was changed");
  BOOST_TEST(doc.revisions == 3);
}

BOOST_AUTO_TEST_CASE(content_changed_between_two_signatures_is_the_first_ones_refusal) {
  // Shadow "replace": the page content replaced, then signed over by a
  // second signer; only the first signature can tell.
  const std::string one = signed_once();
  const int content = content_object(one, 0);
  Update u;
  u.objects[content] = "<< >>\nstream\nBT /F1 14 Tf 72 770 Td (Da thay) Tj ET\nendstream";
  const std::string two = sign_pdf(append_update(one, u), signer("dakrong"), field("Sig2"));
  const Document doc = read(two);
  BOOST_REQUIRE(doc.signatures.size() == 2u);
  check_refused(doc.signatures[0], "the content stream of page 1");
  check_clean(doc.signatures[1]);
  // The second signature's own additions are still listed as allowed.
  BOOST_TEST(has(all_changes(doc.signatures[0]), "a new signature field 'Sig2'"));
}

BOOST_AUTO_TEST_CASE(a_text_annotation_added_after_signing_is_refused) {
  const std::string pdf = signed_once();
  const int page = page_object(pdf, 0), annot = next_object_number(pdf);
  std::string text = object_text(pdf, page);
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(text, m, std::regex("/Annots \\[([^\\]]*)\\]")));
  text = std::string(m.prefix()) + "/Annots [" + std::string(m[1]) + " " + std::to_string(annot) +
         " 0 R]" + std::string(m.suffix());
  Update u;
  u.objects[page] = text;
  u.objects[annot] = "<< /Type /Annot /Subtype /Text /Rect [300 700 320 720] /Contents (Da sua) >>";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0],
                "a /Text annotation (" + std::to_string(annot) + " 0 R) was added to page 1");
}

BOOST_AUTO_TEST_CASE(descriptions_are_valid_utf8_whatever_bytes_the_pdf_names_hold) {
  // /T#E9xt is the name "T\xe9xt" with a raw byte: the description quoting
  // it must still go into a JSON report.
  const std::string pdf = signed_once();
  const int page = page_object(pdf, 0), annot = next_object_number(pdf);
  std::string text = object_text(pdf, page);
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(text, m, std::regex("/Annots \\[([^\\]]*)\\]")));
  text = std::string(m.prefix()) + "/Annots [" + std::string(m[1]) + " " + std::to_string(annot) +
         " 0 R]" + std::string(m.suffix());
  Update u;
  u.objects[page] = text;
  u.objects[annot] = "<< /Type /Annot /Subtype /T#E9xt /Rect [300 700 320 720] >>";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  const std::string& refusal = doc.signatures[0].disallowed_change;
  BOOST_TEST(has(refusal, "xt annotation (" + std::to_string(annot) + " 0 R) was added to page 1"),
             refusal);
  BOOST_TEST(valid_utf8(refusal) == refusal);
  BOOST_TEST(has(refusal, "\xef\xbf\xbd"));  // U+FFFD where the byte was
}

BOOST_AUTO_TEST_CASE(a_page_added_after_signing_is_refused) {
  const std::string pdf = signed_once();
  const int first = page_object(pdf, 0);
  const int pages = ref_after(object_text(pdf, catalog_object(pdf)), "/Pages");
  const int added = next_object_number(pdf);
  Update u;
  u.objects[pages] = "<< /Type /Pages /Kids [" + std::to_string(first) + " 0 R " +
                     std::to_string(added) + " 0 R] /Count 2 >>";
  u.objects[added] = "<< /Type /Page /Parent " + std::to_string(pages) +
                     " 0 R /MediaBox [0 0 595 842] /Contents " +
                     std::to_string(content_object(pdf, 0)) + " 0 R >>";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0], "page 2 (" + std::to_string(added) + " 0 R) was added");
}

BOOST_AUTO_TEST_CASE(a_page_removed_after_signing_is_refused) {
  BaseOptions base;
  base.pages = 2;
  const std::string pdf = signed_once(base);
  const int first = page_object(pdf, 0), second = page_object(pdf, 1);
  const int pages = ref_after(object_text(pdf, catalog_object(pdf)), "/Pages");
  Update u;
  u.objects[pages] = "<< /Type /Pages /Kids [" + std::to_string(first) + " 0 R] /Count 1 >>";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0], "page 2 (" + std::to_string(second) + " 0 R) was removed");
}

BOOST_AUTO_TEST_CASE(shadow_hide_an_image_overridden_in_a_later_revision_is_refused) {
  BaseOptions base;
  base.padding_bytes = 2048;
  const std::string pdf = signed_once(base);
  const int image = ref_after(object_text(pdf, page_object(pdf, 0)), "/Im1");
  Update u;
  u.objects[image] =
      "<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray "
      "/BitsPerComponent 8 >>\nstream\n\xff\nendstream";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0], std::to_string(image) +
                                       " 0 R (a /XObject /Image used by page 1 at "
                                       "/Resources/XObject/Im1) was replaced");
}

BOOST_AUTO_TEST_CASE(a_font_freed_after_signing_is_refused_though_nothing_points_at_it) {
  // qpdf reads /F1 of a freed object as absent: the page shows no
  // dangling reference, the signed revision says what was lost.
  const std::string pdf = signed_once();
  const int font = ref_after(object_text(pdf, page_object(pdf, 0)), "/F1");
  Update u;
  u.freed.push_back(font);
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0], std::to_string(font) +
                                       " 0 R (a /Font /Type1), used by page 1 at "
                                       "/Resources/Font/F1 when it was signed, was deleted");
}

BOOST_AUTO_TEST_CASE(a_reference_to_nothing_signed_then_filled_in_is_refused) {
  // The signed page lists an annotation that does not exist yet (a null to
  // every reader); an update later makes it a real /Text annotation.
  const std::string base = make_base_pdf();
  const int page = page_object(base, 0), later = next_object_number(base) + 10;
  std::string text = object_text(base, page);
  text = text.substr(0, text.rfind(">>")) + " /Annots [" + std::to_string(later) + " 0 R] >>";
  Update prepare;
  prepare.objects[page] = text;
  const std::string pdf = sign_pdf(append_update(base, prepare), signer(), field("Sig1"));
  Update u;
  u.objects[later] = "<< /Type /Annot /Subtype /Text /Rect [300 700 320 720] /Contents (Da sua) >>";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0],
                "a /Text annotation (" + std::to_string(later) + " 0 R) was added to page 1");
}

BOOST_AUTO_TEST_CASE(a_new_catalog_object_is_compared_as_the_catalog) {
  const std::string pdf = signed_once();
  const int catalog = catalog_object(pdf), replacement = next_object_number(pdf);
  std::string text = object_text(pdf, catalog);
  text =
      text.substr(0, text.rfind(">>")) + " /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>";
  Update u;
  u.objects[replacement] = text;
  u.trailer["Root"] = std::to_string(replacement) + " 0 R";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0], "the catalog's /OpenAction was added");
}

// A PDF written by hand, as the fixture writer does not make this one: the
// font 5 0 R lives in object stream 6 0 R whose /First is the indirect
// integer 7 0 R, and the stream holds two fonts. Signed with /First at the
// Helvetica one, then 7 0 R alone is overridden to point at the Courier
// one: no entry of 5 0 R or 6 0 R changes, yet 5 0 R reads differently.
std::string object_stream_with_indirect_first(std::string& courier_first) {
  const std::string helvetica = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
  const std::string courier = "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>";
  const std::string header = "5 0 ";
  const std::string data = header + helvetica + " " + courier;
  courier_first = std::to_string(header.size() + helvetica.size() + 1);
  const std::string content = "BT /F1 12 Tf 72 720 Td (Quyet dinh) Tj ET";
  const std::map<int, std::string> objects = {
      {1, "<< /Type /Catalog /Pages 2 0 R >>"},
      {2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"},
      {3,
       "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
       "/Resources << /Font << /F1 5 0 R >> >> >>"},
      {4,
       "<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "\nendstream"},
      {6, "<< /Type /ObjStm /N 1 /First 7 0 R /Length " + std::to_string(data.size()) +
              " >>\nstream\n" + data + "\nendstream"},
      {7, std::to_string(header.size())},
  };
  std::string pdf = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
  std::map<int, size_t> offsets;
  for (const auto& [n, body] : objects) {
    offsets[n] = pdf.size();
    pdf += std::to_string(n) + " 0 obj\n" + body + "\nendobj\n";
  }
  // An xref stream (object 8): W [1 4 2], object 5 in stream 6 at index 0.
  const size_t xref_at = pdf.size();
  std::string rows;
  auto row = [&rows](int type, size_t field2, int field3) {
    rows += static_cast<char>(type);
    for (int shift = 24; shift >= 0; shift -= 8)
      rows += static_cast<char>((field2 >> shift) & 0xff);
    rows += static_cast<char>((field3 >> 8) & 0xff);
    rows += static_cast<char>(field3 & 0xff);
  };
  for (int n = 0; n <= 8; ++n) {
    if (n == 0)
      row(0, 0, 65535);
    else if (n == 5)
      row(2, 6, 0);
    else if (n == 8)
      row(1, xref_at, 0);
    else
      row(1, offsets[n], 0);
  }
  pdf += "8 0 obj\n<< /Type /XRef /Size 9 /W [1 4 2] /Root 1 0 R /Length " +
         std::to_string(rows.size()) + " >>\nstream\n" + rows + "\nendstream\nendobj\nstartxref\n" +
         std::to_string(xref_at) + "\n%%EOF\n";
  return pdf;
}

BOOST_AUTO_TEST_CASE(shadow_an_object_stream_reread_through_its_indirect_first_is_refused) {
  std::string courier_first;
  const std::string base = object_stream_with_indirect_first(courier_first);
  BOOST_REQUIRE(has(object_text(base, 5), "/Helvetica"));
  const std::string pdf = sign_pdf(base, signer(), field("Sig1"));
  Update u;
  u.objects[7] = courier_first;
  const std::string attacked = append_update(pdf, u);
  BOOST_REQUIRE(has(object_text(attacked, 5), "/Courier"));
  const Document doc = read(attacked);
  BOOST_TEST(doc.problem == FileProblem::none, doc.problem_detail);
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0],
                "5 0 R (a /Font /Type1 used by page 1 at /Resources/Font/F1) was replaced");
}

BOOST_AUTO_TEST_CASE(a_page_tree_made_cyclic_after_signing_cannot_be_compared) {
  // Roles come from walking the page tree; a tree the walk cannot follow
  // whole would leave pages looking unused, so no comparison is made.
  const std::string pdf = signed_once();
  const int first = page_object(pdf, 0);
  const int pages = ref_after(object_text(pdf, catalog_object(pdf)), "/Pages");
  Update u;
  u.objects[pages] = "<< /Type /Pages /Kids [" + std::to_string(first) + " 0 R " +
                     std::to_string(pages) + " 0 R] /Count 1 >>";
  const Document doc = read(append_update(pdf, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  const Signature& s = doc.signatures[0];
  BOOST_TEST(problems_have(s, "page tree is irregular"), all_problems(s));
  BOOST_TEST(!s.changes_compared);
}

BOOST_AUTO_TEST_CASE(a_rewritten_earlier_signature_dictionary_is_refused) {
  const std::string one = signed_once();
  const SignatureLocation loc = locate_signature(one, "Sig1");
  // The same /ByteRange and /Contents, a different /Reason: the signed
  // revision still holds the original, the final document the rewrite.
  std::string text = object_text(one, loc.object);
  text = std::regex_replace(text, std::regex("Ky so van ban"), "Da thay ly do");
  Update u;
  u.objects[loc.object] = text;
  const Document doc = read(append_update(one, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0], "the signature dictionary of 'Sig1' (" +
                                       std::to_string(loc.object) + " 0 R) was rewritten");
}

BOOST_AUTO_TEST_CASE(docmdp_p1_refuses_a_later_signature_and_p2_allows_it) {
  for (int p : {1, 2}) {
    BOOST_TEST_CONTEXT("P=" << p) {
      SignOptions cert = field("Sig1");
      cert.docmdp_p = p;
      const std::string one = sign_pdf(make_base_pdf(), signer(), cert);
      const Document doc = read(sign_pdf(one, signer("dakrong"), field("Sig2")));
      BOOST_REQUIRE(doc.signatures.size() == 2u);
      BOOST_TEST(doc.signatures[0].docmdp_p.value_or(0) == p);
      if (p == 1) {
        check_refused(doc.signatures[0], "DocMDP (P=1) does not allow");
      } else {
        check_clean(doc.signatures[0]);
      }
      check_clean(doc.signatures[1]);
    }
  }
}

BOOST_AUTO_TEST_CASE(docmdp_p1_still_allows_a_document_timestamp_and_a_dss) {
  SignOptions cert = field("Sig1");
  cert.docmdp_p = 1;
  SignOptions ts = field("TS1");
  ts.sub_filter = "ETSI.RFC3161";
  const std::string pdf = sign_pdf(sign_pdf(make_base_pdf(), signer(), cert), signer("tsa"), ts);
  const Document doc = read(pdf);
  BOOST_REQUIRE(doc.signatures.size() == 2u);
  check_clean(doc.signatures[0]);
}

BOOST_AUTO_TEST_CASE(what_pdfsig_calls_valid_is_refused_here) {
  // The bar: poppler's pdfsig checks the CMS over the ByteRange and says
  // "Signature is Valid" for content appended after signing.
  const std::string pdf = signed_once();
  Update u;
  u.objects[content_object(pdf, 0)] =
      "<< >>\nstream\nBT /F1 14 Tf 72 770 Td (Quyet dinh so 999) Tj ET\nendstream";
  const std::string attacked = append_update(pdf, u);
  test::TempDir dir;
  test::write(dir / "attacked.pdf", attacked);
  const PdfsigResult pdfsig = run_pdfsig((dir / "attacked.pdf").string());
  if (pdfsig.ran) {
    BOOST_TEST(has(pdfsig.output, "Signature is Valid"), pdfsig.output);
  } else {
    BOOST_TEST_MESSAGE("pdfsig is not installed: the cross-check is skipped");
  }
  const Document doc = read(attacked);
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_refused(doc.signatures[0], "the content stream of page 1");
}

// ------------------------------------------------ the signature's own bytes

BOOST_AUTO_TEST_CASE(a_byte_range_short_of_the_revision_end_is_refused) {
  const std::string pdf = signed_once();
  const SignatureLocation loc = locate_signature(pdf, "Sig1");
  const auto& br = loc.byte_range;
  const Document doc =
      read(patch(pdf, loc.byte_range_offset, byte_range_text(loc, br[1], br[2], br[3] - 10)));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  const Signature& s = doc.signatures[0];
  BOOST_TEST(problems_have(s, "which is not the end of a revision"), all_problems(s));
  BOOST_TEST(!s.covers_whole_file);
  BOOST_TEST(!s.changes_compared);
}

BOOST_AUTO_TEST_CASE(a_byte_range_beyond_the_file_is_refused) {
  const std::string pdf = signed_once();
  const SignatureLocation loc = locate_signature(pdf, "Sig1");
  const auto& br = loc.byte_range;
  const Document doc =
      read(patch(pdf, loc.byte_range_offset, byte_range_text(loc, br[1], br[2], br[3] + 1)));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  BOOST_TEST(problems_have(doc.signatures[0], "ends beyond the end of the file"),
             all_problems(doc.signatures[0]));
  BOOST_TEST(doc.signatures[0].signed_length == 0u);
}

BOOST_AUTO_TEST_CASE(a_gap_larger_than_the_contents_is_refused) {
  const std::string pdf = signed_once();
  const SignatureLocation loc = locate_signature(pdf, "Sig1");
  const auto& br = loc.byte_range;
  const Document doc =
      read(patch(pdf, loc.byte_range_offset, byte_range_text(loc, br[1] - 1, br[2], br[3])));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  BOOST_TEST(problems_have(doc.signatures[0], "does not start with '<'"),
             all_problems(doc.signatures[0]));
}

BOOST_AUTO_TEST_CASE(a_relocated_duplicate_signature_dictionary_is_refused) {
  // The signed dictionary copied as a new object whose /ByteRange covers
  // the whole final file (gap at the old place), the field re-pointed to it.
  const std::string one = signed_once();
  const SignatureLocation loc = locate_signature(one, "Sig1");
  const int field = ref_after(object_text(one, page_object(one, 0)), "/Annots \\[");
  const int copy = next_object_number(one);
  std::string sig_text = object_text(one, loc.object);
  std::string field_text = object_text(one, field);
  field_text = std::regex_replace(field_text, std::regex("/V \\d+ 0 R"),
                                  "/V " + std::to_string(copy) + " 0 R");
  const auto& br = loc.byte_range;
  // Two passes: the copy's /ByteRange names the final size, which depends
  // on the copy's text; fixed-width numbers make the second pass stable.
  std::string out;
  std::int64_t size = 0;
  for (int pass = 0; pass < 3; ++pass) {
    char range[96];
    std::snprintf(range, sizeof range, "/ByteRange [0 %lld %lld %010lld]",
                  static_cast<long long>(br[1]), static_cast<long long>(br[2]),
                  static_cast<long long>(size - br[2]));
    Update u;
    u.objects[copy] = std::regex_replace(sig_text, std::regex("/ByteRange \\[[^\\]]*\\]"), range);
    u.objects[field] = field_text;
    out = append_update(one, u);
    size = static_cast<std::int64_t>(out.size());
  }
  const Document doc = read(out);
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  const Signature& s = doc.signatures[0];
  BOOST_TEST(s.object == std::to_string(copy) + " 0 R");
  BOOST_TEST(s.signed_length == out.size());  // it claims the whole file...
  BOOST_TEST(problems_have(s, "is not inside the signature dictionary"), all_problems(s));
  // ... and the original dictionary is now referenced by no field.
  BOOST_TEST(doc.unreferenced_signature_dictionaries ==
             std::vector<std::string>{std::to_string(loc.object) + " 0 R"});
}

BOOST_AUTO_TEST_CASE(a_field_repointed_to_a_copy_with_the_same_byte_range_is_refused) {
  const std::string one = signed_once();
  const SignatureLocation loc = locate_signature(one, "Sig1");
  const int field = ref_after(object_text(one, page_object(one, 0)), "/Annots \\[");
  const int copy = next_object_number(one);
  Update u;
  u.objects[copy] = object_text(one, loc.object);
  u.objects[field] = std::regex_replace(object_text(one, field), std::regex("/V \\d+ 0 R"),
                                        "/V " + std::to_string(copy) + " 0 R");
  const Document doc = read(append_update(one, u));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  BOOST_TEST(problems_have(doc.signatures[0],
                           "the signed revision does not hold " + std::to_string(copy) + " 0 R"),
             all_problems(doc.signatures[0]));
}

BOOST_AUTO_TEST_CASE(zeroed_contents_leave_the_structure_intact) {
  const std::string pdf = signed_once();
  const SignatureLocation loc = locate_signature(pdf, "Sig1");
  const Document doc =
      read(patch(pdf, loc.contents_offset + 1, std::string(loc.contents_length - 2, '0')));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_clean(doc.signatures[0]);  // the CMS is crypto/'s to judge
  BOOST_TEST(doc.signatures[0].contents == std::string(8192, '\0'));
}

BOOST_AUTO_TEST_CASE(a_missing_contents_is_a_problem) {
  const std::string pdf = signed_once();
  const SignatureLocation loc = locate_signature(pdf, "Sig1");
  const size_t key = pdf.rfind("/Contents", loc.contents_offset);
  const Document doc = read(patch(pdf, key, "/Contentz"));
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  BOOST_TEST(problems_have(doc.signatures[0], "has no /Contents string"),
             all_problems(doc.signatures[0]));
  BOOST_TEST(doc.signatures[0].contents.empty());
}

BOOST_AUTO_TEST_CASE(an_unreferenced_byte_range_dictionary_is_listed) {
  const std::string pdf = signed_once();
  const int stray = next_object_number(pdf);
  Update u;
  u.objects[stray] = "<< /Type /Sig /ByteRange [0 10 20 30] /Contents <3082> >>";
  const Document doc = read(append_update(pdf, u));
  BOOST_TEST(doc.unreferenced_signature_dictionaries ==
             std::vector<std::string>{std::to_string(stray) + " 0 R"});
  BOOST_REQUIRE(doc.signatures.size() == 1u);
  check_clean(doc.signatures[0]);  // nothing the reader sees uses it
  BOOST_TEST(has(all_changes(doc.signatures[0]), "nothing in the document uses"));
}

// ------------------------------------------------------ the file as a whole

BOOST_AUTO_TEST_CASE(trailing_bytes_after_the_last_eof_are_refused) {
  const std::string pdf = signed_once();
  // One end-of-line after the %%EOF is fine, whichever; two are not.
  const std::string bare = pdf.substr(0, pdf.rfind("%%EOF") + 5);
  for (const char* eol : {"", "\n", "\r", "\r\n"}) {
    BOOST_TEST(read(bare + eol).problem == FileProblem::none, "'" << eol << "'");
  }
  BOOST_TEST(read(bare + "\n\n").problem == FileProblem::trailing_bytes);
  const Document doc = read(pdf + "junk");
  BOOST_TEST(doc.problem == FileProblem::trailing_bytes);
  BOOST_TEST(has(doc.problem_detail, "4 bytes follow the last %%EOF"), doc.problem_detail);
  BOOST_TEST(doc.signatures.empty());
  BOOST_TEST(pdf::file_problem_name(doc.problem) == std::string("trailing_bytes"));
  // Bytes with a %%EOF of their own but no xref section: qpdf still reads
  // the signed revision's section, yet they are no revision.
  const Document hidden = read(pdf + "1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n");
  BOOST_TEST(hidden.problem == FileProblem::trailing_bytes);
  BOOST_TEST(has(hidden.problem_detail, "belong to no revision"), hidden.problem_detail);
}

BOOST_AUTO_TEST_CASE(an_encrypted_file_is_refused) {
  test::TempDir dir;
  test::write(dir / "in.pdf", signed_once());
  // With a user password qpdf cannot even open it; with an empty one it can.
  for (const std::string user : {"u", ""}) {
    const test::CommandResult r =
        test::run("qpdf --encrypt " + (user.empty() ? std::string("''") : user) + " o 256 -- " +
                  test::quote(dir / "in.pdf") + " " + test::quote(dir / "out.pdf"));
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const Document doc = read(test::read(dir / "out.pdf"));
    BOOST_TEST(doc.problem == FileProblem::encrypted, "'" << user << "': " << doc.problem_detail);
    BOOST_TEST(doc.signatures.empty());
  }
}

BOOST_AUTO_TEST_CASE(a_file_that_needs_xref_recovery_is_refused) {
  std::string pdf = signed_once();
  // The first in-use entry of the last xref section, one byte off.
  const size_t xref = pdf.rfind("\nxref\n");
  const size_t entry = pdf.find(" 00000 n", xref);
  BOOST_REQUIRE(entry != std::string::npos);
  const size_t digit = entry - 1;
  pdf[digit] = pdf[digit] == '9' ? '8' : static_cast<char>(pdf[digit] + 1);
  const Document doc = read(pdf);
  BOOST_TEST(doc.problem == FileProblem::needs_recovery, doc.problem_detail);
  BOOST_TEST(doc.signatures.empty());
}

BOOST_AUTO_TEST_CASE(a_stream_qpdf_has_to_repair_makes_the_file_need_recovery) {
  // qpdf reads a stream whose /Length is wrong by searching for endstream,
  // with a warning and no exception even with recovery off.
  const std::string pdf = signed_once();
  Update u;
  u.objects[content_object(pdf, 0)] = "<< /Length 5 >>\nstream\nBT /F1 14 Tf ET\nendstream";
  const Document doc = read(append_update(pdf, u));
  BOOST_TEST(doc.problem == FileProblem::needs_recovery, doc.problem_detail);
  BOOST_TEST(has(doc.problem_detail, "expected endstream"), doc.problem_detail);
  BOOST_TEST(doc.signatures.empty());
}

BOOST_AUTO_TEST_CASE(what_is_not_a_pdf_or_too_large_says_so) {
  BOOST_TEST(read("hello").problem == FileProblem::not_pdf);
  BOOST_TEST(read("%PDF-1.7\nnothing else\n%%EOF\n").problem == FileProblem::not_pdf);
  BOOST_TEST(read(std::string(pdf::kMaxPdfBytes + 1, ' ')).problem == FileProblem::too_large);
  BOOST_TEST(pdf::looks_like_pdf(std::string(1000, ' ') + "%PDF-1.4"));
  BOOST_TEST(!pdf::looks_like_pdf(std::string(1030, ' ') + "%PDF-1.4"));
  BOOST_TEST(!pdf::qpdf_version().empty());
}

BOOST_AUTO_TEST_CASE(an_unsigned_file_has_no_signatures) {
  const Document doc = read(make_base_pdf());
  BOOST_TEST(doc.problem == FileProblem::none, doc.problem_detail);
  BOOST_TEST(doc.revisions == 1);
  BOOST_TEST(doc.signatures.empty());
}
