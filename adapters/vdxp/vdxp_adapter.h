// adapters/vdxp/vdxp_adapter.h: a client of the national exchange (VDXP),
// sending exactly what VNPT's client SDK sends (VDXP.md section 11
// "Client"), over libcurl: push with /sendEdoc (POST, the package + CRLF as
// application/octet-stream, signed from/servicetype/messagetype/hash-file),
// poll with /getReceivedEdocList (edoc, then status) and /getEdoc (one
// package at a time, base64 in `data`), acknowledge with /updateStatus
// done|fail. Every call is signed with the XroadVnpt HMAC (vdxp_auth.h), a
// fresh parameter set per call, the timestamp of the call.
//
// Settings: url (required), system-id (required), secret-file (required:
// the secret as text, surrounding whitespace trimmed), poll="5s",
// timeout="30s", connect-timeout="10s", ca-file, client-cert, client-key
// (TLS). Answers are read by `status`/`ErrorCode` whatever the HTTP status.
// Network faults, answers that are not JSON, 5xx/429 and refused
// credentials (401/403) are Errc::io (retry later: a fixed configuration
// resumes the queue); any other FAIL is final (Errc::invalid) and carries
// the exchange's ErrorDesc.
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
};

class VdxpAdapter final : public Adapter {
 public:
  // The Adapter interface hands a poll's packages over in one vector: a
  // poll fetches at most this many (the rest stay listed at the exchange
  // until acknowledged, and come with the next poll).
  static constexpr std::size_t kMaxPackagesPerPoll = 8;
  // No answer from the exchange may be larger (a package of the 64 MB
  // default body limit is ~86 MB in base64).
  static constexpr std::size_t kMaxAnswerBytes = 128u << 20;

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
  Result<Response> post(const std::string& path, const Parameters& parameters,
                        const std::string& content_type, const std::string& body);
  // Parses an answer and checks status/ErrorCode; see the header comment.
  Result<nlohmann::json> call(const std::string& path, const Parameters& parameters,
                              const std::string& body = {},
                              const std::string& content_type = "application/json");
  // Appends to `out` up to `room` packages of one messagetype.
  Status poll_type(const std::string& message_type, std::size_t room,
                   std::vector<IncomingPackage>& out);

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
