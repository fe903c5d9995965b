// The names of the states of store/store.h, as the wire and every engine's
// database spell them, and the small rules every engine shares (the rank of
// statuses, the shape of an idempotency key).
#include <array>

#include "store/store.h"

namespace edocgw::store {
namespace {

// Each state with its name, in the enum's order; parse() is the reverse.
template <class E, std::size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

constexpr Names<Kind, 2> kKinds = {{{Kind::edoc, "edoc"}, {Kind::status, "status"}}};
constexpr Names<DocumentState, 5> kDocumentStates = {{{DocumentState::queued, "queued"},
                                                      {DocumentState::sent, "sent"},
                                                      {DocumentState::delivered, "delivered"},
                                                      {DocumentState::failed, "failed"},
                                                      {DocumentState::rejected, "rejected"}}};
constexpr Names<RecipientState, 3> kRecipientStates = {{{RecipientState::pending, "pending"},
                                                        {RecipientState::sent, "sent"},
                                                        {RecipientState::failed, "failed"}}};
// "unsigned": accepted by the <accept> policy without a signature.
constexpr Names<Verification, 3> kVerifications = {{{Verification::valid, "valid"},
                                                    {Verification::unsigned_, "unsigned"},
                                                    {Verification::invalid, "invalid"}}};
// "new": not fetched yet (VDXP answers call it "initial").
constexpr Names<MailState, 4> kMailStates = {{{MailState::fresh, "new"},
                                              {MailState::processing, "processing"},
                                              {MailState::done, "done"},
                                              {MailState::fail, "fail"}}};
constexpr Names<Direction, 2> kDirections = {{{Direction::in, "in"}, {Direction::out, "out"}}};

template <class E, std::size_t N>
std::string_view name_in(const Names<E, N>& names, E v) {
  for (const auto& [state, text] : names) {
    if (state == v) return text;
  }
  return "?";  // not reached: every enumerator has a name
}

template <class E, std::size_t N>
std::optional<E> parse_in(const Names<E, N>& names, std::string_view text) {
  for (const auto& [state, spelled] : names) {
    if (spelled == text) return state;
  }
  return std::nullopt;
}

}  // namespace

std::string_view name(Kind v) {
  return name_in(kKinds, v);
}
std::string_view name(DocumentState v) {
  return name_in(kDocumentStates, v);
}
std::string_view name(RecipientState v) {
  return name_in(kRecipientStates, v);
}
std::string_view name(Verification v) {
  return name_in(kVerifications, v);
}
std::string_view name(MailState v) {
  return name_in(kMailStates, v);
}
std::string_view name(Direction v) {
  return name_in(kDirections, v);
}

std::optional<Kind> parse_kind(std::string_view text) {
  return parse_in(kKinds, text);
}
std::optional<DocumentState> parse_document_state(std::string_view text) {
  return parse_in(kDocumentStates, text);
}
std::optional<RecipientState> parse_recipient_state(std::string_view text) {
  return parse_in(kRecipientStates, text);
}
std::optional<Verification> parse_verification(std::string_view text) {
  return parse_in(kVerifications, text);
}
std::optional<MailState> parse_mail_state(std::string_view text) {
  return parse_in(kMailStates, text);
}
std::optional<Direction> parse_direction(std::string_view text) {
  return parse_in(kDirections, text);
}

int status_rank(const std::string& code) {
  // DOMAIN.md: equal Timestamps, the higher code of 01 < ... < 06 wins; the
  // recall answers 15/16 rank after them, a recall request 13 first.
  static const char* const kOrder[] = {"13", "01", "02", "03", "04", "05", "06", "15", "16"};
  for (int i = 0; i < 9; ++i) {
    if (code == kOrder[i]) return i;
  }
  return -1;
}

// A newline cannot occur in an HTTP header value, so it separates the key
// from its body's hash.
std::string idempotency_key_with_body(const std::string& key, const std::string& body_sha256) {
  return key.empty() ? key : key + '\n' + body_sha256;
}

std::pair<std::string, std::string> split_idempotency_key(const std::string& key) {
  const auto nl = key.find('\n');
  if (nl == std::string::npos) return {key, {}};
  return {key.substr(0, nl), key.substr(nl + 1)};
}

}  // namespace edocgw::store
