// The <accept> rules of <trust>: the most specific rule wins (sender pattern,
// then adapter), settings it leaves out are inherited from less specific
// rules and then from the strict default; organ map files; every error
// names its line.
#define BOOST_TEST_MODULE accept_policy
#include <boost/test/unit_test.hpp>

#include "adapters/adapter.h"
#include "config/gateway_config.h"
#include "crypto/package_verifier.h"
#include "gateway/config_check.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace edocgw::config;
using test::pki;

namespace {

// A configuration whose <trust> holds `accept` (lines 4 onwards).
std::string config_with(const std::vector<std::string>& accept) {
  std::string out =
      "<gateway organ-id=\"000.00.13.H50\" name=\"UBND huyện Đakrông\" data-dir=\"var\">\n"    // 1
      "  <identity cert=\"PKI/dakrong.pem\" key=\"PKI/dakrong.key\" chain=\"PKI/ca.pem\"/>\n"  // 2
      "  <trust anchors=\"PKI/root.pem\">\n";                                                  // 3
  for (const auto& line : accept) out += "    " + line + "\n";  // 4..
  out +=
      "  </trust>\n"
      "  <adapters>\n"
      "    <adapter name=\"province\" type=\"directory\" path=\"var/province\"/>\n"
      "    <adapter name=\"office\" type=\"directory\" path=\"var/office\"/>\n"
      "  </adapters>\n"
      "</gateway>\n";
  for (size_t pos; (pos = out.find("PKI/")) != std::string::npos;)
    out.replace(pos, 4, pki().string() + "/");
  return out;
}

Result<GatewayConfig> parse(const std::vector<std::string>& accept, const std::string& path) {
  return parse_config(config_with(accept), path);
}

Result<GatewayConfig> parse(const std::vector<std::string>& accept) {
  return parse(accept, "gateway.xml");
}

template <typename T>
std::string why(const Result<T>& r) {
  return r.ok() ? std::string() : r.error().message;
}

void expect_error(const std::vector<std::string>& accept, int line, const std::string& fragment) {
  auto c = parse(accept);
  BOOST_REQUIRE_MESSAGE(!c.ok(), "expected an error at line " << line << " for " << accept.back());
  const std::string& m = c.error().message;
  BOOST_TEST(m.rfind("gateway.xml:" + std::to_string(line) + ": ", 0) == 0u, m);
  BOOST_TEST(m.find(fragment) != std::string::npos, m);
}

}  // namespace

BOOST_AUTO_TEST_CASE(without_rules_everything_is_strict) {
  auto c = parse({});
  BOOST_REQUIRE_MESSAGE(c.ok(), why(c));
  const auto p = c->trust.policy_for("000.00.12.H50", "province");
  BOOST_TEST((p.unsigned_packages == UnsignedPolicy::refuse));
  BOOST_TEST((p.sha1 == Sha1Policy::refuse));
  BOOST_TEST((p.c14n == C14nPolicy::exclusive));
  BOOST_TEST(!p.organ_map);
  BOOST_TEST(p.rule.empty());
  BOOST_TEST(p.sources.at("unsigned") == "default");
}

