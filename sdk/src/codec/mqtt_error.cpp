// SPDX-License-Identifier: Apache-2.0
// The "uplink.mqtt" std::error_category, and the names of packet types.
#include "uplink/codec/mqtt_error.hpp"

#include <cstddef>

#include "mqtt_fault.hpp"

namespace uplink::mqtt {
namespace {

// Names are packed into one string, each ended by its NUL, in the enum's
// order; the first stands for values outside it. A table of pointers would
// cost 4 bytes an entry plus, in a position-independent program, a
// relocation of 8 bytes an entry on armhf: every byte of the MQTT codec
// counts against its footprint budget, and a name is looked up only when
// something failed. The message is the name in words ("MQTT: invalid flags").
constexpr char kNames[] =
    "unknown\0"
    "remaining_length_too_long\0"
    "reserved_packet_type\0"
    "unexpected_packet_type\0"
    "invalid_flags\0"
    "invalid_qos\0"
    "qos2_not_supported\0"
    "dup_on_qos0\0"
    "invalid_remaining_length\0"
    "truncated_field\0"
    "invalid_connack_flags\0"
    "session_present_on_refusal\0"
    "unknown_connack_return_code\0"
    "zero_packet_id\0"
    "invalid_suback_return_code\0"
    "invalid_utf8\0"
    "invalid_topic\0"
    "invalid_client_id\0"
    "password_without_username\0"
    "empty_subscription\0"
    "invalid_topic_template\0"
    "invalid_envelope\0"
    "unacceptable_protocol_version\0"
    "identifier_rejected\0"
    "server_unavailable\0"
    "bad_username_or_password\0"
    "not_authorized";

// Names packed in `names` (each NUL-terminated, the last by the literal's own).
constexpr unsigned count_names(const char* names, std::size_t size) {
  unsigned count = 0;
  for (std::size_t i = 0; i < size; ++i) count += names[i] == '\0' ? 1 : 0;
  return count;
}
constexpr unsigned kNameCount = count_names(kNames, sizeof kNames);
static_assert(kNameCount == static_cast<unsigned>(Errc::not_authorized) + 1,
              "one name per mqtt::Errc, in order, after \"unknown\"");

// The name at `index` of the `count` packed in `names`; the first when `index` is out of range.
const char* nth_name(const char* names, unsigned count, int index) noexcept {
  for (int i = index > 0 && static_cast<unsigned>(index) < count ? index : 0; i > 0; --i) {
    while (*names++ != '\0') {
    }
  }
  return names;
}

const char* name_of(int value) noexcept { return nth_name(kNames, kNameCount, value); }

class MqttCategory final : public std::error_category {
 public:
  constexpr MqttCategory() noexcept = default;
  const char* name() const noexcept override { return "uplink.mqtt"; }
  std::string message(int value) const override {
    std::string text = "MQTT: ";
    for (const char* c = name_of(value); *c != '\0'; ++c) text += *c == '_' ? ' ' : *c;
    return text;
  }
};

// Constant-initialised (the constructors are constexpr): ready before any
// code runs, with no guard to test at every make_error_code(), no heap. And
// never destroyed (the union's destructor does nothing): an error_code may
// still be read by a destructor that runs at exit.
union ImmortalCategory {
  constexpr ImmortalCategory() noexcept : category() {}
  ~ImmortalCategory() {}
  MqttCategory category;
};
const ImmortalCategory kCategory;

}  // namespace

const std::error_category& error_category() noexcept { return kCategory.category; }

std::error_code to_error(Errc fault) noexcept { return fault == kNoFault ? std::error_code{} : make_error_code(fault); }

const char* errc_name(Errc e) noexcept { return name_of(static_cast<int>(e)); }

std::error_code connack_error(ConnectReturnCode code) noexcept {
  const auto value = static_cast<int>(code);
  if (value == 0) return {};
  if (value > 5) return make_error_code(Errc::unknown_connack_return_code);
  return make_error_code(static_cast<Errc>(static_cast<int>(Errc::unacceptable_protocol_version) + value - 1));
}

const char* packet_type_name(PacketType type) noexcept {
  // Packed as the error names are, indexed by the wire value (0 stands for any unknown one).
  static constexpr char kPacketNames[] =
      "UNKNOWN\0CONNECT\0CONNACK\0PUBLISH\0PUBACK\0PUBREC\0PUBREL\0PUBCOMP\0"
      "SUBSCRIBE\0SUBACK\0UNSUBSCRIBE\0UNSUBACK\0PINGREQ\0PINGRESP\0DISCONNECT";
  constexpr unsigned kPacketNameCount = count_names(kPacketNames, sizeof kPacketNames);
  static_assert(kPacketNameCount == static_cast<unsigned>(PacketType::disconnect) + 1,
                "one name per packet type, in wire order, after \"UNKNOWN\"");
  return nth_name(kPacketNames, kPacketNameCount, static_cast<int>(type));
}

}  // namespace uplink::mqtt
