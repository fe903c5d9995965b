#include "gateway/service_notify.h"

#include <systemd/sd-daemon.h>

#include <ctime>

namespace edocgw::gateway {
namespace {

// A status line is one line of text: newlines would start new assignments.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

void send(const std::string& state) {
  // unset_environment=0: a reload re-execs nothing, and children (none)
  // would not inherit the socket meaningfully anyway. Errors are ignored:
  // a manager that cannot be told must not stop the gateway.
  (void)sd_notify(0, state.c_str());
}

}  // namespace

void notify_ready(const std::string& status) {
  send("READY=1\nSTATUS=" + one_line(status));
}

void notify_reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const unsigned long long usec =
      static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL + ts.tv_nsec / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading");
}

void notify_stopping() {
  send("STOPPING=1\nSTATUS=stopping: finishing work in flight");
}

void notify_watchdog() {
  send("WATCHDOG=1");
}

std::optional<std::chrono::microseconds> watchdog_ping_interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace edocgw::gateway
