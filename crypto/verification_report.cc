#include "crypto/verification_report.h"

#include "util/bytes.h"
#include "util/utf8.h"

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

const char* state_name(VerificationState state) {
  switch (state) {
    case VerificationState::valid:
      return "valid";
    case VerificationState::unsigned_accepted:
      return "unsigned";
    case VerificationState::invalid:
      return "invalid";
  }
  return "invalid";
}

const char* revocation_policy_name(RevocationPolicy policy) {
  switch (policy) {
    case RevocationPolicy::require:
      return "require";
    case RevocationPolicy::prefer:
      return "prefer";
    case RevocationPolicy::off:
      return "off";
  }
  return "prefer";
}

std::optional<RevocationPolicy> revocation_policy_from_name(std::string_view name) {
  for (auto p : {RevocationPolicy::require, RevocationPolicy::prefer, RevocationPolicy::off}) {
    if (name == revocation_policy_name(p)) return p;
  }
  return std::nullopt;
}

nlohmann::json to_json(const AcceptPolicy& p) {
  nlohmann::json j;
  j["rule"] = p.rule.empty() ? "built-in strict default" : p.rule;
  j["unsigned"] = p.accept_unsigned ? "accept" : "refuse";
  j["sha1"] = p.sha1_warn ? "warn" : "refuse";
  j["c14n"] = p.inclusive_c14n_warn ? "inclusive-warn" : "exclusive";
  j["binding"] = p.organ_map.empty() && p.organ_by_fingerprint.empty() && p.organ_by_subject.empty()
                     ? "uid"
                     : "organ-map, then uid";
  if (p.organ_map.empty() && p.organ_by_fingerprint.empty() && p.organ_by_subject.empty()) {
    j["organ_map"] = nullptr;
  } else {
    j["organ_map"] = {{"file", p.organ_map},
                      {"by_fingerprint", p.organ_by_fingerprint},
                      {"by_subject", p.organ_by_subject}};
  }
  j["sources"] = p.sources;
  j["pdf"] = {{"signatures", require_name(p.pdf.require)},
              {"official", p.pdf.official_required ? "required" : "optional"},
              {"cannot_verify", p.pdf.refuse_cannot_verify ? "refuse" : "report"}};
  if (p.revocation) j["revocation"] = revocation_policy_name(*p.revocation);
  return j;
}

AcceptPolicy accept_policy_from_json(const nlohmann::json& j) {
  AcceptPolicy p;
  if (!j.is_object()) return p;
  auto text = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  p.rule = text("rule");
  p.accept_unsigned = text("unsigned") == "accept";
  p.sha1_warn = text("sha1") == "warn";
  p.inclusive_c14n_warn = text("c14n") == "inclusive-warn";
  if (auto m = j.find("organ_map"); m != j.end() && m->is_object()) {
    if (auto f = m->find("file"); f != m->end() && f->is_string())
      p.organ_map = f->get<std::string>();
    for (auto [key, target] : {std::pair{"by_fingerprint", &p.organ_by_fingerprint},
                               std::pair{"by_subject", &p.organ_by_subject}}) {
      auto e = m->find(key);
      if (e == m->end() || !e->is_object()) continue;
      for (const auto& [k, v] : e->items()) {
        if (v.is_string()) (*target)[k] = v.get<std::string>();
      }
    }
  }
  if (auto d = j.find("pdf"); d != j.end() && d->is_object()) {
    const std::string require = d->value("signatures", "none");
    p.pdf.require = require == "organisation" ? PdfPolicy::Require::organisation
                    : require == "any"        ? PdfPolicy::Require::any
                                              : PdfPolicy::Require::none;
    p.pdf.official_required = d->value("official", "optional") == "required";
    p.pdf.refuse_cannot_verify = d->value("cannot_verify", "refuse") != "report";
  }
  if (auto r = j.find("revocation"); r != j.end() && r->is_string())
    p.revocation = revocation_policy_from_name(r->get<std::string>());
  if (auto s = j.find("sources"); s != j.end() && s->is_object()) {
    for (const auto& [k, v] : s->items()) {
      if (v.is_string()) p.sources[k] = v.get<std::string>();
    }
  }
  return p;
}

void VerificationReport::add(std::string name, CheckOutcome outcome, std::string detail) {
  // Details quote input (libxml2 copies raw bytes into its messages).
  checks.push_back({std::move(name), outcome, valid_utf8(detail)});
}

void VerificationReport::finish() {
  bool ok = !checks.empty();
  reason.clear();
  for (const auto& c : checks) {
    if (c.outcome == CheckOutcome::fail) {
      ok = false;
      if (reason.empty()) reason = c.detail;
    }
  }
  if (checks.empty()) reason = "nothing was checked";
  if (!ok) {
    state = VerificationState::invalid;
  } else if (unsigned_accepted) {
    state = VerificationState::unsigned_accepted;
    reason =
        "the package carries no XMLDSig signature; accepted as unsigned by policy: nothing about "
        "its origin or integrity is proven";
  } else {
    state = VerificationState::valid;
  }
  valid = state == VerificationState::valid;
}

