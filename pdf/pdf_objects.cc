#include "pdf/pdf_objects.h"

#include <qpdf/Buffer.hh>

namespace edocgw::pdf::internal {

std::string ref_text(QPDFObjGen og) {
  return std::to_string(og.getObj()) + " " + std::to_string(og.getGen()) + " R";
}

QPDFObjectHandle dict_get(QPDFObjectHandle dict, const std::string& key) {
  if (dict.isStream()) dict = dict.getDict();
  if (!dict.isDictionary() || !dict.hasKey(key)) return QPDFObjectHandle::newNull();
  return dict.getKey(key);
}

std::optional<std::string> name_of(QPDFObjectHandle h) {
  if (!h.isName()) return std::nullopt;
  std::string n = h.getName();
  return n.empty() ? n : n.substr(1);
}

std::optional<std::string> bytes_of(QPDFObjectHandle h) {
  if (!h.isString()) return std::nullopt;
  return h.getStringValue();
}

std::optional<std::string> text_of(QPDFObjectHandle h) {
  if (!h.isString()) return std::nullopt;
  return h.getUTF8Value();
}

std::optional<std::int64_t> integer_of(QPDFObjectHandle h) {
  if (!h.isInteger()) return std::nullopt;
  return static_cast<std::int64_t>(h.getIntValue());
}

std::string kind_of(QPDFObjectHandle h) {
  auto type = name_of(dict_get(h, "/Type"));
  auto subtype = name_of(dict_get(h, "/Subtype"));
  if (type == "Annot" || (!type && subtype && dict_get(h, "/Rect").isArray())) {
    return "a /" + subtype.value_or("?") + " annotation";
  }
  if (type && subtype) return "a /" + *type + " /" + *subtype;
  if (type) return "a /" + *type;
  if (subtype) return "a /" + *subtype;
  if (h.isStream()) return "a stream";
  if (h.isDictionary()) return "a dictionary";
  if (h.isArray()) return "an array";
  if (h.isNull()) return "a null";
  std::string type_name = h.getTypeName();
  return (type_name.find_first_of("aeiou") == 0 ? "an " : "a ") + type_name;
}

std::vector<QPDFObjectHandle> direct_refs(QPDFObjectHandle h, size_t max) {
  std::vector<QPDFObjectHandle> out;
  if (h.isStream()) h = h.getDict();
  std::vector<std::pair<QPDFObjectHandle, int>> stack{{h, 0}};
  while (!stack.empty() && out.size() < max) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    std::vector<QPDFObjectHandle> items;
    if (node.isDictionary()) {
      for (const std::string& key : node.getKeys()) items.push_back(node.getKey(key));
    } else if (node.isArray()) {
      items = node.getArrayAsVector();
    }
    for (QPDFObjectHandle& v : items) {
      if (v.isIndirect()) {
        out.push_back(v);
      } else if ((v.isDictionary() || v.isArray()) && depth < 64) {
        stack.emplace_back(v, depth + 1);
      }
    }
  }
  return out;
}

std::string fingerprint(QPDFObjectHandle h) {
  if (!h.isStream()) return h.unparseResolved();
  std::string out = "stream<<";
  QPDFObjectHandle dict = h.getDict();
  for (const std::string& key : dict.getKeys()) {
    if (key == "/Length") continue;
    out += key;
    out += ' ';
    out += dict.getKey(key).unparse();
    out += ' ';
  }
  out += ">>";
  for (QPDFObjectHandle& dep : direct_refs(dict, 4096)) {
    if (dep.isStream()) continue;  // a stream's value is its own comparison
    out += ' ';
    out += dep.unparseResolved();
  }
  out += "\n";
  std::shared_ptr<Buffer> data = h.getRawStreamData();
  out.append(reinterpret_cast<const char*>(data->getBuffer()), data->getSize());
  return out;
}

int PageList::page_number(QPDFObjGen og) const {
  auto it = numbers.find(og);
  return it == numbers.end() ? 0 : it->second;
}

