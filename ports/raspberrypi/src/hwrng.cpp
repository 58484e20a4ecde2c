// SPDX-License-Identifier: Apache-2.0
// The hardware random number generator (/dev/hwrng, bcm2835-rng / iproc-rng200
// on a Pi), read non-blocking. See raspberrypi.hpp.
#include <fcntl.h>

#include "board_files.hpp"
#include "uplink/port/raspberrypi.hpp"

namespace uplink::port::raspberrypi {

std::size_t hwrng_read(void* out, std::size_t size, const char* root) noexcept {
  if (out == nullptr || size == 0) return 0;
  std::error_code error;
  const int fd = detail::open_under_root(root, "/dev/hwrng", O_NONBLOCK, error);
  if (fd < 0) return 0;  // absent, or not readable by this user
  // EAGAIN (nothing more ready) and errors end the read; what came is kept.
  const std::size_t got = detail::read_up_to(fd, out, size, error);
  detail::close_fd(fd);
  return got;
}

int hwrng_entropy_source(void* data, unsigned char* output, std::size_t len, std::size_t* olen) noexcept {
  const std::size_t got = hwrng_read(output, len, static_cast<const char*>(data));
  if (olen != nullptr) *olen = got;
  return 0;
}

}  // namespace uplink::port::raspberrypi
