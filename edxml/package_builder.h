// edxml/package_builder.h: builds unsigned edXML packages, documents from
// JSON metadata plus attachment files and status packages from a StatusInfo,
// in the shape VNPT's EdXML102 builder writes (shared/VDXP.md section 9,
// VDXP-captures.md "Packages used"): `<edXML xmlns="…QCVN_102_2016">`,
// `<edXML:edXMLEnvelope xmlns:edXML="…">`, the real builder's element order,
// times "yyyy/MM/dd HH:mm:ss" in UTC+07:00, dates "yyyy/MM/dd", ContentId
// "cid:<uuid>" in the manifest and the Attachment. Stateless and thread-safe.
//
// Unknown keys are errors, so that a typo never silently drops a field.
// Codes we write as our own (from.organ_id, the DocumentId's first part)
// must be strict (000.00.12.H50); codes of others (to, response_for,
// receivers, replacements) are written as given and only need to be agency
// tokens (letters, digits, '.', '_', '-'; 1-64). Values shown as strings may
// also be JSON integers. Times accept "yyyy/MM/dd HH:mm:ss" (UTC+07:00) or
// RFC 3339 and are always written as the former.
//
// Document metadata (`edocgw edxml build --meta`, POST /v1/documents):
//   from            {organ_id*, organ_name, organization_in_charge, organ_add,
//                    email, telephone, fax, website}          our organisation
//   to*             [{same keys as from}, ...]                 one or more
//   code*           {number*, notation*}                       số / ký hiệu
//   promulgation    {place, date}                date: yyyy/MM/dd, default today (UTC+7)
//   document_type   {type, type_detail, name}                  Type, TypeDetail, TypeName
//   subject*, content
//   signer          {competence, position, full_name}
//   due_date        yyyy/MM/dd
//   to_places       ["Place", ...]
//   other_info      {priority (default 0), sphere_of_promulgation, typer_notation,
//                    promulgation_amount, page_amount, direction, appendixes: [...]}
//   response_for    [{organ_id, code, promulgation_date, document_id}, ...]
//   steering_type, application_type
//   document_id     default "{from.organ_id},{promulgation date},{number}/{notation}"
//   timestamp       the sender's TraceHeader/Timestamp, default now
//   trace_list      {id, version}                TraceHeaderList attributes, omitted when empty
//   business        {doc_type: 0 new (default) | 1 revocation | 2 update | 3 replacement,
//                    reason (default: the real samples' wording for the type),
//                    document_id (the document concerned; default: document_id),
//                    paper: 0 (default) | 1,
//                    document_info: {document_info: 0|1, document_receiver: 0|1,
//                                    receivers: [{organ_id, receiver_type: 0 removed|1 added}]},
//                    replacements: [{document_id*, organ_ids: [...]}]  (required for 3),
//                    staff: {department, department_id, staff, staff_id, email, mobile}}
//   attachments     [{name*, description, content_type}]  describes --attach files by name
//
// Status metadata (`edocgw edxml status --meta`):
//   from*           {as above}                                 our organisation
//   response_for*   {organ_id*, code, promulgation_date, document_id*}
//                   organ_id: where the status goes (the document's sender;
//                   the recipient for a recall request 13)
//   status_code*    01-06, 13, 15, 16 (14 is written as 15)
//   description
//   timestamp       when we acted, default now
//   staff           {department, department_id, staff, staff_id, email, mobile}
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edxml/package.h"
#include "util/result.h"
#include "util/time.h"

namespace edocgw::edxml {

struct AttachmentFile {
  std::string name;          // AttachmentName, usually the file's base name
  std::string bytes;         // raw content, base64-encoded into the package
  std::string content_type;  // guessed from the name when empty
  std::string description;
};

// Reads and validates the metadata. `now` fills a missing promulgation date.
Result<MessageHeader> header_from_json(const nlohmann::json& meta, TimePoint now);

// The "{sender OrganId},{yyyy/MM/dd},{số/ký hiệu}" identifier of DOMAIN.md.
std::string make_document_id(const MessageHeader& header);

// `now` is also the sender's TraceHeader/Timestamp unless meta.timestamp says otherwise.
Result<std::string> build_package(const nlohmann::json& meta, std::vector<AttachmentFile> files,
                                  TimePoint now);
// edXMLHeader/MessageHeader {From, ResponseFor, StaffInfo, StatusCode,
// Description, Timestamp}: no To, no TraceHeaderList, no body. A timestamp
// given in RFC 3339 (or any form real parsers read) is written as
// yyyy/MM/dd HH:mm:ss in UTC+07:00; an unreadable one is an error.
Result<std::string> build_status_package(const StatusInfo& status);
// Reads the status metadata above; `now` fills a missing timestamp.
Result<StatusInfo> status_from_json(const nlohmann::json& meta, TimePoint now);

std::string guess_content_type(const std::string& file_name);

}  // namespace edocgw::edxml
