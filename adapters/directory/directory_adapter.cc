#include "adapters/directory/directory_adapter.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

Error errno_error_at(const std::string& what, const std::string& name) {
  return make_error(Errc::io, what + " " + name + ": " + std::strerror(errno));
}

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// A temporary name that fits NAME_MAX whatever the final name is (the
// final name's own length is checked by its caller).
std::string temp_name() {
  return ".tmp-" + random_uuid();
}

// Writes `bytes` durably into a new temporary file of the folder `dir`:
// created with O_EXCL|O_NOFOLLOW, so it never writes through a link. On
// failure nothing is left behind.
Result<std::string> write_temp_at(int dir, const std::string& shown_dir, std::string_view bytes) {
  const std::string tmp = temp_name();
  Fd fd(::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (fd.get() < 0) return errno_error_at("cannot create a file in", shown_dir);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto err = errno_error_at("cannot write in", shown_dir);
      ::unlinkat(dir, tmp.c_str(), 0);
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
    auto err = errno_error_at("cannot flush a file in", shown_dir);
    ::unlinkat(dir, tmp.c_str(), 0);
    return err;
  }
  return tmp;
}

// Opens a folder without following a link in its last component.
Result<int> open_folder_nofollow(int parent, const std::string& name, const std::string& shown) {
  if (::mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST)
    return errno_error_at("cannot create", shown);
  const int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return make_error(Errc::invalid, shown +
                                           " is a symbolic link or not a folder; the gateway "
                                           "does not write through links");
    }
    return errno_error_at("cannot open", shown);
  }
  return fd;
}

