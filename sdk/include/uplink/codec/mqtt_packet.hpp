// SPDX-License-Identifier: Apache-2.0
// The control packets of MQTT 3.1.1 that a client sends and receives, as
// plain values (OASIS MQTT Version 3.1.1, chapters 2 and 3).
//
// Only what a device needs: CONNECT, PUBLISH at QoS 0 and 1, PUBACK,
// SUBSCRIBE, UNSUBSCRIBE, PINGREQ and DISCONNECT out; CONNACK, PUBLISH at
// QoS 0 and 1, PUBACK, SUBACK, UNSUBACK and PINGRESP in. QoS 2 is refused
// both ways. Decoded packets hold views (ConstByteSpan) into the decoder's
// own buffer, so they are valid only until the decoder is fed again.
#pragma once

#include <cstddef>
#include <cstdint>

#include "uplink/config_defaults.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::mqtt {

/// Protocol level of MQTT 3.1.1, sent in CONNECT.
inline constexpr std::uint8_t kProtocolLevel = 4;
/// Largest remaining length the 1-4 byte encoding can carry (spec 2.2.3).
inline constexpr std::uint32_t kMaxRemainingLength = 268435455;
/// Longest fixed header: the type byte and four remaining-length bytes.
inline constexpr std::size_t kMaxFixedHeaderSize = 1 + 4;
/// Longest UTF-8 string or binary field (its length prefix is 16 bits).
inline constexpr std::size_t kMaxStringLength = 65535;
/// Largest packet (fixed header included) a Decoder accepts unless told otherwise.
inline constexpr std::size_t kDefaultMaxPacketSize = kMaxFrameSize;

/// Control packet types; the values are the wire values (bits 7-4 of byte 1).
enum class PacketType : std::uint8_t {
  connect = 1,       ///< Client to server: open a session.
  connack = 2,       ///< Server to client: answer to CONNECT.
  publish = 3,       ///< Either way: an application message.
  puback = 4,        ///< Either way: acknowledges a QoS 1 PUBLISH.
  pubrec = 5,        ///< QoS 2, first answer (never used by this client).
  pubrel = 6,        ///< QoS 2, release (never used by this client).
  pubcomp = 7,       ///< QoS 2, completion (never used by this client).
  subscribe = 8,     ///< Client to server: subscribe to topic filters.
  suback = 9,        ///< Server to client: answer to SUBSCRIBE.
  unsubscribe = 10,  ///< Client to server: drop subscriptions.
  unsuback = 11,     ///< Server to client: answer to UNSUBSCRIBE.
  pingreq = 12,      ///< Client to server: keep-alive request.
  pingresp = 13,     ///< Server to client: answer to PINGREQ.
  disconnect = 14,   ///< Client to server: orderly close, the will is discarded.
};

/// Stable upper-case name of a packet type ("CONNACK", ...), or "UNKNOWN".
[[nodiscard]] const char* packet_type_name(PacketType type) noexcept;

/// Quality of service; the values are the wire values.
enum class Qos : std::uint8_t {
  at_most_once = 0,   ///< QoS 0: fire and forget.
  at_least_once = 1,  ///< QoS 1: acknowledged by PUBACK, may be duplicated.
  exactly_once = 2,   ///< QoS 2: refused by this client's codec (except as a will's or subscription's QoS).
};

/// CONNACK return codes (spec 3.2.2.3); the values are the wire values.
enum class ConnectReturnCode : std::uint8_t {
  accepted = 0,                       ///< Connection accepted.
  unacceptable_protocol_version = 1,  ///< The server does not speak level 4.
  identifier_rejected = 2,            ///< The client id is refused.
  server_unavailable = 3,             ///< The MQTT service is unavailable.
  bad_username_or_password = 4,       ///< Malformed user name or password.
  not_authorized = 5,                 ///< The client is not authorized to connect.
};

/// SUBACK return code of a refused subscription (0x00..0x02 grant a QoS).
inline constexpr std::uint8_t kSubackFailure = 0x80;

/// A will: published by the server when the connection ends without DISCONNECT.
struct Will {
  ConstByteSpan topic;    ///< A topic name: 1..65535 bytes of UTF-8, no wildcard.
  ConstByteSpan message;  ///< 0..65535 opaque bytes.
  Qos qos = Qos::at_most_once;  ///< 0, 1 or 2.
  bool retain = false;          ///< Ask the server to retain the will message.
};

/// CONNECT: client to server, the first packet of every connection.
struct Connect {
  ConstByteSpan client_id;     ///< 0..65535 bytes of UTF-8; empty only with clean_session.
  bool clean_session = false;  ///< true: the server forgets any earlier session.
  std::uint16_t keepalive_s = 0;  ///< Seconds; 0 turns the server's keep-alive off.
  bool has_username = false;   ///< Whether `username` is sent (it may be empty).
  ConstByteSpan username;      ///< 0..65535 bytes of UTF-8.
  bool has_password = false;   ///< Whether `password` is sent; needs has_username.
  ConstByteSpan password;      ///< 0..65535 opaque bytes; never logged.
  bool has_will = false;       ///< Whether `will` is sent.
  Will will;                   ///< Used when has_will.
};

/// CONNACK: server to client, the answer to CONNECT.
struct Connack {
  bool session_present = false;  ///< The server resumed a session it kept for this client id.
  ConnectReturnCode return_code = ConnectReturnCode::accepted;  ///< 0 accepted, 1..5 refused.
};

/// PUBLISH: an application message, either way.
struct Publish {
  ConstByteSpan topic;    ///< A topic name: 1..65535 bytes of UTF-8, no wildcard.
  ConstByteSpan payload;  ///< Opaque bytes; the rest of the packet.
  std::uint16_t packet_id = 0;  ///< != 0 at QoS 1; absent (0) at QoS 0.
  Qos qos = Qos::at_most_once;  ///< 0 or 1 (2 is refused).
  bool dup = false;     ///< A resend of an earlier attempt (QoS 1 only).
  bool retain = false;  ///< Ask the server to retain the message.
};

/// One topic filter of a SUBSCRIBE or UNSUBSCRIBE.
struct TopicFilter {
  ConstByteSpan filter;          ///< 1..65535 bytes of UTF-8; '+' and '#' where the spec allows them.
  Qos qos = Qos::at_least_once;  ///< Requested QoS (SUBSCRIBE only).
};

/// SUBSCRIBE (or UNSUBSCRIBE, whose filters' QoS is not sent).
struct Subscribe {
  std::uint16_t packet_id = 0;          ///< != 0.
  const TopicFilter* filters = nullptr;  ///< `count` filters, count >= 1.
  std::size_t count = 0;                 ///< Number of filters.
};

/// SUBACK: one return code per filter of the SUBSCRIBE, in order.
struct Suback {
  ConstByteSpan return_codes;  ///< Each 0x00, 0x01, 0x02 (granted QoS) or kSubackFailure.
};

/// One decoded packet. Only the members for `type` are meaningful.
struct Packet {
  PacketType type = PacketType::pingresp;  ///< Which packet this is.
  std::uint16_t packet_id = 0;  ///< PUBACK, SUBACK, UNSUBACK, and PUBLISH at QoS 1.
  Connack connack;              ///< When `type` is connack.
  Publish publish;              ///< When `type` is publish.
  Suback suback;                ///< When `type` is suback.
};

}  // namespace uplink::mqtt
