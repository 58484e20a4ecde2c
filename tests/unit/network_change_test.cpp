// SPDX-License-Identifier: Apache-2.0
// Network-change probes in virtual time: a link or address event makes an
// online session probe the link with a PING and give up after the probe
// timeout instead of the full read timeout; a backing-off session
// reconnects at once.
#include <string>

#include "support/link_fakes.hpp"
#include "uplink/core/keep_alive.hpp"
#include "uplink/core/link.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::test;

TEST_GROUP(NetworkChange) {
  FakeIo io;
  RecordingListener listener;
  ScriptedRandom random{0x80000000u};
  Link link{io, listener, random};
  FakeServer server{link};
  DeviceWire wire{link};
  Millis now = 1000;
  Options options;

  void setup() override {
    CHECK(!options.add_endpoint("127.0.0.1", 7400));
    CHECK(!options.set_device_id("probe-test"));
    options.heartbeat_interval_ms = 10000;
    options.read_timeout_ms = 20000;
    options.probe_timeout_ms = 1500;
  }
  void go_online() {
    CHECK(static_cast<bool>(link.start(options, now)));
    link.on_transport_open(now, link.generation());
    wire.flush(now);  // HELLO
    server.welcome(now, 42, options.heartbeat_interval_ms);
    CHECK(link.state() == ClientState::online);
  }
};

TEST(NetworkChange, OnlineSessionSendsAProbePingAtOnce) {
  go_online();
  now += 100;
  link.on_network_change(now);
  STRCMP_EQUAL("PING", type_names(wire.flush(now)).c_str());
}

TEST(NetworkChange, UnansweredProbeDeclaresTheLinkDeadAfterTheProbeTimeout) {
  go_online();
  now += 100;
  link.on_network_change(now);
  wire.flush(now);
  const Millis probe_deadline = now + options.probe_timeout_ms;
  CHECK(link.next_wakeup() <= probe_deadline);
  link.on_timer(probe_deadline - 1);
  CHECK(link.state() == ClientState::online);
  link.on_timer(probe_deadline);
  CHECK(!listener.disconnects.empty());
  CHECK(listener.disconnects.back().reason == Errc::probe_failed);
  // Far sooner than the 20 s read timeout would have allowed.
  CHECK(listener.disconnects.back().since_last_rx_ms < options.read_timeout_ms);
}

TEST(NetworkChange, AnsweredProbeKeepsTheConnection) {
  go_online();
  now += 100;
  link.on_network_change(now);
  wire.flush(now);
  now += 50;
  server.pong(now);
  link.on_timer(now + options.probe_timeout_ms + 10);
  CHECK(link.state() == ClientState::online);
  CHECK(listener.disconnects.empty());
}

TEST(NetworkChange, BackingOffSessionReconnectsAtOnce) {
  go_online();
  link.on_transport_error(now, link.generation(), make_error_code(Errc::connection_closed));
  CHECK(link.state() == ClientState::backing_off);
  const std::size_t opens = io.opens.size();
  link.on_network_change(now + 1);
  CHECK(link.state() == ClientState::connecting);
  UNSIGNED_LONGS_EQUAL(opens + 1, io.opens.size());
}

TEST(NetworkChange, ChangesWhileConnectingOrStoppedDoNothing) {
  CHECK(static_cast<bool>(link.start(options, now)));
  const std::size_t opens = io.opens.size();
  link.on_network_change(now);
  CHECK(link.state() == ClientState::connecting);
  UNSIGNED_LONGS_EQUAL(opens, io.opens.size());
  link.stop(now);
  link.on_network_change(now);
  CHECK(link.state() == ClientState::stopped);
}

TEST(NetworkChange, ZeroProbeTimeoutIsRefused) {
  options.probe_timeout_ms = 0;
  const OptionsCheck check = validate(options);
  CHECK(check.error == Errc::invalid_option);
  STRCMP_EQUAL("probe_timeout_ms", check.field);
}

TEST_GROUP(KeepAliveProbe){};

TEST(KeepAliveProbe, ProbeDeadlineIsTheEarlierOfProbeAndReadTimeout) {
  KeepAlive ka;
  KeepAliveTimings t;
  t.heartbeat_ms = 1000;
  t.read_timeout_ms = 2000;
  ka.start(t, 0);
  CHECK(ka.start_probe(100, 5000));  // a probe longer than the read timeout changes nothing
  UNSIGNED_LONGLONGS_EQUAL(1000, ka.next_deadline(true));  // heartbeat still first
  CHECK(ka.poll(1999, false) == KeepAliveVerdict::none);
  CHECK(ka.poll(2000, false) == KeepAliveVerdict::server_silent);  // the read timeout came first
  ka.on_frame_received(150, false);
  CHECK_FALSE(ka.probing());
}

TEST(KeepAliveProbe, AProbeThatRunsOutBeforeTheReadTimeoutHasItsOwnVerdict) {
  KeepAlive ka;
  KeepAliveTimings t;
  t.heartbeat_ms = 1000;
  t.read_timeout_ms = 2000;
  ka.start(t, 0);
  CHECK(ka.start_probe(100, 300));
  CHECK(ka.poll(399, false) == KeepAliveVerdict::none);
  CHECK(ka.poll(400, false) == KeepAliveVerdict::probe_failed);
}
