// adapters/directory/directory_adapter.h: delivers packages into a folder
// that an office system watches.
//
// Settings: path="FOLDER" (made if missing; relative to the config file).
// Each package lands as ID.xml, its verification report (when there is one)
// as ID.report.json written first; both are written atomically (temporary
// file, fsync, rename, fsync of the folder), so a watcher never sees half a
// file and a watcher of *.xml finds the report already there.
//
// Not built yet: picking up outgoing packages dropped into a folder.
// Thread-safe: each delivery writes its own files.
#pragma once

#include <filesystem>

#include "adapters/adapter.h"

namespace edocgw::adapters::directory {

class DirectoryAdapter final : public Adapter {
 public:
  DirectoryAdapter(std::string name, std::filesystem::path path)
      : name_(std::move(name)), path_(std::move(path)) {}

  const std::string& name() const override { return name_; }
  const std::string& type() const override;
  Result<DeliveryReceipt> deliver(const OutgoingPackage& package) override;
  Status health() override;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::string name_;
  std::filesystem::path path_;
};

class DirectoryAdapterFactory final : public AdapterFactory {
 public:
  std::string type() const override { return "directory"; }
  Result<std::unique_ptr<Adapter>> create(const config::AdapterConfig& config) const override;
};

}  // namespace edocgw::adapters::directory
