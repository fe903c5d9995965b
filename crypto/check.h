// crypto/check.h: one check of a verification and its outcome, shared by
// the package report and the PDF report. Plain values.
#pragma once
#include <string>

namespace edocgw::crypto {

enum class CheckOutcome { pass, fail, skipped };

struct Check {
  std::string name;  // "parse", "structure", "signed_info", "algorithm", ...
  CheckOutcome outcome = CheckOutcome::skipped;
  std::string detail;
};

const char* outcome_name(CheckOutcome outcome);  // "pass", "fail", "skipped"

}  // namespace edocgw::crypto
