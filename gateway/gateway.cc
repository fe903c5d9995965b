#include "gateway/gateway.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include "crypto/certificate.h"
#include "gateway/log.h"
#include "gateway/service_notify.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"

namespace edocgw::gateway {
namespace {
constexpr int kIoThreads = 2;
constexpr auto kDeliveryTick = std::chrono::milliseconds(200);

// The store's counts as /metrics series: edocgw_documents{status=...},
// edocgw_queue_depth, edocgw_inbox{verification=...} and
// edocgw_hub_mailbox{status=...}, each family's labels in the order of
// their names.
template <class E>
void add_family(std::vector<std::pair<std::string, double>>& out, const std::string& family,
                const std::string& label, const std::map<E, std::int64_t>& counts) {
  std::vector<std::pair<std::string, double>> series;
  for (const auto& [state, n] : counts)
    series.emplace_back(family + "{" + label + "=\"" + std::string(store::name(state)) + "\"}",
                        static_cast<double>(n));
  std::sort(series.begin(), series.end());
  out.insert(out.end(), series.begin(), series.end());
}

std::vector<std::pair<std::string, double>> store_series(const store::Counts& counts) {
  std::vector<std::pair<std::string, double>> out;
  add_family(out, "edocgw_documents", "status", counts.documents);
  out.emplace_back("edocgw_queue_depth", static_cast<double>(counts.queue_depth));
  add_family(out, "edocgw_inbox", "verification", counts.inbox);
  add_family(out, "edocgw_hub_mailbox", "status", counts.mailbox);
  return out;
}

// What a listener's config says about its connections and bodies; the
// read and idle timeouts keep the server's defaults.
HttpLimits http_limits(const config::ListenerConfig& listener) {
  HttpLimits limits;
  limits.max_body_bytes = listener.max_body_bytes;
  limits.max_bodies_in_flight = listener.max_bodies_in_flight;
  limits.header_timeout = listener.header_timeout;
  limits.max_connections = listener.max_connections;
  limits.max_connections_per_address = listener.max_connections_per_address;
  return limits;
}
}  // namespace

void Gateway::run_job(const std::string& job, const std::function<void()>& fn) noexcept {
  (void)run_counted(metrics_, job, "", fn);
}

Result<std::unique_ptr<Gateway>> Gateway::create(const std::filesystem::path& config_path) {
  std::unique_ptr<Gateway> g(new Gateway(config_path));
  adapters::register_builtin_adapters(g->registry_);
  auto loaded = load_and_check(config_path, g->registry_);
  if (!loaded) return loaded.error();
  for (const auto& w : loaded->warnings) log_warn(w);
  {
    // One gateway per data-dir: its signature log has one writer. Taken
    // before anything in it is opened (whatever the store's engine).
    const auto& data_dir = loaded->config.data_dir;
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    const auto lock_path = data_dir / "LOCK";
    g->data_dir_lock_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (g->data_dir_lock_ < 0)
      return make_error(Errc::io,
                        "cannot open " + lock_path.string() + ": " + std::strerror(errno));
    if (::flock(g->data_dir_lock_, LOCK_EX | LOCK_NB) != 0)
      return make_error(Errc::io, "another edocgw is running on " + data_dir.string() + " (" +
                                      lock_path.string() + " is locked)");
  }
  if (auto st = attach_revocation(*loaded, nullptr); !st) return st.error();
  g->config_ = std::make_shared<const LoadedConfig>(std::move(*loaded));
  const config::GatewayConfig& c = g->config_->config;
  // The signature log is opened below; nothing is written before then.
  store::LogSync log_sync = [gw = g.get()] { return gw->signature_log_->sync(); };
  Result<std::unique_ptr<store::Store>> store = make_error(Errc::internal, "no store");
  if (c.store.type == config::StoreConfig::Type::postgresql) {
    store::PgOptions options;
    options.dsn = c.store.dsn;
    options.pool_size = c.store.pool_size;
    options.node_id = c.store.node_id;
    options.log_sync = std::move(log_sync);
    store = store::open_pg_store(options);
  } else {
    store::SqliteOptions options;
    options.segment_bytes = c.store.segment_bytes;
    options.log_sync = std::move(log_sync);
    store = store::open_sqlite_store(c.data_dir, std::move(options));
  }
  if (!store) return store.error();
  g->store_ = std::move(*store);
  std::vector<std::string> notices;
  auto log = audit::SignatureLog::open(g->config_->config.data_dir,
                                       "edocgw/" + g->config_->config.organ_id, notices);
  if (!log) return log.error();
  for (const auto& n : notices) log_warn(n);
  g->signature_log_ = std::move(*log);
  for (const auto& n : g->store_->notices()) log_warn(n);
  g->pipeline_ = std::make_unique<Pipeline>(
      *g->store_, g->metrics_, *g->signature_log_, [gw = g.get()] { return gw->config(); },
      [gw = g.get()](std::function<void()> task) { asio::post(gw->pool_, std::move(task)); });
  return g;
}

Status Gateway::attach_revocation(LoadedConfig& next, const LoadedConfig* old) {
  const config::TrustConfig& t = next.config.trust;
  if (t.revocation == config::Revocation::off || (!t.ocsp && !t.crl_fetch)) return {};
  auto key = [](const config::GatewayConfig& c) {
    const auto& t = c.trust;
    return std::tuple(t.crl_fetch, t.crl_max_bytes, t.fetches_in_flight, t.fetch_timeout,
                      t.clock_skew, t.ocsp, t.ocsp_url, t.ocsp_timeout);
  };
  if (old != nullptr && old->revocation && key(old->config) == key(next.config)) {
    next.revocation = old->revocation;
    return {};
  }
  auto settings = revocation_settings(next.config);
  // A new data-dir takes effect at the next restart, for this cache as for the store.
  if (old != nullptr) settings.dir = old->config.data_dir / "revocation";
  auto cache = crypto::RevocationCache::open(std::move(settings));
  if (!cache) return cache.error();
  for (const auto& w : (*cache)->warnings()) log_warn(w);
  next.revocation = std::move(*cache);
  return {};
}

Gateway::~Gateway() {
  pool_.join();
  pipeline_.reset();
  store_.reset();
  signature_log_.reset();
  if (data_dir_lock_ >= 0) ::close(data_dir_lock_);
}

std::shared_ptr<const LoadedConfig> Gateway::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

Status Gateway::start() {
  const auto c = config();
  if (c->config.api) {
    const HttpLimits limits = http_limits(*c->config.api);
    api_server_ = std::make_shared<HttpServer>(
        io_, pool_, limits, [this](const HttpRequest& r) { return handle_local(r); }, c->api_tls,
        [this](const HttpRequest& head) { return local_head(head); });
    auto port = api_server_->listen(c->config.api->listen.host, c->config.api->listen.port);
    if (!port) return port.error();
    log_info("local API listening",
             {{"address", c->config.api->listen.host + ":" + std::to_string(*port)},
              {"tls", c->api_tls ? "on" : "off"}});
  }
  if (c->config.exchange) {
    const HttpLimits limits = http_limits(*c->config.exchange);
    exchange_server_ = std::make_shared<HttpServer>(
        io_, pool_, limits, [this](const HttpRequest& r) { return handle_exchange(r); },
        c->exchange_tls, [this](const HttpRequest& head) { return exchange_head(head); });
    exchange_server_->set_error_format(exchange_error);
    auto port =
        exchange_server_->listen(c->config.exchange->listen.host, c->config.exchange->listen.port);
    if (!port) return port.error();
    log_info("exchange API listening",
             {{"address", c->config.exchange->listen.host + ":" + std::to_string(*port)},
              {"tls", c->exchange_tls ? "on" : "off"}});
  }
  delivery_timer_ = std::make_unique<asio::steady_timer>(io_);
  schedule_delivery();
  checkpoint_timer_ = std::make_unique<asio::steady_timer>(io_);
  // After a kill -9 the log ends with records no checkpoint covers: sign
  // one over them now, so an auditor need not wait for the timer.
  if (signature_log_->size() > signature_log_->checkpointed_size()) (void)checkpoint();
  schedule_checkpoint();
  sync_repeating(*c);
  if (auto interval = watchdog_ping_interval()) {
    watchdog_interval_ = *interval;
    watchdog_timer_ = std::make_unique<asio::steady_timer>(asio::make_strand(io_));
    notify_watchdog();
    schedule_watchdog();
  }
  log_info("gateway started",
           {{"organ_id", c->config.organ_id}, {"config_sha256", c->config.sha256}});
  return {};
}

void Gateway::schedule_delivery() {
  if (stopping_) return;
  delivery_timer_->expires_after(kDeliveryTick);
  delivery_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    if (!delivering_.exchange(true)) {
      asio::post(pool_, [this] {
        run_job("delivery", [this] {
          while (!stopping_ && pipeline_->deliver_due() > 0) {
          }
        });
        delivering_ = false;
      });
    }
    schedule_delivery();
  });
}

