// SPDX-License-Identifier: Apache-2.0
// Port contract: a stable identity for this device, used as the default
// device id (on a Raspberry Pi: the board's serial number).
#pragma once

#include <cstddef>

namespace uplink::port {

/// Writes a NUL-terminated device id of printable ASCII without spaces
/// (protocol rule) into `out` (capacity `size` bytes, >= 2). Never fails: a
/// platform without an identity returns a fallback such as the host name.
/// Returns the id's length. Must not allocate.
std::size_t device_identity(char* out, std::size_t size) noexcept;

}  // namespace uplink::port
