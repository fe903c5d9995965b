#define BOOST_TEST_MODULE trust_path
#include <boost/test/unit_test.hpp>

#include <openssl/x509v3.h>

#include "crypto/certificate.h"
#include "crypto/trust_store.h"
#include "tests/support/pki_builder.h"
#include "tests/test_support.h"

// RFC 5280 path validation as TrustStore does it: certificate policies,
// name constraints and CRLs of every shape (indirect, delta, separate CRL
// keys, key rollover, partial reasons), each valid and invalid, over PKIs
// built in-process.

using namespace edocgw;
using namespace edocgw::crypto;
namespace pk = edocgw::test::pki_builder;

namespace {

const std::string kP1 = "1.3.6.1.4.1.55555.1.1";
const std::string kP2 = "1.3.6.1.4.1.55555.1.2";
const std::string kAnyPolicy = "2.5.29.32.0";

pk::Name name(const std::string& cn) {
  return {{"C", "VN"}, {"O", "Tỉnh Quảng Trị"}, {"CN", cn}};
}

// A store loaded from files, as the gateway loads one.
TrustStore store_of(const std::vector<X509*>& anchors, const std::vector<X509*>& untrusted,
                    const std::vector<X509_CRL*>& crls, PathPolicy policy = {}) {
  test::TempDir dir;
  int n = 0;
  auto put = [&](const std::string& pem) {
    const auto path = dir / ("f" + std::to_string(n++) + ".pem");
    pk::write_file(path, pem);
    return path;
  };
  std::vector<std::filesystem::path> a, u, c;
  for (X509* x : anchors) a.push_back(put(pk::pem(x)));
  for (X509* x : untrusted) u.push_back(put(pk::pem(x)));
  for (X509_CRL* x : crls) c.push_back(put(pk::pem(x)));
  auto store = TrustStore::load(a, u, c, std::move(policy));
  BOOST_REQUIRE(store.ok());
  return std::move(*store);
}

bool contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return true;
  BOOST_TEST_MESSAGE("'" + part + "' not in: " + text);
  return false;
}

const ChainProblem* problem(const ChainResult& r, int error) {
  for (const auto& p : r.problems) {
    if (p.openssl_error == error) return &p;
  }
  return nullptr;
}

std::string problems_text(const ChainResult& r) {
  std::string out;
  for (const auto& p : r.problems) out += "[" + std::to_string(p.depth) + "] " + p.message + "\n";
  return out;
}

// Root -> CA -> leaf, with the given extensions on the CA and the leaf.
struct Pki {
  pk::Issued root, ca;
  static Pki make(std::vector<pk::Extension> ca_ext = {}) {
    Pki pki;
    pki.root = pk::make(pk::ca_spec(name("Root CA")), nullptr);
    auto spec = pk::ca_spec(name("Issuing CA"));
    for (auto& e : ca_ext) spec.extensions.push_back(std::move(e));
    pki.ca = pk::make(spec, &pki.root);
    return pki;
  }
  pk::Issued leaf(const std::string& cn, std::vector<pk::Extension> ext = {},
                  std::string config = {}) const {
    auto spec = pk::leaf_spec(name(cn));
    for (auto& e : ext) spec.extensions.push_back(std::move(e));
    spec.config = std::move(config);
    return pk::make(spec, &ca);
  }
  ChainResult verify(const pk::Issued& leaf, PathPolicy policy = {}) const {
    return store_of({root.x509()}, {ca.x509()}, {}, std::move(policy))
        .verify(leaf.x509(), {}, now_seconds());
  }
};

pk::RevokedEntry revoked(const pk::Issued& cert, int reason = CRL_REASON_KEY_COMPROMISE) {
  pk::RevokedEntry e;
  e.serial = pk::serial_of(cert.x509());
  e.reason = reason;
  return e;
}

pk::CrlSpec crl_spec(std::int64_t number, std::vector<pk::RevokedEntry> entries = {}) {
  pk::CrlSpec spec;
  spec.number = number;
  spec.revoked = std::move(entries);
  return spec;
}

}  // namespace

// ---- certificate policies ----

BOOST_AUTO_TEST_CASE(a_required_policy_the_path_holds_is_named_in_the_result) {
  const Pki pki = Pki::make({{"certificatePolicies", kP1}});
  const auto leaf = pki.leaf("Hướng Hóa", {{"certificatePolicies", kP1}});
  const ChainResult r = pki.verify(leaf, {{kP2, kP1}});
  BOOST_TEST(r.ok(), problems_text(r));
  BOOST_TEST(r.policy == kP1);
  BOOST_TEST((r.valid_policies == std::vector<std::string>{kP1}));
}

