// SPDX-License-Identifier: Apache-2.0
// uplink::Link, the connection state machine, driven entirely in virtual
// time: a `now` the tests advance, on_timer() called at next_wakeup(), a fake
// I/O shell, a fake server that feeds encoded frames, and a wire that writes
// and decodes whatever the session has pending.
//
// Timings (Options::demo()): heartbeat 1000 ms, read timeout 2000 ms, write
// timeout 2000 ms, connect timeout 2000 ms, backoff 200 .. 2000 ms, stable
// after 3000 ms. Two endpoints. The random source gives 0xFFFFFFFF unless a
// test scripts it, so a backoff delay equals its ceiling.
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support/link_fakes.hpp"
#include "uplink/core/link.hpp"
#include "uplink/error.hpp"
#include "uplink/options.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::test;

#define STATE_EQUAL(expected, actual) STRCMP_EQUAL(client_state_name(expected), client_state_name(actual))
#define ERRC_EQUAL(expected, actual) STRCMP_EQUAL(errc_name(expected), error_name(actual).c_str())
#define CLOSE_REASON_EQUAL(expected, actual) STRCMP_EQUAL(close_reason_name(expected), close_reason_name(actual))
#define CLOSE_ONCE() STRCMP_EQUAL("", io.close_once_violation().c_str())

namespace {

constexpr std::uint64_t kSessionId = 0x5E55;
constexpr std::uint64_t kOtherSessionId = 0x0BAD;
constexpr std::uint32_t kRandomMax = 0xFFFFFFFFu;
constexpr Millis kStart = 100000;  // far from 0: relative and absolute times must not be confused

Options test_options() {
  Options o = Options::demo();
  (void)o.add_endpoint("10.0.0.1", 7000);
  (void)o.add_endpoint("backup.example.net", 7001);
  (void)o.set_device_id("dev-0001");
  (void)o.set_token(literal_bytes("s3cret"));
  return o;
}

// Checked access to recorded lists: a missing record fails the test
// instead of crashing the whole group.
template <typename T>
const T& at(const std::vector<T>& list, std::size_t i) {
  CHECK_TEXT(i < list.size(), ("only " + std::to_string(list.size()) + " recorded, wanted #" + std::to_string(i)).c_str());
  return list[i];
}
template <typename T>
const T& last(const std::vector<T>& list) {
  CHECK_TEXT(!list.empty(), "nothing recorded");
  return list.back();
}

std::error_code refused() { return std::make_error_code(std::errc::connection_refused); }
std::error_code peer_closed() { return make_error_code(Errc::connection_closed); }

// Everything a session needs, standalone (for tests that run many sessions).
struct Rig {
  Rig() { io.attach(link); }
  ScriptedRandom random;
  RecordingListener listener;
  FakeIo io;
  Link link{io, listener, random};
  FakeServer server{link};
  DeviceWire wire{link};

  /// Starts with `options`, opens the transport and answers the HELLO with
  /// a WELCOME of `session_id` naming `heartbeat_ms` and `next_uplink_seq` 1.
  void start_and_welcome(const Options& options, Millis now, std::uint32_t heartbeat_ms,
                         std::uint64_t session_id) {
    CHECK_TRUE(static_cast<bool>(link.start(options, now)));
    link.on_transport_open(now, link.generation());
    wire.flush(now);
    server.welcome(now, session_id, heartbeat_ms, 1);
  }
};

}  // namespace

// The fixture shared by every group: one session, its fakes and a clock.
class LinkFixture : public Utest {
 public:
  LinkFixture() { io.attach(link); }

 protected:
  Millis now = kStart;
  ScriptedRandom random{kRandomMax};
  RecordingListener listener;
  FakeIo io;
  Link link{io, listener, random};
  FakeServer server{link};
  DeviceWire wire{link};
  Options options = test_options();

  void start() {
    const OptionsCheck check = link.start(options, now);
    CHECK_TEXT(static_cast<bool>(check), check.field);
  }
  Link::Generation gen() const { return link.generation(); }
  void open() { link.on_transport_open(now, link.generation()); }
  std::vector<WireFrame> flush() { return wire.flush(now); }
  void fail_attempt(std::error_code reason = refused()) { link.on_transport_failed(now, gen(), reason); }
  void fail_round() {
    for (std::size_t i = 0; i < options.endpoint_count; ++i) fail_attempt();
  }
  void drop(std::error_code reason = peer_closed()) { link.on_transport_error(now, gen(), reason); }

  /// Jumps to next_wakeup() and fires the timer there.
  Millis fire() {
    const Millis at = link.next_wakeup();
    CHECK_TEXT(at != kNever, "no wake-up scheduled");
    if (at > now) now = at;
    link.on_timer(now);
    return now;
  }

  /// Drives the timer to `until` the way a shell does: on_timer() at each
  /// next_wakeup(), then every pending byte written at once. With
  /// `answer_pings` the server answers each PING with a PONG at once.
  void run_to(Millis until, bool answer_pings = false) {
    for (int guard = 0;; ++guard) {
      CHECK_TEXT(guard < 100000, "the timer does not advance");
      const Millis next = link.next_wakeup();
      if (next > until) break;
      if (next > now) now = next;
      link.on_timer(now);
      const std::vector<WireFrame> written = flush();
      if (answer_pings && count_type(written, FrameType::ping) > 0) server.pong(now);
    }
    now = until;
  }

  /// From idle, stopped or backing off: connects and completes the
  /// handshake. `heartbeat` 0 means "as requested".
  void go_online(std::uint64_t session_id = kSessionId, std::uint32_t heartbeat = 0,
                 std::uint64_t next_uplink_seq = 1) {
    if (link.state() == ClientState::idle || link.state() == ClientState::stopped) start();
    if (link.state() == ClientState::backing_off) fire();
    STATE_EQUAL(ClientState::connecting, link.state());
    open();
    flush();
    server.welcome(now, session_id, heartbeat != 0 ? heartbeat : options.heartbeat_interval_ms, next_uplink_seq);
    STATE_EQUAL(ClientState::online, link.state());
  }

  /// Sends `text`, which must be accepted; returns its message id.
  std::uint64_t send_text(const std::string& text) {
    std::uint64_t id = 0;
    const std::error_code ec = link.send(ConstByteSpan{text.data(), text.size()}, now, &id);
    STRCMP_EQUAL("ok", error_name(ec).c_str());
    return id;
  }
  std::error_code try_send(const std::string& text) {
    return link.send(ConstByteSpan{text.data(), text.size()}, now);
  }

  /// The last connection ended online with `reason` and a farewell CLOSE
  /// carrying `close_reason`; the session backs off.
  void expect_online_failure(Errc reason, CloseReason close_reason) {
    UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
    ERRC_EQUAL(reason, at(listener.disconnects, 0).reason);
    CHECK_FALSE(at(listener.disconnects, 0).closed_by_server);
    UNSIGNED_LONGS_EQUAL(1, io.closes.size());
    const std::vector<WireFrame> farewell = io.last_farewell();
    STRCMP_EQUAL("CLOSE", type_names(farewell).c_str());
    CLOSE_REASON_EQUAL(close_reason, at(farewell, 0).close_reason);
    STATE_EQUAL(ClientState::backing_off, link.state());
    CLOSE_ONCE();
  }

  /// After a protocol failure: reconnects to a server that resumes the
  /// session expecting `first_seq`, and checks that every queued message is
  /// resent once, in order, from there (none lost).
  void expect_resent_in_order(std::uint64_t first_seq, const std::vector<std::string>& payloads) {
    go_online(kSessionId, 0, first_seq);
    const std::vector<WireFrame> sent = flush();
    UNSIGNED_LONGS_EQUAL(payloads.size(), count_type(sent, FrameType::data));
    std::size_t i = 0;
    for (const WireFrame& f : sent) {
      if (f.type != FrameType::data) continue;
      UNSIGNED_LONGLONGS_EQUAL(first_seq + i, f.seq);
      STRCMP_EQUAL(payloads[i].c_str(), f.payload.c_str());
      ++i;
    }
  }

  /// The handshake on endpoint 0 failed with `reason` after a farewell
  /// CLOSE carrying `close_reason`; endpoint 1 is tried at once.
  void expect_handshake_failure(Errc reason, CloseReason close_reason) {
    UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
    ERRC_EQUAL(reason, at(listener.connect_failures, 0).reason);
    UNSIGNED_LONGS_EQUAL(0, at(listener.connect_failures, 0).endpoint_index);
    UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
    UNSIGNED_LONGS_EQUAL(0, listener.online.size());
    UNSIGNED_LONGS_EQUAL(1, io.closes.size());
    const std::vector<WireFrame> farewell = io.last_farewell();
    STRCMP_EQUAL("CLOSE", type_names(farewell).c_str());
    CLOSE_REASON_EQUAL(close_reason, at(farewell, 0).close_reason);
    STATE_EQUAL(ClientState::connecting, link.state());
    UNSIGNED_LONGS_EQUAL(2, io.opens.size());
    UNSIGNED_LONGS_EQUAL(1, at(io.opens, 1).endpoint_index);
    CLOSE_ONCE();
  }
};

// =====================================================================
// SessionOptions: start() validation and option-driven behaviour
// =====================================================================

TEST_GROUP_BASE(SessionOptions, LinkFixture){};

TEST(SessionOptions, EveryInvalidOptionIsRefusedNamingItsFieldAndTheSessionStaysIdle) {
  struct Case {
    const char* field;
    void (*breaks)(Options&);
  };
  const Case cases[] = {
      {"endpoints", [](Options& o) { o.endpoint_count = 0; }},
      {"endpoint_count", [](Options& o) { o.endpoint_count = kMaxEndpoints + 1; }},
      {"endpoints.host", [](Options& o) { o.endpoints[1].host[0] = '\0'; }},
      {"endpoints.host", [](Options& o) { std::memset(o.endpoints[0].host, 'h', sizeof o.endpoints[0].host); }},
      {"endpoints.port", [](Options& o) { o.endpoints[1].port = 0; }},
      {"device_id", [](Options& o) { o.device_id[0] = '\0'; }},
      {"device_id", [](Options& o) { std::strcpy(o.device_id, "has space"); }},
      {"device_id", [](Options& o) { std::memset(o.device_id, 'd', sizeof o.device_id); }},
      {"token_size", [](Options& o) { o.token_size = kMaxTokenLength + 1; }},
      {"heartbeat_interval_ms", [](Options& o) { o.heartbeat_interval_ms = 0; }},
      {"read_timeout_ms", [](Options& o) { o.read_timeout_ms = o.heartbeat_interval_ms; }},
      {"server_heartbeat_min_ms", [](Options& o) { o.server_heartbeat_min_ms = o.heartbeat_interval_ms + 1; }},
      {"server_heartbeat_max_ms", [](Options& o) { o.server_heartbeat_max_ms = o.heartbeat_interval_ms - 1; }},
      {"write_timeout_ms", [](Options& o) { o.write_timeout_ms = 0; }},
      {"connect_timeout_ms", [](Options& o) { o.connect_timeout_ms = 0; }},
      {"idle_timeout_ms", [](Options& o) { o.idle_timeout_ms = o.heartbeat_interval_ms; }},
      {"max_in_flight", [](Options& o) { o.max_in_flight = kStoreMessages + 1; }},
      {"backoff.base_ms", [](Options& o) { o.backoff.base_ms = 0; }},
      {"backoff.cap_ms", [](Options& o) { o.backoff.cap_ms = o.backoff.base_ms - 1; }},
  };
  for (const Case& c : cases) {
    Options bad = test_options();
    c.breaks(bad);
    const OptionsCheck check = link.start(bad, now);
    CHECK_FALSE_TEXT(static_cast<bool>(check), c.field);
    ERRC_EQUAL(Errc::invalid_option, check.error);
    STRCMP_EQUAL(c.field, check.field);
    CHECK_TEXT(std::strlen(check.reason) > 0, c.field);
    STATE_EQUAL(ClientState::idle, link.state());
    UNSIGNED_LONGLONGS_EQUAL(kNever, link.next_wakeup());
    CHECK_FALSE(link.transport_active());
  }
  UNSIGNED_LONGS_EQUAL(0, io.opens.size());
  UNSIGNED_LONGS_EQUAL(0, listener.states.size());
  UNSIGNED_LONGLONGS_EQUAL(0, link.counters().connect_attempts);

  // The same session starts once the options are right.
  start();
  STATE_EQUAL(ClientState::connecting, link.state());
}

TEST(SessionOptions, StartWhileRunningIsRefusedInEveryRunningState) {
  auto expect_refused = [this](ClientState state) {
    const std::size_t opens = io.opens.size();
    const std::size_t states = listener.states.size();
    const OptionsCheck check = link.start(options, now);
    CHECK_FALSE(static_cast<bool>(check));
    ERRC_EQUAL(Errc::already_running, check.error);
    STATE_EQUAL(state, link.state());
    UNSIGNED_LONGS_EQUAL(opens, io.opens.size());
    UNSIGNED_LONGS_EQUAL(states, listener.states.size());
  };
  start();
  expect_refused(ClientState::connecting);
  open();
  expect_refused(ClientState::handshaking);
  flush();
  server.welcome(now, kSessionId, 1000);
  expect_refused(ClientState::online);
  drop();
  expect_refused(ClientState::backing_off);
  CLOSE_ONCE();
}

TEST(SessionOptions, HelloCarriesTheTokenButNoLogLineEverDoes) {
  go_online();
  STRCMP_EQUAL("s3cret", at(wire.all, 0).token.c_str());
  server.garbage(now);  // an error path logs too
  CHECK_TRUE(listener.logs.size() > 0);
  CHECK_FALSE(listener.logged("s3cret"));
}

TEST(SessionOptions, IdleTimeoutIsOffByDefault) {
  UNSIGNED_LONGS_EQUAL(0, Options().idle_timeout_ms);
  go_online();
  const Millis t = now;
  run_to(t + 60000, true);  // heartbeats only, for a minute
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
}

TEST(SessionOptions, DefaultTimingsGiveTheDocumentedReadTimeout) {
  Options o = Options();
  (void)o.add_endpoint("10.0.0.1", 7000);
  (void)o.set_device_id("dev-0001");
  options = o;
  go_online(kSessionId, 30000);
  UNSIGNED_LONGS_EQUAL(30000, at(listener.online, 0).heartbeat_ms);
  UNSIGNED_LONGS_EQUAL(60000, at(listener.online, 0).read_timeout_ms);
  UNSIGNED_LONGLONGS_EQUAL(now + 30000, link.next_wakeup());
}

// =====================================================================
// SessionConnect: start, transport open, HELLO, WELCOME, deadlines
// =====================================================================

TEST_GROUP_BASE(SessionConnect, LinkFixture){};

TEST(SessionConnect, StartOpensTheFirstEndpoint) {
  start();
  STATE_EQUAL(ClientState::connecting, link.state());
  UNSIGNED_LONGS_EQUAL(1, listener.states.size());
  STATE_EQUAL(ClientState::connecting, at(listener.states, 0).state);
  UNSIGNED_LONGS_EQUAL(0, at(listener.states, 0).endpoint_index);
  UNSIGNED_LONGS_EQUAL(1, io.opens.size());
  UNSIGNED_LONGS_EQUAL(0, at(io.opens, 0).endpoint_index);
  STRCMP_EQUAL("10.0.0.1", at(io.opens, 0).host.c_str());
  UNSIGNED_LONGS_EQUAL(7000, at(io.opens, 0).port);
  UNSIGNED_LONGS_EQUAL(gen(), at(io.opens, 0).generation);
  CHECK_TRUE(link.transport_active());
  UNSIGNED_LONGLONGS_EQUAL(kStart + 2000, link.next_wakeup());
  CHECK_TRUE(link.pending_write().empty());  // nothing to write before the transport is up
  UNSIGNED_LONGS_EQUAL(0, io.closes.size());
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().connect_attempts);
}

TEST(SessionConnect, TransportOpenMovesToHandshakingAndWritesHello) {
  start();
  now += 30;
  open();
  STATE_EQUAL(ClientState::handshaking, link.state());
  STATE_EQUAL(ClientState::handshaking, listener.last_state().state);
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("HELLO", type_names(written).c_str());
  const WireFrame& hello = at(written, 0);
  UNSIGNED_LONGS_EQUAL(1, hello.version);
  STRCMP_EQUAL("dev-0001", hello.device_id.c_str());
  STRCMP_EQUAL("s3cret", hello.token.c_str());
  UNSIGNED_LONGS_EQUAL(1000, hello.heartbeat_ms);
  UNSIGNED_LONGLONGS_EQUAL(0, hello.session_id);
  UNSIGNED_LONGLONGS_EQUAL(0, hello.last_downlink_seq);
  CHECK_TRUE(wire.ok);
  CHECK_TRUE(link.pending_write().empty());
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().frames_sent);
  UNSIGNED_LONGLONGS_EQUAL(wire.bytes_written, link.counters().bytes_sent);
}

TEST(SessionConnect, WelcomeBringsTheSessionOnline) {
  start();
  open();
  flush();
  now += 40;
  server.welcome(now, kSessionId, 1000, 1);
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGS_EQUAL(1, listener.online.size());
  const OnlineInfo& info = at(listener.online, 0);
  UNSIGNED_LONGS_EQUAL(0, info.endpoint_index);
  UNSIGNED_LONGLONGS_EQUAL(kSessionId, info.session_id);
  CHECK_FALSE(info.resumed);
  UNSIGNED_LONGS_EQUAL(1000, info.heartbeat_ms);
  UNSIGNED_LONGS_EQUAL(2000, info.read_timeout_ms);
  UNSIGNED_LONGLONGS_EQUAL(1, info.next_uplink_seq);
  UNSIGNED_LONGLONGS_EQUAL(kSessionId, link.session_id());
  UNSIGNED_LONGLONGS_EQUAL(1, link.next_uplink_seq());
  UNSIGNED_LONGLONGS_EQUAL(0, link.last_acked_seq());
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().connects);
  const std::vector<std::string> expected = {"state:connecting", "state:handshaking", "state:online"};
  CHECK_TRUE(expected == listener.events);
  // The first heartbeat is due one interval after WELCOME.
  UNSIGNED_LONGLONGS_EQUAL(now + 1000, link.next_wakeup());
}

