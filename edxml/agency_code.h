// edxml/agency_code.h: agency identifiers (mã định danh, Decision
// 20/2020/QĐ-TTg): four dot-separated groups, lowest level first, such as
// 000.00.12.H50.
//
// We generate only strict codes (^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$). Codes
// from others are kept as received and accepted leniently, with a warning:
// real traffic carries 28.22.H17, 001.00.20.TT2 and a connected system's id
// (vxp.saas.03) where an OrganId should be (shared/DOMAIN.md). Lenient: 1 to
// 64 letters, digits, '.', '_' or '-'. Stateless and thread-safe.
#pragma once

#include <string_view>

namespace edocgw::edxml {

enum class AgencyCodeForm { strict, lenient, invalid };

AgencyCodeForm classify_agency_code(std::string_view code);
inline bool is_strict_agency_code(std::string_view code) {
  return classify_agency_code(code) == AgencyCodeForm::strict;
}

}  // namespace edocgw::edxml
