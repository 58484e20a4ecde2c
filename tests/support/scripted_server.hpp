// SPDX-License-Identifier: Apache-2.0
// A scripted uplink server for the client's loopback integration tests.
//
// ScriptedServer listens on 127.0.0.1 (ephemeral port) on an io_context the
// test gives it and speaks protocol v1 through the SDK codec. What it does on
// each connection is chosen by a Behavior: a well-behaved server (normal),
// or one of the failures a device must survive (silence, a stalled reader,
// no WELCOME, resets, truncated frames, garbage, CLOSE from the server).
//
// Threading: every method that changes state (set_*, send_*, stop/start
// listening, close_all, reset_all, forget_sessions, the destructor) must be
// called on the thread that runs the io_context, or while it is not running.
// The observers (accepted(), received(), ...) are safe from any thread.
//
// Lifetime: the io_context must outlive the server. Destroying the server
// closes the acceptor and every connection; handlers still queued in the
// io_context afterwards are harmless (each holds its connection alive and
// sees it finished).
#pragma once

// First, before any standard header: Asio's configuration depends on it.
#include "uplink/net/asio.hpp"

#if defined(ASIO_HAS_STD_ALIGNED_ALLOC)
// Asio picks std::aligned_alloc for its handler memory only when a standard
// header was included before it; the compiled Asio (sdk/src/net/asio_impl.cpp)
// includes it first and uses operator new. Mixing both in one program frees
// memory with the wrong function (CppUTest reports "Deallocating
// non-allocated memory" in optimised builds).
#error "Include \"uplink/net/asio.hpp\" before any other header in this file"
#endif

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uplink/codec/frame.hpp"

namespace uplink::test {

class ScriptedServer {
 public:
  /// What the server does on a connection.
  enum class Behavior : std::uint8_t {
    normal,                      ///< HELLO->WELCOME, PING->PONG, DATA->ACK (strict seq), CLOSE->close.
    silent_after_welcome,        ///< WELCOME, then never writes again; keeps reading and discarding.
    stop_reading_after_welcome,  ///< WELCOME, then never reads again (SO_RCVBUF ~4 KiB) but PINGs
                                 ///< every ping interval: the device's writes eventually stall.
    never_welcome,               ///< Reads and discards; never answers (handshake timeout).
    accept_and_hold,             ///< Accepts; never reads nor writes.
    close_after_welcome,         ///< WELCOME, then graceful close (FIN).
    reset_after_welcome,         ///< WELCOME, then abortive close (SO_LINGER 0: RST).
    close_mid_frame,             ///< WELCOME, the first 3 bytes of a DATA frame, then graceful close.
    garbage_after_welcome,       ///< WELCOME, then ff ff ff ff; then silent (keeps reading).
    close_frame_after_welcome,   ///< WELCOME, CLOSE(going_away, retry_after, "restart"), graceful close.
  };

  /// One uplink DATA the server accepted (and acknowledged).
  struct Received {
    std::uint64_t seq = 0;
    std::string payload;
  };

  /// Copy of the fields of a HELLO.
  struct HelloInfo {
    std::string device_id;
    std::uint32_t heartbeat_ms = 0;
    std::uint64_t session_id = 0;
    std::uint64_t last_downlink_seq = 0;
    std::string token;
  };

  /// Opens the listener on 127.0.0.1:0 right away (see listen_error()).
  explicit ScriptedServer(asio::io_context& io);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  /// The port chosen at construction; kept across stop/start_listening.
  /// 0 if the first listen failed.
  [[nodiscard]] std::uint16_t port() const;
  /// Why the constructor could not listen; empty on success.
  [[nodiscard]] std::error_code listen_error() const;
  [[nodiscard]] bool listening() const;

  // --- Control (io_context thread, or before it runs) -----------------------

  /// Behaviour of connections accepted from now on (default: normal).
  void set_behavior(Behavior behavior);
  /// Like set_behavior, and also switches live connections where that means
  /// something: after WELCOME the post-WELCOME action runs now (close, reset,
  /// garbage, CLOSE frame, go silent, stop reading and start pinging, back to
  /// normal); before WELCOME the new behaviour decides what happens on HELLO.
  void set_behavior_now(Behavior behavior);
  [[nodiscard]] Behavior behavior() const;
  /// Clamp the accepted heartbeat to [min_ms, max_ms] (default: accept as requested).
  void set_heartbeat_clamp(std::uint32_t min_ms, std::uint32_t max_ms);
  /// PING period of stop_reading_after_welcome connections (default 50 ms, minimum 1).
  void set_ping_interval(std::uint32_t ms);
  /// retry_after_ms of the CLOSE sent by close_frame_after_welcome (default 0).
  void set_retry_after(std::uint32_t ms);

  /// Sends a downlink DATA to the live connection of every online session
  /// (normal or stop_reading behaviour), with that session's next downlink
  /// seq. Unacknowledged downlink is resent when the session is resumed.
  /// Returns the number of sessions it was sent to (0 when the payload is
  /// above kMaxDataPayload).
  std::size_t send_data(std::string_view payload);
  /// Sends PING on every live connection allowed to write. Returns how many.
  std::size_t send_ping();

  /// Closes the acceptor: later connects are refused. Live connections stay.
  void stop_listening();
  /// Listens again on the same port (SO_REUSEADDR). No-op if listening.
  std::error_code start_listening();
  /// Graceful close of every live connection (flush, FIN, drain, close).
  void close_all();
  /// Abortive close (RST) of every live connection.
  void reset_all();
  /// Forgets every session, as a server restart without persistence would:
  /// the next HELLO that names an old session gets a new one.
  void forget_sessions();

  // --- Observation (any thread) ---------------------------------------------

  [[nodiscard]] std::size_t accepted() const;          ///< Connections accepted.
  [[nodiscard]] std::size_t hellos() const;            ///< HELLO frames received.
  [[nodiscard]] std::size_t welcomes() const;          ///< WELCOME frames sent.
  [[nodiscard]] std::size_t live_connections() const;  ///< Accepted and not yet closed.
  [[nodiscard]] std::size_t pings_received() const;    ///< PING frames received (any behaviour).
  [[nodiscard]] std::size_t pongs_received() const;    ///< PONG frames received.
  [[nodiscard]] std::vector<Received> received() const;  ///< Uplink DATA accepted, in order.
  [[nodiscard]] std::uint64_t acks_received() const;   ///< Seq of the last ACK from the device; 0 = none.
  [[nodiscard]] std::size_t ack_count() const;         ///< ACK frames received.
  [[nodiscard]] HelloInfo last_hello() const;          ///< Fields of the last HELLO (zeros if none).
  [[nodiscard]] std::uint64_t last_session_id() const; ///< Session id of the last WELCOME sent; 0 = none.
  [[nodiscard]] std::size_t closes_received() const;   ///< CLOSE frames received from devices.
  [[nodiscard]] CloseReason last_close_reason() const; ///< Reason of the last CLOSE received.

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace uplink::test
