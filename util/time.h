// util/time.h: the time formats edocgw reads and writes.
//
// RFC 3339 for the CLI, JSON and logs (always written in UTC, "Z"); edXML
// dates "yyyy/MM/dd" and times "yyyy/MM/dd HH:mm:ss" in Vietnam's civil
// time (UTC+7, no daylight saving), as VNPT's EdXML102 writes and reads
// them (shared/VDXP.md section 9). Stateless and thread-safe.
#pragma once

#include <chrono>
#include <optional>
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

// edXML times (TraceHeader/Timestamp, a status's Timestamp):
// "2026/11/28 16:30:00" in UTC+07:00. Only this form is ever written into an
// edXML time field: real parsers read anything else, RFC 3339 included, as null.
std::string format_edxml_time(TimePoint t);
// Exactly the form format_edxml_time() writes (19 characters, fields in range).
bool is_edxml_time(std::string_view text);

// Reads a time or a date the way EdXML102 does (Java's lenient
// SimpleDateFormat "yyyy/MM/dd HH:mm:ss" / "yyyy/MM/dd" in the JVM's zone,
// Asia/Ho_Chi_Minh): spaces and tabs before a field are skipped, a field is
// any run of digits, out-of-range fields roll over (2026/02/30 is March 2),
// and text after a parsable prefix is ignored ("2026/11/28 09:00:00+07:00"
// reads as 09:00:00 local). Whatever the real parser would read as null is
// nullopt here: "2026-11-28T09:00:00Z", "", "2026/11/28" as a time.
std::optional<TimePoint> parse_edxml_time(std::string_view text);
std::optional<TimePoint> parse_edxml_date(std::string_view text);

}  // namespace edocgw
