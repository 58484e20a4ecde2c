// SPDX-License-Identifier: Apache-2.0
// The spool: header slots A/B and a ring of CRC-checked records over a
// SpoolStorage. The layout, the recovery rule and the durability policy are
// described in uplink/core/spool.hpp; this file follows them.
//
// Invariants kept here:
//  - Offsets are normalised: a record never starts fewer than
//    kRecordOverhead bytes before the end of the ring (those bytes belong to
//    the record before, as its footprint).
//  - (epoch, serial) pairs are never reused: a new epoch starts at every
//    open() and is durable (header synced) before any record carries it.
//  - Appends write only into [tail_, barrier_): the records from the head of
//    the last durable header on stay intact, whatever was acknowledged since.
//  - head_epoch_/head_serial_ always describe the record at head_ (or the
//    next record to be written when the ring is empty).
#include "uplink/core/spool.hpp"

#include <cstring>

#include "uplink/core/byte_order.hpp"
#include "uplink/error.hpp"

namespace uplink {
namespace {

constexpr std::uint32_t kMagic = 0x55505350;  // "UPSP"
constexpr std::size_t kHeaderCrcAt = 80;
constexpr std::size_t kHeadIdAt = 84;
constexpr std::size_t kExtensionCrcAt = 92;
constexpr std::uint8_t kMessage = 'M';
constexpr std::uint8_t kDropped = 'D';
constexpr std::uint8_t kWrap = 'W';
// Never on storage: what the walks see at the start of a damaged stretch.
constexpr std::uint8_t kGap = 'G';
constexpr std::uint32_t kLastSerial = 0xFFFFFFFFu;
constexpr std::uint32_t kMaxSyncIntervalMs = 3600000;

using detail::load_be16;
using detail::load_be32;
using detail::load_be64;
using detail::store_be16;
using detail::store_be32;
using detail::store_be64;

std::error_code invalid_argument() { return std::make_error_code(std::errc::invalid_argument); }
// The storage changed under the spool (a record read back is not what was
// written): nothing sensible can continue.
std::error_code storage_corrupt() { return std::make_error_code(std::errc::io_error); }

/// CRC of a record in `bytes` (header + payload, without the trailer): the
/// kind byte counts as 'M' for 'M' and 'D', so dropping a message in place
/// keeps its CRC.
std::uint32_t record_crc(const std::uint8_t* bytes, std::size_t length_without_crc) {
  const std::uint8_t kind = bytes[0] == kDropped ? kMessage : bytes[0];
  const std::uint32_t crc = crc32(ConstByteSpan{&kind, 1});
  return crc32(ConstByteSpan{bytes + 1, length_without_crc - 1}, crc);
}

struct Header {
  std::uint64_t generation = 0;
  std::uint64_t storage_size = 0;
  std::uint32_t epoch = 0;
  std::uint32_t head_epoch = 0;
  std::uint32_t head_serial = 0;
  std::uint64_t head = 0;
  std::uint64_t head_id = 0;  // 0: unknown (an older version wrote it)
  SpoolState state;
};

enum class HeaderCheck { invalid, valid, other_size };

HeaderCheck decode_header(const std::uint8_t* p, std::size_t storage_size, Header& h) {
  if (load_be32(p) != kMagic || load_be16(p + 4) != Spool::kFormatVersion) return HeaderCheck::invalid;
  if (crc32(ConstByteSpan{p, kHeaderCrcAt}) != load_be32(p + kHeaderCrcAt)) return HeaderCheck::invalid;
  h.generation = load_be64(p + 8);
  h.storage_size = load_be64(p + 16);
  h.epoch = load_be32(p + 24);
  h.head_epoch = load_be32(p + 28);
  h.head_serial = load_be32(p + 32);
  h.head = load_be64(p + 40);
  h.state.head_seq = load_be64(p + 48);
  h.state.session_id = load_be64(p + 56);
  h.state.last_downlink_seq = load_be64(p + 64);
  h.state.next_message_id = load_be64(p + 72);
  if (crc32(ConstByteSpan{p, kExtensionCrcAt}) == load_be32(p + kExtensionCrcAt)) h.head_id = load_be64(p + kHeadIdAt);
  if (h.storage_size != storage_size) return HeaderCheck::other_size;
  const bool head_ok = h.head >= Spool::kRingOffset && h.head < storage_size &&
                       storage_size - h.head >= Spool::kRecordOverhead;
  if (!head_ok || h.epoch == 0 || h.head_epoch > h.epoch || h.state.next_message_id == 0) {
    return HeaderCheck::invalid;
  }
  return HeaderCheck::valid;
}

}  // namespace


// ------------------------------------------------------------------ open

std::error_code Spool::open(SpoolStorage& storage, SpoolOptions options) {
  storage_ = nullptr;
  const bool sync_ok = options.sync == SpoolSync::every_write || options.sync == SpoolSync::none ||
                       (options.sync == SpoolSync::interval && options.sync_interval_ms >= 1 &&
                        options.sync_interval_ms <= kMaxSyncIntervalMs);
  if (!sync_ok) return Errc::invalid_option;
  const std::size_t size = storage.size();
  if (size < minimum_storage_size()) return Errc::invalid_option;

  // Everything but the record buffer starts afresh.
  options_ = options;
  state_ = SpoolState{};
  ring_end_ = size;
  formatted_ = false;
  epoch_ = 0;
  next_serial_ = 0;
  generation_ = 0;
  durable_slot_ = 0;
  written_slot_ = 0;
  head_ = tail_ = written_head_ = barrier_ = kRingOffset;
  head_epoch_ = head_serial_ = 0;
  used_ = written_used_ = barrier_used_ = 0;
  live_count_ = live_bytes_ = dead_bytes_ = 0;
  last_id_ = 0;
  header_dirty_ = unsynced_ = synced_by_timer_ = false;
  last_sync_ = 0;
  compactions_ = 0;
  damage_ = SpoolDamage{};
  gap_count_ = 0;
  storage_ = &storage;

  Header best;
  int best_slot = -1;
  std::uint32_t seen_epoch = 0;
  std::uint64_t seen_generation = 0;
  unsigned newest_slot = 1;  // format writes the other one
  bool blank = true;          // both slots all zeros: storage never written
  bool other_size = false;    // a valid header of another geometry
  bool slot_damaged = false;  // a slot neither valid nor blank
  for (unsigned slot = 0; slot < 2; ++slot) {
    std::uint8_t bytes[kSlotSize];
    if (auto e = storage.read(slot * kSlotSize, ByteSpan{bytes, kSlotSize})) {
      storage_ = nullptr;
      return e;
    }
    bool slot_blank = true;
    for (std::uint8_t b : bytes) slot_blank = slot_blank && b == 0;
    blank = blank && slot_blank;
    Header h;
    const HeaderCheck check = decode_header(bytes, size, h);
    if (check == HeaderCheck::invalid) {
      slot_damaged = slot_damaged || !slot_blank;
      continue;
    }
    if (check == HeaderCheck::other_size) other_size = true;
    // A header of another geometry still tells which epochs were used.
    if (h.epoch > seen_epoch) seen_epoch = h.epoch;
    if (h.generation >= seen_generation) {
      seen_generation = h.generation;
      newest_slot = slot;
    }
    if (check == HeaderCheck::valid && (best_slot < 0 || h.generation > best.generation)) {
      best = h;
      best_slot = static_cast<int>(slot);
    }
  }

  // Neither slot valid, yet something is there: both headers were damaged
  // (a torn write only ever damages one), or this is not our storage.
  // Formatting would lose whatever messages the ring holds, without a word.
  if (best_slot < 0 && !blank && !other_size && !options.reformat_damaged) {
    storage_ = nullptr;
    return Errc::spool_damaged;
  }
  const std::size_t intact = storage.intact_size();
  std::error_code result;
  if (best_slot < 0 || best.epoch == kLastSerial) {
    // Blank headers in storage that lost its end: an emptied file (or one
    // cut inside its headers). Whatever it held is gone, uncountable.
    if (blank && intact < size) {
      damage_.truncated = true;
      damage_.estimated = true;
    }
    result = format(seen_epoch == kLastSerial ? 0 : seen_epoch, seen_generation, newest_slot);
  } else {
    generation_ = best.generation;
    durable_slot_ = written_slot_ = static_cast<unsigned>(best_slot);
    state_ = best.state;
    head_ = static_cast<std::size_t>(best.head);
    head_epoch_ = best.head_epoch;
    head_serial_ = best.head_serial;
    damage_.header_slot_damaged = slot_damaged;
    result = scan(best.epoch, best.head_id);
    if (!result && intact < size) {
      // The ring ended where the storage lost its bytes: records may have
      // gone with them. The ids the header handed out past the last
      // recovered one were lost at least.
      bool cut = tail_ + kRecordOverhead > intact;
      if (!cut) {
        RecordInfo info;
        bool plausible = false;
        result = read_header_info(tail_, info, plausible);
        cut = plausible && tail_ + kRecordOverhead + info.length > intact;
      }
      if (cut) {
        damage_.truncated = true;
        damage_.estimated = true;
        if (best.state.next_message_id > last_id_ + 1) damage_.messages_lost += best.state.next_message_id - 1 - last_id_;
      }
    }
    if (!result) {
      if (state_.next_message_id <= last_id_) state_.next_message_id = last_id_ + 1;
      // A new epoch, durable before any record carries it.
      epoch_ = best.epoch + 1;
      next_serial_ = 0;
      if (used_ == 0) {
        head_ = tail_;
        head_epoch_ = epoch_;
        head_serial_ = 0;
      }
      header_dirty_ = true;
      result = sync_now();
      // Copy the live messages past the damage now, if there is room, so
      // that the next open() does not meet (and report) it again.
      if (!result && gap_count_ > 0) result = compact();
    }
  }
  if (result) storage_ = nullptr;
  return result;
}

std::error_code Spool::format(std::uint32_t previous_epoch, std::uint64_t previous_generation,
                              unsigned keep_slot) {
  formatted_ = true;
  state_ = SpoolState{};
  // Epochs of a previous format are not reused: its records may still be
  // in the ring, and must not chain onto ours.
  epoch_ = previous_epoch + 1;
  next_serial_ = 0;
  generation_ = previous_generation;
  head_ = tail_ = kRingOffset;
  head_epoch_ = epoch_;
  head_serial_ = 0;
  used_ = 0;
  // The header goes to the slot without the previous geometry's newest
  // header: if this write is torn, that one still tells which epochs and
  // generations were used.
  durable_slot_ = keep_slot;
  header_dirty_ = true;
  return sync_now();
}

std::error_code Spool::scan(std::uint32_t header_epoch, std::uint64_t head_id) {
  const std::size_t ring = capacity();
  std::size_t at = head_;
  std::size_t used = 0;
  std::size_t leading = 0;  // bytes before the first live message
  bool found_live = false;
  bool first = true;
  ChainPoint chain;
  chain.next_epoch = head_epoch_;
  chain.next_serial = head_serial_;
  chain.header_epoch = header_epoch;
  chain.last_id = head_id > 0 ? head_id - 1 : 0;
  chain.last_id_known = head_id > 0;
  std::size_t first_live = head_;
  std::uint32_t live_epoch = 0;
  std::uint32_t live_serial = 0;

  while (used < ring) {
    RecordInfo info;
    bool valid = false;
    if (auto e = read_verified(at, info, valid)) return e;
    const bool chained =
        info.epoch == chain.next_epoch ? std::uint64_t{info.serial} == chain.next_serial
                                       : !first && info.epoch > chain.next_epoch && info.epoch <= header_epoch &&
                                             info.serial == 0;
    // Message ids only grow: a smaller one is a stale record or a copy made
    // by a compaction whose header never became durable.
    const bool ok = valid && chained && (info.kind == kWrap || info.id > chain.last_id) &&
                    used + info.footprint <= ring;
    if (!ok) {
      // The end of the ring (torn, never written, stale), or damage with
      // valid records after it: resync() tells which (file comment).
      std::size_t found = 0;
      std::size_t found_distance = 0;
      bool resynced = false;
      if (auto e = resync(at, used, chain, found, found_distance, info, resynced)) return e;
      if (!resynced) break;
      const std::size_t skipped = found_distance - used;
      std::uint64_t lost = 0;
      if (chain.last_id_known) {
        lost = info.id - chain.last_id - 1;
      } else {
        // No id to count from: count the records (a wrap or a dropped one
        // among them counts as a message).
        lost = info.epoch == chain.next_epoch ? info.serial - chain.next_serial : 1;
        damage_.estimated = true;
      }
      ++damage_.damaged_stretches;
      damage_.messages_lost += lost;
      if (found_live) {
        // Out of room to remember another stretch: stop here, as if the
        // ring ended; what follows is lost too, and not counted.
        if (!add_gap(at, skipped)) {
          damage_.messages_lost += 1;  // the record found, at least
          damage_.estimated = true;
          break;
        }
        dead_bytes_ += skipped;
      } else {
        leading += skipped;
      }
      used = found_distance;
      at = found;
    }
    first = false;
    chain.next_epoch = info.epoch;
    chain.next_serial = std::uint64_t{info.serial} + 1;
    if (info.kind != kWrap) {
      chain.last_id = info.id;
      chain.last_id_known = true;
    }
    if (info.kind == kMessage) {
      if (!found_live) {
        found_live = true;
        first_live = at;
        live_epoch = info.epoch;
        live_serial = info.serial;
      }
      ++live_count_;
      live_bytes_ += kRecordOverhead + info.length;
    } else if (!found_live) {
      leading += info.footprint;
    } else if (info.kind == kDropped) {
      dead_bytes_ += info.footprint;
    }
    used += info.footprint;
    at = next_offset(at, info.footprint);
  }

  tail_ = at;
  last_id_ = chain.last_id_known ? chain.last_id : 0;
  if (found_live) {
    head_ = first_live;
    head_epoch_ = live_epoch;
    head_serial_ = live_serial;
    used_ = used - leading;
  } else {
    head_ = tail_;
    used_ = 0;
    dead_bytes_ = 0;
  }
  return {};
}

namespace {

/// Parses a record header; false when it cannot be a record of ours.
bool parse_record_header(const std::uint8_t* p, std::size_t at, std::size_t ring_end, std::uint8_t& kind,
                         std::size_t& length, std::uint32_t& epoch, std::uint32_t& serial, std::uint64_t& id) {
  kind = p[0];
  length = load_be16(p + 2);
  epoch = load_be32(p + 4);
  serial = load_be32(p + 8);
  id = load_be64(p + 12);
  if (p[1] != 0) return false;
  if (kind == kWrap) {
    if (length != 0 || id != 0) return false;
  } else if (kind != kMessage && kind != kDropped) {
    return false;
  } else if (length > Spool::kMaxPayload || id == 0) {
    return false;
  }
  return at + Spool::kRecordOverhead + length <= ring_end;
}

}  // namespace

std::error_code Spool::resync(std::size_t from, std::size_t distance, const ChainPoint& chain, std::size_t& found,
                              std::size_t& found_distance, RecordInfo& info, bool& ok) {
  ok = false;
  const std::size_t ring = capacity();
  // Would a record header at `p` (storage offset `at`, `skipped` bytes
  // after the failing record) continue the chain? The CRC is checked after.
  auto continues = [&](const std::uint8_t* p, std::size_t at, std::size_t skipped) {
    if (p[0] != kMessage && p[0] != kDropped) return false;
    std::uint8_t kind = 0;
    std::size_t length = 0;
    std::uint32_t epoch = 0;
    std::uint32_t serial = 0;
    std::uint64_t id = 0;
    if (!parse_record_header(p, at, ring_end_, kind, length, epoch, serial, id)) return false;
    if (id <= chain.last_id) return false;
    if (epoch == chain.next_epoch) {
      if (std::uint64_t{serial} <= chain.next_serial) return false;
      const std::uint64_t lost_records = serial - chain.next_serial;
      if (skipped / kRecordOverhead < lost_records) return false;
      // One id per lost record, but a wrap record.
      return !chain.last_id_known || id - chain.last_id >= lost_records;
    }
    return epoch > chain.next_epoch && epoch <= chain.header_epoch;
  };
  std::size_t at = from;
  std::size_t walked = distance;
  while (walked < ring) {
    const std::size_t to_end = ring_end_ - at;
    if (to_end < kRecordOverhead) {
      walked += to_end;
      at = kRingOffset;
      continue;
    }
    const std::size_t n = to_end < sizeof buffer_ ? to_end : sizeof buffer_;
    if (auto e = storage_->read(at, ByteSpan{buffer_, n})) return e;
    // Offsets of this chunk where a record header fits, and within a lap
    // from the head; then only those starting with 'M' or 'D' (memchr:
    // zeros and stale bytes go by fast).
    std::size_t limit = n - kRecordHeader + 1;
    const bool lap_ends_here = ring - walked < limit + kRecordOverhead;
    if (lap_ends_here) limit = ring - walked >= kRecordOverhead ? ring - walked - kRecordOverhead + 1 : 0;
    std::size_t k = 0;
    bool candidate = false;
    while (k < limit) {
      const void* m = std::memchr(buffer_ + k, kMessage, limit - k);
      const void* d = std::memchr(buffer_ + k, kDropped, limit - k);
      if (m == nullptr && d == nullptr) {
        k = limit;
        break;
      }
      const auto* first = static_cast<const std::uint8_t*>(m == nullptr ? d : d == nullptr ? m : m < d ? m : d);
      k = static_cast<std::size_t>(first - buffer_);
      if (continues(buffer_ + k, at + k, walked + k - distance)) {
        candidate = true;
        break;
      }
      ++k;
    }
    if (!candidate && lap_ends_here) return {};  // a lap from the head: nothing
    if (candidate) {
      bool valid = false;
      if (auto e = read_verified(at + k, info, valid)) return e;
      if (valid && walked + k + info.footprint <= ring) {
        found = at + k;
        found_distance = walked + k;
        ok = true;
        return {};
      }
      ++k;
    }
    at += k;
    walked += k;
  }
  return {};
}

bool Spool::add_gap(std::size_t at, std::size_t length) {
  // Split where the ring ends: the walks step from a gap to the offset
  // after it like from a record.
  const std::size_t first = length < ring_end_ - at ? length : ring_end_ - at;
  const std::size_t parts = first < length ? 2 : 1;
  if (damage_.damaged_stretches > kMaxDamagedStretches || gap_count_ + parts > sizeof gaps_ / sizeof gaps_[0]) {
    return false;
  }
  gaps_[gap_count_++] = Gap{at, first};
  if (parts == 2) gaps_[gap_count_++] = Gap{kRingOffset, length - first};
  return true;
}

std::size_t Spool::gap_at(std::size_t at) const {
  for (std::size_t i = 0; i < gap_count_; ++i) {
    if (gaps_[i].at == at) return gaps_[i].length;
  }
  return 0;
}

void Spool::forget_gaps_behind_head() {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < gap_count_; ++i) {
    const std::size_t at = gaps_[i].at;
    const std::size_t distance = at >= head_ ? at - head_ : (ring_end_ - head_) + (at - kRingOffset);
    if (used_ > 0 && distance < used_) gaps_[kept++] = gaps_[i];
  }
  gap_count_ = kept;
}

