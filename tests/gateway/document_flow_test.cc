// The life of a document after it arrives, between real gateways over the
// VDXP protocol: statuses applied by their own Timestamp, follow-ups
// (revocation, update, replacement) acted on at the recipient, a recall
// request and its answer, the kind of a package taken from its content, a
// package not addressed to the recipient refused, and a refusal (02) that
// never contradicts a copy already accepted.
#define BOOST_TEST_MODULE document_flow
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "adapters/vdxp/vdxp_adapter.h"
#include "edxml/package_builder.h"
#include "tests/gateway/province.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using namespace edocgw::test;
using nlohmann::json;

namespace {

// Signs `package` as the organisation of the sample PKI's `stem` with the CLI.
std::string sign_as(const TempDir& dir, const std::string& stem, const std::string& package) {
  write(dir / "unsigned.xml", package);
  const auto r = run(edocgw_cmd() + " sign --cert " + quote(pki(stem + ".pem")) + " --key " +
                     quote(pki(stem + ".key")) + " --chain " + quote(pki("ca.pem")) + " --in " +
                     quote(dir / "unsigned.xml") + " --out " + quote(dir / "signed.xml"));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return read(dir / "signed.xml");
}

// Pushes `bytes` to the hub with `system`'s credentials, as its adapter would,
// labelled `label` (the transport's messagetype).
Status push_as(const Province& p, const std::string& system, const std::string& from,
               const std::string& bytes, const std::string& label) {
  adapters::vdxp::VdxpSettings settings;
  settings.url = "http://127.0.0.1:" + std::to_string(p.hub_port);
  settings.system_id = system;
  settings.secret = read(pki(system + ".secret")).substr(0, 64);
  adapters::vdxp::VdxpAdapter adapter("test", settings);
  adapters::OutgoingPackage out{"x", "", from, {}, label, bytes, ""};
  auto r = adapter.deliver(out);
  if (!r) return r.error();
  return {};
}

// A status package from Đakrông about A's document, signed by Đakrông.
std::string status_from_b(const TempDir& dir, const std::string& document_id,
                          const std::string& code, TimePoint at) {
  edxml::StatusInfo s;
  s.from.organ_id = "000.00.13.H50";
  s.from.organ_name = "UBND huyện Đakrông";
  s.response_for.organ_id = "000.00.12.H50";
  s.response_for.document_id = document_id;
  s.status_code = code;
  s.description = "Trạng thái " + code;
  s.timestamp = format_edxml_time(at);
  auto built = edxml::build_status_package(s);
  BOOST_REQUIRE_MESSAGE(built.ok(), (built.ok() ? "" : built.error().message));
  return sign_as(dir, "dakrong", *built);
}

json recipient_a(Province& p, const std::string& id) {
  const json d = p.document(id);
  return d.is_object() && !d["recipients"].empty() ? d["recipients"][0] : json();
}

json inbox_item_b(Province& p, const std::string& inbox_id) {
  for (const auto& item : p.inbox_b()) {
    if (item["id"] == inbox_id) return item;
  }
  return json();
}

HttpResult post_json(const std::string& url, const std::string& token, const json& body) {
  return http("POST", url, {"Authorization: Bearer " + token, "Content-Type: application/json"},
              body.dump());
}

// Sends a document from A and waits until B has it and A has its 01.
std::pair<std::string, std::string> exchange_one(Province& p, const std::string& number) {
  const std::string id = id_of(p.submit(package(number)));
  std::string inbox_id;
  BOOST_REQUIRE(eventually([&] {
    for (const auto& item : p.inbox_b()) {
      if (item["document_id"].get<std::string>().find("," + number + "/") != std::string::npos &&
          item["business_type"] == "new")
        inbox_id = item["id"].get<std::string>();
    }
    return !inbox_id.empty();
  }));
  BOOST_REQUIRE(eventually([&] { return p.status_code_at_a(id) == "01"; }));
  return {id, inbox_id};
}

}  // namespace

