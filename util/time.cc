#include "util/time.h"

#include <cstdio>
#include <ctime>

namespace edocgw {
namespace {

constexpr std::chrono::hours kVietnamOffset{7};

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::tm to_tm_utc(TimePoint t) {
  // Straight from the seconds: system_clock::to_time_t would first convert to
  // the clock's nanoseconds, which overflows for a far year read from input.
  const std::time_t tt = static_cast<std::time_t>(t.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

}  // namespace

TimePoint now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(Clock::now());
}

Result<TimePoint> parse_rfc3339(std::string_view s) {
  auto bad = [&] {
    return make_error(Errc::usage, "'" + std::string(s) +
                                       "' is not an RFC 3339 time such as 2026-11-28T09:30:00Z");
  };
  int year, mon, day, hour, min, sec;
  if (!digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mon) ||
      s[7] != '-' || !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, min) || s[16] != ':' ||
      !digits(s, 17, 2, sec)) {
    return bad();
  }
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
  }
  long offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om)) {
      return bad();
    }
    offset = (oh * 3600L + om * 60L) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size() || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
      sec > 60) {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const std::time_t t = timegm(&tm);
  return TimePoint(std::chrono::seconds(t - offset));
}

std::string format_rfc3339(TimePoint t) {
  const std::tm tm = to_tm_utc(t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string format_edxml_date(TimePoint t) {
  const std::tm tm = to_tm_utc(t + kVietnamOffset);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d/%02d/%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

std::string format_edxml_time(TimePoint t) {
  const std::tm tm = to_tm_utc(t + kVietnamOffset);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d/%02d/%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool is_edxml_time(std::string_view s) {
  int h, m, sec;
  return s.size() == 19 && is_edxml_date(s.substr(0, 10)) && s[10] == ' ' && digits(s, 11, 2, h) &&
         s[13] == ':' && digits(s, 14, 2, m) && s[16] == ':' && digits(s, 17, 2, sec) && h <= 23 &&
         m <= 59 && sec <= 59;
}

namespace {

// One numeric field of SimpleDateFormat's lenient parse: skip spaces and
// tabs, then take every digit. More than 9 digits is refused here (Java
// would take them and overflow into nonsense; no real package has them).
bool lenient_field(std::string_view s, size_t& pos, long& out) {
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
  const size_t start = pos;
  out = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - start < 10) {
    out = out * 10 + (s[pos] - '0');
    ++pos;
  }
  return pos > start && pos - start <= 9;
}

// `fields` values separated by the literals of "yyyy/MM/dd HH:mm:ss".
std::optional<TimePoint> lenient_parse(std::string_view s, int fields) {
  static constexpr char kSeparators[] = {'/', '/', ' ', ':', ':'};
  long v[6] = {0, 1, 1, 0, 0, 0};
  size_t pos = 0;
  for (int i = 0; i < fields; ++i) {
    if (i > 0) {
      // A literal in the pattern must match the text exactly; the space
      // between date and time is itself a literal (Java skips none there).
      if (pos >= s.size() || s[pos] != kSeparators[i - 1]) return std::nullopt;
      ++pos;
    }
    if (!lenient_field(s, pos, v[i])) return std::nullopt;
  }
  // timegm() normalises out-of-range fields the way a lenient
  // GregorianCalendar does (month 13 is January of the next year).
  std::tm tm{};
  tm.tm_year = static_cast<int>(v[0]) - 1900;
  tm.tm_mon = static_cast<int>(v[1]) - 1;
  tm.tm_mday = static_cast<int>(v[2]);
  tm.tm_hour = static_cast<int>(v[3]);
  tm.tm_min = static_cast<int>(v[4]);
  tm.tm_sec = static_cast<int>(v[5]);
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1) && v[0] != 1969) return std::nullopt;
  return TimePoint(std::chrono::seconds(t)) - kVietnamOffset;
}

}  // namespace

std::optional<TimePoint> parse_edxml_time(std::string_view text) {
  return lenient_parse(text, 6);
}

std::optional<TimePoint> parse_edxml_date(std::string_view text) {
  return lenient_parse(text, 3);
}

bool is_edxml_date(std::string_view s) {
  int y, m, d;
  return s.size() == 10 && digits(s, 0, 4, y) && s[4] == '/' && digits(s, 5, 2, m) && s[7] == '/' &&
         digits(s, 8, 2, d) && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

}  // namespace edocgw
