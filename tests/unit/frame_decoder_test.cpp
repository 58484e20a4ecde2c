// SPDX-License-Identifier: Apache-2.0
// Frame decoder: golden frames, every split of a multi-frame stream,
// byte-at-a-time feeding, every malformed case of PROTOCOL.md, and the
// maximum-size boundary.
#include <cstdint>
#include <cstring>

#include "support/frame_compare.hpp"
#include "support/golden_vectors.hpp"
#include "uplink/codec/frame_decoder.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

namespace {

// All golden frames back to back: one byte stream with heartbeats and
// business frames interleaved, as on a real connection.
struct GoldenStream {
  std::uint8_t bytes[512];
  std::size_t size = 0;
  std::size_t frames = 0;

  GoldenStream() {
    std::size_t count = 0;
    const test::GoldenVector* v = test::golden_vectors(count);
    for (std::size_t i = 0; i < count; ++i) size += test::parse_hex(v[i].hex, bytes + size, sizeof bytes - size);
    frames = count;
  }
};

// Feeds `input` and checks the frames that come out, in order, against the
// golden list. Returns the number of frames seen.
std::size_t feed_and_check(FrameDecoderBase& decoder, ConstByteSpan input, std::size_t already_seen) {
  std::size_t count = 0;
  const test::GoldenVector* v = test::golden_vectors(count);
  std::size_t seen = already_seen;
  while (!input.empty()) {
    const FrameDecoderBase::Result r = decoder.feed(input);
    CHECK(r.status != DecodeStatus::error);
    CHECK(r.consumed <= input.size);
    input = input.subspan(r.consumed);
    if (r.status == DecodeStatus::frame_ready) {
      CHECK(seen < count);
      CHECK_TEXT(test::same_frame(v[seen].frame, decoder.frame()), v[seen].name);
      ++seen;
    } else {
      CHECK(input.empty());
    }
  }
  return seen;
}

// Feeds raw hex and returns the final status and error.
std::error_code decode_error_of(FrameDecoderBase& decoder, const char* hex) {
  std::uint8_t bytes[512];
  const std::size_t n = test::parse_hex(hex, bytes, sizeof bytes);
  ConstByteSpan input{bytes, n};
  while (!input.empty()) {
    const FrameDecoderBase::Result r = decoder.feed(input);
    if (r.status == DecodeStatus::error) return decoder.error();
    input = input.subspan(r.consumed);
  }
  return {};
}

}  // namespace

TEST_GROUP(FrameDecoder) {
  FrameDecoder<> decoder;
  GoldenStream stream;
};

TEST(FrameDecoder, EveryGoldenVectorDecodesToItsFrame) {
  std::size_t count = 0;
  const test::GoldenVector* v = test::golden_vectors(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint8_t bytes[256];
    const std::size_t n = test::parse_hex(v[i].hex, bytes, sizeof bytes);
    const FrameDecoderBase::Result r = decoder.feed(ConstByteSpan{bytes, n});
    CHECK_TEXT(r.status == DecodeStatus::frame_ready, v[i].name);
    UNSIGNED_LONGS_EQUAL_TEXT(n, r.consumed, v[i].name);
    CHECK_TEXT(test::same_frame(v[i].frame, decoder.frame()), v[i].name);
    CHECK_FALSE(decoder.mid_frame());
  }
}

TEST(FrameDecoder, RoundTripOfEveryFrameTypeThroughEncoderAndDecoder) {
  std::size_t count = 0;
  const test::GoldenVector* v = test::golden_vectors(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint8_t bytes[256];
    const EncodeResult e = test::encode_frame(v[i].frame, ByteSpan{bytes, sizeof bytes});
    CHECK(!e.error);
    CHECK(decoder.feed(ConstByteSpan{bytes, e.size}).status == DecodeStatus::frame_ready);
    CHECK_TEXT(test::same_frame(v[i].frame, decoder.frame()), v[i].name);
  }
}

TEST(FrameDecoder, WholeStreamInOneFeedYieldsEveryFrameInOrder) {
  UNSIGNED_LONGS_EQUAL(stream.frames, feed_and_check(decoder, ConstByteSpan{stream.bytes, stream.size}, 0));
}

TEST(FrameDecoder, ByteAtATimeYieldsEveryFrameInOrder) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < stream.size; ++i) seen = feed_and_check(decoder, ConstByteSpan{stream.bytes + i, 1}, seen);
  UNSIGNED_LONGS_EQUAL(stream.frames, seen);
}

TEST(FrameDecoder, EverySplitPointOfTheStreamYieldsEveryFrameInOrder) {
  for (std::size_t split = 0; split <= stream.size; ++split) {
    decoder.reset();
    std::size_t seen = feed_and_check(decoder, ConstByteSpan{stream.bytes, split}, 0);
    seen = feed_and_check(decoder, ConstByteSpan{stream.bytes + split, stream.size - split}, seen);
    UNSIGNED_LONGS_EQUAL(stream.frames, seen);
  }
}

