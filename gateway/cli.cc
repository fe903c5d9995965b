#include "gateway/cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "adapters/adapter.h"
#include "audit/auditor.h"
#include "audit/signature_log.h"
#include "config/gateway_config.h"
#include "crypto/certificate.h"
#include "crypto/identity.h"
#include "crypto/package_signer.h"
#include "crypto/package_verifier.h"
#include "crypto/pdf_verifier.h"
#include "crypto/trust_store.h"
#include "edxml/agency_code.h"
#include "edxml/package.h"
#include "edxml/package_builder.h"
#include "edxml/xml.h"
#include "gateway/cli_args.h"
#include "gateway/cli_commands.h"
#include "gateway/config_check.h"
#include "gateway/config_init.h"
#include "gateway/gateway.h"
#include "gateway/version.h"
#include "store/pg_store.h"
#include "store/segment_archive.h"
#include "store/sqlite_store.h"
#include "util/bytes.h"
#include "util/time.h"

namespace edocgw::cli {
namespace {

// The command being run, for usage errors: its synopsis and a pointer to
// its --help. The CLI runs one command per process, on one thread.
const CommandDoc* g_current = nullptr;

int fail_with(const Error& e) {
  std::cerr << "edocgw: " << e.message << "\n";
  switch (e.code) {
    case Errc::invalid:
    case Errc::malformed:
    case Errc::unsupported:
      return kExitInvalid;
    default:
      return kExitUsage;
  }
}

// JSON built from input, indented. The replace handler is a second line of
// defence: reports are made valid UTF-8 when built, but a dump must never
// throw on a byte that slipped through.
std::string dump_json(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

int usage_error(const std::string& message) {
  std::cerr << "edocgw: " << message << "\n";
  if (g_current != nullptr)
    std::cerr << render_synopsis(*g_current) << "Run 'edocgw " << g_current->name
              << " --help' for its options.\n";
  else
    std::cerr << "Run 'edocgw --help' for the commands.\n";
  return kExitUsage;
}

Result<TimePoint> time_option(const Args& args) {
  if (auto at = args.get("--at")) return parse_rfc3339(*at);
  return now_seconds();
}

Result<crypto::TrustStore> trust_from(const Args& args) {
  auto anchors = args.all("--trust");
  if (anchors.empty()) return make_error(Errc::usage, "--trust ANCHORS.pem is required");
  std::vector<std::filesystem::path> a(anchors.begin(), anchors.end());
  auto u = args.all("--untrusted");
  auto c = args.all("--crl");
  crypto::PathPolicy policy;
  for (const auto& oid : args.all("--policy")) policy.policies.push_back(oid);
  return crypto::TrustStore::load(a, {u.begin(), u.end()}, {c.begin(), c.end()}, std::move(policy));
}

Status write_output(const Args& args, std::string_view bytes) {
  return write_file_atomic(args.get_or("--out", "-"), bytes);
}

// --- sign -------------------------------------------------------------------

int cmd_sign(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("sign"));
  if (!args) return usage_error(args.error().message);
  crypto::IdentitySource source;
  if (auto config_path = args->get("--config")) {
    if (args->get("--key") || args->get("--cert")) {
      return usage_error("sign takes either --config or --cert/--key, not both");
    }
    auto config = config::load_config(*config_path);
    if (!config) return fail_with(config.error());
    const auto& id = config->identity;
    source = {id.cert, id.key, id.chain, id.pass};
  } else {
    if (!args->get("--key")) {
      return usage_error("sign needs --key (and --cert unless the key is PKCS#12), or --config");
    }
    source = {args->get_or("--cert", ""), *args->get("--key"), args->get_or("--chain", ""),
              args->get_or("--pass", "")};
  }
  auto identity = crypto::load_identity(source);
  if (!identity) return fail_with(identity.error());
  auto signer = crypto::PackageSigner::create(std::move(*identity));
  if (!signer) return fail_with(signer.error());
  auto signed_bytes = signer->sign_file(args->get_or("--in", "-"), now_seconds());
  if (!signed_bytes) return fail_with(signed_bytes.error());
  if (auto st = write_output(*args, *signed_bytes); !st) return fail_with(st.error());
  return kExitOk;
}

// --- verify -----------------------------------------------------------------

// --pdf-signatures, --pdf-official, --pdf-report-unverifiable into a policy.
Status pdf_policy_from(const Args& args, crypto::AcceptPolicy& policy) {
  const std::string require = args.get_or("--pdf-signatures", "none");
  if (require == "none")
    policy.pdf.require = crypto::PdfPolicy::Require::none;
  else if (require == "any")
    policy.pdf.require = crypto::PdfPolicy::Require::any;
  else if (require == "organisation")
    policy.pdf.require = crypto::PdfPolicy::Require::organisation;
  else
    return make_error(Errc::usage,
                      "--pdf-signatures " + require + ": must be none, any or organisation");
  policy.pdf.official_required = args.flag("--pdf-official");
  if (policy.pdf.official_required &&
      policy.pdf.require != crypto::PdfPolicy::Require::organisation)
    return make_error(Errc::usage, "--pdf-official needs --pdf-signatures organisation");
  policy.pdf.refuse_cannot_verify = !args.flag("--pdf-report-unverifiable");
  policy.sources["pdf-signatures"] = args.get("--pdf-signatures") ? "--pdf-signatures" : "default";
  policy.sources["pdf-official"] = policy.pdf.official_required ? "--pdf-official" : "default";
  policy.sources["pdf-cannot-verify"] =
      policy.pdf.refuse_cannot_verify ? "default" : "--pdf-report-unverifiable";
  return Status::success();
}

// The configured policy in the verifier's plain terms.
// The policy of a command line: strict unless a flag relaxes it, or the
// gateway's (--config: its trust anchors, CRLs and <accept> rules). Exit 0
// for valid, and for unsigned only where the policy accepted it.
int cmd_verify(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("verify"));
  if (!args) return usage_error(args.error().message);
  const bool ocsp = args->flag("--ocsp") || args->get("--ocsp-url");
  if (ocsp && args->get("--at")) {
    return usage_error("--ocsp speaks of the present; with --at give the CRLs of that time");
  }
  auto at = time_option(*args);
  if (!at) return fail_with(at.error());
  crypto::VerifyOptions options;
  options.at = *at;
  std::optional<config::GatewayConfig> gateway_config;
  std::optional<crypto::TrustStore> trust;
  std::shared_ptr<crypto::RevocationCache> revocation_cache;
  if (auto config_path = args->get("--config")) {
    for (const char* flag : {"--trust", "--untrusted", "--crl", "--policy", "--organ-map",
                             "--ocsp-url", "--pdf-signatures"}) {
      if (args->get(flag))
        return usage_error(std::string(flag) + " and --config exclude each other");
    }
    for (const char* flag :
         {"--allow-sha1", "--allow-inclusive-c14n", "--accept-unsigned", "--ocsp",
          "--require-revocation", "--pdf-official", "--pdf-report-unverifiable"}) {
      if (args->flag(flag))
        return usage_error(std::string(flag) + " and --config exclude each other");
    }
    auto loaded = config::load_config(*config_path);
    if (!loaded) return fail_with(make_error(Errc::usage, loaded.error().message));
    gateway_config = std::move(*loaded);
    const config::TrustConfig& tc = gateway_config->trust;
    auto store = gateway::trust_store_for(tc);
    if (!store) return fail_with(store.error());
    trust = std::move(*store);
    // As the gateway verifies, with a revocation cache in memory only (the
    // daemon's cache in its data-dir is its own).
    if (!args->get("--at")) {
      auto settings = gateway::revocation_settings(*gateway_config);
      settings.dir.clear();
      auto cache = crypto::RevocationCache::open(std::move(settings));
      if (!cache) return fail_with(cache.error());
      revocation_cache = std::move(*cache);
    }
    const auto at_option = options.at;
    options = gateway::verify_options_for(*gateway_config, revocation_cache.get());
    options.at = at_option;
    if (args->get("--at")) options.ocsp.reset();
    const std::string adapter = args->get_or("--adapter", "");
    if (!adapter.empty() && gateway_config->adapter(adapter) == nullptr) {
      return usage_error("--adapter " + adapter + ": the configuration has no such adapter");
    }
    options.policy_for = [&gateway_config, adapter](const std::string& sender) {
      return gateway::accept_policy(gateway_config->trust.policy_for(sender, adapter));
    };
  } else {
    if (args->get("--adapter")) return usage_error("--adapter needs --config");
    auto store = trust_from(*args);
    if (!store) return fail_with(store.error());
    trust = std::move(*store);
    crypto::AcceptPolicy& policy = options.policy;
    policy.rule = "the command line";
    for (auto [flag, setting, value] :
         {std::tuple{"--accept-unsigned", "unsigned", &policy.accept_unsigned},
          std::tuple{"--allow-sha1", "sha1", &policy.sha1_warn},
          std::tuple{"--allow-inclusive-c14n", "c14n", &policy.inclusive_c14n_warn}}) {
      *value = args->flag(flag);
      policy.sources[setting] = *value ? flag : "default";
    }
    options.revocation = args->flag("--require-revocation") ? crypto::RevocationPolicy::require
                                                            : crypto::RevocationPolicy::prefer;
    if (ocsp) {
      options.ocsp.emplace();
      options.ocsp->url = args->get_or("--ocsp-url", "");
    }
    if (auto map_path = args->get("--organ-map")) {
      auto map = config::load_organ_map(*map_path);
      if (!map) return fail_with(make_error(Errc::usage, map.error().message));
      for (const auto& w : map->warnings) std::cerr << "edocgw: warning: " << w << "\n";
      policy.organ_by_fingerprint = map->by_fingerprint;
      policy.organ_by_subject = map->by_subject;
      policy.organ_map = *map_path;
      policy.sources["organ-map"] = "--organ-map";
    }
    if (auto st = pdf_policy_from(*args, policy); !st) return usage_error(st.error().message);
  }
  crypto::PackageVerifier verifier(*trust, options);
  const crypto::VerificationReport report = verifier.verify_file(args->get_or("--in", "-"));
  const bool io_failure = !report.checks.empty() && report.checks.back().name == "read";
  if (io_failure) {
    // Nothing was judged: say so in words that agree with exit code 2.
    std::cerr << "edocgw: " << report.reason << "\n";
    if (args->flag("--json")) {
      std::cout << dump_json(nlohmann::json{{"error", "cannot_read"}, {"message", report.reason}})
                << "\n";
    }
    return kExitUsage;
  }
  if (report.state == crypto::VerificationState::invalid) {
    std::cerr << "edocgw: invalid: " << report.reason << "\n";
  } else if (report.state == crypto::VerificationState::unsigned_accepted) {
    std::cerr << "edocgw: unsigned (accepted by policy: " << report.policy.rule
              << "): " << report.reason << "\n";
  }
  if (args->flag("--json")) {
    std::cout << dump_json(crypto::to_json(report)) << "\n";
  } else {
    std::cout << crypto::to_text(report);
  }
  return report.accepted() ? kExitOk : kExitInvalid;
}

// --- pdf verify -------------------------------------------------------------

// The signatures inside a bare PDF, under a command-line policy. Exit 0 when
// the PDF is verified, or unsigned and nothing is required; 1 when invalid
// or it cannot be verified (unless --pdf-report-unverifiable).
int cmd_pdf_verify(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("pdf verify"));
  if (!args) return usage_error(args.error().message);
  if (args->positional().size() != 1) return usage_error("pdf verify takes one FILE.pdf");
  const bool ocsp = args->flag("--ocsp") || args->get("--ocsp-url");
  if (ocsp && args->get("--at")) {
    return usage_error("--ocsp speaks of the present; with --at give the CRLs of that time");
  }
  auto at = time_option(*args);
  if (!at) return fail_with(at.error());
  auto trust = trust_from(*args);
  if (!trust) return fail_with(trust.error());
  crypto::PdfVerifyOptions options;
  options.at = *at;
  options.revocation = args->flag("--require-revocation") ? crypto::RevocationPolicy::require
                                                          : crypto::RevocationPolicy::prefer;
  if (ocsp) {
    options.ocsp.emplace();
    options.ocsp->url = args->get_or("--ocsp-url", "");
  }
  crypto::AcceptPolicy& policy = options.policy;
  policy.rule = "the command line";
  policy.sha1_warn = args->flag("--allow-sha1");
  if (auto map_path = args->get("--organ-map")) {
    auto map = config::load_organ_map(*map_path);
    if (!map) return fail_with(make_error(Errc::usage, map.error().message));
    for (const auto& w : map->warnings) std::cerr << "edocgw: warning: " << w << "\n";
    policy.organ_by_fingerprint = map->by_fingerprint;
    policy.organ_by_subject = map->by_subject;
    policy.organ_map = *map_path;
  }
  if (auto st = pdf_policy_from(*args, policy); !st) return usage_error(st.error().message);
  options.sender_organ_id = args->get_or("--sender", "");
  if (policy.pdf.require == crypto::PdfPolicy::Require::organisation &&
      options.sender_organ_id.empty())
    return usage_error("--pdf-signatures organisation needs --sender ORGAN_ID");
  const std::string path = args->positional()[0];
  auto bytes = read_file(path, pdf::kMaxPdfBytes + 1);
  if (!bytes) return fail_with(bytes.error());
  const crypto::PdfVerifier verifier(*trust, options);
  const crypto::PdfReport report = verifier.verify(*bytes, path);
  if (!report.accepted()) {
    std::cerr << "edocgw: " << crypto::pdf_state_name(report.state) << ": " << report.reason
              << "\n";
  }
  if (args->flag("--json")) {
    std::cout << dump_json(crypto::to_json(report)) << "\n";
  } else {
    std::cout << crypto::to_text(report);
  }
  return report.accepted() ? kExitOk : kExitInvalid;
}

