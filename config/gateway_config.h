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
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

// The policy for incoming packages (<accept> rules in <trust>). Strict by
// default: unsigned packages, SHA-1 and inclusive c14n refused, the signer
// bound by its certificate's UID only.
enum class UnsignedPolicy { refuse, accept };
enum class Sha1Policy { refuse, warn };
enum class C14nPolicy { exclusive, inclusive_warn };

// An organ map file: which agency a personal certificate (UID=CMND:...,
// MST:...) signs for. Lines "sha256:HEX ORGAN_ID" (the certificate's SHA-256
// fingerprint; colons allowed; a bare 64-hex fingerprint is read the same),
// or "subject:RFC2253-SUBJECT ORGAN_ID" (the subject exactly as `edocgw
// verify` prints it; ORGAN_ID is the last word of the line); '#' starts a
// comment line; blank lines are skipped.
struct OrganMap {
  std::filesystem::path file;
  std::map<std::string, std::string> by_fingerprint;  // lower-case hex -> organ id
  std::map<std::string, std::string> by_subject;      // RFC 2253 subject -> organ id
  std::vector<std::string> warnings;                  // "FILE:LINE: ..." (non-strict codes)
};
// Errors read "FILE:LINE: message".
Result<OrganMap> parse_organ_map(const std::string& text, const std::filesystem::path& file);
Result<OrganMap> load_organ_map(const std::filesystem::path& file);

// <accept from="PATTERN" adapter="NAME" unsigned=... sha1=... c14n=... organ-map=...
//         pdf-signatures=... pdf-official=... pdf-cannot-verify=.../>
// An attribute left out is inherited from the less specific matching rules,
// then from the strict default.
struct AcceptRule {
  std::string from = "*";  // a route pattern, or an exact (even lenient) agency code
  std::string adapter;     // "" = any adapter
  std::optional<UnsignedPolicy> unsigned_packages;
  std::optional<Sha1Policy> sha1;
  std::optional<C14nPolicy> c14n;
  std::shared_ptr<const OrganMap> organ_map;  // nullptr: not set by this rule
  // The PDF attachments' signatures (crypto::PdfPolicy): "none", "any" or
  // "organisation"; "required" or "optional"; "refuse" or "report".
  std::optional<std::string> pdf_signatures, pdf_official, pdf_cannot_verify;
  // revocation="require|prefer|off": overrides <trust revocation=...> for
  // these senders.
  std::optional<Revocation> revocation;
  int line = 0;

  // How specific the sender pattern is: -1 for "*" alone, else the number of
  // literal groups ("*.*.*.*" 0, "000.00.*.H45" 3, "000.00.12.H45" 4).
  int sender_specificity() const;
  // <accept from="..." adapter="..."> at line N, for reports.
  std::string text() const;
};

// The effective policy for one (sender, adapter): plain values.
struct ResolvedAcceptPolicy {
  UnsignedPolicy unsigned_packages = UnsignedPolicy::refuse;
  Sha1Policy sha1 = Sha1Policy::refuse;
  C14nPolicy c14n = C14nPolicy::exclusive;
  std::shared_ptr<const OrganMap> organ_map;  // nullptr: bind by the certificate's UID only
  std::string pdf_signatures = "none", pdf_official = "optional", pdf_cannot_verify = "refuse";
  Revocation revocation = Revocation::prefer;  // <trust revocation=...> unless a rule says
  // The most specific matching rule's text, "" when no rule matched.
  std::string rule;
  // Per setting ("unsigned", "sha1", "c14n", "organ-map", "pdf-signatures",
  // "pdf-official", "pdf-cannot-verify", "revocation"): "line N" of the
  // rule it came from, or "default" ("trust" for revocation from <trust>).
  std::map<std::string, std::string> sources;
};

struct TrustConfig {
  std::vector<std::filesystem::path> anchors;
  std::vector<std::filesystem::path> crls;
  Revocation revocation = Revocation::prefer;
  bool ocsp = false;     // ask OCSP about each signer certificate
  std::string ocsp_url;  // "" uses the certificate's authorityInfoAccess
  std::chrono::milliseconds ocsp_timeout{5000};
  // RFC 5280 path validation inputs (crypto::PathPolicy): policies="OID ..."
  // (the signer's path must be valid for one of them), policy-mapping=
  // "inhibit", any-policy="inhibit".
  std::vector<std::string> policies;
  bool inhibit_policy_mapping = false, inhibit_any_policy = false;
  // crl-fetch="on": CRLs fetched from the chain's distribution points,
  // cached in DATA_DIR/revocation and refreshed (crypto/revocation_cache.h);
  // OCSP answers are cached there whenever OCSP is on.
  bool crl_fetch = false;
  std::uint64_t crl_max_bytes = 16ull << 20;       // crl-max-size
  std::size_t fetches_in_flight = 4;               // fetches-in-flight, 1..64
  std::chrono::milliseconds fetch_timeout{10000};  // fetch-timeout (CRLs)
  std::chrono::seconds clock_skew{300};            // clock-skew, 0..1 h (OCSP times)
  std::vector<AcceptRule> accept;                  // in file order
  int line = 0;