BOOST_AUTO_TEST_CASE(a_path_without_the_required_policy_is_refused_with_the_policies_named) {
  const Pki pki = Pki::make({{"certificatePolicies", kP1 + "," + kP2}});
  const auto leaf = pki.leaf("Hướng Hóa", {{"certificatePolicies", kP2}});
  const ChainResult r = pki.verify(leaf, {{kP1, "1.2.3"}});
  const ChainProblem* p = problem(r, X509_V_ERR_NO_EXPLICIT_POLICY);
  BOOST_REQUIRE(p != nullptr);
  BOOST_TEST((p->check == ChainCheck::chain));
  BOOST_TEST(contains(p->message, "the path to 'CN=Root CA"));
  BOOST_TEST(contains(p->message,
                      "valid for none of the required certificate policies " + kP1 + ", 1.2.3"));
  BOOST_TEST(r.policy.empty());
  // Without a required policy the same path is fine.
  BOOST_TEST(pki.verify(leaf).ok());
}

BOOST_AUTO_TEST_CASE(a_policy_reached_by_a_mapping_holds_unless_mapping_is_inhibited) {
  // The CA maps the anchor's P1 to its subjects' P2; the leaf asserts P2 only.
  const Pki pki = Pki::make({{"certificatePolicies", kP1}, {"policyMappings", kP1 + ":" + kP2}});
  const auto leaf = pki.leaf("Đakrông", {{"certificatePolicies", kP2}});
  const ChainResult mapped = pki.verify(leaf, {{kP1}});
  BOOST_TEST(mapped.ok(), problems_text(mapped));
  BOOST_TEST(mapped.policy == kP1);

  PathPolicy inhibited{{kP1}, true, false};
  const ChainResult refused = pki.verify(leaf, inhibited);
  BOOST_REQUIRE(problem(refused, X509_V_ERR_NO_EXPLICIT_POLICY) != nullptr);
  BOOST_TEST(refused.policy.empty());
}

BOOST_AUTO_TEST_CASE(a_mapping_below_an_inhibit_policy_mapping_constraint_is_refused) {
  auto root = pk::make(pk::ca_spec(name("Root CA")), nullptr);
  auto top_spec = pk::ca_spec(name("Policy CA"));
  top_spec.extensions.push_back({"certificatePolicies", kP1});
  top_spec.extensions.push_back({"policyConstraints", "critical,inhibitPolicyMapping:0"});
  auto top = pk::make(top_spec, &root);
  auto ca_spec = pk::ca_spec(name("Issuing CA"));
  ca_spec.extensions.push_back({"certificatePolicies", kP1});
  ca_spec.extensions.push_back({"policyMappings", kP1 + ":" + kP2});
  auto ca = pk::make(ca_spec, &top);
  auto leaf_spec = pk::leaf_spec(name("Đakrông"));
  leaf_spec.extensions.push_back({"certificatePolicies", kP2});
  auto leaf = pk::make(leaf_spec, &ca);
  const ChainResult r = store_of({root.x509()}, {top.x509(), ca.x509()}, {}, {{kP1}})
                            .verify(leaf.x509(), {}, now_seconds());
  BOOST_TEST(problem(r, X509_V_ERR_NO_EXPLICIT_POLICY) != nullptr, problems_text(r));
}

BOOST_AUTO_TEST_CASE(any_policy_in_a_ca_counts_unless_inhibited) {
  const Pki pki = Pki::make({{"certificatePolicies", kAnyPolicy}});
  const auto leaf = pki.leaf("Hướng Hóa", {{"certificatePolicies", kP1}});
  const ChainResult through_any = pki.verify(leaf, {{kP1}});
  BOOST_TEST(through_any.ok(), problems_text(through_any));
  BOOST_TEST(through_any.policy == kP1);

  PathPolicy inhibit_any{{kP1}, false, true};
  BOOST_TEST(problem(pki.verify(leaf, inhibit_any), X509_V_ERR_NO_EXPLICIT_POLICY) != nullptr);
}

BOOST_AUTO_TEST_CASE(an_inhibit_any_policy_extension_in_a_ca_is_enforced) {
  auto root = pk::make(pk::ca_spec(name("Root CA")), nullptr);
  auto top_spec = pk::ca_spec(name("Policy CA"));
  top_spec.extensions.push_back({"certificatePolicies", kAnyPolicy});
  top_spec.extensions.push_back({"inhibitAnyPolicy", "critical,0"});
  auto top = pk::make(top_spec, &root);
  auto ca_spec = pk::ca_spec(name("Issuing CA"));
  ca_spec.extensions.push_back({"certificatePolicies", kAnyPolicy});
  auto ca = pk::make(ca_spec, &top);
  auto leaf_spec = pk::leaf_spec(name("Hướng Hóa"));
  leaf_spec.extensions.push_back({"certificatePolicies", kP1});
  auto leaf = pk::make(leaf_spec, &ca);
  const ChainResult r = store_of({root.x509()}, {top.x509(), ca.x509()}, {}, {{kP1}})
                            .verify(leaf.x509(), {}, now_seconds());
  BOOST_TEST(problem(r, X509_V_ERR_NO_EXPLICIT_POLICY) != nullptr, problems_text(r));
}

