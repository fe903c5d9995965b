// adapters/vdxp/vdxp_adapter.h: the exchange API of DOMAIN.md (VDXP shape)
// as a client, over libcurl: push with /sendEdoc, poll with
// /getReceivedEdocList and /getEdoc, acknowledge with /updateStatus.
//
// Settings: url (required), system-id (required), secret-file (required),
// poll="5s", timeout="30s", connect-timeout="10s", ca-file, client-cert,
// client-key (TLS), header-prefix="" and signature-encoding="hex"|"base64"
// (see vdxp_auth.h). Network faults and 5xx answers are Errc::io (retry
// later); an answer with ErrorCode other than "0" is final (Errc::invalid)
// and carries the exchange's ErrorDesc.
//
// Thread-safe: every call uses its own curl easy handle.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

#include <nlohmann/json.hpp>

#include "adapters/adapter.h"
#include "adapters/vdxp/vdxp_auth.h"

namespace edocgw::adapters::vdxp {

struct VdxpSettings {
  std::string url;  // without a trailing slash
  std::string system_id;
  std::string secret;
  std::chrono::milliseconds poll_interval{5000};
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{10000};
  std::string ca_file, client_cert, client_key;
  AuthScheme auth;
};

class VdxpAdapter final : public Adapter {
 public:
  VdxpAdapter(std::string name, VdxpSettings settings);

  const std::string& name() const override { return name_; }
  const std::string& type() const override;
  Result<DeliveryReceipt> deliver(const OutgoingPackage& package) override;
  bool polls() const override { return true; }
  std::chrono::milliseconds poll_interval() const override { return settings_.poll_interval; }
  Result<std::vector<IncomingPackage>> poll() override;
  Status acknowledge(const std::string& remote_id, bool accepted) override;
  Status health() override;

 private:
  struct Response {
    long http_status = 0;
    std::string body;
  };
  // POSTs to url + path with the signed headers; transport errors are Errc::io.
  Result<Response> post(const std::string& path,
                        const std::map<std::string, std::string>& parameters,
                        const std::string& body);
  // Parses an answer and checks ErrorCode; 5xx and non-JSON are Errc::io.
  Result<nlohmann::json> call(const std::string& path,
                              const std::map<std::string, std::string>& parameters,
                              const std::string& body = {});
  Result<std::vector<IncomingPackage>> poll_type(const std::string& message_type);

  std::string name_;
  VdxpSettings settings_;
  std::mutex health_mutex_;
  std::string last_transport_error_;  // "" when the last call reached the exchange
};

class VdxpAdapterFactory final : public AdapterFactory {
 public:
  std::string type() const override { return "vdxp"; }
  Result<std::unique_ptr<Adapter>> create(const config::AdapterConfig& config) const override;
};

}  // namespace edocgw::adapters::vdxp
