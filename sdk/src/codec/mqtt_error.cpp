// SPDX-License-Identifier: Apache-2.0
// The "uplink.mqtt" std::error_category, and the names of packet types.
#include "uplink/codec/mqtt_error.hpp"

namespace uplink::mqtt {
namespace {

// Indexed by the enum's value; entry 0 stands for values outside it. The
// message is the name in words ("MQTT: invalid flags"): one string per code
// keeps the category small on the device (every byte of the MQTT codec
// counts against its footprint budget).
constexpr const char* kNames[] = {
    "unknown",
    "remaining_length_too_long",
    "reserved_packet_type",
    "unexpected_packet_type",
    "invalid_flags",
    "invalid_qos",
    "qos2_not_supported",
    "dup_on_qos0",
    "invalid_remaining_length",
    "truncated_field",
    "invalid_connack_flags",
    "session_present_on_refusal",
    "unknown_connack_return_code",
    "zero_packet_id",
    "invalid_suback_return_code",
    "invalid_utf8",
    "invalid_topic",
    "invalid_client_id",
    "password_without_username",
    "empty_subscription",
    "invalid_topic_template",
    "invalid_envelope",
    "unacceptable_protocol_version",
    "identifier_rejected",
    "server_unavailable",
    "bad_username_or_password",
    "not_authorized",
};

const char* name_of(int value) noexcept {
  const bool known = value > 0 && static_cast<unsigned>(value) < sizeof kNames / sizeof kNames[0];
  return kNames[known ? value : 0];
}

class MqttCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "uplink.mqtt"; }
  std::string message(int value) const override {
    std::string text = "MQTT: ";
    for (const char* c = name_of(value); *c != '\0'; ++c) text += *c == '_' ? ' ' : *c;
    return text;
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  // A function-local static: constructed once, thread-safe, no heap.
  static const MqttCategory category;
  return category;
}

const char* errc_name(Errc e) noexcept { return name_of(static_cast<int>(e)); }

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
