// What the local API reads from an office system's request (issue 9, item
// 16): a NUL or another character XML forbids in a form field, a file name,
// the metadata or a JSON body is refused with a 400 that names the field,
// never truncated by libxml2 nor written into a package its reader refuses.
// Real `edocgw serve` processes on loopback (tests/gateway/province.h).
#define BOOST_TEST_MODULE local_api_input
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/gateway/province.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace edocgw::test;
using namespace std::string_literals;
using nlohmann::json;

namespace {

// A multipart/form-data body with boundary "b": each part's header lines, then its body.
std::string form(const std::vector<std::pair<std::string, std::string>>& parts) {
  std::string body;
  for (const auto& [headers, content] : parts)
    body += "--b\r\n" + headers + "\r\n\r\n" + content + "\r\n";
  return body + "--b--\r\n";
}

std::string meta_part(const json& meta) {
  return meta.dump();
}

const std::string kMetaHeaders = "Content-Disposition: form-data; name=\"meta\"";
const std::string kFileHeaders =
    "Content-Disposition: form-data; name=\"file\"; filename=\"cong-van.pdf\"\r\n"
    "Content-Type: application/pdf";

json sample(const std::string& number) {
  json meta = sample_meta();
  meta["code"]["number"] = number;
  return meta;
}

HttpResult post_form(Province& p, const std::string& body) {
  return test::http(
      "POST", p.a->api_url() + "/v1/documents",
      {"Authorization: Bearer " + kTokenA, "Content-Type: multipart/form-data; boundary=b"}, body);
}

HttpResult post_json(const std::string& url, const std::string& token, const std::string& body) {
  return test::http("POST", url,
                    {"Authorization: Bearer " + token, "Content-Type: application/json"}, body);
}

// The answer is a 400 JSON error whose message names `field`.
void refused_naming(const HttpResult& r, const std::string& field) {
  BOOST_TEST(r.status == 400, r.body);
  const json answer = json::parse(r.body, nullptr, false);
  BOOST_REQUIRE_MESSAGE(answer.is_object(), "not a JSON error: " << r.body);
  BOOST_TEST(answer.contains("error"), r.body);
  BOOST_TEST(answer.value("message", "").find(field) != std::string::npos,
             "'" << field << "' not named in " << r.body);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_form_with_a_nul_in_a_file_name_or_a_field_is_refused_naming_it) {
  Province p(false);
  const std::string pdf = "%PDF-1.4\n\0binary is fine in a body\n"s;

  // The file name, quoted or RFC 5987-encoded.
  refused_naming(post_form(p, form({{kMetaHeaders, meta_part(sample("400"))},
                                    {"Content-Disposition: form-data; name=\"file\"; "
                                     "filename=\"cong\0van.pdf\""s,
                                     pdf}})),
                 "file name");
  refused_naming(post_form(p, form({{kMetaHeaders, meta_part(sample("401"))},
                                    {"Content-Disposition: form-data; name=\"file\"; "
                                     "filename*=UTF-8''cong%00van.pdf",
                                     pdf}})),
                 "file name");
  refused_naming(post_form(p, form({{kMetaHeaders, meta_part(sample("402"))},
                                    {"Content-Disposition: form-data; name=\"file\"; "
                                     "filename=\"cong\x01van.pdf\"",
                                     pdf}})),
                 "file name");
  // The field name and a part's Content-Type.
  refused_naming(post_form(p, form({{kMetaHeaders, meta_part(sample("403"))},
                                    {"Content-Disposition: form-data; name=\"fi\0le\"; "
                                     "filename=\"cong-van.pdf\""s,
                                     pdf}})),
                 "field name");
  refused_naming(
      post_form(p, form({{kMetaHeaders, meta_part(sample("404"))},
                         {"Content-Disposition: form-data; name=\"file\"; "
                          "filename=\"cong-van.pdf\"\r\nContent-Type: application/pdf\0"s,
                          pdf}})),
      "Content-Type");

  // The metadata's texts: subject, a description, a nested organ name.
  json meta = sample("405");
  meta["subject"] = "Về việc\0 phòng, chống thiên tai"s;
  refused_naming(post_form(p, form({{kMetaHeaders, meta_part(meta)}, {kFileHeaders, pdf}})),
                 "subject");
  meta = sample("406");
  meta["subject"] = "Về việc \x01 phòng, chống thiên tai";
  refused_naming(post_form(p, form({{kMetaHeaders, meta_part(meta)}, {kFileHeaders, pdf}})),
                 "subject");
  meta = sample("407");
  meta["to"][0]["organ_name"] = "UBND huyện\0 Đakrông"s;
  refused_naming(post_form(p, form({{kMetaHeaders, meta_part(meta)}, {kFileHeaders, pdf}})),
                 "to[0].organ_name");
  meta = sample("408");
  meta["content"] = "Kính gửi \xef\xbf\xbe";  // U+FFFE
  refused_naming(post_form(p, form({{kMetaHeaders, meta_part(meta)}, {kFileHeaders, pdf}})),
                 "content");

  // The same form with clean texts is taken.
  const auto clean =
      post_form(p, form({{kMetaHeaders, meta_part(sample("409"))}, {kFileHeaders, pdf}}));
  BOOST_TEST(clean.status == 202, clean.body);
}

BOOST_AUTO_TEST_CASE(a_json_body_with_a_nul_in_a_reason_or_a_description_is_refused_naming_it) {
  Province p(false);
  const std::string id = id_of(p.submit(package("420")));
  const std::string documents = p.a->api_url() + "/v1/documents/" + id;

  // A follow-up's reason went into BussinessDocReason cut at the NUL.
  refused_naming(post_json(documents + "/followup", kTokenA,
                           R"({"type": "revocation", "reason": "Thu hồi\u0000 do nhầm số"})"),
                 "reason");
  refused_naming(post_json(documents + "/followup", kTokenA,
                           R"({"type": "update", "reason": "Bổ sung nơi nhận",
                               "receivers": [{"organ_id": "000.00.14\u0000.H50"}]})"),
                 "receivers[0].organ_id");
  // A recall request's description, and the recipients it names.
  refused_naming(post_json(documents + "/status", kTokenA,
                           R"({"code": "13", "description": "Đề nghị\u0000 thu hồi"})"),
                 "description");
  refused_naming(
      post_json(documents + "/status", kTokenA,
                R"({"code": "13", "description": "x", "recipients": ["000.00.13\u0001.H50"]})"),
      "recipients[0]");
  // The code, which the answer quotes.
  refused_naming(post_json(documents + "/status", kTokenA,
                           R"({"code": "1\u00003", "description": "Đề nghị thu hồi"})"),
                 "code");
  // Nothing was sent: the document still has its recipient and no history.
  const json d = p.document(id);
  BOOST_TEST(d["business_type"] == "new");
  BOOST_TEST(d["recipients"][0]["history"].empty(), d.dump());

