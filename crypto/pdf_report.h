// crypto/pdf_report.h: what the verification of the signatures inside one
// PDF found (crypto/pdf_verifier.h makes it), and the policy that judged it.
// The package report carries one per PDF attachment; `edocgw pdf verify`
// prints one; the signature log keeps them as evidence. Plain values.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include "crypto/certificate.h"
#include "crypto/check.h"
#include "crypto/trust_store.h"
#include "pdf/signed_pdf.h"

namespace edocgw::crypto {

enum class PdfSignatureState { valid, invalid, cannot_verify };
const char* pdf_signature_state_name(PdfSignatureState s);  // "valid", "invalid", "cannot_verify"

struct PdfSignatureReport {
  std::string field_name, object, sub_filter;
  std::string kind = "signature";  // "signature" or "document timestamp"
  PdfSignatureState state = PdfSignatureState::invalid;
  std::string reason;  // the first failure, one sentence; "" when valid
  std::optional<CertificateInfo> signer;
  std::vector<CertificateInfo> chain;
  std::vector<std::string> chain_der;  // DER of `chain`, for the signature log
  std::string signer_der;
  std::string digest_algorithm;     // "sha256", ...
  std::string claimed_time;         // signingTime attribute or /M, RFC 3339; claimed, not proven
  std::string timestamp_time;       // genTime of a verified signature timestamp, RFC 3339, or ""
  std::string timestamp_authority;  // subject of the TSA certificate, or ""
  std::string checked_at;           // RFC 3339: the time the chain was judged at
  std::string organ_id;             // the agency the signer is bound to, "" when none
  std::string binding;              // "uid", "organ-map fingerprint", "organ-map subject", ""
  bool covers_whole_file = false;
  std::uint64_t signed_length = 0;
  int revision = 0;
  std::vector<pdf::Change> changes;  // after this signature, allowed or not
  std::vector<RevocationEvidence> revocation;
  std::vector<Check> checks;
  std::vector<std::string> warnings;
  void add(std::string name, CheckOutcome outcome, std::string detail = {}) {
    checks.push_back({std::move(name), outcome, std::move(detail)});
  }
};

enum class PdfState {
  verified,       // at least one signature, every one valid, policy satisfied
  unsigned_pdf,   // no signature (accepted unless the policy requires one)
  invalid,        // a signature is invalid, or the policy is not satisfied
  cannot_verify,  // the file cannot be judged (see pdf::FileProblem) or a signature cannot
};
const char* pdf_state_name(PdfState s);  // "verified", "unsigned", "invalid", "cannot_verify"

// What the receiving side requires of the PDFs of a sender (config <accept>
// attributes pdf-signatures, pdf-official, pdf-cannot-verify).
struct PdfPolicy {
  // none: signatures are checked and reported, none is required;
  // any: at least one valid signature;
  // organisation: a valid signature by the sender organisation (bound to
  //   From/OrganId as package signers are), covering the whole file except
  //   later /DSS and document timestamps.
  enum class Require { none, any, organisation };
  Require require = Require::none;
  bool official_required = false;    // organisation: also a valid signature before it
  bool refuse_cannot_verify = true;  // false: "cannot verify" is reported, not refused
};
const char* require_name(PdfPolicy::Require r);  // "none", "any", "organisation"

struct PdfReport {
  std::string name;  // attachment name, or the file given to `edocgw pdf verify`
  std::string sha256;
  std::uint64_t size = 0;
  PdfState state = PdfState::invalid;
  std::string reason;                          // why not verified/unsigned; "" otherwise
  std::string file_problem;                    // pdf::file_problem_name, "" when none
  std::vector<PdfSignatureReport> signatures;  // in signing order
  std::vector<std::string> empty_signature_fields;
  std::vector<std::string> unreferenced_signature_dictionaries;
  std::vector<std::string> warnings;
  std::string policy;  // the policy applied, as text ("organisation, official required, ...")
  // Whether the package carrying this PDF may be taken in under the policy:
  // verified; unsigned when nothing is required; "cannot verify" when the
  // policy reports instead of refusing. Never for invalid.
  bool policy_accepts = false;
  bool accepted() const { return policy_accepts; }
};

nlohmann::json to_json(const PdfReport& report);
std::string to_text(const PdfReport& report);

}  // namespace edocgw::crypto
