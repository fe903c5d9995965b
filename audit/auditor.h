// audit/auditor.h: what an auditor runs, offline, on a copy of a data-dir
// or on a bundle: `edocgw audit verify | prove | check-bundle | consistency`.
//
// verify recomputes every leaf hash and the tree, checks the sequence and
// links of the records, every checkpoint's signature (and, with trust
// anchors, its certificate chain at the checkpoint's time) and its root at
// its size, and re-verifies every archived package as of its logged time
// (signature, digest, chain and validity; revocation is not re-judged: the
// evidence used at the time is in the record). It names the first bad
// record. A bundle is one JSON file (README "The signature log") that
// proves one record with no data-dir: the record, its inclusion proof, the
// checkpoint covering it, the package and the certificates.
//
// Stateless functions; safe from many threads.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/merkle.h"
#include "crypto/trust_store.h"
#include "util/result.h"

namespace edocgw::audit {

// Reads a package body a record names, given the name and the logged
// SHA-256: nullopt when it is gone (purged by retention), an error when the
// name is not one it can read or the bytes there are not the record named.
// The gateway gives one that reads its segment archive; without one, names
// are files under the data-dir (read_confined).
using PackageReader = std::function<Result<std::optional<std::string>>(
    const std::string& name, const std::string& sha256_hex)>;

struct AuditOptions {
  std::filesystem::path data_dir;
  // Anchors for the checkpoint signer's chain and for re-verifying packages;
  // without them, signatures of checkpoints are checked against the logged
  // certificate only and packages are compared by SHA-256 only.
  const crypto::TrustStore* trust = nullptr;
  bool packages = true;  // read and re-verify the archived packages
  PackageReader read_package;
  // Checkpoints kept by the auditor from before: each must match the log.
  std::vector<std::string> kept_checkpoints;
  // From the gateway's configuration (--config): every checkpoint's origin
  // must be this ("edocgw/ORGAN-ID"), and its signer this certificate (DER)
  // or an earlier one of the same subject. Empty: not checked (--data-dir).
  std::string expected_origin;
  std::string expected_signer_der;
};

// What the verdict rests on: the largest checkpoint (or kept checkpoint,
// the auditor's anchor) whose signature, signer and root all held.
struct RestsOn {
  std::string name;  // file name, or "kept checkpoint N"
  bool kept = false;
  std::uint64_t size = 0;
  std::string time;
  std::string signer_fingerprint, signer_subject;
};

struct AuditReport {
  bool ok = false;
  std::string origin;
  std::uint64_t records = 0, events = 0, certificates = 0, bytes = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t packages_verified = 0;
  std::vector<std::string> purged;      // documents whose package body is gone (retention)
  std::vector<std::string> never_kept;  // bodies the log itself says were not kept (discarded)
  std::uint64_t refused_unkept = 0;     // verifications logged with no body kept (refusals)
  std::optional<RestsOn> rests_on;
  std::vector<std::string> problems;  // in the order found; the first is the first bad thing
  std::vector<std::string> notes;
  Hash root{};
  double seconds = 0;
};

AuditReport audit_log(const AuditOptions& options);
nlohmann::json to_json(const AuditReport& report);
std::string to_text(const AuditReport& report);

// The bundle proving the first record of DOCUMENT (the gateway's id or the
// edXML DocumentId), with the smallest checkpoint that covers it.
Result<nlohmann::json> make_bundle(const std::filesystem::path& data_dir,
                                   const std::string& document,
                                   const PackageReader& read_package = {});

struct BundleCheck {
  bool ok = false;
  std::vector<std::string> passed, problems;
  nlohmann::json record;
};
BundleCheck check_bundle(const nlohmann::json& bundle, const crypto::TrustStore& anchors);
// The same from the bundle file's bytes (not JSON: a problem, never a throw).
// With audit_log on a folder, the entry points a fuzzer drives: neither
// needs a configuration file.
BundleCheck check_bundle_bytes(std::string_view bytes, const crypto::TrustStore& anchors);

// A string field of untrusted JSON: its text, or "" when absent, not an
// object or not a string (for display; checks use the typed reads inside).
std::string string_field(const nlohmann::json& object, const char* key);

// A consistency proof from a checkpoint the auditor kept to the latest one
// in the data-dir, verified (RFC 9162 2.1.4.2); an error when the log is
// not an extension of the kept checkpoint.
Result<nlohmann::json> prove_consistency(const std::filesystem::path& data_dir,
                                         const std::string& kept_checkpoint);

}  // namespace edocgw::audit
