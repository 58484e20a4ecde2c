// SPDX-License-Identifier: Apache-2.0
// The clocks of uplink/port/clock.hpp on Linux: clock_gettime(2), which glibc
// answers from the vDSO for both clock ids (no system call, no lock). Both
// clocks tick in nanoseconds on every kernel with high-resolution timers.
#include <time.h>

#include "uplink/port/clock.hpp"

namespace uplink::port {
namespace {

std::int64_t read_ns(clockid_t id) noexcept {
  timespec ts{};
  // Fails only for an unknown clock id; both ids exist since Linux 2.6.39.
  static_cast<void>(clock_gettime(id, &ts));
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + static_cast<std::int64_t>(ts.tv_nsec);
}

}  // namespace

MonotonicClock::time_point MonotonicClock::now() noexcept {
  return time_point{duration{read_ns(CLOCK_MONOTONIC)}};
}

BoottimeClock::time_point BoottimeClock::now() noexcept {
  return time_point{duration{read_ns(CLOCK_BOOTTIME)}};
}

}  // namespace uplink::port
