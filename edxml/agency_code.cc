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
bool is_token_char(char c) {
  return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z') || c == '.' || c == '_' || c == '-';
}

bool is_strict(std::string_view code) {
  // Group lengths 3.2.2.3; the last group is one capital letter and two digits.
  constexpr std::array<size_t, 4> kLengths{3, 2, 2, 3};
  if (code.size() != 13) return false;
  size_t pos = 0;
  for (size_t g = 0; g < kLengths.size(); ++g) {
    for (size_t i = 0; i < kLengths[g]; ++i, ++pos) {
      const char c = code[pos];
      if (g == 3 && i == 0 ? !is_upper(c) : !is_digit(c)) return false;
    }
    if (g < 3) {
      if (code[pos] != '.') return false;
      ++pos;
    }
  }
  return true;
}

}  // namespace

AgencyCodeForm classify_agency_code(std::string_view code) {
  if (is_strict(code)) return AgencyCodeForm::strict;
  if (code.empty() || code.size() > 64) return AgencyCodeForm::invalid;
  for (char c : code) {
    if (!is_token_char(c)) return AgencyCodeForm::invalid;
  }
  return AgencyCodeForm::lenient;
}

}  // namespace edocgw::edxml
