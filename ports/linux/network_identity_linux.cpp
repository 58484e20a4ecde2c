// SPDX-License-Identifier: Apache-2.0
// Network identity on Linux: the IPv4 default route with the lowest metric,
// from /proc/net/route (this process's network namespace), as
// "<interface>@<gateway>", e.g. "wlan0@192.168.1.1"; a default route
// without a gateway (a point-to-point link, a cellular modem) is just
// "<interface>". Two networks whose default routes look alike (one home
// router's address on the same Wi-Fi interface) share a key: the adaptive
// heartbeat then corrects itself when the settled interval fails.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "uplink/port/network_identity.hpp"

namespace uplink::port {
namespace {

constexpr unsigned kRouteUp = 0x1;  // RTF_UP

struct Best {
  char iface[32] = {};
  std::uint32_t gateway = 0;
  unsigned long metric = ~0ul;
  bool found = false;
};

// One line of /proc/net/route: Iface Destination Gateway Flags RefCnt Use
// Metric Mask ..., tab-separated, addresses as hexadecimal of the address
// in memory order.
void consider(char* line, Best& best) {
  char* fields[8] = {};
  int n = 0;
  char* save = nullptr;
  for (char* f = strtok_r(line, " \t", &save); f != nullptr && n < 8; f = strtok_r(nullptr, " \t", &save)) {
    fields[n++] = f;
  }
  if (n < 8) return;
  char* end = nullptr;
  const unsigned long destination = std::strtoul(fields[1], &end, 16);
  if (*end != '\0') return;  // the header line
  const unsigned long gateway = std::strtoul(fields[2], nullptr, 16);
  const unsigned long flags = std::strtoul(fields[3], nullptr, 16);
  const unsigned long metric = std::strtoul(fields[6], nullptr, 10);
  const unsigned long mask = std::strtoul(fields[7], nullptr, 16);
  if (destination != 0 || mask != 0 || (flags & kRouteUp) == 0 || metric >= best.metric) return;
  std::snprintf(best.iface, sizeof best.iface, "%s", fields[0]);
  best.gateway = static_cast<std::uint32_t>(gateway);
  best.metric = metric;
  best.found = true;
}

}  // namespace

std::size_t network_identity(char* out, std::size_t size) noexcept {
  if (out == nullptr || size == 0) return 0;
  out[0] = '\0';
  // open/read into a fixed buffer: stdio would allocate.
  const int fd = ::open("/proc/net/route", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  Best best;
  char chunk[512];
  char line[256];
  std::size_t line_len = 0;
  for (int guard = 0; guard < 4096; ++guard) {  // 2 MiB of routes at most
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got <= 0) break;
    for (ssize_t i = 0; i < got; ++i) {
      if (chunk[i] != '\n') {
        if (line_len + 1 < sizeof line) line[line_len++] = chunk[i];
        continue;
      }
      line[line_len] = '\0';
      consider(line, best);
      line_len = 0;
    }
  }
  ::close(fd);
  if (!best.found) return 0;
  unsigned char g[4];
  std::memcpy(g, &best.gateway, sizeof g);  // the address's bytes, as the kernel printed them
  const int n = best.gateway == 0
                    ? std::snprintf(out, size, "%s", best.iface)
                    : std::snprintf(out, size, "%s@%u.%u.%u.%u", best.iface, g[0], g[1], g[2], g[3]);
  if (n < 0 || static_cast<std::size_t>(n) >= size) {
    out[0] = '\0';
    return 0;
  }
  // An interface name may hold bytes a key may not: they become '-'.
  for (int i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(out[i]);
    if (c <= 0x20 || c >= 0x7F) out[i] = '-';
  }
  return static_cast<std::size_t>(n);
}

}  // namespace uplink::port
