// SPDX-License-Identifier: Apache-2.0
// Byte-driven parser of MQTT 3.1.1 packets, client side (the shape of the
// native frame_decoder.cpp): each state knows what it still needs, so a
// packet split across any number of reads resumes exactly where it stopped.
//
//   start (type + flags, checked at once) --> length (1..4 bytes, 7 bits
//   each, least significant first; size checked when complete) --> body
//   (remaining-length bytes) --> frame_ready
//   any malformed byte --> failed (sticky until reset)
//
// Non-minimal remaining lengths (0x80 0x00 for 0) are accepted: MQTT 3.1.1
// describes the encoding without forbidding them (MQTT 5.0 added that
// rule); a fifth length byte is malformed (at most four, spec 2.2.3).
#include "uplink/codec/mqtt_decoder.hpp"

#include <cstring>

#include "big_endian.hpp"
#include "uplink/codec/mqtt_error.hpp"
#include "uplink/codec/mqtt_topic.hpp"
#include "uplink/error.hpp"

namespace uplink::mqtt {
namespace {

constexpr std::uint8_t kQosMask = 0x06;
constexpr std::uint8_t kDupFlag = 0x08;

// Type and flags (spec 2.2.1, 2.2.2), from the first byte alone. Packets
// this client may receive all have flags 0000 but PUBLISH.
std::error_code check_first_byte(std::uint8_t first) {
  const unsigned type = first >> 4;
  const unsigned flags = first & 0x0Fu;
  switch (static_cast<PacketType>(type)) {
    case PacketType::publish: {
      const unsigned qos = (flags & kQosMask) >> 1;
      if (qos == 3) return make_error_code(Errc::invalid_qos);
      if (qos == 2) return make_error_code(Errc::qos2_not_supported);
      if (qos == 0 && (flags & kDupFlag) != 0) return make_error_code(Errc::dup_on_qos0);
      return {};
    }
    case PacketType::connack:
    case PacketType::puback:
    case PacketType::suback:
    case PacketType::unsuback:
    case PacketType::pingresp:
      return flags == 0 ? std::error_code{} : make_error_code(Errc::invalid_flags);
    case PacketType::connect:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
    case PacketType::pingreq:
    case PacketType::disconnect:
      return make_error_code(Errc::unexpected_packet_type);
  }
  return make_error_code(Errc::reserved_packet_type);  // 0 and 15
}

// The body's length against what the type allows, known before the body.
std::error_code check_length(std::uint8_t first, std::size_t length) {
  std::size_t min = 2;
  std::size_t max = 2;  // CONNACK, PUBACK, UNSUBACK
  switch (static_cast<PacketType>(first >> 4)) {
    case PacketType::pingresp: min = max = 0; break;
    case PacketType::suback: min = 3; max = kMaxRemainingLength; break;
    case PacketType::publish:
      // Topic length, a topic of at least one byte, the packet id at QoS 1.
      min = ((first & kQosMask) != 0) ? 5 : 3;
      max = kMaxRemainingLength;
      break;
    default: break;
  }
  return (length < min || length > max) ? make_error_code(Errc::invalid_remaining_length) : std::error_code{};
}

std::error_code check_packet_id(std::uint16_t id) {
  return id == 0 ? make_error_code(Errc::zero_packet_id) : std::error_code{};
}

std::error_code parse_connack(detail::BigEndianReader& r, Connack& out) {
  const std::uint8_t flags = r.u8();
  const std::uint8_t code = r.u8();
  if ((flags & 0xFE) != 0) return make_error_code(Errc::invalid_connack_flags);
  if (code > 5) return make_error_code(Errc::unknown_connack_return_code);
  out.session_present = (flags & 0x01) != 0;
  out.return_code = static_cast<ConnectReturnCode>(code);
  if (out.session_present && code != 0) return make_error_code(Errc::session_present_on_refusal);
  return {};
}

std::error_code parse_publish(std::uint8_t first, detail::BigEndianReader& r, Packet& out) {
  Publish& p = out.publish;
  p.retain = (first & 0x01) != 0;
  p.dup = (first & kDupFlag) != 0;
  p.qos = static_cast<Qos>((first & kQosMask) >> 1);
  p.topic = r.bytes(r.u16());
  if (r.failed()) return make_error_code(Errc::truncated_field);
  if (std::error_code ec = check_topic_name(p.topic)) return ec;
  p.packet_id = 0;
  if (p.qos != Qos::at_most_once) {
    p.packet_id = r.u16();
    if (r.failed()) return make_error_code(Errc::truncated_field);
    if (std::error_code ec = check_packet_id(p.packet_id)) return ec;
  }
  out.packet_id = p.packet_id;
  p.payload = r.rest();
  return {};
}

std::error_code parse_suback(detail::BigEndianReader& r, Packet& out) {
  out.packet_id = r.u16();
  out.suback.return_codes = r.rest();
  for (std::uint8_t code : out.suback.return_codes) {
    if (code > 2 && code != kSubackFailure) return make_error_code(Errc::invalid_suback_return_code);
  }
  return check_packet_id(out.packet_id);
}

}  // namespace

std::error_code parse_packet_body(std::uint8_t first_byte, ConstByteSpan body, Packet& packet) {
  if (std::error_code ec = check_first_byte(first_byte)) return ec;
  if (std::error_code ec = check_length(first_byte, body.size)) return ec;
  packet.type = static_cast<PacketType>(first_byte >> 4);
  packet.packet_id = 0;
  detail::BigEndianReader r(body);
  switch (packet.type) {
    case PacketType::connack: return parse_connack(r, packet.connack);
    case PacketType::publish: return parse_publish(first_byte, r, packet);
    case PacketType::suback: return parse_suback(r, packet);
    case PacketType::puback:
    case PacketType::unsuback: packet.packet_id = r.u16(); return check_packet_id(packet.packet_id);
    default: return {};  // PINGRESP: nothing to read
  }
}

void DecoderBase::reset() {
  state_ = State::start;
  length_bytes_ = 0;
  remaining_ = 0;
  filled_ = 0;
  error_.clear();
}

DecoderBase::Result DecoderBase::fail(std::error_code error, std::size_t consumed) {
  state_ = State::failed;
  error_ = error;
  return {DecodeStatus::error, consumed};
}

DecoderBase::Result DecoderBase::complete(std::size_t consumed) {
  state_ = State::start;
  if (std::error_code ec = parse_packet_body(first_byte_, ConstByteSpan{storage_, remaining_}, packet_)) {
    return fail(ec, consumed);
  }
  return {DecodeStatus::frame_ready, consumed};
}

DecoderBase::Result DecoderBase::feed(ConstByteSpan input) {
  if (state_ == State::failed) return {DecodeStatus::error, 0};
  std::size_t used = 0;
  while (used < input.size) {
    const std::uint8_t byte = input.data[used];
    switch (state_) {
      case State::start:
        ++used;
        // Type and flags are checked as soon as they arrive: no reason to read on.
        if (std::error_code ec = check_first_byte(byte)) return fail(ec, used);
        first_byte_ = byte;
        length_bytes_ = 0;
        remaining_ = 0;
        filled_ = 0;
        state_ = State::length;
        break;

      case State::length:
        ++used;
        remaining_ |= static_cast<std::size_t>(byte & 0x7Fu) << (7u * length_bytes_);
        ++length_bytes_;
        if ((byte & 0x80u) != 0) {
          if (length_bytes_ == 4) return fail(make_error_code(Errc::remaining_length_too_long), used);
          break;
        }
        // Refused from the header alone: no body byte of an oversized packet is stored.
        if (1u + length_bytes_ + remaining_ > capacity_) {
          return fail(make_error_code(uplink::Errc::frame_too_large), used);
        }
        if (std::error_code ec = check_length(first_byte_, remaining_)) return fail(ec, used);
        if (remaining_ == 0) return complete(used);
        state_ = State::body;
        break;

      case State::body: {
        const std::size_t wanted = remaining_ - filled_;
        const std::size_t available = input.size - used;
        const std::size_t take = wanted < available ? wanted : available;
        std::memcpy(storage_ + filled_, input.data + used, take);
        filled_ += take;
        used += take;
        if (filled_ == remaining_) return complete(used);
        break;
      }

      case State::failed:
        return {DecodeStatus::error, used};
    }
  }
  return {DecodeStatus::need_more, used};
}

}  // namespace uplink::mqtt
