// SPDX-License-Identifier: Apache-2.0
// The server side of one device connection, as a pure state machine.
//
// Like the client's Link, it does no I/O and reads no clock: the shell
// feeds it the bytes it read and the current time (milliseconds of any
// monotonic clock), writes out what take_output() returns, calls on_timer()
// at next_deadline(), and closes the socket once closed() is true and the
// output is flushed. Everything the protocol requires of a server
// (docs/PROTOCOL.md) is decided here, so it is tested in virtual time and
// can be embedded in any server, with or without Asio.
//
//                 HELLO (v1, valid)                CLOSE sent or received,
//   awaiting_hello -----------------> online ------------------------------> closed
//         |                                         silent, connection lost,
//         +------------------------------------------> replaced, error
//           error, hello timeout, close(), connection lost
//
// Session state that must survive a reconnect (next expected uplink seq,
// unacknowledged downlink) lives in the SessionRegistry, not here.
//
// Durable state: with a SessionStore on the registry, the changes of a read
// batch are committed before anything that depends on them: the message
// events of the batch are reported after the commit, and its output (the
// ACK, a WELCOME) is only then complete; queue_downlink() commits before it
// returns. If a commit fails, nothing of the batch is reported or sent: the
// connection ends without a word (offline server_stopped) after an error
// event "state_write_failed", and the server must stop (its memory is now
// ahead of its durable state; a restarted server continues from the latter).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uplink/codec/frame.hpp"
#include "uplink/codec/frame_decoder.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/core/keep_alive.hpp"  // Millis, kNever

