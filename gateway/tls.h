// gateway/tls.h: the server side of TLS for the local and exchange APIs.
//
// TLS 1.2 or newer, the certificate chain and key from PEM files, and, when
// a client CA is configured, a client certificate required from it (mutual
// TLS for a hub's districts). A context is built once per configuration and
// shared by every connection of a listener (OpenSSL contexts are thread-safe
// once set up).
#pragma once

#include <memory>

#include "config/gateway_config.h"
#include "util/asio_ssl.h"
#include "util/result.h"

namespace edocgw::gateway {

Result<std::shared_ptr<asio::ssl::context>> make_server_tls(const config::TlsConfig& tls);

}  // namespace edocgw::gateway
