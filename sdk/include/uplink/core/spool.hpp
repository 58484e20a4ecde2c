// SPDX-License-Identifier: Apache-2.0
// The spool: an optional file-backed copy of the outbound store, so that
// messages queued while offline survive a process crash or a power cut, and
// with them the session identity and the sequence numbers (so the server can
// still deduplicate after the device restarts).
//
// The spool lives in a pre-sized storage area (a file on Linux, see
// uplink/port/linux/file_spool_storage.hpp), reached through SpoolStorage. It never
// allocates; its only buffer holds one record. Pure core: no I/O of its own,
// no clock reads.
//
// Layout (every integer big-endian):
//
//   [ header slot A: 128 ][ header slot B: 128 ][ ring of records ... ]
//   0                     128                   256 (kRingOffset)     size()
//
// Header slot (the valid slot with the higher generation wins):
//    0  u32  magic "UPSP" (0x55505350)
//    4  u16  format version (1)
//    6  u16  reserved, 0
//    8  u64  generation: +1 at every header write
//   16  u64  storage size at format time (a different size reformats)
//   24  u32  epoch: +1 at every open(); the highest epoch records may carry
//   28  u32  head epoch  } epoch and serial of the record at the head
//   32  u32  head serial } (of the next record written when the ring is empty)
//   36  u32  reserved, 0
//   40  u64  head offset: the acknowledged position, where the oldest
//            unacknowledged record starts (kRingOffset <= head < size())
//   48  u64  head_seq: wire sequence number of the oldest live message
//   56  u64  session_id
//   64  u64  last_downlink_seq
//   72  u64  next_message_id
//   80  u32  CRC-32 of bytes 0..79
//   84  u64  head id: the message id of the record at the head (the
//            smallest id the next append can take when the ring is empty);
//            0 = unknown
//   92  u32  CRC-32 of bytes 0..91 (a header without it, all zeros here,
//            was written by an older version: the head id is unknown)
//   96  ...  zero up to 128 (not checked)
//
// Record (24 bytes + payload; never straddles the end of the ring):
//    0  u8   kind: 'M' message, 'D' dropped message (an 'M' whose kind byte
//            was overwritten by tombstone()), 'W' wrap (the rest of the ring
//            is unused, the next record starts at kRingOffset)
//    1  u8   reserved, 0
//    2  u16  payload length n ('W': 0)
//    4  u32  epoch  } consecutive records have consecutive serials within an
//    8  u32  serial } epoch; the first record of a newer epoch has serial 0
//   12  u64  message id ('W': 0)
//   20  n    payload
//   20+n u32 CRC-32 of bytes 0..19+n, byte 0 counted as 'M' for 'M' and 'D'
// When fewer than 24 bytes remain before the end of the ring after a record,
// they are skipped and the next record starts at kRingOffset.
//
// Recovery (open()) reads the newest valid header, then follows the records
// from the head offset: the first must carry the head's epoch and serial,
// each next one must carry the next serial of the same epoch (or serial 0 of
// a newer epoch up to the header's), a valid CRC, and a message id greater
// than every id before it. A header write torn by a power cut leaves the
// other slot, the previous header, in force.
//
// Where a record fails these, recovery looks further (resynchronises): it
// scans the rest of the ring, byte by byte, for a record that continues the
// chain, i.e. all of:
//  - a plausible record header ('M' or 'D', reserved byte 0, id not 0,
//    length within kMaxPayload and the ring) and a valid CRC-32;
//  - a later place in the chain: the same epoch and a serial at least two
//    past the last valid one (one or more records lost), or a newer epoch up
//    to the header's;
//  - a message id greater than the last valid one (or, at the head, at
//    least the header's head id), and, in the same epoch, consistent with
//    the gap: at least one id per lost record but the wrap record, and 24
//    ring bytes per lost record;
//  - room for it within one lap of the ring from the head.
// Stale records of earlier laps carry older serials and smaller ids, copies
// left by a crashed compaction smaller ids, and random bytes pass a CRC-32
// with a chance of 2^-32: none of them is taken. If such a record is found,
// the stretch before it is damage: the messages after it are recovered, and
// the ids missing in between are counted as lost (damage()). If none is
// found, the failing record is the torn or never-written end of the ring:
// everything before it is kept, nothing is reported (a crash in the middle
// of an append loses that append only, which its caller was never told had
// succeeded). Damaged stretches are skipped like dropped records until the
// head passes them; open() compacts at once when there is room, so that a
// restart does not find (and report) the same damage again.
//
// Durability policy (SpoolOptions::sync). Whatever the policy, recovery never
// returns a torn, corrupt or reordered message, and a process crash (the
// kernel survives) loses nothing that append() accepted; the policies differ
// in what a power cut (or a kernel crash) can cost:
//
//  - every_write (default): append(), remove_front(), tombstone() and
//    save_state() return after SpoolStorage::sync(). A power cut loses no
//    message whose append() returned; it can replay only messages whose
//    acknowledgement was being recorded at the cut (remove_front() had not
//    returned). One fdatasync() per message and per acknowledgement: safe,
//    and slow and wearing on flash.
//  - interval: data is written at once and synced at most once every
//    sync_interval_ms, when the caller calls maybe_sync(now) (at
//    next_sync_due() at the latest). A power cut loses at most the messages
//    appended in the last sync_interval_ms, may bring back messages dropped
//    in that time, and may replay messages acknowledged in that time, with
//    their original sequence numbers: the server discards those repeats if
//    it kept the session; one that lost its sessions delivers them twice.
//    The downlink position and session id may also be up to that old
//    (the server resends downlink messages the device had already delivered).
//  - none: never syncs (except at open() and flush()); the kernel writes back
//    when it wants (typically within 30 s). A power cut can lose every
//    queued message and replay acknowledged ones.
// Besides, the spool syncs on its own when it starts a new epoch (open(), and
// every 2^32 records); with interval, when an append needs ring space that
// acknowledgements freed since the last sync (a power cut must always find
// the records the durable header points to); before a compaction moves the
// head onto the copies (interval, every_write); after a header write failed.
// docs/DELIVERY.md has this policy as a table, and the tests behind it.
//
// Capacity: the ring holds what the RAM OutboundStore holds (its records
// cost 24 bytes instead of 10) if storage is at least minimum_storage_size().
// Dropped messages keep occupying the ring until the head passes them; when
// they pile up (drop_oldest during a long outage, with unacknowledged
// messages pinning the head) the spool compacts: it copies the live records
// to the tail and moves the head there. recommended_storage_size() leaves
// room for that, so that append() never fails while the live messages fit
// the OutboundStore.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <type_traits>

