// SPDX-License-Identifier: Apache-2.0
// Telling systemd how a tool is doing (sd_notify), for units of
// Type=notify with WatchdogSec= (uplink-server.service,
// uplink-device@.service):
//
//   ready()     READY=1 and a STATUS= line, once the tool serves (the
//               server: once it listens); starts the watchdog
//   watchdog    WATCHDOG=1 every WATCHDOG_USEC / 2, sent by a timer on the
//               tool's io_context: the pets stop when the io loop stops
//               turning (a handler that blocks, a deadlock), and systemd
//               then kills and restarts the service. Never from a thread of
//               its own, which would keep petting a wedged loop.
//   stopping()  STOPPING=1, and the watchdog ends (its timer no longer
//               keeps io_context::run() from returning)
//
// Outside systemd (no NOTIFY_SOCKET, no WATCHDOG_USEC) every call does
// nothing. Builds without libsystemd (UPLINK_TOOLS_SYSTEMD undefined) leave
// the notify and watchdog code out: the same calls, doing nothing.
#pragma once

#include <chrono>
#include <string_view>

#include "uplink/net/asio.hpp"

#include <asio/steady_timer.hpp>

namespace uplink::tools {

/// sd_notify(3) for one tool process, with a watchdog that turns with the io loop.
class ServiceNotifier {
 public:
  /// True when this build talks to systemd (built with libsystemd).
  static constexpr bool kSupported =
#if UPLINK_TOOLS_SYSTEMD
      true;
#else
      false;
#endif

  /// Nothing is sent yet; the watchdog timer runs on `io`.
  explicit ServiceNotifier(asio::io_context& io);
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  /// Sends READY=1 with STATUS=`status`, and, when the service manager asked
  /// for a watchdog (WATCHDOG_USEC, and WATCHDOG_PID unset or this process),
  /// sends WATCHDOG=1 at once and then every half interval from the io loop.
  void ready(std::string_view status);

  /// Sends STATUS=`status` (what `systemctl status` shows).
  void status(std::string_view status);

  /// Sends STOPPING=1 and ends the watchdog.
  void stopping();

  /// The watchdog interval systemd asked for; zero when there is no
  /// watchdog (or before ready()).
  [[nodiscard]] std::chrono::microseconds watchdog_interval() const { return watchdog_interval_; }

 private:
  void notify(std::string_view state);
  void pet();

  asio::steady_timer timer_;
  std::chrono::microseconds watchdog_interval_{0};
  bool stopped_ = false;
};

}  // namespace uplink::tools
