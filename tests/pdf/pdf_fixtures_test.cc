// The signed-PDF fixture writer (tests/support/pdf_fixtures.h) checked by
// tools that owe it nothing: qpdf's own --check and strict reading, poppler's
// pdfsig, and the openssl command line on the bytes a signature covers. The
// PDF verifier's tests stand on these fixtures, so they must be right for
// reasons other than our own reader agreeing with our own writer.
#define BOOST_TEST_MODULE pdf_fixtures
#include <boost/test/unit_test.hpp>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
// qpdf 11 warns unless told which PointerHolder API the code uses: none.
#define POINTERHOLDER_TRANSITION 4
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFObjectHandle.hh>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/pdf_fixtures.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace edocgw::test::pdf;
using test::pki;

namespace {

Signer signer(const std::string& name) {
  return sample_signer(pki().string(), name);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string stream_text(QPDF& qpdf, int objnum) {
  auto data = qpdf.getObjectByID(objnum, 0).getStreamData(qpdf_dl_generalized);
  return std::string(reinterpret_cast<const char*>(data->getBuffer()), data->getSize());
}

// `qpdf --check` on the bytes: exit code 0 and not one warning.
void check_with_qpdf_cli(const std::string& pdf, const std::string& what) {
  test::TempDir dir;
  test::write(dir / "check.pdf", pdf);
  const test::CommandResult r = test::run("qpdf --check " + test::quote(dir / "check.pdf"));
  BOOST_TEST(r.exit_code == 0, what << ": qpdf --check exit code " << r.exit_code << "\n"
                                    << r.out << r.err);
  BOOST_TEST(r.out.find("WARNING") == std::string::npos, what << ": " << r.out);
  BOOST_TEST(r.err.find("WARNING") == std::string::npos, what << ": " << r.err);
  BOOST_TEST(r.out.find("No syntax or stream encoding errors") != std::string::npos,
             what << ": " << r.out);
}

// The library, with recovery off: a broken xref section throws or warns.
struct StrictRead {
  explicit StrictRead(const std::string& pdf) : bytes(pdf) {
    qpdf.setSuppressWarnings(true);
    qpdf.setAttemptRecovery(false);
    qpdf.processMemoryFile("strict.pdf", bytes.data(), bytes.size());
    for (QPDFObjectHandle object : qpdf.getAllObjects())
      if (object.isStream()) object.getStreamData(qpdf_dl_generalized);
  }
  std::string bytes;
  QPDF qpdf;
};

void check_strictly_readable(const std::string& pdf, const std::string& what) {
  try {
    StrictRead read(pdf);
    BOOST_TEST(!read.qpdf.anyWarnings(), what << ": qpdf warned");
  } catch (const std::exception& e) {
    BOOST_ERROR(what << ": qpdf could not read it without recovery: " << e.what());
  }
}

PdfsigResult pdfsig(const std::string& pdf) {
  test::TempDir dir;
  test::write(dir / "signed.pdf", pdf);
  return run_pdfsig((dir / "signed.pdf").string());
}

// pdfsig lists `fields` signature fields of which `valid` say
// "Signature is Valid." (poppler does not verify ETSI.RFC3161 timestamps).
void check_with_pdfsig(const std::string& pdf, size_t fields, size_t valid,
                       const std::string& what) {
  const PdfsigResult r = pdfsig(pdf);
  if (!r.ran) {
    BOOST_TEST_MESSAGE(what << ": pdfsig is not installed, cross-check skipped");
    return;
  }
  BOOST_TEST(count(r.output, "Signature #") == fields, what << ":\n" << r.output);
  BOOST_TEST(count(r.output, "Signature is Valid.") == valid, what << ":\n" << r.output);
}

// The DER of /Contents without the zero padding after it.
std::string contents_der(const std::string& pdf, const SignatureLocation& loc) {
  const std::string hex = pdf.substr(loc.contents_offset + 1, loc.contents_length - 2);
  std::string der;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    der += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  BOOST_REQUIRE(der.size() > 4 && static_cast<unsigned char>(der[0]) == 0x30);
  const auto b = [&](size_t i) { return static_cast<unsigned char>(der[i]); };
  size_t total = 0;
  if (b(1) < 0x80) {
    total = 2 + b(1);
  } else {
    const size_t n = b(1) & 0x7f;
    size_t len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | b(2 + i);
    total = 2 + n + len;
  }
  BOOST_REQUIRE(total <= der.size());
  return der.substr(0, total);
}

std::string signed_ranges(const std::string& pdf, const SignatureLocation& loc) {
  BOOST_REQUIRE(loc.byte_range.size() == 4u);
  return pdf.substr(loc.byte_range[0], loc.byte_range[1]) +
         pdf.substr(loc.byte_range[2], loc.byte_range[3]);
}

// `openssl cms -verify` of one signature over the bytes it covers, trusting
// the sample root and issuing CA.
test::CommandResult openssl_cms_verify(const std::string& pdf, const std::string& field) {
  const SignatureLocation loc = locate_signature(pdf, field);
  test::TempDir dir;
  test::write(dir / "contents.der", contents_der(pdf, loc));
  test::write(dir / "ranges.bin", signed_ranges(pdf, loc));
  return test::run("openssl cms -verify -binary -inform DER -in " +
                   test::quote(dir / "contents.der") + " -content " +
                   test::quote(dir / "ranges.bin") + " -CAfile " + test::quote(pki("chain.pem")) +
                   " -purpose any -out /dev/null");
}

// `openssl ts -verify` of a document timestamp over the bytes it covers.
test::CommandResult openssl_ts_verify(const std::string& pdf, const std::string& field) {
  const SignatureLocation loc = locate_signature(pdf, field);
  test::TempDir dir;
  test::write(dir / "token.der", contents_der(pdf, loc));
  test::write(dir / "ranges.bin", signed_ranges(pdf, loc));
  return test::run("openssl ts -verify -token_in -in " + test::quote(dir / "token.der") +
                   " -data " + test::quote(dir / "ranges.bin") + " -CAfile " +
                   test::quote(pki("chain.pem")));
}

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Free(p); }
};
using CmsPtr = std::unique_ptr<CMS_ContentInfo, Deleter<CMS_ContentInfo, CMS_ContentInfo_free>>;

