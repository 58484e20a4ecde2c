// SPDX-License-Identifier: Apache-2.0
// Protocol frames as test bytes, and decoded frames that own their bytes:
// for tests that play the device against the reference server (plain and
// over TLS), where assertions compare what went over the wire.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "uplink/codec/frame.hpp"
#include "uplink/codec/frame_encoder.hpp"

namespace uplink::test {

using Bytes = std::vector<std::uint8_t>;

template <typename FrameT>
Bytes bytes_of(const FrameT& frame) {
  Bytes bytes(encoded_size(frame));
  const EncodeResult result = encode(frame, ByteSpan{bytes.data(), bytes.size()});
  bytes.resize(result ? result.size : 0);
  return bytes;
}

inline ConstByteSpan text_span(const char* text) { return ConstByteSpan{text, std::strlen(text)}; }

inline Bytes hello(const char* device, std::uint32_t heartbeat_ms, std::uint64_t session = 0,
                   std::uint64_t last_downlink = 0, const char* token = "") {
  Hello h;
  h.device_id = text_span(device);
  h.token = text_span(token);
  h.heartbeat_ms = heartbeat_ms;
  h.session_id = session;
  h.last_downlink_seq = last_downlink;
  return bytes_of(h);
}

inline Bytes data(std::uint64_t seq, const char* payload) {
  Data d;
  d.seq = seq;
  d.payload = text_span(payload);
  return bytes_of(d);
}

inline Bytes ack(std::uint64_t seq) {
  Ack a;
  a.seq = seq;
  return bytes_of(a);
}

inline Bytes close_frame(CloseReason reason, std::uint32_t retry_after_ms) {
  Close c;
  c.reason = reason;
  c.retry_after_ms = retry_after_ms;
  c.text = text_span("bye");
  return bytes_of(c);
}

inline Bytes ping() { return {0x00, 0x01}; }

inline Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// A decoded frame that owns its bytes.
struct Owned {
  FrameType type = FrameType::ping;
  bool bad = false;  // the stream did not decode: never expected from the server
  std::uint64_t seq = 0;
  std::string text;  // DATA payload or CLOSE text
  Welcome welcome;
  CloseReason reason = CloseReason::normal;
  std::uint32_t retry_after_ms = 0;
};

inline Owned own(const Frame& frame) {
  Owned o;
  o.type = frame.type;
  switch (frame.type) {
    case FrameType::data:
      o.seq = frame.data.seq;
      o.text.assign(reinterpret_cast<const char*>(frame.data.payload.data), frame.data.payload.size);
      break;
    case FrameType::ack: o.seq = frame.ack.seq; break;
    case FrameType::welcome: o.welcome = frame.welcome; break;
    case FrameType::close:
      o.reason = frame.close.reason;
      o.retry_after_ms = frame.close.retry_after_ms;
      o.text.assign(reinterpret_cast<const char*>(frame.close.text.data), frame.close.text.size);
      break;
    default: break;
  }
  return o;
}

}  // namespace uplink::test
