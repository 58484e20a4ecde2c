// SPDX-License-Identifier: Apache-2.0
// FaultProxy: a TCP proxy on loopback that injects the link failures a
// device must survive, for the integration tests and the demo.
//
// Each connection accepted from a "device" is connected to the upstream
// server and its bytes are pumped both ways. The mode decides what happens
// to them; a mode change applies at once to live connections and to the
// ones accepted later:
//
//   forward          plain proxy (also clears every mode below, reopens a
//                    refused listener)
//   blackhole(dir)   bytes are read and discarded; both sockets stay open,
//                    so each end sees a half-open link (no FIN, no RST)
//   set_latency      each chunk is delivered `delay` after it was read,
//                    in order
//   set_bytewise     one byte per write (TCP_NODELAY: one segment each)
//   reset_all        abortive close (RST) of both sides of every connection
//   close_side(side) FIN to that side only; the other side sees nothing
//   stall_device     stop reading from the device: its writes stall once
//                    the small receive buffer and its send buffer are full
//   refuse           close the listener (connects are refused); reopen on
//                    the same port when turned off
//   inject(dir, b)   write raw bytes b into every live connection toward
//                    the server (up) or the device (down), e.g. garbage
//                    "from the server"; a one-shot action, not a mode
//
// Teardown: when a side sends FIN or fails, the other side gets the same
// (FIN after the data queued for it, or RST) unless that direction is
// blackholed at that moment: then the other side is left open, exactly
// what a device behind a dead link sees. A connection ends, exactly once,
// when neither side can send anything anymore; destroying the proxy closes
// every connection.
//
// Threading: not thread-safe. Call everything on the thread that runs the
// io_context (or while it is not running). Lifetime: the io_context must
// outlive the proxy; handlers still queued after the proxy is destroyed
// are harmless.
#pragma once

// First, before any standard header: Asio's configuration depends on it.
#include "uplink/net/asio.hpp"

#if defined(ASIO_HAS_STD_ALIGNED_ALLOC)
// Asio picks std::aligned_alloc for handler memory only if a standard header
// came first; the compiled Asio (sdk/src/net/asio_impl.cpp) uses operator
// new. Mixing both frees memory with the wrong function.
#error "Include \"uplink/net/asio.hpp\" (or this header) before any other header"
#endif

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <asio/ip/tcp.hpp>

namespace uplink::tools {

class FaultProxy {
 public:
  /// up = device -> server, down = server -> device.
  enum class Direction : std::uint8_t { up, down, both };
  enum class Side : std::uint8_t { device, server };

  /// The current mode (what forward() restores: every field at its default).
  struct Mode {
    bool blackhole_up = false;
    bool blackhole_down = false;
    std::chrono::milliseconds latency_up{0};
    std::chrono::milliseconds latency_down{0};
    bool bytewise = false;
    bool stall_device = false;
    bool refusing = false;
  };

  struct Counters {
    std::uint64_t accepted = 0;      ///< device connections accepted
    std::uint64_t live = 0;          ///< connections not yet ended
    std::uint64_t bytes_up = 0;      ///< delivered to the server
    std::uint64_t bytes_down = 0;    ///< delivered to the device
    std::uint64_t dropped_up = 0;    ///< read from the device, never delivered
    std::uint64_t dropped_down = 0;  ///< read from the server, never delivered
  };

  enum class EventType : std::uint8_t { listening, accepted, closed, mode, error };
  struct Event {
    EventType type = EventType::mode;
    std::uint16_t port = 0;        ///< listening: the port
    std::uint64_t connection = 0;  ///< accepted, closed (ids start at 1); error: 0 if not about one
    std::string text;              ///< mode: the command applied; closed: why; error: the message
  };
  using EventHandler = std::function<void(const Event&)>;

  /// Listens on `listen` right away (port 0: ephemeral; see listen_error()).
  /// `on_event` already receives the "listening" event.
  FaultProxy(asio::io_context& io, const asio::ip::tcp::endpoint& upstream,
             const asio::ip::tcp::endpoint& listen = {asio::ip::address_v4::loopback(), 0},
             EventHandler on_event = {});
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  /// The listening port (kept across refuse on/off); 0 if the first listen failed.
  [[nodiscard]] std::uint16_t port() const;
  /// Why the constructor could not listen; empty on success.
  [[nodiscard]] std::error_code listen_error() const;
  void set_event_handler(EventHandler on_event);

  // --- Modes -----------------------------------------------------------------
  /// Back to a plain proxy: no blackhole, latency, bytewise nor stall, and
  /// listening again if refused (the error is that of reopening).
  std::error_code forward();
  /// Discards what is read in `direction` (adds to the other directions
  /// already blackholed); data queued for delivery in it is dropped too.
  void blackhole(Direction direction);
  /// Delay for chunks read from now on; chunks already queued keep theirs.
  void set_latency(std::chrono::milliseconds delay, Direction direction = Direction::both);
  void set_bytewise(bool on);
  void stall_device(bool on);
  /// Closes the listener (on) or reopens it on the same port (off).
  std::error_code refuse(bool on);

  // --- Actions on the live connections --------------------------------------
  void reset_all();
  void close_side(Side side);
  /// Writes `bytes` into every live connection toward the server (up), the
  /// device (down) or both, as if the other end had sent them: after what
  /// is already queued that way, and subject to that direction's mode (a
  /// blackhole drops them, latency delays them, bytewise splits them).
  /// Returns how many connections took them; emits a mode event if any did.
  std::size_t inject(Direction direction, const std::vector<std::uint8_t>& bytes);

  // --- Commands --------------------------------------------------------------
  /// Applies one text command; returns "" or why it was refused:
  ///   forward | blackhole up|down|both | latency <ms> [up|down|both] |
  ///   bytewise on|off | reset | close device|server | stall on|off |
  ///   refuse on|off | inject up|down <hex bytes...>
  /// inject takes 1..1024 bytes, each token an even number of hex digits
  /// ("inject down ff ff", "inject down ffff"); it is refused when no live
  /// connection took the bytes.
  std::string apply_command(std::string_view line);
  /// Checks a command without applying it; returns "" or why it is bad.
  [[nodiscard]] static std::string check_command(std::string_view line);
  /// Schedules "<seconds>s <command>; <seconds>s <command>; ..." relative to
  /// now (seconds: decimal, e.g. 3 or 0.25). Nothing is scheduled unless the
  /// whole spec is valid; returns "" or why it is not.
  std::string run_schedule(std::string_view spec);
  /// Checks a schedule without running it; returns "" or why it is bad.
  [[nodiscard]] static std::string check_schedule(std::string_view spec);
  /// Cancels the scheduled commands not yet applied.
  void cancel_schedule();

  // --- Observers -------------------------------------------------------------
  [[nodiscard]] Mode mode() const;
  [[nodiscard]] Counters counters() const;

  /// Opaque; named here only so the implementation's helpers can refer to it.
  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// "up", "down", "both"; "device", "server".
[[nodiscard]] const char* to_string(FaultProxy::Direction direction);
[[nodiscard]] const char* to_string(FaultProxy::Side side);

}  // namespace uplink::tools