// The signature timestamp of the field's first SignerInfo checked by
// `openssl ts -verify` against the SHA-256 of the signature value.
test::CommandResult openssl_verify_signature_timestamp(const std::string& pdf,
                                                       const std::string& field) {
  const std::string der = contents_der(pdf, locate_signature(pdf, field));
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  BOOST_REQUIRE(cms);
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);
  BOOST_REQUIRE(si);
  const int at = CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken, -1);
  BOOST_REQUIRE(at >= 0);
  const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(CMS_unsigned_get_attr(si, at), 0);
  BOOST_REQUIRE(value && value->type == V_ASN1_SEQUENCE);
  const std::string token(reinterpret_cast<const char*>(value->value.sequence->data),
                          value->value.sequence->length);
  const ASN1_OCTET_STRING* sig = CMS_SignerInfo_get0_signature(si);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  BOOST_REQUIRE(EVP_Digest(ASN1_STRING_get0_data(sig), ASN1_STRING_length(sig), md, &md_len,
                           EVP_sha256(), nullptr));
  std::string hex;
  for (unsigned i = 0; i < md_len; ++i) {
    char two[3];
    std::snprintf(two, sizeof two, "%02x", md[i]);
    hex += two;
  }
  test::TempDir dir;
  test::write(dir / "token.der", token);
  return test::run("openssl ts -verify -token_in -in " + test::quote(dir / "token.der") +
                   " -digest " + hex + " -CAfile " + test::quote(pki("chain.pem")));
}

// One honest signed fixture and what the independent tools must say of it.
struct Variant {
  std::string name;
  std::function<std::string()> make;
  size_t fields, valid;              // pdfsig: signature fields, "Signature is Valid." lines
  std::string first_field = "Sig1";  // checked by openssl cms -verify
};

