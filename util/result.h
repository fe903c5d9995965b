// util/result.h: the error and result values of edocgw.
//
// Every function that handles input or does I/O returns a Result<T> (or a
// Status): either the value or an Error whose message a person can act on.
// Exceptions are kept for start-up and main(). Values are plain data and
// are safe to move between threads; none is shared.
#pragma once

#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace edocgw {

// The kinds of failure; the CLI maps them to exit codes (see gateway/cli.cc).
enum class Errc {
  ok = 0,
  usage,        // the caller asked for something impossible (bad option, missing argument)
  io,           // a file or the network could not be read or written
  malformed,    // input is not what its format says (not XML, not edXML, bad JSON)
  invalid,      // input was judged and found invalid (bad signature, untrusted, revoked)
  unsupported,  // a valid but unsupported algorithm or feature
  internal,     // a library call failed in a way that is our bug or an environment fault
};

const std::error_category& edocgw_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), edocgw_category()};
}

struct Error {
  Errc code = Errc::internal;
  std::string message;  // one sentence, no trailing newline
};

inline Error make_error(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit on purpose
  static Status success() { return Status(); }

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace edocgw

template <>
struct std::is_error_code_enum<edocgw::Errc> : std::true_type {};
