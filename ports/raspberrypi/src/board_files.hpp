// SPDX-License-Identifier: Apache-2.0
// Reading procfs/sysfs files under a root prefix without the heap: plain
// open(2)/read(2) (std::fopen would malloc a FILE and its buffer).
#pragma once

#include <cstddef>
#include <system_error>

namespace uplink::port::raspberrypi::detail {

/// Opens <root><path> read-only, close-on-exec, plus `extra_flags` (e.g.
/// O_NONBLOCK). Returns the descriptor, or -1 with `error` set (the errno of
/// open(), or std::errc::filename_too_long). A null root is "".
int open_under_root(const char* root, const char* path, int extra_flags, std::error_code& error) noexcept;

/// Reads from `fd` until `size` bytes, end of file, or (for a non-blocking
/// descriptor) nothing more ready. Retries on EINTR. Returns the bytes read;
/// `error` is set only by a failure other than EAGAIN.
std::size_t read_up_to(int fd, void* out, std::size_t size, std::error_code& error) noexcept;

/// Closes `fd` (ignoring the result: the files are read-only).
void close_fd(int fd) noexcept;

/// Reads up to `size` bytes of <root><path> into `out` (not NUL-terminated).
/// `length` is the number of bytes read (0 on error).
std::error_code read_file(const char* root, const char* path, char* out, std::size_t size,
                          std::size_t& length) noexcept;

/// White space as the kernel writes it around values.
constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace uplink::port::raspberrypi::detail