Result<std::string> Gateway::checkpoint() {
  auto note = signature_log_->checkpoint(*config()->signer);
  if (!note) {
    log_error("cannot sign a checkpoint of the signature log", {{"error", note.error().message}});
  }
  return note;
}

void Gateway::schedule_checkpoint() {
  if (stopping_) return;
  checkpoint_timer_->expires_after(config()->config.checkpoint_every);
  checkpoint_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    if (!checkpointing_.exchange(true)) {
      asio::post(pool_, [this] {
        run_job("checkpoint", [this] {
          if (signature_log_->size() > signature_log_->checkpointed_size()) (void)checkpoint();
        });
        checkpointing_ = false;
      });
    }
    schedule_checkpoint();
  });
}

void Gateway::sync_repeating(const LoadedConfig& config) {
  std::map<std::string, std::pair<std::chrono::milliseconds, std::function<void()>>> wanted;
  for (const auto& a : config.adapters) {
    const std::string name = a->name();
    if (a->polls()) {
      // Nodes sharing a PostgreSQL store poll a source one at a time (the
      // store's poll lease); a lease outlives a few missed rounds, so a dead
      // node's polling is taken over within 3 intervals + 30 s.
      const auto interval = a->poll_interval();
      const std::int64_t lease =
          std::chrono::duration_cast<std::chrono::seconds>(3 * interval).count() + 30;
      wanted["poll:" + name] = {interval, [this, name, lease] {
                                  auto mine = store_->lease_poll(
                                      name, now_seconds().time_since_epoch().count(), lease);
                                  if (!mine) {
                                    log_warn("cannot take the poll lease",
                                             {{"adapter", name}, {"error", mine.error().message}});
                                    return;
                                  }
                                  if (*mine) pipeline_->poll(name);
                                }};
    }
    if (a->picks_up())
      wanted["pickup:" + name] = {a->pickup_interval(), [this, name] { pipeline_->pick_up(name); }};
    // (arm_repeating runs each of them through run_job.)
  }
  if (const auto retention = config.config.store.retention; retention.count() > 0) {
    // Often enough that bodies go soon after they expire, at most hourly.
    const auto every = std::clamp<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(retention) / 4,
        std::chrono::seconds(1), std::chrono::hours(1));
    wanted["retention:store"] = {every, [this] { purge_expired(); }};
  }
  if (config.revocation) {
    // Renews CRLs and OCSP answers before they go stale (crypto/revocation_cache.h).
    wanted["revocation:refresh"] = {kRevocationRefreshEvery, [this] {
                                      const auto c = this->config();
                                      if (c->revocation) c->revocation->refresh(*c->trust);
                                    }};
  }
  // Expiry of our identity, TLS certificates and anchors: logged while
  // within <gateway expiry-warning=...> (at start and reload by the loader).
  wanted["expiry:certificates"] = {
      kExpiryCheckEvery, [this] {
        for (const auto& w : expiry_warnings(*this->config(), now_seconds())) log_warn(w);
      }};
  std::lock_guard lock(repeating_mutex_);
  auto retire = [&](std::map<std::string, Repeating>::iterator it) {
    asio::steady_timer* timer = it->second.timer.get();
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });
    retired_.push_back(std::move(it->second.timer));
    return repeating_.erase(it);
  };
  for (auto it = repeating_.begin(); it != repeating_.end();) {
    auto w = wanted.find(it->first);
    it = (w == wanted.end() || w->second.first != it->second.interval) ? retire(it) : std::next(it);
  }
  for (auto& [key, job] : wanted) {
    if (repeating_.count(key)) continue;
    auto timer = std::make_unique<asio::steady_timer>(asio::make_strand(io_));
    asio::steady_timer* t = timer.get();
    repeating_[key] = Repeating{job.first, std::move(timer)};
    asio::post(t->get_executor(), [this, t, key = key, interval = job.first, fn = job.second] {
      arm_repeating(t, key, interval, fn);
    });
  }
}

