#include "gateway/log.h"

#include <cstdio>
#include <mutex>

#include <nlohmann/json.hpp>

#include "util/time.h"

namespace edocgw::gateway {
namespace {

void write(const char* level, const std::string& msg, LogFields fields) {
  nlohmann::json j = {{"ts", format_rfc3339(now_seconds())}, {"level", level}, {"msg", msg}};
  for (const auto& [k, v] : fields) j[k] = v;
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

void log_info(const std::string& msg, LogFields fields) {
  write("info", msg, fields);
}
void log_warn(const std::string& msg, LogFields fields) {
  write("warn", msg, fields);
}
void log_error(const std::string& msg, LogFields fields) {
  write("error", msg, fields);
}

}  // namespace edocgw::gateway
