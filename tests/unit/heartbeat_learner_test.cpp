// SPDX-License-Identifier: Apache-2.0
// HeartbeatLearner in virtual time: a simulated path drops a connection
// idle for its timeout or longer, and the learner is asked for an interval
// before each idle period and told whether it survived. Checked: it settles
// within 3 link losses at 70..95 % of the path's timeout for timeouts from
// seconds to half an hour, never leaves its bounds, re-learns after a
// network change and when the path's timeout shortens or grows, hands out
// trials only when allowed, and resumes from a saved memory.
#include <cstdint>
#include <string>

#include "uplink/core/heartbeat_learner.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

namespace {

// A path (a NAT) that forgets a mapping idle for `timeout_ms` or longer.
struct Path {
  std::uint32_t timeout_ms;
  [[nodiscard]] bool survives(std::uint32_t idle_ms) const { return idle_ms < timeout_ms; }
};

struct Outcome {
  std::uint32_t losses = 0;   // links lost until settled
  std::uint32_t periods = 0;  // idle periods until settled
  bool settled = false;
};

// One idle period: ask, "send the PING", report. Returns true if the link survived.
bool idle_period(HeartbeatLearner& learner, const Path& path, bool trial_allowed = true) {
  const std::uint32_t interval = learner.interval(trial_allowed);
  learner.on_ping_sent(interval);
  if (path.survives(interval)) {
    learner.on_idle_survived();
    return true;
  }
  (void)learner.on_idle_failed();
  return false;
}

// Idle periods until the learner settles (at most `limit`).
Outcome learn(HeartbeatLearner& learner, const Path& path, int limit = 100) {
  Outcome o;
  for (int i = 0; i < limit && learner.phase() != HeartbeatPhase::settled; ++i) {
    ++o.periods;
    if (!idle_period(learner, path)) ++o.losses;
  }
  o.settled = learner.phase() == HeartbeatPhase::settled;
  return o;
}

HeartbeatLearnerPolicy policy(std::uint32_t min_ms, std::uint32_t start_ms, std::uint32_t max_ms) {
  HeartbeatLearnerPolicy p;
  p.min_ms = min_ms;
  p.start_ms = start_ms;
  p.max_ms = max_ms;
  return p;
}

void check_settled_within_target(const HeartbeatLearner& learner, const Path& path, const Outcome& o) {
  const std::string where = "path timeout " + std::to_string(path.timeout_ms) + " ms, settled at " +
                            std::to_string(learner.confirmed()) + " ms after " + std::to_string(o.losses) +
                            " losses in " + std::to_string(o.periods) + " idle periods";
  CHECK_TEXT(o.settled, where.c_str());
  CHECK_TEXT(o.losses <= 3, where.c_str());
  CHECK_TEXT(learner.confirmed() * 100 >= 70ull * path.timeout_ms, where.c_str());
  CHECK_TEXT(learner.confirmed() * 100 <= 95ull * path.timeout_ms, where.c_str());
}

}  // namespace

TEST_GROUP(HeartbeatLearner) {};

TEST(HeartbeatLearner, DefaultPolicyIsValidAndBadOnesAreNot) {
  CHECK_TRUE(HeartbeatLearnerPolicy{}.valid());
  CHECK_FALSE(policy(0, 1000, 2000).valid());
  CHECK_FALSE(policy(2000, 1000, 3000).valid());
  CHECK_FALSE(policy(1000, 3000, 2000).valid());
  HeartbeatLearnerPolicy p;
  p.growth_percent = 100;
  CHECK_FALSE(p.valid());
  p = HeartbeatLearnerPolicy{};
  p.margin_percent = 100;
  CHECK_FALSE(p.valid());
  p = HeartbeatLearnerPolicy{};
  p.max_losses = 0;
  CHECK_FALSE(p.valid());
}

TEST(HeartbeatLearner, StartsFromTheSafeIntervalAndLengthensWhileIdlePeriodsSurvive) {
  HeartbeatLearner learner(policy(10000, 30000, 1800000));
  const Path path{600000};
  UNSIGNED_LONGS_EQUAL(30000, learner.interval(true));
  CHECK_FALSE(learner.trial_pending());  // the start is not a trial
  CHECK_TRUE(idle_period(learner, path));
  UNSIGNED_LONGS_EQUAL(30000, learner.confirmed());
  UNSIGNED_LONGS_EQUAL(45000, learner.interval(true));
  CHECK_TRUE(idle_period(learner, path));
  UNSIGNED_LONGS_EQUAL(45000, learner.confirmed());
  UNSIGNED_LONGS_EQUAL(67500, learner.interval(true));
  CHECK_TRUE(learner.phase() == HeartbeatPhase::growing);
}

