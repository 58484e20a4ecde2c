// SPDX-License-Identifier: Apache-2.0
// Frame encoder: validate fields, compute the exact size, then write once.
#include "uplink/codec/frame_encoder.hpp"

#include "big_endian.hpp"
#include "uplink/core/device_id.hpp"
#include "uplink/error.hpp"

namespace uplink {
namespace {

using detail::BigEndianWriter;

EncodeResult refuse(Errc e) { return {make_error_code(e), 0}; }

// Writes the 4-byte header and returns a writer positioned at the body.
BigEndianWriter start_frame(ByteSpan out, std::uint8_t type, std::size_t body_size) {
  BigEndianWriter w(out.data);
  w.u8(type);
  w.u8(0);  // flags: every bit reserved in version 1
  w.u16(static_cast<std::uint16_t>(body_size));
  return w;
}

EncodeResult encode_control(std::uint8_t code, ByteSpan out) {
  if (out.size < kControlFrameSize) return refuse(Errc::buffer_too_small);
  out.data[0] = kControlPrefix;
  out.data[1] = code;
  return {{}, kControlFrameSize};
}

}  // namespace

std::size_t encoded_size(const Hello& hello) {
  return kFrameHeaderSize + wire::kHelloFixedBody + hello.device_id.size + hello.token.size;
}
std::size_t encoded_size(const Data& data) {
  return kFrameHeaderSize + wire::kDataFixedBody + data.payload.size;
}
std::size_t encoded_size(const Close& close) {
  return kFrameHeaderSize + wire::kCloseFixedBody + close.text.size;
}

EncodeResult encode_ping(ByteSpan out) { return encode_control(wire::kPing, out); }
EncodeResult encode_pong(ByteSpan out) { return encode_control(wire::kPong, out); }

EncodeResult encode(const Hello& hello, ByteSpan out) {
  if (hello.version != kProtocolVersion) return refuse(Errc::unsupported_version);
  if (hello.device_id.size > kMaxDeviceIdLength || hello.token.size > kMaxTokenLength) {
    return refuse(Errc::field_too_long);
  }
  if (hello.device_id.empty() || hello.heartbeat_ms == 0) return refuse(Errc::malformed_frame);
  for (std::uint8_t b : hello.device_id) {
    if (!is_device_id_byte(b)) return refuse(Errc::malformed_frame);
  }
  const std::size_t size = encoded_size(hello);
  if (out.size < size) return refuse(Errc::buffer_too_small);
  BigEndianWriter w = start_frame(out, wire::kHello, size - kFrameHeaderSize);
  w.u8(hello.version);
  w.u8(static_cast<std::uint8_t>(hello.device_id.size));
  w.bytes(hello.device_id);
  w.u8(static_cast<std::uint8_t>(hello.token.size));
  w.bytes(hello.token);
  w.u32(hello.heartbeat_ms);
  w.u64(hello.session_id);
  w.u64(hello.last_downlink_seq);
  return {{}, size};
}

EncodeResult encode(const Welcome& welcome, ByteSpan out) {
  if (welcome.version != kProtocolVersion) return refuse(Errc::unsupported_version);
  if (welcome.heartbeat_ms == 0 || welcome.session_id == 0 || welcome.next_uplink_seq == 0) {
    return refuse(Errc::malformed_frame);
  }
  const std::size_t size = encoded_size(welcome);
  if (out.size < size) return refuse(Errc::buffer_too_small);
  BigEndianWriter w = start_frame(out, wire::kWelcome, wire::kWelcomeBody);
  w.u8(welcome.version);
  w.u32(welcome.heartbeat_ms);
  w.u64(welcome.session_id);
  w.u64(welcome.next_uplink_seq);
  return {{}, size};
}

EncodeResult encode(const Data& data, ByteSpan out) {
  if (data.seq == 0) return refuse(Errc::malformed_frame);
  if (data.payload.size > kMaxDataPayload) return refuse(Errc::field_too_long);
  const std::size_t size = encoded_size(data);
  if (out.size < size) return refuse(Errc::buffer_too_small);
  BigEndianWriter w = start_frame(out, wire::kData, size - kFrameHeaderSize);
  w.u64(data.seq);
  w.bytes(data.payload);
  return {{}, size};
}

EncodeResult encode(const Ack& ack, ByteSpan out) {
  if (ack.seq == 0) return refuse(Errc::malformed_frame);
  const std::size_t size = encoded_size(ack);
  if (out.size < size) return refuse(Errc::buffer_too_small);
  BigEndianWriter w = start_frame(out, wire::kAck, wire::kAckBody);
  w.u64(ack.seq);
  return {{}, size};
}

EncodeResult encode(const Close& close, ByteSpan out) {
  if (close.text.size > wire::kMaxCloseText) return refuse(Errc::field_too_long);
  const std::size_t size = encoded_size(close);
  if (out.size < size) return refuse(Errc::buffer_too_small);
  BigEndianWriter w = start_frame(out, wire::kClose, size - kFrameHeaderSize);
  w.u8(static_cast<std::uint8_t>(close.reason));
  w.u32(close.retry_after_ms);
  w.u8(static_cast<std::uint8_t>(close.text.size));
  w.bytes(close.text);
  return {{}, size};
}

}  // namespace uplink
