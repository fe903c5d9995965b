#include "crypto/trust_store.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "util/bytes.h"

namespace edocgw::crypto {
namespace {

struct CollectedProblem {
  int depth;
  int error;
  X509Ptr cert;
  // The CRL in question for CRL errors (one of the CRLs in force, which
  // outlive the verification), else null.
  const X509_CRL* crl = nullptr;
  // Found while OpenSSL validated the path of a CRL's signer (a CRL issuer
  // off the chain): the problem is that signer's, `cert` is the chain's
  // certificate whose CRL it signed.
  X509Ptr crl_signer;
};

// A CRL OpenSSL looked in for a certificate (cert_crl), base or delta.
struct CrlUse {
  X509Ptr cert;
  const X509_CRL* crl;
};

struct Collector {
  std::vector<CollectedProblem> problems;
  std::vector<CrlUse> uses;
  const X509_CRL* applying = nullptr;  // the CRL cert_crl is looking in right now
};

// OpenSSL's callbacks have no user pointer of their own; the collector of
// the verification running on this thread is kept here.
thread_local Collector* t_collector = nullptr;

// Errors after which nothing the CRL says can be believed (an out-of-date
// CRL still says true things about the past; a forged one says nothing).
bool discredits_crl(int error) {
  switch (error) {
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
      return true;
    default:
      return false;
  }
}

// A problem with a CRL itself: one that discredits it, or one of its dates.
bool is_crl_error(int error) {
  switch (error) {
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
      return true;
    default:
      return discredits_crl(error);
  }
}

int collect_problem(int ok, X509_STORE_CTX* ctx) {
  if (ok != 0 || t_collector == nullptr) return 1;
  const int error = X509_STORE_CTX_get_error(ctx);
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  CollectedProblem p{X509_STORE_CTX_get_error_depth(ctx), error,
                     cert != nullptr ? up_ref(cert) : X509Ptr(), nullptr, X509Ptr()};
  if (X509_STORE_CTX* parent = X509_STORE_CTX_get0_parent_ctx(ctx)) {
    // OpenSSL is validating the path of a CRL's signer for the parent's
    // current certificate: a CRL problem of that certificate.
    p.crl_signer = std::move(p.cert);
    p.depth = X509_STORE_CTX_get_error_depth(parent);
    X509* subject = X509_STORE_CTX_get_current_cert(parent);
    if (subject != nullptr) p.cert = up_ref(subject);
    p.crl = X509_STORE_CTX_get0_current_crl(parent);
  } else if (error == X509_V_ERR_CERT_REVOKED) {
    p.crl = t_collector->applying;
  } else if (is_crl_error(error)) {
    p.crl = X509_STORE_CTX_get0_current_crl(ctx);
  }
  t_collector->problems.push_back(std::move(p));
  return 1;  // go on, so that every problem of the chain is reported
}

// OpenSSL's own cert_crl (the lookup of a certificate in one CRL), found once
// on a context over a store that does not override it.
X509_STORE_CTX_cert_crl_fn default_cert_crl() {
  static const X509_STORE_CTX_cert_crl_fn fn = [] {
    X509StorePtr store(X509_STORE_new());
    X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), nullptr, nullptr);
    return X509_STORE_CTX_get_cert_crl(ctx.get());
  }();
  return fn;
}

// Whether the CRL's checks so far leave it worth reading: because the verify
// callback goes on after every error, OpenSSL would look in a CRL whose
// signature failed too.
bool crl_is_credible(X509_STORE_CTX* ctx, X509_CRL* crl, const Collector& c) {
  for (const auto& p : c.problems) {
    if (p.crl == crl && (discredits_crl(p.error) || p.crl_signer)) return false;
  }
  // A delta CRL's own checks are reported against its base; check its
  // signature here, with the key OpenSSL checks the base with.
  X509* issuer = X509_STORE_CTX_get0_current_issuer(ctx);
  if (issuer == nullptr) {
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
    const int n = sk_X509_num(chain);
    if (n <= 0) return false;
    issuer = sk_X509_value(chain, std::min(X509_STORE_CTX_get_error_depth(ctx) + 1, n - 1));
  }
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  const bool ok = key != nullptr && X509_CRL_verify(crl, key) > 0;
  ERR_clear_error();
  return ok;
}

// Installed on every store (X509_STORE_set_cert_crl): records which CRL was
// used for which certificate, then does what OpenSSL does.
int recording_cert_crl(X509_STORE_CTX* ctx, X509_CRL* crl, X509* x) {
  Collector* c = t_collector;
  if (c == nullptr) return default_cert_crl()(ctx, crl, x);
  if (!crl_is_credible(ctx, crl, *c)) return 1;  // its problems are reported already
  c->uses.push_back({up_ref(x), crl});
  c->applying = crl;
  const int rc = default_cert_crl()(ctx, crl, x);
  c->applying = nullptr;
  return rc;
}

