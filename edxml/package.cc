#include "edxml/package.h"

#include <sstream>
#include <unordered_map>

#include "edxml/agency_code.h"
#include "edxml/xml.h"
#include "util/bytes.h"
#include "util/time.h"

namespace edocgw::edxml {
namespace {

using xml::child_text;
using xml::edxml_child;
using xml::edxml_children;

std::string trimmed(std::string s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.back())) s.pop_back();
  size_t start = 0;
  while (start < s.size() && blank(s[start])) ++start;
  return s.substr(start);
}

// Text of an identifier or code element: real packages indent them across
// lines now and then, and EdXML102 trims StatusCode; trimming changes no
// value a sender meant.
std::string child_token(const xmlNode* parent, const char* local) {
  return trimmed(child_text(parent, local));
}

Organization read_organization(const xmlNode* node) {
  Organization o;
  o.organ_id = child_token(node, "OrganId");
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
  return ResponseFor{child_token(node, "OrganId"), child_text(node, "Code"),
                     child_token(node, "PromulgationDate"), child_token(node, "DocumentId")};
}

StaffInfo read_staff(const xmlNode* node) {
  return StaffInfo{child_text(node, "Department"), child_token(node, "DepartmentId"),
                   child_text(node, "Staff"),      child_token(node, "StaffId"),
                   child_text(node, "Email"),      child_text(node, "Mobile")};
}

void check_agency_code(const std::string& code, const std::string& where, Package& p) {
  switch (classify_agency_code(code)) {
    case AgencyCodeForm::strict:
      break;
    case AgencyCodeForm::lenient:
      p.warnings.push_back(where + " '" + code +
                           "' is accepted leniently: it is not of the strict form 000.00.12.H50");
      break;
    case AgencyCodeForm::invalid:
      p.warnings.push_back(where + " '" + code + "' is not an agency code (such as 000.00.12.H50)");
      break;
  }
}

void check_date(const std::string& date, const std::string& where, Package& p) {
  if (!date.empty() && !parse_edxml_date(date)) {
    p.warnings.push_back(where + " '" + date +
                         "' is not a date yyyy/MM/dd: real parsers (EdXML102) read it as null");
  }
}