TEST(HeartbeatLearner, SettlesWithinThreeLossesAt70To95PercentOfTheTimeoutForManyTimeouts) {
  // Seconds (the NAT testbed's scale) up to Azure's 29.45 minutes.
  const std::uint32_t timeouts_s[] = {3, 4, 5, 6, 8, 10, 13, 20, 29, 31, 40, 47, 60, 90, 150, 240, 350, 600, 1000, 1767};
  for (const std::uint32_t t : timeouts_s) {
    const bool small = t < 30;
    HeartbeatLearner learner(small ? policy(1000, 1500, 60000) : policy(10000, 30000, 1800000));
    const Path path{t * 1000};
    const Outcome o = learn(learner, path);
    check_settled_within_target(learner, path, o);
    // Settled means settled: the interval holds over many idle periods.
    for (int i = 0; i < 20; ++i) CHECK_TRUE(idle_period(learner, path));
  }
}

TEST(HeartbeatLearner, SettlesWithinTargetWhenTheStartItselfIsTooLong) {
  // Halving from a start that killed the link, never settling on a guess:
  // within 3 losses while the start is at most about 2.5 times the timeout.
  const struct {
    std::uint32_t start_ms, timeout_ms;
  } cases[] = {{30000, 20000}, {30000, 13000}, {10000, 4000}, {10000, 7000}, {10000, 9000}};
  for (const auto& c : cases) {
    HeartbeatLearner learner(policy(2000, c.start_ms, 1800000));
    const Path path{c.timeout_ms};
    const Outcome o = learn(learner, path);
    check_settled_within_target(learner, path, o);
  }
}

TEST(HeartbeatLearner, NeverLeavesTheIntegratorsBounds) {
  // A path shorter than the floor: the learner stays at the floor.
  HeartbeatLearner low(policy(10000, 20000, 60000));
  const Path tight{4000};
  for (int i = 0; i < 50; ++i) {
    CHECK_TRUE(low.interval(true) >= 10000);
    CHECK_TRUE(low.interval(false) >= 10000);
    (void)idle_period(low, tight);
  }
  UNSIGNED_LONGS_EQUAL(10000, low.confirmed());
  // A path longer than the ceiling: the learner settles at the ceiling.
  HeartbeatLearner high(policy(10000, 20000, 60000));
  const Path loose{3600000};
  const Outcome o = learn(high, loose);
  CHECK_TRUE(o.settled);
  UNSIGNED_LONGS_EQUAL(0, o.losses);
  UNSIGNED_LONGS_EQUAL(60000, high.confirmed());
  for (int i = 0; i < 100; ++i) {
    CHECK_TRUE(high.interval(true) <= 60000);
    (void)idle_period(high, loose);
  }
}

TEST(HeartbeatLearner, ACeilingFromTheServerNarrowsTheIntervals) {
  HeartbeatLearner learner(policy(1000, 2000, 60000));
  learner.set_ceiling(5000);
  const Outcome o = learn(learner, Path{3600000});
  CHECK_TRUE(o.settled);
  UNSIGNED_LONGS_EQUAL(5000, learner.confirmed());
  // Never below the floor, whatever the server says.
  learner.set_ceiling(500);
  UNSIGNED_LONGS_EQUAL(1000, learner.interval(true));
}

TEST(HeartbeatLearner, TrialsOnlyWhenAllowed) {
  HeartbeatLearner learner(policy(1000, 2000, 60000));
  const Path path{20000};
  CHECK_TRUE(idle_period(learner, path));
  CHECK_TRUE(learner.trial_pending());
  UNSIGNED_LONGS_EQUAL(2000, learner.interval(false));
  UNSIGNED_LONGS_EQUAL(3000, learner.interval(true));
  // Idle periods with messages in flight teach nothing and risk nothing.
  for (int i = 0; i < 10; ++i) CHECK_TRUE(idle_period(learner, path, false));
  UNSIGNED_LONGS_EQUAL(2000, learner.confirmed());
  CHECK_TRUE(learner.phase() == HeartbeatPhase::growing);
}

TEST(HeartbeatLearner, AFailedTrialIsReportedAsSuchAndLowersNothingConfirmed) {
  HeartbeatLearner learner(policy(1000, 2000, 60000));
  const Path path{2500};
  CHECK_TRUE(idle_period(learner, path));  // 2000 survives
  learner.on_ping_sent(learner.interval(true));  // 3000: a trial
  CHECK_TRUE(learner.on_idle_failed());
  UNSIGNED_LONGS_EQUAL(1, learner.losses());
  UNSIGNED_LONGS_EQUAL(2000, learner.confirmed());
  // The trial that failed is never handed out again.
  CHECK_TRUE(learner.interval(true) < 3000);
}

