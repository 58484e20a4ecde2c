// SPDX-License-Identifier: Apache-2.0
// Port contract: the clock behind every deadline of the client (heartbeat,
// read, write, connect, probe, backoff) and behind the `now` the client
// passes to the pure Link.
#pragma once

#include <chrono>
#include <cstdint>

namespace uplink::port {
namespace detail {
/// The member types and constant every clock of this contract has.
template <typename Clock>
struct ClockTypes {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<Clock, duration>;
  static constexpr bool is_steady = true;
};
}  // namespace detail

/// The contract every clock below meets. Both are C++ TrivialClocks, usable
/// as the Clock of `asio::basic_waitable_timer` (the client's timer):
///
/// - `rep` is `std::int64_t`, `period` is `std::nano`; `is_steady` is true.
/// - `now()` never goes backwards, in one thread or across threads: a call
///   that happens after another (sequenced, or synchronised by a mutex, an
///   atomic or a thread join) returns a value no smaller. Setting the wall
///   clock (date, NTP steps) does not move it.
/// - It advances in steps of 1 ms or finer (the client counts milliseconds).
/// - Its epoch is unspecified (boot on Linux): only differences mean anything,
///   and they are exact for the lifetime of the process.
/// - `now()` is noexcept, thread-safe, lock-free, never allocates and never
///   blocks (on Linux a vDSO call, no system call): the client calls it on
///   every event.
/// - Across a system suspend: each clock says what it does, and that is the
///   only difference between them.
///
/// A port defines both `now()` functions; where the platform has one clock
/// only (no suspend, or a monotonic clock that runs in suspend), both return
/// it, and the port's documentation says so.

/// Stops while the system is suspended (Linux: CLOCK_MONOTONIC). A deadline
/// that was 20 s away at suspend is still 20 s away at resume: time asleep
/// does not count, and every deadline fires after the awake time it had
/// left. The default.
struct MonotonicClock : detail::ClockTypes<MonotonicClock> {
  /// Time since an unspecified epoch (boot on Linux), awake time only.
  [[nodiscard]] static time_point now() noexcept;
};

/// Counts time spent suspended (Linux: CLOCK_BOOTTIME); otherwise identical
/// to MonotonicClock, and never behind it. At resume every deadline that
/// passed during the suspend is due. When it fires depends on the reactor,
/// not on this clock: Asio's Linux reactor sleeps on a CLOCK_MONOTONIC
/// timerfd armed with the time left until the earliest deadline as this
/// clock saw it before the suspend (at most 5 minutes), and checks its timers
/// only when that timerfd expires or when a wait starts on a timer that
/// becomes the earliest one; a socket event alone does not check them. So a
/// deadline that passed during the suspend fires at the latest when the
/// monotonic wait that was left at suspend ends, earlier if the client
/// re-arms its timer first (it does when an event moves its next wake-up
/// earlier), and then together with every other one that passed. See
/// docs/PORTING.md.
struct BoottimeClock : detail::ClockTypes<BoottimeClock> {
  /// Time since an unspecified epoch (boot on Linux), time suspended included.
  [[nodiscard]] static time_point now() noexcept;
};

/// The clock of the client's timers, chosen when the SDK is built
/// (CMake option UPLINK_CLOCK=monotonic|boottime; the build passes
/// UPLINK_CLOCK_BOOTTIME=1 to every user of the client so that all agree).
#if defined(UPLINK_CLOCK_BOOTTIME) && UPLINK_CLOCK_BOOTTIME
using Clock = BoottimeClock;
#else
using Clock = MonotonicClock;
#endif

}  // namespace uplink::port
