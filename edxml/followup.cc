#include "edxml/followup.h"

#include <libxml/tree.h>

#include "edxml/package.h"
#include "edxml/xml.h"

namespace edocgw::edxml {
namespace {

const xmlChar* x(const char* s) {
  return reinterpret_cast<const xmlChar*>(s);
}

// A child element in the namespace (and with the prefix) of `parent`.
xmlNode* add(xmlNode* parent, const char* name, const std::string& text = {}) {
  xmlNode* n = xmlNewChild(parent, parent->ns, x(name), nullptr);
  if (!text.empty()) xmlNodeAddContent(n, x(text.c_str()));
  return n;
}

void remove_node(xmlNode* n) {
  xmlUnlinkNode(n);
  xmlFreeNode(n);
}

}  // namespace

Result<std::string> make_followup(std::string_view package, const FollowUp& f, TimePoint now) {
  if (f.type < 1 || f.type > 3)
    return make_error(Errc::usage, "a follow-up is a revocation, an update or a replacement");
  auto doc = xml::parse_untrusted_xml(package);
  if (!doc) return doc.error();
  auto skeleton = find_skeleton(doc->get());
  if (!skeleton) return skeleton.error();
  xmlNode* header = skeleton->header;
  xmlNode* message = xml::edxml_child(header, "MessageHeader");
  if (message == nullptr || xml::edxml_child(message, "To") == nullptr)
    return make_error(Errc::malformed, "only a document package can have a follow-up");

  for (xmlNode* c : xml::element_children(header)) {
    if (xml::is_dsig(c, "Signature") || xml::is_edxml(c, "Signature")) remove_node(c);
  }
  // Recipients added by an update are addressed too.
  xmlNode* last_to = xml::edxml_children(message, "To").back();
  for (const auto& r : f.receivers) {
    if (!r.added) continue;
    bool present = false;
    for (xmlNode* to : xml::edxml_children(message, "To"))
      present = present || xml::child_text(to, "OrganId") == r.organ_id;
    if (present) continue;
    xmlNode* to = xmlNewNode(message->ns, x("To"));
    add(to, "OrganId", r.organ_id);
    last_to = xmlAddNextSibling(last_to, to);
  }

  xmlNode* traces = xml::edxml_child(header, "TraceHeaderList");
  if (traces == nullptr) {
    traces = xmlNewNode(header->ns, x("TraceHeaderList"));
    xmlAddNextSibling(message, traces);
  }
  for (xmlNode* c : xml::element_children(traces)) remove_node(c);

  // Bussiness first, then our TraceHeader, as the real builder writes them.
  xmlNode* b = add(traces, "Bussiness");
  add(b, "DocumentId", f.document_id);
  add(b, "BussinessDocType", std::to_string(f.type));
  add(b, "BussinessDocReason", f.reason);
  add(b, "Paper", "0");
  if (f.type == 2) {
    xmlNode* info = add(b, "BussinessDocumentInfo");
    add(info, "DocumentInfo", f.content_changed ? "1" : "0");
    add(info, "DocumentReceiver", f.receivers.empty() ? "0" : "1");
    if (!f.receivers.empty()) {
      xmlNode* list = add(info, "ReceiverList");
      for (const auto& r : f.receivers) {
        xmlNode* rec = add(list, "Receiver");
        add(rec, "OrganId", r.organ_id);
        add(rec, "ReceiverType", r.added ? "1" : "0");
      }
    }
  }
  if (f.type == 3) {
    xmlNode* info = add(add(b, "ReplacementInfoList"), "ReplacementInfo");
    add(info, "DocumentId", f.document_id);
    xmlNode* organs = add(info, "OrganIdList");
    for (const auto& organ : f.replaced_for) add(organs, "OrganId", organ);
  }
  xmlNode* trace = add(traces, "TraceHeader");
  add(trace, "OrganId", f.sender_organ_id);
  add(trace, "Timestamp", format_edxml_time(now));
  return xml::serialize(doc->get());
}

}  // namespace edocgw::edxml
