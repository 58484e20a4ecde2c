// SPDX-License-Identifier: Apache-2.0
// uplink::EventQueue: what the application must hear, kept until the shell
// can tell it without holding its lock.
//
// The link reports to a Listener while it changes its own state. The client
// hands it this queue instead of the application's listener: every call is
// recorded, and the client delivers the records to the application after
// the link's call has returned, outside its lock, always on the io thread,
// in the order they happened. So no application code runs inside a state
// change, a callback may call any Client function, and on_dropped() from a
// send() on another thread reaches the application on the io thread.
//
// Bounded, without heap:
//  - acknowledged ids go to their own ring of kStoreMessages ids: the link
//    acknowledges only messages of its store, and the client empties the
//    queue after every call the io thread makes, before the next one can
//    acknowledge more; the general ring holds one marker per run of them;
//  - dropped ids are recorded as runs (consecutive ids with one reason
//    coalesce: the drop-oldest policy drops the oldest untransmitted
//    messages, in order);
//  - log lines are copied into kLogSlots lines of kLogLineSize; when the
//    application is slower than the log, the excess is counted and a line
//    says how many were lost;
//  - a downlink message is recorded with the link's view of its payload:
//    the link pauses after each message (Link::message_pending) until the
//    client says it was delivered, so the view stays valid.
// Should the general ring ever fill (it cannot under the rules above), the
// excess is counted in overflowed() instead of overwriting older records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <variant>

#include "uplink/config_defaults.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/listener.hpp"

namespace uplink {

/// A Listener that records the link's events for the client to deliver
/// outside its lock, in order (see the file comment).
class EventQueue final : public Listener {
 public:
  /// Records of the general ring (state changes, connections, runs of
  /// acknowledged or dropped ids, messages, heartbeats, log lines).
  static constexpr std::size_t kSlots = 32;
  /// Log lines held at once, and the longest (longer lines are cut).
  static constexpr std::size_t kLogSlots = 4;
  /// Bytes of one log line, the terminating zero included.
  static constexpr std::size_t kLogLineSize = 192;

  /// A downlink message; `payload` is the link's view (see the file comment).
  struct Message {
    std::uint64_t seq = 0;  ///< The downlink sequence number.
    ConstByteSpan payload;  ///< Valid until the client calls Link::message_delivered().
  };
  /// `count` acknowledged ids, to be taken with take_acked() in order.
  struct Acked {
    std::uint32_t count = 0;  ///< Ids to take, >= 1.
  };
  /// Ids first .. first + count - 1 were dropped for `reason`.
  struct Dropped {
    std::uint64_t first = 0;  ///< The first id dropped.
    std::uint64_t count = 0;  ///< How many consecutive ids, >= 1.
    std::error_code reason;   ///< Why (Errc::queue_full for the drop-oldest policy).
  };
  /// A PONG answered after `rtt_ms`.
  struct Heartbeat {
    std::uint32_t rtt_ms = 0;  ///< Round trip of the PING, in milliseconds.
  };
  /// A log line; its text comes with pop().
  struct Log {
    LogLevel level = LogLevel::info;  ///< Severity.
    std::uint8_t slot = 0;            ///< Where the text waits (internal; pop() copies it out).
  };
  /// One record.
  using Event = std::variant<StateChange, DisconnectInfo, ConnectFailure, SessionReset, Message, Acked,
                             Dropped, Heartbeat, Log>;

  EventQueue() = default;
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // ---- Listener: recording ----
  void on_state(const StateChange& change) override { push(change); }
  void on_disconnected(const DisconnectInfo& info) override { push(info); }
  void on_connect_failed(const ConnectFailure& failure) override { push(failure); }
  void on_message(std::uint64_t seq, ConstByteSpan payload) override { push(Message{seq, payload}); }
  void on_acked(std::uint64_t id) override;
  void on_dropped(std::uint64_t id, std::error_code reason) override;
  void on_session_reset(const SessionReset& reset) override { push(reset); }
  void on_heartbeat(std::uint32_t rtt_ms) override { push(Heartbeat{rtt_ms}); }
  void on_log(LogLevel level, const char* text) override;

  // ---- The shell: delivering ----

  /// Takes the oldest record; false when there is none. A Log record's text
  /// is copied into `log_text` (kLogLineSize bytes), whose slot is free again.
  bool pop(Event& out, char* log_text);
  /// Takes up to `max` acknowledged ids, oldest first, into `out`; returns
  /// how many. Call with the count of each Acked record, in order.
  std::size_t take_acked(std::uint64_t* out, std::size_t max);
  /// True when no record waits (acknowledged ids are counted by their records).
  [[nodiscard]] bool empty() const { return size_ == 0; }
  /// Records that did not fit (0 unless the bounds above were broken).
  [[nodiscard]] std::uint64_t overflowed() const { return overflowed_; }

 private:
  void push(const Event& event);
  [[nodiscard]] Event* newest();

  Event slots_[kSlots];
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::uint64_t acked_[kStoreMessages] = {};
  std::size_t acked_head_ = 0;
  std::size_t acked_size_ = 0;
  char logs_[kLogSlots][kLogLineSize] = {};
  bool log_used_[kLogSlots] = {};
  std::uint32_t logs_lost_ = 0;
  std::uint64_t overflowed_ = 0;
};

}  // namespace uplink
