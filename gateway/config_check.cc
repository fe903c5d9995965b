#include "gateway/config_check.h"

#include <set>

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
  p.rule = r.rule;
  p.sources = r.sources;
  return p;
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
  const auto days_left =
      std::chrono::duration_cast<std::chrono::hours>(info.not_after - now_seconds()).count() / 24;
  if (days_left < 30) {
    loaded.warnings.push_back(c.where(idc.line) + ": the signing certificate expires in " +
                              std::to_string(days_left) + " days");
  }
  auto signer = crypto::PackageSigner::create(std::move(*identity));
  if (!signer) return at(idc.line, signer.error().message);
  loaded.signer = std::make_shared<const crypto::PackageSigner>(std::move(*signer));

  const bool use_crls = c.trust.revocation != config::Revocation::off;
  auto trust = crypto::TrustStore::load(
      c.trust.anchors, {}, use_crls ? c.trust.crls : std::vector<std::filesystem::path>{});
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
  return loaded;
}

}  // namespace edocgw::gateway
