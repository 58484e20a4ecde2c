// SPDX-License-Identifier: Apache-2.0
// The adaptive heartbeat in the link (Options::adaptive_heartbeat), in
// virtual time through a simulated NAT: a path that silently swallows
// everything of a connection once it was idle for the NAT timeout (the
// half-open link of the field), and a server that resumes the session on
// every reconnect, acknowledges DATA and answers PINGs. Checked: the link
// settles within 3 link losses at 70..95 % of the NAT timeout and keeps one
// connection afterwards; trials only while no message is queued or in
// flight; a failed trial costs one reconnect and no message; the server's
// clamp and the integrator's bounds hold; a network change re-learns; off
// by default.
#include <cstdint>
#include <string>
#include <vector>

#include "support/link_fakes.hpp"
#include "uplink/core/link.hpp"
#include "uplink/options.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::test;

namespace {
constexpr std::uint64_t kSession = 0xADA9;
}  // namespace

TEST_GROUP(AdaptiveHeartbeat) {
  FakeIo io;
  RecordingListener listener;
  ScriptedRandom random{0};  // backoff delays of 0: reconnects at once
  Link link{io, listener, random};
  FakeServer server{link};
  DeviceWire wire{link};
  Millis now = 1000000;
  Options options;

  // The path.
  Millis nat_timeout_ms = 40000;
  Millis last_traffic = 0;
  bool mapping_lost = false;
  std::size_t opened = 0;
  // The server.
  std::uint64_t next_seq = 1;
  std::vector<std::string> delivered;
  std::size_t duplicates = 0;
  bool acknowledge = true;
  std::uint32_t server_heartbeat_max_ms = 0xFFFFFFFFu;  // the server's clamp

  void setup() override {
    io.attach(link);
    CHECK(!options.add_endpoint("10.0.0.1", 7000));
    CHECK(!options.set_device_id("adaptive-1"));
    options.heartbeat_interval_ms = 600000;  // the ceiling
    options.read_timeout_ms = 1200000;
    options.probe_timeout_ms = 3000;
    options.backoff.base_ms = 100;
    options.adaptive_heartbeat.enabled = true;
    options.adaptive_heartbeat.min_ms = 5000;
    options.adaptive_heartbeat.start_ms = 10000;
    options.adaptive_heartbeat.reprobe_after = 0;
  }

  void start() {
    const OptionsCheck check = link.start(options, now);
    CHECK_TEXT(static_cast<bool>(check), check.field);
    connect_if_asked();
    pump();
  }

  void connect_if_asked() {
    if (io.opens.size() == opened) return;
    opened = io.opens.size();
    mapping_lost = false;  // a new connection, a new mapping
    last_traffic = now;
    link.on_transport_open(now, link.generation());
  }

  // Writes what the device has pending through the path; the server
  // answers at once (its answers are traffic at the same instant).
  void pump() {
    for (int guard = 0; guard < 16; ++guard) {
      const std::vector<WireFrame> written = wire.flush(now);
      if (written.empty()) return;
      if (!mapping_lost && now - last_traffic >= nat_timeout_ms) mapping_lost = true;
      if (mapping_lost) return;  // swallowed, no RST
      last_traffic = now;
      for (const WireFrame& f : written) {
        switch (f.type) {
          case FrameType::hello:
            server.welcome(now, kSession, f.heartbeat_ms < server_heartbeat_max_ms ? f.heartbeat_ms
                                                                                    : server_heartbeat_max_ms,
                           next_seq);
            break;
          case FrameType::data:
            if (f.seq == next_seq) {
              delivered.push_back(f.payload);
              ++next_seq;
            } else {
              ++duplicates;
            }
            if (acknowledge) server.ack(now, f.seq);
            break;
          case FrameType::ping:
            server.pong(now);
            break;
          default:
            break;
        }
      }
    }
  }

  void run_until(Millis end) {
    for (int guard = 0; guard < 1000000; ++guard) {
      const Millis next = link.next_wakeup();
      if (next > end) break;
      if (next > now) now = next;
      link.on_timer(now);
      connect_if_asked();
      pump();
    }
    now = end;
  }

  // Runs until the learner settles (within `limit` ms); returns the link losses meanwhile.
  std::size_t run_until_settled(Millis limit) {
    const std::size_t before = listener.disconnects.size();
    const Millis end = now + limit;
    while (now < end && link.heartbeat_learner().phase() != HeartbeatPhase::settled) run_until(now + 1000);
    CHECK_TEXT(link.heartbeat_learner().phase() == HeartbeatPhase::settled, "did not settle");
    return listener.disconnects.size() - before;
  }

  std::uint32_t interval() const { return link.keep_alive().timings().heartbeat_ms; }
};

