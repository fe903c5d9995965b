// config/gateway_config.h: gateway.xml (shared/INTERFACE.md) read with
// pugixml into typed, validated values.
//
// Every error names the file and line ("gateway.xml:12: ...") and says what
// to do. Unknown elements and attributes are errors, so that a typo never
// silently drops a setting. Relative paths are made absolute against the
// config file's folder. This layer checks shape and values; whether keys,
// certificates and adapter types are usable is checked by gateway/ (which
// knows crypto/ and adapters/), reporting with the lines kept here.
//
// A GatewayConfig is an immutable value once loaded; share it freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/route_table.h"
#include "util/result.h"

namespace edocgw::config {

struct Listen {
  std::string host;
  std::uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
};

struct IdentityConfig {
  std::filesystem::path cert, key, chain;
  std::string pass;  // "env:VAR" or "file:PATH" (PATH made absolute), or ""
  int line = 0;
};

enum class Revocation { require, prefer, off };

struct TrustConfig {
  std::vector<std::filesystem::path> anchors;
  std::vector<std::filesystem::path> crls;
  Revocation revocation = Revocation::prefer;
  bool ocsp = false;     // ask OCSP about each signer certificate
  std::string ocsp_url;  // "" uses the certificate's authorityInfoAccess
  std::chrono::milliseconds ocsp_timeout{5000};
  bool allow_sha1 = false;
  int line = 0;
};

struct ApiClient {
  std::string name;
  std::string token_sha256;  // lower-case hex
  int line = 0;
};

struct TlsConfig {
  std::filesystem::path cert;       // PEM: the server certificate, then its chain
  std::filesystem::path key;        // PEM, unencrypted (protect it with file permissions)
  std::filesystem::path client_ca;  // optional: clients must present a certificate from it
};

// What <api> and <exchange> share: where to listen and how much to take.
struct ListenerConfig {
  Listen listen;
  std::uint64_t max_body_bytes = 64ull << 20;
  std::optional<TlsConfig> tls;
  int line = 0;
};

struct ApiConfig : ListenerConfig {
  std::vector<ApiClient> clients;
};

struct ExchangeClient {
  std::string system_id;
  std::string organ_id;                // the first of organ_ids
  std::vector<std::string> organ_ids;  // organ-id, space-separated
  std::filesystem::path secret_file;
  int line = 0;
};

// <agency code="..." name="..." mail="..." pid="..."/>: an entry of the
// hub's agency directory (getAgenciesList and friends).
struct ExchangeAgency {
  std::string code, name, mail, pid;
  int line = 0;
};

struct ExchangeConfig : ListenerConfig {
  std::vector<ExchangeClient> clients;
  std::vector<ExchangeAgency> agencies;
  bool register_agencies = false;  // register-agencies="allow": /registerAgency, /deleteAgency

  // The client serving `organ_id`, nullptr when none.
  const ExchangeClient* client_for_organ(const std::string& organ_id) const;
};

// One <adapter>: its name and type, and every other attribute as a setting
// for the adapter's factory to read (paths stay as written; see base_dir).
struct AdapterConfig {
  std::string name;
  std::string type;
  std::map<std::string, std::string> settings;
  std::filesystem::path base_dir;  // the config file's folder
  int line = 0;
};

struct GatewayConfig {
  std::filesystem::path source;  // the file it was read from
  std::string organ_id;
  std::string name;
  std::filesystem::path data_dir;
  IdentityConfig identity;
  TrustConfig trust;
  std::optional<ApiConfig> api;
  std::optional<ExchangeConfig> exchange;
  std::vector<AdapterConfig> adapters;
  RouteTable routes;
  // <signature-log checkpoint-every="60s"/>: how often a checkpoint is signed
  // (when records were added since the last one).
  std::chrono::milliseconds checkpoint_every{60000};
  std::string sha256;  // of the file's bytes: which configuration was in force

  const AdapterConfig* adapter(const std::string& name) const;
  // "gateway.xml:LINE" for messages.
  std::string where(int line) const;
};

Result<GatewayConfig> load_config(const std::filesystem::path& path);
Result<GatewayConfig> parse_config(const std::string& bytes, const std::filesystem::path& path);

// "2s", "500ms", "5m", "1h".
Result<std::chrono::milliseconds> parse_duration(const std::string& text);
// "64MB", "512KB", "1GB", "1048576".
Result<std::uint64_t> parse_size(const std::string& text);

}  // namespace edocgw::config
