// SPDX-License-Identifier: Apache-2.0
// What Spool::open() found damaged on its storage: how many messages a
// corrupt stretch of the ring cost. Its own small header so that the
// listener can report it without pulling in the spool.
#pragma once

#include <cstdint>

namespace uplink {

/// Damage Spool::open() found and recovered around (Spool::damage(),
/// Listener::on_spool_damaged()). A torn last record (a crash in the middle
/// of a write) is not damage: it is dropped silently, as it always was.
/// Damage is a record that fails its check with valid records after it:
/// those are recovered, and the messages in between are counted here
/// (docs/DELIVERY.md, "Corruption and torn tails").
struct SpoolDamage {
  /// Messages lost in damaged stretches: the message ids missing between
  /// the last valid record before each stretch and the first one after it.
  /// Exact when the stretch held messages only; a dropped message in it
  /// (already reported when it was dropped) is counted again, and so are
  /// messages acknowledged between the two headers when the newest header
  /// was damaged too. Never fewer than were lost, unless `estimated`.
  std::uint64_t messages_lost = 0;
  /// Damaged stretches of the ring with valid records after them.
  std::uint32_t damaged_stretches = 0;
  /// messages_lost could not be counted from message ids (a spool written
  /// before head ids were recorded, damaged at its very first record; or
  /// more damaged stretches than the spool tracks, where the scan stopped):
  /// it is then a count of records, or a lower bound.
  bool estimated = false;
  /// One header slot was unreadable and the other one was used: a header
  /// write torn by a power cut (harmless), or damage.
  bool header_slot_damaged = false;
  /// The storage lost its end (SpoolStorage::intact_size(): a truncated or
  /// emptied file) where the spool's records reached: what lay there is
  /// lost and cannot be counted; messages_lost holds what the header still
  /// tells (ids it had handed out beyond the last recovered one), and
  /// `estimated` is set.
  bool truncated = false;

  /// True when messages were lost (or may have been).
  [[nodiscard]] bool lost_messages() const { return messages_lost > 0 || estimated; }
};

}  // namespace uplink