TEST(FrameDecoder, EveryPairOfSplitPointsYieldsEveryFrameInOrder) {
  for (std::size_t a = 0; a <= stream.size; ++a) {
    for (std::size_t b = a; b <= stream.size; ++b) {
      decoder.reset();
      std::size_t seen = feed_and_check(decoder, ConstByteSpan{stream.bytes, a}, 0);
      seen = feed_and_check(decoder, ConstByteSpan{stream.bytes + a, b - a}, seen);
      seen = feed_and_check(decoder, ConstByteSpan{stream.bytes + b, stream.size - b}, seen);
      UNSIGNED_LONGS_EQUAL(stream.frames, seen);
    }
  }
}

TEST(FrameDecoder, UnknownFrameTypeFailsAtTheFirstByte) {
  const FrameDecoderBase::Result r = decoder.feed(literal_bytes("\x06\x00\x00\x00"));
  CHECK(r.status == DecodeStatus::error);
  UNSIGNED_LONGS_EQUAL(1, r.consumed);
  CHECK(decoder.error() == Errc::unknown_frame_type);
  CHECK(decode_error_of(decoder, "ff") == Errc::unknown_frame_type);
}

TEST(FrameDecoder, UnknownControlCodeFails) {
  CHECK(decode_error_of(decoder, "00 03") == Errc::unknown_control_frame);
  decoder.reset();
  CHECK(decode_error_of(decoder, "00 00") == Errc::unknown_control_frame);
}

TEST(FrameDecoder, EveryReservedFlagBitFailsAtTheFlagsByte) {
  for (int bit = 0; bit < 8; ++bit) {
    decoder.reset();
    const std::uint8_t bytes[] = {0x04, static_cast<std::uint8_t>(1u << bit), 0x00, 0x08};
    const FrameDecoderBase::Result r = decoder.feed(ConstByteSpan{bytes, sizeof bytes});
    CHECK(r.status == DecodeStatus::error);
    UNSIGNED_LONGS_EQUAL(2, r.consumed);
    CHECK(decoder.error() == Errc::reserved_flags_set);
  }
}

TEST(FrameDecoder, MaximumSizeFrameIsAccepted) {
  static std::uint8_t bytes[kMaxFrameSize];
  static std::uint8_t payload[kMaxDataPayload];
  for (std::size_t i = 0; i < sizeof payload; ++i) payload[i] = static_cast<std::uint8_t>(i);
  const EncodeResult e = encode(Data{9, ConstByteSpan{payload, sizeof payload}}, ByteSpan{bytes, sizeof bytes});
  CHECK(!e.error);
  const FrameDecoderBase::Result r = decoder.feed(ConstByteSpan{bytes, e.size});
  CHECK(r.status == DecodeStatus::frame_ready);
  UNSIGNED_LONGS_EQUAL(kMaxDataPayload, decoder.frame().data.payload.size);
  MEMCMP_EQUAL(payload, decoder.frame().data.payload.data, sizeof payload);
}

TEST(FrameDecoder, OneOverMaximumIsRejectedFromTheHeaderAlone) {
  const std::size_t body = kMaxFrameBody + 1;
  const std::uint8_t header[] = {0x03, 0x00, static_cast<std::uint8_t>(body >> 8), static_cast<std::uint8_t>(body)};
  const std::uint8_t trailing[] = {0xEE, 0xEE};
  std::uint8_t bytes[sizeof header + sizeof trailing];
  std::memcpy(bytes, header, sizeof header);
  std::memcpy(bytes + sizeof header, trailing, sizeof trailing);
  const FrameDecoderBase::Result r = decoder.feed(ConstByteSpan{bytes, sizeof bytes});
  CHECK(r.status == DecodeStatus::error);
  // The decoder stops at the header: not one body byte is consumed.
  UNSIGNED_LONGS_EQUAL(kFrameHeaderSize, r.consumed);
  CHECK(decoder.error() == Errc::frame_too_large);
}

TEST(FrameDecoder, SmallDecoderEnforcesItsOwnCapacity) {
  FrameDecoder<64> small;
  CHECK_EQUAL(64u, small.max_frame_size());
  CHECK(decode_error_of(small, "03 00 00 3d") == Errc::frame_too_large);  // 4 + 61 = 65
  small.reset();
  static std::uint8_t bytes[64] = {0x03, 0x00, 0x00, 0x3c, 0, 0, 0, 0, 0, 0, 0, 1};  // 4 + 60 = 64
  CHECK(small.feed(ConstByteSpan{bytes, sizeof bytes}).status == DecodeStatus::frame_ready);
  UNSIGNED_LONGS_EQUAL(52, small.frame().data.payload.size);
}