#include "uplink/codec/frame.hpp"
#include "uplink/config_defaults.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/core/crc32.hpp"
#include "uplink/core/keep_alive.hpp"
#include "uplink/core/outbound_store.hpp"
#include "uplink/core/spool_damage.hpp"

namespace uplink {

/// Durable storage under a Spool: a fixed-size array of bytes, typically a
/// pre-sized file (port: uplink/port/linux/file_spool_storage.hpp). Contract:
///  - size(): the number of bytes, [0, size()) all readable and writable;
///    it does not change while a Spool uses the storage.
///  - read(): fills all of `out` from `offset` or returns an error. Bytes
///    never written read as whatever the medium holds (zeros on a new file);
///    that is never an error.
///  - write(): writes all of `data` at `offset` or returns an error. Once it
///    returned, a later read() sees the data, and so does the next process
///    after a process crash (the kernel keeps it). It is not durable yet:
///    after a power cut, every byte of a write not followed by a completed
///    sync() holds its old or its new value (a write may be torn at any
///    byte), and such writes may survive in any order. A one-byte write is
///    atomic (the old or the new value).
///  - sync(): returns after every write that returned before it is durable
///    (fdatasync on Linux).
///  - intact_size(): how much of it still holds what was written, when the
///    storage knows it lost its end (a file found truncated and grown back
///    with zeros); size() otherwise (the default). The spool reports a loss
///    when its records reached past it (SpoolDamage::truncated).
/// The spool never writes past size() and never asks for a zero-length
/// read or write. Must not allocate.
class SpoolStorage {
 public:
  /// Bytes of storage, fixed while a Spool uses it.
  [[nodiscard]] virtual std::size_t size() const = 0;
  /// Bytes from the start that hold what was written (see the class comment).
  [[nodiscard]] virtual std::size_t intact_size() const { return size(); }
  /// Fills all of `out` from `offset`, or returns an error (class comment).
  [[nodiscard]] virtual std::error_code read(std::size_t offset, ByteSpan out) = 0;
  /// Writes all of `data` at `offset`, or returns an error; durable only after sync().
  [[nodiscard]] virtual std::error_code write(std::size_t offset, ConstByteSpan data) = 0;
  /// Makes every write() that returned before it durable, or returns an error.
  [[nodiscard]] virtual std::error_code sync() = 0;

