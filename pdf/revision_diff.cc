#include "pdf/revision_diff.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace edocgw::pdf::internal {

// What an object is to the final document: how the walk from the catalog
// (and the trailer's /Info) reached it. Structural objects (the catalog,
// the page tree and pages, /Annots arrays and annotations, the AcroForm,
// /Fields and fields, signature values) have their own role; everything
// else takes the role of the structure it hangs from (a font of page 1, a
// part of signature field 'Sig2', the DSS...).
enum class Ctx {
  catalog,
  page_tree,
  page,
  page_contents,
  page_annots,
  annotation,
  page_part,
  acroform,
  fields_array,
  field,
  field_part,
  sig_field,
  sig_widget,
  sig_value,
  sig_part,
  dss,
  metadata,
  info,
  catalog_part,
};

struct Role {
  Ctx ctx;
  QPDFObjGen owner;   // the page or the field it belongs to
  int page = 0;       // 1-based, for the page roles
  std::string label;  // a field name, "contents array", ...
  std::string path;   // keys from the owner: "/Resources/Font/F1"
};

namespace {

constexpr size_t kMaxRolesPerObject = 16;
constexpr size_t kMaxPathChars = 160;
constexpr int kMaxDirectDepth = 64;
constexpr int kMaxAnnotations = 100'000;  // per page, compared
// Objects a stream's dictionary names that are followed for stream_dependencies.
constexpr size_t kMaxStreamDependencies = 4096;

std::string quoted(const std::string& name) {
  return "'" + name + "'";
}

// Where a role sits, for descriptions: "page 2", "signature field 'Sig1'".
std::string owner_text(const Role& r) {
  switch (r.ctx) {
    case Ctx::page:
    case Ctx::page_contents:
    case Ctx::page_annots:
    case Ctx::annotation:
    case Ctx::page_part:
      return "page " + std::to_string(r.page);
    case Ctx::field:
    case Ctx::field_part:
      return "form field " + quoted(r.label);
    case Ctx::sig_field:
    case Ctx::sig_widget:
    case Ctx::sig_value:
    case Ctx::sig_part:
      return "signature field " + quoted(r.label);
    case Ctx::dss:
      return "the DSS";
    case Ctx::metadata:
      return "the XMP metadata";
    case Ctx::info:
      return "the /Info dictionary";
    case Ctx::acroform:
    case Ctx::fields_array:
      return "the /AcroForm";
    case Ctx::page_tree:
      return "the page tree";
    case Ctx::catalog:
    case Ctx::catalog_part:
      return "the catalog";
  }
  return "the document";
}

bool same_entry(const QPDFXRefEntry& a, const QPDFXRefEntry& b) {
  if (a.getType() != b.getType()) return false;
  if (a.getType() == 1) return a.getOffset() == b.getOffset();
  if (a.getType() == 2) {
    return a.getObjStreamNumber() == b.getObjStreamNumber() &&
           a.getObjStreamIndex() == b.getObjStreamIndex();
  }
  return true;
}

// The value of a key for comparison: direct values in full, indirect ones
// as their reference.
std::string key_text(QPDFObjectHandle dict, const std::string& key) {
  QPDFObjectHandle v = dict_get(dict, key);
  return v.isNull() ? std::string() : v.unparse();
}

// Keys whose values differ between two dictionaries (streams: their dictionaries).
std::vector<std::string> differing_keys(QPDFObjectHandle a, QPDFObjectHandle b) {
  std::set<std::string> keys;
  for (QPDFObjectHandle d : {a, b}) {
    if (d.isStream()) d = d.getDict();
    if (d.isDictionary()) {
      for (const std::string& k : d.getKeys()) keys.insert(k);
    }
  }
  std::vector<std::string> out;
  for (const std::string& k : keys) {
    if (key_text(a, k) != key_text(b, k)) out.push_back(k);
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += i + 1 == v.size() ? " and " : ", ";
    out += v[i];
  }
  return out;
}

// The annotations of a page as identities: "n g R" for indirect ones, the
// unparsed dictionary for direct ones; nullopt past kMaxAnnotations.
std::optional<std::set<std::string>> annot_ids(QPDFObjectHandle page) {
  std::set<std::string> out;
  QPDFObjectHandle annots = dict_get(page, "/Annots");
  if (!annots.isArray()) return out;
  int n = annots.getArrayNItems();
  if (n > kMaxAnnotations) return std::nullopt;
  for (int i = 0; i < n; ++i) {
    QPDFObjectHandle a = annots.getArrayItem(i);
    out.insert(a.isIndirect() ? ref_text(a.getObjGen()) : a.unparseResolved());
  }
  return out;
}

// Whether every entry of every subdictionary of `before` (/Font, ...) is
// in `after` with the same value: a /DR that only gained resources.
bool only_added_resources(QPDFObjectHandle before, QPDFObjectHandle after) {
  if (!before.isDictionary()) return after.isDictionary() || after.isNull();
  for (const std::string& kind : before.getKeys()) {
    QPDFObjectHandle old_sub = before.getKey(kind), new_sub = dict_get(after, kind);
    if (!old_sub.isDictionary()) {
      if (old_sub.unparse() != new_sub.unparse()) return false;
      continue;
    }
    if (!new_sub.isDictionary()) return false;
    for (const std::string& name : old_sub.getKeys()) {
      if (old_sub.getKey(name).unparse() != key_text(new_sub, name)) return false;
    }
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// The walk of the final document.

struct FinalDocument::Walk {
  FinalDocument& d;
  std::set<QPDFObjGen> structural;
  std::vector<std::pair<QPDFObjectHandle, Role>> work;
  size_t budget;

  bool add(QPDFObjGen og, const Role& role) {
    std::vector<Role>& roles = d.roles_[og];
    for (const Role& r : roles) {
      if (r.ctx == role.ctx && r.owner == role.owner) return false;
    }
    if (budget == 0) {
      d.incomplete_ = true;
      return false;
    }
    --budget;
    if (roles.size() == kMaxRolesPerObject) {
      // Shared by more structures than listed: a change to it is judged
      // as a change of the document itself.
      roles.push_back(Role{Ctx::catalog_part, QPDFObjGen(), 0, "", "(shared too widely to list)"});
      return false;
    }
    if (roles.size() > kMaxRolesPerObject) return false;
    roles.push_back(role);
    return true;
  }

  void structure(QPDFObjectHandle h, const Role& role) {
    if (!h.isIndirect()) return;
    if (!d.xref_.count(h.getObjGen())) {
      d.dangling_.emplace(h.getObjGen(), owner_text(role));
      return;
    }
    structural.insert(h.getObjGen());
    add(h.getObjGen(), role);
  }

  // Walks the direct structure of `h` and gives every indirect object it
  // refers to (not structural, not through /Parent or /P, not `skip` at
  // the top level) the role `ctx`, then does the same for them.
  void children(QPDFObjectHandle h, const Role& ctx, const std::set<std::string>& skip) {
    if (h.isStream()) h = h.getDict();
    std::vector<std::tuple<QPDFObjectHandle, std::string, int>> stack;
    stack.emplace_back(h, ctx.path, 0);
    while (!stack.empty()) {
      QPDFObjectHandle node = std::get<0>(stack.back());
      const std::string path = std::move(std::get<1>(stack.back()));
      const int depth = std::get<2>(stack.back());
      stack.pop_back();
      if (depth > kMaxDirectDepth) continue;
      auto visit = [&](QPDFObjectHandle v, std::string p) {
        if (p.size() > kMaxPathChars) p.resize(kMaxPathChars);
        if (v.isIndirect()) {
          reach(v, ctx, std::move(p));
        } else if (v.isDictionary() || v.isArray()) {
          stack.emplace_back(v, std::move(p), depth + 1);
        }
      };
      if (node.isDictionary()) {
        for (const std::string& key : node.getKeys()) {
          if (key == "/Parent" || key == "/P" || (depth == 0 && skip.count(key))) continue;
          visit(node.getKey(key), path + key);
        }
      } else if (node.isArray()) {
        int n = node.getArrayNItems();
        for (int i = 0; i < n; ++i)
          visit(node.getArrayItem(i), path + "[" + std::to_string(i) + "]");
      }
    }
  }

  void reach(QPDFObjectHandle v, const Role& ctx, std::string path) {
    QPDFObjGen og = v.getObjGen();
    Role role = ctx;
    role.path = std::move(path);
    if (!d.xref_.count(og)) {
      d.dangling_.emplace(og, owner_text(role) + (role.path.empty() ? "" : " at " + role.path));
      return;
    }
    if (structural.count(og)) return;
    if (add(og, role)) work.emplace_back(v, std::move(role));
  }

  void drain() {
    while (!work.empty()) {
      auto [h, role] = std::move(work.back());
      work.pop_back();
      children(h, role, {});
    }
  }

  void run() {
    QPDFObjectHandle root = d.q_.getRoot();
    structure(root, Role{Ctx::catalog, QPDFObjGen(), 0, "", ""});
    // Form structure before the pages, so that a signature widget in a
    // page's /Annots is known as part of its field.
    form_structure(root);
    page_structure();
    form_children(root);
    page_children();
    catalog_children(root);
    QPDFObjectHandle info = dict_get(d.q_.getTrailer(), "/Info");
    if (info.isIndirect()) reach(info, Role{Ctx::info, QPDFObjGen(), 0, "", ""}, "");
    drain();
  }

  void form_structure(QPDFObjectHandle root) {
    QPDF& q = d.q_;
    QPDFObjectHandle acroform = dict_get(root, "/AcroForm");
    structure(acroform, Role{Ctx::acroform, QPDFObjGen(), 0, "", ""});
    structure(dict_get(acroform, "/Fields"), Role{Ctx::fields_array, QPDFObjGen(), 0, "", ""});
    for (const FieldInfo& f : d.fields_.fields) {
      const bool sig = f.type == "Sig" && f.terminal;
      // A direct field (the /Fields array should hold references) keeps
      // the owner 0 0, which no signed revision knows as a field: any
      // change to what it holds is refused.
      if (f.og.getObj() != 0) {
        structure(q.getObjectByObjGen(f.og),
                  Role{sig ? Ctx::sig_field : Ctx::field, f.og, 0, f.name, ""});
      }
      if (!sig) continue;
      for (QPDFObjGen w : f.widgets) {
        if (w != f.og) {
          structure(q.getObjectByObjGen(w), Role{Ctx::sig_widget, f.og, 0, f.name, ""});
        }
      }
      structure(f.value, Role{Ctx::sig_value, f.og, 0, f.name, ""});
    }
  }

  void form_children(QPDFObjectHandle root) {
    QPDF& q = d.q_;
    for (const FieldInfo& f : d.fields_.fields) {
      const bool sig = f.type == "Sig" && f.terminal;
      Role part{sig ? Ctx::sig_part : Ctx::field_part, f.og, 0, f.name, ""};
      if (f.og.getObj() != 0) children(q.getObjectByObjGen(f.og), part, {"/Kids", "/V"});
      if (QPDFObjectHandle v = f.value; v.isDictionary() || v.isArray()) children(v, part, {});
      if (!sig) continue;
      for (QPDFObjGen w : f.widgets) {
        if (w != f.og) children(q.getObjectByObjGen(w), part, {});
      }
    }
    children(dict_get(root, "/AcroForm"), Role{Ctx::catalog_part, QPDFObjGen(), 0, "", "/AcroForm"},
             {"/Fields"});
  }

  void page_structure() {
    QPDF& q = d.q_;
    const PageList& pages = d.pages();
    for (QPDFObjGen og : pages.nodes) {
      structure(q.getObjectByObjGen(og), Role{Ctx::page_tree, og, 0, "", ""});
    }
    for (size_t i = 0; i < pages.pages.size(); ++i) {
      const int n = static_cast<int>(i) + 1;
      const QPDFObjGen page_og = pages.pages[i];
      QPDFObjectHandle page = q.getObjectByObjGen(page_og);
      structure(page, Role{Ctx::page, page_og, n, "", ""});
      QPDFObjectHandle contents = dict_get(page, "/Contents");
      structure(contents, Role{Ctx::page_contents, page_og, n,
                               contents.isArray() ? "contents array" : "", ""});
      const int streams = contents.isArray() ? contents.getArrayNItems() : 0;
      for (int k = 0; k < streams; ++k) {
        structure(contents.getArrayItem(k), Role{Ctx::page_contents, page_og, n, "", ""});
      }
      QPDFObjectHandle annots = dict_get(page, "/Annots");
      structure(annots, Role{Ctx::page_annots, page_og, n, "", ""});
      const int count = annots.isArray() ? annots.getArrayNItems() : 0;
      for (int k = 0; k < count; ++k) {
        QPDFObjectHandle a = annots.getArrayItem(k);
        // A field's widget is already structure, as part of its field.
        if (!a.isIndirect() || structural.count(a.getObjGen())) continue;
        structure(a, Role{Ctx::annotation, page_og, n, kind_of(a), ""});
      }
    }
  }

  void page_children() {
    QPDF& q = d.q_;
    const PageList& pages = d.pages();
    for (size_t i = 0; i < pages.pages.size(); ++i) {
      const int n = static_cast<int>(i) + 1;
      const QPDFObjGen page_og = pages.pages[i];
      QPDFObjectHandle page = q.getObjectByObjGen(page_og);
      children(page, Role{Ctx::page_part, page_og, n, "", ""}, {"/Annots", "/Contents"});
      // What the content streams' dictionaries name (/DecodeParms...).
      QPDFObjectHandle contents = dict_get(page, "/Contents");
      std::vector<QPDFObjectHandle> streams{contents};
      if (contents.isArray()) streams = contents.getArrayAsVector();
      for (QPDFObjectHandle& c : streams) {
        children(c, Role{Ctx::page_part, page_og, n, "", "/Contents"}, {});
      }
      // The annotations' own parts (appearances, popups): through the
      // array for direct annotations, from each indirect one of this page.
      children(dict_get(page, "/Annots"), Role{Ctx::page_part, page_og, n, "", "/Annots"}, {});
      QPDFObjectHandle annots = dict_get(page, "/Annots");
      const int count = annots.isArray() ? annots.getArrayNItems() : 0;
      for (int k = 0; k < count; ++k) {
        QPDFObjectHandle a = annots.getArrayItem(k);
        if (a.isIndirect() && is_annotation(a.getObjGen(), page_og)) {
          children(a, Role{Ctx::page_part, page_og, n, "", "/Annots[" + std::to_string(k) + "]"},
                   {});
        }
      }
    }
    // What /Pages nodes hold for their pages (inherited /Resources...).
    for (QPDFObjGen og : pages.nodes) {
      children(q.getObjectByObjGen(og), Role{Ctx::catalog_part, og, 0, "", "/Pages"}, {"/Kids"});
    }
  }

  bool is_annotation(QPDFObjGen og, QPDFObjGen page_og) {
    auto it = d.roles_.find(og);
    if (it == d.roles_.end()) return false;
    for (const Role& r : it->second) {
      if (r.ctx == Ctx::annotation && r.owner == page_og) return true;
    }
    return false;
  }

  void catalog_children(QPDFObjectHandle root) {
    if (!root.isDictionary()) return;
    for (const std::string& key : root.getKeys()) {
      if (key == "/Pages" || key == "/AcroForm") continue;
      QPDFObjectHandle v = root.getKey(key);
      Ctx ctx = key == "/DSS" ? Ctx::dss : key == "/Metadata" ? Ctx::metadata : Ctx::catalog_part;
      Role role{ctx, QPDFObjGen(), 0, "", key};
      if (v.isIndirect()) {
        reach(v, role, key);
      } else {
        children(v, role, {});
      }
    }
  }
};

FinalDocument::FinalDocument(QPDF& q, const FieldTree& fields, size_t max_objects)
    : q_(q), fields_(fields), max_objects_(max_objects), xref_(q.getXRefTable()) {}

FinalDocument::~FinalDocument() = default;

const PageList& FinalDocument::pages() {
  if (!pages_) pages_ = read_pages(q_, max_objects_);
  return *pages_;
}

void FinalDocument::walk() {
  if (walked_) return;
  walked_ = true;
  Walk w{*this, {}, {}, max_objects_ * 4};
  w.run();
}

const std::vector<Role>* FinalDocument::roles(QPDFObjGen og) {
  walk();
  auto it = roles_.find(og);
  return it == roles_.end() || it->second.empty() ? nullptr : &it->second;
}

const std::map<QPDFObjGen, std::string>& FinalDocument::dangling() {
  walk();
  return dangling_;
}

bool FinalDocument::incomplete() {
  walk();
  return incomplete_;
}

const std::map<QPDFObjGen, std::vector<QPDFObjGen>>& FinalDocument::stream_dependencies() {
  if (!stream_deps_) {
    stream_deps_.emplace();
    for (const auto& [og, entry] : xref_) {
      QPDFObjectHandle h = q_.getObjectByObjGen(og);
      if (!h.isStream()) continue;
      std::vector<QPDFObjectHandle> refs = direct_refs(h, kMaxStreamDependencies);
      if (refs.empty()) continue;
      std::vector<QPDFObjGen>& deps = (*stream_deps_)[og];
      for (QPDFObjectHandle& r : refs) deps.push_back(r.getObjGen());
    }
  }
  return *stream_deps_;
}

// ---------------------------------------------------------------------------
// The comparison.

namespace {

enum class Kind { modified, added, removed };

// The state of a signature field of the final document in the signed revision.
enum class SigState { new_field, filled, was_signed, still_empty, not_a_signature_field };

struct Verdict {
  bool allowed;
  std::string description;
};

class Judge {
 public:
  Judge(QPDF& s, FinalDocument& f, std::optional<int> p,
        const std::map<QPDFObjGen, QPDFXRefEntry>& xs)
      : s_(s), f_(f), p_(p), xs_(xs) {}

  // Roles are only complete over regular structures: a page deeper than
  // the walk goes, or a field below the depth read, would look unused.
  std::optional<std::string> cannot_judge() {
    if (f_.pages().irregular)
      return "the final document's page tree is irregular: " + f_.pages().irregular_detail;
    if (signed_pages().irregular) {
      return "the signed revision's page tree is irregular: " + signed_pages().irregular_detail;
    }
    if (signed_fields().too_deep || signed_fields().too_many) {
      return std::string(
          "the signed revision's form has more fields or levels than the reader follows");
    }
    if (f_.incomplete())
      return std::string("the final document has more object references than the reader follows");
    return std::nullopt;
  }

  Verdict judge(QPDFObjGen og, Kind kind) {
    if (kind == Kind::removed) return judge_removed(og);
    QPDFObjectHandle h = f_.qpdf().getObjectByObjGen(og);
    const std::vector<Role>* roles = f_.roles(og);
    std::string what = ref_text(og) + " (" + kind_of(h) + ")";
    if (!roles) {
      if (kind == Kind::added)
        return {true, what + " is a new object that nothing in the document uses"};
      return {true, what + " was changed, but nothing in the document uses it"};
    }
    std::optional<Verdict> first;
    for (const Role& r : *roles) {
      Verdict v = judge_role(og, h, kind, r);
      if (!v.allowed) return v;
      if (!first) first = v;
    }
    return *first;
  }

 private:
  // -- helpers over the two documents --
  const PageList& signed_pages() {
    if (!s_pages_) s_pages_ = read_pages(s_, 200'000);
    return *s_pages_;
  }
  const FieldTree& signed_fields() {
    if (!s_fields_) s_fields_ = read_fields(s_, kMaxFormFields, kMaxFieldDepth);
    return *s_fields_;
  }
  bool existed(QPDFObjGen og) const { return xs_.count(og) != 0; }

  std::string docmdp_refusal() const {
    return ", which the certification signature's DocMDP (P=" + std::to_string(p_.value_or(0)) +
           ") does not allow";
  }

  const FieldInfo* final_field(QPDFObjGen og) const { return f_.fields().find(og); }

  SigState sig_state(QPDFObjGen field_og) {
    if (field_og.getObj() == 0) return SigState::not_a_signature_field;  // a direct field
    const FieldInfo* before = signed_fields().find(field_og);
    const FieldInfo* now = final_field(field_og);
    if (!before) return existed(field_og) ? SigState::not_a_signature_field : SigState::new_field;
    if (before->type != "Sig" || !before->terminal) return SigState::not_a_signature_field;
    if (before->has_value) return SigState::was_signed;
    return now && now->has_value ? SigState::filled : SigState::still_empty;
  }

  // Whether a signature may be added to field `field_og` now: any kind,
  // except under DocMDP P=1 where only a document timestamp may (and the
  // DSS, allowed for every P, as PAdES part 4 adds it to certified files).
  // P=2 allows new and filled signature fields; P=3 is judged as P=2: it
  // would also allow annotations, but an annotation can draw over signed
  // content, and no document here needs one added after signing, so
  // non-signature annotations are refused whatever P says. With no DocMDP
  // the PAdES rules are those of P=2 plus /Info and XMP metadata.
  bool signature_allowed(QPDFObjGen field_og) const {
    if (p_ != 1) return true;
    const FieldInfo* now = final_field(field_og);
    return now && name_of(dict_get(now->value, "/Type")) == "DocTimeStamp";
  }

  bool added_signature_field(QPDFObjGen field_og) {
    SigState st = sig_state(field_og);
    return (st == SigState::new_field || st == SigState::filled) && signature_allowed(field_og);
  }

  // -- verdicts per role --
  Verdict judge_role(QPDFObjGen og, QPDFObjectHandle h, Kind kind, const Role& r) {
    const bool added = kind == Kind::added;
    switch (r.ctx) {
      case Ctx::catalog:
        return catalog_verdict();
      case Ctx::page_tree:
        return page_tree_verdict(og, added);
      case Ctx::page:
        return page_verdict(og, r.page);
      case Ctx::page_annots:
        return annots_verdict(r.owner, r.page);
      case Ctx::page_contents:
      case Ctx::annotation:
      case Ctx::page_part:
        return page_content_verdict(og, h, added, r);
      case Ctx::acroform:
        return acroform_verdict();
      case Ctx::fields_array:
        return fields_verdict();
      case Ctx::field:
        return field_verdict(og, r, added);
      case Ctx::sig_field:
        return sig_field_verdict(og, r);
      case Ctx::sig_widget:
        return sig_widget_verdict(og, h, added, r);
      case Ctx::sig_value:
        return sig_value_verdict(og, h, added, r);
      case Ctx::sig_part:
        return sig_part_verdict(og, h, added, r);
      case Ctx::field_part:
      case Ctx::dss:
      case Ctx::metadata:
      case Ctx::info:
      case Ctx::catalog_part:
        return other_verdict(og, h, added, r);
    }
    return {false, ref_text(og) + " was changed"};
  }

  // What a page shows: its content streams, annotations and resources.
  // None of it may change after a signature.
  Verdict page_content_verdict(QPDFObjGen og, QPDFObjectHandle h, bool added, const Role& r) {
    const std::string ref = ref_text(og), page = "page " + std::to_string(r.page);
    const std::string kind_text = kind_of(h);
    if (r.ctx == Ctx::page_contents) {
      if (r.label == "contents array") {
        return {false, "the /Contents array of " + page + " (" + ref + ") was changed"};
      }
      if (added) return {false, "a content stream (" + ref + ") was added to " + page};
      return {false, "the content stream of " + page + " (" + ref + ") was changed"};
    }
    if (r.ctx == Ctx::annotation) {
      if (added) return {false, kind_text + " (" + ref + ") was added to " + page};
      return {false, "the " + kind_text.substr(2) + " " + ref + " on " + page + " was changed"};
    }
    if (added) return {false, ref + " (" + kind_text + ") was added to " + page + " at " + r.path};
    return {false,
            ref + " (" + kind_text + " used by " + page + " at " + r.path + ") was replaced"};
  }

  Verdict sig_widget_verdict(QPDFObjGen og, QPDFObjectHandle h, bool added, const Role& r) {
    const std::string what =
        "the widget " + ref_text(og) + " of signature field " + quoted(r.label);
    if (added && added_signature_field(r.owner)) return {true, what};
    if (!added && sig_state(r.owner) == SigState::filled && signature_allowed(r.owner)) {
      for (const std::string& k : differing_keys(s_.getObjectByObjGen(og), h)) {
        if (k != "/AP" && k != "/AS") return {false, what + " changed its " + k};
      }
      return {true, what + " got its appearance"};
    }
    return {false, what + " was " + (added ? "added" : "changed")};
  }

  Verdict sig_value_verdict(QPDFObjGen og, QPDFObjectHandle h, bool added, const Role& r) {
    const bool timestamp = name_of(dict_get(h, "/Type")) == "DocTimeStamp";
    const std::string what =
        (timestamp ? "the document timestamp dictionary of " : "the signature dictionary of ") +
        quoted(r.label) + " (" + ref_text(og) + ")";
    if (!added) return {false, what + " was rewritten"};
    const SigState st = sig_state(r.owner);
    if (st == SigState::was_signed) {
      return {false, "a new signature dictionary (" + ref_text(og) + ") replaced the one of " +
                         quoted(r.label)};
    }
    if (st != SigState::new_field && st != SigState::filled) {
      return {false, what + " was added to a field that was not an empty signature field"};
    }
    if (!signature_allowed(r.owner)) return {false, what + " was added" + docmdp_refusal()};
    return {true, what};
  }

  // Below a signature field: appearance streams and their resources, the
  // signature dictionary's own parts.
  Verdict sig_part_verdict(QPDFObjGen og, QPDFObjectHandle h, bool added, const Role& r) {
    const std::string what = ref_text(og) + " (" + kind_of(h) + ")";
    if (added && added_signature_field(r.owner)) {
      return {true, what + ", part of the new signature of " + quoted(r.label)};
    }
    if (!added && sig_state(r.owner) == SigState::filled && signature_allowed(r.owner)) {
      return {true, what + ", the appearance of signature field " + quoted(r.label) +
                        ", was updated as it was signed"};
    }
    return {false, what + ", part of signature field " + quoted(r.label) + ", was " +
                       (added ? "added" : "changed")};
  }

  Verdict other_verdict(QPDFObjGen og, QPDFObjectHandle h, bool added, const Role& r) {
    const std::string ref = ref_text(og), kind_text = kind_of(h);
    switch (r.ctx) {
      case Ctx::field_part:
        return {false, ref + " (" + kind_text + "), part of form field " + quoted(r.label) +
                           ", was " + (added ? "added" : "changed")};
      case Ctx::dss:
        return {true, ref + " (" + kind_text + "), validation data in the DSS"};
      case Ctx::metadata:
        if (p_ == 1)
          return {false, "the XMP metadata (" + ref + ") was changed" + docmdp_refusal()};
        return {true, "the XMP metadata (" + ref + ") was updated"};
      case Ctx::info:
        if (p_ == 1) {
          return {false, "the document information dictionary (" + ref + ") was changed" +
                             docmdp_refusal()};
        }
        return {true, "the document information dictionary (" + ref + ") was updated"};
      default:
        break;
    }
    // Ctx::catalog_part. A new resource of the form's /DR (as signing
    // tools add the fonts of their appearances); acroform_verdict allows
    // /DR only to grow.
    if (added && r.path.rfind("/AcroForm/DR/", 0) == 0) {
      return {true, ref + " (" + kind_text + ") was added to the form's resources at " + r.path};
    }
    if (added) return {false, ref + " (" + kind_text + ") was added at the catalog's " + r.path};
    return {false, ref + " (" + kind_text + ", at the catalog's " + r.path + ") was replaced"};
  }

  Verdict judge_removed(QPDFObjGen og) {
    QPDFObjectHandle old = s_.getObjectByObjGen(og);
    std::string what = ref_text(og) + " (" + kind_of(old) + ")";
    auto it = f_.dangling().find(og);
    if (it != f_.dangling().end()) {
      return {false, what + " was deleted while " + it->second + " still refers to it"};
    }
    // qpdf reads a dictionary entry whose object is gone as absent (as the
    // PDF rules say), so the final document may show no reference at all:
    // what the object was to the signed revision says what was lost.
    if (!signed_doc_) {
      signed_doc_ = std::make_unique<FinalDocument>(s_, signed_fields(), kMaxObjectsCompared);
    }
    if (const std::vector<Role>* roles = signed_doc_->roles(og)) {
      const Role& r = roles->front();
      return {false, what + ", used by " + owner_text(r) + (r.path.empty() ? "" : " at " + r.path) +
                         " when it was signed, was deleted"};
    }
    return {true, what + " was freed; nothing in the document used it"};
  }

  // The catalog, compared by value (it may even be a new object).
  Verdict catalog_verdict() {
    QPDFObjectHandle before = s_.getRoot(), now = f_.qpdf().getRoot();
    std::vector<std::string> keys;
    for (const std::string& k : differing_keys(before, now)) {
      if (k == "/AcroForm") continue;  // judged by value below
      if (k == "/DSS" || k == "/Extensions" || k == "/Version") {
        keys.push_back(k);
      } else if (k == "/Metadata" && p_ != 1) {
        keys.push_back(k);
      } else {
        return {false, "the catalog's " + k + " was " +
                           (key_text(before, k).empty() ? "added"
                            : key_text(now, k).empty()  ? "removed"
                                                        : "changed") +
                           (k == "/Metadata" ? docmdp_refusal() : "")};
      }
    }
    if (key_text(before, "/AcroForm") != key_text(now, "/AcroForm")) {
      Verdict v = acroform_verdict();
      if (!v.allowed) return v;
      keys.push_back("/AcroForm");
    }
    std::string ref = ref_text(now.getObjGen());
    if (keys.empty())
      return {true, "the catalog (" + ref + ") was written again unchanged in value"};
    return {true, "the catalog (" + ref + ") changed only in " + join(keys)};
  }

  Verdict acroform_verdict() {
    QPDFObjectHandle before = dict_get(s_.getRoot(), "/AcroForm");
    QPDFObjectHandle now = dict_get(f_.qpdf().getRoot(), "/AcroForm");
    if (!now.isDictionary()) {
      return {false, before.isDictionary() ? "the /AcroForm was removed"
                                           : "the /AcroForm is not a dictionary"};
    }
    bool is_new = !before.isDictionary();
    std::vector<std::string> keys;
    for (const std::string& k : differing_keys(before, now)) {
      if (k == "/Fields") continue;
      // Signing tools add the fonts of their appearances to /DR (Acrobat
      // adds /Helv); resources only gained change no existing field.
      if (k == "/SigFlags" || (is_new && (k == "/DA" || k == "/DR")) ||
          (k == "/DR" && only_added_resources(dict_get(before, "/DR"), dict_get(now, "/DR")))) {
        keys.push_back(k);
        continue;
      }
      return {false, "the /AcroForm's " + k + " was changed"};
    }
    Verdict fields = fields_verdict();
    if (!fields.allowed) return fields;
    return {true, std::string(is_new ? "an /AcroForm was added: " : "the /AcroForm changed: ") +
                      fields.description + (keys.empty() ? "" : ", and its " + join(keys))};
  }

  Verdict fields_verdict() {
    const FieldTree& before = signed_fields();
    const FieldTree& now = f_.fields();
    for (QPDFObjGen og : before.top) {
      if (!now.top_set.count(og)) {
        const FieldInfo* f = before.find(og);
        return {false, "the form field " + quoted(f ? f->name : "?") + " (" + ref_text(og) +
                           ") was removed from /AcroForm /Fields"};
      }
    }
    std::vector<std::string> names;
    for (QPDFObjGen og : now.top) {
      if (before.top_set.count(og)) continue;
      const FieldInfo* f = final_field(og);
      std::string name = f ? f->name : "?";
      if (!f || f->type != "Sig" || existed(og)) {
        return {false, "a form field " + quoted(name) + " (" + ref_text(og) + ", " +
                           (f && !f->type.empty() ? "/" + f->type : std::string("no /FT")) +
                           ") was added to /AcroForm /Fields"};
      }
      if (!signature_allowed(og)) {
        return {false, "a signature field " + quoted(name) + " was added" + docmdp_refusal()};
      }
      names.push_back(quoted(name));
    }
    if (names.empty()) return {true, "its /Fields are the same"};
    return {true, "signature field " + join(names) + " appended to /Fields"};
  }

  Verdict page_tree_verdict(QPDFObjGen og, bool added) {
    if (!same_pages()) return page_list_change();
    if (added || !signed_pages().node_set.count(og)) {
      return {false, "the page tree was restructured (" + ref_text(og) + " is a new node)"};
    }
    std::vector<std::string> keys =
        differing_keys(s_.getObjectByObjGen(og), f_.qpdf().getObjectByObjGen(og));
    return {false, "the page tree node " + ref_text(og) + " changed its " + join(keys)};
  }

  bool same_pages() {
    if (!same_pages_) same_pages_ = signed_pages().pages == f_.pages().pages;
    return *same_pages_;
  }

  // The first difference between the two page lists.
  Verdict page_list_change() {
    const PageList& before = signed_pages();
    const PageList& now = f_.pages();
    for (size_t i = 0; i < now.pages.size(); ++i) {
      if (!before.numbers.count(now.pages[i])) {
        return {false,
                "page " + std::to_string(i + 1) + " (" + ref_text(now.pages[i]) + ") was added"};
      }
    }
    for (size_t i = 0; i < before.pages.size(); ++i) {
      if (!now.numbers.count(before.pages[i])) {
        return {false, "page " + std::to_string(i + 1) + " (" + ref_text(before.pages[i]) +
                           ") was removed"};
      }
    }
    return {false, "the pages were reordered"};
  }

  Verdict page_verdict(QPDFObjGen og, int n) {
    if (!same_pages()) return page_list_change();
    QPDFObjectHandle old = s_.getObjectByObjGen(og), now = f_.qpdf().getObjectByObjGen(og);
    for (const std::string& k : differing_keys(old, now)) {
      if (k == "/Annots") continue;
      return {false, "the " + k + " entry of page " + std::to_string(n) + " (" + ref_text(og) +
                         ") was changed"};
    }
    return annots_verdict(og, n);
  }

  Verdict annots_verdict(QPDFObjGen page_og, int n) {
    QPDFObjectHandle old = s_.getObjectByObjGen(page_og),
                     now = f_.qpdf().getObjectByObjGen(page_og);
    std::string page = "page " + std::to_string(n);
    std::optional<std::set<std::string>> before = annot_ids(old), after = annot_ids(now);
    if (!before || !after) return {false, page + " has more annotations than the reader compares"};
    for (const std::string& id : *before) {
      if (!after->count(id)) return {false, "an annotation (" + id + ") was removed from " + page};
    }
    int widgets = 0;
    QPDFObjectHandle annots = dict_get(now, "/Annots");
    int count = annots.isArray() ? annots.getArrayNItems() : 0;
    for (int i = 0; i < count; ++i) {
      QPDFObjectHandle a = annots.getArrayItem(i);
      std::string id = a.isIndirect() ? ref_text(a.getObjGen()) : a.unparseResolved();
      if (before->count(id)) continue;
      std::optional<QPDFObjGen> field = signature_field_of(a);
      if (!field) return {false, kind_of(a) + " (" + id + ") was added to " + page};
      if (!added_signature_field(*field)) {
        SigState st = sig_state(*field);
        if ((st == SigState::new_field || st == SigState::filled) && !signature_allowed(*field)) {
          return {false, "a signature widget (" + id + ") was added to " + page + docmdp_refusal()};
        }
        return {false, "the widget (" + id +
                           ") of a signature field that was not empty was added to " + page};
      }
      ++widgets;
    }
    if (widgets == 0) return {true, "the annotations of " + page + " are the same"};
    return {true, std::to_string(widgets) + " signature widget" +
                      (widgets > 1 ? "s were" : " was") + " added to " + page};
  }

  // The terminal signature field an annotation is the widget of.
  std::optional<QPDFObjGen> signature_field_of(QPDFObjectHandle annot) {
    if (!annot.isIndirect() || !is_signature_widget(annot)) return std::nullopt;
    const std::vector<Role>* roles = f_.roles(annot.getObjGen());
    if (!roles) return std::nullopt;
    for (const Role& r : *roles) {
      if (r.ctx == Ctx::sig_field || r.ctx == Ctx::sig_widget) return r.owner;
    }
    return std::nullopt;
  }

  Verdict field_verdict(QPDFObjGen og, const Role& r, bool added) {
    std::string what = "form field " + quoted(r.label) + " (" + ref_text(og) + ")";
    if (added) return {false, "a new " + what + " was added"};
    std::vector<std::string> keys =
        differing_keys(s_.getObjectByObjGen(og), f_.qpdf().getObjectByObjGen(og));
    if (keys.size() == 1 && keys[0] == "/V")
      return {false, "the value of " + what + " was changed"};
    return {false, "the " + what + " changed its " + join(keys)};
  }

  Verdict sig_field_verdict(QPDFObjGen og, const Role& r) {
    std::string what = "signature field " + quoted(r.label) + " (" + ref_text(og) + ")";
    switch (sig_state(og)) {
      case SigState::new_field:
        if (!signature_allowed(og))
          return {false, "a new " + what + " was added" + docmdp_refusal()};
        return {true, "a new " + what};
      case SigState::filled: {
        for (const std::string& k :
             differing_keys(s_.getObjectByObjGen(og), f_.qpdf().getObjectByObjGen(og))) {
          if (k != "/V" && k != "/AP" && k != "/AS") {
            return {false, "the empty " + what + " changed its " + k + " as it was signed"};
          }
        }
        if (!signature_allowed(og))
          return {false, "the empty " + what + " was signed" + docmdp_refusal()};
        return {true, "the empty " + what + " was signed"};
      }
      case SigState::was_signed: {
        QPDFObjectHandle old = s_.getObjectByObjGen(og), now = f_.qpdf().getObjectByObjGen(og);
        if (key_text(old, "/V") != key_text(now, "/V")) {
          return {false, "the " + what + " now points to another signature dictionary (" +
                             key_text(now, "/V") + ")"};
        }
        return {false, "the signed " + what + " changed its " + join(differing_keys(old, now))};
      }
      case SigState::still_empty:
        return {false, "the empty " + what + " was changed"};
      case SigState::not_a_signature_field:
        return {false, ref_text(og) + " became the " + what};
    }
    return {false, what + " was changed"};
  }

  QPDF& s_;
  FinalDocument& f_;
  std::optional<int> p_;
  const std::map<QPDFObjGen, QPDFXRefEntry>& xs_;
  std::optional<PageList> s_pages_;
  std::optional<bool> same_pages_;
  // The signed revision's own roles, walked when an object was deleted.
  std::unique_ptr<FinalDocument> signed_doc_;
  std::optional<FieldTree> s_fields_;
};

}  // namespace

RevisionComparison compare_with_final(QPDF& signed_revision, FinalDocument& final_doc,
                                      std::optional<int> docmdp_p) {
  RevisionComparison out;
  std::map<QPDFObjGen, QPDFXRefEntry> xs = signed_revision.getXRefTable();
  const std::map<QPDFObjGen, QPDFXRefEntry>& xf = final_doc.xref();
  if (xs.size() > kMaxObjectsCompared) {
    out.problems.push_back("the signed revision has more objects than the reader compares");
    return out;
  }
  // 1. Candidates from the cross-reference tables.
  std::set<QPDFObjGen> added, removed, candidates;
  for (const auto& [og, entry] : xf) {
    auto it = xs.find(og);
    if (it == xs.end()) {
      added.insert(og);
    } else if (!same_entry(entry, it->second)) {
      candidates.insert(og);
    }
  }
  for (const auto& [og, entry] : xs) {
    if (!xf.count(og)) removed.insert(og);
  }
  // An unchanged entry can still read differently: a stream whose
  // dictionary refers to an object that changed (its /Length, /Filter,
  // /DecodeParms, an object stream's /N or /First), or an object inside an
  // object stream that changed. Repeat until nothing more is marked (such
  // objects inside object streams, object streams depending on them).
  auto touched = [&](QPDFObjGen og) {
    return candidates.count(og) || added.count(og) || removed.count(og);
  };
  for (bool more = true; more;) {
    more = false;
    for (const auto& [stream, deps] : final_doc.stream_dependencies()) {
      if (touched(stream)) continue;
      for (QPDFObjGen dep : deps) {
        if (touched(dep)) {
          more = candidates.insert(stream).second || more;
          break;
        }
      }
    }
    for (const auto& [og, entry] : xf) {
      if (entry.getType() != 2 || touched(og)) continue;
      if (touched(QPDFObjGen(entry.getObjStreamNumber(), 0)))
        more = candidates.insert(og).second || more;
    }
  }
  // 2. Values of the candidates.
  std::set<QPDFObjGen> modified;
  for (QPDFObjGen og : candidates) {
    if (fingerprint(signed_revision.getObjectByObjGen(og)) !=
        fingerprint(final_doc.qpdf().getObjectByObjGen(og))) {
      modified.insert(og);
    }
  }
  if (modified.empty() && added.empty() && removed.empty()) return out;
  // 3. Each change judged by its role, by object number.
  Judge judge(signed_revision, final_doc, docmdp_p, xs);
  if (std::optional<std::string> why = judge.cannot_judge()) {
    out.problems.push_back(*why);
    return out;
  }
  std::map<QPDFObjGen, Kind> all;
  for (QPDFObjGen og : modified) all[og] = Kind::modified;
  for (QPDFObjGen og : added) all[og] = Kind::added;
  for (QPDFObjGen og : removed) all[og] = Kind::removed;
  for (const auto& [og, kind] : all) {
    Verdict v = judge.judge(og, kind);
    out.changes.push_back(Change{ref_text(og), std::move(v.description), v.allowed});
  }
  return out;
}

}  // namespace edocgw::pdf::internal