TEST(SessionConnect, ServerClampedHeartbeatScalesTheReadTimeoutByTheSameRatio) {
  start();
  open();
  flush();
  const Millis t = now;
  server.welcome(t, kSessionId, 2000);  // requested 1000, accepted 2000: read timeout 2000 -> 4000
  UNSIGNED_LONGS_EQUAL(2000, at(listener.online, 0).heartbeat_ms);
  UNSIGNED_LONGS_EQUAL(4000, at(listener.online, 0).read_timeout_ms);
  UNSIGNED_LONGS_EQUAL(4000, link.keep_alive().timings().read_timeout_ms);
  // And the session lives by it: PING after 2000, dead after 4000, not before.
  UNSIGNED_LONGLONGS_EQUAL(t + 2000, link.next_wakeup());
  run_to(t + 3999);
  STRCMP_EQUAL("HELLO,PING", type_names(wire.all).c_str());
  STATE_EQUAL(ClientState::online, link.state());
  run_to(t + 4000);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::server_silent, at(listener.disconnects, 0).reason);
  UNSIGNED_LONGLONGS_EQUAL(4000, at(listener.disconnects, 0).since_last_rx_ms);
}

TEST(SessionConnect, ServerLoweredHeartbeatScalesTheReadTimeoutDown) {
  options.heartbeat_interval_ms = 1000;
  options.read_timeout_ms = 3000;
  go_online(kSessionId, 500);  // ratio 1/2
  UNSIGNED_LONGS_EQUAL(500, at(listener.online, 0).heartbeat_ms);
  UNSIGNED_LONGS_EQUAL(1500, at(listener.online, 0).read_timeout_ms);
}

TEST(SessionConnect, OneDeadlineCoversConnectAndHandshake) {
  start();
  now = kStart + 1500;  // a slow connect eats most of the deadline
  open();
  flush();
  UNSIGNED_LONGLONGS_EQUAL(kStart + 2000, link.next_wakeup());  // not re-armed by the open
  link.on_timer(kStart + 1999);
  STATE_EQUAL(ClientState::handshaking, link.state());
  UNSIGNED_LONGS_EQUAL(0, listener.connect_failures.size());
  UNSIGNED_LONGS_EQUAL(0, io.closes.size());
  now = kStart + 2000;
  link.on_timer(now);
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  ERRC_EQUAL(Errc::handshake_timeout, at(listener.connect_failures, 0).reason);
  UNSIGNED_LONGS_EQUAL(0, at(listener.connect_failures, 0).endpoint_index);
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CHECK_TRUE(at(io.closes, 0).farewell.empty());
  // Failover: the next endpoint at once.
  STATE_EQUAL(ClientState::connecting, link.state());
  UNSIGNED_LONGS_EQUAL(2, io.opens.size());
  UNSIGNED_LONGS_EQUAL(1, at(io.opens, 1).endpoint_index);
  STRCMP_EQUAL("backup.example.net", at(io.opens, 1).host.c_str());
  UNSIGNED_LONGS_EQUAL(7001, at(io.opens, 1).port);
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().connect_failures);
  CLOSE_ONCE();
}

TEST(SessionConnect, TransportThatNeverOpensFailsWithConnectTimeout) {
  start();
  link.on_timer(kStart + 1999);
  STATE_EQUAL(ClientState::connecting, link.state());
  UNSIGNED_LONGS_EQUAL(1, io.opens.size());
  UNSIGNED_LONGS_EQUAL(0, io.closes.size());
  now = kStart + 2000;
  link.on_timer(now);
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  ERRC_EQUAL(Errc::connect_timeout, at(listener.connect_failures, 0).reason);
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  UNSIGNED_LONGS_EQUAL(2, io.opens.size());
  CLOSE_ONCE();
}

TEST(SessionConnect, EachEndpointGetsAFreshDeadline) {
  start();
  now = kStart + 2000;
  link.on_timer(now);
  UNSIGNED_LONGLONGS_EQUAL(kStart + 4000, link.next_wakeup());
  link.on_timer(kStart + 3999);
  STATE_EQUAL(ClientState::connecting, link.state());
  now = kStart + 4000;
  link.on_timer(now);
  UNSIGNED_LONGS_EQUAL(2, listener.connect_failures.size());
  UNSIGNED_LONGS_EQUAL(1, at(listener.connect_failures, 1).endpoint_index);
  ERRC_EQUAL(Errc::connect_timeout, at(listener.connect_failures, 1).reason);
  STATE_EQUAL(ClientState::backing_off, link.state());
}

TEST(SessionConnect, TransportFailureIsReportedWithItsReasonAndFailsOverAtOnce) {
  start();
  now += 5;
  fail_attempt(refused());
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  CHECK_TRUE(at(listener.connect_failures, 0).reason == refused());
  STATE_EQUAL(ClientState::connecting, link.state());
  UNSIGNED_LONGS_EQUAL(2, io.opens.size());
  UNSIGNED_LONGS_EQUAL(1, at(io.opens, 1).endpoint_index);
  UNSIGNED_LONGS_EQUAL(0, listener.count_state(ClientState::backing_off));
  UNSIGNED_LONGLONGS_EQUAL(now + 2000, link.next_wakeup());
}

TEST(SessionConnect, OnlineOnTheSecondEndpointReportsItsIndex) {
  start();
  fail_attempt();
  open();
  flush();
  server.welcome(now, kSessionId, 1000);
  UNSIGNED_LONGS_EQUAL(1, at(listener.online, 0).endpoint_index);
  UNSIGNED_LONGS_EQUAL(1, listener.last_state().endpoint_index);
}

TEST(SessionConnect, ServerCloseDuringHandshakeIsAConnectFailureWithoutFarewell) {
  start();
  open();
  flush();
  server.close(now, CloseReason::unauthorized, 7000, "who are you");
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  ERRC_EQUAL(Errc::closed_by_server, at(listener.connect_failures, 0).reason);
  // The listener learns why (a refused token says unauthorized).
  CHECK(at(listener.connect_failures, 0).server_reason == CloseReason::unauthorized);
  UNSIGNED_LONGS_EQUAL(7000, at(listener.connect_failures, 0).retry_after_ms);
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CHECK_TRUE(at(io.closes, 0).farewell.empty());  // a CLOSE is not answered with a CLOSE
  STATE_EQUAL(ClientState::connecting, link.state());
  UNSIGNED_LONGS_EQUAL(1, last(io.opens).endpoint_index);
}

TEST(SessionConnect, TransportErrorDuringHandshakeFailsTheAttempt) {
  start();
  open();
  flush();
  drop();
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  ERRC_EQUAL(Errc::connection_closed, at(listener.connect_failures, 0).reason);
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
  STATE_EQUAL(ClientState::connecting, link.state());
  CLOSE_ONCE();
}

TEST(SessionConnect, PingDuringHandshakeIsAnswered) {
  start();
  open();
  flush();
  server.ping(now);
  STRCMP_EQUAL("PONG", type_names(flush()).c_str());
  STATE_EQUAL(ClientState::handshaking, link.state());
}

TEST(SessionConnect, WelcomeAndDataInOneReadAreBothHandled) {
  start();
  open();
  flush();
  server.send(now, welcome_frame(kSessionId, 1000) + data_frame(1, "first"));
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGS_EQUAL(1, listener.messages.size());
  STRCMP_EQUAL("first", at(listener.messages, 0).payload.c_str());
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("ACK", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(1, at(written, 0).seq);
}

// =====================================================================
// SessionBackoff: failover, jittered delays, attempt counting, retry-after
// =====================================================================

TEST_GROUP_BASE(SessionBackoff, LinkFixture){};

TEST(SessionBackoff, AllEndpointsFailedBacksOffWithTheJitteredDelay) {
  start();
  fail_attempt();
  UNSIGNED_LONGS_EQUAL(0, random.calls);  // failover costs no backoff
  UNSIGNED_LONGS_EQUAL(2, io.opens.size());
  fail_attempt();
  STATE_EQUAL(ClientState::backing_off, link.state());
  const StateChange& change = listener.last_state();
  STATE_EQUAL(ClientState::backing_off, change.state);
  UNSIGNED_LONGS_EQUAL(200, change.backoff_delay_ms);  // random max -> the ceiling
  UNSIGNED_LONGS_EQUAL(1, change.attempt);
  UNSIGNED_LONGS_EQUAL(1, random.calls);
  UNSIGNED_LONGS_EQUAL(2, io.closes.size());
  CHECK_FALSE(link.transport_active());
  UNSIGNED_LONGLONGS_EQUAL(now + 200, link.next_wakeup());
  link.on_timer(now + 199);
  STATE_EQUAL(ClientState::backing_off, link.state());
  UNSIGNED_LONGS_EQUAL(2, io.opens.size());
  now += 200;
  link.on_timer(now);
  STATE_EQUAL(ClientState::connecting, link.state());
  UNSIGNED_LONGS_EQUAL(3, io.opens.size());
  UNSIGNED_LONGS_EQUAL(0, at(io.opens, 2).endpoint_index);  // the round starts again at endpoint 0
  CLOSE_ONCE();
}

TEST(SessionBackoff, FullJitterSpansZeroToTheCeiling) {
  random.script = {0u, 0x80000000u, kRandomMax};
  start();
  fail_round();
  UNSIGNED_LONGS_EQUAL(0, listener.last_state().backoff_delay_ms);  // random 0 -> no wait at all
  UNSIGNED_LONGLONGS_EQUAL(now, link.next_wakeup());
  link.on_timer(now);
  STATE_EQUAL(ClientState::connecting, link.state());
  fail_round();
  UNSIGNED_LONGS_EQUAL(200, listener.last_state().backoff_delay_ms);  // half of [0, 400]
  fire();
  fail_round();
  UNSIGNED_LONGS_EQUAL(800, listener.last_state().backoff_delay_ms);  // max -> ceiling 800
  UNSIGNED_LONGS_EQUAL(3, listener.last_state().attempt);
}

TEST(SessionBackoff, CeilingsDoublePerAttemptUpToTheCap) {
  const std::uint32_t expected[] = {200, 400, 800, 1600, 2000, 2000, 2000};
  start();
  std::uint32_t attempt = 0;
  for (const std::uint32_t delay : expected) {
    fail_round();
    ++attempt;
    STATE_EQUAL(ClientState::backing_off, link.state());
    UNSIGNED_LONGS_EQUAL(delay, listener.last_state().backoff_delay_ms);
    UNSIGNED_LONGS_EQUAL(attempt, listener.last_state().attempt);
    const Millis failed_at = now;
    fire();
    UNSIGNED_LONGLONGS_EQUAL(failed_at + delay, now);
    STATE_EQUAL(ClientState::connecting, link.state());
  }
  CLOSE_ONCE();
}

TEST(SessionBackoff, MaxAttemptsStopsWithRetriesExhausted) {
  options.backoff.max_attempts = 2;
  start();
  fail_round();
  UNSIGNED_LONGS_EQUAL(1, listener.last_state().attempt);
  fire();
  fail_round();
  UNSIGNED_LONGS_EQUAL(2, listener.last_state().attempt);
  fire();
  fail_round();
  STATE_EQUAL(ClientState::stopped, link.state());
  ERRC_EQUAL(Errc::retries_exhausted, listener.last_state().reason);
  UNSIGNED_LONGS_EQUAL(2, listener.count_state(ClientState::backing_off));
  UNSIGNED_LONGS_EQUAL(6, io.opens.size());
  UNSIGNED_LONGLONGS_EQUAL(kNever, link.next_wakeup());
  CHECK_FALSE(link.transport_active());
  link.on_timer(now + 1000000);
  UNSIGNED_LONGS_EQUAL(6, io.opens.size());
  CLOSE_ONCE();
}

TEST(SessionBackoff, ServerThatAcceptsAndDropsCannotResetTheAttempts) {
  const std::uint32_t expected[] = {200, 400, 800, 1600};
  std::uint32_t attempt = 0;
  for (const std::uint32_t delay : expected) {
    go_online();
    now += 500;
    drop();
    ++attempt;
    STATE_EQUAL(ClientState::backing_off, link.state());
    UNSIGNED_LONGS_EQUAL(delay, listener.last_state().backoff_delay_ms);
    UNSIGNED_LONGS_EQUAL(attempt, listener.last_state().attempt);
    UNSIGNED_LONGLONGS_EQUAL(500, last(listener.disconnects).online_ms);
  }
  UNSIGNED_LONGLONGS_EQUAL(4, link.counters().connects);
  CLOSE_ONCE();
}

TEST(SessionBackoff, ConnectionStableForStableAfterResetsTheAttempts) {
  for (int i = 0; i < 3; ++i) {
    go_online();
    now += 100;
    drop();
  }
  UNSIGNED_LONGS_EQUAL(800, listener.last_state().backoff_delay_ms);
  go_online();
  const Millis t = now;
  run_to(t + 3000, true);  // healthy heartbeats through stable_after_ms
  STATE_EQUAL(ClientState::online, link.state());
  drop();
  UNSIGNED_LONGS_EQUAL(1, listener.last_state().attempt);
  UNSIGNED_LONGS_EQUAL(200, listener.last_state().backoff_delay_ms);
}

TEST(SessionBackoff, ConnectionDroppedJustBeforeStableAfterKeepsTheAttempts) {
  for (int i = 0; i < 3; ++i) {
    go_online();
    now += 100;
    drop();
  }
  go_online();
  const Millis t = now;
  run_to(t + 2999, true);
  drop();
  UNSIGNED_LONGS_EQUAL(4, listener.last_state().attempt);
  UNSIGNED_LONGS_EQUAL(1600, listener.last_state().backoff_delay_ms);
}

// A connection online for stable_after_ms resets the attempt counter even
// when its drop is handled before the timer of that millisecond (or the
// timer is late): the rule is checked on the way offline as well.
TEST(SessionBackoff, ConnectionOnlineForStableAfterResetsEvenWhenTheDropPrecedesTheTimer) {
  for (int i = 0; i < 3; ++i) {
    go_online();
    now += 100;
    drop();
  }
  go_online();
  const Millis t = now;
  run_to(t + 2999, true);
  now = t + 3000;  // online for exactly stable_after_ms; the drop is handled before the timer
  drop();
  UNSIGNED_LONGLONGS_EQUAL(3000, last(listener.disconnects).online_ms);
  UNSIGNED_LONGS_EQUAL(1, listener.last_state().attempt);
  UNSIGNED_LONGS_EQUAL(200, listener.last_state().backoff_delay_ms);
}

TEST(SessionBackoff, ServerCloseWithRetryAfterDelaysTheNextRoundAtLeastThatLong) {
  random.fallback = 0;  // jitter alone would reconnect at once
  go_online();
  now += 100;
  server.close(now, CloseReason::overloaded, 5000, "busy");
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  const DisconnectInfo& info = at(listener.disconnects, 0);
  ERRC_EQUAL(Errc::closed_by_server, info.reason);
  CHECK_TRUE(info.closed_by_server);
  CLOSE_REASON_EQUAL(CloseReason::overloaded, info.server_reason);
  UNSIGNED_LONGS_EQUAL(5000, info.retry_after_ms);
  UNSIGNED_LONGLONGS_EQUAL(0, info.since_last_rx_ms);  // the CLOSE itself was the last frame
  UNSIGNED_LONGLONGS_EQUAL(100, info.online_ms);
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CHECK_TRUE(at(io.closes, 0).farewell.empty());
  STATE_EQUAL(ClientState::backing_off, link.state());
  UNSIGNED_LONGS_EQUAL(5000, listener.last_state().backoff_delay_ms);
  UNSIGNED_LONGLONGS_EQUAL(now + 5000, link.next_wakeup());
  link.on_timer(now + 4999);
  STATE_EQUAL(ClientState::backing_off, link.state());
  now += 5000;
  link.on_timer(now);
  STATE_EQUAL(ClientState::connecting, link.state());
}

TEST(SessionBackoff, RetryAfterIsAPauseWithTheJitteredDelayOnTop) {
  go_online();
  server.close(now, CloseReason::going_away, 50, "restart");
  UNSIGNED_LONGS_EQUAL(50 + 200, listener.last_state().backoff_delay_ms);  // random at its maximum: the full base
}

TEST(SessionBackoff, DevicesClosedWithTheSameRetryAfterComeBackSpreadOverTheJitter) {
  // A graceful restart closes every device with the same retry-after; the
  // delays must differ by the random part, not all equal the hint.
  std::vector<std::uint32_t> delays;
  for (std::uint32_t draw : {0u, 0x40000000u, 0x80000000u, 0xFFFFFFFFu}) {
    Rig rig;
    rig.random.fallback = draw;
    rig.start_and_welcome(options, now, options.heartbeat_interval_ms, kSessionId);
    rig.server.close(now, CloseReason::going_away, 1000, "restart");
    STATE_EQUAL(ClientState::backing_off, rig.link.state());
    delays.push_back(rig.listener.last_state().backoff_delay_ms);
  }
  for (std::uint32_t delay : delays) CHECK_TRUE(delay >= 1000 && delay <= 1000 + options.backoff.base_ms);
  CHECK_TRUE(delays.front() < delays.back());
  UNSIGNED_LONGS_EQUAL(1000, delays.front());
  UNSIGNED_LONGS_EQUAL(1000 + options.backoff.base_ms, delays.back());
}

TEST(SessionBackoff, ARetryAfterOfThreeDaysIsCutToTheDevicesCap) {
  random.fallback = 0;
  options.max_retry_after_ms = 600000;
  go_online();
  server.close(now, CloseReason::overloaded, 3u * 24 * 3600 * 1000, "go away");
  UNSIGNED_LONGS_EQUAL(3u * 24 * 3600 * 1000, at(listener.disconnects, 0).retry_after_ms);  // reported as sent
  UNSIGNED_LONGS_EQUAL(600000, listener.last_state().backoff_delay_ms);
  UNSIGNED_LONGLONGS_EQUAL(now + 600000, link.next_wakeup());
  CHECK_TRUE(listener.logged("capped at 600000 ms"));
}

TEST(SessionBackoff, ACapOfZeroIgnoresRetryAfterHints) {
  random.fallback = 0;
  options.max_retry_after_ms = 0;
  go_online();
  server.close(now, CloseReason::overloaded, 5000, "busy");
  UNSIGNED_LONGS_EQUAL(0, listener.last_state().backoff_delay_ms);
}

TEST(SessionBackoff, RetryAfterHintAppliesToTheNextDelayOnly) {
  random.fallback = 0;
  go_online();
  server.close(now, CloseReason::overloaded, 5000);
  UNSIGNED_LONGS_EQUAL(5000, listener.last_state().backoff_delay_ms);
  fire();
  fail_round();
  UNSIGNED_LONGS_EQUAL(0, listener.last_state().backoff_delay_ms);
}

TEST(SessionBackoff, RetryAfterFromAHandshakeCloseIsCappedToo) {
  random.fallback = 0;
  options.endpoint_count = 1;
  options.max_retry_after_ms = 2500;
  start();
  open();
  flush();
  server.close(now, CloseReason::overloaded, 0xFFFFFFFFu, "later");
  UNSIGNED_LONGS_EQUAL(2500, listener.last_state().backoff_delay_ms);
}

TEST(SessionBackoff, RetryAfterFromAHandshakeCloseIsHonoured) {
  random.fallback = 0;
  options.endpoint_count = 1;
  start();
  open();
  flush();
  server.close(now, CloseReason::overloaded, 3000, "later");
  ERRC_EQUAL(Errc::closed_by_server, at(listener.connect_failures, 0).reason);
  STATE_EQUAL(ClientState::backing_off, link.state());
  UNSIGNED_LONGS_EQUAL(3000, listener.last_state().backoff_delay_ms);
}

// =====================================================================
// SessionKeepAlive: heartbeats, silence, write deadline, idle timeout
// =====================================================================

TEST_GROUP_BASE(SessionKeepAlive, LinkFixture){};

TEST(SessionKeepAlive, WithoutTrafficAPingGoesOutAfterTheHeartbeat) {
  go_online();
  const Millis t = now;
  UNSIGNED_LONGLONGS_EQUAL(t + 1000, link.next_wakeup());
  link.on_timer(t + 999);
  now = t + 999;
  CHECK_TRUE(flush().empty());
  now = t + 1000;
  link.on_timer(now);
  STRCMP_EQUAL("PING", type_names(flush()).c_str());
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().heartbeats_sent);
  CHECK_TRUE(link.keep_alive().ping_outstanding());
}