// --- cert verify ------------------------------------------------------------

int cmd_cert_verify(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("cert verify"));
  if (!args) return usage_error(args.error().message);
  if (args->positional().size() != 1) return usage_error("cert verify takes one CERT.pem");
  auto at = time_option(*args);
  if (!at) return fail_with(at.error());
  auto trust = trust_from(*args);
  if (!trust) return fail_with(trust.error());
  auto certs = crypto::load_certificates(args->positional()[0]);
  if (!certs) return fail_with(certs.error());
  X509* leaf = (*certs)[0].get();
  std::vector<X509*> extra;
  for (size_t i = 1; i < certs->size(); ++i) extra.push_back((*certs)[i].get());
  const crypto::ChainResult chain = trust->verify(leaf, extra, *at);

  crypto::VerificationReport report;
  report.checked_at = format_rfc3339(*at);
  report.signer = crypto::describe(leaf);
  for (const auto& c : chain.chain) report.chain.push_back(crypto::describe(c.get()));
  report.revocation = chain.revocation;
  report.certificate_policy = chain.policy;
  using crypto::ChainCheck;
  using crypto::CheckOutcome;
  for (auto [check, name] :
       {std::pair{ChainCheck::validity, "validity"}, std::pair{ChainCheck::chain, "chain"},
        std::pair{ChainCheck::revocation, "revocation"}}) {
    if (const auto* p = chain.first(check)) {
      report.add(name, CheckOutcome::fail, p->message);
    } else if (check == ChainCheck::revocation && !chain.revocation_checked) {
      report.add(name, CheckOutcome::skipped, "no CRL was given; revocation was not checked");
    } else {
      report.add(name, CheckOutcome::pass);
    }
  }
  report.add("key_usage", CheckOutcome::skipped,
             crypto::has_signing_key_usage(leaf)
                 ? "allows signing (digitalSignature or nonRepudiation)"
                 : "does not allow signing packages (no digitalSignature or nonRepudiation)");
  report.finish();
  if (!report.valid) std::cerr << "edocgw: invalid: " << report.reason << "\n";
  if (args->flag("--json")) {
    std::cout << dump_json(crypto::to_json(report)) << "\n";
  } else {
    std::cout << crypto::to_text(report);
  }
  return report.valid ? kExitOk : kExitInvalid;
}

