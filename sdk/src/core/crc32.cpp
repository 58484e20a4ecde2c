// SPDX-License-Identifier: Apache-2.0
// CRC-32 with a table computed at compile time (1 KiB of read-only data).
#include "uplink/core/crc32.hpp"

namespace uplink {
namespace {

struct CrcTable {
  std::uint32_t v[256];
};

constexpr CrcTable make_crc_table() {
  CrcTable t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    t.v[i] = c;
  }
  return t;
}

constexpr CrcTable kCrcTable = make_crc_table();

}  // namespace

std::uint32_t crc32(ConstByteSpan data, std::uint32_t crc) noexcept {
  crc = ~crc;
  for (std::size_t i = 0; i < data.size; ++i) crc = kCrcTable.v[(crc ^ data.data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

}  // namespace uplink
