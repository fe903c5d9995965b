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
#include "crypto/trust_store.h"
#include "crypto/verification_report.h"
#include "util/asio_ssl.h"

namespace edocgw::gateway {

// Everything a running gateway builds from one configuration.
struct LoadedConfig {
  config::GatewayConfig config;
  std::shared_ptr<const crypto::PackageSigner> signer;  // our identity
  std::shared_ptr<const crypto::TrustStore> trust;      // with the CRLs unless revocation="off"
  std::map<std::string, std::string> exchange_secrets;  // hub: system id -> shared secret
  std::vector<std::shared_ptr<adapters::Adapter>> adapters;
  // TLS of the listeners, when configured (used at start; a reload keeps the listeners).
  std::shared_ptr<asio::ssl::context> api_tls, exchange_tls;
  std::vector<std::string> warnings;

  std::shared_ptr<adapters::Adapter> adapter(const std::string& name) const;
};

// The <accept> rule resolved for one sender and adapter, as the verifier takes it.
crypto::AcceptPolicy accept_policy(const config::ResolvedAcceptPolicy& resolved);

Result<LoadedConfig> load_and_check(const std::filesystem::path& path,
                                    const adapters::AdapterRegistry& registry);

}  // namespace edocgw::gateway
