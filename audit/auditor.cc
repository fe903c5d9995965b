#include "audit/auditor.h"

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

std::string record_name(std::uint64_t index, const nlohmann::json& payload) {
  std::string name = "record " + std::to_string(index);
  if (payload.is_object() && payload.contains("document_id"))
    name += " (" + payload.value("event", "") + " of " + payload.value("document_id", "") + ")";
  return name;
}

// Whether the logged outcome and a re-verification now agree: the same
// state (valid, unsigned or invalid).
bool outcomes_agree(const nlohmann::json& e, const crypto::VerificationReport& again) {
  std::string outcome = e.value("outcome", "");
  if (outcome == "signed") outcome = "valid";
  if (outcome != "valid" && outcome != "unsigned") outcome = "invalid";
  if (outcome == crypto::state_name(again.state)) return true;
  // Revocation is not judged again: a refusal for revocation stays explained
  // by the evidence in the record.
  return outcome == "invalid" && e.value("failed_check", "") == "revocation";
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
  return vo;
}

std::string state_text(const crypto::VerificationReport& r) {
  return std::string(crypto::state_name(r.state)) +
         (r.state == crypto::VerificationState::invalid ? " (" + r.reason + ")" : "");
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
    notes.push_back({"kept checkpoint " + std::to_string(i + 1),
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
  std::map<std::uint64_t, Hash> roots;  // recomputed root at each checkpoint size
  if (by_size.count(0)) roots[0] = empty_tree_hash();

  std::unique_ptr<crypto::TrustStore> no_crls;
  if (options.trust != nullptr) {
    std::vector<X509Ptr> anchors;
    for (const auto& a : options.trust->anchors()) anchors.push_back(up_ref(a.get()));
    no_crls = std::make_unique<crypto::TrustStore>(
        crypto::TrustStore::from_certificates(std::move(anchors), {}));
  }
  LoggedCertificates certs;
  CompactRange range;
  Hash prev{};
  std::uint64_t expected = 0;
  bool sequence_broken = false;
  auto stop = scan_records(dir / "records", [&](const Record& r) {
    report.bytes = r.end;
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
    ++expected;
    if (by_size.count(range.size())) roots[range.size()] = range.root();
    // Certificates are needed for the checkpoints; events only when packages are checked.
    const bool is_certificate = r.payload.rfind("{\"der\":", 0) == 0;
    if (!is_certificate && !options.packages) {
      ++report.events;
      return true;
    }
    const auto payload = nlohmann::json::parse(r.payload, nullptr, false);
    if (!payload.is_object() || payload.value("v", 0) != 1) {
      report.problems.push_back(record_name(r.seq, payload) + " is not a version 1 JSON record");
      return true;
    }
    if (payload.value("kind", "") == "certificate") {
      ++report.certificates;
      auto der = base64_decode(payload.value("der", ""));
      if (!der || sha256_hex(*der) != payload.value("fingerprint", "") ||
          !certs.add(payload.value("fingerprint", ""), std::move(*der)))
        report.problems.push_back(record_name(r.seq, payload) +
                                  ": the certificate does not match its fingerprint");
      return true;
    }
    ++report.events;
    const std::string package = payload.value("package", "");
    if (package.empty()) return true;
    auto bytes = read_file(options.data_dir / package);
    if (!bytes) {
      report.purged.push_back(payload.value("document_id", "") + " (" +
                              record_name(r.seq, payload) + ", " + package + ")");
      return true;
    }
    if (sha256_hex(*bytes) != payload.value("package_sha256", "")) {
      report.problems.push_back("the archived package of " + record_name(r.seq, payload) + " (" +
                                package + ") was changed: its SHA-256 is not the logged one");
      return true;
    }
    if (no_crls) {
      crypto::PackageVerifier verifier(*no_crls, logged_options(payload));
      const auto again = verifier.verify(*bytes);
      if (!outcomes_agree(payload, again)) {
        report.problems.push_back("the archived package of " + record_name(r.seq, payload) +
                                  " was logged as " + payload.value("outcome", "") +
                                  " but verifies, under the logged policy, as " +
                                  state_text(again));
      }
      ++report.packages_verified;
    }
    return true;
  });
  report.records = range.size();
  report.root = range.root();
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
  for (const auto& [size, indexes] : by_size) {
    for (size_t i : indexes) {
      const Checkpoint& c = *notes[i].checkpoint;
      ++report.checkpoints;
      if (report.origin.empty()) report.origin = c.origin;
      const std::string name =
          "checkpoint " + notes[i].name + " (size " + std::to_string(size) + ")";
      if (c.origin != report.origin)
        report.problems.push_back(name + " is of another log: " + c.origin);
      if (const std::string bad = check_note(c, certs, options.trust); !bad.empty())
        report.problems.push_back(name + ": " + bad);
      auto root = roots.find(size);
      if (root == roots.end()) {
        if (!sequence_broken && size > report.records)
          report.problems.push_back(name + " covers " + std::to_string(size) +
                                    " records but the log has " + std::to_string(report.records) +
                                    ": records were removed from the end");
        else if (!sequence_broken)
          report.problems.push_back(name + " could not be compared");
      } else if (root->second != c.root) {
        report.problems.push_back(name + " does not match records 0.." + std::to_string(size - 1) +
                                  ": a record before " + std::to_string(size) +
                                  " was changed, added or removed, or the history was rebuilt");
      }
    }
  }
  if (report.checkpoints == 0) report.notes.push_back("no checkpoint yet: nothing is signed");
  if (options.packages && !no_crls)
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
  return {{"ok", r.ok},
          {"origin", r.origin},
          {"records", r.records},
          {"events", r.events},
          {"certificates", r.certificates},
          {"bytes", r.bytes},
          {"root", hex(r.root)},
          {"checkpoints", r.checkpoints},
          {"packages_verified", r.packages_verified},
          {"purged", r.purged},
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
  out += "packages:     " + std::to_string(r.packages_verified) + " re-verified, " +
         std::to_string(r.purged.size()) + " purged\n";
  for (const auto& p : r.purged) out += "  purged: " + p + "\n";
  for (const auto& p : r.problems) out += "PROBLEM: " + p + "\n";
  for (const auto& n : r.notes) out += "note: " + n + "\n";
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
      if (auto der = base64_decode(payload.value("der", "")))
        s.certs.add(payload.value("fingerprint", ""), std::move(*der));
    } else if (payload.value("document", "") == document ||
               payload.value("document_id", "") == document) {
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
                                   const std::string& document) {
  auto scan = full_scan(data_dir, document);
  if (!scan) return scan.error();
  if (!scan->found)
    return make_error(Errc::usage, "the signature log has no record of document " + document);
  const std::uint64_t index = *scan->found;
  std::vector<std::string> problems;
  std::optional<Checkpoint> covering;
  for (auto& note : load_notes(log_dir(data_dir), problems)) {
    if (!note.checkpoint || note.checkpoint->size <= index ||
        note.checkpoint->size > scan->leaves.size())
      continue;
    if (!covering || note.checkpoint->size < covering->size) covering = *note.checkpoint;
  }
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
    if (auto bytes = read_file(data_dir / package)) bundle["package"] = base64_encode(*bytes);
  }
  return bundle;
}

BundleCheck check_bundle(const nlohmann::json& b, const crypto::TrustStore& anchors) {
  BundleCheck out;
  auto fail = [&](std::string m) {
    out.problems.push_back(std::move(m));
    return out;
  };
  if (!b.is_object() || b.value("format", "") != "edocgw-audit-bundle/1")
    return fail("not an edocgw audit bundle (format edocgw-audit-bundle/1)");
  try {
    auto leaf = base64_decode(b.at("record").at("leaf").get<std::string>());
    const std::uint64_t index = b.at("record").at("index").get<std::uint64_t>();
    if (!leaf || leaf->size() < kLeafPrefix) return fail("the record is not base64 of a leaf");
    std::uint64_t seq = 0;
    for (int i = 0; i < 8; ++i) seq = seq << 8 | static_cast<unsigned char>((*leaf)[i]);
    if (seq != index)
      return fail("the record says it is number " + std::to_string(seq) + ", the bundle says " +
                  std::to_string(index));
    out.record = nlohmann::json::parse(leaf->substr(kLeafPrefix), nullptr, false);
    if (!out.record.is_object()) return fail("the record is not a JSON object");

    std::vector<X509Ptr> certs;
    std::vector<X509*> extra;
    for (const auto& c : b.at("certificates")) {
      auto der = base64_decode(c.get<std::string>());
      auto x = der ? crypto::certificate_from_der(*der)
                   : Result<X509Ptr>(make_error(Errc::malformed, ""));
      if (!x) return fail("a certificate in the bundle is not base64 DER");
      extra.push_back(x->get());
      certs.push_back(std::move(*x));
    }
    auto checkpoint = parse_checkpoint(b.at("checkpoint").get<std::string>());
    if (!checkpoint) return fail("the checkpoint is malformed: " + checkpoint.error().message);
    X509* signer = nullptr;
    for (auto& c : certs)
      if (key_id_of(c.get()) == checkpoint->key_id) signer = c.get();
    if (signer == nullptr)
      return fail("the bundle lacks the certificate that signed the checkpoint");
    if (auto st = verify_checkpoint(*checkpoint, signer); !st) return fail(st.error().message);
    auto at = parse_rfc3339(checkpoint->time);
    const auto chain = anchors.verify(signer, extra, at ? *at : now_seconds());
    if (!chain.ok())
      return fail("the checkpoint's signer does not chain to the trust anchors: " +
                  chain.problems[0].message);
    out.passed.push_back("checkpoint signed by '" + crypto::describe(signer).subject +
                         "', which chains to the trust anchors");
    if (checkpoint->origin != b.value("origin", ""))
      return fail("the checkpoint is of log '" + checkpoint->origin + "'");
    std::vector<Hash> proof;
    for (const auto& h : b.at("inclusion_proof")) {
      Hash x;
      if (!from_hex(h.get<std::string>(), x)) return fail("the inclusion proof is not hex hashes");
      proof.push_back(x);
    }
    if (!verify_inclusion(leaf_hash(*leaf), index, checkpoint->size, proof, checkpoint->root))
      return fail(
          "the record is not in the tree the checkpoint signs (the inclusion proof fails): "
          "the record or the proof was changed");
    out.passed.push_back("record " + std::to_string(index) + " is in the signed tree of size " +
                         std::to_string(checkpoint->size));
    if (b.at("package").is_null()) {
      out.passed.push_back("no package body (purged before the bundle was made)");
    } else {
      auto package = base64_decode(b.at("package").get<std::string>());
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
      const auto again =
          crypto::PackageVerifier(store, logged_options(out.record)).verify(*package);
      if (!outcomes_agree(out.record, again))
        return fail("the package was logged as " + out.record.value("outcome", "") +
                    " but verifies, under the logged policy, as " + state_text(again));
      out.passed.push_back("the package verifies as logged (" + out.record.value("outcome", "") +
                           ") as of " +
                           out.record.value("checked_at", out.record.value("time", "")));
    }
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("the bundle is missing a field: ") + e.what());
  }
  out.ok = true;
  return out;
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