void check_time(const std::string& time, const std::string& where, Package& p) {
  if (time.empty()) {
    p.warnings.push_back(where + " is missing or empty");
  } else if (!parse_edxml_time(time)) {
    const bool rfc3339 = parse_rfc3339(time).ok();
    p.warnings.push_back(where + " '" + time + "' is " + (rfc3339 ? "RFC 3339, " : "") +
                         "unreadable by real parsers: EdXML102 reads only yyyy/MM/dd HH:mm:ss "
                         "(UTC+07:00) and takes this as null");
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
  h.promulgation_date = child_token(prom, "PromulgationDate");
  const xmlNode* type = edxml_child(mh, "DocumentType");
  h.document_type = child_token(type, "Type");
  h.document_type_detail = child_token(type, "TypeDetail");
  h.document_type_name = child_text(type, "TypeName");
  h.subject = child_text(mh, "Subject");
  h.content = child_text(mh, "Content");
  const xmlNode* signer = edxml_child(mh, "SignerInfo");
  h.signer_competence = child_text(signer, "Competence");
  h.signer_position = child_text(signer, "Position");
  h.signer_full_name = child_text(signer, "FullName");
  h.due_date = child_token(mh, "DueDate");
  for (xmlNode* place : edxml_children(edxml_child(mh, "ToPlaces"), "Place")) {
    h.to_places.push_back(xml::text_of(place));
  }
  const xmlNode* other = edxml_child(mh, "OtherInfo");
  h.other_info.priority = child_token(other, "Priority");
  h.other_info.sphere_of_promulgation = child_text(other, "SphereOfPromulgation");
  h.other_info.typer_notation = child_text(other, "TyperNotation");
  h.other_info.promulgation_amount = child_token(other, "PromulgationAmount");
  h.other_info.page_amount = child_token(other, "PageAmount");
  h.other_info.direction = child_token(other, "Direction");
  for (xmlNode* a : edxml_children(edxml_child(other, "Appendixes"), "Appendix")) {
    h.other_info.appendixes.push_back(xml::text_of(a));
  }
  for (xmlNode* r : edxml_children(mh, "ResponseFor"))
    h.response_for.push_back(read_response_for(r));
  h.steering_type = child_token(mh, "SteeringType");
  h.application_type = child_token(mh, "ApplicationType");
  h.response_for_task = child_text(mh, "ResponseForTask");
  h.document_id = child_token(mh, "DocumentId");
  return h;
}

StatusInfo read_status(const xmlNode* st) {
  StatusInfo s;
  s.response_for = read_response_for(edxml_child(st, "ResponseFor"));
  s.from = read_organization(edxml_child(st, "From"));
  s.status_code = child_token(st, "StatusCode");
  s.description = child_text(st, "Description");
  s.timestamp = child_token(st, "Timestamp");
  if (const xmlNode* staff = edxml_child(st, "StaffInfo")) s.staff = read_staff(staff);
  return s;
}

Business read_business(const xmlNode* b, Package& p) {
  Business out;
  // Real samples repeat Bussiness/DocumentId; the first one counts.
  out.document_id = child_token(b, "DocumentId");
  out.doc_type = child_text(b, "BussinessDocType");
  out.type = business_doc_type_from(trimmed(out.doc_type));
  if (out.type == BusinessDocType::unknown) {
    p.warnings.push_back("Bussiness/BussinessDocType '" + out.doc_type +
                         "' is not 0 (new), 1 (revocation), 2 (update) or 3 (replacement)");
  }
  out.reason = child_text(b, "BussinessDocReason");
  out.paper = child_token(b, "Paper");
  if (const xmlNode* info = edxml_child(b, "BussinessDocumentInfo")) {
    BusinessDocumentInfo d;
    d.document_info = child_token(info, "DocumentInfo");
    d.document_receiver = child_token(info, "DocumentReceiver");
    for (xmlNode* r : edxml_children(edxml_child(info, "ReceiverList"), "Receiver")) {
      d.receivers.push_back({child_token(r, "OrganId"), child_token(r, "ReceiverType")});
      check_agency_code(d.receivers.back().organ_id, "Bussiness/.../Receiver/OrganId", p);
    }
    out.document_info = std::move(d);
  }
  for (xmlNode* r : edxml_children(edxml_child(b, "ReplacementInfoList"), "ReplacementInfo")) {
    ReplacementInfo ri;
    ri.document_id = child_token(r, "DocumentId");
    for (xmlNode* o : edxml_children(edxml_child(r, "OrganIdList"), "OrganId")) {
      ri.organ_ids.push_back(trimmed(xml::text_of(o)));
    }
    out.replacements.push_back(std::move(ri));
  }
  if (const xmlNode* staff = edxml_child(b, "StaffInfo")) out.staff = read_staff(staff);
  return out;
}

bool has_dsig_signature(const xmlNode* node) {
  for (const xmlNode* c = node; c != nullptr; c = c->next) {
    if (xml::is_dsig(c, "Signature")) return true;
    if (c->type == XML_ELEMENT_NODE && has_dsig_signature(c->children)) return true;
  }
  return false;
}

// --- unknown elements --------------------------------------------------------

// The elements this model knows (DOMAIN.md's tree plus what VDXP.md section
// 9 says EdXML102 reads). Anything else is listed as unknown, never removed:
// the package bytes are what travels.
struct Schema {
  std::string name;
  std::vector<Schema> children;
  bool opaque = false;  // content not examined (the ResponseForTask of unknown shape)
};

Schema leaf(const char* name) {
  return Schema{name, {}, false};
}
Schema leaves(const char* name, std::initializer_list<const char*> names) {
  Schema s{name, {}, false};
  for (const char* n : names) s.children.push_back(leaf(n));
  return s;
}

const Schema& package_schema(PackageKind kind) {
  static const auto make = [](PackageKind k) {
    const auto org = [](const char* name) {
      return leaves(name, {"OrganId", "OrganizationInCharge", "OrganName", "OrganAdd", "Email",
                           "Telephone", "Fax", "Website"});
    };
    const Schema response_for =
        leaves("ResponseFor", {"OrganId", "Code", "PromulgationDate", "DocumentId"});
    const Schema staff =
        leaves("StaffInfo", {"Department", "DepartmentId", "Staff", "StaffId", "Email", "Mobile"});
    Schema other = leaves("OtherInfo", {"Priority", "SphereOfPromulgation", "TyperNotation",
                                        "PromulgationAmount", "PageAmount", "Direction"});
    other.children.push_back(leaves("Appendixes", {"Appendix"}));
    const Schema document_header{
        "MessageHeader",
        {org("From"), org("To"), leaf("DocumentId"), leaves("Code", {"CodeNumber", "CodeNotation"}),
         leaves("PromulgationInfo", {"Place", "PromulgationDate"}),
         leaves("DocumentType", {"Type", "TypeDetail", "TypeName"}), leaf("Subject"),
         leaf("Content"), leaves("SignerInfo", {"Competence", "Position", "FullName"}),
         leaf("DueDate"), leaves("ToPlaces", {"Place"}), other, response_for, leaf("SteeringType"),
         Schema{"ResponseForTask", {}, true}, leaf("ApplicationType")}};
    const std::vector<Schema> status_children{
        org("From"),        response_for,        staff,
        leaf("StatusCode"), leaf("Description"), leaf("Timestamp")};
    const Schema business{
        "Bussiness",
        {leaf("DocumentId"), leaf("BussinessDocType"), leaf("BussinessDocReason"), leaf("Paper"),
         Schema{"BussinessDocumentInfo",
                {leaf("DocumentInfo"), leaf("DocumentReceiver"),
                 Schema{"ReceiverList", {leaves("Receiver", {"OrganId", "ReceiverType"})}}}},
         Schema{
             "ReplacementInfoList",
             {Schema{"ReplacementInfo", {leaf("DocumentId"), leaves("OrganIdList", {"OrganId"})}}}},
         staff}};
    const Schema trace_list{"TraceHeaderList",
                            {leaves("TraceHeader", {"OrganId", "Timestamp"}), business}};
    Schema header{"edXMLHeader",
                  {trace_list, Schema{"Signature", {}, true}}};  // an edXML placeholder
    if (k == PackageKind::document) {
      header.children.push_back(document_header);
    } else {
      header.children.push_back(Schema{"MessageHeader", status_children});
      header.children.push_back(Schema{"Status", status_children});
    }
    const Schema reference =
        leaves("Reference", {"Description", "AttachmentName", "ContentType", "ContentId"});
    const Schema body{"edXMLBody",
                      {Schema{"edXMLManifest", {reference}}, Schema{"Manifest", {reference}}}};
    const Schema attachments{
        "AttachmentEncoded",
        {leaves("Attachment", {"ContentId", "AttachmentName", "Description", "ContentType",
                               "ContentTransferEncoded", "Format", "FieldName", "MimeType"})}};
    return Schema{"edXML", {Schema{"edXMLEnvelope", {header, body}}, attachments}};
  };
  static const Schema document = make(PackageKind::document);
  static const Schema status = make(PackageKind::status);
  return kind == PackageKind::document ? document : status;
}

void find_unknown(const xmlNode* node, const Schema& schema, Package& p) {
  if (schema.opaque) return;
  for (const xmlNode* c = node->children; c != nullptr; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    // The XMLDSig signature is the verifier's business, not the model's.
    if (schema.name == "edXMLHeader" && xml::is_dsig(c, "Signature")) continue;
    const Schema* known = nullptr;
    for (const Schema& s : schema.children) {
      if (xml::is_edxml(c, s.name.c_str())) known = &s;
    }
    if (known != nullptr) {
      find_unknown(c, *known, p);
    } else {
      p.unknown_elements.push_back({xml::path_of(c), std::string(xml::ns_of(c))});
    }
  }
}

}  // namespace

