// crypto/verification_report.h: the outcome of verifying a signed package:
// every check with its outcome, the first failure as a one-sentence reason,
// the signer and the chain. Printed by `edocgw verify` (text or --json) and
// stored by the gateway next to every incoming package.
//
// A plain value; not shared between threads while being filled.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/certificate.h"
#include "crypto/trust_store.h"

namespace edocgw::crypto {

enum class CheckOutcome { pass, fail, skipped };

struct Check {
  std::string name;  // "parse", "structure", "signed_info", "algorithm", ...
  CheckOutcome outcome = CheckOutcome::skipped;
  std::string detail;
};

struct VerificationReport {
  bool valid = false;
  std::string reason;  // first failure, one sentence; "" when valid
  std::optional<CertificateInfo> signer;
  std::vector<CertificateInfo> chain;
  std::vector<std::string> chain_der;  // the same certificates, DER (for the signature log)
  std::string signer_der;              // the signer certificate, DER, even when no chain was built
  std::string signed_at;   // the sender's TraceHeader Timestamp, covered by the signature
  std::string algorithm;   // SignatureMethod URI
  std::string checked_at;  // RFC 3339: the time certificates were judged at
  std::string document_id, sender_organ_id;
  std::string package_sha256;  // of the bytes verified
  std::vector<RevocationEvidence> revocation;
  std::vector<std::string> warnings;
  std::vector<Check> checks;

  void add(std::string name, CheckOutcome outcome, std::string detail = {});
  // Sets `valid` and `reason` from the checks: valid when none failed.
  void finish();
};

nlohmann::json to_json(const VerificationReport& report);
std::string to_text(const VerificationReport& report);
const char* outcome_name(CheckOutcome outcome);

}  // namespace edocgw::crypto
