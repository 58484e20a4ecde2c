// SPDX-License-Identifier: Apache-2.0
// The frames of uplink protocol version 1, as plain values.
//
// docs/PROTOCOL.md is the normative description; this header mirrors it.
// Decoded frames hold views (ConstByteSpan) into the decoder's own buffer,
// so they are valid only until the decoder is fed again.
#pragma once

#include <cstddef>
#include <cstdint>

#include "uplink/config_defaults.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink {

/// The only protocol version this build speaks.
inline constexpr std::uint8_t kProtocolVersion = 1;

/// Wire value of the first byte of a control (heartbeat) frame.
inline constexpr std::uint8_t kControlPrefix = 0x00;

/// What kind of frame this is. Values are not wire values; see the wire_*
/// constants below.
enum class FrameType : std::uint8_t {
  ping,     ///< Control frame 0x00 0x01: "are you there?". Must be answered with PONG.
  pong,     ///< Control frame 0x00 0x02: answer to PING.
  hello,    ///< Device to server, first frame of every connection.
  welcome,  ///< Server to device, answer to HELLO; the session is then online.
  data,     ///< Either direction: a sequenced application message.
  ack,      ///< Either direction: cumulative acknowledgement of DATA.
  close,    ///< Either direction: the sender is about to close the connection.
};

/// Stable upper-case name of a frame type ("PING", "DATA", ...), for logs.
[[nodiscard]] const char* frame_type_name(FrameType type) noexcept;

namespace wire {
inline constexpr std::uint8_t kPing = 0x01;  ///< Second byte of a PING control frame.
inline constexpr std::uint8_t kPong = 0x02;  ///< Second byte of a PONG control frame.
inline constexpr std::uint8_t kHello = 0x01;    ///< Type byte of a HELLO frame.
inline constexpr std::uint8_t kWelcome = 0x02;  ///< Type byte of a WELCOME frame.
inline constexpr std::uint8_t kData = 0x03;     ///< Type byte of a DATA frame.
inline constexpr std::uint8_t kAck = 0x04;      ///< Type byte of an ACK frame.
inline constexpr std::uint8_t kClose = 0x05;    ///< Type byte of a CLOSE frame.

/// Fixed part of each body, as arithmetic over its fields (see PROTOCOL.md).
/// HELLO (PROTOCOL.md 3.1): version, id length and device id, token length
/// and token, heartbeat, session, last downlink seq; without id and token.
inline constexpr std::size_t kHelloFixedBody = 1 + 1 + 1 + 4 + 8 + 8;  // + id + token
/// WELCOME (3.2): version, heartbeat, session, next uplink seq (no variable part).
inline constexpr std::size_t kWelcomeBody = 1 + 4 + 8 + 8;
/// DATA (3.3): the seq; the payload follows.
inline constexpr std::size_t kDataFixedBody = 8;  // + payload
/// ACK (3.4): the cumulative seq (no variable part).
inline constexpr std::size_t kAckBody = 8;
/// CLOSE (3.5): reason, retry-after, text length; the text follows.
inline constexpr std::size_t kCloseFixedBody = 1 + 4 + 1;  // + text
/// Longest CLOSE text in bytes (its length field is one byte).
inline constexpr std::size_t kMaxCloseText = 255;
}  // namespace wire

/// Largest application payload one DATA frame can carry in this build.
inline constexpr std::size_t kMaxDataPayload = kMaxFrameBody - wire::kDataFixedBody;
static_assert(kMaxFrameBody >= wire::kHelloFixedBody + 8,
              "UPLINK_MAX_FRAME_SIZE too small for a HELLO with a short device id");

/// Reason codes carried by CLOSE. Unknown codes received from a peer are kept
/// as their numeric value and reported as-is (forward compatibility).
enum class CloseReason : std::uint8_t {
  normal = 0x00,               ///< Orderly close, e.g. the application stopped.
  protocol_error = 0x01,       ///< Malformed or unexpected frame.
  unsupported_version = 0x02,  ///< HELLO named a version the server does not speak.
  frame_too_large = 0x03,      ///< A frame exceeded the receiver's maximum size.
  unauthorized = 0x04,         ///< Device id or token refused.
  silent = 0x05,               ///< Nothing received for the read timeout.
  idle_timeout = 0x06,         ///< No business traffic for the idle timeout.
  going_away = 0x07,           ///< Server shutting down or restarting.
  overloaded = 0x08,           ///< Try again later (see retry-after).
  sequence_error = 0x09,       ///< Sequence number or acknowledgement out of order.
  session_replaced = 0x0A,     ///< The same device opened a newer connection.
};

/// Stable lower-case name of a close reason, or "unknown".
[[nodiscard]] const char* close_reason_name(CloseReason reason) noexcept;

/// HELLO: device to server, opens every connection.
struct Hello {
  std::uint8_t version = kProtocolVersion;  ///< Protocol version the device speaks; 1.
  ConstByteSpan device_id;         ///< 1 .. kMaxDeviceIdLength printable ASCII bytes (0x21..0x7E).
  ConstByteSpan token;             ///< 0 .. kMaxTokenLength opaque bytes; never logged.
  std::uint32_t heartbeat_ms = 0;  ///< Requested heartbeat interval, > 0.
  std::uint64_t session_id = 0;    ///< 0 opens a new session; otherwise the session to resume.
  std::uint64_t last_downlink_seq = 0;  ///< Highest downlink DATA seq delivered; 0 = none.
};

/// WELCOME: server to device, accepts the HELLO.
struct Welcome {
  std::uint8_t version = kProtocolVersion;  ///< Protocol version of the session; 1.
  std::uint32_t heartbeat_ms = 0;      ///< Interval the server accepted (it may clamp), > 0.
  std::uint64_t session_id = 0;        ///< Session of this connection, != 0.
  std::uint64_t next_uplink_seq = 0;   ///< Next uplink seq expected; all below are acknowledged. >= 1.
};

/// DATA: a sequenced, opaque application message.
struct Data {
  std::uint64_t seq = 0;  ///< >= 1, consecutive per session and direction.
  ConstByteSpan payload;  ///< 0 .. kMaxDataPayload bytes.
};

/// ACK: cumulative acknowledgement: every DATA with seq <= this was received.
struct Ack {
  std::uint64_t seq = 0;  ///< >= 1.
};

/// CLOSE: the sender closes the connection right after this frame.
struct Close {
  CloseReason reason = CloseReason::normal;  ///< Why; a code unknown to this build is kept as its value.
  std::uint32_t retry_after_ms = 0;  ///< 0 = no hint; otherwise wait at least this long.
  ConstByteSpan text;                ///< 0 .. 255 bytes of UTF-8, for humans.
};

/// One decoded frame. Only the member named by `type` is meaningful.
struct Frame {
  FrameType type = FrameType::ping;  ///< Which of the members below holds the frame.
  Hello hello;      ///< When `type` is FrameType::hello.
  Welcome welcome;  ///< When `type` is FrameType::welcome.
  Data data;        ///< When `type` is FrameType::data.
  Ack ack;          ///< When `type` is FrameType::ack.
  Close close;      ///< When `type` is FrameType::close.
};

}  // namespace uplink