// --- edxml ------------------------------------------------------------------

Result<nlohmann::json> read_json(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(Errc::malformed, path + " is not valid JSON");
  return j;
}

int cmd_edxml_build(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("edxml build"));
  if (!args) return usage_error(args.error().message);
  auto meta_path = args->get("--meta");
  if (!meta_path) return usage_error("edxml build needs --meta META.json");
  auto meta = read_json(*meta_path);
  if (!meta) return fail_with(meta.error());
  std::vector<edxml::AttachmentFile> files;
  for (const auto& path : args->all("--attach")) {
    auto bytes = read_file(path);
    if (!bytes) return fail_with(bytes.error());
    files.push_back({std::filesystem::path(path).filename().string(), std::move(*bytes), "", ""});
  }
  auto package = edxml::build_package(*meta, std::move(files), now_seconds());
  if (!package) return fail_with(package.error());
  if (auto st = write_output(*args, *package); !st) return fail_with(st.error());
  return kExitOk;
}

int cmd_edxml_status(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("edxml status"));
  if (!args) return usage_error(args.error().message);
  auto meta_path = args->get("--meta");
  if (!meta_path) return usage_error("edxml status needs --meta STATUS.json");
  auto meta = read_json(*meta_path);
  if (!meta) return fail_with(meta.error());
  auto status = edxml::status_from_json(*meta, now_seconds());
  if (!status) return fail_with(status.error());
  auto package = edxml::build_status_package(*status);
  if (!package) return fail_with(package.error());
  if (auto st = write_output(*args, *package); !st) return fail_with(st.error());
  return kExitOk;
}

