// SPDX-License-Identifier: Apache-2.0
// Bounds-checked big-endian cursors over byte views, for the codec only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "uplink/core/byte_order.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::detail {

/// Reads network-order integers; any read past the end sets failed() and
/// yields zero instead of touching memory outside the view.
class BigEndianReader {
 public:
  explicit BigEndianReader(ConstByteSpan in) : in_(in) {}

  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(take(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(take(4)); }
  std::uint64_t u64() { return take(8); }
  /// A view of the next `n` bytes (empty and failed when fewer remain).
  ConstByteSpan bytes(std::size_t n) {
    if (failed_ || remaining() < n) {
      failed_ = true;
      return {};
    }
    ConstByteSpan view{in_.data + offset_, n};
    offset_ += n;
    return view;
  }
  /// Everything not read yet.
  ConstByteSpan rest() { return bytes(remaining()); }

  [[nodiscard]] std::size_t remaining() const { return in_.size - offset_; }
  [[nodiscard]] bool failed() const { return failed_; }

 private:
  std::uint64_t take(std::size_t width) {
    if (failed_ || remaining() < width) {
      failed_ = true;
      return 0;
    }
    const std::uint64_t value = load_be(in_.data + offset_, width);
    offset_ += width;
    return value;
  }

  ConstByteSpan in_;
  std::size_t offset_ = 0;
  bool failed_ = false;
};

/// Writes network-order integers into a buffer the caller has already checked
/// to be large enough (the encoder computes the exact size first).
class BigEndianWriter {
 public:
  explicit BigEndianWriter(std::uint8_t* out) : out_(out) {}

  void u8(std::uint8_t v) { *out_++ = v; }
  void u16(std::uint16_t v) {
    store_be16(out_, v);
    out_ += 2;
  }
  void u32(std::uint32_t v) {
    store_be32(out_, v);
    out_ += 4;
  }
  void u64(std::uint64_t v) {
    store_be64(out_, v);
    out_ += 8;
  }
  void bytes(ConstByteSpan b) {
    if (b.size != 0) std::memcpy(out_, b.data, b.size);
    out_ += b.size;
  }

 private:
  std::uint8_t* out_;
};

}  // namespace uplink::detail
