// The edocgw command line as users and scripts see it (shared/INTERFACE.md):
// commands, JSON, exit codes, first stderr line.
#define BOOST_TEST_MODULE cli
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using test::pki;
using test::quote;

namespace {

struct Built {
  test::TempDir dir;
  std::string pdf = "%PDF-1.7\n% mẫu công văn\n" + std::string(3000, 'z') + "\n%%EOF\n";
  Built() {
    test::write(dir / "meta.json", test::sample_meta().dump(2));
    test::write(dir / "công-văn.pdf", pdf);
    const auto r = test::run(test::edocgw_cmd() + " edxml build --meta " +
                             quote(dir / "meta.json") + " --attach " + quote(dir / "công-văn.pdf") +
                             " --out " + quote(dir / "package.xml"));
    if (r.exit_code != 0) throw std::runtime_error(r.err);
  }
  test::CommandResult sign(const std::string& extra = "") {
    return test::run(test::edocgw_cmd() + " sign --cert " + quote(pki("huong-hoa.pem")) +
                     " --key " + quote(pki("huong-hoa.key")) + " --chain " + quote(pki("ca.pem")) +
                     " --in " + quote(dir / "package.xml") + " --out " + quote(dir / "signed.xml") +
                     extra);
  }
  test::CommandResult verify(const std::string& file, const std::string& extra = "") {
    return test::run(test::edocgw_cmd() + " verify --trust " + quote(pki("root.pem")) + " --crl " +
                     quote(pki("crls.pem")) + " --in " + quote(dir / file) + extra);
  }
};

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

}  // namespace

