// SPDX-License-Identifier: Apache-2.0
// MQTT 3.1.1 encoder: validate fields, compute the exact size, then write
// once (the shape of the native frame_encoder.cpp).
#include "uplink/codec/mqtt_encoder.hpp"

#include "big_endian.hpp"
#include "mqtt_fault.hpp"
#include "uplink/codec/mqtt_error.hpp"
#include "uplink/error.hpp"

namespace uplink::mqtt {
namespace {

using detail::BigEndianWriter;

constexpr std::uint8_t kConnect = 0x10;
constexpr std::uint8_t kPublish = 0x30;
constexpr std::uint8_t kPuback = 0x40;
constexpr std::uint8_t kSubscribe = 0x82;    // flags 0010 (spec 3.8.1)
constexpr std::uint8_t kUnsubscribe = 0xA2;  // flags 0010 (spec 3.10.1)
constexpr std::uint8_t kPingreq = 0xC0;
constexpr std::uint8_t kDisconnect = 0xE0;
// CONNECT's variable header before the flags: protocol name "MQTT", level 4.
constexpr std::uint8_t kProtocolName[] = {0x00, 0x04, 'M', 'Q', 'T', 'T', kProtocolLevel};
constexpr std::size_t kConnectVariableHeader = sizeof kProtocolName + 1 + 2;  // + flags + keepalive

// A refusal of the fields (the checks below report a fault, see mqtt_fault.hpp).
[[gnu::noinline]] EncodeResult refused(Errc fault) { return {make_error_code(fault), 0}; }

// Whole packet for a remaining length of `length`; 0 when MQTT cannot carry it.
std::size_t packet_size(std::size_t length) {
  const std::size_t n = remaining_length_size(length);
  return n == 0 ? 0 : 1 + n + length;
}

// Whether a packet of `size` bytes (0: more than MQTT can carry) fits `out`:
// the result every writer returns, its size or why not.
[[gnu::noinline]] EncodeResult room(std::size_t size, ByteSpan out) {
  if (size == 0) return {make_error_code(uplink::Errc::field_too_long), 0};
  if (out.size < size) return {make_error_code(uplink::Errc::buffer_too_small), 0};
  return {{}, size};
}

// A string or binary field: its 16-bit length and its bytes.
std::size_t field_size(ConstByteSpan s) { return 2 + s.size; }

BigEndianWriter start_packet(ByteSpan out, std::uint8_t first, std::size_t length) {
  BigEndianWriter w(out.data);
  w.u8(first);
  do {
    const auto digit = static_cast<std::uint8_t>(length & 0x7F);
    length >>= 7;
    w.u8(length != 0 ? static_cast<std::uint8_t>(digit | 0x80) : digit);
  } while (length != 0);
  return w;
}

void put_field(BigEndianWriter& w, ConstByteSpan s) {
  w.u16(static_cast<std::uint16_t>(s.size));
  w.bytes(s);
}

std::size_t connect_length(const Connect& c) {
  std::size_t length = kConnectVariableHeader + field_size(c.client_id);
  if (c.has_will) length += field_size(c.will.topic) + field_size(c.will.message);
  if (c.has_username) length += field_size(c.username);
  if (c.has_password) length += field_size(c.password);
  return length;
}

std::size_t publish_length(const Publish& p, std::size_t payload_size) {
  return field_size(p.topic) + (p.qos != Qos::at_most_once ? 2 : 0) + payload_size;
}

std::size_t subscribe_length(const Subscribe& s, bool with_qos) {
  std::size_t length = 2;
  for (std::size_t i = 0; i < s.count; ++i) length += field_size(s.filters[i].filter) + (with_qos ? 1 : 0);
  return length;
}

Errc connect_fault(const Connect& c) {
  if ((c.client_id.empty() && !c.clean_session) || utf8_fault(c.client_id) != kNoFault) return Errc::invalid_client_id;
  if (c.has_password && !c.has_username) return Errc::password_without_username;
  Errc fault = c.has_username ? utf8_fault(c.username) : kNoFault;
  if (fault == kNoFault && c.has_will) fault = topic_name_fault(c.will.topic);
  if (fault == kNoFault && c.has_will && static_cast<unsigned>(c.will.qos) > 2) fault = Errc::invalid_qos;
  return fault;
}

Errc publish_fault(const Publish& p) {
  if (static_cast<unsigned>(p.qos) > 2) return Errc::invalid_qos;
  if (p.qos == Qos::exactly_once) return Errc::qos2_not_supported;
  if (p.qos == Qos::at_most_once && p.dup) return Errc::dup_on_qos0;
  if (p.qos == Qos::at_least_once && p.packet_id == 0) return Errc::zero_packet_id;
  return topic_name_fault(p.topic);
}

Errc subscription_fault(const Subscribe& s, bool with_qos) {
  if (s.count == 0 || s.filters == nullptr) return Errc::empty_subscription;
  if (s.packet_id == 0) return Errc::zero_packet_id;
  for (std::size_t i = 0; i < s.count; ++i) {
    if (const Errc fault = topic_filter_fault(s.filters[i].filter); fault != kNoFault) return fault;
    if (with_qos && static_cast<unsigned>(s.filters[i].qos) > 2) return Errc::invalid_qos;
  }
  return kNoFault;
}

EncodeResult write_subscription(const Subscribe& s, bool with_qos, ByteSpan out) {
  const std::size_t length = subscribe_length(s, with_qos);
  const EncodeResult r = room(packet_size(length), out);
  if (!r) return r;
  BigEndianWriter w = start_packet(out, with_qos ? kSubscribe : kUnsubscribe, length);
  w.u16(s.packet_id);
  for (std::size_t i = 0; i < s.count; ++i) {
    put_field(w, s.filters[i].filter);
    if (with_qos) w.u8(static_cast<std::uint8_t>(s.filters[i].qos));
  }
  return r;
}

EncodeResult encode_subscription(const Subscribe& s, bool with_qos, ByteSpan out) {
  if (const Errc fault = subscription_fault(s, with_qos); fault != kNoFault) return refused(fault);
  return write_subscription(s, with_qos, out);
}

EncodeResult encode_empty(std::uint8_t first, ByteSpan out) {
  const EncodeResult r = room(2, out);
  if (r) {
    out.data[0] = first;
    out.data[1] = 0;
  }
  return r;
}

}  // namespace

EncodeResult encode_remaining_length(std::size_t value, ByteSpan out) {
  const EncodeResult r = room(remaining_length_size(value), out);
  if (r) {
    std::uint8_t header[kMaxFixedHeaderSize];
    start_packet(ByteSpan{header, sizeof header}, 0, value);
    for (std::size_t i = 0; i < r.size; ++i) out.data[i] = header[1 + i];
  }
  return r;
}

std::size_t encoded_size(const Connect& connect) { return packet_size(connect_length(connect)); }
std::size_t encoded_size(const Publish& publish, std::size_t payload_size) {
  return payload_size > kMaxRemainingLength ? 0 : packet_size(publish_length(publish, payload_size));
}
std::size_t encoded_size(const Subscribe& subscribe) { return packet_size(subscribe_length(subscribe, true)); }

EncodeResult encode(const Connect& c, ByteSpan out) {
  if (c.client_id.size > kMaxStringLength || c.username.size > kMaxStringLength ||
      c.password.size > kMaxStringLength || c.will.topic.size > kMaxStringLength ||
      c.will.message.size > kMaxStringLength) {
    return room(0, out);  // field_too_long
  }
  if (const Errc fault = connect_fault(c); fault != kNoFault) return refused(fault);
  return write_connect(c, out);
}

EncodeResult write_connect(const Connect& c, ByteSpan out) {
  const std::size_t length = connect_length(c);
  const EncodeResult r = room(packet_size(length), out);
  if (!r) return r;

  std::uint8_t flags = c.clean_session ? 0x02 : 0x00;
  if (c.has_will) {
    flags |= static_cast<std::uint8_t>(0x04 | (static_cast<unsigned>(c.will.qos) << 3) | (c.will.retain ? 0x20 : 0));
  }
  if (c.has_password) flags |= 0x40;
  if (c.has_username) flags |= 0x80;

  BigEndianWriter w = start_packet(out, kConnect, length);
  w.bytes(ConstByteSpan{kProtocolName, sizeof kProtocolName});
  w.u8(flags);
  w.u16(c.keepalive_s);
  put_field(w, c.client_id);
  if (c.has_will) {
    put_field(w, c.will.topic);
    put_field(w, c.will.message);
  }
  if (c.has_username) put_field(w, c.username);
  if (c.has_password) put_field(w, c.password);
  return r;
}

EncodeResult encode_publish_header(const Publish& p, std::size_t payload_size, ByteSpan out) {
  if (const Errc fault = publish_fault(p); fault != kNoFault) return refused(fault);
  return write_publish_header(p, payload_size, out);
}

EncodeResult write_publish_header(const Publish& p, std::size_t payload_size, ByteSpan out) {
  const std::size_t length = publish_length(p, payload_size);
  EncodeResult r = room(encoded_size(p, payload_size), out);
  if (!r) return r;
  const auto first = static_cast<std::uint8_t>(kPublish | (p.dup ? 0x08 : 0) |
                                               (static_cast<unsigned>(p.qos) << 1) | (p.retain ? 0x01 : 0));
  BigEndianWriter w = start_packet(out, first, length);
  put_field(w, p.topic);
  if (p.qos != Qos::at_most_once) w.u16(p.packet_id);
  r.size -= payload_size;
  return r;
}

EncodeResult encode(const Publish& p, ByteSpan out) {
  EncodeResult r = encode_publish_header(p, p.payload.size, out);
  if (r) {
    BigEndianWriter w(out.data + r.size);
    w.bytes(p.payload);
    r.size += p.payload.size;
  }
  return r;
}

EncodeResult encode_puback(std::uint16_t packet_id, ByteSpan out) {
  if (packet_id == 0) return refused(Errc::zero_packet_id);
  const EncodeResult r = room(4, out);
  if (r) start_packet(out, kPuback, 2).u16(packet_id);
  return r;
}

EncodeResult encode(const Subscribe& subscribe, ByteSpan out) { return encode_subscription(subscribe, true, out); }
EncodeResult write_subscribe(const Subscribe& subscribe, ByteSpan out) {
  return write_subscription(subscribe, true, out);
}
EncodeResult encode_unsubscribe(const Subscribe& unsubscribe, ByteSpan out) {
  return encode_subscription(unsubscribe, false, out);
}
EncodeResult encode_pingreq(ByteSpan out) { return encode_empty(kPingreq, out); }
EncodeResult encode_disconnect(ByteSpan out) { return encode_empty(kDisconnect, out); }

}  // namespace uplink::mqtt
