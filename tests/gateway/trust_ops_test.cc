// Trust at run time, on real `edocgw serve` processes: OCSP answers kept in
// DATA_DIR/revocation across a restart and an outage of the responder; CRLs
// fetched from the distribution points of the chain, once, then cached; a
// revoked signer and a signer under a revoked CA refused; stale revocation
// data under each policy (refused and unhealthy, accepted and counted, not
// looked for); a required certificate policy; identity certificates about
// to expire (config check, the log, /metrics, /healthz) and expired (the
// gateway refuses to start).
//
// Packages are signed by the CLI (`edocgw sign`) and pushed to a hub as
// Hướng Hóa's system would (VdxpAdapter::deliver), which returns the hub's
// refusal synchronously, with the reason.
#define BOOST_TEST_MODULE trust_ops
#include <csignal>
#include <optional>
#include <sstream>

#include "adapters/vdxp/vdxp_adapter.h"
#include "tests/gateway/province.h"
#include "tests/support/http_file_server.h"
#include "tests/support/pki_builder.h"
#include "util/time.h"

using namespace edocgw;
using namespace edocgw::test;
namespace pb = edocgw::test::pki_builder;
namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::seconds;

namespace {

const std::string kOpsToken = "token-for-the-hub-operator";
const std::string kAnyPolicy = "2.5.29.32.0";
const std::string kRequiredPolicy = "1.2.3.4.5";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t occurrences(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// The value of an unlabelled series in Prometheus text; nullopt when absent.
std::optional<double> metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ' ')
      return std::stod(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

// What signs: a certificate, its key and the chain sent with it.
struct Signer {
  fs::path cert, key, chain;
};

Signer sample_huong_hoa() {
  return {pki("huong-hoa.pem"), pki("huong-hoa.key"), pki("ca.pem")};
}

// A fresh package from Hướng Hóa to Đakrông, signed by the CLI.
std::string signed_package(const TempDir& dir, const std::string& number, const Signer& s) {
  const auto in = dir / ("package-" + number + ".xml");
  const auto out = dir / ("signed-" + number + ".xml");
  write(in, package(number));
  const auto r = run(edocgw_cmd() + " sign --cert " + quote(s.cert) + " --key " + quote(s.key) +
                     " --chain " + quote(s.chain) + " --in " + quote(in) + " --out " + quote(out));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "edocgw sign: " << r.err);
  return read(out);
}

// A hub of the province: the sample identity of Quảng Trị, <trust> as
// given, an <api> for /healthz and /metrics, the districts as clients.
std::string hub_xml(const std::string& trust_attributes, const std::string& accept_rules = "") {
  return R"(<gateway organ-id="000.00.00.H50" name="UBND tỉnh Quảng Trị" data-dir="var">
  <identity cert=")" +
         pki("quang-tri.pem").string() + R"(" key=")" + pki("quang-tri.key").string() +
         R"(" chain=")" + pki("ca.pem").string() + R"("/>
  <trust )" +
         trust_attributes + ">" + accept_rules + R"(</trust>
  <api listen="127.0.0.1:0">
    <client name="ops" token-sha256=")" +
         sha256_hex(kOpsToken) + R"("/>
  </api>
  <exchange listen="127.0.0.1:0">
    <client system-id="huong-hoa" organ-id="000.00.12.H50" secret-file=")" +
         pki("huong-hoa.secret").string() + R"("/>
    <client system-id="dakrong" organ-id="000.00.13.H50" secret-file=")" +
         pki("dakrong.secret").string() + R"("/>
  </exchange>
</gateway>
)";
}

// A running gateway with the operator's view of it.
class RunningGateway {
 public:
  RunningGateway(const fs::path& dir, const std::string& xml) : process(dir, xml) {
    process.start();
  }

  // Pushes a signed package as Hướng Hóa's system: the hub's verdict.
  Result<adapters::DeliveryReceipt> push(const std::string& signed_xml) {
    adapters::vdxp::VdxpSettings settings;
    settings.url = "http://127.0.0.1:" + std::to_string(process.exchange_port());
    settings.system_id = "huong-hoa";
    settings.secret = read(pki("huong-hoa.secret")).substr(0, 64);
    adapters::vdxp::VdxpAdapter as_huong_hoa("province", settings);
    adapters::OutgoingPackage out{"push-" + std::to_string(++pushes_),
                                  "",
                                  "000.00.12.H50",
                                  {"000.00.13.H50"},
                                  "edoc",
                                  signed_xml,
                                  ""};
    return as_huong_hoa.deliver(out);
  }

