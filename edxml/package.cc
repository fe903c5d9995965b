#include "edxml/package.h"

#include <sstream>

#include "edxml/agency_code.h"
#include "edxml/xml.h"
#include "util/bytes.h"

namespace edocgw::edxml {
namespace {

using xml::child_text;
using xml::edxml_child;
using xml::edxml_children;

Organization read_organization(const xmlNode* node) {
  Organization o;
  o.organ_id = child_text(node, "OrganId");
  o.organization_in_charge = child_text(node, "OrganizationInCharge");
  o.organ_name = child_text(node, "OrganName");
  o.organ_add = child_text(node, "OrganAdd");
  o.email = child_text(node, "Email");
  o.telephone = child_text(node, "Telephone");
  o.fax = child_text(node, "Fax");
  o.website = child_text(node, "Website");
  return o;
}

ResponseFor read_response_for(const xmlNode* node) {
  return ResponseFor{child_text(node, "OrganId"), child_text(node, "Code"),
                     child_text(node, "PromulgationDate"), child_text(node, "DocumentId")};
}

void check_agency_code(const std::string& code, const std::string& where, Package& p) {
  switch (classify_agency_code(code)) {
    case AgencyCodeForm::strict:
      break;
    case AgencyCodeForm::lenient:
      p.warnings.push_back(where + " '" + code +
                           "' is accepted leniently: letters stand where digits are expected");
      break;
    case AgencyCodeForm::invalid:
      p.warnings.push_back(where + " '" + code + "' is not an agency code (such as 000.00.12.H50)");
      break;
  }
}

MessageHeader read_message_header(const xmlNode* mh) {
  MessageHeader h;
  h.from = read_organization(edxml_child(mh, "From"));
  for (xmlNode* to : edxml_children(mh, "To")) h.to.push_back(read_organization(to));
  const xmlNode* code = edxml_child(mh, "Code");
  h.code = {child_text(code, "CodeNumber"), child_text(code, "CodeNotation")};
  const xmlNode* prom = edxml_child(mh, "PromulgationInfo");
  h.promulgation_place = child_text(prom, "Place");
  h.promulgation_date = child_text(prom, "PromulgationDate");
  const xmlNode* type = edxml_child(mh, "DocumentType");
  h.document_type = child_text(type, "Type");
  h.document_type_name = child_text(type, "TypeName");
  h.subject = child_text(mh, "Subject");
  h.content = child_text(mh, "Content");
  const xmlNode* signer = edxml_child(mh, "SignerInfo");
  h.signer_competence = child_text(signer, "Competence");
  h.signer_position = child_text(signer, "Position");
  h.signer_full_name = child_text(signer, "FullName");
  h.due_date = child_text(mh, "DueDate");
  for (xmlNode* place : edxml_children(edxml_child(mh, "ToPlaces"), "Place")) {
    h.to_places.push_back(xml::text_of(place));
  }
  const xmlNode* other = edxml_child(mh, "OtherInfo");
  h.other_info.priority = child_text(other, "Priority");
  h.other_info.sphere_of_promulgation = child_text(other, "SphereOfPromulgation");
  h.other_info.typer_notation = child_text(other, "TyperNotation");
  h.other_info.promulgation_amount = child_text(other, "PromulgationAmount");
  h.other_info.page_amount = child_text(other, "PageAmount");
  for (xmlNode* a : edxml_children(edxml_child(other, "Appendixes"), "Appendix")) {
    h.other_info.appendixes.push_back(xml::text_of(a));
  }
  for (xmlNode* r : edxml_children(mh, "ResponseFor"))
    h.response_for.push_back(read_response_for(r));
  h.steering_type = child_text(mh, "SteeringType");
  h.document_id = child_text(mh, "DocumentId");
  return h;
}

StatusInfo read_status(const xmlNode* st) {
  StatusInfo s;
  s.response_for = read_response_for(edxml_child(st, "ResponseFor"));
  s.from = read_organization(edxml_child(st, "From"));
  s.status_code = child_text(st, "StatusCode");
  s.description = child_text(st, "Description");
  s.timestamp = child_text(st, "Timestamp");
  const xmlNode* staff = edxml_child(st, "StaffInfo");
  s.staff = {child_text(staff, "Department"), child_text(staff, "Staff"),
             child_text(staff, "Email"), child_text(staff, "Mobile")};
  return s;
}

bool has_dsig_signature(const xmlNode* node) {
  for (const xmlNode* c = node; c != nullptr; c = c->next) {
    if (xml::is_dsig(c, "Signature")) return true;
    if (c->type == XML_ELEMENT_NODE && has_dsig_signature(c->children)) return true;
  }
  return false;
}

}  // namespace

bool is_known_status_code(const std::string& code) {
  return !status_code_meaning(code).empty();
}

std::string status_code_meaning(const std::string& code) {
  if (code == "01") return "arrived";
  if (code == "02") return "refused";
  if (code == "03") return "accepted and registered";
  if (code == "04") return "assigned for handling";
  if (code == "05") return "being handled";
  if (code == "06") return "completed";
  if (code == "13") return "sender asks to recall";
  if (code == "14" || code == "15") return "recipient agrees to recall/update";
  if (code == "16") return "recipient refuses recall/update";
  return {};
}

Result<Skeleton> find_skeleton(xmlDoc* doc) {
  Skeleton s;
  s.root = xmlDocGetRootElement(doc);
  if (!xml::is_edxml(s.root, "edXML")) {
    const std::string ns(xml::ns_of(s.root));
    return make_error(Errc::malformed, "the root element is {" + ns + "}" +
                                           reinterpret_cast<const char*>(s.root->name) +
                                           ", not edXML in the " + std::string(xml::kEdxmlNs) +
                                           " namespace");
  }
  s.envelope = edxml_child(s.root, "edXMLEnvelope");
  if (s.envelope == nullptr) return make_error(Errc::malformed, "the package has no edXMLEnvelope");
  s.header = edxml_child(s.envelope, "edXMLHeader");
  if (s.header == nullptr) return make_error(Errc::malformed, "the package has no edXMLHeader");
  return s;
}

Result<Package> read_package(xmlDoc* doc, const ReadOptions& options) {
  auto skeleton = find_skeleton(doc);
  if (!skeleton) return skeleton.error();
  const Skeleton& s = *skeleton;
  Package p;
  p.namespace_uri = std::string(xml::ns_of(s.root));
  if (p.namespace_uri == xml::kEdxmlLegacyNs) {
    p.warnings.push_back("the package uses the legacy namespace " + p.namespace_uri);
  }
  const xmlNode* mh = edxml_child(s.header, "MessageHeader");
  const xmlNode* st = edxml_child(s.header, "Status");
  if (mh != nullptr) {
    p.kind = PackageKind::document;
    p.header = read_message_header(mh);
    if (p.header.from.organ_id.empty()) {
      return make_error(Errc::malformed, "MessageHeader/From/OrganId is missing or empty");
    }
    check_agency_code(p.header.from.organ_id, "From/OrganId", p);
    if (p.header.to.empty()) return make_error(Errc::malformed, "MessageHeader has no To");
    for (const auto& to : p.header.to) check_agency_code(to.organ_id, "To/OrganId", p);
  } else if (st != nullptr) {
    p.kind = PackageKind::status;
    p.status = read_status(st);
    if (p.status.from.organ_id.empty()) {
      return make_error(Errc::malformed, "Status/From/OrganId is missing or empty");
    }
    check_agency_code(p.status.from.organ_id, "Status/From/OrganId", p);
    if (!is_known_status_code(p.status.status_code)) {
      return make_error(Errc::malformed, "Status/StatusCode '" + p.status.status_code +
                                             "' is not a known status code");
    }
  } else {
    return make_error(Errc::malformed, "edXMLHeader holds neither a MessageHeader nor a Status");
  }

  if (const xmlNode* trace_list = edxml_child(s.header, "TraceHeaderList")) {
    for (xmlNode* t : edxml_children(trace_list, "TraceHeader")) {
      p.traces.push_back({child_text(t, "OrganId"), child_text(t, "Timestamp")});
    }
    if (const xmlNode* b = edxml_child(trace_list, "Bussiness")) {
      p.business = Business{child_text(b, "BussinessDocType"), child_text(b, "BussinessDocReason"),
                            child_text(b, "DocumentId")};
    }
  }

  const xmlNode* manifest = edxml_child(edxml_child(s.envelope, "edXMLBody"), "edXMLManifest");
  std::vector<xmlNode*> refs = edxml_children(manifest, "Reference");
  for (xmlNode* a : edxml_children(edxml_child(s.root, "AttachmentEncoded"), "Attachment")) {
    AttachmentInfo info;
    info.content_id = child_text(a, "ContentId");
    info.name = child_text(a, "AttachmentName");
    info.description = child_text(a, "Description");
    info.content_type = child_text(a, "ContentType");
    if (options.decode_attachments) {
      auto bytes = base64_decode(child_text(a, "ContentTransferEncoded"));
      if (bytes) {
        info.decoded = true;
        info.size = bytes->size();
        info.sha256 = sha256_hex(*bytes);
      } else {
        p.warnings.push_back("attachment '" + info.name + "' is not valid base64");
      }
    }
    bool listed = false;
    for (xmlNode* r : refs) {
      if (child_text(r, "ContentId") == "cid:" + info.content_id) listed = true;
    }
    if (!listed) {
      p.warnings.push_back("attachment '" + info.name + "' is not listed in edXMLManifest");
    }
    p.attachments.push_back(std::move(info));
  }
  p.signature_present = has_dsig_signature(s.root);
  return p;
}

namespace {

nlohmann::json org_json(const Organization& o) {
  return {{"organ_id", o.organ_id},
          {"organization_in_charge", o.organization_in_charge},
          {"organ_name", o.organ_name},
          {"organ_add", o.organ_add},
          {"email", o.email},
          {"telephone", o.telephone},
          {"fax", o.fax},
          {"website", o.website}};
}

nlohmann::json response_for_json(const ResponseFor& r) {
  return {{"organ_id", r.organ_id},
          {"code", r.code},
          {"promulgation_date", r.promulgation_date},
          {"document_id", r.document_id}};
}

}  // namespace

nlohmann::json to_json(const Package& p) {
  nlohmann::json j;
  j["kind"] = p.kind == PackageKind::status ? "status" : "document";
  j["namespace"] = p.namespace_uri;
  if (p.kind == PackageKind::document) {
    const MessageHeader& h = p.header;
    j["from"] = org_json(h.from);
    j["to"] = nlohmann::json::array();
    for (const auto& to : h.to) j["to"].push_back(org_json(to));
    j["code"] = {{"number", h.code.number}, {"notation", h.code.notation}};
    j["promulgation"] = {{"place", h.promulgation_place}, {"date", h.promulgation_date}};
    j["document_type"] = {{"type", h.document_type}, {"name", h.document_type_name}};
    j["subject"] = h.subject;
    j["content"] = h.content;
    j["signer"] = {{"competence", h.signer_competence},
                   {"position", h.signer_position},
                   {"full_name", h.signer_full_name}};
    j["due_date"] = h.due_date;
    j["to_places"] = h.to_places;
    j["steering_type"] = h.steering_type;
    j["document_id"] = h.document_id;
    j["response_for"] = nlohmann::json::array();
    for (const auto& r : h.response_for) j["response_for"].push_back(response_for_json(r));
  } else {
    const StatusInfo& s = p.status;
    j["from"] = org_json(s.from);
    j["response_for"] = response_for_json(s.response_for);
    j["status_code"] = s.status_code;
    j["status_meaning"] = status_code_meaning(s.status_code);
    j["description"] = s.description;
    j["timestamp"] = s.timestamp;
    j["staff"] = {{"department", s.staff.department},
                  {"staff", s.staff.staff},
                  {"email", s.staff.email},
                  {"mobile", s.staff.mobile}};
  }
  j["traces"] = nlohmann::json::array();
  for (const auto& t : p.traces)
    j["traces"].push_back({{"organ_id", t.organ_id}, {"timestamp", t.timestamp}});
  if (p.business) {
    j["business"] = {{"doc_type", p.business->doc_type},
                     {"reason", p.business->reason},
                     {"document_id", p.business->document_id}};
  }
  j["attachments"] = nlohmann::json::array();
  for (const auto& a : p.attachments) {
    nlohmann::json aj = {{"content_id", a.content_id},
                         {"name", a.name},
                         {"description", a.description},
                         {"content_type", a.content_type}};
    if (a.decoded) {
      aj["size"] = a.size;
      aj["sha256"] = a.sha256;
    }
    j["attachments"].push_back(aj);
  }
  j["signature_present"] = p.signature_present;
  j["warnings"] = p.warnings;
  return j;
}

std::string to_text(const Package& p) {
  std::ostringstream out;
  auto org = [](const Organization& o) {
    return o.organ_id + (o.organ_name.empty() ? "" : " (" + o.organ_name + ")");
  };
  if (p.kind == PackageKind::document) {
    const MessageHeader& h = p.header;
    out << "kind:        document\n";
    out << "document id: " << h.document_id << "\n";
    out << "from:        " << org(h.from) << "\n";
    for (const auto& to : h.to) out << "to:          " << org(to) << "\n";
    out << "code:        " << h.code.number << "/" << h.code.notation << "\n";
    out << "subject:     " << h.subject << "\n";
    out << "promulgated: " << h.promulgation_date
        << (h.promulgation_place.empty() ? "" : " at " + h.promulgation_place) << "\n";
    if (!h.due_date.empty()) out << "due:         " << h.due_date << "\n";
  } else {
    const StatusInfo& s = p.status;
    out << "kind:        status\n";
    out << "from:        " << org(s.from) << "\n";
    out << "status:      " << s.status_code << " (" << status_code_meaning(s.status_code) << ")\n";
    out << "for:         " << s.response_for.document_id << "\n";
    if (!s.description.empty()) out << "description: " << s.description << "\n";
    out << "timestamp:   " << s.timestamp << "\n";
  }
  for (const auto& t : p.traces)
    out << "trace:       " << t.organ_id << " at " << t.timestamp << "\n";
  for (const auto& a : p.attachments) {
    out << "attachment:  " << a.name << " (" << a.content_type << ", ";
    if (a.decoded) {
      out << a.size << " bytes, sha256 " << a.sha256 << ")\n";
    } else {
      out << "not decoded)\n";
    }
  }
  out << "signature:   " << (p.signature_present ? "present" : "absent") << "\n";
  for (const auto& w : p.warnings) out << "warning:     " << w << "\n";
  return out.str();
}

}  // namespace edocgw::edxml
