// SPDX-License-Identifier: Apache-2.0
// In-flight table: a ring of (packet id, acknowledged) in sequence order.
#include "uplink/core/in_flight_table.hpp"

#include "uplink/error.hpp"

namespace uplink {

InFlightTableBase::Added InFlightTableBase::add(std::uint64_t seq) {
  if (seq != acked_through_ + size_ + 1) return {make_error_code(Errc::sequence_error), 0};
  if (full()) return {make_error_code(Errc::queue_full), 0};
  // Fewer than 65535 entries are unacknowledged (capacity <= 65535 and this
  // one is not in yet), so an identifier is always free.
  const std::uint16_t id = fresh_id();
  const std::size_t s = slot(size_);
  ids_[s] = id;
  acked_[s] = false;
  ++size_;
  ++unacked_;
  return {{}, id};
}

InFlightTableBase::AckResult InFlightTableBase::acknowledge(std::uint16_t packet_id) {
  std::size_t index = 0;
  while (index < size_ && (acked_[slot(index)] || ids_[slot(index)] != packet_id)) ++index;
  if (packet_id == 0 || index == size_) return AckResult::unknown;
  acked_[slot(index)] = true;
  --unacked_;
  if (index != 0) return AckResult::out_of_order;
  // The oldest is acknowledged: release the gap-free run at the front.
  while (size_ != 0 && acked_[head_]) {
    head_ = (head_ + 1) % capacity_;
    --size_;
    ++acked_through_;
  }
  return AckResult::advanced;
}

InFlightEntry InFlightTableBase::at(std::size_t index) const {
  return {acked_through_ + 1 + index, ids_[slot(index)], acked_[slot(index)]};
}

std::uint16_t InFlightTableBase::packet_id_of(std::uint64_t seq) const {
  if (seq <= acked_through_ || seq - acked_through_ > size_) return 0;
  return ids_[slot(static_cast<std::size_t>(seq - acked_through_ - 1))];
}

bool InFlightTableBase::in_use(std::uint16_t packet_id) const {
  for (std::size_t i = 0; i < size_; ++i) {
    if (!acked_[slot(i)] && ids_[slot(i)] == packet_id) return true;
  }
  return false;
}

void InFlightTableBase::renumber() {
  for (std::size_t i = 0; i < size_; ++i) {
    if (!acked_[slot(i)]) ids_[slot(i)] = fresh_id();
  }
}

std::error_code InFlightTableBase::set_window(std::size_t window) {
  if (window == 0 || window > capacity_) return make_error_code(Errc::invalid_option);
  window_ = window;
  return {};
}

void InFlightTableBase::reset(std::uint64_t acked_through) {
  head_ = 0;
  size_ = 0;
  unacked_ = 0;
  acked_through_ = acked_through;
}

}  // namespace uplink