  std::string metrics() {
    const auto r =
        http("GET", process.api_url() + "/metrics", {"Authorization: Bearer " + kOpsToken});
    BOOST_REQUIRE_EQUAL(r.status, 200);
    return r.body;
  }
  // An unlabelled series; -1 when the gateway does not export it.
  double series(const std::string& name) { return metric(metrics(), name).value_or(-1); }

  HttpResult healthz() { return http("GET", process.api_url() + "/healthz"); }
  nlohmann::json health() { return nlohmann::json::parse(healthz().body); }

  // SIGHUP with a new gateway.xml; returns once the log says it is in force.
  void reload(const std::string& xml) {
    const size_t before = occurrences(process.log(), "\"configuration reloaded\"");
    process.rewrite_config(xml);
    process.signal(SIGHUP);
    BOOST_REQUIRE_MESSAGE(eventually([&] {
                            return occurrences(process.log(), "\"configuration reloaded\"") >
                                   before;
                          }),
                          "the reload did not happen:\n"
                              << process.log());
  }

  GatewayProcess process;

 private:
  int pushes_ = 0;
};

// Expect the hub to accept (a readable failure when it refuses).
#define EXPECT_ACCEPTED(result)                                                         \
  do {                                                                                  \
    const auto& r_ = (result);                                                          \
    BOOST_TEST(r_.ok(), "refused: " << (r_.ok() ? std::string() : r_.error().message)); \
  } while (false)

// The hub's refusal text ("" when it accepted).
template <class R>
std::string refusal(const R& r) {
  return r.ok() ? std::string() : r.error().message;
}

// An in-process PKI with its CRLs on a loopback HTTP server: a root (the
// anchor), an issuing CA and a second CA that the root revokes, both
// naming /root.crl; the CAs assert anyPolicy. Leaves of Hướng Hóa (UID
// 000.00.12.H50) name their CA's CRL.
struct BuiltPki {
  TempDir dir;
  HttpFileServer server;
  pb::Issued root, ca, revoked_ca;

  BuiltPki() {
    auto root_spec = pb::ca_spec({{"C", "VN"}, {"O", "Trust Ops Test"}, {"CN", "Trust Ops Root"}});
    root_spec.extensions.push_back({"certificatePolicies", kAnyPolicy});
    root = pb::make(root_spec, nullptr);
    ca = make_ca("Trust Ops Issuing CA");
    revoked_ca = make_ca("Trust Ops Revoked CA");
    pb::write_file(dir / "root.pem", pb::pem(root.x509()));
    pb::write_file(dir / "ca.pem", pb::pem(ca.x509()));
    pb::write_file(dir / "revoked-ca.pem", pb::pem(revoked_ca.x509()));
    pb::CrlSpec root_crl;
    pb::RevokedEntry entry;
    entry.serial = pb::serial_of(revoked_ca.x509());
    root_crl.revoked.push_back(entry);
    server.set("/root.crl", pb::der(pb::make_crl(root_crl, root).get()));
    set_crl("/ca.crl", ca);
    set_crl("/revoked-ca.crl", revoked_ca);
  }

  pb::Issued make_ca(const std::string& name) {
    auto spec = pb::ca_spec({{"C", "VN"}, {"O", "Trust Ops Test"}, {"CN", name}});
    spec.extensions.push_back({"crlDistributionPoints", "URI:" + server.url("/root.crl")});
    spec.extensions.push_back({"certificatePolicies", kAnyPolicy});
    return pb::make(spec, &root);
  }

  // Serves `issuer`'s CRL at `path`, revoking `revoked` serials.
  void set_crl(const std::string& path, const pb::Issued& issuer,
               const std::vector<std::uint64_t>& revoked = {},
               TimePoint next_update = now_seconds() + hours(24 * 7),
               TimePoint this_update = now_seconds() - hours(1)) {
    pb::CrlSpec spec;
    spec.this_update = this_update;
    spec.next_update = next_update;
    for (auto serial : revoked) {
      pb::RevokedEntry entry;
      entry.serial = serial;
      spec.revoked.push_back(entry);
    }
    server.set(path, pb::der(pb::make_crl(spec, issuer).get()));
  }

