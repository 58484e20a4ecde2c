// SPDX-License-Identifier: Apache-2.0
// The Linux port of SpoolStorage: a pre-sized file.
#pragma once

#include <cstddef>
#include <system_error>

#include "uplink/port/spool_storage.hpp"

namespace uplink::port {

/// Spool storage in one file of a fixed size. Typical use:
///
///   uplink::port::FileSpoolStorage file;
///   uplink::Spool spool;
///   if (auto e = file.open("/var/lib/mydevice/uplink.spool", uplink::Spool::recommended_storage_size())) ...
///   if (auto e = spool.open(file, {uplink::SpoolSync::interval, 1000})) ...
///
/// - open() creates the file (mode 0600) if needed and reserves its blocks
///   up front (posix_fallocate; on a filesystem without it, zeros are
///   written), so that no later write fails for lack of space; a new file
///   and its directory entry are made durable before open() returns. A new
///   file is made and sized under a temporary name (`path` + ".new") and
///   then linked into place, so a file at `path` always had its full size:
///   an existing file shorter than `size` (zero bytes included) was
///   truncated, and is grown back with zeros, its original length reported
///   by intact_size() (the spool reports the loss: Spool::damage()). Bytes
///   of an existing larger file past `size` are left alone (a spool opened
///   with another size reformats: see Spool::open()).
/// - The file is locked (flock, exclusive, non-blocking): a second open of
///   the same file, by this or another process, fails with EWOULDBLOCK
///   instead of corrupting the spool. The lock goes with the process.
/// - read/write are pread/pwrite loops (EINTR and short transfers handled);
///   sync() is fdatasync(). Errors carry errno in the system category.
/// Never allocates. Not thread-safe (one Spool uses it).
class FileSpoolStorage final : public SpoolStorage {
 public:
  FileSpoolStorage() = default;
  ~FileSpoolStorage();
  FileSpoolStorage(const FileSpoolStorage&) = delete;
  FileSpoolStorage& operator=(const FileSpoolStorage&) = delete;

  /// Opens (or creates) `path` as `size` bytes of storage. Closes a file
  /// opened before. Errors: invalid_argument (size 0), or the failing
  /// system call's errno (the storage stays closed).
  [[nodiscard]] std::error_code open(const char* path, std::size_t size) noexcept;
  /// Closes the file (without syncing) and releases the lock.
  void close() noexcept;
  /// True between a successful open() and close() (or destruction).
  [[nodiscard]] bool is_open() const { return fd_ >= 0; }

  /// The size given to open(); 0 while closed.
  [[nodiscard]] std::size_t size() const override { return size_; }
  /// size(), or the shorter length the file had at open() (it was truncated).
  [[nodiscard]] std::size_t intact_size() const override { return intact_size_; }
  /// invalid_argument when [offset, offset + size) is not within size();
  /// io_error when the file ends early (truncated behind our back).
  [[nodiscard]] std::error_code read(std::size_t offset, ByteSpan out) override;
  /// invalid_argument when [offset, offset + data.size) is not within
  /// size(); otherwise the errno of pwrite (ENOSPC cannot happen: the blocks
  /// were reserved by open()). Not durable until sync().
  [[nodiscard]] std::error_code write(std::size_t offset, ConstByteSpan data) override;
  /// fdatasync(): every write() before it is on the medium when it returns
  /// without error; otherwise its errno.
  [[nodiscard]] std::error_code sync() override;

 private:
  int fd_ = -1;
  std::size_t size_ = 0;
  std::size_t intact_size_ = 0;
};

}  // namespace uplink::port