void Gateway::purge_expired() {
  const auto retention = config()->config.store.retention;
  if (retention.count() <= 0) return;
  const std::int64_t before = now_seconds().time_since_epoch().count() - retention.count();
  auto report = store_->purge(before);
  if (!report) {
    metrics_.inc("edocgw_job_failures_total{job=\"retention\"}");
    log_error("retention could not purge", {{"error", report.error().message}});
    return;
  }
  if (report->packages > 0 || report->segments > 0) {
    metrics_.inc("edocgw_purged_packages_total", static_cast<double>(report->packages));
    log_info("retention purged package bodies", {{"packages", std::to_string(report->packages)},
                                                 {"segments", std::to_string(report->segments)}});
  }
}

void Gateway::arm_repeating(asio::steady_timer* timer, const std::string& key,
                            std::chrono::milliseconds interval, std::function<void()> job) {
  timer->expires_after(interval);
  timer->async_wait([this, timer, key, interval, job](boost::system::error_code ec) {
    if (ec || stopping_) return;
    bool start = false;
    {
      std::lock_guard lock(polling_mutex_);
      start = polling_.insert(key).second;  // one round of a job at a time
    }
    if (start) {
      asio::post(pool_, [this, key, job] {
        if (!stopping_) run_job(key.substr(0, key.find(':')), job);
        std::lock_guard lock(polling_mutex_);
        polling_.erase(key);
      });
    }
    arm_repeating(timer, key, interval, job);
  });
}