BOOST_AUTO_TEST_CASE(the_most_specific_rule_wins_and_inherits_what_it_leaves_out) {
  auto c = parse({
      R"(<accept from="*" unsigned="accept"/>)",                                     // 4
      R"(<accept from="000.00.*.H50" sha1="warn"/>)",                                // 5
      R"(<accept from="000.00.12.H50" adapter="province" c14n="inclusive-warn"/>)",  // 6
      R"(<accept from="000.00.12.H50" unsigned="refuse"/>)",                         // 7
      R"(<accept from="*" adapter="office" sha1="refuse" c14n="inclusive-warn"/>)",  // 8
      R"(<accept from="vxp.saas.03" unsigned="refuse"/>)",                           // 9
  });
  BOOST_REQUIRE_MESSAGE(c.ok(), why(c));
  BOOST_TEST(c->trust.accept.size() == 6u);

  // Sender exact (4 literal groups) beats the pattern; with the adapter it
  // beats the exact rule without one; each setting from the nearest rule.
  auto p = c->trust.policy_for("000.00.12.H50", "province");
  BOOST_TEST(p.rule == R"(<accept from="000.00.12.H50" adapter="province"> at line 6)");
  BOOST_TEST((p.c14n == C14nPolicy::inclusive_warn));
  BOOST_TEST(p.sources.at("c14n") == "line 6");
  BOOST_TEST((p.unsigned_packages == UnsignedPolicy::refuse));
  BOOST_TEST(p.sources.at("unsigned") == "line 7");
  BOOST_TEST((p.sha1 == Sha1Policy::warn));
  BOOST_TEST(p.sources.at("sha1") == "line 5");
  BOOST_TEST(p.sources.at("organ-map") == "default");

  // By another adapter the adapter rule does not match; the sender pattern
  // (3 literal groups) still beats the office rule for "*" (sender first).
  p = c->trust.policy_for("000.00.12.H50", "office");
  BOOST_TEST(p.rule == R"(<accept from="000.00.12.H50"> at line 7)");
  BOOST_TEST((p.c14n == C14nPolicy::inclusive_warn));  // inherited from line 8
  BOOST_TEST(p.sources.at("c14n") == "line 8");
  BOOST_TEST((p.sha1 == Sha1Policy::warn));  // line 5 beats line 8: its sender is more specific
  BOOST_TEST(p.sources.at("sha1") == "line 5");

  p = c->trust.policy_for("000.00.13.H50", "province");
  BOOST_TEST(p.rule == R"(<accept from="000.00.*.H50"> at line 5)");
  BOOST_TEST((p.unsigned_packages == UnsignedPolicy::accept));
  BOOST_TEST((p.c14n == C14nPolicy::exclusive));

  // "*" with an adapter beats "*" without one.
  p = c->trust.policy_for("001.00.00.G22", "office");
  BOOST_TEST(p.rule == R"(<accept from="*" adapter="office"> at line 8)");
  BOOST_TEST((p.sha1 == Sha1Policy::refuse));
  BOOST_TEST((p.unsigned_packages == UnsignedPolicy::accept));

  // A lenient code real traffic uses, named exactly.
  p = c->trust.policy_for("vxp.saas.03", "province");
  BOOST_TEST(p.rule == R"(<accept from="vxp.saas.03"> at line 9)");
  BOOST_TEST((p.unsigned_packages == UnsignedPolicy::refuse));
  p = c->trust.policy_for("28.22.H17", "province");
  BOOST_TEST(p.rule == R"(<accept from="*"> at line 4)");
  BOOST_TEST((p.unsigned_packages == UnsignedPolicy::accept));
}

BOOST_AUTO_TEST_CASE(a_star_pattern_of_four_groups_is_more_specific_than_star_alone) {
  auto c = parse({
      R"(<accept from="*" unsigned="accept"/>)",        // 4
      R"(<accept from="*.*.*.*" unsigned="refuse"/>)",  // 5
  });
  BOOST_REQUIRE_MESSAGE(c.ok(), why(c));
  BOOST_TEST(
      (c->trust.policy_for("000.00.12.H50", "").unsigned_packages == UnsignedPolicy::refuse));
  BOOST_TEST((c->trust.policy_for("vxp.saas.03", "").unsigned_packages == UnsignedPolicy::accept));
}

BOOST_AUTO_TEST_CASE(organ_maps_load_relative_to_the_config_in_both_forms) {
  test::TempDir dir;
  test::write(dir / "organs.txt",
              "# personal certificates\n"
              "\n"
              "sha256:AB:" +
                  std::string(62, 'C') +
                  " 000.00.12.H50\n"
                  "   subject:UID=CMND:197000123,CN=Nguyễn Văn An,O=UBND huyện Hướng Hóa,C=VN  "
                  "000.00.12.H50\n" +
                  std::string(64, 'd') + " vxp.saas.03\n");
  auto c = parse({R"(<accept from="000.00.12.H50" organ-map="organs.txt"/>)"},
                 (dir / "gateway.xml").string());
  BOOST_REQUIRE_MESSAGE(c.ok(), why(c));
  const auto p = c->trust.policy_for("000.00.12.H50", "");
  BOOST_REQUIRE(p.organ_map);
  BOOST_TEST(p.sources.at("organ-map") == "line 4");
  BOOST_TEST(p.organ_map->by_fingerprint.at("ab" + std::string(62, 'c')) == "000.00.12.H50");
  BOOST_TEST(p.organ_map->by_fingerprint.at(std::string(64, 'd')) == "vxp.saas.03");
  BOOST_TEST(p.organ_map->by_subject.at(
                 "UID=CMND:197000123,CN=Nguyễn Văn An,O=UBND huyện Hướng Hóa,C=VN") ==
             "000.00.12.H50");
  BOOST_REQUIRE(p.organ_map->warnings.size() == 1u);  // vxp.saas.03 is not strict
  BOOST_TEST(p.organ_map->warnings[0].find("organs.txt:5:") != std::string::npos);
  BOOST_TEST(!c->trust.policy_for("000.00.13.H50", "").organ_map);
}