bool is_revocation_error(int error) {
  return error == X509_V_ERR_CERT_REVOKED || error == X509_V_ERR_UNABLE_TO_GET_CRL ||
         is_crl_error(error);
}

ChainCheck classify(const CollectedProblem& p) {
  if (p.crl_signer) return ChainCheck::revocation;
  switch (p.error) {
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return p.depth == 0 ? ChainCheck::validity : ChainCheck::chain;
    default:
      return is_revocation_error(p.error) ? ChainCheck::revocation : ChainCheck::chain;
  }
}

std::string quoted_subject(X509* cert) {
  return cert == nullptr ? std::string("(unknown)") : "'" + describe(cert).subject + "'";
}

std::string quoted(const X509_NAME* name) {
  return "'" + name_text(name) + "'";
}

TimePoint asn1_time(const ASN1_TIME* t) {
  struct tm tm {};
  ASN1_TIME_to_tm(t, &tm);
  return TimePoint(std::chrono::seconds(timegm(&tm)));
}

std::string asn1_time_text(const ASN1_TIME* t) {
  if (t == nullptr) return {};
  return format_rfc3339(asn1_time(t));
}

std::string integer_text(const ASN1_INTEGER* value) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(value, nullptr);
  if (bn == nullptr) return {};
  char* dec = BN_bn2dec(bn);
  std::string out = dec;
  OPENSSL_free(dec);
  BN_free(bn);
  return out;
}

std::string crl_integer_ext(const X509_CRL* crl, int nid) {
  auto* num = static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, nid, nullptr, nullptr));
  if (num == nullptr) return {};
  std::string out = integer_text(num);
  ASN1_INTEGER_free(num);
  return out;
}

std::string crl_number(const X509_CRL* crl) {
  return crl_integer_ext(crl, NID_crl_number);
}
// The base CRL number of a delta CRL, "" for a base CRL.
std::string delta_base(const X509_CRL* crl) {
  return crl_integer_ext(crl, NID_delta_crl);
}

// "the CRL of 'CN=...' number 7" / "the delta CRL of ... number 8 (base 7)".
std::string crl_text(const X509_CRL* crl) {
  const std::string number = crl_number(crl);
  const std::string base = delta_base(crl);
  return std::string(base.empty() ? "the CRL of " : "the delta CRL of ") +
         quoted(X509_CRL_get_issuer(crl)) + (number.empty() ? "" : " number " + number) +
         (base.empty() ? "" : " (on base CRL " + base + ")");
}

std::string oid_text(const ASN1_OBJECT* obj) {
  char buf[128];
  const int n = OBJ_obj2txt(buf, sizeof buf, obj, 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(std::min<int>(n, sizeof buf - 1))) : "";
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// The RFC 5280 ReasonFlags bits as OpenSSL keeps them (dp_reasons, idp_reasons).
struct ReasonBit {
  unsigned int bit;
  const char* name;
};
constexpr ReasonBit kReasonBits[] = {{0x40, "keyCompromise"},        {0x20, "cACompromise"},
                                     {0x10, "affiliationChanged"},   {0x08, "superseded"},
                                     {0x04, "cessationOfOperation"}, {0x02, "certificateHold"},
                                     {0x01, "privilegeWithdrawn"},   {0x8000, "aACompromise"}};
constexpr unsigned int kAllReasons = 0x807f;

unsigned int reason_bits(const ASN1_BIT_STRING* flags) {
  if (flags == nullptr) return kAllReasons;
  unsigned int bits = 0;
  const int len = ASN1_STRING_length(flags);
  const unsigned char* data = ASN1_STRING_get0_data(flags);
  if (len > 0) bits = data[0];
  if (len > 1) bits |= static_cast<unsigned int>(data[1]) << 8;
  return bits & kAllReasons;
}

// The reasons a CRL covers (issuingDistributionPoint onlySomeReasons).
unsigned int crl_reasons(const X509_CRL* crl) {
  auto* idp = static_cast<ISSUING_DIST_POINT*>(
      X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, nullptr, nullptr));
  if (idp == nullptr) return kAllReasons;
  const unsigned int bits = reason_bits(idp->onlysomereasons);
  ISSUING_DIST_POINT_free(idp);
  return bits;
}

std::vector<std::string> reason_names(unsigned int bits) {
  std::vector<std::string> out;
  for (const auto& r : kReasonBits) {
    if ((bits & r.bit) != 0) out.emplace_back(r.name);
  }
  return out;
}

