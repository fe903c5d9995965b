// gateway.xml: every error names its line; routes match as documented; the
// deep checks (identity, trust, adapter types) report the right line too.
#define BOOST_TEST_MODULE gateway_config
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include "adapters/adapter.h"
#include "config/gateway_config.h"
#include "gateway/config_check.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace edocgw::config;
using test::pki;

namespace {

// A complete, valid configuration; each line is numbered as in the file.
const std::vector<std::string> kGood = {
    R"(<gateway organ-id="000.00.12.H50" name="UBND huyện Hướng Hóa" data-dir="var">)",      // 1
    R"(  <identity cert="PKI/huong-hoa.pem" key="PKI/huong-hoa.key" chain="PKI/ca.pem"/>)",  // 2
    R"(  <trust anchors="PKI/root.pem" crl="PKI/crls.pem" revocation="require"/>)",          // 3
    R"(  <api listen="127.0.0.1:8080">)",                                                    // 4
    R"(    <client name="qlvb" token-sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"/>)",  // 5
    R"(  </api>)",                              // 6
    R"(  <exchange listen="127.0.0.1:9090">)",  // 7
    R"(    <client system-id="dakrong" organ-id="000.00.13.H50" secret-file="PKI/dakrong.secret"/>)",  // 8
    R"(  </exchange>)",  // 9
    R"(  <adapters>)",   // 10
    R"(    <adapter name="province" type="vdxp" url="http://127.0.0.1:9090" system-id="huong-hoa" secret-file="PKI/huong-hoa.secret" poll="2s"/>)",  // 11
    R"(    <adapter name="office" type="directory" path="var/inbox"/>)",  // 12
    R"(  </adapters>)",                                                   // 13
    R"(  <routes>)",                                                      // 14
    R"(    <route to="000.00.*.H50" via="province"/>)",                   // 15
    R"(    <route to="*" via="province"/>)",                              // 16
    R"(    <inbound via="office"/>)",                                     // 17
    R"(  </routes>)",                                                     // 18
    R"(</gateway>)",                                                      // 19
};

std::string render(std::vector<std::string> lines) {
  std::string out;
  for (auto& l : lines) {
    for (size_t pos; (pos = l.find("PKI/")) != std::string::npos;)
      l.replace(pos, 4, pki().string() + "/");
    out += l + "\n";
  }
  return out;
}

// Replaces line `n` (1-based) of the good file.
std::vector<std::string> with_line(int n, const std::string& text) {
  auto lines = kGood;
  lines[static_cast<size_t>(n - 1)] = text;
  return lines;
}

Result<GatewayConfig> parse(const std::vector<std::string>& lines) {
  return parse_config(render(lines), "gateway.xml");
}

void expect_error(const std::vector<std::string>& lines, int line, const std::string& fragment) {
  auto c = parse(lines);
  BOOST_REQUIRE_MESSAGE(!c.ok(), "expected an error at line " << line);
  const std::string& m = c.error().message;
  BOOST_TEST(m.rfind("gateway.xml:" + std::to_string(line) + ": ", 0) == 0u, m);
  BOOST_TEST(m.find(fragment) != std::string::npos, m);
}

Result<gateway::LoadedConfig> check_deep(const std::vector<std::string>& lines,
                                         const test::TempDir& dir) {
  test::write(dir / "gateway.xml", render(lines));
  adapters::AdapterRegistry registry;
  adapters::register_builtin_adapters(registry);
  return gateway::load_and_check(dir / "gateway.xml", registry);
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_documented_example_reads_into_typed_values) {
  auto c = parse(kGood);
  BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  BOOST_TEST(c->organ_id == "000.00.12.H50");
  BOOST_TEST(c->name == "UBND huyện Hướng Hóa");
  BOOST_TEST((c->trust.revocation == Revocation::require));
  BOOST_REQUIRE(c->api.has_value());
  BOOST_TEST(c->api->listen.port == 8080);
  BOOST_TEST(c->api->max_body_bytes == 64ull << 20);
  BOOST_REQUIRE(c->exchange.has_value());
  BOOST_TEST(c->exchange->clients[0].organ_id == "000.00.13.H50");
  BOOST_TEST(c->adapters.size() == 2u);
  BOOST_TEST(c->adapter("province")->settings.at("poll") == "2s");
  BOOST_TEST(c->routes.routes().size() == 2u);
  BOOST_TEST(*c->routes.inbound() == "office");
  BOOST_TEST(c->sha256.size() == 64u);
  BOOST_TEST(c->data_dir.is_absolute());
}

