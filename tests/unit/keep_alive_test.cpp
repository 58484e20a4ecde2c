// SPDX-License-Identifier: Apache-2.0
// Keep-alive policy in virtual time (plain integers as milliseconds): when a
// PING is due, the write / read / idle deadlines to the millisecond, the
// severity order of verdicts, the detection bound of a silent server over
// many traffic patterns, and next_deadline() as the earliest pending time.
#include <cstdint>

#include "uplink/core/keep_alive.hpp"

#include <CppUTest/TestHarness.h>

#include "support/xorshift32.hpp"

using namespace uplink;

namespace {

KeepAliveTimings timings(std::uint32_t heartbeat, std::uint32_t read, std::uint32_t write, std::uint32_t idle = 0) {
  KeepAliveTimings t;
  t.heartbeat_ms = heartbeat;
  t.read_timeout_ms = read;
  t.write_timeout_ms = write;
  t.idle_timeout_ms = idle;
  return t;
}

const char* verdict_name(KeepAliveVerdict v) {
  switch (v) {
    case KeepAliveVerdict::none: return "none";
    case KeepAliveVerdict::send_ping: return "send_ping";
    case KeepAliveVerdict::write_timeout: return "write_timeout";
    case KeepAliveVerdict::server_silent: return "server_silent";
    case KeepAliveVerdict::probe_failed: return "probe_failed";
    case KeepAliveVerdict::idle_timeout: return "idle_timeout";
  }
  return "?";
}

#define VERDICT_EQUAL(expected, actual) STRCMP_EQUAL(verdict_name(expected), verdict_name(actual))

Millis earliest(Millis a, Millis b) { return a < b ? a : b; }

// ---------------------------------------------------------------------------
// Detection-bound simulation.
//
// Frames arrive every `frame_period` ms from the start until `last_frame`
// (and exactly at `last_frame`), then stop for good. The device keeps
// writing: an application write starts every `write_period` ms (0 = none)
// and takes `write_duration` ms; a PING verdict is obeyed with a 2 ms write.
// While frames still arrive, an outstanding PING is answered by the frame
// of that moment (a PONG). The simulation runs until server_silent and
// returns the time it fired.
struct Traffic {
  Millis last_frame;
  Millis frame_period;
  Millis write_period;
  Millis write_duration;
  bool business_frames;
};

class Simulation {
 public:
  Simulation(const KeepAliveTimings& t, const Traffic& traffic) : timings_(t), traffic_(traffic) {}

  // Advances 1 ms at a time when `step_by_one`, otherwise jumps from one
  // event (traffic or next_deadline()) to the next.
  Millis run_until_silent(bool step_by_one) {
    KeepAlive ka;
    ka.start(timings_, 0);
    Millis now = 0;
    Millis deadline = kNever;  // next_deadline() after the last visit
    const Millis bound = traffic_.last_frame + timings_.read_timeout_ms;
    for (;;) {
      CHECK_TEXT(now <= bound, "simulation ran past the detection bound");
      const bool event = apply_traffic(ka, now);
      KeepAliveVerdict v = ka.poll(now, !writing_);
      if (!event && now < deadline) {
        // Nothing happened since the deadline was computed: nothing may be due.
        VERDICT_EQUAL(KeepAliveVerdict::none, v);
      }
      if (!event && now == deadline) {
        // The state did not change, so the deadline cannot have moved: the
        // clock reaching it must produce a verdict.
        CHECK_TEXT(v != KeepAliveVerdict::none, "next_deadline() reached without a verdict");
      }
      if (v == KeepAliveVerdict::server_silent) {
        UNSIGNED_LONGS_EQUAL(traffic_.last_frame, ka.last_rx());
        return now;
      }
      if (v == KeepAliveVerdict::send_ping) {
        ka.on_ping_sent(now);
        CHECK_FALSE(writing_);
        begin_write(ka, now, 2);
        v = ka.poll(now, !writing_);
      }
      VERDICT_EQUAL(KeepAliveVerdict::none, v);
      deadline = ka.next_deadline(!writing_);
      CHECK_TEXT(deadline > now, "next_deadline() in the past while nothing is due");
      CHECK_TEXT(deadline <= bound, "next_deadline() later than the detection bound");
      if (step_by_one) {
        now += 1;
      } else {
        const Millis next = earliest(deadline, next_traffic_after(now));
        CHECK(next > now);
        now = next;
      }
    }
  }