// The URIs of the certificate's CRL distribution points.
std::vector<std::string> distribution_points(X509* cert) {
  std::vector<std::string> out;
  auto* dps = static_cast<STACK_OF(DIST_POINT)*>(
      X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr));
  for (int i = 0; i < sk_DIST_POINT_num(dps); ++i) {
    const DIST_POINT* dp = sk_DIST_POINT_value(dps, i);
    if (dp->distpoint == nullptr || dp->distpoint->type != 0) continue;
    const GENERAL_NAMES* names = dp->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, j);
      if (gn->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                       static_cast<size_t>(ASN1_STRING_length(uri)));
    }
  }
  sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
  return out;
}

// The entry's reasonCode, -1 when it has none.
long entry_reason(X509_REVOKED* entry) {
  auto* reason = static_cast<ASN1_ENUMERATED*>(
      X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr));
  if (reason == nullptr) return -1;
  const long r = ASN1_ENUMERATED_get(reason);
  ASN1_ENUMERATED_free(reason);
  return r;
}

const char* reason_text(long r) {
  static const char* kReasons[] = {
      "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
      "superseded",    "cessationOfOperation", "certificateHold", "",
      "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};
  return r >= 0 && r <= 10 ? kReasons[r] : "";
}

// What verification works with and the messages need.
struct PathContext {
  const std::vector<X509*>& chain;           // as built, leaf first
  const std::vector<const X509_CRL*>& crls;  // in force
  const Collector& collected;
  const PathPolicy& policy;
  TimePoint at;
};

std::string revoked_message(const CollectedProblem& p) {
  X509* cert = p.cert.get();
  const std::string who = quoted_subject(cert);
  std::string detail;
  X509_REVOKED* entry = nullptr;
  if (p.crl != nullptr && X509_CRL_get0_by_cert(const_cast<X509_CRL*>(p.crl), &entry, cert) == 1) {
    detail = " on " + asn1_time_text(X509_REVOKED_get0_revocationDate(entry));
    const char* text = reason_text(entry_reason(entry));
    if (*text != '\0') detail += " (" + std::string(text) + ")";
    detail += ", per " + crl_text(p.crl);
    if (X509_NAME_cmp(X509_CRL_get_issuer(p.crl), X509_get_issuer_name(cert)) != 0) {
      detail += ", an indirect CRL for its issuer " + quoted(X509_get_issuer_name(cert));
    }
  }
  return "certificate " + who + " (serial " + describe(cert).serial + ") was revoked" + detail;
}

std::string no_crl_message(const CollectedProblem& p, const PathContext& path) {
  X509* cert = p.cert.get();
  const std::string who = quoted_subject(cert);
  // CRLs were found but their onlySomeReasons leave reasons uncovered.
  unsigned int covered = 0;
  bool any = false;
  for (const auto& use : path.collected.uses) {
    if (X509_cmp(use.cert.get(), cert) != 0 || !delta_base(use.crl).empty()) continue;
    covered |= crl_reasons(use.crl);
    any = true;
  }
  if (any && covered != kAllReasons) {
    return "the CRLs found for certificate " + who + " cover only the revocation reasons " +
           joined(reason_names(covered)) + "; reasons not covered by any CRL given or fetched: " +
           joined(reason_names(kAllReasons & ~covered));
  }
  // Only a delta CRL of its issuer, without the base it updates.
  for (const X509_CRL* crl : path.crls) {
    const std::string base = delta_base(crl);
    if (base.empty() || X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0) {
      continue;
    }
    return "only a delta CRL of " + quoted(X509_CRL_get_issuer(crl)) + " (number " +
           crl_number(crl) + ") was found for certificate " + who +
           ", without its base CRL number " + base;
  }
  const auto dps = distribution_points(cert);
  if (dps.empty()) {
    return "no CRL covers certificate " + who + " (it names no distribution point): none of " +
           quoted(X509_get_issuer_name(cert)) + " was given or fetched";
  }
  return "no CRL covers certificate " + who + ": its distribution points are " + joined(dps) +
         ", none was given or fetched";
}

std::string crl_message(const CollectedProblem& p, const PathContext& path) {
  const std::string who = quoted_subject(p.cert.get());
  const std::string which = p.crl != nullptr ? crl_text(p.crl) : std::string("the CRL");
  const std::string when = format_rfc3339(path.at);
  if (p.crl_signer) {
    return "the signer " + quoted_subject(p.crl_signer.get()) + " of " + which +
           " for certificate " + who + " does not validate (" +
           X509_verify_cert_error_string(p.error) + "): the certificate's status is unknown";
  }
  switch (p.error) {
    case X509_V_ERR_CRL_HAS_EXPIRED:
      return which + " for certificate " + who + " is out of date since " +
             (p.crl != nullptr ? asn1_time_text(X509_CRL_get0_nextUpdate(p.crl)) : "") +
             " (checked at " + when + ")";
    case X509_V_ERR_CRL_NOT_YET_VALID:
      return which + " for certificate " + who + " is not valid before " +
             (p.crl != nullptr ? asn1_time_text(X509_CRL_get0_lastUpdate(p.crl)) : "") +
             " (checked at " + when + ")";
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
      return "the signature on " + which + " for certificate " + who +
             " does not verify with the key of its issuer: the certificate's status is unknown";
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
      return "the issuer of " + which + " for certificate " + who +
             " is not known: the certificate's status is unknown";
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
      return which + " for certificate " + who +
             " is signed by a certificate whose keyUsage lacks cRLSign";
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
      return which + " does not cover certificate " + who + " (its scope differs)";
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
      return "the signer of " + which + " for certificate " + who +
             " does not chain to the same trust anchor";
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
      return which + " for certificate " + who + " has a critical extension edocgw cannot read";
    default:
      return which + " for certificate " + who + ": " + X509_verify_cert_error_string(p.error);
  }
}

// The CA of the chain above `depth` whose name constraints the certificate breaks.
X509* constraining_ca(const CollectedProblem& p, const PathContext& path) {
  for (int j = static_cast<int>(path.chain.size()) - 1; j > p.depth; --j) {
    auto* nc = static_cast<NAME_CONSTRAINTS*>(
        X509_get_ext_d2i(path.chain[j], NID_name_constraints, nullptr, nullptr));
    if (nc == nullptr) continue;
    int rc = NAME_CONSTRAINTS_check(p.cert.get(), nc);
    if (rc == X509_V_OK && p.depth == 0) rc = NAME_CONSTRAINTS_check_CN(p.cert.get(), nc);
    NAME_CONSTRAINTS_free(nc);
    if (rc == p.error) return path.chain[j];
  }
  return nullptr;
}

std::string name_constraint_message(const CollectedProblem& p, const PathContext& path) {
  const std::string who = quoted_subject(p.cert.get());
  X509* ca = constraining_ca(p, path);
  const std::string by =
      ca != nullptr ? "CA " + quoted_subject(ca) : std::string("a CA of the path");
  switch (p.error) {
    case X509_V_ERR_PERMITTED_VIOLATION:
      return "certificate " + who +
             " has a name outside the permitted subtrees of the name "
             "constraints of " +
             by;
    case X509_V_ERR_EXCLUDED_VIOLATION:
      return "certificate " + who +
             " has a name inside the excluded subtrees of the name "
             "constraints of " +
             by;
    case X509_V_ERR_SUBTREE_MINMAX:
      return "the name constraints of " + by +
             " set a minimum or maximum, which cannot be "
             "checked; certificate " +
             who + " is refused";
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
      return "the name constraints of " + by +
             " use a name type that cannot be checked; "
             "certificate " +
             who + " is refused";
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
      return "the name constraints of " + by +
             " have a syntax that cannot be checked; "
             "certificate " +
             who + " is refused";
    default:  // X509_V_ERR_UNSUPPORTED_NAME_SYNTAX
      return "certificate " + who +
             " has a name whose syntax cannot be checked against the "
             "name constraints of " +
             by;
  }
}

// The CA of the chain whose policyConstraints requireExplicitPolicy applies.
X509* requiring_ca(const PathContext& path) {
  for (auto it = path.chain.rbegin(); it != path.chain.rend(); ++it) {
    auto* pc = static_cast<POLICY_CONSTRAINTS*>(
        X509_get_ext_d2i(*it, NID_policy_constraints, nullptr, nullptr));
    if (pc == nullptr) continue;
    const bool explicit_required = pc->requireExplicitPolicy != nullptr;
    POLICY_CONSTRAINTS_free(pc);
    if (explicit_required) return *it;
  }
  return nullptr;
}

std::string policy_message(const CollectedProblem& p, const PathContext& path) {
  const std::string anchor =
      path.chain.empty() ? std::string("(unknown)") : quoted_subject(path.chain.back());
  if (p.error == X509_V_ERR_INVALID_POLICY_EXTENSION) {
    return "certificate " + quoted_subject(p.cert.get()) +
           " has an invalid or inconsistent certificate policy extension (certificatePolicies, "
           "policyMappings or policyConstraints)";
  }
  if (!path.policy.policies.empty()) {
    return "the path to " + anchor + " is valid for none of the required certificate policies " +
           joined(path.policy.policies);
  }
  X509* ca = requiring_ca(path);
  return "the path to " + anchor + " is valid for no certificate policy, and " +
         (ca != nullptr ? "certificate " + quoted_subject(ca) : std::string("a CA of the path")) +
         " requires one (requireExplicitPolicy)";
}

std::string message_for(const CollectedProblem& p, const PathContext& path) {
  X509* cert = p.cert.get();
  const std::string who = quoted_subject(cert);
  const std::string when = format_rfc3339(path.at);
  if (p.crl_signer || is_crl_error(p.error)) return crl_message(p, path);
  switch (p.error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "certificate " + who + " expired on " + asn1_time_text(X509_get0_notAfter(cert)) +
             " (checked at " + when + ")";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "certificate " + who + " is not valid before " +
             asn1_time_text(X509_get0_notBefore(cert)) + " (checked at " + when + ")";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: {
      const std::string issuer = describe(cert).issuer;
      return "the issuer '" + issuer + "' of certificate " + who +
             " is neither a trust anchor nor a known intermediate: an intermediate certificate "
             "is missing (give it with --untrusted) or the certificate comes from an untrusted CA";
    }
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return "the chain ends at the root " + who + ", which is not a trust anchor";
    case X509_V_ERR_CERT_REVOKED:
      return revoked_message(p);
    case X509_V_ERR_UNABLE_TO_GET_CRL:
      return no_crl_message(p, path);
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return "the CA signature on certificate " + who + " does not verify";
    case X509_V_ERR_NO_EXPLICIT_POLICY:
    case X509_V_ERR_INVALID_POLICY_EXTENSION:
      return policy_message(p, path);
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
      return name_constraint_message(p, path);
    default:
      return "certificate " + who + ": " + X509_verify_cert_error_string(p.error);
  }
}

// The user-constrained policy set of the path OpenSSL validated (RFC 5280
// 6.1.6), dotted OIDs.
std::vector<std::string> user_policies(X509_STORE_CTX* ctx) {
  std::vector<std::string> out;
  X509_POLICY_TREE* tree = X509_STORE_CTX_get0_policy_tree(ctx);
  if (tree == nullptr) return out;
  STACK_OF(X509_POLICY_NODE)* nodes = X509_policy_tree_get0_user_policies(tree);
  for (int i = 0; i < sk_X509_POLICY_NODE_num(nodes); ++i) {
    const ASN1_OBJECT* obj = X509_policy_node_get0_policy(sk_X509_POLICY_NODE_value(nodes, i));
    if (obj == nullptr) continue;
    std::string oid = oid_text(obj);
    if (std::find(out.begin(), out.end(), oid) == out.end()) out.push_back(std::move(oid));
  }
  return out;
}

constexpr const char* kAnyPolicy = "2.5.29.32.0";

// The first of the required policies (in their configured order) the path is valid for.
std::string policy_held(const std::vector<std::string>& required,
                        const std::vector<std::string>& valid) {
  const bool any = std::find(valid.begin(), valid.end(), kAnyPolicy) != valid.end();
  for (const auto& r : required) {
    if (any || std::find(valid.begin(), valid.end(), r) != valid.end()) return r;
  }
  return {};
}

}  // namespace

