// SPDX-License-Identifier: Apache-2.0
// FileSessionStore: the reference server's durable sessions in a directory.
//
// The directory holds journal segments, journal-<16 digits>, numbered from
// 1 (format: session_journal.hpp). Only the newest one is live:
//
//   open():    replay the newest segment into the (empty) registry, a torn
//              last record dropped and counted; then compact: write the
//              registry's image to journal-<n+1>.tmp, fsync it, rename it
//              to journal-<n+1>, fsync the directory. A crash at any point
//              leaves either the old segment or the new one as the newest,
//              both complete.
//   append():  encodes the record into a buffer.
//   commit():  write()s the buffer to the newest segment and fdatasync()s
//              it; once the segment is over max_segment_bytes, compacts
//              into a new one.
//
// Older segments are never written again and never read at start: they
// keep the uplink messages delivered while they were the newest. The
// uplink_delivered records of all segments, oldest first, are the server
// application's exactly-once record of uplink (read_delivered(); the
// uplink_server program prints it with --dump-delivered). An operator
// removes segments below the newest once their messages are consumed.
//
// POSIX file I/O; one thread, like the registry it serves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "session_journal.hpp"

namespace uplink::server {

class SessionRegistry;

class FileSessionStore final : public SessionStore {
 public:
  static constexpr std::size_t kDefaultMaxSegmentBytes = std::size_t{64} << 20;

  explicit FileSessionStore(std::size_t max_segment_bytes = kDefaultMaxSegmentBytes);
  /// Closes the segment; records appended but not committed are lost, as in
  /// a crash. The registry it was opened on must not use it afterwards
  /// (destroy the server first, or set_store(nullptr)).
  ~FileSessionStore();
  FileSessionStore(const FileSessionStore&) = delete;
  FileSessionStore& operator=(const FileSessionStore&) = delete;

  /// Opens the state in `directory` (created, mode 0700, if missing): replays
  /// the newest segment into `registry`, which must hold no session yet,
  /// compacts it into a new segment and attaches itself to the registry
  /// (set_store). Errors: the file system's (errno); illegal_byte_sequence
  /// when a segment is corrupt or does not replay; already_running when
  /// opened before. problem() then names the file and what is wrong.
  [[nodiscard]] std::error_code open(const std::string& directory, SessionRegistry& registry);

  void append(const JournalRecord& record) override;
  [[nodiscard]] std::error_code commit() override;
  /// Starts a new segment with the registry's image (after a commit).
  [[nodiscard]] std::error_code compact();

  /// "<file>: <what is wrong>" after a failed open() or commit().
  [[nodiscard]] const std::string& problem() const { return problem_; }
  [[nodiscard]] const std::string& segment_path() const { return segment_path_; }
  [[nodiscard]] std::uint64_t segment_number() const { return segment_; }
  /// What open() replayed: records, and the bytes of a torn last record dropped.
  [[nodiscard]] std::size_t replayed_records() const { return replayed_records_; }
  [[nodiscard]] std::size_t torn_bytes() const { return torn_bytes_; }
  [[nodiscard]] std::uint64_t commits() const { return commits_; }

  struct Delivered {
    std::uint64_t segment = 0;
    std::string device_id;
    std::uint64_t session_id = 0;
    std::uint64_t seq = 0;
    std::vector<std::uint8_t> payload;
  };
  /// Calls `each` for every uplink message delivered, over all segments
  /// oldest first (torn tails skipped, as at open). Errors as open(), with
  /// `problem` naming the file.
  [[nodiscard]] static std::error_code read_delivered(const std::string& directory,
                                                      const std::function<void(const Delivered&)>& each,
                                                      std::string& problem);

 private:
  std::error_code fail(std::error_code error, const std::string& what);

  std::size_t max_segment_bytes_;
  std::string directory_;
  std::string segment_path_;
  std::uint64_t segment_ = 0;
  int fd_ = -1;
  std::size_t segment_bytes_ = 0;
  SessionRegistry* registry_ = nullptr;
  std::vector<std::uint8_t> pending_;
  bool failed_ = false;
  std::string problem_;
  std::size_t replayed_records_ = 0;
  std::size_t torn_bytes_ = 0;
  std::uint64_t commits_ = 0;
};

}  // namespace uplink::server
