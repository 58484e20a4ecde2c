// SPDX-License-Identifier: Apache-2.0
// Values the tools read from flags and config files, parsed one way
// everywhere: host:port and unsigned numbers. Standard library only, so
// that the config-file parsers (and their fuzz targets) use it without CLI11.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace uplink::tools {

/// A host and a port as written on a command line.
struct HostPort {
  std::string host;        ///< A name or an address; an IPv6 address without its brackets.
  std::uint16_t port = 0;  ///< 0..65535.
};

/// "host:port", "192.0.2.1:7400" or "[::1]:7400" into `out` (without
/// brackets, the last colon ends the host: "::1:7400" is ::1 port 7400);
/// false for anything else (no port, a port beyond 65535, an empty host).
/// The host is neither resolved nor checked.
[[nodiscard]] bool split_host_port(std::string_view text, HostPort& out);

/// A decimal unsigned number, digits only (no sign, no space, no 0x);
/// false when it does not fit in 64 bits.
[[nodiscard]] bool parse_unsigned(std::string_view text, std::uint64_t& value);

}  // namespace uplink::tools