BOOST_AUTO_TEST_CASE(every_error_names_its_line) {
  // The broken tag of line 5 is noticed where its line ends, on line 6.
  expect_error(with_line(5, "    <client name=\"qlvb\""), 6, "not well-formed");
  expect_error(with_line(1, R"(<gateway organ-id="12.H50" name="x" data-dir="var">)"), 1,
               "not an agency code");
  expect_error(with_line(1, R"(<gateway organ-id="000.00.12.H50" data-dir="var">)"), 1,
               "needs name=");
  expect_error(
      with_line(1, R"(<gateway organ-id="000.00.12.H50" name="x" data-dir="var" colour="red">)"), 1,
      "no attribute 'colour'");
  expect_error(with_line(2, R"(  <identity cert="PKI/missing.pem" key="PKI/huong-hoa.key"/>)"), 2,
               "no such file");
  expect_error(
      with_line(2,
                R"(  <identity cert="PKI/huong-hoa.pem" key="PKI/huong-hoa.key" pass="hunter2"/>)"),
      2, "never the passphrase itself");
  expect_error(with_line(3, R"(  <trust anchors="PKI/root.pem" revocation="always"/>)"), 3,
               "require, prefer or off");
  expect_error(with_line(3, R"(  <trust anchors="PKI/root.pem" revocation="require"/>)"), 3,
               "needs crl=");
  expect_error(with_line(3, R"(  <trust anchors="PKI/root.pem" ocsp="yes"/>)"), 3,
               "ocsp must be on or off");
  expect_error(with_line(3, R"(  <trust anchors="PKI/root.pem" ocsp-url="http://x"/>)"), 3,
               "needs ocsp=");
  expect_error(with_line(3, R"(  <trust anchors="PKI/root.pem" ocsp="on" ocsp-url="ldap://x"/>)"),
               3, "http://");
  expect_error(with_line(3, R"(  <trust anchors="PKI/root.pem" ocsp="on" ocsp-timeout="later"/>)"),
               3, "ocsp-timeout");
  expect_error(with_line(4, R"(  <api listen="localhost">)"), 4, "HOST:PORT");
  expect_error(with_line(4, R"(  <api listen="127.0.0.1:99999">)"), 4, "0 to 65535");
  expect_error(with_line(5, R"(    <client name="qlvb" token-sha256="ABC"/>)"), 5,
               "lower-case hex SHA-256");
  expect_error(with_line(6, R"(    <clientt/></api>)"), 6, "unknown element <clientt>");
  expect_error(
      with_line(
          8,
          R"(    <client system-id="dakrong" organ-id="dakrong" secret-file="PKI/dakrong.secret"/>)"),
      8, "not an agency code");
  expect_error(
      with_line(
          8,
          R"(    <client system-id="dakrong" organ-id="000.00.13.H50" secret-file="PKI/nope"/>)"),
      8, "no such file");
  expect_error(with_line(12, R"(    <adapter name="province" type="directory" path="x"/>)"), 12,
               "a second adapter named 'province'");
  expect_error(with_line(15, R"(    <route to="000.00.*.H50" via="nowhere"/>)"), 15,
               "names no adapter");
  expect_error(with_line(15, R"(    <route to="000.*.H50" via="province"/>)"), 15, "four groups");
  expect_error(with_line(16, R"(    <route to="000.00.12.h50" via="province"/>)"), 16,
               "capital letters");
  expect_error(with_line(16, R"(    <inbound via="office"/>)"), 17, "only one <inbound>");
  expect_error(with_line(18, R"(  </routes><extra/>)"), 18, "unknown element <extra>");
}

BOOST_AUTO_TEST_CASE(ocsp_alone_satisfies_require) {
  auto c = parse(with_line(
      3, R"(  <trust anchors="PKI/root.pem" revocation="require" ocsp="on" ocsp-timeout="2s"/>)"));
  BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  BOOST_TEST(c->trust.ocsp);
  BOOST_TEST(c->trust.ocsp_url.empty());
  BOOST_TEST(c->trust.ocsp_timeout.count() == 2000);
}

BOOST_AUTO_TEST_CASE(trust_path_and_revocation_fetching_read_into_typed_values) {
  auto defaults = parse(kGood);
  BOOST_REQUIRE_MESSAGE(defaults.ok(), (defaults.ok() ? "" : defaults.error().message));
  BOOST_TEST(defaults->trust.policies.empty());
  BOOST_TEST(!defaults->trust.crl_fetch);
  BOOST_TEST(defaults->trust.crl_max_bytes == 16ull << 20);
  BOOST_TEST(defaults->trust.fetches_in_flight == 4u);
  BOOST_TEST(defaults->trust.clock_skew.count() == 300);
  BOOST_TEST(defaults->expiry_warning.count() == 30 * 86400);

  auto lines = with_line(
      3,
      R"(  <trust anchors="PKI/root.pem" revocation="require" crl-fetch="on" crl-max-size="2MB" )"
      R"(fetches-in-flight="2" fetch-timeout="3s" clock-skew="90s" )"
      R"(policies=" 2.16.704.1.2.3  1.2.3.4 " policy-mapping="inhibit" any-policy="inhibit">)");
  lines[2] += R"(<accept from="000.00.*.H45" revocation="prefer"/><accept from="000.00.13.H50" )"
              R"(revocation="off"/></trust>)";
  lines[0] = R"(<gateway organ-id="000.00.12.H50" name="X" data-dir="var" expiry-warning="45d">)";
  auto c = parse(lines);
  BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  BOOST_TEST(c->trust.crl_fetch);  // alone it satisfies revocation="require"
  BOOST_TEST(c->trust.crl_max_bytes == 2ull << 20);
  BOOST_TEST(c->trust.fetches_in_flight == 2u);
  BOOST_TEST(c->trust.fetch_timeout.count() == 3000);
  BOOST_TEST(c->trust.clock_skew.count() == 90);
  BOOST_TEST((c->trust.policies == std::vector<std::string>{"2.16.704.1.2.3", "1.2.3.4"}));
  BOOST_TEST(c->trust.inhibit_policy_mapping);
  BOOST_TEST(c->trust.inhibit_any_policy);
  BOOST_TEST(c->expiry_warning.count() == 45 * 86400);
  // revocation per sender: the rule's, else <trust>'s, with where it came from.
  const auto h45 = c->trust.policy_for("000.00.12.H45", "");
  BOOST_TEST((h45.revocation == Revocation::prefer));
  BOOST_TEST(h45.sources.at("revocation") == "line 3");
  BOOST_TEST((c->trust.policy_for("000.00.13.H50", "").revocation == Revocation::off));
  const auto other = c->trust.policy_for("000.00.14.H50", "");
  BOOST_TEST((other.revocation == Revocation::require));
  BOOST_TEST(other.sources.at("revocation") == "trust");
  BOOST_TEST((gateway::accept_policy(h45).revocation == crypto::RevocationPolicy::prefer));
}

BOOST_AUTO_TEST_CASE(trust_path_and_revocation_errors_name_the_attribute) {
  const std::string t = R"(  <trust anchors="PKI/root.pem" )";
  expect_error(with_line(3, t + R"(policies="1.2.x"/>)"), 3, "not a dotted OID");
  expect_error(with_line(3, t + R"(policies=""/>)"), 3, "names no OID");
  expect_error(with_line(3, t + R"(policy-mapping="no"/>)"), 3, "allow or inhibit");
  expect_error(with_line(3, t + R"(crl-fetch="yes"/>)"), 3, "crl-fetch must be on or off");
  expect_error(with_line(3, t + R"(crl-max-size="10"/>)"), 3, "from 1KB to 1GB");
  expect_error(with_line(3, t + R"(fetches-in-flight="0"/>)"), 3, "from 1 to 64");
  expect_error(with_line(3, t + R"(fetch-timeout="1h"/>)"), 3, "from 100ms to 10m");
  expect_error(with_line(3, t + R"(clock-skew="2h"/>)"), 3, "at most 1h");
  expect_error(with_line(3, t + R"(revocation="require" crl-fetch="off"/>)"), 3,
               "crl-fetch=\"on\"");
  // Per sender: require needs a source in <trust>; prefer/require under off cannot work.
  expect_error(with_line(3, t + R"(><accept from="*" revocation="require"/></trust>)"), 3,
               "needs a source of revocation data");
  expect_error(
      with_line(3, t + R"(revocation="off"><accept from="*" revocation="prefer"/></trust>)"), 3,
      "under <trust revocation=\"off\">");
  expect_error(with_line(3, t + R"(><accept from="*" revocation="maybe"/></trust>)"), 3,
               "require or prefer or off");
  auto bad = kGood;
  bad[0] = R"(<gateway organ-id="000.00.12.H50" name="X" data-dir="var" expiry-warning="12h">)";
  expect_error(bad, 1, "from 1d to 366d");
}

BOOST_AUTO_TEST_CASE(an_api_without_clients_is_refused) {
  auto lines = kGood;
  lines[4] = "";
  expect_error(lines, 4, "needs at least one <client");
}

BOOST_AUTO_TEST_CASE(deep_checks_name_the_line_of_what_is_wrong) {
  test::TempDir dir;
  auto good = check_deep(kGood, dir);
  BOOST_REQUIRE_MESSAGE(good.ok(), (good.ok() ? "" : good.error().message));
  BOOST_TEST(good->adapters.size() == 2u);
  BOOST_TEST(good->adapter("office")->type() == "directory");

  auto expect = [&](const std::vector<std::string>& lines, int line, const std::string& fragment) {
    auto r = check_deep(lines, dir);
    BOOST_REQUIRE(!r.ok());
    const std::string prefix = (dir / "gateway.xml").string() + ":" + std::to_string(line) + ": ";
    BOOST_TEST(r.error().message.rfind(prefix, 0) == 0u, r.error().message);
    BOOST_TEST(r.error().message.find(fragment) != std::string::npos, r.error().message);
  };
  expect(with_line(2, R"(  <identity cert="PKI/dakrong.pem" key="PKI/dakrong.key"/>)"), 2,
         "belongs to 000.00.13.H50");
  expect(with_line(2, R"(  <identity cert="PKI/expired.pem" key="PKI/expired.key"/>)"), 2,
         "expired");
  expect(with_line(2, R"(  <identity cert="PKI/no-sign-usage.pem" key="PKI/no-sign-usage.key"/>)"),
         2, "does not allow signing");
  expect(with_line(2, R"(  <identity cert="PKI/huong-hoa.pem" key="PKI/dakrong.key"/>)"), 2,
         "does not belong");
  expect(with_line(12, R"(    <adapter name="office" type="ftp" path="x"/>)"), 12,
         "unknown type 'ftp'");
  expect(with_line(12, R"(    <adapter name="office" type="directory"/>)"), 12, "needs path=");
  expect(with_line(12, R"(    <adapter name="office" type="directory" path="a" pickup="a"/>)"), 12,
         "another folder");
  expect(
      with_line(12, R"(    <adapter name="office" type="directory" path="a" pickup-max="1MB"/>)"),
      12, "need pickup=");
  expect(
      with_line(
          12,
          R"(    <adapter name="office" type="directory" path="a" pickup="b" pickup-interval="soon"/>)"),
      12, "pickup-interval");
  expect(with_line(12, R"(    <adapter name="office" type="directory" path="a" pikup="b"/>)"), 12,
         "unknown setting 'pikup'");
  expect(
      with_line(
          11,
          R"(    <adapter name="province" type="vdxp" url="ftp://x" system-id="a" secret-file="PKI/huong-hoa.secret"/>)"),
      11, "http://");
  expect(
      with_line(
          11,
          R"(    <adapter name="province" type="vdxp" url="http://x" system-id="a" secret-file="PKI/huong-hoa.secret" poll="often"/>)"),
      11, "poll");
}

BOOST_AUTO_TEST_CASE(routes_match_first_rule_wins_star_is_one_group) {
  auto c = parse(kGood);
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->routes.explain("000.00.13.H50").index == 0u);
  BOOST_TEST(c->routes.explain("000.00.00.G22").index == 1u);  // falls to "*"
  BOOST_TEST(pattern_matches("000.00.*.H50", "000.00.99.H50"));
  BOOST_TEST(!pattern_matches("000.00.*.H50", "000.00.99.H51"));
  BOOST_TEST(!pattern_matches("000.*.H50", "000.00.99.H50"));
  BOOST_TEST(!pattern_matches("000.00.*.H50", "000.00.1.2.H50"));
  BOOST_TEST(pattern_matches("*", "anything"));

  RouteTable only_h50;
  only_h50.add({"*.*.*.H50", "province", 1});
  const RouteMatch none = only_h50.explain("000.00.00.G22");
  BOOST_TEST(none.route == nullptr);
  BOOST_TEST(none.explanation.back() == "no rule matches 000.00.00.G22");
}

BOOST_AUTO_TEST_CASE(durations_and_sizes_read_their_units) {
  BOOST_TEST(parse_duration("500ms")->count() == 500);
  BOOST_TEST(parse_duration("2s")->count() == 2000);
  BOOST_TEST(parse_duration("5m")->count() == 300000);
  BOOST_TEST(!parse_duration("2").ok());
  BOOST_TEST(!parse_duration("fast").ok());
  BOOST_TEST(*parse_size("64MB") == 64ull << 20);
  BOOST_TEST(*parse_size("1048576") == 1048576u);
  BOOST_TEST(!parse_size("lots").ok());
}

BOOST_AUTO_TEST_CASE(config_check_and_routes_explain_on_the_command_line) {
  test::TempDir dir;
  test::write(dir / "gateway.xml", render(kGood));
  const std::string bin = test::edocgw_cmd();
  const auto ok = test::run(bin + " config check " + test::quote(dir / "gateway.xml"));
  BOOST_TEST(ok.exit_code == 0, ok.err);
  BOOST_TEST(ok.out.find(": OK:") != std::string::npos);

  test::write(dir / "bad.xml",
              render(with_line(15, R"(    <route to="000.00.*.H50" via="nowhere"/>)")));
  const auto bad = test::run(bin + " config check " + test::quote(dir / "bad.xml"));
  BOOST_TEST(bad.exit_code == 1);
  BOOST_TEST(bad.err.find("bad.xml:15: ") != std::string::npos, bad.err);
  BOOST_TEST(test::run(bin + " config check " + test::quote(dir / "missing.xml")).exit_code == 2);

  const auto explain = test::run(bin + " routes explain --config " +
                                 test::quote(dir / "gateway.xml") + " --to 000.00.00.G22");
  BOOST_TEST(explain.exit_code == 0);
  BOOST_TEST(
      explain.out.find("rule 2 (line 16) to=\"*\" matches: via province") != std::string::npos,
      explain.out);

  const auto signed_pkg = test::run("printf '%s' '<x/>' | " + bin + " sign --config " +
                                    test::quote(dir / "gateway.xml"));
  BOOST_TEST(signed_pkg.exit_code == 1);  // the identity loads; the input is no edXML package
  BOOST_TEST(signed_pkg.err.find("not an edXML package") != std::string::npos, signed_pkg.err);
}

BOOST_AUTO_TEST_CASE(sizes_and_durations_that_would_wrap_are_refused) {
  // 17179869184GB is 2^64 bytes: shifted, it wrapped to 0 and passed.
  BOOST_TEST(!parse_size("17179869184GB").ok());
  BOOST_TEST(!parse_size("18446744073709551615").ok());
  BOOST_TEST(!parse_size("999999999999999GB").ok());
  BOOST_TEST(*parse_size("1024GB") == kMaxSize);
  BOOST_TEST(!parse_size("1025GB").ok());
  BOOST_TEST(!parse_duration("999999999999h").ok());
  BOOST_TEST(!parse_duration("9999999h").ok());
  BOOST_TEST(parse_duration("24h")->count() == 86'400'000);
  expect_error(with_line(4, R"(  <api listen="127.0.0.1:8080" max-body="17179869184GB">)"), 4,
               "max-body");
  expect_error(with_line(4, R"(  <api listen="127.0.0.1:8080" max-body="0">)"), 4, "max-body");
}

BOOST_AUTO_TEST_CASE(a_config_that_is_a_fifo_is_refused_at_once) {
  test::TempDir dir;
  const auto fifo = dir / "gateway.xml";
  BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto c = load_config(fifo);
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST((c.error().code == Errc::io));
  BOOST_TEST(c.error().message.find("not a regular file") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(listener_limits_read_into_typed_values_with_defaults) {
  auto c = parse(kGood);
  BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  BOOST_TEST(c->api->max_bodies_in_flight == 256ull << 20);
  BOOST_TEST(c->api->header_timeout.count() == 10);
  BOOST_TEST(c->api->max_connections == 512u);
  BOOST_TEST(c->api->max_connections_per_address == 128u);

  auto set =
      with_line(4, R"(  <api listen="127.0.0.1:8080" max-body="1MB" max-bodies-in-flight="2MB")"
                   R"( header-timeout="3" max-connections="64" max-connections-per-address="8">)");
  set[6] = R"(  <exchange listen="127.0.0.1:9090" max-bodies-in-flight="64MB" header-timeout="1m")"
           R"( max-connections="65536" max-connections-per-address="65536">)";
  c = parse(set);
  BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  BOOST_TEST(c->api->max_bodies_in_flight == 2ull << 20);
  BOOST_TEST(c->api->header_timeout.count() == 3);
  BOOST_TEST(c->api->max_connections == 64u);
  BOOST_TEST(c->api->max_connections_per_address == 8u);
  BOOST_TEST(c->exchange->max_bodies_in_flight == 64ull << 20);
  BOOST_TEST(c->exchange->header_timeout.count() == 60);
  BOOST_TEST(c->exchange->max_connections == 65536u);
  BOOST_TEST(c->exchange->max_connections_per_address == 65536u);

  // Left out, the budget grows to one body of max-body, and the share of
  // one address shrinks to max-connections.
  c = parse(with_line(4, R"(  <api listen="127.0.0.1:8080" max-body="1GB" max-connections="16">)"));
  BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  BOOST_TEST(c->api->max_bodies_in_flight == 1ull << 30);
  BOOST_TEST(c->api->max_connections_per_address == 16u);
}

BOOST_AUTO_TEST_CASE(listener_limits_out_of_range_are_refused_naming_the_attribute) {
  const auto api = [](const std::string& attributes) {
    return with_line(4, R"(  <api listen="127.0.0.1:8080" )" + attributes + ">");
  };
  const auto exchange = [](const std::string& attributes) {
    return with_line(7, R"(  <exchange listen="127.0.0.1:9090" )" + attributes + ">");
  };
  for (const std::string bad : {"0", "-1", "1.5", "10 ", "+10", "ten", "", "601", "11m", "1500ms",
                                "500ms", "99999999999999999999", "18446744073709551617"}) {
    expect_error(api("header-timeout=\"" + bad + "\""), 4, "header-timeout");
    expect_error(exchange("header-timeout=\"" + bad + "\""), 7, "header-timeout");
  }
  for (const std::string bad : {"0", "-1", "65537", "1e3", "512 ", "0x200", "", "many",
                                "99999999999999999999", "18446744073709551617"}) {
    expect_error(api("max-connections=\"" + bad + "\""), 4, "max-connections");
    expect_error(exchange("max-connections=\"" + bad + "\""), 7, "max-connections");
    expect_error(api("max-connections-per-address=\"" + bad + "\""), 4,
                 "max-connections-per-address");
  }
  // More per address than in all.
  expect_error(api(R"(max-connections="64" max-connections-per-address="65")"), 4,
               "max-connections-per-address=\"65\" must be a whole number from 1 to 64");
  expect_error(exchange(R"(max-connections-per-address="513")"), 7, "max-connections-per-address");
  for (const std::string bad : {"0", "-1MB", "lots", "1TB", "17179869184GB", "2000GB", ""}) {
    expect_error(api("max-bodies-in-flight=\"" + bad + "\""), 4, "max-bodies-in-flight");
    expect_error(exchange("max-bodies-in-flight=\"" + bad + "\""), 7, "max-bodies-in-flight");
  }
  // Less than one body of max-body: names both.
  for (const auto& lines : {api(R"(max-body="2MB" max-bodies-in-flight="1MB")"),
                            api(R"(max-bodies-in-flight="63MB")")}) {
    auto c = parse(lines);
    BOOST_REQUIRE(!c.ok());
    BOOST_TEST(c.error().message.find("max-bodies-in-flight") != std::string::npos,
               c.error().message);
    BOOST_TEST(c.error().message.find("max-body (") != std::string::npos, c.error().message);
  }
  expect_error(exchange(R"(max-body="2MB" max-bodies-in-flight="1MB")"), 7, "less than max-body");
}

BOOST_AUTO_TEST_CASE(the_store_element_reads_both_engines_and_refuses_what_does_not_fit) {
  auto store = [](const std::string& attributes) {
    return with_line(18, "  </routes><store " + attributes + "/>");
  };
  {  // default: the embedded engine
    auto c = parse(kGood);
    BOOST_REQUIRE(c.ok());
    BOOST_TEST((c->store.type == StoreConfig::Type::sqlite));
    BOOST_TEST(c->store.delivery_lease.count() == 300);
  }
  {
    auto c =
        parse(store(R"(type="postgresql" dsn="host=db1 dbname=edocgw user=edocgw" )"
                    R"(pool-size="16" node-id="node-a" delivery-lease="2m" retention="3650d")"));
    BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    BOOST_TEST((c->store.type == StoreConfig::Type::postgresql));
    BOOST_TEST(c->store.dsn == "host=db1 dbname=edocgw user=edocgw");
    BOOST_TEST(c->store.pool_size == 16);
    BOOST_TEST(c->store.node_id == "node-a");
    BOOST_TEST(c->store.delivery_lease.count() == 120);
    BOOST_TEST(c->store.retention.count() == 3650 * 86400);
  }
  {
    auto c = parse(store(R"(segment-size="1MB" retention="12h")"));
    BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    BOOST_TEST(c->store.segment_bytes == 1u << 20);
    BOOST_TEST(c->store.retention.count() == 12 * 3600);
  }
  expect_error(store(R"(type="mysql")"), 18, "must be sqlite or postgresql");
  expect_error(store(R"(type="postgresql")"), 18, "needs dsn=");
  expect_error(store(R"(type="postgresql" dsn="host=db password=secret")"), 18,
               "must not hold the password");
  expect_error(store(R"(type="postgresql" dsn="host=db" segment-size="1MB")"), 18,
               "segment-size is for type=\"sqlite\"");
  expect_error(store(R"(dsn="host=db")"), 18, "dsn is for type=\"postgresql\"");
  expect_error(store(R"(type="postgresql" dsn="host=db" pool-size="1")"), 18, "from 2 to 256");
  expect_error(store(R"(delivery-lease="1s")"), 18, "from 5s to 24h");
  expect_error(store(R"(segment-size="1KB")"), 18, "between 4KB and 4GB");
  expect_error(store(R"(retention="0d")"), 18, "at least 1s");
  expect_error(store(R"(retention="forever")"), 18, "not a duration");
}
