// SPDX-License-Identifier: Apache-2.0
// One JSON object per line for every server event, so that scripts and
// tests can follow a running server with a line reader.
//
// Common fields: "ts_ms" (wall clock, ms since the Unix epoch) and "event"
// (online, offline, message, duplicate, error, downlink, listening,
// shutdown, state, stats, delivered). Then, when they apply: "device",
// "session" (decimal digits in a string, as uplink_device prints it: a u64
// does not survive every JSON parser as a number), "seq", "reason",
// "bytes", and event-specific extras. The lines are built by the tools'
// one JSON writer (tools/service/json_line.hpp): strings are escaped; bytes
// that are not valid UTF-8 become U+FFFD. A device's token is never printed
// (it is not even kept by the server).
//
// Output is buffered (kBufferBytes, written when full), so that a server
// under a flood of messages spends its time on the messages, not on one
// write per line. A line reaches the output:
//   - at once for online, offline, error, listening, shutdown, state and
//     stats (scripts wait for these);
//   - for message lines, before the ACK that covers them is queued
//     (on_batch_delivered(): one write per read batch, not per line), so a
//     server killed by SIGKILL has every message it acknowledged on stdout;
//   - otherwise (duplicate, downlink, delivered) within kFlushIntervalMs
//     (200 ms), when the owner calls flush() from a timer armed by the
//     on_buffered hook, as uplink_server does (it also flushes after each
//     stdin command, so a "send" shows its downlink line at once); and
//     when the printer is destroyed (uplink_server: at exit, SIGINT,
//     SIGTERM). Without such an owner, these lines wait until the buffer
//     is full, flush() is called or the printer is destroyed.
// A SIGKILL loses what is buffered: never the line of a message whose ACK
// was queued, at most the last 200 ms of duplicate and downlink lines.
//
// EventLevel filters the lines (uplink_server --events): "all" (default),
// "connections" (no message, duplicate or downlink lines) or "none" (only
// error, listening, shutdown and stats). "delivered" lines (--dump-delivered)
// are printed at every level.
//
// The stats line (uplink_server --stats-interval-ms, default 10000):
//   {"ts_ms":T,"event":"stats","connections":C,"online":O,"received":N,
//    "duplicates":D,"bytes":B,"msgs_per_s":R,"interval_ms":I}
// C: TCP connections open (<= --max-connections plus those being refused);
// O: devices online (<= C); N, D: messages delivered and duplicates
// refused since the start; B: payload bytes of those N messages; R: messages
// delivered per second over the last I ms (the time since the previous stats
// line or the start; R is 0 when I is 0). Every figure is an unsigned
// 64-bit integer; the counters only grow (they wrap after 2^64, never in
// practice).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server_session.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::server {

/// Which event lines a JsonEventPrinter writes.
enum class EventLevel : std::uint8_t {
  all,          ///< Every event.
  connections,  ///< Every event but the per-message ones: message, duplicate, downlink.
  none,         ///< Only error, listening, shutdown and stats.
};

/// "all", "connections" or "none" into `level`; false (and `level`
/// unchanged) for anything else.
[[nodiscard]] bool parse_event_level(std::string_view text, EventLevel& level);

/// The figures of one stats line (see the header comment for their meaning).
struct StatsFigures {
  std::uint64_t connections = 0;  ///< TCP connections open.
  std::uint64_t online = 0;       ///< Devices online.
  std::uint64_t received = 0;     ///< Messages delivered since the start.
  std::uint64_t duplicates = 0;   ///< Duplicate DATA refused since the start.
  std::uint64_t bytes = 0;        ///< Payload bytes of the messages delivered.
  std::uint64_t msgs_per_s = 0;   ///< Messages delivered per second over interval_ms.
  std::uint64_t interval_ms = 0;  ///< Time since the previous stats line (or the start).
};

/// Turns running counters into StatsFigures: remembers the previous
/// sample, so that msgs_per_s covers the time since it. Time is passed in.
class StatsMeter {
 public:
  /// Starts the first interval at `now_ms` (any monotonic clock, in ms).
  explicit StatsMeter(std::uint64_t now_ms = 0) : last_ms_(now_ms) {}
  /// The figures at `now_ms` for counters `received` etc.; starts the next
  /// interval. A clock that went back counts as an interval of 0 ms.
  [[nodiscard]] StatsFigures sample(std::uint64_t now_ms, std::uint64_t connections, std::uint64_t online,
                                    std::uint64_t received, std::uint64_t duplicates, std::uint64_t bytes);

