// gateway/gateway.h: the daemon behind `edocgw serve`: the local API for
// office systems, the exchange API when this gateway is a hub, the delivery
// and polling loops, reload on SIGHUP and draining on SIGTERM.
//
// Threads: an I/O context run by kIoThreads threads (accepting, reading and
// writing HTTP, timers) and a worker pool for everything that blocks
// (signing, verification, SQLite, fsync, libcurl). The configuration in
// force is an immutable snapshot swapped whole on reload; work in flight
// keeps the snapshot it started with.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "adapters/adapter.h"
#include "audit/signature_log.h"
#include "gateway/config_check.h"
#include "gateway/http_server.h"
#include "gateway/metrics.h"
#include "gateway/pipeline.h"
#include "store/store.h"
#include "util/asio.h"

namespace edocgw::gateway {

class Gateway {
 public:
  // Worker threads mostly wait on fsync, the exchange or the disk, rarely on
  // the CPU: more of them than cores lets concurrent fsyncs share one journal
  // commit (see bench/load_bench).
  static constexpr int kWorkerThreads = 16;
  // How often cached CRLs and OCSP answers are checked for renewal, and how
  // often certificates near expiry are logged.
  static constexpr std::chrono::milliseconds kRevocationRefreshEvery{60'000};
  static constexpr std::chrono::milliseconds kExpiryCheckEvery{6 * 3'600'000};

  static Result<std::unique_ptr<Gateway>> create(const std::filesystem::path& config_path);
  ~Gateway();

  // Opens the listeners and starts the loops. Ports actually bound are
  // logged (port 0 in the config picks a free one).
  Status start();
  // Runs until SIGTERM/SIGINT (drains, then returns 0) — handles SIGHUP.
  int run();
  // Reloads the configuration: a valid one replaces the old, an invalid one
  // is refused and logged and the old one keeps running.
  Status reload();

  std::shared_ptr<const LoadedConfig> config() const;

 private:
  explicit Gateway(std::filesystem::path config_path) : config_path_(std::move(config_path)) {}

  HttpResponse handle_local(const HttpRequest& request);
  // The local API's head check (local_api.cc): the bearer token, and the
  // body's Content-Type where it matters, judged before any body is read.
  HeadDecision local_head(const HttpRequest& head);
  HttpResponse handle_exchange(const HttpRequest& request);
  // An error the exchange's HTTP server answers by itself, in the VDXP shape.
  static HttpResponse exchange_error(unsigned status, const std::string& code,
                                     const std::string& message);
  // The exchange's authentication, on the header alone (exchange_api.cc).
  HeadDecision exchange_head(const HttpRequest& head);
  HttpResponse healthz();
  HttpResponse metrics();

  // Gives `next` its revocation cache: the one of `old` while the settings
  // are the same (its CRLs, answers and backoffs carry on), else a new one
  // on DATA_DIR/revocation; none when <trust revocation="off">.
  static Status attach_revocation(LoadedConfig& next, const LoadedConfig* old);
  void schedule_delivery();
  void schedule_checkpoint();
  // Retention (<store retention=...>): purges bodies older than the window.
  void purge_expired();
  // Signs a checkpoint of the signature log now (POST /v1/audit/checkpoint).
  Result<std::string> checkpoint();
  // Starts, restarts (new interval) or stops the polling and pickup timers
  // so that they match the adapters of `config`; at start and on reload.
  void sync_repeating(const LoadedConfig& config);
  // Runs `job` on the pool every `interval`, one run per key at a time.
  void arm_repeating(asio::steady_timer* timer, const std::string& key,
                     std::chrono::milliseconds interval, std::function<void()> job);
  // WATCHDOG=1 to systemd every half WatchdogSec= from the I/O loop, so a
  // loop that stalls gets the gateway restarted (service_notify.h).
  void schedule_watchdog();
  void drain_and_stop();
  void check_drained();
  // Runs one job posted to the pool: an exception is logged and counted in
  // /metrics (edocgw_job_failures_total{job=...}), never let out, so that no
  // job can end the process. Every post to pool_ goes through it.
  void run_job(const std::string& job, const std::function<void()>& fn) noexcept;

  std::filesystem::path config_path_;
  adapters::AdapterRegistry registry_;
  mutable std::mutex config_mutex_;
  std::shared_ptr<const LoadedConfig> config_;
  int data_dir_lock_ = -1;  // flock on DATA_DIR/LOCK: one gateway per data-dir
  std::unique_ptr<store::Store> store_;
  Metrics metrics_;
  std::unique_ptr<audit::SignatureLog> signature_log_;
  std::unique_ptr<Pipeline> pipeline_;

  asio::io_context io_;
  asio::thread_pool pool_{kWorkerThreads};
  std::shared_ptr<HttpServer> api_server_, exchange_server_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> delivering_{false};
  std::mutex polling_mutex_;
  std::set<std::string> polling_;
  std::unique_ptr<asio::steady_timer> delivery_timer_;
  std::unique_ptr<asio::steady_timer> checkpoint_timer_;
  std::atomic<bool> checkpointing_{false};
  struct Repeating {
    std::chrono::milliseconds interval;
    std::unique_ptr<asio::steady_timer> timer;  // on its own strand: cancel() is posted there
  };
  std::mutex repeating_mutex_;
  std::map<std::string, Repeating> repeating_;                // "poll:NAME", "pickup:NAME"
  std::vector<std::unique_ptr<asio::steady_timer>> retired_;  // cancelled, kept until exit
  std::unique_ptr<asio::steady_timer> drain_timer_;
  std::unique_ptr<asio::steady_timer> watchdog_timer_;
  std::chrono::microseconds watchdog_interval_{0};
  std::chrono::steady_clock::time_point drain_deadline_;
};

// `edocgw serve --config FILE`.
int serve(const std::filesystem::path& config_path);

}  // namespace edocgw::gateway
