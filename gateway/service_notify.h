// gateway/service_notify.h: telling the service manager what the daemon is
// doing (systemd's Type=notify, through libsystemd's sd_notify): ready once
// listening, reloading around SIGHUP, stopping, and watchdog pings. Without
// NOTIFY_SOCKET (not started by systemd) every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace edocgw::gateway {

void notify_ready(const std::string& status);
// RELOADING=1 with the MONOTONIC_USEC systemd 253 and later want; READY=1
// follows once the reload is done (accepted or refused).
void notify_reloading();
void notify_stopping();
void notify_watchdog();

// How often to ping: half the WatchdogSec= systemd set for this process,
// or nothing when the watchdog is off.
std::optional<std::chrono::microseconds> watchdog_ping_interval();

}  // namespace edocgw::gateway
