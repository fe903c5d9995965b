// crypto/verification_report.h: the outcome of verifying a signed package:
// every check with its outcome, the first failure as a one-sentence reason,
// the signer and the chain, the policy that judged it and what was and was
// not proven. Printed by `edocgw verify` (text or --json) and stored by the
// gateway next to every incoming package and in the signature log.
//
// Three states: `valid` (the signature is proven and every check passed),
// `unsigned` (the package carries no XMLDSig signature and the policy
// accepts unsigned packages: nothing about its origin is proven) and
// `invalid`. `valid` never widens: an unsigned package is never valid.
//
// A plain value; not shared between threads while being filled.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/certificate.h"
#include "crypto/check.h"
#include "crypto/pdf_report.h"
#include "crypto/trust_store.h"

namespace edocgw::crypto {

// What an unknown revocation status means (<trust revocation=...>, and per
// sender <accept revocation=...>): `require` refuses it, `prefer` accepts
// with a warning, `off` neither fetches nor asks and says nothing of it. A
// certificate known to be revoked is refused under every policy.
enum class RevocationPolicy { require, prefer, off };
const char* revocation_policy_name(RevocationPolicy policy);  // "require", "prefer", "off"
std::optional<RevocationPolicy> revocation_policy_from_name(std::string_view name);

// What an administrator's policy accepts beyond the strict profile, for one
// sender (see config's <accept> rules). Plain values: crypto knows no config.
// The default is strict: unsigned, SHA-1 and inclusive c14n refused, the
// signer bound by its certificate's UID only.
struct AcceptPolicy {
  bool accept_unsigned = false;      // unsigned="accept": state `unsigned`, never valid
  bool sha1_warn = false;            // sha1="warn": SHA-1 accepted with a warning
  bool inclusive_c14n_warn = false;  // c14n="inclusive-warn": accepted with a warning
  // Organ map (personal certificates): SHA-256 fingerprint (lower-case hex)
  // or RFC 2253 subject (as `edocgw verify` prints it) -> agency code. Takes
  // precedence over the certificate's UID.
  std::map<std::string, std::string> organ_by_fingerprint;
  std::map<std::string, std::string> organ_by_subject;
  std::string organ_map;  // the map's file, for the report ("" when none)
  std::string rule;       // which configured rule(s) chose this, for the report
  // Per setting, where its value came from ("line 12" or "default"), for the report.
  std::map<std::string, std::string> sources;
  // What the PDF attachments must carry (pdf-signatures, pdf-official,
  // pdf-cannot-verify); the default requires nothing and refuses a signed
  // PDF that cannot be verified.
  PdfPolicy pdf;
  // Overrides VerifyOptions::revocation for this sender when set.
  std::optional<RevocationPolicy> revocation;
};

// The policy as the report records it: the settings, the rule, and the
// organ map entries that concern this signer (enough to verify the same
// package again later under the same policy).
nlohmann::json to_json(const AcceptPolicy& policy);
// The inverse of to_json (the auditor's re-verification); unknown or missing
// members read as the strict default.
AcceptPolicy accept_policy_from_json(const nlohmann::json& j);

enum class VerificationState { valid, unsigned_accepted, invalid };
const char* state_name(VerificationState state);  // "valid", "unsigned", "invalid"

// A TraceHeader found appended after the sender signed: unsigned transit data.
struct TransitTrace {
  std::string organ_id, timestamp;
};

struct VerificationReport {
  VerificationState state = VerificationState::invalid;
  // Exactly "the signature is proven and everything passed" (state valid).
  bool valid = false;
  // Set by the verifier when the package carries no XMLDSig signature and
  // the policy accepts that; finish() then makes the state `unsigned`.
  bool unsigned_accepted = false;
  AcceptPolicy policy;                // the policy applied (organ map trimmed to this signer)
  std::string binding;                // "uid", "organ-map fingerprint", "organ-map subject", ""
  std::vector<TransitTrace> transit;  // TraceHeaders appended after signing
  std::string reason;                 // first failure, one sentence; "" when valid
  std::optional<CertificateInfo> signer;
  std::vector<CertificateInfo> chain;
  std::vector<std::string> chain_der;  // the same certificates, DER (for the signature log)
  std::string signer_der;              // the signer certificate, DER, even when no chain was built
  std::string signed_at;   // the sender's TraceHeader Timestamp, covered by the signature
  std::string algorithm;   // SignatureMethod URI
  std::string checked_at;  // RFC 3339: the time certificates were judged at
  // The required certificate policy (<trust policies=...>) the signer's
  // path is valid for, dotted OID; "" when none is required.
  std::string certificate_policy;
  std::string document_id, sender_organ_id;
  std::string package_sha256;  // of the bytes verified
  std::vector<RevocationEvidence> revocation;
  // Accepted although the revocation status of a certificate is unknown
  // (revocation="prefer"); the warning says which and why.
  bool revocation_unknown = false;
  std::vector<std::string> warnings;
  std::vector<Check> checks;
  // One per PDF attachment, when PDF signatures were checked.
  std::vector<PdfReport> pdf;

  void add(std::string name, CheckOutcome outcome, std::string detail = {});
  // Sets `state`, `valid` and `reason` from the checks: invalid when one
  // failed, else unsigned when unsigned_accepted, else valid.
  void finish();
  // valid, or unsigned and accepted by the policy: the package may be taken in.
  bool accepted() const { return state != VerificationState::invalid; }
};

nlohmann::json to_json(const VerificationReport& report);
nlohmann::json to_json(const RevocationEvidence& evidence);  // as the report and the log keep it
nlohmann::json to_json(const Check& check);
// Every string in `j` made valid UTF-8, in place: names, subjects and ids in
// a report come from the document, and reports are dumped by the CLI, the
// pipeline and the signature log, where invalid UTF-8 would throw.
void make_strings_valid(nlohmann::json& j);
std::string to_text(const VerificationReport& report);

}  // namespace edocgw::crypto