TEST(AdaptiveHeartbeat, IsOffByDefaultAndTheNegotiatedHeartbeatIsUsed) {
  Options plain;
  CHECK_FALSE(plain.adaptive_heartbeat.enabled);
  options.adaptive_heartbeat.enabled = false;
  options.heartbeat_interval_ms = 30000;
  options.read_timeout_ms = 60000;
  start();
  CHECK(link.state() == ClientState::online);
  UNSIGNED_LONGS_EQUAL(30000, interval());
  run_until(now + 600000);
  UNSIGNED_LONGS_EQUAL(30000, interval());
}

TEST(AdaptiveHeartbeat, HelloRequestsTheCeilingAndTheFirstIdlePeriodUsesTheStart) {
  start();
  CHECK(link.state() == ClientState::online);
  UNSIGNED_LONGS_EQUAL(600000, wire.all.front().heartbeat_ms);  // HELLO
  UNSIGNED_LONGS_EQUAL(600000, listener.online.back().heartbeat_ms);
  UNSIGNED_LONGS_EQUAL(10000, interval());
}

TEST(AdaptiveHeartbeat, SettlesWithinThreeLossesAt70To95PercentOfTheNatTimeoutAndThenHolds) {
  const Millis timeouts[] = {20000, 40000, 90000, 300000};
  for (const Millis t : timeouts) {
    nat_timeout_ms = t;
    link.stop(now);
    listener.disconnects.clear();
    opened = io.opens.size();
    start();
    const std::size_t losses = run_until_settled(3600000);
    const std::uint32_t settled = link.heartbeat_learner().confirmed();
    const std::string what = "NAT " + std::to_string(t) + " ms: settled at " + std::to_string(settled) + " ms after " +
                             std::to_string(losses) + " losses";
    CHECK_TEXT(losses <= 3, what.c_str());
    CHECK_TEXT(settled * 100 >= 70 * t && settled * 100 <= 95 * t, what.c_str());
    for (const DisconnectInfo& d : listener.disconnects) {
      // Each loss was found one probe timeout after the idle period's PING.
      CHECK_TEXT(d.reason == Errc::probe_failed, error_name(d.reason).c_str());
      CHECK_TEXT(d.since_last_rx_ms <= 600000 + options.probe_timeout_ms, what.c_str());
    }
    // Settled: one connection for an hour, one PING per settled interval.
    const std::size_t after = listener.disconnects.size();
    const std::uint64_t pings_before = link.counters().heartbeats_sent;
    run_until(now + 3600000);
    UNSIGNED_LONGS_EQUAL(after, listener.disconnects.size());
    UNSIGNED_LONGS_EQUAL(3600000 / settled, link.counters().heartbeats_sent - pings_before);
    UNSIGNED_LONGS_EQUAL(settled, interval());
  }
}

TEST(AdaptiveHeartbeat, TrialsOnlyWhileNoMessageIsQueuedOrInFlight) {
  nat_timeout_ms = 3600000;
  start();
  run_until(now + 10000);  // the first idle period (the start) survived
  CHECK_TRUE(link.heartbeat_learner().trial_pending());
  UNSIGNED_LONGS_EQUAL(15000, interval());
  acknowledge = false;
  CHECK(!link.send(literal_bytes("held"), now));
  pump();
  UNSIGNED_LONGS_EQUAL(10000, interval());  // in flight: the confirmed interval
  run_until(now + 60000);
  UNSIGNED_LONGS_EQUAL(10000, interval());
  UNSIGNED_LONGS_EQUAL(10000, link.heartbeat_learner().confirmed());
  server.ack(now, 1);
  UNSIGNED_LONGS_EQUAL(15000, interval());  // acknowledged: the trial is back
}

