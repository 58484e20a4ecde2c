// SPDX-License-Identifier: Apache-2.0
// Port contract: network-change events, so a client can probe its link the
// moment the network moves instead of waiting for a deadline.
//
// The SDK never creates a monitor: an application that wants the fast
// reaction runs one and forwards its callback to Client::network_changed().
// The Linux port's is uplink::port::NetlinkMonitor
// (uplink/port/linux/netlink_monitor.hpp, rtnetlink through Asio).
#pragma once

#include <cstdint>
#include <system_error>

namespace uplink::port {

/// Watches the system's links and addresses and reports "something changed".
///
/// Edge semantics every implementation keeps:
///  - The callback given at construction runs on the application's
///    io_context thread (never inside start() or stop()), once per burst of
///    events: a link going up or down, an address added or removed. Spurious
///    reports are allowed (a probe costs one PING); missed ones are not.
///  - start(): begins watching. An error means no events will come (e.g. a
///    sandbox without the event source, or std::errc::function_not_supported
///    on a platform without one); the client then relies on its read
///    timeout alone. Calling it while watching does nothing.
///  - stop(): no callback runs after the next turn of the io_context; safe
///    to call twice. The monitor may be destroyed once quiescent() is true.
///  - No heap allocation after start().
class NetworkMonitor {
 public:
  /// The callback's type: `context` is the pointer given at construction.
  using Callback = void (*)(void* context);

  NetworkMonitor() = default;
  NetworkMonitor(const NetworkMonitor&) = delete;
  NetworkMonitor& operator=(const NetworkMonitor&) = delete;

  /// See the class comment.
  [[nodiscard]] virtual std::error_code start() = 0;
  /// See the class comment.
  virtual void stop() = 0;
  /// True when no operation is pending: the monitor may be destroyed.
  [[nodiscard]] virtual bool quiescent() const = 0;
  /// Bursts of events reported so far.
  [[nodiscard]] virtual std::uint64_t changes() const = 0;

 protected:
  ~NetworkMonitor() = default;
};

}  // namespace uplink::port