 protected:
  ~SpoolStorage() = default;
};

/// When the spool makes its writes durable (see the policy above).
enum class SpoolSync : std::uint8_t {
  every_write,  ///< sync after every change: a power cut loses nothing accepted.
  interval,     ///< sync at most every sync_interval_ms, through maybe_sync().
  none,         ///< leave it to the kernel: a power cut can lose everything queued.
};

/// How a Spool opens and when it syncs; given to Spool::open().
struct SpoolOptions {
  SpoolSync sync = SpoolSync::every_write;  ///< Durability policy; the file comment weighs the three.
  /// For SpoolSync::interval: the longest a write stays unsynced (if
  /// maybe_sync() is called at next_sync_due()); 1 .. 3600000.
  std::uint32_t sync_interval_ms = 1000;
  /// What open() does when neither header slot is readable and the storage
  /// is not blank (all zeros): false (the default) refuses with
  /// Errc::spool_damaged and leaves the bytes alone, since they may hold
  /// messages a tool could still salvage; true formats it, losing them.
  bool reformat_damaged = false;
};

/// What persists besides the messages.
struct SpoolState {
  std::uint64_t session_id = 0;         ///< 0 = none (a new session).
  std::uint64_t last_downlink_seq = 0;  ///< Highest downlink seq delivered to the application.
  std::uint64_t next_message_id = 1;    ///< Id the next append() must use at least.
  std::uint64_t head_seq = 1;           ///< Wire seq of the oldest live message.
};

/// A file-backed copy of the outbound store and the session identity, so
/// that queued messages survive a crash or a power cut (within its sync
/// policy). The file comment has its on-storage layout, recovery and
/// durability rules. Never allocates; not thread-safe (the client's lock
/// guards it once attached).
class Spool {
 public:
  static constexpr std::size_t kSlotSize = 128;  ///< Bytes of each of the two header slots.
  static constexpr std::size_t kRingOffset = 2 * kSlotSize;  ///< Storage offset where the ring of records starts.
  static constexpr std::size_t kRecordHeader = 20;  ///< Bytes of a record before its payload.
  static constexpr std::size_t kRecordOverhead = kRecordHeader + 4;  ///< Bytes of a record besides its payload (header, CRC).
  /// Largest payload (the largest message send() accepts).
  static constexpr std::size_t kMaxPayload = kMaxDataPayload;
  static constexpr std::size_t kMaxRecord = kRecordOverhead + kMaxPayload;  ///< Bytes of the largest record.
  static constexpr std::uint16_t kFormatVersion = 1;  ///< On-storage format this build writes and reads.
  /// Damaged stretches after the first live message that one open() skips
  /// over; at one more, recovery stops there (SpoolDamage::estimated).
  static constexpr std::size_t kMaxDamagedStretches = 8;