  // A leaf named `stem` under `issuer`, naming `crl_path` on the server
  // (none when ""), written as STEM.pem/.key; the chain is the issuer.
  Signer leaf(const std::string& stem, const pb::Issued& issuer, const std::string& crl_path,
              std::vector<pb::Extension> extensions = {}, std::uint64_t serial = 0,
              const std::string& organ_id = "000.00.12.H50",
              TimePoint not_before = now_seconds() - hours(24),
              TimePoint not_after = now_seconds() + hours(24 * 365)) {
    auto spec = pb::leaf_spec({{"C", "VN"},
                               {"ST", "Quảng Trị"},
                               {"O", "UBND huyện Hướng Hóa"},
                               {"CN", "UBND huyện Hướng Hóa " + stem},
                               {"UID", organ_id}});
    spec.serial = serial;
    spec.not_before = not_before;
    spec.not_after = not_after;
    if (!crl_path.empty())
      spec.extensions.push_back({"crlDistributionPoints", "URI:" + server.url(crl_path)});
    for (auto& e : extensions) spec.extensions.push_back(std::move(e));
    const auto issued = pb::make(spec, &issuer);
    Signer s{dir / (stem + ".pem"), dir / (stem + ".key"),
             dir / (&issuer == &ca ? "ca.pem" : "revoked-ca.pem")};
    pb::write_file(s.cert, pb::pem(issued.x509()));
    pb::write_file(s.key, pb::private_key_pem(issued.key.get()));
    return s;
  }

  fs::path anchors() const { return dir / "root.pem"; }
};

}  // namespace

BOOST_AUTO_TEST_CASE(ocsp_answers_are_cached_kept_across_a_restart_and_outlive_the_responder) {
  TempDir dir;
  auto responder = std::make_unique<OcspResponder>();
  const std::string url = responder->url();
  const std::string xml = hub_xml(R"(anchors=")" + pki("root.pem").string() +
                                  R"(" revocation="require" ocsp="on" ocsp-url=")" +
                                  responder->url() + R"(" ocsp-timeout="2s")");
  auto hub = std::make_unique<RunningGateway>(dir / "hub", xml);

  EXPECT_ACCEPTED(hub->push(signed_package(dir, "700", sample_huong_hoa())));
  BOOST_TEST(hub->series("edocgw_ocsp_requests_total") == 1);
  BOOST_TEST(hub->series("edocgw_ocsp_cache_hits_total") == 0);

  // The second package from the same signer: the answer is still current.
  EXPECT_ACCEPTED(hub->push(signed_package(dir, "701", sample_huong_hoa())));
  BOOST_TEST(hub->series("edocgw_ocsp_requests_total") == 1);
  BOOST_TEST(hub->series("edocgw_ocsp_cache_hits_total") >= 1);
  BOOST_TEST(hub->series("edocgw_revocation_ocsp_answers_cached") == 1);

  // The answer is on disk, and a new process uses it without asking.
  BOOST_TEST(hub->process.stop() == 0);
  size_t kept = 0;
  for (const auto& e : fs::directory_iterator(dir / "hub/var/revocation/ocsp"))
    kept += e.path().extension() == ".der";
  BOOST_TEST(kept == 1u);
  hub->process.start();
  EXPECT_ACCEPTED(hub->push(signed_package(dir, "702", sample_huong_hoa())));
  BOOST_TEST(hub->series("edocgw_ocsp_requests_total") == 0);
  BOOST_TEST(hub->series("edocgw_ocsp_cache_hits_total") >= 1);

  // A revoked signer is asked about, and refused on the responder's word.
  const auto revoked = hub->push(
      signed_package(dir, "703", {pki("revoked.pem"), pki("revoked.key"), pki("ca.pem")}));
  BOOST_REQUIRE(!revoked.ok());
  BOOST_TEST((revoked.error().code == Errc::invalid));
  BOOST_TEST(contains(refusal(revoked), "(serial 1008) was revoked on"), refusal(revoked));
  BOOST_TEST(contains(refusal(revoked), "per the OCSP responder " + url), refusal(revoked));
  BOOST_TEST(hub->series("edocgw_ocsp_requests_total") == 1);

  // The responder goes away: the cached answer still proves the status.
  responder.reset();
  EXPECT_ACCEPTED(hub->push(signed_package(dir, "704", sample_huong_hoa())));
  BOOST_TEST(hub->series("edocgw_ocsp_requests_total") == 1);
  BOOST_TEST(hub->series("edocgw_ocsp_failures_total") == 0);
  const auto health = hub->healthz();
  BOOST_TEST(health.status == 200, health.body);

  // ... and only what it knows: a signer never asked about is unknown,
  // refused under require, and the unreachable responder makes the hub
  // unhealthy.
  const auto unknown = hub->push(signed_package(
      dir, "705", {pki("huong-hoa-ec.pem"), pki("huong-hoa-ec.key"), pki("ca.pem")}));
  BOOST_REQUIRE(!unknown.ok());
  BOOST_TEST(contains(refusal(unknown), "revocation status of the signer certificate is unknown"),
             refusal(unknown));
  BOOST_TEST(hub->series("edocgw_ocsp_failures_total") == 1);
  const auto after = hub->healthz();
  BOOST_TEST(after.status == 503, after.body);
  BOOST_TEST(contains(after.body, "\"kind\":\"ocsp\""), after.body);
  BOOST_TEST(contains(after.body, url), after.body);
}

