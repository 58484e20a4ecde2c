// SPDX-License-Identifier: Apache-2.0
// The clock contract (uplink/port/clock.hpp) against the Linux port's real
// clocks, and what a clock that jumps forward (a BOOTTIME clock across a
// suspend) does to Asio's timers: the reactor waits on a CLOCK_MONOTONIC
// timerfd, so the jump is seen only when that wait ends or when the earliest
// timer is re-armed. The jump is simulated by a test clock with an offset.
#include "uplink/net/asio.hpp"

#include <asio/basic_waitable_timer.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "uplink/port/clock.hpp"

#include <CppUTest/TestHarness.h>

namespace {

using uplink::port::BoottimeClock;
using uplink::port::MonotonicClock;
using Real = std::chrono::steady_clock;  // measures the test itself
using std::chrono::milliseconds;

std::int64_t slop_ms() {
  const char* env = std::getenv("UPLINK_TEST_SLOP_MS");
  return env != nullptr ? std::strtoll(env, nullptr, 10) : 150;
}

template <typename Clock>
constexpr bool is_trivial_clock_shape() {
  return Clock::is_steady && std::is_same_v<typename Clock::rep, std::int64_t> &&
         std::is_same_v<typename Clock::period, std::nano> &&
         std::is_same_v<typename Clock::duration, std::chrono::nanoseconds> &&
         std::is_same_v<typename Clock::time_point::clock, Clock> && noexcept(Clock::now());
}
static_assert(is_trivial_clock_shape<MonotonicClock>());
static_assert(is_trivial_clock_shape<BoottimeClock>());
#if defined(UPLINK_CLOCK_BOOTTIME) && UPLINK_CLOCK_BOOTTIME
static_assert(std::is_same_v<uplink::port::Clock, BoottimeClock>);
#else
static_assert(std::is_same_v<uplink::port::Clock, MonotonicClock>);
#endif

// Reads from several threads, each read under one mutex, so the reads are
// totally ordered: none may be smaller than the one before it.
template <typename Clock>
void check_never_backwards_across_threads() {
  constexpr int kThreads = 4;
  constexpr int kReadsPerThread = 5000;
  std::mutex mutex;
  typename Clock::time_point last{};
  int backwards = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kReadsPerThread; ++i) {
        std::lock_guard<std::mutex> lock(mutex);
        const auto now = Clock::now();
        if (now < last) ++backwards;
        last = now;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  LONGS_EQUAL(0, backwards);
}

// The smallest step seen between distinct readings, over a bounded number of reads.
template <typename Clock>
std::int64_t smallest_step_ns() {
  std::int64_t smallest = INT64_MAX;
  auto previous = Clock::now();
  int steps = 0;
  for (int i = 0; i < 1000000 && steps < 20; ++i) {
    const auto now = Clock::now();
    if (now != previous) {
      const std::int64_t step = (now - previous).count();
      if (step < smallest) smallest = step;
      previous = now;
      ++steps;
    }
  }
  return smallest;
}

// MonotonicClock plus an offset that a test moves forward: what a BOOTTIME
// clock looks like to Asio when the system sleeps (the timerfd does not see it).
struct JumpClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<JumpClock>;
  static constexpr bool is_steady = true;
  static std::atomic<std::int64_t> offset_ns;
  static time_point now() noexcept {
    return time_point{MonotonicClock::now().time_since_epoch() + duration{offset_ns.load()}};
  }
  static void jump(std::chrono::nanoseconds by) { offset_ns += by.count(); }
};
std::atomic<std::int64_t> JumpClock::offset_ns{0};
using JumpTimer = asio::basic_waitable_timer<JumpClock>;

std::int64_t elapsed_ms(Real::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Real::now() - since).count();
}

}  // namespace

TEST_GROUP(ClockPort){};

TEST(ClockPort, MonotonicNeverGoesBackwardsAcrossThreads) { check_never_backwards_across_threads<MonotonicClock>(); }

TEST(ClockPort, BoottimeNeverGoesBackwardsAcrossThreads) { check_never_backwards_across_threads<BoottimeClock>(); }

