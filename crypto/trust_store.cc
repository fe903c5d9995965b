#include "crypto/trust_store.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

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
};

// OpenSSL's verify callback has no user pointer of its own; the collector of
// the verification running on this thread is kept here.
thread_local std::vector<CollectedProblem>* t_collector = nullptr;

int collect_problem(int ok, X509_STORE_CTX* ctx) {
  if (ok == 0 && t_collector != nullptr) {
    X509* cert = X509_STORE_CTX_get_current_cert(ctx);
    t_collector->push_back({X509_STORE_CTX_get_error_depth(ctx), X509_STORE_CTX_get_error(ctx),
                            cert != nullptr ? up_ref(cert) : X509Ptr()});
  }
  return 1;  // go on, so that every problem of the chain is reported
}

ChainCheck classify(int error, int depth) {
  switch (error) {
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return depth == 0 ? ChainCheck::validity : ChainCheck::chain;
    case X509_V_ERR_CERT_REVOKED:
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
      return ChainCheck::revocation;
    default:
      return ChainCheck::chain;
  }
}

std::string quoted_subject(X509* cert) {
  return cert == nullptr ? std::string("(unknown)") : "'" + describe(cert).subject + "'";
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

const X509_CRL* crl_for(const std::vector<X509CrlPtr>& crls, X509* cert) {
  for (const auto& crl : crls) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_issuer_name(cert)) == 0) {
      return crl.get();
    }
  }
  return nullptr;
}

std::string crl_number(const X509_CRL* crl) {
  auto* num =
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr));
  if (num == nullptr) return {};
  BIGNUM* bn = ASN1_INTEGER_to_BN(num, nullptr);
  char* dec = BN_bn2dec(bn);
  std::string out = dec;
  OPENSSL_free(dec);
  BN_free(bn);
  ASN1_INTEGER_free(num);
  return out;
}

std::string message_for(const CollectedProblem& p, const std::vector<X509CrlPtr>& crls,
                        TimePoint at) {
  X509* cert = p.cert.get();
  const std::string who = quoted_subject(cert);
  const std::string when = format_rfc3339(at);
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
    case X509_V_ERR_CERT_REVOKED: {
      const X509_CRL* crl = crl_for(crls, cert);
      std::string detail;
      X509_REVOKED* entry = nullptr;
      if (crl != nullptr && X509_CRL_get0_by_cert(const_cast<X509_CRL*>(crl), &entry, cert) == 1) {
        detail = " on " + asn1_time_text(X509_REVOKED_get0_revocationDate(entry));
        int crit = 0;
        auto* reason = static_cast<ASN1_ENUMERATED*>(
            X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, &crit, nullptr));
        if (reason != nullptr) {
          static const char* kReasons[] = {
              "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
              "superseded",    "cessationOfOperation", "certificateHold", "",
              "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};
          const long r = ASN1_ENUMERATED_get(reason);
          if (r >= 0 && r <= 10) detail += " (" + std::string(kReasons[r]) + ")";
          ASN1_ENUMERATED_free(reason);
        }
        const std::string number = crl_number(crl);
        detail += ", per the CRL of '" + describe(cert).issuer + "'" +
                  (number.empty() ? "" : " number " + number);
      }
      return "certificate " + who + " (serial " + describe(cert).serial + ") was revoked" + detail;
    }
    case X509_V_ERR_UNABLE_TO_GET_CRL:
      return "no CRL was given for the issuer of certificate " + who +
             ": when CRLs are given, every CA of the chain needs one";
    case X509_V_ERR_CRL_HAS_EXPIRED:
      return "the CRL for certificate " + who + " is out of date at " + when;
    case X509_V_ERR_CRL_NOT_YET_VALID:
      return "the CRL for certificate " + who + " is not valid yet at " + when;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return "the CA signature on certificate " + who + " does not verify";
    default:
      return "certificate " + who + ": " + X509_verify_cert_error_string(p.error);
  }
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
    for (auto& c : *loaded) store.crls_.push_back(std::move(c));
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
  return out;
}

// SHA-256 over each certificate's DER, length-prefixed, in order.
std::string chain_key(X509* cert, const std::vector<X509*>& extra) {
  std::string input;
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

}  // namespace