BOOST_AUTO_TEST_CASE(crls_are_fetched_from_the_distribution_points_once_and_revocations_refuse) {
  BuiltPki p;
  const auto good = p.leaf("good", p.ca, "/ca.crl", {}, 1001);
  const auto revoked = p.leaf("revoked", p.ca, "/ca.crl", {}, 1002);
  const auto under_revoked_ca = p.leaf("under-revoked-ca", p.revoked_ca, "/revoked-ca.crl");
  p.set_crl("/ca.crl", p.ca, {1002});
  TempDir dir;
  RunningGateway hub(dir / "hub",
                     hub_xml(R"(anchors=")" + p.anchors().string() +
                             R"(" revocation="require" crl-fetch="on" fetch-timeout="2s")"));

  EXPECT_ACCEPTED(hub.push(signed_package(dir, "710", good)));
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);
  BOOST_TEST(p.server.requests("/root.crl") == 1u);
  BOOST_TEST(hub.series("edocgw_crl_fetches_total") == 2);
  BOOST_TEST(hub.series("edocgw_revocation_crls_cached") == 2);
  // Fetched CRLs persist under DATA_DIR/revocation/crl (.url + .crl each).
  size_t persisted = 0;
  for (const auto& e : fs::directory_iterator(dir / "hub/var/revocation/crl"))
    persisted += e.path().extension() == ".crl";
  BOOST_TEST(persisted == 2u);

  EXPECT_ACCEPTED(hub.push(signed_package(dir, "711", good)));
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);
  BOOST_TEST(p.server.requests("/root.crl") == 1u);
  BOOST_TEST(hub.series("edocgw_crl_fetches_total") == 2);

  // A restart reads the CRLs from DATA_DIR/revocation: nothing fetched.
  BOOST_TEST(hub.process.stop() == 0);
  hub.process.start();
  EXPECT_ACCEPTED(hub.push(signed_package(dir, "714", good)));
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);
  BOOST_TEST(p.server.requests("/root.crl") == 1u);
  BOOST_TEST(hub.series("edocgw_crl_fetches_total") == 0);
  BOOST_TEST(hub.series("edocgw_revocation_crls_cached") == 2);

  // Revoked in ca.crl: refused, and said so.
  const auto refused = hub.push(signed_package(dir, "712", revoked));
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.error().code == Errc::invalid));  // final: not retried
  BOOST_TEST(contains(refusal(refused), "(serial 03EA) was revoked on"), refusal(refused));
  BOOST_TEST(contains(refusal(refused), "per the CRL of 'CN=Trust Ops Issuing CA"),
             refusal(refused));
  BOOST_TEST(p.server.requests("/ca.crl") == 1u);

  // The CA itself revoked in root.crl: everything under it is refused.
  const auto under = hub.push(signed_package(dir, "713", under_revoked_ca));
  BOOST_REQUIRE(!under.ok());
  BOOST_TEST((under.error().code == Errc::invalid));
  BOOST_TEST(contains(refusal(under), "'CN=Trust Ops Revoked CA,O=Trust Ops Test,C=VN' (serial "),
             refusal(under));
  BOOST_TEST(contains(refusal(under), "was revoked on"), refusal(under));
  BOOST_TEST(contains(refusal(under), "per the CRL of 'CN=Trust Ops Root"), refusal(under));
  BOOST_TEST(p.server.requests("/root.crl") == 1u);
  BOOST_TEST(hub.healthz().status == 200, hub.healthz().body);
}

