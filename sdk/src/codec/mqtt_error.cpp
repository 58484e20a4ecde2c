// SPDX-License-Identifier: Apache-2.0
// The "uplink.mqtt" std::error_category, and the names of packet types.
#include "uplink/codec/mqtt_error.hpp"

namespace uplink::mqtt {
namespace {

struct ErrcInfo {
  const char* name;
  const char* message;
};

// Indexed by the enum's value; entry 0 stands for values outside it.
constexpr ErrcInfo kInfo[] = {
    {"unknown", "unknown MQTT codec error"},
    {"remaining_length_too_long", "MQTT remaining length longer than four bytes"},
    {"reserved_packet_type", "MQTT packet type 0 or 15 is reserved"},
    {"unexpected_packet_type", "MQTT packet type a client does not accept"},
    {"invalid_flags", "MQTT fixed header flags invalid for the packet type"},
    {"invalid_qos", "MQTT QoS 3 is invalid"},
    {"qos2_not_supported", "MQTT QoS 2 is not supported"},
    {"dup_on_qos0", "MQTT DUP flag set on a QoS 0 PUBLISH"},
    {"invalid_remaining_length", "MQTT remaining length does not fit the packet type"},
    {"truncated_field", "MQTT field runs past the end of the packet"},
    {"invalid_connack_flags", "MQTT CONNACK reserved flags set"},
    {"session_present_on_refusal", "MQTT CONNACK refuses with session present set"},
    {"unknown_connack_return_code", "MQTT CONNACK return code unknown"},
    {"zero_packet_id", "MQTT packet identifier 0"},
    {"invalid_suback_return_code", "MQTT SUBACK return code invalid"},
    {"invalid_utf8", "MQTT string not well-formed UTF-8"},
    {"invalid_topic", "MQTT topic name or filter invalid"},
    {"invalid_client_id", "MQTT client id invalid"},
    {"password_without_username", "MQTT password without a user name"},
    {"empty_subscription", "MQTT SUBSCRIBE or UNSUBSCRIBE without a topic filter"},
    {"invalid_topic_template", "MQTT topic template invalid"},
    {"invalid_envelope", "MQTT sequence envelope invalid"},
    {"unacceptable_protocol_version", "MQTT connection refused: unacceptable protocol version"},
    {"identifier_rejected", "MQTT connection refused: identifier rejected"},
    {"server_unavailable", "MQTT connection refused: server unavailable"},
    {"bad_username_or_password", "MQTT connection refused: bad user name or password"},
    {"not_authorized", "MQTT connection refused: not authorized"},
};

const ErrcInfo& info_of(int value) noexcept {
  const bool known = value > 0 && static_cast<unsigned>(value) < sizeof kInfo / sizeof kInfo[0];
  return kInfo[known ? value : 0];
}

class MqttCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "uplink.mqtt"; }
  std::string message(int value) const override { return info_of(value).message; }
};

}  // namespace

const std::error_category& error_category() noexcept {
  // A function-local static: constructed once, thread-safe, no heap.
  static const MqttCategory category;
  return category;
}

const char* errc_name(Errc e) noexcept { return info_of(static_cast<int>(e)).name; }

std::error_code connack_error(ConnectReturnCode code) noexcept {
  const auto value = static_cast<int>(code);
  if (value == 0) return {};
  if (value > 5) return make_error_code(Errc::unknown_connack_return_code);
  return make_error_code(static_cast<Errc>(static_cast<int>(Errc::unacceptable_protocol_version) + value - 1));
}

const char* packet_type_name(PacketType type) noexcept {
  constexpr const char* kNames[] = {"UNKNOWN", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
                                    "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",
                                    "DISCONNECT"};
  const auto value = static_cast<unsigned>(type);
  return kNames[value < sizeof kNames / sizeof kNames[0] ? value : 0];
}

}  // namespace uplink::mqtt