int cmd_edxml_inspect(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("edxml inspect"));
  if (!args) return usage_error(args.error().message);
  if (args->positional().size() != 1) return usage_error("edxml inspect takes one PKG");
  auto doc = xml::parse_untrusted_xml_file(args->positional()[0]);
  if (!doc) return fail_with(doc.error());
  auto package = edxml::read_package(doc->get());
  if (!package)
    return fail_with(
        make_error(Errc::malformed, "not an edXML package: " + package.error().message));
  if (args->flag("--json")) {
    std::cout << dump_json(edxml::to_json(*package)) << "\n";
  } else {
    std::cout << edxml::to_text(*package);
  }
  return kExitOk;
}

// --- config check, routes explain ------------------------------------------

int cmd_config_check(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("config check"));
  if (!args) return usage_error(args.error().message);
  std::string path = args->get_or("--config", "");
  if (path.empty() && args->positional().size() == 1) path = args->positional()[0];
  if (path.empty())
    return usage_error("config check takes the file: edocgw config check gateway.xml");
  adapters::AdapterRegistry registry;
  adapters::register_builtin_adapters(registry);
  auto loaded = gateway::load_and_check(path, registry);
  if (!loaded) return fail_with(loaded.error());
  for (const auto& w : loaded->warnings) std::cerr << "warning: " << w << "\n";
  const auto& c = loaded->config;
  std::cout << path << ": OK: " << c.name << " (" << c.organ_id << "), " << c.adapters.size()
            << " adapter(s), " << c.routes.routes().size() << " route(s)"
            << (c.api ? ", api on " + c.api->listen.text() : std::string())
            << (c.exchange ? ", exchange on " + c.exchange->listen.text() : std::string()) << "\n";
  // Every expiry date an administrator watches, soonest first.
  const TimePoint now = now_seconds();
  for (const auto& w : loaded->watched) {
    const auto days =
        std::chrono::duration_cast<std::chrono::hours>(w.not_after - now).count() / 24;
    const bool soon = w.not_after - now <= c.expiry_warning;
    std::string state = w.not_after < now ? "EXPIRED" : soon ? "SOON" : "ok";
    if (w.not_after >= now) state += " " + std::to_string(days) + "d";
    state.resize(std::max<size_t>(state.size(), 11), ' ');
    std::cout << (w.role == "crl" ? "  next update " : "  expires     ")
              << format_rfc3339(w.not_after) << "  " << state << w.role << ": " << w.subject
              << "\n";
  }
  if (c.trust.revocation != config::Revocation::off) {
    std::cout << "  revocation  "
              << (c.trust.revocation == config::Revocation::require ? "require" : "prefer") << ": "
              << c.trust.crls.size() << " CRL file(s), CRL fetching "
              << (c.trust.crl_fetch ? "on" : "off") << ", OCSP " << (c.trust.ocsp ? "on" : "off")
              << "\n";
  }
  if (!c.trust.policies.empty()) {
    std::string list;
    for (const auto& p : c.trust.policies) list += (list.empty() ? "" : " ") + p;
    std::cout << "  policies    the signer's path must be valid for one of: " << list << "\n";
  }
  return kExitOk;
}

int cmd_routes_explain(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("routes explain"));
  if (!args) return usage_error(args.error().message);
  if (!args->get("--config") || !args->get("--to")) {
    return usage_error("routes explain needs --config gateway.xml --to ORGAN_ID");
  }
  auto config = config::load_config(*args->get("--config"));
  if (!config) return fail_with(config.error());
  const std::string to = *args->get("--to");
  if (edxml::classify_agency_code(to) == edxml::AgencyCodeForm::invalid) {
    return fail_with(
        make_error(Errc::invalid, "'" + to + "' is not an agency code such as 000.00.13.H50"));
  }
  const config::RouteMatch m = config->routes.explain(to);
  for (const auto& line : m.explanation) std::cout << line << "\n";
  if (m.route == nullptr) {
    std::cerr << "edocgw: no route for " << to << ": add a <route to=...> that matches it\n";
    return kExitInvalid;
  }
  const config::AdapterConfig* adapter = config->adapter(m.route->via);
  std::cout << to << " -> adapter '" << m.route->via << "' (type " << adapter->type << ")\n";
  return kExitOk;
}

