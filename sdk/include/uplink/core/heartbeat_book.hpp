// SPDX-License-Identifier: Apache-2.0
// What the adaptive heartbeat learned, per network: a small fixed table
// keyed by the port's network identity (port/network_identity.hpp, e.g. the
// default route's interface, gateway and gateway MAC), kept across restarts
// as a few lines of text the application stores where it likes (uplink_device:
// --heartbeat-state FILE). Pure: no I/O, no heap.
//
// The text, one network per line after a version line:
//   uplink-heartbeats 1
//   <key> <survived_ms> <failed_ms> <settled 0|1>
// Keys are printable ASCII without spaces. Lines that do not parse are
// skipped (a damaged file costs what it held for those networks, nothing more).
#pragma once

#include <cstddef>
#include <cstdint>

#include "uplink/core/heartbeat_learner.hpp"

namespace uplink {

/// Per-network memories of the adaptive heartbeat, least recently used
/// replaced first when full.
class HeartbeatBook {
 public:
  /// Networks remembered at once.
  static constexpr std::size_t kNetworks = 8;
  /// Longest key kept, terminating NUL included; longer keys are cut.
  static constexpr std::size_t kKeySize = 64;
  /// Longest text write() produces.
  static constexpr std::size_t kMaxTextSize = 20 + kNetworks * (kKeySize + 3 * 11 + 4);

  /// The memory kept for `key`, or nullptr (also for an empty key).
  [[nodiscard]] const HeartbeatMemory* find(const char* key) const;
  /// Keeps `memory` for `key` (an empty key is ignored).
  void put(const char* key, const HeartbeatMemory& memory);
  /// Networks remembered.
  [[nodiscard]] std::size_t size() const;
  /// Forgets everything.
  void clear();

  /// Writes the text form into `out` (NUL-terminated when there is room);
  /// returns its length, or 0 when `size` is too small for it (kMaxTextSize always suffices).
  std::size_t write(char* out, std::size_t size) const;
  /// Reads the text form, replacing what is kept. Returns false (and keeps
  /// nothing) when the version line is missing or not this version; lines
  /// that do not parse are skipped.
  bool read(const char* text, std::size_t size);

 private:
  struct Entry {
    char key[kKeySize] = {};
    HeartbeatMemory memory;
    std::uint32_t used = 0;  // 0: free; else a stamp, larger = more recent
  };
  Entry* slot_for(const char* key);
  Entry entries_[kNetworks];
  std::uint32_t clock_ = 0;
};

}  // namespace uplink