TEST(AdaptiveHeartbeat, AFailedTrialCostsOneReconnectAndNoQueuedMessage) {
  nat_timeout_ms = 25000;
  start();
  // 10 s and 15 s and 22.5 s survive; the trial of 33.75 s is next.
  run_until(now + 10000 + 15000 + 22500);
  UNSIGNED_LONGS_EQUAL(22500, link.heartbeat_learner().confirmed());
  UNSIGNED_LONGS_EQUAL(33750, interval());
  CHECK(listener.disconnects.empty());
  // The mapping dies 25 s into the trial; the application sends meanwhile.
  run_until(last_traffic + 26000);
  CHECK(!link.send(literal_bytes("m1"), now));
  CHECK(!link.send(literal_bytes("m2"), now));
  pump();
  CHECK_TRUE(mapping_lost);
  run_until(now + 60000);
  // One reconnect, found one probe timeout after the first write into the
  // dead mapping; both messages delivered once, after it.
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  CHECK_TEXT(listener.disconnects[0].reason == Errc::probe_failed, error_name(listener.disconnects[0].reason).c_str());
  UNSIGNED_LONGS_EQUAL(2, delivered.size());
  STRCMP_EQUAL("m1", delivered[0].c_str());
  STRCMP_EQUAL("m2", delivered[1].c_str());
  UNSIGNED_LONGS_EQUAL(0, duplicates);
  UNSIGNED_LONGS_EQUAL(2, listener.acks.size());
  UNSIGNED_LONGS_EQUAL(1, link.heartbeat_learner().losses());
  // Judged as the trial it was, for the idle time the DATA really ended
  // (not as the confirmed interval failing, though a read-idle PING
  // followed the DATA): the confirmed interval stands.
  // (After it the search went on between 22.5 s and 26 s, and settled.)
  UNSIGNED_LONGS_EQUAL(26000, link.heartbeat_memory().failed_ms);
  CHECK_TRUE(link.heartbeat_memory().survived_ms >= 22500);
  CHECK_TRUE(link.heartbeat_learner().confirmed() >= 20250);
  // The failed length is never tried again; the search goes on below it.
  CHECK_TRUE(link.heartbeat_learner().interval(true) < 26000);
}

TEST(AdaptiveHeartbeat, AFailedTrialWithoutTrafficIsFoundOneProbeTimeoutAfterItsPing) {
  nat_timeout_ms = 12000;
  start();
  run_until(now + 10000);  // 10 s survives; the 15 s trial fails
  run_until(now + 15000 + options.probe_timeout_ms);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  UNSIGNED_LONGS_EQUAL(15000 + options.probe_timeout_ms, listener.disconnects[0].since_last_rx_ms);
  run_until(now + 1000);
  CHECK(link.state() == ClientState::online);  // reconnected, session resumed
}

TEST(AdaptiveHeartbeat, NeverLeavesTheBoundsOfTheIntegratorNorTheServersClamp) {
  // The server clamps the heartbeat to 60 s; the path would allow an hour.
  server_heartbeat_max_ms = 60000;
  nat_timeout_ms = 3600000;
  start();
  UNSIGNED_LONGS_EQUAL(0, run_until_settled(3600000));
  UNSIGNED_LONGS_EQUAL(60000, interval());
  run_until(now + 3600000);
  CHECK_TRUE(interval() <= 60000);
  // A path shorter than the floor: the floor, whatever it costs.
  link.stop(now);
  opened = io.opens.size();
  server_heartbeat_max_ms = 0xFFFFFFFFu;
  nat_timeout_ms = 3000;
  start();
  for (int i = 0; i < 50; ++i) {
    run_until(now + 1000);
    CHECK_TRUE(interval() >= 5000);
  }
}

TEST(AdaptiveHeartbeat, ANetworkChangeStartsLearningAgain) {
  nat_timeout_ms = 40000;
  start();
  (void)run_until_settled(3600000);
  link.on_network_change(now);
  CHECK_TRUE(link.heartbeat_learner().phase() == HeartbeatPhase::growing);
  pump();  // the probe PING, answered
  run_until(now + 100);
  UNSIGNED_LONGS_EQUAL(10000, interval());
}