BOOST_AUTO_TEST_CASE(statuses_apply_in_the_order_of_their_own_timestamps_not_of_arrival) {
  Province p;
  TempDir work;
  const auto [id, inbox_id] = exchange_one(p, "500");
  const std::string document_id = p.document(id)["document_id"].get<std::string>();
  const TimePoint base = now_seconds() + std::chrono::seconds(60);  // after the 01

  auto history_size = [&] { return recipient_a(p, id)["history"].size(); };
  BOOST_REQUIRE(push_as(p, "dakrong", "000.00.13.H50",
                        status_from_b(work, document_id, "05", base + std::chrono::seconds(20)),
                        "status")
                    .ok());
  BOOST_REQUIRE(eventually([&] { return p.status_code_at_a(id) == "05"; }));

  // Acted on earlier, arrives later: kept in the history, the state stays 05.
  BOOST_REQUIRE(push_as(p, "dakrong", "000.00.13.H50",
                        status_from_b(work, document_id, "03", base + std::chrono::seconds(10)),
                        "status")
                    .ok());
  BOOST_REQUIRE(eventually([&] { return history_size() == 3u; }));
  BOOST_TEST(p.status_code_at_a(id) == "05");
  const json history = recipient_a(p, id)["history"];
  BOOST_TEST(history[0]["code"] == "01");
  BOOST_TEST(history[1]["code"] == "03");  // ordered by Timestamp, not arrival
  BOOST_TEST(history[1]["applied"] == false);
  BOOST_TEST(history[2]["code"] == "05");
  BOOST_TEST(history[2]["applied"] == true);

  // The same Timestamp as 05: the higher code wins, so 04 does not regress it.
  BOOST_REQUIRE(push_as(p, "dakrong", "000.00.13.H50",
                        status_from_b(work, document_id, "04", base + std::chrono::seconds(20)),
                        "status")
                    .ok());
  BOOST_REQUIRE(eventually([&] { return history_size() == 4u; }));
  BOOST_TEST(p.status_code_at_a(id) == "05");

  BOOST_REQUIRE(push_as(p, "dakrong", "000.00.13.H50",
                        status_from_b(work, document_id, "06", base + std::chrono::seconds(30)),
                        "status")
                    .ok());
  BOOST_REQUIRE(eventually([&] { return p.status_code_at_a(id) == "06"; }));
  BOOST_TEST(recipient_a(p, id)["status_timestamp"].get<std::string>() ==
             format_rfc3339(base + std::chrono::seconds(30)));
}