PageList read_pages(QPDF& q, size_t max_pages) {
  PageList out;
  QPDFObjectHandle root = dict_get(q.getRoot(), "/Pages");
  if (!root.isDictionary()) return out;
  auto irregular = [&](std::string detail) {
    if (!out.irregular) out.irregular_detail = std::move(detail);
    out.irregular = true;
  };
  std::set<QPDFObjGen> seen;
  // Depth-first, kids in order: a stack of (node, next kid index).
  std::vector<std::pair<QPDFObjectHandle, int>> stack;
  stack.emplace_back(root, -1);
  while (!stack.empty()) {
    if (seen.size() > max_pages) {
      irregular("the page tree has more nodes than the reader follows");
      break;
    }
    auto& [node, next] = stack.back();
    if (next < 0) {
      next = 0;
      QPDFObjGen og = node.getObjGen();
      if (og.getObj() != 0 && !seen.insert(og).second) {
        irregular("the page tree holds " + ref_text(og) + " twice");
        stack.pop_back();
        continue;
      }
      QPDFObjectHandle kids = dict_get(node, "/Kids");
      if (!kids.isArray() || name_of(dict_get(node, "/Type")) == "Page") {
        out.pages.push_back(og);
        out.numbers.emplace(og, static_cast<int>(out.pages.size()));
        stack.pop_back();
        continue;
      }
      out.nodes.push_back(og);
      out.node_set.insert(og);
    }
    QPDFObjectHandle kids = dict_get(node, "/Kids");
    if (next >= kids.getArrayNItems() || stack.size() > 64) {
      if (stack.size() > 64) irregular("the page tree is deeper than the reader follows");
      stack.pop_back();
      continue;
    }
    QPDFObjectHandle kid = kids.getArrayItem(next++);
    if (!kid.isDictionary()) {
      irregular("a /Kids entry of the page tree is not a dictionary");
      continue;
    }
    stack.emplace_back(kid, -1);
  }
  return out;
}

const FieldInfo* FieldTree::find(QPDFObjGen og) const {
  auto it = index.find(og);
  return it == index.end() ? nullptr : &fields[it->second];
}

namespace {

struct FieldWalker {
  FieldTree& out;
  size_t max_fields, max_depth;
  std::set<QPDFObjGen> seen;

  void walk(QPDFObjectHandle node, const std::string& parent_name, const std::string& parent_ft,
            size_t depth) {
    if (!node.isDictionary()) return;
    if (depth > max_depth) {
      out.too_deep = true;
      return;
    }
    if (out.fields.size() >= max_fields) {
      out.too_many = true;
      return;
    }
    QPDFObjGen og = node.getObjGen();
    if (og.getObj() != 0 && !seen.insert(og).second) return;
    FieldInfo info;
    info.og = og;
    std::string part = text_of(dict_get(node, "/T")).value_or("");
    info.name = parent_name.empty() ? part : part.empty() ? parent_name : parent_name + "." + part;
    info.type = name_of(dict_get(node, "/FT")).value_or(parent_ft);
    info.value = dict_get(node, "/V");
    info.has_value = !info.value.isNull();
    if (name_of(dict_get(node, "/Subtype")) == "Widget") info.widgets.push_back(og);
    QPDFObjectHandle kids = dict_get(node, "/Kids");
    std::vector<QPDFObjectHandle> named_kids;
    if (kids.isArray()) {
      int n = kids.getArrayNItems();
      for (int i = 0; i < n; ++i) {
        QPDFObjectHandle kid = kids.getArrayItem(i);
        if (!kid.isDictionary()) continue;
        if (dict_get(kid, "/T").isNull()) {
          if (kid.getObjGen().getObj() != 0) info.widgets.push_back(kid.getObjGen());
        } else {
          named_kids.push_back(kid);
        }
      }
    }
    info.terminal = named_kids.empty();
    std::string name = info.name, type = info.type;
    if (og.getObj() != 0) out.index.emplace(og, out.fields.size());
    out.fields.push_back(std::move(info));
    for (QPDFObjectHandle& kid : named_kids) walk(kid, name, type, depth + 1);
  }
};

}  // namespace

FieldTree read_fields(QPDF& q, size_t max_fields, size_t max_depth) {
  FieldTree out;
  QPDFObjectHandle fields = dict_get(dict_get(q.getRoot(), "/AcroForm"), "/Fields");
  if (!fields.isArray()) return out;
  FieldWalker walker{out, max_fields, max_depth, {}};
  int n = fields.getArrayNItems();
  for (int i = 0; i < n && !out.too_many; ++i) {
    QPDFObjectHandle f = fields.getArrayItem(i);
    if (f.isIndirect()) {
      out.top.push_back(f.getObjGen());
      out.top_set.insert(f.getObjGen());
    }
    walker.walk(f, "", "", 1);
  }
  return out;
}

bool is_signature_widget(QPDFObjectHandle annot) {
  if (name_of(dict_get(annot, "/Subtype")) != "Widget") return false;
  QPDFObjectHandle node = annot;
  for (int depth = 0; depth < 32 && node.isDictionary(); ++depth) {
    if (auto ft = name_of(dict_get(node, "/FT"))) return *ft == "Sig";
    node = dict_get(node, "/Parent");
  }
  return false;
}

}  // namespace edocgw::pdf::internal
