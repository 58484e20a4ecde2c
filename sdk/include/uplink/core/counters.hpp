// SPDX-License-Identifier: Apache-2.0
// The running totals a client keeps (Client::counters()): what happened to
// its connections, frames, heartbeats and messages since construction.
#pragma once

#include <cstddef>
#include <cstdint>

#include "uplink/error.hpp"

namespace uplink {

/// Number of slots in Counters::disconnects_by_reason: one per Errc value;
/// slot 0 counts reasons from other categories (socket errors). Errc::probe_failed
/// is the last value: a value appended to Errc must move this bound.
inline constexpr std::size_t kReasonSlots = static_cast<std::size_t>(Errc::probe_failed) + 1;

/// Running totals of a client since construction.
struct Counters {
  std::uint64_t connect_attempts = 0;  ///< Connection attempts started, one per endpoint tried.
  /// Attempts that never came online (resolve, connect, TLS or HELLO/WELCOME
  /// failed or timed out; Listener::on_connect_failed).
  std::uint64_t connect_failures = 0;
  std::uint64_t connects = 0;  ///< Connections that came online.
  std::uint64_t disconnects = 0;  ///< Online connections that ended, stop() included (Listener::on_disconnected).
  /// disconnects by reason, indexed by the Errc value of the reason; slot 0
  /// counts reasons of other categories (socket errors). See kReasonSlots.
  std::uint64_t disconnects_by_reason[kReasonSlots] = {};
  std::uint64_t frames_sent = 0;      ///< Frames of every type queued for the transport.
  std::uint64_t frames_received = 0;  ///< Complete, well-formed frames decoded from the server.
  std::uint64_t bytes_sent = 0;       ///< Protocol bytes the transport accepted (before TLS, if any).
  std::uint64_t bytes_received = 0;   ///< Protocol bytes read from the transport (after TLS, if any).
  std::uint64_t heartbeats_sent = 0;   ///< PINGs sent.
  std::uint64_t heartbeats_answered = 0;  ///< PONGs sent in answer to the server's PINGs.
  std::uint64_t messages_sent = 0;     ///< Messages accepted by send().
  std::uint64_t messages_acked = 0;    ///< Messages the server acknowledged.
  std::uint64_t messages_dropped = 0;  ///< Messages dropped by the drop-oldest policy.
  std::uint64_t messages_refused = 0;  ///< send() calls refused with queue_full.
  std::uint64_t data_frames_sent = 0;  ///< DATA frames written, resends included.
  std::uint64_t downlink_duplicates = 0;  ///< Downlink DATA already delivered, dropped.
  std::uint64_t messages_received = 0;  ///< Downlink DATA delivered.
  std::uint64_t session_resets = 0;     ///< Sessions abandoned for a new one (Listener::on_session_reset).
  /// Messages the spool lost to damage found when it was attached
  /// (Listener::on_spool_damaged, SpoolDamage::messages_lost).
  std::uint64_t spool_messages_lost = 0;
  std::uint32_t last_rtt_ms = 0;       ///< Round trip of the last answered PING.
};

}  // namespace uplink
