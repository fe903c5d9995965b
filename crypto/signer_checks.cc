#include "crypto/signer_checks.h"

#include "edxml/agency_code.h"

namespace edocgw::crypto {

SignerBinding bind_signer(const AcceptPolicy& policy, const CertificateInfo& signer) {
  if (auto it = policy.organ_by_fingerprint.find(signer.sha256_fingerprint);
      it != policy.organ_by_fingerprint.end())
    return {it->second, "organ-map fingerprint"};
  if (auto s = policy.organ_by_subject.find(signer.subject); s != policy.organ_by_subject.end())
    return {s->second, "organ-map subject"};
  if (!signer.organ_id.empty() &&
      edxml::classify_agency_code(signer.organ_id) != edxml::AgencyCodeForm::invalid)
    return {signer.organ_id, "uid"};
  return {};
}

std::string binding_problem(const AcceptPolicy& policy, const CertificateInfo& signer,
                            const SignerBinding& binding, const std::string& sender) {
  if (binding.organ_id.empty()) {
    const std::string map_text = policy.organ_map.empty()
                                     ? "no organ map is configured for this sender"
                                     : "the organ map " + policy.organ_map +
                                           " has no entry for sha256:" + signer.sha256_fingerprint +
                                           " or subject:" + signer.subject;
    if (signer.organ_id.empty())
      return "the signer certificate names no agency code (UID) and " + map_text +
             ", so it cannot be tied to sender " + sender;
    return "the signer certificate is a personal one (UID=" + signer.organ_id +
           ", not an agency code) and " + map_text + ", so it cannot be tied to sender " + sender;
  }
  if (binding.organ_id != sender) {
    const std::string by = binding.how == "uid" ? "the certificate's UID"
                                                : "the " + binding.how + " of " + policy.organ_map;
    return "the signer certificate belongs to " + binding.organ_id + " (by " + by + ") but " +
           (sender.empty() ? std::string("no sender was named")
                           : "the package names " + sender + " as sender");
  }
  return {};
}

namespace {

enum class Status { unknown, good, revoked };

struct CertStatus {
  Status status = Status::unknown;
  std::string why_unknown;  // what the sources said, for an unknown status
};

RevocationEvidence evidence_of(const CertificateInfo& cert, const OcspAnswer& answer) {
  RevocationEvidence ev;
  ev.source = "ocsp";
  ev.certificate_subject = cert.subject;
  ev.this_update = answer.this_update;
  ev.next_update = answer.next_update;
  ev.revoked = answer.status == OcspStatus::revoked;
  ev.ocsp_url = answer.url;
  ev.ocsp_responder = answer.responder;
  ev.ocsp_status = ev.revoked ? "revoked" : "good";
  ev.ocsp_response_der = answer.response_der;
  return ev;
}

std::string role_of(size_t depth) {
  return depth == 0 ? "the signer certificate" : "the CA certificate";
}

}  // namespace

CrlSource* crl_source_for(RevocationPolicy policy, bool fetch_crls, RevocationCache* cache) {
  if (!fetch_crls || cache == nullptr) return nullptr;
  return policy != RevocationPolicy::off ? static_cast<CrlSource*>(cache) : &cache->held_only();
}

RevocationVerdict judge_revocation(const TrustStore& trust, const ChainResult& chain,
                                   const RevocationInputs& in) {
  RevocationVerdict v;
  // A CRL that says revoked refuses under every policy.
  for (const auto& p : chain.problems) {
    if (p.check == ChainCheck::revocation && !p.status_unknown) {
      v.outcome = CheckOutcome::fail;
      v.detail = p.message;
      return v;
    }
  }
  // Every certificate but the anchor (the last of a built chain).
  const size_t judged = chain.chain.size() >= 2 ? chain.chain.size() - 1 : chain.chain.size();
  std::vector<CertStatus> status(judged);
  std::vector<std::string> found;
  if (chain.revocation_checked) {
    for (size_t i = 0; i < judged; ++i) status[i].status = Status::good;
    for (const auto& p : chain.problems) {
      if (p.check != ChainCheck::revocation || p.depth < 0 ||
          static_cast<size_t>(p.depth) >= judged)
        continue;
      status[p.depth].status = Status::unknown;
      if (status[p.depth].why_unknown.empty()) status[p.depth].why_unknown = p.message;
    }
    // A revocation problem no certificate of the chain owns (the anchor's, or
    // a chain that could not be built) leaves the signer unknown.
    if (judged == 0) status.push_back({Status::unknown, "no chain was built"});
  }
  const bool ocsp_on = in.policy != RevocationPolicy::off && in.ocsp != nullptr &&
                       chain.chain.size() >= 2 && chain.first(ChainCheck::chain) == nullptr;
  if (ocsp_on) {
    for (size_t i = 0; i < judged; ++i) {
      X509* cert = chain.chain[i].get();
      // Intermediates: only as a fallback for an unknown CRL status, and only
      // at a responder they name themselves (a configured ocsp-url is the
      // signers' responder, which knows nothing of CA certificates).
      if (i > 0 && (status[i].status != Status::unknown || ocsp_url_of(cert).empty() ||
                    !in.ocsp->url.empty()))
        continue;
      auto answer = in.cache != nullptr
                        ? in.cache->ocsp(cert, chain.chain[i + 1].get(), trust)
                        : check_ocsp(cert, chain.chain[i + 1].get(), trust, *in.ocsp);
      const std::string who = role_of(i) + " (serial " + chain.chain_info[i]->serial + ")";
      if (!answer || answer->status == OcspStatus::unknown) {
        const std::string why =
            answer ? "the OCSP responder " + answer->url + " does not know " + role_of(i)
                   : answer.error().message;
        if (status[i].status == Status::unknown) {
          status[i].why_unknown += (status[i].why_unknown.empty() ? "" : "; ") + why;
        }
        v.warnings.push_back("OCSP gave no answer: " + why);
        continue;
      }
      v.evidence.push_back(evidence_of(*chain.chain_info[i], *answer));
      const std::string cached = answer->cached ? " (cached answer)" : "";
      if (answer->status == OcspStatus::revoked) {
        auto revoked_at = parse_rfc3339(answer->revoked_at);
        if (in.not_before_revocation && revoked_at && *in.not_before_revocation < *revoked_at) {
          found.push_back("the OCSP responder " + answer->url + " says " + role_of(i) +
                          " was revoked on " + answer->revoked_at +
                          ", after the signature's proven time " +
                          format_rfc3339(*in.not_before_revocation) + cached);
          status[i].status = Status::good;
          continue;
        }
        v.outcome = CheckOutcome::fail;
        v.detail = who + " was revoked on " + answer->revoked_at +
                   (answer->reason.empty() ? "" : " (" + answer->reason + ")") +
                   ", per the OCSP responder " + answer->url + cached;
        return v;
      }
      found.push_back("the OCSP responder " + answer->url + " says " + role_of(i) + " is good" +
                      cached);
      status[i].status = Status::good;
    }
  }
  if (!chain.revocation_checked && !ocsp_on && in.policy == RevocationPolicy::require &&
      chain.first(ChainCheck::chain) == nullptr) {
    // Required, yet no source was consulted (no CRL in force, OCSP not asked).
    v.outcome = CheckOutcome::fail;
    v.detail =
        "the revocation status of the signer certificate is unknown: no CRL was given or fetched "
        "and OCSP was not asked (revocation=\"require\")";
    return v;
  }
  if (!chain.revocation_checked && !ocsp_on) {
    v.outcome = CheckOutcome::skipped;
    v.detail = in.policy == RevocationPolicy::off
                   ? "revocation checking is off (revocation=\"off\")"
                   : "no CRL was given or fetched and OCSP was not asked; revocation was not "
                     "checked";
    return v;
  }
  if (chain.revocation_checked) {
    bool all_good = true;
    for (const auto& s : status) all_good &= s.status == Status::good;
    if (all_good)
      found.insert(found.begin(), "no certificate of the chain is revoked per the CRLs");
  }
  // The statuses that matter: the signer's always, the CAs' when CRLs were checked.
  std::string unknown;
  for (size_t i = 0; i < status.size(); ++i) {
    if (status[i].status != Status::unknown) continue;
    if (i > 0 && !chain.revocation_checked) continue;
    const std::string subject =
        i < chain.chain_info.size() ? " ('" + chain.chain_info[i]->subject + "')" : "";
    unknown = "the revocation status of " + role_of(i) + " is unknown" + subject + ": " +
              (status[i].why_unknown.empty() ? "no source answered" : status[i].why_unknown);
    break;
  }
  if (!unknown.empty()) {
    switch (in.policy) {
      case RevocationPolicy::require:
        v.outcome = CheckOutcome::fail;
        v.detail = unknown + " (revocation=\"require\")";
        return v;
      case RevocationPolicy::prefer:
        v.unknown_accepted = true;
        v.warnings.push_back(unknown + "; accepted because revocation=\"prefer\"");
        found.push_back("accepted with a status unknown (revocation=\"prefer\")");
        break;
      case RevocationPolicy::off:
        found.push_back("a status is unknown; not required (revocation=\"off\")");
        break;
    }
  }
  v.outcome = CheckOutcome::pass;
  v.detail = found.empty() ? std::string("no certificate of the chain is revoked") : found[0];
  for (size_t i = 1; i < found.size(); ++i) v.detail += "; " + found[i];
  return v;
}

}  // namespace edocgw::crypto
