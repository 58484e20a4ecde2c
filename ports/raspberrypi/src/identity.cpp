// SPDX-License-Identifier: Apache-2.0
// Board identity (serial number) and board model. See raspberrypi.hpp.
#include <algorithm>
#include <cstring>

#include "board_files.hpp"
#include "uplink/config_defaults.hpp"
#include "uplink/core/device_id.hpp"
#include "uplink/port/device_identity.hpp"
#include "uplink/port/raspberrypi.hpp"

namespace uplink::port::raspberrypi {
namespace {

using detail::is_blank;

constexpr std::size_t kMaxIdLength = UPLINK_MAX_DEVICE_ID_LENGTH;
constexpr char kSerialKey[] = "Serial";
constexpr char kLastResortId[] = "uplink-device";

// [begin, end) without the white space around it.
void trim(const char*& begin, const char*& end) {
  while (begin < end && is_blank(*begin)) ++begin;
  while (end > begin && is_blank(end[-1])) --end;
}

// Copies the value [begin, end) into `out` as a device id: trimmed, bytes
// outside 0x21..0x7E replaced with '-', cut to the protocol maximum and to
// `size - 1`, NUL-terminated. `begin` may point into `out` (copies forward).
std::size_t store_id(const char* begin, const char* end, char* out, std::size_t size) {
  trim(begin, end);
  const std::size_t limit = std::min(size - 1, kMaxIdLength);
  std::size_t n = 0;
  for (; begin < end && n < limit; ++begin, ++n) {
    const auto c = static_cast<unsigned char>(*begin);
    out[n] = is_device_id_byte(c) ? static_cast<char>(c) : '-';
  }
  out[n] = '\0';
  return n;
}

// An empty or all-zero serial identifies nothing (emulators report zeros).
bool usable_serial(const char* begin, const char* end) {
  trim(begin, end);
  return std::any_of(begin, end, [](char c) { return c != '0'; });
}

// End of a device-tree string value: its NUL (or a newline, for hand-made files).
const char* value_end(const char* begin, const char* end) {
  return std::find_if(begin, end, [](char c) { return c == '\0' || c == '\n'; });
}

bool serial_from_device_tree(const char* root, char* out, std::size_t size, std::size_t& length) {
  char value[128];
  std::size_t n = 0;
  if (detail::read_file(root, "/proc/device-tree/serial-number", value, sizeof value, n)) return false;
  const char* end = value_end(value, value + n);
  if (!usable_serial(value, end)) return false;
  length = store_id(value, end, out, size);
  return true;
}

// If the line is "Serial<blanks>:<value>", sets [value, value_end) and returns true.
bool match_serial_line(const char* line, std::size_t length, const char*& value, const char*& end) {
  constexpr std::size_t key_length = sizeof kSerialKey - 1;
  if (length < key_length || std::memcmp(line, kSerialKey, key_length) != 0) return false;
  std::size_t i = key_length;
  while (i < length && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i >= length || line[i] != ':') return false;
  value = line + i + 1;
  end = line + length;
  return true;
}

// Streams /proc/cpuinfo line by line through a fixed buffer (the file is
// large on many-core PCs, and its x86 "flags" lines are longer than the
// buffer: those are skipped whole).
bool serial_from_cpuinfo(const char* root, char* out, std::size_t size, std::size_t& length) {
  std::error_code error;
  const int fd = detail::open_under_root(root, "/proc/cpuinfo", 0, error);
  if (fd < 0) return false;
  char buffer[256];
  std::size_t used = 0;
  bool skipping = false;  // inside a line longer than the buffer
  bool found = false;
  bool at_end = false;
  while (!found && !at_end) {
    const std::size_t got = detail::read_up_to(fd, buffer + used, sizeof buffer - used, error);
    at_end = got < sizeof buffer - used;  // end of file (or an error)
    used += got;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= used && !found; ++i) {
      const bool line_complete = i < used ? buffer[i] == '\n' : (at_end && start < used);
      if (!line_complete) continue;
      const char* value = nullptr;
      const char* end = nullptr;
      if (!skipping && match_serial_line(buffer + start, i - start, value, end) && usable_serial(value, end)) {
        length = store_id(value, end, out, size);
        found = true;
      }
      skipping = false;
      start = i + 1;
    }
    if (found || at_end) break;
    if (start >= used) {
      used = 0;
    } else if (start > 0) {
      std::memmove(buffer, buffer + start, used - start);
      used -= start;
    } else if (used == sizeof buffer) {
      used = 0;  // a line longer than the buffer: drop it up to its newline
      skipping = true;
    }
  }
  detail::close_fd(fd);
  return found;
}

}  // namespace

const char* identity_source_name(IdentitySource source) noexcept {
  switch (source) {
    case IdentitySource::device_tree:
      return "device_tree";
    case IdentitySource::cpuinfo:
      return "cpuinfo";
    case IdentitySource::fallback:
      return "fallback";
  }
  return "unknown";
}

Identity board_identity(char* out, std::size_t size, const char* root, IdentityFallback fallback) noexcept {
  Identity identity;
  if (out == nullptr || size == 0) return identity;
  if (size < 2) {
    out[0] = '\0';
    return identity;
  }
  if (serial_from_device_tree(root, out, size, identity.length)) {
    identity.source = IdentitySource::device_tree;
    return identity;
  }
  if (serial_from_cpuinfo(root, out, size, identity.length)) {
    identity.source = IdentitySource::cpuinfo;
    return identity;
  }
  // The fallback's answer is held to the same rules as a serial's (and not
  // trusted to NUL-terminate or to report its length right).
  out[0] = '\0';
  const std::size_t reported = (fallback != nullptr ? fallback : &::uplink::port::device_identity)(out, size);
  out[size - 1] = '\0';
  const std::size_t written = std::min(reported, std::strlen(out));
  identity.length = store_id(out, out + written, out, size);
  if (identity.length == 0) identity.length = store_id(kLastResortId, kLastResortId + sizeof kLastResortId - 1, out, size);
  identity.source = IdentitySource::fallback;
  return identity;
}

std::size_t board_model(char* out, std::size_t size, const char* root) noexcept {
  if (out == nullptr || size == 0) return 0;
  char value[128];
  std::size_t n = 0;
  const char* begin = value;
  const char* end = value;
  if (!detail::read_file(root, "/proc/device-tree/model", value, sizeof value, n)) {
    end = value_end(value, value + n);
    trim(begin, end);
  }
  if (begin == end) {
    begin = "unknown";
    end = begin + 7;
  }
  std::size_t length = 0;
  for (; begin < end && length < size - 1; ++begin, ++length) {
    const auto c = static_cast<unsigned char>(*begin);
    out[length] = (c < 0x20 || c > 0x7E) ? '?' : static_cast<char>(c);
  }
  out[length] = '\0';
  return length;
}

bool is_raspberry_pi(const char* root) noexcept {
  constexpr char kPrefix[] = "Raspberry Pi";
  char model[64];
  const std::size_t length = board_model(model, sizeof model, root);
  return length >= sizeof kPrefix - 1 && std::memcmp(model, kPrefix, sizeof kPrefix - 1) == 0;
}

}  // namespace uplink::port::raspberrypi