  /// Ring bytes the live content of a full OutboundStore needs: its bytes,
  /// plus the spool's larger per-record overhead for as many messages as it
  /// can hold.
  static constexpr std::size_t store_equivalent_bytes() {
    constexpr std::size_t by_bytes = kStoreBytes / OutboundStore::kRecordOverhead;
    constexpr std::size_t messages = kStoreMessages < by_bytes ? kStoreMessages : by_bytes;
    return kStoreBytes + (kRecordOverhead - OutboundStore::kRecordOverhead) * messages;
  }
  /// Smallest storage open() accepts: the headers, a ring that holds a full
  /// OutboundStore, and one record's worth of room lost at the end of the
  /// ring when a record does not fit there. Enough for FullPolicy::refuse.
  static constexpr std::size_t minimum_storage_size() {
    return kRingOffset + store_equivalent_bytes() + kMaxRecord;
  }
  /// Storage with room for compaction: append() never fails for lack of
  /// room while the live messages fit the OutboundStore, however many were
  /// dropped (tombstone()). Use at least this with FullPolicy::drop_oldest.
  static constexpr std::size_t recommended_storage_size() {
    return kRingOffset + 3 * store_equivalent_bytes() + 6 * kMaxRecord;
  }

  Spool() = default;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  /// Opens the spool on `storage` (which must outlive the spool or the next
  /// open()): reads the newest valid header, finds the live records (see
  /// recovery above: damaged stretches are skipped and reported in
  /// damage()), starts a new epoch and syncs the header. Blank storage
  /// (both header slots all zeros: a new pre-sized file) and a spool written
  /// for another storage size are formatted: empty, SpoolState defaults;
  /// formatted() tells. Errors (the spool stays closed, the storage
  /// untouched): invalid_option (storage smaller than minimum_storage_size(),
  /// or a bad option); Errc::spool_damaged when neither header slot is
  /// valid and the storage is not blank (both slots damaged, or foreign
  /// data), unless SpoolOptions::reformat_damaged; the storage's error.
  [[nodiscard]] std::error_code open(SpoolStorage& storage, SpoolOptions options = {});
  /// Calls `visit(std::uint64_t id, ConstByteSpan payload)` for each live
  /// message, oldest first (the payload is valid during the call only; the
  /// visitor must not call the spool). Any time after open(); the messages
  /// are numbered state().head_seq, head_seq + 1, ... in visit order.
  /// Errors: not_running, the storage's read error.
  template <typename Fn>
  [[nodiscard]] std::error_code recover(Fn&& visit) {
    using F = std::remove_reference_t<Fn>;
    F* fn = &visit;
    return recover_with([](void* c, std::uint64_t id, ConstByteSpan p) { (*static_cast<F*>(c))(id, p); },
                        const_cast<void*>(static_cast<const void*>(fn)));
  }
  /// Closes (without syncing: call flush() first for a clean shutdown).
  void close() { storage_ = nullptr; }
  /// True between a successful open() and close().
  [[nodiscard]] bool is_open() const { return storage_ != nullptr; }

  /// The persisted session state (valid after open()).
  [[nodiscard]] const SpoolState& state() const { return state_; }
  /// Records a new session state (a new session id, a delivered downlink,
  /// a renumbering); durable per the policy. next_message_id never goes
  /// below an id already appended. Errors: not_running, the storage's.
  [[nodiscard]] std::error_code save_state(const SpoolState& state);

  /// Appends a message; durable per the policy when it returns. `id` must
  /// be >= state().next_message_id (which becomes id + 1). Errors:
  /// queue_full (no room in the ring: the caller keeps the message),
  /// field_too_long (payload over kMaxPayload), invalid_argument (id),
  /// not_running, the storage's. After an error nothing was appended (what
  /// a failed write or sync left of the record is spoiled, best effort, so
  /// that a crash does not bring it back).
  [[nodiscard]] std::error_code append(std::uint64_t id, ConstByteSpan payload);
  /// The oldest `count` live messages were acknowledged: they leave, the
  /// head moves past them (and past any dropped ones behind them), and
  /// `new_head_seq` becomes state().head_seq. Durable per the policy.
  /// Errors: invalid_argument (fewer than `count` live messages: nothing
  /// changes), not_running, the storage's (the messages are gone from the
  /// spool in memory; the header is written again at the next chance).
  [[nodiscard]] std::error_code remove_front(std::size_t count, std::uint64_t new_head_seq);
  /// Marks message `id` dropped (never to come back after a restart) by
  /// overwriting its kind byte. Does nothing if no live message has that id.
  /// Durable per the policy. Errors: not_running, the storage's.
  [[nodiscard]] std::error_code tombstone(std::uint64_t id);

