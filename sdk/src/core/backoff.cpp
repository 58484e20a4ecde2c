// SPDX-License-Identifier: Apache-2.0
// Full-jitter backoff: ceiling doubling with saturation, uniform pick.
#include "uplink/core/backoff.hpp"

namespace uplink {

std::uint32_t Backoff::ceiling_ms() const {
  std::uint64_t ceiling = policy_.base_ms;
  // Doubling stops at the cap, so neither the shift nor the count can overflow.
  for (std::uint32_t i = 0; i < attempts_ && ceiling < policy_.cap_ms; ++i) ceiling *= 2;
  return ceiling < policy_.cap_ms ? static_cast<std::uint32_t>(ceiling) : policy_.cap_ms;
}

bool Backoff::next(std::uint32_t random, std::uint32_t& delay_ms) {
  if (policy_.max_attempts != 0 && attempts_ >= policy_.max_attempts) return false;
  const std::uint64_t span = static_cast<std::uint64_t>(ceiling_ms()) + 1;
  // Multiply-shift maps the full 32-bit range onto [0, ceiling] without the
  // bias of a modulo (Lemire's method, without the rejection step).
  delay_ms = static_cast<std::uint32_t>((static_cast<std::uint64_t>(random) * span) >> 32);
  if (attempts_ < 0xFFFFFFFFu) ++attempts_;
  return true;
}

}  // namespace uplink
