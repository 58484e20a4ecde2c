// SPDX-License-Identifier: Apache-2.0
// Golden MQTT 3.1.1 packets (received side): bytes and the values they encode.
#include "support/mqtt_golden_vectors.hpp"

namespace uplink::test {
namespace {

using namespace uplink::mqtt;

Packet make(PacketType type, std::uint16_t packet_id = 0) {
  Packet p;
  p.type = type;
  p.packet_id = packet_id;
  return p;
}
Packet connack(bool session_present, ConnectReturnCode code) {
  Packet p = make(PacketType::connack);
  p.connack.session_present = session_present;
  p.connack.return_code = code;
  return p;
}
Packet publish(ConstByteSpan topic, ConstByteSpan payload, Qos qos, std::uint16_t id, bool dup, bool retain) {
  Packet p = make(PacketType::publish, id);
  p.publish.topic = topic;
  p.publish.payload = payload;
  p.publish.qos = qos;
  p.publish.packet_id = id;
  p.publish.dup = dup;
  p.publish.retain = retain;
  return p;
}
Packet suback(std::uint16_t id, ConstByteSpan codes) {
  Packet p = make(PacketType::suback, id);
  p.suback.return_codes = codes;
  return p;
}

const std::uint8_t kSubackCodes[] = {0x00, 0x01, 0x02, 0x80};
// Spec 1.5.3, figure 1.3: the string "A" U+2A6D4 (the character 𪛔).
const std::uint8_t kUtf8Topic[] = {0x41, 0xF0, 0xAA, 0x9B, 0x94};

const MqttGoldenVector kVectors[] = {
    // 3.2: CONNACK, accepted, no session; with a session (3.2.2.2); refused 5.
    {"connack_accepted", "20 02 00 00", connack(false, ConnectReturnCode::accepted)},
    {"connack_session_present", "20 02 01 00", connack(true, ConnectReturnCode::accepted)},
    {"connack_not_authorized", "20 02 00 05", connack(false, ConnectReturnCode::not_authorized)},
    {"connack_bad_username_or_password", "20 02 00 04", connack(false, ConnectReturnCode::bad_username_or_password)},
    // 3.3.2, figure 3.11: topic "a/b", packet identifier 10, at QoS 1 (payload "hi").
    {"publish_qos1_from_spec", "32 09 00 03 61 2f 62 00 0a 68 69",
     publish(literal_bytes("a/b"), literal_bytes("hi"), Qos::at_least_once, 10, false, false)},
    // The same message resent (DUP) and retained.
    {"publish_qos1_dup_retain", "3b 09 00 03 61 2f 62 00 0a 68 69",
     publish(literal_bytes("a/b"), literal_bytes("hi"), Qos::at_least_once, 10, true, true)},
    // QoS 0: no packet identifier; an empty payload.
    {"publish_qos0_empty_payload", "30 05 00 03 61 2f 62",
     publish(literal_bytes("a/b"), ConstByteSpan{}, Qos::at_most_once, 0, false, false)},
    // 1.5.3, figure 1.3's UTF-8 string as a topic name.
    {"publish_utf8_topic_from_spec", "30 07 00 05 41 f0 aa 9b 94",
     publish(ConstByteSpan{kUtf8Topic, sizeof kUtf8Topic}, ConstByteSpan{}, Qos::at_most_once, 0, false, false)},
    // 3.4: PUBACK of packet 10.
    {"puback", "40 02 00 0a", make(PacketType::puback, 10)},
    // 3.9.3, figure 3.26: SUBACK return codes 0, 1, 2 and failure 128 (packet 10).
    {"suback_from_spec", "90 06 00 0a 00 01 02 80", suback(10, ConstByteSpan{kSubackCodes, sizeof kSubackCodes})},
    // 3.11: UNSUBACK of packet 10.
    {"unsuback", "b0 02 00 0a", make(PacketType::unsuback, 10)},
    // 3.13: PINGRESP.
    {"pingresp", "d0 00", make(PacketType::pingresp)},
};

}  // namespace

const MqttGoldenVector* mqtt_golden_vectors(std::size_t& count) {
  count = sizeof kVectors / sizeof kVectors[0];
  return kVectors;
}

bool same_packet(const Packet& a, const Packet& b) {
  if (a.type != b.type || a.packet_id != b.packet_id) return false;
  switch (a.type) {
    case PacketType::connack:
      return a.connack.session_present == b.connack.session_present &&
             a.connack.return_code == b.connack.return_code;
    case PacketType::publish:
      return equal_bytes(a.publish.topic, b.publish.topic) && equal_bytes(a.publish.payload, b.publish.payload) &&
             a.publish.qos == b.publish.qos && a.publish.packet_id == b.publish.packet_id &&
             a.publish.dup == b.publish.dup && a.publish.retain == b.publish.retain;
    case PacketType::suback: return equal_bytes(a.suback.return_codes, b.suback.return_codes);
    default: return true;
  }
}

}  // namespace uplink::test