BOOST_AUTO_TEST_CASE(follow_ups_reach_the_office_and_change_the_document_they_concern) {
  Province p;
  const auto [id, inbox_id] = exchange_one(p, "510");

  // A second original with the same DocumentId is refused: statuses about it
  // could not tell the copies apart. A follow-up is the way.
  auto meta = sample_meta();
  meta["code"]["number"] = "510";
  meta["subject"] = "Một văn bản khác cùng số";
  auto other = edxml::build_package(meta, {}, now_seconds());
  BOOST_REQUIRE(other.ok());
  const auto second = p.submit(*other);
  BOOST_TEST(second.status == 409, second.body);
  BOOST_TEST(json::parse(second.body)["error"] == "duplicate_document_id");

  // Revocation: the original is marked revoked at B, and the office gets the follow-up.
  const auto revoked = post_json(p.a->api_url() + "/v1/documents/" + id + "/followup", kTokenA,
                                 {{"type", "revocation"}, {"reason", "Ban hành nhầm"}});
  const std::string revocation_id = id_of(revoked);
  BOOST_TEST(p.document(revocation_id)["business_type"] == "revocation");
  BOOST_TEST(p.document(revocation_id)["follows"] == id);
  BOOST_REQUIRE(eventually([&] { return inbox_item_b(p, inbox_id)["revoked"] == true; }));
  const json original = inbox_item_b(p, inbox_id);
  const std::string followup_inbox = original["revoked_by"].get<std::string>();
  const json followup = inbox_item_b(p, followup_inbox);
  BOOST_TEST(followup["business_type"] == "revocation");
  BOOST_TEST(followup["concerns"] == inbox_id);
  BOOST_TEST(followup["verification"] == "valid");
  BOOST_REQUIRE(eventually([&] { return p.office_files_b() == 2u; }));
  const json office_report =
      json::parse(read(p.b->dir() / "var/office-inbox" / (followup_inbox + ".report.json")));
  BOOST_TEST(office_report["edocgw"]["business_type"] == "revocation");
  BOOST_TEST(office_report["edocgw"]["concerns"] == inbox_id);

  // A status about the DocumentId lands on the original, not on the follow-up.
  const auto sent = post_json(p.b->api_url() + "/v1/inbox/" + inbox_id + "/status", kTokenB,
                              {{"code", "03"}, {"description", "Đã vào sổ"}});
  BOOST_TEST(sent.status == 202, sent.body);
  BOOST_REQUIRE(eventually([&] { return p.status_code_at_a(id) == "03"; }));
  BOOST_TEST(recipient_a(p, revocation_id)["status_code"].is_null());

  // Update and replacement of a second document: the original is superseded.
  const auto [id2, inbox2] = exchange_one(p, "511");
  meta["code"]["number"] = "511";
  meta["subject"] = "Văn bản đã sửa đổi";
  auto updated = edxml::build_package(meta, {}, now_seconds());
  BOOST_REQUIRE(updated.ok());
  const std::string update_id =
      id_of(post_json(p.a->api_url() + "/v1/documents/" + id2 + "/followup", kTokenA,
                      {{"type", "update"}, {"reason", "Sửa trích yếu"}, {"package", *updated}}));
  BOOST_REQUIRE(eventually([&] { return inbox_item_b(p, inbox2).contains("superseded_by"); }));
  const json update = inbox_item_b(p, inbox_item_b(p, inbox2)["superseded_by"]);
  BOOST_TEST(update["business_type"] == "update");
  BOOST_TEST(update["subject"] == "Văn bản đã sửa đổi");
  BOOST_TEST(inbox_item_b(p, inbox2)["revoked"] == false);
  BOOST_TEST(p.document(update_id)["follows"] == id2);

  const auto [id3, inbox3] = exchange_one(p, "512");
  meta["code"]["number"] = "513";
  meta["subject"] = "Văn bản thay thế";
  auto replacement = edxml::build_package(meta, {}, now_seconds());
  BOOST_REQUIRE(replacement.ok());
  const auto no_package = post_json(p.a->api_url() + "/v1/documents/" + id3 + "/followup", kTokenA,
                                    {{"type", "replacement"}, {"reason", "Thay thế"}});
  BOOST_TEST(no_package.status == 422, no_package.body);
  id_of(post_json(p.a->api_url() + "/v1/documents/" + id3 + "/followup", kTokenA,
                  {{"type", "replacement"}, {"reason", "Thay thế"}, {"package", *replacement}}));
  BOOST_REQUIRE(eventually([&] { return inbox_item_b(p, inbox3).contains("superseded_by"); }));
  const json replaced_by = inbox_item_b(p, inbox_item_b(p, inbox3)["superseded_by"]);
  BOOST_TEST(replaced_by["business_type"] == "replacement");
  BOOST_TEST(replaced_by["concerns"] == inbox3);
}

BOOST_AUTO_TEST_CASE(a_recall_request_and_its_answer_travel_end_to_end) {
  Province p;
  const auto [id, inbox_id] = exchange_one(p, "520");

  const auto wrong = post_json(p.a->api_url() + "/v1/documents/" + id + "/status", kTokenA,
                               {{"code", "03"}, {"description", "x"}});
  BOOST_TEST(wrong.status == 400, wrong.body);
  const auto recall = post_json(p.a->api_url() + "/v1/documents/" + id + "/status", kTokenA,
                                {{"code", "13"}, {"description", "Đề nghị lấy lại văn bản"}});
  BOOST_TEST(recall.status == 202, recall.body);

  auto has_code = [](const json& history, const std::string& code, const std::string& dir) {
    for (const auto& h : history) {
      if (h["code"] == code && h["direction"] == dir) return true;
    }
    return false;
  };
  BOOST_REQUIRE(
      eventually([&] { return has_code(inbox_item_b(p, inbox_id)["history"], "13", "in"); }));
  // B agrees: 15 goes back and becomes A's recipient state.
  const auto agree = post_json(p.b->api_url() + "/v1/inbox/" + inbox_id + "/status", kTokenB,
                               {{"code", "15"}, {"description", "Đồng ý thu hồi"}});
  BOOST_TEST(agree.status == 202, agree.body);
  BOOST_REQUIRE(eventually([&] { return p.status_code_at_a(id) == "15"; }));
  const json history = recipient_a(p, id)["history"];
  BOOST_TEST(has_code(history, "13", "out"));
  BOOST_TEST(has_code(history, "15", "in"));
  BOOST_TEST(has_code(inbox_item_b(p, inbox_id)["history"], "15", "out"));
}