Status Gateway::reload() {
  auto loaded = load_and_check(config_path_, registry_);
  if (!loaded) {
    log_error("reload refused; the old configuration keeps running",
              {{"error", loaded.error().message}});
    return loaded.error();
  }
  const auto old = config();
  if (auto st = attach_revocation(*loaded, old.get()); !st) {
    log_error("reload refused; the old configuration keeps running",
              {{"error", st.error().message}});
    return st.error();
  }
  for (const auto& w : loaded->warnings) log_warn(w);
  auto next = std::make_shared<const LoadedConfig>(std::move(*loaded));
  if (next->config.data_dir != old->config.data_dir) {
    log_warn("data-dir changes take effect at the next restart");
  }
  {
    std::lock_guard lock(config_mutex_);
    config_ = next;
  }
  if (!stopping_) sync_repeating(*next);
  log_info("configuration reloaded", {{"config_sha256", next->config.sha256}});
  return {};
}

void Gateway::schedule_watchdog() {
  if (stopping_) return;
  watchdog_timer_->expires_after(watchdog_interval_);
  watchdog_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    notify_watchdog();
    schedule_watchdog();  // not once stopping: systemd watches no stopping service
  });
}

void Gateway::drain_and_stop() {
  stopping_ = true;
  notify_stopping();
  if (watchdog_timer_) {
    // The timer lives on its strand (its handler may be running on the
    // other I/O thread): cancelled there.
    asio::steady_timer* timer = watchdog_timer_.get();
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  }
  if (api_server_) api_server_->stop();
  if (exchange_server_) exchange_server_->stop();
  if (delivery_timer_) delivery_timer_->cancel();
  if (checkpoint_timer_) checkpoint_timer_->cancel();
  {
    std::lock_guard lock(repeating_mutex_);
    for (auto& [key, r] : repeating_) {
      asio::steady_timer* timer = r.timer.get();
      asio::post(timer->get_executor(), [timer] { timer->cancel(); });
    }
  }
  // Finish what is in flight (requests being handled), then stop.
  drain_deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  drain_timer_ = std::make_unique<asio::steady_timer>(io_);
  check_drained();
}

