#include "config/gateway_config.h"

#include <pugixml.hpp>

#include <algorithm>
#include <set>
#include <sstream>

#include "edxml/agency_code.h"
#include "util/bytes.h"

namespace edocgw::config {
namespace {

namespace fs = std::filesystem;

// Turns pugixml byte offsets into line numbers and collects the first error.
class Reader {
 public:
  Reader(const std::string& bytes, fs::path path) : path_(std::move(path)) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] == '\n') newlines_.push_back(i);
    }
    base_ = path_.has_parent_path() ? fs::absolute(path_).parent_path() : fs::current_path();
  }

  int line(const pugi::xml_node& n) const { return line_at(static_cast<size_t>(n.offset_debug())); }
  int line_at(size_t offset) const {
    return static_cast<int>(std::upper_bound(newlines_.begin(), newlines_.end(), offset) -
                            newlines_.begin()) +
           1;
  }
  std::string where(int line) const { return path_.string() + ":" + std::to_string(line); }

  Error error(const pugi::xml_node& n, const std::string& message) const {
    return make_error(Errc::invalid, where(line(n)) + ": " + message);
  }

  // Allowed attributes and children of `n`; anything else is an error.
  Status only(const pugi::xml_node& n, std::initializer_list<const char*> attributes,
              std::initializer_list<const char*> children = {}) const {
    for (const auto& a : n.attributes()) {
      if (std::none_of(attributes.begin(), attributes.end(),
                       [&](const char* s) { return std::string(s) == a.name(); })) {
        return error(n, "<" + std::string(n.name()) + "> has no attribute '" + a.name() +
                            "'; allowed: " + join(attributes));
      }
    }
    for (const auto& c : n.children()) {
      if (c.type() != pugi::node_element) continue;
      if (std::none_of(children.begin(), children.end(),
                       [&](const char* s) { return std::string(s) == c.name(); })) {
        return error(c, "unknown element <" + std::string(c.name()) + "> in <" + n.name() + ">" +
                            (children.size() ? "; allowed: " + join(children) : ""));
      }
    }
    return {};
  }

  Result<std::string> required(const pugi::xml_node& n, const char* attribute) const {
    const auto a = n.attribute(attribute);
    if (!a || std::string(a.value()).empty()) {
      return error(n, "<" + std::string(n.name()) + "> needs " + attribute + "=\"...\"");
    }
    return std::string(a.value());
  }

  fs::path path(const std::string& value) const {
    const fs::path p(value);
    return p.is_absolute() ? p : (base_ / p).lexically_normal();
  }

  // A file that must exist and be readable when the gateway starts.
  Result<fs::path> existing_file(const pugi::xml_node& n, const char* attribute) const {
    auto value = required(n, attribute);
    if (!value) return value.error();
    const fs::path p = path(*value);
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      return error(n, std::string(attribute) + "=\"" + *value + "\": no such file (" + p.string() +
                          "); fix the path, relative to the config file");
    }
    return p;
  }

  Result<Listen> listen(const pugi::xml_node& n) const {
    auto value = required(n, "listen");
    if (!value) return value.error();
    const auto colon = value->rfind(':');
    Listen l;
    if (colon == std::string::npos || colon == 0) {
      return error(n, "listen=\"" + *value + "\" must be HOST:PORT, such as 127.0.0.1:8080");
    }
    l.host = value->substr(0, colon);
    if (l.host.size() > 2 && l.host.front() == '[' && l.host.back() == ']') {
      l.host = l.host.substr(1, l.host.size() - 2);
    }
    const std::string port = value->substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoul(port) > 65535) {
      return error(n, "listen=\"" + *value + "\": the port must be a number from 0 to 65535");
    }
    l.port = static_cast<std::uint16_t>(std::stoul(port));
    return l;
  }

  Result<std::optional<TlsConfig>> tls(const pugi::xml_node& n) const {
    const bool cert = n.attribute("tls-cert");
    const bool key = n.attribute("tls-key");
    if (!cert && !key) {
      if (n.attribute("tls-client-ca")) return error(n, "tls-client-ca needs tls-cert and tls-key");
      return std::optional<TlsConfig>();
    }
    if (cert != key) return error(n, "give both tls-cert and tls-key, or neither");
    auto c = existing_file(n, "tls-cert");
    if (!c) return c.error();
    auto k = existing_file(n, "tls-key");
    if (!k) return k.error();
    TlsConfig t{*c, *k, {}};
    if (n.attribute("tls-client-ca")) {
      auto ca = existing_file(n, "tls-client-ca");
      if (!ca) return ca.error();
      t.client_ca = *ca;
    }
    return std::optional<TlsConfig>(std::move(t));
  }

  Result<std::uint64_t> max_body(const pugi::xml_node& n) const {
    if (!n.attribute("max-body")) return std::uint64_t{64} << 20;
    auto size = parse_size(n.attribute("max-body").value());
    if (!size) return error(n, "max-body: " + size.error().message);
    if (*size == 0) return error(n, "max-body must be more than 0 bytes");
    return *size;
  }

  // A whole number from `low` to `high` (digits only: no sign, no spaces,
  // no unit), or `fallback` when the attribute is absent. `high_name` names
  // where the upper bound comes from, when it is another setting.
  Result<std::uint64_t> number(const pugi::xml_node& n, const char* attribute, std::uint64_t low,
                               std::uint64_t high, std::uint64_t fallback,
                               const std::string& high_name = "") const {
    const auto a = n.attribute(attribute);
    if (!a) return fallback;
    const std::string v = a.value();
    const auto refused = [&] {
      return error(n, std::string(attribute) + "=\"" + v + "\" must be a whole number from " +
                          std::to_string(low) + " to " + std::to_string(high) +
                          (high_name.empty() ? "" : " (" + high_name + ")"));
    };
    // At most 18 digits: stoull cannot overflow; the range check does the rest.
    if (v.empty() || v.size() > 18 ||
        !std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return refused();
    const std::uint64_t value = std::stoull(v);
    if (value < low || value > high) return refused();
    return value;
  }

  // header-timeout: "10" (seconds) or a duration in whole seconds ("10s", "1m").
  Result<std::chrono::seconds> header_timeout(const pugi::xml_node& n) const {
    const auto a = n.attribute("header-timeout");
    if (!a) return std::chrono::seconds(10);
    const std::string v = a.value();
    // A bare number is seconds; parse_duration bounds its digits.
    const bool bare = !v.empty() && std::all_of(v.begin(), v.end(),
                                                [](char ch) { return ch >= '0' && ch <= '9'; });
    const auto ms = parse_duration(bare ? v + "s" : v);
    if (!ms || ms->count() % 1000 != 0 || *ms < std::chrono::seconds(1) ||
        *ms > std::chrono::seconds(600)) {
      return error(n, "header-timeout=\"" + v +
                          "\" must be whole seconds from 1 to 600, such as \"10\" or \"10s\"");
    }
    return std::chrono::duration_cast<std::chrono::seconds>(*ms);
  }

  // The connection and memory limits of a listener (gateway/http_server.h).
  Status listener_limits(const pugi::xml_node& n, ListenerConfig& out) const {
    const std::uint64_t default_budget = std::max<std::uint64_t>(256ull << 20, out.max_body_bytes);
    if (n.attribute("max-bodies-in-flight")) {
      const std::string v = n.attribute("max-bodies-in-flight").value();
      auto size = parse_size(v);
      if (!size) return error(n, "max-bodies-in-flight: " + size.error().message);
      if (*size < out.max_body_bytes) {
        return error(n, "max-bodies-in-flight=\"" + v + "\" is less than max-body (" +
                            std::to_string(out.max_body_bytes) +
                            " bytes): one body of the largest size would never be admitted; "
                            "raise max-bodies-in-flight or lower max-body");
      }
      out.max_bodies_in_flight = *size;
    } else {
      out.max_bodies_in_flight = default_budget;
    }
    auto timeout = header_timeout(n);
    if (!timeout) return timeout.error();
    out.header_timeout = *timeout;
    auto connections = number(n, "max-connections", 1, 65536, 512);
    if (!connections) return connections.error();
    out.max_connections = static_cast<std::size_t>(*connections);
    auto per_address = number(n, "max-connections-per-address", 1, *connections,
                              std::min<std::uint64_t>(128, *connections), "max-connections");
    if (!per_address) return per_address.error();
    out.max_connections_per_address = static_cast<std::size_t>(*per_address);
    return {};
  }

  // The attributes of <api> and <exchange>; their children are <client>s.
  // `hub`: <exchange>, which also takes register-agencies and <agency>.
  Status listener(const pugi::xml_node& n, ListenerConfig& out, bool hub = false) const {
    if (auto st = hub ? only(n,
                             {"listen", "max-body", "max-bodies-in-flight", "header-timeout",
                              "max-connections", "max-connections-per-address", "tls-cert",
                              "tls-key", "tls-client-ca", "register-agencies"},
                             {"client", "agency"})
                      : only(n,
                             {"listen", "max-body", "max-bodies-in-flight", "header-timeout",
                              "max-connections", "max-connections-per-address", "tls-cert",
                              "tls-key", "tls-client-ca"},
                             {"client"});
        !st)
      return st;
    out.line = line(n);
    auto l = listen(n);
    if (!l) return l.error();
    out.listen = *l;
    auto body = max_body(n);
    if (!body) return body.error();
    out.max_body_bytes = *body;
    if (auto st = listener_limits(n, out); !st) return st;
    auto t = tls(n);
    if (!t) return t.error();
    out.tls = *t;
    return {};
  }

 private:
  static std::string join(std::initializer_list<const char*> names) {
    std::string out;
    for (const char* s : names) out += (out.empty() ? "" : ", ") + std::string(s);
    return out.empty() ? "none" : out;
  }

  fs::path path_;
  fs::path base_;
  std::vector<size_t> newlines_;
};