TEST(SessionKeepAlive, BusinessTrafficBothWaysNeedsNoPing) {
  go_online();
  const Millis t = now;
  for (int k = 1; k <= 12; ++k) {
    run_to(t + 400 * static_cast<Millis>(k));
    const std::uint64_t seq = send_text("reading");
    flush();
    server.ack(now, seq);
  }
  UNSIGNED_LONGS_EQUAL(0, count_type(wire.all, FrameType::ping));
  UNSIGNED_LONGLONGS_EQUAL(0, link.counters().heartbeats_sent);
  UNSIGNED_LONGS_EQUAL(12, count_type(wire.all, FrameType::data));
  STATE_EQUAL(ClientState::online, link.state());
}

TEST(SessionKeepAlive, ReadIdlePingGoesOutEvenWhileTheDeviceKeepsWriting) {
  go_online();
  const Millis t = now;
  for (Millis at : {t + 300, t + 600, t + 900}) {
    run_to(at);
    send_text("x");
    flush();
  }
  // Written 100 ms ago, but nothing received for a whole interval.
  UNSIGNED_LONGLONGS_EQUAL(t + 1000, link.next_wakeup());
  run_to(t + 1000);
  STRCMP_EQUAL("HELLO,DATA,DATA,DATA,PING", type_names(wire.all).c_str());
}

TEST(SessionKeepAlive, AtMostOnePingIsOutstanding) {
  options.stable_after_ms = 60000;  // no stability wake-up in the way
  go_online();
  const Millis t = now;
  run_to(t + 1000);
  UNSIGNED_LONGS_EQUAL(1, count_type(wire.all, FrameType::ping));
  now = t + 1500;
  server.data(now, 1, "not a pong");  // life, but the PING stays unanswered
  flush();
  // A second PING would be due at t + 2500 by both idle rules; only the read deadline remains.
  UNSIGNED_LONGLONGS_EQUAL(t + 3500, link.next_wakeup());
  run_to(t + 3499);
  UNSIGNED_LONGS_EQUAL(1, count_type(wire.all, FrameType::ping));
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().heartbeats_sent);
  run_to(t + 3500);
  ERRC_EQUAL(Errc::server_silent, at(listener.disconnects, 0).reason);
}

TEST(SessionKeepAlive, PongReportsTheRoundTrip) {
  go_online();
  const Millis t = now;
  run_to(t + 1000);
  now = t + 1037;
  server.pong(now);
  UNSIGNED_LONGS_EQUAL(1, listener.heartbeats.size());
  UNSIGNED_LONGS_EQUAL(37, at(listener.heartbeats, 0));
  UNSIGNED_LONGS_EQUAL(37, link.counters().last_rtt_ms);
  CHECK_FALSE(link.keep_alive().ping_outstanding());
  // The next PING follows the interval from the last write.
  UNSIGNED_LONGLONGS_EQUAL(t + 2000, link.next_wakeup());
  run_to(t + 2000);
  UNSIGNED_LONGS_EQUAL(2, count_type(wire.all, FrameType::ping));
  now = t + 2010;
  server.pong(now);
  UNSIGNED_LONGS_EQUAL(10, at(listener.heartbeats, 1));
  UNSIGNED_LONGS_EQUAL(10, link.counters().last_rtt_ms);
}

TEST(SessionKeepAlive, UnsolicitedPongIsLifeButNoRoundTrip) {
  go_online();
  const Millis t = now;
  now = t + 500;
  server.pong(now);
  UNSIGNED_LONGS_EQUAL(0, listener.heartbeats.size());
  run_to(t + 2499);
  STATE_EQUAL(ClientState::online, link.state());
  run_to(t + 2500);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  UNSIGNED_LONGLONGS_EQUAL(2000, at(listener.disconnects, 0).since_last_rx_ms);
}

// The keep-alive state of a dead connection must not leak into the next: a
// PONG arriving before WELCOME (allowed by PROTOCOL.md 4.1) does not answer
// a PING the previous connection left unanswered.
TEST(SessionKeepAlive, PongBeforeWelcomeDoesNotAnswerThePingOfTheDeadConnection) {
  go_online();
  const Millis t = now;
  run_to(t + 1000);  // PING out, never answered
  now = t + 1500;
  drop();
  fire();
  open();
  flush();
  now += 10;
  server.pong(now);
  UNSIGNED_LONGS_EQUAL(0, listener.heartbeats.size());
  UNSIGNED_LONGS_EQUAL(0, link.counters().last_rtt_ms);
}

TEST(SessionKeepAlive, ServerPingIsAnsweredWithPong) {
  go_online();
  now += 100;
  server.ping(now);
  CHECK_FALSE(link.pending_write().empty());
  STRCMP_EQUAL("PONG", type_names(flush()).c_str());
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().heartbeats_answered);
  UNSIGNED_LONGLONGS_EQUAL(0, link.counters().heartbeats_sent);
}

TEST(SessionKeepAlive, SilentServerIsDetectedAfterExactlyTheReadTimeout) {
  go_online();
  const Millis t = now;
  run_to(t + 1999);
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGS_EQUAL(0, io.closes.size());
  run_to(t + 2000);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  const DisconnectInfo& info = at(listener.disconnects, 0);
  ERRC_EQUAL(Errc::server_silent, info.reason);
  UNSIGNED_LONGLONGS_EQUAL(2000, info.since_last_rx_ms);
  UNSIGNED_LONGLONGS_EQUAL(2000, info.online_ms);
  CHECK_FALSE(info.closed_by_server);
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  const std::vector<WireFrame> farewell = io.last_farewell();
  STRCMP_EQUAL("CLOSE", type_names(farewell).c_str());
  CLOSE_REASON_EQUAL(CloseReason::silent, at(farewell, 0).close_reason);
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().disconnects);
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().disconnects_by_reason[static_cast<int>(Errc::server_silent)]);
  STATE_EQUAL(ClientState::backing_off, link.state());
  CLOSE_ONCE();
}

namespace {

enum class Arrival { ping, pong, data, partial_data };

struct Pattern {
  const char* name;
  std::uint32_t accepted_heartbeat;  // the WELCOME's; read timeout scales with it
  std::vector<std::pair<Millis, Arrival>> arrivals;  // offsets from WELCOME
};

// Delivers `p` to a fresh session the way a shell would: each arrival as a
// read at its time, on_timer() at every next_wakeup() in between, every
// write completed at once. Checks that the link is declared dead exactly one
// read timeout after the last complete frame.
void check_silence_bound(const Pattern& p) {
  Rig rig;
  Millis now = kStart;
  CHECK_TEXT(static_cast<bool>(rig.link.start(test_options(), now)), p.name);
  rig.link.on_transport_open(now, rig.link.generation());
  rig.wire.flush(now);
  rig.server.welcome(now, kSessionId, p.accepted_heartbeat);
  const Millis online_at = now;
  const std::uint32_t read_timeout = rig.listener.online.at(0).read_timeout_ms;
  Millis last_frame = online_at;
  std::uint64_t downlink = 0;
  std::size_t next = 0;
  for (int guard = 0; rig.listener.disconnects.empty(); ++guard) {
    CHECK_TEXT(guard < 100000, p.name);
    const Millis wake = rig.link.next_wakeup();
    const Millis arrival = next < p.arrivals.size() ? online_at + p.arrivals[next].first : kNever;
    if (arrival <= wake) {
      now = arrival;
      switch (p.arrivals[next].second) {
        case Arrival::ping: rig.server.ping(now); break;
        case Arrival::pong: rig.server.pong(now); break;
        case Arrival::data: rig.server.data(now, ++downlink, "d"); break;
        case Arrival::partial_data: {
          const Bytes whole = data_frame(downlink + 1, "never completes");
          rig.server.send(now, Bytes(whole.begin(), whole.begin() + 7));
          break;
        }
      }
      if (p.arrivals[next].second != Arrival::partial_data) last_frame = now;
      ++next;
    } else {
      now = wake;
      rig.link.on_timer(now);
    }
    rig.wire.flush(now);
  }
  CHECK_TEXT(next == p.arrivals.size(), p.name);  // every arrival came before the end
  const DisconnectInfo& info = at(rig.listener.disconnects, 0);
  STRCMP_EQUAL_TEXT(errc_name(Errc::server_silent), error_name(info.reason).c_str(), p.name);
  UNSIGNED_LONGLONGS_EQUAL_TEXT(read_timeout, now - last_frame, p.name);
  UNSIGNED_LONGLONGS_EQUAL_TEXT(read_timeout, info.since_last_rx_ms, p.name);
  UNSIGNED_LONGS_EQUAL_TEXT(1, rig.io.closes.size(), p.name);
}

}  // namespace

TEST(SessionKeepAlive, SilenceIsDetectedExactlyOneReadTimeoutAfterTheLastFrameForManyPatterns) {
  std::vector<Pattern> patterns = {
      {"no traffic at all", 1000, {}},
      {"one frame right away", 1000, {{1, Arrival::data}}},
      {"around the heartbeat", 1000, {{999, Arrival::pong}, {1000, Arrival::ping}, {1001, Arrival::data}}},
      {"regular, then stops", 1000,
       {{500, Arrival::data}, {1500, Arrival::data}, {2500, Arrival::ping}, {3500, Arrival::data}}},
      {"just inside the timeout each time", 1000, {{1999, Arrival::data}, {3998, Arrival::pong}, {5997, Arrival::ping}}},
      {"a partial frame does not count", 1000, {{700, Arrival::data}, {1900, Arrival::partial_data}}},
      {"clamped heartbeat, read timeout 4000", 2000,
       {{3999, Arrival::data}, {7000, Arrival::pong}, {7001, Arrival::data}}},
  };
  Pattern dense{"every 100 ms for 3 s", 1000, {}};
  for (Millis at = 100; at <= 3000; at += 100) {
    dense.arrivals.push_back({at, at % 300 == 0 ? Arrival::ping : (at % 200 == 0 ? Arrival::pong : Arrival::data)});
  }
  patterns.push_back(dense);
  for (const Pattern& p : patterns) check_silence_bound(p);
}

TEST(SessionKeepAlive, WriteThatNeverCompletesIsAWriteTimeoutWithoutFarewell) {
  options.write_timeout_ms = 500;
  go_online();
  const Millis t = now;
  now = t + 100;
  send_text("stuck");
  CHECK_TRUE(wire.start(now));  // the write starts and never completes
  UNSIGNED_LONGLONGS_EQUAL(t + 600, link.next_wakeup());
  link.on_timer(t + 599);
  STATE_EQUAL(ClientState::online, link.state());
  now = t + 600;
  link.on_timer(now);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::write_timeout, at(listener.disconnects, 0).reason);
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CHECK_TRUE(at(io.closes, 0).farewell.empty());  // bytes mid-write: a CLOSE would corrupt the stream
  STATE_EQUAL(ClientState::backing_off, link.state());
  CLOSE_ONCE();
}

TEST(SessionKeepAlive, TheKernelsUserTimeoutIsReportedAsTheWriteTimeout) {
  // TCP_USER_TIMEOUT (set to write_timeout_ms) fired before our own timer:
  // the socket reports ETIMEDOUT, the application hears write_timeout.
  go_online();
  send_text("unacknowledged");
  drop(std::make_error_code(std::errc::timed_out));
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::write_timeout, at(listener.disconnects, 0).reason);
  CLOSE_ONCE();
}

TEST(SessionKeepAlive, WritesThatCompleteInTimeNeverTimeOut) {
  options.write_timeout_ms = 500;
  go_online();
  const Millis t = now;
  now = t + 100;
  send_text("slow");
  CHECK_TRUE(wire.start(now));
  now = t + 599;
  wire.complete(now);
  link.on_timer(t + 600);
  STATE_EQUAL(ClientState::online, link.state());
  CHECK_TRUE(link.next_wakeup() > t + 600);
}

TEST(SessionKeepAlive, IdleTimeoutClosesALinkThatOnlyCarriesHeartbeats) {
  options.idle_timeout_ms = 5000;
  go_online();
  const Millis t = now;
  // Heartbeats both ways: the device's PINGs answered, and the server's PINGs.
  for (Millis at = t + 500; at < t + 5000; at += 1000) {
    run_to(at, true);
    server.ping(now);
    flush();
  }
  run_to(t + 4999, true);
  STATE_EQUAL(ClientState::online, link.state());
  CHECK_TRUE(count_type(wire.all, FrameType::ping) >= 4);  // heartbeats flowed and were answered
  CHECK_TRUE(count_type(wire.all, FrameType::pong) >= 4);
  run_to(t + 5000, true);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::idle_timeout, at(listener.disconnects, 0).reason);
  const std::vector<WireFrame> farewell = io.last_farewell();
  STRCMP_EQUAL("CLOSE", type_names(farewell).c_str());
  CLOSE_REASON_EQUAL(CloseReason::idle_timeout, at(farewell, 0).close_reason);
}

TEST(SessionKeepAlive, BusinessTrafficEitherWayDefersTheIdleTimeout) {
  options.idle_timeout_ms = 5000;
  options.ack_timeout_ms = 10000;  // this server takes 6 s to acknowledge, on purpose
  go_online();
  const Millis t = now;
  run_to(t + 3000, true);
  const std::uint64_t seq = send_text("uplink");  // device -> server DATA
  flush();
  run_to(t + 6000, true);
  server.data(now, 1, "downlink");  // server -> device DATA (and the device's ACK)
  flush();
  run_to(t + 9000, true);
  server.ack(now, seq);  // server -> device ACK
  run_to(t + 13999, true);
  STATE_EQUAL(ClientState::online, link.state());
  run_to(t + 14000, true);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::idle_timeout, at(listener.disconnects, 0).reason);
}

// =====================================================================
// SessionClose: close exactly once, stale generations ignored
// =====================================================================

TEST_GROUP_BASE(SessionClose, LinkFixture){};

TEST(SessionClose, TransportErrorThenTimerClosesOnce) {
  go_online();
  const Link::Generation g = gen();
  now += 100;
  drop();
  UNSIGNED_LONGS_EQUAL(1, io.closes_of(g));
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::connection_closed, at(listener.disconnects, 0).reason);
  CHECK_TRUE(at(io.closes, 0).farewell.empty());  // the peer is gone
  link.on_timer(now);  // the keep-alive timer armed before fires late
  link.on_transport_error(now, g, peer_closed());
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  STATE_EQUAL(ClientState::backing_off, link.state());
  CLOSE_ONCE();
}

TEST(SessionClose, ServerCloseThenTransportErrorClosesOnce) {
  go_online();
  const Link::Generation g = gen();
  server.close(now, CloseReason::going_away, 0, "bye");
  UNSIGNED_LONGS_EQUAL(1, io.closes_of(g));
  link.on_transport_error(now, g, peer_closed());  // the socket then reports EOF
  server.send_on(now, g, data_frame(1, "late"));
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::closed_by_server, at(listener.disconnects, 0).reason);
  UNSIGNED_LONGS_EQUAL(0, listener.messages.size());
  CLOSE_ONCE();
}

TEST(SessionClose, ErrorAndCloseInOneReadCloseOnce) {
  go_online();
  server.send(now, data_frame(1, "ok") + garbage_bytes() + close_frame(CloseReason::going_away));
  UNSIGNED_LONGS_EQUAL(1, listener.messages.size());
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::unknown_frame_type, at(listener.disconnects, 0).reason);
  CHECK_TRUE(link.pending_write().empty());  // no ACK on a closed connection
  CLOSE_ONCE();
}

TEST(SessionClose, StopThenLateEventsOfTheOldGenerationChangeNothing) {
  go_online();
  const Link::Generation g = gen();
  link.stop(now);
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  const std::size_t events = listener.events.size();
  server.send_on(now, g, data_frame(1, "late") + ping_frame());
  link.on_write_complete(now, g, 100);
  link.on_transport_error(now, g, peer_closed());
  link.on_transport_open(now, g);
  link.on_transport_failed(now, g, refused());
  link.on_timer(now + 100000);
  UNSIGNED_LONGS_EQUAL(events, listener.events.size());
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  UNSIGNED_LONGS_EQUAL(1, io.opens.size());
  CHECK_TRUE(link.pending_write().empty());
  STATE_EQUAL(ClientState::stopped, link.state());
  CLOSE_ONCE();
}