BOOST_AUTO_TEST_CASE(require_explicit_policy_in_a_ca_is_enforced_with_nothing_required_here) {
  const Pki pki = Pki::make(
      {{"certificatePolicies", kP1}, {"policyConstraints", "critical,requireExplicitPolicy:0"}});
  const auto bare = pki.leaf("Hướng Hóa");
  const ChainResult refused = pki.verify(bare);
  const ChainProblem* p = problem(refused, X509_V_ERR_NO_EXPLICIT_POLICY);
  BOOST_REQUIRE(p != nullptr);
  BOOST_TEST(contains(p->message, "requireExplicitPolicy"));
  BOOST_TEST(contains(p->message, "CN=Issuing CA"));

  const auto with_policy = pki.leaf("Hướng Hóa", {{"certificatePolicies", kP1}});
  const ChainResult ok = pki.verify(with_policy);
  BOOST_TEST(ok.ok(), problems_text(ok));
}

BOOST_AUTO_TEST_CASE(a_mapping_to_or_from_any_policy_is_an_invalid_policy_extension) {
  const Pki pki =
      Pki::make({{"certificatePolicies", kP1}, {"policyMappings", kAnyPolicy + ":" + kP2}});
  const auto leaf = pki.leaf("Hướng Hóa", {{"certificatePolicies", kP2}});
  const ChainResult r = pki.verify(leaf);
  const ChainProblem* p = problem(r, X509_V_ERR_INVALID_POLICY_EXTENSION);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(r));
  BOOST_TEST(p->depth == 1);
  BOOST_TEST(contains(p->message, "certificate 'CN=Issuing CA"));
  BOOST_TEST(contains(p->message, "invalid or inconsistent certificate policy extension"));
}

// ---- name constraints ----

BOOST_AUTO_TEST_CASE(names_inside_permitted_subtrees_pass_and_outside_are_refused) {
  const Pki pki = Pki::make({{"nameConstraints", "critical,permitted;DNS:quangtri.gov.vn"}});
  const auto inside = pki.leaf("Hướng Hóa", {{"subjectAltName", "DNS:huonghoa.quangtri.gov.vn"}});
  const ChainResult ok = pki.verify(inside);
  BOOST_TEST(ok.ok(), problems_text(ok));

  const auto outside = pki.leaf("Hướng Hóa", {{"subjectAltName", "DNS:huonghoa.example.com"}});
  const ChainResult r = pki.verify(outside);
  const ChainProblem* p = problem(r, X509_V_ERR_PERMITTED_VIOLATION);
  BOOST_REQUIRE(p != nullptr);
  BOOST_TEST(p->depth == 0);
  BOOST_TEST((p->check == ChainCheck::chain));
  BOOST_TEST(contains(p->message, "outside the permitted subtrees"));
  BOOST_TEST(contains(p->message, "CA 'CN=Issuing CA"));
  BOOST_TEST(contains(p->message, "certificate 'CN=Hướng Hóa"));
}

BOOST_AUTO_TEST_CASE(names_inside_excluded_subtrees_are_refused) {
  const Pki pki = Pki::make({{"nameConstraints", "critical,excluded;DNS:blocked.gov.vn"}});
  const ChainResult ok = pki.verify(pki.leaf("A", {{"subjectAltName", "DNS:a.quangtri.gov.vn"}}));
  BOOST_TEST(ok.ok(), problems_text(ok));
  const ChainResult r = pki.verify(pki.leaf("B", {{"subjectAltName", "DNS:x.blocked.gov.vn"}}));
  const ChainProblem* p = problem(r, X509_V_ERR_EXCLUDED_VIOLATION);
  BOOST_REQUIRE(p != nullptr);
  BOOST_TEST(contains(p->message, "inside the excluded subtrees"));
  BOOST_TEST(contains(p->message, "CA 'CN=Issuing CA"));
}

// ---- CRLs ----

