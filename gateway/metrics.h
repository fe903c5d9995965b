// gateway/metrics.h: counters and a latency histogram for /metrics
// (Prometheus text format). Thread-safe: every method locks.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace edocgw::gateway {

class Metrics {
 public:
  // name{labels} -> value, e.g. inc("edocgw_deliveries_total{adapter=\"province\"}")
  void inc(const std::string& series, double by = 1);
  void observe_request(const std::string& api, double seconds);
  // Renders everything plus `extra` gauges (already formatted series -> value).
  std::string render(const std::vector<std::pair<std::string, double>>& extra) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, double> counters_;
  std::map<std::string, std::vector<std::uint64_t>> buckets_;  // per api
  std::map<std::string, double> sums_;
  std::map<std::string, std::uint64_t> counts_;
};

}  // namespace edocgw::gateway
