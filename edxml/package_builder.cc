#include "edxml/package_builder.h"

#include <algorithm>
#include <set>

#include "edxml/agency_code.h"
#include "edxml/xml.h"
#include "util/bytes.h"
#include "util/utf8.h"

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
    if (!j_.is_object()) {  // e.g. a key given twice, the last one an array
      return make_error(Errc::malformed, (where_.empty() ? std::string("the metadata") : where_) +
                                             " must be a JSON object");
    }
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

// `own`: the organisation is us (From), so only a strict code will do; a
// recipient's code is someone else's, written as they gave it (lenient).
Result<Organization> org_from_json(const nlohmann::json& j, const std::string& where, bool own) {
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
  if (own ? !is_strict_agency_code(o.organ_id)
          : classify_agency_code(o.organ_id) == AgencyCodeForm::invalid) {
    return make_error(Errc::malformed, where + ".organ_id '" + o.organ_id +
                                           "' is not an agency code of the form 000.00.12.H50" +
                                           (own ? " (we write only strict codes as our own)" : ""));
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
  if (!rf.promulgation_date.empty() && !is_edxml_date(rf.promulgation_date)) {
    return make_error(Errc::malformed, where + ".promulgation_date '" + rf.promulgation_date +
                                           "' is not a date of the form yyyy/MM/dd");
  }
  return rf;
}

Result<StaffInfo> staff_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return make_error(Errc::malformed, where + " must be an object");
  ObjectReader r(j, where + ".");
  StaffInfo s;
  s.department = r.str("department");
  s.department_id = r.str("department_id");
  s.staff = r.str("staff");
  s.staff_id = r.str("staff_id");
  s.email = r.str("email");
  s.mobile = r.str("mobile");
  if (auto st = r.finish(); !st) return st.error();
  return s;
}

// An edXML time field from the metadata: empty is `now`; RFC 3339 (handy on
// a command line) is converted; what we write is always yyyy/MM/dd
// HH:mm:ss in UTC+07:00, the only form real parsers read.
Result<std::string> edxml_time_from(const std::string& text, TimePoint now,
                                    const std::string& where) {
  if (text.empty()) return format_edxml_time(now);
  if (is_edxml_time(text)) return text;
  if (auto t = parse_rfc3339(text)) return format_edxml_time(*t);
  return make_error(Errc::malformed, where + " '" + text +
                                         "' is not a time yyyy/MM/dd HH:mm:ss (UTC+07:00) "
                                         "or RFC 3339");
}

