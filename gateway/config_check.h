// gateway/config_check.h: the checks of gateway.xml that need the other
// layers: the identity loads and may sign as this organisation, the trust
// anchors and CRLs load, every adapter's type is known and its settings
// valid. Run by `edocgw config check`, at start-up and on every reload.
// Errors read "FILE:LINE: message".
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "adapters/adapter.h"
#include "config/gateway_config.h"
#include "crypto/identity.h"
#include "crypto/package_signer.h"
#include "crypto/package_verifier.h"
#include "crypto/revocation_cache.h"
#include "crypto/trust_store.h"
#include "crypto/verification_report.h"
#include "util/asio_ssl.h"

namespace edocgw::gateway {

// A certificate whose expiry an administrator watches.
struct WatchedCertificate {
  std::string role;  // "identity", "identity chain", "api tls", "exchange tls", "anchor", "crl"
  std::string subject, sha256;
  TimePoint not_after;  // for "crl": its nextUpdate
  std::string where;    // "gateway.xml:LINE"
};

// Everything a running gateway builds from one configuration.
struct LoadedConfig {
  config::GatewayConfig config;
  std::shared_ptr<const crypto::PackageSigner> signer;  // our identity
  std::shared_ptr<const crypto::TrustStore> trust;      // with the CRLs unless revocation="off"
  // Fetched CRLs and cached OCSP answers in DATA_DIR/revocation: set by the
  // running gateway (kept across reloads while its settings are the same),
  // nullptr for `config check` and the CLI.
  std::shared_ptr<crypto::RevocationCache> revocation;
  std::map<std::string, std::string> exchange_secrets;  // hub: system id -> shared secret
  std::vector<std::shared_ptr<adapters::Adapter>> adapters;
  // TLS of the listeners, when configured (used at start; a reload keeps the listeners).
  std::shared_ptr<asio::ssl::context> api_tls, exchange_tls;
  std::vector<std::string> warnings;
  // Every certificate (and configured CRL) of the configuration with its
  // expiry date, soonest first: read once, at load.
  std::vector<WatchedCertificate> watched;

  std::shared_ptr<adapters::Adapter> adapter(const std::string& name) const;
};

// The <accept> rule resolved for one sender and adapter, as the verifier takes it.
crypto::AcceptPolicy accept_policy(const config::ResolvedAcceptPolicy& resolved);
crypto::RevocationPolicy revocation_policy(config::Revocation revocation);

// The trust store <trust> describes: anchors, CRL files (unless
// revocation="off") and the RFC 5280 path policy.
Result<crypto::TrustStore> trust_store_for(const config::TrustConfig& trust);
// The revocation cache's settings for this configuration (in DATA_DIR/revocation).
crypto::RevocationCacheSettings revocation_settings(const config::GatewayConfig& config);
// Verification options of <trust> for packages judged now: revocation
// policy, OCSP, CRL fetching through `cache` (may be nullptr).
crypto::VerifyOptions verify_options_for(const config::GatewayConfig& config,
                                         crypto::RevocationCache* cache);

// One warning per watched certificate (LoadedConfig::watched) expiring within
// `config.expiry_warning` of `now`.
std::vector<std::string> expiry_warnings(const LoadedConfig& loaded, TimePoint now);

Result<LoadedConfig> load_and_check(const std::filesystem::path& path,
                                    const adapters::AdapterRegistry& registry);

}  // namespace edocgw::gateway