BusinessDocType business_doc_type_from(std::string_view raw) {
  if (raw == "0") return BusinessDocType::new_document;
  if (raw == "1") return BusinessDocType::revocation;
  if (raw == "2") return BusinessDocType::update;
  if (raw == "3") return BusinessDocType::replacement;
  return BusinessDocType::unknown;
}

const char* business_doc_type_name(BusinessDocType t) {
  switch (t) {
    case BusinessDocType::new_document:
      return "new";
    case BusinessDocType::revocation:
      return "revocation";
    case BusinessDocType::update:
      return "update";
    case BusinessDocType::replacement:
      return "replacement";
    case BusinessDocType::unknown:
      break;
  }
  return "unknown";
}

std::string_view bare_content_id(std::string_view id) {
  while (!id.empty() &&
         (id.front() == ' ' || id.front() == '\t' || id.front() == '\r' || id.front() == '\n')) {
    id.remove_prefix(1);
  }
  while (!id.empty() &&
         (id.back() == ' ' || id.back() == '\t' || id.back() == '\r' || id.back() == '\n')) {
    id.remove_suffix(1);
  }
  if (id.size() >= 4 && (id[0] == 'c' || id[0] == 'C') && (id[1] == 'i' || id[1] == 'I') &&
      (id[2] == 'd' || id[2] == 'D') && id[3] == ':') {
    id.remove_prefix(4);
  }
  return id;
}

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