void TrustStore::build_store() {
  store_ = std::shared_ptr<X509_STORE>(X509_STORE_new(), X509_STORE_free);
  for (const auto& a : anchors_) X509_STORE_add_cert(store_.get(), a.get());
  for (const auto& c : crls_) X509_STORE_add_crl(store_.get(), c.get());
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
  const std::string key = chain_key(cert, extra);
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
  ChainResult result = validate(cert, extra, at, fetched);
  if (!result.ok() || result.chain.empty()) return result;
  // The window in which validating again must give this same answer.
  auto entry = std::make_shared<ChainCache::Entry>();
  entry->from = TimePoint::min();
  entry->until = TimePoint::max();
  auto narrow = [&](const ASN1_TIME* from, const ASN1_TIME* until) {
    if (from != nullptr) entry->from = std::max(entry->from, asn1_time(from));
    if (until != nullptr) entry->until = std::min(entry->until, asn1_time(until));
  };
  for (const auto& c : result.chain)
    narrow(X509_get0_notBefore(c.get()), X509_get0_notAfter(c.get()));
  if (result.revocation_checked) {
    for (const auto& c : result.chain) {
      if (const X509_CRL* crl = crl_for(crls_, c.get()))
        narrow(X509_CRL_get0_lastUpdate(crl), X509_CRL_get0_nextUpdate(crl));
    }
  }
  entry->result = copy_of(result);
  std::lock_guard lock(cache_->mutex);
  if (cache_->capacity == 0) return result;
  auto [it, inserted] = cache_->by_key.insert_or_assign(key, std::move(entry));
  if (inserted) cache_->order.push_back(key);
  cache_->trim();
  return result;
}

ChainResult TrustStore::validate(X509* cert, const std::vector<X509*>& extra, TimePoint at,
                                 CrlSource* /*fetched: not used yet*/) const {
  ChainResult result;
  X509StackPtr chain_in(sk_X509_new_null());
  for (const auto& u : untrusted_) sk_X509_push(chain_in.get(), up_ref(u.get()).release());
  for (X509* e : extra) sk_X509_push(chain_in.get(), up_ref(e).release());

  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store_.get(), cert, chain_in.get());
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(at));
  if (!crls_.empty()) {
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    result.revocation_checked = true;
  }
  X509_STORE_CTX_set_verify_cb(ctx.get(), collect_problem);

  std::vector<CollectedProblem> collected;
  t_collector = &collected;
  const int rc = X509_verify_cert(ctx.get());
  t_collector = nullptr;
  if (rc != 1 && collected.empty()) {
    collected.push_back({0, X509_STORE_CTX_get_error(ctx.get()), up_ref(cert)});
  }
  ERR_clear_error();

  if (STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get())) {
    for (int i = 0; i < sk_X509_num(built); ++i) {
      X509* c = sk_X509_value(built, i);
      result.chain.push_back(up_ref(c));
      result.chain_info.push_back(std::make_shared<const CertificateInfo>(describe(c)));
      result.chain_der.push_back(certificate_der(c));
    }
  }
  for (const auto& p : collected) {
    // A revoked certificate also reports the next step's errors; keep each once.
    bool seen = false;
    for (const auto& r : result.problems) seen |= r.openssl_error == p.error && r.depth == p.depth;
    if (seen) continue;
    result.problems.push_back(
        {classify(p.error, p.depth), p.depth, p.error, message_for(p, crls_, at)});
  }
  if (result.revocation_checked) {
    for (size_t i = 0; i + 1 < result.chain.size(); ++i) {
      X509* c = result.chain[i].get();
      const X509_CRL* crl = crl_for(crls_, c);
      if (crl == nullptr) continue;
      RevocationEvidence ev;
      ev.certificate_subject = result.chain_info[i]->subject;
      ev.crl_issuer = result.chain_info[i]->issuer;
      ev.crl_number = crl_number(crl);
      ev.this_update = asn1_time_text(X509_CRL_get0_lastUpdate(crl));
      ev.next_update = asn1_time_text(X509_CRL_get0_nextUpdate(crl));
      X509_REVOKED* entry = nullptr;
      ev.revoked = X509_CRL_get0_by_cert(const_cast<X509_CRL*>(crl), &entry, c) == 1;
      result.revocation.push_back(std::move(ev));
    }
  }
  return result;
}

}  // namespace edocgw::crypto