 private:
  void begin_write(KeepAlive& ka, Millis now, Millis duration) {
    writing_ = true;
    write_end_ = now + duration;
    ka.on_write_started(now);
  }

  bool frame_at(Millis t) const {
    return t <= traffic_.last_frame && (t % traffic_.frame_period == 0 || t == traffic_.last_frame);
  }

  bool write_slot_at(Millis t) const { return traffic_.write_period != 0 && t % traffic_.write_period == 0; }

  bool apply_traffic(KeepAlive& ka, Millis now) {
    bool event = false;
    if (writing_ && now == write_end_) {
      ka.on_write_completed(now);
      writing_ = false;
      event = true;
    }
    if (frame_at(now)) {
      if (ka.ping_outstanding()) {
        CHECK(ka.on_pong(now) >= 0);
      } else {
        ka.on_frame_received(now, traffic_.business_frames);
      }
      event = true;
    }
    if (!writing_ && write_slot_at(now)) {
      ka.on_business_sent(now);
      begin_write(ka, now, traffic_.write_duration);
      event = true;
    }
    return event;
  }

  Millis next_traffic_after(Millis now) const {
    Millis next = kNever;
    if (writing_ && write_end_ > now) next = earliest(next, write_end_);
    if (now < traffic_.last_frame) {
      const Millis p = traffic_.frame_period;
      next = earliest(next, earliest((now / p + 1) * p, traffic_.last_frame));
    }
    if (traffic_.write_period != 0) {
      const Millis p = traffic_.write_period;
      next = earliest(next, (now / p + 1) * p);
    }
    return next;
  }

  KeepAliveTimings timings_;
  Traffic traffic_;
  bool writing_ = false;
  Millis write_end_ = 0;
};

// Many traffic patterns: different last-receive times, frame rates and
// write patterns (none, sparse, dense, nearly continuous, slow writes).
template <typename Check>
void for_each_traffic_pattern(Check check) {
  const Millis last_frames[] = {0, 1, 37, 199, 200, 201, 250, 333, 499, 500, 777, 1234};
  const Millis frame_periods[] = {1, 13, 150, 450};
  const Millis write_patterns[][2] = {{0, 0}, {50, 10}, {7, 3}, {97, 90}, {300, 1}, {2, 1}};
  for (const Millis last : last_frames) {
    for (const Millis fp : frame_periods) {
      for (const auto& wp : write_patterns) {
        for (const bool business : {false, true}) {
          check(Traffic{last, fp, wp[0], wp[1], business});
        }
      }
    }
  }
}

}  // namespace

TEST_GROUP(KeepAlive) {
  KeepAlive ka;
};

// --- Start --------------------------------------------------------------

TEST(KeepAlive, DefaultTimingsArePing30sRead60sWrite10sIdleOff) {
  const KeepAliveTimings t;
  UNSIGNED_LONGS_EQUAL(30000u, t.heartbeat_ms);
  UNSIGNED_LONGS_EQUAL(60000u, t.read_timeout_ms);
  UNSIGNED_LONGS_EQUAL(10000u, t.write_timeout_ms);
  UNSIGNED_LONGS_EQUAL(0u, t.idle_timeout_ms);
}

TEST(KeepAlive, NothingIsDueRightAfterStart) {
  ka.start(KeepAliveTimings{}, 5000);
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(5000, true));
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(5000, false));
  CHECK_FALSE(ka.ping_outstanding());
  UNSIGNED_LONGS_EQUAL(5000u, ka.last_rx());
  UNSIGNED_LONGS_EQUAL(30000u, ka.timings().heartbeat_ms);
  UNSIGNED_LONGS_EQUAL(60000u, ka.timings().read_timeout_ms);
}