// --- audit ------------------------------------------------------------------

// One log to audit: its data-dir, and the trust anchors when known: from
// --config, or from --data-dir with an optional --trust (which, given, is
// used for every source).
struct AuditSource {
  std::string source;  // as given: "--config PATH" or "--data-dir DIR"
  std::filesystem::path data_dir;
  std::optional<crypto::TrustStore> trust;
  // With --config: the log must be this gateway's (origin and checkpoint signer).
  std::string origin, signer_der;
  config::StoreConfig store;  // with --config: where bodies named postgresql/ID are
};

Result<AuditSource> load_audit_source(const std::string& option, const std::string& value,
                                      const std::optional<std::string>& anchors) {
  AuditSource src;
  src.source = option + " " + value;
  if (option == "--config") {
    auto config = config::load_config(value);
    if (!config) return config.error();
    src.data_dir = config->data_dir;
    src.store = config->store;
    auto trust = crypto::TrustStore::load(config->trust.anchors, {}, {});
    if (!trust) return trust.error();
    src.trust = std::move(*trust);
    src.origin = "edocgw/" + config->organ_id;
    if (!config->identity.cert.empty()) {
      auto certs = crypto::load_certificates(config->identity.cert);
      if (!certs) return certs.error();
      if (!certs->empty()) src.signer_der = crypto::certificate_der(certs->front().get());
    }
  } else {
    src.data_dir = value;
  }
  if (anchors) {
    auto trust = crypto::TrustStore::load({*anchors}, {}, {});
    if (!trust) return trust.error();
    src.trust = std::move(*trust);
  }
  return src;
}

// Every --config and --data-dir, in the order given (Args keeps each
// option's values apart), for `spec` as Args::parse read `argv`.
std::vector<std::pair<std::string, std::string>> source_options(
    const std::vector<std::string>& argv, const OptionSpec& spec) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 3 || a.rfind("--", 0) != 0) continue;
    const auto eq = a.find('=');
    const std::string name = a.substr(0, eq);
    if (!spec.with_value.count(name)) continue;
    std::string value = eq != std::string::npos ? a.substr(eq + 1)
                        : i + 1 < argv.size()   ? argv[++i]
                                                : std::string();
    if (name == "--config" || name == "--data-dir") out.emplace_back(name, std::move(value));
  }
  return out;
}

// The logs named on the command line, each data-dir once.
Result<std::vector<AuditSource>> audit_sources(const std::vector<std::string>& argv,
                                               const OptionSpec& spec, const Args& args) {
  const auto given = source_options(argv, spec);
  if (given.empty()) return make_error(Errc::usage, "give --config gateway.xml or --data-dir DIR");
  std::vector<AuditSource> out;
  for (const auto& [option, value] : given) {
    auto src = load_audit_source(option, value, args.get("--trust"));
    if (!src) return src.error();
    for (const auto& before : out) {
      std::error_code ec;
      if (before.data_dir == src->data_dir ||
          std::filesystem::equivalent(before.data_dir, src->data_dir, ec))
        return make_error(Errc::usage, before.source + " and " + src->source +
                                           " are the same data-dir (" + src->data_dir.string() +
                                           "): give each log once");
    }
    out.push_back(std::move(*src));
  }
  return out;
}

// The one log of audit prove and audit consistency.
Result<AuditSource> audit_source(const std::vector<std::string>& argv, const OptionSpec& spec,
                                 const Args& args) {
  auto sources = audit_sources(argv, spec, args);
  if (!sources) return sources.error();
  if (sources->size() != 1)
    return make_error(Errc::usage, "give one --config or --data-dir, not " +
                                       std::to_string(sources->size()) +
                                       " (only audit verify takes several logs)");
  return std::move(sources->front());
}

// The auditor's reader of archived bodies: the segment archive's records
// (read without its lock, so a running gateway's data-dir can be audited),
// and files under the data-dir for names of the earlier layout.
// Bodies named postgresql/ID are read from the database of the
// configuration's <store type="postgresql"> (opened at the first such name).
audit::PackageReader archived_packages(const std::filesystem::path& data_dir,
                                       const config::StoreConfig& store_config = {}) {
  auto pg = std::make_shared<std::unique_ptr<store::Store>>();
  return [data_dir, store_config, pg](
             const std::string& name,
             const std::string& sha256) -> Result<std::optional<std::string>> {
    if (auto ref = store::parse_package_ref_name(name, sha256))
      return store::SegmentArchive::read_record(data_dir / store::kSegmentsFolder, *ref,
                                                audit::kMaxArchivedPackage);
    if (name.rfind("postgresql/", 0) == 0) {
      if (store_config.type != config::StoreConfig::Type::postgresql)
        return make_error(Errc::usage, "the body " + name +
                                           " is in PostgreSQL: give --config with the gateway's "
                                           "<store type=\"postgresql\" dsn=...>");
      if (!*pg) {
        store::PgOptions options;
        options.dsn = store_config.dsn;
        options.pool_size = 2;
        auto opened = store::open_pg_store(options);
        if (!opened) return opened.error();
        *pg = std::move(*opened);
      }
      return (*pg)->read_package(name.substr(std::string("postgresql/").size()));
    }
    return audit::read_confined(data_dir, name, audit::kMaxArchivedPackage);
  };
}

