// SPDX-License-Identifier: Apache-2.0
// Device identity on Linux, first match wins:
//  1. /proc/device-tree/serial-number (Raspberry Pi and other DT boards)
//  2. /etc/machine-id (systemd), first 16 hex digits, prefixed "linux-"
//  3. the host name
// Every byte outside printable ASCII is replaced with '-', as the protocol
// allows only 0x21..0x7E in device ids (uplink/core/device_id.hpp).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "uplink/core/device_id.hpp"
#include "uplink/port/device_identity.hpp"

namespace uplink::port {
namespace {

// open/read rather than fopen: stdio allocates a buffer, and the contract
// says this must not allocate.
std::size_t read_first_token(const char* path, char* out, std::size_t size) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t got = ::read(fd, out, size - 1);
  ::close(fd);
  const std::size_t n = got > 0 ? static_cast<std::size_t>(got) : 0;
  std::size_t len = 0;
  while (len < n && out[len] != '\0' && out[len] != '\n') ++len;
  out[len] = '\0';
  return len;
}

std::size_t sanitise(char* id, std::size_t len) {
  for (std::size_t i = 0; i < len; ++i) {
    if (!is_device_id_byte(static_cast<unsigned char>(id[i]))) id[i] = '-';
  }
  return len;
}

}  // namespace

std::size_t device_identity(char* out, std::size_t size) noexcept {
  if (size < 2) return 0;
  std::size_t len = read_first_token("/proc/device-tree/serial-number", out, size);
  if (len > 0) return sanitise(out, len);

  char machine_id[64];
  len = read_first_token("/etc/machine-id", machine_id, sizeof machine_id);
  if (len >= 16) {
    std::snprintf(out, size, "linux-%.16s", machine_id);
    return sanitise(out, std::strlen(out));
  }
  if (gethostname(out, size - 1) == 0) {
    out[size - 1] = '\0';
    len = std::strlen(out);
    if (len > 0) return sanitise(out, len);
  }
  std::snprintf(out, size, "uplink-device");
  return std::strlen(out);
}

}  // namespace uplink::port