bool exists_at(int dir, const std::string& name) {
  struct stat st;
  return ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence.
std::string utf8_prefix(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xc0) == 0x80) --n;
  return text.substr(0, n);
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
  Fd dir(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return errno_error_at("cannot open", path_.string());
  // Both files are written in full before either appears: a full disk or a
  // size limit fails here, leaving the office folder as it was. Then the
  // two renames (which take no space): the report first, so a watcher of
  // *.xml finds it there, and at once the package.
  std::string report_tmp;
  if (!package.report_json.empty()) {
    auto tmp = write_temp_at(dir.get(), path_.string(), package.report_json);
    if (!tmp) return tmp.error();
    report_tmp = *tmp;
  }
  auto package_tmp = write_temp_at(dir.get(), path_.string(), package.bytes);
  if (!package_tmp) {
    if (!report_tmp.empty()) ::unlinkat(dir.get(), report_tmp.c_str(), 0);
    return package_tmp.error();
  }
  const std::string xml_name = package.id + ".xml";
  if (!report_tmp.empty()) {
    const std::string report_name = package.id + ".report.json";
    if (::renameat(dir.get(), report_tmp.c_str(), dir.get(), report_name.c_str()) != 0) {
      auto err = errno_error_at("cannot rename into", (path_ / report_name).string());
      ::unlinkat(dir.get(), report_tmp.c_str(), 0);
      ::unlinkat(dir.get(), package_tmp->c_str(), 0);
      return err;
    }
  }
  if (::renameat(dir.get(), package_tmp->c_str(), dir.get(), xml_name.c_str()) != 0) {
    auto err = errno_error_at("cannot rename into", (path_ / xml_name).string());
    ::unlinkat(dir.get(), package_tmp->c_str(), 0);
    if (!report_tmp.empty()) ::unlinkat(dir.get(), (package.id + ".report.json").c_str(), 0);
    return err;
  }
  if (::fsync(dir.get()) != 0) return errno_error_at("cannot flush", path_.string());
  const auto file = path_ / xml_name;
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

// Why a dropped entry cannot be taken as it is, or "" when it can be read.
std::string DirectoryAdapter::refusal_for(const std::string& name, const struct stat& st) const {
  if (S_ISLNK(st.st_mode))
    return "'" + name + "' is a symbolic link; the gateway takes regular files only";
  if (!S_ISREG(st.st_mode))
    return "'" + name + "' is not a regular file; the gateway takes regular files only";
  if (st.st_nlink > 1) {
    return "'" + name + "' has " + std::to_string(st.st_nlink) +
           " hard links; the gateway takes files with one name only";
  }
  if (name.size() - 4 > kMaxStemBytes) {
    return "the file name has " + std::to_string(name.size()) + " bytes; names up to " +
           std::to_string(kMaxStemBytes + 4) + " bytes are taken";
  }
  if (static_cast<std::uint64_t>(st.st_size) > pickup_.max_bytes) {
    return "the file has " + std::to_string(st.st_size) + " bytes, more than pickup-max (" +
           std::to_string(pickup_.max_bytes) + ")";
  }
  return {};
}

Result<std::vector<DroppedPackage>> DirectoryAdapter::pick_up() {
  constexpr size_t kPerRound = 64;
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(pickup_.folder, ec);
  if (ec)
    return make_error(Errc::io, "cannot list " + pickup_.folder.string() + ": " + ec.message());
  for (const std::filesystem::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (name.size() < 5 || name[0] == '.' || name.compare(name.size() - 4, 4, ".xml") != 0)
      continue;
    if (auto stuck = stuck_.find(name); stuck != stuck_.end() && stuck->second >= kMaxMoveTries)
      continue;  // logged when it was given up on; an operator has to look
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());  // oldest-named first, a stable order
  if (names.size() > kPerRound) names.resize(kPerRound);
  Fd folder(::open(pickup_.folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (folder.get() < 0) return errno_error_at("cannot open", pickup_.folder.string());
  std::vector<DroppedPackage> out;
  for (const auto& name : names) {
    DroppedPackage p;
    p.handle = name;
    struct stat st;
    if (::fstatat(folder.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
    std::string refusal = refusal_for(name, st);
    if (refusal.empty()) {
      // O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a FIFO since
      // the lstat above is refused, never followed or waited on.
      Fd fd(::openat(folder.get(), name.c_str(),
                     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
      if (fd.get() < 0) {
        if (errno != ELOOP) continue;  // unreadable now (permissions, gone): next round
        refusal = "'" + name + "' is a symbolic link; the gateway takes regular files only";
      } else if (::fstat(fd.get(), &st) != 0) {
        continue;
      } else if (refusal = refusal_for(name, st); refusal.empty()) {
        std::string bytes(static_cast<size_t>(st.st_size), '\0');
        size_t done = 0;
        bool failed = false;
        while (done < bytes.size()) {
          const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) {
            failed = n < 0;
            break;
          }
          done += static_cast<size_t>(n);
        }
        if (failed) continue;
        bytes.resize(done);  // shrunk meanwhile: the office is still writing; it renames
        p.bytes = std::move(bytes);
      }
    }
    if (!refusal.empty()) {
      p.readable = false;
      p.refusal_code = S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode) &&
                               static_cast<std::uint64_t>(st.st_size) > pickup_.max_bytes
                           ? "too_large"
                           : "not_taken";
      p.bytes = std::move(refusal);
    }
    out.push_back(std::move(p));
  }
  return out;
}

Status DirectoryAdapter::finish_pick_up(const DroppedPackage& package, bool accepted,
                                        const std::string& answer) {
  auto st = move_picked_up(package, accepted, answer);
  if (st) {
    stuck_.erase(package.handle);
    return st;
  }
  if (++stuck_[package.handle] >= kMaxMoveTries) {
    return make_error(st.error().code, st.error().message + "; tried " +
                                           std::to_string(kMaxMoveTries) +
                                           " times, it is no longer offered until a restart");
  }
  return st;
}

Status DirectoryAdapter::move_picked_up(const DroppedPackage& package, bool accepted,
                                        const std::string& answer) {
  const std::string sub = accepted ? "accepted" : "refused";
  Fd folder(::open(pickup_.folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (folder.get() < 0) return errno_error_at("cannot open", pickup_.folder.string());
  auto dest_fd = open_folder_nofollow(folder.get(), sub, (pickup_.folder / sub).string());
  if (!dest_fd) return dest_fd.error();
  Fd dest(*dest_fd);
  // Never overwrite an earlier file of the same name (the office may reuse
  // names), and keep every name within NAME_MAX: a long name is cut (it was
  // refused at pickup, with its full name in the answer).
  std::string stem =
      utf8_prefix(package.handle.substr(0, package.handle.size() - 4), kMaxStemBytes);
  if (stem.size() + 4 != package.handle.size())
    stem += "~" + sha256_hex(package.handle).substr(0, 8);
  if (exists_at(dest.get(), stem + ".xml")) stem += "." + random_uuid().substr(0, 8);
  const std::string shown = (pickup_.folder / sub).string();
  auto tmp = write_temp_at(dest.get(), shown, answer);
  if (!tmp) return tmp.error();
  // rename replaces a link of that name; it never writes through one.
  const std::string answer_name = stem + ".answer.json";
  if (::renameat(dest.get(), tmp->c_str(), dest.get(), answer_name.c_str()) != 0) {
    auto err = errno_error_at("cannot rename into", shown + "/" + answer_name);
    ::unlinkat(dest.get(), tmp->c_str(), 0);
    return err;
  }
  const std::string xml_name = stem + ".xml";
  if (::renameat2(folder.get(), package.handle.c_str(), dest.get(), xml_name.c_str(),
                  RENAME_NOREPLACE) != 0) {
    return errno_error_at("cannot move " + package.handle + " to", shown);
  }
  if (::fsync(dest.get()) != 0) return errno_error_at("cannot flush", shown);
  if (::fsync(folder.get()) != 0) return errno_error_at("cannot flush", pickup_.folder.string());
  return {};
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
