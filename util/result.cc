#include "util/result.h"

namespace edocgw {
namespace {

class EdocgwCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "edocgw"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::ok:
        return "success";
      case Errc::usage:
        return "usage error";
      case Errc::io:
        return "input/output error";
      case Errc::malformed:
        return "malformed input";
      case Errc::invalid:
        return "judged invalid";
      case Errc::unsupported:
        return "unsupported";
      case Errc::internal:
        return "internal error";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& edocgw_category() noexcept {
  static const EdocgwCategory category;
  return category;
}

}  // namespace edocgw
