// SPDX-License-Identifier: Apache-2.0
// MQTT 3.1.1 decoder: the golden packets, every split point of a stream of
// them, byte-at-a-time feeding, the remaining-length encodings of the
// specification, the maximum packet size refused from the header, and every
// malformed case with its own error code.
#include <cstdint>
#include <cstring>

#include "support/golden_vectors.hpp"
#include "support/mqtt_golden_vectors.hpp"
#include "uplink/codec/mqtt_decoder.hpp"
#include "uplink/codec/mqtt_error.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::mqtt;
using MqttErrc = uplink::mqtt::Errc;

namespace {

// Every received-side golden packet back to back, as one connection's bytes.
struct GoldenStream {
  std::uint8_t bytes[256];
  std::size_t size = 0;
  std::size_t packets = 0;

  GoldenStream() {
    const test::MqttGoldenVector* v = test::mqtt_golden_vectors(packets);
    for (std::size_t i = 0; i < packets; ++i) size += test::parse_hex(v[i].hex, bytes + size, sizeof bytes - size);
  }
};

// Feeds `input` and checks the packets that come out, in order, against the
// golden list from index `seen`. Returns the number of packets seen so far.
std::size_t feed_and_check(DecoderBase& decoder, ConstByteSpan input, std::size_t seen) {
  std::size_t count = 0;
  const test::MqttGoldenVector* v = test::mqtt_golden_vectors(count);
  while (!input.empty()) {
    const DecoderBase::Result r = decoder.feed(input);
    CHECK(r.status != DecodeStatus::error);
    CHECK(r.consumed <= input.size);
    input = input.subspan(r.consumed);
    if (r.status == DecodeStatus::frame_ready) {
      CHECK(seen < count);
      CHECK_TEXT(test::same_packet(v[seen].packet, decoder.packet()), v[seen].name);
      ++seen;
    } else {
      CHECK(input.empty());
    }
  }
  return seen;
}

// Feeds hex in one go (and again byte by byte, into a fresh decoder): both
// must fail with the same error after the same number of bytes. Returns it.
std::error_code error_of(const char* hex, std::size_t* consumed = nullptr) {
  std::uint8_t bytes[128];
  const std::size_t n = test::parse_hex(hex, bytes, sizeof bytes);
  Decoder<64> whole;
  std::size_t used = 0;
  std::error_code ec;
  for (ConstByteSpan in{bytes, n}; !in.empty();) {
    const DecoderBase::Result r = whole.feed(in);
    used += r.consumed;
    if (r.status == DecodeStatus::error) {
      ec = whole.error();
      break;
    }
    in = in.subspan(r.consumed);
  }
  Decoder<64> bytewise;
  std::size_t fed = 0;
  std::error_code ec_bytewise;
  for (std::size_t i = 0; i < n && !ec_bytewise; ++i) {
    const DecoderBase::Result r = bytewise.feed(ConstByteSpan{bytes + i, 1});
    fed += r.consumed;
    if (r.status == DecodeStatus::error) ec_bytewise = bytewise.error();
  }
  CHECK_TEXT(ec == ec_bytewise, hex);
  CHECK_TEXT(used == fed, hex);
  if (consumed != nullptr) *consumed = used;
  return ec;
}

// A decoder whose limit is `capacity` but whose storage is small: fed only
// fixed headers, it shows where a remaining length is accepted or refused,
// which pins its decoded value exactly (accepted at 1 + n + value bytes,
// refused one byte below).
class HeaderOnlyDecoder final : public DecoderBase {
 public:
  explicit HeaderOnlyDecoder(std::size_t capacity) : DecoderBase(storage_, capacity) {}

 private:
  std::uint8_t storage_[16] = {};
};

DecodeStatus header_status(std::size_t capacity, const std::uint8_t* header, std::size_t size,
                           std::error_code* error = nullptr) {
  HeaderOnlyDecoder decoder(capacity);
  const DecoderBase::Result r = decoder.feed(ConstByteSpan{header, size});
  CHECK_EQUAL(size, r.consumed);
  if (error != nullptr) *error = decoder.error();
  return r.status;
}

}  // namespace

TEST_GROUP(MqttDecoder) {
  Decoder<> decoder;
  GoldenStream stream;
};

