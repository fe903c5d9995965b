// edxml/package.h: the edXML message package (QCVN 102:2016/BTTTT, see
// shared/DOMAIN.md) as typed values, read from a parsed document by
// namespace (current or legacy), never by prefix.
//
// Plain values; reading never modifies the document. Thread-safe as long as
// each document is used by one thread.
#pragma once

#include <libxml/tree.h>

#include <cstdint>
#include <optional>
#include <string>
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

struct ResponseFor {
  std::string organ_id, code, promulgation_date, document_id;
};

struct OtherInfo {
  std::string priority, sphere_of_promulgation, typer_notation, promulgation_amount, page_amount;
  std::vector<std::string> appendixes;
};

struct MessageHeader {
  Organization from;
  std::vector<Organization> to;
  DocumentCode code;
  std::string promulgation_place, promulgation_date;  // date yyyy/MM/dd
  std::string document_type, document_type_name;
  std::string subject, content;
  std::string signer_competence, signer_position, signer_full_name;
  std::string due_date;
  std::vector<std::string> to_places;
  OtherInfo other_info;
  std::vector<ResponseFor> response_for;
  std::string steering_type;
  std::string document_id;  // "{sender OrganId},{yyyy/MM/dd},{số/ký hiệu}"
};

struct TraceHeader {
  std::string organ_id, timestamp;
};

struct Business {
  std::string doc_type;  // 0 new, 1 revocation, 2 update, 3 replacement
  std::string reason, document_id;
};

struct AttachmentInfo {
  std::string content_id, name, description, content_type;
  std::uint64_t size = 0;  // decoded bytes
  std::string sha256;      // hex of the decoded bytes
  bool decoded = false;    // false when the base64 was not valid
};

struct StaffInfo {
  std::string department, staff, email, mobile;
};

// The status package: same wrapper, no body (DOMAIN.md "The status package").
struct StatusInfo {
  ResponseFor response_for;
  Organization from;
  std::string status_code;
  std::string description;
  std::string timestamp;
  StaffInfo staff;
};

enum class PackageKind { document, status };

struct Package {
  PackageKind kind = PackageKind::document;
  std::string namespace_uri;
  MessageHeader header;  // kind == document
  StatusInfo status;     // kind == status
  std::vector<TraceHeader> traces;
  std::optional<Business> business;
  std::vector<AttachmentInfo> attachments;
  bool signature_present = false;
  std::vector<std::string> warnings;  // lenient agency codes, legacy namespace, ...

  // The organ id named as sender: From/OrganId of the header or of the status.
  const std::string& sender_organ_id() const {
    return kind == PackageKind::status ? status.from.organ_id : header.from.organ_id;
  }
};

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

Result<Package> read_package(xmlDoc* doc, const ReadOptions& options = {});

nlohmann::json to_json(const Package& package);
std::string to_text(const Package& package);

}  // namespace edocgw::edxml
