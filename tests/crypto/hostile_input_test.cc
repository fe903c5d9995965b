// Hostile and broken input through `edocgw verify` and `edocgw edxml inspect`:
// every one ends in a clear refusal (exit 1, a reason on the first stderr
// line), never a crash, a hang or a file read.
#define BOOST_TEST_MODULE hostile_input
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "crypto/identity.h"
#include "crypto/package_signer.h"
#include "edxml/package_builder.h"
#include "tests/test_support.h"

using namespace edocgw;
using test::pki;
using test::quote;

namespace {

std::string signed_package() {
  auto id = crypto::load_identity({pki("huong-hoa.pem"), pki("huong-hoa.key"), pki("ca.pem"), ""});
  auto signer = crypto::PackageSigner::create(std::move(*id));
  auto pkg = edxml::build_package(test::sample_meta(), {{"a.pdf", "%PDF", "", ""}}, now_seconds());
  return *signer->sign(*pkg, now_seconds());
}

// Runs verify (under a time limit) on `bytes`; returns the result.
test::CommandResult verify_bytes(const test::TempDir& dir, const std::string& bytes) {
  test::write(dir / "input.xml", bytes);
  return test::run("timeout 60 " + test::edocgw_cmd() + " verify --trust " +
                   quote(pki("root.pem")) + " --in " + quote(dir / "input.xml"));
}

void expect_refusal(const test::CommandResult& r, const std::string& fragment) {
  BOOST_TEST(r.exit_code == 1, "exit " << r.exit_code << ": " << r.err);
  const std::string first_line = r.err.substr(0, r.err.find('\n'));
  BOOST_TEST(first_line.find(fragment) != std::string::npos, first_line);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_doctype_with_an_external_entity_reads_no_file) {
  test::TempDir dir;
  const auto fifo = dir / "secret";
  BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  std::string pkg = signed_package();
  // Right after the XML declaration, whatever prefix the root element has.
  const auto declaration_end = pkg.find("?>");
  BOOST_REQUIRE(declaration_end != std::string::npos);
  pkg.insert(declaration_end + 2,
             "\n<!DOCTYPE edXML [<!ENTITY x SYSTEM \"file://" + fifo.string() + "\">]>");
  pkg = test::replace_once(pkg, "<edXML:Content>", "<edXML:Content>&x;");
  expect_refusal(verify_bytes(dir, pkg), "DOCTYPE");
  BOOST_TEST(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK) < 0);  // nobody opened it for reading
}

BOOST_AUTO_TEST_CASE(billion_laughs_ends_quickly) {
  test::TempDir dir;
  std::string bomb = "<?xml version=\"1.0\"?><!DOCTYPE edXML [<!ENTITY a \"aaaaaaaaaa\">";
  std::string prev = "a";
  for (int i = 0; i < 12; ++i) {
    const std::string name = "e" + std::to_string(i);
    bomb += "<!ENTITY " + name + " \"";
    for (int j = 0; j < 10; ++j) bomb += "&" + prev + ";";
    bomb += "\">";
    prev = name;
  }
  bomb += "]><edXML>&" + prev + ";</edXML>";
  expect_refusal(verify_bytes(dir, bomb), "DOCTYPE");
}

BOOST_AUTO_TEST_CASE(empty_truncated_and_non_xml_input_is_refused) {
  test::TempDir dir;
  const std::string good = signed_package();
  expect_refusal(verify_bytes(dir, ""), "empty");
  expect_refusal(verify_bytes(dir, good.substr(0, good.size() / 2)), "not well-formed");
  expect_refusal(verify_bytes(dir, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), "not well-formed");
  expect_refusal(verify_bytes(dir, "<html><body>502 Bad Gateway</body></html>"),
                 "not an edXML package");
  expect_refusal(verify_bytes(dir, "<edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"/>"),
                 "edXMLEnvelope");
}

BOOST_AUTO_TEST_CASE(random_mutations_never_crash) {
  test::TempDir dir;
  const std::string good = signed_package();
  std::mt19937 rng(20261128);  // fixed seed: the same cases every run
  for (int i = 0; i < 40; ++i) {
    std::string bad = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % bad.size();
      switch (rng() % 3) {
        case 0:
          bad[pos] = static_cast<char>(rng() % 256);
          break;
        case 1:
          bad.erase(pos, 1 + rng() % 16);
          break;
        default:
          bad.insert(pos, 1, "<>&\"'\0x"[rng() % 7]);
          break;
      }
    }
    if (bad == good) continue;
    const auto r = verify_bytes(dir, bad);
    // A mutation inside ignorable white space may still verify; anything else is refused.
    BOOST_TEST((r.exit_code == 0 || r.exit_code == 1),
               "case " << i << " exit " << r.exit_code << " " << r.err);
  }
}

