// tests/gateway/province.h: a province on loopback for the end-to-end
// tests: the hub (UBND tỉnh Quảng Trị), Hướng Hóa (A) and Đakrông (B), real
// `edocgw serve` processes with the sample PKI, real SQLite files and the
// VDXP protocol between them.
#pragma once

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edxml/package_builder.h"
#include "tests/test_support.h"
#include "util/bytes.h"

namespace edocgw::test {

using nlohmann::json;

inline const std::string kTokenA = "token-for-huong-hoa-qlvb";
inline const std::string kTokenB = "token-for-dakrong-qlvb";

inline std::string hub_config(int port) {
  return R"(<gateway organ-id="000.00.00.H50" name="UBND tỉnh Quảng Trị" data-dir="var">
  <identity cert=")" +
         pki("quang-tri.pem").string() + R"(" key=")" + pki("quang-tri.key").string() +
         R"(" chain=")" + pki("ca.pem").string() + R"("/>
  <trust anchors=")" +
         pki("root.pem").string() + R"(" crl=")" + pki("crls.pem").string() +
         R"(" revocation="require"/>
  <exchange listen="127.0.0.1:)" +
         std::to_string(port) + R"(">
    <client system-id="huong-hoa" organ-id="000.00.12.H50" secret-file=")" +
         pki("huong-hoa.secret").string() + R"("/>
    <client system-id="dakrong" organ-id="000.00.13.H50" secret-file=")" +
         pki("dakrong.secret").string() + R"("/>
  </exchange>
</gateway>
)";
}

inline std::string district_config(
    const std::string& organ, const std::string& name, const std::string& stem, int hub_port,
    const std::string& token, const std::string& api_extra = "",
    const std::string& routes = R"(<route to="000.00.*.H50" via="province"/>)") {
  return R"(<gateway organ-id=")" + organ + R"(" name=")" + name + R"(" data-dir="var">
  <identity cert=")" +
         pki(stem + ".pem").string() + R"(" key=")" + pki(stem + ".key").string() + R"(" chain=")" +
         pki("ca.pem").string() + R"("/>
  <trust anchors=")" +
         pki("root.pem").string() + R"(" crl=")" + pki("crls.pem").string() +
         R"(" revocation="require"/>
  <api listen="127.0.0.1:0")" +
         api_extra + R"(>
    <client name="qlvb" token-sha256=")" +
         sha256_hex(token) + R"("/>
  </api>
  <adapters>
    <adapter name="province" type="vdxp" url="http://127.0.0.1:)" +
         std::to_string(hub_port) + R"(" system-id=")" + stem + R"(" secret-file=")" +
         pki(stem + ".secret").string() + R"(" poll="200ms"/>
    <adapter name="office" type="directory" path="var/office-inbox"/>
  </adapters>
  <routes>
    )" + routes +
         R"(
    <inbound via="office"/>
  </routes>
</gateway>
)";
}

inline std::string package(const std::string& number, const std::string& to = "000.00.13.H50") {
  auto meta = test::sample_meta();
  meta["code"]["number"] = number;
  meta["to"][0]["organ_id"] = to;
  auto p = edxml::build_package(
      meta, {{"cong-van.pdf", "%PDF-1.4\n% Công văn số " + number + "\n%%EOF\n", "", ""}},
      now_seconds());
  if (!p) throw std::runtime_error(p.error().message);
  return *p;
}

struct Province {
  test::TempDir dir;
  std::unique_ptr<test::GatewayProcess> hub, a, b;
  int hub_port = 0;

  // tls: the hub's exchange API over TLS, requiring client certificates,
  // and the districts reaching it over https with theirs.
  // edit_hub, when given, rewrites the hub's config before it starts.
  explicit Province(bool start_b = true, bool start_hub = true, bool tls = false,
                    const std::function<std::string(std::string)>& edit_hub = {}) {
    hub_port = test::free_port();
    std::string hub_xml = hub_config(hub_port);
    if (edit_hub) hub_xml = edit_hub(hub_xml);
    auto district = [&](std::string xml) {
      if (!tls) return xml;
      return test::replace_once(xml, R"(url="http://127.0.0.1:)" + std::to_string(hub_port) + "\"",
                                R"(url="https://127.0.0.1:)" + std::to_string(hub_port) +
                                    R"(" ca-file=")" + pki("root.pem").string() +
                                    R"(" client-cert=")" + pki("tls-localhost-chain.pem").string() +
                                    R"(" client-key=")" + pki("tls-localhost.key").string() + "\"");
    };
    if (tls) {
      hub_xml = test::replace_once(
          hub_xml, R"(<exchange listen="127.0.0.1:)" + std::to_string(hub_port) + "\"",
          R"(<exchange listen="127.0.0.1:)" + std::to_string(hub_port) + R"(" tls-cert=")" +
              pki("tls-localhost-chain.pem").string() + R"(" tls-key=")" +
              pki("tls-localhost.key").string() + R"(" tls-client-ca=")" +
              pki("root.pem").string() + "\"");
    }
    hub = std::make_unique<test::GatewayProcess>(dir / "hub", hub_xml);
    if (start_hub) hub->start();
    a = std::make_unique<test::GatewayProcess>(
        dir / "huong-hoa",
        district(district_config("000.00.12.H50", "UBND huyện Hướng Hóa", "huong-hoa", hub_port,
                                 kTokenA, R"( max-body="256KB")")));
    a->start();
    b = std::make_unique<test::GatewayProcess>(
        dir / "dakrong", district(district_config("000.00.13.H50", "UBND huyện Đakrông", "dakrong",
                                                  hub_port, kTokenB)));
    if (start_b) b->start();
  }

  test::HttpResult submit(const std::string& body, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> headers = {"Authorization: Bearer " + kTokenA,
                                        "Content-Type: application/xml"};
    headers.insert(headers.end(), extra.begin(), extra.end());
    return test::http("POST", a->api_url() + "/v1/documents", headers, body);
  }
  json document(const std::string& id) {
    auto r = test::http("GET", a->api_url() + "/v1/documents/" + id,
                        {"Authorization: Bearer " + kTokenA});
    return r.status == 200 ? json::parse(r.body) : json();
  }
  json inbox_b() {
    auto r = test::http("GET", b->api_url() + "/v1/inbox", {"Authorization: Bearer " + kTokenB});
    return r.status == 200 ? json::parse(r.body) : json::array();
  }
  std::string status_code_at_a(const std::string& id) {
    const json d = document(id);
    if (!d.is_object() || d["recipients"].empty() || d["recipients"][0]["status_code"].is_null())
      return {};
    return d["recipients"][0]["status_code"].get<std::string>();
  }
  size_t office_files_b(const std::string& suffix = ".xml") {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(b->dir() / "var/office-inbox", ec)) {
      const std::string name = e.path().filename().string();
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          name.find(".report.json") == std::string::npos) {
        ++n;
      }
    }
    return n;
  }
};

inline std::string id_of(const test::HttpResult& r) {
  BOOST_REQUIRE_MESSAGE(r.status == 202, "HTTP " << r.status << ": " << r.body);
  return json::parse(r.body)["id"].get<std::string>();
}

}  // namespace edocgw::test
