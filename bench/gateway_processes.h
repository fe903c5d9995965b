// bench/gateway_processes.h: what the benchmarks that run `edocgw serve` as
// processes share (load_bench, shared_store_bench): starting gateways and
// stopping them on every exit path, a signal thread, a local-API POST with
// libcurl, and the 10 KB package they submit.
//
// Each gateway leads a process group of its own, so a Ctrl-C at the
// terminal reaches only the bench, which stops them in order: stop_all()
// runs on every exit path (the end of the run, a gateway that did not
// start, an exception, SIGINT/SIGTERM/SIGHUP through watch_signals()). If the
// bench itself dies (SIGKILL, a crash), the kernel sends each gateway SIGKILL
// (PR_SET_PDEATHSIG). Header-only: each bench is one translation unit.
#pragma once

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "edxml/package_builder.h"
#include "util/time.h"

namespace edocgw::bench {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

inline const std::string kToken = "bench-token";
inline constexpr auto kStopGrace = std::chrono::seconds(10);  // SIGTERM, then SIGKILL

inline double seconds_since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

inline void pause_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// True once `pid` has exited (or is not our child any more), without reaping
// it: its pid, and so its process group id, stays reserved until waitpid.
inline bool has_exited(pid_t pid) {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return true;
  return info.si_pid != 0;
}

// The gateways this run started and the folder that holds their data.
// Thread-safe.
class Gateways {
 public:
  void set_dir(const fs::path& dir) {
    std::lock_guard lock(mutex_);
    dir_ = dir;
  }

  // Forks and execs `bin serve --config CONFIG`, stderr to LOG; -1 if fork fails.
  pid_t spawn(const std::string& bin, const fs::path& config, const fs::path& log) {
    const std::string config_path = config.string(), log_path = log.string();
    const pid_t parent = getpid();
    std::lock_guard lock(mutex_);  // a signal's stop_all() sees every pid forked
    const pid_t pid = fork();
    if (pid == 0) {
      // Only async-signal-safe calls until exec: other threads may hold locks.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);     // tied to this (the main) thread's life
      if (getppid() != parent) _exit(127);  // the bench died before prctl
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);  // the bench blocks its stop signals
      const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) dup2(fd, 2);
      execl(bin.c_str(), bin.c_str(), "serve", "--config", config_path.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    if (pid < 0) return -1;
    setpgid(pid, pid);  // as the child does: no window where -pid names no group
    pids_.push_back(pid);
    return pid;
  }

  // SIGKILL to the gateway's group, reaped at once.
  void kill9(pid_t pid) {
    std::lock_guard lock(mutex_);
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    forget(pid);
  }

  // Stops these gateways (SIGTERM, all draining at once; SIGKILL after the grace).
  void stop(const std::vector<pid_t>& pids) {
    std::lock_guard lock(mutex_);
    stop_locked(pids);
  }

  // Stops every gateway still running and removes the folder.
  void stop_all() {
    std::lock_guard lock(mutex_);
    stop_locked(pids_);
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

 private:
  void forget(pid_t pid) { pids_.erase(std::remove(pids_.begin(), pids_.end(), pid), pids_.end()); }

  // Waits for each leader until the grace is over, sends SIGKILL to
  // whatever is left of its group (the leader too, if still draining), reaps it.
  void stop_locked(std::vector<pid_t> pids) {
    for (const pid_t pid : pids) kill(-pid, SIGTERM);
    const auto deadline = Steady::now() + kStopGrace;
    for (const pid_t pid : pids) {
      while (!has_exited(pid) && Steady::now() < deadline) pause_ms(20);
      kill(-pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      forget(pid);
    }
  }

  std::mutex mutex_;
  std::vector<pid_t> pids_;
  fs::path dir_;
};

// Never destroyed: the signal thread may use it while main() returns.
inline Gateways& gateways() {
  static Gateways* const g = new Gateways;
  return *g;
}

// Blocks SIGINT, SIGTERM and SIGHUP in this thread, and so in every thread
// started after it (call it first), and takes them in a thread of their own,
// where the cleanup may do what a signal handler may not: wait for the
// gateways, remove the folder. `program` names the bench in the message.
inline void watch_signals(const char* program) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, program] {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    std::fflush(stdout);
    std::fprintf(stderr, "%s: signal %d, stopping the gateways\n", program, sig);
    gateways().stop_all();
    _exit(128 + sig);
  }).detach();
}

// The ports a started gateway listens on (0: that listener is not configured).
struct Listening {
  int api_port = 0, exchange_port = 0;
};

// Waits for "gateway started" in the log at `log` of gateway `pid`
// (`timeout` at most) and reads its ports from it; false, with the log on
// stderr, if it exits or does not start.
inline bool wait_started(pid_t pid, const fs::path& log, std::chrono::milliseconds timeout,
                         Listening& out) {
  const auto t0 = Steady::now();
  while (!has_exited(pid) && Steady::now() - t0 < timeout) {
    const std::string text = slurp(log);
    if (text.find("gateway started") != std::string::npos) {
      std::smatch m;
      if (std::regex_search(
              text, m, std::regex(R"re(127\.0\.0\.1:(\d+)","level":"info","msg":"local API)re")))
        out.api_port = std::stoi(m[1]);
      if (std::regex_search(
              text, m, std::regex(R"re(127\.0\.0\.1:(\d+)","level":"info","msg":"exchange API)re")))
        out.exchange_port = std::stoi(m[1]);
      return true;
    }
    pause_ms(25);
  }
  std::cerr << "gateway in " << log.parent_path() << " did not start:\n" << slurp(log);
  return false;
}

inline size_t collect(char* data, size_t size, size_t n, void* body) {
  static_cast<std::string*>(body)->append(data, size * n);
  return size * n;
}

// POSTs an edXML package to a gateway's local API with the bench's token;
// the HTTP status (0: no answer), the body in `answer`.
inline long post(CURL* c, const std::string& url, const std::string& body, std::string& answer) {
  answer.clear();
  curl_slist* h = curl_slist_append(nullptr, ("Authorization: Bearer " + kToken).c_str());
  h = curl_slist_append(h, "Content-Type: application/xml");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  return status;
}

// A 10 KB package from Hướng Hóa to Đakrông, a distinct document for each `n`.
inline std::string package(int n) {
  nlohmann::json meta = {
      {"from", {{"organ_id", "000.00.12.H50"}, {"organ_name", "UBND huyện Hướng Hóa"}}},
      {"to", {{{"organ_id", "000.00.13.H50"}, {"organ_name", "UBND huyện Đakrông"}}}},
      {"code", {{"number", std::to_string(n)}, {"notation", "BENCH"}}},
      {"subject", "Đo tải: công văn số " + std::to_string(n)}};
  auto p = edxml::build_package(meta, {{"a.pdf", std::string(5500, 'x'), "", ""}}, now_seconds());
  if (!p) throw std::runtime_error(p.error().message);
  return *p;
}

}  // namespace edocgw::bench
