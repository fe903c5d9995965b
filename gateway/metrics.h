// gateway/metrics.h: counters and a latency histogram for /metrics
// (Prometheus text format). Thread-safe: every method locks.
#pragma once

#include <functional>
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

// Runs one job (or one package's work inside a job) so that no exception
// can end the process (std::terminate), which the same input would do again
// after every restart: an exception is logged with `job`, `package` (when
// not empty) and the error, counted as edocgw_job_failures_total{job=...},
// and not let out. Whatever the work was doing stays where it was and is
// tried again next round. False when it threw.
bool run_counted(Metrics& metrics, const std::string& job, const std::string& package,
                 const std::function<void()>& fn) noexcept;

}  // namespace edocgw::gateway