SignOptions field(const std::string& name) {
  SignOptions o;
  o.field_name = name;
  return o;
}

std::vector<Variant> honest_variants() {
  std::vector<Variant> v;
  v.push_back(
      {"one signature", [] { return sign_pdf(make_base_pdf(), signer("huong-hoa")); }, 1, 1});
  v.push_back({"the official (personal) first, the organisation second",
               [] {
                 const std::string one = sign_pdf(make_base_pdf(), signer("personal"));
                 return sign_pdf(one, signer("huong-hoa"), field("Sig2"));
               },
               2, 2});
  v.push_back({"the organisation first, the official (personal) second",
               [] {
                 const std::string one = sign_pdf(make_base_pdf(), signer("huong-hoa"));
                 return sign_pdf(one, signer("personal"), field("Sig2"));
               },
               2, 2});
  v.push_back({"pre-placed empty fields filled",
               [] {
                 BaseOptions base;
                 base.pages = 3;
                 base.empty_signature_fields = 2;
                 const std::string one = sign_pdf(make_base_pdf(base), signer("personal"));
                 return sign_pdf(one, signer("huong-hoa"), field("Sig2"));
               },
               2, 2});
  v.push_back({"adbe.pkcs7.detached",
               [] {
                 SignOptions o;
                 o.sub_filter = "adbe.pkcs7.detached";
                 o.ess_signing_certificate_v2 = false;
                 return sign_pdf(make_base_pdf(), signer("huong-hoa"), o);
               },
               1, 1});
  v.push_back({"adbe.pkcs7.detached without signed attributes",
               [] {
                 SignOptions o;
                 o.sub_filter = "adbe.pkcs7.detached";
                 o.signed_attributes = false;
                 return sign_pdf(make_base_pdf(), signer("huong-hoa"), o);
               },
               1, 1});
  v.push_back({"with a signature timestamp",
               [] {
                 SignOptions o;
                 o.timestamp_by = signer("tsa");
                 return sign_pdf(make_base_pdf(), signer("huong-hoa"), o);
               },
               1, 1});
  v.push_back({"with a document timestamp after it",
               [] {
                 SignOptions ts = field("DocTimeStamp1");
                 ts.sub_filter = "ETSI.RFC3161";
                 return sign_pdf(sign_pdf(make_base_pdf(), signer("huong-hoa")), signer("tsa"), ts);
               },
               2, 1});
  v.push_back({"a certification signature (DocMDP P=2)",
               [] {
                 SignOptions o;
                 o.docmdp_p = 2;
                 return sign_pdf(make_base_pdf(), signer("huong-hoa"), o);
               },
               1, 1});
  v.push_back({"on a base with object streams and an xref stream, signed twice",
               [] {
                 BaseOptions base;
                 base.object_streams = true;
                 base.empty_signature_fields = 1;
                 const std::string one = sign_pdf(make_base_pdf(base), signer("personal"));
                 return sign_pdf(one, signer("huong-hoa"), field("Sig2"));
               },
               2, 2});
  return v;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_base_document_passes_qpdf_check) {
  struct Case {
    std::string name;
    BaseOptions options;
  };
  std::vector<Case> cases(6);
  cases[0].name = "one page";
  cases[1].name = "three pages";
  cases[1].options.pages = 3;
  cases[2].name = "with 300 KB of padding";
  cases[2].options.padding_bytes = 300000;
  cases[3].name = "with two empty signature fields";
  cases[3].options.empty_signature_fields = 2;
  cases[4].name = "with object streams";
  cases[4].options.object_streams = true;
  cases[5].name = "all of them";
  cases[5].options = {3, "Cong van so 45/UBND-VP", 300000, 2, true};
  for (const Case& c : cases) {
    const std::string pdf = make_base_pdf(c.options);
    check_with_qpdf_cli(pdf, c.name);
    check_strictly_readable(pdf, c.name);
    StrictRead read(pdf);
    BOOST_TEST(read.qpdf.getAllPages().size() == static_cast<size_t>(c.options.pages), c.name);
    BOOST_TEST(pdf.size() >= c.options.padding_bytes, c.name);
    BOOST_TEST((pdf.find("/ObjStm") != std::string::npos) == c.options.object_streams, c.name);
    BOOST_TEST((pdf.find("\nxref\n") != std::string::npos) == !c.options.object_streams, c.name);
    QPDFObjectHandle fields = read.qpdf.getRoot().getKey("/AcroForm").getKey("/Fields");
    const int placed = fields.isArray() ? fields.getArrayNItems() : 0;
    BOOST_TEST(placed == c.options.empty_signature_fields, c.name);
    for (int page = 0; page < c.options.pages; ++page) {
      const std::string content = stream_text(read.qpdf, content_object(pdf, page));
      BOOST_TEST(content.find("(" + c.options.text + ") Tj") != std::string::npos, content);
      BOOST_TEST((content.find("/Im1 Do") != std::string::npos) ==
                     (page == 0 && c.options.padding_bytes > 0),
                 content);
    }
  }
  // Deterministic: the same options give the same bytes.
  BOOST_TEST(make_base_pdf({2, "x", 1000, 1, false}) == make_base_pdf({2, "x", 1000, 1, false}));
}

