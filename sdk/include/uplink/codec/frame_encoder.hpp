// SPDX-License-Identifier: Apache-2.0
// Encoding of protocol frames into caller-supplied buffers.
//
// Each function validates the frame's fields against docs/PROTOCOL.md, then
// writes the whole frame into `out`, or nothing at all: a frame that does not
// fit is refused with Errc::buffer_too_small and never written past the end.
#pragma once

#include <cstddef>
#include <system_error>

#include "uplink/codec/codec_result.hpp"
#include "uplink/codec/frame.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink {

/// Encoded size of each frame, header included, assuming its fields are
/// valid: what encode() writes, to size a buffer or check room before it.
/// PING and PONG: kControlFrameSize.
[[nodiscard]] constexpr std::size_t encoded_size_ping() { return kControlFrameSize; }
/// Size of a HELLO, its device id and token included.
[[nodiscard]] std::size_t encoded_size(const Hello& hello);
/// Size of a WELCOME (fixed).
[[nodiscard]] constexpr std::size_t encoded_size(const Welcome&) {
  return kFrameHeaderSize + wire::kWelcomeBody;
}
/// Size of a DATA, its payload included.
[[nodiscard]] std::size_t encoded_size(const Data& data);
/// Size of an ACK (fixed).
[[nodiscard]] constexpr std::size_t encoded_size(const Ack&) {
  return kFrameHeaderSize + wire::kAckBody;
}
/// Size of a CLOSE, its text included.
[[nodiscard]] std::size_t encoded_size(const Close& close);

/// Writes PING (0x00 0x01). Errors: buffer_too_small.
[[nodiscard]] EncodeResult encode_ping(ByteSpan out);
/// Writes PONG (0x00 0x02). Errors: buffer_too_small.
[[nodiscard]] EncodeResult encode_pong(ByteSpan out);
/// Writes HELLO. Errors: unsupported_version (version != 1), field_too_long
/// (device id or token over its limit), malformed_frame (empty or
/// non-printable device id, zero heartbeat), buffer_too_small.
[[nodiscard]] EncodeResult encode(const Hello& hello, ByteSpan out);
/// Writes WELCOME. Errors: unsupported_version, malformed_frame (zero
/// heartbeat, zero session id, next_uplink_seq 0), buffer_too_small.
[[nodiscard]] EncodeResult encode(const Welcome& welcome, ByteSpan out);
/// Writes DATA. Errors: malformed_frame (seq 0), field_too_long (payload over
/// kMaxDataPayload), buffer_too_small.
[[nodiscard]] EncodeResult encode(const Data& data, ByteSpan out);
/// Writes ACK. Errors: malformed_frame (seq 0), buffer_too_small.
[[nodiscard]] EncodeResult encode(const Ack& ack, ByteSpan out);
/// Writes CLOSE. Errors: field_too_long (text over 255 bytes), buffer_too_small.
[[nodiscard]] EncodeResult encode(const Close& close, ByteSpan out);

}  // namespace uplink
