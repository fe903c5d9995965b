// gateway/log.h: structured logs, one JSON object per line on stderr:
// {"ts": RFC 3339, "level", "msg", and fields such as "document"}. Secrets
// are never passed here. Thread-safe (one write per line under a mutex).
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

namespace edocgw::gateway {

using LogFields = std::initializer_list<std::pair<const char*, std::string>>;

void log_info(const std::string& msg, LogFields fields = {});
void log_warn(const std::string& msg, LogFields fields = {});
void log_error(const std::string& msg, LogFields fields = {});

}  // namespace edocgw::gateway