TEST(MqttDecoder, EveryGoldenPacketDecodesToItsValues) {
  std::size_t count = 0;
  const test::MqttGoldenVector* v = test::mqtt_golden_vectors(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint8_t bytes[64];
    const std::size_t n = test::parse_hex(v[i].hex, bytes, sizeof bytes);
    decoder.reset();
    const DecoderBase::Result r = decoder.feed(ConstByteSpan{bytes, n});
    CHECK_TEXT(r.status == DecodeStatus::frame_ready, v[i].name);
    CHECK_EQUAL_TEXT(n, r.consumed, v[i].name);
    CHECK_TEXT(test::same_packet(v[i].packet, decoder.packet()), v[i].name);
    CHECK_FALSE(decoder.mid_packet());
  }
}

TEST(MqttDecoder, AStreamOfEveryGoldenPacketDecodesInOneFeed) {
  CHECK_EQUAL(stream.packets, feed_and_check(decoder, ConstByteSpan{stream.bytes, stream.size}, 0));
}

TEST(MqttDecoder, AStreamFedOneByteAtATimeYieldsEveryPacket) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < stream.size; ++i) {
    seen = feed_and_check(decoder, ConstByteSpan{stream.bytes + i, 1}, seen);
    // The last byte of a packet completes it; every other byte leaves it open.
  }
  CHECK_EQUAL(stream.packets, seen);
  CHECK_FALSE(decoder.mid_packet());
}

TEST(MqttDecoder, AStreamSplitAtEveryPointYieldsEveryPacket) {
  for (std::size_t cut = 0; cut <= stream.size; ++cut) {
    decoder.reset();
    std::size_t seen = feed_and_check(decoder, ConstByteSpan{stream.bytes, cut}, 0);
    seen = feed_and_check(decoder, ConstByteSpan{stream.bytes + cut, stream.size - cut}, seen);
    CHECK_EQUAL(stream.packets, seen);
  }
}

TEST(MqttDecoder, AStreamSplitAtEveryPairOfPointsYieldsEveryPacket) {
  for (std::size_t a = 0; a <= stream.size; ++a) {
    for (std::size_t b = a; b <= stream.size; ++b) {
      decoder.reset();
      std::size_t seen = feed_and_check(decoder, ConstByteSpan{stream.bytes, a}, 0);
      seen = feed_and_check(decoder, ConstByteSpan{stream.bytes + a, b - a}, seen);
      seen = feed_and_check(decoder, ConstByteSpan{stream.bytes + b, stream.size - b}, seen);
      CHECK_EQUAL(stream.packets, seen);
    }
  }
}

TEST(MqttDecoder, FeedStopsRightAfterEachPacket) {
  const DecoderBase::Result r = decoder.feed(ConstByteSpan{stream.bytes, stream.size});
  CHECK(r.status == DecodeStatus::frame_ready);
  CHECK_EQUAL(4u, r.consumed);  // the first CONNACK only
  CHECK(decoder.packet().type == PacketType::connack);
}

TEST(MqttDecoder, MidPacketIsTrueBetweenTheFirstAndTheLastByte) {
  const std::uint8_t puback[] = {0x40, 0x02, 0x00, 0x0a};
  for (std::size_t i = 0; i < sizeof puback; ++i) {
    CHECK_EQUAL(i != 0, decoder.mid_packet());
    (void)decoder.feed(ConstByteSpan{puback + i, 1});
  }
  CHECK_FALSE(decoder.mid_packet());
}

// Spec 2.2.3, table 2.4: the smallest and largest value of each length.
TEST(MqttDecoder, RemainingLengthsOfTheSpecificationDecodeToTheirValues) {
  struct Case {
    std::size_t value;
    std::uint8_t bytes[4];
    std::size_t size;
  };
  const Case cases[] = {{0, {0x00}, 1},
                        {127, {0x7F}, 1},
                        {128, {0x80, 0x01}, 2},
                        {16383, {0xFF, 0x7F}, 2},
                        {16384, {0x80, 0x80, 0x01}, 3},
                        {2097151, {0xFF, 0xFF, 0x7F}, 3},
                        {2097152, {0x80, 0x80, 0x80, 0x01}, 4},
                        {268435455, {0xFF, 0xFF, 0xFF, 0x7F}, 4}};
  for (const Case& c : cases) {
    if (c.value < 3) continue;  // a PUBLISH at QoS 0 needs 3 bytes; 0 is checked with PINGRESP below
    std::uint8_t header[5] = {0x30};
    std::memcpy(header + 1, c.bytes, c.size);
    const std::size_t packet = 1 + c.size + c.value;
    std::error_code ec;
    CHECK(header_status(packet, header, 1 + c.size) == DecodeStatus::need_more);
    CHECK(header_status(packet - 1, header, 1 + c.size, &ec) == DecodeStatus::error);
    CHECK(ec == uplink::Errc::frame_too_large);
  }
  const std::uint8_t pingresp[] = {0xD0, 0x00};
  CHECK(header_status(16, pingresp, 2) == DecodeStatus::frame_ready);
}

