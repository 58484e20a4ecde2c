// SPDX-License-Identifier: Apache-2.0
// The Linux port's network monitor (contract: uplink/port/network_monitor.hpp):
// an rtnetlink socket read through Asio on the application's io_context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/net/asio.hpp"

#include <asio/posix/stream_descriptor.hpp>

#include "uplink/net/handler_memory.hpp"
#include "uplink/port/network_monitor.hpp"

namespace uplink::port {

/// Watches the system's links and addresses (rtnetlink) and calls
/// `on_change(context)` on the io_context's thread after each burst of
/// events: a link going up or down, an address added or removed.
/// Typical use: `NetlinkMonitor monitor(io, [](void* c) {
/// static_cast<Client*>(c)->network_changed(); }, &client);`
/// No heap after start(); events of every interface are reported (a probe
/// costs one PING, cheaper than guessing which interface carries the route).
class NetlinkMonitor final : public NetworkMonitor {
 public:
  /// Reports to `on_change(context)` on `io`'s thread once started.
  NetlinkMonitor(asio::io_context& io, Callback on_change, void* context);
  /// Stops; the io_context must then run until quiescent() (see stop()).
  ~NetlinkMonitor();

  /// Opens the netlink socket and starts listening. Errors: the socket or
  /// bind failure (e.g. a sandbox without netlink); the client works without.
  [[nodiscard]] std::error_code start() override;
  /// Stops listening; safe to call twice. Run the io_context until
  /// quiescent() before destroying the monitor.
  void stop() override;
  /// True when no read is pending.
  [[nodiscard]] bool quiescent() const override { return !reading_; }
  /// Bursts of events reported so far.
  [[nodiscard]] std::uint64_t changes() const override { return changes_; }

 private:
  using Memory = uplink::detail::HandlerMemory<256, 2>;  // not port::detail (clock.hpp)
  void start_read();
  void handle_read(const asio::error_code& error, std::size_t size);

  asio::posix::basic_stream_descriptor<asio::io_context::executor_type> descriptor_;
  Callback on_change_;
  void* context_;
  Memory memory_;
  alignas(4) unsigned char buffer_[4096] = {};
  bool reading_ = false;
  std::uint64_t changes_ = 0;
};

}  // namespace uplink::port
