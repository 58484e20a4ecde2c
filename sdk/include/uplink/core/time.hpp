// SPDX-License-Identifier: Apache-2.0
// Time as the pure core sees it: milliseconds passed in by the caller. The
// core never reads a clock (the shell does, through uplink/port/clock.hpp).
#pragma once

#include <cstdint>

namespace uplink {

/// Milliseconds of a monotonic clock; the origin does not matter.
using Millis = std::uint64_t;
/// "No deadline".
inline constexpr Millis kNever = ~Millis{0};

}  // namespace uplink
