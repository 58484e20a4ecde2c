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

#include "mqtt_fault.hpp"
#include "uplink/codec/mqtt_error.hpp"
#include "uplink/core/byte_order.hpp"
#include "uplink/error.hpp"

namespace uplink::mqtt {
namespace {

constexpr std::uint8_t kQosMask = 0x06;
constexpr std::uint8_t kDupFlag = 0x08;

// What this client accepts of each packet type, indexed by the type (bits
// 7-4 of the first byte): the least length of the body, and whether it may
// be longer (kLonger; otherwise it is exactly that long); kUnexpected for
// what a server never sends a client (or a QoS 2 packet this client never
// asked for), kReserved for types 0 and 15 (spec 2.2.1).
constexpr std::uint8_t kLonger = 0x80;
constexpr std::uint8_t kUnexpected = 0x40;
constexpr std::uint8_t kReserved = 0x20;
constexpr std::uint8_t kLeastLength = 0x1F;
constexpr std::uint8_t kBodyRule[16] = {
    kReserved,
    kUnexpected,  // CONNECT
    2,            // CONNACK: acknowledge flags, return code
    3 | kLonger,  // PUBLISH: topic length and at least one byte of topic (the packet id at QoS 1: 2 more)
    2,            // PUBACK: packet id
    kUnexpected,  // PUBREC
    kUnexpected,  // PUBREL
    kUnexpected,  // PUBCOMP
    kUnexpected,  // SUBSCRIBE
    3 | kLonger,  // SUBACK: packet id and at least one return code
    kUnexpected,  // UNSUBSCRIBE
    2,            // UNSUBACK: packet id
    kUnexpected,  // PINGREQ
    0,            // PINGRESP
    kUnexpected,  // DISCONNECT
    kReserved,
};

bool is_publish(std::uint8_t first) { return static_cast<PacketType>(first >> 4) == PacketType::publish; }

// Type and flags (spec 2.2.1, 2.2.2), from the first byte alone. Packets
// this client may receive all have flags 0000 but PUBLISH.
Errc first_byte_fault(std::uint8_t first) {
  const std::uint8_t rule = kBodyRule[first >> 4];
  if ((rule & kReserved) != 0) return Errc::reserved_packet_type;
  if ((rule & kUnexpected) != 0) return Errc::unexpected_packet_type;
  const unsigned flags = first & 0x0Fu;
  if (!is_publish(first)) return flags == 0 ? kNoFault : Errc::invalid_flags;
  const unsigned qos = (flags & kQosMask) >> 1;
  if (qos == 3) return Errc::invalid_qos;
  if (qos == 2) return Errc::qos2_not_supported;
  if (qos == 0 && (flags & kDupFlag) != 0) return Errc::dup_on_qos0;
  return kNoFault;
}

// The body's length against what the type allows, known before the body.
Errc length_fault(std::uint8_t first, std::size_t length) {
  const std::uint8_t rule = kBodyRule[first >> 4];
  std::size_t least = rule & kLeastLength;
  if (is_publish(first) && (first & kQosMask) != 0) least += 2;  // the packet id
  const bool fits = (rule & kLonger) != 0 ? length >= least && length <= kMaxRemainingLength : length == least;
  return fits ? kNoFault : Errc::invalid_remaining_length;
}

// Fills `packet` from a body whose type, flags and length were checked.
Errc parse_body(std::uint8_t first, ConstByteSpan body, Packet& packet) {
  const std::uint8_t* b = body.data;
  std::size_t id_at = 0;  // where the packet identifier is, for the packets that have one
  packet.type = static_cast<PacketType>(first >> 4);
  packet.packet_id = 0;
  switch (packet.type) {
    case PacketType::connack: {
      if ((b[0] & 0xFE) != 0) return Errc::invalid_connack_flags;
      if (b[1] > 5) return Errc::unknown_connack_return_code;
      packet.connack.session_present = (b[0] & 0x01) != 0;
      packet.connack.return_code = static_cast<ConnectReturnCode>(b[1]);
      return packet.connack.session_present && b[1] != 0 ? Errc::session_present_on_refusal : kNoFault;
    }
    case PacketType::publish: {
      Publish& p = packet.publish;
      p.retain = (first & 0x01) != 0;
      p.dup = (first & kDupFlag) != 0;
      p.qos = static_cast<Qos>((first & kQosMask) >> 1);
      p.packet_id = 0;
      const std::size_t topic_size = detail::load_be16(b);
      const std::size_t id_size = p.qos != Qos::at_most_once ? 2 : 0;
      // The length check left at least 2 bytes (3, or 5 at QoS 1) in the body.
      if (topic_size + id_size > body.size - 2) return Errc::truncated_field;
      p.topic = ConstByteSpan{b + 2, topic_size};
      if (const Errc fault = topic_name_fault(p.topic); fault != kNoFault) return fault;
      id_at = 2 + topic_size;
      p.payload = body.subspan(id_at + id_size);
      if (id_size == 0) return kNoFault;
      break;
    }
    case PacketType::suback:
      packet.suback.return_codes = body.subspan(2);
      for (std::uint8_t code : packet.suback.return_codes) {
        if (code > 2 && code != kSubackFailure) return Errc::invalid_suback_return_code;
      }
      break;
    case PacketType::puback:
    case PacketType::unsuback: break;
    default: return kNoFault;  // PINGRESP: nothing to read
  }
  packet.packet_id = detail::load_be16(b + id_at);
  packet.publish.packet_id = packet.packet_id;  // meaningful when the packet is a PUBLISH
  return packet.packet_id == 0 ? Errc::zero_packet_id : kNoFault;
}

Errc packet_fault(std::uint8_t first, ConstByteSpan body, Packet& packet) {
  Errc fault = first_byte_fault(first);
  if (fault == kNoFault) fault = length_fault(first, body.size);
  if (fault == kNoFault) fault = parse_body(first, body, packet);
  return fault;
}

}  // namespace

std::error_code parse_packet_body(std::uint8_t first_byte, ConstByteSpan body, Packet& packet) {
  return to_error(packet_fault(first_byte, body, packet));
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
  if (const Errc fault = parse_body(first_byte_, ConstByteSpan{storage_, remaining_}, packet_); fault != kNoFault) {
    return fail(make_error_code(fault), consumed);
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
        if (const Errc fault = first_byte_fault(byte); fault != kNoFault) return fail(make_error_code(fault), used);
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
        if (const Errc fault = length_fault(first_byte_, remaining_); fault != kNoFault) {
          return fail(make_error_code(fault), used);
        }
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
