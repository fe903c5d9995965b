#include "audit/auditor.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <openssl/x509v3.h>

#include "audit/signature_log.h"
#include "crypto/certificate.h"
#include "crypto/package_verifier.h"
#include "util/bytes.h"

namespace edocgw::audit {

using crypto::up_ref;
using crypto::X509Ptr;

std::string string_field(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

namespace {

struct Note {
  std::string name;  // file name, or "kept checkpoint N"
  Result<Checkpoint> checkpoint;
};

std::vector<Note> load_notes(const std::filesystem::path& dir, std::vector<std::string>& problems) {
  std::vector<Note> out;
  auto files = read_checkpoint_files(dir);
  if (!files) {
    problems.push_back(files.error().message);
    return out;
  }
  for (auto& [name, text] : *files) out.push_back({name, parse_checkpoint(text)});
  return out;
}

// The certificates the log holds, each parsed once.
class LoggedCertificates {
 public:
  // Adds a certificate record's DER; false when it is not a certificate.
  bool add(const std::string& fingerprint, std::string der) {
    auto cert = crypto::certificate_from_der(der);
    if (!cert) return false;
    key_ids_.push_back(key_id_of(cert->get()));
    all_.push_back(cert->get());
    parsed_.push_back(std::move(*cert));
    der_[fingerprint] = std::move(der);
    return true;
  }
  // The certificate (by key id) that signed a checkpoint, or null.
  X509* signer_of(const Checkpoint& c) const {
    for (size_t i = 0; i < parsed_.size(); ++i)
      if (key_ids_[i] == c.key_id) return parsed_[i].get();
    return nullptr;
  }
  const std::vector<X509*>& all() const { return all_; }
  const std::map<std::string, std::string>& der() const { return der_; }  // fingerprint -> DER

 private:
  std::vector<X509Ptr> parsed_;
  std::vector<X509*> all_;
  std::vector<std::string> key_ids_;
  std::map<std::string, std::string> der_;
};

// Checks one checkpoint's signature and signer chain; "" when good.
std::string check_note(const Checkpoint& c, const LoggedCertificates& certs,
                       const crypto::TrustStore* trust) {
  X509* cert = certs.signer_of(c);
  if (cert == nullptr) return "it is signed by a certificate the log does not hold";
  if (auto st = verify_checkpoint(c, cert); !st) return st.error().message;
  if (trust != nullptr) {
    auto at = parse_rfc3339(c.time);
    if (!at) return "its time is not RFC 3339";
    const auto chain = trust->verify(cert, certs.all(), *at);
    if (!chain.ok())
      return "its signer does not chain to the trust anchors: " + chain.problems[0].message;
  }
  return {};
}

// The fields of untrusted JSON, read with their types checked: a record or
// a bundle may have been written by anyone, and nlohmann's value() throws on
// a field of another type. The first wrong field is kept as `problem`.
class Fields {
 public:
  Fields(const nlohmann::json& object, std::string where) : o_(object), where_(std::move(where)) {}
  std::string str(const char* key, std::string fallback = "") {
    auto it = o_.find(key);
    if (it == o_.end()) return fallback;
    if (!it->is_string()) {
      wrong(key, "a string");
      return fallback;
    }
    return it->get<std::string>();
  }
  void require_string(const char* key) {
    if (o_.find(key) == o_.end())
      wrong(key, "present");
    else
      (void)str(key);
  }
  void expect(const char* key, bool (nlohmann::json::*is)() const noexcept, const char* what) {
    auto it = o_.find(key);
    if (it != o_.end() && !((*it).*is)()) wrong(key, what);
  }
  void expect_strings(const char* key) {
    auto it = o_.find(key);
    if (it == o_.end()) return;
    if (!it->is_array()) return wrong(key, "an array of strings");
    for (const auto& x : *it)
      if (!x.is_string()) return wrong(key, "an array of strings");
  }
  const std::string& problem() const { return problem_; }

 private:
  void wrong(const char* key, const char* what) {
    if (problem_.empty()) problem_ = where_ + ": field " + key + " is not " + what;
  }
  const nlohmann::json& o_;
  std::string where_;
  std::string problem_;
};

std::string record_name(std::uint64_t index, const nlohmann::json& payload) {
  std::string name = "record " + std::to_string(index);
  const std::string document_id = string_field(payload, "document_id");
  if (!document_id.empty())
    name += " (" + string_field(payload, "event") + " of " + document_id + ")";
  return name;
}

// Checks the types of a version 1 record's fields (README "The signature
// log format"); "" when they hold. After it, value() on them cannot throw.
std::string record_type_problem(std::uint64_t index, const nlohmann::json& payload) {
  const std::string where = "record " + std::to_string(index);
  if (!payload.is_object()) return where + " is not a JSON object";
  const auto v = payload.find("v");
  if (v == payload.end() || !v->is_number_integer() || v->get<std::int64_t>() != 1)
    return where + ": field v is not the number 1 (this edocgw reads version 1 records)";
  Fields f(payload, where);
  f.require_string("kind");
  if (!f.problem().empty()) return f.problem();
  const std::string kind = f.str("kind");
  if (kind == "certificate") {
    f.require_string("der");
    f.require_string("fingerprint");
    f.expect("subject", &nlohmann::json::is_string, "a string");
    f.expect("time", &nlohmann::json::is_string, "a string");
    return f.problem();
  }
  if (kind != "event") return where + ": field kind is neither \"certificate\" nor \"event\"";
  f.require_string("event");
  for (const char* key : {"time", "message", "gateway", "document", "document_id", "from",
                          "package", "package_sha256", "signer", "outcome", "reason",
                          "failed_check", "checked_at", "config_sha256", "business_type"})
    f.expect(key, &nlohmann::json::is_string, "a string");
  f.expect_strings("certificates");
  f.expect_strings("to");
  f.expect("allow_sha1", &nlohmann::json::is_boolean, "a boolean");
  f.expect("policy", &nlohmann::json::is_object, "an object");
  f.expect("pdf", &nlohmann::json::is_array, "an array");
  return f.problem();
}

// Whether the logged outcome and a re-verification now agree: the same
// state (valid, unsigned or invalid).
// Whether a logged PDF report holds a signature refused for revocation
// (OCSP speaks of its moment only: not judged again).
bool pdf_revoked(const nlohmann::json& pdf) {
  if (!pdf.is_object() || !pdf.contains("signatures") || !pdf["signatures"].is_array())
    return false;
  for (const auto& sig : pdf["signatures"]) {
    if (!sig.is_object() || !sig.contains("checks") || !sig["checks"].is_array()) continue;
    for (const auto& c : sig["checks"]) {
      if (c.is_object() && c.value("name", "") == "revocation" && c.value("outcome", "") == "fail")
        return true;
    }
  }
  return false;
}

bool outcomes_agree(const nlohmann::json& e, const crypto::VerificationReport& again) {
  std::string outcome = e.value("outcome", "");
  if (outcome == "signed") outcome = "valid";
  if (outcome != "valid" && outcome != "unsigned") outcome = "invalid";
  // The PDF attachments, when the record has them: each in the same state,
  // in the same order (revocation refusals aside, as for the package).
  bool pdf_revocation = false;
  if (auto pdfs = e.find("pdf"); pdfs != e.end() && pdfs->is_array()) {
    if (pdfs->size() != again.pdf.size()) return false;
    for (size_t i = 0; i < pdfs->size(); ++i) {
      const auto& logged = (*pdfs)[i];
      if (pdf_revoked(logged)) {
        pdf_revocation = true;
        continue;
      }
      if (!logged.is_object() ||
          logged.value("state", "") != crypto::pdf_state_name(again.pdf[i].state))
        return false;
    }
  }
  if (outcome == crypto::state_name(again.state)) return true;
  // Revocation is not judged again: a refusal for revocation stays explained
  // by the evidence in the record.
  const std::string failed = e.value("failed_check", "");
  return outcome == "invalid" &&
         (failed == "revocation" || (failed == "pdf_signatures" && pdf_revocation));
}

// The options a record was verified under: its time and its logged policy
// (older records carry only "allow_sha1").
crypto::VerifyOptions logged_options(const nlohmann::json& record) {
  crypto::VerifyOptions vo;
  if (auto at = parse_rfc3339(record.value("checked_at", record.value("time", "")))) vo.at = *at;
  if (auto p = record.find("policy"); p != record.end() && p->is_object()) {
    vo.policy = crypto::accept_policy_from_json(*p);
  }
  if (record.value("allow_sha1", false)) vo.policy.sha1_warn = true;
  // Revocation is not judged again (the record's evidence stands, and years
  // later no responder answers): whatever the logged policy required.
  vo.policy.revocation = crypto::RevocationPolicy::off;
  vo.revocation = crypto::RevocationPolicy::off;
  // Records from before PDF signatures were checked carry no "pdf": their
  // packages are judged as they were then.
  vo.pdf_signatures = record.contains("pdf");
  return vo;
}

std::string state_text(const crypto::VerificationReport& r) {
  return std::string(crypto::state_name(r.state)) +
         (r.state == crypto::VerificationState::invalid ? " (" + r.reason + ")" : "");
}

}  // namespace

namespace {

// The state of one pass over the records.
struct Pass {
  Pass(const AuditOptions& o, AuditReport& r,
       const std::map<std::uint64_t, std::vector<size_t>>& sizes)
      : options(o), report(r), by_size(sizes) {}
  const AuditOptions& options;
  AuditReport& report;
  const std::map<std::uint64_t, std::vector<size_t>>& by_size;
  std::unique_ptr<crypto::TrustStore> no_crls;  // the anchors, for re-verifying packages
  LoggedCertificates certs;
  std::map<std::uint64_t, Hash> roots;  // recomputed root at each checkpoint size
  CompactRange range;
  Hash prev{};
  bool sequence_broken = false;
  // Bodies missing from the data-dir, by the gateway's document id: purged
  // unless a later "discard" record says the body was never kept.
  std::vector<std::pair<std::string, std::string>> missing;  // document, description
  std::set<std::string> discarded;

  // False when the sequence or a link is broken (the scan stops).
  bool link(const Record& r) {
    const std::uint64_t expected = range.size();
    if (r.seq != expected) {
      report.problems.push_back(
          r.seq < expected
              ? "record at position " + std::to_string(expected) + " repeats record " +
                    std::to_string(r.seq) + ": a record was duplicated or the order changed"
              : "record at position " + std::to_string(expected) + " says it is record " +
                    std::to_string(r.seq) + ": record " + std::to_string(expected) +
                    (r.seq - expected > 1 ? " and others were" : " was") +
                    " deleted, or the order changed");
      sequence_broken = true;
      return false;
    }
    if (r.prev != prev) {
      report.problems.push_back("record " + std::to_string(expected) + " does not link to record " +
                                std::to_string(expected - 1) + ": record " +
                                std::to_string(expected - 1) +
                                " was changed and its hash rewritten, or records were replaced");
      sequence_broken = true;
      return false;
    }
    range.append(r.hash);
    prev = r.hash;
    if (by_size.count(range.size())) roots[range.size()] = range.root();
    return true;
  }

  void certificate(const Record& r, const nlohmann::json& payload) {
    ++report.certificates;
    const std::string fingerprint = payload.value("fingerprint", "");
    auto der = base64_decode(payload.value("der", ""));
    if (!der || sha256_hex(*der) != fingerprint || !certs.add(fingerprint, std::move(*der)))
      report.problems.push_back(record_name(r.seq, payload) +
                                ": the certificate does not match its fingerprint");
  }

  void event(const Record& r, const nlohmann::json& payload) {
    ++report.events;
    if (payload.value("event", "") == "discard") {
      discarded.insert(payload.value("document", ""));
      return;
    }
    const std::string package = payload.value("package", "");
    if (package.empty()) {
      ++report.refused_unkept;  // a refusal: the log says no body was kept
      return;
    }
    auto bytes = options.read_package
                     ? options.read_package(package, payload.value("package_sha256", ""))
                     : read_confined(options.data_dir, package, kMaxArchivedPackage);
    if (!bytes) {
      report.problems.push_back(record_name(r.seq, payload) + " names its package as " +
                                bytes.error().message);
      return;
    }
    if (!*bytes) {
      missing.emplace_back(payload.value("document", ""), payload.value("document_id", "") + " (" +
                                                              record_name(r.seq, payload) + ", " +
                                                              package + ")");
      return;
    }
    const std::string& body = **bytes;
    if (sha256_hex(body) != payload.value("package_sha256", "")) {
      report.problems.push_back("the archived package of " + record_name(r.seq, payload) + " (" +
                                package + ") was changed: its SHA-256 is not the logged one");
      return;
    }
    if (!no_crls) return;
    crypto::PackageVerifier verifier(*no_crls, logged_options(payload));
    const auto again = verifier.verify(body);
    if (!outcomes_agree(payload, again)) {
      report.problems.push_back("the archived package of " + record_name(r.seq, payload) +
                                " was logged as " + payload.value("outcome", "") +
                                " but verifies, under the logged policy, as " + state_text(again));
    }
    ++report.packages_verified;
  }

  bool on_record(const Record& r) {
    report.bytes = r.end;
    if (!link(r)) return false;
    // Certificates are needed for the checkpoints; events only when packages are checked.
    const bool is_certificate = r.payload.rfind("{\"der\":", 0) == 0;
    if (!is_certificate && !report.first_event) report.first_event.emplace(r.seq, r.hash);
    if (!is_certificate && !options.packages) {
      ++report.events;
      return true;
    }
    const auto payload = nlohmann::json::parse(r.payload, nullptr, false);
    if (payload.is_discarded()) {
      report.problems.push_back("record " + std::to_string(r.seq) +
                                " is not JSON in UTF-8 (a version 1 record is)");
      return true;
    }
    if (const std::string bad = record_type_problem(r.seq, payload); !bad.empty()) {
      report.problems.push_back(bad);
      return true;
    }
    if (payload.value("kind", "") == "certificate")
      certificate(r, payload);
    else
      event(r, payload);
    return true;
  }
};

// Checks one note against the recomputed roots, the logged certificates and
// the configured gateway; "" when it holds.
std::string judge_note(const Checkpoint& c, const Pass& pass, const std::string& origin,
                       X509*& signer) {
  const AuditOptions& options = pass.options;
  if (c.origin != origin) return "is of another log: " + c.origin;
  if (!options.expected_origin.empty() && c.origin != options.expected_origin)
    return "is of log '" + c.origin + "', not of the configured gateway ('" +
           options.expected_origin + "')";
  if (std::string bad = check_note(c, pass.certs, options.trust); !bad.empty()) return bad;
  signer = pass.certs.signer_of(c);
  if (!options.expected_signer_der.empty() &&
      crypto::certificate_der(signer) != options.expected_signer_der) {
    auto configured = crypto::certificate_from_der(options.expected_signer_der);
    if (!configured ||
        crypto::describe(signer).subject != crypto::describe(configured->get()).subject)
      return "is signed by '" + crypto::describe(signer).subject + "' (" +
             crypto::describe(signer).sha256_fingerprint +
             "), not by the configured gateway's certificate";
  }
  return {};
}

void judge_notes(const std::vector<Note>& notes,
                 const std::map<std::uint64_t, std::vector<size_t>>& by_size, Pass& pass) {
  AuditReport& report = pass.report;
  for (const auto& [size, indexes] : by_size) {
    for (size_t i : indexes) {
      const Note& note = notes[i];
      const Checkpoint& c = *note.checkpoint;
      ++report.checkpoints;
      if (report.origin.empty()) report.origin = c.origin;
      const std::string name = "checkpoint " + note.name + " (size " + std::to_string(size) + ")";
      X509* signer = nullptr;
      bool holds = true;
      if (const std::string bad = judge_note(c, pass, report.origin, signer); !bad.empty()) {
        report.problems.push_back(name + " " + bad);
        holds = false;
      }
      auto root = pass.roots.find(size);
      if (root == pass.roots.end()) {
        holds = false;
        if (!pass.sequence_broken && size > report.records)
          report.problems.push_back(name + " covers " + std::to_string(size) +
                                    " records but the log has " + std::to_string(report.records) +
                                    ": records were removed from the end");
        else if (!pass.sequence_broken)
          report.problems.push_back(name + " could not be compared");
      } else if (root->second != c.root) {
        holds = false;
        report.problems.push_back(name + " does not match records 0.." + std::to_string(size - 1) +
                                  ": a record before " + std::to_string(size) +
                                  " was changed, added or removed, or the history was rebuilt");
      }
      if (!holds || signer == nullptr) continue;
      const auto who = crypto::describe(signer);
      report.rests_on = RestsOn{note.name, note.name.rfind("kept ", 0) == 0, size,
                                c.time,    who.sha256_fingerprint,           who.subject};
    }
  }
}

}  // namespace

AuditReport audit_log(const AuditOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  AuditReport report;
  const auto dir = log_dir(options.data_dir);
  if (!std::filesystem::exists(dir / "records")) {
    report.problems.push_back("no signature log in " + dir.string());
    return report;
  }
  std::vector<Note> notes = load_notes(dir, report.problems);
  for (size_t i = 0; i < options.kept_checkpoints.size(); ++i)
    notes.push_back({"kept checkpoint " + (i < options.kept_names.size() ? options.kept_names[i]
                                                                         : std::to_string(i + 1)),
                     parse_checkpoint(options.kept_checkpoints[i])});
  std::map<std::uint64_t, std::vector<size_t>> by_size;
  for (size_t i = 0; i < notes.size(); ++i) {
    if (!notes[i].checkpoint) {
      report.problems.push_back("checkpoint " + notes[i].name +
                                " is malformed: " + notes[i].checkpoint.error().message);
      continue;
    }
    by_size[notes[i].checkpoint->size].push_back(i);
  }
  Pass pass(options, report, by_size);
  if (by_size.count(0)) pass.roots[0] = empty_tree_hash();
  if (options.trust != nullptr) {
    std::vector<X509Ptr> anchors;
    for (const auto& a : options.trust->anchors()) anchors.push_back(up_ref(a.get()));
    pass.no_crls = std::make_unique<crypto::TrustStore>(
        crypto::TrustStore::from_certificates(std::move(anchors), {}));
  }
  auto stop = scan_records(dir / "records", [&](const Record& r) {
    try {
      return pass.on_record(r);
    } catch (const std::exception& e) {  // a bug, not the input's fault: say where
      report.problems.push_back("record " + std::to_string(r.seq) +
                                " could not be read: " + e.what());
      return false;
    }
  });
  report.records = pass.range.size();
  report.root = pass.range.root();
  if (!stop) {
    report.problems.push_back(stop.error().message);
  } else if (*stop) {
    const ScanStop& s = **stop;
    const std::uint64_t covered = by_size.empty() ? 0 : by_size.rbegin()->first;
    if (s.torn && s.index >= covered) {
      report.notes.push_back(s.message +
                             " (a crash while appending; no checkpoint covers it and the gateway "
                             "drops it at its next start)");
    } else {
      report.problems.insert(report.problems.begin(), s.message);
    }
  }
  for (auto& [document, description] : pass.missing) {
    if (pass.discarded.count(document))
      report.never_kept.push_back(description);
    else
      report.purged.push_back(description);
  }
  judge_notes(notes, by_size, pass);
  if (!report.rests_on && report.records > 0) {
    report.problems.push_back(
        report.checkpoints == 0
            ? "the log has " + std::to_string(report.records) +
                  " records but no signed checkpoint: nothing signed shows it was not rewritten "
                  "(anyone can rebuild hashes and links without a key)"
            : "no checkpoint of the log holds (see the problems above): nothing signed covers "
              "its records");
  } else if (report.rests_on && report.rests_on->size < report.records) {
    report.notes.push_back("records " + std::to_string(report.rests_on->size) + ".." +
                           std::to_string(report.records - 1) +
                           " come after the last checkpoint and are not yet covered by a "
                           "signature (the gateway signs one over them when it next starts)");
  }
  if (report.records == 0 && report.checkpoints == 0) report.notes.push_back("the log is empty");
  if (!report.never_kept.empty())
    report.notes.push_back(std::to_string(report.never_kept.size()) +
                           " package bodies were never kept (discarded as the log records, not "
                           "purged)");
  if (options.packages && !pass.no_crls)
    report.notes.push_back(
        "archived packages were compared by SHA-256 only; give trust anchors to "
        "re-verify their signatures");
  if (!options.packages) report.notes.push_back("archived packages were not read");
  report.ok = report.problems.empty();
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

nlohmann::json to_json(const AuditReport& r) {
  nlohmann::json rests_on = nullptr;
  if (r.rests_on) {
    rests_on = {{"checkpoint", r.rests_on->name},
                {"kept", r.rests_on->kept},
                {"size", r.rests_on->size},
                {"time", r.rests_on->time},
                {"signer", r.rests_on->signer_fingerprint},
                {"signer_subject", r.rests_on->signer_subject}};
  }
  return {{"ok", r.ok},
          {"origin", r.origin},
          {"records", r.records},
          {"events", r.events},
          {"certificates", r.certificates},
          {"bytes", r.bytes},
          {"root", hex(r.root)},
          {"checkpoints", r.checkpoints},
          {"rests_on", rests_on},
          {"packages_verified", r.packages_verified},
          {"purged", r.purged},
          {"never_kept", r.never_kept},
          {"refused_not_kept", r.refused_unkept},
          {"first_problem", r.problems.empty() ? nlohmann::json() : nlohmann::json(r.problems[0])},
          {"problems", r.problems},
          {"notes", r.notes},
          {"seconds", r.seconds}};
}

std::string to_text(const AuditReport& r) {
  std::string out = r.ok ? "LOG VERIFIES\n" : "LOG DOES NOT VERIFY: " + r.problems[0] + "\n";
  out += "origin:       " + r.origin + "\n";
  out += "records:      " + std::to_string(r.records) + " (" + std::to_string(r.events) +
         " events, " + std::to_string(r.certificates) + " certificates, " +
         std::to_string(r.bytes) + " bytes)\n";
  out += "root:         " + hex(r.root) + "\n";
  out += "checkpoints:  " + std::to_string(r.checkpoints) + "\n";
  if (r.rests_on) {
    out += "rests on:     " + std::string(r.rests_on->kept ? "" : "checkpoint ") +
           r.rests_on->name + " (size " + std::to_string(r.rests_on->size) + ", time " +
           r.rests_on->time + ", signer " + r.rests_on->signer_fingerprint + " '" +
           r.rests_on->signer_subject + "')\n";
  } else {
    out += "rests on:     nothing signed\n";
  }
  out += "packages:     " + std::to_string(r.packages_verified) + " re-verified, " +
         std::to_string(r.purged.size()) + " purged, " + std::to_string(r.never_kept.size()) +
         " never kept, " + std::to_string(r.refused_unkept) + " refused (not kept)\n";
  for (const auto& p : r.purged) out += "  purged: " + p + "\n";
  for (const auto& p : r.never_kept) out += "  never kept: " + p + "\n";
  for (const auto& p : r.problems) out += "PROBLEM: " + p + "\n";
  for (const auto& n : r.notes) out += "note: " + n + "\n";
  return out;
}

namespace {

// What matching a kept checkpoint to a log needs to know of it, from one
// read of its records: the origins it answers to (its checkpoints', or the
// configured one), the key ids of its certificates, and its root at each
// size a kept checkpoint covers.
struct LogProbe {
  std::set<std::string> origins;  // empty: not known (no checkpoint, no --config)
  std::set<std::string> key_ids;
  std::map<std::uint64_t, Hash> roots;
};

LogProbe probe_log(const AuditOptions& options, const std::set<std::uint64_t>& sizes) {
  LogProbe p;
  std::vector<std::string> ignored;  // audit_log reports them
  for (const auto& note : load_notes(log_dir(options.data_dir), ignored))
    if (note.checkpoint) p.origins.insert(note.checkpoint->origin);
  if (!options.expected_origin.empty()) p.origins = {options.expected_origin};
  if (sizes.count(0)) p.roots[0] = empty_tree_hash();
  CompactRange range;
  // A damaged log is read up to the damage; audit_log names it.
  (void)scan_records(log_dir(options.data_dir) / "records", [&](const Record& r) {
    if (r.seq != range.size()) return false;
    range.append(r.hash);
    if (sizes.count(range.size())) p.roots[range.size()] = range.root();
    if (r.payload.rfind("{\"der\":", 0) == 0) {
      const auto payload = nlohmann::json::parse(r.payload, nullptr, false);
      if (auto der = base64_decode(string_field(payload, "der")))
        if (auto cert = crypto::certificate_from_der(*der))
          p.key_ids.insert(key_id_of(cert->get()));
    }
    return true;
  });
  return p;
}

std::string log_name(const MultiAuditReport& r, size_t i) {
  return "log " + std::to_string(i + 1) + " (" + r.sources[i] + ")";
}

std::string log_names(const MultiAuditReport& r, const std::vector<size_t>& logs) {
  std::string out;
  for (size_t k = 0; k < logs.size(); ++k)
    out += (k == 0 ? "" : k + 1 == logs.size() ? " and " : ", ") + log_name(r, logs[k]);
  return out;
}

// The kept checkpoints each log is to be judged against (audit_logs says
// how they are matched); a note that goes to none is a problem of the whole.
std::vector<std::vector<KeptCheckpoint>> match_kept(const std::vector<LogSource>& sources,
                                                    const std::vector<KeptCheckpoint>& kept,
                                                    MultiAuditReport& report) {
  std::vector<std::vector<KeptCheckpoint>> out(sources.size());
  if (kept.empty()) return out;
  std::vector<Result<Checkpoint>> parsed;
  std::set<std::uint64_t> sizes;
  for (const auto& k : kept) {
    parsed.push_back(parse_checkpoint(k.text));
    if (parsed.back()) sizes.insert(parsed.back()->size);
  }
  std::vector<LogProbe> probes;
  for (const auto& s : sources) probes.push_back(probe_log(s.options, sizes));
  for (size_t i = 0; i < kept.size(); ++i) {
    const std::string name = "kept checkpoint " + kept[i].name;
    if (!parsed[i]) {
      report.problems.push_back(name + " is malformed: " + parsed[i].error().message);
      continue;
    }
    const Checkpoint& c = *parsed[i];
    std::vector<size_t> holders, trees;  // logs with its key; of those, with its tree
    for (size_t j = 0; j < probes.size(); ++j) {
      const LogProbe& p = probes[j];
      if (!p.key_ids.count(c.key_id) || (!p.origins.empty() && !p.origins.count(c.origin)))
        continue;
      holders.push_back(j);
      const auto root = p.roots.find(c.size);
      if (root != p.roots.end() && root->second == c.root) trees.push_back(j);
    }
    if (!trees.empty() || holders.size() == 1) {
      for (size_t j : trees.empty() ? holders : trees) out[j].push_back(kept[i]);
    } else if (holders.empty()) {
      report.problems.push_back(name + " (log '" + c.origin + "', size " + std::to_string(c.size) +
                                ") is of none of the logs given: no log of that origin holds the "
                                "key that signed it");
    } else {
      report.problems.push_back(
          name + " (log '" + c.origin + "', size " + std::to_string(c.size) +
          ") is signed with the key of " + log_names(report, holders) +
          ", and none of them has its tree (its first " + std::to_string(c.size) +
          " records with its root): one of them was rewritten or cut since it was kept");
    }
  }
  return out;
}

// Two sources that are one log: the same data-dir, or one log's records
// copied into another (their first event records, which commit to all
// before them, are the same).
void check_one_log_each(const std::vector<LogSource>& sources, MultiAuditReport& report) {
  for (size_t i = 0; i < sources.size(); ++i) {
    for (size_t j = i + 1; j < sources.size(); ++j) {
      std::error_code ec;
      if (std::filesystem::equivalent(sources[i].options.data_dir, sources[j].options.data_dir,
                                      ec)) {
        report.problems.push_back(log_names(report, {i, j}) + " are the same data-dir (" +
                                  sources[i].options.data_dir.string() + "): give each log once");
        continue;
      }
      const auto& a = report.logs[i].first_event;
      const auto& b = report.logs[j].first_event;
      if (!a || !b || *a != *b) continue;
      report.problems.push_back(
          log_names(report, {i, j}) + " are one log: both begin with the same " +
          std::to_string(a->first + 1) + " records (up to their first event, record " +
          std::to_string(a->first) + ", leaf hash " + hex(a->second) +
          "), so one data-dir is a copy of the other; each node must keep a log of its own");
    }
  }
}

}  // namespace

MultiAuditReport audit_logs(const std::vector<LogSource>& sources,
                            const std::vector<KeptCheckpoint>& kept) {
  const auto started = std::chrono::steady_clock::now();
  MultiAuditReport report;
  for (const auto& s : sources) {
    report.sources.push_back(s.source);
    report.data_dirs.push_back(s.options.data_dir);
  }
  const auto kept_by_log = match_kept(sources, kept, report);
  for (size_t i = 0; i < sources.size(); ++i) {
    AuditOptions options = sources[i].options;
    options.kept_checkpoints.clear();
    options.kept_names.clear();
    for (const auto& k : kept_by_log[i]) {
      options.kept_checkpoints.push_back(k.text);
      options.kept_names.push_back(k.name);
    }
    report.logs.push_back(audit_log(options));
  }
  check_one_log_each(sources, report);
  report.ok = report.problems.empty() && std::all_of(report.logs.begin(), report.logs.end(),
                                                     [](const AuditReport& r) { return r.ok; });
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

std::string first_problem(const MultiAuditReport& r) {
  for (size_t i = 0; i < r.logs.size(); ++i)
    if (!r.logs[i].ok) return log_name(r, i) + " does not verify: " + r.logs[i].problems[0];
  return r.problems.empty() ? std::string() : r.problems[0];
}

nlohmann::json to_json(const MultiAuditReport& r) {
  nlohmann::json logs = nlohmann::json::array();
  size_t verified = 0;
  for (size_t i = 0; i < r.logs.size(); ++i) {
    nlohmann::json log = to_json(r.logs[i]);
    log["source"] = r.sources[i];
    log["data_dir"] = r.data_dirs[i].string();
    logs.push_back(std::move(log));
    verified += r.logs[i].ok;
  }
  const std::string first = first_problem(r);
  return {{"ok", r.ok},
          {"logs", std::move(logs)},
          {"logs_verified", verified},
          {"first_problem", first.empty() ? nlohmann::json() : nlohmann::json(first)},
          {"problems", r.problems},
          {"seconds", r.seconds}};
}

std::string to_text(const MultiAuditReport& r) {
  std::string out;
  size_t verified = 0;
  for (size_t i = 0; i < r.logs.size(); ++i) {
    const std::string dir = r.data_dirs[i].string();
    out += "== log " + std::to_string(i + 1) + " of " + std::to_string(r.logs.size()) + ": " +
           r.sources[i] + (r.sources[i] == "--data-dir " + dir ? "" : " (data-dir " + dir + ")") +
           "\n" + to_text(r.logs[i]);
    verified += r.logs[i].ok;
  }
  out += "== all " + std::to_string(r.logs.size()) + " logs\n";
  for (const auto& p : r.problems) out += "PROBLEM: " + p + "\n";
  out += r.ok ? "ALL LOGS VERIFY (" + std::to_string(verified) + " of " +
                    std::to_string(r.logs.size()) + ")\n"
              : "NOT ALL LOGS VERIFY (" + std::to_string(verified) + " of " +
                    std::to_string(r.logs.size()) + " do): " + first_problem(r) + "\n";
  return out;
}

namespace {

struct FullScan {
  std::vector<Hash> leaves;
  LoggedCertificates certs;
  std::optional<std::uint64_t> found;
  std::string found_leaf;
  nlohmann::json found_payload;
};

Result<FullScan> full_scan(const std::filesystem::path& data_dir, const std::string& document) {
  FullScan s;
  auto stop = scan_records(log_dir(data_dir) / "records", [&](const Record& r) {
    if (r.seq != s.leaves.size()) return false;
    s.leaves.push_back(r.hash);
    const bool is_certificate = r.payload.rfind("{\"der\":", 0) == 0;
    if (!is_certificate && (s.found || document.empty())) return true;
    auto payload = nlohmann::json::parse(r.payload, nullptr, false);
    if (!payload.is_object()) return true;
    if (is_certificate) {
      if (auto der = base64_decode(string_field(payload, "der")))
        s.certs.add(string_field(payload, "fingerprint"), std::move(*der));
    } else if (string_field(payload, "document") == document ||
               string_field(payload, "document_id") == document) {
      s.found = r.seq;
      s.found_leaf = std::string(r.leaf);
      s.found_payload = std::move(payload);
    }
    return true;
  });
  if (!stop) return stop.error();
  if (*stop && !(*stop)->torn)
    return make_error(Errc::invalid, "the signature log is damaged: " + (*stop)->message +
                                         "; run edocgw audit verify");
  return s;
}

std::vector<std::string> proof_hex(const std::vector<Hash>& proof) {
  std::vector<std::string> out;
  for (const auto& h : proof) out.push_back(hex(h));
  return out;
}

}  // namespace

Result<nlohmann::json> make_bundle(const std::filesystem::path& data_dir,
                                   const std::string& document, const PackageReader& read_package) {
  auto scan = full_scan(data_dir, document);
  if (!scan) return scan.error();
  if (!scan->found)
    return make_error(Errc::usage, "the signature log has no record of document " + document);
  const std::uint64_t index = *scan->found;
  if (const std::string bad = record_type_problem(index, scan->found_payload); !bad.empty())
    return make_error(Errc::invalid, bad + "; run edocgw audit verify");
  std::vector<std::string> problems;
  std::optional<Checkpoint> covering;
  std::string refused;  // why a covering checkpoint was passed over
  for (auto& note : load_notes(log_dir(data_dir), problems)) {
    if (!note.checkpoint || note.checkpoint->size <= index ||
        note.checkpoint->size > scan->leaves.size())
      continue;
    if (covering && note.checkpoint->size >= covering->size) continue;
    // Never prove from a checkpoint whose signature does not hold.
    X509* signer = scan->certs.signer_of(*note.checkpoint);
    Status signed_ok =
        signer == nullptr
            ? Status(
                  make_error(Errc::invalid, "it is signed by a certificate the log does not hold"))
            : verify_checkpoint(*note.checkpoint, signer);
    if (!signed_ok) {
      refused = "checkpoint " + note.name + ": " + signed_ok.error().message;
      continue;
    }
    covering = *note.checkpoint;
  }
  if (!covering && !refused.empty())
    return make_error(Errc::invalid, "no checkpoint with a valid signature covers record " +
                                         std::to_string(index) + " (" + refused +
                                         "); run edocgw audit verify");
  if (!covering) {
    return make_error(Errc::usage, "no checkpoint covers record " + std::to_string(index) +
                                       " yet: ask the gateway for one (POST "
                                       "/v1/audit/checkpoint) or wait for the next");
  }
  if (tree_root(scan->leaves, covering->size) != covering->root)
    return make_error(Errc::invalid,
                      "the log does not match its checkpoint; run edocgw audit verify");
  const auto& e = scan->found_payload;
  nlohmann::json certs = nlohmann::json::array();
  std::vector<std::string> wanted = e.value("certificates", std::vector<std::string>{});
  if (X509* signer = scan->certs.signer_of(*covering))
    wanted.push_back(crypto::describe(signer).sha256_fingerprint);
  for (X509* x : scan->certs.all()) {  // the checkpoint signer's chain: every logged CA
    if (X509_check_ca(x) > 0) wanted.push_back(crypto::describe(x).sha256_fingerprint);
  }
  std::set<std::string> seen;
  for (const auto& fp : wanted) {
    auto der = scan->certs.der().find(fp);
    if (seen.insert(fp).second && der != scan->certs.der().end())
      certs.push_back(base64_encode(der->second));
  }
  nlohmann::json bundle = {
      {"format", "edocgw-audit-bundle/1"},
      {"origin", covering->origin},
      {"record", {{"index", index}, {"leaf", base64_encode(scan->found_leaf)}}},
      {"inclusion_proof", proof_hex(inclusion_proof(scan->leaves, index, covering->size))},
      {"checkpoint", covering->text},
      {"certificates", certs},
      {"package", nullptr}};
  const std::string package = e.value("package", "");
  if (!package.empty()) {
    auto bytes = read_package ? read_package(package, e.value("package_sha256", ""))
                              : read_confined(data_dir, package, kMaxArchivedPackage);
    if (!bytes)
      return make_error(Errc::invalid, "record " + std::to_string(index) +
                                           " names its package as " + bytes.error().message);
    if (*bytes) bundle["package"] = base64_encode(**bytes);
  }
  return bundle;
}

namespace {

// The typed parts of a bundle (README "Auditing"), or the first field that
// is missing or of another type.
struct BundleFields {
  std::uint64_t index = 0;
  std::string leaf_b64, checkpoint, origin;
  std::vector<std::string> certificates, proof;
  std::optional<std::string> package;  // nullopt: null (purged)
};

Result<BundleFields> bundle_fields(const nlohmann::json& b) {
  auto bad = [](const std::string& m) { return make_error(Errc::invalid, "the bundle's " + m); };
  if (!b.is_object()) return bad("top level is not a JSON object");
  if (string_field(b, "format") != "edocgw-audit-bundle/1")
    return make_error(Errc::invalid, "not an edocgw audit bundle (format edocgw-audit-bundle/1)");
  BundleFields f;
  const auto record = b.find("record");
  if (record == b.end() || !record->is_object()) return bad("field record is not an object");
  const auto index = record->find("index");
  if (index == record->end() || !index->is_number_unsigned())
    return bad("field record.index is not a non-negative integer");
  f.index = index->get<std::uint64_t>();
  auto text = [&](const nlohmann::json& o, const char* key, const char* shown,
                  std::string& out) -> Status {
    auto it = o.find(key);
    if (it == o.end() || !it->is_string())
      return bad(std::string("field ") + shown + " is not a string");
    out = it->get<std::string>();
    return {};
  };
  auto strings = [&](const char* key, std::vector<std::string>& out) -> Status {
    auto it = b.find(key);
    if (it == b.end() || !it->is_array())
      return bad(std::string("field ") + key + " is not an array of strings");
    for (const auto& x : *it) {
      if (!x.is_string()) return bad(std::string("field ") + key + " is not an array of strings");
      out.push_back(x.get<std::string>());
    }
    return {};
  };
  for (Status st :
       {text(*record, "leaf", "record.leaf", f.leaf_b64),
        text(b, "checkpoint", "checkpoint", f.checkpoint), text(b, "origin", "origin", f.origin),
        strings("certificates", f.certificates), strings("inclusion_proof", f.proof)}) {
    if (!st) return st.error();
  }
  const auto package = b.find("package");
  if (package == b.end() || !(package->is_null() || package->is_string()))
    return bad("field package is neither base64 text nor null");
  if (package->is_string()) f.package = package->get<std::string>();
  return f;
}

}  // namespace

BundleCheck check_bundle(const nlohmann::json& b, const crypto::TrustStore& anchors) {
  BundleCheck out;
  auto fail = [&](std::string m) {
    out.problems.push_back(std::move(m));
    return out;
  };
  auto fields = bundle_fields(b);
  if (!fields) return fail(fields.error().message);
  const BundleFields& f = *fields;
  const std::uint64_t index = f.index;
  auto leaf = base64_decode(f.leaf_b64);
  if (!leaf || leaf->size() < kLeafPrefix) return fail("the record is not base64 of a leaf");
  std::uint64_t seq = 0;
  for (int i = 0; i < 8; ++i) seq = seq << 8 | static_cast<unsigned char>((*leaf)[i]);
  if (seq != index)
    return fail("the record says it is number " + std::to_string(seq) + ", the bundle says " +
                std::to_string(index));
  out.record = nlohmann::json::parse(leaf->substr(kLeafPrefix), nullptr, false);
  if (out.record.is_discarded()) out.record = nullptr;
  if (const std::string bad = record_type_problem(index, out.record); !bad.empty())
    return fail(bad);

  std::vector<X509Ptr> certs;
  std::vector<X509*> extra;
  for (const auto& c : f.certificates) {
    auto der = base64_decode(c);
    auto x =
        der ? crypto::certificate_from_der(*der) : Result<X509Ptr>(make_error(Errc::malformed, ""));
    if (!x) return fail("a certificate in the bundle is not base64 DER");
    extra.push_back(x->get());
    certs.push_back(std::move(*x));
  }
  auto checkpoint = parse_checkpoint(f.checkpoint);
  if (!checkpoint) return fail("the checkpoint is malformed: " + checkpoint.error().message);
  X509* signer = nullptr;
  for (auto& c : certs)
    if (key_id_of(c.get()) == checkpoint->key_id) signer = c.get();
  if (signer == nullptr) return fail("the bundle lacks the certificate that signed the checkpoint");
  if (auto st = verify_checkpoint(*checkpoint, signer); !st) return fail(st.error().message);
  auto at = parse_rfc3339(checkpoint->time);
  const auto chain = anchors.verify(signer, extra, at ? *at : now_seconds());
  if (!chain.ok())
    return fail("the checkpoint's signer does not chain to the trust anchors: " +
                chain.problems[0].message);
  out.passed.push_back("checkpoint signed by '" + crypto::describe(signer).subject +
                       "', which chains to the trust anchors");
  if (checkpoint->origin != f.origin)
    return fail("the checkpoint is of log '" + checkpoint->origin + "'");
  std::vector<Hash> proof;
  for (const auto& h : f.proof) {
    Hash x;
    if (!from_hex(h, x)) return fail("the inclusion proof is not hex hashes");
    proof.push_back(x);
  }
  if (!verify_inclusion(leaf_hash(*leaf), index, checkpoint->size, proof, checkpoint->root))
    return fail(
        "the record is not in the tree the checkpoint signs (the inclusion proof fails): "
        "the record or the proof was changed");
  out.passed.push_back("record " + std::to_string(index) + " is in the signed tree of size " +
                       std::to_string(checkpoint->size));
  if (!f.package) {
    out.passed.push_back("no package body (purged before the bundle was made)");
  } else {
    auto package = base64_decode(*f.package);
    if (!package) return fail("the package is not base64");
    if (sha256_hex(*package) != out.record.value("package_sha256", ""))
      return fail("the package is not the one logged: its SHA-256 differs");
    out.passed.push_back("the package is the one logged (SHA-256 " + sha256_hex(*package) + ")");
    std::vector<X509Ptr> anchor_copies;
    for (const auto& a : anchors.anchors()) anchor_copies.push_back(up_ref(a.get()));
    std::vector<X509Ptr> untrusted;
    for (auto& c : certs) untrusted.push_back(up_ref(c.get()));
    const auto store =
        crypto::TrustStore::from_certificates(std::move(anchor_copies), std::move(untrusted));
    const auto again = crypto::PackageVerifier(store, logged_options(out.record)).verify(*package);
    if (!outcomes_agree(out.record, again))
      return fail("the package was logged as " + out.record.value("outcome", "") +
                  " but verifies, under the logged policy, as " + state_text(again));
    out.passed.push_back("the package verifies as logged (" + out.record.value("outcome", "") +
                         ") as of " + out.record.value("checked_at", out.record.value("time", "")));
  }
  out.ok = true;
  return out;
}

BundleCheck check_bundle_bytes(std::string_view bytes, const crypto::TrustStore& anchors) {
  const auto bundle = nlohmann::json::parse(bytes, nullptr, false);
  if (bundle.is_discarded()) {
    BundleCheck out;
    out.problems.push_back("the bundle is not JSON in UTF-8");
    return out;
  }
  return check_bundle(bundle, anchors);
}

Result<nlohmann::json> prove_consistency(const std::filesystem::path& data_dir,
                                         const std::string& kept_checkpoint) {
  auto old = parse_checkpoint(kept_checkpoint);
  if (!old) return make_error(Errc::malformed, "the kept checkpoint: " + old.error().message);
  auto scan = full_scan(data_dir, "");
  if (!scan) return scan.error();
  std::vector<std::string> problems;
  std::optional<Checkpoint> latest;
  for (auto& n : load_notes(log_dir(data_dir), problems))
    if (n.checkpoint && (!latest || n.checkpoint->size > latest->size)) latest = *n.checkpoint;
  if (!latest) return make_error(Errc::invalid, "the data-dir has no checkpoint");
  if (X509* signer = scan->certs.signer_of(*old)) {
    if (auto st = verify_checkpoint(*old, signer); !st)
      return make_error(Errc::invalid, "the kept checkpoint: " + st.error().message);
  } else {
    return make_error(Errc::invalid,
                      "the kept checkpoint is signed by a certificate this log does "
                      "not hold: it is of another log, or the log was replaced");
  }
  if (old->origin != latest->origin)
    return make_error(Errc::invalid, "the kept checkpoint is of log '" + old->origin + "'");
  if (old->size > latest->size)
    return make_error(Errc::invalid, "the kept checkpoint covers " + std::to_string(old->size) +
                                         " records, more than the latest (" +
                                         std::to_string(latest->size) + "): the log was cut");
  if (latest->size > scan->leaves.size() || tree_root(scan->leaves, latest->size) != latest->root)
    return make_error(Errc::invalid,
                      "the log does not match its latest checkpoint; run edocgw audit verify");
  const auto proof = consistency_proof(scan->leaves, old->size, latest->size);
  const bool ok = verify_consistency(old->size, latest->size, old->root, latest->root, proof);
  nlohmann::json out = {{"old_size", old->size},
                        {"old_root", hex(old->root)},
                        {"new_size", latest->size},
                        {"new_root", hex(latest->root)},
                        {"new_checkpoint", latest->text},
                        {"proof", proof_hex(proof)},
                        {"consistent", ok}};
  if (!ok)
    return make_error(Errc::invalid,
                      "the log is not an extension of the kept checkpoint (size " +
                          std::to_string(old->size) +
                          "): its history was rewritten since that checkpoint was signed");
  return out;
}

}  // namespace edocgw::audit
