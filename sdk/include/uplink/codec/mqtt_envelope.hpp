// SPDX-License-Identifier: Apache-2.0
// The optional sequence envelope of uplink over MQTT: the message's 8-byte
// sequence number (big endian, >= 1) before its payload, so that a consumer
// can drop the duplicates that QoS 1 allows exactly (a broker may redeliver
// a message under another packet identifier). Off by default.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/codec/codec_result.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::mqtt {

/// Bytes the envelope adds before the payload.
inline constexpr std::size_t kEnvelopeSize = 8;

/// A payload with its envelope taken off.
struct Enveloped {
  std::uint64_t seq = 0;  ///< The message's sequence number, >= 1.
  ConstByteSpan payload;  ///< The application payload: the bytes after the envelope.
};

/// Writes the envelope of `seq` (8 bytes) at the start of `out`; the caller
/// writes the payload after it. Errors: mqtt::Errc::invalid_envelope (seq 0),
/// uplink::Errc::buffer_too_small.
[[nodiscard]] EncodeResult encode_envelope(std::uint64_t seq, ByteSpan out) noexcept;

/// Splits a received PUBLISH payload into its sequence number and the
/// application payload (a view into `payload`). Errors:
/// mqtt::Errc::invalid_envelope (fewer than 8 bytes, or sequence 0).
[[nodiscard]] std::error_code decode_envelope(ConstByteSpan payload, Enveloped& out) noexcept;

}  // namespace uplink::mqtt