BOOST_AUTO_TEST_CASE(an_indirect_crl_revokes_through_its_certificate_issuer_entries) {
  const Pki pki = Pki::make();
  // ASCII: openssl.cnf dirName sections are read as ASCII, not UTF-8.
  const pk::Name authority_name = {{"C", "VN"}, {"O", "Quang Tri"}, {"CN", "CRL Authority"}};
  auto authority_spec = pk::ca_spec(authority_name);
  authority_spec.extensions = {{"keyUsage", "critical,cRLSign"}};
  auto authority = pk::make(authority_spec, &pki.root);
  const std::string dp_config =
      "[dp]\nfullname=URI:http://crl.test/indirect.crl\nCRLissuer=dirName:crl_issuer\n"
      "[crl_issuer]\nC=VN\nO=Quang Tri\nCN=CRL Authority\n";
  const auto bad = pki.leaf("Revoked Org", {{"crlDistributionPoints", "dp"}}, dp_config);
  const auto good = pki.leaf("Good Org", {{"crlDistributionPoints", "dp"}}, dp_config);

  pk::CrlSpec spec = crl_spec(5, {revoked(bad)});
  spec.revoked[0].certificate_issuer = name("Issuing CA");
  spec.extensions = {{"issuingDistributionPoint", "critical,@idp"}};
  spec.config = "[idp]\nfullname=URI:http://crl.test/indirect.crl\nindirectCRL=TRUE\n";
  auto indirect = pk::make_crl(spec, authority);
  auto root_crl = pk::make_crl(crl_spec(1), pki.root);

  auto store = store_of({pki.root.x509()}, {pki.ca.x509(), authority.x509()},
                        {root_crl.get(), indirect.get()});
  const ChainResult r = store.verify(bad.x509(), {}, now_seconds());
  const ChainProblem* p = problem(r, X509_V_ERR_CERT_REVOKED);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(r));
  BOOST_TEST(p->depth == 0);
  BOOST_TEST(!p->status_unknown);
  BOOST_TEST(contains(p->message, "the CRL of 'CN=CRL Authority"));
  BOOST_TEST(contains(p->message, "number 5"));
  BOOST_TEST(contains(p->message, "keyCompromise"));
  BOOST_TEST(contains(p->message, "an indirect CRL for its issuer 'CN=Issuing CA"));

  const ChainResult fine = store.verify(good.x509(), {}, now_seconds());
  BOOST_TEST(fine.ok(), problems_text(fine));
  BOOST_REQUIRE(!fine.revocation.empty());
  BOOST_TEST(contains(fine.revocation[0].certificate_subject, "CN=Good Org"));
  BOOST_TEST(contains(fine.revocation[0].crl_issuer, "CN=CRL Authority"));
  BOOST_TEST(fine.revocation[0].crl_number == "5");
  BOOST_TEST(!fine.revocation[0].revoked);
  BOOST_TEST(contains(fine.revocation[0].crl_origin, "file:"));
}

BOOST_AUTO_TEST_CASE(a_certificate_revoked_in_a_delta_crl_only_is_revoked) {
  const Pki pki = Pki::make();
  const std::vector<pk::Extension> freshest = {{"freshestCRL", "URI:http://crl.test/ca-delta.crl"}};
  const auto bad = pki.leaf("Revoked Org", freshest);
  const auto good = pki.leaf("Good Org", freshest);
  auto root_crl = pk::make_crl(crl_spec(1), pki.root);
  auto base = pk::make_crl(crl_spec(10), pki.ca);
  pk::CrlSpec delta_spec = crl_spec(11, {revoked(bad, CRL_REASON_SUPERSEDED)});
  delta_spec.delta_base = 10;
  auto delta = pk::make_crl(delta_spec, pki.ca);

  auto store =
      store_of({pki.root.x509()}, {pki.ca.x509()}, {root_crl.get(), base.get(), delta.get()});
  const ChainResult r = store.verify(bad.x509(), {}, now_seconds());
  const ChainProblem* p = problem(r, X509_V_ERR_CERT_REVOKED);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(r));
  BOOST_TEST(!p->status_unknown);
  BOOST_TEST(contains(p->message, "superseded"));
  BOOST_TEST(contains(p->message, "the delta CRL of 'CN=Issuing CA"));
  bool delta_says_revoked = false;
  for (const auto& ev : r.revocation) delta_says_revoked |= ev.delta && ev.revoked;
  BOOST_TEST(delta_says_revoked);

  const ChainResult fine = store.verify(good.x509(), {}, now_seconds());
  BOOST_TEST(fine.ok(), problems_text(fine));
  BOOST_REQUIRE(fine.revocation.size() >= 2u);
  BOOST_TEST(!fine.revocation[0].delta);  // the base first, then its delta
  BOOST_TEST(fine.revocation[0].crl_number == "10");
  BOOST_TEST(fine.revocation[1].delta);
  BOOST_TEST(fine.revocation[1].crl_number == "11");
}

