#define BOOST_TEST_MODULE time
#include <boost/test/unit_test.hpp>

#include "util/time.h"

using namespace edocgw;

BOOST_AUTO_TEST_CASE(rfc3339_round_trips_in_utc) {
  auto t = parse_rfc3339("2026-11-28T09:30:00Z");
  BOOST_REQUIRE(t.ok());
  BOOST_TEST(format_rfc3339(*t) == "2026-11-28T09:30:00Z");
}

BOOST_AUTO_TEST_CASE(rfc3339_applies_offsets_and_ignores_fractions) {
  BOOST_TEST(format_rfc3339(*parse_rfc3339("2026-11-28T16:30:00.123+07:00")) ==
             "2026-11-28T09:30:00Z");
  BOOST_TEST(format_rfc3339(*parse_rfc3339("2026-11-28T00:30:00-02:00")) == "2026-11-28T02:30:00Z");
}

BOOST_AUTO_TEST_CASE(rfc3339_refuses_what_it_cannot_read) {
  for (const char* bad : {"", "2026-11-28", "2026-11-28T09:30:00", "2026-13-01T00:00:00Z",
                          "yesterday", "2026-11-28T09:30:00Zjunk"}) {
    auto t = parse_rfc3339(bad);
    BOOST_TEST(!t.ok(), bad);
  }
}

BOOST_AUTO_TEST_CASE(edxml_dates_use_vietnam_time) {
  // 18:00 UTC is already the next day in Vietnam (UTC+7).
  BOOST_TEST(format_edxml_date(*parse_rfc3339("2026-11-28T18:00:00Z")) == "2026/11/29");
  BOOST_TEST(is_edxml_date("2026/11/28"));
  BOOST_TEST(!is_edxml_date("2026-11-28"));
  BOOST_TEST(!is_edxml_date("2026/13/28"));
}

BOOST_AUTO_TEST_CASE(edxml_times_are_written_in_vietnam_time_and_round_trip) {
  const TimePoint t = *parse_rfc3339("2026-11-29T18:35:47Z");
  BOOST_TEST(format_edxml_time(t) == "2026/11/30 01:35:47");
  BOOST_TEST(is_edxml_time(format_edxml_time(t)));
  auto back = parse_edxml_time(format_edxml_time(t));
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(format_rfc3339(*back) == "2026-11-29T18:35:47Z");
  // Every second of a day, across the date line of UTC+7, comes back.
  for (int s = 0; s < 86400; s += 7) {
    const TimePoint u = *parse_rfc3339("2026-12-31T12:00:00Z") + std::chrono::seconds(s);
    BOOST_REQUIRE(parse_edxml_time(format_edxml_time(u)) == u);
  }
}

BOOST_AUTO_TEST_CASE(edxml_times_are_read_like_the_real_parser_reads_them) {
  const auto at = [](const char* text) {
    auto t = parse_edxml_time(text);
    return t ? format_rfc3339(*t) : std::string("null");
  };
  BOOST_TEST(at("2026/11/28 09:00:00") == "2026-11-28T02:00:00Z");
  // A parsable prefix wins; what follows it is ignored (VDXP.md section 9).
  BOOST_TEST(at("2026/11/28 09:00:00+07:00") == "2026-11-28T02:00:00Z");
  BOOST_TEST(at("2026/11/28 09:00:00Z") == "2026-11-28T02:00:00Z");
  // Lenient: fields of any width, out-of-range values roll over, blanks before a field.
  BOOST_TEST(at("2026/1/5 9:0:7") == "2026-01-05T02:00:07Z");
  BOOST_TEST(at("2026/02/30 00:00:00") == "2026-03-01T17:00:00Z");
  BOOST_TEST(at(" 2026/11/28  09:00:00") == "2026-11-28T02:00:00Z");
  // What EdXML102 reads as null.
  for (const char* bad : {"2026-11-28T09:00:00Z", "", "2026/11/28", "2026/11/28T09:00:00",
                          "28/11/2026 09:00", "null", "2026/11/28 09:00"}) {
    BOOST_TEST(at(bad) == "null", bad);
  }
}

BOOST_AUTO_TEST_CASE(edxml_dates_are_read_leniently_with_any_tail) {
  BOOST_TEST(format_rfc3339(*parse_edxml_date("2026/11/28")) == "2026-11-27T17:00:00Z");
  BOOST_TEST(format_rfc3339(*parse_edxml_date("2026/11/28 10:00:00")) == "2026-11-27T17:00:00Z");
  BOOST_TEST(!parse_edxml_date("2026-11-28").has_value());
  BOOST_TEST(!is_edxml_time("2026/11/28 9:00:00"));
  BOOST_TEST(!is_edxml_time("2026/11/28 24:00:00"));
}