TEST(ClockPort, BothClocksTickInOneMillisecondOrLess) {
  CHECK(smallest_step_ns<MonotonicClock>() <= 1000000);
  CHECK(smallest_step_ns<BoottimeClock>() <= 1000000);
}

TEST(ClockPort, BoottimeIsNeverBehindMonotonic) {
  // Read monotonic first: boottime is monotonic plus the time suspended, so
  // a later boottime reading can only be larger.
  for (int i = 0; i < 1000; ++i) {
    const auto monotonic = MonotonicClock::now().time_since_epoch();
    const auto boottime = BoottimeClock::now().time_since_epoch();
    CHECK(boottime >= monotonic);
  }
}

TEST(ClockPort, MonotonicAdvancesWithRealTime) {
  const auto start = MonotonicClock::now();
  const auto real_start = Real::now();
  std::this_thread::sleep_for(milliseconds(20));
  const auto advanced = std::chrono::duration_cast<milliseconds>(MonotonicClock::now() - start).count();
  CHECK(advanced >= 20);
  CHECK(advanced <= elapsed_ms(real_start) + 1);
}

TEST_GROUP(ClockJump) {
  void setup() override { JumpClock::offset_ns = 0; }
};

TEST(ClockJump, APassedDeadlineFiresWhenTheMonotonicWaitEndsNotAtTheJump) {
  // The deadline is 300 ms away; 50 ms in, the clock jumps an hour (a
  // suspend seen by a BOOTTIME clock) and a handler is posted (the reactor
  // wakes, as for any event): the timerfd still has 250 ms to go, and the
  // timer fires only then, although it is long overdue.
  asio::io_context io;
  JumpTimer timer(io, JumpClock::now() + milliseconds(300));
  const auto start = Real::now();
  std::int64_t fired_after_ms = -1;
  bool overdue_when_fired = false;
  timer.async_wait([&](const asio::error_code& error) {
    CHECK_FALSE(error);
    fired_after_ms = elapsed_ms(start);
    overdue_when_fired = JumpClock::now() - timer.expiry() >= std::chrono::minutes(59);
  });
  std::thread sleeper([&] {
    std::this_thread::sleep_for(milliseconds(50));
    JumpClock::jump(std::chrono::hours(1));
    asio::post(io, [] {});
  });
  io.run_for(milliseconds(2000 + slop_ms()));
  sleeper.join();
  CHECK(overdue_when_fired);
  CHECK(fired_after_ms >= 290);
  CHECK(fired_after_ms <= 300 + slop_ms());
}

TEST(ClockJump, ReArmingTheEarliestTimerAfterTheJumpFiresEveryPassedDeadlineAtOnce) {
  // Two deadlines 10 s and 20 s away; the clock jumps an hour; then the
  // earliest timer is re-armed at its own expiry (what the client does when
  // its next wake-up moves): the timerfd is re-armed from the jumped clock,
  // and both deadlines fire at once instead of 10 s later.
  asio::io_context io;
  JumpTimer first(io, JumpClock::now() + std::chrono::seconds(10));
  JumpTimer second(io, JumpClock::now() + std::chrono::seconds(20));
  int aborted = 0;
  int fired = 0;
  auto count = [&](const asio::error_code& error) {
    if (error) {
      ++aborted;
    } else {
      ++fired;
    }
  };
  first.async_wait(count);
  second.async_wait(count);
  io.run_for(milliseconds(20));
  CHECK_EQUAL(0, fired);

  const auto start = Real::now();
  JumpClock::jump(std::chrono::hours(1));
  asio::post(io, [&] {
    first.expires_at(first.expiry());  // cancels the wait: one operation_aborted
    first.async_wait(count);
  });
  for (int i = 0; i < 100 && fired < 2; ++i) io.run_for(milliseconds(10));
  LONGS_EQUAL(2, fired);
  LONGS_EQUAL(1, aborted);
  CHECK(elapsed_ms(start) <= 100 + slop_ms());
}
