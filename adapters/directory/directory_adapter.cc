#include "adapters/directory/directory_adapter.h"

#include <unistd.h>

#include <algorithm>

#include "util/bytes.h"

namespace edocgw::adapters::directory {
namespace {

// Ids become file names: keep them to a safe alphabet.
bool safe_file_stem(const std::string& id) {
  return !id.empty() && id.size() <= 128 && id[0] != '.' &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_' || c == '.';
         });
}

}  // namespace

const std::string& DirectoryAdapter::type() const {
  static const std::string kType = "directory";
  return kType;
}

Result<DeliveryReceipt> DirectoryAdapter::deliver(const OutgoingPackage& package) {
  if (!safe_file_stem(package.id)) {
    return make_error(Errc::invalid, "package id '" + package.id + "' cannot be a file name");
  }
  std::error_code ec;
  std::filesystem::create_directories(path_, ec);
  if (ec) return make_error(Errc::io, "cannot create " + path_.string() + ": " + ec.message());
  if (!package.report_json.empty()) {
    if (auto st = write_file_atomic(path_ / (package.id + ".report.json"), package.report_json);
        !st) {
      return st.error();
    }
  }
  const auto file = path_ / (package.id + ".xml");
  if (auto st = write_file_atomic(file, package.bytes); !st) return st.error();
  return DeliveryReceipt{package.id, "written to " + file.string()};
}

Status DirectoryAdapter::health() {
  std::error_code ec;
  std::filesystem::create_directories(path_, ec);
  if (ec || ::access(path_.c_str(), W_OK) != 0) {
    return make_error(Errc::io, "folder " + path_.string() + " is not writable");
  }
  return {};
}

Result<std::unique_ptr<Adapter>> DirectoryAdapterFactory::create(
    const config::AdapterConfig& config) const {
  for (const auto& [key, value] : config.settings) {
    if (key != "path")
      return make_error(Errc::invalid, "unknown setting '" + key + "' (directory takes path)");
  }
  auto it = config.settings.find("path");
  if (it == config.settings.end() || it->second.empty()) {
    return make_error(Errc::invalid, "a directory adapter needs path=\"FOLDER\"");
  }
  std::filesystem::path path(it->second);
  if (path.is_relative()) path = (config.base_dir / path).lexically_normal();
  return std::unique_ptr<Adapter>(std::make_unique<DirectoryAdapter>(config.name, path));
}

}  // namespace edocgw::adapters::directory