std::uint64_t Spool::head_id() {
  if (used_ == 0) return state_.next_message_id > last_id_ ? state_.next_message_id : last_id_ + 1;
  RecordInfo info;
  bool plausible = false;
  if (read_header_info(head_, info, plausible) || !plausible || info.kind == kWrap || info.kind == kGap) return 0;
  return info.id;
}

// --------------------------------------------------------------- records

std::size_t Spool::footprint_of(std::size_t at, std::size_t record_size) const {
  const std::size_t rest = ring_end_ - (at + record_size);
  return rest < kRecordOverhead ? record_size + rest : record_size;
}

std::size_t Spool::next_offset(std::size_t at, std::size_t footprint) const {
  const std::size_t next = at + footprint;
  return next >= ring_end_ ? kRingOffset : next;
}


std::error_code Spool::read_header_info(std::size_t at, RecordInfo& info, bool& plausible) {
  if (const std::size_t gap = gap_at(at)) {
    info = RecordInfo{};
    info.kind = kGap;
    info.footprint = gap;
    plausible = true;
    return {};
  }
  std::uint8_t bytes[kRecordHeader];
  if (auto e = storage_->read(at, ByteSpan{bytes, kRecordHeader})) return e;
  plausible = parse_record_header(bytes, at, ring_end_, info.kind, info.length, info.epoch, info.serial, info.id);
  if (plausible) {
    info.footprint =
        info.kind == kWrap ? ring_end_ - at : footprint_of(at, kRecordOverhead + info.length);
  }
  return {};
}