namespace {

// What the checks proved, and what they did not (skipped or failed checks,
// unsigned content), in plain sentences for the report's reader.
void proven_and_not(const VerificationReport& r, nlohmann::json& j) {
  nlohmann::json proven = nlohmann::json::array(), not_proven = nlohmann::json::array();
  for (const auto& c : r.checks) {
    const std::string line = c.name + ": " + c.detail;
    if (c.outcome == CheckOutcome::pass) {
      proven.push_back(line);
    } else {
      not_proven.push_back(line);
    }
  }
  if (r.state == VerificationState::unsigned_accepted) {
    not_proven.push_back(
        "origin and integrity: no XMLDSig signature covers the package; the sender named in "
        "From (" +
        r.sender_organ_id + ") is only claimed");
  }
  if (!r.transit.empty()) {
    std::string who;
    for (const auto& t : r.transit) who += (who.empty() ? "" : ", ") + t.organ_id;
    not_proven.push_back("transit: " + std::to_string(r.transit.size()) +
                         " TraceHeader(s) appended after the sender signed (" + who +
                         ") are not covered by the signature");
  }
  j["proven"] = std::move(proven);
  j["not_proven"] = std::move(not_proven);
}

}  // namespace

namespace {

nlohmann::json report_json(const VerificationReport& r);

}  // namespace

void make_strings_valid(nlohmann::json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    s = valid_utf8(s);
  } else if (j.is_structured()) {
    for (auto& v : j) make_strings_valid(v);
  }
}

nlohmann::json to_json(const RevocationEvidence& ev) {
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
    if (ev.delta) e["delta"] = true;
    if (!ev.crl_origin.empty()) e["crl_origin"] = ev.crl_origin;
  }
  return e;
}

nlohmann::json to_json(const Check& c) {
  return {{"name", c.name}, {"outcome", outcome_name(c.outcome)}, {"detail", c.detail}};
}

nlohmann::json to_json(const VerificationReport& r) {
  nlohmann::json j = report_json(r);
  make_strings_valid(j);
  return j;
}

namespace {

nlohmann::json report_json(const VerificationReport& r) {
  nlohmann::json j;
  j["state"] = state_name(r.state);
  j["valid"] = r.valid;
  j["reason"] = r.valid ? nlohmann::json() : nlohmann::json(r.reason);
  j["policy"] = to_json(r.policy);
  j["binding"] = r.binding.empty() ? nlohmann::json() : nlohmann::json(r.binding);
  j["transit"] = nlohmann::json::array();
  for (const auto& t : r.transit)
    j["transit"].push_back({{"organ_id", t.organ_id}, {"timestamp", t.timestamp}});
  j["signer"] = r.signer ? to_json(*r.signer) : nlohmann::json();
  j["chain"] = nlohmann::json::array();
  for (const auto& c : r.chain) j["chain"].push_back(to_json(c));
  j["signed_at"] = r.signed_at.empty() ? nlohmann::json() : nlohmann::json(r.signed_at);
  j["algorithm"] = r.algorithm.empty() ? nlohmann::json() : nlohmann::json(r.algorithm);
  j["checked_at"] = r.checked_at;
  j["document_id"] = r.document_id;
  j["sender_organ_id"] = r.sender_organ_id;
  j["package_sha256"] = r.package_sha256;
  j["certificate_policy"] =
      r.certificate_policy.empty() ? nlohmann::json() : nlohmann::json(r.certificate_policy);
  j["revocation"] = nlohmann::json::array();
  for (const auto& ev : r.revocation) j["revocation"].push_back(to_json(ev));
  j["revocation_unknown"] = r.revocation_unknown;
  j["warnings"] = r.warnings;
  j["checks"] = nlohmann::json::array();
  for (const auto& c : r.checks) j["checks"].push_back(to_json(c));
  j["pdf"] = nlohmann::json::array();
  for (const auto& p : r.pdf) j["pdf"].push_back(to_json(p));
  proven_and_not(r, j);
  return j;
}

}  // namespace

std::string to_text(const VerificationReport& r) {
  std::ostringstream out;
  if (r.state == VerificationState::valid) {
    out << "VALID\n";
  } else if (r.state == VerificationState::unsigned_accepted) {
    out << "UNSIGNED (accepted by policy): " << r.reason << "\n";
  } else {
    out << "INVALID: " << r.reason << "\n";
  }
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
  out << "policy:      " << (r.policy.rule.empty() ? "built-in strict default" : r.policy.rule)
      << " (unsigned " << (r.policy.accept_unsigned ? "accept" : "refuse") << ", sha1 "
      << (r.policy.sha1_warn ? "warn" : "refuse") << ", c14n "
      << (r.policy.inclusive_c14n_warn ? "inclusive-warn" : "exclusive") << ")\n";
  if (!r.binding.empty()) out << "bound by:    " << r.binding << "\n";
  if (!r.certificate_policy.empty()) out << "cert policy: " << r.certificate_policy << "\n";
  for (const auto& t : r.transit)
    out << "transit:     TraceHeader " << t.organ_id << " " << t.timestamp
        << " (appended after signing, not signed)\n";
  for (const auto& c : r.checks) {
    out << "  [" << outcome_name(c.outcome) << "] " << c.name;
    if (!c.detail.empty()) out << ": " << c.detail;
    out << "\n";
  }
  for (const auto& w : r.warnings) out << "warning: " << w << "\n";
  for (const auto& p : r.pdf) out << to_text(p);
  return out.str();
}

}  // namespace edocgw::crypto