namespace uplink::server {

class SessionRegistry;
struct SessionRecord;

/// Per-connection protocol limits of a server.
struct SessionLimits {
  /// Requested heartbeat intervals are clamped to [heartbeat_min_ms, heartbeat_max_ms].
  std::uint32_t heartbeat_min_ms = 1000;
  std::uint32_t heartbeat_max_ms = 300000;
  /// Read deadline = read_factor x accepted heartbeat (PROTOCOL.md 4.3: at least 2.5).
  double read_factor = 2.5;
  /// A connection that has not sent HELLO after this long is closed
  /// (CLOSE silent): short, so that connections that never speak cannot
  /// hold the HELLO budget (ServerOptions::max_pending_hello) for long. A
  /// device sends HELLO right after its TCP (and TLS) handshake.
  std::uint32_t hello_timeout_ms = 5000;
};

/// Why `limits` cannot be used (names the field), or nullptr when they can.
[[nodiscard]] const char* check_limits(const SessionLimits& limits);

/// Why a device went offline.
enum class OfflineCause : std::uint8_t {
  device_closed,       ///< The device sent CLOSE (see OfflineEvent::close_reason).
  silent,              ///< Nothing received for the read deadline; CLOSE silent sent.
  connection_lost,     ///< The TCP connection ended or failed without CLOSE.
  protocol_violation,  ///< The device broke the protocol; CLOSE with close_reason sent.
  replaced,            ///< A newer connection of the same device took over; CLOSE session_replaced sent.
  server_closed,       ///< The server closed it on purpose (close_device, close_all).
  server_stopped,      ///< The server stopped without a farewell.
};

/// Stable snake_case name of a cause ("device_silent", ...).
[[nodiscard]] const char* offline_cause_name(OfflineCause cause) noexcept;

// ---- Events. Views are valid only during the callback. -------------------

struct OnlineEvent {
  std::string_view device_id;
  std::uint64_t session_id = 0;
  bool resumed = false;                    ///< The HELLO named a session this server knew.
  std::uint32_t requested_heartbeat_ms = 0;
  std::uint32_t heartbeat_ms = 0;          ///< Accepted (clamped) interval, sent in WELCOME.
  std::uint64_t next_uplink_seq = 0;       ///< Sent in WELCOME.
  std::size_t downlink_resent = 0;         ///< Unacknowledged downlink DATA resent after WELCOME.
  std::uint64_t connection_id = 0;
};

struct MessageEvent {
  std::string_view device_id;
  std::uint64_t session_id = 0;
  std::uint64_t seq = 0;
  ConstByteSpan payload;
};

/// A DATA the session already delivered arrived again. It is not delivered;
/// the connection is closed with sequence_error (PROTOCOL.md 4.2).
struct DuplicateEvent {
  std::string_view device_id;
  std::uint64_t session_id = 0;
  std::uint64_t seq = 0;
  std::uint64_t expected_seq = 0;
};

struct OfflineEvent {
  std::string_view device_id;
  std::uint64_t session_id = 0;
  OfflineCause cause = OfflineCause::connection_lost;
  /// The CLOSE reason received (device_closed) or sent (the other causes
  /// that send one); normal otherwise.
  CloseReason close_reason = CloseReason::normal;
  std::uint32_t retry_after_ms = 0;  ///< Of that CLOSE.
  std::uint64_t connection_id = 0;
};

/// The JSON "reason" of an offline event: the close reason name for a
/// protocol violation (protocol_error, sequence_error, ...), else the cause name.
[[nodiscard]] const char* offline_reason(const OfflineEvent& event) noexcept;

/// Something went wrong on a connection. Before HELLO the device is empty.
struct ErrorEvent {
  std::string_view device_id;
  std::uint64_t session_id = 0;
  std::error_code error;
  /// Stable snake_case name for logs: errc_name() of uplink errors, else a
  /// name chosen by the reporter ("overloaded", "socket_error", ...).
  const char* reason = "";
  std::string_view detail;  ///< Short text for humans; also the CLOSE text when one was sent.
  std::uint64_t connection_id = 0;
};

/// Emitted by Server::send_downlink (not by ServerSession).
struct DownlinkEvent {
  std::string_view device_id;
  std::uint64_t session_id = 0;
  std::uint64_t seq = 0;
  std::size_t bytes = 0;
  bool online = false;  ///< Written now; otherwise held until the device resumes.
};

/// Receives what happens on connections. Every callback has an empty
/// default so users override only what they need. Callbacks must not call
/// back into the ServerSession that reports them.
class ServerEvents {
 public:
  virtual void on_online(const OnlineEvent&) {}
  virtual void on_message(const MessageEvent&) {}
  virtual void on_duplicate(const DuplicateEvent&) {}
  virtual void on_offline(const OfflineEvent&) {}
  virtual void on_error(const ErrorEvent&) {}
  virtual void on_downlink(const DownlinkEvent&) {}
  /// After the on_message events of one batch (the DATA of one read),
  /// before the ACK that covers them is queued. A sink that buffers its
  /// output writes it out here, so that what a killed server acknowledged
  /// is in that output. Not called for a batch without messages.
  virtual void on_batch_delivered() {}

 protected:
  ServerEvents() = default;
  ServerEvents(const ServerEvents&) = default;
  ServerEvents& operator=(const ServerEvents&) = default;
  ~ServerEvents() = default;
};

class ServerSession {
 public:
  enum class State : std::uint8_t { awaiting_hello, online, closed };

  /// A connection that came up at `now`. `connection_id` is only passed
  /// through to events, for the shell to find its connection again.
  ServerSession(SessionRegistry& registry, ServerEvents& events, const SessionLimits& limits, Millis now,
                std::uint64_t connection_id = 0);
  /// Detaches from the registry without events or output.
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // ---- Inputs -----------------------------------------------------------

  /// Bytes read from the socket, in any split. At most one ACK is queued per
  /// call (cumulative, after the batch). Ignored once closed.
  void on_bytes(Millis now, ConstByteSpan bytes);
  /// Checks the read (or HELLO) deadline; early calls do nothing.
  void on_timer(Millis now);
  /// The socket reached EOF or failed: offline connection_lost (if online).
  void on_connection_lost(std::error_code why);
  /// The server stops without a farewell: offline server_stopped (if online).
  void abort();

  // ---- Server requests --------------------------------------------------

