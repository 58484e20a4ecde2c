// SPDX-License-Identifier: Apache-2.0
// Field-by-field comparison and generic encoding of frames, for tests.
#pragma once

#include "uplink/codec/frame.hpp"
#include "uplink/codec/frame_encoder.hpp"

namespace uplink::test {

/// True when `a` and `b` are the same frame (only the member named by the
/// type is compared; byte views compare by content).
inline bool same_frame(const Frame& a, const Frame& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case FrameType::ping:
    case FrameType::pong: return true;
    case FrameType::hello:
      return a.hello.version == b.hello.version && equal_bytes(a.hello.device_id, b.hello.device_id) &&
             equal_bytes(a.hello.token, b.hello.token) && a.hello.heartbeat_ms == b.hello.heartbeat_ms &&
             a.hello.session_id == b.hello.session_id && a.hello.last_downlink_seq == b.hello.last_downlink_seq;
    case FrameType::welcome:
      return a.welcome.version == b.welcome.version && a.welcome.heartbeat_ms == b.welcome.heartbeat_ms &&
             a.welcome.session_id == b.welcome.session_id &&
             a.welcome.next_uplink_seq == b.welcome.next_uplink_seq;
    case FrameType::data: return a.data.seq == b.data.seq && equal_bytes(a.data.payload, b.data.payload);
    case FrameType::ack: return a.ack.seq == b.ack.seq;
    case FrameType::close:
      return a.close.reason == b.close.reason && a.close.retry_after_ms == b.close.retry_after_ms &&
             equal_bytes(a.close.text, b.close.text);
  }
  return false;
}

/// Encodes any frame with the matching encoder function.
inline EncodeResult encode_frame(const Frame& f, ByteSpan out) {
  switch (f.type) {
    case FrameType::ping: return encode_ping(out);
    case FrameType::pong: return encode_pong(out);
    case FrameType::hello: return encode(f.hello, out);
    case FrameType::welcome: return encode(f.welcome, out);
    case FrameType::data: return encode(f.data, out);
    case FrameType::ack: return encode(f.ack, out);
    case FrameType::close: return encode(f.close, out);
  }
  return {};
}

}  // namespace uplink::test