BOOST_AUTO_TEST_CASE(organ_map_errors_name_the_file_line) {
  const std::string fp(64, 'a');
  using Case = std::tuple<std::string, int, std::string>;
  for (const auto& [text, line, fragment] : std::vector<Case>{
           Case{"# c\nsha256:abc 000.00.12.H50\n", 2, "neither sha256:FINGERPRINT"},
           Case{"sha256:" + fp + "\n", 1, "expected 'sha256:FINGERPRINT ORGAN_ID'"},
           Case{"sha256:" + fp + " CMND:123\n", 1, "not an agency code"},
           Case{"subject: 000.00.12.H50\n", 1, "names no subject"},
           Case{"sha256:" + fp + " 000.00.12.H50\n\n" + fp + " 000.00.13.H50\n", 3,
                "a second entry for sha256:" + fp + " (the first is line 1)"},
       }) {
    auto map = parse_organ_map(text, "organs.txt");
    BOOST_REQUIRE(!map.ok());
    BOOST_TEST(map.error().message.rfind("organs.txt:" + std::to_string(line) + ": ", 0) == 0u,
               map.error().message);
    BOOST_TEST(map.error().message.find(fragment) != std::string::npos, map.error().message);
  }
  // In a config, the error names the rule's line and the map's.
  test::TempDir dir;
  test::write(dir / "organs.txt", "sha256:nope 000.00.12.H50\n");
  auto c = parse({R"(<accept from="*" sha1="warn"/>)",
                  R"(<accept from="000.00.12.H50" organ-map="organs.txt"/>)"},
                 (dir / "gateway.xml").string());
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST(
      c.error().message.find("gateway.xml:5: organ-map=\"organs.txt\": ") != std::string::npos,
      c.error().message);
  BOOST_TEST(c.error().message.find("organs.txt:1: ") != std::string::npos, c.error().message);
}

