#include "edxml/package_builder.h"

#include <algorithm>
#include <set>

#include "edxml/agency_code.h"
#include "edxml/xml.h"
#include "util/bytes.h"

namespace edocgw::edxml {
namespace {

// Reads string members of one JSON object and remembers which keys it used,
// so that leftovers can be reported as unknown.
class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {}

  std::string str(const std::string& key) {
    used_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return {};
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<long long>());
    error_ = where_ + key + " must be a string";
    return {};
  }

  const nlohmann::json* sub(const std::string& key) {
    used_.insert(key);
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  Status finish() const {
    if (!error_.empty()) return make_error(Errc::malformed, error_);
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (!used_.count(it.key())) {
        return make_error(Errc::malformed,
                          "unknown field " + where_ + it.key() + " in the metadata");
      }
    }
    return {};
  }

 private:
  const nlohmann::json& j_;
  std::string where_;
  std::set<std::string> used_;
  std::string error_;
};

Result<Organization> org_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return make_error(Errc::malformed, where + " must be an object");
  ObjectReader r(j, where + ".");
  Organization o;
  o.organ_id = r.str("organ_id");
  o.organization_in_charge = r.str("organization_in_charge");
  o.organ_name = r.str("organ_name");
  o.organ_add = r.str("organ_add");
  o.email = r.str("email");
  o.telephone = r.str("telephone");
  o.fax = r.str("fax");
  o.website = r.str("website");
  if (auto st = r.finish(); !st) return st.error();
  if (!is_strict_agency_code(o.organ_id)) {
    return make_error(Errc::malformed, where + ".organ_id '" + o.organ_id +
                                           "' is not an agency code of the form 000.00.12.H50");
  }
  return o;
}