  const auto clean = post_json(documents + "/followup", kTokenA,
                               R"({"type": "revocation", "reason": "Thu hồi do nhầm số"})");
  BOOST_TEST(clean.status == 202, clean.body);
}

BOOST_AUTO_TEST_CASE(a_status_about_a_received_document_with_a_nul_in_its_description_is_refused) {
  Province p;
  id_of(p.submit(package("430")));
  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 1; }));
  const std::string inbox = p.b->api_url() + "/v1/inbox/" + p.inbox_b()[0]["id"].get<std::string>();

  refused_naming(
      post_json(inbox + "/status", kTokenB, R"({"code": "03", "description": "Đã vào\u0000 sổ"})"),
      "description");
  refused_naming(
      post_json(inbox + "/status", kTokenB, R"({"code": "03", "description": "Đã vào \ufffe sổ"})"),
      "description");
  const auto clean =
      post_json(inbox + "/status", kTokenB, R"({"code": "03", "description": "Đã vào sổ"})");
  BOOST_TEST(clean.status == 202, clean.body);
}

BOOST_AUTO_TEST_CASE(an_inbox_limit_beyond_int_is_taken_as_everything_not_wrapped) {
  Province p;
  id_of(p.submit(package("440")));
  BOOST_REQUIRE(test::eventually([&] { return p.inbox_b().size() == 1; }));
  const auto inbox = [&](const std::string& limit) {
    return test::http("GET", p.b->api_url() + "/v1/inbox?limit=" + limit,
                      {"Authorization: Bearer " + kTokenB});
  };
  // 2^32 was cast to an int: 0, refused as not positive; 2^32 + 1 became 1.
  for (const std::string limit : {"4294967296", "4294967297", "99999999999999999999999"}) {
    const auto r = inbox(limit);
    BOOST_TEST(r.status == 200, limit << ": " << r.body);
    BOOST_TEST(json::parse(r.body, nullptr, false).size() == 1u, limit << ": " << r.body);
  }
  BOOST_TEST(inbox("0").status == 400);
  BOOST_TEST(inbox("-4294967295").status == 400);
  BOOST_TEST(inbox("2x").status == 400);
}
