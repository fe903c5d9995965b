// adapters/directory/directory_adapter.h: a folder an office system
// watches, and optionally a folder it drops outgoing packages into.
//
// Settings: path="FOLDER" (made if missing; relative to the config file).
// Each package lands as ID.xml, its verification report (when there is one)
// as ID.report.json written first; both are written atomically (temporary
// file, fsync, rename, fsync of the folder), so a watcher never sees half a
// file and a watcher of *.xml finds the report already there.
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
// Thread-safe: each delivery writes its own files; pick_up and
// finish_pick_up are called by one thread at a time.
#pragma once

#include <filesystem>

#include "adapters/adapter.h"

namespace edocgw::adapters::directory {

struct PickupSettings {
  std::filesystem::path folder;  // empty: no pickup
  std::chrono::milliseconds interval{2000};
  std::uint64_t max_bytes = 64ull << 20;
};

class DirectoryAdapter final : public Adapter {
 public:
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
  std::string name_;
  std::filesystem::path path_;
  PickupSettings pickup_;
};

class DirectoryAdapterFactory final : public AdapterFactory {
 public:
  std::string type() const override { return "directory"; }
  Result<std::unique_ptr<Adapter>> create(const config::AdapterConfig& config) const override;
};

}  // namespace edocgw::adapters::directory