std::error_code Spool::read_verified(std::size_t at, RecordInfo& info, bool& valid) {
  valid = false;
  if (gap_count_ > 0 && gap_at(at) > 0) {
    bool plausible = false;
    if (auto e = read_header_info(at, info, plausible)) return e;
    valid = plausible;
    return {};
  }
  if (auto e = storage_->read(at, ByteSpan{buffer_, kRecordHeader})) return e;
  if (!parse_record_header(buffer_, at, ring_end_, info.kind, info.length, info.epoch, info.serial, info.id)) {
    return {};
  }
  if (auto e = storage_->read(at + kRecordHeader, ByteSpan{buffer_ + kRecordHeader, info.length + 4})) return e;
  const std::size_t body = kRecordHeader + info.length;
  valid = record_crc(buffer_, body) == load_be32(buffer_ + body);
  info.footprint = info.kind == kWrap ? ring_end_ - at : footprint_of(at, kRecordOverhead + info.length);
  return {};
}

std::error_code Spool::recover_with(Visitor visit, void* context) {
  if (storage_ == nullptr) return Errc::not_running;
  std::size_t at = head_;
  std::size_t remaining = used_;
  while (remaining > 0) {
    RecordInfo info;
    bool valid = false;
    if (auto e = read_verified(at, info, valid)) return e;
    if (!valid || info.footprint > remaining) return storage_corrupt();
    if (info.kind == kMessage) visit(context, info.id, ConstByteSpan{buffer_ + kRecordHeader, info.length});
    remaining -= info.footprint;
    at = next_offset(at, info.footprint);
  }
  return {};
}

