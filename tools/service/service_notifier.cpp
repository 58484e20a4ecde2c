// SPDX-License-Identifier: Apache-2.0
// ServiceNotifier: sd_notify(3) through libsystemd, and the io-loop watchdog.
// See service_notifier.hpp.
#include "service_notifier.hpp"

#include <cstdint>
#include <string>

#if UPLINK_TOOLS_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace uplink::tools {

ServiceNotifier::ServiceNotifier(asio::io_context& io) : timer_(io) {}

void ServiceNotifier::ready(std::string_view status) {
  std::string state = "READY=1\nSTATUS=";
  state.append(status);
  notify(state);
#if UPLINK_TOOLS_SYSTEMD
  // WATCHDOG_PID, when set, names the process that must pet: a child of
  // the service (or a tool started by hand from inside one) stays quiet.
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_interval_ = std::chrono::microseconds(usec);
    pet();
  }
#endif
}

void ServiceNotifier::status(std::string_view status) {
  std::string state = "STATUS=";
  state.append(status);
  notify(state);
}

void ServiceNotifier::stopping() {
  stopped_ = true;
  timer_.cancel();
  notify("STOPPING=1");
}

void ServiceNotifier::notify(std::string_view state) {
#if UPLINK_TOOLS_SYSTEMD
  // Best effort: without NOTIFY_SOCKET this returns 0 and sends nothing; a
  // failed send cannot be helped here (systemd then times the service out).
  const std::string text(state);
  (void)sd_notify(0, text.c_str());
#else
  (void)state;
#endif
}

// One pet, and the next one half an interval later, from this io loop's
// timer: a loop that stops turning stops the pets.
void ServiceNotifier::pet() {
  if (stopped_) return;
  notify("WATCHDOG=1");
  timer_.expires_after(watchdog_interval_ / 2);
  timer_.async_wait([this](const asio::error_code& error) {
    if (!error) pet();
  });
}

}  // namespace uplink::tools