BOOST_AUTO_TEST_CASE(a_delta_crl_without_its_base_leaves_the_status_unknown) {
  const Pki pki = Pki::make();
  const auto leaf = pki.leaf("Good Org", {{"freshestCRL", "URI:http://crl.test/ca-delta.crl"}});
  auto root_crl = pk::make_crl(crl_spec(1), pki.root);
  pk::CrlSpec delta_spec = crl_spec(11);
  delta_spec.delta_base = 10;
  auto delta = pk::make_crl(delta_spec, pki.ca);
  const ChainResult r = store_of({pki.root.x509()}, {pki.ca.x509()}, {root_crl.get(), delta.get()})
                            .verify(leaf.x509(), {}, now_seconds());
  const ChainProblem* p = problem(r, X509_V_ERR_UNABLE_TO_GET_CRL);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(r));
  BOOST_TEST((p->check == ChainCheck::revocation));
  BOOST_TEST(p->status_unknown);
  BOOST_TEST(p->depth == 0);
  BOOST_TEST(contains(p->message, "only a delta CRL of 'CN=Issuing CA"));
  BOOST_TEST(contains(p->message, "without its base CRL number 10"));
}

BOOST_AUTO_TEST_CASE(a_crl_signed_by_a_separate_crl_key_of_the_same_ca_is_used) {
  const Pki pki = Pki::make();
  // Same name as the issuing CA, another key, cRLSign only, issued by the root.
  auto signer_spec = pk::ca_spec(name("Issuing CA"));
  signer_spec.extensions = {{"keyUsage", "critical,cRLSign"}};
  auto signer = pk::make(signer_spec, &pki.root);
  const auto good = pki.leaf("Good Org");
  const auto bad = pki.leaf("Revoked Org");
  auto root_crl = pk::make_crl(crl_spec(1), pki.root);
  auto ca_crl = pk::make_crl(crl_spec(3, {revoked(bad)}), signer);
  auto store =
      store_of({pki.root.x509()}, {pki.ca.x509(), signer.x509()}, {root_crl.get(), ca_crl.get()});

  const ChainResult fine = store.verify(good.x509(), {}, now_seconds());
  BOOST_TEST(fine.ok(), problems_text(fine));
  BOOST_REQUIRE(!fine.revocation.empty());
  BOOST_TEST(fine.revocation[0].crl_number == "3");
  BOOST_TEST(contains(fine.revocation[0].crl_issuer, "CN=Issuing CA"));

  const ChainResult r = store.verify(bad.x509(), {}, now_seconds());
  const ChainProblem* p = problem(r, X509_V_ERR_CERT_REVOKED);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(r));
  BOOST_TEST(contains(p->message, "number 3"));
}

BOOST_AUTO_TEST_CASE(a_crl_whose_separate_signer_is_revoked_leaves_the_status_unknown) {
  const Pki pki = Pki::make();
  auto signer_spec = pk::ca_spec(name("Issuing CA"));
  signer_spec.extensions = {{"keyUsage", "critical,cRLSign"}};
  auto signer = pk::make(signer_spec, &pki.root);
  const auto leaf = pki.leaf("Hướng Hóa");
  auto root_crl = pk::make_crl(crl_spec(2, {revoked(signer)}), pki.root);
  auto ca_crl = pk::make_crl(crl_spec(3, {revoked(leaf)}), signer);
  const ChainResult r =
      store_of({pki.root.x509()}, {pki.ca.x509(), signer.x509()}, {root_crl.get(), ca_crl.get()})
          .verify(leaf.x509(), {}, now_seconds());
  BOOST_TEST_REQUIRE(r.problems.size() == 1u, problems_text(r));
  const ChainProblem& p = r.problems[0];
  BOOST_TEST((p.check == ChainCheck::revocation));
  BOOST_TEST(p.depth == 0);
  BOOST_TEST(p.status_unknown);  // the CRL's word does not count: its signer is revoked
  BOOST_TEST(contains(p.message, "the signer 'CN=Issuing CA"));
  BOOST_TEST(contains(p.message, "number 3"));
  BOOST_TEST(contains(p.message, "does not validate"));
}

