#define BOOST_TEST_MODULE agency_code
#include <boost/test/unit_test.hpp>

#include "edxml/agency_code.h"

using namespace edocgw::edxml;

BOOST_AUTO_TEST_CASE(strict_codes_are_digits_then_one_letter_and_two_digits) {
  BOOST_TEST((classify_agency_code("000.00.12.H50") == AgencyCodeForm::strict));
  BOOST_TEST((classify_agency_code("000.00.00.G22") == AgencyCodeForm::strict));
}

BOOST_AUTO_TEST_CASE(letters_in_the_first_groups_are_lenient) {
  BOOST_TEST((classify_agency_code("A00.0B.12.H50") == AgencyCodeForm::lenient));
}

BOOST_AUTO_TEST_CASE(anything_else_is_invalid) {
  for (const char* bad : {"", "000.00.12.h50", "000.00.12.H5", "000.00.12.5H0", "000.00.12.H500",
                          "000-00-12-H50", "00.000.12.H50", "000.00.12.H50 ", "000.00.1a.H50"}) {
    BOOST_TEST((classify_agency_code(bad) == AgencyCodeForm::invalid), bad);
  }
}