TEST(HeartbeatLearner, AnEndWithoutVerdictTeachesNothing) {
  HeartbeatLearner learner(policy(1000, 2000, 60000));
  learner.on_ping_sent(2000);
  learner.on_connection_ended();
  CHECK_FALSE(learner.on_idle_failed());
  learner.on_idle_survived();
  UNSIGNED_LONGS_EQUAL(0, learner.losses());
  UNSIGNED_LONGS_EQUAL(2000, learner.interval(true));  // still the start
}

TEST(HeartbeatLearner, FollowsAPathWhoseTimeoutShortens) {
  HeartbeatLearner learner(policy(1000, 1500, 60000));
  Path path{6000};
  check_settled_within_target(learner, path, learn(learner, path));
  path.timeout_ms = 3000;  // the operator changed the router
  learner.on_ping_sent(learner.interval(true));
  CHECK_FALSE(learner.on_idle_failed());  // the confirmed interval failed: not a trial
  UNSIGNED_LONGS_EQUAL(1, learner.losses());
  Outcome o = learn(learner, path);
  o.losses += 1;  // the one above
  check_settled_within_target(learner, path, o);
}

TEST(HeartbeatLearner, ReprobesNowAndThenAndFollowsAPathWhoseTimeoutGrows) {
  HeartbeatLearnerPolicy p = policy(1000, 1500, 60000);
  p.reprobe_after = 8;
  HeartbeatLearner learner(p);
  Path path{4000};
  check_settled_within_target(learner, path, learn(learner, path));
  // The path stays the same: one failed re-probe every 8 idle periods, no more.
  std::uint32_t losses = 0;
  for (int i = 0; i < 36; ++i) {
    if (!idle_period(learner, path)) ++losses;
  }
  UNSIGNED_LONGS_EQUAL(4, losses);
  CHECK_TRUE(learner.phase() == HeartbeatPhase::settled);
  // The path grows: the next re-probe survives and the search goes on upwards.
  path.timeout_ms = 12000;
  for (int i = 0; i < 9 && learner.phase() == HeartbeatPhase::settled; ++i) CHECK_TRUE(idle_period(learner, path));
  CHECK_TRUE(learner.phase() != HeartbeatPhase::settled);
  check_settled_within_target(learner, path, learn(learner, path));
}

TEST(HeartbeatLearner, ReprobingOffMeansNoLossOnceSettled) {
  HeartbeatLearnerPolicy p = policy(1000, 1500, 60000);
  p.reprobe_after = 0;
  HeartbeatLearner learner(p);
  const Path path{5000};
  (void)learn(learner, path);
  for (int i = 0; i < 200; ++i) CHECK_TRUE(idle_period(learner, path));
}

TEST(HeartbeatLearner, ANetworkChangeStartsANewSearch) {
  HeartbeatLearner learner(policy(1000, 1500, 60000));
  check_settled_within_target(learner, Path{8000}, learn(learner, Path{8000}));
  learner.on_network_changed();
  CHECK_TRUE(learner.phase() == HeartbeatPhase::growing);
  UNSIGNED_LONGS_EQUAL(0, learner.losses());
  UNSIGNED_LONGS_EQUAL(1500, learner.interval(true));
  const Path other{30000};
  check_settled_within_target(learner, other, learn(learner, other));
}

TEST(HeartbeatLearner, ResumesFromASavedMemoryWithoutLosingTheLinkAgain) {
  HeartbeatLearner first(policy(1000, 1500, 60000));
  const Path path{9000};
  (void)learn(first, path);
  const HeartbeatMemory saved = first.memory();
  CHECK_TRUE(saved.settled);

  HeartbeatLearner second(policy(1000, 1500, 60000));  // after a restart
  second.on_network_changed(&saved);
  CHECK_TRUE(second.phase() == HeartbeatPhase::settled);
  UNSIGNED_LONGS_EQUAL(first.confirmed(), second.confirmed());
  for (int i = 0; i < 20; ++i) CHECK_TRUE(idle_period(second, path));

  // A memory from looser bounds is clamped into these.
  HeartbeatLearner narrow(policy(1000, 1500, 4000));
  narrow.restore(saved);
  UNSIGNED_LONGS_EQUAL(4000, narrow.confirmed());
  // A half-finished search resumes where it was.
  HeartbeatMemory partial;
  partial.survived_ms = 5000;
  partial.failed_ms = 9000;
  HeartbeatLearner third(policy(1000, 1500, 60000));
  third.restore(partial);
  CHECK_TRUE(third.phase() == HeartbeatPhase::bisecting);
  UNSIGNED_LONGS_EQUAL(5000, third.confirmed());
  UNSIGNED_LONGS_EQUAL(7000, third.interval(true));
}

