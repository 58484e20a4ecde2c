// SPDX-License-Identifier: Apache-2.0
// In-flight table: (packet id, acknowledged) in sequence order, the oldest
// at index 0. Releasing the acknowledged run at the front moves the rest
// down (at most a window of three-byte entries, once per PUBACK that moves
// the mark): the table needs no ring arithmetic, and every lookup is a
// plain index.
#include "uplink/core/in_flight_table.hpp"

#include <cstring>

#include "uplink/error.hpp"

namespace uplink {

InFlightTableBase::Added InFlightTableBase::add(std::uint64_t seq) {
  if (seq != acked_through_ + size_ + 1) return {make_error_code(Errc::sequence_error), 0};
  if (full()) return {make_error_code(Errc::queue_full), 0};
  // Fewer than 65535 entries are unacknowledged (capacity <= 65535 and this
  // one is not in yet), so an identifier is always free.
  const std::uint16_t id = fresh_id();
  ids_[size_] = id;
  acked_[size_] = false;
  ++size_;
  ++unacked_;
  return {{}, id};
}

InFlightTableBase::AckResult InFlightTableBase::acknowledge(std::uint16_t packet_id) {
  std::size_t index = 0;
  while (index < size_ && (acked_[index] || ids_[index] != packet_id)) ++index;
  if (packet_id == 0 || index == size_) return AckResult::unknown;
  acked_[index] = true;
  --unacked_;
  if (index != 0) return AckResult::out_of_order;
  // The oldest is acknowledged: release the gap-free run at the front.
  std::size_t run = 0;
  while (run < size_ && acked_[run]) ++run;
  size_ -= run;
  acked_through_ += run;
  std::memmove(ids_, ids_ + run, size_ * sizeof *ids_);
  std::memmove(acked_, acked_ + run, size_ * sizeof *acked_);
  return AckResult::advanced;
}

InFlightEntry InFlightTableBase::at(std::size_t index) const {
  return {acked_through_ + 1 + index, ids_[index], acked_[index]};
}

std::uint16_t InFlightTableBase::packet_id_of(std::uint64_t seq) const {
  if (seq <= acked_through_ || seq - acked_through_ > size_) return 0;
  return ids_[static_cast<std::size_t>(seq - acked_through_ - 1)];
}

bool InFlightTableBase::in_use(std::uint16_t packet_id) const {
  for (std::size_t i = 0; i < size_; ++i) {
    if (!acked_[i] && ids_[i] == packet_id) return true;
  }
  return false;
}

std::uint16_t InFlightTableBase::take_spare_id() { return fresh_id(); }

void InFlightTableBase::renumber() {
  for (std::size_t i = 0; i < size_; ++i) {
    if (!acked_[i]) ids_[i] = fresh_id();
  }
}

std::error_code InFlightTableBase::set_window(std::size_t window) {
  if (window == 0 || window > capacity_) return make_error_code(Errc::invalid_option);
  window_ = window;
  return {};
}

void InFlightTableBase::reset(std::uint64_t acked_through) {
  size_ = 0;
  unacked_ = 0;
  acked_through_ = acked_through;
}

}  // namespace uplink
