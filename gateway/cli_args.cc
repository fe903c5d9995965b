#include "gateway/cli_args.h"

namespace edocgw::cli {

Result<Args> Args::parse(const std::vector<std::string>& argv, const OptionSpec& spec) {
  Args args;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 3 || a.rfind("--", 0) != 0) {
      args.positional_.push_back(a);
      continue;
    }
    std::string name = a;
    std::optional<std::string> value;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    if (spec.flags.count(name)) {
      if (value) return make_error(Errc::usage, name + " takes no value");
      args.flags_.insert(name);
    } else if (spec.with_value.count(name)) {
      if (!value) {
        if (i + 1 >= argv.size()) return make_error(Errc::usage, name + " needs a value");
        value = argv[++i];
      }
      args.values_.emplace(name, *value);
    } else {
      return make_error(Errc::usage, "unknown option " + name);
    }
  }
  return args;
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  return std::prev(range.second)->second;  // the last one wins
}

std::string Args::get_or(const std::string& name, std::string fallback) const {
  auto v = get(name);
  return v ? *v : std::move(fallback);
}

std::vector<std::string> Args::all(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

}  // namespace edocgw::cli