TEST(MqttDecoder, NonMinimalRemainingLengthsAreAcceptedAsMqtt311Allows) {
  // 0 in two and in four bytes; 2 in two bytes (PUBACK).
  for (const char* hex : {"d0 80 00", "d0 80 80 80 00", "40 82 00 00 0a"}) {
    std::uint8_t bytes[8];
    const std::size_t n = test::parse_hex(hex, bytes, sizeof bytes);
    decoder.reset();
    const DecoderBase::Result r = decoder.feed(ConstByteSpan{bytes, n});
    CHECK_TEXT(r.status == DecodeStatus::frame_ready, hex);
    CHECK_EQUAL_TEXT(n, r.consumed, hex);
  }
}

TEST(MqttDecoder, AFifthRemainingLengthByteIsRefusedAtTheFourth) {
  std::size_t consumed = 0;
  CHECK(error_of("30 ff ff ff ff 7f", &consumed) == MqttErrc::remaining_length_too_long);
  CHECK_EQUAL(5u, consumed);  // the type byte and four length bytes: the fifth is never read
  CHECK(error_of("d0 80 80 80 80 00") == MqttErrc::remaining_length_too_long);
}

TEST(MqttDecoder, APacketOverTheMaximumIsRefusedFromItsHeaderBeforeItsBody) {
  Decoder<64> small;
  // 1 + 1 + 62 = 64 bytes: accepted.
  std::uint8_t fits[64] = {0x30, 62, 0x00, 0x01, 'a'};
  DecoderBase::Result r = small.feed(ConstByteSpan{fits, sizeof fits});
  CHECK(r.status == DecodeStatus::frame_ready);
  CHECK_EQUAL(64u, r.consumed);
  CHECK_EQUAL(59u, small.packet().publish.payload.size);
  // 1 + 1 + 63 = 65 bytes: refused after the length byte, no body byte taken.
  const std::uint8_t too_large[] = {0x30, 63, 0x00, 0x01, 'a', 0, 0, 0};
  r = small.feed(ConstByteSpan{too_large, sizeof too_large});
  CHECK(r.status == DecodeStatus::error);
  CHECK_EQUAL(2u, r.consumed);
  CHECK(small.error() == uplink::Errc::frame_too_large);
  CHECK_EQUAL(64u, small.max_packet_size());
  // The largest length MQTT can state, refused the same way.
  std::size_t consumed = 0;
  CHECK(error_of("30 ff ff ff 7f", &consumed) == uplink::Errc::frame_too_large);
  CHECK_EQUAL(5u, consumed);
}

TEST(MqttDecoder, ReservedPacketTypesAreRefusedAtTheFirstByte) {
  for (const char* hex : {"00 00", "f0 00"}) {
    std::size_t consumed = 0;
    CHECK_TEXT(error_of(hex, &consumed) == MqttErrc::reserved_packet_type, hex);
    CHECK_EQUAL(1u, consumed);
  }
}

TEST(MqttDecoder, PacketsAServerNeverSendsAClientAreRefused) {
  // CONNECT, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT.
  for (const char* hex : {"10 00", "50 02 00 01", "62 02 00 01", "70 02 00 01", "82 00", "a2 00", "c0 00", "e0 00"}) {
    CHECK_TEXT(error_of(hex) == MqttErrc::unexpected_packet_type, hex);
  }
}

TEST(MqttDecoder, ReservedFlagBitsAreCheckedPerType) {
  for (const char* hex : {"21 02 00 00", "28 02 00 00", "41 02 00 01", "92 03 00 01 00", "b4 02 00 01", "d1 00"}) {
    CHECK_TEXT(error_of(hex) == MqttErrc::invalid_flags, hex);
  }
}

TEST(MqttDecoder, PublishQosAndDupFlagsAreChecked) {
  CHECK(error_of("36 05 00 03 61 2f 62") == MqttErrc::invalid_qos);
  CHECK(error_of("3e 05 00 03 61 2f 62") == MqttErrc::invalid_qos);
  CHECK(error_of("34 07 00 03 61 2f 62 00 01") == MqttErrc::qos2_not_supported);
  CHECK(error_of("38 05 00 03 61 2f 62") == MqttErrc::dup_on_qos0);
  CHECK(error_of("39 05 00 03 61 2f 62") == MqttErrc::dup_on_qos0);
}

