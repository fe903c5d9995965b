// `edocgw config init` (gateway/config_init.h): the starting gateway.xml is
// what the loader reads, names the organisation exactly, lists every file it
// needs, and passes `config check` once those files exist, through the
// library and through the binary.
#define BOOST_TEST_MODULE config_init
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include <pugixml.hpp>

#include "adapters/adapter.h"
#include "gateway/config_check.h"
#include "gateway/config_init.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using test::pki;
using test::quote;

namespace {

namespace fs = std::filesystem;

const std::string kDistrictId = "000.00.12.H50";  // huong-hoa.pem's UID
const std::string kHubId = "000.00.00.H50";       // quang-tri.pem's UID
// Every character XML escapes, a tab, and Vietnamese.
const std::string kTrickyName = "UBND huyện Hướng Hóa & <Đakrông> \"Quảng Trị\" 'số 1'\tmới";

gateway::InitOptions district_options() {
  gateway::InitOptions o;
  o.organ_id = kDistrictId;
  o.name = "UBND huyện Hướng Hóa";
  return o;
}

gateway::InitOptions hub_options() {
  gateway::InitOptions o;
  o.organ_id = kHubId;
  o.name = "UBND tỉnh Quảng Trị";
  o.hub = true;
  return o;
}

gateway::InitResult render(const gateway::InitOptions& o) {
  auto r = gateway::render_initial_config(o);
  if (!r) BOOST_FAIL("render_initial_config: " + r.error().message);
  return *r;
}

struct Parsed {
  pugi::xml_document doc;
  pugi::xml_node gateway;
  explicit Parsed(const std::string& xml) {
    const auto result = doc.load_string(xml.c_str(), pugi::parse_default | pugi::parse_comments);
    BOOST_REQUIRE_MESSAGE(result, std::string("not well-formed: ") + result.description());
    gateway = doc.document_element();
    BOOST_REQUIRE(std::string(gateway.name()) == "gateway");
  }
};

void collect(const pugi::xml_node& n, std::vector<std::string>& comments,
             std::vector<std::pair<std::string, std::string>>& attributes) {
  for (const auto& c : n.children()) {
    if (c.type() == pugi::node_comment) comments.push_back(c.value());
    for (const auto& a : c.attributes()) attributes.emplace_back(a.name(), a.value());
    collect(c, comments, attributes);
  }
}

// The attributes through which gateway.xml names a file config check reads.
const std::set<std::string> kFileAttributes = {
    "cert",    "key",           "chain",     "anchors", "crl",         "secret-file", "tls-cert",
    "tls-key", "tls-client-ca", "organ-map", "ca-file", "client-cert", "client-key"};

// What the template says, seen through pugixml: the organisation, comments
// for a new administrator, and a needed-file list that is exactly the files
// the live elements name.
void check_shape(const gateway::InitOptions& o, const gateway::InitResult& r) {
  BOOST_TEST(!r.xml.empty());
  BOOST_TEST(r.xml.back() == '\n');
  Parsed p(r.xml);
  BOOST_TEST(p.gateway.attribute("organ-id").value() == o.organ_id);
  BOOST_TEST(p.gateway.attribute("name").value() == o.name);
  BOOST_TEST(p.gateway.attribute("data-dir").value() == o.data_dir);

  std::vector<std::string> comments;
  std::vector<std::pair<std::string, std::string>> attributes;
  collect(p.doc, comments, attributes);
  BOOST_TEST(comments.size() >= 5u);
  std::string all_comments;
  for (const auto& c : comments) {
    // XML forbids "--" inside a comment; libxml2 would refuse the file.
    BOOST_TEST(c.find("--") == std::string::npos, "a comment holds \"--\": " << c);
    all_comments += c;
  }
  for (const char* topic : {"revocation", "require", "<accept", "tls-cert", "sha256sum"})
    BOOST_TEST(all_comments.find(topic) != std::string::npos, "no comment mentions " << topic);

  std::set<std::string> named;
  for (const auto& [name, value] : attributes) {
    if (kFileAttributes.count(name)) named.insert(value);
  }
  std::set<std::string> needed;
  for (const auto& n : r.needed) {
    BOOST_TEST(!n.what.empty(), n.path);
    BOOST_TEST(needed.insert(n.path).second, "listed twice: " << n.path);
    BOOST_TEST(fs::path(n.path).is_relative(), n.path);
  }
  BOOST_TEST(named == needed);
  BOOST_TEST(!r.next_steps.empty());
}

// Makes the needed file `path` in `dir` from the sample PKI, as an
// administrator would from what the CA and the province hand over.
void provide(const fs::path& dir, const std::string& path, const std::string& stem) {
  const fs::path target = dir / path;
  fs::create_directories(target.parent_path());
  const std::string name = target.filename().string();
  if (name == "identity.pem") {
    test::write(target, test::read(pki(stem + ".pem")) + test::read(pki("ca.pem")));
  } else if (name == "identity.key") {
    test::write(target, test::read(pki(stem + ".key")));
  } else if (name == "anchors.pem") {
    test::write(target, test::read(pki("root.pem")));
  } else if (target.extension() == ".secret") {
    test::write(target, "a shared secret of this test\n");
  } else {
    BOOST_FAIL("the test does not know how to make " + path);
  }
}

Result<gateway::LoadedConfig> check(const fs::path& file) {
  adapters::AdapterRegistry registry;
  adapters::register_builtin_adapters(registry);
  return gateway::load_and_check(file, registry);
}

// The library end to end: the rendered file fails the checks while any
// needed file is missing (naming it), and passes once all exist.
void check_needs_exactly_the_listed_files(const gateway::InitOptions& o, const std::string& stem) {
  const auto r = render(o);
  BOOST_REQUIRE(!r.needed.empty());
  for (size_t missing = 0; missing < r.needed.size(); ++missing) {
    test::TempDir dir;
    test::write(dir / "gateway.xml", r.xml);
    for (size_t i = 0; i < r.needed.size(); ++i) {
      if (i != missing) provide(dir.path(), r.needed[i].path, stem);
    }
    const auto loaded = check(dir / "gateway.xml");
    BOOST_TEST(!loaded, r.needed[missing].path << " is listed but not needed");
    if (!loaded) {
      BOOST_TEST(loaded.error().message.find(r.needed[missing].path) != std::string::npos,
                 loaded.error().message);
    }
  }
  test::TempDir dir;
  test::write(dir / "gateway.xml", r.xml);
  for (const auto& n : r.needed) provide(dir.path(), n.path, stem);
  const auto loaded = check(dir / "gateway.xml");
  BOOST_REQUIRE_MESSAGE(loaded, (loaded ? "" : loaded.error().message));
  BOOST_TEST(loaded->config.organ_id == o.organ_id);
  BOOST_TEST(loaded->config.name == o.name);
  BOOST_TEST(loaded->config.data_dir == (dir.path() / o.data_dir).lexically_normal());
}

bool binary_has_config_init() {
  const auto r = test::run(test::edocgw_cmd() + " config init --help");
  return r.exit_code == 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_district_gets_identity_trust_province_office_and_routes) {
  auto o = district_options();
  o.data_dir = "/srv/edocgw data";
  const auto r = render(o);
  check_shape(o, r);
  Parsed p(r.xml);
  const auto g = p.gateway;
  BOOST_TEST(g.child("identity").attribute("cert").value() == std::string("certs/identity.pem"));
  BOOST_TEST(g.child("identity").attribute("key").value() == std::string("certs/identity.key"));
  BOOST_TEST(g.child("trust").attribute("anchors").value() == std::string("certs/anchors.pem"));
  BOOST_TEST(g.child("trust").attribute("revocation").value() == std::string("prefer"));
  BOOST_TEST(g.child("trust").attribute("crl-fetch").value() == std::string("on"));
  // No token is baked in: the API is a commented example until one is made.
  BOOST_TEST(!g.child("api"));
  BOOST_TEST(r.xml.find("<api listen=\"127.0.0.1:8080\">") != std::string::npos);
  BOOST_TEST(!g.child("exchange"));
  const auto province = g.child("adapters").find_child_by_attribute("adapter", "name", "province");
  BOOST_TEST(province.attribute("type").value() == std::string("vdxp"));
  BOOST_TEST(std::string(province.attribute("url").value()).find(".invalid") != std::string::npos);
  BOOST_TEST(province.attribute("system-id").value() == kDistrictId);
  const auto office = g.child("adapters").find_child_by_attribute("adapter", "name", "office");
  BOOST_TEST(office.attribute("type").value() == std::string("directory"));
  BOOST_TEST(office.attribute("path").value() == std::string("/srv/edocgw data/inbox"));
  BOOST_TEST(g.child("routes").child("route").attribute("to").value() == std::string("*"));
  BOOST_TEST(g.child("routes").child("route").attribute("via").value() == std::string("province"));
  BOOST_TEST(g.child("routes").child("inbound").attribute("via").value() == std::string("office"));
  std::set<std::string> needed;
  for (const auto& n : r.needed) needed.insert(n.path);
  BOOST_TEST(needed == (std::set<std::string>{"certs/identity.pem", "certs/identity.key",
                                              "certs/anchors.pem", "secrets/province.secret"}));
}

BOOST_AUTO_TEST_CASE(a_hub_serves_the_exchange_with_no_client_and_no_adapter_of_its_own) {
  const auto o = hub_options();
  const auto r = render(o);
  check_shape(o, r);
  Parsed p(r.xml);
  const auto ex = p.gateway.child("exchange");
  BOOST_REQUIRE(ex);
  BOOST_TEST(ex.attribute("listen").value() == std::string("127.0.0.1:9090"));
  // A client needs a secret file: only an example in a comment.
  BOOST_TEST(!ex.child("client"));
  BOOST_TEST(r.xml.find("<client system-id=") != std::string::npos);
  BOOST_TEST(!p.gateway.child("adapters"));
  BOOST_TEST(!p.gateway.child("routes"));
  BOOST_TEST(!p.gateway.child("api"));
  for (const auto& n : r.needed) BOOST_TEST(n.path.find(".secret") == std::string::npos, n.path);
}

// Values inside the commented examples: a data-dir with "--" must not end
// a comment early (xmllint and other parsers refuse "--" in a comment).
BOOST_AUTO_TEST_CASE(a_data_dir_with_double_hyphens_keeps_the_comments_well_formed) {
  auto o = hub_options();
  o.data_dir = "/srv/a--b---c";
  const auto r = render(o);
  check_shape(o, r);
  BOOST_TEST(r.xml.find("/srv/a-&#45;b-&#45;&#45;c/inbox") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_name_is_escaped_and_reads_back_exactly) {
  auto o = district_options();
  o.name = kTrickyName;
  const auto r = render(o);
  check_shape(o, r);
  BOOST_TEST(r.xml.find("&amp;") != std::string::npos);
  BOOST_TEST(r.xml.find("&lt;Đakrông&gt;") != std::string::npos);
  // The loader itself reads it back byte for byte (and the rest passes).
  auto hub = hub_options();
  hub.name = kTrickyName;
  check_needs_exactly_the_listed_files(hub, "quang-tri");
}

BOOST_AUTO_TEST_CASE(a_bad_organ_id_is_a_usage_error_that_says_why) {
  for (const std::string bad : {"", "12.H50", "000.00.12.h50", "000.00.12.H50 ", "vxp.saas.03",
                                "28.22.H17", "000.00.12", "000.00.12.H50\"/><x a=\""}) {
    auto o = district_options();
    o.organ_id = bad;
    const auto r = gateway::render_initial_config(o);
    BOOST_REQUIRE_MESSAGE(!r, "accepted organ id '" << bad << "'");
    BOOST_TEST((r.error().code == Errc::usage), bad);
    // Says what a valid code looks like.
    BOOST_TEST(r.error().message.find("000.00.12.H50") != std::string::npos, r.error().message);
  }
}

BOOST_AUTO_TEST_CASE(an_empty_name_or_data_dir_or_a_bad_token_hash_is_a_usage_error) {
  for (const std::string& name :
       std::vector<std::string>{"", "   ", "\t\n", std::string("UBND\x01", 5), "\xff\xfe"}) {
    auto o = district_options();
    o.name = name;
    const auto r = gateway::render_initial_config(o);
    BOOST_REQUIRE_MESSAGE(!r, "accepted the name '" << name << "'");
    BOOST_TEST((r.error().code == Errc::usage));
    BOOST_TEST(r.error().message.find("name") != std::string::npos, r.error().message);
  }
  auto o = district_options();
  o.data_dir = "";
  const auto empty_dir = gateway::render_initial_config(o);
  BOOST_REQUIRE(!empty_dir);
  BOOST_TEST((empty_dir.error().code == Errc::usage));
  for (const std::string& token : std::vector<std::string>{
           "abc", std::string(64, 'A'), std::string(63, 'a'), std::string(64, 'g')}) {
    auto t = district_options();
    t.api_token_sha256 = token;
    const auto r = gateway::render_initial_config(t);
    BOOST_REQUIRE_MESSAGE(!r, "accepted the token hash '" << token << "'");
    BOOST_TEST((r.error().code == Errc::usage));
  }
}

BOOST_AUTO_TEST_CASE(a_district_config_passes_the_checks_once_exactly_the_listed_files_exist) {
  check_needs_exactly_the_listed_files(district_options(), "huong-hoa");
}

BOOST_AUTO_TEST_CASE(a_hub_config_passes_the_checks_once_exactly_the_listed_files_exist) {
  check_needs_exactly_the_listed_files(hub_options(), "quang-tri");
}

BOOST_AUTO_TEST_CASE(an_api_token_hash_switches_the_api_on_with_that_client) {
  const std::string hash = sha256_hex("a token the administrator made");
  for (auto o : {district_options(), hub_options()}) {
    o.api_token_sha256 = hash;
    const auto r = render(o);
    check_shape(o, r);
    Parsed p(r.xml);
    BOOST_TEST(p.gateway.child("api").attribute("listen").value() == std::string("127.0.0.1:8080"));
    BOOST_TEST(p.gateway.child("api").child("client").attribute("token-sha256").value() == hash);
    check_needs_exactly_the_listed_files(o, o.hub ? "quang-tri" : "huong-hoa");
  }
}

// --- the binary ------------------------------------------------------------

namespace {

// `edocgw config init` then `config check` through the binary, as an
// administrator runs them.
void init_then_check(const std::string& flags, const std::string& stem, const std::string& name) {
  test::TempDir dir;
  const fs::path file = dir / "etc" / "gateway.xml";
  fs::create_directories(file.parent_path());
  const auto init = test::run(test::edocgw_cmd() + " config init " + flags + " --name " +
                              quote(name) + " --out " + quote(file));
  BOOST_REQUIRE_MESSAGE(init.exit_code == 0, init.err);
  BOOST_TEST(init.out.find("wrote " + file.string()) != std::string::npos, init.out);
  // The file is what the library renders, and stdout lists every needed file.
  gateway::InitOptions o;
  o.name = name;
  o.hub = flags.find("--hub") != std::string::npos;
  o.organ_id = o.hub ? kHubId : kDistrictId;
  const auto r = render(o);
  BOOST_TEST(test::read(file) == r.xml);
  for (const auto& n : r.needed)
    BOOST_TEST(init.out.find("  " + n.path + ": ") != std::string::npos, n.path << "\n"
                                                                                << init.out);

  const auto before = test::run(test::edocgw_cmd() + " config check " + quote(file));
  BOOST_TEST(before.exit_code == 1, before.out << before.err);
  BOOST_TEST(before.err.find(r.needed.front().path) != std::string::npos, before.err);

  for (const auto& n : r.needed) provide(file.parent_path(), n.path, stem);
  const auto after = test::run(test::edocgw_cmd() + " config check " + quote(file));
  BOOST_TEST(after.exit_code == 0, after.err);
  BOOST_TEST(after.out.find(": OK: ") != std::string::npos, after.out);
}

}  // namespace

BOOST_AUTO_TEST_CASE(config_init_output_passes_config_check_once_the_named_files_exist) {
  BOOST_REQUIRE_MESSAGE(binary_has_config_init(), "edocgw config init is not in the binary");
  init_then_check("--organ-id " + kDistrictId, "huong-hoa", kTrickyName);
  init_then_check("--organ-id " + kHubId + " --hub", "quang-tri", "UBND tỉnh Quảng Trị");
}

BOOST_AUTO_TEST_CASE(config_init_overwrites_an_existing_file_only_with_force) {
  BOOST_REQUIRE_MESSAGE(binary_has_config_init(), "edocgw config init is not in the binary");
  test::TempDir dir;
  const fs::path file = dir / "gateway.xml";
  const std::string mine = "<gateway/> <!-- an administrator's own file -->\n";
  test::write(file, mine);
  const std::string init = test::edocgw_cmd() + " config init --organ-id " + kDistrictId +
                           " --name " + quote("UBND huyện Hướng Hóa") + " --out " + quote(file);
  const auto refused = test::run(init);
  BOOST_TEST(refused.exit_code == 2, refused.out << refused.err);
  BOOST_TEST(!refused.err.empty());
  BOOST_TEST(test::read(file) == mine);

  // The replaced file's owner, group and mode carry over (the package's
  // gateway.xml is root:edocgw 0640); a group no one has will do as root.
  const bool root = ::geteuid() == 0;
  ::chmod(file.c_str(), 0640);
  if (root) BOOST_REQUIRE(::chown(file.c_str(), 0, 54321) == 0);
  const auto forced = test::run(init + " --force");
  BOOST_TEST(forced.exit_code == 0, forced.err);
  BOOST_TEST(test::read(file) == render(district_options()).xml);
  struct stat after {};
  BOOST_REQUIRE(::stat(file.c_str(), &after) == 0);
  BOOST_TEST((after.st_mode & 07777) == 0640u);
  if (root) BOOST_TEST(after.st_gid == 54321u);

  // With --api-token-sha256 the API is on, and config check reads the hash.
  const std::string hash = sha256_hex("token");
  const auto with_api = test::run(init + " --force --api-token-sha256 " + hash);
  BOOST_TEST(with_api.exit_code == 0, with_api.err);
  BOOST_TEST(test::read(file).find("token-sha256=\"" + hash + "\"") != std::string::npos);
  const auto bad_hash = test::run(init + " --force --api-token-sha256 ABC");
  BOOST_TEST(bad_hash.exit_code == 2);

  const auto bad = test::run(test::edocgw_cmd() + " config init --organ-id 12.H50 --name X --out " +
                             quote(dir / "other.xml"));
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(bad.err.find("000.00.12.H50") != std::string::npos, bad.err);
  BOOST_TEST(!fs::exists(dir / "other.xml"));
}

// A data-dir the daemon's user can neither write nor create (data-dir="var"
// beside /etc/edocgw/gateway.xml under the unit's ProtectSystem=strict):
// config check, the unit's ExecStartPre, warns in the daemon's words. Run
// as the unprivileged user nobody, which root can become with runuser.
BOOST_AUTO_TEST_CASE(config_check_warns_of_a_data_dir_its_user_cannot_write) {
  if (::geteuid() != 0 || !test::have("runuser")) {
    BOOST_TEST_MESSAGE("not root, or no runuser: skipped");
    return;
  }
  test::TempDir dir;
  const fs::path file = dir / "gateway.xml";
  auto o = district_options();
  o.data_dir = "locked/var";
  const auto r = render(o);
  test::write(file, r.xml);
  for (const auto& n : r.needed) provide(dir.path(), n.path, "huong-hoa");
  fs::create_directories(dir / "locked");
  BOOST_REQUIRE(
      test::run("chmod -R a+rX " + quote(dir.path()) + " && chmod 0555 " + quote(dir / "locked"))
          .exit_code == 0);
  const std::string check = test::edocgw_cmd() + " config check " + quote(file);
  // The build may sit where nobody cannot reach (a clone under /root).
  if (test::run("runuser -u nobody -- test -x " + quote(test::edocgw_bin()) + " -a -r " +
                quote(file))
          .exit_code != 0) {
    BOOST_TEST_MESSAGE("nobody cannot run the binary or read the folder here: skipped");
    return;
  }
  const auto as_nobody = test::run("runuser -u nobody -- " + check);
  BOOST_TEST(as_nobody.exit_code == 0, as_nobody.err);
  BOOST_TEST(as_nobody.err.find("warning: data-dir " + (dir / "locked/var").string() +
                                " cannot be created under " + (dir / "locked").string() +
                                " by this user") != std::string::npos,
             as_nobody.err);
  // Root may write there: no warning.
  const auto as_root = test::run(check);
  BOOST_TEST(as_root.err.find("warning: data-dir") == std::string::npos, as_root.err);
}
