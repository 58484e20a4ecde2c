// SPDX-License-Identifier: Apache-2.0
// The 8-byte sequence envelope (mqtt_envelope.hpp).
#include "uplink/codec/mqtt_envelope.hpp"

#include "uplink/codec/mqtt_error.hpp"
#include "uplink/core/byte_order.hpp"
#include "uplink/error.hpp"

namespace uplink::mqtt {

EncodeResult encode_envelope(std::uint64_t seq, ByteSpan out) noexcept {
  if (seq == 0) return {make_error_code(Errc::invalid_envelope), 0};
  if (out.size < kEnvelopeSize) return {make_error_code(uplink::Errc::buffer_too_small), 0};
  detail::store_be64(out.data, seq);
  return {{}, kEnvelopeSize};
}

std::error_code decode_envelope(ConstByteSpan payload, Enveloped& out) noexcept {
  if (payload.size < kEnvelopeSize) return make_error_code(Errc::invalid_envelope);
  const std::uint64_t seq = detail::load_be64(payload.data);
  if (seq == 0) return make_error_code(Errc::invalid_envelope);
  out.seq = seq;
  out.payload = payload.subspan(kEnvelopeSize);
  return {};
}

}  // namespace uplink::mqtt