namespace {

Status read_status_into(const xmlNode* st, const std::string& where, Package& p) {
  p.kind = PackageKind::status;
  p.status = read_status(st);
  if (p.status.from.organ_id.empty()) {
    return make_error(Errc::malformed, where + "/From/OrganId is missing or empty");
  }
  check_agency_code(p.status.from.organ_id, where + "/From/OrganId", p);
  if (edxml_child(st, "ResponseFor") == nullptr) {
    return make_error(Errc::malformed, where + " has a StatusCode but no ResponseFor");
  }
  // Routing and attaching a status need both: without them it is about nothing.
  if (p.status.response_for.organ_id.empty() || p.status.response_for.document_id.empty()) {
    return make_error(Errc::malformed,
                      where +
                          "/ResponseFor needs an OrganId and a DocumentId (where the status "
                          "goes and what it is about)");
  }
  check_agency_code(p.status.response_for.organ_id, where + "/ResponseFor/OrganId", p);
  check_date(p.status.response_for.promulgation_date, where + "/ResponseFor/PromulgationDate", p);
  if (p.status.status_code == "14") {
    p.status.status_code = "15";
    p.warnings.push_back(where + "/StatusCode 14 is read as 15 (recipient agrees)");
  }
  if (!is_known_status_code(p.status.status_code)) {
    return make_error(Errc::malformed, where + "/StatusCode '" + p.status.status_code +
                                           "' is not a known status code");
  }
  check_time(p.status.timestamp, where + "/Timestamp", p);
  return {};
}

// What an Attachment element says of itself (not its bytes).
AttachmentInfo attachment_info(const xmlNode* a) {
  AttachmentInfo info;
  info.content_id = child_token(a, "ContentId");
  info.name = child_text(a, "AttachmentName");
  info.description = child_text(a, "Description");
  info.content_type = child_token(a, "ContentType");
  return info;
}

}  // namespace

