// SPDX-License-Identifier: Apache-2.0
// MQTT 3.1.1 encoder: the examples of the specification byte for byte
// (remaining lengths, CONNECT's variable header, PUBLISH, SUBSCRIBE,
// UNSUBSCRIBE), every refusal, and "all or nothing" at every buffer size.
#include <cstdint>
#include <cstring>

#include "support/golden_vectors.hpp"
#include "uplink/codec/mqtt_decoder.hpp"
#include "uplink/codec/mqtt_encoder.hpp"
#include "uplink/codec/mqtt_error.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::mqtt;
using MqttErrc = uplink::mqtt::Errc;

namespace {

// Checks that `r` wrote exactly the bytes of `hex` into `out`.
void check_bytes(const EncodeResult& r, const std::uint8_t* out, const char* hex) {
  std::uint8_t expected[256];
  const std::size_t n = test::parse_hex(hex, expected, sizeof expected);
  CHECK_TEXT(!r.error, r.error.message().c_str());
  CHECK_EQUAL_TEXT(n, r.size, hex);
  MEMCMP_EQUAL(expected, out, n);
}

// Encodes with every buffer shorter than the packet: each refused with
// buffer_too_small and nothing written; then the exact size succeeds.
template <typename Encode>
void check_all_or_nothing(Encode&& encode, std::size_t size) {
  std::uint8_t out[512];
  for (std::size_t room = 0; room < size; ++room) {
    std::memset(out, 0xEE, sizeof out);
    const EncodeResult r = encode(ByteSpan{out, room});
    CHECK(r.error == uplink::Errc::buffer_too_small);
    CHECK_EQUAL(0u, r.size);
    for (std::uint8_t b : out) CHECK_EQUAL(0xEE, b);
  }
  CHECK_EQUAL(size, encode(ByteSpan{out, size}).size);
}

Connect spec_connect() {
  // The flags of spec 3.1.2.11's example (figure 3.6): user name, password,
  // will at QoS 1, clean session; keep alive 10.
  Connect c;
  c.client_id = literal_bytes("pi-0001");
  c.clean_session = true;
  c.keepalive_s = 10;
  c.has_will = true;
  c.will.topic = literal_bytes("a/b");
  c.will.message = literal_bytes("bye");
  c.will.qos = Qos::at_least_once;
  c.has_username = true;
  c.username = literal_bytes("user");
  c.has_password = true;
  c.password = literal_bytes("pass");
  return c;
}

const char* const kSpecConnect =
    "10 29"                          // CONNECT, remaining length 41
    " 00 04 4d 51 54 54 04 ce 00 0a"  // figure 3.6: "MQTT", level 4, flags 0xCE, keep alive 10
    " 00 07 70 69 2d 30 30 30 31"     // client id "pi-0001"
    " 00 03 61 2f 62 00 03 62 79 65"  // will topic "a/b", will message "bye"
    " 00 04 75 73 65 72 00 04 70 61 73 73";  // user name "user", password "pass"

const TopicFilter kSpecFilters[] = {{literal_bytes("a/b"), Qos::at_least_once}, {literal_bytes("c/d"), Qos::exactly_once}};

}  // namespace

TEST_GROUP(MqttEncoder) {
  std::uint8_t out[512] = {};
  ByteSpan buffer{out, sizeof out};
};

// Spec 2.2.3, table 2.4.
TEST(MqttEncoder, RemainingLengthsMatchTheSpecificationTable) {
  struct Case {
    std::size_t value;
    const char* hex;
  };
  const Case cases[] = {{0, "00"},          {127, "7f"},         {128, "80 01"},
                        {16383, "ff 7f"},   {16384, "80 80 01"}, {2097151, "ff ff 7f"},
                        {2097152, "80 80 80 01"}, {268435455, "ff ff ff 7f"}};
  for (const Case& c : cases) {
    check_bytes(encode_remaining_length(c.value, buffer), out, c.hex);
    CHECK_EQUAL(encode_remaining_length(c.value, buffer).size, remaining_length_size(c.value));
  }
  CHECK(encode_remaining_length(268435456, buffer).error == uplink::Errc::field_too_long);
  CHECK_EQUAL(0u, remaining_length_size(268435456));
  CHECK(encode_remaining_length(16384, ByteSpan{out, 2}).error == uplink::Errc::buffer_too_small);
}

TEST(MqttEncoder, ConnectCarriesTheVariableHeaderOfTheSpecificationExample) {
  const Connect c = spec_connect();
  check_bytes(encode(c, buffer), out, kSpecConnect);
  CHECK_EQUAL(43u, encoded_size(c));
  check_all_or_nothing([&](ByteSpan b) { return encode(c, b); }, 43);
}

