#include "config/route_table.h"

#include <sstream>

namespace edocgw::config {
namespace {

std::vector<std::string> groups(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string g; std::getline(in, g, '.');) out.push_back(g);
  if (!s.empty() && s.back() == '.') out.emplace_back();
  return out;
}

}  // namespace

Status RouteTable::validate_pattern(const std::string& pattern) {
  if (pattern == "*") return {};
  const auto g = groups(pattern);
  if (g.size() != 4) {
    return make_error(Errc::invalid, "route pattern '" + pattern +
                                         "' needs the four groups of an agency code, such as "
                                         "000.00.*.H50, or \"*\" alone");
  }
  for (const auto& group : g) {
    if (group == "*") continue;
    if (group.empty())
      return make_error(Errc::invalid, "route pattern '" + pattern + "' has an empty group");
    for (char c : group) {
      if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) {
        return make_error(
            Errc::invalid,
            "route pattern '" + pattern + "' may hold only digits, capital letters and '*' groups");
      }
    }
  }
  return {};
}

bool pattern_matches(const std::string& pattern, const std::string& organ_id) {
  if (pattern == "*") return true;
  const auto p = groups(pattern);
  const auto o = groups(organ_id);
  if (p.size() != o.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != "*" && p[i] != o[i]) return false;
  }
  return true;
}

RouteMatch RouteTable::explain(const std::string& organ_id) const {
  RouteMatch m;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Route& r = routes_[i];
    if (pattern_matches(r.pattern, organ_id)) {
      m.route = &r;
      m.index = i;
      m.explanation.push_back("rule " + std::to_string(i + 1) + " (line " + std::to_string(r.line) +
                              ") to=\"" + r.pattern + "\" matches: via " + r.via);
      return m;
    }
    m.explanation.push_back("rule " + std::to_string(i + 1) + " (line " + std::to_string(r.line) +
                            ") to=\"" + r.pattern + "\" does not match");
  }
  m.explanation.push_back("no rule matches " + organ_id);
  return m;
}

}  // namespace edocgw::config