BOOST_AUTO_TEST_CASE(vietnamese_text_survives_build_sign_verify_and_inspect_byte_for_byte) {
  Built b;
  BOOST_REQUIRE(b.sign().exit_code == 0);
  const auto v = b.verify("signed.xml", " --json");
  BOOST_TEST(v.exit_code == 0, v.err);
  const auto report = nlohmann::json::parse(v.out);
  BOOST_TEST(report["valid"] == true);

  const auto inspect =
      test::run(test::edocgw_cmd() + " edxml inspect --json " + quote(b.dir / "signed.xml"));
  BOOST_REQUIRE(inspect.exit_code == 0);
  const auto j = nlohmann::json::parse(inspect.out);
  BOOST_TEST(j["subject"].get<std::string>() == test::kSampleSubject);
  BOOST_TEST(j["from"]["organ_name"].get<std::string>() == "UBND huyện Hướng Hóa");
  BOOST_TEST(j["signer"]["full_name"].get<std::string>() == "Nguyễn Văn Ánh");
  BOOST_TEST(j["attachments"][0]["name"].get<std::string>() == "công-văn.pdf");
  BOOST_TEST(j["attachments"][0]["sha256"].get<std::string>() == sha256_hex(b.pdf));
  BOOST_TEST(j["attachments"][0]["size"].get<size_t>() == b.pdf.size());
  BOOST_TEST(j["signature_present"] == true);
  // The signed file holds the exact UTF-8 bytes.
  BOOST_TEST(test::read(b.dir / "signed.xml").find(test::kSampleSubject) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(verify_json_has_the_documented_fields) {
  Built b;
  BOOST_REQUIRE(b.sign().exit_code == 0);
  const auto j = nlohmann::json::parse(b.verify("signed.xml", " --json").out);
  for (const char* key :
       {"valid", "reason", "signer", "chain", "signed_at", "algorithm", "checks"}) {
    BOOST_TEST(j.contains(key), key);
  }
  for (const char* key : {"subject", "organ_id", "serial", "sha256_fingerprint"}) {
    BOOST_TEST(j["signer"].contains(key), key);
  }
  BOOST_TEST(j["signer"]["organ_id"] == "000.00.12.H50");
  BOOST_TEST(j["chain"].size() == 3u);
  BOOST_TEST(j["reason"].is_null());
  BOOST_TEST(j["checks"].size() >= 10u);
  BOOST_TEST(j["package_sha256"] == sha256_hex(test::read(b.dir / "signed.xml")));
}

BOOST_AUTO_TEST_CASE(an_invalid_package_exits_1_with_the_reason_first_on_stderr) {
  Built b;
  BOOST_REQUIRE(b.sign().exit_code == 0);
  test::write(b.dir / "tampered.xml",
              test::replace_once(test::read(b.dir / "signed.xml"), "năm 2026", "năm 2027"));
  const auto r = b.verify("tampered.xml", " --json");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(first_line(r.err).find("changed after it was signed") != std::string::npos, r.err);
  const auto j = nlohmann::json::parse(r.out);
  BOOST_TEST(j["valid"] == false);
  BOOST_TEST(j["reason"].get<std::string>().find("changed after it was signed") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(usage_and_io_errors_exit_2) {
  Built b;
  BOOST_TEST(
      test::run(test::edocgw_cmd() + " verify --in " + quote(b.dir / "package.xml")).exit_code ==
      2);  // no --trust
  BOOST_TEST(
      test::run(test::edocgw_cmd() + " verify --trust " + quote(pki("root.pem")) + " --bogus")
          .exit_code == 2);
  BOOST_TEST(b.verify("does-not-exist.xml").exit_code == 2);
  BOOST_TEST(b.verify("package.xml", " --at yesterday").exit_code == 2);
  BOOST_TEST(test::run(test::edocgw_cmd() + " frobnicate").exit_code == 2);
  BOOST_TEST(test::run(test::edocgw_cmd()).exit_code == 2);
  BOOST_TEST(test::run(test::edocgw_cmd() + " --help").exit_code == 0);
  const auto missing_meta =
      test::run(test::edocgw_cmd() + " edxml build --meta " + quote(b.dir / "nope.json"));
  BOOST_TEST(missing_meta.exit_code == 2);
  BOOST_TEST(missing_meta.err.find("nope.json") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sign_and_verify_use_stdin_and_stdout_by_default) {
  Built b;
  const auto r = test::run(test::edocgw_cmd() + " sign --cert " + quote(pki("huong-hoa.pem")) +
                           " --key " + quote(pki("huong-hoa.key")) + " --chain " +
                           quote(pki("ca.pem")) + " < " + quote(b.dir / "package.xml") + " | " +
                           test::edocgw_cmd() + " verify --trust " + quote(pki("root.pem")));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.rfind("VALID", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(pkcs12_keys_take_the_passphrase_from_env_never_a_literal) {
  Built b;
  const std::string pass = test::read(pki("huong-hoa.p12.pass"));
  ::setenv("EDOCGW_P12_PASS", pass.substr(0, pass.find('\n')).c_str(), 1);
  const std::string base = test::edocgw_cmd() + " sign --key " + quote(pki("huong-hoa.p12")) +
                           " --in " + quote(b.dir / "package.xml") + " --out " +
                           quote(b.dir / "signed.xml");
  BOOST_TEST(test::run(base + " --pass env:EDOCGW_P12_PASS").exit_code == 0);
  BOOST_TEST(b.verify("signed.xml").exit_code == 0);
  const auto literal = test::run(base + " --pass hunter2");
  BOOST_TEST(literal.exit_code == 2);
  BOOST_TEST(literal.err.find("never as a literal") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sign_refuses_an_expired_certificate_with_exit_1) {
  Built b;
  const auto r =
      test::run(test::edocgw_cmd() + " sign --cert " + quote(pki("expired.pem")) + " --key " +
                quote(pki("expired.key")) + " --in " + quote(b.dir / "package.xml"));
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(first_line(r.err).find("expired") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(cert_verify_judges_chain_time_and_revocation) {
  const std::string base = test::edocgw_cmd() + " cert verify --trust " + quote(pki("root.pem")) +
                           " --untrusted " + quote(pki("ca.pem"));
  const std::string crl = " --crl " + quote(pki("ca.crl")) + " --crl " + quote(pki("root.crl"));
  BOOST_TEST(test::run(base + crl + " " + quote(pki("huong-hoa.pem"))).exit_code == 0);
  const auto revoked = test::run(base + crl + " " + quote(pki("revoked.pem")));
  BOOST_TEST(revoked.exit_code == 1);
  BOOST_TEST(first_line(revoked.err).find("revoked") != std::string::npos);
  BOOST_TEST(test::run(base + " " + quote(pki("expired.pem"))).exit_code == 1);
  BOOST_TEST(
      test::run(base + " --at 2020-06-01T00:00:00Z " + quote(pki("expired.pem"))).exit_code == 0);
  const auto json = test::run(base + " --json " + quote(pki("unrelated.pem")));
  BOOST_TEST(json.exit_code == 1);
  BOOST_TEST(nlohmann::json::parse(json.out)["valid"] == false);
}

BOOST_AUTO_TEST_CASE(status_packages_are_built_from_json) {
  test::TempDir dir;
  test::write(dir / "status.json",
              R"({"from": {"organ_id": "000.00.13.H50", "organ_name": "UBND huyện Đakrông"},
    "response_for": {"organ_id": "000.00.12.H50", "document_id": "000.00.12.H50,2026/11/28,125/UBND-VP"},
    "status_code": "03", "description": "Đã vào sổ"})");
  BOOST_REQUIRE(test::run(test::edocgw_cmd() + " edxml status --meta " +
                          quote(dir / "status.json") + " --out " + quote(dir / "status.xml"))
                    .exit_code == 0);
  const auto inspect =
      test::run(test::edocgw_cmd() + " edxml inspect " + quote(dir / "status.xml"));
  BOOST_TEST(inspect.exit_code == 0);
  BOOST_TEST(inspect.out.find("status:      03 (accepted and registered)") != std::string::npos,
             inspect.out);
}

BOOST_AUTO_TEST_CASE(serve_with_a_missing_config_exits_2_and_names_the_file) {
  const auto r = test::run(test::edocgw_cmd() + " serve --config /nonexistent/gateway.xml");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("/nonexistent/gateway.xml") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(audit_usage_errors_exit_2_with_a_reason) {
  test::TempDir dir;
  auto r = test::run(test::edocgw_cmd() + " audit verify");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("--config gateway.xml or --data-dir") != std::string::npos, r.err);
  r = test::run(test::edocgw_cmd() + " audit check-bundle " + quote(dir / "b.json"));
  BOOST_TEST(r.exit_code == 2);
  // An empty data-dir has no log: judged, not verified.
  r = test::run(test::edocgw_cmd() + " audit verify --data-dir " + quote(dir.path()));
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("no signature log") != std::string::npos, r.err);
  // Not a bundle at all.
  test::write(dir / "b.json", "{\"hello\": 1}");
  r = test::run(test::edocgw_cmd() + " audit check-bundle --trust " + quote(pki("root.pem")) + " " +
                quote(dir / "b.json"));
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("not an edocgw audit bundle") != std::string::npos, r.err);
}

// --- hardening (issue 9) -----------------------------------------------------

namespace {

// An edXML root holding `depth` nested elements: the reader, the signature
// search and c14n recursed on such a tree until the stack overflowed.
std::string nested(size_t depth) {
  std::string xml = "<edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"><edXMLEnvelope>";
  xml.reserve(depth * 7 + 200);
  for (size_t i = 0; i < depth; ++i) xml += "<a>";
  for (size_t i = 0; i < depth; ++i) xml += "</a>";
  return xml + "</edXMLEnvelope></edXML>";
}

// Runs under `timeout`: a command that would block on a FIFO fails the test
// with exit 124 instead of hanging it.
test::CommandResult run_bounded(const std::string& args) {
  return test::run("timeout 30 " + test::edocgw_cmd() + " " + args);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_million_nested_elements_are_refused_by_verify_and_inspect_without_a_crash) {
  Built b;
  test::TempDir& dir = b.dir;
  // Inside a real package, where the reader and the signature search go.
  std::string deep = nested(1'000'000);
  deep = deep.substr(deep.find("<a>"));
  deep = deep.substr(0, deep.rfind("</a>") + 4);
  test::write(dir / "deep.xml",
              test::replace_once(test::read(dir / "package.xml"), "</edXML:edXMLEnvelope>",
                                 deep + "</edXML:edXMLEnvelope>"));
  const auto v = run_bounded("verify --trust " + quote(pki("root.pem")) + " --json --in " +
                             quote(dir / "deep.xml"));
  BOOST_TEST(v.exit_code == 1, v.err);
  BOOST_TEST(first_line(v.err).find("nested deeper than 256 levels") != std::string::npos, v.err);
  BOOST_TEST(nlohmann::json::parse(v.out)["valid"] == false);
  const auto i = run_bounded("edxml inspect --json " + quote(dir / "deep.xml"));
  BOOST_TEST(i.exit_code == 1, i.err);
  BOOST_TEST(first_line(i.err).find("nested deeper than 256 levels") != std::string::npos, i.err);
  const auto s = run_bounded("sign --cert " + quote(pki("huong-hoa.pem")) + " --key " +
                             quote(pki("huong-hoa.key")) + " --in " + quote(dir / "deep.xml") +
                             " --out " + quote(dir / "signed.xml"));
  BOOST_TEST(s.exit_code == 1, s.err);
  BOOST_TEST(s.err.find("nested deeper than 256 levels") != std::string::npos, s.err);
}

BOOST_AUTO_TEST_CASE(verify_json_on_invalid_utf8_in_an_error_message_exits_1_with_a_report) {
  test::TempDir dir;
  test::write(dir / "bad.xml", std::string("\x3c\x61\xcb\x3e\x3c\x2f\x62\x3e", 8));
  const auto v = run_bounded("verify --trust " + quote(pki("root.pem")) + " --json --in " +
                             quote(dir / "bad.xml"));
  BOOST_TEST(v.exit_code == 1, v.err);
  const auto j = nlohmann::json::parse(v.out);  // valid UTF-8, or this throws
  BOOST_TEST(j["valid"] == false);
  BOOST_TEST(j["reason"].get<std::string>().find("not well-formed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(verify_on_an_unreadable_file_says_cannot_read_and_exits_2) {
  test::TempDir dir;
  const auto v = run_bounded("verify --trust " + quote(pki("root.pem")) + " --in " +
                             quote(dir / "missing.xml"));
  BOOST_TEST(v.exit_code == 2, v.err);
  BOOST_TEST(first_line(v.err).find("cannot read") != std::string::npos, v.err);
  BOOST_TEST(v.out.find("INVALID") == std::string::npos, v.out);
  BOOST_TEST(v.err.find("invalid") == std::string::npos, v.err);
  const auto j = run_bounded("verify --trust " + quote(pki("root.pem")) + " --json --in " +
                             quote(dir / "missing.xml"));
  BOOST_TEST(j.exit_code == 2, j.err);
  BOOST_TEST(nlohmann::json::parse(j.out)["error"] == "cannot_read");
}

BOOST_AUTO_TEST_CASE(a_fifo_is_refused_at_once_by_verify_inspect_and_config_check) {
  test::TempDir dir;
  const auto fifo = dir / "pipe";
  BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  for (const std::string& args :
       {"verify --trust " + quote(pki("root.pem")) + " --in " + quote(fifo),
        "edxml inspect " + quote(fifo), "config check " + quote(fifo)}) {
    const auto r = run_bounded(args);
    BOOST_TEST(r.exit_code == 2, args + ": " + r.err);
    BOOST_TEST(first_line(r.err).find("not a regular file") != std::string::npos, r.err);
  }
}

BOOST_AUTO_TEST_CASE(edxml_build_refuses_characters_xml_forbids_naming_the_field) {
  test::TempDir dir;
  auto meta = test::sample_meta();
  meta["subject"] = "Công văn \x01 \xEF\xBF\xBE";
  test::write(dir / "meta.json", meta.dump());
  const auto r = run_bounded("edxml build --meta " + quote(dir / "meta.json") + " --out " +
                             quote(dir / "p.xml"));
  BOOST_TEST(r.exit_code == 1, r.err);
  BOOST_TEST(first_line(r.err).find("Subject holds U+0001") != std::string::npos, r.err);
  BOOST_TEST(!std::filesystem::exists(dir / "p.xml"));
}
