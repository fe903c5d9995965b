#define BOOST_TEST_MODULE agency_code
#include <boost/test/unit_test.hpp>

#include <string>

#include "edxml/agency_code.h"

using namespace edocgw::edxml;

BOOST_AUTO_TEST_CASE(strict_codes_are_digits_then_one_letter_and_two_digits) {
  BOOST_TEST((classify_agency_code("000.00.12.H50") == AgencyCodeForm::strict));
  BOOST_TEST((classify_agency_code("000.00.00.G22") == AgencyCodeForm::strict));
}

BOOST_AUTO_TEST_CASE(codes_seen_in_real_traffic_are_lenient) {
  for (const char* real :
       {"28.22.H17", "01.02.G22", "001.00.20.TT2", "vxp.saas.03", "A00.0B.12.H50", "000.00.12.h50",
        "000-00-12-H50", "000.00.12.H500", "x", "a_b-c.d"}) {
    BOOST_TEST((classify_agency_code(real) == AgencyCodeForm::lenient), real);
  }
  BOOST_TEST((classify_agency_code(std::string(64, '9')) == AgencyCodeForm::lenient));
}

BOOST_AUTO_TEST_CASE(anything_else_is_invalid) {
  for (const char* bad : {"", "000.00.12.H50 ", " 000.00.12.H50", "000.00.12/H50", "null value",
                          "000,00", "Hướng.Hóa", "a\nb", "<x>"}) {
    BOOST_TEST((classify_agency_code(bad) == AgencyCodeForm::invalid), bad);
  }
  BOOST_TEST((classify_agency_code(std::string(65, '9')) == AgencyCodeForm::invalid));
}
