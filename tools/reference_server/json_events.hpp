// SPDX-License-Identifier: Apache-2.0
// One JSON object per line for every server event, so that scripts and
// tests can follow a running server with a line reader.
//
// Common fields: "ts_ms" (wall clock, ms since the Unix epoch) and "event"
// (online, offline, message, duplicate, error, downlink, listening,
// shutdown, state, delivered). Then, when they apply: "device", "session" (16 hex digits, as
// a string: a u64 does not survive every JSON parser as a number), "seq",
// "reason", "bytes", and event-specific extras. Strings are escaped; bytes
// that are not valid UTF-8 become U+FFFD. A device's token is never printed
// (it is not even kept by the server). Each line is flushed at once.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "server_session.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::server {

/// Appends `text` as a JSON string literal, quotes included.
void append_json_string(std::string& out, ConstByteSpan text);
void append_json_string(std::string& out, std::string_view text);
/// A session id as 16 lower-case hex digits.
[[nodiscard]] std::string session_hex(std::uint64_t session_id);

class JsonEventPrinter final : public ServerEvents {
 public:
  /// `print_payloads` adds a "payload" string to message events.
  explicit JsonEventPrinter(std::FILE* out = stdout, bool print_payloads = false);

  void on_online(const OnlineEvent& event) override;
  void on_offline(const OfflineEvent& event) override;
  void on_message(const MessageEvent& event) override;
  void on_duplicate(const DuplicateEvent& event) override;
  void on_error(const ErrorEvent& event) override;
  void on_downlink(const DownlinkEvent& event) override;

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

  /// Lines written so far.
  [[nodiscard]] std::uint64_t lines() const { return lines_; }

 private:
  class Line;
  void emit(const std::string& line);

  std::FILE* out_;
  bool print_payloads_;
  std::uint64_t lines_ = 0;
};

}  // namespace uplink::server
