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
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;

  constexpr ConstByteSpan() = default;
  constexpr ConstByteSpan(const std::uint8_t* d, std::size_t n) : data(d), size(n) {}
  ConstByteSpan(const char* d, std::size_t n)
      : data(reinterpret_cast<const std::uint8_t*>(d)), size(n) {}

  [[nodiscard]] constexpr bool empty() const { return size == 0; }
  [[nodiscard]] constexpr const std::uint8_t* begin() const { return data; }
  [[nodiscard]] constexpr const std::uint8_t* end() const { return data + size; }
  [[nodiscard]] constexpr std::uint8_t operator[](std::size_t i) const { return data[i]; }
  /// The bytes from `offset` on; an offset past the end yields an empty span.
  [[nodiscard]] constexpr ConstByteSpan subspan(std::size_t offset) const {
    return offset >= size ? ConstByteSpan{data + size, 0} : ConstByteSpan{data + offset, size - offset};
  }
};

/// Writable view of bytes. Never owns.
struct ByteSpan {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;

  constexpr ByteSpan() = default;
  constexpr ByteSpan(std::uint8_t* d, std::size_t n) : data(d), size(n) {}

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