TEST(SessionClose, EventsOfAnOldConnectionDoNotTouchTheNewOne) {
  go_online();
  const Link::Generation old = gen();
  drop();
  go_online(kSessionId, 0, 1);
  const Link::Generation current = gen();
  CHECK_TRUE(old != current);
  const std::size_t events = listener.events.size();
  const Counters before = link.counters();
  server.send_on(now, old, data_frame(1, "stale") + close_frame(CloseReason::going_away));
  UNSIGNED_LONGLONGS_EQUAL(before.bytes_received, link.counters().bytes_received);
  UNSIGNED_LONGLONGS_EQUAL(before.frames_received, link.counters().frames_received);
  link.on_transport_error(now, old, peer_closed());
  link.on_transport_open(now, old);
  UNSIGNED_LONGS_EQUAL(events, listener.events.size());
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGS_EQUAL(0, io.closes_of(current));
  UNSIGNED_LONGLONGS_EQUAL(0, link.last_downlink_seq());
  // A late write completion of the old connection must not complete the new one's write.
  send_text("fresh");
  CHECK_TRUE(wire.start(now));
  const std::uint64_t sent = link.counters().bytes_sent;
  link.on_write_complete(now, old, 100);
  UNSIGNED_LONGLONGS_EQUAL(sent, link.counters().bytes_sent);
  CHECK_TRUE(link.pending_write().empty());  // still in flight
  STRCMP_EQUAL("DATA", type_names(wire.complete(now)).c_str());
  CLOSE_ONCE();
}

TEST(SessionClose, LateCompletionsOfAFailedAttemptAreIgnored) {
  start();
  const Link::Generation first = gen();
  fail_attempt();
  link.on_transport_open(now, first);
  STATE_EQUAL(ClientState::connecting, link.state());
  link.on_transport_failed(now, first, refused());
  link.on_transport_error(now, first, peer_closed());
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  UNSIGNED_LONGS_EQUAL(2, io.opens.size());
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CLOSE_ONCE();
}

TEST(SessionClose, TimerFiredTwiceAtTheDeadlineClosesOnce) {
  go_online();
  const Millis t = now;
  run_to(t + 2000);
  link.on_timer(t + 2000);
  link.on_timer(t + 2000);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
}

TEST(SessionClose, EveryConnectionEndClosesExactlyOnceThroughAMixedLife) {
  start();
  fail_attempt();                             // endpoint 0 refused
  now += 2000;                                // endpoint 1 never opens
  link.on_timer(now);
  CLOSE_ONCE();
  go_online();                                // after the backoff
  server.garbage(now);                        // protocol error online
  CLOSE_ONCE();
  fire();
  open();
  flush();
  fire();                                     // handshake timeout: endpoint 1 next
  CLOSE_ONCE();
  open();
  flush();
  server.welcome(now, kSessionId, 1000);
  run_to(now + 2000);                         // server silent
  CLOSE_ONCE();
  go_online();
  server.close(now, CloseReason::going_away); // closed by server
  CLOSE_ONCE();
  go_online();
  link.stop(now);                          // stopped
  CLOSE_ONCE();
  UNSIGNED_LONGS_EQUAL(io.opens.size(), io.closes.size());
  UNSIGNED_LONGS_EQUAL(listener.online.size(), listener.disconnects.size());
  UNSIGNED_LONGLONGS_EQUAL(link.counters().connects, link.counters().disconnects);
}

// =====================================================================
// SessionStop: stop() from every state, restart
// =====================================================================

TEST_GROUP_BASE(SessionStop, LinkFixture){};

TEST(SessionStop, FromIdle) {
  link.stop(now);
  STATE_EQUAL(ClientState::stopped, link.state());
  UNSIGNED_LONGS_EQUAL(1, listener.states.size());
  ERRC_EQUAL(Errc::stopped, at(listener.states, 0).reason);
  UNSIGNED_LONGS_EQUAL(0, io.closes.size());
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
  UNSIGNED_LONGLONGS_EQUAL(kNever, link.next_wakeup());
}

TEST(SessionStop, FromConnecting) {
  start();
  link.stop(now);
  STATE_EQUAL(ClientState::stopped, link.state());
  ERRC_EQUAL(Errc::stopped, listener.last_state().reason);
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CHECK_TRUE(at(io.closes, 0).farewell.empty());
  UNSIGNED_LONGS_EQUAL(0, listener.connect_failures.size());
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
  CHECK_FALSE(link.transport_active());
  UNSIGNED_LONGLONGS_EQUAL(kNever, link.next_wakeup());
  CLOSE_ONCE();
}

TEST(SessionStop, FromHandshaking) {
  start();
  open();
  flush();
  link.stop(now);
  STATE_EQUAL(ClientState::stopped, link.state());
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CHECK_TRUE(at(io.closes, 0).farewell.empty());  // CLOSE(normal) only when online
  UNSIGNED_LONGS_EQUAL(0, listener.connect_failures.size());
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
  UNSIGNED_LONGLONGS_EQUAL(kNever, link.next_wakeup());
  CLOSE_ONCE();
}

TEST(SessionStop, FromOnlineSaysGoodbyeAndReportsOneDisconnect) {
  go_online();
  now += 250;
  link.stop(now);
  STATE_EQUAL(ClientState::stopped, link.state());
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  const std::vector<WireFrame> farewell = io.last_farewell();
  STRCMP_EQUAL("CLOSE", type_names(farewell).c_str());
  CLOSE_REASON_EQUAL(CloseReason::normal, at(farewell, 0).close_reason);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::stopped, at(listener.disconnects, 0).reason);
  UNSIGNED_LONGLONGS_EQUAL(250, at(listener.disconnects, 0).online_ms);
  UNSIGNED_LONGS_EQUAL(0, listener.count_state(ClientState::backing_off));
  const std::size_t n = listener.events.size();
  STRCMP_EQUAL("disconnected:stopped", at(listener.events, n - 2).c_str());
  STRCMP_EQUAL("state:stopped", at(listener.events, n - 1).c_str());
  ERRC_EQUAL(Errc::stopped, listener.last_state().reason);
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().disconnects_by_reason[static_cast<int>(Errc::stopped)]);
  UNSIGNED_LONGLONGS_EQUAL(kNever, link.next_wakeup());
  CLOSE_ONCE();
}

TEST(SessionStop, FromOnlineWithAWriteInFlightSkipsTheFarewell) {
  go_online();
  send_text("half written");
  CHECK_TRUE(wire.start(now));
  link.stop(now);
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CHECK_TRUE(at(io.closes, 0).farewell.empty());
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
}

TEST(SessionStop, FromBackingOff) {
  start();
  fail_round();
  STATE_EQUAL(ClientState::backing_off, link.state());
  link.stop(now);
  STATE_EQUAL(ClientState::stopped, link.state());
  UNSIGNED_LONGS_EQUAL(2, io.closes.size());  // only the two failed attempts
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
  UNSIGNED_LONGLONGS_EQUAL(kNever, link.next_wakeup());
  link.on_timer(now + 100000);  // the backoff timer fires anyway
  UNSIGNED_LONGS_EQUAL(2, io.opens.size());
  STATE_EQUAL(ClientState::stopped, link.state());
  CLOSE_ONCE();
}

TEST(SessionStop, WhenStoppedIsANoOp) {
  go_online();
  link.stop(now);
  const std::size_t events = listener.events.size();
  link.stop(now + 10);
  UNSIGNED_LONGS_EQUAL(events, listener.events.size());
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  UNSIGNED_LONGLONGS_EQUAL(kNever, link.next_wakeup());
}

TEST(SessionStop, AfterRetriesExhaustedIsANoOp) {
  options.backoff.max_attempts = 1;
  start();
  fail_round();
  fire();
  fail_round();
  ERRC_EQUAL(Errc::retries_exhausted, listener.last_state().reason);
  const std::size_t events = listener.events.size();
  link.stop(now);
  UNSIGNED_LONGS_EQUAL(events, listener.events.size());
}

TEST(SessionStop, RestartAfterStopConnectsAgain) {
  go_online();
  link.stop(now);
  now += 1000;
  start();
  STATE_EQUAL(ClientState::connecting, link.state());
  UNSIGNED_LONGS_EQUAL(2, io.opens.size());
  UNSIGNED_LONGS_EQUAL(0, at(io.opens, 1).endpoint_index);
  UNSIGNED_LONGLONGS_EQUAL(now + 2000, link.next_wakeup());
  open();
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("HELLO", type_names(written).c_str());
  server.welcome(now, kSessionId, 1000);
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGLONGS_EQUAL(2, link.counters().connects);
  CLOSE_ONCE();
}

TEST(SessionStop, RestartAfterRetriesExhaustedStartsWithAFreshBackoff) {
  options.backoff.max_attempts = 1;
  start();
  fail_round();
  fire();
  fail_round();
  STATE_EQUAL(ClientState::stopped, link.state());
  start();
  fail_round();
  STATE_EQUAL(ClientState::backing_off, link.state());
  UNSIGNED_LONGS_EQUAL(1, listener.last_state().attempt);
  UNSIGNED_LONGS_EQUAL(200, listener.last_state().backoff_delay_ms);
}

// =====================================================================
// SessionProtocol: decode errors, frames out of place, sequence rules
// =====================================================================

TEST_GROUP_BASE(SessionProtocol, LinkFixture){};

TEST(SessionProtocol, GarbageOnlineIsTheDecodersErrorWithCloseProtocolError) {
  go_online();
  server.garbage(now);
  expect_online_failure(Errc::unknown_frame_type, CloseReason::protocol_error);
}

TEST(SessionProtocol, AProtocolErrorDuringAWriteSendsTheCloseOnceTheWriteCompletes) {
  go_online();
  send_text("in flight");
  CHECK_TRUE(wire.start(now));  // whole frames, handed to the transport
  server.garbage(now);
  // Not closed yet: closing now would lose the CLOSE (or cut the stream).
  UNSIGNED_LONGS_EQUAL(0, io.closes.size());
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
  send_text("queued meanwhile");
  server.ping(now);  // nothing read after the error counts
  const std::vector<WireFrame> written = wire.complete(now);
  STRCMP_EQUAL("DATA", type_names(written).c_str());
  CHECK_TRUE(wire.ok);
  expect_online_failure(Errc::unknown_frame_type, CloseReason::protocol_error);
  // Both messages are still queued: they go again on the next connection.
  expect_resent_in_order(1, {"in flight", "queued meanwhile"});
}

TEST(SessionProtocol, AProtocolErrorDuringAWriteThatEndsMidFrameClosesWithoutAClose) {
  go_online();
  send_text("in flight");
  CHECK_TRUE(wire.start(now));
  server.garbage(now);
  link.on_write_complete(now, link.generation(), 3);  // a partial write: the stream is mid-frame
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::unknown_frame_type, at(listener.disconnects, 0).reason);
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CHECK_TRUE(at(io.closes, 0).farewell.empty());  // a CLOSE now would corrupt the stream
  CLOSE_ONCE();
}

TEST(SessionProtocol, AProtocolErrorDuringAWriteThatNeverCompletesClosesAtTheWriteDeadline) {
  options.write_timeout_ms = 500;
  go_online();
  send_text("stuck");
  CHECK_TRUE(wire.start(now));
  const Millis t = now;
  server.garbage(now);
  UNSIGNED_LONGLONGS_EQUAL(t + 500, link.next_wakeup());
  link.on_timer(t + 499);
  UNSIGNED_LONGS_EQUAL(0, io.closes.size());
  now = t + 500;
  link.on_timer(now);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::unknown_frame_type, at(listener.disconnects, 0).reason);  // the cause, not the deadline
  UNSIGNED_LONGS_EQUAL(1, io.closes.size());
  CHECK_TRUE(at(io.closes, 0).farewell.empty());
  STATE_EQUAL(ClientState::backing_off, link.state());
  CLOSE_ONCE();
}

TEST(SessionProtocol, AFailedResolveReportsTheResolversOwnErrorAsTheCause) {
  start();
  const std::error_code resolver_said = std::make_error_code(std::errc::host_unreachable);
  link.on_transport_failed(now, gen(), make_error_code(Errc::resolve_failed), resolver_said);
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  ERRC_EQUAL(Errc::resolve_failed, at(listener.connect_failures, 0).reason);
  CHECK_TRUE(at(listener.connect_failures, 0).cause == resolver_said);
  fail_attempt();  // a plain failure has no separate cause
  CHECK_FALSE(at(listener.connect_failures, 1).cause);
}

TEST(SessionProtocol, GarbageDuringHandshakeFailsTheAttemptWithCloseProtocolError) {
  start();
  open();
  flush();
  server.garbage(now);
  expect_handshake_failure(Errc::unknown_frame_type, CloseReason::protocol_error);
}

TEST(SessionProtocol, WelcomeHeartbeatsOutsideTheDevicesBoundsAreRefusedBeforeAnythingIsTaken) {
  // 1 ms would make the device PING a thousand times a second; 65,535,000 ms
  // (18 hours) would switch its silence detection off.
  options.heartbeat_interval_ms = 30000;  // a real device's
  options.read_timeout_ms = 60000;
  for (std::uint32_t hostile : {1u, 499u, 600001u, 65535000u}) {
    Rig rig;
    rig.start_and_welcome(options, now, hostile, kSessionId);
    const std::string name = "heartbeat " + std::to_string(hostile);
    UNSIGNED_LONGS_EQUAL_TEXT(0, rig.listener.online.size(), name.c_str());
    UNSIGNED_LONGS_EQUAL_TEXT(1, rig.listener.connect_failures.size(), name.c_str());
    ERRC_EQUAL(Errc::protocol_error, at(rig.listener.connect_failures, 0).reason);
    const std::vector<WireFrame> farewell = rig.io.last_farewell();
    STRCMP_EQUAL_TEXT("CLOSE", type_names(farewell).c_str(), name.c_str());
    CLOSE_REASON_EQUAL(CloseReason::protocol_error, at(farewell, 0).close_reason);
    UNSIGNED_LONGLONGS_EQUAL_TEXT(0, rig.link.session_id(), name.c_str());  // nothing of it was taken
    STATE_EQUAL(ClientState::connecting, rig.link.state());          // the next endpoint, at once
    CHECK_TRUE_TEXT(rig.listener.logged("outside this device's bounds"), name.c_str());
  }
}

TEST(SessionProtocol, ExplicitHeartbeatBoundsReplaceTheAutomaticOnes) {
  options.server_heartbeat_min_ms = 800;
  options.server_heartbeat_max_ms = 1200;
  for (std::uint32_t heartbeat : {799u, 800u, 1200u, 1201u}) {
    Rig rig;
    rig.start_and_welcome(options, now, heartbeat, kSessionId);
    const bool inside = heartbeat >= 800 && heartbeat <= 1200;
    UNSIGNED_LONGS_EQUAL_TEXT(inside ? 1 : 0, rig.listener.online.size(), std::to_string(heartbeat).c_str());
  }
}

TEST(SessionProtocol, AutomaticBoundsNeverRefuseTheHeartbeatTheDeviceAskedFor) {
  Options o = options;
  o.heartbeat_interval_ms = 20;  // a test's; below the automatic floor of 500
  o.read_timeout_ms = 40;
  UNSIGNED_LONGS_EQUAL(20, o.accepted_server_heartbeat_min_ms());
  o.heartbeat_interval_ms = 3600000;  // an hour; above the automatic ceiling
  o.read_timeout_ms = 7200000;
  UNSIGNED_LONGS_EQUAL(3600000, o.accepted_server_heartbeat_max_ms());
}

TEST(SessionProtocol, WelcomeHeartbeatsAtTheDevicesBoundsAreAccepted) {
  options.heartbeat_interval_ms = 30000;
  options.read_timeout_ms = 60000;
  for (std::uint32_t edge : {500u, 600000u}) {
    Rig rig;
    rig.start_and_welcome(options, now, edge, kSessionId);
    STATE_EQUAL(ClientState::online, rig.link.state());
    UNSIGNED_LONGS_EQUAL(edge, at(rig.listener.online, 0).heartbeat_ms);
  }
}

TEST(SessionProtocol, FrameTooLargeIsAnsweredWithCloseFrameTooLarge) {
  go_online();
  // DATA announcing 4 + 4093 bytes: one over the maximum frame.
  const std::size_t body = kMaxFrameSize - kFrameHeaderSize + 1;
  server.send(now, Bytes{0x03, 0x00, static_cast<std::uint8_t>(body >> 8), static_cast<std::uint8_t>(body & 0xFF)});
  expect_online_failure(Errc::frame_too_large, CloseReason::frame_too_large);
}

TEST(SessionProtocol, UnknownControlFrameIsAProtocolError) {
  go_online();
  server.send(now, Bytes{0x00, 0x07});
  expect_online_failure(Errc::unknown_control_frame, CloseReason::protocol_error);
}

TEST(SessionProtocol, ReservedFlagsAreAProtocolError) {
  go_online();
  server.send(now, Bytes{0x04, 0x80, 0x00, 0x08});
  expect_online_failure(Errc::reserved_flags_set, CloseReason::protocol_error);
}

TEST(SessionProtocol, MalformedBodyIsAProtocolError) {
  go_online();
  server.send(now, Bytes{0x04, 0x00, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 1});  // ACK with 7 body bytes
  expect_online_failure(Errc::malformed_frame, CloseReason::protocol_error);
}

// PROTOCOL.md section 5: a WELCOME of another version is answered with
// CLOSE unsupported_version (0x02), not a generic protocol_error.
TEST(SessionProtocol, WelcomeWithAnotherVersionIsAnsweredWithCloseUnsupportedVersion) {
  start();
  open();
  flush();
  Bytes welcome = welcome_frame(kSessionId, 1000);
  welcome[kFrameHeaderSize] = 2;  // version byte
  server.send(now, welcome);
  expect_handshake_failure(Errc::unsupported_version, CloseReason::unsupported_version);
}

TEST(SessionProtocol, DataBeforeWelcomeIsAProtocolError) {
  start();
  open();
  flush();
  server.data(now, 1, "too early");
  expect_handshake_failure(Errc::protocol_error, CloseReason::protocol_error);
  UNSIGNED_LONGS_EQUAL(0, listener.messages.size());
}

