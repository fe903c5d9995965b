// gateway/cli_args.h: a small command-line option parser for the edocgw
// subcommands: "--name value", "--name=value", repeatable options, flags and
// positional arguments. Unknown options are usage errors.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/result.h"

namespace edocgw::cli {

struct OptionSpec {
  std::set<std::string> with_value;  // "--cert", "--crl", ...
  std::set<std::string> flags;       // "--json", ...
};

class Args {
 public:
  static Result<Args> parse(const std::vector<std::string>& argv, const OptionSpec& spec);

  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, std::string fallback) const;
  std::vector<std::string> all(const std::string& name) const;
  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

}  // namespace edocgw::cli