// A bundle holds one package (base64) and a few certificates.
constexpr size_t kMaxBundleBytes = audit::kMaxArchivedPackage / 3 * 4 + (1u << 20);

audit::AuditOptions audit_options(const AuditSource& src, bool packages) {
  audit::AuditOptions options;
  options.data_dir = src.data_dir;
  options.trust = src.trust ? &*src.trust : nullptr;
  options.packages = packages;
  options.read_package = archived_packages(src.data_dir, src.store);
  options.expected_origin = src.origin;
  options.expected_signer_der = src.signer_der;
  return options;
}

// One log: the report as it always was (its JSON shape is relied on).
int audit_one_log(const AuditSource& src, const Args& args,
                  const std::vector<audit::KeptCheckpoint>& kept) {
  audit::AuditOptions options = audit_options(src, !args.flag("--no-packages"));
  for (const auto& k : kept) options.kept_checkpoints.push_back(k.text);
  const auto report = audit::audit_log(options);
  if (!report.ok)
    std::cerr << "edocgw: the signature log does not verify: " << report.problems[0] << "\n";
  if (args.flag("--json"))
    std::cout << dump_json(audit::to_json(report)) << "\n";
  else
    std::cout << audit::to_text(report);
  return report.ok ? kExitOk : kExitInvalid;
}

// Several logs (the nodes of one organisation): each log's report, then
// the verdict on all; exit 1 when any log, or the logs together, fail.
int audit_several_logs(const std::vector<AuditSource>& sources, const Args& args,
                       const std::vector<audit::KeptCheckpoint>& kept) {
  std::vector<audit::LogSource> logs;
  for (const auto& src : sources)
    logs.push_back({src.source, audit_options(src, !args.flag("--no-packages"))});
  const auto report = audit::audit_logs(logs, kept);
  if (!report.ok) {  // the first line says why; then every other failure, one a line
    const std::string first = audit::first_problem(report);
    std::vector<std::string> lines;
    for (size_t i = 0; i < report.logs.size(); ++i)
      if (!report.logs[i].ok)
        lines.push_back("log " + std::to_string(i + 1) + " (" + report.sources[i] +
                        ") does not verify: " + report.logs[i].problems[0]);
    lines.insert(lines.end(), report.problems.begin(), report.problems.end());
    std::cerr << "edocgw: " << first << "\n";
    for (const auto& line : lines)
      if (line != first) std::cerr << "edocgw: " << line << "\n";
  }
  if (args.flag("--json"))
    std::cout << dump_json(audit::to_json(report)) << "\n";
  else
    std::cout << audit::to_text(report);
  return report.ok ? kExitOk : kExitInvalid;
}

int cmd_audit_verify(const std::vector<std::string>& argv) {
  const OptionSpec spec = spec_of("audit verify");
  auto args = Args::parse(argv, spec);
  if (!args) return usage_error(args.error().message);
  if (!args->positional().empty()) return usage_error("audit verify takes no positional argument");
  auto sources = audit_sources(argv, spec, *args);
  if (!sources) return fail_with(sources.error());
  std::vector<audit::KeptCheckpoint> kept;
  for (const auto& path : args->all("--keep")) {
    auto text = read_file(path);
    if (!text) return fail_with(text.error());
    kept.push_back({path, std::move(*text)});
  }
  if (sources->size() == 1) return audit_one_log(sources->front(), *args, kept);
  return audit_several_logs(*sources, *args, kept);
}

int cmd_purge(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("purge"));
  if (!args) return usage_error(args.error().message);
  if (!args->positional().empty()) return usage_error("purge takes no positional argument");
  const auto before_text = args->get("--before");
  if (!before_text) return usage_error("purge needs --before DATE (YYYY-MM-DD or RFC 3339)");
  std::string when = *before_text;
  if (when.size() == 10) when += "T00:00:00Z";  // a date: its start, UTC
  auto before = parse_rfc3339(when);
  if (!before)
    return usage_error("--before " + *before_text + " is not YYYY-MM-DD or an RFC 3339 time");
  std::filesystem::path data_dir;
  config::StoreConfig store_config;
  if (auto config_path = args->get("--config")) {
    if (args->get("--data-dir")) return usage_error("give --config or --data-dir, not both");
    auto config = config::load_config(*config_path);
    if (!config) return fail_with(config.error());
    data_dir = config->data_dir;
    store_config = config->store;
  } else if (auto dir = args->get("--data-dir")) {
    data_dir = *dir;
  } else {
    return usage_error("give --config gateway.xml or --data-dir DIR");
  }
  Result<std::unique_ptr<store::Store>> store = make_error(Errc::internal, "no store");
  if (store_config.type == config::StoreConfig::Type::postgresql) {
    // Rows and bytes are in the database: purging is safe while gateways run.
    store::PgOptions options;
    options.dsn = store_config.dsn;
    options.pool_size = 2;
    store = store::open_pg_store(options);
    if (!store) return fail_with(store.error());
  } else {
    if (!std::filesystem::exists(data_dir / "edocgw.sqlite"))
      return fail_with(make_error(Errc::io, data_dir.string() + " holds no edocgw store"));
    store::SqliteOptions options;  // no log_sync: purging writes no package
    options.segment_bytes = store_config.segment_bytes;
    store = store::open_sqlite_store(data_dir, std::move(options));
    if (!store) {
      std::cerr << "edocgw: cannot open the store (a running gateway holds it; stop it first)\n";
      return fail_with(store.error());
    }
  }
  for (const auto& n : (*store)->notices()) std::cerr << "edocgw: " << n << "\n";
  auto report = (*store)->purge(before->time_since_epoch().count());
  if (!report) return fail_with(report.error());
  if (args->flag("--json")) {
    std::cout << nlohmann::json{{"segments_removed", report->segments},
                                {"packages_purged", report->packages},
                                {"kept_from_segment", report->kept_from_segment}}
                     .dump(2)
              << "\n";
  } else if (store_config.type == config::StoreConfig::Type::postgresql) {
    std::cout << "purged " << report->packages << " package bodies\n";
  } else {
    std::cout << "purged " << report->packages << " package bodies in " << report->segments
              << " segment(s); kept from segment "
              << store::segment_file_name(report->kept_from_segment) << "\n";
  }
  return kExitOk;
}

