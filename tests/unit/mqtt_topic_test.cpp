// SPDX-License-Identifier: Apache-2.0
// MQTT strings and topics: UTF-8 rules, topic names and filters (with the
// examples of spec 4.7), topic templates, and the sequence envelope.
#include <cstdint>
#include <cstring>
#include <string>

#include "uplink/codec/mqtt_envelope.hpp"
#include "uplink/codec/mqtt_error.hpp"
#include "uplink/codec/mqtt_topic.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::mqtt;
using MqttErrc = uplink::mqtt::Errc;

namespace {

ConstByteSpan text(const char* s) { return ConstByteSpan{s, std::strlen(s)}; }

}  // namespace

TEST_GROUP(MqttUtf8) {};

TEST(MqttUtf8, WellFormedTextOfEveryLengthIsAccepted) {
  CHECK_FALSE(check_utf8(ConstByteSpan{}));
  CHECK_FALSE(check_utf8(text("plain ascii ~")));
  CHECK_FALSE(check_utf8(text("A\xF0\xAA\x9B\x94")));       // spec figure 1.3: U+0041 U+2A6D4
  CHECK_FALSE(check_utf8(text("\xC3\xA9\xE2\x82\xAC")));     // U+00E9, U+20AC
  CHECK_FALSE(check_utf8(text("\xEF\xBB\xBF")));             // U+FEFF is allowed (spec 1.5.3)
  CHECK_FALSE(check_utf8(text("\xED\x9F\xBF\xEE\x80\x80")));  // U+D7FF and U+E000, around the surrogates
  CHECK_FALSE(check_utf8(text("\xF4\x8F\xBF\xBF")));         // U+10FFFF, the last code point
}

TEST(MqttUtf8, IllFormedTextAndNullAreRefused) {
  const char* const cases[] = {
      "\x80",              // a lone continuation byte
      "\xC0\xAF",          // overlong '/'
      "\xC1\xBF",          // overlong
      "\xE0\x80\xAF",      // overlong in three bytes
      "\xF0\x80\x80\xAF",  // overlong in four bytes
      "\xED\xA0\x80",      // U+D800, a surrogate
      "\xED\xBF\xBF",      // U+DFFF
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xF5\x80\x80\x80",  // no such lead byte
      "\xFF",
      "\xC3",              // cut short
      "\xE2\x82",
      "\xE2\x28\xA1",      // not a continuation byte
      "\xF0\x9F\x98",
  };
  for (const char* c : cases) CHECK_TEXT(check_utf8(text(c)) == MqttErrc::invalid_utf8, c);
  CHECK(check_utf8(ConstByteSpan{"a\0b", 3}) == MqttErrc::invalid_utf8);
}

TEST_GROUP(MqttTopic) {};

TEST(MqttTopic, TopicNamesAreNonEmptyWithoutWildcards) {
  CHECK_FALSE(check_topic_name(text("devices/pi-0001/up")));
  CHECK_FALSE(check_topic_name(text("/")));
  CHECK_FALSE(check_topic_name(text("$aws/things/pi/shadow/update")));
  for (const char* t : {"", "a/+", "+", "a/#", "a#b"}) CHECK_TEXT(check_topic_name(text(t)) == MqttErrc::invalid_topic, t);
  static std::uint8_t longest[65536];
  std::memset(longest, 'a', sizeof longest);
  CHECK_FALSE(check_topic_name(ConstByteSpan{longest, 65535}));
  CHECK(check_topic_name(ConstByteSpan{longest, 65536}) == MqttErrc::invalid_topic);
}

// Spec 4.7.1.2 and 4.7.1.3.
TEST(MqttTopic, TopicFiltersPlaceWildcardsAsTheSpecificationSays) {
  for (const char* f : {"sport/tennis/player1/#", "sport/#", "#", "+", "+/tennis/#", "sport/+/player1", "/+", "+/+",
                        "sport/tennis/#"}) {
    CHECK_FALSE_TEXT(check_topic_filter(text(f)), f);
  }
  for (const char* f : {"sport/tennis#", "sport/tennis/#/ranking", "sport+", "+a", "a/#/", "##", ""}) {
    CHECK_TEXT(check_topic_filter(text(f)) == MqttErrc::invalid_topic, f);
  }
  CHECK(check_topic_filter(text("a/\xC0\xAF")) == MqttErrc::invalid_utf8);
}

TEST_GROUP(MqttTopicTemplate) {
  char out[128] = {};
  ByteSpan buffer{reinterpret_cast<std::uint8_t*>(out), sizeof out};

  std::string expanded(const EncodeResult& r) const { return std::string(out, r.size); }
};

TEST(MqttTopicTemplate, TheDefaultTemplatesNameTheDevice) {
  EncodeResult r = expand_topic(literal_bytes(kDefaultUplinkTopic), text("pi-0001"), buffer);
  CHECK_FALSE(r.error);
  STRCMP_EQUAL("devices/pi-0001/up", expanded(r).c_str());
  r = expand_topic(literal_bytes(kDefaultDownlinkTopic), text("pi-0001"), buffer);
  STRCMP_EQUAL("devices/pi-0001/down", expanded(r).c_str());
}