// ------------------------------------------------------------- appending

bool Spool::place(std::size_t record_size, std::size_t limit, std::size_t limit_used, Placement& placement) const {
  const std::size_t ring = capacity();
  if (limit_used >= ring || record_size > ring - limit_used) return false;
  placement = Placement{};
  // Free space: [tail_, limit) around the end of the ring. tail_ == limit
  // here means the ring (from `limit`) is empty.
  if (tail_ >= limit) {
    if (ring_end_ - tail_ >= record_size) {
      placement.at = tail_;
      return true;
    }
    if (limit - kRingOffset >= record_size) {
      placement.at = kRingOffset;
      placement.skipped = ring_end_ - tail_;
      return true;
    }
    return false;
  }
  if (limit - tail_ < record_size) return false;
  placement.at = tail_;
  return true;
}

std::error_code Spool::make_room(std::size_t record_size, Placement& placement) {
  if (place(record_size, barrier_, barrier_used_, placement)) return {};
  // Acknowledgements since the last sync freed the room: make them durable
  // first, or a power cut could find the durable head overwritten.
  if (place(record_size, head_, used_, placement)) {
    if (auto e = sync_now()) return e;
    if (place(record_size, barrier_, barrier_used_, placement)) return {};
  }
  return Errc::queue_full;
}

