// SPDX-License-Identifier: Apache-2.0
// Capped exponential backoff with full jitter: ceiling doubling and
// saturation, the uniform pick from an injected random value, attempt
// limits, reset, and overflow safety at the extremes of 32-bit milliseconds.
#include <cstdint>

#include "uplink/core/backoff.hpp"

#include <CppUTest/TestHarness.h>

#include "support/xorshift32.hpp"

using namespace uplink;

namespace {

constexpr std::uint32_t kRandomMin = 0;
constexpr std::uint32_t kRandomMax = 0xFFFFFFFFu;
constexpr std::uint32_t kRandomHalf = 0x80000000u;

BackoffPolicy policy(std::uint32_t base, std::uint32_t cap, std::uint32_t max_attempts = 0) {
  BackoffPolicy p;
  p.base_ms = base;
  p.cap_ms = cap;
  p.max_attempts = max_attempts;
  return p;
}

}  // namespace

TEST_GROUP(Backoff){};

TEST(Backoff, DefaultPolicyIsOneSecondToOneMinuteRetryingForever) {
  const BackoffPolicy p;
  UNSIGNED_LONGS_EQUAL(1000u, p.base_ms);
  UNSIGNED_LONGS_EQUAL(60000u, p.cap_ms);
  UNSIGNED_LONGS_EQUAL(0u, p.max_attempts);
}

TEST(Backoff, ANewBackoffHasNoAttemptsAndKeepsItsPolicy) {
  const Backoff b(policy(250, 8000, 7));
  UNSIGNED_LONGS_EQUAL(0u, b.attempts());
  UNSIGNED_LONGS_EQUAL(250u, b.policy().base_ms);
  UNSIGNED_LONGS_EQUAL(8000u, b.policy().cap_ms);
  UNSIGNED_LONGS_EQUAL(7u, b.policy().max_attempts);
}

TEST(Backoff, FirstCeilingIsTheBase) {
  const Backoff b(policy(1000, 60000));
  UNSIGNED_LONGS_EQUAL(1000u, b.ceiling_ms());
}

TEST(Backoff, CeilingDoublesFromBaseUntilItSaturatesAtTheCap) {
  Backoff b(policy(1000, 60000));
  const std::uint32_t expected[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000};
  for (std::uint32_t i = 0; i < sizeof expected / sizeof expected[0]; ++i) {
    UNSIGNED_LONGS_EQUAL(i, b.attempts());
    UNSIGNED_LONGS_EQUAL(expected[i], b.ceiling_ms());
    std::uint32_t delay = 0;
    CHECK(b.next(kRandomMin, delay));
  }
}

