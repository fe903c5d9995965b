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

RevocationVerdict judge_revocation(const TrustStore& trust, const ChainResult& chain,
                                   const OcspSettings* ocsp, bool required,
                                   std::optional<TimePoint> not_before_revocation) {
  RevocationVerdict v;
  if (const auto* p = chain.first(ChainCheck::revocation)) {
    v.outcome = CheckOutcome::fail;
    v.detail = p->message;
    return v;
  }
  std::vector<std::string> found;
  bool signer_known = false;
  if (chain.revocation_checked) {
    found.push_back("no certificate of the chain is revoked per the CRLs");
    signer_known = true;  // CRL checks cover every certificate or report a problem
  }
  if (ocsp != nullptr && chain.chain.size() >= 2) {
    X509* leaf = chain.chain[0].get();
    auto answer = check_ocsp(leaf, chain.chain[1].get(), trust, *ocsp);
    if (answer && answer->status != OcspStatus::unknown) {
      RevocationEvidence ev;
      ev.source = "ocsp";
      ev.certificate_subject = describe(leaf).subject;
      ev.this_update = answer->this_update;
      ev.next_update = answer->next_update;
      ev.revoked = answer->status == OcspStatus::revoked;
      ev.ocsp_url = answer->url;
      ev.ocsp_responder = answer->responder;
      ev.ocsp_status = ev.revoked ? "revoked" : "good";
      ev.ocsp_response_der = answer->response_der;
      v.evidence.push_back(std::move(ev));
      if (answer->status == OcspStatus::revoked) {
        auto revoked_at = parse_rfc3339(answer->revoked_at);
        if (not_before_revocation && revoked_at && *not_before_revocation < *revoked_at) {
          found.push_back("the OCSP responder " + answer->url +
                          " says the signer certificate was revoked on " + answer->revoked_at +
                          ", after the signature's proven time " +
                          format_rfc3339(*not_before_revocation));
          signer_known = true;
        } else {
          v.outcome = CheckOutcome::fail;
          v.detail = "the signer certificate (serial " + describe(leaf).serial +
                     ") was revoked on " + answer->revoked_at +
                     (answer->reason.empty() ? "" : " (" + answer->reason + ")") +
                     ", per the OCSP responder " + answer->url;
          return v;
        }
      } else {
        found.push_back("the OCSP responder " + answer->url +
                        " says the signer certificate is good");
        signer_known = true;
      }
    } else {
      const std::string why =
          answer ? "the OCSP responder " + answer->url + " does not know the signer certificate"
                 : answer.error().message;
      if (!signer_known && required) {
        v.outcome = CheckOutcome::fail;
        v.detail = "the revocation status of the signer certificate is unknown: " + why;
        return v;
      }
      v.warnings.push_back("OCSP gave no answer: " + why);
    }
  }
  if (found.empty()) {
    v.outcome = CheckOutcome::skipped;
    v.detail = "no CRL was given and OCSP was not asked; revocation was not checked";
    return v;
  }
  v.outcome = CheckOutcome::pass;
  v.detail = found[0];
  for (size_t i = 1; i < found.size(); ++i) v.detail += "; " + found[i];
  return v;
}

}  // namespace edocgw::crypto