  // The policy for a package from `sender` arriving by `adapter` ("" when
  // not known). Among the matching rules the most specific wins: higher
  // sender_specificity first, then a rule naming the adapter over one that
  // does not; each setting it leaves out comes from the next most specific
  // rule that sets it, else the strict default. The loader refuses two rules
  // that could match the same package with the same specificity.
  ResolvedAcceptPolicy policy_for(std::string_view sender, std::string_view adapter) const;
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
// The limits are the server's (gateway/http_server.h, HttpLimits).
struct ListenerConfig {
  Listen listen;
  std::uint64_t max_body_bytes = 64ull << 20;  // max-body
  // max-bodies-in-flight: all request bodies read or handled at once; at
  // least max_body_bytes (when not given: 256 MB, or max-body if larger).
  std::uint64_t max_bodies_in_flight = 256ull << 20;
  std::chrono::seconds header_timeout{10};  // header-timeout, 1..600 s
  std::size_t max_connections = 512;        // max-connections, 1..65536
  // max-connections-per-address, 1..max_connections (when not given: 128,
  // or max-connections if smaller).
  std::size_t max_connections_per_address = 128;
  std::optional<TlsConfig> tls;
  int line = 0;
};

struct ApiConfig : ListenerConfig {
  std::vector<ApiClient> clients;
};

// <client system-id="..." organ-id="A B" secret-file="..."/>: a system
// connected to the hub, sending and receiving for one or more organs.
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

// <store segment-size="256MB" retention="3650d"/>: the embedded store.
struct StoreConfig {
  // type="sqlite" (default: SQLite and segment files in data-dir) or
  // "postgresql" (rows and package bytes in a PostgreSQL database that
  // several gateways of one organisation may share).
  enum class Type { sqlite, postgresql };
  Type type = Type::sqlite;
  // postgresql: the libpq connection string (the password belongs in
  // ~/.pgpass or PGPASSFILE, never here), the connections kept at most, and
  // the name this node holds delivery leases under ("" : HOSTNAME:PID).
  std::string dsn;
  int pool_size = 8;
  std::string node_id;
  // How long a node holds the deliveries it took (both types): another node
  // sharing a PostgreSQL store takes one over when its lease runs out.
  std::chrono::seconds delivery_lease{300};
  // sqlite: package bodies are appended to segment files of about this
  // size; retention drops whole segments.
  std::uint64_t segment_bytes = std::uint64_t{256} << 20;
  // Bodies older than this are purged (whole segments, none that pending
  // work needs); zero: kept until `edocgw purge`.
  std::chrono::seconds retention{0};
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
  StoreConfig store;
  // <signature-log checkpoint-every="60s"/>: how often a checkpoint is signed
  // (when records were added since the last one).
  std::chrono::milliseconds checkpoint_every{60000};
  // <gateway expiry-warning="30d">: our identity, TLS certificates and trust
  // anchors expiring within this window are warned of (log, /metrics,
  // /healthz, config check).
  std::chrono::seconds expiry_warning{std::chrono::hours(24 * 30)};
  std::string sha256;  // of the file's bytes: which configuration was in force

  const AdapterConfig* adapter(const std::string& name) const;
  // "gateway.xml:LINE" for messages.
  std::string where(int line) const;
};

Result<GatewayConfig> load_config(const std::filesystem::path& path);
Result<GatewayConfig> parse_config(const std::string& bytes, const std::filesystem::path& path);

// Bounds on what gateway.xml may say, checked before any arithmetic so that
// no value wraps (17179869184GB once wrapped to 0 and passed).
inline constexpr std::chrono::milliseconds kMaxDuration{std::chrono::hours(24 * 366)};
inline constexpr std::uint64_t kMaxSize = std::uint64_t{1} << 40;  // 1 TiB
inline constexpr size_t kMaxConfigBytes = 16u << 20;               // gateway.xml, 16 MiB

// "2s", "500ms", "5m", "1h"; at most kMaxDuration.
Result<std::chrono::milliseconds> parse_duration(const std::string& text);
// "64MB", "512KB", "1GB", "1048576"; at most kMaxSize.
Result<std::uint64_t> parse_size(const std::string& text);

}  // namespace edocgw::config
