// SPDX-License-Identifier: Apache-2.0
// Network byte order (big endian) for fixed-size integers: the one copy the
// codec, the outbound store, the spool and the reference server's journal
// share. The caller has checked that the bytes exist; for bounds-checked
// cursors over a view, see the codec's BigEndianReader/BigEndianWriter.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uplink::detail {

/// Writes the low `width` bytes of `value` at `out`, most significant first.
inline void store_be(std::uint8_t* out, std::uint64_t value, std::size_t width) noexcept {
  for (std::size_t i = 0; i < width; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * (width - 1 - i)));
}

/// Reads `width` bytes at `in`, most significant first.
[[nodiscard]] inline std::uint64_t load_be(const std::uint8_t* in, std::size_t width) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) value = (value << 8) | in[i];
  return value;
}

// The 16- and 32-bit forms are written out in 32-bit arithmetic: the
// general loop shifts a 64-bit value, which a 32-bit core does in several
// instructions per byte.

/// store_be() for 16 bits.
inline void store_be16(std::uint8_t* out, std::uint16_t value) noexcept {
  out[0] = static_cast<std::uint8_t>(value >> 8);
  out[1] = static_cast<std::uint8_t>(value);
}
/// store_be() for 32 bits.
inline void store_be32(std::uint8_t* out, std::uint32_t value) noexcept {
  store_be16(out, static_cast<std::uint16_t>(value >> 16));
  store_be16(out + 2, static_cast<std::uint16_t>(value));
}
/// store_be() for 64 bits.
inline void store_be64(std::uint8_t* out, std::uint64_t value) noexcept {
  store_be32(out, static_cast<std::uint32_t>(value >> 32));
  store_be32(out + 4, static_cast<std::uint32_t>(value));
}

/// load_be() for 16 bits.
[[nodiscard]] inline std::uint16_t load_be16(const std::uint8_t* in) noexcept {
  return static_cast<std::uint16_t>((in[0] << 8) | in[1]);
}
/// load_be() for 32 bits.
[[nodiscard]] inline std::uint32_t load_be32(const std::uint8_t* in) noexcept {
  return (static_cast<std::uint32_t>(load_be16(in)) << 16) | load_be16(in + 2);
}
/// load_be() for 64 bits.
[[nodiscard]] inline std::uint64_t load_be64(const std::uint8_t* in) noexcept {
  return (static_cast<std::uint64_t>(load_be32(in)) << 32) | load_be32(in + 4);
}

}  // namespace uplink::detail