TEST(MqttTopicTemplate, PlaceholdersMayRepeatOrBeAbsent) {
  EncodeResult r = expand_topic(text("{device_id}/x/{device_id}"), text("d"), buffer);
  STRCMP_EQUAL("d/x/d", expanded(r).c_str());
  r = expand_topic(text("fleet/all"), text("d"), buffer);
  STRCMP_EQUAL("fleet/all", expanded(r).c_str());
  r = expand_topic(text("$aws/things/{device_id}/shadow/update"), text("d"), buffer);
  STRCMP_EQUAL("$aws/things/d/shadow/update", expanded(r).c_str());
}

TEST(MqttTopicTemplate, UnknownPlaceholdersAndLoneBracesAreRefused) {
  for (const char* t : {"devices/{id}/up", "devices/{device_id/up", "devices/}", "{", "devices/{device_idx}"}) {
    CHECK_TEXT(expand_topic(text(t), text("d"), buffer).error == MqttErrc::invalid_topic_template, t);
  }
}

TEST(MqttTopicTemplate, TheResultMustBeAPublishableTopic) {
  CHECK(expand_topic(text("devices/+/up"), text("d"), buffer).error == MqttErrc::invalid_topic);
  CHECK(expand_topic(text("devices/#"), text("d"), buffer).error == MqttErrc::invalid_topic);
  CHECK(expand_topic(text(""), text("d"), buffer).error == MqttErrc::invalid_topic);
  CHECK(expand_topic(text("{device_id}"), text(""), buffer).error == MqttErrc::invalid_topic);
  CHECK(expand_topic(text("a/\xFF"), text("d"), buffer).error == MqttErrc::invalid_utf8);
}

TEST(MqttTopicTemplate, ADeviceIdMustStayOneLevelWithoutWildcards) {
  for (const char* id : {"a/b", "a+", "#", "/"}) {
    CHECK_TEXT(expand_topic(literal_bytes(kDefaultUplinkTopic), text(id), buffer).error == MqttErrc::invalid_topic, id);
  }
}

TEST(MqttTopicTemplate, TheBufferBoundsTheResult) {
  const std::size_t size = std::strlen("devices/pi-0001/up");
  CHECK_EQUAL(size, expand_topic(literal_bytes(kDefaultUplinkTopic), text("pi-0001"), ByteSpan{buffer.data, size}).size);
  std::memset(out, 0x55, sizeof out);
  const EncodeResult r = expand_topic(literal_bytes(kDefaultUplinkTopic), text("pi-0001"), ByteSpan{buffer.data, size - 1});
  CHECK(r.error == uplink::Errc::buffer_too_small);
  for (char c : out) CHECK_EQUAL(0x55, c);  // nothing written
  static std::uint8_t long_id[65536];
  std::memset(long_id, 'a', sizeof long_id);
  static std::uint8_t big[70000];
  CHECK(expand_topic(literal_bytes(kDefaultUplinkTopic), ConstByteSpan{long_id, 65530}, ByteSpan{big, sizeof big})
            .error == uplink::Errc::field_too_long);
}

TEST_GROUP(MqttEnvelope) {};

TEST(MqttEnvelope, TheSequenceNumberPrecedesThePayloadInNetworkOrder) {
  std::uint8_t bytes[16] = {};
  const EncodeResult r = encode_envelope(0x0102030405060708ULL, ByteSpan{bytes, sizeof bytes});
  CHECK_EQUAL(kEnvelopeSize, r.size);
  const std::uint8_t expected[] = {1, 2, 3, 4, 5, 6, 7, 8};
  MEMCMP_EQUAL(expected, bytes, sizeof expected);
  std::memcpy(bytes + 8, "hi", 2);
  Enveloped e;
  CHECK_FALSE(decode_envelope(ConstByteSpan{bytes, 10}, e));
  CHECK_EQUAL(0x0102030405060708ULL, e.seq);
  CHECK(equal_bytes(literal_bytes("hi"), e.payload));
  CHECK_FALSE(decode_envelope(ConstByteSpan{bytes, 8}, e));  // an empty payload
  CHECK_EQUAL(0u, e.payload.size);
}

TEST(MqttEnvelope, ShortPayloadsAndSequenceZeroAreRefused) {
  std::uint8_t bytes[8] = {};
  Enveloped e;
  CHECK(decode_envelope(ConstByteSpan{bytes, 7}, e) == MqttErrc::invalid_envelope);
  CHECK(decode_envelope(ConstByteSpan{bytes, 8}, e) == MqttErrc::invalid_envelope);  // seq 0
  CHECK(encode_envelope(0, ByteSpan{bytes, 8}).error == MqttErrc::invalid_envelope);
  CHECK(encode_envelope(1, ByteSpan{bytes, 7}).error == uplink::Errc::buffer_too_small);
}
