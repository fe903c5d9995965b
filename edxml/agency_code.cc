#include "edxml/agency_code.h"

#include <array>

namespace edocgw::edxml {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}

}  // namespace

AgencyCodeForm classify_agency_code(std::string_view code) {
  // Group lengths 3.2.2.3; the last group is one letter and two digits in both forms.
  constexpr std::array<size_t, 4> kLengths{3, 2, 2, 3};
  if (code.size() != 13) return AgencyCodeForm::invalid;
  bool strict = true;
  size_t pos = 0;
  for (size_t g = 0; g < kLengths.size(); ++g) {
    for (size_t i = 0; i < kLengths[g]; ++i, ++pos) {
      const char c = code[pos];
      if (g == 3) {
        if (i == 0 ? !is_upper(c) : !is_digit(c)) return AgencyCodeForm::invalid;
      } else if (!is_digit(c)) {
        if (!is_upper(c)) return AgencyCodeForm::invalid;
        strict = false;
      }
    }
    if (g < 3) {
      if (code[pos] != '.') return AgencyCodeForm::invalid;
      ++pos;
    }
  }
  return strict ? AgencyCodeForm::strict : AgencyCodeForm::lenient;
}

}  // namespace edocgw::edxml