TEST(Backoff, EachDelayIsDrawnFromTheCeilingBeforeTheAttemptIsCounted) {
  Backoff b(policy(1000, 60000));
  const std::uint32_t expected[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
  for (const std::uint32_t ceiling : expected) {
    std::uint32_t delay = 0;
    CHECK(b.next(kRandomMax, delay));
    UNSIGNED_LONGS_EQUAL(ceiling, delay);
  }
}

TEST(Backoff, CeilingReachesAnExactPowerOfTwoCapWithoutOvershooting) {
  Backoff b(policy(1000, 8000));
  std::uint32_t delay = 0;
  for (int i = 0; i < 3; ++i) CHECK(b.next(kRandomMin, delay));
  UNSIGNED_LONGS_EQUAL(8000u, b.ceiling_ms());
  CHECK(b.next(kRandomMin, delay));
  UNSIGNED_LONGS_EQUAL(8000u, b.ceiling_ms());
}

TEST(Backoff, CountingAnAttemptIncrementsAttempts) {
  Backoff b(policy(1000, 60000));
  std::uint32_t delay = 0;
  for (std::uint32_t i = 1; i <= 20; ++i) {
    CHECK(b.next(kRandomHalf, delay));
    UNSIGNED_LONGS_EQUAL(i, b.attempts());
  }
}

TEST(Backoff, RandomZeroGivesAZeroDelay) {
  Backoff b(policy(1000, 60000));
  for (int i = 0; i < 10; ++i) {
    std::uint32_t delay = 12345;
    CHECK(b.next(kRandomMin, delay));
    UNSIGNED_LONGS_EQUAL(0u, delay);
  }
}

TEST(Backoff, RandomAllOnesGivesExactlyTheCeiling) {
  Backoff b(policy(1000, 60000));
  for (int i = 0; i < 10; ++i) {
    const std::uint32_t ceiling = b.ceiling_ms();
    std::uint32_t delay = 0;
    CHECK(b.next(kRandomMax, delay));
    UNSIGNED_LONGS_EQUAL(ceiling, delay);
  }
}

TEST(Backoff, RandomHalfOfTheRangeGivesAboutHalfTheCeiling) {
  Backoff b(policy(1000, 60000));
  for (int i = 0; i < 10; ++i) {
    const std::uint32_t ceiling = b.ceiling_ms();
    std::uint32_t delay = 0;
    CHECK(b.next(kRandomHalf, delay));
    // Uniform over [0, ceiling]: the midpoint of the random range maps to
    // the midpoint of the delay range, give or take one millisecond.
    CHECK_TEXT(delay + 1 >= ceiling / 2 && delay <= ceiling / 2 + 1, "half the random range is not half the window");
  }
}

TEST(Backoff, DelayGrowsWithTheRandomValue) {
  // Monotonic mapping: a larger random value never gives a shorter delay.
  std::uint32_t previous = 0;
  for (std::uint64_t r = 0; r <= 0xFFFFFFFFull; r += 0x01000193ull) {
    Backoff b(policy(1000, 60000));
    std::uint32_t delay = 0;
    CHECK(b.next(static_cast<std::uint32_t>(r), delay));
    CHECK(delay >= previous);
    CHECK(delay <= 1000u);
    previous = delay;
  }
  CHECK(previous > 900u);  // the sweep really covered the window
}

TEST(Backoff, DelaysSpreadOverTheWholeWindow) {
  // Full jitter: varied random values land in every quarter of [0, ceiling].
  test::XorShift32 rng;
  bool quarter_seen[4] = {false, false, false, false};
  for (int i = 0; i < 1000; ++i) {
    Backoff b(policy(1000, 60000));
    std::uint32_t delay = 0;
    CHECK(b.next(rng.next(), delay));
    CHECK(delay <= 1000u);
    quarter_seen[delay >= 1000u ? 3 : delay / 250u] = true;
  }
  for (const bool seen : quarter_seen) CHECK(seen);
}

TEST(Backoff, DelaysNeverExceedTheCeilingOverManyAttemptsWithVariedRandomValues) {
  test::XorShift32 rng;
  Backoff b(policy(1000, 60000));
  for (int i = 0; i < 5000; ++i) {
    const std::uint32_t ceiling = b.ceiling_ms();
    CHECK(ceiling >= 1000u && ceiling <= 60000u);
    std::uint32_t delay = 0;
    CHECK(b.next(rng.next(), delay));
    CHECK_TEXT(delay <= ceiling, "delay above the ceiling");
    if (i % 97 == 0) b.reset();  // revisit the small ceilings too
  }
}

TEST(Backoff, DelaysNeverExceedTheCeilingForOddBasesAndCaps) {
  test::XorShift32 rng;
  const BackoffPolicy policies[] = {policy(1, 1), policy(1, 2), policy(3, 1000), policy(7, 0xFFFFFFFFu),
                                    policy(999, 1001), policy(0x7FFFFFFFu, 0xFFFFFFFEu)};
  for (const BackoffPolicy& p : policies) {
    Backoff b(p);
    for (int i = 0; i < 200; ++i) {
      const std::uint32_t ceiling = b.ceiling_ms();
      CHECK(ceiling >= p.base_ms && ceiling <= p.cap_ms);
      std::uint32_t delay = 0;
      CHECK(b.next(rng.next(), delay));
      CHECK(delay <= ceiling);
    }
    std::uint32_t delay = 0;
    CHECK(b.next(kRandomMax, delay));
    UNSIGNED_LONGS_EQUAL(p.cap_ms, delay);
  }
}

TEST(Backoff, MaxAttemptsHandsOutExactlyThatManyDelays) {
  Backoff b(policy(1000, 60000, 3));
  std::uint32_t delay = 0;
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(1000u, delay);
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(2000u, delay);
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(4000u, delay);
  UNSIGNED_LONGS_EQUAL(3u, b.attempts());
}

TEST(Backoff, NextReturnsFalseAndLeavesTheDelayUntouchedOnceAttemptsAreExhausted) {
  Backoff b(policy(1000, 60000, 2));
  std::uint32_t delay = 0;
  CHECK(b.next(kRandomMax, delay));
  CHECK(b.next(kRandomMax, delay));
  for (int i = 0; i < 5; ++i) {
    delay = 0xDEADBEEFu;
    CHECK_FALSE(b.next(kRandomMax, delay));
    UNSIGNED_LONGS_EQUAL(0xDEADBEEFu, delay);
    delay = 777u;
    CHECK_FALSE(b.next(kRandomMin, delay));
    UNSIGNED_LONGS_EQUAL(777u, delay);
  }
  UNSIGNED_LONGS_EQUAL(2u, b.attempts());  // refusals are not counted
}

TEST(Backoff, MaxAttemptsOfOneAllowsASingleDelay) {
  Backoff b(policy(500, 500, 1));
  std::uint32_t delay = 0;
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(500u, delay);
  delay = 42;
  CHECK_FALSE(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(42u, delay);
}

TEST(Backoff, ZeroMaxAttemptsRetriesForeverWithTheCeilingStayingAtTheCap) {
  Backoff b(policy(1000, 60000, 0));
  test::XorShift32 rng;
  for (std::uint32_t i = 0; i < 10000; ++i) {
    std::uint32_t delay = 0xFFFFFFFFu;
    CHECK(b.next(rng.next(), delay));
    CHECK(delay <= 60000u);
  }
  UNSIGNED_LONGS_EQUAL(10000u, b.attempts());
  UNSIGNED_LONGS_EQUAL(60000u, b.ceiling_ms());
  std::uint32_t delay = 0;
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(60000u, delay);
}

TEST(Backoff, ResetReturnsToTheBaseCeiling) {
  Backoff b(policy(1000, 60000));
  std::uint32_t delay = 0;
  for (int i = 0; i < 8; ++i) CHECK(b.next(kRandomHalf, delay));
  UNSIGNED_LONGS_EQUAL(60000u, b.ceiling_ms());
  b.reset();
  UNSIGNED_LONGS_EQUAL(0u, b.attempts());
  UNSIGNED_LONGS_EQUAL(1000u, b.ceiling_ms());
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(1000u, delay);
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(2000u, delay);
}

TEST(Backoff, ResetRestoresTheAttemptBudget) {
  Backoff b(policy(1000, 60000, 2));
  std::uint32_t delay = 0;
  CHECK(b.next(kRandomMin, delay));
  CHECK(b.next(kRandomMin, delay));
  CHECK_FALSE(b.next(kRandomMin, delay));
  b.reset();
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(1000u, delay);
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(2000u, delay);
  CHECK_FALSE(b.next(kRandomMax, delay));
}

TEST(Backoff, HugeAttemptCountsWithTheLargestCapDoNotOverflow) {
  Backoff b(policy(1, 0xFFFFFFFFu));
  std::uint32_t delay = 0;
  // 1 ms doubled 31 times is 2^31; once more would be 2^32, above the cap.
  for (std::uint32_t i = 0; i < 31; ++i) CHECK(b.next(kRandomMin, delay));
  UNSIGNED_LONGS_EQUAL(0x80000000u, b.ceiling_ms());
  CHECK(b.next(kRandomMin, delay));
  UNSIGNED_LONGS_EQUAL(0xFFFFFFFFu, b.ceiling_ms());
  for (std::uint32_t i = 0; i < 100000; ++i) {
    CHECK(b.next(kRandomMax, delay));
    UNSIGNED_LONGS_EQUAL(0xFFFFFFFFu, delay);  // never wrapped to a small value
  }
  UNSIGNED_LONGS_EQUAL(0xFFFFFFFFu, b.ceiling_ms());
  CHECK(b.next(kRandomHalf, delay));
  UNSIGNED_LONGS_EQUAL(0x80000000u, delay);
  CHECK(b.next(kRandomMin, delay));
  UNSIGNED_LONGS_EQUAL(0u, delay);
}

TEST(Backoff, ABaseAboveHalfTheLargestCapSaturatesInsteadOfWrapping) {
  Backoff b(policy(0x90000000u, 0xFFFFFFFFu));
  UNSIGNED_LONGS_EQUAL(0x90000000u, b.ceiling_ms());
  std::uint32_t delay = 0;
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(0x90000000u, delay);
  for (int i = 0; i < 100; ++i) {
    UNSIGNED_LONGS_EQUAL(0xFFFFFFFFu, b.ceiling_ms());
    CHECK(b.next(kRandomMax, delay));
    UNSIGNED_LONGS_EQUAL(0xFFFFFFFFu, delay);
  }
}

TEST(Backoff, BaseEqualToCapKeepsAConstantCeiling) {
  Backoff b(policy(5000, 5000));
  for (int i = 0; i < 50; ++i) {
    UNSIGNED_LONGS_EQUAL(5000u, b.ceiling_ms());
    std::uint32_t delay = 0;
    CHECK(b.next(kRandomMax, delay));
    UNSIGNED_LONGS_EQUAL(5000u, delay);
    CHECK(b.next(kRandomMin, delay));
    UNSIGNED_LONGS_EQUAL(0u, delay);
  }
}

TEST(Backoff, BaseEqualToTheLargestCapGivesTheFullRandomRange) {
  Backoff b(policy(0xFFFFFFFFu, 0xFFFFFFFFu));
  std::uint32_t delay = 0;
  CHECK(b.next(kRandomMax, delay));
  UNSIGNED_LONGS_EQUAL(0xFFFFFFFFu, delay);
  CHECK(b.next(kRandomHalf, delay));
  UNSIGNED_LONGS_EQUAL(0x80000000u, delay);
  CHECK(b.next(kRandomMin, delay));
  UNSIGNED_LONGS_EQUAL(0u, delay);
  UNSIGNED_LONGS_EQUAL(0xFFFFFFFFu, b.ceiling_ms());
}
