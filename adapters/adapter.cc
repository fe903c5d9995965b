#include "adapters/adapter.h"

#include "adapters/directory/directory_adapter.h"
#include "adapters/vdxp/vdxp_adapter.h"

namespace edocgw::adapters {

Status AdapterRegistry::add(std::unique_ptr<AdapterFactory> factory) {
  const std::string type = factory->type();
  if (!factories_.emplace(type, std::move(factory)).second) {
    return make_error(Errc::internal, "two adapter factories register type '" + type + "'");
  }
  return {};
}

const AdapterFactory* AdapterRegistry::find(const std::string& type) const {
  auto it = factories_.find(type);
  return it == factories_.end() ? nullptr : it->second.get();
}

std::vector<std::string> AdapterRegistry::types() const {
  std::vector<std::string> out;
  for (const auto& [type, factory] : factories_) out.push_back(type);
  return out;
}

Result<std::unique_ptr<Adapter>> AdapterRegistry::create(
    const config::GatewayConfig& gateway, const config::AdapterConfig& config) const {
  const AdapterFactory* factory = find(config.type);
  if (factory == nullptr) {
    std::string known;
    for (const auto& t : types()) known += (known.empty() ? "" : ", ") + t;
    return make_error(Errc::invalid, gateway.where(config.line) + ": adapter '" + config.name +
                                         "' has unknown type '" + config.type +
                                         "'; known: " + known);
  }
  auto adapter = factory->create(config);
  if (!adapter) {
    return make_error(Errc::invalid, gateway.where(config.line) + ": adapter '" + config.name +
                                         "': " + adapter.error().message);
  }
  return adapter;
}

void register_builtin_adapters(AdapterRegistry& registry) {
  // Cannot fail: the built-in types are distinct.
  (void)registry.add(std::make_unique<directory::DirectoryAdapterFactory>());
  (void)registry.add(std::make_unique<vdxp::VdxpAdapterFactory>());
}

}  // namespace edocgw::adapters
