// edxml/package_builder.h: builds unsigned edXML packages, documents from
// JSON metadata plus attachment files and status packages from a StatusInfo.
//
// The JSON metadata layout is documented in README.md ("edXML metadata");
// unknown keys are errors so that a typo never silently drops a field.
// Only strict agency codes are generated. Stateless and thread-safe.
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

Result<std::string> build_package(const nlohmann::json& meta, std::vector<AttachmentFile> files,
                                  TimePoint now);
Result<std::string> build_status_package(const StatusInfo& status);
Result<StatusInfo> status_from_json(const nlohmann::json& meta, TimePoint now);

std::string guess_content_type(const std::string& file_name);

}  // namespace edocgw::edxml
