// SPDX-License-Identifier: Apache-2.0
// The protocol's rule for device ids (docs/PROTOCOL.md, HELLO): 1 to
// UPLINK_MAX_DEVICE_ID_LENGTH bytes of printable ASCII without space. One
// copy for the codec, the options check and the ports that derive an id.
#pragma once

namespace uplink {

/// True for a byte a device id may hold: 0x21..0x7E.
constexpr bool is_device_id_byte(unsigned char byte) noexcept { return byte >= 0x21 && byte <= 0x7E; }

}  // namespace uplink
