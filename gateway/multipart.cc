#include "gateway/multipart.h"

#include <cctype>

#include "util/utf8.h"

namespace edocgw::gateway {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A header value's `; key=value` parameters (RFC 2045 5.1; quoted strings
// with backslash escapes). Keys are lower-cased. Returns false on a broken
// quoted string.
bool parameters(std::string_view value, std::vector<std::pair<std::string, std::string>>& out) {
  size_t i = value.find(';');
  while (i != std::string_view::npos && i < value.size()) {
    ++i;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    const size_t eq = value.find('=', i);
    if (eq == std::string_view::npos) return trim(value.substr(i)).empty();
    const std::string key = lower(trim(value.substr(i, eq - i)));
    i = eq + 1;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    std::string v;
    if (i < value.size() && value[i] == '"') {
      ++i;
      bool closed = false;
      while (i < value.size()) {
        const char c = value[i++];
        if (c == '\\' && i < value.size()) {
          v += value[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          v += c;
        }
      }
      if (!closed) return false;
      i = value.find(';', i);
    } else {
      const size_t end = value.find(';', i);
      v = std::string(trim(value.substr(i, end == std::string_view::npos ? end : end - i)));
      i = end;
    }
    out.emplace_back(key, std::move(v));
  }
  return true;
}

// RFC 5987 ext-value: charset'language'percent-encoded; only UTF-8.
bool decode_ext_value(std::string_view v, std::string& out) {
  const size_t q1 = v.find('\'');
  const size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos || lower(v.substr(0, q1)) != "utf-8") return false;
  out.clear();
  for (size_t i = q2 + 1; i < v.size(); ++i) {
    if (v[i] != '%') {
      out += v[i];
      continue;
    }
    if (i + 2 >= v.size() || !std::isxdigit(static_cast<unsigned char>(v[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(v[i + 2])))
      return false;
    out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return true;
}

Result<FormPart> parse_part(std::string_view raw, size_t index) {
  const std::string where = "multipart part " + std::to_string(index + 1);
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string_view::npos && raw.substr(0, 2) != "\r\n")
    return make_error(Errc::malformed, where + " has no blank line after its headers");
  FormPart part;
  std::string_view headers = raw.substr(0, raw.substr(0, 2) == "\r\n" ? 0 : end);
  part.body = std::string(raw.substr(raw.substr(0, 2) == "\r\n" ? 2 : end + 4));
  bool disposition = false;
  while (!headers.empty()) {
    const size_t eol = headers.find("\r\n");
    const std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return make_error(Errc::malformed, where + " has a header line without a colon");
    const std::string name = lower(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-type") {
      part.content_type = std::string(value);
    } else if (name == "content-disposition") {
      if (lower(trim(value.substr(0, value.find(';')))) != "form-data")
        return make_error(Errc::malformed, where + " is not Content-Disposition: form-data");
      std::vector<std::pair<std::string, std::string>> params;
      if (!parameters(value, params))
        return make_error(Errc::malformed, where + " has a broken Content-Disposition");
      std::string extended;
      for (const auto& [k, v] : params) {
        if (k == "name") part.name = v;
        if (k == "filename") part.file_name = v;
        if (k == "filename*" && !decode_ext_value(v, extended))
          return make_error(Errc::malformed, where + " has a filename* that is not UTF-8''...");
      }
      if (!extended.empty()) part.file_name = extended;
      disposition = true;
    } else if (name == "content-transfer-encoding" && lower(value) != "binary" &&
               lower(value) != "8bit" && lower(value) != "7bit") {
      return make_error(Errc::unsupported, where + " uses Content-Transfer-Encoding " +
                                               std::string(value) + "; send the bytes as binary");
    }
  }
  if (!disposition || part.name.empty())
    return make_error(Errc::malformed, where + " has no Content-Disposition with a name");
  // A path in a file name is the sender's business, not ours.
  const size_t slash = part.file_name.find_last_of("/\\");
  if (slash != std::string::npos) part.file_name = part.file_name.substr(slash + 1);
  // Names and types end up in the package and in answers: one that XML
  // cannot hold is refused here, naming it, rather than cut at a NUL by
  // libxml2 or written raw further on.
  const std::pair<const char*, const std::string*> texts[] = {{"field name", &part.name},
                                                              {"file name", &part.file_name},
                                                              {"Content-Type", &part.content_type}};
  for (const auto& [what, text] : texts) {
    if (auto why = xml_char_problem(*text); !why.empty())
      return make_error(Errc::invalid,
                        where + ": its " + what + " holds " + why + ", which XML does not allow");
  }
  return part;
}

// Whether a delimiter ending at `pos` is complete: "--" (the close) or
// optional whitespace and CRLF. "--b" followed by anything else is content.
bool delimiter_ends(std::string_view body, size_t pos) {
  if (body.substr(pos, 2) == "--") return true;
  while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
  return body.substr(pos, 2) == "\r\n";
}

size_t find_delimiter(std::string_view body, std::string_view delimiter, size_t from) {
  for (size_t at = body.find(delimiter, from); at != std::string_view::npos;
       at = body.find(delimiter, at + 1)) {
    if (delimiter_ends(body, at + delimiter.size())) return at;
  }
  return std::string_view::npos;
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  if (lower(trim(content_type.substr(0, content_type.find(';')))) != "multipart/form-data")
    return make_error(Errc::unsupported, "only multipart/form-data is accepted");
  std::vector<std::pair<std::string, std::string>> params;
  if (!parameters(content_type, params))
    return make_error(Errc::malformed, "the Content-Type has a broken parameter");
  for (const auto& [k, v] : params) {
    if (k != "boundary") continue;
    if (v.empty() || v.size() > 70)  // RFC 2046 5.1.1
      return make_error(Errc::malformed, "the multipart boundary must have 1 to 70 characters");
    return v;
  }
  return make_error(Errc::malformed, "the multipart Content-Type has no boundary parameter");
}

Result<std::vector<FormPart>> parse_multipart(std::string_view body, std::string_view boundary) {
  const std::string dash = "--" + std::string(boundary);
  const std::string delimiter = "\r\n" + dash;
  // The first delimiter may start the body (no CRLF before it).
  size_t pos;
  if (body.substr(0, dash.size()) == dash && delimiter_ends(body, dash.size())) {
    pos = dash.size();
  } else {
    pos = find_delimiter(body, delimiter, 0);
    if (pos == std::string_view::npos)
      return make_error(Errc::malformed, "the body does not contain the multipart boundary");
    pos += delimiter.size();
  }
  std::vector<FormPart> parts;
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // close delimiter; the rest is epilogue
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n")
      return make_error(Errc::malformed, "a multipart boundary line does not end in CRLF");
    pos += 2;
    const size_t next = find_delimiter(body, delimiter, pos);
    if (next == std::string_view::npos)
      return make_error(Errc::malformed,
                        "the multipart body is truncated: the closing boundary is missing");
    auto part = parse_part(body.substr(pos, next - pos), parts.size());
    if (!part) return part.error();
    parts.push_back(std::move(*part));
    pos = next + delimiter.size();
  }
}

}  // namespace edocgw::gateway