TEST(MqttEncoder, ConnectWithoutOptionsAndAPersistentSession) {
  Connect c;
  c.client_id = literal_bytes("d");
  c.keepalive_s = 60;
  check_bytes(encode(c, buffer), out, "10 0d 00 04 4d 51 54 54 04 00 00 3c 00 01 64");
}

TEST(MqttEncoder, ConnectFlagsFollowEachOption) {
  Connect c;
  c.client_id = literal_bytes("d");
  c.clean_session = true;
  c.has_username = true;  // an empty user name is still sent
  c.has_will = true;
  c.will.topic = literal_bytes("w");
  c.will.qos = Qos::exactly_once;
  c.will.retain = true;
  check_bytes(encode(c, buffer), out,
              "10 14 00 04 4d 51 54 54 04 b6 00 00 00 01 64 00 01 77 00 00 00 00");
}

TEST(MqttEncoder, ConnectWithAnEmptyClientIdNeedsACleanSession) {
  Connect c;
  c.clean_session = true;
  check_bytes(encode(c, buffer), out, "10 0c 00 04 4d 51 54 54 04 02 00 00 00 00");
  c.clean_session = false;
  CHECK(encode(c, buffer).error == MqttErrc::invalid_client_id);
}

TEST(MqttEncoder, ConnectRefusesInvalidFields) {
  Connect c = spec_connect();
  c.client_id = ConstByteSpan{"\xC0\xAF", 2};
  CHECK(encode(c, buffer).error == MqttErrc::invalid_client_id);

  c = spec_connect();
  c.has_username = false;
  CHECK(encode(c, buffer).error == MqttErrc::password_without_username);

  c = spec_connect();
  c.username = ConstByteSpan{"a\0b", 3};
  CHECK(encode(c, buffer).error == MqttErrc::invalid_utf8);

  c = spec_connect();
  c.will.topic = literal_bytes("a/+");
  CHECK(encode(c, buffer).error == MqttErrc::invalid_topic);

  c = spec_connect();
  c.will.qos = static_cast<Qos>(3);
  CHECK(encode(c, buffer).error == MqttErrc::invalid_qos);

  static std::uint8_t big[65536];
  c = spec_connect();
  c.password = ConstByteSpan{big, sizeof big};
  CHECK(encode(c, buffer).error == uplink::Errc::field_too_long);
  c.password = ConstByteSpan{big, 65535};  // the longest allowed
  static std::uint8_t large_out[70000];
  CHECK_FALSE(encode(c, ByteSpan{large_out, sizeof large_out}).error);
}

// Spec 3.3.2.3, figure 3.11: topic "a/b", packet identifier 10.
TEST(MqttEncoder, PublishAtQos1MatchesTheSpecificationExample) {
  Publish p;
  p.topic = literal_bytes("a/b");
  p.qos = Qos::at_least_once;
  p.packet_id = 10;
  p.payload = literal_bytes("hi");
  check_bytes(encode(p, buffer), out, "32 09 00 03 61 2f 62 00 0a 68 69");
  CHECK_EQUAL(11u, encoded_size(p, 2));
  check_all_or_nothing([&](ByteSpan b) { return encode(p, b); }, 11);
  p.dup = true;
  p.retain = true;
  check_bytes(encode(p, buffer), out, "3b 09 00 03 61 2f 62 00 0a 68 69");
}

TEST(MqttEncoder, PublishAtQos0HasNoPacketIdentifier) {
  Publish p;
  p.topic = literal_bytes("a/b");
  p.payload = literal_bytes("hi");
  check_bytes(encode(p, buffer), out, "30 07 00 03 61 2f 62 68 69");
}

TEST(MqttEncoder, PublishHeaderLeavesRoomForAPayloadWrittenByTheCaller) {
  Publish p;
  p.topic = literal_bytes("a/b");
  p.qos = Qos::at_least_once;
  p.packet_id = 0x1234;
  // 200 payload bytes: a two-byte remaining length (207 = 0xcf 0x01).
  const EncodeResult r = encode_publish_header(p, 200, buffer);
  check_bytes(r, out, "32 cf 01 00 03 61 2f 62 12 34");
  CHECK_EQUAL(210u, encoded_size(p, 200));
  // The whole packet must fit, not only its header.
  CHECK(encode_publish_header(p, 200, ByteSpan{out, 209}).error == uplink::Errc::buffer_too_small);
  CHECK_FALSE(encode_publish_header(p, 200, ByteSpan{out, 210}).error);
  CHECK(encode_publish_header(p, kMaxRemainingLength, buffer).error == uplink::Errc::field_too_long);
  CHECK(encode_publish_header(p, static_cast<std::size_t>(-1), buffer).error == uplink::Errc::field_too_long);
  CHECK_EQUAL(0u, encoded_size(p, static_cast<std::size_t>(-1)));
}