std::error_code Spool::ensure_serials(std::uint32_t needed) {
  if (kLastSerial - next_serial_ >= needed) return {};
  // 2^32 records in one epoch: start the next one (durable first).
  if (epoch_ == kLastSerial) return std::make_error_code(std::errc::value_too_large);
  ++epoch_;
  next_serial_ = 0;
  if (used_ == 0) {
    head_epoch_ = epoch_;
    head_serial_ = 0;
  }
  header_dirty_ = true;
  return sync_now();
}

void Spool::account_append(std::size_t footprint) {
  used_ += footprint;
  written_used_ += footprint;
  barrier_used_ += footprint;
}

std::error_code Spool::emit(std::uint8_t kind, std::uint64_t id, std::size_t length, const Placement& placement,
                            std::size_t& record_offset) {
  if (placement.skipped > 0) {
    // tail_ is normalised, so a wrap record fits in what is skipped.
    std::uint8_t wrap[kRecordOverhead] = {};
    wrap[0] = kWrap;
    store_be32(wrap + 4, epoch_);
    store_be32(wrap + 8, next_serial_);
    store_be32(wrap + kRecordHeader, record_crc(wrap, kRecordHeader));
    if (auto e = storage_->write(tail_, ConstByteSpan{wrap, kRecordOverhead})) return e;
    unsynced_ = true;
    ++next_serial_;
    account_append(placement.skipped);
    tail_ = kRingOffset;
  }
  const std::size_t record_size = kRecordOverhead + length;
  buffer_[0] = kind;
  buffer_[1] = 0;
  store_be16(buffer_ + 2, static_cast<std::uint16_t>(length));
  store_be32(buffer_ + 4, epoch_);
  store_be32(buffer_ + 8, next_serial_);
  store_be64(buffer_ + 12, id);
  store_be32(buffer_ + kRecordHeader + length, record_crc(buffer_, kRecordHeader + length));
  if (auto e = storage_->write(placement.at, ConstByteSpan{buffer_, record_size})) return e;
  unsynced_ = true;
  ++next_serial_;
  const std::size_t footprint = footprint_of(placement.at, record_size);
  account_append(footprint);
  record_offset = placement.at;
  tail_ = next_offset(placement.at, footprint);
  return {};
}