int cmd_audit_prove(const std::vector<std::string>& argv) {
  const OptionSpec spec = spec_of("audit prove");
  auto args = Args::parse(argv, spec);
  if (!args) return usage_error(args.error().message);
  if (args->positional().size() != 1) return usage_error("audit prove takes one DOCUMENT_ID");
  auto src = audit_source(argv, spec, *args);
  if (!src) return fail_with(src.error());
  auto bundle = audit::make_bundle(src->data_dir, args->positional()[0],
                                   archived_packages(src->data_dir, src->store));
  if (!bundle) return fail_with(bundle.error());
  const std::string text =
      bundle->dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (auto st = write_file_atomic(args->get_or("--out", "-"), text); !st)
    return fail_with(st.error());
  return kExitOk;
}

int cmd_audit_check_bundle(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("audit check-bundle"));
  if (!args) return usage_error(args.error().message);
  if (!args->get("--trust") || args->positional().size() != 1)
    return usage_error("audit check-bundle needs --trust ANCHORS.pem and one BUNDLE");
  auto trust = crypto::TrustStore::load({*args->get("--trust")}, {}, {});
  if (!trust) return fail_with(trust.error());
  auto text = read_file(args->positional()[0], kMaxBundleBytes);
  if (!text) return fail_with(text.error());
  const auto check = audit::check_bundle_bytes(*text, *trust);
  if (!check.ok) std::cerr << "edocgw: the bundle does not verify: " << check.problems[0] << "\n";
  if (args->flag("--json")) {
    std::cout << nlohmann::json{{"valid", check.ok},
                                {"passed", check.passed},
                                {"problems", check.problems},
                                {"record", check.record}}
                     .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    std::cout << (check.ok ? "BUNDLE VERIFIES\n"
                           : "BUNDLE DOES NOT VERIFY: " + check.problems[0] + "\n");
    for (const auto& p : check.passed) std::cout << "ok: " << p << "\n";
    if (check.record.is_object()) {
      const auto& r = check.record;
      std::cout << "record: " << audit::string_field(r, "event") << " of "
                << audit::string_field(r, "document_id") << " at " << audit::string_field(r, "time")
                << ", outcome " << audit::string_field(r, "outcome") << "\n";
    }
  }
  return check.ok ? kExitOk : kExitInvalid;
}

int cmd_audit_consistency(const std::vector<std::string>& argv) {
  const OptionSpec spec = spec_of("audit consistency");
  auto args = Args::parse(argv, spec);
  if (!args) return usage_error(args.error().message);
  if (!args->get("--old")) return usage_error("audit consistency needs --old KEPT.note");
  auto src = audit_source(argv, spec, *args);
  if (!src) return fail_with(src.error());
  auto old = read_file(*args->get("--old"));
  if (!old) return fail_with(old.error());
  auto proof = audit::prove_consistency(src->data_dir, *old);
  if (!proof) return fail_with(proof.error());
  const std::string text =
      proof->dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (auto st = write_file_atomic(args->get_or("--out", "-"), text); !st)
    return fail_with(st.error());
  return kExitOk;
}

int cmd_serve(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("serve"));
  if (!args) return usage_error(args.error().message);
  if (!args->positional().empty()) return usage_error("serve takes no positional argument");
  if (!args->get("--config")) return usage_error("serve needs --config gateway.xml");
  return gateway::serve(*args->get("--config"));
}

// The commands of a group ("audit"), one "\n  edocgw audit verify" each;
// "" when `group` is no group.
std::string group_listing(const std::string& group) {
  std::string list;
  for (const auto& c : commands())
    if (c.name.rfind(group + " ", 0) == 0) list += "\n  edocgw " + c.name;
  return list;
}

// --- config init, help, version ---------------------------------------------