BOOST_AUTO_TEST_CASE(a_crl_under_the_ca_name_signed_by_an_unrelated_key_proves_nothing) {
  const Pki pki = Pki::make();
  const auto leaf = pki.leaf("Hướng Hóa");
  auto unrelated = pk::make_ec_key();
  auto root_crl = pk::make_crl(crl_spec(1), pki.root);
  // Claims the leaf revoked, with the CA's name and key identifier.
  auto forged = pk::make_crl(crl_spec(9, {revoked(leaf)}), pki.ca.x509(), unrelated.get());
  const ChainResult r = store_of({pki.root.x509()}, {pki.ca.x509()}, {root_crl.get(), forged.get()})
                            .verify(leaf.x509(), {}, now_seconds());
  BOOST_TEST(!r.ok());
  const ChainProblem* p = problem(r, X509_V_ERR_CRL_SIGNATURE_FAILURE);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(r));
  BOOST_TEST((p->check == ChainCheck::revocation));
  BOOST_TEST(p->status_unknown);
  BOOST_TEST(contains(p->message, "does not verify"));
  // What the forged CRL says is not believed.
  BOOST_TEST(problem(r, X509_V_ERR_CERT_REVOKED) == nullptr, problems_text(r));
  for (const auto& ev : r.revocation) BOOST_TEST(ev.crl_number != "9");
}

BOOST_AUTO_TEST_CASE(a_leaf_under_a_rolled_over_root_key_validates_through_the_link) {
  // One root name, an old key (the anchor) and a new key, with link certificates both ways.
  const pk::Name root_name = name("Root CA");
  auto old_key = pk::make_ec_key();
  auto new_key = pk::make_ec_key();
  auto old_root = pk::issue(pk::ca_spec(root_name), old_key.get(), nullptr, old_key.get());
  auto new_root = pk::issue(pk::ca_spec(root_name), new_key.get(), nullptr, new_key.get());
  auto new_by_old = pk::issue(pk::ca_spec(root_name), new_key.get(), old_root.get(), old_key.get());
  auto old_by_new = pk::issue(pk::ca_spec(root_name), old_key.get(), new_root.get(), new_key.get());
  auto leaf_key = pk::make_ec_key();
  const auto good =
      pk::issue(pk::leaf_spec(name("Good Org")), leaf_key.get(), new_root.get(), new_key.get());
  const auto bad =
      pk::issue(pk::leaf_spec(name("Revoked Org")), leaf_key.get(), new_root.get(), new_key.get());
  pk::RevokedEntry entry;
  entry.serial = pk::serial_of(bad.get());
  entry.reason = CRL_REASON_CESSATION_OF_OPERATION;
  auto new_crl = pk::make_crl(crl_spec(21, {entry}), new_root.get(), new_key.get());
  auto old_crl = pk::make_crl(crl_spec(20), old_root.get(), old_key.get());

  auto store = store_of({old_root.get()}, {new_by_old.get(), old_by_new.get()},
                        {old_crl.get(), new_crl.get()});
  const ChainResult r = store.verify(good.get(), {}, now_seconds());
  BOOST_TEST(r.ok(), problems_text(r));
  BOOST_REQUIRE(r.chain.size() == 3u);
  BOOST_TEST(X509_cmp(r.chain[1].get(), new_by_old.get()) == 0);
  BOOST_REQUIRE(!r.revocation.empty());
  BOOST_TEST(contains(r.revocation[0].certificate_subject, "CN=Good Org"));
  BOOST_TEST(r.revocation[0].crl_number == "21");  // the new key's CRL

  const ChainResult revoked_leaf = store.verify(bad.get(), {}, now_seconds());
  const ChainProblem* p = problem(revoked_leaf, X509_V_ERR_CERT_REVOKED);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(revoked_leaf));
  BOOST_TEST(contains(p->message, "cessationOfOperation"));
}

BOOST_AUTO_TEST_CASE(crls_for_some_reasons_only_leave_the_others_unknown) {
  const Pki pki = Pki::make();
  const std::string dp_config =
      "[dp_kc]\nfullname=URI:http://crl.test/kc.crl\n"
      "[dp_other]\nfullname=URI:http://crl.test/other.crl\n";
  const auto leaf = pki.leaf("Hướng Hóa", {{"crlDistributionPoints", "dp_kc,dp_other"}}, dp_config);
  auto root_crl = pk::make_crl(crl_spec(1), pki.root);
  pk::CrlSpec kc_spec = crl_spec(30);
  kc_spec.extensions = {{"issuingDistributionPoint", "critical,@idp"}};
  kc_spec.config = "[idp]\nfullname=URI:http://crl.test/kc.crl\nonlysomereasons=keyCompromise\n";
  auto kc = pk::make_crl(kc_spec, pki.ca);

  const ChainResult partial =
      store_of({pki.root.x509()}, {pki.ca.x509()}, {root_crl.get(), kc.get()})
          .verify(leaf.x509(), {}, now_seconds());
  const ChainProblem* p = problem(partial, X509_V_ERR_UNABLE_TO_GET_CRL);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(partial));
  BOOST_TEST(p->status_unknown);
  BOOST_TEST(p->depth == 0);
  BOOST_TEST(contains(p->message, "reasons not covered"));
  BOOST_TEST(contains(p->message, "cACompromise"));

  pk::CrlSpec other_spec = crl_spec(31);
  other_spec.extensions = {{"issuingDistributionPoint", "critical,@idp"}};
  other_spec.config =
      "[idp]\nfullname=URI:http://crl.test/other.crl\nonlysomereasons=CACompromise,"
      "affiliationChanged,superseded,cessationOfOperation,certificateHold,privilegeWithdrawn,"
      "AACompromise\n";
  auto other = pk::make_crl(other_spec, pki.ca);
  const ChainResult full =
      store_of({pki.root.x509()}, {pki.ca.x509()}, {root_crl.get(), kc.get(), other.get()})
          .verify(leaf.x509(), {}, now_seconds());
  BOOST_TEST(full.ok(), problems_text(full));
  int leaf_crls = 0;
  for (const auto& ev : full.revocation) leaf_crls += contains(ev.certificate_subject, "Hướng Hóa");
  BOOST_TEST(leaf_crls == 2);
}

