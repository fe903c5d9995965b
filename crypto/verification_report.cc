#include "crypto/verification_report.h"

#include "util/bytes.h"

#include <sstream>

namespace edocgw::crypto {

const char* outcome_name(CheckOutcome outcome) {
  switch (outcome) {
    case CheckOutcome::pass:
      return "pass";
    case CheckOutcome::fail:
      return "fail";
    case CheckOutcome::skipped:
      return "skipped";
  }
  return "unknown";
}

void VerificationReport::add(std::string name, CheckOutcome outcome, std::string detail) {
  checks.push_back({std::move(name), outcome, std::move(detail)});
}

void VerificationReport::finish() {
  valid = !checks.empty();
  reason.clear();
  for (const auto& c : checks) {
    if (c.outcome == CheckOutcome::fail) {
      valid = false;
      if (reason.empty()) reason = c.detail;
    }
  }
  if (checks.empty()) reason = "nothing was checked";
}

nlohmann::json to_json(const VerificationReport& r) {
  nlohmann::json j;
  j["valid"] = r.valid;
  j["reason"] = r.valid ? nlohmann::json() : nlohmann::json(r.reason);
  j["signer"] = r.signer ? to_json(*r.signer) : nlohmann::json();
  j["chain"] = nlohmann::json::array();
  for (const auto& c : r.chain) j["chain"].push_back(to_json(c));
  j["signed_at"] = r.signed_at.empty() ? nlohmann::json() : nlohmann::json(r.signed_at);
  j["algorithm"] = r.algorithm.empty() ? nlohmann::json() : nlohmann::json(r.algorithm);
  j["checked_at"] = r.checked_at;
  j["document_id"] = r.document_id;
  j["sender_organ_id"] = r.sender_organ_id;
  j["package_sha256"] = r.package_sha256;
  j["revocation"] = nlohmann::json::array();
  for (const auto& ev : r.revocation) {
    nlohmann::json e = {{"source", ev.source},
                        {"certificate", ev.certificate_subject},
                        {"this_update", ev.this_update},
                        {"next_update", ev.next_update},
                        {"revoked", ev.revoked}};
    if (ev.source == "ocsp") {
      e["ocsp_url"] = ev.ocsp_url;
      e["ocsp_responder"] = ev.ocsp_responder;
      e["ocsp_status"] = ev.ocsp_status;
      e["ocsp_response"] = base64_encode(ev.ocsp_response_der);
    } else {
      e["crl_issuer"] = ev.crl_issuer;
      e["crl_number"] = ev.crl_number;
    }
    j["revocation"].push_back(std::move(e));
  }
  j["warnings"] = r.warnings;
  j["checks"] = nlohmann::json::array();
  for (const auto& c : r.checks) {
    j["checks"].push_back(
        {{"name", c.name}, {"outcome", outcome_name(c.outcome)}, {"detail", c.detail}});
  }
  return j;
}

std::string to_text(const VerificationReport& r) {
  std::ostringstream out;
  out << (r.valid ? "VALID" : "INVALID: " + r.reason) << "\n";
  if (r.signer) {
    out << "signer:      " << r.signer->subject << "\n";
    if (!r.signer->organ_id.empty()) out << "organ id:    " << r.signer->organ_id << "\n";
    out << "serial:      " << r.signer->serial << "\n";
    out << "sha256:      " << r.signer->sha256_fingerprint << "\n";
  }
  if (!r.document_id.empty()) out << "document id: " << r.document_id << "\n";
  if (!r.signed_at.empty()) out << "signed at:   " << r.signed_at << "\n";
  if (!r.algorithm.empty()) out << "algorithm:   " << r.algorithm << "\n";
  out << "checked at:  " << r.checked_at << "\n";
  for (const auto& c : r.checks) {
    out << "  [" << outcome_name(c.outcome) << "] " << c.name;
    if (!c.detail.empty()) out << ": " << c.detail;
    out << "\n";
  }
  for (const auto& w : r.warnings) out << "warning: " << w << "\n";
  return out.str();
}

}  // namespace edocgw::crypto
