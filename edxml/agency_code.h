// edxml/agency_code.h: agency identifiers (mã định danh, Decision
// 20/2020/QĐ-TTg): four dot-separated groups, lowest level first, such as
// 000.00.12.H50.
//
// We generate only strict codes (^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$) and
// accept lenient ones (letters in the first three groups) on input with a
// warning. Stateless and thread-safe.
#pragma once

#include <string_view>

namespace edocgw::edxml {

enum class AgencyCodeForm { strict, lenient, invalid };

AgencyCodeForm classify_agency_code(std::string_view code);
inline bool is_strict_agency_code(std::string_view code) {
  return classify_agency_code(code) == AgencyCodeForm::strict;
}

}  // namespace edocgw::edxml
