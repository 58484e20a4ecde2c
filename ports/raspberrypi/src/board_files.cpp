// SPDX-License-Identifier: Apache-2.0
#include "board_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "uplink/port/raspberrypi.hpp"

namespace uplink::port::raspberrypi::detail {

int open_under_root(const char* root, const char* path, int extra_flags, std::error_code& error) noexcept {
  if (root == nullptr) root = "";
  const std::size_t root_length = std::strlen(root);
  const std::size_t path_length = std::strlen(path);
  if (root_length + path_length + 1 > kMaxPathLength) {
    error = std::make_error_code(std::errc::filename_too_long);
    return -1;
  }
  char full[kMaxPathLength];
  std::memcpy(full, root, root_length);
  std::memcpy(full + root_length, path, path_length + 1);
  int fd = -1;
  do {
    fd = ::open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | extra_flags);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) error = std::error_code(errno, std::generic_category());
  return fd;
}

std::size_t read_up_to(int fd, void* out, std::size_t size, std::error_code& error) noexcept {
  auto* bytes = static_cast<unsigned char*>(out);
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, bytes + got, size - got);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n == 0) {
      break;  // end of file
    } else if (errno == EINTR) {
      continue;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK) error = std::error_code(errno, std::generic_category());
      break;
    }
  }
  return got;
}

void close_fd(int fd) noexcept { (void)::close(fd); }

std::error_code read_file(const char* root, const char* path, char* out, std::size_t size,
                          std::size_t& length) noexcept {
  length = 0;
  std::error_code error;
  const int fd = open_under_root(root, path, 0, error);
  if (fd < 0) return error;
  const std::size_t got = read_up_to(fd, out, size, error);
  close_fd(fd);
  if (!error) length = got;
  return error;
}

}  // namespace uplink::port::raspberrypi::detail
