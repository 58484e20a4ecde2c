// SPDX-License-Identifier: Apache-2.0
// The `--version` line of the tools. See tool_version.hpp.
#include "tool_version.hpp"

#include <cstdio>

#include "service_notifier.hpp"

#if UPLINK_WITH_TLS
#include <mbedtls/version.h>
#endif

namespace uplink::tools {

const char* version() { return UPLINK_TOOLS_VERSION; }

std::string version_line(const char* program) {
  std::string line = program;
  line += ' ';
  line += version();
#if UPLINK_WITH_TLS
  line += " (TLS: mbedTLS " MBEDTLS_VERSION_STRING;
#else
  line += " (TLS: no";
#endif
  line += ServiceNotifier::kSupported ? "; systemd: yes)" : "; systemd: no)";
  return line;
}

void print_version(const char* program) { std::printf("%s\n", version_line(program).c_str()); }

}  // namespace uplink::tools