bool is_lower_hex64(const std::string& s) {
  return s.size() == 64 && is_lower_hex(s);
}

std::vector<std::string> pattern_groups(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t dot; (dot = s.find('.', start)) != std::string::npos; start = dot + 1)
    out.push_back(s.substr(start, dot - start));
  out.push_back(s.substr(start));
  return out;
}

// Whether some agency code could match both patterns.
bool patterns_overlap(const std::string& a, const std::string& b) {
  if (a == "*" || b == "*") return true;
  const auto ga = pattern_groups(a), gb = pattern_groups(b);
  if (ga.size() != gb.size()) return false;
  for (size_t i = 0; i < ga.size(); ++i) {
    if (ga[i] != "*" && gb[i] != "*" && ga[i] != gb[i]) return false;
  }
  return true;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// <accept>: one rule of the policy for incoming packages.
Result<AcceptRule> parse_accept(const Reader& r, const pugi::xml_node& n,
                                std::map<fs::path, std::shared_ptr<const OrganMap>>& maps) {
  if (auto st = r.only(n, {"from", "adapter", "unsigned", "sha1", "c14n", "organ-map", "pdf",
                           "pdf-signatures", "pdf-official", "pdf-cannot-verify", "revocation"});
      !st)
    return st.error();
  AcceptRule rule;
  rule.line = r.line(n);
  auto from = r.required(n, "from");
  if (!from) return from.error();
  rule.from = *from;
  const bool exact_code = rule.from.find('*') == std::string::npos &&
                          edxml::classify_agency_code(rule.from) != edxml::AgencyCodeForm::invalid;
  if (!exact_code) {
    if (auto st = RouteTable::validate_pattern(rule.from); !st) {
      return r.error(n, "from=\"" + rule.from +
                            "\" is neither a pattern such as 000.00.*.H50 or \"*\" nor an agency "
                            "code (" +
                            st.error().message + ")");
    }
  }
  if (n.attribute("adapter")) {
    auto adapter = r.required(n, "adapter");
    if (!adapter) return adapter.error();
    rule.adapter = *adapter;
  }
  auto choice =
      [&](const char* name,
          std::initializer_list<const char*> values) -> Result<std::optional<std::string>> {
    const auto a = n.attribute(name);
    if (!a) return std::optional<std::string>();
    const std::string v = a.value();
    std::string allowed;
    for (const char* x : values) {
      if (v == x) return std::optional<std::string>(v);
      allowed += (allowed.empty() ? "" : " or ") + std::string(x);
    }
    return r.error(n, std::string(name) + "=\"" + v + "\" must be " + allowed);
  };
  auto u = choice("unsigned", {"refuse", "accept"});
  if (!u) return u.error();
  if (*u)
    rule.unsigned_packages = **u == "accept" ? UnsignedPolicy::accept : UnsignedPolicy::refuse;
  auto sha1 = choice("sha1", {"refuse", "warn"});
  if (!sha1) return sha1.error();
  if (*sha1) rule.sha1 = **sha1 == "warn" ? Sha1Policy::warn : Sha1Policy::refuse;
  auto c14n = choice("c14n", {"exclusive", "inclusive-warn"});
  if (!c14n) return c14n.error();
  if (*c14n)
    rule.c14n = **c14n == "inclusive-warn" ? C14nPolicy::inclusive_warn : C14nPolicy::exclusive;
  auto pdf_signatures = choice("pdf-signatures", {"none", "any", "organisation"});
  if (!pdf_signatures) return pdf_signatures.error();
  rule.pdf_signatures = *pdf_signatures;
  // pdf="require-sender" is INTERFACE.md's short form of pdf-signatures.
  auto pdf_short = choice("pdf", {"none", "require-any", "require-sender"});
  if (!pdf_short) return pdf_short.error();
  if (*pdf_short) {
    if (rule.pdf_signatures)
      return r.error(n, "pdf= and pdf-signatures= say the same thing; give one");
    rule.pdf_signatures = **pdf_short == "require-sender" ? "organisation"
                          : **pdf_short == "require-any"  ? "any"
                                                          : "none";
  }
  auto pdf_official = choice("pdf-official", {"optional", "required"});
  if (!pdf_official) return pdf_official.error();
  rule.pdf_official = *pdf_official;
  auto pdf_cannot = choice("pdf-cannot-verify", {"refuse", "report"});
  if (!pdf_cannot) return pdf_cannot.error();
  rule.pdf_cannot_verify = *pdf_cannot;
  auto revocation = choice("revocation", {"require", "prefer", "off"});
  if (!revocation) return revocation.error();
  if (*revocation)
    rule.revocation = **revocation == "require"  ? Revocation::require
                      : **revocation == "prefer" ? Revocation::prefer
                                                 : Revocation::off;
  if (n.attribute("organ-map")) {
    auto file = r.existing_file(n, "organ-map");
    if (!file) return file.error();
    auto& cached = maps[*file];
    if (!cached) {
      auto map = load_organ_map(*file);
      if (!map) {
        return r.error(n, "organ-map=\"" + std::string(n.attribute("organ-map").value()) +
                              "\": " + map.error().message);
      }
      cached = std::make_shared<const OrganMap>(std::move(*map));
    }
    rule.organ_map = cached;
  }
  return rule;
}

}  // namespace