TEST(KeepAlive, FirstDeadlineAfterStartIsTheHeartbeat) {
  ka.start(KeepAliveTimings{}, 5000);
  UNSIGNED_LONGS_EQUAL(35000u, ka.next_deadline(true));
  UNSIGNED_LONGS_EQUAL(65000u, ka.next_deadline(false));
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(34999, true));
  VERDICT_EQUAL(KeepAliveVerdict::send_ping, ka.poll(35000, true));
}

TEST(KeepAlive, StartingAgainForgetsTheOutstandingPingAndThePendingWrite) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_ping_sent(1000);
  ka.on_write_started(1000);
  ka.start(timings(1000, 3000, 500), 10000);
  CHECK_FALSE(ka.ping_outstanding());
  UNSIGNED_LONGS_EQUAL(10000u, ka.last_rx());
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(10999, true));
  VERDICT_EQUAL(KeepAliveVerdict::send_ping, ka.poll(11000, true));
  LONGS_EQUAL(-1, ka.on_pong(11000));
}

// --- Heartbeat ------------------------------------------------------------

TEST(KeepAlive, PingIsDueAfterTheHeartbeatOfWriteIdleWhileFramesKeepArriving) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_write_started(300);
  ka.on_write_completed(400);  // last write: ping due at 400 + 1000
  for (Millis t = 400; t < 1400; ++t) {
    if (t % 100 == 0) ka.on_frame_received(t, true);  // the read side stays busy
    VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(t, true));
  }
  UNSIGNED_LONGS_EQUAL(1400u, ka.next_deadline(true));
  ka.on_frame_received(1400, false);
  VERDICT_EQUAL(KeepAliveVerdict::send_ping, ka.poll(1400, true));
}

TEST(KeepAlive, PingIsDueAfterTheHeartbeatOfReadIdleWhileWritesKeepCompleting) {
  ka.start(timings(1000, 3000, 500), 0);
  bool writing = false;
  for (Millis t = 0; t < 1400; ++t) {
    if (t == 400) ka.on_frame_received(t, true);  // last frame: ping due at 400 + 1000
    if (t % 100 == 50) {                          // the write side stays busy
      ka.on_write_started(t);
      writing = true;
    }
    if (t % 100 == 60) {
      ka.on_write_completed(t);
      writing = false;
    }
    VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(t, !writing));
  }
  UNSIGNED_LONGS_EQUAL(1400u, ka.next_deadline(true));
  VERDICT_EQUAL(KeepAliveVerdict::send_ping, ka.poll(1400, true));
}

TEST(KeepAlive, NoSecondPingIsSuggestedWhileOneIsOutstanding) {
  ka.start(timings(1000, 3000, 500), 0);
  VERDICT_EQUAL(KeepAliveVerdict::send_ping, ka.poll(1000, true));
  ka.on_ping_sent(1000);
  ka.on_write_started(1000);
  ka.on_write_completed(1001);
  CHECK(ka.ping_outstanding());
  for (Millis t = 1001; t < 3000; ++t) VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(t, true));
  UNSIGNED_LONGS_EQUAL(3000u, ka.next_deadline(true));  // only the read deadline is left
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(3000, true));
}

TEST(KeepAlive, NonPongFramesDoNotClearTheOutstandingPing) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_ping_sent(1000);
  ka.on_frame_received(1100, true);
  ka.on_frame_received(1200, false);
  CHECK(ka.ping_outstanding());
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(2500, true));
}

TEST(KeepAlive, PongReturnsTheRoundTripTimeAndClearsTheOutstandingPing) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_ping_sent(1000);
  ka.on_write_started(1000);
  ka.on_write_completed(1000);
  LONGS_EQUAL(250, ka.on_pong(1250));
  CHECK_FALSE(ka.ping_outstanding());
  UNSIGNED_LONGS_EQUAL(1250u, ka.last_rx());
  // Heartbeats resume: next PING one interval after the last write.
  UNSIGNED_LONGS_EQUAL(2000u, ka.next_deadline(true));
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(1999, true));
  VERDICT_EQUAL(KeepAliveVerdict::send_ping, ka.poll(2000, true));
}