TEST(SessionProtocol, AckBeforeWelcomeIsAProtocolError) {
  start();
  open();
  flush();
  server.ack(now, 1);
  expect_handshake_failure(Errc::protocol_error, CloseReason::protocol_error);
}

TEST(SessionProtocol, SecondWelcomeIsAProtocolError) {
  go_online();
  server.welcome(now, kSessionId, 1000);
  expect_online_failure(Errc::protocol_error, CloseReason::protocol_error);
  UNSIGNED_LONGS_EQUAL(1, listener.online.size());
}

TEST(SessionProtocol, HelloSentToTheDeviceIsAProtocolErrorOnline) {
  go_online();
  server.send(now, hello_frame("server", 1000));
  expect_online_failure(Errc::protocol_error, CloseReason::protocol_error);
}

TEST(SessionProtocol, HelloSentToTheDeviceIsAProtocolErrorDuringHandshake) {
  start();
  open();
  flush();
  server.send(now, hello_frame("server", 1000));
  expect_handshake_failure(Errc::protocol_error, CloseReason::protocol_error);
}

TEST(SessionProtocol, AckForASeqNeverSentIsASequenceError) {
  go_online();
  send_text("one");
  send_text("two");
  flush();
  server.ack(now, 3);
  expect_online_failure(Errc::sequence_error, CloseReason::sequence_error);
  UNSIGNED_LONGS_EQUAL(0, listener.acks.size());
  UNSIGNED_LONGS_EQUAL(2, link.queued_messages());
  expect_resent_in_order(1, {"one", "two"});
}

TEST(SessionProtocol, AckWhenNothingWasSentIsASequenceError) {
  go_online();
  server.ack(now, 1);
  expect_online_failure(Errc::sequence_error, CloseReason::sequence_error);
}

TEST(SessionProtocol, AckGoingBackwardsIsASequenceError) {
  go_online();
  send_text("one");
  send_text("two");
  flush();
  send_text("three");
  flush();
  server.ack(now, 2);
  server.ack(now, 1);
  expect_online_failure(Errc::sequence_error, CloseReason::sequence_error);
  // 1 and 2 were acknowledged before the bad ACK: only "three" is still queued.
  const std::vector<std::uint64_t> acked = {1, 2};
  CHECK_TRUE(acked == listener.acks);
  UNSIGNED_LONGS_EQUAL(1, link.queued_messages());
  expect_resent_in_order(3, {"three"});
}

TEST(SessionProtocol, RepeatedAckIsHarmless) {
  go_online();
  send_text("one");
  send_text("two");
  flush();
  server.ack(now, 2);
  server.ack(now, 2);
  STATE_EQUAL(ClientState::online, link.state());
  const std::vector<std::uint64_t> expected = {1, 2};  // each message once, not again for the repeat
  CHECK_TRUE(expected == listener.acks);
  UNSIGNED_LONGLONGS_EQUAL(2, link.counters().messages_acked);
  UNSIGNED_LONGLONGS_EQUAL(2, link.last_acked_seq());
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
}

// A new session numbered from 11: seqs 11..13 carry the ids 1..3, so the
// test tells an id from a seq.
TEST(SessionProtocol, CumulativeAckReportsEveryMessageItCoversOnceByIdInOrder) {
  go_online(kSessionId, 0, 11);
  UNSIGNED_LONGLONGS_EQUAL(1, send_text("one"));
  UNSIGNED_LONGLONGS_EQUAL(2, send_text("two"));
  UNSIGNED_LONGLONGS_EQUAL(3, send_text("three"));
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("DATA,DATA,DATA", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(11, at(written, 0).seq);
  UNSIGNED_LONGLONGS_EQUAL(13, at(written, 2).seq);
  server.ack(now, 11);
  const std::vector<std::uint64_t> first = {1};
  CHECK_TRUE(first == listener.acks);
  server.ack(now, 13);
  const std::vector<std::uint64_t> all = {1, 2, 3};
  CHECK_TRUE(all == listener.acks);
  UNSIGNED_LONGLONGS_EQUAL(13, link.last_acked_seq());
  UNSIGNED_LONGLONGS_EQUAL(3, link.counters().messages_acked);
  UNSIGNED_LONGS_EQUAL(0, link.queued_messages());
}

TEST(SessionProtocol, DownlinkGapIsASequenceError) {
  go_online();
  server.data(now, 1, "a");
  server.data(now, 3, "c");
  expect_online_failure(Errc::sequence_error, CloseReason::sequence_error);
  UNSIGNED_LONGS_EQUAL(1, listener.messages.size());
}

TEST(SessionProtocol, DownlinkDuplicateIsAcknowledgedAgainButNotDeliveredTwice) {
  go_online();
  server.data(now, 1, "a");
  server.data(now, 1, "a");
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
  UNSIGNED_LONGS_EQUAL(1, listener.messages.size());
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().messages_received);
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().downlink_duplicates);
  UNSIGNED_LONGLONGS_EQUAL(1, link.last_downlink_seq());
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("ACK,ACK", type_names(written).c_str());  // one per read, the duplicate's included
  UNSIGNED_LONGLONGS_EQUAL(1, at(written, 0).seq);
  UNSIGNED_LONGLONGS_EQUAL(1, at(written, 1).seq);
  // The next new one is still expected at 2.
  server.data(now, 2, "b");
  UNSIGNED_LONGS_EQUAL(2, listener.messages.size());
  STRCMP_EQUAL("b", last(listener.messages).payload.c_str());
}

TEST(SessionProtocol, DownlinkNotStartingAtOneIsASequenceError) {
  go_online();
  server.data(now, 2, "b");
  expect_online_failure(Errc::sequence_error, CloseReason::sequence_error);
  UNSIGNED_LONGS_EQUAL(0, listener.messages.size());
}

TEST(SessionProtocol, ResumingWelcomeExpectingMoreThanWasSentIsASequenceError) {
  go_online();
  send_text("one");
  send_text("two");  // highest assigned 2: the server may expect at most 3
  flush();
  drop();
  fire();
  open();
  flush();
  server.welcome(now, kSessionId, 1000, 4);
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  ERRC_EQUAL(Errc::sequence_error, at(listener.connect_failures, 0).reason);
  const std::vector<WireFrame> farewell = io.last_farewell();
  STRCMP_EQUAL("CLOSE", type_names(farewell).c_str());
  CLOSE_REASON_EQUAL(CloseReason::sequence_error, at(farewell, 0).close_reason);
  UNSIGNED_LONGS_EQUAL(1, listener.online.size());
}

TEST(SessionProtocol, ResumingWelcomeExpectingTheNextUnsentSeqIsFine) {
  go_online();
  send_text("one");
  send_text("two");
  flush();
  drop();
  fire();
  open();
  flush();
  server.welcome(now, kSessionId, 1000, 3);
  STATE_EQUAL(ClientState::online, link.state());
  CHECK_TRUE(at(listener.online, 1).resumed);
  UNSIGNED_LONGLONGS_EQUAL(3, at(listener.online, 1).next_uplink_seq);
  UNSIGNED_LONGLONGS_EQUAL(2, link.last_acked_seq());
  UNSIGNED_LONGLONGS_EQUAL(3, send_text("three"));
}

TEST(SessionProtocol, ServerCloseWithAnUnknownReasonIsReportedNumerically) {
  go_online();
  server.close(now, static_cast<CloseReason>(0x42), 0, "future");
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  CHECK_TRUE(at(listener.disconnects, 0).closed_by_server);
  UNSIGNED_LONGS_EQUAL(0x42, static_cast<unsigned>(at(listener.disconnects, 0).server_reason));
}

// =====================================================================
// SessionDownlink: delivery, batched ACK, resume positions
// =====================================================================

// =====================================================================
// SessionReset: a session the server will not resume is given up
// =====================================================================

TEST_GROUP_BASE(SessionReset, LinkFixture) {
  // Online in kSessionId with "a", "b", "c" written as seq 1..3 and not
  // acknowledged, then the link drops; the session backs off.
  void three_unacknowledged_then_a_drop() {
    go_online();
    send_text("a");
    send_text("b");
    send_text("c");
    flush();
    drop();
    STATE_EQUAL(ClientState::backing_off, link.state());
  }
  // The next attempt's HELLO, and a WELCOME resuming kSessionId that
  // expects `next_uplink_seq` (beyond seq 3: messages never sent).
  WireFrame attempt_answered_by_a_welcome_ahead() {
    if (link.state() == ClientState::backing_off) fire();
    open();
    const std::vector<WireFrame> hello = flush();
    server.welcome(now, kSessionId, options.heartbeat_interval_ms, 9);
    return at(hello, 0);
  }
};

TEST(SessionReset, AResumeRefusedTwiceInARowOpensANewSessionAndSendsTheStoredMessagesThere) {
  three_unacknowledged_then_a_drop();
  const WireFrame first = attempt_answered_by_a_welcome_ahead();  // endpoint 0: refused once
  UNSIGNED_LONGLONGS_EQUAL(kSessionId, first.session_id);
  UNSIGNED_LONGS_EQUAL(0, listener.session_resets.size());
  const WireFrame second = attempt_answered_by_a_welcome_ahead();  // endpoint 1, at once: refused again
  UNSIGNED_LONGLONGS_EQUAL(kSessionId, second.session_id);
  UNSIGNED_LONGS_EQUAL(1, listener.session_resets.size());
  UNSIGNED_LONGLONGS_EQUAL(kSessionId, at(listener.session_resets, 0).abandoned_session_id);
  CHECK_TRUE(SessionResetCause::resume_refused == at(listener.session_resets, 0).cause);
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().session_resets);
  CHECK_TRUE(listener.logged("abandoned"));
  UNSIGNED_LONGLONGS_EQUAL(0, link.session_id());

  // The next round asks for a new session and sends everything stored there.
  fire();
  open();
  const std::vector<WireFrame> hello = flush();
  UNSIGNED_LONGLONGS_EQUAL(0, at(hello, 0).session_id);
  UNSIGNED_LONGLONGS_EQUAL(0, at(hello, 0).last_downlink_seq);
  server.welcome(now, kSessionId + 1, options.heartbeat_interval_ms, 1);
  STATE_EQUAL(ClientState::online, link.state());
  CHECK_FALSE(last(listener.online).resumed);
  const std::vector<WireFrame> sent = flush();
  STRCMP_EQUAL("DATA,DATA,DATA", type_names(sent).c_str());
  UNSIGNED_LONGLONGS_EQUAL(1, at(sent, 0).seq);
  STRCMP_EQUAL("a", at(sent, 0).payload.c_str());
  STRCMP_EQUAL("c", at(sent, 2).payload.c_str());
  server.ack(now, 3);
  UNSIGNED_LONGS_EQUAL(3, listener.acks.size());  // none lost
}

TEST(SessionReset, OneRefusalFollowedByAResumeKeepsTheSessionAndStartsTheCountOver) {
  three_unacknowledged_then_a_drop();
  (void)attempt_answered_by_a_welcome_ahead();
  open();  // endpoint 1 resumes properly
  flush();
  server.welcome(now, kSessionId, options.heartbeat_interval_ms, 1);
  STATE_EQUAL(ClientState::online, link.state());
  CHECK_TRUE(last(listener.online).resumed);
  flush();
  drop();
  (void)attempt_answered_by_a_welcome_ahead();  // one refusal again: not two in a row
  UNSIGNED_LONGS_EQUAL(0, listener.session_resets.size());
  UNSIGNED_LONGLONGS_EQUAL(kSessionId, link.session_id());
}

TEST(SessionReset, TwoCloseSequenceErrorsDuringTheHandshakeOfAResumeOpenANewSession) {
  three_unacknowledged_then_a_drop();
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (link.state() == ClientState::backing_off) fire();
    open();
    UNSIGNED_LONGLONGS_EQUAL(kSessionId, at(flush(), 0).session_id);
    server.close(now, CloseReason::sequence_error, 0, "no");
  }
  UNSIGNED_LONGS_EQUAL(1, listener.session_resets.size());
  fire();
  open();
  UNSIGNED_LONGLONGS_EQUAL(0, at(flush(), 0).session_id);
}

TEST(SessionReset, ACloseSequenceErrorOnANewSessionIsNotARefusedResume) {
  options.endpoint_count = 1;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (link.state() == ClientState::idle) start();
    if (link.state() == ClientState::backing_off) fire();
    open();
    flush();
    server.close(now, CloseReason::sequence_error, 0, "no");
  }
  UNSIGNED_LONGS_EQUAL(0, listener.session_resets.size());
}

TEST(SessionReset, ASessionNearTheSequenceLimitIsReplacedOnPurposeAtTheNextConnection) {
  go_online(kSessionId, 0, Link::kSessionSequenceLimit);
  send_text("late");
  flush();
  drop();
  fire();
  open();
  const std::vector<WireFrame> hello = flush();
  UNSIGNED_LONGLONGS_EQUAL(0, at(hello, 0).session_id);
  UNSIGNED_LONGS_EQUAL(1, listener.session_resets.size());
  CHECK_TRUE(SessionResetCause::sequence_limit == at(listener.session_resets, 0).cause);
  server.welcome(now, kSessionId + 1, options.heartbeat_interval_ms, 1);
  UNSIGNED_LONGLONGS_EQUAL(1, at(flush(), 0).seq);  // "late", numbered in the new session
}

// =====================================================================
// SessionAckDeadline: a server that keeps the link alive but acknowledges
// nothing is a dead link too
// =====================================================================

TEST_GROUP_BASE(SessionAckDeadline, LinkFixture){};

TEST(SessionAckDeadline, AServerThatAnswersPingsButNeverAcknowledgesIsLeftAfterTheAckTimeout) {
  go_online();
  const Millis sent_at = now;
  send_text("stuck");
  flush();
  // Automatic: twice the read timeout (2000 ms in the demo timings).
  const Millis deadline = sent_at + 2 * options.read_timeout_ms;
  run_to(deadline - 1, /*answer_pings=*/true);
  STATE_EQUAL(ClientState::online, link.state());
  run_to(deadline, /*answer_pings=*/true);
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());
  ERRC_EQUAL(Errc::ack_timeout, at(listener.disconnects, 0).reason);
  const std::vector<WireFrame> farewell = io.last_farewell();
  STRCMP_EQUAL("CLOSE", type_names(farewell).c_str());
  CLOSE_REASON_EQUAL(CloseReason::protocol_error, at(farewell, 0).close_reason);
  STATE_EQUAL(ClientState::backing_off, link.state());
  CHECK_TRUE(listener.logged("the server is stuck"));
  // Nothing is lost: the message goes again on the next connection.
  go_online(kSessionId, 0, 1);
  STRCMP_EQUAL("stuck", at(flush(), 0).payload.c_str());
}

TEST(SessionAckDeadline, AcknowledgementProgressMovesTheDeadline) {
  options.ack_timeout_ms = 1500;
  go_online();
  send_text("a");
  send_text("b");
  flush();
  run_to(now + 1000, true);
  server.ack(now, 1);  // progress: "b" is still in flight, the deadline restarts
  const Millis progress_at = now;
  run_to(progress_at + 1499, true);
  STATE_EQUAL(ClientState::online, link.state());
  run_to(progress_at + 1500, true);
  ERRC_EQUAL(Errc::ack_timeout, at(listener.disconnects, 0).reason);
}

TEST(SessionAckDeadline, NothingInFlightMeansNoAckDeadline) {
  options.ack_timeout_ms = 1500;
  go_online();
  send_text("a");
  flush();
  server.ack(now, 1);
  run_to(now + 20000, true);  // quiet for a long time, PINGs answered
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGS_EQUAL(0, listener.disconnects.size());
}

TEST(SessionAckDeadline, ADeadLinkIsStillReportedAsSilentNotAsAnAckTimeout) {
  go_online();
  send_text("a");
  flush();
  run_to(now + 10 * options.read_timeout_ms);  // nothing answered at all
  ERRC_EQUAL(Errc::server_silent, at(listener.disconnects, 0).reason);
}

TEST_GROUP_BASE(SessionDownlink, LinkFixture){};

