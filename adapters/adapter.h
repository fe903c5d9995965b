// adapters/adapter.h: how packages leave and enter the gateway.
//
// An Adapter carries signed packages to a place (the exchange's API, a
// folder, ...) and, where that place holds incoming packages, fetches them.
// Adapters plug in like Envoy filters: an AdapterFactory per `type` of
// gateway.xml, kept in an AdapterRegistry, filled explicitly by
// register_builtin_adapters() (no static initialisers). An unknown type or
// a bad setting is a configuration error naming the line.
//
// Thread-safety: the calls block (file I/O, libcurl easy) and are made from
// the gateway's worker threads, never its I/O threads. An adapter must allow
// deliver(), poll() and health() from different threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/gateway_config.h"
#include "util/result.h"

namespace edocgw::adapters {

struct OutgoingPackage {
  std::string id;           // the gateway's own id for this delivery
  std::string document_id;  // edXML DocumentId
  std::string from_organ_id;
  std::vector<std::string> to_organ_ids;
  std::string message_type;  // "edoc" or "status"
  std::string bytes;         // the signed package
  std::string report_json;   // inbound only: the verification report, "" for none
};

struct DeliveryReceipt {
  std::string remote_id;  // what the far side calls it, "" when nothing
  std::string detail;
};

struct IncomingPackage {
  std::string remote_id;  // to acknowledge it
  std::string from_organ_id;
  std::string message_type;  // "edoc" or "status"
  std::string bytes;
};

struct DroppedPackage {
  std::string handle;  // the adapter's name for it (a file name)
  std::string bytes;   // an unsigned edXML package, or the reason it cannot be read
  bool readable = true;
  // When not readable: "too_large" (over the pickup limit) or "not_taken"
  // (a link, not a regular file, a name too long: refused without reading).
  std::string refusal_code = "too_large";
};

class Adapter {
 public:
  virtual ~Adapter() = default;

  virtual const std::string& name() const = 0;
  virtual const std::string& type() const = 0;

  // Hands a signed package on. Errc::io means "try again later"; any other
  // error is final for this package.
  virtual Result<DeliveryReceipt> deliver(const OutgoingPackage& package) = 0;

  // Whether poll() has anything to offer, and how often to ask.
  virtual bool polls() const { return false; }
  virtual std::chrono::milliseconds poll_interval() const { return std::chrono::seconds(5); }
  // The most packages one poll() hands over (0: no limit). A poll that
  // hands over this many may have left more waiting: the caller polls again
  // at once instead of waiting for the next interval.
  virtual std::size_t poll_bite() const { return 0; }
  // Fetches packages waiting for us one at a time and hands each to
  // `on_each` as soon as it is fetched, before fetching the next, so a poll
  // holds one package at a time (plus what `on_each` keeps). Each must later
  // be acknowledged. Returns how many were handed over; on an error, those
  // handed over before it stand. Every answer from a peer is size-capped.
  using IncomingHandler = std::function<void(IncomingPackage&&)>;
  virtual Result<std::size_t> poll(const IncomingHandler& on_each) {
    (void)on_each;
    return std::size_t{0};
  }
  // The same, every package of one poll gathered in a vector: for tests and
  // tools only (its memory grows with what is pending; the gateway streams).
  Result<std::vector<IncomingPackage>> poll() {
    std::vector<IncomingPackage> out;
    auto n = poll([&](IncomingPackage&& p) { out.push_back(std::move(p)); });
    if (!n) return n.error();
    return out;
  }
  // Tells the far side we took `remote_id` (accepted: verified and stored,
  // or refused: stored in quarantine).
  virtual Status acknowledge(const std::string& remote_id, bool accepted) {
    (void)remote_id;
    (void)accepted;
    return {};
  }

  // Outgoing packages an office system dropped for the gateway to sign and
  // send (unsigned edXML), for adapters that pick up. Each is later
  // finished: accepted (durably queued; `answer` is the 202 body) or
  // refused (`answer` is the error body), so it is never taken twice.
  // Something not finished (the store was down, a crash) is offered again.
  virtual bool picks_up() const { return false; }
  virtual std::chrono::milliseconds pickup_interval() const { return std::chrono::seconds(2); }
  virtual Result<std::vector<DroppedPackage>> pick_up() { return std::vector<DroppedPackage>{}; }
  virtual Status finish_pick_up(const DroppedPackage& package, bool accepted,
                                const std::string& answer) {
    (void)package;
    (void)accepted;
    (void)answer;
    return {};
  }

  // Ok, or what is wrong (for /healthz).
  virtual Status health() = 0;
};

class AdapterFactory {
 public:
  virtual ~AdapterFactory() = default;
  virtual std::string type() const = 0;
  // Validates the settings and makes the adapter; errors name the setting.
  virtual Result<std::unique_ptr<Adapter>> create(const config::AdapterConfig& config) const = 0;
};

class AdapterRegistry {
 public:
  // A second factory for the same type is an error.
  Status add(std::unique_ptr<AdapterFactory> factory);
  const AdapterFactory* find(const std::string& type) const;
  std::vector<std::string> types() const;

  // Makes the adapter for `config`; an unknown type is an error naming the line.
  Result<std::unique_ptr<Adapter>> create(const config::GatewayConfig& gateway,
                                          const config::AdapterConfig& config) const;

 private:
  std::map<std::string, std::unique_ptr<AdapterFactory>> factories_;
};

void register_builtin_adapters(AdapterRegistry& registry);

}  // namespace edocgw::adapters