Spool::TailMark Spool::mark_tail() const {
  return TailMark{tail_, used_, written_used_, barrier_used_, next_serial_};
}

void Spool::rewind_to(const TailMark& mark) {
  // Best effort: spoil the first record written after the mark, so that a
  // crash cannot bring back what the caller was told failed. Records beyond
  // it no longer chain.
  const std::uint8_t spoiled = 0;
  (void)storage_->write(mark.tail, ConstByteSpan{&spoiled, 1});
  tail_ = mark.tail;
  used_ = mark.used;
  written_used_ = mark.written_used;
  barrier_used_ = mark.barrier_used;
  next_serial_ = mark.next_serial;
  if (used_ == 0) {
    head_epoch_ = epoch_;
    head_serial_ = next_serial_;
  }
}

std::error_code Spool::append(std::uint64_t id, ConstByteSpan payload) {
  if (storage_ == nullptr) return Errc::not_running;
  if (payload.size > kMaxPayload) return Errc::field_too_long;
  if (id == 0 || id < state_.next_message_id || id <= last_id_) return invalid_argument();
  const std::size_t record_size = kRecordOverhead + payload.size;

  if (dead_bytes_ > 0) {
    // Dropped records pile up behind unacknowledged ones: copy the live
    // ones forward while there is room to, and only when that reclaims at
    // least half of what it copies.
    const std::size_t free = capacity() - used_;
    if (free < live_bytes_ + record_size + 4 * kMaxRecord && 2 * dead_bytes_ >= live_bytes_) {
      if (auto e = compact()) return e;
    }
  }
  if (auto e = ensure_serials(2)) return e;  // a wrap record and this one
  Placement placement;
  std::error_code result = make_room(record_size, placement);
  if (result == Errc::queue_full && dead_bytes_ > 0) {
    // Last resort: whatever compaction can reclaim.
    if (auto e = compact()) return e;
    if (auto e = ensure_serials(2)) return e;
    result = make_room(record_size, placement);
  }
  if (result) return result;

  const TailMark mark = mark_tail();
  if (payload.size != 0) std::memcpy(buffer_ + kRecordHeader, payload.data, payload.size);
  std::size_t at = 0;
  result = emit(kMessage, id, payload.size, placement, at);
  if (!result) result = after_change();
  if (result) {
    rewind_to(mark);
    if (at != 0 && at != mark.tail) {
      // A wrap record went first: spoil the message too, or recovery could
      // resynchronise onto it past the spoiled wrap and bring it back.
      const std::uint8_t spoiled = 0;
      (void)storage_->write(at, ConstByteSpan{&spoiled, 1});
    }
    return result;
  }
  ++live_count_;
  live_bytes_ += record_size;
  last_id_ = id;
  state_.next_message_id = id + 1;
  return {};
}

// ------------------------------------------------------------- the head

