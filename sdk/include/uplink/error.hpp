// SPDX-License-Identifier: Apache-2.0
// uplink's error codes and their std::error_category.
//
// Every failure in the SDK travels as a std::error_code in the "uplink"
// category, so that applications can compare against uplink::Errc values,
// print a readable message, and mix our errors with Asio's and mbedTLS's
// without exceptions or RTTI.
#pragma once

#include <system_error>

namespace uplink {

/// Error conditions reported by uplink. Zero is never used: a
/// default-constructed std::error_code means success.
enum class Errc : int {
  // --- Codec: malformed input on the wire (each closes the connection) ---
  frame_too_large = 1,      ///< Length field announces a frame above the receiver's maximum.
  unknown_frame_type,       ///< First byte names no frame type of protocol version 1.
  unknown_control_frame,    ///< 0x00 followed by a code other than PING or PONG.
  reserved_flags_set,       ///< A reserved bit of the flags byte is one.
  malformed_frame,          ///< Body does not match the layout of its frame type.
  unsupported_version,      ///< HELLO or WELCOME names a protocol version we do not speak.
  buffer_too_small,         ///< Encoder output buffer cannot hold the frame.
  field_too_long,           ///< A variable-length field exceeds its protocol limit.

  // --- Configuration: refused at start, message names the field ---
  invalid_option,           ///< An Options field is out of range (see the validation message).

  // --- Connection life cycle ---
  connect_timeout,          ///< Resolve + connect + handshake did not finish under the deadline.
  handshake_timeout,        ///< Transport up, but no WELCOME under the deadline.
  server_silent,            ///< Nothing received for the read timeout: link presumed dead.
  write_timeout,            ///< A write did not complete under the write timeout.
  idle_timeout,             ///< No business traffic either way for the idle timeout (by request).
  closed_by_server,         ///< Server sent CLOSE.
  connection_closed,        ///< Peer closed or reset the TCP connection.
  protocol_error,           ///< A well-formed frame arrived where the protocol forbids it.
  sequence_error,           ///< A sequence number or acknowledgement broke the ordering rules.
  stopped,                  ///< The application called stop().
  retries_exhausted,        ///< Backoff reached its maximum number of attempts.
  resolve_failed,           ///< No endpoint could be resolved.

  // --- Application-facing API ---
  queue_full,               ///< Outbound store has no room: the caller keeps the message.
  not_running,              ///< Operation needs a started client.
  offline,                  ///< The peer is not online (e.g. a downlink to a device without a connection).
  already_running,          ///< start() called on a running client.
  flush_timeout,            ///< flush() gave up: messages still unacknowledged at the deadline.
  wrong_thread,             ///< A blocking call made on the io_context's own thread (it would deadlock).
  messages_dropped,         ///< flush(): a message it waited for was dropped (drop-oldest), not acknowledged.

  // --- Connection life cycle (added later; values stay stable) ---
  ack_timeout,              ///< Messages in flight and no acknowledgement progress for the ack timeout.
  spool_damaged,            ///< Spool::open(): no header slot is readable and the storage is not blank.
  probe_failed,             ///< After a network change, the probe PING got no answer within probe_timeout_ms.
};

/// The category of uplink::Errc. Its name is "uplink".
[[nodiscard]] const std::error_category& error_category() noexcept;

/// Makes a std::error_code from an uplink::Errc (found by ADL).
[[nodiscard]] inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// Short stable name of an error (e.g. "server_silent"), for JSON logs and
/// metrics labels. Returns "unknown" for codes outside the enum.
[[nodiscard]] const char* errc_name(Errc e) noexcept;

}  // namespace uplink

namespace std {
template <>
struct is_error_code_enum<uplink::Errc> : true_type {};
}  // namespace std
