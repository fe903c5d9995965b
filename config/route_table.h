// config/route_table.h: which adapter carries a document to a recipient.
//
// Rules are tried in order and the first match wins. A pattern has the four
// groups of an agency code, each a literal or "*" (exactly one group), or is
// "*" alone (everything). Each recipient of a package is routed on its own.
// Immutable after construction; safe to share between threads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace edocgw::config {

struct Route {
  std::string pattern;
  std::string via;  // adapter name
  int line = 0;
};

struct RouteMatch {
  const Route* route = nullptr;  // nullptr: no route
  size_t index = 0;
  std::vector<std::string> explanation;  // one line per rule tried
};

class RouteTable {
 public:
  // Checks the pattern's shape; the adapter name is checked by the loader.
  static Status validate_pattern(const std::string& pattern);

  void add(Route route) { routes_.push_back(std::move(route)); }
  void set_inbound(std::string via, int line) {
    inbound_ = std::move(via);
    inbound_line_ = line;
  }

  const Route* match(const std::string& organ_id) const { return explain(organ_id).route; }
  RouteMatch explain(const std::string& organ_id) const;

  const std::vector<Route>& routes() const { return routes_; }
  const std::optional<std::string>& inbound() const { return inbound_; }
  int inbound_line() const { return inbound_line_; }

 private:
  std::vector<Route> routes_;
  std::optional<std::string> inbound_;
  int inbound_line_ = 0;
};

bool pattern_matches(const std::string& pattern, const std::string& organ_id);

}  // namespace edocgw::config
