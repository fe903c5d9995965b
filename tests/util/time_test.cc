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
