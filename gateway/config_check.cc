#include "gateway/config_check.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>

#include <openssl/x509.h>

#include "crypto/certificate.h"
#include "edxml/agency_code.h"
#include "gateway/tls.h"

namespace edocgw::gateway {

std::shared_ptr<adapters::Adapter> LoadedConfig::adapter(const std::string& name) const {
  for (const auto& a : adapters) {
    if (a->name() == name) return a;
  }
  return nullptr;
}

crypto::AcceptPolicy accept_policy(const config::ResolvedAcceptPolicy& r) {
  crypto::AcceptPolicy p;
  p.accept_unsigned = r.unsigned_packages == config::UnsignedPolicy::accept;
  p.sha1_warn = r.sha1 == config::Sha1Policy::warn;
  p.inclusive_c14n_warn = r.c14n == config::C14nPolicy::inclusive_warn;
  if (r.organ_map) {
    p.organ_by_fingerprint = r.organ_map->by_fingerprint;
    p.organ_by_subject = r.organ_map->by_subject;
    p.organ_map = r.organ_map->file.string();
  }
  p.pdf.require = r.pdf_signatures == "organisation" ? crypto::PdfPolicy::Require::organisation
                  : r.pdf_signatures == "any"        ? crypto::PdfPolicy::Require::any
                                                     : crypto::PdfPolicy::Require::none;
  p.pdf.official_required = r.pdf_official == "required";
  p.pdf.refuse_cannot_verify = r.pdf_cannot_verify != "report";
  p.revocation = revocation_policy(r.revocation);
  p.rule = r.rule;
  p.sources = r.sources;
  return p;
}

crypto::RevocationPolicy revocation_policy(config::Revocation revocation) {
  switch (revocation) {
    case config::Revocation::require:
      return crypto::RevocationPolicy::require;
    case config::Revocation::off:
      return crypto::RevocationPolicy::off;
    case config::Revocation::prefer:
      break;
  }
  return crypto::RevocationPolicy::prefer;
}

Result<crypto::TrustStore> trust_store_for(const config::TrustConfig& t) {
  crypto::PathPolicy policy;
  policy.policies = t.policies;
  policy.inhibit_policy_mapping = t.inhibit_policy_mapping;
  policy.inhibit_any_policy = t.inhibit_any_policy;
  const bool use_crls = t.revocation != config::Revocation::off;
  return crypto::TrustStore::load(
      t.anchors, {}, use_crls ? t.crls : std::vector<std::filesystem::path>{}, std::move(policy));
}

crypto::RevocationCacheSettings revocation_settings(const config::GatewayConfig& c) {
  crypto::RevocationCacheSettings s;
  s.dir = c.data_dir / "revocation";
  s.fetch_crls = c.trust.crl_fetch;
  s.max_crl_bytes = c.trust.crl_max_bytes;
  s.max_fetches_in_flight = c.trust.fetches_in_flight;
  s.fetch_timeout = c.trust.fetch_timeout;
  s.clock_skew = c.trust.clock_skew;
  s.ocsp.url = c.trust.ocsp_url;
  s.ocsp.timeout = c.trust.ocsp_timeout;
  return s;
}

crypto::VerifyOptions verify_options_for(const config::GatewayConfig& c,
                                         crypto::RevocationCache* cache) {
  crypto::VerifyOptions options;
  options.revocation = revocation_policy(c.trust.revocation);
  if (c.trust.ocsp) {
    options.ocsp.emplace();
    options.ocsp->url = c.trust.ocsp_url;
    options.ocsp->timeout = c.trust.ocsp_timeout;
  }
  options.revocation_cache = cache;
  options.fetch_crls = c.trust.crl_fetch && cache != nullptr;
  return options;
}

namespace {

std::string days_text(TimePoint not_after, TimePoint now) {
  const auto hours = std::chrono::duration_cast<std::chrono::hours>(not_after - now).count();
  if (hours < 0) return "expired " + std::to_string(-hours / 24) + " day(s) ago";
  return "expires in " + std::to_string(hours / 24) + " day(s)";
}

// LoadedConfig::watched, once the identity, listeners and trust are loaded.
std::vector<WatchedCertificate> watched_certificates(const LoadedConfig& loaded) {
  const config::GatewayConfig& c = loaded.config;
  std::vector<WatchedCertificate> out;
  auto add = [&](const std::string& role, X509* cert, int line) {
    const auto info = crypto::describe(cert);
    out.push_back({role, info.subject, info.sha256_fingerprint, info.not_after, c.where(line)});
  };
  if (loaded.signer) {
    add("identity", loaded.signer->certificate(), c.identity.line);
    // The chain as the signer holds it: certificates after the leaf in the
    // certificate file count as much as a chain= file.
    for (const auto& cert : loaded.signer->chain())
      add("identity chain", cert.get(), c.identity.line);
  }
  for (auto [role, listener] :
       {std::pair{"api tls", static_cast<const config::ListenerConfig*>(c.api ? &*c.api : nullptr)},
        std::pair{"exchange tls", static_cast<const config::ListenerConfig*>(
                                      c.exchange ? &*c.exchange : nullptr)}}) {
    if (listener == nullptr || !listener->tls) continue;
    if (auto certs = crypto::load_certificates(listener->tls->cert)) {
      for (const auto& cert : *certs) add(role, cert.get(), listener->line);
    }
  }
  if (loaded.trust) {
    for (const auto& anchor : loaded.trust->anchors()) add("anchor", anchor.get(), c.trust.line);
    for (const auto& crl : loaded.trust->crls()) {
      const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
      if (next == nullptr) continue;
      struct tm tm {};
      ASN1_TIME_to_tm(next, &tm);
      out.push_back({"crl", crypto::name_text(X509_CRL_get_issuer(crl.get())), "",
                     TimePoint(std::chrono::seconds(timegm(&tm))), c.where(c.trust.line)});
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.not_after < b.not_after; });
  return out;
}

// A data-dir this process could neither write nor create: serve would
// fail at its first write. config check runs as the unit's ExecStartPre,
// as the daemon's user inside its sandbox, so the warning says it there
// (a data-dir="var" beside /etc/edocgw/gateway.xml is read-only under
// ProtectSystem=strict). Only a warning: an administrator may check a
// file as another user than the one that will run it.
std::optional<std::string> data_dir_warning(const std::filesystem::path& data_dir) {
  std::filesystem::path existing = data_dir;
  std::error_code ec;
  while (!existing.empty() && !std::filesystem::exists(existing, ec) &&
         existing != existing.parent_path())
    existing = existing.parent_path();
  if (existing.empty() || ::access(existing.c_str(), W_OK) == 0) return std::nullopt;
  const int why = errno;
  return "data-dir " + data_dir.string() + " cannot be " +
         (existing == data_dir ? std::string("written") : "created under " + existing.string()) +
         " by this user (uid " + std::to_string(::geteuid()) + "): " + std::strerror(why) +
         "; serve will fail there";
}

}  // namespace

std::vector<std::string> expiry_warnings(const LoadedConfig& loaded, TimePoint now) {
  std::vector<std::string> out;
  for (const auto& w : loaded.watched) {
    if (w.not_after - now > loaded.config.expiry_warning) continue;
    if (w.role == "crl") {
      out.push_back(w.where + ": the configured CRL of '" + w.subject + "' " +
                    (w.not_after < now ? "is out of date since " : "must be replaced before ") +
                    format_rfc3339(w.not_after));
      continue;
    }
    out.push_back(w.where + ": the " + w.role + " certificate '" + w.subject + "' " +
                  days_text(w.not_after, now) + " (" + format_rfc3339(w.not_after) + ")");
  }
  return out;
}

Result<LoadedConfig> load_and_check(const std::filesystem::path& path,
                                    const adapters::AdapterRegistry& registry) {
  auto parsed = config::load_config(path);
  if (!parsed) return parsed.error();
  LoadedConfig loaded;
  loaded.config = std::move(*parsed);
  const config::GatewayConfig& c = loaded.config;
  auto at = [&](int line, const std::string& message) {
    return make_error(Errc::invalid, c.where(line) + ": " + message);
  };

  const auto& idc = c.identity;
  auto identity = crypto::load_identity({idc.cert, idc.key, idc.chain, idc.pass});
  if (!identity) return at(idc.line, identity.error().message);
  const crypto::CertificateInfo info = crypto::describe(identity->cert.get());
  if (!crypto::has_signing_key_usage(identity->cert.get())) {
    return at(idc.line,
              "the certificate '" + info.subject + "' does not allow signing (key usage)");
  }
  if (auto problem = crypto::validity_problem(identity->cert.get(), now_seconds())) {
    return at(idc.line, "the certificate '" + info.subject + "' is " + *problem + " (valid " +
                            format_rfc3339(info.not_before) + " to " +
                            format_rfc3339(info.not_after) + ")");
  }
  if (!info.organ_id.empty() && info.organ_id != c.organ_id) {
    return at(idc.line,
              "the certificate belongs to " + info.organ_id + " but organ-id is " + c.organ_id);
  }
  auto signer = crypto::PackageSigner::create(std::move(*identity));
  if (!signer) return at(idc.line, signer.error().message);
  loaded.signer = std::make_shared<const crypto::PackageSigner>(std::move(*signer));

  auto trust = trust_store_for(c.trust);
  if (!trust) return at(c.trust.line, trust.error().message);
  loaded.trust = std::make_shared<const crypto::TrustStore>(std::move(*trust));

  // The policy for incoming packages: organ maps were read by the loader
  // (errors name their line); what is legal but worth a look is a warning.
  std::set<const config::OrganMap*> maps_seen;
  for (const auto& rule : c.trust.accept) {
    if (rule.organ_map && maps_seen.insert(rule.organ_map.get()).second) {
      for (const auto& w : rule.organ_map->warnings) loaded.warnings.push_back(w);
      if (rule.organ_map->by_fingerprint.empty() && rule.organ_map->by_subject.empty()) {
        loaded.warnings.push_back(c.where(rule.line) + ": the organ map " +
                                  rule.organ_map->file.string() + " has no entries");
      }
    }
    if (rule.from.find('*') == std::string::npos && !edxml::is_strict_agency_code(rule.from)) {
      loaded.warnings.push_back(c.where(rule.line) + ": from=\"" + rule.from +
                                "\" is not a strict agency code: it matches exactly that code "
                                "and nothing else");
    }
    if (rule.unsigned_packages == config::UnsignedPolicy::accept && rule.from == "*" &&
        rule.adapter.empty()) {
      loaded.warnings.push_back(c.where(rule.line) +
                                ": unsigned packages are accepted from every sender by every "
                                "adapter (their state is \"unsigned\", never \"valid\")");
    }
  }

  if (c.exchange) {
    for (const auto& client : c.exchange->clients) {
      auto secret = crypto::resolve_secret("file:" + client.secret_file.string());
      if (!secret) return at(client.line, secret.error().message);
      if (secret->empty())
        return at(client.line, "the secret file " + client.secret_file.string() + " is empty");
      loaded.exchange_secrets[client.system_id] = *secret;
    }
  }
  for (auto [listener, target] :
       {std::pair{static_cast<const config::ListenerConfig*>(c.api ? &*c.api : nullptr),
                  &loaded.api_tls},
        std::pair{static_cast<const config::ListenerConfig*>(c.exchange ? &*c.exchange : nullptr),
                  &loaded.exchange_tls}}) {
    if (listener == nullptr || !listener->tls) continue;
    auto ctx = make_server_tls(*listener->tls);
    if (!ctx) return at(listener->line, ctx.error().message);
    *target = std::move(*ctx);
  }
  for (const auto& ac : c.adapters) {
    auto adapter = registry.create(c, ac);
    if (!adapter) return adapter.error();
    loaded.adapters.push_back(std::shared_ptr<adapters::Adapter>(std::move(*adapter)));
  }
  loaded.watched = watched_certificates(loaded);
  for (auto& w : expiry_warnings(loaded, now_seconds())) loaded.warnings.push_back(std::move(w));
  if (auto w = data_dir_warning(c.data_dir)) loaded.warnings.push_back(std::move(*w));
  return loaded;
}

}  // namespace edocgw::gateway