BOOST_AUTO_TEST_CASE(inspect_refuses_broken_input_with_exit_1) {
  test::TempDir dir;
  test::write(dir / "broken.xml", "<edXML");
  const auto r = test::run(test::edocgw_cmd() + " edxml inspect " + quote(dir / "broken.xml"));
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("not well-formed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_million_nested_elements_are_refused_by_signer_and_verifier) {
  std::string deep = "<edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"><edXMLEnvelope>";
  deep.reserve(7'000'100);
  for (int i = 0; i < 1'000'000; ++i) deep += "<a>";
  for (int i = 0; i < 1'000'000; ++i) deep += "</a>";
  deep += "</edXMLEnvelope></edXML>";
  auto id = crypto::load_identity({pki("huong-hoa.pem"), pki("huong-hoa.key"), pki("ca.pem"), ""});
  BOOST_REQUIRE(id.ok());
  auto signer = crypto::PackageSigner::create(std::move(*id));
  BOOST_REQUIRE(signer.ok());
  auto signed_deep = signer->sign(deep, now_seconds());
  BOOST_REQUIRE(!signed_deep.ok());
  BOOST_TEST(signed_deep.error().message.find("nested deeper than 256 levels") != std::string::npos,
             signed_deep.error().message);
  // 70,000 levels inside a real package once killed the signer.
  std::string seventy = *edxml::build_package(test::sample_meta(), {}, now_seconds());
  std::string inner;
  for (int i = 0; i < 70'000; ++i) inner += "<a>";
  for (int i = 0; i < 70'000; ++i) inner += "</a>";
  seventy = test::replace_once(seventy, "</edXML:edXMLEnvelope>", inner + "</edXML:edXMLEnvelope>");
  BOOST_TEST(!signer->sign(seventy, now_seconds()).ok());

  test::TempDir dir;
  expect_refusal(verify_bytes(dir, deep), "nested deeper than 256 levels");
}

BOOST_AUTO_TEST_CASE(more_than_16_keyinfo_certificates_are_refused_naming_the_limit) {
  const std::string pkg = signed_package();
  // Before </X509Data>, with the prefix the signer used for XMLDSig.
  const auto open = pkg.find("X509Data>");
  const auto close = pkg.find("X509Data>", open + 1);
  BOOST_REQUIRE(close != std::string::npos);
  const auto end = pkg.rfind('<', close);
  const std::string prefix = pkg.substr(end + 2, close - end - 2);
  // The CA certificate repeated: KeyInfo is outside the signature.
  std::string ca_pem = test::read(pki("ca.pem"));
  std::string b64;
  {
    const auto from = ca_pem.find("-----BEGIN CERTIFICATE-----");
    const auto body = ca_pem.find('\n', from) + 1;
    b64 = ca_pem.substr(body, ca_pem.find("-----END CERTIFICATE-----") - body);
  }
  std::string extra;
  for (int i = 0; i < 40; ++i)
    extra += "<" + prefix + "X509Certificate>" + b64 + "</" + prefix + "X509Certificate>";
  std::string many = pkg;
  many.insert(end, extra);
  test::TempDir dir;
  expect_refusal(verify_bytes(dir, many), "more than 16 certificates");
  // A few extra copies still verify as before (the CA issues the signer: not a leaf).
  std::string few = pkg;
  few.insert(end, "<" + prefix + "X509Certificate>" + b64 + "</" + prefix + "X509Certificate>");
  const auto ok = verify_bytes(dir, few);
  BOOST_TEST(ok.exit_code == 0, ok.err);
}