Status for_each_attachment(
    xmlDoc* doc,
    const std::function<void(const AttachmentInfo& info, std::string_view bytes)>& visit) {
  auto s = find_skeleton(doc);
  if (!s) return s.error();
  const std::vector<xmlNode*> encoded =
      edxml_children(edxml_child(s->root, "AttachmentEncoded"), "Attachment");
  if (encoded.size() > kMaxAttachments) {
    return make_error(Errc::malformed, "the package holds more than " +
                                           std::to_string(kMaxAttachments) + " attachments");
  }
  for (xmlNode* a : encoded) {
    AttachmentInfo info = attachment_info(a);
    auto bytes = base64_decode(child_text(a, "ContentTransferEncoded"));
    if (!bytes) {
      visit(info, {});
      continue;
    }
    info.decoded = true;
    info.size = bytes->size();
    visit(info, *bytes);
  }
  return Status::success();
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
  // The kind comes from the content (DOMAIN.md): real status packages are a
  // MessageHeader told apart by StatusCode and ResponseFor, with no To.
  if (mh != nullptr && edxml_child(mh, "StatusCode") != nullptr) {
    if (edxml_child(mh, "To") != nullptr) {
      return make_error(Errc::malformed,
                        "MessageHeader has both a StatusCode and a To: it is neither a status "
                        "(no To) nor a document (no StatusCode)");
    }
    if (auto ok = read_status_into(mh, "MessageHeader", p); !ok) return ok.error();
  } else if (mh != nullptr) {
    p.kind = PackageKind::document;
    p.header = read_message_header(mh);
    if (p.header.from.organ_id.empty()) {
      return make_error(Errc::malformed, "MessageHeader/From/OrganId is missing or empty");
    }
    check_agency_code(p.header.from.organ_id, "From/OrganId", p);
    if (p.header.to.empty()) return make_error(Errc::malformed, "MessageHeader has no To");
    for (const auto& to : p.header.to) check_agency_code(to.organ_id, "To/OrganId", p);
    for (const auto& rf : p.header.response_for) {
      if (!rf.organ_id.empty()) check_agency_code(rf.organ_id, "ResponseFor/OrganId", p);
    }
    check_date(p.header.promulgation_date, "PromulgationInfo/PromulgationDate", p);
    check_date(p.header.due_date, "DueDate", p);
  } else if (st != nullptr) {
    p.legacy_status_element = true;
    p.warnings.push_back(
        "the status is an edXMLHeader/Status, a non-standard variant real parsers do not read");
    if (auto ok = read_status_into(st, "Status", p); !ok) return ok.error();
  } else {
    return make_error(Errc::malformed, "edXMLHeader holds neither a MessageHeader nor a Status");
  }

  if (const xmlNode* trace_list = edxml_child(s.header, "TraceHeaderList")) {
    if (xmlChar* id = xmlGetProp(trace_list, BAD_CAST "id")) {
      p.trace_list_id = reinterpret_cast<const char*>(id);
      xmlFree(id);
    }
    if (xmlChar* version = xmlGetProp(trace_list, BAD_CAST "version")) {
      p.trace_list_version = reinterpret_cast<const char*>(version);
      xmlFree(version);
    }
    for (xmlNode* t : edxml_children(trace_list, "TraceHeader")) {
      TraceHeader trace{child_token(t, "OrganId"), child_token(t, "Timestamp")};
      // A real axis writes its hop with OrganId empty or "null": no code to check.
      if (!trace.organ_id.empty() && trace.organ_id != "null") {
        check_agency_code(trace.organ_id, "TraceHeader/OrganId", p);
      }
      check_time(trace.timestamp, "TraceHeader/Timestamp", p);
      p.traces.push_back(std::move(trace));
    }
    if (const xmlNode* b = edxml_child(trace_list, "Bussiness")) p.business = read_business(b, p);
  }
  // edxml_child() matches the edXML namespace only: an XMLDSig Signature is not this.
  p.signature_placeholder = edxml_child(s.header, "Signature") != nullptr;

  const xmlNode* body = edxml_child(s.envelope, "edXMLBody");
  const xmlNode* manifest = edxml_child(body, "edXMLManifest");
  if (manifest == nullptr) manifest = edxml_child(body, "Manifest");
  std::vector<xmlNode*> refs = edxml_children(manifest, "Reference");
  const std::vector<xmlNode*> encoded =
      edxml_children(edxml_child(s.root, "AttachmentEncoded"), "Attachment");
  if (refs.size() > kMaxAttachments || encoded.size() > kMaxAttachments) {
    return make_error(Errc::malformed, "the package holds more than " +
                                           std::to_string(kMaxAttachments) +
                                           " attachments or manifest references, which is refused");
  }
  // Manifest references by bare ContentId: matching is one lookup per
  // attachment, not a scan of the manifest (16 such packages once stalled a hub).
  std::unordered_map<std::string, std::vector<size_t>> refs_by_id;
  for (size_t i = 0; i < refs.size(); ++i) {
    refs_by_id[std::string(bare_content_id(child_text(refs[i], "ContentId")))].push_back(i);
  }
  std::vector<bool> ref_used(refs.size(), false);
  for (xmlNode* a : encoded) {
    AttachmentInfo info = attachment_info(a);
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
    if (auto it = refs_by_id.find(std::string(bare_content_id(info.content_id)));
        it != refs_by_id.end()) {
      listed = true;
      for (size_t i : it->second) ref_used[i] = true;
    }
    if (!listed) {
      p.warnings.push_back("attachment '" + info.name + "' is not listed in edXMLManifest");
    }
    p.attachments.push_back(std::move(info));
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    if (!ref_used[i]) {
      p.warnings.push_back("edXMLManifest lists ContentId '" + child_token(refs[i], "ContentId") +
                           "' but no Attachment carries it");
    }
  }
  p.signature_present = has_dsig_signature(s.root);
  find_unknown(s.root, package_schema(p.kind), p);
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

nlohmann::json staff_json(const StaffInfo& s) {
  return {{"department", s.department}, {"department_id", s.department_id},
          {"staff", s.staff},           {"staff_id", s.staff_id},
          {"email", s.email},           {"mobile", s.mobile}};
}

// The instant an edXML time names, in RFC 3339 (UTC), or null when real
// parsers could not read it: what the gateway will order statuses by.
nlohmann::json time_json(const std::string& edxml_time) {
  auto t = parse_edxml_time(edxml_time);
  return t ? nlohmann::json(format_rfc3339(*t)) : nlohmann::json(nullptr);
}

nlohmann::json business_json(const Business& b) {
  nlohmann::json j = {{"doc_type", b.doc_type},
                      {"doc_type_name", business_doc_type_name(b.type)},
                      {"reason", b.reason},
                      {"document_id", b.document_id},
                      {"paper", b.paper}};
  if (b.document_info) {
    nlohmann::json receivers = nlohmann::json::array();
    for (const auto& r : b.document_info->receivers) {
      receivers.push_back({{"organ_id", r.organ_id}, {"receiver_type", r.receiver_type}});
    }
    j["document_info"] = {{"document_info", b.document_info->document_info},
                          {"document_receiver", b.document_info->document_receiver},
                          {"receivers", receivers}};
  }
  j["replacements"] = nlohmann::json::array();
  for (const auto& r : b.replacements) {
    j["replacements"].push_back({{"document_id", r.document_id}, {"organ_ids", r.organ_ids}});
  }
  if (b.staff) j["staff"] = staff_json(*b.staff);
  return j;
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
    j["document_type"] = {{"type", h.document_type},
                          {"type_detail", h.document_type_detail},
                          {"name", h.document_type_name}};
    j["subject"] = h.subject;
    j["content"] = h.content;
    j["signer"] = {{"competence", h.signer_competence},
                   {"position", h.signer_position},
                   {"full_name", h.signer_full_name}};
    j["due_date"] = h.due_date;
    j["to_places"] = h.to_places;
    j["other_info"] = {{"priority", h.other_info.priority},
                       {"sphere_of_promulgation", h.other_info.sphere_of_promulgation},
                       {"typer_notation", h.other_info.typer_notation},
                       {"promulgation_amount", h.other_info.promulgation_amount},
                       {"page_amount", h.other_info.page_amount},
                       {"direction", h.other_info.direction},
                       {"appendixes", h.other_info.appendixes}};
    j["steering_type"] = h.steering_type;
    j["application_type"] = h.application_type;
    j["response_for_task"] = h.response_for_task;
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
    j["timestamp_utc"] = time_json(s.timestamp);
    j["staff"] = staff_json(s.staff);
    j["legacy_status_element"] = p.legacy_status_element;
  }
  j["concerned_document_id"] = p.concerned_document_id();
  j["trace_list"] = {{"id", p.trace_list_id}, {"version", p.trace_list_version}};
  j["traces"] = nlohmann::json::array();
  for (const auto& t : p.traces) {
    j["traces"].push_back({{"organ_id", t.organ_id},
                           {"timestamp", t.timestamp},
                           {"timestamp_utc", time_json(t.timestamp)}});
  }
  if (p.business) j["business"] = business_json(*p.business);
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
  j["signature_placeholder"] = p.signature_placeholder;
  j["unknown_elements"] = nlohmann::json::array();
  for (const auto& u : p.unknown_elements) {
    j["unknown_elements"].push_back({{"name", u.path.substr(u.path.rfind('/') + 1)},
                                     {"path", u.path},
                                     {"namespace", u.namespace_uri}});
  }
  j["warnings"] = p.warnings;
  return j;
}

