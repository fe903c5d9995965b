// edxml/followup.h: turns a document package into a follow-up of it
// (DOMAIN.md: BussinessDocType 1 revocation, 2 update, 3 replacement): the
// Bussiness element of TraceHeaderList is written anew, the sender's
// TraceHeader gets the present time, recipients may be added, and any
// Signature is removed so that the gateway signs the result afresh.
// Everything else in the package, unknown elements included, is kept.
//
// Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"
#include "util/time.h"

namespace edocgw::edxml {

struct FollowUpReceiver {
  std::string organ_id;
  bool added = true;  // ReceiverType 1 added, 0 removed
};

struct FollowUp {
  int type = 1;                             // 1 revocation, 2 update, 3 replacement
  std::string reason;                       // BussinessDocReason
  std::string document_id;                  // Bussiness/DocumentId: the document it concerns
  std::string sender_organ_id;              // our organ id, for the TraceHeader
  bool content_changed = false;             // BussinessDocumentInfo/DocumentInfo
  std::vector<FollowUpReceiver> receivers;  // BussinessDocumentInfo/ReceiverList
  std::vector<std::string> replaced_for;    // replacement: ReplacementInfo/OrganIdList
};

// `package` is an edXML document package (signed or not). Receivers added
// are also appended as To elements, so that the exchange routes to them.
Result<std::string> make_followup(std::string_view package, const FollowUp& followup,
                                  TimePoint now);

}  // namespace edocgw::edxml
