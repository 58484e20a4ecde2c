// SPDX-License-Identifier: Apache-2.0
// Outbound store: records [u64 id][u16 length][payload] back to back from
// offset 0; removal compacts with memmove (a few KiB at most, far cheaper
// than the system call that delivered the acknowledgement).
#include "uplink/core/outbound_store.hpp"

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

std::error_code OutboundStore::push(std::uint64_t id, ConstByteSpan payload) {
  if (!has_room(payload.size)) return Errc::queue_full;
  std::uint8_t* p = bytes_ + used_;
  store_be64(p, id);
  store_be16(p + 8, static_cast<std::uint16_t>(payload.size));  // has_room() bounds it to 0xFFFF
  if (payload.size != 0) std::memcpy(p + kRecordOverhead, payload.data, payload.size);
  used_ += kRecordOverhead + payload.size;
  ++count_;
  return {};
}

std::size_t OutboundStore::record_size_at(std::size_t offset) const {
  return kRecordOverhead + load_be16(bytes_ + offset + 8);
}

OutboundStore::Message OutboundStore::message_at(std::size_t offset) const {
  Message m;
  m.id = load_be64(bytes_ + offset);
  m.payload = ConstByteSpan{bytes_ + offset + kRecordOverhead, record_size_at(offset) - kRecordOverhead};
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
  std::memmove(bytes_, bytes_ + size, used_ - size);
  used_ -= size;
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