TEST(SessionDownlink, ThreeDataInOneReadGiveThreeMessagesAndOneCumulativeAck) {
  go_online();
  server.send(now, data_frame(1, "one") + data_frame(2, "two") + data_frame(3, "three"));
  UNSIGNED_LONGS_EQUAL(3, listener.messages.size());
  UNSIGNED_LONGLONGS_EQUAL(1, at(listener.messages, 0).seq);
  STRCMP_EQUAL("one", at(listener.messages, 0).payload.c_str());
  UNSIGNED_LONGLONGS_EQUAL(2, at(listener.messages, 1).seq);
  STRCMP_EQUAL("two", at(listener.messages, 1).payload.c_str());
  UNSIGNED_LONGLONGS_EQUAL(3, at(listener.messages, 2).seq);
  STRCMP_EQUAL("three", at(listener.messages, 2).payload.c_str());
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("ACK", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(3, at(written, 0).seq);
  UNSIGNED_LONGLONGS_EQUAL(3, link.last_downlink_seq());
  UNSIGNED_LONGLONGS_EQUAL(3, link.counters().messages_received);
}

TEST(SessionDownlink, FrameSplitAcrossReadsIsDeliveredWhenComplete) {
  go_online();
  const Bytes frame = data_frame(1, "split");
  server.send(now, Bytes(frame.begin(), frame.begin() + 5));
  UNSIGNED_LONGS_EQUAL(0, listener.messages.size());
  CHECK_TRUE(link.pending_write().empty());
  server.send_bytewise(now, Bytes(frame.begin() + 5, frame.end()));
  UNSIGNED_LONGS_EQUAL(1, listener.messages.size());
  STRCMP_EQUAL("split", at(listener.messages, 0).payload.c_str());
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("ACK", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(1, at(written, 0).seq);
}

TEST(SessionDownlink, HelloAfterReconnectResumesTheSessionAtTheLastDownlink) {
  go_online();
  server.send(now, data_frame(1, "a") + data_frame(2, "b") + data_frame(3, "c"));
  flush();
  drop();
  fire();
  open();
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("HELLO", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(kSessionId, at(written, 0).session_id);
  UNSIGNED_LONGLONGS_EQUAL(3, at(written, 0).last_downlink_seq);
  server.welcome(now, kSessionId, 1000);
  CHECK_TRUE(at(listener.online, 1).resumed);
  server.data(now, 4, "d");
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGLONGS_EQUAL(4, last(listener.messages).seq);
}

TEST(SessionDownlink, ResumedSessionReacknowledgesDownlinkAlreadyDeliveredWithoutDeliveringItAgain) {
  go_online();
  server.send(now, data_frame(1, "a") + data_frame(2, "b"));
  flush();
  drop();
  go_online(kSessionId);
  server.data(now, 1, "a again");
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGS_EQUAL(1, listener.disconnects.size());  // only the drop
  UNSIGNED_LONGS_EQUAL(2, listener.messages.size());
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().downlink_duplicates);
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("ACK", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(2, at(written, 0).seq);  // the position, not the duplicate's seq
  server.data(now, 3, "c");
  UNSIGNED_LONGS_EQUAL(3, listener.messages.size());
  UNSIGNED_LONGLONGS_EQUAL(3, last(listener.messages).seq);
}

TEST(SessionDownlink, WelcomeWithAnotherSessionResetsTheDownlinkPosition) {
  go_online();
  server.send(now, data_frame(1, "a") + data_frame(2, "b") + data_frame(3, "c"));
  flush();
  drop();
  go_online(kOtherSessionId);  // the server lost the session
  CHECK_FALSE(at(listener.online, 1).resumed);
  UNSIGNED_LONGLONGS_EQUAL(kOtherSessionId, link.session_id());
  UNSIGNED_LONGLONGS_EQUAL(0, link.last_downlink_seq());
  server.data(now, 1, "new session");
  STATE_EQUAL(ClientState::online, link.state());
  UNSIGNED_LONGLONGS_EQUAL(1, last(listener.messages).seq);
  STRCMP_EQUAL("new session", last(listener.messages).payload.c_str());
  flush();
  drop();
  fire();
  open();
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("HELLO", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(kOtherSessionId, at(written, 0).session_id);
  UNSIGNED_LONGLONGS_EQUAL(1, at(written, 0).last_downlink_seq);
}

TEST(SessionDownlink, MessagesAreAcknowledgedPerRead) {
  go_online();
  server.data(now, 1, "a");
  server.data(now, 2, "b");
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("ACK,ACK", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(1, at(written, 0).seq);
  UNSIGNED_LONGLONGS_EQUAL(2, at(written, 1).seq);
}

// =====================================================================
// SessionSend: the application's uplink
// =====================================================================

TEST_GROUP_BASE(SessionSend, LinkFixture){};

TEST(SessionSend, AcceptedInEveryStateButTransmittedOnlyOnline) {
  UNSIGNED_LONGLONGS_EQUAL(1, send_text("idle"));
  start();
  UNSIGNED_LONGLONGS_EQUAL(2, send_text("connecting"));
  CHECK_TRUE(link.pending_write().empty());
  open();
  const std::size_t hello = link.pending_write().size;
  UNSIGNED_LONGLONGS_EQUAL(3, send_text("handshaking"));
  UNSIGNED_LONGS_EQUAL(hello, link.pending_write().size);  // stored, not on the wire before WELCOME
  STRCMP_EQUAL("HELLO", type_names(flush()).c_str());
  server.welcome(now, kSessionId, 1000);
  drop();  // before anything was written
  UNSIGNED_LONGLONGS_EQUAL(4, send_text("backing off"));
  link.stop(now);
  UNSIGNED_LONGLONGS_EQUAL(5, send_text("stopped"));
  UNSIGNED_LONGLONGS_EQUAL(5, link.counters().messages_sent);
  UNSIGNED_LONGS_EQUAL(5, link.queued_messages());
  UNSIGNED_LONGS_EQUAL(0, count_type(wire.all, FrameType::data));  // the link dropped before any was written
  UNSIGNED_LONGS_EQUAL(0, listener.acks.size());

  // Online again (the session resumed, nothing arrived): all five, in order.
  go_online(kSessionId, 0, 1);
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("DATA,DATA,DATA,DATA,DATA", type_names(written).c_str());
  const char* payloads[] = {"idle", "connecting", "handshaking", "backing off", "stopped"};
  for (std::size_t i = 0; i < 5; ++i) {
    UNSIGNED_LONGLONGS_EQUAL(i + 1, at(written, i).seq);
    STRCMP_EQUAL(payloads[i], at(written, i).payload.c_str());
  }
  server.ack(now, 5);
  const std::vector<std::uint64_t> acked = {1, 2, 3, 4, 5};
  CHECK_TRUE(acked == listener.acks);
  UNSIGNED_LONGS_EQUAL(0, link.queued_messages());
}

TEST(SessionSend, SequenceNumbersStartAtOne) {
  go_online();
  UNSIGNED_LONGLONGS_EQUAL(1, send_text("a"));
  UNSIGNED_LONGLONGS_EQUAL(2, send_text("b"));
  UNSIGNED_LONGLONGS_EQUAL(3, send_text("c"));
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("DATA,DATA,DATA", type_names(written).c_str());
  for (std::size_t i = 0; i < written.size(); ++i) {
    UNSIGNED_LONGLONGS_EQUAL(i + 1, at(written, i).seq);
    STRCMP_EQUAL(std::string(1, static_cast<char>('a' + i)).c_str(), at(written, i).payload.c_str());
  }
  UNSIGNED_LONGLONGS_EQUAL(3, link.counters().messages_sent);
  UNSIGNED_LONGLONGS_EQUAL(4, link.counters().frames_sent);  // HELLO + 3 DATA
  UNSIGNED_LONGLONGS_EQUAL(wire.bytes_written, link.counters().bytes_sent);
  UNSIGNED_LONGLONGS_EQUAL(4, link.next_uplink_seq());
}

TEST(SessionSend, NewSessionTransmitsFromTheWelcomesNextUplinkSeqWhileIdsStartAtOne) {
  go_online(kSessionId, 0, 5);
  UNSIGNED_LONGLONGS_EQUAL(4, link.last_acked_seq());
  UNSIGNED_LONGLONGS_EQUAL(5, link.next_uplink_seq());
  UNSIGNED_LONGLONGS_EQUAL(1, send_text("renumbered"));  // the id
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("DATA", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(5, at(written, 0).seq);  // the wire seq
  STRCMP_EQUAL("renumbered", at(written, 0).payload.c_str());
  server.ack(now, 5);
  const std::vector<std::uint64_t> acked = {1};
  CHECK_TRUE(acked == listener.acks);
}

TEST(SessionSend, PayloadOverTheMaximumIsFieldTooLong) {
  go_online();
  const std::string too_long(kMaxDataPayload + 1, 'x');
  ERRC_EQUAL(Errc::field_too_long, try_send(too_long));
  CHECK_TRUE(link.pending_write().empty());
  UNSIGNED_LONGLONGS_EQUAL(1, link.next_uplink_seq());
  const std::string largest(kMaxDataPayload, 'y');
  UNSIGNED_LONGLONGS_EQUAL(1, send_text(largest));
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("DATA", type_names(written).c_str());
  UNSIGNED_LONGS_EQUAL(kMaxDataPayload, at(written, 0).payload.size());
}

TEST(SessionSend, FullTransmitBufferKeepsRoomForControlFramesAndTheStoreKeepsTheRest) {
  options.max_in_flight = kStoreMessages;  // only the transmit buffer limits what goes out
  go_online();
  const std::string payload(100, 'p');  // 112-byte DATA frames, 110-byte store records
  std::size_t accepted = 0;
  std::error_code ec;
  for (int guard = 0; guard < 1000; ++guard) {
    ec = try_send(payload);
    if (ec) break;
    ++accepted;
  }
  // The store, not the transmit buffer, bounds what send() accepts.
  ERRC_EQUAL(Errc::queue_full, ec);
  const std::size_t store_capacity = kStoreBytes / 110 < kStoreMessages ? kStoreBytes / 110 : kStoreMessages;
  UNSIGNED_LONGS_EQUAL(store_capacity, accepted);
  UNSIGNED_LONGS_EQUAL(accepted, link.queued_messages());
  const std::size_t fit = (kTxBufferSize - kTxControlReserve) / 112;
  CHECK_TRUE(fit < accepted);  // otherwise this test proves nothing
  UNSIGNED_LONGS_EQUAL(fit * 112, link.pending_write().size);
  UNSIGNED_LONGLONGS_EQUAL(fit + 1, link.next_uplink_seq());
  // Control frames still fit behind the DATA: a PONG and an ACK.
  server.send(now, ping_frame() + data_frame(1, "downlink"));
  CHECK_TRUE(wire.start(now));
  const std::vector<WireFrame> first = wire.complete(now);
  UNSIGNED_LONGS_EQUAL(fit + 2, first.size());
  UNSIGNED_LONGS_EQUAL(fit, count_type(first, FrameType::data));
  STRCMP_EQUAL("PONG", frame_type_name(at(first, fit).type));
  STRCMP_EQUAL("ACK", frame_type_name(at(first, fit + 1).type));
  // The write made room: the rest of the store follows, in order.
  const std::vector<WireFrame> rest = flush();
  UNSIGNED_LONGS_EQUAL(accepted - fit, count_type(rest, FrameType::data));
  UNSIGNED_LONGLONGS_EQUAL(fit + 1, at(rest, 0).seq);
  UNSIGNED_LONGLONGS_EQUAL(accepted, last(rest).seq);
  // The store has room again once the server acknowledged.
  ERRC_EQUAL(Errc::queue_full, try_send(payload));
  server.ack(now, accepted);
  UNSIGNED_LONGLONGS_EQUAL(accepted + 1, send_text(payload));
}

TEST(SessionSend, DataQueuedDuringAWriteGoesInTheNextWrite) {
  go_online();
  send_text("first");
  CHECK_TRUE(wire.start(now));
  send_text("second");
  CHECK_TRUE(link.pending_write().empty());  // one write at a time
  const std::vector<WireFrame> first = wire.complete(now);
  STRCMP_EQUAL("DATA", type_names(first).c_str());
  STRCMP_EQUAL("first", at(first, 0).payload.c_str());
  const std::vector<WireFrame> second = flush();
  STRCMP_EQUAL("DATA", type_names(second).c_str());
  STRCMP_EQUAL("second", at(second, 0).payload.c_str());
  UNSIGNED_LONGLONGS_EQUAL(2, at(second, 0).seq);
}

TEST(SessionSend, CountersFollowTheTraffic) {
  go_online();
  const std::uint64_t received_before = link.counters().bytes_received;
  send_text("a");
  send_text("b");
  flush();
  const Bytes downlink = data_frame(1, "x") + ack_frame(2) + ping_frame();
  server.send(now, downlink);
  flush();
  const Counters& c = link.counters();
  UNSIGNED_LONGLONGS_EQUAL(2, c.messages_sent);
  UNSIGNED_LONGLONGS_EQUAL(2, c.messages_acked);
  UNSIGNED_LONGLONGS_EQUAL(1, c.messages_received);
  UNSIGNED_LONGLONGS_EQUAL(1, c.heartbeats_answered);
  UNSIGNED_LONGLONGS_EQUAL(received_before + downlink.size(), c.bytes_received);
  UNSIGNED_LONGLONGS_EQUAL(wire.bytes_written, c.bytes_sent);
  UNSIGNED_LONGLONGS_EQUAL(wire.all.size(), c.frames_sent);  // HELLO, 2 DATA, PONG, ACK
  UNSIGNED_LONGLONGS_EQUAL(5, c.frames_sent);
  UNSIGNED_LONGLONGS_EQUAL(4, c.frames_received);  // WELCOME, DATA, ACK, PING
}

TEST_GROUP_BASE(SessionPartialWrite, LinkFixture){};

TEST(SessionPartialWrite, APartialWriteLeavesTheRestPendingInOrder) {
  go_online();
  send_text("first message");
  const ConstByteSpan pending = link.pending_write();
  const std::size_t total = pending.size;
  const Bytes whole(pending.data, pending.data + pending.size);
  const std::uint64_t sent_before = link.counters().bytes_sent;
  link.on_write_started(now);
  link.on_write_complete(now, gen(), 5);
  const ConstByteSpan rest = link.pending_write();
  UNSIGNED_LONGS_EQUAL(total - 5, rest.size);
  MEMCMP_EQUAL(whole.data() + 5, rest.data, rest.size);
  UNSIGNED_LONGLONGS_EQUAL(sent_before + 5, link.counters().bytes_sent);
}

TEST(SessionPartialWrite, NoFarewellCloseAfterAFrameWasOnlyPartlyWritten) {
  go_online();
  send_text("half of this goes out");
  link.on_write_started(now);
  link.on_write_complete(now, gen(), 3);  // the peer now holds 3 bytes of a DATA frame
  link.stop(now);
  CHECK_FALSE(io.closes.empty());
  CHECK_TRUE(io.closes.back().farewell.empty());
}

TEST(SessionPartialWrite, FarewellIsSentAgainOnceTheBufferDrained) {
  go_online();
  send_text("partly");
  link.on_write_started(now);
  link.on_write_complete(now, gen(), 3);
  link.on_write_started(now);
  link.on_write_complete(now, gen(), link.pending_write().size + 1000);  // the rest, clamped
  CHECK_TRUE(link.pending_write().empty());
  link.stop(now);
  CHECK_FALSE(io.closes.back().farewell.empty());
}

// =====================================================================
// SessionDelivery: the outbound store end to end. Nothing is lost,
// nothing is acknowledged twice, across drops, resumes, new sessions, the
// in-flight window and a full store.
// =====================================================================

namespace {

/// "seq:payload" of every DATA frame of `frames`, comma separated.
std::string data_of(const std::vector<WireFrame>& frames) {
  std::string out;
  for (const WireFrame& f : frames) {
    if (f.type != FrameType::data) continue;
    if (!out.empty()) out += ",";
    out += std::to_string(f.seq) + ":" + f.payload;
  }
  return out;
}

/// "1,2,3": a list of ids, for one-line comparisons with readable failures.
std::string join_ids(const std::vector<std::uint64_t>& ids) {
  std::string out;
  for (const std::uint64_t id : ids) {
    if (!out.empty()) out += ",";
    out += std::to_string(id);
  }
  return out;
}

/// "first,...,last" (empty when last < first).
std::string id_range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> ids;
  for (std::uint64_t id = first; id <= last; ++id) ids.push_back(id);
  return join_ids(ids);
}

/// The ids of the dropped messages.
std::string dropped_ids(const RecordingListener& listener) {
  std::vector<std::uint64_t> ids;
  for (const DroppedMessage& d : listener.dropped) ids.push_back(d.id);
  return join_ids(ids);
}

/// The payload of message `id` in the long-running tests: names its id, so
/// a message delivered twice, out of order or under another seq shows, and
/// has a size that varies with the id.
std::string payload_for(std::uint64_t id) {
  const std::size_t filler = static_cast<std::size_t>(id * 37 % 150);
  return "m" + std::to_string(id) + "|" + std::string(filler, static_cast<char>('a' + id % 26));
}

/// Same seed, same numbers: the "random" runs are reproducible.
class Lcg {
 public:
  explicit Lcg(std::uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint32_t below(std::uint32_t n) {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(state_ >> 33) % n;
  }

 private:
  std::uint64_t state_;
};

// One standalone session against a model server that keeps every uplink
// message it received, checks that each DATA is exactly the next one it
// expects, acknowledges when told and resumes the session on every
// reconnect (WELCOME next_uplink_seq = what it holds + 1). Tracks the
// in-flight window of each connection.
class DeliveryDriver {
 public:
  explicit DeliveryDriver(std::uint32_t max_in_flight) : max_in_flight_(max_in_flight) {
    Options o = test_options();
    o.max_in_flight = max_in_flight;
    const OptionsCheck check = rig.link.start(o, now);
    CHECK_TEXT(static_cast<bool>(check), check.field);
    handshake();
  }

  /// Sends the next message (payload_for(id)); it must be accepted.
  void send() {
    const std::uint64_t id = sent + 1;
    const std::string payload = payload_for(id);
    std::uint64_t got = 0;
    const std::error_code ec = rig.link.send(ConstByteSpan{payload.data(), payload.size()}, now, &got);
    STRCMP_EQUAL("ok", error_name(ec).c_str());
    UNSIGNED_LONGLONGS_EQUAL(id, got);
    sent = id;
  }

  /// Writes everything pending; the server receives the first `keep` DATA
  /// frames of it and loses the rest (the caller then drops the link).
  void write(std::size_t keep = SIZE_MAX) { receive(rig.wire.flush(now), keep); }

  /// A write starts, the link dies before it completes; the server got the
  /// first `keep` DATA frames of it.
  void drop_mid_write(std::size_t keep) {
    if (rig.wire.start(now)) {
      bool ok = true;
      receive(decode_frames(span_of(rig.wire.in_flight()), ok), keep);
      CHECK_TRUE(ok);
    }
    drop();
  }

  void drop() {
    CHECK_TRUE(rig.link.state() == ClientState::online);
    rig.link.on_transport_error(now, rig.link.generation(), peer_closed());
    CHECK_TRUE(rig.link.state() == ClientState::backing_off);
    ++drops;
  }

  /// From backing off: the backoff ends, the transport opens, HELLO resumes
  /// the session and the server answers with what it holds.
  void reconnect() {
    CHECK_TRUE(rig.link.state() == ClientState::backing_off);
    now = rig.link.next_wakeup();
    rig.link.on_timer(now);
    handshake();
  }

  /// The server acknowledges some of what it holds and has not acknowledged.
  void ack_some(Lcg& rng) {
    if (received.size() <= acked) return;
    ack(acked + 1 + rng.below(static_cast<std::uint32_t>(received.size() - acked)));
  }
  void ack(std::uint64_t seq) {
    rig.server.ack(now, seq);
    acked = seq;
    if (seq > window_base_) window_base_ = seq;
  }

  /// Runs the link until every message sent was delivered and acknowledged.
  void finish() {
    for (int guard = 0; rig.link.queued_messages() != 0; ++guard) {
      CHECK_TEXT(guard < 10000, "the store never drains");
      if (rig.link.state() == ClientState::backing_off) reconnect();
      write();
      if (received.size() > acked) ack(received.size());
    }
  }

  /// Exactly-once, in-order delivery both ways of looking at it: what the
  /// server holds, and what the application was told.
  void verify() {
    UNSIGNED_LONGS_EQUAL(sent, received.size());
    for (std::size_t i = 0; i < received.size(); ++i) STRCMP_EQUAL(payload_for(i + 1).c_str(), received[i].c_str());
    STRCMP_EQUAL(id_range(1, sent).c_str(), join_ids(rig.listener.acks).c_str());
    const Counters& c = rig.link.counters();
    UNSIGNED_LONGLONGS_EQUAL(sent, c.messages_sent);
    UNSIGNED_LONGLONGS_EQUAL(sent, c.messages_acked);
    UNSIGNED_LONGLONGS_EQUAL(0, c.messages_dropped);
    UNSIGNED_LONGLONGS_EQUAL(0, c.messages_refused);
    CHECK_TRUE(c.data_frames_sent >= count_type(rig.wire.all, FrameType::data));
    UNSIGNED_LONGS_EQUAL(0, rig.link.queued_messages());
    UNSIGNED_LONGS_EQUAL(drops, rig.listener.disconnects.size());
    for (const DisconnectInfo& d : rig.listener.disconnects) ERRC_EQUAL(Errc::connection_closed, d.reason);
    UNSIGNED_LONGS_EQUAL(0, rig.listener.connect_failures.size());
    UNSIGNED_LONGS_EQUAL(drops + 1, rig.listener.online.size());
    CHECK_TRUE(rig.wire.ok);
    STRCMP_EQUAL("", rig.io.close_once_violation().c_str());
  }

  Rig rig;
  Millis now = kStart;
  std::uint64_t sent = 0;              // messages accepted by send(), ids 1..sent
  std::vector<std::string> received;   // what the server holds: received[i] is seq i + 1
  std::uint64_t acked = 0;             // highest seq the server acknowledged
  std::size_t drops = 0;

 private:
  void handshake() {
    CHECK_TRUE(rig.link.state() == ClientState::connecting);
    rig.link.on_transport_open(now, rig.link.generation());
    const std::vector<WireFrame> hello = rig.wire.flush(now);
    STRCMP_EQUAL("HELLO", type_names(hello).c_str());  // no DATA before WELCOME
    UNSIGNED_LONGLONGS_EQUAL(rig.listener.online.empty() ? 0 : kSessionId, at(hello, 0).session_id);
    rig.server.welcome(now, kSessionId, 1000, received.size() + 1);
    CHECK_TRUE(rig.link.state() == ClientState::online);
    acked = received.size();  // the WELCOME acknowledges everything below its next_uplink_seq
    window_base_ = received.size();
    connection_highest_ = received.size();
  }

  void receive(const std::vector<WireFrame>& frames, std::size_t keep) {
    std::size_t kept = 0;
    for (const WireFrame& f : frames) {
      if (f.type != FrameType::data) continue;
      if (f.seq > connection_highest_) connection_highest_ = f.seq;
      if (kept == keep) continue;  // lost with the connection
      ++kept;
      UNSIGNED_LONGLONGS_EQUAL_TEXT(received.size() + 1, f.seq, "DATA not the next seq the server expects");
      received.push_back(f.payload);
    }
    // The window: never more than max_in_flight DATA unacknowledged on this connection.
    CHECK_TEXT(connection_highest_ - window_base_ <= max_in_flight_, "more DATA in flight than max_in_flight");
  }

  std::uint32_t max_in_flight_;
  std::uint64_t window_base_ = 0;         // highest seq acknowledged (ACK or WELCOME) on this connection
  std::uint64_t connection_highest_ = 0;  // highest DATA seq written on this connection
};

}  // namespace

TEST_GROUP_BASE(SessionDelivery, LinkFixture) {
  /// Sends `count` messages "m<id>" and returns the id of the last.
  std::uint64_t send_many(std::size_t count) {
    std::uint64_t id = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t expected = link.counters().messages_sent + 1;
      id = send_text("m" + std::to_string(expected));
      UNSIGNED_LONGLONGS_EQUAL(expected, id);
    }
    return id;
  }
  /// From backing off: a new transport, HELLO written, and `welcome` read.
  void reconnect_with(const Bytes& welcome) {
    fire();
    STATE_EQUAL(ClientState::connecting, link.state());
    open();
    STRCMP_EQUAL("HELLO", type_names(flush()).c_str());
    server.send(now, welcome);
  }
};

TEST(SessionDelivery, MessagesSentOfflineAreDeliveredInOrderAfterTheWelcome) {
  UNSIGNED_LONGLONGS_EQUAL(1, send_text("a"));  // idle
  start();
  UNSIGNED_LONGLONGS_EQUAL(2, send_text("b"));  // connecting
  open();
  UNSIGNED_LONGLONGS_EQUAL(3, send_text("c"));  // handshaking
  STRCMP_EQUAL("HELLO", type_names(flush()).c_str());
  UNSIGNED_LONGS_EQUAL(3, link.queued_messages());
  server.welcome(now, kSessionId, 1000, 1);
  UNSIGNED_LONGLONGS_EQUAL(4, send_text("d"));  // online
  STRCMP_EQUAL("1:a,2:b,3:c,4:d", data_of(flush()).c_str());
  UNSIGNED_LONGS_EQUAL(0, listener.acks.size());
  server.ack(now, 4);
  STRCMP_EQUAL("1,2,3,4", join_ids(listener.acks).c_str());
  UNSIGNED_LONGS_EQUAL(0, link.queued_messages());
  const Counters& c = link.counters();
  UNSIGNED_LONGLONGS_EQUAL(4, c.messages_sent);
  UNSIGNED_LONGLONGS_EQUAL(4, c.messages_acked);
  UNSIGNED_LONGLONGS_EQUAL(4, c.data_frames_sent);
  // Acknowledged means gone: another connection sends nothing again.
  drop();
  go_online(kSessionId, 0, 5);
  STRCMP_EQUAL("", data_of(flush()).c_str());
  STRCMP_EQUAL("1,2,3,4", join_ids(listener.acks).c_str());
}

TEST(SessionDelivery, MessagesInFlightAtADropAreResentFromTheWelcomesNextUplinkSeq) {
  go_online();
  for (const char* p : {"a", "b", "c", "d", "e"}) send_text(p);
  STRCMP_EQUAL("1:a,2:b,3:c,4:d,5:e", data_of(flush()).c_str());
  server.ack(now, 1);
  drop();
  go_online(kSessionId, 0, 3);  // the server holds 1..2 (2 arrived, not yet acknowledged)
  const WireFrame& hello = last(wire.all);
  STRCMP_EQUAL("HELLO", frame_type_name(hello.type));
  UNSIGNED_LONGLONGS_EQUAL(kSessionId, hello.session_id);
  CHECK_TRUE(at(listener.online, 1).resumed);
  UNSIGNED_LONGLONGS_EQUAL(3, at(listener.online, 1).next_uplink_seq);
  STRCMP_EQUAL("1,2", join_ids(listener.acks).c_str());  // 2 acknowledged by the WELCOME
  UNSIGNED_LONGLONGS_EQUAL(2, link.last_acked_seq());
  STRCMP_EQUAL("3:c,4:d,5:e", data_of(flush()).c_str());
  server.ack(now, 5);
  STRCMP_EQUAL("1,2,3,4,5", join_ids(listener.acks).c_str());
  UNSIGNED_LONGLONGS_EQUAL(8, link.counters().data_frames_sent);  // 5 + 3 resent
  UNSIGNED_LONGLONGS_EQUAL(5, link.counters().messages_acked);
  UNSIGNED_LONGS_EQUAL(0, link.queued_messages());
}

TEST(SessionDelivery, WelcomeAcknowledgingPartOfWhatWasInFlight) {
  go_online();
  send_many(4);
  STRCMP_EQUAL("1:m1,2:m2,3:m3,4:m4", data_of(flush()).c_str());
  drop();
  UNSIGNED_LONGS_EQUAL(4, link.queued_messages());
  go_online(kSessionId, 0, 3);
  STRCMP_EQUAL("1,2", join_ids(listener.acks).c_str());
  UNSIGNED_LONGS_EQUAL(2, link.queued_messages());
  UNSIGNED_LONGLONGS_EQUAL(2, link.counters().messages_acked);
  STRCMP_EQUAL("3:m3,4:m4", data_of(flush()).c_str());
  // An ACK equal to the WELCOME's position is a repeat, lower is backwards.
  server.ack(now, 2);
  STATE_EQUAL(ClientState::online, link.state());
  server.ack(now, 4);
  STRCMP_EQUAL("1,2,3,4", join_ids(listener.acks).c_str());
}

TEST(SessionDelivery, WelcomeAcknowledgingEverythingInFlightResendsNothing) {
  go_online();
  send_many(3);
  flush();
  drop();
  send_text("m4");  // offline: never transmitted
  go_online(kSessionId, 0, 4);
  STRCMP_EQUAL("1,2,3", join_ids(listener.acks).c_str());
  STRCMP_EQUAL("4:m4", data_of(flush()).c_str());
}

TEST(SessionDelivery, EveryDropPointOfABatchLosesNothingAndAcknowledgesEachMessageOnce) {
  // The server got `first` of six messages when the link dropped (having
  // acknowledged `acked_first` of them); of the resend it got `second` more
  // before the next drop. Every combination.
  const std::size_t kBatch = 6;
  std::size_t runs = 0;
  for (std::size_t first = 0; first <= kBatch; ++first) {
    for (std::size_t acked_first = 0; acked_first <= first; ++acked_first) {
      for (std::size_t second = 0; second <= kBatch - first; ++second) {
        DeliveryDriver d(32);
        for (std::size_t i = 0; i < kBatch; ++i) d.send();
        d.write(first);
        if (acked_first > 0) d.ack(acked_first);
        d.drop();
        d.reconnect();
        d.write(second);
        d.drop();
        d.reconnect();
        d.finish();
        d.verify();
        UNSIGNED_LONGS_EQUAL(2, d.drops);
        ++runs;
      }
    }
  }
  UNSIGNED_LONGS_EQUAL(84, runs);
}

TEST(SessionDelivery, RandomDropsOverManyRunsLoseNothingDuplicateNothingAndKeepTheWindow) {
  // Deterministic pseudo-random lives: sends online and offline, writes the
  // server receives fully or in part, drops mid-write, drops with data still
  // pending, partial ACKs, for several window sizes.
  std::size_t drops = 0;
  std::size_t partial_acks_on_resume = 0;
  for (const std::uint32_t max_in_flight : {1u, 3u, 32u}) {
    for (std::uint64_t seed = 1; seed <= 120; ++seed) {
      Lcg rng(seed * 131 + max_in_flight);
      DeliveryDriver d(max_in_flight);
      const std::uint64_t total = 20 + rng.below(40);
      for (int step = 0; d.sent < total; ++step) {
        CHECK_TEXT(step < 5000, "the run does not progress");
        switch (rng.below(12)) {
          case 0: case 1: case 2: case 3: case 4:
            d.send();
            break;
          case 5: case 6:
            d.write();
            break;
          case 7: {
            d.write(rng.below(max_in_flight + 2));
            d.drop();
            const std::size_t held_before = d.rig.listener.acks.size();
            for (std::uint32_t n = rng.below(3); n > 0 && d.sent < total; --n) d.send();  // offline
            d.reconnect();
            if (d.rig.listener.acks.size() > held_before) ++partial_acks_on_resume;
            break;
          }
          case 8:
            d.drop_mid_write(rng.below(max_in_flight + 2));
            d.reconnect();
            break;
          case 9:
            d.drop();  // whatever was pending is lost with the link
            d.reconnect();
            break;
          default:
            d.ack_some(rng);
            break;
        }
      }
      d.finish();
      d.verify();
      drops += d.drops;
    }
  }
  CHECK_TRUE(drops > 1000);                  // the runs did exercise drops ...
  CHECK_TRUE(partial_acks_on_resume > 100);  // ... and WELCOMEs acknowledging unacknowledged messages
}

TEST(SessionDelivery, WelcomeBeyondWhatWasSentIsASequenceErrorAndLosesNothing) {
  go_online();
  send_text("a");
  send_text("b");
  STRCMP_EQUAL("1:a,2:b", data_of(flush()).c_str());
  drop();
  send_text("c");  // offline: 3 was assigned but never transmitted
  reconnect_with(welcome_frame(kSessionId, 1000, 4));
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  ERRC_EQUAL(Errc::sequence_error, at(listener.connect_failures, 0).reason);
  const std::vector<WireFrame> farewell = io.last_farewell();
  STRCMP_EQUAL("CLOSE", type_names(farewell).c_str());
  CLOSE_REASON_EQUAL(CloseReason::sequence_error, at(farewell, 0).close_reason);
  UNSIGNED_LONGS_EQUAL(1, listener.online.size());
  // Nothing acknowledged, nothing dropped: all three wait for the next connection.
  UNSIGNED_LONGS_EQUAL(0, listener.acks.size());
  UNSIGNED_LONGS_EQUAL(0, listener.dropped.size());
  UNSIGNED_LONGS_EQUAL(3, link.queued_messages());
  // The next endpoint's server holds nothing: everything goes again, in order.
  STATE_EQUAL(ClientState::connecting, link.state());
  open();
  flush();
  server.welcome(now, kSessionId, 1000, 1);
  STATE_EQUAL(ClientState::online, link.state());
  STRCMP_EQUAL("1:a,2:b,3:c", data_of(flush()).c_str());
  server.ack(now, 3);
  STRCMP_EQUAL("1,2,3", join_ids(listener.acks).c_str());
  CLOSE_ONCE();
}

TEST(SessionDelivery, WelcomeGoingBackBeforeAcknowledgedMessagesIsASequenceError) {
  go_online();
  send_text("a");
  send_text("b");
  send_text("c");
  flush();
  server.ack(now, 2);
  STRCMP_EQUAL("1,2", join_ids(listener.acks).c_str());
  drop();
  reconnect_with(welcome_frame(kSessionId, 1000, 2));  // 2 was acknowledged already
  UNSIGNED_LONGS_EQUAL(1, listener.connect_failures.size());
  ERRC_EQUAL(Errc::sequence_error, at(listener.connect_failures, 0).reason);
  CLOSE_REASON_EQUAL(CloseReason::sequence_error, at(io.last_farewell(), 0).close_reason);
  CHECK_TRUE(listener.logged("before acknowledged"));
  // The next endpoint says 1: still going back.
  open();
  flush();
  server.welcome(now, kSessionId, 1000, 1);
  UNSIGNED_LONGS_EQUAL(2, listener.connect_failures.size());
  ERRC_EQUAL(Errc::sequence_error, at(listener.connect_failures, 1).reason);
  STATE_EQUAL(ClientState::backing_off, link.state());
  STRCMP_EQUAL("1,2", join_ids(listener.acks).c_str());  // never acknowledged twice
  UNSIGNED_LONGS_EQUAL(1, link.queued_messages());
  // A right WELCOME: only what is left goes again.
  reconnect_with(welcome_frame(kSessionId, 1000, 3));
  STATE_EQUAL(ClientState::online, link.state());
  STRCMP_EQUAL("3:c", data_of(flush()).c_str());
  server.ack(now, 3);
  STRCMP_EQUAL("1,2,3", join_ids(listener.acks).c_str());
  CLOSE_ONCE();
}

TEST(SessionDelivery, NewSessionRenumbersEveryStoredMessageAndResetsTheDownlink) {
  go_online();
  send_text("a");
  send_text("b");
  send_text("c");
  STRCMP_EQUAL("1:a,2:b,3:c", data_of(flush()).c_str());
  server.ack(now, 1);
  server.data(now, 1, "down");
  flush();
  drop();
  send_text("d");  // offline
  go_online(kOtherSessionId, 0, 7);  // the server lost our session
  CHECK_FALSE(at(listener.online, 1).resumed);
  UNSIGNED_LONGLONGS_EQUAL(7, at(listener.online, 1).next_uplink_seq);
  UNSIGNED_LONGLONGS_EQUAL(kOtherSessionId, link.session_id());
  UNSIGNED_LONGLONGS_EQUAL(0, link.last_downlink_seq());
  UNSIGNED_LONGLONGS_EQUAL(6, link.last_acked_seq());
  STRCMP_EQUAL("1", join_ids(listener.acks).c_str());  // a new session acknowledges nothing
  STRCMP_EQUAL("7:b,8:c,9:d", data_of(flush()).c_str());
  server.ack(now, 8);
  STRCMP_EQUAL("1,2,3", join_ids(listener.acks).c_str());
  server.ack(now, 9);
  STRCMP_EQUAL("1,2,3,4", join_ids(listener.acks).c_str());
  server.data(now, 1, "first of the new session");
  UNSIGNED_LONGS_EQUAL(2, listener.messages.size());
  STATE_EQUAL(ClientState::online, link.state());
}

TEST(SessionDelivery, NewSessionAcknowledgesOnlyWhatItsOwnNumberingCovers) {
  go_online();
  send_many(3);
  flush();
  drop();
  go_online(kOtherSessionId, 0, 1);
  STRCMP_EQUAL("1:m1,2:m2,3:m3", data_of(flush()).c_str());
  server.ack(now, 4);  // beyond what this session sent
  ERRC_EQUAL(Errc::sequence_error, last(listener.disconnects).reason);
  UNSIGNED_LONGS_EQUAL(0, listener.acks.size());
  UNSIGNED_LONGS_EQUAL(3, link.queued_messages());
}

TEST(SessionDelivery, MaxInFlightBoundsTheDataOnTheWireAndTheWindowMovesOnAck) {
  options.max_in_flight = 3;
  go_online();
  send_many(10);
  STRCMP_EQUAL("1:m1,2:m2,3:m3", data_of(flush()).c_str());
  STRCMP_EQUAL("", data_of(flush()).c_str());  // nothing more without an ACK
  UNSIGNED_LONGLONGS_EQUAL(4, link.next_uplink_seq());
  server.ack(now, 1);
  STRCMP_EQUAL("4:m4", data_of(flush()).c_str());
  server.ack(now, 4);
  STRCMP_EQUAL("5:m5,6:m6,7:m7", data_of(flush()).c_str());
  // After a drop the window holds for the resend too.
  drop();
  go_online(kSessionId, 0, 5);
  STRCMP_EQUAL("5:m5,6:m6,7:m7", data_of(flush()).c_str());
  server.ack(now, 6);
  STRCMP_EQUAL("8:m8,9:m9", data_of(flush()).c_str());
  server.ack(now, 9);
  STRCMP_EQUAL("10:m10", data_of(flush()).c_str());
  server.ack(now, 10);
  STRCMP_EQUAL(id_range(1, 10).c_str(), join_ids(listener.acks).c_str());
  UNSIGNED_LONGLONGS_EQUAL(13, link.counters().data_frames_sent);
}

TEST(SessionDelivery, MaxInFlightOneIsStopAndWait) {
  options.max_in_flight = 1;
  go_online();
  send_many(3);
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    STRCMP_EQUAL((std::to_string(seq) + ":m" + std::to_string(seq)).c_str(), data_of(flush()).c_str());
    STRCMP_EQUAL("", data_of(flush()).c_str());
    server.ack(now, seq);
  }
  STRCMP_EQUAL("1,2,3", join_ids(listener.acks).c_str());
}

TEST(SessionDelivery, AckOfAPartialRangeAcknowledgesExactlyThoseMessages) {
  go_online();
  send_many(5);
  flush();
  server.ack(now, 2);
  STRCMP_EQUAL("1,2", join_ids(listener.acks).c_str());
  UNSIGNED_LONGS_EQUAL(3, link.queued_messages());
  UNSIGNED_LONGLONGS_EQUAL(2, link.last_acked_seq());
  server.ack(now, 2);  // a repeat: nothing new
  STRCMP_EQUAL("1,2", join_ids(listener.acks).c_str());
  server.ack(now, 4);
  STRCMP_EQUAL("1,2,3,4", join_ids(listener.acks).c_str());
  UNSIGNED_LONGS_EQUAL(1, link.queued_messages());
  UNSIGNED_LONGLONGS_EQUAL(4, link.counters().messages_acked);
  server.ack(now, 3);  // backwards
  ERRC_EQUAL(Errc::sequence_error, last(listener.disconnects).reason);
  STRCMP_EQUAL("1,2,3,4", join_ids(listener.acks).c_str());
  UNSIGNED_LONGS_EQUAL(1, link.queued_messages());  // the fifth is kept ...
  go_online(kSessionId, 0, 5);
  STRCMP_EQUAL("5:m5", data_of(flush()).c_str());  // ... and goes again
}

TEST(SessionDelivery, QueueFullWithRefuseKeepsTheCallersMessage) {
  const std::string payload(100, 'q');  // 110-byte records
  std::size_t accepted = 0;
  for (int guard = 0; guard < 10000 && !try_send(payload); ++guard) ++accepted;
  const std::size_t capacity = kStoreBytes / 110 < kStoreMessages ? kStoreBytes / 110 : kStoreMessages;
  UNSIGNED_LONGS_EQUAL(capacity, accepted);
  UNSIGNED_LONGS_EQUAL(accepted, link.queued_messages());
  std::uint64_t id = 777;
  ERRC_EQUAL(Errc::queue_full, link.send(ConstByteSpan{payload.data(), payload.size()}, now, &id));
  UNSIGNED_LONGLONGS_EQUAL(777, id);  // no id for a refused message
  const Counters& c = link.counters();
  UNSIGNED_LONGLONGS_EQUAL(2, c.messages_refused);  // the loop's last try and this one
  UNSIGNED_LONGLONGS_EQUAL(accepted, c.messages_sent);
  UNSIGNED_LONGLONGS_EQUAL(0, c.messages_dropped);
  UNSIGNED_LONGS_EQUAL(0, listener.dropped.size());
  UNSIGNED_LONGS_EQUAL(accepted, link.queued_messages());
  // Everything accepted is delivered, the refused ones never were.
  go_online();
  std::uint64_t delivered = 0;
  for (int guard = 0; link.queued_messages() != 0; ++guard) {
    CHECK_TEXT(guard < 1000, "the store never drains");
    for (const WireFrame& f : flush()) {
      if (f.type != FrameType::data) continue;
      UNSIGNED_LONGLONGS_EQUAL(delivered + 1, f.seq);
      STRCMP_EQUAL(payload.c_str(), f.payload.c_str());
      ++delivered;
    }
    server.ack(now, delivered);
  }
  UNSIGNED_LONGLONGS_EQUAL(accepted, delivered);
  STRCMP_EQUAL(id_range(1, accepted).c_str(), join_ids(listener.acks).c_str());
  // The caller's message is accepted once there is room.
  UNSIGNED_LONGLONGS_EQUAL(accepted + 1, send_text(payload));
}

TEST(SessionDelivery, QueueFullByMessageCountWithRefuse) {
  CHECK_TRUE(kStoreMessages * (OutboundStore::kRecordOverhead + 1) <= kStoreBytes);
  for (std::size_t i = 0; i < kStoreMessages; ++i) send_text("x");
  ERRC_EQUAL(Errc::queue_full, try_send(""));
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().messages_refused);
  UNSIGNED_LONGS_EQUAL(kStoreMessages, link.queued_messages());
  go_online();
  flush();
  server.ack(now, 1);
  UNSIGNED_LONGLONGS_EQUAL(kStoreMessages + 1, send_text("x"));
}

TEST(SessionDelivery, DropOldestDropsTheOldestUntransmittedNeverOneInFlightAndLeavesNoGap) {
  CHECK_TRUE(kStoreMessages * (OutboundStore::kRecordOverhead + 8) <= kStoreBytes);  // full by count
  options.when_full = FullPolicy::drop_oldest;
  options.max_in_flight = 2;
  go_online();
  auto text = [](std::uint64_t id) {
    std::string s = std::to_string(id);
    return std::string(8 - s.size(), '0') + s;  // fixed size: the store fills by count
  };
  for (std::uint64_t id = 1; id <= kStoreMessages; ++id) UNSIGNED_LONGLONGS_EQUAL(id, send_text(text(id)));
  STRCMP_EQUAL(("1:" + text(1) + ",2:" + text(2)).c_str(), data_of(flush()).c_str());  // 1 and 2 in flight
  UNSIGNED_LONGS_EQUAL(0, listener.dropped.size());
  // Each new message pushes out the oldest one not yet transmitted: 3, then 4.
  UNSIGNED_LONGLONGS_EQUAL(kStoreMessages + 1, send_text(text(kStoreMessages + 1)));
  STRCMP_EQUAL("3", dropped_ids(listener).c_str());
  ERRC_EQUAL(Errc::queue_full, at(listener.dropped, 0).reason);
  UNSIGNED_LONGLONGS_EQUAL(kStoreMessages + 2, send_text(text(kStoreMessages + 2)));
  STRCMP_EQUAL("3,4", dropped_ids(listener).c_str());
  const Counters& c = link.counters();
  UNSIGNED_LONGLONGS_EQUAL(2, c.messages_dropped);
  UNSIGNED_LONGLONGS_EQUAL(0, c.messages_refused);
  UNSIGNED_LONGLONGS_EQUAL(kStoreMessages + 2, c.messages_sent);
  UNSIGNED_LONGS_EQUAL(kStoreMessages, link.queued_messages());
  // The window moves on: the next seqs carry ids 5 and 6, no gap.
  server.ack(now, 2);
  STRCMP_EQUAL("1,2", join_ids(listener.acks).c_str());
  STRCMP_EQUAL(("3:" + text(5) + ",4:" + text(6)).c_str(), data_of(flush()).c_str());
  // Many more: 1..2 were never candidates, 5 and 6 are in flight now.
  for (std::uint64_t id = kStoreMessages + 3; id <= kStoreMessages + 40; ++id) send_text(text(id));
  for (const DroppedMessage& d : listener.dropped) {
    const bool in_flight = d.id == 1 || d.id == 2 || d.id == 5 || d.id == 6;
    CHECK_FALSE_TEXT(in_flight, ("dropped in flight: " + std::to_string(d.id)).c_str());
  }
  // The ACK freed two slots; the other 36 each pushed out the oldest waiting one.
  STRCMP_EQUAL(("3,4," + id_range(7, 42)).c_str(), dropped_ids(listener).c_str());
  server.ack(now, 4);
  STRCMP_EQUAL(("5:" + text(43) + ",6:" + text(44)).c_str(), data_of(flush()).c_str());
  STRCMP_EQUAL("1,2,5,6", join_ids(listener.acks).c_str());
}

TEST(SessionDelivery, DropOldestRefusesWhenEveryStoredMessageIsInFlight) {
  CHECK_TRUE(kStoreMessages * (OutboundStore::kRecordOverhead + 4) <= kStoreBytes);
  CHECK_TRUE(kStoreMessages * 16 + kTxControlReserve <= kTxBufferSize);  // all fit on the wire at once
  options.when_full = FullPolicy::drop_oldest;
  options.max_in_flight = kStoreMessages;
  go_online();
  for (std::size_t i = 0; i < kStoreMessages; ++i) send_text("fill");
  UNSIGNED_LONGS_EQUAL(kStoreMessages, count_type(flush(), FrameType::data));
  std::uint64_t id = 0;
  ERRC_EQUAL(Errc::queue_full, link.send(literal_bytes("more"), now, &id));
  UNSIGNED_LONGLONGS_EQUAL(0, id);
  UNSIGNED_LONGS_EQUAL(0, listener.dropped.size());
  UNSIGNED_LONGLONGS_EQUAL(0, link.counters().messages_dropped);
  UNSIGNED_LONGLONGS_EQUAL(1, link.counters().messages_refused);
  UNSIGNED_LONGS_EQUAL(kStoreMessages, link.queued_messages());
  server.ack(now, 1);
  UNSIGNED_LONGLONGS_EQUAL(kStoreMessages + 1, send_text("more"));
  UNSIGNED_LONGS_EQUAL(0, listener.dropped.size());
}

TEST(SessionDelivery, DropWatchesSeeOnlyDropsOfTheirOwnMessages) {
  // What Client::flush() relies on: a drop is reported to a watch only for
  // a message up to its id, and settled_through() holds once each of those
  // was acknowledged or dropped.
  options.when_full = FullPolicy::drop_oldest;
  go_online();
  send_text("a");
  send_text("b");
  flush();  // 1 and 2 may be at the server: never dropped
  const int early = link.watch_drops(2);
  CHECK(early >= 0);
  drop();
  const std::string big(3000, 'x');
  std::uint64_t last = 0;
  for (int i = 0; i < 20 && listener.dropped.empty(); ++i) last = send_text(big);
  CHECK_FALSE(listener.dropped.empty());
  CHECK(listener.dropped[0].id > 2);
  const int late = link.watch_drops(last);
  CHECK(late >= 0);
  (void)send_text(big);  // drops the oldest unsent, an id below `last`
  CHECK_FALSE(link.watched_drop(early));
  CHECK_TRUE(link.watched_drop(late));
  CHECK_FALSE(link.settled_through(2));
  fire();
  open();
  flush();
  server.welcome(now, kSessionId, options.heartbeat_interval_ms, 3);  // the server holds 1 and 2
  CHECK_TRUE(link.settled_through(2));
  CHECK_FALSE(link.watched_drop(early));
  link.unwatch_drops(early);
  link.unwatch_drops(late);
  // The watches are few; a freed one is taken again.
  int watches[Link::kMaxDropWatches];
  for (int& w : watches) w = link.watch_drops(1);
  for (const int w : watches) CHECK(w >= 0);
  LONGS_EQUAL(-1, link.watch_drops(1));
  link.unwatch_drops(watches[0]);
  LONGS_EQUAL(watches[0], link.watch_drops(1));
}

TEST(SessionDelivery, DropOldestDropsAsManyOldMessagesAsABigOneNeeds) {
  options.when_full = FullPolicy::drop_oldest;
  start();  // the policy comes with the options: offline, connecting
  const std::string mid(3000, 'm');  // 3010-byte records
  const std::size_t fit = kStoreBytes / 3010;
  for (std::size_t i = 0; i < fit; ++i) send_text(mid);
  const std::size_t free_bytes = kStoreBytes - fit * 3010;
  CHECK_TRUE(free_bytes < kMaxDataPayload + 10);  // the big one needs room made
  const std::size_t must_drop = (kMaxDataPayload + 10 - free_bytes + 3009) / 3010;
  const std::uint64_t big = send_text(std::string(kMaxDataPayload, 'B'));
  STRCMP_EQUAL(id_range(1, must_drop).c_str(), dropped_ids(listener).c_str());  // oldest first, no more than needed
  UNSIGNED_LONGS_EQUAL(fit - must_drop + 1, link.queued_messages());
  go_online();
  std::vector<WireFrame> written;
  for (int guard = 0; guard < 10 && link.queued_messages() != 0; ++guard) {
    const std::vector<WireFrame> w = flush();
    written.insert(written.end(), w.begin(), w.end());
    if (!w.empty()) server.ack(now, last(w).seq);
  }
  UNSIGNED_LONGS_EQUAL(fit - must_drop + 1, count_type(written, FrameType::data));
  UNSIGNED_LONGS_EQUAL(kMaxDataPayload, last(written).payload.size());
  UNSIGNED_LONGLONGS_EQUAL(fit - must_drop + 1, last(written).seq);  // seqs 1.. without the dropped
  STRCMP_EQUAL((id_range(must_drop + 1, fit) + "," + std::to_string(big)).c_str(), join_ids(listener.acks).c_str());
}

// While offline the store's "transmitted" count is reset, yet messages sent
// on the previous connection may be at the server: drop-oldest must not
// touch them, or numbering by position would shift later messages onto seqs
// the server already holds (a message reported acknowledged while lost).
TEST(SessionDelivery, DropOldestWhileOfflineNeverDropsAMessageTheServerMayAlreadyHold) {
  CHECK_TRUE(kStoreMessages * (OutboundStore::kRecordOverhead + 4) <= kStoreBytes);
  options.when_full = FullPolicy::drop_oldest;
  go_online();
  send_text("m1");
  send_text("m2");
  send_text("m3");
  STRCMP_EQUAL("1:m1,2:m2,3:m3", data_of(flush()).c_str());  // all three reach the server, unacknowledged
  drop();
  for (std::uint64_t id = 4; id <= kStoreMessages; ++id) send_text("m" + std::to_string(id % 100));
  UNSIGNED_LONGS_EQUAL(0, listener.dropped.size());
  send_text("new");  // the store is full: something must go
  STRCMP_EQUAL("4", dropped_ids(listener).c_str());  // the oldest never transmitted, not 1
  go_online(kSessionId, 0, 4);  // the server holds 1..3
  STRCMP_EQUAL("1,2,3", join_ids(listener.acks).c_str());
  const std::vector<WireFrame> written = flush();
  CHECK_FALSE(written.empty());
  UNSIGNED_LONGLONGS_EQUAL(4, at(written, 0).seq);
  STRCMP_EQUAL("m5", at(written, 0).payload.c_str());
}

// Dropping messages only to refuse anyway would lose them for nothing.
TEST(SessionDelivery, DropOldestDropsNothingWhenDroppingCannotMakeRoom) {
  const std::size_t big = kMaxDataPayload + OutboundStore::kRecordOverhead;
  const std::size_t in_flight = 3 * big + 3010;
  CHECK_TRUE(in_flight + 60 <= kStoreBytes && in_flight + 2010 > kStoreBytes);  // the premise (default sizes)
  options.when_full = FullPolicy::drop_oldest;
  options.max_in_flight = 4;
  go_online();
  for (int i = 0; i < 3; ++i) send_text(std::string(kMaxDataPayload, 'B'));
  send_text(std::string(3000, 'M'));
  for (int guard = 0; guard < 10 && count_type(wire.all, FrameType::data) < 4; ++guard) flush();
  UNSIGNED_LONGS_EQUAL(4, count_type(wire.all, FrameType::data));  // four in flight
  const std::uint64_t small = send_text(std::string(50, 's'));  // waits: the window is full
  ERRC_EQUAL(Errc::queue_full, try_send(std::string(2000, 'z')));  // dropping "small" would not make room
  UNSIGNED_LONGS_EQUAL(0, listener.dropped.size());  // so it must not be dropped
  UNSIGNED_LONGS_EQUAL(5, link.queued_messages());
  server.ack(now, 4);
  const std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("DATA", type_names(written).c_str());
  STRCMP_EQUAL(std::string(50, 's').c_str(), at(written, 0).payload.c_str());
  server.ack(now, 5);
  UNSIGNED_LONGLONGS_EQUAL(small, last(listener.acks));
}

TEST(SessionDelivery, DownlinkDuplicatesAfterAResumeAreAcknowledgedAgainAndNotDeliveredTwice) {
  go_online();
  server.send(now, data_frame(1, "a") + data_frame(2, "b") + data_frame(3, "c"));
  flush();
  drop();
  fire();
  open();
  const std::vector<WireFrame> hello = flush();
  UNSIGNED_LONGLONGS_EQUAL(3, at(hello, 0).last_downlink_seq);
  server.welcome(now, kSessionId, 1000);
  CHECK_TRUE(at(listener.online, 1).resumed);
  // A server that resends from an older position anyway.
  server.send(now, data_frame(2, "b") + data_frame(3, "c"));
  UNSIGNED_LONGS_EQUAL(3, listener.messages.size());
  UNSIGNED_LONGLONGS_EQUAL(2, link.counters().downlink_duplicates);
  UNSIGNED_LONGLONGS_EQUAL(3, link.counters().messages_received);
  std::vector<WireFrame> written = flush();
  STRCMP_EQUAL("ACK", type_names(written).c_str());  // acknowledged again, so the server can let go
  UNSIGNED_LONGLONGS_EQUAL(3, at(written, 0).seq);
  server.data(now, 4, "d");
  written = flush();
  STRCMP_EQUAL("ACK", type_names(written).c_str());
  UNSIGNED_LONGLONGS_EQUAL(4, at(written, 0).seq);
  UNSIGNED_LONGS_EQUAL(4, listener.messages.size());
  for (std::size_t i = 0; i < 4; ++i) {
    UNSIGNED_LONGLONGS_EQUAL(i + 1, at(listener.messages, i).seq);
    STRCMP_EQUAL(std::string(1, static_cast<char>('a' + i)).c_str(), at(listener.messages, i).payload.c_str());
  }
  // A gap is still an error.
  server.data(now, 6, "f");
  ERRC_EQUAL(Errc::sequence_error, last(listener.disconnects).reason);
  UNSIGNED_LONGS_EQUAL(4, listener.messages.size());
}
