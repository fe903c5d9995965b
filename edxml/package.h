// edxml/package.h: the edXML message package (QCVN 102:2016/BTTTT, see
// shared/DOMAIN.md) as typed values, read from a parsed document by
// namespace (current or legacy), never by prefix.
//
// Plain values; reading never modifies the document. Thread-safe as long as
// each document is used by one thread.
#pragma once

#include <libxml/tree.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace edocgw::edxml {

struct Organization {
  std::string organ_id, organization_in_charge, organ_name, organ_add, email, telephone, fax,
      website;
};

struct DocumentCode {
  std::string number, notation;  // số / ký hiệu
};

// Another package this one answers: {OrganId, Code, PromulgationDate,
// DocumentId}. Codes from others, kept exactly as received.
struct ResponseFor {
  std::string organ_id, code, promulgation_date, document_id;
};

struct OtherInfo {
  std::string priority, sphere_of_promulgation, typer_notation, promulgation_amount, page_amount;
  std::string direction;  // written by EdXML102's builder ("false"), not in DOMAIN.md's tree
  std::vector<std::string> appendixes;
};

struct MessageHeader {
  Organization from;
  std::vector<Organization> to;
  DocumentCode code;
  std::string promulgation_place, promulgation_date;  // date yyyy/MM/dd
  std::string document_type, document_type_detail,
      document_type_name;  // Type, TypeDetail, TypeName
  std::string subject, content;
  std::string signer_competence, signer_position, signer_full_name;
  std::string due_date;
  std::vector<std::string> to_places;
  OtherInfo other_info;
  std::vector<ResponseFor> response_for;
  std::string steering_type;
  std::string application_type;   // ApplicationType, read by EdXML102
  std::string response_for_task;  // ResponseForTask, its text only (structure unknown)
  // "{sender OrganId},{yyyy/MM/dd},{số/ký hiệu}" when we make it; from others
  // an opaque string (real axis packages carry UUIDs).
  std::string document_id;
};

// One hop: OrganId may be empty or "null" in packages from a real axis.
// `timestamp` is the raw text: read it with parse_edxml_time() (util/time.h).
struct TraceHeader {
  std::string organ_id, timestamp;
};

struct StaffInfo {
  std::string department, department_id, staff, staff_id, email, mobile;
};

enum class BusinessDocType { new_document, revocation, update, replacement, unknown };

// BussinessDocumentInfo/ReceiverList/Receiver: ReceiverType 0 removed, 1 added.
struct BusinessReceiver {
  std::string organ_id, receiver_type;
};
struct BusinessDocumentInfo {
  std::string document_info;      // 0/1: the content changed
  std::string document_receiver;  // 0/1: the recipients changed
  std::vector<BusinessReceiver> receivers;
};
// ReplacementInfo: a document this one replaces, and for whom.
struct ReplacementInfo {
  std::string document_id;
  std::vector<std::string> organ_ids;
};

// TraceHeaderList/Bussiness (the spelling is real): what the package is
// (new, or a follow-up of another document) and who asked for it.
struct Business {
  std::string doc_type;  // the raw text: 0 new, 1 revocation, 2 update, 3 replacement
  BusinessDocType type = BusinessDocType::new_document;
  std::string reason;
  std::string document_id;  // empty when absent: then the MessageHeader's DocumentId
  std::string paper;        // 0/1
  std::optional<BusinessDocumentInfo> document_info;
  std::vector<ReplacementInfo> replacements;  // ReplacementInfoList
  std::optional<StaffInfo> staff;
};
BusinessDocType business_doc_type_from(std::string_view raw);
const char* business_doc_type_name(BusinessDocType t);  // "new", "revocation", ...

struct AttachmentInfo {
  std::string content_id;  // as written in the Attachment, "cid:" prefix included when present
  std::string name, description, content_type;
  std::uint64_t size = 0;  // decoded bytes
  std::string sha256;      // hex of the decoded bytes
  bool decoded = false;    // false when the base64 was not valid
};

