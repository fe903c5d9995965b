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
  for (const auto* folder : {&path_, &pickup_.folder}) {
    if (folder->empty()) continue;
    std::error_code ec;
    std::filesystem::create_directories(*folder, ec);
    if (ec || ::access(folder->c_str(), W_OK) != 0) {
      return make_error(Errc::io, "folder " + folder->string() + " is not writable");
    }
  }
  return {};
}

Result<std::vector<DroppedPackage>> DirectoryAdapter::pick_up() {
  constexpr size_t kPerRound = 64;
  std::vector<std::filesystem::path> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(pickup_.folder, ec);
  if (ec)
    return make_error(Errc::io, "cannot list " + pickup_.folder.string() + ": " + ec.message());
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || entry.path().extension() != ".xml") continue;
    if (!entry.is_regular_file(ec)) continue;
    names.push_back(entry.path());
  }
  std::sort(names.begin(), names.end());  // oldest-named first, a stable order
  if (names.size() > kPerRound) names.resize(kPerRound);
  std::vector<DroppedPackage> out;
  for (const auto& file : names) {
    DroppedPackage p;
    p.handle = file.filename().string();
    const auto size = std::filesystem::file_size(file, ec);
    if (ec) continue;  // gone meanwhile
    if (size > pickup_.max_bytes) {
      p.readable = false;
      p.bytes = "the file has " + std::to_string(size) + " bytes, more than pickup-max (" +
                std::to_string(pickup_.max_bytes) + ")";
    } else if (auto bytes = read_file(file)) {
      p.bytes = std::move(*bytes);
    } else {
      continue;  // unreadable now (permissions, gone): offered again next round
    }
    out.push_back(std::move(p));
  }
  return out;
}

Status DirectoryAdapter::finish_pick_up(const DroppedPackage& package, bool accepted,
                                        const std::string& answer) {
  const auto dest = pickup_.folder / (accepted ? "accepted" : "refused");
  std::error_code ec;
  std::filesystem::create_directories(dest, ec);
  if (ec) return make_error(Errc::io, "cannot create " + dest.string() + ": " + ec.message());
  // Never overwrite an earlier file of the same name: the office may reuse names.
  std::string stem = std::filesystem::path(package.handle).stem().string();
  if (std::filesystem::exists(dest / (stem + ".xml"))) stem += "." + random_uuid().substr(0, 8);
  if (auto st = write_file_atomic(dest / (stem + ".answer.json"), answer); !st) return st;
  std::filesystem::rename(pickup_.folder / package.handle, dest / (stem + ".xml"), ec);
  if (ec) return make_error(Errc::io, "cannot move " + package.handle + ": " + ec.message());
  if (auto st = sync_folder(dest); !st) return st;
  return sync_folder(pickup_.folder);
}

Result<std::unique_ptr<Adapter>> DirectoryAdapterFactory::create(
    const config::AdapterConfig& config) const {
  for (const auto& [key, value] : config.settings) {
    if (key != "path" && key != "pickup" && key != "pickup-interval" && key != "pickup-max") {
      return make_error(Errc::invalid, "unknown setting '" + key +
                                           "' (directory takes path, pickup, pickup-interval, "
                                           "pickup-max)");
    }
  }
  auto folder = [&](const char* key) {
    auto it = config.settings.find(key);
    if (it == config.settings.end()) return std::filesystem::path();
    std::filesystem::path path(it->second);
    return path.is_relative() ? (config.base_dir / path).lexically_normal() : path;
  };
  const auto path = folder("path");
  if (path.empty()) return make_error(Errc::invalid, "a directory adapter needs path=\"FOLDER\"");
  PickupSettings pickup;
  pickup.folder = folder("pickup");
  if (config.settings.count("pickup") && pickup.folder.empty())
    return make_error(Errc::invalid, "pickup must name a folder");
  if (pickup.folder.empty() &&
      (config.settings.count("pickup-interval") || config.settings.count("pickup-max")))
    return make_error(Errc::invalid, "pickup-interval and pickup-max need pickup=\"FOLDER\"");
  if (pickup.folder == path)
    return make_error(Errc::invalid, "pickup must be another folder than path");
  if (auto it = config.settings.find("pickup-interval"); it != config.settings.end()) {
    auto d = config::parse_duration(it->second);
    if (!d) return make_error(Errc::invalid, "pickup-interval: " + d.error().message);
    pickup.interval = *d;
  }
  if (auto it = config.settings.find("pickup-max"); it != config.settings.end()) {
    auto n = config::parse_size(it->second);
    if (!n) return make_error(Errc::invalid, "pickup-max: " + n.error().message);
    pickup.max_bytes = *n;
  }
  return std::unique_ptr<Adapter>(
      std::make_unique<DirectoryAdapter>(config.name, path, std::move(pickup)));
}

}  // namespace edocgw::adapters::directory