Result<std::vector<std::string>> string_list(const nlohmann::json* j, const std::string& where) {
  std::vector<std::string> out;
  if (j == nullptr) return out;
  if (!j->is_array()) return make_error(Errc::malformed, where + " must be a list of strings");
  for (const auto& v : *j) {
    if (!v.is_string()) return make_error(Errc::malformed, where + " must be a list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<ResponseFor> response_for_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return make_error(Errc::malformed, where + " must be an object");
  ObjectReader r(j, where + ".");
  ResponseFor rf{r.str("organ_id"), r.str("code"), r.str("promulgation_date"),
                 r.str("document_id")};
  if (auto st = r.finish(); !st) return st.error();
  if (classify_agency_code(rf.organ_id) == AgencyCodeForm::invalid) {
    return make_error(Errc::malformed,
                      where + ".organ_id '" + rf.organ_id + "' is not an agency code");
  }
  return rf;
}

// Small wrapper over the libxml2 tree API: every element is in the edXML namespace.
class TreeWriter {
 public:
  TreeWriter() : doc_(xmlNewDoc(BAD_CAST "1.0")) {
    root_ = xmlNewNode(nullptr, BAD_CAST "edXML");
    ns_ = xmlNewNs(root_, BAD_CAST xml::kEdxmlNs, BAD_CAST "edXML");
    xmlSetNs(root_, ns_);
    xmlDocSetRootElement(doc_.get(), root_);
  }
  xmlNode* root() const { return root_; }
  xmlNode* element(xmlNode* parent, const char* name) {
    return xmlNewChild(parent, ns_, BAD_CAST name, nullptr);
  }
  // Text children are escaped by libxml2 (xmlNewTextChild).
  xmlNode* text(xmlNode* parent, const char* name, const std::string& value) {
    return xmlNewTextChild(parent, ns_, BAD_CAST name, BAD_CAST value.c_str());
  }
  void optional_text(xmlNode* parent, const char* name, const std::string& value) {
    if (!value.empty()) text(parent, name, value);
  }
  void organization(xmlNode* parent, const char* name, const Organization& o) {
    xmlNode* n = element(parent, name);
    text(n, "OrganId", o.organ_id);
    optional_text(n, "OrganizationInCharge", o.organization_in_charge);
    text(n, "OrganName", o.organ_name);
    optional_text(n, "OrganAdd", o.organ_add);
    optional_text(n, "Email", o.email);
    optional_text(n, "Telephone", o.telephone);
    optional_text(n, "Fax", o.fax);
    optional_text(n, "Website", o.website);
  }
  void response_for(xmlNode* parent, const ResponseFor& r) {
    xmlNode* n = element(parent, "ResponseFor");
    text(n, "OrganId", r.organ_id);
    text(n, "Code", r.code);
    text(n, "PromulgationDate", r.promulgation_date);
    text(n, "DocumentId", r.document_id);
  }
  std::string finish() { return xml::serialize(doc_.get(), /*pretty=*/true); }

 private:
  xml::XmlDocPtr doc_;
  xmlNode* root_ = nullptr;
  xmlNs* ns_ = nullptr;
};

}  // namespace

std::string guess_content_type(const std::string& file_name) {
  std::string ext = file_name.substr(std::min(file_name.size(), file_name.rfind('.') + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (file_name.find('.') == std::string::npos) ext.clear();
  if (ext == "pdf") return "application/pdf";
  if (ext == "doc") return "application/msword";
  if (ext == "docx")
    return "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
  if (ext == "xls") return "application/vnd.ms-excel";
  if (ext == "xlsx") return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  if (ext == "xml") return "application/xml";
  if (ext == "txt") return "text/plain";
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "zip") return "application/zip";
  return "application/octet-stream";
}

std::string make_document_id(const MessageHeader& h) {
  return h.from.organ_id + "," + h.promulgation_date + "," + h.code.number + "/" + h.code.notation;
}

Result<MessageHeader> header_from_json(const nlohmann::json& meta, TimePoint now) {
  if (!meta.is_object()) return make_error(Errc::malformed, "the metadata must be a JSON object");
  ObjectReader r(meta, "");
  MessageHeader h;

  const nlohmann::json* from = r.sub("from");
  if (from == nullptr) return make_error(Errc::malformed, "the metadata has no \"from\"");
  auto from_org = org_from_json(*from, "from");
  if (!from_org) return from_org.error();
  h.from = std::move(*from_org);

  const nlohmann::json* to = r.sub("to");
  if (to == nullptr || !to->is_array() || to->empty()) {
    return make_error(Errc::malformed,
                      "the metadata needs \"to\": a list of one or more recipients");
  }
  for (size_t i = 0; i < to->size(); ++i) {
    auto org = org_from_json((*to)[i], "to[" + std::to_string(i) + "]");
    if (!org) return org.error();
    h.to.push_back(std::move(*org));
  }

  if (const nlohmann::json* code = r.sub("code"); code != nullptr && code->is_object()) {
    ObjectReader c(*code, "code.");
    h.code = {c.str("number"), c.str("notation")};
    if (auto st = c.finish(); !st) return st.error();
  }
  if (h.code.number.empty() || h.code.notation.empty()) {
    return make_error(Errc::malformed, "the metadata needs \"code\": {\"number\", \"notation\"}");
  }
  if (const nlohmann::json* prom = r.sub("promulgation"); prom != nullptr) {
    ObjectReader p(*prom, "promulgation.");
    h.promulgation_place = p.str("place");
    h.promulgation_date = p.str("date");
    if (auto st = p.finish(); !st) return st.error();
  }
  if (h.promulgation_date.empty()) h.promulgation_date = format_edxml_date(now);
  if (!is_edxml_date(h.promulgation_date)) {
    return make_error(Errc::malformed, "promulgation.date '" + h.promulgation_date +
                                           "' is not a date of the form yyyy/MM/dd");
  }
  if (const nlohmann::json* type = r.sub("document_type"); type != nullptr) {
    ObjectReader t(*type, "document_type.");
    h.document_type = t.str("type");
    h.document_type_name = t.str("name");
    if (auto st = t.finish(); !st) return st.error();
  }
  h.subject = r.str("subject");
  if (h.subject.empty()) return make_error(Errc::malformed, "the metadata needs a \"subject\"");
  h.content = r.str("content");
  if (const nlohmann::json* signer = r.sub("signer"); signer != nullptr) {
    ObjectReader s(*signer, "signer.");
    h.signer_competence = s.str("competence");
    h.signer_position = s.str("position");
    h.signer_full_name = s.str("full_name");
    if (auto st = s.finish(); !st) return st.error();
  }
  h.due_date = r.str("due_date");
  if (!h.due_date.empty() && !is_edxml_date(h.due_date)) {
    return make_error(Errc::malformed,
                      "due_date '" + h.due_date + "' is not a date of the form yyyy/MM/dd");
  }
  auto places = string_list(r.sub("to_places"), "to_places");
  if (!places) return places.error();
  h.to_places = std::move(*places);
  if (const nlohmann::json* other = r.sub("other_info"); other != nullptr) {
    ObjectReader o(*other, "other_info.");
    h.other_info.priority = o.str("priority");
    h.other_info.sphere_of_promulgation = o.str("sphere_of_promulgation");
    h.other_info.typer_notation = o.str("typer_notation");
    h.other_info.promulgation_amount = o.str("promulgation_amount");
    h.other_info.page_amount = o.str("page_amount");
    auto appendixes = string_list(o.sub("appendixes"), "other_info.appendixes");
    if (!appendixes) return appendixes.error();
    h.other_info.appendixes = std::move(*appendixes);
    if (auto st = o.finish(); !st) return st.error();
  }
  if (const nlohmann::json* rfs = r.sub("response_for"); rfs != nullptr) {
    if (!rfs->is_array()) return make_error(Errc::malformed, "response_for must be a list");
    for (size_t i = 0; i < rfs->size(); ++i) {
      auto rf = response_for_from_json((*rfs)[i], "response_for[" + std::to_string(i) + "]");
      if (!rf) return rf.error();
      h.response_for.push_back(std::move(*rf));
    }
  }
  h.steering_type = r.str("steering_type");
  h.document_id = r.str("document_id");
  if (h.document_id.empty()) h.document_id = make_document_id(h);
  r.sub("business");     // read by build_package
  r.sub("attachments");  // read by build_package
  if (auto st = r.finish(); !st) return st.error();
  return h;
}

Result<std::string> build_package(const nlohmann::json& meta, std::vector<AttachmentFile> files,
                                  TimePoint now) {
  auto header = header_from_json(meta, now);
  if (!header) return header.error();
  const MessageHeader& h = *header;

  Business business{"0", "", h.document_id};
  if (auto it = meta.find("business"); it != meta.end() && !it->is_null()) {
    ObjectReader b(*it, "business.");
    std::string type = b.str("doc_type");
    if (!type.empty()) business.doc_type = type;
    business.reason = b.str("reason");
    if (auto st = b.finish(); !st) return st.error();
    if (business.doc_type.size() != 1 || business.doc_type[0] < '0' || business.doc_type[0] > '3') {
      return make_error(Errc::malformed,
                        "business.doc_type must be 0 (new), 1 (revocation), "
                        "2 (update) or 3 (replacement)");
    }
  }
  // Optional descriptions for --attach files, matched by name.
  if (auto it = meta.find("attachments"); it != meta.end() && !it->is_null()) {
    if (!it->is_array()) return make_error(Errc::malformed, "attachments must be a list");
    for (const auto& a : *it) {
      ObjectReader ar(a, "attachments[].");
      const std::string name = ar.str("name");
      const std::string description = ar.str("description");
      const std::string content_type = ar.str("content_type");
      if (auto st = ar.finish(); !st) return st.error();
      auto file = std::find_if(files.begin(), files.end(),
                               [&](const AttachmentFile& f) { return f.name == name; });
      if (file == files.end()) {
        return make_error(Errc::usage, "the metadata describes attachment '" + name +
                                           "' but no such file was given with --attach");
      }
      if (file->description.empty()) file->description = description;
      if (file->content_type.empty()) file->content_type = content_type;
    }
  }

  TreeWriter w;
  xmlNode* envelope = w.element(w.root(), "edXMLEnvelope");
  xmlNode* header_node = w.element(envelope, "edXMLHeader");
  xmlNode* mh = w.element(header_node, "MessageHeader");
  w.organization(mh, "From", h.from);
  for (const auto& to : h.to) w.organization(mh, "To", to);
  xmlNode* code = w.element(mh, "Code");
  w.text(code, "CodeNumber", h.code.number);
  w.text(code, "CodeNotation", h.code.notation);
  xmlNode* prom = w.element(mh, "PromulgationInfo");
  w.text(prom, "Place", h.promulgation_place);
  w.text(prom, "PromulgationDate", h.promulgation_date);
  xmlNode* type = w.element(mh, "DocumentType");
  w.text(type, "Type", h.document_type);
  w.text(type, "TypeName", h.document_type_name);
  w.text(mh, "Subject", h.subject);
  w.text(mh, "Content", h.content);
  xmlNode* signer = w.element(mh, "SignerInfo");
  w.text(signer, "Competence", h.signer_competence);
  w.text(signer, "Position", h.signer_position);
  w.text(signer, "FullName", h.signer_full_name);
  w.optional_text(mh, "DueDate", h.due_date);
  if (!h.to_places.empty()) {
    xmlNode* places = w.element(mh, "ToPlaces");
    for (const auto& p : h.to_places) w.text(places, "Place", p);
  }
  xmlNode* other = w.element(mh, "OtherInfo");
  w.text(other, "Priority", h.other_info.priority.empty() ? "0" : h.other_info.priority);
  w.optional_text(other, "SphereOfPromulgation", h.other_info.sphere_of_promulgation);
  w.optional_text(other, "TyperNotation", h.other_info.typer_notation);
  w.optional_text(other, "PromulgationAmount", h.other_info.promulgation_amount);
  w.optional_text(other, "PageAmount", h.other_info.page_amount);
  if (!h.other_info.appendixes.empty()) {
    xmlNode* apps = w.element(other, "Appendixes");
    for (const auto& a : h.other_info.appendixes) w.text(apps, "Appendix", a);
  }
  for (const auto& rf : h.response_for) w.response_for(mh, rf);
  w.optional_text(mh, "SteeringType", h.steering_type);
  w.text(mh, "DocumentId", h.document_id);

  xmlNode* traces = w.element(header_node, "TraceHeaderList");
  xmlNode* bus = w.element(traces, "Bussiness");
  w.text(bus, "BussinessDocType", business.doc_type);
  w.text(bus, "BussinessDocReason", business.reason);
  w.text(bus, "DocumentId", business.document_id);

  xmlNode* body = w.element(envelope, "edXMLBody");
  xmlNode* manifest = w.element(body, "edXMLManifest");
  xmlNode* encoded = files.empty() ? nullptr : w.element(w.root(), "AttachmentEncoded");
  for (auto& f : files) {
    if (f.content_type.empty()) f.content_type = guess_content_type(f.name);
    const std::string id = random_uuid();
    xmlNode* ref = w.element(manifest, "Reference");
    w.text(ref, "Description", f.description);
    w.text(ref, "AttachmentName", f.name);
    w.text(ref, "ContentType", f.content_type);
    w.text(ref, "ContentId", "cid:" + id);
    xmlNode* att = w.element(encoded, "Attachment");
    w.text(att, "ContentId", id);
    w.text(att, "AttachmentName", f.name);
    w.text(att, "Description", f.description);
    w.text(att, "ContentType", f.content_type);
    // Base64 needs no escaping: add the text node directly (no copy through the escaper).
    xmlNode* content = w.element(att, "ContentTransferEncoded");
    const std::string b64 = base64_encode(f.bytes);
    xmlNodeAddContentLen(content, BAD_CAST b64.data(), static_cast<int>(b64.size()));
    std::string().swap(f.bytes);
  }
  return w.finish();
}

Result<StatusInfo> status_from_json(const nlohmann::json& meta, TimePoint now) {
  if (!meta.is_object())
    return make_error(Errc::malformed, "the status metadata must be a JSON object");
  ObjectReader r(meta, "");
  StatusInfo s;
  const nlohmann::json* from = r.sub("from");
  if (from == nullptr) return make_error(Errc::malformed, "the status metadata has no \"from\"");
  auto org = org_from_json(*from, "from");
  if (!org) return org.error();
  s.from = std::move(*org);
  const nlohmann::json* rf = r.sub("response_for");
  if (rf == nullptr)
    return make_error(Errc::malformed, "the status metadata has no \"response_for\"");
  auto response = response_for_from_json(*rf, "response_for");
  if (!response) return response.error();
  s.response_for = std::move(*response);
  s.status_code = r.str("status_code");
  if (s.status_code == "14") s.status_code = "15";
  if (!is_known_status_code(s.status_code)) {
    return make_error(Errc::malformed, "status_code '" + s.status_code +
                                           "' is not a status code of "
                                           "DOMAIN.md (01-06, 13, 15, 16)");
  }
  s.description = r.str("description");
  s.timestamp = r.str("timestamp");
  if (s.timestamp.empty()) s.timestamp = format_rfc3339(now);
  if (const nlohmann::json* staff = r.sub("staff"); staff != nullptr) {
    ObjectReader st(*staff, "staff.");
    s.staff = {st.str("department"), st.str("staff"), st.str("email"), st.str("mobile")};
    if (auto ok = st.finish(); !ok) return ok.error();
  }
  if (auto ok = r.finish(); !ok) return ok.error();
  return s;
}

Result<std::string> build_status_package(const StatusInfo& s) {
  if (!is_strict_agency_code(s.from.organ_id)) {
    return make_error(Errc::malformed, "status From/OrganId '" + s.from.organ_id +
                                           "' is not an agency code of the form 000.00.12.H50");
  }
  if (!is_known_status_code(s.status_code)) {
    return make_error(Errc::malformed, "'" + s.status_code + "' is not a known status code");
  }
  TreeWriter w;
  xmlNode* envelope = w.element(w.root(), "edXMLEnvelope");
  xmlNode* header = w.element(envelope, "edXMLHeader");
  xmlNode* st = w.element(header, "Status");
  w.response_for(st, s.response_for);
  w.organization(st, "From", s.from);
  w.text(st, "StatusCode", s.status_code);
  w.text(st, "Description", s.description);
  w.text(st, "Timestamp", s.timestamp);
  xmlNode* staff = w.element(st, "StaffInfo");
  w.text(staff, "Department", s.staff.department);
  w.text(staff, "Staff", s.staff.staff);
  w.text(staff, "Email", s.staff.email);
  w.text(staff, "Mobile", s.staff.mobile);
  w.element(header, "TraceHeaderList");
  return w.finish();
}

}  // namespace edocgw::edxml
