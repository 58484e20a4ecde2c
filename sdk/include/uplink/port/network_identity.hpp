// SPDX-License-Identifier: Apache-2.0
// Port contract: which network the device is on, as far as the platform
// can tell, so the adaptive heartbeat keeps what it learned per network
// (core/heartbeat_book.hpp) and re-learns only when the network really moved.
#pragma once

#include <cstddef>

namespace uplink::port {

/// Writes a key naming the network the device reaches its server through
/// into `out` (capacity `size` bytes, >= 1): NUL-terminated printable ASCII
/// without spaces, the same for as long as the device stays on that network
/// (the Linux port: the default route's interface and gateway,
/// "wlan0@192.168.1.1"). Returns its length; 0 with `out` empty when the
/// platform cannot tell (no default route, no such facility): the client
/// then re-learns after every network change. Must not block or allocate.
std::size_t network_identity(char* out, std::size_t size) noexcept;

}  // namespace uplink::port