BOOST_AUTO_TEST_CASE(every_policy_error_names_its_line) {
  expect_error({R"(<accept from="*" sha1="yes"/>)"}, 4, R"(sha1="yes" must be refuse or warn)");
  expect_error({R"(<accept from="*"/>)", R"(<accept from="*" unsigned="maybe"/>)"}, 5,
               "unsigned=\"maybe\" must be refuse or accept");
  expect_error({R"(<accept from="*" c14n="inclusive"/>)"}, 4,
               "must be exclusive or inclusive-warn");
  expect_error({R"(<accept sha1="warn"/>)"}, 4, "needs from=");
  expect_error({R"(<accept from="000.00.*" sha1="warn"/>)"}, 4, "neither a pattern");
  expect_error({R"(<accept from="000.00.12.h50 x" sha1="warn"/>)"}, 4, "neither a pattern");
  expect_error({R"(<accept from="*" pdf="require"/>)"}, 4,
               R"(pdf="require" must be none or require-any or require-sender)");
  expect_error({R"(<accept from="*" organ-map="missing.txt"/>)"}, 4, "no such file");
  expect_error({R"(<accept from="*" adapter="nowhere"/>)"}, 4,
               "adapter=\"nowhere\" names no adapter");
  expect_error({R"(<deny from="*"/>)"}, 4, "unknown element <deny> in <trust>");
  // Two rules that could match one package with the same specificity.
  expect_error({R"(<accept from="000.*.12.H50" sha1="warn"/>)",
                R"(<accept from="000.00.*.H50" sha1="refuse"/>)"},
               5, "and the one at line 4 can match the same sender");
  expect_error({R"(<accept from="*" adapter="office"/>)", R"(<accept from="*" adapter="office"/>)"},
               5, "the one at line 4");
  // Same specificity but disjoint: fine.
  BOOST_TEST(
      parse({R"(<accept from="000.00.12.*" sha1="warn"/>)",
             R"(<accept from="000.00.13.*" sha1="refuse"/>)",
             R"(<accept from="*" adapter="office"/>)", R"(<accept from="*" adapter="province"/>)"})
          .ok());
  // allow-sha1 is gone, with the way to say it now.
  auto old = parse_config(
      "<gateway organ-id=\"000.00.13.H50\" name=\"x\" data-dir=\"var\">\n"
      "  <identity cert=\"" +
          pki("dakrong.pem").string() + "\" key=\"" + pki("dakrong.key").string() +
          "\"/>\n"
          "  <trust anchors=\"" +
          pki("root.pem").string() + "\" allow-sha1=\"true\"/>\n</gateway>\n",
      "gateway.xml");
  BOOST_REQUIRE(!old.ok());
  BOOST_TEST(old.error().message.rfind("gateway.xml:3: allow-sha1 is gone", 0) == 0u,
             old.error().message);
  BOOST_TEST(old.error().message.find("sha1=\"warn\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(config_check_warns_about_what_is_legal_but_wide) {
  test::TempDir dir;
  test::write(dir / "organs.txt", std::string(64, 'e') + " vxp.saas.03\n");
  test::write(dir / "gateway.xml",
              config_with({R"(<accept from="*" unsigned="accept" organ-map=")" +
                               (dir / "organs.txt").string() + R"("/>)",
                           R"(<accept from="000.00.H50" sha1="warn"/>)"}));
  adapters::AdapterRegistry registry;
  adapters::register_builtin_adapters(registry);
  auto loaded = gateway::load_and_check(dir / "gateway.xml", registry);
  BOOST_REQUIRE_MESSAGE(loaded.ok(), why(loaded));
  std::string all;
  for (const auto& w : loaded->warnings) all += w + "\n";
  BOOST_TEST(all.find("gateway.xml:4: unsigned packages are accepted from every sender") !=
                 std::string::npos,
             all);
  BOOST_TEST(
      all.find("organs.txt:1: 'vxp.saas.03' is not a strict agency code") != std::string::npos,
      all);
  // A lenient code is legal (real traffic uses them) but may be a typo.
  BOOST_TEST(all.find("gateway.xml:5: from=\"000.00.H50\" is not a strict agency code") !=
                 std::string::npos,
             all);
}

// How the gateway's pipeline wires the configured policy into the verifier
// (the snippet of the report to the lead): the rules resolve per sender and
// adapter into the verifier's plain AcceptPolicy.
crypto::AcceptPolicy to_accept_policy(const ResolvedAcceptPolicy& r) {
  crypto::AcceptPolicy p;
  p.accept_unsigned = r.unsigned_packages == UnsignedPolicy::accept;
  p.sha1_warn = r.sha1 == Sha1Policy::warn;
  p.inclusive_c14n_warn = r.c14n == C14nPolicy::inclusive_warn;
  if (r.organ_map) {
    p.organ_by_fingerprint = r.organ_map->by_fingerprint;
    p.organ_by_subject = r.organ_map->by_subject;
    p.organ_map = r.organ_map->file.string();
  }
  p.rule = r.rule;
  p.sources = r.sources;
  return p;
}