// Small wrapper over the libxml2 tree API, in EdXML102's namespace layout
// (VDXP.md section 9, VDXP-captures.md "Packages used"): the root
// `<edXML xmlns="…">` in the default namespace, `<edXML:edXMLEnvelope
// xmlns:edXML="…">` and everything in it prefixed, AttachmentEncoded and
// its Attachment children unprefixed, except ContentTransferEncoded, which
// declares the prefix again for itself. Real parsers match by namespace and
// local name, so the layout is for byte-level likeness, not for meaning.
class TreeWriter {
 public:
  TreeWriter() : doc_((xml::init_xml(), xmlNewDoc(BAD_CAST "1.0"))) {
    root_ = xmlNewNode(nullptr, BAD_CAST "edXML");
    default_ns_ = xmlNewNs(root_, BAD_CAST xml::kEdxmlNs, nullptr);
    xmlSetNs(root_, default_ns_);
    xmlDocSetRootElement(doc_.get(), root_);
  }
  xmlNode* root() const { return root_; }
  // The envelope declares the edXML prefix that everything inside it uses.
  xmlNode* envelope() {
    xmlNode* env = xmlNewChild(root_, nullptr, BAD_CAST "edXMLEnvelope", nullptr);
    ns_ = xmlNewNs(env, BAD_CAST xml::kEdxmlNs, BAD_CAST "edXML");
    xmlSetNs(env, ns_);
    return env;
  }
  xmlNode* element(xmlNode* parent, const char* name) {
    return xmlNewChild(parent, ns_, BAD_CAST name, nullptr);
  }
  // Text children are escaped by libxml2 (xmlNewTextChild), but characters
  // XML forbids (U+0001, U+FFFE) it writes raw: those are refused instead,
  // in finish(), naming the field.
  xmlNode* text(xmlNode* parent, const char* name, const std::string& value) {
    check(name, value);
    return xmlNewTextChild(parent, ns_, BAD_CAST name, BAD_CAST value.c_str());
  }
  void check(const char* field, std::string_view value) {
    if (!problem_.empty()) return;
    if (value.find('\0') != std::string_view::npos) {
      problem_ = std::string(field) + " holds a NUL character, which XML does not allow";
      return;
    }
    if (auto why = xml_char_problem(value); !why.empty()) {
      problem_ = std::string(field) + " holds " + why + ", which XML does not allow";
    }
  }
  void optional_text(xmlNode* parent, const char* name, const std::string& value) {
    if (!value.empty()) text(parent, name, value);
  }
  // Unprefixed (default namespace), as in AttachmentEncoded.
  xmlNode* plain_element(xmlNode* parent, const char* name) {
    return xmlNewChild(parent, default_ns_, BAD_CAST name, nullptr);
  }
  xmlNode* plain_text(xmlNode* parent, const char* name, const std::string& value) {
    check(name, value);
    return xmlNewTextChild(parent, default_ns_, BAD_CAST name, BAD_CAST value.c_str());
  }
  // <edXML:NAME xmlns:edXML="…">, outside the envelope's declaration.
  xmlNode* self_prefixed_element(xmlNode* parent, const char* name) {
    xmlNode* n = xmlNewChild(parent, nullptr, BAD_CAST name, nullptr);
    xmlSetNs(n, xmlNewNs(n, BAD_CAST xml::kEdxmlNs, BAD_CAST "edXML"));
    return n;
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
  // The order EdXML102's StatusXmlBuilder writes (VDXP-captures.md).
  void response_for(xmlNode* parent, const ResponseFor& r) {
    xmlNode* n = element(parent, "ResponseFor");
    text(n, "OrganId", r.organ_id);
    text(n, "Code", r.code);
    text(n, "DocumentId", r.document_id);
    text(n, "PromulgationDate", r.promulgation_date);
  }
  void staff(xmlNode* parent, const StaffInfo& s) {
    xmlNode* n = element(parent, "StaffInfo");
    text(n, "Department", s.department);
    optional_text(n, "DepartmentId", s.department_id);
    text(n, "Staff", s.staff);
    optional_text(n, "StaffId", s.staff_id);
    text(n, "Email", s.email);
    text(n, "Mobile", s.mobile);
  }
  Result<std::string> finish() {
    if (!problem_.empty()) return make_error(Errc::malformed, problem_);
    return xml::serialize(doc_.get(), /*pretty=*/true);
  }

 private:
  xml::XmlDocPtr doc_;
  xmlNode* root_ = nullptr;
  xmlNs* default_ns_ = nullptr;
  xmlNs* ns_ = nullptr;
  std::string problem_;  // the first text XML cannot hold, named; "" when none
};

// Whether a DocumentId we write as our own starts with a strict code.
bool strict_document_id(const std::string& id) {
  const size_t comma = id.find(',');
  return comma != std::string::npos && is_strict_agency_code(std::string_view(id).substr(0, comma));
}

const char* default_business_reason(BusinessDocType t) {
  // The reasons the real samples carry (shared/samples/vnpt-sdk).
  switch (t) {
    case BusinessDocType::new_document:
      return "Văn bản điện tử mới";
    case BusinessDocType::revocation:
      return "Thu hồi văn bản điện tử";
    case BusinessDocType::update:
      return "Cập nhật văn bản điện tử";
    case BusinessDocType::replacement:
      return "Văn bản thay thế";
    case BusinessDocType::unknown:
      break;
  }
  return "";
}

Result<Business> business_from_json(const nlohmann::json* j, const std::string& document_id) {
  Business b;
  b.doc_type = "0";
  b.document_id = document_id;
  b.paper = "0";
  if (j != nullptr) {
    if (!j->is_object()) return make_error(Errc::malformed, "business must be an object");
    ObjectReader r(*j, "business.");
    if (std::string type = r.str("doc_type"); !type.empty()) b.doc_type = type;
    b.reason = r.str("reason");
    if (std::string id = r.str("document_id"); !id.empty()) b.document_id = id;
    if (std::string paper = r.str("paper"); !paper.empty()) b.paper = paper;
    if (const nlohmann::json* info = r.sub("document_info")) {
      if (!info->is_object())
        return make_error(Errc::malformed, "business.document_info must be an object");
      ObjectReader ir(*info, "business.document_info.");
      BusinessDocumentInfo d;
      d.document_info = ir.str("document_info");
      d.document_receiver = ir.str("document_receiver");
      if (const nlohmann::json* receivers = ir.sub("receivers")) {
        if (!receivers->is_array())
          return make_error(Errc::malformed, "business.document_info.receivers must be a list");
        for (const auto& rj : *receivers) {
          const std::string where = "business.document_info.receivers[].";
          if (!rj.is_object()) return make_error(Errc::malformed, where + " must be objects");
          ObjectReader rr(rj, where);
          BusinessReceiver rec{rr.str("organ_id"), rr.str("receiver_type")};
          if (auto st = rr.finish(); !st) return st.error();
          if (classify_agency_code(rec.organ_id) == AgencyCodeForm::invalid) {
            return make_error(Errc::malformed,
                              where + "organ_id '" + rec.organ_id + "' is not an agency code");
          }
          if (rec.receiver_type != "0" && rec.receiver_type != "1") {
            return make_error(Errc::malformed,
                              where + "receiver_type must be 0 (removed) or 1 (added)");
          }
          d.receivers.push_back(std::move(rec));
        }
      }
      if (auto st = ir.finish(); !st) return st.error();
      if (d.document_info.empty()) d.document_info = "0";
      if (d.document_receiver.empty()) d.document_receiver = d.receivers.empty() ? "0" : "1";
      b.document_info = std::move(d);
    }
    if (const nlohmann::json* reps = r.sub("replacements")) {
      if (!reps->is_array())
        return make_error(Errc::malformed, "business.replacements must be a list");
      for (const auto& rj : *reps) {
        if (!rj.is_object())
          return make_error(Errc::malformed, "business.replacements[] must be objects");
        ObjectReader rr(rj, "business.replacements[].");
        ReplacementInfo ri;
        ri.document_id = rr.str("document_id");
        auto organs = string_list(rr.sub("organ_ids"), "business.replacements[].organ_ids");
        if (!organs) return organs.error();
        ri.organ_ids = std::move(*organs);
        if (auto st = rr.finish(); !st) return st.error();
        if (ri.document_id.empty()) {
          return make_error(Errc::malformed,
                            "business.replacements[] needs the document_id it replaces");
        }
        for (const auto& o : ri.organ_ids) {
          if (classify_agency_code(o) == AgencyCodeForm::invalid) {
            return make_error(Errc::malformed, "business.replacements[].organ_ids: '" + o +
                                                   "' is not an agency code");
          }
        }
        b.replacements.push_back(std::move(ri));
      }
    }
    if (const nlohmann::json* staff = r.sub("staff")) {
      auto st = staff_from_json(*staff, "business.staff");
      if (!st) return st.error();
      b.staff = std::move(*st);
    }
    if (auto st = r.finish(); !st) return st.error();
  }
  b.type = business_doc_type_from(b.doc_type);
  if (b.type == BusinessDocType::unknown) {
    return make_error(Errc::malformed,
                      "business.doc_type must be 0 (new), 1 (revocation), "
                      "2 (update) or 3 (replacement)");
  }
  if (b.paper != "0" && b.paper != "1") {
    return make_error(Errc::malformed, "business.paper must be 0 or 1");
  }
  if (b.type == BusinessDocType::replacement && b.replacements.empty()) {
    return make_error(Errc::malformed,
                      "a replacement (business.doc_type 3) names the documents it replaces in "
                      "business.replacements");
  }
  if (b.reason.empty()) b.reason = default_business_reason(b.type);
  return b;
}

void write_business(TreeWriter& w, xmlNode* parent, const Business& b) {
  xmlNode* bus = w.element(parent, "Bussiness");
  w.optional_text(bus, "DocumentId", b.document_id);
  w.text(bus, "BussinessDocType", b.doc_type);
  w.text(bus, "BussinessDocReason", b.reason);
  w.text(bus, "Paper", b.paper);
  if (b.document_info) {
    xmlNode* info = w.element(bus, "BussinessDocumentInfo");
    w.text(info, "DocumentInfo", b.document_info->document_info);
    w.text(info, "DocumentReceiver", b.document_info->document_receiver);
    if (!b.document_info->receivers.empty()) {
      xmlNode* list = w.element(info, "ReceiverList");
      for (const auto& r : b.document_info->receivers) {
        xmlNode* rec = w.element(list, "Receiver");
        w.text(rec, "OrganId", r.organ_id);
        w.text(rec, "ReceiverType", r.receiver_type);
      }
    }
  }
  if (!b.replacements.empty()) {
    xmlNode* list = w.element(bus, "ReplacementInfoList");
    for (const auto& r : b.replacements) {
      xmlNode* ri = w.element(list, "ReplacementInfo");
      w.text(ri, "DocumentId", r.document_id);
      xmlNode* organs = w.element(ri, "OrganIdList");
      for (const auto& o : r.organ_ids) w.text(organs, "OrganId", o);
    }
  }
  if (b.staff) w.staff(bus, *b.staff);
}

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
  auto from_org = org_from_json(*from, "from", /*own=*/true);
  if (!from_org) return from_org.error();
  h.from = std::move(*from_org);

