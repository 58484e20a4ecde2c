// SPDX-License-Identifier: Apache-2.0
// Non-owning views of bytes: a C++17 stand-in for std::span<std::byte>.
//
// The caller owns every buffer (coreMQTT's MQTTFixedBuffer_t idea): uplink
// passes pointer + size pairs around and never allocates to hold bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace uplink {

/// Read-only view of bytes. Never owns; the viewed memory must outlive it.
struct ConstByteSpan {
  const std::uint8_t* data = nullptr;  ///< First byte; may be null when `size` is 0.
  std::size_t size = 0;                ///< Number of bytes viewed.

  /// An empty view (null, 0).
  constexpr ConstByteSpan() = default;
  /// Views `n` bytes from `d`; the caller keeps them alive and unchanged while the view is used.
  constexpr ConstByteSpan(const std::uint8_t* d, std::size_t n) : data(d), size(n) {}
  /// Views `n` characters from `d` as bytes (no terminator is implied or counted).
  ConstByteSpan(const char* d, std::size_t n)
      : data(reinterpret_cast<const std::uint8_t*>(d)), size(n) {}

  /// True when the view holds no bytes (`data` may still be non-null).
  [[nodiscard]] constexpr bool empty() const { return size == 0; }
  /// Iterator to the first byte, for range-for loops.
  [[nodiscard]] constexpr const std::uint8_t* begin() const { return data; }
  /// Iterator one past the last byte.
  [[nodiscard]] constexpr const std::uint8_t* end() const { return data + size; }
  /// The byte at index `i`; `i` must be below `size` (not checked).
  [[nodiscard]] constexpr std::uint8_t operator[](std::size_t i) const { return data[i]; }
  /// The bytes from `offset` on; an offset past the end yields an empty span.
  [[nodiscard]] constexpr ConstByteSpan subspan(std::size_t offset) const {
    return offset >= size ? ConstByteSpan{data + size, 0} : ConstByteSpan{data + offset, size - offset};
  }
};

/// Writable view of bytes. Never owns.
struct ByteSpan {
  std::uint8_t* data = nullptr;  ///< First byte; may be null when `size` is 0.
  std::size_t size = 0;          ///< Number of bytes that may be written.

  /// An empty view (null, 0).
  constexpr ByteSpan() = default;
  /// Views `n` writable bytes from `d`; the caller keeps them alive while the view is used.
  constexpr ByteSpan(std::uint8_t* d, std::size_t n) : data(d), size(n) {}

  /// The same bytes, read-only.
  constexpr operator ConstByteSpan() const { return {data, size}; }  // NOLINT: views convert freely
};

/// A span over a string literal or character array, without its terminator.
template <std::size_t N>
[[nodiscard]] inline ConstByteSpan literal_bytes(const char (&text)[N]) {
  return {text, N - 1};
}

/// Byte-wise equality of two views.
[[nodiscard]] inline bool equal_bytes(ConstByteSpan a, ConstByteSpan b) {
  return a.size == b.size && (a.size == 0 || std::memcmp(a.data, b.data, a.size) == 0);
}

}  // namespace uplink