BOOST_AUTO_TEST_CASE(a_revoked_intermediate_is_reported_at_its_depth) {
  const Pki pki = Pki::make();
  const auto leaf = pki.leaf("Hướng Hóa");
  pk::RevokedEntry ca_entry = revoked(pki.ca, CRL_REASON_CA_COMPROMISE);
  auto root_crl = pk::make_crl(crl_spec(2, {ca_entry}), pki.root);
  auto ca_crl = pk::make_crl(crl_spec(7), pki.ca);
  const ChainResult r = store_of({pki.root.x509()}, {pki.ca.x509()}, {root_crl.get(), ca_crl.get()})
                            .verify(leaf.x509(), {}, now_seconds());
  BOOST_TEST_REQUIRE(r.problems.size() == 1u, problems_text(r));
  const ChainProblem& p = r.problems[0];
  BOOST_TEST(p.openssl_error == X509_V_ERR_CERT_REVOKED);
  BOOST_TEST(p.depth == 1);
  BOOST_TEST(!p.status_unknown);
  BOOST_TEST(contains(p.message, "certificate 'CN=Issuing CA"));
  BOOST_TEST(contains(p.message, "cACompromise"));
  BOOST_TEST(contains(p.message, "the CRL of 'CN=Root CA"));
}

BOOST_AUTO_TEST_CASE(an_out_of_date_crl_leaves_the_status_unknown) {
  const Pki pki = Pki::make();
  const auto leaf = pki.leaf("Hướng Hóa");
  auto root_crl = pk::make_crl(crl_spec(1), pki.root);
  pk::CrlSpec stale = crl_spec(4);
  stale.this_update = now_seconds() - std::chrono::hours(48);
  stale.next_update = now_seconds() - std::chrono::hours(24);
  auto ca_crl = pk::make_crl(stale, pki.ca);
  const ChainResult r = store_of({pki.root.x509()}, {pki.ca.x509()}, {root_crl.get(), ca_crl.get()})
                            .verify(leaf.x509(), {}, now_seconds());
  const ChainProblem* p = problem(r, X509_V_ERR_CRL_HAS_EXPIRED);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(r));
  BOOST_TEST(p->status_unknown);
  BOOST_TEST(contains(p->message, "is out of date since " + format_rfc3339(stale.next_update)));
}

// ---- CRLs from a CrlSource ----

namespace {

class FakeCrlSource : public CrlSource {
 public:
  std::vector<X509_CRL*> crls;
  std::uint64_t gen = 1;
  int asked = 0;
  std::vector<std::string> last_path;  // subjects, as asked

