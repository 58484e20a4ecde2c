// SPDX-License-Identifier: Apache-2.0
// CRC-32 (IEEE 802.3): the one checksum of uplink's files, the device's
// spool and the reference server's session journal.
#pragma once

#include <cstdint>

#include "uplink/core/byte_span.hpp"

namespace uplink {

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) of `data`,
/// continuing from `crc` (the CRC of the bytes before): crc32(b, crc32(a))
/// equals the CRC of a followed by b. crc32("123456789") == 0xCBF43926.
[[nodiscard]] std::uint32_t crc32(ConstByteSpan data, std::uint32_t crc = 0) noexcept;

}  // namespace uplink
