// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the MQTT decoder must survive any byte stream fed in any
// split; every packet it accepts must hold what the specification allows,
// and every PUBLISH and PUBACK it accepts must re-encode to bytes that
// decode to the same packet.
//
// Input layout: byte 0 picks the chunk size (1..16, or 0 = all at once);
// the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "support/mqtt_golden_vectors.hpp"
#include "uplink/codec/mqtt_decoder.hpp"
#include "uplink/codec/mqtt_encoder.hpp"
#include "uplink/codec/mqtt_topic.hpp"

namespace {

using namespace uplink;
using namespace uplink::mqtt;

// The decoder's limit: small enough that the fuzzer reaches it.
constexpr std::size_t kMaxPacket = 512;

void check(bool condition) {
  if (!condition) std::abort();
}

// Encodes `packet` again where the client has an encoder for it, and
// decodes the result: it must be one packet, the same.
void check_round_trip(const Packet& packet) {
  static std::uint8_t encoded[kMaxPacket];
  EncodeResult e;
  if (packet.type == PacketType::publish) {
    e = encode(packet.publish, ByteSpan{encoded, sizeof encoded});
  } else if (packet.type == PacketType::puback) {
    e = encode_puback(packet.packet_id, ByteSpan{encoded, sizeof encoded});
  } else {
    return;
  }
  check(!e.error);  // everything accepted must be encodable (the minimal form is never longer)
  static Decoder<kMaxPacket> again;
  again.reset();
  const DecoderBase::Result r = again.feed(ConstByteSpan{encoded, e.size});
  check(r.status == DecodeStatus::frame_ready && r.consumed == e.size);
  check(test::same_packet(packet, again.packet()));
}

void check_packet(const Packet& p) {
  switch (p.type) {
    case PacketType::connack:
      check(static_cast<unsigned>(p.connack.return_code) <= 5);
      check(!p.connack.session_present || p.connack.return_code == ConnectReturnCode::accepted);
      break;
    case PacketType::publish:
      check(p.publish.qos == Qos::at_most_once || p.publish.qos == Qos::at_least_once);
      check((p.publish.qos == Qos::at_most_once) == (p.publish.packet_id == 0));
      check(!check_topic_name(p.publish.topic));
      break;
    case PacketType::suback:
      check(p.packet_id != 0 && !p.suback.return_codes.empty());
      for (std::uint8_t code : p.suback.return_codes) check(code <= 2 || code == kSubackFailure);
      break;
    case PacketType::puback:
    case PacketType::unsuback: check(p.packet_id != 0); break;
    case PacketType::pingresp: break;
    default: std::abort();  // nothing else is ever accepted
  }
  check_round_trip(p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = data[0] % 17;
  ConstByteSpan stream{data + 1, size - 1};
  static Decoder<kMaxPacket> decoder;
  decoder.reset();

  while (!stream.empty()) {
    const std::size_t take = (chunk == 0 || chunk > stream.size) ? stream.size : chunk;
    ConstByteSpan piece{stream.data, take};
    while (!piece.empty()) {
      const DecoderBase::Result r = decoder.feed(piece);
      if (r.consumed > piece.size) std::abort();
      piece = piece.subspan(r.consumed);
      if (r.status == DecodeStatus::error) {
        if (!decoder.error()) std::abort();  // an error always says why
        return 0;
      }
      if (r.status == DecodeStatus::frame_ready) {
        check_packet(decoder.packet());
      } else if (!piece.empty()) {
        std::abort();  // need_more must mean "all input consumed"
      }
    }
    stream = stream.subspan(take);
  }
  return 0;
}
