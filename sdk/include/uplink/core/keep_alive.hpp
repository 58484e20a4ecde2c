// SPDX-License-Identifier: Apache-2.0
// Keep-alive policy of one connection: when to PING and when the link is
// dead. Pure: time is an argument, nothing is read or written here.
//
// Three deadlines, kept apart as coreMQTT's handleKeepAlive does:
//  - write deadline: a write started at t must complete by t + write_timeout;
//  - read deadline: a complete frame must arrive within read_timeout of the
//    previous one (or of the connection start), else "server silent";
//  - heartbeat: PING after heartbeat_interval without writing, or without
//    receiving, with at most one PING outstanding.
// Plus the optional idle timeout on business traffic (DATA/ACK).
#pragma once

#include <cstdint>

#include "uplink/core/time.hpp"

namespace uplink {

/// The timings of one connection, as in effect after WELCOME (the server
/// may have clamped the heartbeat, and the read timeout scales with it).
struct KeepAliveTimings {
  std::uint32_t heartbeat_ms = 30000;      ///< PING after this long without writing or receiving.
  std::uint32_t read_timeout_ms = 60000;   ///< Silence after the last complete frame that means the link is dead.
  std::uint32_t write_timeout_ms = 10000;  ///< Longest a started write may take before the link counts as dead.
  std::uint32_t idle_timeout_ms = 0;  ///< 0 = off
};

/// What the connection must do now.
enum class KeepAliveVerdict : std::uint8_t {
  none,           ///< Nothing due.
  send_ping,      ///< Queue a PING (then call on_ping_sent).
  write_timeout,  ///< A write is overdue: the link is dead.
  server_silent,  ///< Nothing received for the read timeout: the link is dead.
  probe_failed,   ///< A network-change probe got no answer in time: the link is dead.
  idle_timeout,   ///< No business traffic for the idle timeout: close on purpose.
};

/// The keep-alive state of one connection: takes the connection's events
/// with their time and answers what is due (poll()) and when to ask again
/// (next_deadline()). The file comment lists its three deadlines.
class KeepAlive {
 public:
  /// Starts watching a connection that came up at `now`.
  void start(const KeepAliveTimings& timings, Millis now);

  /// A complete frame arrived. `business` is true for DATA and ACK.
  void on_frame_received(Millis now, bool business);
  /// A PONG arrived; returns the round-trip time of the outstanding PING,
  /// or -1 when none was outstanding (an unsolicited PONG still counts as life).
  std::int64_t on_pong(Millis now);
  /// A write of `business` traffic or control frames started / completed.
  void on_write_started(Millis now);
  /// The write started by on_write_started() completed: the write deadline is off.
  void on_write_completed(Millis now);
  /// DATA or ACK was queued for sending (counts against the idle timeout).
  void on_business_sent(Millis now);
  /// A PING was queued.
  void on_ping_sent(Millis now);
  /// Changes the heartbeat interval of the running connection (the
  /// adaptive heartbeat picks one per idle period); the other timings stay.
  void set_heartbeat(std::uint32_t heartbeat_ms) { timings_.heartbeat_ms = heartbeat_ms; }
  /// The network changed under the connection (an address or link event):
  /// unless a frame arrives by `now + probe_timeout_ms`, the link counts as
  /// dead (server_silent) without waiting for the full read timeout.
  /// Returns true when a PING should be queued for the probe.
  bool start_probe(Millis now, std::uint32_t probe_timeout_ms);
  /// True from start_probe() until a frame arrives or the connection restarts.
  [[nodiscard]] bool probing() const { return probe_deadline_ != kNever; }

  /// The most urgent verdict at `now`. `tx_idle` is true when nothing is
  /// being written or waiting to be written (a PING is only worth sending then).
  [[nodiscard]] KeepAliveVerdict poll(Millis now, bool tx_idle) const;
  /// The earliest time poll() can give another answer, or kNever.
  [[nodiscard]] Millis next_deadline(bool tx_idle) const;

  /// When the last complete frame arrived (the connection start before any).
  [[nodiscard]] Millis last_rx() const { return last_rx_; }
  /// When the connection last carried anything: the later of the last frame
  /// received and the last write completed (the connection start before any).
  [[nodiscard]] Millis last_activity() const { return last_rx_ > last_tx_ ? last_rx_ : last_tx_; }
  /// True while a PING waits for its PONG (at most one is outstanding).
  [[nodiscard]] bool ping_outstanding() const { return ping_outstanding_; }
  /// The timings given to start().
  [[nodiscard]] const KeepAliveTimings& timings() const { return timings_; }

 private:
  KeepAliveTimings timings_;
  Millis last_rx_ = 0;
  Millis last_tx_ = 0;
  Millis last_business_ = 0;
  Millis write_started_ = 0;
  Millis ping_sent_ = 0;
  Millis probe_deadline_ = kNever;
  bool writing_ = false;
  bool ping_outstanding_ = false;
};

}  // namespace uplink