  const nlohmann::json* to = r.sub("to");
  if (to == nullptr || !to->is_array() || to->empty()) {
    return make_error(Errc::malformed,
                      "the metadata needs \"to\": a list of one or more recipients");
  }
  for (size_t i = 0; i < to->size(); ++i) {
    auto org = org_from_json((*to)[i], "to[" + std::to_string(i) + "]", /*own=*/false);
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
    h.document_type_detail = t.str("type_detail");
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
    h.other_info.direction = o.str("direction");
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
  h.application_type = r.str("application_type");
  h.document_id = r.str("document_id");
  if (h.document_id.empty()) h.document_id = make_document_id(h);
  if (!strict_document_id(h.document_id)) {
    return make_error(Errc::malformed, "document_id '" + h.document_id +
                                           "' must start with a strict agency code and a comma "
                                           "({OrganId},{yyyy/MM/dd},{số/ký hiệu}): it is ours");
  }
  r.sub("business");     // read by build_package
  r.sub("attachments");  // read by build_package
  r.sub("timestamp");    // read by build_package
  r.sub("trace_list");   // read by build_package
  if (auto st = r.finish(); !st) return st.error();
  return h;
}

Result<std::string> build_package(const nlohmann::json& meta, std::vector<AttachmentFile> files,
                                  TimePoint now) {
  auto header = header_from_json(meta, now);
  if (!header) return header.error();
  const MessageHeader& h = *header;

  auto sub = [&](const char* key) -> const nlohmann::json* {
    auto it = meta.find(key);
    return it == meta.end() || it->is_null() ? nullptr : &*it;
  };
  auto business = business_from_json(sub("business"), h.document_id);
  if (!business) return business.error();
  std::string timestamp_text;
  if (const nlohmann::json* t = sub("timestamp")) {
    if (!t->is_string()) return make_error(Errc::malformed, "timestamp must be a string");
    timestamp_text = t->get<std::string>();
  }
  auto timestamp = edxml_time_from(timestamp_text, now, "timestamp");
  if (!timestamp) return timestamp.error();
  std::string list_id, list_version;
  if (const nlohmann::json* tl = sub("trace_list")) {
    if (!tl->is_object()) return make_error(Errc::malformed, "trace_list must be an object");
    ObjectReader t(*tl, "trace_list.");
    list_id = t.str("id");
    list_version = t.str("version");
    if (auto st = t.finish(); !st) return st.error();
  }
  // Optional descriptions for --attach files, matched by name.
  if (const nlohmann::json* list = sub("attachments")) {
    if (!list->is_array()) return make_error(Errc::malformed, "attachments must be a list");
    for (const auto& a : *list) {
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

  // Children in the order of EdXML102's EdXmlBuilder (VDXP-captures.md
  // "Packages used"); real parsers match by name, so order is likeness only.
  TreeWriter w;
  xmlNode* envelope = w.envelope();
  xmlNode* header_node = w.element(envelope, "edXMLHeader");
  xmlNode* mh = w.element(header_node, "MessageHeader");
  w.organization(mh, "From", h.from);
  for (const auto& to : h.to) w.organization(mh, "To", to);
  w.text(mh, "DocumentId", h.document_id);
  xmlNode* code = w.element(mh, "Code");
  w.text(code, "CodeNumber", h.code.number);
  w.text(code, "CodeNotation", h.code.notation);
  xmlNode* prom = w.element(mh, "PromulgationInfo");
  w.text(prom, "Place", h.promulgation_place);
  w.text(prom, "PromulgationDate", h.promulgation_date);
  xmlNode* type = w.element(mh, "DocumentType");
  w.text(type, "Type", h.document_type);
  w.optional_text(type, "TypeDetail", h.document_type_detail);
  w.text(type, "TypeName", h.document_type_name);
  w.text(mh, "Subject", h.subject);
  w.text(mh, "Content", h.content);
  xmlNode* signer = w.element(mh, "SignerInfo");
  w.text(signer, "Competence", h.signer_competence);
  w.text(signer, "Position", h.signer_position);
  w.text(signer, "FullName", h.signer_full_name);
  w.optional_text(mh, "DueDate", h.due_date);
  xmlNode* other = w.element(mh, "OtherInfo");
  w.text(other, "Priority", h.other_info.priority.empty() ? "0" : h.other_info.priority);
  w.optional_text(other, "SphereOfPromulgation", h.other_info.sphere_of_promulgation);
  w.optional_text(other, "TyperNotation", h.other_info.typer_notation);
  w.optional_text(other, "PromulgationAmount", h.other_info.promulgation_amount);
  w.optional_text(other, "PageAmount", h.other_info.page_amount);
  w.optional_text(other, "Direction", h.other_info.direction);
  if (!h.other_info.appendixes.empty()) {
    xmlNode* apps = w.element(other, "Appendixes");
    for (const auto& a : h.other_info.appendixes) w.text(apps, "Appendix", a);
  }
  for (const auto& rf : h.response_for) w.response_for(mh, rf);
  w.optional_text(mh, "SteeringType", h.steering_type);
  if (!h.to_places.empty()) {
    xmlNode* places = w.element(mh, "ToPlaces");
    for (const auto& p : h.to_places) w.text(places, "Place", p);
  }
  w.optional_text(mh, "ApplicationType", h.application_type);

  // Bussiness first, then the sender's TraceHeader, as EdXmlBuilder writes them.
  xmlNode* traces = w.element(header_node, "TraceHeaderList");
  w.check("trace_list.id", list_id);
  w.check("trace_list.version", list_version);
  if (!list_id.empty()) xmlNewProp(traces, BAD_CAST "id", BAD_CAST list_id.c_str());
  if (!list_version.empty()) xmlNewProp(traces, BAD_CAST "version", BAD_CAST list_version.c_str());
  write_business(w, traces, *business);
  xmlNode* trace = w.element(traces, "TraceHeader");
  w.text(trace, "OrganId", h.from.organ_id);
  w.text(trace, "Timestamp", *timestamp);

  xmlNode* body = w.element(envelope, "edXMLBody");
  xmlNode* manifest = w.element(body, "edXMLManifest");
  xmlNewProp(manifest, BAD_CAST "version", BAD_CAST "1.0");
  xmlNode* encoded = w.plain_element(w.root(), "AttachmentEncoded");
  for (auto& f : files) {
    if (f.content_type.empty()) f.content_type = guess_content_type(f.name);
    // "cid:" on both sides, as every real sender in shared/samples/vnpt-sdk
    // writes it (edoc.edxml, edoc_new/update/revocation/replacement): a
    // reader that compares the two texts as they are (EdXML102 keeps the
    // Attachment's ContentId verbatim) then finds the attachment; we read
    // either form (bare_content_id).
    const std::string id = "cid:" + random_uuid();
    xmlNode* ref = w.element(manifest, "Reference");
    w.text(ref, "ContentId", id);
    w.text(ref, "ContentType", f.content_type);
    w.text(ref, "Description", f.description);
    w.text(ref, "AttachmentName", f.name);
    xmlNode* att = w.plain_element(encoded, "Attachment");
    w.plain_text(att, "ContentId", id);
    w.plain_text(att, "AttachmentName", f.name);
    w.plain_text(att, "Description", f.description);
    w.plain_text(att, "ContentType", f.content_type);
    // Base64 needs no escaping: add the text node directly (no copy through the escaper).
    xmlNode* content = w.self_prefixed_element(att, "ContentTransferEncoded");
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
  auto org = org_from_json(*from, "from", /*own=*/true);
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
  auto timestamp = edxml_time_from(r.str("timestamp"), now, "timestamp");
  if (!timestamp) return timestamp.error();
  s.timestamp = std::move(*timestamp);
  if (const nlohmann::json* staff = r.sub("staff"); staff != nullptr) {
    auto st = staff_from_json(*staff, "staff");
    if (!st) return st.error();
    s.staff = std::move(*st);
  }
  if (auto ok = r.finish(); !ok) return ok.error();
  if (s.response_for.document_id.empty()) {
    return make_error(Errc::malformed,
                      "response_for.document_id is required: the document the status is about");
  }
  return s;
}

Result<std::string> build_status_package(const StatusInfo& s) {
  if (!is_strict_agency_code(s.from.organ_id)) {
    return make_error(Errc::malformed, "status From/OrganId '" + s.from.organ_id +
                                           "' is not an agency code of the form 000.00.12.H50");
  }
  // ResponseFor/OrganId is the other side's code, echoed as received.
  if (classify_agency_code(s.response_for.organ_id) == AgencyCodeForm::invalid) {
    return make_error(Errc::malformed, "status ResponseFor/OrganId '" + s.response_for.organ_id +
                                           "' is not an agency code");
  }
  if (s.response_for.document_id.empty()) {
    return make_error(Errc::malformed, "status ResponseFor/DocumentId is empty");
  }
  const std::string code = s.status_code == "14" ? "15" : s.status_code;
  if (!is_known_status_code(code)) {
    return make_error(Errc::malformed, "'" + s.status_code + "' is not a known status code");
  }
  // Only yyyy/MM/dd HH:mm:ss (UTC+07:00) is written: real parsers read
  // anything else as null. A caller still holding RFC 3339 gets it converted
  // rather than sent unreadable; anything unreadable is refused.
  std::string timestamp;
  if (is_edxml_time(s.timestamp)) {
    timestamp = s.timestamp;
  } else if (auto t = parse_rfc3339(s.timestamp)) {
    timestamp = format_edxml_time(*t);
  } else if (auto lenient = parse_edxml_time(s.timestamp)) {
    timestamp = format_edxml_time(*lenient);
  } else {
    return make_error(Errc::malformed, "status Timestamp '" + s.timestamp +
                                           "' is not a time yyyy/MM/dd HH:mm:ss (UTC+07:00)");
  }
  // edXMLHeader/MessageHeader, children in StatusXmlBuilder's order; no To,
  // no TraceHeaderList, no body (VDXP-captures.md "Status package").
  TreeWriter w;
  xmlNode* envelope = w.envelope();
  xmlNode* header = w.element(envelope, "edXMLHeader");
  xmlNode* mh = w.element(header, "MessageHeader");
  w.organization(mh, "From", s.from);
  w.response_for(mh, s.response_for);
  w.staff(mh, s.staff);
  w.text(mh, "StatusCode", code);
  w.text(mh, "Description", s.description);
  w.text(mh, "Timestamp", timestamp);
  return w.finish();
}

}  // namespace edocgw::edxml
