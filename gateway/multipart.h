// gateway/multipart.h: multipart/form-data bodies (RFC 7578 on RFC 2046).
//
// Only what POST /v1/documents needs: the body is already in memory (the
// server's body limit bounds it), so parts are views split at the boundary
// lines. Each part's Content-Disposition gives its field name and file name
// (quoted, raw UTF-8 as browsers and curl send it, or RFC 5987 `filename*`).
// Preamble and epilogue are ignored; a body without the closing boundary,
// a part without a name or with malformed headers is an error, never a
// partial result. A field name, file name or Content-Type that is not
// UTF-8 or holds a character XML forbids (NUL, U+0001...) is an error of
// code Errc::invalid naming the part and the field: they end up in the
// package and in answers. Bodies are bytes, NULs included. Stateless and
// thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace edocgw::gateway {

struct FormPart {
  std::string name;          // the form field name
  std::string file_name;     // empty when the part is not a file
  std::string content_type;  // empty when the part names none
  std::string body;
};

// The boundary parameter of a multipart/form-data Content-Type, or an error.
Result<std::string> multipart_boundary(std::string_view content_type);

Result<std::vector<FormPart>> parse_multipart(std::string_view body, std::string_view boundary);

}  // namespace edocgw::gateway