// The status package (DOMAIN.md "The status package"): an
// edXMLHeader/MessageHeader with StatusCode and ResponseFor and no To (or,
// on input only, the non-standard edXMLHeader/Status of one vendor's fork).
struct StatusInfo {
  ResponseFor response_for;  // organ_id: where the status goes; document_id: what it is about
  Organization from;
  std::string status_code;  // trimmed; "14" is read as "15"
  std::string description;
  // "yyyy/MM/dd HH:mm:ss" in UTC+07:00 when well formed; read it with
  // parse_edxml_time() (statuses apply in the order of this time).
  std::string timestamp;
  StaffInfo staff;
};

enum class PackageKind { document, status };

// An element the model does not know, kept in the package bytes (they are
// what travels) and listed so an administrator sees it.
struct UnknownElement {
  std::string path;           // "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/VendorFlag"
  std::string namespace_uri;  // "" when it has none
};

struct Package {
  PackageKind kind = PackageKind::document;
  std::string namespace_uri;
  MessageHeader header;                // kind == document
  StatusInfo status;                   // kind == status
  bool legacy_status_element = false;  // read from edXMLHeader/Status, not MessageHeader
  std::vector<TraceHeader> traces;
  std::string trace_list_id, trace_list_version;  // TraceHeaderList attributes id, version
  std::optional<Business> business;
  std::vector<AttachmentInfo> attachments;
  bool signature_present = false;      // an XMLDSig Signature somewhere in the package
  bool signature_placeholder = false;  // an edXML Signature element that is not XMLDSig
  std::vector<UnknownElement> unknown_elements;
  std::vector<std::string> warnings;  // lenient agency codes, legacy namespace, unreadable times...

  // The organ id named as sender: From/OrganId of the header or of the status.
  const std::string& sender_organ_id() const {
    return kind == PackageKind::status ? status.from.organ_id : header.from.organ_id;
  }
  // The document a package is about: Bussiness/DocumentId when present,
  // else the MessageHeader's DocumentId (DOMAIN.md); for a status, its
  // ResponseFor/DocumentId.
  const std::string& concerned_document_id() const {
    if (kind == PackageKind::status) return status.response_for.document_id;
    if (business && !business->document_id.empty()) return business->document_id;
    return header.document_id;
  }
  BusinessDocType business_type() const {
    return business ? business->type : BusinessDocType::new_document;
  }
};

// A ContentId without its "cid:" prefix. Real senders write "cid:<id>" in
// both the manifest Reference and the Attachment, others only in the
// manifest: ids are compared in this bare form, so either side may carry it.
std::string_view bare_content_id(std::string_view content_id);

// Status codes of DOMAIN.md; 14 is accepted on input as an alias of 15.
bool is_known_status_code(const std::string& code);
std::string status_code_meaning(const std::string& code);

struct ReadOptions {
  bool decode_attachments = true;  // size and SHA-256 of each attachment
};

// The edXML root, envelope and header of a document, or a precise error.
struct Skeleton {
  xmlNode* root = nullptr;
  xmlNode* envelope = nullptr;
  xmlNode* header = nullptr;
};
Result<Skeleton> find_skeleton(xmlDoc* doc);

// At most this many Attachment elements, and as many manifest References,
// in one package; more is refused (Errc::malformed) before any signature
// check. Real packages carry a handful.
inline constexpr size_t kMaxAttachments = 1000;

Result<Package> read_package(xmlDoc* doc, const ReadOptions& options = {});

// Each Attachment of a package with its decoded bytes, one at a time (the
// bytes live only during the call, so a package with several large files
// holds one decoded copy at most): what verifiers of the attachments (the
// PDF signatures) read. Base64 that does not decode is passed with
// decoded == false and no bytes. At most kMaxAttachments.
Status for_each_attachment(
    xmlDoc* doc,
    const std::function<void(const AttachmentInfo& info, std::string_view bytes)>& visit);

nlohmann::json to_json(const Package& package);
std::string to_text(const Package& package);

}  // namespace edocgw::edxml
