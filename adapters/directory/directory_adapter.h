// adapters/directory/directory_adapter.h: a folder an office system
// watches, and optionally a folder it drops outgoing packages into.
//
// Settings: path="FOLDER" (made if missing; relative to the config file).
// Each package lands as ID.xml, its verification report (when there is one)
// as ID.report.json. Both are written in full to temporary files (fsync)
// before either is renamed into place (the report first, then at once the
// package, then an fsync of the folder): a full disk or a file size limit
// leaves nothing visible, a watcher never sees half a file, and a watcher of
// *.xml finds the report already there.
//
// Pickup (optional): pickup="FOLDER", pickup-interval="2s",
// pickup-max="64MB". Every NAME.xml in the folder (names starting with a dot
// are ignored, so an office writes ".NAME.tmp" and renames it) is an unsigned
// package to sign and send. Once the gateway has queued it durably, or
// refused it, the file moves to accepted/ or refused/ under the pickup folder
// with NAME.answer.json beside it (the 202 body or the error) written first.
// A file is only moved after its answer: a crash in between offers it again,
// and the gateway's idempotency key (adapter name + SHA-256 of the bytes)
// makes the second offer return the first answer instead of a second document.
// Hostile entries: a symbolic link, anything but a regular file, a file with
// several hard links (a link to the gateway's key) or a name longer than
// kMaxStemBytes + 4 is refused with the reason, never read; the entry itself
// is moved (rename moves a link, it does not follow it). Files are opened
// with O_NOFOLLOW|O_NONBLOCK; accepted/ and refused/ are opened with
// O_NOFOLLOW (a link there is an error, never written through), answers are
// created O_EXCL|O_NOFOLLOW under short temporary names, every name stays
// within NAME_MAX. A file that cannot be moved kMaxMoveTries times is no
// longer offered (until a restart).
// Thread-safe: each delivery writes its own files; pick_up and
// finish_pick_up are called by one thread at a time.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <map>

#include "adapters/adapter.h"

namespace edocgw::adapters::directory {

struct PickupSettings {
  std::filesystem::path folder;  // empty: no pickup
  std::chrono::milliseconds interval{2000};
  std::uint64_t max_bytes = 64ull << 20;
};

class DirectoryAdapter final : public Adapter {
 public:
  // A picked-up NAME.xml's NAME may have this many bytes; longer ones are
  // refused (and moved under a shortened name that fits NAME_MAX).
  static constexpr std::size_t kMaxStemBytes = 200;
  // finish_pick_up failures of one file before it is no longer offered.
  static constexpr int kMaxMoveTries = 3;

  DirectoryAdapter(std::string name, std::filesystem::path path, PickupSettings pickup = {})
      : name_(std::move(name)), path_(std::move(path)), pickup_(std::move(pickup)) {}

  const std::string& name() const override { return name_; }
  const std::string& type() const override;
  Result<DeliveryReceipt> deliver(const OutgoingPackage& package) override;
  Status health() override;

  bool picks_up() const override { return !pickup_.folder.empty(); }
  std::chrono::milliseconds pickup_interval() const override { return pickup_.interval; }
  Result<std::vector<DroppedPackage>> pick_up() override;
  Status finish_pick_up(const DroppedPackage& package, bool accepted,
                        const std::string& answer) override;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::string refusal_for(const std::string& name, const struct stat& st) const;
  Status move_picked_up(const DroppedPackage& package, bool accepted, const std::string& answer);

  std::string name_;
  std::filesystem::path path_;
  PickupSettings pickup_;
  std::map<std::string, int> stuck_;  // failed moves per file name (one pickup thread)
};

class DirectoryAdapterFactory final : public AdapterFactory {
 public:
  std::string type() const override { return "directory"; }
  Result<std::unique_ptr<Adapter>> create(const config::AdapterConfig& config) const override;
};

}  // namespace edocgw::adapters::directory
