// SPDX-License-Identifier: Apache-2.0
// Outbound store: records [u64 id][u16 length][payload] back to back in a
// ring that wraps only between records, so every payload stays one
// contiguous view. Unwrapped, the records fill [start_, start_ + used_);
// wrapped, [start_, wrap_at_) then [0, tail). An acknowledged message leaves
// by moving start_ (no copy: a store that is always full, as under a steady
// flow, must not move its whole buffer per message). A record that fits
// neither behind the last one nor before the first makes the store rotate
// its records back to offset 0 (rare: the bytes exist, only fragmented); a
// drop (the drop-oldest policy, also rare) does the same, then closes its
// gap with memmove. Offsets outside this file are logical: 0 is the oldest
// record.
#include "uplink/core/outbound_store.hpp"

#include <algorithm>
#include <cstring>

#include "uplink/core/byte_order.hpp"
#include "uplink/error.hpp"

namespace uplink {
namespace {

using detail::load_be16;
using detail::load_be64;
using detail::store_be16;
using detail::store_be64;

}  // namespace

bool OutboundStore::has_room(std::size_t payload_size) const {
  return payload_size <= 0xFFFF && count_ < kStoreMessages && used_ + kRecordOverhead + payload_size <= kStoreBytes;
}

std::size_t OutboundStore::physical(std::size_t logical) const {
  const std::size_t upper = wrapped() ? wrap_at_ - start_ : kStoreBytes - start_;
  return logical < upper ? start_ + logical : logical - upper;
}

void OutboundStore::normalize() {
  if (wrapped() || start_ != 0) ++relocations_;
  if (wrapped()) {
    // [start_, wrap_at_) [padding] ... [0, tail): one rotation puts the
    // older part first, then the newer, from offset 0.
    std::rotate(bytes_, bytes_ + start_, bytes_ + wrap_at_);
    start_ = 0;
    wrap_at_ = 0;
  } else if (start_ != 0) {
    std::memmove(bytes_, bytes_ + start_, used_);
    start_ = 0;
  }
}

std::error_code OutboundStore::push(std::uint64_t id, ConstByteSpan payload) {
  if (!has_room(payload.size)) return Errc::queue_full;
  const std::size_t size = kRecordOverhead + payload.size;
  std::size_t at = 0;
  if (wrapped()) {
    const std::size_t tail = used_ - (wrap_at_ - start_);
    if (tail + size > start_) {
      normalize();
      at = used_;
    } else {
      at = tail;
    }
  } else if (start_ + used_ + size <= kStoreBytes) {
    at = start_ + used_;
  } else if (size <= start_ && used_ != 0) {
    wrap_at_ = start_ + used_;  // the rest of the buffer is padding until start_ passes it
    at = 0;
  } else {
    normalize();
    at = used_;
  }
  std::uint8_t* p = bytes_ + at;
  store_be64(p, id);
  store_be16(p + 8, static_cast<std::uint16_t>(payload.size));  // has_room() bounds it to 0xFFFF
  if (payload.size != 0) std::memcpy(p + kRecordOverhead, payload.data, payload.size);
  used_ += kRecordOverhead + payload.size;
  ++count_;
  return {};
}

std::size_t OutboundStore::record_size_at(std::size_t offset) const {
  return kRecordOverhead + load_be16(bytes_ + physical(offset) + 8);
}

OutboundStore::Message OutboundStore::message_at(std::size_t offset) const {
  Message m;
  const std::uint8_t* record = bytes_ + physical(offset);
  m.id = load_be64(record);
  m.payload = ConstByteSpan{record + kRecordOverhead, load_be16(record + 8)};
  return m;
}

OutboundStore::Message OutboundStore::next_untransmitted() const { return message_at(transmitted_end_); }

void OutboundStore::mark_transmitted() {
  if (transmitted_ >= count_) return;
  transmitted_end_ += record_size_at(transmitted_end_);
  ++transmitted_;
}

void OutboundStore::pop_front() {
  const std::size_t size = record_size_at(0);
  start_ += size;
  used_ -= size;
  if (used_ == 0) {
    start_ = 0;
    wrap_at_ = 0;
  } else if (wrapped() && start_ == wrap_at_) {
    start_ = 0;  // the older part is gone: the newer one, from 0, is all there is
    wrap_at_ = 0;
  }
  --count_;
  ++head_seq_;
  if (transmitted_ > 0) {
    --transmitted_;
    transmitted_end_ -= size;
  }
}

std::size_t OutboundStore::offset_of(std::size_t index) const {
  std::size_t offset = 0;
  for (std::size_t i = 0; i < index && i < count_; ++i) offset += record_size_at(offset);
  return offset;
}

bool OutboundStore::droppable_room_suffices(std::size_t payload_size, std::size_t keep_front) const {
  if (payload_size > 0xFFFF) return false;
  const std::size_t first = keep_front > transmitted_ ? keep_front : transmitted_;
  if (first >= count_) return false;
  // Dropping everything droppable frees every byte after `first`'s offset.
  const std::size_t kept_bytes = offset_of(first);
  return first < kStoreMessages && kept_bytes + kRecordOverhead + payload_size <= kStoreBytes;
}

bool OutboundStore::drop_after(std::size_t keep_front, std::uint64_t& dropped_id) {
  const std::size_t first = keep_front > transmitted_ ? keep_front : transmitted_;
  if (first >= count_) return false;
  normalize();  // one contiguous run from 0, so the gap closes with one move
  const std::size_t at = offset_of(first);
  const std::size_t size = record_size_at(at);
  dropped_id = load_be64(bytes_ + at);
  std::memmove(bytes_ + at, bytes_ + at + size, used_ - at - size);
  used_ -= size;
  --count_;
  return true;
}

void OutboundStore::restart(std::uint64_t head_seq) {
  head_seq_ = head_seq;
  transmitted_ = 0;
  transmitted_end_ = 0;
}

}  // namespace uplink
