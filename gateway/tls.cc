#include "gateway/tls.h"

namespace edocgw::gateway {

Result<std::shared_ptr<asio::ssl::context>> make_server_tls(const config::TlsConfig& tls) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                   ec);
  if (!ec) ctx->use_certificate_chain_file(tls.cert.string(), ec);
  if (ec) {
    return make_error(Errc::invalid, "tls-cert " + tls.cert.string() +
                                         " is not a PEM certificate chain: " + ec.message());
  }
  ctx->use_private_key_file(tls.key.string(), asio::ssl::context::pem, ec);
  if (ec) {
    return make_error(Errc::invalid, "tls-key " + tls.key.string() +
                                         " cannot serve tls-cert (it must be the unencrypted PEM "
                                         "key of that certificate): " +
                                         ec.message());
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return make_error(Errc::invalid, "tls-key " + tls.key.string() +
                                         " does not belong to tls-cert " + tls.cert.string());
  }
  if (!tls.client_ca.empty()) {
    ctx->load_verify_file(tls.client_ca.string(), ec);
    if (ec) {
      return make_error(Errc::invalid, "tls-client-ca " + tls.client_ca.string() +
                                           " is not a PEM certificate file: " + ec.message());
    }
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

}  // namespace edocgw::gateway