// ---------------------------------------------------------------------------
// HeartbeatBook: the per-network memories and their text form.

#include "uplink/core/heartbeat_book.hpp"

namespace {
HeartbeatMemory memory_of(std::uint32_t survived, std::uint32_t failed, bool settled) {
  HeartbeatMemory m;
  m.survived_ms = survived;
  m.failed_ms = failed;
  m.settled = settled;
  return m;
}
}  // namespace

TEST_GROUP(HeartbeatBook) {
  HeartbeatBook book;
  char text[HeartbeatBook::kMaxTextSize] = {};
};

TEST(HeartbeatBook, KeepsOneMemoryPerNetworkAndIgnoresEmptyKeys) {
  book.put("wlan0@192.168.1.1", memory_of(40000, 45000, true));
  book.put("wwan0", memory_of(120000, 0, false));
  book.put("", memory_of(1, 2, true));
  book.put("wlan0@192.168.1.1", memory_of(41000, 45000, true));
  UNSIGNED_LONGS_EQUAL(2, book.size());
  UNSIGNED_LONGS_EQUAL(41000, book.find("wlan0@192.168.1.1")->survived_ms);
  CHECK_TRUE(book.find("eth0@10.0.0.1") == nullptr);
  CHECK_TRUE(book.find("") == nullptr);
}

TEST(HeartbeatBook, ReplacesTheLeastRecentlyUsedWhenFull) {
  for (std::size_t i = 0; i < HeartbeatBook::kNetworks; ++i) {
    book.put(("net" + std::to_string(i)).c_str(), memory_of(1000 + static_cast<std::uint32_t>(i), 0, false));
  }
  book.put("net0", memory_of(5000, 0, true));  // used again: now the most recent
  book.put("newcomer", memory_of(7000, 0, true));
  UNSIGNED_LONGS_EQUAL(HeartbeatBook::kNetworks, book.size());
  CHECK_TRUE(book.find("net1") == nullptr);
  CHECK_TRUE(book.find("net0") != nullptr);
  CHECK_TRUE(book.find("newcomer") != nullptr);
}

TEST(HeartbeatBook, TextRoundTripsAndKeepsTheOrderOfUse) {
  book.put("eth0@10.77.1.1", memory_of(2838, 3172, true));
  book.put("wwan0", memory_of(120000, 0, false));
  const std::size_t n = book.write(text, sizeof text);
  STRCMP_EQUAL("uplink-heartbeats 1\neth0@10.77.1.1 2838 3172 1\nwwan0 120000 0 0\n", text);
  HeartbeatBook again;
  CHECK_TRUE(again.read(text, n));
  UNSIGNED_LONGS_EQUAL(2, again.size());
  UNSIGNED_LONGS_EQUAL(3172, again.find("eth0@10.77.1.1")->failed_ms);
  CHECK_TRUE(again.find("eth0@10.77.1.1")->settled);
  CHECK_FALSE(again.find("wwan0")->settled);
  UNSIGNED_LONGS_EQUAL(0, book.write(text, 10));  // too small: nothing
}

TEST(HeartbeatBook, RefusesAnotherFormatAndSkipsDamagedLines) {
  const char other[] = "uplink-heartbeats 2\nnet 1 2 1\n";
  CHECK_FALSE(book.read(other, sizeof other - 1));
  UNSIGNED_LONGS_EQUAL(0, book.size());
  const char damaged[] = "uplink-heartbeats 1\r\nok 10 20 1\r\nbad 10 x 1\nbad2 99999999999 0 1\nbad3 1 2 3\n"
                         "bad4 1 2\n\nlast 5 6 0";
  CHECK_TRUE(book.read(damaged, sizeof damaged - 1));
  UNSIGNED_LONGS_EQUAL(2, book.size());
  UNSIGNED_LONGS_EQUAL(20, book.find("ok")->failed_ms);
  UNSIGNED_LONGS_EQUAL(5, book.find("last")->survived_ms);
}

TEST(HeartbeatBook, CutsLongKeysAndReplacesBytesAKeyMayNotHold) {
  const std::string long_key(100, 'k');
  book.put(long_key.c_str(), memory_of(1, 2, false));
  CHECK_TRUE(book.find(long_key.c_str()) != nullptr);  // found by the same cut
  book.put("with space", memory_of(3, 4, false));
  CHECK_TRUE(book.find("with-space") != nullptr);
  const std::size_t n = book.write(text, sizeof text);
  HeartbeatBook again;
  CHECK_TRUE(again.read(text, n));
  UNSIGNED_LONGS_EQUAL(2, again.size());
}