  /// Queues `payload` as the next downlink DATA of this session (written at
  /// once when online; committed first when the registry has a store).
  /// Errors: offline (not online), queue_full (too many unacknowledged
  /// downlink messages), field_too_long (over kMaxDataPayload), or the
  /// store's commit error (then the server must stop, see above).
  [[nodiscard]] std::error_code queue_downlink(ConstByteSpan payload, std::uint64_t* seq = nullptr);
  /// Sends CLOSE(reason, retry_after_ms, text) and closes: offline
  /// server_closed if online. Does nothing once closed.
  void close(CloseReason reason, std::uint32_t retry_after_ms, std::string_view text);

  // ---- Outputs ----------------------------------------------------------

  /// Encoded frames to write, oldest first; the buffer is emptied.
  [[nodiscard]] std::vector<std::uint8_t> take_output();
  [[nodiscard]] bool has_output() const { return !out_.empty(); }
  /// When on_timer() is due, or kNever (closed).
  [[nodiscard]] Millis next_deadline() const;
  /// True once the connection must end: flush take_output(), then close.
  [[nodiscard]] bool closed() const { return state_ == State::closed; }

  // ---- Observation ------------------------------------------------------

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] const std::string& device_id() const { return device_id_; }
  [[nodiscard]] std::uint64_t session_id() const { return session_id_; }
  [[nodiscard]] std::uint32_t heartbeat_ms() const { return heartbeat_ms_; }
  [[nodiscard]] Millis read_timeout_ms() const { return read_timeout_ms_; }
  [[nodiscard]] std::uint64_t connection_id() const { return connection_id_; }

 private:
  friend class SessionRegistry;

  void handle_frame(Millis now, const Frame& frame);
  void handle_hello(Millis now, const Hello& hello);
  void handle_data(const Data& data);
  void handle_ack(const Ack& ack);
  void handle_close(const Close& close);
  /// Called by the registry when a newer connection takes this session:
  /// CLOSE session_replaced with `retry_after_ms`; with `contests` (the
  /// replacements of this device in a row, see SessionRegistry::attach) an
  /// error event device_id_contested says so in the server's log.
  void on_replaced(std::uint32_t retry_after_ms = 0, std::uint32_t contests = 0);

  /// Sends CLOSE, reports the error (and offline if online), closes.
  // CLOSE `reason` with `text`, and an error event whose detail is `detail`
  // (`text` when empty). The CLOSE text never carries the session's state
  // (sequence positions): that goes to the server's own log only.
  void fail(std::error_code error, CloseReason reason, std::string_view text, std::string_view detail = {});
  void finish(OfflineCause cause, CloseReason reason, std::uint32_t retry_after_ms);
  void flush_ack();
  /// Commits the registry's changes, then reports the batch's messages.
  /// False (and the connection ended) when the commit failed.
  bool settle();
  void storage_failed(std::error_code error);
  void send_close(CloseReason reason, std::uint32_t retry_after_ms, std::string_view text);
  void send_data(std::uint64_t seq, ConstByteSpan payload);
  void detach();

  template <typename FrameT>
  void append(const FrameT& frame);
  void append_pong();

  SessionRegistry& registry_;
  ServerEvents& events_;
  SessionLimits limits_;
  std::uint64_t connection_id_;
  State state_ = State::awaiting_hello;
  FrameDecoder<> decoder_;

  SessionRecord* record_ = nullptr;  // set while attached (online)
  std::string device_id_;
  std::uint64_t session_id_ = 0;
  std::uint32_t heartbeat_ms_ = 0;
  Millis read_timeout_ms_ = 0;
  Millis hello_deadline_ = kNever;
  Millis last_rx_ = 0;
  bool ack_pending_ = false;
  bool storage_failed_ = false;

  /// Messages of the current batch, reported once committed (payloads copied:
  /// the decoder reuses its buffer).
  struct Delivered {
    std::uint64_t seq;
    std::vector<std::uint8_t> payload;
  };
  std::vector<Delivered> delivered_;
  std::vector<std::uint8_t> out_;
};

}  // namespace uplink::server