BOOST_AUTO_TEST_CASE(every_honest_variant_is_valid_to_qpdf_pdfsig_and_openssl) {
  for (const Variant& v : honest_variants()) {
    BOOST_TEST_CONTEXT(v.name) {
      const std::string pdf = v.make();
      check_with_qpdf_cli(pdf, v.name);
      check_strictly_readable(pdf, v.name);
      check_with_pdfsig(pdf, v.fields, v.valid, v.name);
      const test::CommandResult cms = openssl_cms_verify(pdf, v.first_field);
      BOOST_TEST(cms.exit_code == 0, v.name << ": " << cms.err);
      BOOST_TEST(cms.err.find("Verification successful") != std::string::npos, cms.err);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_timestamps_verify_with_openssl_ts) {
  SignOptions o;
  o.timestamp_by = signer("tsa");
  o.timestamp_time = 1'790'000'000;
  const std::string signed_once = sign_pdf(make_base_pdf(), signer("huong-hoa"), o);
  const test::CommandResult sig_ts = openssl_verify_signature_timestamp(signed_once, "Sig1");
  BOOST_TEST(sig_ts.exit_code == 0, sig_ts.out << sig_ts.err);
  BOOST_TEST(sig_ts.out.find("Verification: OK") != std::string::npos, sig_ts.out);

  SignOptions doc = field("DocTimeStamp1");
  doc.sub_filter = "ETSI.RFC3161";
  const std::string stamped = sign_pdf(signed_once, signer("tsa"), doc);
  const test::CommandResult doc_ts = openssl_ts_verify(stamped, "DocTimeStamp1");
  BOOST_TEST(doc_ts.exit_code == 0, doc_ts.out << doc_ts.err);
  BOOST_TEST(doc_ts.out.find("Verification: OK") != std::string::npos, doc_ts.out);
  BOOST_TEST(object_text(stamped, locate_signature(stamped, "DocTimeStamp1").object)
                 .find("/Type /DocTimeStamp") != std::string::npos);

  // The same check fails on one changed byte of the covered range.
  std::string changed = stamped;
  const size_t at = changed.find("Quyet dinh");
  BOOST_REQUIRE(at != std::string::npos);
  changed[at] = 'X';
  BOOST_TEST(openssl_ts_verify(changed, "DocTimeStamp1").exit_code != 0);
}

BOOST_AUTO_TEST_CASE(a_certification_signature_is_named_in_the_catalog_perms) {
  SignOptions o;
  o.docmdp_p = 2;
  const std::string pdf = sign_pdf(make_base_pdf(), signer("huong-hoa"), o);
  const SignatureLocation loc = locate_signature(pdf, "Sig1");
  const std::string catalog = object_text(pdf, catalog_object(pdf));
  BOOST_TEST(catalog.find("/Perms") != std::string::npos, catalog);
  BOOST_TEST(catalog.find("/DocMDP " + std::to_string(loc.object) + " 0 R") != std::string::npos,
             catalog);
  const std::string sig = object_text(pdf, loc.object);
  BOOST_TEST(sig.find("/TransformMethod /DocMDP") != std::string::npos, sig);
  BOOST_TEST(sig.find("/P 2") != std::string::npos, sig);
}

BOOST_AUTO_TEST_CASE(one_changed_byte_is_caught_by_the_independent_checks) {
  const std::string pdf = sign_pdf(make_base_pdf(), signer("huong-hoa"));
  BOOST_REQUIRE(openssl_cms_verify(pdf, "Sig1").exit_code == 0);
  std::string changed = pdf;
  const size_t at = changed.find("Quyet dinh");
  BOOST_REQUIRE(at != std::string::npos);
  changed[at] = 'X';
  BOOST_TEST(openssl_cms_verify(changed, "Sig1").exit_code != 0);
  check_with_pdfsig(changed, 1, 0, "one byte changed");
  // Signed by the forged chain: the signature holds, but not to our root.
  const std::string rogue = sign_pdf(make_base_pdf(), signer("rogue-huong-hoa"));
  BOOST_TEST(openssl_cms_verify(rogue, "Sig1").exit_code != 0);
}

BOOST_AUTO_TEST_CASE(an_update_replaces_adds_and_frees_objects_and_qpdf_reads_it_strictly) {
  for (const bool object_streams : {false, true}) {
    BOOST_TEST_CONTEXT("object streams " << object_streams) {
      BaseOptions options;
      options.object_streams = object_streams;
      const std::string base = make_base_pdf(options);
      const int content = content_object(base, 0);
      const int added = next_object_number(base);

      Update first;
      first.objects[content] = "<< >>\nstream\nBT /F1 20 Tf 72 700 Td (Replaced) Tj ET\nendstream";
      first.objects[added] = "<< /Note (added by the update) >>";
      first.objects[added + 1] = "(a spare object)";
      first.trailer["Info"] = std::to_string(added) + " 0 R";
      const std::string updated = append_update(base, first);
      BOOST_TEST(updated.compare(0, base.size(), base) == 0);  // appended, nothing rewritten
      check_with_qpdf_cli(updated, "after the first update");
      check_strictly_readable(updated, "after the first update");
      {
        StrictRead read(updated);
        BOOST_TEST(stream_text(read.qpdf, content) == "BT /F1 20 Tf 72 700 Td (Replaced) Tj ET");
        BOOST_TEST(read.qpdf.getTrailer().getKey("/Info").getObjectID() == added);
      }
      BOOST_TEST(object_text(updated, added) == "<< /Note (added by the update) >>");
      BOOST_TEST(next_object_number(updated) == added + 2);

      Update second;
      second.freed = {added + 1};
      const std::string freed = append_update(updated, second);
      check_with_qpdf_cli(freed, "after freeing");
      check_strictly_readable(freed, "after freeing");
      StrictRead read(freed);
      BOOST_TEST(read.qpdf.getObjectByID(added + 1, 0).isNull());
      BOOST_TEST(read.qpdf.getTrailer().getKey("/Prev").getIntValue() ==
                 static_cast<long long>(updated.rfind("\nxref\n") + 1));
    }
  }
}

BOOST_AUTO_TEST_CASE(locate_signature_agrees_with_each_byte_range) {
  BaseOptions options;
  options.empty_signature_fields = 1;
  const std::string one = sign_pdf(make_base_pdf(options), signer("huong-hoa"));
  const std::string two = sign_pdf(one, signer("personal"), field("Sig2"));
  for (const auto& [name, size_when_signed] :
       std::vector<std::pair<std::string, size_t>>{{"Sig1", one.size()}, {"Sig2", two.size()}}) {
    BOOST_TEST_CONTEXT(name) {
      const SignatureLocation loc = locate_signature(two, name);
      BOOST_REQUIRE(loc.byte_range.size() == 4u);
      BOOST_TEST(loc.byte_range[0] == 0);
      BOOST_TEST(loc.byte_range[1] == static_cast<std::int64_t>(loc.contents_offset));
      BOOST_TEST(loc.byte_range[2] ==
                 static_cast<std::int64_t>(loc.contents_offset + loc.contents_length));
      BOOST_TEST(static_cast<size_t>(loc.byte_range[2] + loc.byte_range[3]) == size_when_signed);
      BOOST_TEST(two[loc.contents_offset] == '<');
      BOOST_TEST(two[loc.contents_offset + loc.contents_length - 1] == '>');
      BOOST_TEST(loc.contents_length == 2 * SignOptions{}.contents_reserve + 2);
      BOOST_TEST(two[loc.byte_range_offset] == '[');
      BOOST_TEST(two[loc.byte_range_offset + loc.byte_range_length - 1] == ']');
      BOOST_TEST(loc.byte_range_length ==
                 std::string("[0 0000000000 0000000000 0000000000]").size());
      BOOST_TEST(object_text(two, loc.object).find("/Type /Sig") != std::string::npos);
    }
  }
  BOOST_CHECK_THROW(locate_signature(two, "NoSuchField"), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(fields_are_added_through_indirect_annots_fields_and_acroform) {
  // A base whose page /Annots, AcroForm and /Fields are objects of their own,
  // as some producers write them: the signer must extend those objects.
  const std::string base = make_base_pdf();
  const int annots = next_object_number(base), acroform = annots + 1, fields = annots + 2;
  const auto without_close = [](std::string dict) { return dict.substr(0, dict.rfind(">>")); };
  Update update;
  update.objects[annots] = "[ ]";
  update.objects[acroform] = "<< /Fields " + std::to_string(fields) + " 0 R >>";
  update.objects[fields] = "[ ]";
  update.objects[page_object(base, 0)] = without_close(object_text(base, page_object(base, 0))) +
                                         " /Annots " + std::to_string(annots) + " 0 R >>";
  update.objects[catalog_object(base)] = without_close(object_text(base, catalog_object(base))) +
                                         " /AcroForm " + std::to_string(acroform) + " 0 R >>";
  const std::string indirect = append_update(base, update);
  const std::string one = sign_pdf(indirect, signer("personal"));
  const std::string two = sign_pdf(one, signer("huong-hoa"), field("Sig2"));
  check_with_qpdf_cli(two, "indirect arrays");
  check_strictly_readable(two, "indirect arrays");
  check_with_pdfsig(two, 2, 2, "indirect arrays");
  const std::string field1 = std::to_string(locate_signature(two, "Sig1").object + 2) + " 0 R";
  BOOST_TEST(object_text(two, fields).find(field1) != std::string::npos, object_text(two, fields));
  BOOST_TEST(object_text(two, annots).find(field1) != std::string::npos, object_text(two, annots));
  BOOST_TEST(object_text(two, acroform).find("/SigFlags 3") != std::string::npos);
  // The catalog still points at the AcroForm object rather than holding a copy.
  BOOST_TEST(object_text(two, catalog_object(two))
                 .find("/AcroForm " + std::to_string(acroform) + " 0 R") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_cms_that_does_not_fit_the_reserve_is_refused) {
  SignOptions o;
  o.contents_reserve = 256;
  BOOST_CHECK_THROW(sign_pdf(make_base_pdf(), signer("huong-hoa"), o), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(the_sample_signers_name_their_chain) {
  const Signer hh = signer("huong-hoa");
  BOOST_TEST(hh.cert_pem == pki("huong-hoa.pem").string());
  BOOST_TEST(hh.key_pem == pki("huong-hoa.key").string());
  BOOST_TEST(hh.chain_pem == std::vector<std::string>{pki("ca.pem").string()});
  BOOST_TEST(signer("rogue-huong-hoa").chain_pem ==
             std::vector<std::string>{pki("rogue-ca.pem").string()});
  BOOST_TEST(signer("tsa").chain_pem == std::vector<std::string>{pki("ca.pem").string()});
}