TEST(KeepAlive, ASecondPongForTheSamePingIsUnsolicited) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_ping_sent(1000);
  LONGS_EQUAL(5, ka.on_pong(1005));
  LONGS_EQUAL(-1, ka.on_pong(1010));
  UNSIGNED_LONGS_EQUAL(1010u, ka.last_rx());
}

TEST(KeepAlive, RoundTripTimeIsMeasuredFromTheLatestPing) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_ping_sent(1000);
  LONGS_EQUAL(0, ka.on_pong(1000));
  ka.on_ping_sent(2000);
  LONGS_EQUAL(123, ka.on_pong(2123));
}

TEST(KeepAlive, UnsolicitedPongReturnsMinusOneButRefreshesLastRx) {
  ka.start(timings(1000, 3000, 500), 0);
  LONGS_EQUAL(-1, ka.on_pong(700));
  CHECK_FALSE(ka.ping_outstanding());
  UNSIGNED_LONGS_EQUAL(700u, ka.last_rx());
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(3000, false));  // old read deadline no longer applies
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(3699, false));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(3700, false));
  UNSIGNED_LONGS_EQUAL(3700u, ka.next_deadline(false));
}

TEST(KeepAlive, PingIsNotSuggestedWhileTxIsBusyAndTheDeadlineExcludesIt) {
  ka.start(timings(1000, 3000, 500), 0);
  for (Millis t = 1000; t < 3000; t += 7) VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(t, false));
  UNSIGNED_LONGS_EQUAL(3000u, ka.next_deadline(false));
  VERDICT_EQUAL(KeepAliveVerdict::send_ping, ka.poll(1000, true));
  UNSIGNED_LONGS_EQUAL(1000u, ka.next_deadline(true));
}

// --- Write deadline ---------------------------------------------------------

TEST(KeepAlive, WriteTimeoutFiresAtExactlyWriteStartPlusTimeoutAndNotOneMsBefore) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_write_started(200);
  UNSIGNED_LONGS_EQUAL(700u, ka.next_deadline(false));
  UNSIGNED_LONGS_EQUAL(700u, ka.next_deadline(true));
  for (Millis t = 200; t < 700; ++t) VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(t, false));
  VERDICT_EQUAL(KeepAliveVerdict::write_timeout, ka.poll(700, false));
  VERDICT_EQUAL(KeepAliveVerdict::write_timeout, ka.poll(701, false));
}

TEST(KeepAlive, WriteTimeoutIsNotPostponedByReceivedFrames) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_write_started(200);
  ka.on_frame_received(650, true);
  LONGS_EQUAL(-1, ka.on_pong(690));
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(699, false));
  VERDICT_EQUAL(KeepAliveVerdict::write_timeout, ka.poll(700, false));
}

TEST(KeepAlive, ACompletedWriteCancelsTheWriteDeadline) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_write_started(200);
  ka.on_write_completed(699);
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(700, false));
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(2999, false));
  UNSIGNED_LONGS_EQUAL(3000u, ka.next_deadline(false));  // read deadline only
  UNSIGNED_LONGS_EQUAL(1000u, ka.next_deadline(true));   // heartbeat: read side idle since 0
}

TEST(KeepAlive, ANewWriteGetsItsOwnFullWriteTimeout) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_write_started(200);
  ka.on_write_completed(300);
  ka.on_write_started(2000);
  UNSIGNED_LONGS_EQUAL(2500u, ka.next_deadline(false));
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(2499, false));
  VERDICT_EQUAL(KeepAliveVerdict::write_timeout, ka.poll(2500, false));
}

// --- Read deadline ----------------------------------------------------------

