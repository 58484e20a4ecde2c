// SPDX-License-Identifier: Apache-2.0
// Incremental, resumable decoder of the MQTT 3.1.1 packets a client receives
// (the shape of the native frame_decoder.hpp).
//
// Feed it bytes exactly as they arrive (one at a time, many packets at once,
// a packet split at any offset, the remaining length included); it yields
// one complete, validated packet at a time as views into its own fixed
// buffer. It never allocates and never reads or writes outside its buffer.
// The size of a packet is checked against the buffer's capacity as soon as
// the remaining length is complete, before any body byte is stored; the
// type and flags are checked as soon as the first byte arrives. Malformed
// input leaves it in a sticky error state until reset().
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/codec/codec_result.hpp"
#include "uplink/codec/mqtt_packet.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::mqtt {

/// Size-erased decoder: works on storage owned by Decoder<N> (so N stays out
/// of the signatures of code that only needs "a decoder").
class DecoderBase {
 public:
  /// What feed() did with its input.
  struct Result {
    DecodeStatus status = DecodeStatus::need_more;  ///< Why feed() returned.
    std::size_t consumed = 0;  ///< Bytes of the input taken by this call.
  };

  DecoderBase(const DecoderBase&) = delete;
  DecoderBase& operator=(const DecoderBase&) = delete;

  /// Consumes bytes until one packet completes, an error is found, or the
  /// input ends. Call again with the rest of the input after frame_ready.
  /// The previous packet's views are invalidated by this call.
  /// Errors (via error()): uplink::Errc::frame_too_large (the packet is
  /// larger than max_packet_size()), and the mqtt::Errc codes
  /// remaining_length_too_long, reserved_packet_type, unexpected_packet_type,
  /// invalid_flags, invalid_qos, qos2_not_supported, dup_on_qos0,
  /// invalid_remaining_length, truncated_field, invalid_connack_flags,
  /// session_present_on_refusal, unknown_connack_return_code,
  /// zero_packet_id, invalid_suback_return_code, invalid_utf8,
  /// invalid_topic. Fed again while failed, it consumes nothing and returns
  /// error again; error() keeps the original reason.
  [[nodiscard]] Result feed(ConstByteSpan input);

  /// The packet completed by the last feed() that returned frame_ready.
  [[nodiscard]] const Packet& packet() const { return packet_; }
  /// Why the decoder failed; empty while it has not.
  [[nodiscard]] std::error_code error() const { return error_; }
  /// True between the first byte of a packet and its completion.
  [[nodiscard]] bool mid_packet() const { return state_ != State::start && state_ != State::failed; }
  /// Largest packet (fixed header + remaining length) this decoder accepts.
  [[nodiscard]] std::size_t max_packet_size() const { return capacity_; }
  /// Forgets any partial packet and any error, for a new connection.
  void reset();

 protected:
  /// Decodes into `capacity` bytes at `storage`, owned by the derived class
  /// and outliving this object; `capacity` is the largest packet accepted.
  DecoderBase(std::uint8_t* storage, std::size_t capacity) : storage_(storage), capacity_(capacity) {}
  ~DecoderBase() = default;

 private:
  enum class State : std::uint8_t { start, length, body, failed };

  Result fail(std::error_code error, std::size_t consumed);
  Result complete(std::size_t consumed);

  std::uint8_t* storage_;
  std::size_t capacity_;
  State state_ = State::start;
  std::uint8_t first_byte_ = 0;    // type and flags of the current packet
  std::uint8_t length_bytes_ = 0;  // remaining-length bytes read so far
  std::size_t remaining_ = 0;      // the remaining length (while in `length`: the value so far)
  std::size_t filled_ = 0;         // body bytes stored so far
  Packet packet_;
  std::error_code error_;
};

/// A decoder that owns a buffer for packets of up to MaxPacketSize bytes,
/// fixed header included.
template <std::size_t MaxPacketSize = kDefaultMaxPacketSize>
class Decoder final : public DecoderBase {
  static_assert(MaxPacketSize >= 16 && MaxPacketSize <= kMaxRemainingLength + kMaxFixedHeaderSize,
                "MaxPacketSize must be within 16 .. 268435460");

 public:
  Decoder() : DecoderBase(storage_, MaxPacketSize) {}

 private:
  // No initialiser: a body byte is stored before any is read, and zeroing
  // kMaxFrameSize bytes at every construction costs code and time for nothing.
  std::uint8_t storage_[MaxPacketSize];
};

/// Validates a complete packet given as its first byte and its body (the
/// bytes after the remaining length) and fills `packet` with views into
/// `body`: the checks feed() makes, for code that frames packets itself.
/// Errors: as DecoderBase::feed(), but for frame_too_large and
/// remaining_length_too_long.
[[nodiscard]] std::error_code parse_packet_body(std::uint8_t first_byte, ConstByteSpan body, Packet& packet);

}  // namespace uplink::mqtt