const ChainProblem* ChainResult::first(ChainCheck check) const {
  for (const auto& p : problems) {
    if (p.check == check) return &p;
  }
  return nullptr;
}

Result<TrustStore> TrustStore::load(const std::vector<std::filesystem::path>& anchors,
                                    const std::vector<std::filesystem::path>& untrusted,
                                    const std::vector<std::filesystem::path>& crls,
                                    PathPolicy policy) {
  TrustStore store;
  store.policy_ = std::move(policy);
  for (const auto& oid : store.policy_.policies) {
    ASN1_OBJECT* obj = OBJ_txt2obj(oid.c_str(), 1);
    ERR_clear_error();
    if (obj == nullptr) {
      return make_error(Errc::usage, "the required certificate policy '" + oid +
                                         "' is not a dotted object identifier");
    }
    ASN1_OBJECT_free(obj);
  }
  for (const auto& path : anchors) {
    auto certs = load_certificates(path);
    if (!certs) return certs.error();
    for (auto& c : *certs) store.anchors_.push_back(std::move(c));
  }
  if (store.anchors_.empty()) return make_error(Errc::usage, "no trust anchor given (--trust)");
  for (const auto& path : untrusted) {
    auto certs = load_certificates(path);
    if (!certs) return certs.error();
    for (auto& c : *certs) store.untrusted_.push_back(std::move(c));
  }
  for (const auto& path : crls) {
    auto loaded = load_crls(path);
    if (!loaded) return loaded.error();
    for (auto& c : *loaded) {
      store.crls_.push_back(std::move(c));
      store.crl_origins_.push_back("file:" + path.string());
    }
  }
  store.build_store();
  return store;
}