BOOST_AUTO_TEST_CASE(the_kind_comes_from_the_content_and_a_package_for_another_organ_is_refused) {
  // Đakrông's system also serves a second organ, so the hub hands it
  // packages for 000.00.14.H50 that its gateway (000.00.13.H50) must refuse.
  Province p(true, true, false, [](std::string xml) {
    return replace_once(xml, R"(organ-id="000.00.13.H50")",
                        R"(organ-id="000.00.13.H50 000.00.14.H50")");
  });
  const auto [id, inbox_id] = exchange_one(p, "530");
  BOOST_REQUIRE(eventually([&] { return p.office_files_b() == 1u; }));

  // The same signed document again, labelled "status" by the transport,
  // twice: a duplicate of a document, never a status, never a second copy.
  const std::string signed_bytes = stored_package(p.a->dir() / "var", id);
  BOOST_REQUIRE(push_as(p, "huong-hoa", "000.00.12.H50", signed_bytes, "status").ok());
  BOOST_REQUIRE(push_as(p, "huong-hoa", "000.00.12.H50", signed_bytes, "status").ok());
  BOOST_REQUIRE(eventually([&] {
    return p.b->log().find("duplicate package ignored") != std::string::npos &&
           p.b->log().rfind("duplicate package ignored") !=
               p.b->log().find("duplicate package ignored");
  }));
  BOOST_TEST(p.inbox_b().size() == 1u);
  BOOST_TEST(p.office_files_b() == 1u);

  // A document for 000.00.14.H50 reaches Đakrông's gateway, which refuses it
  // and says why (02 back to the sender).
  const std::string other_id = id_of(p.submit(package("531", "000.00.14.H50")));
  BOOST_REQUIRE(eventually([&] { return p.inbox_b().size() == 2u; }));
  const json refused = p.inbox_b()[0];
  BOOST_TEST(refused["verification"] == "invalid");
  BOOST_TEST(
      refused["reason"].get<std::string>().find("not to this organisation") != std::string::npos,
      refused["reason"]);
  const std::string refused_id = refused["id"].get<std::string>();
  BOOST_REQUIRE(eventually([&] {
    const json item = inbox_item_b(p, refused_id);
    for (const auto& h : item["history"]) {
      if (h["code"] == "02" && h["direction"] == "out") return true;
    }
    return false;
  }));
  BOOST_TEST(p.office_files_b() == 1u);
  BOOST_TEST(p.document(other_id)["recipients"][0]["organ_id"] == "000.00.14.H50");
}

BOOST_AUTO_TEST_CASE(
    unsigned_traffic_follows_each_gateways_policy_and_a_refusal_never_contradicts) {
  // The hub takes unsigned packages from everyone; Đakrông stays strict.
  Province p(true, true, false, [](std::string xml) {
    return replace_once(xml, R"(revocation="require"/>)",
                        R"(revocation="require"><accept from="*" unsigned="accept"/></trust>)");
  });
  const auto [id, inbox_id] = exchange_one(p, "540");

  // An unsigned package with the same DocumentId: the hub lets it through,
  // Đakrông refuses it, and sends no 02: that would read as refusing 540.
  BOOST_REQUIRE(push_as(p, "huong-hoa", "000.00.12.H50", package("540"), "edoc").ok());
  BOOST_REQUIRE(eventually([&] { return p.inbox_b().size() == 2u; }));
  const json copy = p.inbox_b()[0];
  BOOST_TEST(copy["verification"] == "invalid");
  BOOST_TEST(copy["reason"].get<std::string>().find("unsigned") != std::string::npos,
             copy["reason"]);
  BOOST_REQUIRE(eventually([&] {
    return p.b->log().find("no 02 sent: a copy of this document was accepted") != std::string::npos;
  }));
  BOOST_TEST(copy["history"].empty());
  BOOST_TEST(p.status_code_at_a(id) == "01");

  // An unsigned package of a document never accepted is refused with 02.
  BOOST_REQUIRE(push_as(p, "huong-hoa", "000.00.12.H50", package("541"), "edoc").ok());
  BOOST_REQUIRE(eventually([&] { return p.inbox_b().size() == 3u; }));
  const std::string refused_id = p.inbox_b()[0]["id"].get<std::string>();
  BOOST_REQUIRE(eventually([&] {
    const json item = inbox_item_b(p, refused_id);
    return !item["history"].empty() && item["history"][0]["code"] == "02";
  }));
  BOOST_TEST(p.office_files_b() == 1u);
}
