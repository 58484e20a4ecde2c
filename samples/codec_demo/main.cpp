// SPDX-License-Identifier: Apache-2.0
// Codec round trip: encodes a short session (HELLO, WELCOME, heartbeats, DATA,
// ACK, CLOSE) into one byte stream, then decodes it one byte at a time, as a
// slow link would deliver it, and prints every frame.
#include <cstdio>

#include "uplink/codec/frame_decoder.hpp"
#include "uplink/codec/frame_encoder.hpp"
#include "uplink/error.hpp"

int main() {
  using namespace uplink;
  std::uint8_t stream[512];
  std::size_t size = 0;
  const auto append = [&](EncodeResult r) {
    if (r.error) {
      std::printf("encode failed: %s\n", errc_name(static_cast<Errc>(r.error.value())));
      return false;
    }
    size += r.size;
    return true;
  };
  const auto tail = [&] { return ByteSpan{stream + size, sizeof stream - size}; };

  Hello hello;
  hello.device_id = literal_bytes("pi-0001");
  hello.heartbeat_ms = 30000;
  Welcome welcome;
  welcome.heartbeat_ms = 30000;
  welcome.session_id = 42;
  welcome.next_uplink_seq = 1;
  Close close;
  close.reason = CloseReason::normal;
  close.text = literal_bytes("bye");
  if (!append(encode(hello, tail())) || !append(encode(welcome, tail())) || !append(encode_ping(tail())) ||
      !append(encode_pong(tail())) || !append(encode(Data{1, literal_bytes("temp=21.5")}, tail())) ||
      !append(encode(Ack{1}, tail())) || !append(encode(close, tail()))) {
    return 1;
  }
  std::printf("encoded %zu bytes; decoding one byte at a time\n", size);

  FrameDecoder<> decoder;
  int frames = 0;
  for (std::size_t i = 0; i < size; ++i) {
    const FrameDecoderBase::Result r = decoder.feed(ConstByteSpan{stream + i, 1});
    if (r.status == DecodeStatus::error) {
      std::printf("decode error: %s\n", errc_name(static_cast<Errc>(decoder.error().value())));
      return 1;
    }
    if (r.status != DecodeStatus::frame_ready) continue;
    const Frame& f = decoder.frame();
    ++frames;
    switch (f.type) {
      case FrameType::hello:
        std::printf("  %-7s device=%.*s heartbeat=%ums\n", frame_type_name(f.type),
                    static_cast<int>(f.hello.device_id.size), reinterpret_cast<const char*>(f.hello.device_id.data),
                    static_cast<unsigned>(f.hello.heartbeat_ms));
        break;
      case FrameType::data:
        std::printf("  %-7s seq=%llu payload=%.*s\n", frame_type_name(f.type),
                    static_cast<unsigned long long>(f.data.seq), static_cast<int>(f.data.payload.size),
                    reinterpret_cast<const char*>(f.data.payload.data));
        break;
      default: std::printf("  %s\n", frame_type_name(f.type)); break;
    }
  }
  std::printf("%d frames decoded, round trip ok\n", frames);
  return frames == 7 ? 0 : 1;
}
