// SPDX-License-Identifier: Apache-2.0
// The adaptive heartbeat's per-network memories and their text form.
#include "uplink/core/heartbeat_book.hpp"

#include <cstdio>
#include <cstring>

namespace uplink {
namespace {

constexpr char kVersionLine[] = "uplink-heartbeats 1";

bool key_byte(unsigned char c) { return c > 0x20 && c < 0x7F; }

// Copies `key` cut to the key size; bytes a key may not hold become '-'.
void copy_key(char (&out)[HeartbeatBook::kKeySize], const char* key) {
  std::size_t n = 0;
  for (; n + 1 < HeartbeatBook::kKeySize && key[n] != '\0'; ++n) {
    out[n] = key_byte(static_cast<unsigned char>(key[n])) ? key[n] : '-';
  }
  out[n] = '\0';
}

// Parses an unsigned decimal of at most 32 bits at `p`; advances it.
bool parse_u32(const char*& p, const char* end, std::uint32_t& out) {
  std::uint64_t v = 0;
  const char* start = p;
  while (p < end && *p >= '0' && *p <= '9') {
    v = v * 10 + static_cast<std::uint64_t>(*p - '0');
    if (v > 0xFFFFFFFFu) return false;
    ++p;
  }
  out = static_cast<std::uint32_t>(v);
  return p != start;
}

}  // namespace

const HeartbeatMemory* HeartbeatBook::find(const char* key) const {
  if (key == nullptr || key[0] == '\0') return nullptr;
  char wanted[kKeySize];
  copy_key(wanted, key);
  for (const Entry& e : entries_) {
    if (e.used != 0 && std::strcmp(e.key, wanted) == 0) return &e.memory;
  }
  return nullptr;
}

HeartbeatBook::Entry* HeartbeatBook::slot_for(const char* key) {
  char wanted[kKeySize];
  copy_key(wanted, key);
  Entry* oldest = &entries_[0];
  for (Entry& e : entries_) {
    if (e.used != 0 && std::strcmp(e.key, wanted) == 0) return &e;
    if (e.used < oldest->used) oldest = &e;
  }
  std::memcpy(oldest->key, wanted, sizeof wanted);
  return oldest;
}

void HeartbeatBook::put(const char* key, const HeartbeatMemory& memory) {
  if (key == nullptr || key[0] == '\0') return;
  Entry* e = slot_for(key);
  e->memory = memory;
  e->used = ++clock_;
}

std::size_t HeartbeatBook::size() const {
  std::size_t n = 0;
  for (const Entry& e : entries_) n += e.used != 0 ? 1 : 0;
  return n;
}

void HeartbeatBook::clear() {
  for (Entry& e : entries_) e = Entry{};
  clock_ = 0;
}

std::size_t HeartbeatBook::write(char* out, std::size_t size) const {
  std::size_t n = 0;
  const auto append = [&](int written) {
    if (written < 0 || n + static_cast<std::size_t>(written) >= size) return false;
    n += static_cast<std::size_t>(written);
    return true;
  };
  if (out == nullptr || !append(std::snprintf(out, size, "%s\n", kVersionLine))) return 0;
  // Oldest first, so that reading the text back keeps the same order of use.
  std::uint32_t last = 0;
  for (std::size_t round = 0; round < kNetworks; ++round) {
    const Entry* next = nullptr;
    for (const Entry& e : entries_) {
      if (e.used > last && (next == nullptr || e.used < next->used)) next = &e;
    }
    if (next == nullptr) break;
    last = next->used;
    if (!append(std::snprintf(out + n, size - n, "%s %u %u %u\n", next->key,
                              static_cast<unsigned>(next->memory.survived_ms),
                              static_cast<unsigned>(next->memory.failed_ms), next->memory.settled ? 1u : 0u))) {
      return 0;
    }
  }
  return n;
}

bool HeartbeatBook::read(const char* text, std::size_t size) {
  clear();
  const std::size_t version_size = sizeof kVersionLine - 1;
  if (text == nullptr || size < version_size || std::memcmp(text, kVersionLine, version_size) != 0 ||
      (size > version_size && text[version_size] != '\n' && text[version_size] != '\r')) {
    return false;
  }
  const char* const end = text + size;
  const char* p = text + version_size;
  while (p < end) {
    // One line: key, three numbers; anything else on it and it is skipped.
    const char* line_end = p;
    while (line_end < end && *line_end != '\n') ++line_end;
    const char* q = p;
    while (q < line_end && *q == ' ') ++q;
    char key[kKeySize] = {};
    std::size_t k = 0;
    bool ok = true;
    while (q < line_end && key_byte(static_cast<unsigned char>(*q))) {
      if (k + 1 < kKeySize) key[k++] = *q;
      ++q;
    }
    HeartbeatMemory m;
    std::uint32_t settled = 0;
    ok = k > 0 && q < line_end && *q++ == ' ' && parse_u32(q, line_end, m.survived_ms) && q < line_end &&
         *q++ == ' ' && parse_u32(q, line_end, m.failed_ms) && q < line_end && *q++ == ' ' &&
         parse_u32(q, line_end, settled) && settled <= 1;
    while (ok && q < line_end && (*q == ' ' || *q == '\r')) ++q;
    if (ok && q == line_end) {
      m.settled = settled == 1;
      put(key, m);
    }
    p = line_end < end ? line_end + 1 : end;
  }
  return true;
}

}  // namespace uplink