TrustStore TrustStore::from_certificates(std::vector<X509Ptr> anchors,
                                         std::vector<X509Ptr> untrusted, PathPolicy policy) {
  TrustStore store;
  store.policy_ = std::move(policy);
  store.anchors_ = std::move(anchors);
  store.untrusted_ = std::move(untrusted);
  store.build_store();
  return store;
}

struct TrustStore::ChainCache {
  struct Entry {
    ChainResult result;  // ok(), its chain's references owned here
    TimePoint from, until;
  };
  std::mutex mutex;
  size_t capacity = kChainCacheEntries;
  std::unordered_map<std::string, std::shared_ptr<const Entry>> by_key;
  std::deque<std::string> order;  // oldest first
  std::uint64_t hits = 0, misses = 0;

  void trim() {
    while (by_key.size() > capacity) {
      by_key.erase(order.front());
      order.pop_front();
    }
  }
};

namespace {

ChainResult copy_of(const ChainResult& r) {
  ChainResult out;
  for (const auto& c : r.chain) out.chain.push_back(up_ref(c.get()));
  out.chain_info = r.chain_info;
  out.chain_der = r.chain_der;
  out.problems = r.problems;
  out.revocation = r.revocation;
  out.revocation_checked = r.revocation_checked;
  out.valid_policies = r.valid_policies;
  out.policy = r.policy;
  return out;
}

// SHA-256 over whether a CRL source was given and its generation, then each
// certificate's DER, length-prefixed, in order.
std::string chain_key(X509* cert, const std::vector<X509*>& extra, const CrlSource* fetched) {
  std::string input;
  const std::uint64_t generation = fetched != nullptr ? fetched->generation() : 0;
  input += fetched != nullptr ? 'F' : '-';
  input.append(reinterpret_cast<const char*>(&generation), sizeof generation);
  auto add = [&](X509* c) {
    const std::string der = certificate_der(c);
    const std::uint32_t n = static_cast<std::uint32_t>(der.size());
    input.append(reinterpret_cast<const char*>(&n), sizeof n);
    input += der;
  };
  add(cert);
  for (X509* e : extra) add(e);
  const auto digest = sha256(input);
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

void free_crl_stack(STACK_OF(X509_CRL) * s) {
  sk_X509_CRL_free(s);
}  // references not owned
using CrlViewStackPtr =
    std::unique_ptr<STACK_OF(X509_CRL), OsslDeleter<STACK_OF(X509_CRL), free_crl_stack>>;

struct Pass {
  X509StoreCtxPtr ctx;
  Collector collected;
};

}  // namespace

void TrustStore::build_store() {
  store_ = std::shared_ptr<X509_STORE>(X509_STORE_new(), X509_STORE_free);
  for (const auto& a : anchors_) X509_STORE_add_cert(store_.get(), a.get());
  // CRLs are given to each context (X509_STORE_CTX_set0_crls): OpenSSL finds
  // indirect CRLs and deltas only there. The store records which it used.
  default_cert_crl();
  X509_STORE_set_cert_crl(store_.get(), recording_cert_crl);
  cache_ = std::make_shared<ChainCache>();
}

void TrustStore::set_chain_cache_capacity(size_t entries) const {
  std::lock_guard lock(cache_->mutex);
  cache_->capacity = entries;
  cache_->trim();
}

ChainCacheStats TrustStore::chain_cache_stats() const {
  std::lock_guard lock(cache_->mutex);
  return {cache_->hits, cache_->misses, cache_->by_key.size()};
}

ChainResult TrustStore::verify(X509* cert, const std::vector<X509*>& extra, TimePoint at,
                               CrlSource* fetched) const {
  const std::string key = chain_key(cert, extra, fetched);
  {
    std::lock_guard lock(cache_->mutex);
    if (auto it = cache_->by_key.find(key); it != cache_->by_key.end()) {
      const auto& entry = *it->second;
      if (entry.from <= at && at <= entry.until) {
        ++cache_->hits;
        ChainResult out = copy_of(entry.result);
        out.cached = true;
        return out;
      }
    }
    ++cache_->misses;
  }
  Window window;
  ChainResult result = validate(cert, extra, at, fetched, window);
  // A path whose only problems are unknown revocation statuses is cached
  // too when the CRLs are the configured files: the same certificates give
  // the same unknown until a reload brings a new store (judge_revocation
  // decides what unknown means). With a CrlSource it is not: asking the
  // source again is how a distribution point that failed is retried.
  const bool only_unknown =
      fetched == nullptr &&
      std::all_of(result.problems.begin(), result.problems.end(), [](const ChainProblem& p) {
        return p.check == ChainCheck::revocation && p.status_unknown;
      });
  if (!(result.ok() || only_unknown) || result.chain.empty()) return result;
  auto entry = std::make_shared<ChainCache::Entry>();
  entry->from = window.from;
  entry->until = window.until;
  entry->result = copy_of(result);
  std::lock_guard lock(cache_->mutex);
  if (cache_->capacity == 0) return result;
  auto [it, inserted] = cache_->by_key.insert_or_assign(key, std::move(entry));
  if (inserted) cache_->order.push_back(key);
  cache_->trim();
  return result;
}

namespace {

// One run of OpenSSL's verification of `cert` at `at` under `policy`, over
// `crls` (null: no revocation checks), its problems and CRL uses collected.
void run_verification(Pass& pass, X509_STORE* store, const PathPolicy& policy, X509* cert,
                      STACK_OF(X509) * untrusted, TimePoint at, STACK_OF(X509_CRL) * crls) {
  pass.ctx.reset(X509_STORE_CTX_new());
  X509_STORE_CTX_init(pass.ctx.get(), store, cert, untrusted);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(pass.ctx.get());
  X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(at));
  unsigned long flags = X509_V_FLAG_POLICY_CHECK;
  if (!policy.policies.empty()) flags |= X509_V_FLAG_EXPLICIT_POLICY;
  if (policy.inhibit_policy_mapping) flags |= X509_V_FLAG_INHIBIT_MAP;
  if (policy.inhibit_any_policy) flags |= X509_V_FLAG_INHIBIT_ANY;
  if (crls != nullptr) {
    flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL | X509_V_FLAG_EXTENDED_CRL_SUPPORT |
             X509_V_FLAG_USE_DELTAS;
    X509_STORE_CTX_set0_crls(pass.ctx.get(), crls);
  }
  X509_VERIFY_PARAM_set_flags(param, flags);
  // RFC 5280's default user-initial-policy-set is anyPolicy: OpenSSL needs
  // it given, or a requireExplicitPolicy in a CA fails every path.
  if (policy.policies.empty()) X509_VERIFY_PARAM_add0_policy(param, OBJ_nid2obj(NID_any_policy));
  for (const auto& oid : policy.policies) {
    X509_VERIFY_PARAM_add0_policy(param, OBJ_txt2obj(oid.c_str(), 1));  // checked by load()
  }
  X509_STORE_CTX_set_verify_cb(pass.ctx.get(), collect_problem);
  t_collector = &pass.collected;
  const int rc = X509_verify_cert(pass.ctx.get());
  t_collector = nullptr;
  if (rc != 1 && pass.collected.problems.empty()) {
    pass.collected.problems.push_back(
        {0, X509_STORE_CTX_get_error(pass.ctx.get()), up_ref(cert), nullptr, X509Ptr()});
  }
  ERR_clear_error();
}

std::vector<X509*> built_path(const Pass& pass) {
  std::vector<X509*> path;
  if (STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(pass.ctx.get())) {
    for (int i = 0; i < sk_X509_num(built); ++i) path.push_back(sk_X509_value(built, i));
  }
  return path;
}

void report_problems(const PathContext& path, bool ends_at_anchor, ChainResult& result) {
  const int anchor_depth = static_cast<int>(path.chain.size()) - 1;
  std::vector<const CollectedProblem*> kept;  // the source of each of result.problems
  for (const auto& p : path.collected.problems) {
    // A trust anchor is not part of the path RFC 5280 checks for revocation.
    if (ends_at_anchor && p.depth == anchor_depth && is_revocation_error(p.error) &&
        !p.crl_signer) {
      continue;
    }
    // A revoked certificate also reports the next step's errors; keep each once.
    // (A CRL signer's problem is not the certificate's own.)
    bool seen = false;
    for (size_t k = 0; k < result.problems.size(); ++k) {
      seen |= result.problems[k].openssl_error == p.error && result.problems[k].depth == p.depth &&
              (kept[k]->crl_signer != nullptr) == (p.crl_signer != nullptr);
    }
    if (seen) continue;
    kept.push_back(&p);
    ChainProblem problem{classify(p), p.depth, p.error, message_for(p, path)};
    // Revoked is a CRL's word on the certificate itself; anything else
    // (including a revoked CRL signer) leaves its status unknown.
    problem.status_unknown = problem.check == ChainCheck::revocation &&
                             (p.error != X509_V_ERR_CERT_REVOKED || p.crl_signer != nullptr);
    result.problems.push_back(std::move(problem));
  }
}

// The evidence: each CRL used for each certificate of the path (not the
// anchor), in path order, a base before its delta. Every CRL used, the
// anchor's too, narrows [from, until].
void record_crl_uses(const PathContext& path, const std::vector<std::string>& origins,
                     bool ends_at_anchor, ChainResult& result, TimePoint& from, TimePoint& until) {
  const size_t anchor_index = path.chain.size() - 1;
  for (size_t i = 0; i < path.chain.size(); ++i) {
    X509* cert = path.chain[i];
    std::vector<const CrlUse*> uses;
    for (const auto& use : path.collected.uses) {
      if (use.cert.get() != cert && X509_cmp(use.cert.get(), cert) != 0) continue;
      bool seen = false;
      for (const CrlUse* u : uses) seen |= u->crl == use.crl;
      if (!seen) uses.push_back(&use);
    }
    std::stable_sort(uses.begin(), uses.end(), [](const CrlUse* a, const CrlUse* b) {
      return delta_base(a->crl).empty() && !delta_base(b->crl).empty();
    });
    for (const CrlUse* use : uses) {
      const X509_CRL* crl = use->crl;
      from = std::max(from, asn1_time(X509_CRL_get0_lastUpdate(crl)));
      if (const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl)) {
        until = std::min(until, asn1_time(next));
      }
      if (ends_at_anchor && i == anchor_index) continue;
      RevocationEvidence ev;
      ev.certificate_subject = result.chain_info[i]->subject;
      ev.crl_issuer = name_text(X509_CRL_get_issuer(crl));
      ev.crl_number = crl_number(crl);
      ev.this_update = asn1_time_text(X509_CRL_get0_lastUpdate(crl));
      ev.next_update = asn1_time_text(X509_CRL_get0_nextUpdate(crl));
      ev.delta = !delta_base(crl).empty();
      X509_REVOKED* entry = nullptr;
      ev.revoked = X509_CRL_get0_by_cert(const_cast<X509_CRL*>(crl), &entry, cert) == 1 &&
                   entry_reason(entry) != CRL_REASON_REMOVE_FROM_CRL;
      for (size_t k = 0; k < path.crls.size(); ++k) {
        if (path.crls[k] == crl) ev.crl_origin = origins[k];
      }
      result.revocation.push_back(std::move(ev));
    }
  }
}

}  // namespace

