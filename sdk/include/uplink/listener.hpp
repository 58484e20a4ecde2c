// SPDX-License-Identifier: Apache-2.0
// What a client tells the application: state changes, disconnects with their
// reason and detection time, messages, heartbeats, and log lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/codec/frame.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/core/spool_damage.hpp"

namespace uplink {

/// Where a client is in its life.
enum class ClientState : std::uint8_t {
  idle,         ///< Constructed, not started.
  connecting,   ///< Resolving and connecting to an endpoint (and TLS handshake).
  handshaking,  ///< Transport up, HELLO sent, waiting for WELCOME.
  online,       ///< WELCOME received: messages and heartbeats flow.
  backing_off,  ///< Waiting before the next round of connection attempts.
  stopped,      ///< stop() called, or reconnect attempts exhausted.
};

/// Stable lower-case name of a state ("online", ...).
[[nodiscard]] const char* client_state_name(ClientState state) noexcept;

/// The session came online: what StateChange::online carries.
struct OnlineInfo {
  std::size_t endpoint_index = 0;  ///< Index into Options::endpoints of the endpoint now connected.
  std::uint64_t session_id = 0;    ///< The session the server assigned or resumed in WELCOME.
  bool resumed = false;             ///< The server kept the session of the HELLO (MQTT: CONNACK session present).
  std::uint32_t heartbeat_ms = 0;   ///< As accepted (maybe clamped) by the server.
  std::uint32_t read_timeout_ms = 0;  ///< Effective silence bound for this connection.
  /// Sequence number the next new message will carry on this session
  /// (stored messages the server lacks are resent below it first).
  std::uint64_t next_uplink_seq = 0;
};

/// A state change. `endpoint_index` is meaningful for connecting,
/// handshaking and online; `online` for online; `backoff_delay_ms` and
/// `attempt` for backing_off; `reason` for stopped (Errc::stopped or
/// Errc::retries_exhausted).
struct StateChange {
  ClientState state = ClientState::idle;  ///< The state just entered.
  std::size_t endpoint_index = 0;  ///< Index into Options::endpoints of the endpoint being tried.
  /// Time until the next round of attempts: the jittered backoff delay, plus
  /// the server's retry-after pause (capped by Options::max_retry_after_ms) if it asked for one.
  std::uint32_t backoff_delay_ms = 0;
  /// Backoff delays handed out so far, this one included (1 for the first
  /// backoff); back to 0 once a connection stayed up for Options::stable_after_ms.
  std::uint32_t attempt = 0;
  std::error_code reason;  ///< Why the client stopped; empty for the other states.
  /// The connection that came online (session, heartbeat, silence bound);
  /// all zero for the other states.
  OnlineInfo online;
};

/// An online connection ended. Delivered exactly once per online connection.
struct DisconnectInfo {
  std::error_code reason;            ///< Errc::server_silent, write_timeout, closed_by_server, ...
  bool closed_by_server = false;     ///< The server sent CLOSE; the next two fields are its content.
  CloseReason server_reason = CloseReason::normal;  ///< The reason code of the server's CLOSE.
  /// The pause the server asked for before reconnecting (0: none); the
  /// client honours it up to Options::max_retry_after_ms.
  std::uint32_t retry_after_ms = 0;
  std::uint64_t since_last_rx_ms = 0;  ///< Time from the last frame received to detection.
  std::uint64_t online_ms = 0;         ///< How long the connection was online.
};

/// One connection attempt failed before coming online.
struct ConnectFailure {
  std::size_t endpoint_index = 0;  ///< Index into Options::endpoints of the endpoint that failed.
  std::error_code reason;  ///< connect_timeout, handshake_timeout, closed_by_server, a socket error, ...
  /// With closed_by_server: the CLOSE reason the server gave (e.g.
  /// unauthorized: the device id or token was refused); normal otherwise.
  CloseReason server_reason = CloseReason::normal;
  /// With closed_by_server: that CLOSE's retry_after_ms.
  std::uint32_t retry_after_ms = 0;
  /// What the system said where `reason` sums it up: for resolve_failed, the
  /// resolver's own error ("Host not found (authoritative)", "Temporary
  /// failure in name resolution", ...); empty otherwise. The host is
  /// Options::endpoints[endpoint_index].host.
  std::error_code cause;
};

/// Why a device gave up its session and asked the server for a new one.
enum class SessionResetCause : std::uint8_t {
  /// The server refused to resume the session twice in a row (a CLOSE
  /// sequence_error during the handshake, or a WELCOME whose sequence
  /// numbers contradict what the device sent or holds). Resuming again would
  /// fail forever; a new session lets the stored messages through.
  resume_refused,
  /// A sequence number of the session neared 2^62: the session is replaced
  /// on purpose before any number could wrap.
  sequence_limit,
  /// The spool lost messages to damage (Listener::on_spool_damaged): the
  /// ones recovered after the damage cannot keep their sequence numbers, so
  /// they go out again in a new session.
  spool_damaged,
};

/// What Listener::on_session_reset() reports.
struct SessionReset {
  std::uint64_t abandoned_session_id = 0;  ///< The session given up; the server may still hold it.
  SessionResetCause cause = SessionResetCause::resume_refused;  ///< Why it was given up.
};

/// Severity of a log line.
enum class LogLevel : std::uint8_t { error, warning, info, debug };

/// Receives a client's events on the thread that runs its io_context, after
/// the client's own work returned (never inside it), in the order they
/// happened. Every method has an empty default. Callbacks may call any
/// Client function; a stop() from a callback takes effect at once.
class Listener {
 public:
  /// The client entered another state (every transition, online and stopped
  /// included). Coming online is this call with `change.online` filled:
  /// WELCOME accepted, messages flow from now on.
  virtual void on_state(const StateChange& /*change*/) {}
  /// An online connection ended, with the reason and how long detection took.
  virtual void on_disconnected(const DisconnectInfo& /*info*/) {}
  /// An attempt on one endpoint failed before coming online; the client
  /// tries the next endpoint, or backs off after the last.
  virtual void on_connect_failed(const ConnectFailure& /*failure*/) {}
  /// A downlink DATA message, delivered in order, each seq once per run.
  /// With a spool, a message being handled when the process crashed comes
  /// again after the restart with the same seq (its delivery is recorded
  /// when this returns): key on `seq` where acting twice matters. The
  /// payload view is valid only during the call.
  virtual void on_message(std::uint64_t /*seq*/, ConstByteSpan /*payload*/) {}
  /// The server acknowledged the message `id` (the number send() returned).
  /// Called once per message, in the order they were sent.
  virtual void on_acked(std::uint64_t /*id*/) {}
  /// The message `id` was dropped without reaching the server: `reason` is
  /// Errc::queue_full when the drop-oldest policy made room for a newer one.
  virtual void on_dropped(std::uint64_t /*id*/, std::error_code /*reason*/) {}
  /// The device abandoned its session: the next connection opens a new one.
  /// The messages still stored are numbered afresh there and sent again, so
  /// a message the server had received in the old session but not yet
  /// acknowledged can arrive twice (docs/DELIVERY.md); none is lost.
  /// Downlink of the old session that was not delivered is the server's to
  /// resend in the new one, or not.
  virtual void on_session_reset(const SessionReset& /*reset*/) {}
  /// Client::attach_spool() found damaged stretches in the spool and
  /// recovered the messages after them; `damage.messages_lost` were lost
  /// (also counted in Counters::spool_messages_lost, and logged). Called
  /// only when messages were lost; a torn last record (a crash in the
  /// middle of an append) is not damage.
  virtual void on_spool_damaged(const SpoolDamage& /*damage*/) {}
  /// A PONG answered our PING after `rtt_ms`.
  virtual void on_heartbeat(std::uint32_t /*rtt_ms*/) {}
  /// A log line. Never contains the token or other secrets.
  virtual void on_log(LogLevel /*level*/, const char* /*text*/) {}

 protected:
  ~Listener() = default;
};

}  // namespace uplink
