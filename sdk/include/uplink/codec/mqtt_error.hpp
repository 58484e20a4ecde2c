// SPDX-License-Identifier: Apache-2.0
// Error codes of the MQTT 3.1.1 codec and their std::error_category
// ("uplink.mqtt").
//
// What MQTT shares with the native protocol keeps uplink::Errc's codes
// (frame_too_large, buffer_too_small, field_too_long), so that the link can
// treat both wire formats alike; everything specific to MQTT is here, one
// code per malformed case, plus the five ways a server refuses CONNECT.
#pragma once

#include <system_error>

#include "uplink/codec/mqtt_packet.hpp"

namespace uplink::mqtt {

/// Errors of the MQTT codec. Zero is never used.
enum class Errc : int {
  // --- Malformed input (each closes the connection, spec 4.8) ---
  remaining_length_too_long = 1,  ///< The remaining length's fourth byte has its continuation bit set.
  reserved_packet_type,           ///< Packet type 0 or 15.
  unexpected_packet_type,         ///< A packet a server never sends a client, or a QoS 2 packet this client never asked for.
  invalid_flags,                  ///< Fixed-header flag bits other than those the spec fixes for the type.
  invalid_qos,                    ///< QoS 3 (both QoS bits set), or a QoS above 2.
  qos2_not_supported,             ///< A PUBLISH at QoS 2: this client speaks QoS 0 and 1 only.
  dup_on_qos0,                    ///< DUP set on a QoS 0 PUBLISH (spec 3.3.1.1).
  invalid_remaining_length,       ///< The remaining length does not fit the packet type.
  truncated_field,                ///< A length-prefixed field runs past the end of the packet.
  invalid_connack_flags,          ///< CONNACK's reserved acknowledge flag bits 7-1 are not zero.
  session_present_on_refusal,     ///< CONNACK with session present and a refusal code (spec 3.2.2.2).
  unknown_connack_return_code,    ///< CONNACK return code above 5.
  zero_packet_id,                 ///< A packet identifier of 0 (spec 2.3.1).
  invalid_suback_return_code,     ///< SUBACK return code other than 0x00, 0x01, 0x02, 0x80.
  invalid_utf8,                   ///< A string is not well-formed UTF-8 or holds U+0000 (spec 1.5.3).
  invalid_topic,                  ///< Empty topic, wildcard in a topic name, misplaced wildcard in a filter.
  // --- Refused by the encoder or the helpers ---
  invalid_client_id,              ///< Empty client id without clean session (spec 3.1.3.1), or not UTF-8.
  password_without_username,      ///< A password without a user name (spec 3.1.2.9).
  empty_subscription,             ///< SUBSCRIBE or UNSUBSCRIBE without a topic filter.
  invalid_topic_template,         ///< A topic template with an unknown {placeholder} or an unclosed brace.
  invalid_envelope,               ///< A payload too short for the 8-byte sequence envelope, or sequence 0.
  // --- CONNACK refusals (return codes 1..5) ---
  unacceptable_protocol_version,  ///< CONNACK 1: the server does not speak MQTT 3.1.1.
  identifier_rejected,            ///< CONNACK 2: the client id is refused.
  server_unavailable,             ///< CONNACK 3: the MQTT service is unavailable.
  bad_username_or_password,       ///< CONNACK 4: malformed user name or password.
  not_authorized,                 ///< CONNACK 5: the client is not authorized to connect.
};

/// The category of mqtt::Errc. Its name is "uplink.mqtt".
[[nodiscard]] const std::error_category& error_category() noexcept;

/// Makes a std::error_code from an mqtt::Errc (found by ADL).
[[nodiscard]] inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// Short stable name of an error (e.g. "invalid_flags"), or "unknown".
[[nodiscard]] const char* errc_name(Errc e) noexcept;

/// The error of a CONNACK return code: empty for `accepted`, the matching
/// refusal code for 1..5 (bad_username_or_password and not_authorized are
/// the two a profile reports as "unauthorized").
[[nodiscard]] std::error_code connack_error(ConnectReturnCode code) noexcept;

}  // namespace uplink::mqtt

namespace std {
template <>
struct is_error_code_enum<uplink::mqtt::Errc> : true_type {};
}  // namespace std
