// SPDX-License-Identifier: Apache-2.0
// Frame encoder: golden bytes, field validation, and never writing past the
// end of the caller's buffer.
#include <cstdint>
#include <cstring>

#include "support/frame_compare.hpp"
#include "support/golden_vectors.hpp"
#include "uplink/codec/frame_encoder.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

namespace {
constexpr std::uint8_t kGuard = 0xA5;
}

TEST_GROUP(FrameEncoder) {
  std::uint8_t out[kMaxFrameSize + 16];
  void setup() override { std::memset(out, kGuard, sizeof out); }
};

TEST(FrameEncoder, EveryGoldenFrameEncodesToItsGoldenBytes) {
  std::size_t count = 0;
  const test::GoldenVector* vectors = test::golden_vectors(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint8_t expected[256];
    const std::size_t n = test::parse_hex(vectors[i].hex, expected, sizeof expected);
    std::memset(out, kGuard, sizeof out);
    const EncodeResult r = test::encode_frame(vectors[i].frame, ByteSpan{out, sizeof out});
    CHECK_TEXT(!r.error, vectors[i].name);
    UNSIGNED_LONGS_EQUAL_TEXT(n, r.size, vectors[i].name);
    MEMCMP_EQUAL_TEXT(expected, out, n, vectors[i].name);
    BYTES_EQUAL(kGuard, out[n]);
  }
}

TEST(FrameEncoder, EncodedSizeMatchesWhatIsWritten) {
  std::size_t count = 0;
  const test::GoldenVector* vectors = test::golden_vectors(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Frame& f = vectors[i].frame;
    const EncodeResult r = test::encode_frame(f, ByteSpan{out, sizeof out});
    std::size_t predicted = 0;
    switch (f.type) {
      case FrameType::ping:
      case FrameType::pong: predicted = encoded_size_ping(); break;
      case FrameType::hello: predicted = encoded_size(f.hello); break;
      case FrameType::welcome: predicted = encoded_size(f.welcome); break;
      case FrameType::data: predicted = encoded_size(f.data); break;
      case FrameType::ack: predicted = encoded_size(f.ack); break;
      case FrameType::close: predicted = encoded_size(f.close); break;
    }
    UNSIGNED_LONGS_EQUAL_TEXT(predicted, r.size, vectors[i].name);
  }
}

TEST(FrameEncoder, EveryTooSmallBufferIsRefusedAndLeftUntouched) {
  std::size_t count = 0;
  const test::GoldenVector* vectors = test::golden_vectors(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t needed = test::encode_frame(vectors[i].frame, ByteSpan{out, sizeof out}).size;
    for (std::size_t size = 0; size < needed; ++size) {
      std::memset(out, kGuard, sizeof out);
      const EncodeResult r = test::encode_frame(vectors[i].frame, ByteSpan{out, size});
      CHECK_TEXT(r.error == Errc::buffer_too_small, vectors[i].name);
      UNSIGNED_LONGS_EQUAL(0, r.size);
      for (std::size_t b = 0; b < needed; ++b) BYTES_EQUAL(kGuard, out[b]);
    }
  }
}

TEST(FrameEncoder, HelloWithEmptyDeviceIdIsMalformed) {
  Hello h;
  h.heartbeat_ms = 1000;
  CHECK(encode(h, ByteSpan{out, sizeof out}).error == Errc::malformed_frame);
}

TEST(FrameEncoder, HelloWithNonPrintableDeviceIdIsMalformed) {
  Hello h;
  h.heartbeat_ms = 1000;
  h.device_id = literal_bytes("pi 01");  // space is not allowed
  CHECK(encode(h, ByteSpan{out, sizeof out}).error == Errc::malformed_frame);
}

TEST(FrameEncoder, HelloWithTooLongDeviceIdIsRefused) {
  char id[kMaxDeviceIdLength + 1];
  std::memset(id, 'a', sizeof id);
  Hello h;
  h.heartbeat_ms = 1000;
  h.device_id = ConstByteSpan{id, sizeof id};
  CHECK(encode(h, ByteSpan{out, sizeof out}).error == Errc::field_too_long);
  h.device_id = ConstByteSpan{id, kMaxDeviceIdLength};
  CHECK_FALSE(encode(h, ByteSpan{out, sizeof out}).error);
}

TEST(FrameEncoder, HelloWithZeroHeartbeatOrOtherVersionIsRefused) {
  Hello h;
  h.device_id = literal_bytes("dev");
  CHECK(encode(h, ByteSpan{out, sizeof out}).error == Errc::malformed_frame);
  h.heartbeat_ms = 1;
  h.version = 2;
  CHECK(encode(h, ByteSpan{out, sizeof out}).error == Errc::unsupported_version);
}

TEST(FrameEncoder, WelcomeNeedsSessionHeartbeatAndSequence) {
  Welcome w;
  w.heartbeat_ms = 1;
  w.session_id = 1;
  w.next_uplink_seq = 1;
  CHECK_FALSE(encode(w, ByteSpan{out, sizeof out}).error);
  Welcome no_session = w;
  no_session.session_id = 0;
  CHECK(encode(no_session, ByteSpan{out, sizeof out}).error == Errc::malformed_frame);
  Welcome no_heartbeat = w;
  no_heartbeat.heartbeat_ms = 0;
  CHECK(encode(no_heartbeat, ByteSpan{out, sizeof out}).error == Errc::malformed_frame);
  Welcome no_seq = w;
  no_seq.next_uplink_seq = 0;
  CHECK(encode(no_seq, ByteSpan{out, sizeof out}).error == Errc::malformed_frame);
}

TEST(FrameEncoder, SequenceZeroIsRefusedForDataAndAck) {
  CHECK(encode(Data{0, {}}, ByteSpan{out, sizeof out}).error == Errc::malformed_frame);
  CHECK(encode(Ack{0}, ByteSpan{out, sizeof out}).error == Errc::malformed_frame);
}

TEST(FrameEncoder, LargestPayloadFitsExactlyTheMaximumFrame) {
  static std::uint8_t payload[kMaxDataPayload + 1];
  const EncodeResult ok = encode(Data{7, ConstByteSpan{payload, kMaxDataPayload}}, ByteSpan{out, sizeof out});
  CHECK_FALSE(ok.error);
  UNSIGNED_LONGS_EQUAL(kMaxFrameSize, ok.size);
  const EncodeResult over = encode(Data{7, ConstByteSpan{payload, kMaxDataPayload + 1}}, ByteSpan{out, sizeof out});
  CHECK(over.error == Errc::field_too_long);
}

TEST(FrameEncoder, CloseTextOver255BytesIsRefused) {
  static char text[256];
  Close c;
  c.text = ConstByteSpan{text, 256};
  CHECK(encode(c, ByteSpan{out, sizeof out}).error == Errc::field_too_long);
  c.text = ConstByteSpan{text, 255};
  CHECK_FALSE(encode(c, ByteSpan{out, sizeof out}).error);
}