  std::vector<SourcedCrl> crls_for(const std::vector<X509*>& path) override {
    ++asked;
    last_path.clear();
    for (X509* c : path) last_path.push_back(describe(c).subject);
    std::vector<SourcedCrl> out;
    for (X509_CRL* c : crls) {
      X509_CRL_up_ref(c);
      out.push_back({X509CrlPtr(c), "http://crl.test/" + std::to_string(out.size()) + ".crl"});
    }
    return out;
  }
  std::uint64_t generation() const override { return gen; }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_crl_source_is_asked_with_the_built_path_and_its_crls_are_used) {
  const Pki pki = Pki::make();
  const auto leaf = pki.leaf("Hướng Hóa");
  auto root_crl = pk::make_crl(crl_spec(1), pki.root);
  auto ca_crl = pk::make_crl(crl_spec(8), pki.ca);
  FakeCrlSource source;
  source.crls = {ca_crl.get(), root_crl.get()};
  auto store = store_of({pki.root.x509()}, {pki.ca.x509()}, {});

  const ChainResult r = store.verify(leaf.x509(), {}, now_seconds(), &source);
  BOOST_TEST(r.ok(), problems_text(r));
  BOOST_TEST(r.revocation_checked);
  BOOST_TEST(source.asked == 1);
  BOOST_REQUIRE(source.last_path.size() == 3u);
  BOOST_TEST(contains(source.last_path[0], "CN=Hướng Hóa"));
  BOOST_TEST(contains(source.last_path[1], "CN=Issuing CA"));
  BOOST_TEST(contains(source.last_path[2], "CN=Root CA"));
  BOOST_REQUIRE(r.revocation.size() == 2u);
  BOOST_TEST(r.revocation[0].crl_number == "8");
  BOOST_TEST(r.revocation[0].crl_origin == "http://crl.test/0.crl");
  BOOST_TEST(r.revocation[1].crl_number == "1");
  BOOST_TEST(r.revocation[1].crl_origin == "http://crl.test/1.crl");

  // Without the source's CRLs nothing covers the chain.
  FakeCrlSource empty;
  empty.gen = 2;  // another generation: not the cached path
  const ChainResult none = store.verify(leaf.x509(), {}, now_seconds(), &empty);
  const ChainProblem* p = problem(none, X509_V_ERR_UNABLE_TO_GET_CRL);
  BOOST_TEST_REQUIRE(p != nullptr, problems_text(none));
  BOOST_TEST(p->status_unknown);
  BOOST_TEST(contains(p->message, "no CRL covers certificate 'CN=Hướng Hóa"));
}

BOOST_AUTO_TEST_CASE(a_path_that_does_not_validate_asks_the_crl_source_nothing) {
  // A sender's own root in X509Data: the path ends at no anchor, so the
  // distribution points of its certificates (any URL it chose) are not fetched.
  const Pki pki = Pki::make();
  const auto own_root = pk::make(pk::ca_spec(name("Sender's Own Root")), nullptr);
  auto spec = pk::leaf_spec(name("Hướng Hóa"));
  spec.extensions.push_back({"crlDistributionPoints", "URI:http://10.0.0.1/internal.crl"});
  const auto leaf = pk::make(spec, &own_root);
  FakeCrlSource source;
  auto store = store_of({pki.root.x509()}, {pki.ca.x509()}, {});
  const ChainResult r = store.verify(leaf.x509(), {own_root.x509()}, now_seconds(), &source);
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.first(ChainCheck::chain) != nullptr, problems_text(r));
  BOOST_TEST(source.asked == 0);
  // An expired leaf under the real CA: no fetching either.
  auto old = pk::leaf_spec(name("Expired"));
  old.not_before = now_seconds() - std::chrono::hours(48);
  old.not_after = now_seconds() - std::chrono::hours(24);
  const auto expired = pk::make(old, &pki.ca);
  BOOST_TEST(!store.verify(expired.x509(), {}, now_seconds(), &source).ok());
  BOOST_TEST(source.asked == 0);
  // The same store asks for a path that holds.
  BOOST_TEST(store.verify(pki.leaf("Đakrông").x509(), {}, now_seconds(), &source).chain.size() ==
             3u);
  BOOST_TEST(source.asked == 1);
}

BOOST_AUTO_TEST_CASE(the_cache_of_paths_follows_the_crl_source_generation) {
  const Pki pki = Pki::make();
  const auto leaf = pki.leaf("Hướng Hóa");
  auto root_crl = pk::make_crl(crl_spec(1), pki.root);
  auto ca_crl = pk::make_crl(crl_spec(8), pki.ca);
  auto ca_crl_revoking = pk::make_crl(crl_spec(9, {revoked(leaf)}), pki.ca);
  FakeCrlSource source;
  source.crls = {ca_crl.get(), root_crl.get()};
  auto store = store_of({pki.root.x509()}, {pki.ca.x509()}, {});
  const TimePoint at = now_seconds();

  BOOST_TEST(store.verify(leaf.x509(), {}, at, &source).ok());
  BOOST_TEST(source.asked == 1);
  const ChainResult again = store.verify(leaf.x509(), {}, at, &source);
  BOOST_TEST(again.ok());
  BOOST_TEST(again.cached);
  BOOST_TEST(source.asked == 1);  // not asked: same generation

  // Without a source, the cached path checked with one is not reused.
  const ChainResult no_source = store.verify(leaf.x509(), {}, at);
  BOOST_TEST(!no_source.cached);
  BOOST_TEST(!no_source.revocation_checked);

  source.crls = {ca_crl_revoking.get(), root_crl.get()};
  ++source.gen;
  const ChainResult after = store.verify(leaf.x509(), {}, at, &source);
  BOOST_TEST(source.asked == 2);
  BOOST_TEST(!after.cached);
  BOOST_TEST(problem(after, X509_V_ERR_CERT_REVOKED) != nullptr, problems_text(after));
}