  /// SpoolSync::interval: syncs if something is unsynced and the last sync
  /// is sync_interval_ms old (or the first since open()). Other policies:
  /// nothing to do. Errors: the storage's (retried at the next call).
  [[nodiscard]] std::error_code maybe_sync(Millis now);
  /// When maybe_sync() must be called next, or kNever (nothing unsynced, or
  /// not the interval policy).
  [[nodiscard]] Millis next_sync_due() const;
  /// Writes the header if needed and syncs now, whatever the policy (for a
  /// clean shutdown). Errors: not_running, the storage's.
  [[nodiscard]] std::error_code flush();

  // ---- Observation ----

  /// Live (not acknowledged, not dropped) messages.
  [[nodiscard]] std::size_t size() const { return live_count_; }
  /// True when no live message is held.
  [[nodiscard]] bool empty() const { return live_count_ == 0; }
  /// Bytes of the ring of records (the storage after the two header slots).
  [[nodiscard]] std::size_t capacity() const { return ring_end_ - kRingOffset; }
  /// Ring bytes in use from the head: live, dropped and skipped records.
  [[nodiscard]] std::size_t bytes_used() const { return used_; }
  /// Ring bytes held by dropped (tombstoned) records not yet passed by the head.
  [[nodiscard]] std::size_t dropped_bytes() const { return dead_bytes_; }
  /// Storage offsets of the head (oldest record in use) and of the tail
  /// (where the next record goes), for diagnostics and tests.
  [[nodiscard]] std::size_t head_offset() const { return head_; }
  /// See head_offset().
  [[nodiscard]] std::size_t tail_offset() const { return tail_; }
  /// open() found no valid header and formatted the storage.
  [[nodiscard]] bool formatted() const { return formatted_; }
  /// What the last open() found damaged (recovery above); all zeros when
  /// nothing was. A client reports it when the spool is attached.
  [[nodiscard]] const SpoolDamage& damage() const { return damage_; }
  /// Epoch of the records written now: one more at every open() (and every 2^32 records).
  [[nodiscard]] std::uint32_t epoch() const { return epoch_; }
  /// Compactions since open().
  [[nodiscard]] std::uint64_t compactions() const { return compactions_; }
  /// The options given to open().
  [[nodiscard]] const SpoolOptions& options() const { return options_; }

 private:
  using Visitor = void (*)(void* context, std::uint64_t id, ConstByteSpan payload);

  struct RecordInfo {
    std::uint8_t kind = 0;
    std::size_t length = 0;  // payload bytes
    std::uint32_t epoch = 0;
    std::uint32_t serial = 0;
    std::uint64_t id = 0;
    std::size_t footprint = 0;  // ring bytes up to the next record
  };
  struct Placement {
    std::size_t at = 0;       // where the record goes
    std::size_t skipped = 0;  // bytes left unused before the end of the ring (wrap)
  };

  [[nodiscard]] std::error_code recover_with(Visitor visit, void* context);

  // Where the tail stood before a multi-record change, to undo it.
  struct TailMark {
    std::size_t tail;
    std::size_t used;
    std::size_t written_used;
    std::size_t barrier_used;
    std::uint32_t next_serial;
  };

  [[nodiscard]] std::error_code format(std::uint32_t previous_epoch, std::uint64_t previous_generation,
                                       unsigned keep_slot);
  // Where the chain continues after a damaged stretch (resync()).
  struct ChainPoint {
    std::uint32_t next_epoch = 0;   // epoch and serial the next record
    std::uint64_t next_serial = 0;  // carries if nothing was lost
    std::uint32_t header_epoch = 0;
    std::uint64_t last_id = 0;  // ids after it are greater
    bool last_id_known = false;
  };
  // A damaged stretch the walks skip: [at, at + length), never across the
  // end of the ring.
  struct Gap {
    std::size_t at = 0;
    std::size_t length = 0;
  };

