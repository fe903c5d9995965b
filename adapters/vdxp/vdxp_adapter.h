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
#include <map>
#include <mutex>

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
  // A poll hands over at most this many packages, one at a time as each
  // is fetched (the rest stay listed at the exchange until acknowledged,
  // and come with the next poll).
  static constexpr std::size_t kMaxPackagesPerPoll = 32;
  std::size_t poll_bite() const override { return kMaxPackagesPerPoll; }
  // Every answer from the exchange is capped while it is read (curl's write
  // callback refuses beyond the cap): a getEdoc answer at kMaxAnswerBytes
  // (a package of the 64 MB default body limit is ~86 MB in base64), any
  // other answer (lists, acknowledgements, errors) at kMaxSmallAnswerBytes.
  // Answers are read with a streaming parser keeping only the members the
  // client uses (no document tree of hostile JSON), and of a list's items at
  // most kMaxListItems.
  static constexpr std::size_t kMaxAnswerBytes = 128u << 20;
  static constexpr std::size_t kMaxSmallAnswerBytes = 8u << 20;
  static constexpr std::size_t kMaxListItems = 10000;

  // What the client reads of an answer: the top-level scalar members it
  // knows (status, ErrorCode, ErrorDesc, DocId, data as text) and, where
  // `data` is a list, each item's docId and from.
  struct Answer {
    std::map<std::string, std::string> fields;
    std::vector<std::map<std::string, std::string>> items;
    std::size_t items_seen = 0;  // beyond kMaxListItems they are counted only
    std::string get(const std::string& key) const {
      auto it = fields.find(key);
      return it == fields.end() ? std::string() : it->second;
    }
  };

  VdxpAdapter(std::string name, VdxpSettings settings);
  ~VdxpAdapter() override;

  const std::string& name() const override { return name_; }
  const std::string& type() const override;
  Result<DeliveryReceipt> deliver(const OutgoingPackage& package) override;
  bool polls() const override { return true; }
  std::chrono::milliseconds poll_interval() const override { return settings_.poll_interval; }
  using Adapter::poll;
  Result<std::size_t> poll(const IncomingHandler& on_each) override;
  Status acknowledge(const std::string& remote_id, bool accepted) override;
  Status health() override;

 private:
  struct Response {
    long http_status = 0;
    std::string body;
  };
  // POSTs to url + path with the signed headers; transport errors are Errc::io.
  Result<Response> post(const std::string& path, const Parameters& parameters,
                        const std::string& content_type, const std::string& body,
                        std::size_t max_answer_bytes);
  // Parses an answer and checks status/ErrorCode; see the header comment.
  Result<Answer> call(const std::string& path, const Parameters& parameters,
                      const std::string& body = {},
                      const std::string& content_type = "application/json",
                      std::size_t max_answer_bytes = kMaxSmallAnswerBytes);
  // Hands over up to `room` packages of one messagetype; counts them in `handed`.
  Status poll_type(const std::string& message_type, std::size_t room,
                   const IncomingHandler& on_each, std::size_t& handed);

  // A curl handle for one call: an idle one (its connection to the exchange
  // still open: HTTP keep-alive and the TLS session, so the call pays no
  // TCP or TLS handshake) or a new one. Given back after the call; at most
  // kMaxIdleHandles are kept.
  static constexpr std::size_t kMaxIdleHandles = 16;
  void* take_handle();
  void give_back(void* handle);

  std::string name_;
  VdxpSettings settings_;
  std::mutex handles_mutex_;
  std::vector<void*> idle_handles_;  // CURL*
  std::mutex health_mutex_;
  std::string last_transport_error_;  // "" when the last call reached the exchange
};

class VdxpAdapterFactory final : public AdapterFactory {
 public:
  std::string type() const override { return "vdxp"; }
  Result<std::unique_ptr<Adapter>> create(const config::AdapterConfig& config) const override;
};

}  // namespace edocgw::adapters::vdxp