std::error_code Spool::skip_dropped_at_head() {
  std::size_t head = head_;
  std::size_t used = used_;
  std::size_t dead = dead_bytes_;
  while (used > 0) {
    RecordInfo info;
    bool plausible = false;
    if (auto e = read_header_info(head, info, plausible)) return e;
    if (!plausible || info.footprint > used) return storage_corrupt();
    if (info.kind == kMessage) {
      head_ = head;
      used_ = used;
      dead_bytes_ = dead;
      head_epoch_ = info.epoch;
      head_serial_ = info.serial;
      forget_gaps_behind_head();
      return {};
    }
    if (info.kind == kDropped || info.kind == kGap) dead -= info.footprint;
    used -= info.footprint;
    head = next_offset(head, info.footprint);
  }
  head_ = tail_;
  used_ = 0;
  dead_bytes_ = 0;
  head_epoch_ = epoch_;
  head_serial_ = next_serial_;
  gap_count_ = 0;
  return {};
}

std::error_code Spool::remove_front(std::size_t count, std::uint64_t new_head_seq) {
  if (storage_ == nullptr) return Errc::not_running;
  if (count > live_count_) return invalid_argument();
  // Walk first, change nothing until every record was read.
  std::size_t at = head_;
  std::size_t distance = 0;
  std::size_t removed = 0;
  std::size_t removed_bytes = 0;
  std::size_t dead_passed = 0;
  while (removed < count) {
    RecordInfo info;
    bool plausible = false;
    if (auto e = read_header_info(at, info, plausible)) return e;
    if (!plausible || distance + info.footprint > used_) return storage_corrupt();
    if (info.kind == kMessage) {
      ++removed;
      removed_bytes += kRecordOverhead + info.length;
    } else if (info.kind == kDropped || info.kind == kGap) {
      dead_passed += info.footprint;
    }
    distance += info.footprint;
    at = next_offset(at, info.footprint);
  }
  const std::size_t old_head = head_;
  const std::size_t old_used = used_;
  const std::size_t old_dead = dead_bytes_;
  head_ = at;
  used_ -= distance;
  dead_bytes_ -= dead_passed;
  if (auto e = skip_dropped_at_head()) {
    head_ = old_head;
    used_ = old_used;
    dead_bytes_ = old_dead;
    return e;
  }
  live_count_ -= count;
  live_bytes_ -= removed_bytes;
  state_.head_seq = new_head_seq;
  header_dirty_ = true;
  if (auto e = write_header()) return e;
  return after_change();
}

std::error_code Spool::tombstone(std::uint64_t id) {
  if (storage_ == nullptr) return Errc::not_running;
  if (id == 0 || live_count_ == 0) return {};
  std::size_t at = head_;
  std::size_t remaining = used_;
  while (remaining > 0) {
    RecordInfo info;
    bool plausible = false;
    if (auto e = read_header_info(at, info, plausible)) return e;
    if (!plausible || info.footprint > remaining) return storage_corrupt();
    if (info.kind == kMessage || info.kind == kDropped) {
      if (info.id > id) return {};  // ids grow along the ring: not here
      if (info.id == id) {
        if (info.kind == kDropped) return {};
        const std::uint8_t dropped = kDropped;
        if (auto e = storage_->write(at, ConstByteSpan{&dropped, 1})) return e;
        unsynced_ = true;
        --live_count_;
        live_bytes_ -= kRecordOverhead + info.length;
        dead_bytes_ += info.footprint;
        if (at == head_) {
          if (auto e = skip_dropped_at_head()) return e;
          header_dirty_ = true;
          if (auto e = write_header()) return e;
        }
        return after_change();
      }
    }
    remaining -= info.footprint;
    at = next_offset(at, info.footprint);
  }
  return {};
}