  [[nodiscard]] std::error_code scan(std::uint32_t header_epoch, std::uint64_t head_id);
  [[nodiscard]] std::error_code resync(std::size_t from, std::size_t distance, const ChainPoint& chain,
                                       std::size_t& found, std::size_t& found_distance, RecordInfo& info,
                                       bool& ok);
  [[nodiscard]] bool add_gap(std::size_t at, std::size_t length);
  [[nodiscard]] std::size_t gap_at(std::size_t at) const;
  void forget_gaps_behind_head();
  [[nodiscard]] std::uint64_t head_id();
  [[nodiscard]] std::error_code read_header_info(std::size_t at, RecordInfo& info, bool& plausible);
  [[nodiscard]] std::error_code read_verified(std::size_t at, RecordInfo& info, bool& valid);
  [[nodiscard]] std::size_t footprint_of(std::size_t at, std::size_t record_size) const;
  [[nodiscard]] std::size_t next_offset(std::size_t at, std::size_t footprint) const;

  [[nodiscard]] bool place(std::size_t record_size, std::size_t limit, std::size_t limit_used,
                           Placement& placement) const;
  [[nodiscard]] std::error_code make_room(std::size_t record_size, Placement& placement);
  [[nodiscard]] std::error_code emit(std::uint8_t kind, std::uint64_t id, std::size_t length,
                                     const Placement& placement, std::size_t& record_offset);
  void account_append(std::size_t footprint);
  [[nodiscard]] TailMark mark_tail() const;
  void rewind_to(const TailMark& mark);
  [[nodiscard]] std::error_code ensure_serials(std::uint32_t needed);
  [[nodiscard]] std::error_code compact();
  [[nodiscard]] std::error_code skip_dropped_at_head();

  [[nodiscard]] std::error_code write_header();
  [[nodiscard]] std::error_code sync_now();
  [[nodiscard]] std::error_code after_change();

  friend struct SpoolTestAccess;  // tests only: epoch roll-over without 2^32 records

  SpoolStorage* storage_ = nullptr;
  SpoolOptions options_;
  SpoolState state_;
  std::size_t ring_end_ = kRingOffset;
  bool formatted_ = false;

  std::uint32_t epoch_ = 0;        // epoch of records written now
  std::uint32_t next_serial_ = 0;  // serial of the next record written
  std::uint64_t generation_ = 0;   // of the last header written
  unsigned durable_slot_ = 0;      // slot of the last header known durable
  unsigned written_slot_ = 0;      // slot of the last header written

  std::size_t head_ = kRingOffset;  // first record in use (or tail_ when empty)
  std::uint32_t head_epoch_ = 0;    // of the record at head_ (next record if empty)
  std::uint32_t head_serial_ = 0;
  std::size_t tail_ = kRingOffset;  // where the next record goes
  std::size_t used_ = 0;            // ring bytes from head_ to tail_
  std::size_t live_count_ = 0;
  std::size_t live_bytes_ = 0;  // record bytes of live messages (what a compaction copies)
  std::size_t dead_bytes_ = 0;  // ring bytes of dropped messages
  std::uint64_t last_id_ = 0;   // highest message id in the ring or ever appended

  // The header last written and the one last made durable: appends never
  // overwrite the records from the durable header's head on, so that a
  // power cut always finds them.
  std::size_t written_head_ = kRingOffset;
  std::size_t written_used_ = 0;  // ring bytes from written_head_ to tail_
  std::size_t barrier_ = kRingOffset;
  std::size_t barrier_used_ = 0;  // ring bytes from barrier_ to tail_

  bool header_dirty_ = false;  // head or state changed since the last header write
  bool unsynced_ = false;      // writes since the last sync
  bool synced_by_timer_ = false;
  Millis last_sync_ = 0;  // of the last maybe_sync() that synced
  std::uint64_t compactions_ = 0;

  SpoolDamage damage_;
  Gap gaps_[2 * kMaxDamagedStretches];  // a stretch across the end of the ring takes two
  std::size_t gap_count_ = 0;

  std::uint8_t buffer_[kMaxRecord] = {};  // one record
};

}  // namespace uplink