BOOST_AUTO_TEST_CASE(stale_revocation_data_is_judged_by_the_policy_in_force) {
  BuiltPki p;
  const auto signer = p.leaf("signer", p.ca, "/ca.crl");
  const std::string ca_crl = p.server.url("/ca.crl");
  // A CRL that goes out of date in a few seconds, then nothing to replace it.
  const TimePoint next_update = now_seconds() + seconds(5);
  p.set_crl("/ca.crl", p.ca, {}, next_update, now_seconds() - seconds(1));
  TempDir dir;
  const std::string trust =
      R"(anchors=")" + p.anchors().string() + R"(" crl-fetch="on" fetch-timeout="1s" revocation=")";
  RunningGateway hub(dir / "hub", hub_xml(trust + R"(require")"));
  EXPECT_ACCEPTED(hub.push(signed_package(dir, "720", signer)));
  BOOST_TEST(hub.healthz().status == 200, hub.healthz().body);
  p.server.remove("/ca.crl");

  // Past nextUpdate: unhealthy under require, with the stale CRL named.
  BOOST_REQUIRE(eventually([&] { return hub.healthz().status == 503; }, 15));
  BOOST_TEST((now_seconds() >= next_update));
  {
    const auto h = hub.health();
    BOOST_TEST(h["status"] == "unhealthy", h.dump());
    BOOST_REQUIRE_EQUAL(h["revocation"].size(), 1u);
    BOOST_TEST(h["revocation"][0]["kind"] == "crl");
    BOOST_TEST(h["revocation"][0]["source"] == ca_crl);
    BOOST_TEST(h["revocation"][0]["stale"] == true);
    BOOST_TEST(contains(h["reasons"].dump(), ca_crl), h.dump());
  }
  const auto refused = hub.push(signed_package(dir, "721", signer));
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.error().code == Errc::invalid));
  const std::string why = refusal(refused);
  BOOST_TEST(contains(why, "revocation status of the signer certificate is unknown"), why);
  BOOST_TEST(contains(why, "is out of date since " + format_rfc3339(next_update)), why);
  BOOST_TEST(contains(why, "(revocation=\"require\")"), why);
  BOOST_TEST(p.server.requests("/ca.crl") == 2u);  // asked again once stale: 404
  {
    // The failed fetch is named.
    const auto h = hub.health();
    BOOST_TEST(contains(h["revocation"][0]["problem"].get<std::string>(), "404"), h.dump());
  }
  BOOST_TEST(hub.series("edocgw_revocation_stale_sources") == 1);
  BOOST_TEST(hub.series("edocgw_revocation_unknown_accepted_total") == -1);  // none yet

  // Hướng Hóa's packages under prefer: accepted, and counted.
  hub.reload(
      hub_xml(trust + R"(require")", R"(<accept from="000.00.12.H50" revocation="prefer"/>)"));
  EXPECT_ACCEPTED(hub.push(signed_package(dir, "722", signer)));
  BOOST_TEST(hub.series("edocgw_revocation_unknown_accepted_total") == 1);
  {
    // Still required on <trust> (for every other sender): still 503.
    const auto r = hub.healthz();
    BOOST_TEST(r.status == 503, r.body);
    BOOST_TEST(contains(r.body, ca_crl), r.body);
  }

  // prefer on <trust>: the stale CRL is reported, the gateway healthy.
  hub.reload(hub_xml(trust + R"(prefer")"));
  {
    const auto r = hub.healthz();
    BOOST_TEST(r.status == 200, r.body);
    const auto h = nlohmann::json::parse(r.body);
    BOOST_TEST(h["status"] == "ok", r.body);
    BOOST_REQUIRE_EQUAL(h["revocation"].size(), 1u);
    BOOST_TEST(h["revocation"][0]["source"] == ca_crl);
    BOOST_TEST(h["revocation"][0]["stale"] == true);
  }
  EXPECT_ACCEPTED(hub.push(signed_package(dir, "723", signer)));
  BOOST_TEST(hub.series("edocgw_revocation_unknown_accepted_total") == 2);

  // The other way round: prefer on <trust>, require for Hướng Hóa. Its
  // packages are refused for want of a current CRL, so /healthz is 503.
  hub.reload(
      hub_xml(trust + R"(prefer")", R"(<accept from="000.00.12.H50" revocation="require"/>)"));
  const auto required = hub.push(signed_package(dir, "725", signer));
  BOOST_REQUIRE(!required.ok());
  BOOST_TEST(contains(refusal(required), "is out of date since"), refusal(required));
  {
    const auto r = hub.healthz();
    BOOST_TEST(contains(r.body, ca_crl), r.body);
    BOOST_TEST(r.status == 503, r.body);
  }

  // off on <trust>: a fresh gateway fetches nothing and asks nothing.
  const size_t asked = p.server.requests();
  RunningGateway off(dir / "off", hub_xml(trust + R"(off")"));
  EXPECT_ACCEPTED(off.push(signed_package(dir, "724", signer)));
  BOOST_TEST(p.server.requests() == asked);
  BOOST_TEST(off.series("edocgw_crl_fetches_total") == -1);  // no revocation cache at all
  BOOST_TEST(off.series("edocgw_revocation_unknown_accepted_total") == -1);
  const auto h = off.healthz();
  BOOST_TEST(h.status == 200, h.body);
  BOOST_TEST(!contains(h.body, "\"revocation\""), h.body);
  BOOST_TEST(!fs::exists(dir / "off/var/revocation/crl"));
}

BOOST_AUTO_TEST_CASE(a_required_certificate_policy_accepts_the_paths_valid_for_it_only) {
  BuiltPki p;
  const auto with_policy =
      p.leaf("with-policy", p.ca, "", {{"certificatePolicies", kRequiredPolicy}});
  const auto other_policy =
      p.leaf("other-policy", p.ca, "", {{"certificatePolicies", "1.2.3.4.6"}});
  const auto without = p.leaf("without-policy", p.ca, "");
  TempDir dir;
  const std::string xml = hub_xml(R"(anchors=")" + p.anchors().string() +
                                  R"(" revocation="off" policies=")" + kRequiredPolicy + "\"");
  RunningGateway hub(dir / "hub", xml);

  const std::string good = signed_package(dir, "730", with_policy);
  EXPECT_ACCEPTED(hub.push(good));
  write(dir / "good.xml", good);
  const auto v = run(edocgw_cmd() + " verify --config " + quote(dir / "hub/gateway.xml") +
                     " --json --in " + quote(dir / "good.xml"));
  BOOST_TEST(v.exit_code == 0, v.out << v.err);
  const auto report = nlohmann::json::parse(v.out, nullptr, false);
  BOOST_TEST(report.value("certificate_policy", nlohmann::json()) == kRequiredPolicy, v.out);

  for (const auto& [number, signer] : {std::pair{"731", without}, std::pair{"732", other_policy}}) {
    const auto refused = hub.push(signed_package(dir, number, signer));
    BOOST_REQUIRE(!refused.ok());
    BOOST_TEST((refused.error().code == Errc::invalid));
    BOOST_TEST(contains(refusal(refused), kRequiredPolicy), refusal(refused));
    BOOST_TEST(contains(refusal(refused), "valid for none of the required certificate policies"),
               refusal(refused));
  }
  write(dir / "without.xml", signed_package(dir, "733", without));
  const auto w = run(edocgw_cmd() + " verify --config " + quote(dir / "hub/gateway.xml") +
                     " --json --in " + quote(dir / "without.xml"));
  BOOST_TEST(w.exit_code == 1, w.out << w.err);
  BOOST_TEST(contains(w.err, kRequiredPolicy), w.err);
}

namespace {

// A district gateway of Hướng Hóa whose identity is `identity` (chain: the
// built CA), with an <api> for /healthz and /metrics.
std::string district_xml(const BuiltPki& p, const Signer& identity) {
  return R"(<gateway organ-id="000.00.12.H50" name="UBND huyện Hướng Hóa" data-dir="var">
  <identity cert=")" +
         identity.cert.string() + R"(" key=")" + identity.key.string() + R"(" chain=")" +
         identity.chain.string() + R"("/>
  <trust anchors=")" +
         p.anchors().string() + R"("/>
  <api listen="127.0.0.1:0">
    <client name="ops" token-sha256=")" +
         sha256_hex(kOpsToken) + R"("/>
  </api>
</gateway>
)";
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_identity_about_to_expire_is_warned_of_and_an_expired_one_stops_the_start) {
  BuiltPki p;
  const TimePoint soon = now_seconds() + hours(24 * 10 + 1);  // "10d" left
  const auto expiring =
      p.leaf("expiring", p.ca, "", {}, 0, "000.00.12.H50", now_seconds() - hours(24), soon);
  TempDir dir;
  fs::create_directories(dir / "district");
  write(dir / "district/check.xml", district_xml(p, expiring));

  const auto check = run(edocgw_cmd() + " config check " + quote(dir / "district/check.xml"));
  BOOST_TEST(check.exit_code == 0, check.out << check.err);
  const std::string soon_line = "  expires     " + format_rfc3339(soon) + "  SOON 10d   identity: ";
  BOOST_TEST(contains(check.out, soon_line), check.out);
  BOOST_TEST(contains(check.out, "UBND huyện Hướng Hóa expiring"), check.out);
  BOOST_TEST(contains(check.err, "warning: "), check.err);
  BOOST_TEST(contains(check.err, "the identity certificate"), check.err);
  BOOST_TEST(contains(check.err, "expires in 10 day(s) (" + format_rfc3339(soon) + ")"), check.err);
  // The CA and the anchor are far from expiry: ok.
  BOOST_TEST(occurrences(check.out, "SOON") == 1u, check.out);
  BOOST_TEST(contains(check.out, "anchor: "), check.out);

  {
    RunningGateway district(dir / "district", district_xml(p, expiring));
    BOOST_TEST(contains(district.process.log(), "expires in 10 day(s)"), district.process.log());
    BOOST_TEST(district.series("edocgw_certificates_expiring") >= 1);
    // Seconds left on the identity: ten days and an hour, less the test's own time.
    const std::string text = district.metrics();
    const std::string series = "edocgw_certificate_expiry_seconds{role=\"identity\",sha256=\"";
    const auto at = text.find(series);
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, text);
    const std::string line = text.substr(at, text.find('\n', at) - at);
    const double left = std::stod(line.substr(line.rfind(' ') + 1));
    BOOST_TEST(left <= 24.0 * 3600 * 10 + 3600, line);
    BOOST_TEST(left > 24.0 * 3600 * 10 + 3600 - 120, line);
    const auto r = district.healthz();
    BOOST_TEST(r.status == 200, r.body);
    const auto h = nlohmann::json::parse(r.body);
    BOOST_TEST(h["status"] == "ok", r.body);
    BOOST_REQUIRE(h.contains("expiring"));
    BOOST_TEST(contains(h["expiring"].dump(), "expiring"), r.body);
    BOOST_TEST(contains(h["expiring"].dump(), "expires in 10 day(s)"), r.body);
  }

  // Expired yesterday: the gateway does not start, and says why with the dates.
  const TimePoint from = now_seconds() - hours(24 * 365), until = now_seconds() - hours(24);
  const auto expired = p.leaf("expired", p.ca, "", {}, 0, "000.00.12.H50", from, until);
  fs::create_directories(dir / "expired");
  write(dir / "expired/gateway.xml", district_xml(p, expired));
  const auto check_expired =
      run(edocgw_cmd() + " config check " + quote(dir / "expired/gateway.xml"));
  BOOST_TEST(check_expired.exit_code == 1, check_expired.out << check_expired.err);
  BOOST_TEST(contains(check_expired.err, "is expired (valid " + format_rfc3339(from) + " to " +
                                             format_rfc3339(until) + ")"),
             check_expired.err);
  const auto serve = run("cd " + quote(dir / "expired") + " && timeout 20 " + edocgw_cmd() +
                         " serve --config " + quote(dir / "expired/gateway.xml"));
  BOOST_TEST(serve.exit_code == 1, serve.out << serve.err);
  BOOST_TEST(contains(serve.err, "cannot start"), serve.err);
  BOOST_TEST(contains(serve.err, "is expired (valid " + format_rfc3339(from) + " to " +
                                     format_rfc3339(until) + ")"),
             serve.err);
  BOOST_TEST(!contains(serve.err, "gateway started"), serve.err);
}
