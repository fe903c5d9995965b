// gateway/local_api_request.h: what the local API reads from an office
// system's request (shared/INTERFACE.md, "Local API") before any store or
// pipeline sees it: the header checks that need no running gateway, the
// path, and each body turned into what its handler needs (a built unsigned
// package, a follow-up, a status).
//
// Apart from gateway/local_api.cc so that it has no coroutines, no server
// and no store: tests/fuzz/local_api_fuzz.cc drives it as the handler does.
// A reader either fills its output or returns the refusal to answer, never
// both; it never throws on any input.
//
// Every text a reader passes on ends up in an edXML package, the store or a
// JSON answer: one that is not UTF-8 or holds a character XML forbids (NUL,
// U+0001, U+FFFE...) is refused with 400 "forbidden_character" naming the
// field (a form part's field name, file name or Content-Type, a metadata
// path such as "to[0].organ_name", "reason", "description"), instead of
// being cut at the NUL by libxml2 or written raw into a package no reader
// accepts. Stateless functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/gateway_config.h"
#include "edxml/followup.h"
#include "util/time.h"

namespace edocgw::gateway {

// A request refused before any handler acts on it: the HTTP status and the
// {"error": code, "message": message} to answer with.
struct RequestRefusal {
  unsigned status = 400;
  std::string code;
  std::string message;
};
// What a reader returns: nullopt when the request was read.
using Refused = std::optional<RequestRefusal>;

// The name of the client whose token an `Authorization: Bearer TOKEN` value
// carries, or "" when none matches. Compares SHA-256 digests in constant
// time; every client is compared.
std::string authenticated_client(const config::ApiConfig& api, std::string_view authorization);

// Whether POST /v1/documents takes a body of this Content-Type: XML, a form,
// and the types generic clients send an XML body with (curl -d:
// form-urlencoded). Anything else (image/png...) is a client's mistake worth
// naming before the body is read.
bool acceptable_document_type(std::string_view content_type);

// "/v1/inbox/ID" as {"v1", "inbox", "ID"}; empty segments are dropped.
std::vector<std::string> path_segments(std::string_view path);

// GET /v1/inbox?limit=N: a positive number.
Refused read_inbox_limit(const std::string& text, int& limit);

// POST /v1/documents as multipart/form-data: a "meta" part with the JSON
// metadata of `edxml build` (README, "edXML metadata") and one part per
// attached file, built into an unsigned package dated `now`.
Refused read_document_form(std::string_view content_type, std::string_view body, TimePoint now,
                           std::string& package);

// POST /v1/documents/{id}/followup: {"type": "revocation"|"update"|"replacement",
// "reason": TEXT, "package": unsigned edXML (update: optional, replacement:
// required), "receivers": [{"organ_id": ID, "change": "added"|"removed"}] (update)}.
struct FollowUpBody {
  int type = 1;  // 1 revocation, 2 update, 3 replacement
  std::string reason;
  std::string package;
  std::vector<edxml::FollowUpReceiver> receivers;
};
Refused read_followup(std::string_view body, FollowUpBody& out);

// A status to send: POST /v1/inbox/{id}/status {"code": "03", "description":
// TEXT}, or POST /v1/documents/{id}/status {"code": "13", "description":
// TEXT, "recipients": [ID...] (optional: all)}. The code is judged by the
// pipeline, which knows which codes go where.
struct StatusBody {
  std::string code;
  std::string description;
  std::vector<std::string> recipients;  // only for a status about one of our documents
};
Refused read_inbox_status(std::string_view body, StatusBody& out);
Refused read_document_status(std::string_view body, StatusBody& out);

}  // namespace edocgw::gateway