TEST(AdaptiveHeartbeat, ResumesFromWhatANetworkTaughtBefore) {
  nat_timeout_ms = 40000;
  start();
  (void)run_until_settled(3600000);
  const HeartbeatMemory learned = link.heartbeat_memory();
  const std::uint32_t settled = link.heartbeat_learner().confirmed();
  link.stop(now);
  opened = io.opens.size();
  listener.disconnects.clear();
  start();
  link.restore_heartbeat(learned);
  UNSIGNED_LONGS_EQUAL(settled, interval());
  run_until(now + 3600000);
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());  // no loss at all
}

TEST(AdaptiveHeartbeat, OptionsOutsideTheirRangeAreRefusedByName) {
  options.adaptive_heartbeat.start_ms = 700000;
  OptionsCheck check = validate(options);
  STRCMP_EQUAL("adaptive_heartbeat.start_ms", check.field);
  options.adaptive_heartbeat.start_ms = 10000;
  options.adaptive_heartbeat.min_ms = 20000;
  check = validate(options);
  STRCMP_EQUAL("adaptive_heartbeat.min_ms", check.field);
  // Automatic values resolve within the ceiling.
  options.adaptive_heartbeat.min_ms = 0;
  options.adaptive_heartbeat.start_ms = 0;
  options.heartbeat_interval_ms = 20000;
  options.read_timeout_ms = 40000;
  CHECK_TRUE(static_cast<bool>(validate(options)));
  const HeartbeatLearnerPolicy p = options.heartbeat_learner_policy();
  UNSIGNED_LONGS_EQUAL(20000, p.start_ms);
  UNSIGNED_LONGS_EQUAL(10000, p.min_ms);
  UNSIGNED_LONGS_EQUAL(20000, p.max_ms);
}

TEST(AdaptiveHeartbeat, TheSameNetworkAgainKeepsWhatWasLearned) {
  nat_timeout_ms = 40000;
  start();
  link.set_network("wlan0@192.168.1.1");
  (void)run_until_settled(3600000);
  const std::uint32_t settled = link.heartbeat_learner().confirmed();
  link.on_network_change(now, "wlan0@192.168.1.1");  // a spurious event
  CHECK_TRUE(link.heartbeat_learner().phase() == HeartbeatPhase::settled);
  UNSIGNED_LONGS_EQUAL(settled, link.heartbeat_learner().confirmed());
}

TEST(AdaptiveHeartbeat, EachNetworkKeepsItsOwnIntervalInTheBook) {
  nat_timeout_ms = 40000;
  start();
  link.set_network("wlan0@192.168.1.1");
  (void)run_until_settled(3600000);
  const std::uint32_t home = link.heartbeat_learner().confirmed();
  // To the cellular modem: another path, learned afresh.
  nat_timeout_ms = 90000;
  link.on_network_change(now, "wwan0");
  UNSIGNED_LONGS_EQUAL(10000, link.heartbeat_learner().confirmed());
  pump();
  (void)run_until_settled(3600000);
  const std::uint32_t cellular = link.heartbeat_learner().confirmed();
  CHECK_TRUE(cellular > home);
  // Back home: settled at once, no link lost to learn it again.
  nat_timeout_ms = 40000;
  const std::size_t losses = listener.disconnects.size();
  link.on_network_change(now, "wlan0@192.168.1.1");
  UNSIGNED_LONGS_EQUAL(home, link.heartbeat_learner().confirmed());
  pump();
  run_until(now + 3600000);
  UNSIGNED_LONGS_EQUAL(losses, listener.disconnects.size());
  // The book survives a restart as text.
  char text[HeartbeatBook::kMaxTextSize];
  const std::size_t n = link.heartbeat_book().write(text, sizeof text);
  HeartbeatBook restored;
  CHECK_TRUE(restored.read(text, n));
  UNSIGNED_LONGS_EQUAL(2, restored.size());
  CHECK_TRUE(restored.find("wwan0")->settled);
}

TEST(AdaptiveHeartbeat, ARestartResumesFromTheBookForTheSameNetwork) {
  nat_timeout_ms = 40000;
  start();
  link.set_network("eth0@10.0.0.1");
  (void)run_until_settled(3600000);
  const std::uint32_t settled = link.heartbeat_learner().confirmed();
  link.stop(now);
  listener.disconnects.clear();
  opened = io.opens.size();
  start();
  link.set_network("eth0@10.0.0.1");
  UNSIGNED_LONGS_EQUAL(settled, interval());
  run_until(now + 3600000);
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
}
