// util/utf8.h: making text from outside safe to put into JSON and reports.
//
// Free functions without state; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace edocgw {

// `text` with every byte sequence that is not well-formed UTF-8 (stray
// continuation bytes, truncated or overlong sequences, surrogates, code
// points above U+10FFFF) replaced by U+FFFD, one per maximal ill-formed
// subpart as Unicode recommends. Well-formed input comes back unchanged.
// Text from input (libxml2 messages quoting raw bytes, names, subjects)
// passes through here before it enters a report, whose JSON dump would
// otherwise throw.
std::string valid_utf8(std::string_view text);

// "" when `text` is well-formed UTF-8 made only of characters XML 1.0 allows
// (tab, LF, CR, U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF);
// otherwise what is wrong, such as "U+0001 at byte 4".
std::string xml_char_problem(std::string_view text);

}  // namespace edocgw
