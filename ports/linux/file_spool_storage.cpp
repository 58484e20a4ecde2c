// SPDX-License-Identifier: Apache-2.0
// Spool storage in a pre-sized file: pread/pwrite/fdatasync with EINTR and
// short transfers handled, an exclusive flock against a second user, and
// the blocks reserved at open() so that the spool never meets ENOSPC later.
#include "uplink/port/linux/file_spool_storage.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace uplink::port {
namespace {

std::error_code last_error() { return {errno, std::system_category()}; }

int open_retrying(const char* path, int flags, mode_t mode) {
  for (;;) {
    const int fd = ::open(path, flags, mode);
    if (fd >= 0 || errno != EINTR) return fd;
  }
}

/// Writes zeros over [from, to): reserves the blocks on a filesystem
/// without fallocate.
std::error_code write_zeros(int fd, off_t from, off_t to) {
  static const unsigned char zeros[4096] = {};
  while (from < to) {
    const off_t left = to - from;
    const std::size_t chunk = left < static_cast<off_t>(sizeof zeros) ? static_cast<std::size_t>(left) : sizeof zeros;
    const ssize_t n = ::pwrite(fd, zeros, chunk, from);
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) return std::make_error_code(std::errc::io_error);
    from += n;
  }
  return {};
}

/// Makes the directory entry of a new file durable (best effort: some
/// filesystems refuse fsync on a directory).
void sync_parent_directory(const char* path) {
  char directory[PATH_MAX];
  const std::size_t length = std::strlen(path);
  if (length >= sizeof directory) return;
  std::memcpy(directory, path, length + 1);
  char* slash = std::strrchr(directory, '/');
  if (slash == nullptr) {
    directory[0] = '.';
    directory[1] = '\0';
  } else if (slash == directory) {
    directory[1] = '\0';  // the root
  } else {
    *slash = '\0';
  }
  const int fd = open_retrying(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

/// Makes [0, size) of `fd` allocated and durable: posix_fallocate, or zeros
/// written from `from` on a filesystem without it; then fsync.
std::error_code reserve(int fd, off_t from, off_t size) {
  int error = 0;
  do {
    error = ::posix_fallocate(fd, 0, size);
  } while (error == EINTR);
  if (error == EOPNOTSUPP || error == EINVAL) {
    if (auto e = write_zeros(fd, from, size)) return e;
  } else if (error != 0) {
    return std::error_code(error, std::system_category());
  }
  // The new size and blocks must survive a power cut before any record is
  // written into them.
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return last_error();
  }
  return {};
}

/// Creates `path` at its full size: made and sized under a temporary name,
/// then linked into place, so that a file at `path` always had its full
/// size (a crash in between leaves at most the temporary file, replaced
/// next time). Returns the descriptor, or -1 with `error` set; EEXIST when
/// another process created `path` first.
int create_sized(const char* path, off_t size, std::error_code& error) {
  char temp[PATH_MAX];
  const int n = std::snprintf(temp, sizeof temp, "%s.new", path);
  if (n < 0 || static_cast<std::size_t>(n) >= sizeof temp) {
    error = std::make_error_code(std::errc::filename_too_long);
    return -1;
  }
  (void)::unlink(temp);  // a leftover of a crash in here
  const int fd = open_retrying(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = last_error();
    return -1;
  }
  error = reserve(fd, 0, size);
  if (!error && ::link(temp, path) != 0) error = last_error();
  (void)::unlink(temp);
  if (error) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

FileSpoolStorage::~FileSpoolStorage() { close(); }

void FileSpoolStorage::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  size_ = 0;
  intact_size_ = 0;
}

std::error_code FileSpoolStorage::open(const char* path, std::size_t size) noexcept {
  close();
  if (path == nullptr || size == 0 || size > static_cast<std::size_t>(SSIZE_MAX)) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  const off_t wanted = static_cast<off_t>(size);
  bool created = false;
  int fd = open_retrying(path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0 && errno == ENOENT) {
    std::error_code error;
    fd = create_sized(path, wanted, error);
    created = fd >= 0;
    if (fd < 0 && error == std::errc::file_exists) fd = open_retrying(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0 && error != std::errc::file_exists) return error;
  }
  if (fd < 0) return last_error();

  auto fail = [fd](std::error_code e) {
    ::close(fd);
    return e;
  };
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EINTR) return fail(last_error());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(last_error());
  if (!S_ISREG(st.st_mode)) return fail(std::make_error_code(std::errc::invalid_argument));

  // A file at `path` was created at its full size (create_sized): shorter,
  // it lost its end (or the spool size grew). Grown back with zeros; the
  // spool reports what it cannot find (intact_size()).
  intact_size_ = st.st_size < wanted ? static_cast<std::size_t>(st.st_size) : size;
  if (st.st_size < wanted) {
    if (auto e = reserve(fd, st.st_size, wanted)) return fail(e);
  }
  if (created) sync_parent_directory(path);
  fd_ = fd;
  size_ = size;
  return {};
}

std::error_code FileSpoolStorage::read(std::size_t offset, ByteSpan out) {
  if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  if (offset > size_ || out.size > size_ - offset) return std::make_error_code(std::errc::invalid_argument);
  std::size_t done = 0;
  while (done < out.size) {
    const ssize_t n = ::pread(fd_, out.data + done, out.size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) return std::make_error_code(std::errc::io_error);  // the file ends early
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::error_code FileSpoolStorage::write(std::size_t offset, ConstByteSpan data) {
  if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  if (offset > size_ || data.size > size_ - offset) return std::make_error_code(std::errc::invalid_argument);
  std::size_t done = 0;
  while (done < data.size) {
    const ssize_t n = ::pwrite(fd_, data.data + done, data.size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) return std::make_error_code(std::errc::io_error);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::error_code FileSpoolStorage::sync() {
  if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  while (::fdatasync(fd_) != 0) {
    if (errno != EINTR) return last_error();
  }
  return {};
}

}  // namespace uplink::port