TEST(MqttEncoder, PublishRefusesWhatTheSpecificationForbids) {
  Publish p;
  p.topic = literal_bytes("a/b");
  p.qos = Qos::exactly_once;
  p.packet_id = 1;
  CHECK(encode(p, buffer).error == MqttErrc::qos2_not_supported);
  p.qos = static_cast<Qos>(3);
  CHECK(encode(p, buffer).error == MqttErrc::invalid_qos);
  p.qos = Qos::at_most_once;
  p.dup = true;
  CHECK(encode(p, buffer).error == MqttErrc::dup_on_qos0);
  p.dup = false;
  p.qos = Qos::at_least_once;
  p.packet_id = 0;
  CHECK(encode(p, buffer).error == MqttErrc::zero_packet_id);
  p.packet_id = 1;
  for (const char* topic : {"a/+", "#", ""}) {
    p.topic = ConstByteSpan{topic, std::strlen(topic)};
    CHECK_TEXT(encode(p, buffer).error == MqttErrc::invalid_topic, topic);
  }
  p.topic = ConstByteSpan{"a\xFF", 2};
  CHECK(encode(p, buffer).error == MqttErrc::invalid_utf8);
}

TEST(MqttEncoder, EncodedPublishesDecodeToTheSameValues) {
  Publish p;
  p.topic = literal_bytes("devices/pi-0001/down");
  p.qos = Qos::at_least_once;
  p.packet_id = 65535;
  p.dup = true;
  p.payload = literal_bytes("payload");
  const EncodeResult r = encode(p, buffer);
  Decoder<> decoder;
  CHECK(decoder.feed(ConstByteSpan{out, r.size}).status == DecodeStatus::frame_ready);
  const Publish& q = decoder.packet().publish;
  CHECK(equal_bytes(p.topic, q.topic));
  CHECK(equal_bytes(p.payload, q.payload));
  CHECK_EQUAL(65535, q.packet_id);
  CHECK(q.qos == Qos::at_least_once && q.dup && !q.retain);
}

TEST(MqttEncoder, PubackCarriesThePacketIdentifier) {
  check_bytes(encode_puback(10, buffer), out, "40 02 00 0a");
  check_bytes(encode_puback(0xBEEF, buffer), out, "40 02 be ef");
  CHECK(encode_puback(0, buffer).error == MqttErrc::zero_packet_id);
  check_all_or_nothing([](ByteSpan b) { return encode_puback(1, b); }, 4);
}

// Spec 3.8.2.1 (figure 3.21) and 3.8.3.1 (figure 3.22).
TEST(MqttEncoder, SubscribeMatchesTheSpecificationExample) {
  const Subscribe s{10, kSpecFilters, 2};
  check_bytes(encode(s, buffer), out, "82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 64 02");
  CHECK_EQUAL(16u, encoded_size(s));
  check_all_or_nothing([&](ByteSpan b) { return encode(s, b); }, 16);
}

// Spec 3.10.3.1 (figure 3.30).
TEST(MqttEncoder, UnsubscribeMatchesTheSpecificationExample) {
  const Subscribe s{10, kSpecFilters, 2};
  check_bytes(encode_unsubscribe(s, buffer), out, "a2 0c 00 0a 00 03 61 2f 62 00 03 63 2f 64");
}

TEST(MqttEncoder, SubscribeRefusesEmptyAndInvalidFilters) {
  CHECK(encode(Subscribe{10, kSpecFilters, 0}, buffer).error == MqttErrc::empty_subscription);
  CHECK(encode(Subscribe{10, nullptr, 1}, buffer).error == MqttErrc::empty_subscription);
  CHECK(encode_unsubscribe(Subscribe{10, kSpecFilters, 0}, buffer).error == MqttErrc::empty_subscription);
  CHECK(encode(Subscribe{0, kSpecFilters, 2}, buffer).error == MqttErrc::zero_packet_id);
  for (const char* filter : {"a/#/b", "a+", "a/b#", ""}) {
    const TopicFilter f{ConstByteSpan{filter, std::strlen(filter)}, Qos::at_least_once};
    CHECK_TEXT(encode(Subscribe{1, &f, 1}, buffer).error == MqttErrc::invalid_topic, filter);
  }
  const TopicFilter bad_qos{literal_bytes("a"), static_cast<Qos>(3)};
  CHECK(encode(Subscribe{1, &bad_qos, 1}, buffer).error == MqttErrc::invalid_qos);
  // UNSUBSCRIBE sends no QoS, so none is checked.
  CHECK_FALSE(encode_unsubscribe(Subscribe{1, &bad_qos, 1}, buffer).error);
}

TEST(MqttEncoder, PingreqAndDisconnectAreTwoBytes) {
  check_bytes(encode_pingreq(buffer), out, "c0 00");
  check_bytes(encode_disconnect(buffer), out, "e0 00");
  check_all_or_nothing([](ByteSpan b) { return encode_pingreq(b); }, 2);
  check_all_or_nothing([](ByteSpan b) { return encode_disconnect(b); }, 2);
}
