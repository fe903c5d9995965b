// util/time.h: the time formats edocgw reads and writes.
//
// RFC 3339 for the CLI, JSON and logs (always written in UTC, "Z"); edXML
// dates "yyyy/MM/dd" in Vietnam's civil time (UTC+7, no daylight saving).
// Stateless and thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.h"

namespace edocgw {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::seconds>;

TimePoint now_seconds();

// "2026-11-28T09:30:00Z", "2026-11-28T16:30:00+07:00", fractions ignored.
Result<TimePoint> parse_rfc3339(std::string_view text);
std::string format_rfc3339(TimePoint t);

// edXML dates: "2026/11/28".
std::string format_edxml_date(TimePoint t);
bool is_edxml_date(std::string_view text);

}  // namespace edocgw
