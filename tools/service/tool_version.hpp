// SPDX-License-Identifier: Apache-2.0
// The `--version` line shared by every tool: its name, uplink's version and
// what the build holds (TLS, systemd support), e.g.
//
//   uplink_server 0.1.0 (TLS: mbedTLS 2.28.3; systemd: yes)
#pragma once

#include <string>

namespace uplink::tools {

/// uplink's version (the CMake project's), e.g. "0.1.0".
const char* version();

/// The version line of `program`, without a newline.
std::string version_line(const char* program);

/// Prints version_line(program) and a newline on stdout.
void print_version(const char* program);

}  // namespace uplink::tools