void Gateway::check_drained() {
  const std::size_t busy = (api_server_ ? api_server_->in_flight() : 0) +
                           (exchange_server_ ? exchange_server_->in_flight() : 0);
  if (busy == 0 || std::chrono::steady_clock::now() > drain_deadline_) {
    io_.stop();
    return;
  }
  drain_timer_->expires_after(std::chrono::milliseconds(20));
  drain_timer_->async_wait([this](boost::system::error_code) { check_drained(); });
}

int Gateway::run() {
  asio::signal_set signals(io_, SIGTERM, SIGINT, SIGHUP);
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        // systemd waits for READY=1 after RELOADING=1: sent whatever the
        // outcome, with the outcome as the status line.
        notify_reloading();
        asio::post(pool_, [this] {
          std::string outcome = "serving; the reload failed, the old configuration runs on";
          run_job("reload", [&] {
            auto st = reload();
            outcome = st ? "serving; configuration reloaded"
                         : "serving; reload refused, the old configuration runs on: " +
                               st.error().message;
          });
          notify_ready(outcome);
        });
        wait_signal();
        return;
      }
      log_info("stopping: finishing work in flight", {{"signal", std::to_string(sig)}});
      drain_and_stop();
    });
  };
  wait_signal();
  // Listening (start() bound the listeners: connections made from now on
  // queue until the I/O threads take them) and the signals handled: a
  // SIGHUP or SIGTERM from systemd from here on reloads or drains.
  notify_ready("serving");
  std::vector<std::thread> threads;
  for (int i = 1; i < kIoThreads; ++i) threads.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : threads) t.join();
  pool_.join();  // deliveries and polls in hand finish
  // The last word of the signature log: everything logged is covered.
  if (auto note = checkpoint(); note)
    log_info("signature log checkpoint signed on shutdown",
             {{"size", std::to_string(signature_log_->size())}});
  log_info("stopped");
  return 0;
}

HttpResponse Gateway::healthz() {
  std::vector<std::string> problems;
  if (auto st = store_->ping(); !st) problems.push_back("store: " + st.error().message);
  const auto c = config();
  const auto& signer = c->signer->signer();
  if (now_seconds() > signer.not_after)
    problems.push_back("identity: the signing certificate has expired");
  // Stale revocation data and unreachable sources: documents are refused
  // for want of it where revocation="require" (on <trust> or any <accept>:
  // unhealthy), accepted with a warning under "prefer" (reported, still
  // healthy).
  nlohmann::json revocation = nlohmann::json::array();
  if (c->revocation) {
    // Required for some sender: <trust> says so, or an <accept> rule does.
    bool required = c->config.trust.revocation == config::Revocation::require;
    for (const auto& rule : c->config.trust.accept)
      required |= rule.revocation == config::Revocation::require;
    for (const auto& p : c->revocation->health()) {
      revocation.push_back({{"kind", p.kind},
                            {"source", p.source},
                            {"problem", p.problem},
                            {"stale", p.stale},
                            {"failing", p.failing}});
      if (required && p.stale)
        problems.push_back("revocation: " + p.kind + " " + p.source + ": " + p.problem);
    }
  }
  nlohmann::json expiring = nlohmann::json::array();
  for (const auto& w : expiry_warnings(*c, now_seconds())) expiring.push_back(w);
  for (const auto& a : c->adapters) {
    if (auto st = a->health(); !st)
      problems.push_back("adapter " + a->name() + ": " + st.error().message);
  }
  nlohmann::json body = {{"status", problems.empty() ? "ok" : "unhealthy"}};
  if (!problems.empty()) body["reasons"] = problems;
  if (!revocation.empty()) body["revocation"] = revocation;
  if (!expiring.empty()) body["expiring"] = expiring;
  return json_response(problems.empty() ? 200 : 503, body.dump());
}