ChainResult TrustStore::validate(X509* cert, const std::vector<X509*>& extra, TimePoint at,
                                 CrlSource* fetched, Window& window) const {
  ChainResult result;
  X509StackPtr untrusted(sk_X509_new_null());
  for (const auto& u : untrusted_) sk_X509_push(untrusted.get(), up_ref(u.get()).release());
  for (X509* e : extra) sk_X509_push(untrusted.get(), up_ref(e).release());

  // The CRLs in force: the configured ones, and those the source has for the
  // path built without CRLs (when it validated).
  std::vector<const X509_CRL*> crls;
  std::vector<std::string> origins;
  for (size_t i = 0; i < crls_.size(); ++i) {
    crls.push_back(crls_[i].get());
    origins.push_back(i < crl_origins_.size() ? crl_origins_[i] : "file");
  }
  std::vector<SourcedCrl> sourced;  // kept alive until the end
  if (fetched != nullptr) {
    Pass first;
    run_verification(first, store_.get(), policy_, cert, untrusted.get(), at, nullptr);
    // Only a path that validated to an anchor makes us fetch: the
    // distribution points of a certificate that chains nowhere are any
    // URL its sender chose.
    if (first.collected.problems.empty()) sourced = fetched->crls_for(built_path(first));
    for (const auto& s : sourced) {
      if (!s.crl) continue;
      crls.push_back(s.crl.get());
      origins.push_back(s.origin);
    }
  }
  result.revocation_checked = !crls_.empty() || fetched != nullptr;
  CrlViewStackPtr crl_stack;
  if (result.revocation_checked) {
    crl_stack.reset(sk_X509_CRL_new_null());
    for (const X509_CRL* c : crls) sk_X509_CRL_push(crl_stack.get(), const_cast<X509_CRL*>(c));
  }
  Pass pass;
  run_verification(pass, store_.get(), policy_, cert, untrusted.get(), at, crl_stack.get());

  const std::vector<X509*> path = built_path(pass);
  for (X509* c : path) {
    result.chain.push_back(up_ref(c));
    result.chain_info.push_back(std::make_shared<const CertificateInfo>(describe(c)));
    result.chain_der.push_back(certificate_der(c));
  }
  const bool ends_at_anchor =
      !path.empty() && std::any_of(anchors_.begin(), anchors_.end(), [&](const X509Ptr& a) {
        return X509_cmp(a.get(), path.back()) == 0;
      });
  const PathContext context{path, crls, pass.collected, policy_, at};
  report_problems(context, ends_at_anchor, result);
  if (!policy_.policies.empty()) {
    result.valid_policies = user_policies(pass.ctx.get());
    result.policy = policy_held(policy_.policies, result.valid_policies);
  }

  // The window in which validating again must give this same answer.
  window.from = TimePoint::min();
  window.until = TimePoint::max();
  for (X509* c : path) {
    window.from = std::max(window.from, asn1_time(X509_get0_notBefore(c)));
    window.until = std::min(window.until, asn1_time(X509_get0_notAfter(c)));
  }
  if (!path.empty()) {
    record_crl_uses(context, origins, ends_at_anchor, result, window.from, window.until);
  }
  return result;
}

}  // namespace edocgw::crypto
