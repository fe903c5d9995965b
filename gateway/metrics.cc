#include "gateway/metrics.h"

#include <array>
#include <sstream>

#include "gateway/log.h"

namespace edocgw::gateway {
namespace {
constexpr std::array<double, 10> kBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
}

void Metrics::inc(const std::string& series, double by) {
  std::lock_guard lock(mutex_);
  counters_[series] += by;
}

void Metrics::observe_request(const std::string& api, double seconds) {
  std::lock_guard lock(mutex_);
  auto& b = buckets_[api];
  b.resize(kBounds.size(), 0);
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++b[i];
  }
  sums_[api] += seconds;
  ++counts_[api];
}

std::string Metrics::render(const std::vector<std::pair<std::string, double>>& extra) const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  for (const auto& [series, value] : counters_) out << series << " " << value << "\n";
  for (const auto& [series, value] : extra) out << series << " " << value << "\n";
  out << "# TYPE edocgw_request_seconds histogram\n";
  for (const auto& [api, b] : buckets_) {
    for (size_t i = 0; i < kBounds.size(); ++i) {
      out << "edocgw_request_seconds_bucket{api=\"" << api << "\",le=\"" << kBounds[i] << "\"} "
          << b[i] << "\n";
    }
    out << "edocgw_request_seconds_bucket{api=\"" << api << "\",le=\"+Inf\"} " << counts_.at(api)
        << "\n";
    out << "edocgw_request_seconds_sum{api=\"" << api << "\"} " << sums_.at(api) << "\n";
    out << "edocgw_request_seconds_count{api=\"" << api << "\"} " << counts_.at(api) << "\n";
  }
  return out.str();
}

bool run_counted(Metrics& metrics, const std::string& job, const std::string& package,
                 const std::function<void()>& fn) noexcept {
  std::string error;
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown";
  }
  try {
    if (package.empty())
      log_error("a job failed; it runs again next round", {{"job", job}, {"error", error}});
    else
      log_error("a job failed; it runs again next round",
                {{"job", job}, {"package", package}, {"error", error}});
    metrics.inc("edocgw_job_failures_total{job=\"" + job + "\"}");
  } catch (...) {  // out of memory: nothing more can be said
  }
  return false;
}

}  // namespace edocgw::gateway