int cmd_config_init(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("config init"));
  if (!args) return usage_error(args.error().message);
  if (!args->positional().empty()) return usage_error("config init takes no positional argument");
  if (!args->get("--organ-id") || !args->get("--name"))
    return usage_error("config init needs --organ-id ID and --name NAME");
  gateway::InitOptions options;
  options.organ_id = *args->get("--organ-id");
  options.name = *args->get("--name");
  options.hub = args->flag("--hub");
  options.data_dir = args->get_or("--data-dir", options.data_dir);
  options.api_token_sha256 = args->get_or("--api-token-sha256", "");
  auto rendered = gateway::render_initial_config(options);
  if (!rendered) return fail_with(rendered.error());
  const std::filesystem::path out = args->get_or("--out", "gateway.xml");
  std::error_code ec;
  if (out != "-" && !args->flag("--force") &&
      std::filesystem::exists(std::filesystem::symlink_status(out, ec)))
    return usage_error(out.string() + " exists: give --force to overwrite it, or another --out");
  // A file replaced with --force keeps its owner, group and mode (the
  // package's /etc/edocgw/gateway.xml is root:edocgw 0640).
  std::string warning;
  if (auto st = replace_file_keeping_access(out, rendered->xml, &warning); !st)
    return fail_with(st.error());
  if (!warning.empty()) std::cerr << "edocgw: warning: " << warning << "\n";
  // With --out - the configuration is standard output: the report goes to
  // standard error, so that "--out - > gateway.xml" is the file alone.
  std::ostream& report = out == "-" ? std::cerr : std::cout;
  report << "wrote " << (out == "-" ? std::string("standard output") : out.string()) << "\n";
  if (!rendered->needed.empty()) {
    report << "\nIt names these files, which must exist before 'edocgw config check "
           << out.string() << "' passes\n(relative paths are relative to "
           << (out.has_parent_path() ? out.parent_path().string() : std::string(".")) << "):\n";
    for (const auto& f : rendered->needed) report << "  " << f.path << ": " << f.what << "\n";
  }
  if (!rendered->next_steps.empty()) {
    report << "\nNext:\n";
    for (const auto& step : rendered->next_steps) report << "  - " << step << "\n";
  }
  return kExitOk;
}

int cmd_help(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("help"));
  if (!args) return usage_error(args.error().message);
  if (args->flag("--man")) {
    if (!args->positional().empty()) return usage_error("help --man takes no command");
    std::cout << render_man(gateway::kVersion, gateway::kCommitDate);
    return kExitOk;
  }
  if (args->positional().empty()) {
    std::cout << render_overview();
    return kExitOk;
  }
  std::string name;
  for (const auto& word : args->positional()) name += (name.empty() ? "" : " ") + word;
  const CommandDoc* command = find_command(name);
  if (command == nullptr) {
    // "help audit": the group's commands, as "edocgw audit --help" lists them.
    if (args->positional().size() == 1 && !group_listing(name).empty())
      return run({name, "--help"});
    return usage_error("no command '" + name + "'");
  }
  std::cout << render_help(*command);
  return kExitOk;
}

int cmd_version(const std::vector<std::string>& argv) {
  auto args = Args::parse(argv, spec_of("version"));
  if (!args) return usage_error(args.error().message);
  if (!args->positional().empty()) return usage_error("version takes no argument");
  std::cout << gateway::version_text();
  return kExitOk;
}

}  // namespace

int run(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << render_overview();
    return kExitUsage;
  }
  if (args[0] == "--help" || args[0] == "-h") {
    std::cout << render_overview();
    return kExitOk;
  }
  if (args[0] == "--version") {  // the same as "edocgw version", --help included
    std::vector<std::string> as_command(args);
    as_command[0] = "version";
    return run(as_command);
  }
  // The command: two words where there is such a command ("audit verify"),
  // else one.
  const CommandDoc* command = nullptr;
  size_t words = 0;
  if (args.size() >= 2) command = find_command(args[0] + " " + args[1]);
  if (command != nullptr)
    words = 2;
  else if ((command = find_command(args[0])) != nullptr)
    words = 1;
  if (command == nullptr) {
    if (const std::string list = group_listing(args[0]); !list.empty()) {
      // "edocgw audit --help": the group's commands, as asked.
      if (args.size() == 2 && (args[1] == "--help" || args[1] == "-h")) {
        std::cout << "edocgw " << args[0] << " has these commands:" << list << "\n\nRun 'edocgw "
                  << args[0] << " COMMAND --help' for one of them.\n";
        return kExitOk;
      }
      std::cerr << "edocgw: '" << args[0] << (args.size() >= 2 ? " " + args[1] : std::string())
                << "' is not a command; " << args[0] << " has:" << list << "\n";
      return kExitUsage;
    }
    return usage_error("unknown command '" + args[0] + "'");
  }
  g_current = command;
  const std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(words),
                                      args.end());
  // --help (or -h) where an option may stand shows the command's help and
  // does nothing else; as the value of an option ("--name -h") it is a value.
  const OptionSpec spec = spec_of(*command);
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == "--help" || rest[i] == "-h") {
      std::cout << render_help(*command);
      return kExitOk;
    }
    if (spec.with_value.count(rest[i])) ++i;  // its value follows
  }
  using Handler = int (*)(const std::vector<std::string>&);
  static const std::map<std::string_view, Handler> handlers = {
      {"sign", cmd_sign},
      {"verify", cmd_verify},
      {"cert verify", cmd_cert_verify},
      {"pdf verify", cmd_pdf_verify},
      {"edxml build", cmd_edxml_build},
      {"edxml status", cmd_edxml_status},
      {"edxml inspect", cmd_edxml_inspect},
      {"config check", cmd_config_check},
      {"config init", cmd_config_init},
      {"routes explain", cmd_routes_explain},
      {"serve", cmd_serve},
      {"purge", cmd_purge},
      {"audit verify", cmd_audit_verify},
      {"audit prove", cmd_audit_prove},
      {"audit check-bundle", cmd_audit_check_bundle},
      {"audit consistency", cmd_audit_consistency},
      {"help", cmd_help},
      {"version", cmd_version},
  };
  const std::string& name = command->name;
  if (auto h = handlers.find(name); h != handlers.end()) return h->second(rest);
  return usage_error("the command '" + name + "' is documented but not wired");
}

}  // namespace edocgw::cli