TEST(MqttDecoder, ARemainingLengthThatDoesNotFitTheTypeIsRefusedBeforeTheBody) {
  struct Case {
    const char* hex;
    std::size_t consumed;
  };
  const Case cases[] = {
      {"20 03 00 00 00", 2},  // CONNACK is 2
      {"20 01 00", 2},
      {"40 03 00 01 00", 2},  // PUBACK is 2
      {"b0 00", 2},           // UNSUBACK is 2
      {"d0 01 00", 2},        // PINGRESP is 0
      {"90 02 00 01", 2},     // SUBACK needs a return code
      {"30 02 00 00", 2},     // PUBLISH needs a topic of one byte
      {"32 04 00 01 61 00", 2},  // and a packet identifier at QoS 1
  };
  for (const Case& c : cases) {
    std::size_t consumed = 0;
    CHECK_TEXT(error_of(c.hex, &consumed) == MqttErrc::invalid_remaining_length, c.hex);
    CHECK_EQUAL_TEXT(c.consumed, consumed, c.hex);
  }
}

TEST(MqttDecoder, AFieldRunningPastThePacketIsRefused) {
  CHECK(error_of("30 03 00 05 61") == MqttErrc::truncated_field);           // topic of 5 in 1 byte
  CHECK(error_of("32 05 00 03 61 2f 62") == MqttErrc::truncated_field);     // no room left for the packet id
  CHECK(error_of("32 06 00 03 61 2f 62 00") == MqttErrc::truncated_field);  // half a packet id
}

TEST(MqttDecoder, ConnackRulesAreChecked) {
  CHECK(error_of("20 02 02 00") == MqttErrc::invalid_connack_flags);
  CHECK(error_of("20 02 80 00") == MqttErrc::invalid_connack_flags);
  CHECK(error_of("20 02 01 05") == MqttErrc::session_present_on_refusal);
  CHECK(error_of("20 02 00 06") == MqttErrc::unknown_connack_return_code);
  CHECK(error_of("20 02 00 ff") == MqttErrc::unknown_connack_return_code);
}

TEST(MqttDecoder, PacketIdentifierZeroIsRefused) {
  for (const char* hex : {"40 02 00 00", "b0 02 00 00", "90 03 00 00 01", "32 07 00 03 61 2f 62 00 00"}) {
    CHECK_TEXT(error_of(hex) == MqttErrc::zero_packet_id, hex);
  }
}

TEST(MqttDecoder, SubackReturnCodesOtherThanGrantedOrFailureAreRefused) {
  for (const char* hex : {"90 03 00 01 03", "90 03 00 01 81", "90 04 00 01 00 7f"}) {
    CHECK_TEXT(error_of(hex) == MqttErrc::invalid_suback_return_code, hex);
  }
}

TEST(MqttDecoder, TopicNamesMustBeWellFormedUtf8WithoutNull) {
  for (const char* hex : {"30 04 00 02 61 00",            // U+0000
                          "30 05 00 03 ed a0 80",         // a surrogate
                          "30 04 00 02 c0 af",            // overlong '/'
                          "30 05 00 03 e2 82 61",         // a three-byte sequence cut short
                          "30 03 00 01 80"}) {            // a lone continuation byte
    CHECK_TEXT(error_of(hex) == MqttErrc::invalid_utf8, hex);
  }
}

TEST(MqttDecoder, TopicNamesMustBeNonEmptyAndFreeOfWildcards) {
  for (const char* hex : {"30 03 00 00 61", "30 05 00 03 61 2f 2b", "30 05 00 03 61 2f 23", "30 03 00 01 23"}) {
    CHECK_TEXT(error_of(hex) == MqttErrc::invalid_topic, hex);
  }
}

TEST(MqttDecoder, AFailedDecoderStaysFailedUntilReset) {
  const std::uint8_t bad[] = {0xF0, 0x00};
  DecoderBase::Result r = decoder.feed(ConstByteSpan{bad, sizeof bad});
  CHECK(r.status == DecodeStatus::error);
  CHECK_EQUAL(1u, r.consumed);
  const std::uint8_t good[] = {0xD0, 0x00};
  r = decoder.feed(ConstByteSpan{good, sizeof good});
  CHECK(r.status == DecodeStatus::error);
  CHECK_EQUAL(0u, r.consumed);
  CHECK(decoder.error() == MqttErrc::reserved_packet_type);
  decoder.reset();
  CHECK_FALSE(decoder.error());
  r = decoder.feed(ConstByteSpan{good, sizeof good});
  CHECK(r.status == DecodeStatus::frame_ready);
}