HttpResponse Gateway::metrics() {
  std::vector<std::pair<std::string, double>> extra;
  if (auto counts = store_->counts()) extra = store_series(*counts);
  extra.emplace_back("edocgw_signature_log_records", static_cast<double>(signature_log_->size()));
  extra.emplace_back("edocgw_signature_log_checkpointed_records",
                     static_cast<double>(signature_log_->checkpointed_size()));
  const auto c = config();
  const double now_s = static_cast<double>(now_seconds().time_since_epoch().count());
  // Seconds until each watched certificate expires (negative: expired),
  // and how many are within the expiry-warning window.
  double expiring = 0;
  for (const auto& w : c->watched) {
    const double left = static_cast<double>(w.not_after.time_since_epoch().count()) - now_s;
    if (left <= static_cast<double>(c->config.expiry_warning.count())) ++expiring;
    if (w.role == "crl") continue;
    std::string role = w.role;
    std::replace(role.begin(), role.end(), ' ', '_');
    extra.emplace_back("edocgw_certificate_expiry_seconds{role=\"" + role + "\",sha256=\"" +
                           w.sha256.substr(0, 16) + "\"}",
                       left);
  }
  extra.emplace_back("edocgw_certificates_expiring", expiring);
  if (c->revocation) {
    const auto st = c->revocation->stats();
    for (auto [name, value] : {std::pair{"edocgw_crl_fetches_total", st.crl_fetches},
                               std::pair{"edocgw_crl_fetch_failures_total", st.crl_fetch_failures},
                               std::pair{"edocgw_crl_refused_total", st.crl_refused},
                               std::pair{"edocgw_ocsp_requests_total", st.ocsp_requests},
                               std::pair{"edocgw_ocsp_failures_total", st.ocsp_failures},
                               std::pair{"edocgw_ocsp_cache_hits_total", st.ocsp_hits},
                               std::pair{"edocgw_ocsp_cache_misses_total", st.ocsp_misses}})
      extra.emplace_back(name, static_cast<double>(value));
    extra.emplace_back("edocgw_revocation_crls_cached", static_cast<double>(st.crls));
    extra.emplace_back("edocgw_revocation_ocsp_answers_cached",
                       static_cast<double>(st.ocsp_answers));
    double stale = 0, unreachable = 0;
    for (const auto& p : c->revocation->health()) {
      stale += p.stale ? 1 : 0;
      unreachable += p.failing ? 1 : 0;
    }
    extra.emplace_back("edocgw_revocation_stale_sources", stale);
    extra.emplace_back("edocgw_revocation_failing_sources", unreachable);
  }
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = metrics_.render(extra);
  return r;
}

int serve(const std::filesystem::path& config_path) {
  std::signal(SIGPIPE, SIG_IGN);
  auto gateway = Gateway::create(config_path);
  if (!gateway) {
    log_error("cannot start", {{"error", gateway.error().message}});
    std::fprintf(stderr, "edocgw: %s\n", gateway.error().message.c_str());
    return gateway.error().code == Errc::invalid ? 1 : 2;
  }
  if (auto st = (*gateway)->start(); !st) {
    std::fprintf(stderr, "edocgw: %s\n", st.error().message.c_str());
    return 2;
  }
  return (*gateway)->run();
}

}  // namespace edocgw::gateway