std::string to_text(const Package& p) {
  std::ostringstream out;
  auto org = [](const Organization& o) {
    return o.organ_id + (o.organ_name.empty() ? "" : " (" + o.organ_name + ")");
  };
  auto staff = [&](const StaffInfo& s) {
    std::string line = s.staff;
    if (!s.staff_id.empty()) line += " [" + s.staff_id + "]";
    if (!s.department.empty()) line += ", " + s.department;
    if (!s.department_id.empty()) line += " [" + s.department_id + "]";
    if (!s.email.empty()) line += ", " + s.email;
    if (!s.mobile.empty()) line += ", " + s.mobile;
    return line;
  };
  if (p.kind == PackageKind::document) {
    const MessageHeader& h = p.header;
    out << "kind:        document\n";
    out << "document id: " << h.document_id << "\n";
    out << "from:        " << org(h.from) << "\n";
    for (const auto& to : h.to) out << "to:          " << org(to) << "\n";
    out << "code:        " << h.code.number << "/" << h.code.notation << "\n";
    if (!h.document_type.empty() || !h.document_type_name.empty()) {
      out << "type:        " << h.document_type
          << (h.document_type_detail.empty() ? "" : " detail " + h.document_type_detail)
          << (h.document_type_name.empty() ? "" : " (" + h.document_type_name + ")") << "\n";
    }
    out << "subject:     " << h.subject << "\n";
    out << "promulgated: " << h.promulgation_date
        << (h.promulgation_place.empty() ? "" : " at " + h.promulgation_place) << "\n";
    if (!h.due_date.empty()) out << "due:         " << h.due_date << "\n";
    if (!h.signer_full_name.empty()) {
      out << "signer:      " << h.signer_full_name
          << (h.signer_position.empty() ? "" : ", " + h.signer_position) << "\n";
    }
    for (const auto& r : h.response_for) {
      if (r.document_id.empty() && r.organ_id.empty()) continue;
      out << "answers:     " << r.document_id << " (" << r.organ_id << ")\n";
    }
  } else {
    const StatusInfo& s = p.status;
    out << "kind:        status" << (p.legacy_status_element ? " (legacy Status element)" : "")
        << "\n";
    out << "from:        " << org(s.from) << "\n";
    out << "status:      " << s.status_code << " (" << status_code_meaning(s.status_code) << ")\n";
    out << "for:         " << s.response_for.document_id << "\n";
    out << "to:          " << s.response_for.organ_id << "\n";
    if (!s.description.empty()) out << "description: " << s.description << "\n";
    auto t = parse_edxml_time(s.timestamp);
    out << "timestamp:   " << s.timestamp
        << (t ? " (" + format_rfc3339(*t) + ")" : std::string(" (unreadable)")) << "\n";
    if (!s.staff.staff.empty() || !s.staff.department.empty()) {
      out << "staff:       " << staff(s.staff) << "\n";
    }
  }
  if (p.business) {
    const Business& b = *p.business;
    out << "business:    " << b.doc_type << " (" << business_doc_type_name(b.type) << ")"
        << (b.reason.empty() ? "" : ": " + b.reason) << (b.paper == "1" ? ", on paper too" : "")
        << "\n";
    out << "concerns:    " << p.concerned_document_id() << "\n";
    if (b.document_info) {
      out << "changes:     content " << b.document_info->document_info << ", recipients "
          << b.document_info->document_receiver << "\n";
      for (const auto& r : b.document_info->receivers) {
        out << "receiver:    " << r.organ_id
            << (r.receiver_type == "0"   ? " removed"
                : r.receiver_type == "1" ? " added"
                                         : " type " + r.receiver_type)
            << "\n";
      }
    }
    for (const auto& r : b.replacements) {
      out << "replaces:    " << r.document_id;
      for (size_t i = 0; i < r.organ_ids.size(); ++i)
        out << (i == 0 ? " for " : ", ") << r.organ_ids[i];
      out << "\n";
    }
    if (b.staff) out << "staff:       " << staff(*b.staff) << "\n";
  }
  for (const auto& t : p.traces) {
    out << "trace:       " << (t.organ_id.empty() ? "(no organ)" : t.organ_id) << " at "
        << t.timestamp << "\n";
  }
  for (const auto& a : p.attachments) {
    out << "attachment:  " << a.name << " (" << a.content_type << ", ";
    if (a.decoded) {
      out << a.size << " bytes, sha256 " << a.sha256 << ")\n";
    } else {
      out << "not decoded)\n";
    }
  }
  out << "signature:   "
      << (p.signature_present       ? "present"
          : p.signature_placeholder ? "absent (an edXML Signature placeholder, not XMLDSig)"
                                    : "absent")
      << "\n";
  for (const auto& u : p.unknown_elements) {
    out << "unknown:     " << u.path
        << (u.namespace_uri.empty() ? "" : " {" + u.namespace_uri + "}") << "\n";
  }
  for (const auto& w : p.warnings) out << "warning:     " << w << "\n";
  return out.str();
}

}  // namespace edocgw::edxml