TEST(MqttDecoder, ResetDropsAPartialPacket) {
  const std::uint8_t partial[] = {0x32, 0x09, 0x00};
  (void)decoder.feed(ConstByteSpan{partial, sizeof partial});
  CHECK(decoder.mid_packet());
  decoder.reset();
  CHECK_FALSE(decoder.mid_packet());
  const std::uint8_t pingresp[] = {0xD0, 0x00};
  CHECK(decoder.feed(ConstByteSpan{pingresp, sizeof pingresp}).status == DecodeStatus::frame_ready);
  CHECK(decoder.packet().type == PacketType::pingresp);
}

TEST(MqttDecoder, PacketFieldsOfAnEarlierPacketDoNotLeakIntoALaterOne) {
  const std::uint8_t bytes[] = {0x40, 0x02, 0x00, 0x0a, 0xD0, 0x00, 0x30, 0x04, 0x00, 0x01, 'x', 'y'};
  ConstByteSpan in{bytes, sizeof bytes};
  DecoderBase::Result r = decoder.feed(in);
  CHECK_EQUAL(10, decoder.packet().packet_id);
  in = in.subspan(r.consumed);
  r = decoder.feed(in);
  CHECK(decoder.packet().type == PacketType::pingresp);
  CHECK_EQUAL(0, decoder.packet().packet_id);
  in = in.subspan(r.consumed);
  r = decoder.feed(in);
  CHECK(decoder.packet().type == PacketType::publish);
  CHECK_EQUAL(0, decoder.packet().packet_id);
  CHECK_EQUAL(0, decoder.packet().publish.packet_id);
  CHECK(equal_bytes(literal_bytes("y"), decoder.packet().publish.payload));
}

TEST(MqttDecoder, ParsePacketBodyChecksWhatTheDecoderChecks) {
  Packet packet;
  const std::uint8_t body[] = {0x00, 0x0a};
  CHECK_FALSE(parse_packet_body(0x40, ConstByteSpan{body, sizeof body}, packet));
  CHECK_EQUAL(10, packet.packet_id);
  CHECK(parse_packet_body(0x41, ConstByteSpan{body, sizeof body}, packet) == MqttErrc::invalid_flags);
  CHECK(parse_packet_body(0xD0, ConstByteSpan{body, sizeof body}, packet) == MqttErrc::invalid_remaining_length);
  CHECK(parse_packet_body(0xF0, ConstByteSpan{}, packet) == MqttErrc::reserved_packet_type);
}

TEST_GROUP(MqttError) {};

TEST(MqttError, EveryCodeHasANameAndAMessageInItsOwnCategory) {
  for (int value = static_cast<int>(MqttErrc::remaining_length_too_long); value <= static_cast<int>(MqttErrc::not_authorized);
       ++value) {
    const std::error_code ec = make_error_code(static_cast<MqttErrc>(value));
    STRCMP_EQUAL("uplink.mqtt", ec.category().name());
    STRCMP_CONTAINS("MQTT", ec.message().c_str());
    CHECK(std::strcmp("unknown", errc_name(static_cast<MqttErrc>(value))) != 0);
  }
  STRCMP_EQUAL("invalid_flags", errc_name(MqttErrc::invalid_flags));
  STRCMP_EQUAL("unknown", errc_name(static_cast<MqttErrc>(999)));
  CHECK(make_error_code(MqttErrc::invalid_flags) != make_error_code(uplink::Errc::reserved_flags_set));
}

TEST(MqttError, ConnackReturnCodesMapToRefusals) {
  CHECK_FALSE(connack_error(ConnectReturnCode::accepted));
  CHECK(connack_error(ConnectReturnCode::unacceptable_protocol_version) == MqttErrc::unacceptable_protocol_version);
  CHECK(connack_error(ConnectReturnCode::identifier_rejected) == MqttErrc::identifier_rejected);
  CHECK(connack_error(ConnectReturnCode::server_unavailable) == MqttErrc::server_unavailable);
  CHECK(connack_error(ConnectReturnCode::bad_username_or_password) == MqttErrc::bad_username_or_password);
  CHECK(connack_error(ConnectReturnCode::not_authorized) == MqttErrc::not_authorized);
  CHECK(connack_error(static_cast<ConnectReturnCode>(6)) == MqttErrc::unknown_connack_return_code);
}

TEST(MqttError, PacketTypesHaveNames) {
  STRCMP_EQUAL("CONNACK", packet_type_name(PacketType::connack));
  STRCMP_EQUAL("DISCONNECT", packet_type_name(PacketType::disconnect));
  STRCMP_EQUAL("UNKNOWN", packet_type_name(static_cast<PacketType>(15)));
}
