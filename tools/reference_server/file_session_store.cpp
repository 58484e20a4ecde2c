// SPDX-License-Identifier: Apache-2.0
// Journal segments on disk: replay, compaction by rename, durable appends.
#include "file_session_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>

#include "session_registry.hpp"
#include "uplink/error.hpp"

namespace uplink::server {
namespace {

constexpr char kPrefix[] = "journal-";
constexpr std::size_t kPrefixSize = sizeof kPrefix - 1;
constexpr std::size_t kDigits = 16;

std::error_code last_error() { return {errno, std::generic_category()}; }
std::error_code corrupt() { return std::make_error_code(std::errc::illegal_byte_sequence); }

std::string segment_name(std::uint64_t number) {
  char name[kPrefixSize + kDigits + 1];
  std::snprintf(name, sizeof name, "%s%016llu", kPrefix, static_cast<unsigned long long>(number));
  return name;
}

// journal-<16 digits> -> its number; 0 for any other name (.tmp included).
std::uint64_t segment_number_of(const char* name) {
  const std::string text(name);
  if (text.size() != kPrefixSize + kDigits || text.compare(0, kPrefixSize, kPrefix) != 0) return 0;
  std::uint64_t number = 0;
  for (std::size_t i = kPrefixSize; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return 0;
    number = number * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  return number;
}

bool is_temporary(const char* name) {
  const std::string text(name);
  return text.compare(0, kPrefixSize, kPrefix) == 0 && text.size() > 4 && text.compare(text.size() - 4, 4, ".tmp") == 0;
}

// The segment numbers in `directory`, ascending; leftover .tmp files of an
// interrupted compaction are removed (they never became a segment).
std::error_code list_segments(const std::string& directory, std::vector<std::uint64_t>& numbers, bool clean) {
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return last_error();
  // Bounded by the directory's entries.
  for (dirent* entry = ::readdir(dir); entry != nullptr; entry = ::readdir(dir)) {
    if (const std::uint64_t number = segment_number_of(entry->d_name)) {
      numbers.push_back(number);
    } else if (clean && is_temporary(entry->d_name)) {
      (void)::unlink((directory + "/" + entry->d_name).c_str());
    }
  }
  ::closedir(dir);
  std::sort(numbers.begin(), numbers.end());
  return {};
}

std::error_code read_file(const std::string& path, std::vector<std::uint8_t>& bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return last_error();
  std::uint8_t buffer[65536];
  std::error_code error;
  while (true) {  // bounded by the file's size
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error = last_error();
    if (n <= 0) break;
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  ::close(fd);
  return error;
}

std::error_code write_all(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {  // every pass writes >= 1 byte or fails
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return last_error();
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

std::error_code sync_fd(int fd, bool data_only) {
  while ((data_only ? ::fdatasync(fd) : ::fsync(fd)) != 0) {
    if (errno != EINTR) return last_error();
  }
  return {};
}

// Makes a rename in `directory` durable. Some file systems refuse fsync on
// a directory (EINVAL): nothing more can be done there.
std::error_code sync_directory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return last_error();
  std::error_code error = sync_fd(fd, false);
  if (error == std::errc::invalid_argument) error = {};
  ::close(fd);
  return error;
}

}  // namespace

FileSessionStore::FileSessionStore(std::size_t max_segment_bytes) : max_segment_bytes_(max_segment_bytes) {}

FileSessionStore::~FileSessionStore() {
  if (fd_ >= 0) ::close(fd_);
}

std::error_code FileSessionStore::fail(std::error_code error, const std::string& what) {
  problem_ = what + ": " + error.message();
  return error;
}

std::error_code FileSessionStore::open(const std::string& directory, SessionRegistry& registry) {
  if (registry_ != nullptr) return make_error_code(Errc::already_running);
  directory_ = directory;
  if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) return fail(last_error(), directory);
  // Whoever can write the directory can replace the journal, and with it
  // every session (ids, positions, queued downlink): refuse one that other
  // users may write.
  struct stat info {};
  if (::stat(directory.c_str(), &info) != 0) return fail(last_error(), directory);
  if ((info.st_mode & S_IWOTH) != 0 || (info.st_mode & S_IWGRP) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(info.st_mode & 0777));
    problem_ = directory + ": other users may write it (mode " + mode +
               "); the session state must be private: chmod 700 it, or choose another directory";
    return std::make_error_code(std::errc::permission_denied);
  }
  std::vector<std::uint64_t> numbers;
  if (const std::error_code error = list_segments(directory, numbers, true)) return fail(error, directory);

  if (!numbers.empty()) {
    segment_ = numbers.back();
    const std::string path = directory + "/" + segment_name(segment_);
    std::vector<std::uint8_t> bytes;
    if (const std::error_code error = read_file(path, bytes)) return fail(error, path);
    const JournalScan scan = scan_journal(ConstByteSpan{bytes.data(), bytes.size()});
    if (!scan.ok()) {
      problem_ = path + ": " + scan.problem;
      return corrupt();
    }
    if (registry.size() != 0) {
      problem_ = path + ": the registry already holds sessions";
      return make_error_code(Errc::invalid_option);
    }
    for (std::size_t i = 0; i < scan.records.size(); ++i) {
      const std::string why = registry.apply(scan.records[i]);
      if (!why.empty()) {
        problem_ = path + ": record " + std::to_string(i + 1) + " at offset " + std::to_string(scan.offsets[i]) +
                   ": " + why;
        return corrupt();
      }
    }
    replayed_records_ = scan.records.size();
    torn_bytes_ = scan.torn_bytes;
  }
  registry_ = &registry;
  if (const std::error_code error = compact()) {
    registry_ = nullptr;
    return error;
  }
  registry.set_store(this);
  return {};
}

void FileSessionStore::append(const JournalRecord& record) {
  if (!failed_) encode_journal_record(record, pending_);
}

std::error_code FileSessionStore::commit() {
  if (failed_) return make_error_code(Errc::not_running);
  if (pending_.empty()) return {};
  if (fd_ < 0) {
    failed_ = true;
    problem_ = "not open";
    return make_error_code(Errc::not_running);
  }
  std::error_code error = write_all(fd_, pending_.data(), pending_.size());
  if (!error) error = sync_fd(fd_, true);
  if (error) {
    // What reached the file may be a torn record: the next start drops it.
    failed_ = true;
    return fail(error, segment_path_);
  }
  segment_bytes_ += pending_.size();
  pending_.clear();
  ++commits_;
  if (segment_bytes_ > max_segment_bytes_) return compact();
  return {};
}

std::error_code FileSessionStore::compact() {
  if (registry_ == nullptr) return make_error_code(Errc::not_running);
  const std::uint64_t number = segment_ + 1;
  const std::string final_path = directory_ + "/" + segment_name(number);
  const std::string temporary = final_path + ".tmp";
  std::vector<std::uint8_t> bytes;
  encode_journal_magic(bytes);
  for (const JournalRecord& record : registry_->image()) encode_journal_record(record, bytes);

  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    failed_ = true;
    return fail(last_error(), temporary);
  }
  std::error_code error = write_all(fd, bytes.data(), bytes.size());
  if (!error) error = sync_fd(fd, false);
  ::close(fd);
  if (!error && ::rename(temporary.c_str(), final_path.c_str()) != 0) error = last_error();
  if (!error) error = sync_directory(directory_);
  int next_fd = -1;
  if (!error) {
    next_fd = ::open(final_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (next_fd < 0) error = last_error();
  }
  if (error) {
    (void)::unlink(temporary.c_str());
    failed_ = true;
    return fail(error, final_path);
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = next_fd;
  segment_ = number;
  segment_path_ = final_path;
  segment_bytes_ = bytes.size();
  return {};
}

std::error_code FileSessionStore::read_delivered(const std::string& directory,
                                                 const std::function<void(const Delivered&)>& each,
                                                 std::string& problem) {
  std::vector<std::uint64_t> numbers;
  if (const std::error_code error = list_segments(directory, numbers, false)) {
    problem = directory + ": " + error.message();
    return error;
  }
  // Every segment starts with the sessions known then, so a session's
  // device is known by the time it delivers.
  std::map<std::uint64_t, std::string> devices;
  for (const std::uint64_t number : numbers) {
    const std::string path = directory + "/" + segment_name(number);
    std::vector<std::uint8_t> bytes;
    if (const std::error_code error = read_file(path, bytes)) {
      problem = path + ": " + error.message();
      return error;
    }
    const JournalScan scan = scan_journal(ConstByteSpan{bytes.data(), bytes.size()});
    if (!scan.ok()) {
      problem = path + ": " + scan.problem;
      return corrupt();
    }
    for (const JournalRecord& record : scan.records) {
      if (record.type == JournalRecordType::session) devices[record.session_id] = record.device_id;
      if (record.type != JournalRecordType::uplink_delivered) continue;
      Delivered delivered;
      delivered.segment = number;
      delivered.device_id = devices[record.session_id];
      delivered.session_id = record.session_id;
      delivered.seq = record.seq;
      delivered.payload = record.payload;
      each(delivered);
    }
  }
  return {};
}

}  // namespace uplink::server
