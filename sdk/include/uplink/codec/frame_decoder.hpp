// SPDX-License-Identifier: Apache-2.0
// Incremental, resumable decoder of the uplink byte stream.
//
// Feed it bytes exactly as they arrive (one at a time, many frames at once,
// a frame split at any offset); it yields one complete, validated frame at a
// time as views into its own fixed buffer. It never allocates and never reads
// or writes outside its buffer. The length of a frame is checked against the
// buffer's capacity as soon as the header is complete, before any body byte
// is stored. Malformed input leaves it in a sticky error state until reset().
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/codec/codec_result.hpp"
#include "uplink/codec/frame.hpp"
#include "uplink/config_defaults.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink {

/// Size-erased decoder: works on storage owned by FrameDecoder<N> (so N
/// stays out of the signatures of code that only needs "a decoder").
class FrameDecoderBase {
 public:
  /// What feed() did with its input.
  struct Result {
    DecodeStatus status = DecodeStatus::need_more;  ///< Why feed() returned.
    std::size_t consumed = 0;  ///< Bytes of the input taken by this call.
  };

  FrameDecoderBase(const FrameDecoderBase&) = delete;
  FrameDecoderBase& operator=(const FrameDecoderBase&) = delete;

  /// Consumes bytes until one frame completes, an error is found, or the
  /// input ends. Call again with the rest of the input after frame_ready.
  /// The previous frame's views are invalidated by this call.
  /// Errors (via error()): frame_too_large, unknown_frame_type,
  /// unknown_control_frame, reserved_flags_set, malformed_frame,
  /// unsupported_version. Fed again while failed, it consumes nothing and
  /// returns error again; error() keeps the original reason.
  [[nodiscard]] Result feed(ConstByteSpan input);

  /// The frame completed by the last feed() that returned frame_ready.
  [[nodiscard]] const Frame& frame() const { return frame_; }
  /// Why the decoder failed; empty while it has not.
  [[nodiscard]] std::error_code error() const { return error_; }
  /// True between the first byte of a frame and its completion.
  [[nodiscard]] bool mid_frame() const { return state_ != State::start && state_ != State::failed; }
  /// Largest frame (header + body) this decoder accepts.
  [[nodiscard]] std::size_t max_frame_size() const { return capacity_; }
  /// Forgets any partial frame and any error, for a new connection.
  void reset();

 protected:
  /// Decodes into `capacity` bytes at `storage`, owned by the derived class
  /// and outliving this object; `capacity` is the largest frame accepted.
  FrameDecoderBase(std::uint8_t* storage, std::size_t capacity) : storage_(storage), capacity_(capacity) {}
  ~FrameDecoderBase() = default;

 private:
  enum class State : std::uint8_t { start, control_code, header, body, failed };

  Result fail(std::error_code error, std::size_t consumed);
  std::error_code complete_frame();

  std::uint8_t* storage_;
  std::size_t capacity_;
  State state_ = State::start;
  std::size_t filled_ = 0;     // bytes of the current frame stored so far (header included)
  std::size_t body_size_ = 0;  // from the header's length field
  Frame frame_;
  std::error_code error_;
};

/// A decoder that owns a buffer for frames of up to MaxFrameSize bytes.
template <std::size_t MaxFrameSize = kMaxFrameSize>
class FrameDecoder final : public FrameDecoderBase {
  static_assert(MaxFrameSize >= 64 && MaxFrameSize <= 65535 + kFrameHeaderSize,
                "MaxFrameSize must be within 64 .. 65539");

 public:
  FrameDecoder() : FrameDecoderBase(storage_, MaxFrameSize) {}

 private:
  std::uint8_t storage_[MaxFrameSize] = {};
};

/// Validates a complete body of length-prefixed frame type `type_byte` and
/// fills `frame` with views into `body`. Used by the decoder; exposed so that
/// servers that do their own framing can reuse the validation.
/// Errors: unknown_frame_type, malformed_frame, unsupported_version.
[[nodiscard]] std::error_code parse_frame_body(std::uint8_t type_byte, ConstByteSpan body, Frame& frame);

}  // namespace uplink
