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
// audit_logs verifies several logs at once: the nodes of one organisation
// on one PostgreSQL each keep their own log in their own data-dir. Each is
// verified as audit_log does; across them, no two may be one log (a copied
// data-dir), and each checkpoint the auditor kept goes to the log it is of.
//
// Stateless functions; safe from many threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  // How each kept checkpoint is named in the report ("kept checkpoint
  // NAME"); when empty, by its place ("kept checkpoint 1").
  std::vector<std::string> kept_names;
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
  // The log's first event record (its number and leaf hash), which commits
  // to every record before it: two data-dirs whose logs share it hold one
  // log (README "Several logs"). Not in to_json (its shape is kept).
  std::optional<std::pair<std::uint64_t, Hash>> first_event;
};

AuditReport audit_log(const AuditOptions& options);
nlohmann::json to_json(const AuditReport& report);
std::string to_text(const AuditReport& report);

// One log among several: `source` is how the auditor named it ("--config
// node1.xml", "--data-dir /srv/b"). Each source has its own data-dir.
struct LogSource {
  std::string source;
  AuditOptions options;  // its kept_checkpoints are ignored: see audit_logs
};

struct KeptCheckpoint {
  std::string name;  // the file the auditor kept it in
  std::string text;
};

struct MultiAuditReport {
  bool ok = false;
  std::vector<std::string> sources;
  std::vector<std::filesystem::path> data_dirs;
  std::vector<AuditReport> logs;  // in the order of the sources
  // Problems across the logs: two of them one log, a kept checkpoint that is
  // of none of them or cannot be told to be of one.
  std::vector<std::string> problems;
  double seconds = 0;
};

// Verifies every source's log (as audit_log), then across them. Each kept
// checkpoint is matched to the log it is of: among the logs of its origin
// that hold its signer's key, the ones whose first SIZE records have its
// root (normally one); if none has, the one such log, which then fails on
// it (its history was rewritten or cut). A note that matches no log, or
// several logs none of which has its tree, is a problem of the whole.
MultiAuditReport audit_logs(const std::vector<LogSource>& sources,
                            const std::vector<KeptCheckpoint>& kept);
// The first problem, naming its log ("log 2 (--data-dir b): ..."); "" when ok.
std::string first_problem(const MultiAuditReport& report);
nlohmann::json to_json(const MultiAuditReport& report);
std::string to_text(const MultiAuditReport& report);

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
