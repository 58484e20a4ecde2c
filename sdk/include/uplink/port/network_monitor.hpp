// Port contract: network-change events, so a client can probe its link the
// moment the network moves instead of waiting for a deadline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/net/asio.hpp"

#include <asio/posix/stream_descriptor.hpp>

#include "uplink/net/handler_memory.hpp"

namespace uplink::port {

/// Watches the system's links and addresses (rtnetlink on Linux) and calls
/// `on_change(context)` on the io_context's thread after each burst of
/// events: a link going up or down, an address added or removed.
/// Typical use: `NetworkMonitor monitor(io, [](void* c) {
/// static_cast<Client*>(c)->network_changed(); }, &client);`
/// No heap after start(); events of every interface are reported (a probe
/// costs one PING, cheaper than guessing which interface carries the route).
class NetworkMonitor {
 public:
  using Callback = void (*)(void* context);

  NetworkMonitor(asio::io_context& io, Callback on_change, void* context);
  ~NetworkMonitor();
  NetworkMonitor(const NetworkMonitor&) = delete;
  NetworkMonitor& operator=(const NetworkMonitor&) = delete;

  /// Opens the netlink socket and starts listening. Errors: the socket or
  /// bind failure (e.g. a sandbox without netlink); the client works without.
  [[nodiscard]] std::error_code start();
  /// Stops listening; safe to call twice. Run the io_context until
  /// quiescent() before destroying the monitor.
  void stop();
  /// True when no read is pending.
  [[nodiscard]] bool quiescent() const { return !reading_; }
  /// Bursts of events reported so far.
  [[nodiscard]] std::uint64_t changes() const { return changes_; }

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