std::error_code Spool::compact() {
  // Room to copy every live record, plus what a wrap can skip.
  if (capacity() - used_ < live_bytes_ + kMaxRecord) return {};
  if (header_dirty_ || barrier_ != head_ || barrier_used_ != used_) {
    if (auto e = sync_now()) return e;
  }
  if (live_count_ > kLastSerial - 2) return {};
  if (auto e = ensure_serials(static_cast<std::uint32_t>(live_count_) + 2)) return e;

  const TailMark mark = mark_tail();
  std::size_t at = head_;
  std::size_t remaining = used_;
  std::size_t first_copy = tail_;
  std::uint32_t first_epoch = epoch_;
  std::uint32_t first_serial = next_serial_;
  bool copied = false;
  std::error_code failure;
  while (remaining > 0 && !failure) {
    RecordInfo info;
    bool valid = false;
    failure = read_verified(at, info, valid);
    if (failure) break;
    if (!valid || info.footprint > remaining) {
      failure = storage_corrupt();
      break;
    }
    if (info.kind == kMessage) {
      Placement placement;
      if (!place(kRecordOverhead + info.length, barrier_, barrier_used_, placement)) {
        failure = Errc::queue_full;  // cannot happen: room checked above
        break;
      }
      std::size_t copy_at = 0;
      // The payload is in buffer_ already; emit() restamps the header.
      const std::uint32_t serial = placement.skipped > 0 ? next_serial_ + 1 : next_serial_;
      failure = emit(kMessage, info.id, info.length, placement, copy_at);
      if (!failure && !copied) {
        copied = true;
        first_copy = copy_at;
        first_epoch = epoch_;
        first_serial = serial;
      }
    }
    remaining -= info.footprint;
    at = next_offset(at, info.footprint);
  }
  if (failure) {
    rewind_to(mark);
    return failure;
  }
  // The copies are durable before a header points at them: they stand for
  // messages that may have been durable for long (not so under `none`).
  if (options_.sync != SpoolSync::none) {
    if (auto e = sync_now()) {
      rewind_to(mark);
      return e;
    }
  }
  // The head moves to the first copy: what lies before it (the originals,
  // and a wrap record written before the first copy) is free.
  const std::size_t new_head = copied ? first_copy : tail_;
  const std::size_t distance =
      new_head >= head_ ? new_head - head_ : (ring_end_ - head_) + (new_head - kRingOffset);
  head_ = new_head;
  used_ = copied ? used_ - distance : 0;
  dead_bytes_ = 0;
  head_epoch_ = copied ? first_epoch : epoch_;
  head_serial_ = copied ? first_serial : next_serial_;
  gap_count_ = 0;  // every damaged stretch lay between the old head and tail
  ++compactions_;
  header_dirty_ = true;
  if (auto e = write_header()) return e;
  return after_change();
}

// ------------------------------------------------------ header and sync

std::error_code Spool::write_header() {
  const unsigned slot = durable_slot_ ^ 1u;
  std::uint8_t h[kSlotSize] = {};
  store_be32(h, kMagic);
  store_be16(h + 4, kFormatVersion);
  store_be64(h + 8, generation_ + 1);
  store_be64(h + 16, ring_end_);
  store_be32(h + 24, epoch_);
  store_be32(h + 28, head_epoch_);
  store_be32(h + 32, head_serial_);
  store_be64(h + 40, head_);
  store_be64(h + 48, state_.head_seq);
  store_be64(h + 56, state_.session_id);
  store_be64(h + 64, state_.last_downlink_seq);
  store_be64(h + 72, state_.next_message_id);
  store_be32(h + kHeaderCrcAt, crc32(ConstByteSpan{h, kHeaderCrcAt}));
  store_be64(h + kHeadIdAt, head_id());
  store_be32(h + kExtensionCrcAt, crc32(ConstByteSpan{h, kExtensionCrcAt}));
  if (auto e = storage_->write(slot * kSlotSize, ConstByteSpan{h, kSlotSize})) {
    header_dirty_ = true;
    return e;
  }
  ++generation_;
  written_slot_ = slot;
  written_head_ = head_;
  written_used_ = used_;
  header_dirty_ = false;
  unsynced_ = true;
  if (options_.sync == SpoolSync::none) {
    // Nothing is ever known durable: the header last written is what
    // recovery after a process crash reads.
    durable_slot_ = slot;
    barrier_ = written_head_;
    barrier_used_ = written_used_;
  }
  return {};
}

std::error_code Spool::sync_now() {
  if (header_dirty_) {
    if (auto e = write_header()) return e;
  }
  if (auto e = storage_->sync()) return e;
  unsynced_ = false;
  durable_slot_ = written_slot_;
  barrier_ = written_head_;
  barrier_used_ = written_used_;
  return {};
}

std::error_code Spool::after_change() {
  return options_.sync == SpoolSync::every_write ? sync_now() : std::error_code{};
}

std::error_code Spool::save_state(const SpoolState& state) {
  if (storage_ == nullptr) return Errc::not_running;
  state_ = state;
  if (state_.next_message_id <= last_id_) state_.next_message_id = last_id_ + 1;
  if (state_.next_message_id == 0) state_.next_message_id = 1;
  header_dirty_ = true;
  if (auto e = write_header()) return e;
  return after_change();
}

std::error_code Spool::maybe_sync(Millis now) {
  if (storage_ == nullptr || options_.sync != SpoolSync::interval) return {};
  if (!unsynced_ && !header_dirty_) return {};
  if (synced_by_timer_ && now < last_sync_ + options_.sync_interval_ms) return {};
  if (auto e = sync_now()) return e;
  last_sync_ = now;
  synced_by_timer_ = true;
  return {};
}

Millis Spool::next_sync_due() const {
  if (storage_ == nullptr || options_.sync != SpoolSync::interval) return kNever;
  if (!unsynced_ && !header_dirty_) return kNever;
  return synced_by_timer_ ? last_sync_ + options_.sync_interval_ms : 0;
}

std::error_code Spool::flush() {
  if (storage_ == nullptr) return Errc::not_running;
  if (!unsynced_ && !header_dirty_) return {};
  return sync_now();
}

}  // namespace uplink