TEST(KeepAlive, ServerSilentFiresAtExactlyStartPlusReadTimeoutWhenNothingArrives) {
  ka.start(timings(1000, 3000, 500), 100);
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(3099, false));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(3100, false));
}

TEST(KeepAlive, ServerSilentFiresAtExactlyLastRxPlusReadTimeoutAndNotOneMsBefore) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_frame_received(500, false);
  UNSIGNED_LONGS_EQUAL(3500u, ka.next_deadline(false));
  for (Millis t = 500; t < 3500; ++t) VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(t, false));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(3500, false));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(3500, true));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(99999, false));
}

TEST(KeepAlive, ServerSilentFiresEvenWithAPingOutstanding) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_ping_sent(1000);
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(2999, true));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(3000, true));
}

TEST(KeepAlive, AnyReceivedFrameExtendsTheReadDeadline) {
  ka.start(timings(1000, 3000, 500), 0);
  ka.on_frame_received(1000, false);  // heartbeat-class frame
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(3999, false));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(4000, false));
  ka.on_frame_received(2000, true);  // business frame
  UNSIGNED_LONGS_EQUAL(2000u, ka.last_rx());
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(4999, false));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(5000, false));
  ka.on_ping_sent(2500);
  LONGS_EQUAL(500, ka.on_pong(3000));  // PONG
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(5999, false));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(6000, false));
  UNSIGNED_LONGS_EQUAL(6000u, ka.next_deadline(false));
}

TEST(KeepAlive, WritesDoNotExtendTheReadDeadline) {
  ka.start(timings(1000, 3000, 500), 0);
  for (Millis t = 100; t < 3000; t += 100) {
    ka.on_write_started(t);
    ka.on_business_sent(t);
    ka.on_write_completed(t + 10);
  }
  ka.on_ping_sent(2990);
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(2999, false));
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(3000, false));
}

// --- Detection bound --------------------------------------------------------

TEST(KeepAlive, SilentServerIsDetectedExactlyAtTheBoundWhenSteppingOneMs) {
  const KeepAliveTimings t = timings(200, 500, 100);
  int patterns = 0;
  for_each_traffic_pattern([&](const Traffic& traffic) {
    Simulation sim(t, traffic);
    UNSIGNED_LONGS_EQUAL(traffic.last_frame + t.read_timeout_ms, sim.run_until_silent(true));
    ++patterns;
  });
  CHECK(patterns > 500);
}

TEST(KeepAlive, SilentServerIsDetectedExactlyAtTheBoundWhenJumpingToNextDeadline) {
  const KeepAliveTimings t = timings(200, 500, 100);
  for_each_traffic_pattern([&](const Traffic& traffic) {
    Simulation sim(t, traffic);
    UNSIGNED_LONGS_EQUAL(traffic.last_frame + t.read_timeout_ms, sim.run_until_silent(false));
  });
}

TEST(KeepAlive, SilentServerIsDetectedAtTheBoundWithDefaultTimings) {
  const KeepAliveTimings t;
  const Traffic patterns[] = {
      {0, 1000, 0, 0, false},          {45000, 15000, 20000, 50, true}, {59999, 7000, 9000, 9999, false},
      {123456, 30000, 1000, 1, true},  {30000, 30000, 0, 0, true},
  };
  for (const Traffic& traffic : patterns) {
    Simulation jump(t, traffic);
    UNSIGNED_LONGS_EQUAL(traffic.last_frame + 60000, jump.run_until_silent(false));
  }
}

// --- Severity order -----------------------------------------------------------

TEST(KeepAlive, WriteTimeoutOutranksEveryOtherVerdict) {
  ka.start(timings(1000, 2000, 500, 1500), 0);
  ka.on_write_started(10);  // never completes; nothing received; no business
  VERDICT_EQUAL(KeepAliveVerdict::write_timeout, ka.poll(100000, false));
  VERDICT_EQUAL(KeepAliveVerdict::write_timeout, ka.poll(100000, true));
}