TEST(FrameDecoder, LargestLengthFieldIsRejectedWithoutOverflow) {
  CHECK(decode_error_of(decoder, "03 00 ff ff") == Errc::frame_too_large);
}

TEST(FrameDecoder, MalformedHelloBodiesAreRejected) {
  const char* cases[] = {
      "01 00 00 00",                                                      // empty body
      "01 00 00 01 01",                                                   // version only
      // id_len 0
      "01 00 00 17 01 00 00 00 00 03 e8 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
      // id with a space (0x20)
      "01 00 00 18 01 01 20 00 00 00 03 e8 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
      // heartbeat 0
      "01 00 00 18 01 01 41 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
      // id_len pointing past the end
      "01 00 00 05 01 09 41 41 41",
      // one trailing byte
      "01 00 00 19 01 01 41 00 00 00 03 e8 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff",
  };
  for (const char* hex : cases) {
    decoder.reset();
    CHECK_TEXT(decode_error_of(decoder, hex) == Errc::malformed_frame, hex);
  }
}

TEST(FrameDecoder, HelloOfAnotherVersionIsUnsupportedNotMalformed) {
  CHECK(decode_error_of(decoder, "01 00 00 03 02 aa bb") == Errc::unsupported_version);
}

TEST(FrameDecoder, MalformedWelcomeBodiesAreRejected) {
  const char* cases[] = {
      "02 00 00 14 01 00 00 75 30 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00",        // one short
      "02 00 00 15 01 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 01",     // heartbeat 0
      "02 00 00 15 01 00 00 75 30 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01",     // session 0
      "02 00 00 15 01 00 00 75 30 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00",     // next seq 0
      "02 00 00 16 01 00 00 75 30 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 01 00",  // trailing
  };
  for (const char* hex : cases) {
    decoder.reset();
    CHECK_TEXT(decode_error_of(decoder, hex) == Errc::malformed_frame, hex);
  }
  decoder.reset();
  CHECK(decode_error_of(decoder, "02 00 00 15 07 00 00 75 30 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 01") ==
        Errc::unsupported_version);
}

TEST(FrameDecoder, MalformedDataAckAndCloseBodiesAreRejected) {
  const char* cases[] = {
      "03 00 00 07 00 00 00 00 00 00 01",           // DATA shorter than its sequence number
      "03 00 00 08 00 00 00 00 00 00 00 00",        // DATA seq 0
      "04 00 00 00",                                // ACK empty
      "04 00 00 09 00 00 00 00 00 00 00 01 00",     // ACK trailing byte
      "04 00 00 08 00 00 00 00 00 00 00 00",        // ACK seq 0
      "05 00 00 05 00 00 00 00 00",                 // CLOSE without text length
      "05 00 00 06 00 00 00 00 00 01",              // CLOSE text length past the end
      "05 00 00 08 00 00 00 00 00 01 41 41",        // CLOSE trailing byte
  };
  for (const char* hex : cases) {
    decoder.reset();
    CHECK_TEXT(decode_error_of(decoder, hex) == Errc::malformed_frame, hex);
  }
}

TEST(FrameDecoder, UnknownCloseReasonIsKeptNumerically) {
  CHECK_FALSE(decode_error_of(decoder, "05 00 00 06 7f 00 00 00 00 00"));
  BYTES_EQUAL(0x7f, static_cast<std::uint8_t>(decoder.frame().close.reason));
  STRCMP_EQUAL("unknown", close_reason_name(decoder.frame().close.reason));
}

TEST(FrameDecoder, ErrorIsStickyUntilReset) {
  CHECK(decode_error_of(decoder, "09") == Errc::unknown_frame_type);
  const FrameDecoderBase::Result again = decoder.feed(literal_bytes("\x00\x01"));
  CHECK(again.status == DecodeStatus::error);
  UNSIGNED_LONGS_EQUAL(0, again.consumed);
  CHECK(decoder.error() == Errc::unknown_frame_type);
  decoder.reset();
  CHECK_FALSE(decoder.error());
  CHECK(decoder.feed(literal_bytes("\x00\x01")).status == DecodeStatus::frame_ready);
}

TEST(FrameDecoder, ResetDropsAPartialFrame) {
  CHECK(decoder.feed(literal_bytes("\x03\x00\x00")).status == DecodeStatus::need_more);
  CHECK(decoder.mid_frame());
  decoder.reset();
  CHECK_FALSE(decoder.mid_frame());
  CHECK(decoder.feed(literal_bytes("\x00\x02")).status == DecodeStatus::frame_ready);
  CHECK(decoder.frame().type == FrameType::pong);
}

TEST(FrameDecoder, EmptyInputNeedsMore) {
  const FrameDecoderBase::Result r = decoder.feed(ConstByteSpan{});
  CHECK(r.status == DecodeStatus::need_more);
  UNSIGNED_LONGS_EQUAL(0, r.consumed);
}