 private:
  std::uint64_t last_ms_;
  std::uint64_t last_received_ = 0;
};

class JsonEventPrinter final : public ServerEvents {
 public:
  /// Lines are written when this many bytes are buffered (a longer line
  /// is written on its own).
  static constexpr std::size_t kBufferBytes = 64 * 1024;
  /// The longest a line waits in the buffer when its owner flushes on the
  /// on_buffered hook as documented (uplink_server does).
  static constexpr std::uint32_t kFlushIntervalMs = 200;

  /// `print_payloads` adds a "payload" string to message events; `level`
  /// filters the lines.
  explicit JsonEventPrinter(std::FILE* out = stdout, bool print_payloads = false,
                            EventLevel level = EventLevel::all);
  /// Writes what is buffered.
  ~JsonEventPrinter();
  JsonEventPrinter(const JsonEventPrinter&) = delete;
  JsonEventPrinter& operator=(const JsonEventPrinter&) = delete;

  /// Called when a line is buffered and no flush has been asked for since
  /// the last call: the owner calls flush() within kFlushIntervalMs (e.g.
  /// from a timer) and then on_buffered can fire again. Called from within
  /// the event being printed: it must not print.
  void set_on_buffered(std::function<void()> hook) { on_buffered_ = std::move(hook); }
  /// Writes the buffered lines to the output: one write(2) of the whole
  /// buffer where the stream has a descriptor (after what stdio holds of
  /// it), else fwrite() and fflush().
  void flush();
  /// Bytes buffered, not yet written.
  [[nodiscard]] std::size_t buffered_bytes() const { return used_; }
  [[nodiscard]] EventLevel level() const { return level_; }

  void on_online(const OnlineEvent& event) override;
  void on_offline(const OfflineEvent& event) override;
  void on_message(const MessageEvent& event) override;
  void on_duplicate(const DuplicateEvent& event) override;
  void on_error(const ErrorEvent& event) override;
  void on_downlink(const DownlinkEvent& event) override;
  /// Writes the buffer (message lines go out before their ACK).
  void on_batch_delivered() override;

  /// {"event":"listening","address":...,"port":P}, with "tls":true
  /// appended when the server runs in TLS mode (absent in plain mode).
  void listening(std::string_view address, std::uint16_t port, bool tls = false);
  /// {"event":"shutdown","received":N,"duplicates":M}
  void shutdown(std::uint64_t received, std::uint64_t duplicates);
  /// {"event":"error","reason":...,"detail":...} for problems outside a
  /// connection (bad stdin command, listen failure).
  void error(std::string_view reason, std::string_view detail);
  /// {"event":"state","dir":...,"segment":S,"sessions":N,"records":R,
  /// "torn_bytes":T}: durable sessions restored at start (--state-dir).
  void state(std::string_view dir, std::uint64_t segment, std::uint64_t sessions, std::uint64_t records,
             std::uint64_t torn_bytes);
  /// {"event":"delivered","device":...,"session":...,"seq":N,"segment":S,
  /// "bytes":B,"payload":...}: one entry of the durable record (--dump-delivered).
  void delivered(std::string_view device_id, std::uint64_t session_id, std::uint64_t seq, std::uint64_t segment,
                 ConstByteSpan payload);
  /// {"event":"stats",...} (see the header comment), at every level.
  void stats(const StatsFigures& figures);

  /// Lines printed so far (buffered ones included; filtered ones not).
  [[nodiscard]] std::uint64_t lines() const { return lines_; }

 private:
  class Line;
  enum class When : std::uint8_t { buffered, now };
  /// Whether per-message lines / connection lines are printed at this level.
  [[nodiscard]] bool per_message() const { return level_ == EventLevel::all; }
  [[nodiscard]] bool per_connection() const { return level_ != EventLevel::none; }
  /// Starts a line in line_ (reused: no allocation once it has grown).
  Line begin(const char* event);
  void emit(When when);
  /// Writes `size` bytes to the output at once (after what stdio holds).
  void write_out(const char* data, std::size_t size);

  std::FILE* out_;
  bool print_payloads_;
  EventLevel level_;
  std::unique_ptr<char[]> buffer_;
  std::size_t used_ = 0;
  bool flush_asked_ = false;  // on_buffered fired since the last flush()
  std::string line_;
  std::function<void()> on_buffered_;
  std::uint64_t lines_ = 0;
};

}  // namespace uplink::server