TEST(KeepAlive, ServerSilentOutranksIdleTimeoutAndPing) {
  ka.start(timings(1000, 2000, 500, 1500), 0);
  // idle (1500) and heartbeat (1000) are overdue as well
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(100000, true));
}

TEST(KeepAlive, IdleTimeoutOutranksPing) {
  ka.start(timings(1000, 2000, 500, 1500), 0);
  ka.on_frame_received(100000, false);  // read side alive, heartbeat only
  // write side idle since 0: a PING is also due
  VERDICT_EQUAL(KeepAliveVerdict::idle_timeout, ka.poll(100000, true));
  ka.on_business_sent(100000);
  VERDICT_EQUAL(KeepAliveVerdict::send_ping, ka.poll(100000, true));
}

TEST(KeepAlive, SeverityOrderHoldsWhenAllDeadlinesFallOnTheSameMillisecond) {
  // write 1500 + 500, read 0 + 2000, idle 0 + 2000, heartbeat 1000 + 1000.
  const KeepAliveTimings t = timings(1000, 2000, 500, 2000);
  ka.start(t, 0);
  ka.on_write_started(1000);
  ka.on_write_completed(1000);
  ka.on_write_started(1500);
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(1999, false));
  UNSIGNED_LONGS_EQUAL(2000u, ka.next_deadline(false));
  VERDICT_EQUAL(KeepAliveVerdict::write_timeout, ka.poll(2000, true));
  ka.on_write_completed(1999);
  VERDICT_EQUAL(KeepAliveVerdict::server_silent, ka.poll(2000, true));

  KeepAlive other;
  other.start(t, 0);
  other.on_write_started(1000);
  other.on_write_completed(1000);
  other.on_frame_received(1999, false);  // read side alive, heartbeat due at 1000 + 1000
  UNSIGNED_LONGS_EQUAL(2000u, other.next_deadline(true));
  VERDICT_EQUAL(KeepAliveVerdict::idle_timeout, other.poll(2000, true));
}

// --- Idle timeout -------------------------------------------------------------

TEST(KeepAlive, IdleTimeoutIsOffByDefault) {
  ka.start(KeepAliveTimings{}, 0);
  for (Millis t = 0; t <= 3600000; t += 1000) {
    ka.on_frame_received(t, false);  // heartbeats only, for an hour
    VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(t, false));
    UNSIGNED_LONGS_EQUAL(t + 60000, ka.next_deadline(false));
  }
}

TEST(KeepAlive, IdleTimeoutFiresAtExactlyLastBusinessPlusIdleTimeout) {
  ka.start(timings(1000, 3000, 500, 5000), 0);
  for (Millis t = 0; t < 5000; ++t) {
    if (t % 500 == 0) ka.on_frame_received(t, false);
    VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(t, false));
  }
  UNSIGNED_LONGS_EQUAL(5000u, ka.next_deadline(false));
  VERDICT_EQUAL(KeepAliveVerdict::idle_timeout, ka.poll(5000, false));
}

TEST(KeepAlive, ReceivedBusinessTrafficExtendsTheIdleTimeout) {
  ka.start(timings(1000, 3000, 500, 5000), 0);
  ka.on_frame_received(2000, true);
  ka.on_frame_received(4500, false);
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(5000, false));
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(6999, false));
  UNSIGNED_LONGS_EQUAL(7000u, ka.next_deadline(false));
  VERDICT_EQUAL(KeepAliveVerdict::idle_timeout, ka.poll(7000, false));
}

TEST(KeepAlive, SentBusinessTrafficExtendsTheIdleTimeout) {
  ka.start(timings(1000, 3000, 500, 5000), 0);
  ka.on_frame_received(2500, false);
  ka.on_business_sent(3000);
  ka.on_frame_received(5500, false);  // read deadline 8500, after the idle one
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(5500, false));
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(7999, false));
  UNSIGNED_LONGS_EQUAL(8000u, ka.next_deadline(false));
  VERDICT_EQUAL(KeepAliveVerdict::idle_timeout, ka.poll(8000, false));
}