Result<OrganMap> parse_organ_map(const std::string& text, const fs::path& file) {
  OrganMap map;
  map.file = file;
  std::map<std::string, int> seen;
  size_t start = 0;
  for (int n = 1; start <= text.size(); ++n) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = trim(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const std::string where = file.string() + ":" + std::to_string(n) + ": ";
    const auto space = line.find_last_of(" \t");
    if (space == std::string::npos) {
      return make_error(Errc::invalid, where +
                                           "expected 'sha256:FINGERPRINT ORGAN_ID' or "
                                           "'subject:RFC2253-SUBJECT ORGAN_ID'");
    }
    std::string key = trim(line.substr(0, space));
    const std::string organ = line.substr(space + 1);
    const auto form = edxml::classify_agency_code(organ);
    if (form == edxml::AgencyCodeForm::invalid) {
      return make_error(Errc::invalid,
                        where + "'" + organ + "' is not an agency code such as 000.00.12.H50");
    }
    if (form != edxml::AgencyCodeForm::strict) {
      map.warnings.push_back(where + "'" + organ + "' is not a strict agency code");
    }
    std::map<std::string, std::string>* target = nullptr;
    if (key.rfind("subject:", 0) == 0) {
      key = trim(key.substr(8));
      if (key.empty()) return make_error(Errc::invalid, where + "subject: names no subject");
      target = &map.by_subject;
    } else {
      std::string hex = key.rfind("sha256:", 0) == 0 ? key.substr(7) : key;
      std::string fp;
      for (char ch : hex) {
        if (ch == ':') continue;
        fp += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      if (!is_lower_hex64(fp)) {
        return make_error(Errc::invalid,
                          where + "'" + key +
                              "' is neither sha256:FINGERPRINT (64 hex digits of the "
                              "certificate's SHA-256) nor subject:RFC2253-SUBJECT");
      }
      key = "sha256:" + fp;
      target = &map.by_fingerprint;
    }
    if (auto [it, fresh] = seen.emplace(key, n); !fresh) {
      return make_error(Errc::invalid, where + "a second entry for " + key +
                                           " (the first is line " + std::to_string(it->second) +
                                           ")");
    }
    (*target)[target == &map.by_fingerprint ? key.substr(7) : key] = organ;
  }
  return map;
}

Result<OrganMap> load_organ_map(const fs::path& file) {
  auto text = read_file(file);
  if (!text) return text.error();
  return parse_organ_map(*text, file);
}

int AcceptRule::sender_specificity() const {
  if (from == "*") return -1;
  int literal = 0;
  for (const auto& g : pattern_groups(from)) literal += g != "*";
  return literal;
}

std::string AcceptRule::text() const {
  return "<accept from=\"" + from + "\"" + (adapter.empty() ? "" : " adapter=\"" + adapter + "\"") +
         "> at line " + std::to_string(line);
}

ResolvedAcceptPolicy TrustConfig::policy_for(std::string_view sender,
                                             std::string_view adapter) const {
  std::vector<const AcceptRule*> matching;
  for (const auto& rule : accept) {
    if (!rule.adapter.empty() && rule.adapter != adapter) continue;
    if (!pattern_matches(rule.from, std::string(sender))) continue;
    matching.push_back(&rule);
  }
  // Most specific first; the loader has refused ties that could both match.
  std::stable_sort(matching.begin(), matching.end(), [](const AcceptRule* a, const AcceptRule* b) {
    const int sa = a->sender_specificity(), sb = b->sender_specificity();
    if (sa != sb) return sa > sb;
    return !a->adapter.empty() && b->adapter.empty();
  });
  ResolvedAcceptPolicy p;
  for (const char* s : {"unsigned", "sha1", "c14n", "organ-map", "pdf-signatures", "pdf-official",
                        "pdf-cannot-verify"})
    p.sources[s] = "default";
  p.revocation = revocation;
  p.sources["revocation"] = "trust";
  if (!matching.empty()) p.rule = matching.front()->text();
  // Least specific first, so that more specific rules overwrite.
  for (auto it = matching.rbegin(); it != matching.rend(); ++it) {
    const AcceptRule& r = **it;
    const std::string from = "line " + std::to_string(r.line);
    if (r.unsigned_packages) {
      p.unsigned_packages = *r.unsigned_packages;
      p.sources["unsigned"] = from;
    }
    if (r.sha1) {
      p.sha1 = *r.sha1;
      p.sources["sha1"] = from;
    }
    if (r.c14n) {
      p.c14n = *r.c14n;
      p.sources["c14n"] = from;
    }
    if (r.organ_map) {
      p.organ_map = r.organ_map;
      p.sources["organ-map"] = from;
    }
    if (r.revocation) {
      p.revocation = *r.revocation;
      p.sources["revocation"] = from;
    }
    for (auto [value, target, name] :
         {std::tuple{&r.pdf_signatures, &p.pdf_signatures, "pdf-signatures"},
          std::tuple{&r.pdf_official, &p.pdf_official, "pdf-official"},
          std::tuple{&r.pdf_cannot_verify, &p.pdf_cannot_verify, "pdf-cannot-verify"}}) {
      if (!*value) continue;
      *target = **value;
      p.sources[name] = from;
    }
  }
  return p;
}

namespace {

// <exchange>: the listener, its clients and the hub's agency directory.
Result<ExchangeConfig> parse_exchange(const Reader& r, const pugi::xml_node& ex) {
  ExchangeConfig e;
  if (auto st = r.listener(ex, e, /*hub=*/true); !st) return st.error();
  const std::string reg = ex.attribute("register-agencies").as_string("refuse");
  if (reg != "allow" && reg != "refuse")
    return r.error(ex, "register-agencies=\"" + reg + "\" must be allow or refuse");
  e.register_agencies = reg == "allow";
  std::set<std::string> ids, organs;
  for (const auto& client : ex.children("client")) {
    if (auto st = r.only(client, {"system-id", "organ-id", "secret-file"}); !st) return st.error();
    auto sid = r.required(client, "system-id");
    if (!sid) return sid.error();
    auto organ_list = r.required(client, "organ-id");
    if (!organ_list) return organ_list.error();
    ExchangeClient cl;
    std::istringstream words(*organ_list);
    for (std::string organ; words >> organ;) {
      if (!edxml::is_strict_agency_code(organ)) {
        return r.error(client,
                       "organ-id \"" + organ + "\" is not an agency code such as 000.00.13.H50");
      }
      if (!organs.insert(organ).second)
        return r.error(client, "organ " + organ + " is already served by another client");
      cl.organ_ids.push_back(organ);
    }
    if (cl.organ_ids.empty()) return r.error(client, "organ-id names no agency code");
    auto secret = r.existing_file(client, "secret-file");
    if (!secret) return secret.error();
    if (!ids.insert(*sid).second)
      return r.error(client, "a second client with system-id '" + *sid + "'");
    cl.system_id = *sid;
    cl.organ_id = cl.organ_ids.front();
    cl.secret_file = *secret;
    cl.line = r.line(client);
    e.clients.push_back(std::move(cl));
  }
  std::set<std::string> codes;
  for (const auto& agency : ex.children("agency")) {
    if (auto st = r.only(agency, {"code", "name", "mail", "pid"}); !st) return st.error();
    auto code = r.required(agency, "code");
    if (!code) return code.error();
    auto name = r.required(agency, "name");
    if (!name) return name.error();
    if (!edxml::is_strict_agency_code(*code)) {
      return r.error(agency, "code=\"" + *code + "\" is not an agency code such as 000.00.13.H50");
    }
    if (!codes.insert(*code).second) return r.error(agency, "a second agency " + *code);
    e.agencies.push_back({*code, *name, agency.attribute("mail").as_string(),
                          agency.attribute("pid").as_string(), r.line(agency)});
  }
  return e;
}

}  // namespace

const ExchangeClient* ExchangeConfig::client_for_organ(const std::string& organ_id) const {
  for (const auto& c : clients) {
    for (const auto& o : c.organ_ids) {
      if (o == organ_id) return &c;
    }
  }
  return nullptr;
}

const AdapterConfig* GatewayConfig::adapter(const std::string& name) const {
  for (const auto& a : adapters) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string GatewayConfig::where(int line) const {
  return source.string() + ":" + std::to_string(line);
}

Result<std::chrono::milliseconds> parse_duration(const std::string& text) {
  const auto refused = [&](const std::string& why) {
    return make_error(Errc::invalid,
                      "'" + text + "' is not a duration such as 500ms, 2s, 5m, 1h or 30d" + why);
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string unit = text.substr(digits);
  if (digits == 0 || digits > 12) return refused("");
  // At most 12 digits: the value fits, and so does its product with any unit
  // below (< 2^63); kMaxDuration then bounds what the gateway will wait.
  const long long n = std::stoll(text.substr(0, digits));
  long long ms = 0;
  if (unit == "ms") {
    ms = n;
  } else if (unit == "s") {
    ms = n * 1000;
  } else if (unit == "m") {
    ms = n * 60'000;
  } else if (unit == "h") {
    ms = n * 3'600'000;
  } else if (unit == "d") {
    ms = n * 86'400'000;
  } else {
    return refused("");
  }
  if (std::chrono::milliseconds(ms) > kMaxDuration) {
    return refused(" of at most " + std::to_string(kMaxDuration.count() / 3'600'000) + "h");
  }
  return std::chrono::milliseconds(ms);
}

Result<std::uint64_t> parse_size(const std::string& text) {
  const auto refused = [&](const std::string& why) {
    return make_error(Errc::invalid,
                      "'" + text + "' is not a size such as 64MB, 512KB or 1048576" + why);
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string unit = text.substr(digits);
  if (digits == 0 || digits > 15) return refused("");
  const std::uint64_t n = std::stoull(text.substr(0, digits));
  unsigned shift = 0;
  if (unit == "KB") {
    shift = 10;
  } else if (unit == "MB") {
    shift = 20;
  } else if (unit == "GB") {
    shift = 30;
  } else if (!unit.empty() && unit != "B") {
    return refused("");
  }
  // Compared before the shift: a shift past 64 bits would wrap silently
  // (17179869184GB was 0).
  if (n > (kMaxSize >> shift)) {
    return refused(" of at most " + std::to_string(kMaxSize >> 30) + "GB");
  }
  return n << shift;
}

Result<GatewayConfig> load_config(const fs::path& path) {
  // read_file refuses a FIFO or device at once: a config replaced by a FIFO
  // must not block the SIGHUP reload or `config check`.
  auto bytes = read_file(path, kMaxConfigBytes);
  if (!bytes) return bytes.error();
  return parse_config(*bytes, path);
}

namespace {

// The path validation and fetching attributes of <trust> (TrustConfig).
Status parse_trust_path_and_fetch(const Reader& r, const pugi::xml_node& trust, TrustConfig& t) {
  if (trust.attribute("policies")) {
    std::istringstream words(trust.attribute("policies").value());
    for (std::string oid; words >> oid;) {
      const bool dotted =
          std::all_of(oid.begin(), oid.end(),
                      [](char ch) { return ch == '.' || (ch >= '0' && ch <= '9'); }) &&
          oid.find("..") == std::string::npos && oid.front() != '.' && oid.back() != '.' &&
          oid.find('.') != std::string::npos;
      if (!dotted || oid.size() > 128)
        return r.error(trust,
                       "policies: \"" + oid + "\" is not a dotted OID such as 2.16.704.1.2.3");
      t.policies.push_back(oid);
    }
    if (t.policies.empty())
      return r.error(trust, "policies=\"\" names no OID; leave it out to require none");
  }
  for (auto [name, target] : {std::pair{"policy-mapping", &t.inhibit_policy_mapping},
                              std::pair{"any-policy", &t.inhibit_any_policy}}) {
    const std::string v = trust.attribute(name).as_string("allow");
    if (v != "allow" && v != "inhibit")
      return r.error(trust, std::string(name) + "=\"" + v + "\" must be allow or inhibit");
    *target = v == "inhibit";
  }
  const std::string fetch = trust.attribute("crl-fetch").as_string("off");
  if (fetch != "on" && fetch != "off") return r.error(trust, "crl-fetch must be on or off");
  t.crl_fetch = fetch == "on" && t.revocation != Revocation::off;
  if (trust.attribute("crl-max-size")) {
    auto size = parse_size(trust.attribute("crl-max-size").value());
    if (!size) return r.error(trust, "crl-max-size: " + size.error().message);
    if (*size < 1024 || *size > (1ull << 30))
      return r.error(trust, "crl-max-size must be from 1KB to 1GB");
    t.crl_max_bytes = *size;
  }
  auto in_flight = r.number(trust, "fetches-in-flight", 1, 64, 4);
  if (!in_flight) return in_flight.error();
  t.fetches_in_flight = static_cast<std::size_t>(*in_flight);
  if (trust.attribute("fetch-timeout")) {
    auto d = parse_duration(trust.attribute("fetch-timeout").as_string());
    if (!d) return r.error(trust, "fetch-timeout: " + d.error().message);
    if (*d < std::chrono::milliseconds(100) || *d > std::chrono::minutes(10))
      return r.error(trust, "fetch-timeout must be from 100ms to 10m");
    t.fetch_timeout = *d;
  }
  if (trust.attribute("clock-skew")) {
    auto d = parse_duration(trust.attribute("clock-skew").as_string());
    if (!d) return r.error(trust, "clock-skew: " + d.error().message);
    if (*d > std::chrono::hours(1)) return r.error(trust, "clock-skew must be at most 1h");
    t.clock_skew = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  return {};
}

}  // namespace

Result<GatewayConfig> parse_config(const std::string& bytes, const fs::path& path) {
  Reader r(bytes, path);
  pugi::xml_document doc;
  // No DOCTYPE processing: pugixml never loads external entities; parse_default
  // does not expand custom entities either.
  const pugi::xml_parse_result parsed =
      doc.load_buffer(bytes.data(), bytes.size(), pugi::parse_default);
  if (!parsed) {
    return make_error(Errc::invalid, r.where(r.line_at(static_cast<size_t>(parsed.offset))) +
                                         ": not well-formed XML: " + parsed.description());
  }
  const pugi::xml_node g = doc.document_element();
  if (std::string(g.name()) != "gateway") {
    return r.error(g, "the root element must be <gateway>, not <" + std::string(g.name()) + ">");
  }
  if (auto st = r.only(
          g, {"organ-id", "name", "data-dir", "expiry-warning"},
          {"identity", "trust", "api", "exchange", "adapters", "routes", "signature-log", "store"});
      !st) {
    return st.error();
  }
  GatewayConfig c;
  c.source = path;
  c.sha256 = sha256_hex(bytes);
  auto organ = r.required(g, "organ-id");
  if (!organ) return organ.error();
  if (!edxml::is_strict_agency_code(*organ)) {
    return r.error(g, "organ-id=\"" + *organ + "\" is not an agency code such as 000.00.12.H50");
  }
  c.organ_id = *organ;
  auto name = r.required(g, "name");
  if (!name) return name.error();
  c.name = *name;
  auto data_dir = r.required(g, "data-dir");
  if (!data_dir) return data_dir.error();
  c.data_dir = r.path(*data_dir);
  if (g.attribute("expiry-warning")) {
    auto d = parse_duration(g.attribute("expiry-warning").as_string());
    if (!d || *d < std::chrono::hours(24) || *d > std::chrono::hours(24 * 366)) {
      return r.error(g, "expiry-warning=\"" + std::string(g.attribute("expiry-warning").value()) +
                            "\" must be a duration from 1d to 366d, such as \"30d\"");
    }
    c.expiry_warning = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }

  // <identity>
  const pugi::xml_node id = g.child("identity");
  if (!id) return r.error(g, "<gateway> needs an <identity cert=... key=...> to sign with");
  if (auto st = r.only(id, {"cert", "key", "chain", "pass"}); !st) return st.error();
  c.identity.line = r.line(id);
  auto cert = r.existing_file(id, "cert");
  if (!cert) return cert.error();
  c.identity.cert = *cert;
  auto key = r.existing_file(id, "key");
  if (!key) return key.error();
  c.identity.key = *key;
  if (id.attribute("chain")) {
    auto chain = r.existing_file(id, "chain");
    if (!chain) return chain.error();
    c.identity.chain = *chain;
  }
  if (id.attribute("pass")) {
    const std::string pass = id.attribute("pass").value();
    if (pass.rfind("env:", 0) == 0) {
      c.identity.pass = pass;
    } else if (pass.rfind("file:", 0) == 0) {
      c.identity.pass = "file:" + r.path(pass.substr(5)).string();
    } else {
      return r.error(id,
                     "pass=\"...\" must be env:VARIABLE or file:PATH, never the passphrase itself");
    }
  }

  // <trust>
  const pugi::xml_node trust = g.child("trust");
  if (!trust)
    return r.error(g, "<gateway> needs a <trust anchors=...> to verify incoming packages");
  if (trust.attribute("allow-sha1")) {
    return r.error(trust,
                   "allow-sha1 is gone: say it per sender with <accept from=\"PATTERN\" "
                   "sha1=\"warn\"/> inside <trust>");
  }
  if (auto st = r.only(trust,
                       {"anchors", "crl", "revocation", "ocsp", "ocsp-url", "ocsp-timeout",
                        "policies", "policy-mapping", "any-policy", "crl-fetch", "crl-max-size",
                        "fetches-in-flight", "fetch-timeout", "clock-skew"},
                       {"accept"});
      !st)
    return st.error();
  c.trust.line = r.line(trust);
  auto anchors = r.existing_file(trust, "anchors");
  if (!anchors) return anchors.error();
  c.trust.anchors.push_back(*anchors);
  if (trust.attribute("crl")) {
    auto crl = r.existing_file(trust, "crl");
    if (!crl) return crl.error();
    c.trust.crls.push_back(*crl);
  }
  const std::string revocation = trust.attribute("revocation").as_string("prefer");
  if (revocation == "require") {
    c.trust.revocation = Revocation::require;
  } else if (revocation == "prefer") {
    c.trust.revocation = Revocation::prefer;
  } else if (revocation == "off") {
    c.trust.revocation = Revocation::off;
  } else {
    return r.error(trust, "revocation=\"" + revocation + "\" must be require, prefer or off");
  }
  const std::string ocsp = trust.attribute("ocsp").as_string("off");
  if (ocsp != "on" && ocsp != "off") return r.error(trust, "ocsp must be on or off");
  c.trust.ocsp = ocsp == "on" && c.trust.revocation != Revocation::off;
  c.trust.ocsp_url = trust.attribute("ocsp-url").as_string("");
  if (!c.trust.ocsp_url.empty() && c.trust.ocsp_url.rfind("http://", 0) != 0 &&
      c.trust.ocsp_url.rfind("https://", 0) != 0) {
    return r.error(trust, "ocsp-url must start with http:// or https://");
  }
  if (!c.trust.ocsp_url.empty() && ocsp != "on") {
    return r.error(trust, "ocsp-url needs ocsp=\"on\"");
  }
  if (trust.attribute("ocsp-timeout")) {
    auto d = parse_duration(trust.attribute("ocsp-timeout").as_string());
    if (!d) return r.error(trust, "ocsp-timeout: " + d.error().message);
    c.trust.ocsp_timeout = *d;
  }
  if (auto st = parse_trust_path_and_fetch(r, trust, c.trust); !st) return st.error();
  const bool has_source = !c.trust.crls.empty() || c.trust.ocsp || c.trust.crl_fetch;
  if (c.trust.revocation == Revocation::require && !has_source) {
    return r.error(trust,
                   "revocation=\"require\" needs crl=\"...\", crl-fetch=\"on\" or ocsp=\"on\": "
                   "give the CRL file, fetch CRLs or turn OCSP on");
  }
  {
    std::map<fs::path, std::shared_ptr<const OrganMap>> maps;
    for (const auto& n : trust.children("accept")) {
      auto rule = parse_accept(r, n, maps);
      if (!rule) return rule.error();
      // Two rules that could match one package with the same specificity
      // would make the outcome depend on their order: refuse them.
      for (const auto& other : c.trust.accept) {
        if (other.sender_specificity() == rule->sender_specificity() &&
            other.adapter.empty() == rule->adapter.empty() &&
            (other.adapter.empty() || other.adapter == rule->adapter) &&
            patterns_overlap(other.from, rule->from)) {
          return r.error(n, "this <accept> and the one at line " + std::to_string(other.line) +
                                " can match the same sender" +
                                (rule->adapter.empty() ? "" : " and adapter") +
                                " with the same specificity; make one more specific or merge them");
        }
      }
      if (rule->revocation == Revocation::require && !has_source) {
        return r.error(n,
                       "revocation=\"require\" needs a source of revocation data in <trust>: "
                       "crl=\"...\", crl-fetch=\"on\" or ocsp=\"on\"");
      }
      if (rule->revocation && *rule->revocation != Revocation::off &&
          c.trust.revocation == Revocation::off) {
        return r.error(
            n, "revocation=\"" +
                   std::string(rule->revocation == Revocation::require ? "require" : "prefer") +
                   "\" under <trust revocation=\"off\">: revocation data is not "
                   "loaded when <trust> turns it off; set it on <trust> and use "
                   "revocation=\"off\" on the senders that need it off");
      }
      c.trust.accept.push_back(std::move(*rule));
    }
  }

  // <signature-log>
  if (const pugi::xml_node sl = g.child("signature-log")) {
    if (auto st = r.only(sl, {"checkpoint-every"}); !st) return st.error();
    if (sl.attribute("checkpoint-every")) {
      auto d = parse_duration(sl.attribute("checkpoint-every").as_string());
      if (!d || d->count() < 100)
        return r.error(sl, "checkpoint-every must be a duration of at least 100ms, like \"60s\"");
      c.checkpoint_every = *d;
    }
  }

  // <store>
  if (const pugi::xml_node st = g.child("store")) {
    if (auto ok = r.only(st, {"type", "segment-size", "retention", "dsn", "pool-size", "node-id",
                              "delivery-lease"});
        !ok)
      return ok.error();
    c.store.line = r.line(st);
    const std::string type = st.attribute("type").as_string("sqlite");
    if (type == "postgresql") {
      c.store.type = StoreConfig::Type::postgresql;
    } else if (type != "sqlite") {
      return r.error(st, "type=\"" + type + "\" must be sqlite or postgresql");
    }
    const bool pg = c.store.type == StoreConfig::Type::postgresql;
    for (const char* only_pg : {"dsn", "pool-size", "node-id"}) {
      if (!pg && st.attribute(only_pg))
        return r.error(st, std::string(only_pg) + " is for type=\"postgresql\"");
    }
    if (pg && st.attribute("segment-size"))
      return r.error(st, "segment-size is for type=\"sqlite\" (PostgreSQL keeps the bytes)");
    if (pg) {
      c.store.dsn = st.attribute("dsn").as_string();
      if (c.store.dsn.empty())
        return r.error(st, "type=\"postgresql\" needs dsn=\"host=... dbname=... user=...\"");
      if (c.store.dsn.find("password") != std::string::npos)
        return r.error(st,
                       "dsn must not hold the password: put it in ~/.pgpass or the file "
                       "PGPASSFILE names");
      if (st.attribute("pool-size")) {
        const std::string v = st.attribute("pool-size").as_string();
        if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos ||
            std::stoi(v) < 2 || std::stoi(v) > 256)
          return r.error(st, "pool-size must be a number from 2 to 256");
        c.store.pool_size = std::stoi(v);
      }
      c.store.node_id = st.attribute("node-id").as_string();
      if (c.store.node_id.size() > 128)
        return r.error(st, "node-id must be at most 128 characters");
    }
    if (st.attribute("delivery-lease")) {
      auto d = parse_duration(st.attribute("delivery-lease").as_string());
      if (!d || *d < std::chrono::seconds(5) || *d > std::chrono::hours(24))
        return r.error(st, "delivery-lease must be a duration from 5s to 24h, like \"5m\"");
      c.store.delivery_lease = std::chrono::duration_cast<std::chrono::seconds>(*d);
    }
    if (st.attribute("segment-size")) {
      auto size = parse_size(st.attribute("segment-size").as_string());
      if (!size) return r.error(st, "segment-size: " + size.error().message);
      if (*size < 4096 || *size > (std::uint64_t{4} << 30))
        return r.error(st, "segment-size must be between 4KB and 4GB");
      c.store.segment_bytes = *size;
    }
    if (st.attribute("retention")) {
      // Days ("3650d"), or any duration parse_duration reads ("90s" for tests).
      const std::string v = st.attribute("retention").as_string();
      std::int64_t seconds = 0;
      if (!v.empty() && v.back() == 'd') {
        const std::string digits = v.substr(0, v.size() - 1);
        if (digits.empty() || digits.size() > 6 ||
            digits.find_first_not_of("0123456789") != std::string::npos)
          return r.error(st, "retention=\"" + v + "\" is not a number of days such as 3650d");
        seconds = std::stoll(digits) * 86'400;
      } else {
        auto d = parse_duration(v);
        if (!d)
          return r.error(st, "retention=\"" + v + "\" is not a duration such as 3650d or 12h");
        seconds = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
      }
      if (seconds < 1)
        return r.error(st, "retention must be at least 1s (leave it out to keep every body)");
      c.store.retention = std::chrono::seconds(seconds);
    }
  }

  // <api>
  if (const pugi::xml_node api = g.child("api")) {
    ApiConfig a;
    if (auto st = r.listener(api, a); !st) return st.error();
    std::set<std::string> names;
    for (const auto& client : api.children("client")) {
      if (auto st = r.only(client, {"name", "token-sha256"}); !st) return st.error();
      auto cname = r.required(client, "name");
      if (!cname) return cname.error();
      auto token = r.required(client, "token-sha256");
      if (!token) return token.error();
      if (!is_lower_hex64(*token)) {
        return r.error(client,
                       "token-sha256 must be the lower-case hex SHA-256 of the token "
                       "(64 characters): printf %s TOKEN | sha256sum");
      }
      if (!names.insert(*cname).second)
        return r.error(client, "a second client named '" + *cname + "'");
      a.clients.push_back({*cname, *token, r.line(client)});
    }
    if (a.clients.empty()) {
      return r.error(api,
                     "<api> needs at least one <client name=... token-sha256=...>: every call "
                     "but /healthz needs a token");
    }
    c.api = std::move(a);
  }

  // <exchange>
  if (const pugi::xml_node ex = g.child("exchange")) {
    auto e = parse_exchange(r, ex);
    if (!e) return e.error();
    c.exchange = std::move(*e);
  }

  // <adapters>
  if (const pugi::xml_node adapters = g.child("adapters")) {
    if (auto st = r.only(adapters, {}, {"adapter"}); !st) return st.error();
    for (const auto& a : adapters.children("adapter")) {
      AdapterConfig ac;
      ac.line = r.line(a);
      ac.base_dir = fs::absolute(path).parent_path();
      auto aname = r.required(a, "name");
      if (!aname) return aname.error();
      auto type = r.required(a, "type");
      if (!type) return type.error();
      ac.name = *aname;
      ac.type = *type;
      if (c.adapter(ac.name) != nullptr)
        return r.error(a, "a second adapter named '" + ac.name + "'");
      for (const auto& attr : a.attributes()) {
        const std::string key = attr.name();
        if (key != "name" && key != "type") ac.settings[key] = attr.value();
      }
      c.adapters.push_back(std::move(ac));
    }
  }

  // <routes>
  if (const pugi::xml_node routes = g.child("routes")) {
    if (auto st = r.only(routes, {}, {"route", "inbound"}); !st) return st.error();
    for (const auto& n : routes.children()) {
      if (n.type() != pugi::node_element) continue;
      const std::string kind = n.name();
      if (kind == "route") {
        if (auto st = r.only(n, {"to", "via"}); !st) return st.error();
      } else if (auto st = r.only(n, {"via"}); !st) {
        return st.error();
      }
      auto via = r.required(n, "via");
      if (!via) return via.error();
      if (c.adapter(*via) == nullptr) {
        return r.error(n, "via=\"" + *via + "\" names no adapter; define <adapter name=\"" + *via +
                              "\" ...> in <adapters>");
      }
      if (kind == "inbound") {
        if (c.routes.inbound()) return r.error(n, "only one <inbound> is allowed");
        c.routes.set_inbound(*via, r.line(n));
        continue;
      }
      auto to = r.required(n, "to");
      if (!to) return to.error();
      if (auto st = RouteTable::validate_pattern(*to); !st) return r.error(n, st.error().message);
      c.routes.add({*to, *via, r.line(n)});
    }
  }
  for (const auto& rule : c.trust.accept) {
    if (!rule.adapter.empty() && c.adapter(rule.adapter) == nullptr) {
      return make_error(Errc::invalid, r.where(rule.line) + ": adapter=\"" + rule.adapter +
                                           "\" names no adapter; define <adapter name=\"" +
                                           rule.adapter + "\" ...> in <adapters>");
    }
  }
  return c;
}

}  // namespace edocgw::config
