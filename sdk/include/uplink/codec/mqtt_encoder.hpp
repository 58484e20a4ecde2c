// SPDX-License-Identifier: Apache-2.0
// Encoding of the MQTT 3.1.1 packets a client sends, into caller-supplied
// buffers (the shape of the native frame_encoder.hpp).
//
// Each function validates the packet's fields against the specification,
// computes its exact size, then writes the whole packet into `out`, or
// nothing at all: a packet that does not fit is refused with
// uplink::Errc::buffer_too_small and never written past the end.
#pragma once

#include <cstddef>
#include <cstdint>

#include "uplink/codec/codec_result.hpp"
#include "uplink/codec/mqtt_packet.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::mqtt {

/// Bytes the remaining-length field takes for `value` (1..4); 0 when
/// `value` is above kMaxRemainingLength.
[[nodiscard]] constexpr std::size_t remaining_length_size(std::size_t value) {
  return value < 128u ? 1 : value < 16384u ? 2 : value < 2097152u ? 3 : value <= kMaxRemainingLength ? 4 : 0;
}

/// Writes `value` as a remaining length (spec 2.2.3, least significant
/// group first, minimal form). Errors: uplink::Errc::field_too_long (above
/// kMaxRemainingLength), uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult encode_remaining_length(std::size_t value, ByteSpan out);

/// Size of a CONNECT, fixed header included, assuming valid fields; 0 when
/// it would exceed what MQTT can carry.
[[nodiscard]] std::size_t encoded_size(const Connect& connect);
/// Size of a PUBLISH whose payload is `payload_size` bytes (the `payload`
/// member is not looked at), fixed header included; 0 when too large.
[[nodiscard]] std::size_t encoded_size(const Publish& publish, std::size_t payload_size);
/// Size of a SUBSCRIBE, fixed header included; 0 when too large.
[[nodiscard]] std::size_t encoded_size(const Subscribe& subscribe);

/// Writes CONNECT (protocol "MQTT", level 4). Errors: invalid_client_id
/// (empty without clean_session, or not UTF-8), invalid_utf8 (user name),
/// password_without_username, invalid_topic / invalid_utf8 / invalid_qos
/// (will), uplink::Errc::field_too_long (a field over 65535 bytes),
/// uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult encode(const Connect& connect, ByteSpan out);

/// Writes PUBLISH with its payload. Errors: invalid_topic, invalid_utf8,
/// qos2_not_supported, invalid_qos (above 2), zero_packet_id (QoS 1 with
/// packet id 0), dup_on_qos0, uplink::Errc::field_too_long (packet over
/// kMaxRemainingLength), uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult encode(const Publish& publish, ByteSpan out);

/// Writes the PUBLISH up to its payload (fixed header, topic, packet id) for
/// a payload of `payload_size` bytes that the caller writes right after
/// (e.g. the envelope, then the message, without an extra copy). The
/// `payload` member is not looked at. Errors: as encode(const Publish&).
[[nodiscard]] EncodeResult encode_publish_header(const Publish& publish, std::size_t payload_size, ByteSpan out);

/// Writes PUBACK for `packet_id`. Errors: zero_packet_id, uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult encode_puback(std::uint16_t packet_id, ByteSpan out);

/// Writes SUBSCRIBE. Errors: empty_subscription, zero_packet_id,
/// invalid_topic, invalid_utf8, invalid_qos (a requested QoS above 2),
/// uplink::Errc::field_too_long, uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult encode(const Subscribe& subscribe, ByteSpan out);

/// Writes UNSUBSCRIBE for the filters of `unsubscribe` (their QoS is not
/// sent). Errors: as encode(const Subscribe&), without invalid_qos.
[[nodiscard]] EncodeResult encode_unsubscribe(const Subscribe& unsubscribe, ByteSpan out);

// ---- Writers for fields already checked ----
//
// The same bytes as the encoders above without their validation of the
// fields, for a caller that checked them once rather than on every packet
// (MqttProfile checks its topics, names and QoS at configure()). The size
// is still checked: nothing is written past `out`. Given fields the
// encoders would refuse, they write a packet the peer will refuse.

/// CONNECT, as encode(const Connect&). Errors: uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult write_connect(const Connect& connect, ByteSpan out);

/// The PUBLISH up to its payload, as encode_publish_header(). Errors:
/// uplink::Errc::field_too_long, uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult write_publish_header(const Publish& publish, std::size_t payload_size, ByteSpan out);

/// SUBSCRIBE, as encode(const Subscribe&) (`count` >= 1 filters). Errors:
/// uplink::Errc::field_too_long, uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult write_subscribe(const Subscribe& subscribe, ByteSpan out);

// ---- Packets without fields ----

/// Writes PINGREQ (0xC0 0x00). Errors: uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult encode_pingreq(ByteSpan out);

/// Writes DISCONNECT (0xE0 0x00). Errors: uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult encode_disconnect(ByteSpan out);

}  // namespace uplink::mqtt