BOOST_AUTO_TEST_CASE(the_configured_policy_decides_what_the_verifier_accepts) {
  auto c = parse({
      R"(<accept from="000.00.*.H50" adapter="province" unsigned="accept"/>)",  // 4
  });
  BOOST_REQUIRE_MESSAGE(c.ok(), why(c));
  auto store = crypto::TrustStore::load(c->trust.anchors, {}, {});
  BOOST_REQUIRE(store.ok());
  const std::string unsigned_package =
      test::read(std::filesystem::path(__FILE__).parent_path().parent_path() /
                 "fixtures/policy/real-shape.edxml");
  auto verify_by = [&](const std::string& adapter) {
    crypto::VerifyOptions options;
    options.policy_for = [&](const std::string& sender) {
      return to_accept_policy(c->trust.policy_for(sender, adapter));
    };
    return crypto::PackageVerifier(*store, options).verify(unsigned_package);
  };
  const auto by_province = verify_by("province");
  BOOST_TEST((by_province.state == crypto::VerificationState::unsigned_accepted),
             by_province.reason);
  const auto j = crypto::to_json(by_province);
  BOOST_TEST(j["policy"]["rule"] == R"(<accept from="000.00.*.H50" adapter="province"> at line 4)");
  BOOST_TEST(j["policy"]["sources"]["unsigned"] == "line 4");
  BOOST_TEST(j["policy"]["sources"]["sha1"] == "default");
  const auto by_office = verify_by("office");
  BOOST_TEST((by_office.state == crypto::VerificationState::invalid));
  BOOST_TEST(
      by_office.reason.find("refuses unsigned packages (the strict default)") != std::string::npos,
      by_office.reason);
}

BOOST_AUTO_TEST_CASE(pdf_signature_policy_is_per_rule_and_inherited) {
  auto c = parse({R"(<accept from="*" pdf-signatures="any" pdf-cannot-verify="report"/>)",  // 4
                  R"(<accept from="000.00.12.H50" pdf-signatures="organisation")"
                  R"( pdf-official="required"/>)"});  // 5
  BOOST_REQUIRE_MESSAGE(c.ok(), why(c));
  auto p = gateway::accept_policy(c->trust.policy_for("000.00.12.H50", ""));
  BOOST_TEST((p.pdf.require == crypto::PdfPolicy::Require::organisation));
  BOOST_TEST(p.pdf.official_required);
  BOOST_TEST(!p.pdf.refuse_cannot_verify);  // inherited from line 4
  BOOST_TEST(p.sources["pdf-signatures"] == "line 5");
  BOOST_TEST(p.sources["pdf-cannot-verify"] == "line 4");
  p = gateway::accept_policy(c->trust.policy_for("000.00.13.H50", ""));
  BOOST_TEST((p.pdf.require == crypto::PdfPolicy::Require::any));
  BOOST_TEST(!p.pdf.official_required);
  // The default: nothing required, a signed PDF that cannot be verified refused.
  auto strict = parse({});
  BOOST_REQUIRE(strict.ok());
  p = gateway::accept_policy(strict->trust.policy_for("000.00.12.H50", ""));
  BOOST_TEST((p.pdf.require == crypto::PdfPolicy::Require::none));
  BOOST_TEST(p.pdf.refuse_cannot_verify);
  // The policy travels in the report's JSON and back (the auditor reads it).
  const auto back = crypto::accept_policy_from_json(
      crypto::to_json(gateway::accept_policy(c->trust.policy_for("000.00.12.H50", ""))));
  BOOST_TEST((back.pdf.require == crypto::PdfPolicy::Require::organisation));
  BOOST_TEST(back.pdf.official_required);
  BOOST_TEST(!back.pdf.refuse_cannot_verify);

  // INTERFACE.md's short form.
  auto short_form = parse({R"(<accept from="*" pdf="require-sender"/>)"});
  BOOST_REQUIRE_MESSAGE(short_form.ok(), why(short_form));
  p = gateway::accept_policy(short_form->trust.policy_for("000.00.12.H50", ""));
  BOOST_TEST((p.pdf.require == crypto::PdfPolicy::Require::organisation));
  expect_error({R"(<accept from="*" pdf="require-sender" pdf-signatures="any"/>)"}, 4,
               "say the same thing");

  expect_error({R"(<accept from="*" pdf-signatures="all"/>)"}, 4,
               "pdf-signatures=\"all\" must be none or any or organisation");
  expect_error({R"(<accept from="*" pdf-official="yes"/>)"}, 4, "pdf-official");
  expect_error({R"(<accept from="*" pdf-cannot-verify="ignore"/>)"}, 4, "pdf-cannot-verify");
}