TEST(KeepAlive, HeartbeatsDoNotExtendTheIdleTimeout) {
  ka.start(timings(1000, 3000, 500, 5000), 0);
  for (Millis t = 1000; t < 5000; t += 1000) {
    ka.on_ping_sent(t);
    ka.on_write_started(t);
    ka.on_write_completed(t + 1);
    CHECK(ka.on_pong(t + 20) >= 0);
    ka.on_frame_received(t + 500, false);
  }
  LONGS_EQUAL(-1, ka.on_pong(4990));
  VERDICT_EQUAL(KeepAliveVerdict::none, ka.poll(4999, false));
  UNSIGNED_LONGS_EQUAL(5000u, ka.next_deadline(false));
  VERDICT_EQUAL(KeepAliveVerdict::idle_timeout, ka.poll(5000, false));
}

// --- next_deadline() ------------------------------------------------------------

TEST(KeepAlive, NextDeadlineIsTheEarliestPendingTimeAfterAnySequenceOfEvents) {
  // Random events with small timings; after each, every millisecond up to
  // next_deadline() is checked: nothing due before it, a verdict at it.
  test::XorShift32 rng{0x9E3779B9u};
  const KeepAliveTimings variants[] = {timings(20, 50, 15, 0), timings(20, 50, 15, 35), timings(10, 11, 1, 0),
                                       timings(1, 2, 30, 3)};
  for (const KeepAliveTimings& t : variants) {
    KeepAlive k;
    Millis now = 1000;
    bool writing = false;
    k.start(t, now);
    for (int step = 0; step < 4000; ++step) {
      now += rng.below(12);
      switch (rng.below(7)) {
        case 0: k.on_frame_received(now, rng.below(2) == 0); break;
        case 1: static_cast<void>(k.on_pong(now)); break;
        case 2:
          if (!writing) k.on_write_started(now);
          writing = true;
          break;
        case 3:
          if (writing) k.on_write_completed(now);
          writing = false;
          break;
        case 4: k.on_business_sent(now); break;
        case 5: k.on_ping_sent(now); break;
        default: break;  // time passes
      }
      // tx_idle may be false without a write in progress (data queued).
      const bool tx_idle = !writing && rng.below(4) != 0;
      const KeepAliveVerdict v = k.poll(now, tx_idle);
      if (v == KeepAliveVerdict::send_ping) {
        k.on_ping_sent(now);
        continue;
      }
      if (v != KeepAliveVerdict::none) {
        k.start(t, now);  // the connection is closed and comes back
        writing = false;
        continue;
      }
      const Millis deadline = k.next_deadline(tx_idle);
      CHECK_TEXT(deadline > now, "next_deadline() not in the future while nothing is due");
      CHECK_TEXT(deadline - now <= 100, "next_deadline() implausibly far");
      for (Millis probe = now; probe < deadline; ++probe) {
        VERDICT_EQUAL(KeepAliveVerdict::none, k.poll(probe, tx_idle));
      }
      CHECK_TEXT(k.poll(deadline, tx_idle) != KeepAliveVerdict::none, "nothing due at next_deadline()");
    }
  }
}

TEST(KeepAlive, NextDeadlineIsTheEarliestOfWriteReadIdleAndHeartbeat) {
  ka.start(timings(1000, 3000, 500, 4000), 0);
  UNSIGNED_LONGS_EQUAL(1000u, ka.next_deadline(true));   // heartbeat
  UNSIGNED_LONGS_EQUAL(3000u, ka.next_deadline(false));  // read
  ka.on_write_started(100);
  UNSIGNED_LONGS_EQUAL(600u, ka.next_deadline(false));  // write
  ka.on_write_completed(200);
  ka.on_frame_received(2900, false);
  ka.on_ping_sent(2900);
  UNSIGNED_LONGS_EQUAL(4000u, ka.next_deadline(true));  // idle (ping outstanding)
  ka.on_business_sent(3000);
  UNSIGNED_LONGS_EQUAL(5900u, ka.next_deadline(true));  // read again
}
