// SPDX-License-Identifier: Apache-2.0
// The reference server, in five groups:
//  - ServerSession: the pure per-connection state machine in virtual time
//    (plain integers as milliseconds): handshake and heartbeat clamping,
//    PING/PONG, exactly-once uplink with one ACK per read batch, sequence
//    errors, resume, downlink numbering and resend, silence detection,
//    protocol errors, replacement of an older connection.
//  - ReferenceServer: the Asio server on 127.0.0.1 with raw device sockets
//    on the same io_context, driven by bounded run_for loops.
//  - ReferenceServerJson: the JSON event lines.
//  - JsonEventOutput: their buffering (what is written when), the event
//    levels, the stats line.
//  - DurableSessions: ServerSession over a registry with a store (the
//    in-memory fake): commit before the ACK and the message events, a
//    failed commit sends and reports nothing, a "killed" server rebuilt
//    from what was committed resumes the session in both directions.
#include "uplink/net/asio.hpp"
#include "support/run_until.hpp"

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "json_events.hpp"
#include "server.hpp"
#include "server_session.hpp"
#include "session_registry.hpp"
#include "support/memory_session_store.hpp"
#include "support/wire_frames.hpp"
#include "uplink/codec/frame_decoder.hpp"
#include "uplink/codec/frame_encoder.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::server;
using namespace uplink::test;

namespace {

// ------------------------------------------------------------ frame helpers

/// Feeds `bytes` to `decoder`, appending complete frames to `out`.
void decode_into(FrameDecoderBase& decoder, const std::uint8_t* bytes, std::size_t size, std::vector<Owned>& out) {
  std::size_t offset = 0;
  while (offset < size) {  // every pass consumes input or ends
    const FrameDecoderBase::Result result = decoder.feed(ConstByteSpan{bytes + offset, size - offset});
    offset += result.consumed;
    if (result.status == DecodeStatus::error) {
      Owned bad;
      bad.bad = true;
      out.push_back(bad);
      return;
    }
    if (result.status == DecodeStatus::need_more) return;
    out.push_back(own(decoder.frame()));
  }
}

std::vector<Owned> frames_of(const Bytes& bytes) {
  FrameDecoder<> decoder;
  std::vector<Owned> frames;
  decode_into(decoder, bytes.data(), bytes.size(), frames);
  return frames;
}

/// "WELCOME DATA:1 ACK:3 CLOSE:sequence_error PONG": compact and readable in assertions.
std::string describe(const std::vector<Owned>& frames) {
  std::string text;
  for (const Owned& f : frames) {
    if (!text.empty()) text += ' ';
    if (f.bad) {
      text += "<undecodable>";
      continue;
    }
    text += frame_type_name(f.type);
    if (f.type == FrameType::data || f.type == FrameType::ack) text += ":" + std::to_string(f.seq);
    if (f.type == FrameType::close) text += std::string(":") + close_reason_name(f.reason);
  }
  return text;
}

// ----------------------------------------------------------- event recorder

struct Event {
  std::string kind;
  std::string device;
  std::uint64_t session = 0;
  std::uint64_t seq = 0;
  std::string text;    // message payload, offline reason, error reason
  std::string detail;  // error detail
  bool resumed = false;
  std::uint32_t heartbeat_ms = 0;
  std::uint64_t next_uplink_seq = 0;
  CloseReason close_reason = CloseReason::normal;
  std::uint32_t retry_after_ms = 0;
};

class Recorder final : public ServerEvents {
 public:
  void on_online(const OnlineEvent& e) override {
    Event r = base("online", e.device_id, e.session_id);
    r.resumed = e.resumed;
    r.heartbeat_ms = e.heartbeat_ms;
    r.next_uplink_seq = e.next_uplink_seq;
    events.push_back(r);
  }
  void on_message(const MessageEvent& e) override {
    Event r = base("message", e.device_id, e.session_id);
    r.seq = e.seq;
    r.text.assign(reinterpret_cast<const char*>(e.payload.data), e.payload.size);
    events.push_back(r);
  }
  void on_duplicate(const DuplicateEvent& e) override {
    Event r = base("duplicate", e.device_id, e.session_id);
    r.seq = e.seq;
    events.push_back(r);
  }
  void on_offline(const OfflineEvent& e) override {
    Event r = base("offline", e.device_id, e.session_id);
    r.text = offline_reason(e);
    r.close_reason = e.close_reason;
    r.retry_after_ms = e.retry_after_ms;
    events.push_back(r);
  }
  void on_error(const ErrorEvent& e) override {
    Event r = base("error", e.device_id, e.session_id);
    r.text = e.reason;
    r.detail = std::string(e.detail);
    events.push_back(r);
  }
  void on_downlink(const DownlinkEvent& e) override {
    Event r = base("downlink", e.device_id, e.session_id);
    r.seq = e.seq;
    events.push_back(r);
  }
  // Kept apart from `events`, whose order the tests compare.
  void on_batch_delivered() override {
    ++batches;
    messages_at_last_batch = count("message");
  }
  std::size_t batches = 0;
  std::size_t messages_at_last_batch = 0;

  /// "online message offline": the order of events.
  std::string kinds() const {
    std::string text;
    for (const Event& e : events) text += (text.empty() ? "" : " ") + e.kind;
    return text;
  }
  std::size_t count(const char* kind) const {
    std::size_t n = 0;
    for (const Event& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
  /// The last event of `kind`; an empty Event when there is none.
  Event last(const char* kind) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->kind == kind) return *it;
    }
    return {};
  }
  /// "1:a 2:b": the messages delivered, in order.
  std::string messages() const {
    std::string text;
    for (const Event& e : events) {
      if (e.kind == "message") text += (text.empty() ? "" : " ") + std::to_string(e.seq) + ":" + e.text;
    }
    return text;
  }

  std::vector<Event> events;

 private:
  static Event base(const char* kind, std::string_view device, std::uint64_t session) {
    Event e;
    e.kind = kind;
    e.device = std::string(device);
    e.session = session;
    return e;
  }
};

}  // namespace

// ============================================================================
// ServerSession: the pure state machine, in virtual time
// ============================================================================

TEST_GROUP(ServerSession) {
  SessionRegistry registry{7};
  Recorder events;
  SessionLimits limits;
  std::uint64_t connection_ids = 0;

  std::unique_ptr<ServerSession> open(Millis now = 0) {
    return std::make_unique<ServerSession>(registry, events, limits, now, ++connection_ids);
  }
  std::vector<Owned> feed(ServerSession& session, const Bytes& bytes, Millis now = 0) {
    session.on_bytes(now, ConstByteSpan{bytes.data(), bytes.size()});
    return frames_of(session.take_output());
  }
  // HELLO + WELCOME; returns the session id.
  std::uint64_t handshake(ServerSession& session, const char* device, std::uint32_t heartbeat_ms = 1000,
                          std::uint64_t resume = 0, std::uint64_t last_downlink = 0, Millis now = 0) {
    const std::vector<Owned> out = feed(session, hello(device, heartbeat_ms, resume, last_downlink), now);
    return out.empty() || out[0].type != FrameType::welcome ? 0 : out[0].welcome.session_id;
  }
};

TEST(ServerSession, HelloIsAnsweredWithWelcomeAndHeartbeatIsClamped) {
  struct Case {
    const char* device;
    std::uint32_t requested;
    std::uint32_t accepted;
  };
  const Case cases[] = {{"low", 10, 1000}, {"mid", 30000, 30000}, {"high", 1000000, 300000}, {"edge", 1000, 1000}};
  std::vector<std::unique_ptr<ServerSession>> sessions;
  for (const Case& c : cases) {
    sessions.push_back(open());
    ServerSession& s = *sessions.back();
    const std::vector<Owned> out = feed(s, hello(c.device, c.requested));
    STRCMP_EQUAL("WELCOME", describe(out).c_str());
    UNSIGNED_LONGS_EQUAL(c.accepted, out[0].welcome.heartbeat_ms);
    CHECK(out[0].welcome.session_id != 0);
    UNSIGNED_LONGS_EQUAL(1, out[0].welcome.next_uplink_seq);
    CHECK(s.state() == ServerSession::State::online);
    STRCMP_EQUAL(c.device, s.device_id().c_str());
    UNSIGNED_LONGS_EQUAL(out[0].welcome.session_id, s.session_id());
    // Read deadline: 2.5 x the accepted interval.
    UNSIGNED_LONGS_EQUAL(c.accepted * 5 / 2, s.read_timeout_ms());
    const Event online = events.last("online");
    STRCMP_EQUAL(c.device, online.device.c_str());
    UNSIGNED_LONGS_EQUAL(c.accepted, online.heartbeat_ms);
    CHECK_FALSE(online.resumed);
  }
  // Each device got its own session.
  CHECK(sessions[0]->session_id() != sessions[1]->session_id());
  UNSIGNED_LONGS_EQUAL(4, registry.size());
}

TEST(ServerSession, ClampBoundsAreConfigurable) {
  limits.heartbeat_min_ms = 5000;
  limits.heartbeat_max_ms = 6000;
  limits.read_factor = 3.0;
  auto s = open();
  const std::vector<Owned> out = feed(*s, hello("dev", 1000));
  UNSIGNED_LONGS_EQUAL(5000, out[0].welcome.heartbeat_ms);
  UNSIGNED_LONGS_EQUAL(15000, s->read_timeout_ms());
  CHECK(check_limits(limits) == nullptr);
  limits.heartbeat_min_ms = 7000;
  STRCMP_EQUAL("heartbeat_min_ms must not exceed heartbeat_max_ms", check_limits(limits));
}

TEST(ServerSession, PingIsAnsweredWithPongInEveryState) {
  auto s = open();
  STRCMP_EQUAL("PONG", describe(feed(*s, ping())).c_str());
  STRCMP_EQUAL("PONG WELCOME PONG", describe(feed(*s, ping() + hello("dev", 1000) + ping())).c_str());
  STRCMP_EQUAL("PONG", describe(feed(*s, ping())).c_str());
  CHECK(s->state() == ServerSession::State::online);
}

TEST(ServerSession, FirstFrameOtherThanHelloIsAProtocolError) {
  auto s = open();
  const std::vector<Owned> out = feed(*s, ping() + data(1, "x"));
  STRCMP_EQUAL("PONG CLOSE:protocol_error", describe(out).c_str());
  STRCMP_EQUAL("expected HELLO", out[1].text.c_str());
  CHECK(s->closed());
  STRCMP_EQUAL("error", events.kinds().c_str());  // never online, so never offline
  STRCMP_EQUAL("protocol_error", events.last("error").text.c_str());
  // Closed: further input is ignored.
  STRCMP_EQUAL("", describe(feed(*s, ping())).c_str());
}

TEST(ServerSession, UnsupportedVersionIsClosedWithUnsupportedVersion) {
  auto s = open();
  Bytes h = hello("dev", 1000);
  h[4] = 2;  // version byte
  const std::vector<Owned> out = feed(*s, h);
  STRCMP_EQUAL("CLOSE:unsupported_version", describe(out).c_str());
  STRCMP_EQUAL("unsupported_version", out[0].text.c_str());
  CHECK(s->closed());
  UNSIGNED_LONGS_EQUAL(0, registry.size());
}

TEST(ServerSession, DecodeErrorsCloseWithTheErrorName) {
  struct Case {
    Bytes input;
    const char* expected;
    const char* text;
  };
  const Case cases[] = {
      {{0xFF}, "CLOSE:protocol_error", "unknown_frame_type"},
      {{0x00, 0x07}, "CLOSE:protocol_error", "unknown_control_frame"},
      {{0x03, 0x01}, "CLOSE:protocol_error", "reserved_flags_set"},
      {{0x03, 0x00, 0xFF, 0xFF}, "CLOSE:frame_too_large", "frame_too_large"},
      {{0x04, 0x00, 0x00, 0x01, 0x00}, "CLOSE:protocol_error", "malformed_frame"},
  };
  for (const Case& c : cases) {
    auto s = open();
    (void)handshake(*s, "dev");
    const std::vector<Owned> out = feed(*s, c.input);
    STRCMP_EQUAL(c.expected, describe(out).c_str());
    STRCMP_EQUAL(c.text, out[0].text.c_str());
    CHECK(s->closed());
    STRCMP_EQUAL(c.text, events.last("error").text.c_str());
    STRCMP_EQUAL(close_reason_name(out[0].reason), events.last("offline").text.c_str());
  }
}

TEST(ServerSession, SecondHelloAndWelcomeFromDeviceAreProtocolErrors) {
  auto a = open();
  (void)handshake(*a, "a");
  STRCMP_EQUAL("CLOSE:protocol_error", describe(feed(*a, hello("a", 1000))).c_str());

  auto b = open();
  (void)handshake(*b, "b");
  Welcome w;
  w.heartbeat_ms = 1000;
  w.session_id = 5;
  w.next_uplink_seq = 1;
  const std::vector<Owned> out = feed(*b, bytes_of(w));
  STRCMP_EQUAL("CLOSE:protocol_error", describe(out).c_str());
  STRCMP_EQUAL("unexpected WELCOME", out[0].text.c_str());
}

TEST(ServerSession, DataIsDeliveredExactlyOnceInOrderWithOneAckPerBatch) {
  auto s = open();
  (void)handshake(*s, "dev");
  STRCMP_EQUAL("ACK:3", describe(feed(*s, data(1, "a") + data(2, "b") + data(3, "c"))).c_str());
  // Split at every byte: only the batch that completes the frame acknowledges.
  const Bytes d4 = data(4, "d");
  std::string acks;
  for (std::size_t i = 0; i < d4.size(); ++i) acks += describe(feed(*s, Bytes{d4[i]}));
  STRCMP_EQUAL("ACK:4", acks.c_str());
  STRCMP_EQUAL("1:a 2:b 3:c 4:d", events.messages().c_str());
  UNSIGNED_LONGS_EQUAL(5, registry.find(s->session_id())->next_uplink_seq);
}

TEST(ServerSession, DuplicateDataIsNotDeliveredAgainAndClosesWithSequenceError) {
  auto s = open();
  (void)handshake(*s, "dev");
  STRCMP_EQUAL("ACK:2", describe(feed(*s, data(1, "a") + data(2, "b"))).c_str());
  const std::vector<Owned> out = feed(*s, data(2, "b"));
  STRCMP_EQUAL("CLOSE:sequence_error", describe(out).c_str());
  // The device hears the reason; the positions go to the server's log only.
  STRCMP_EQUAL("duplicate DATA", out[0].text.c_str());
  STRCMP_EQUAL("duplicate DATA seq 2, expected 3", events.last("error").detail.c_str());
  STRCMP_EQUAL("1:a 2:b", events.messages().c_str());
  STRCMP_EQUAL("online message message duplicate error offline", events.kinds().c_str());
  STRCMP_EQUAL("sequence_error", events.last("offline").text.c_str());
}

TEST(ServerSession, GapIsASequenceErrorAfterAcknowledgingWhatWasDelivered) {
  auto s = open();
  (void)handshake(*s, "dev");
  const std::vector<Owned> out = feed(*s, data(1, "a") + data(3, "c"));
  STRCMP_EQUAL("ACK:1 CLOSE:sequence_error", describe(out).c_str());
  STRCMP_EQUAL("DATA out of sequence", out[1].text.c_str());
  STRCMP_EQUAL("DATA seq 3, expected 2", events.last("error").detail.c_str());
  STRCMP_EQUAL("1:a", events.messages().c_str());
  UNSIGNED_LONGS_EQUAL(0, events.count("duplicate"));
}

TEST(ServerSession, ResumeContinuesAtTheNextExpectedSeq) {
  auto first = open();
  const std::uint64_t id = handshake(*first, "dev");
  STRCMP_EQUAL("ACK:2", describe(feed(*first, data(1, "a") + data(2, "b"))).c_str());
  first->on_connection_lost(make_error_code(Errc::connection_closed));
  STRCMP_EQUAL("connection_lost", events.last("offline").text.c_str());

  auto second = open();
  const std::vector<Owned> out = feed(*second, hello("dev", 1000, id, 0));
  STRCMP_EQUAL("WELCOME", describe(out).c_str());
  UNSIGNED_LONGS_EQUAL(id, out[0].welcome.session_id);
  UNSIGNED_LONGS_EQUAL(3, out[0].welcome.next_uplink_seq);
  CHECK_TRUE(events.last("online").resumed);
  STRCMP_EQUAL("ACK:3", describe(feed(*second, data(3, "c"))).c_str());
  STRCMP_EQUAL("1:a 2:b 3:c", events.messages().c_str());
  UNSIGNED_LONGS_EQUAL(1, registry.size());
}

TEST(ServerSession, UnknownOrForeignSessionGetsANewSession) {
  auto a = open();
  const std::uint64_t a_id = handshake(*a, "a");
  STRCMP_EQUAL("ACK:1", describe(feed(*a, data(1, "x"))).c_str());

  // Unknown id: a new session, uplink from 1.
  auto b = open();
  const std::vector<Owned> out = feed(*b, hello("b", 1000, 0x1234, 9));
  CHECK(out[0].welcome.session_id != 0x1234);
  UNSIGNED_LONGS_EQUAL(1, out[0].welcome.next_uplink_seq);
  CHECK_FALSE(events.last("online").resumed);

  // Another device's session id is never handed over.
  auto c = open();
  const std::vector<Owned> stolen = feed(*c, hello("c", 1000, a_id, 0));
  CHECK(stolen[0].welcome.session_id != a_id);
  UNSIGNED_LONGS_EQUAL(1, stolen[0].welcome.next_uplink_seq);
  CHECK(a->state() == ServerSession::State::online);
}

TEST(ServerSession, DownlinkIsNumberedFromOneAndResentAfterResume) {
  auto first = open();
  const std::uint64_t id = handshake(*first, "dev");
  std::uint64_t seq = 0;
  CHECK_FALSE(first->queue_downlink(text_span("a"), &seq));
  UNSIGNED_LONGS_EQUAL(1, seq);
  CHECK_FALSE(first->queue_downlink(text_span("b"), &seq));
  UNSIGNED_LONGS_EQUAL(2, seq);
  STRCMP_EQUAL("DATA:1 DATA:2", describe(frames_of(first->take_output())).c_str());
  STRCMP_EQUAL("", describe(feed(*first, ack(1))).c_str());
  first->on_connection_lost({});
  CHECK(first->queue_downlink(text_span("x")) == Errc::offline);

  // While the device is away the session still takes downlink.
  SessionRecord* record = registry.find_device("dev");
  CHECK(record != nullptr);
  CHECK_FALSE(registry.queue_downlink(*record, text_span("c"), &seq));
  UNSIGNED_LONGS_EQUAL(3, seq);

  // Resume having delivered 1: downlink starts exactly at 2, in order.
  auto second = open();
  const std::vector<Owned> out = feed(*second, hello("dev", 1000, id, 1));
  STRCMP_EQUAL("WELCOME DATA:2 DATA:3", describe(out).c_str());
  STRCMP_EQUAL("b", out[1].text.c_str());
  STRCMP_EQUAL("c", out[2].text.c_str());
  CHECK_FALSE(second->queue_downlink(text_span("d"), &seq));
  UNSIGNED_LONGS_EQUAL(4, seq);
  STRCMP_EQUAL("DATA:4", describe(frames_of(second->take_output())).c_str());
  STRCMP_EQUAL("", describe(feed(*second, ack(4))).c_str());
  UNSIGNED_LONGS_EQUAL(0, record->unacked.size());
  UNSIGNED_LONGS_EQUAL(4, record->downlink_acked);
}

TEST(ServerSession, ResumeWithEverythingDeliveredSendsNothingAgain) {
  auto first = open();
  const std::uint64_t id = handshake(*first, "dev");
  CHECK_FALSE(first->queue_downlink(text_span("a")));
  (void)first->take_output();
  first->on_connection_lost({});
  // The device delivered 1 but its ACK was lost: HELLO says so.
  auto second = open();
  STRCMP_EQUAL("WELCOME", describe(feed(*second, hello("dev", 1000, id, 1))).c_str());
  std::uint64_t seq = 0;
  CHECK_FALSE(second->queue_downlink(text_span("b"), &seq));
  UNSIGNED_LONGS_EQUAL(2, seq);
}

TEST(ServerSession, NewSessionCarriesUnacknowledgedDownlinkRenumberedFromOne) {
  auto first = open();
  (void)handshake(*first, "dev");
  CHECK_FALSE(first->queue_downlink(text_span("a")));
  CHECK_FALSE(first->queue_downlink(text_span("b")));
  (void)feed(*first, ack(1));
  first->on_connection_lost({});
  // The device lost its session (HELLO session 0): "b" is not lost.
  auto second = open();
  const std::vector<Owned> out = feed(*second, hello("dev", 1000, 0, 0));
  STRCMP_EQUAL("WELCOME DATA:1", describe(out).c_str());
  STRCMP_EQUAL("b", out[1].text.c_str());
  UNSIGNED_LONGS_EQUAL(1, registry.size());
}

TEST(ServerSession, AckForASeqNeverSentIsASequenceError) {
  auto s = open();
  (void)handshake(*s, "dev");
  CHECK_FALSE(s->queue_downlink(text_span("a")));
  (void)s->take_output();
  const std::vector<Owned> out = feed(*s, ack(2));
  STRCMP_EQUAL("CLOSE:sequence_error", describe(out).c_str());
  STRCMP_EQUAL("ACK for a seq never sent", out[0].text.c_str());
  STRCMP_EQUAL("ACK 2, last sent 1", events.last("error").detail.c_str());
}

TEST(ServerSession, AckGoingBackwardsIsASequenceErrorButARepeatIsFine) {
  auto s = open();
  (void)handshake(*s, "dev");
  CHECK_FALSE(s->queue_downlink(text_span("a")));
  CHECK_FALSE(s->queue_downlink(text_span("b")));
  (void)s->take_output();
  STRCMP_EQUAL("", describe(feed(*s, ack(2) + ack(2))).c_str());
  const std::vector<Owned> out = feed(*s, ack(1));
  STRCMP_EQUAL("CLOSE:sequence_error", describe(out).c_str());
  STRCMP_EQUAL("ACK going backwards", out[0].text.c_str());
  STRCMP_EQUAL("ACK 1 below earlier ACK 2", events.last("error").detail.c_str());
}

namespace {
// Hands out scripted values (issue 12, item 2: session ids from a CSPRNG).
class ScriptedIds final : public RandomSource {
 public:
  std::uint32_t next_u32() override {
    const std::uint32_t v = values[next % values.size()];
    ++next;
    return v;
  }
  std::vector<std::uint32_t> values;
  std::size_t next = 0;
};
}  // namespace

TEST(ServerSession, SessionIdsComeFromTheRandomSourceAndAZeroOrTakenIdIsDrawnAgain) {
  ScriptedIds ids;
  // 0 (refused), then 0x0000000100000002, then the same again (taken), then 0x0000000300000004.
  ids.values = {0, 0, 1, 2, 1, 2, 3, 4};
  registry.use_random_ids(ids);
  auto a = open();
  UNSIGNED_LONGLONGS_EQUAL(0x0000000100000002ull, handshake(*a, "dev-a"));
  auto b = open();
  UNSIGNED_LONGLONGS_EQUAL(0x0000000300000004ull, handshake(*b, "dev-b"));
}

TEST(ServerSession, HelloClaimingUnsentDownlinkIsASequenceError) {
  auto first = open();
  const std::uint64_t id = handshake(*first, "dev");
  first->on_connection_lost({});
  auto second = open();
  const std::vector<Owned> out = feed(*second, hello("dev", 1000, id, 5));
  STRCMP_EQUAL("CLOSE:sequence_error", describe(out).c_str());
  // Whoever sent this HELLO learns nothing of where the session stands.
  STRCMP_EQUAL("resume refused", out[0].text.c_str());
  STRCMP_EQUAL("last_downlink_seq 5 outside 0 .. 0", events.last("error").detail.c_str());
  CHECK(second->closed());
  // The session is untouched and can still be resumed properly.
  auto third = open();
  STRCMP_EQUAL("WELCOME", describe(feed(*third, hello("dev", 1000, id, 0))).c_str());
  CHECK_TRUE(events.last("online").resumed);
}

TEST(ServerSession, DownlinkQueueIsBounded) {
  SessionRegistry small{1, RegistryLimits{10, 2}};
  ServerSession s(small, events, limits, 0, 1);
  const Bytes h = hello("dev", 1000);
  s.on_bytes(0, ConstByteSpan{h.data(), h.size()});
  CHECK_FALSE(s.queue_downlink(text_span("a")));
  CHECK_FALSE(s.queue_downlink(text_span("b")));
  CHECK(s.queue_downlink(text_span("c")) == Errc::queue_full);
  std::vector<std::uint8_t> big(kMaxDataPayload + 1, 'x');
  CHECK(s.queue_downlink(ConstByteSpan{big.data(), big.size()}) == Errc::field_too_long);
  STRCMP_EQUAL("WELCOME DATA:1 DATA:2", describe(frames_of(s.take_output())).c_str());
}

TEST(ServerSession, SilentDeviceIsDetectedAtTwoAndAHalfHeartbeats) {
  auto s = open(0);
  (void)handshake(*s, "dev", 1000, 0, 0, 0);
  UNSIGNED_LONGS_EQUAL(2500, s->next_deadline());
  s->on_timer(2499);
  CHECK_FALSE(s->closed());
  // Any complete frame is life: a PING at 2000 moves the deadline to 4500.
  STRCMP_EQUAL("PONG", describe(feed(*s, ping(), 2000)).c_str());
  UNSIGNED_LONGS_EQUAL(4500, s->next_deadline());
  s->on_timer(4499);
  CHECK_FALSE(s->closed());
  s->on_timer(4500);
  CHECK(s->closed());
  const std::vector<Owned> out = frames_of(s->take_output());
  STRCMP_EQUAL("CLOSE:silent", describe(out).c_str());
  STRCMP_EQUAL("online offline", events.kinds().c_str());
  STRCMP_EQUAL("device_silent", events.last("offline").text.c_str());
  UNSIGNED_LONGS_EQUAL(kNever, s->next_deadline());
  // The session survives for a resume.
  CHECK(registry.find_device("dev") != nullptr);
  CHECK(registry.find_device("dev")->connection == nullptr);
}

TEST(ServerSession, ConnectionWithoutHelloIsClosedAtTheHelloTimeout) {
  limits.hello_timeout_ms = 3000;
  auto s = open(100);
  UNSIGNED_LONGS_EQUAL(3100, s->next_deadline());
  (void)feed(*s, ping(), 3000);  // heartbeats do not extend the HELLO deadline
  s->on_timer(3099);
  CHECK_FALSE(s->closed());
  s->on_timer(3100);
  STRCMP_EQUAL("CLOSE:silent", describe(frames_of(s->take_output())).c_str());
  STRCMP_EQUAL("error", events.kinds().c_str());
  STRCMP_EQUAL("handshake_timeout", events.last("error").text.c_str());
}

TEST(ServerSession, CloseFromTheDeviceTakesItOffline) {
  auto s = open();
  (void)handshake(*s, "dev");
  // DATA then CLOSE in one batch: delivered, but nothing more is sent.
  STRCMP_EQUAL("", describe(feed(*s, data(1, "a") + close_frame(CloseReason::going_away, 700))).c_str());
  CHECK(s->closed());
  STRCMP_EQUAL("online message offline", events.kinds().c_str());
  const Event offline = events.last("offline");
  STRCMP_EQUAL("device_close", offline.text.c_str());
  CHECK(offline.close_reason == CloseReason::going_away);
  UNSIGNED_LONGS_EQUAL(700, offline.retry_after_ms);
  // Its next WELCOME acknowledges what was delivered.
  UNSIGNED_LONGS_EQUAL(2, registry.find_device("dev")->next_uplink_seq);
}

TEST(ServerSession, ServerCloseCarriesReasonAndRetryAfter) {
  auto s = open();
  (void)handshake(*s, "dev");
  s->close(CloseReason::overloaded, 5000, "busy");
  const std::vector<Owned> out = frames_of(s->take_output());
  STRCMP_EQUAL("CLOSE:overloaded", describe(out).c_str());
  UNSIGNED_LONGS_EQUAL(5000, out[0].retry_after_ms);
  STRCMP_EQUAL("busy", out[0].text.c_str());
  STRCMP_EQUAL("server_close", events.last("offline").text.c_str());
  s->close(CloseReason::normal, 0, "again");  // once closed, nothing more
  CHECK_FALSE(s->has_output());
  UNSIGNED_LONGS_EQUAL(1, events.count("offline"));
}

TEST(ServerSession, NewConnectionOfTheSameDeviceReplacesTheOldOne) {
  auto old_connection = open();
  const std::uint64_t id = handshake(*old_connection, "dev");
  auto new_connection = open();
  STRCMP_EQUAL("WELCOME", describe(feed(*new_connection, hello("dev", 1000, id, 0))).c_str());
  CHECK(old_connection->closed());
  STRCMP_EQUAL("CLOSE:session_replaced", describe(frames_of(old_connection->take_output())).c_str());
  // The old connection's offline comes before the new one's online.
  STRCMP_EQUAL("online offline online", events.kinds().c_str());
  STRCMP_EQUAL("session_replaced", events.events[1].text.c_str());
  CHECK(registry.find(id)->connection == new_connection.get());
  // The old connection ending later does not detach the new one.
  old_connection.reset();
  CHECK(registry.find(id)->connection == new_connection.get());
}

TEST(ServerSession, TwoConnectionsTakingOneDeviceFromEachOtherAreAskedToWaitLongerEachTime) {
  // Two devices with one id (issue 12, item 3): the newer connection always
  // wins; from the second quick replacement in a row the replaced one gets
  // a growing retry-after, and the server's log says why.
  std::unique_ptr<ServerSession> a = open(0);
  const std::uint64_t id = handshake(*a, "twin", 1000, 0, 0, 0);
  std::unique_ptr<ServerSession> b;
  std::vector<std::uint32_t> waits;
  for (Millis now = 100; now <= 500; now += 100) {
    std::unique_ptr<ServerSession>& newer = (now / 100) % 2 == 1 ? b : a;
    std::unique_ptr<ServerSession>& older = (now / 100) % 2 == 1 ? a : b;
    newer = open(now);
    STRCMP_EQUAL("WELCOME", describe(feed(*newer, hello("twin", 1000, id, 0), now)).c_str());
    const std::vector<Owned> out = frames_of(older->take_output());
    STRCMP_EQUAL("CLOSE:session_replaced", describe(out).c_str());
    waits.push_back(out[0].retry_after_ms);
  }
  CHECK((waits == std::vector<std::uint32_t>{0, 1000, 2000, 4000, 8000}));
  UNSIGNED_LONGS_EQUAL(4, events.count("error"));
  STRCMP_EQUAL("device_id_contested", events.last("error").text.c_str());
  // A replacement after a quiet period is an ordinary reconnect again.
  std::unique_ptr<ServerSession> later = open(500 + SessionRegistry::kContestWindowMs);
  (void)feed(*later, hello("twin", 1000, id, 0), 500 + SessionRegistry::kContestWindowMs);
  const std::vector<Owned> out = frames_of(b->take_output());  // b took it last, at 500
  STRCMP_EQUAL("CLOSE:session_replaced", describe(out).c_str());
  UNSIGNED_LONGS_EQUAL(0, out[0].retry_after_ms);
}

// ============================================================================
// ReferenceServer: the Asio server over loopback
// ============================================================================

namespace {

/// A device made of a raw socket: writes frames, reads without blocking.
class RawDevice {
 public:
  explicit RawDevice(asio::io_context& io) : socket_(io) {}

  /// `receive_buffer` > 0: that SO_RCVBUF, so that a device that stops
  /// reading makes the server queue almost everything it sends.
  bool connect(std::uint16_t port, int receive_buffer = 0) {
    asio::error_code error;
    if (receive_buffer > 0) {
      socket_.open(asio::ip::tcp::v4(), error);
      if (!error) socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer), error);
    }
    // A loopback connect completes in the kernel's backlog, before the
    // server's accept handler runs.
    if (!error) socket_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1", error), port), error);
    if (!error) socket_.non_blocking(true, error);
    return !error;
  }
  bool send(const Bytes& bytes) {
    asio::error_code error;
    asio::write(socket_, asio::buffer(bytes), error);  // small frames: fit in the socket buffer
    return !error;
  }
  /// Reads what is available now (nothing after stop_reading()).
  void poll() {
    for (int i = 0; i < 64 && !eof_ && reading_; ++i) {
      std::uint8_t buffer[4096];
      asio::error_code error;
      const std::size_t n = socket_.read_some(asio::buffer(buffer), error);
      if (error == asio::error::would_block || error == asio::error::try_again) return;
      if (error) {
        eof_ = true;
        return;
      }
      decode_into(decoder_, buffer, n, frames_);
    }
  }
  void close() {
    asio::error_code ignored;
    socket_.close(ignored);
  }
  /// A device that does not read any more (its kernel buffer fills up).
  void stop_reading() { reading_ = false; }

  [[nodiscard]] const std::vector<Owned>& frames() const { return frames_; }
  [[nodiscard]] std::string described() const { return describe(frames_); }
  [[nodiscard]] bool eof() const { return eof_; }
  [[nodiscard]] bool has(FrameType type) const {
    for (const Owned& f : frames_) {
      if (f.type == type) return true;
    }
    return false;
  }
  [[nodiscard]] Owned first(FrameType type) const {
    for (const Owned& f : frames_) {
      if (f.type == type) return f;
    }
    return {};
  }

 private:
  asio::ip::tcp::socket socket_;
  FrameDecoder<> decoder_;
  std::vector<Owned> frames_;
  bool eof_ = false;
  bool reading_ = true;
};

}  // namespace

TEST_GROUP(ReferenceServer) {
  asio::io_context io;
  Recorder events;
  std::unique_ptr<Server> server;
  std::vector<std::unique_ptr<RawDevice>> devices;

  void teardown() override {
    for (auto& device : devices) device->close();
    if (server) server->stop();
    server.reset();
    // Let the aborted handlers run, so they release what they hold.
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }

  ServerOptions options() {
    ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.session.heartbeat_min_ms = 20;
    o.close_linger_ms = 300;
    o.session_id_seed = 99;
    return o;
  }
  void start(const ServerOptions& o) {
    server = std::make_unique<Server>(io, events, o);
    const std::error_code error = server->start();
    CHECK_FALSE(error);
    CHECK(server->port() != 0);
  }
  RawDevice& device() {
    devices.push_back(std::make_unique<RawDevice>(io));
    RawDevice& d = *devices.back();
    CHECK_TRUE(d.connect(server->port()));
    return d;
  }
  /// Runs the io_context in 5 ms slices until `done` or `limit_ms` of wall time.
  template <typename Predicate>
  bool run_until(Predicate done, int limit_ms = 3000) {
    const auto poll_then_check = [&] {
      for (auto& d : devices) d->poll();
      return done();
    };
    return test::run_until(io, poll_then_check, std::chrono::milliseconds(limit_ms));
  }
  /// Connects a device and completes the handshake; returns the WELCOME.
  Owned online(RawDevice& d, const char* id, std::uint32_t heartbeat_ms = 1000, std::uint64_t resume = 0) {
    CHECK_TRUE(d.send(hello(id, heartbeat_ms, resume, 0)));
    CHECK_TRUE(run_until([&] { return d.has(FrameType::welcome); }));
    return d.first(FrameType::welcome);
  }
};

TEST(ReferenceServer, DeviceComesOnline) {
  start(options());
  RawDevice& d = device();
  const Owned welcome = online(d, "pi-0001", 30000);
  UNSIGNED_LONGS_EQUAL(30000, welcome.welcome.heartbeat_ms);
  CHECK(welcome.welcome.session_id != 0);
  UNSIGNED_LONGS_EQUAL(1, welcome.welcome.next_uplink_seq);
  CHECK_TRUE(run_until([&] { return events.count("online") == 1; }));
  STRCMP_EQUAL("pi-0001", events.last("online").device.c_str());
  UNSIGNED_LONGS_EQUAL(welcome.welcome.session_id, events.last("online").session);
  CHECK_TRUE(server->is_online("pi-0001"));
  UNSIGNED_LONGS_EQUAL(1, server->online_count());
}

TEST(ReferenceServer, MessagesAreDeliveredOnceAndAcknowledged) {
  start(options());
  RawDevice& d = device();
  (void)online(d, "dev");
  CHECK_TRUE(d.send(data(1, "temp=21") + data(2, "temp=22") + ping()));
  // The bytes may arrive in one read or several: ACKs are cumulative.
  const auto highest_ack = [&] {
    std::uint64_t highest = 0;
    for (const Owned& f : d.frames()) {
      if (f.type == FrameType::ack && f.seq > highest) highest = f.seq;
    }
    return highest;
  };
  CHECK_TRUE(run_until([&] { return highest_ack() == 2 && d.has(FrameType::pong); }));
  STRCMP_EQUAL("1:temp=21 2:temp=22", events.messages().c_str());
  UNSIGNED_LONGS_EQUAL(2, server->counters().messages);
  UNSIGNED_LONGS_EQUAL(0, server->counters().duplicates);
}

TEST(ReferenceServer, TheEndOfEachBatchOfMessagesIsRelayedToTheEvents) {
  start(options());
  RawDevice& d = device();
  (void)online(d, "dev");
  UNSIGNED_LONGS_EQUAL(0, events.batches);
  CHECK_TRUE(d.send(data(1, "a") + data(2, "b")));
  CHECK_TRUE(run_until([&] { return events.count("message") == 2 && events.messages_at_last_batch == 2; }));
  CHECK_TRUE(events.batches >= 1 && events.batches <= 2);  // one read or two
}

TEST(ReferenceServer, DownlinkIsDeliveredAndAcknowledged) {
  start(options());
  RawDevice& d = device();
  (void)online(d, "dev");
  CHECK_TRUE(run_until([&] { return server->is_online("dev"); }));
  std::uint64_t seq = 0;
  CHECK_FALSE(server->send_downlink("dev", text_span("set-rate"), &seq));
  UNSIGNED_LONGS_EQUAL(1, seq);
  CHECK_TRUE(run_until([&] { return d.has(FrameType::data); }));
  const Owned message = d.first(FrameType::data);
  UNSIGNED_LONGS_EQUAL(1, message.seq);
  STRCMP_EQUAL("set-rate", message.text.c_str());
  STRCMP_EQUAL("downlink", events.last("downlink").kind.c_str());
  CHECK_TRUE(d.send(ack(1)));
  CHECK_TRUE(run_until([&] { return server->registry().find_device("dev")->unacked.empty(); }));
  // Unknown devices have nowhere to keep a message.
  CHECK(server->send_downlink("nobody", text_span("x")) == Errc::offline);
}

TEST(ReferenceServer, DownlinkHeldWhileOfflineIsSentOnResume) {
  start(options());
  RawDevice& first = device();
  const std::uint64_t id = online(first, "dev").welcome.session_id;
  first.close();
  CHECK_TRUE(run_until([&] { return events.count("offline") == 1; }));
  STRCMP_EQUAL("connection_lost", events.last("offline").text.c_str());
  CHECK_FALSE(server->send_downlink("dev", text_span("reboot")));
  RawDevice& second = device();
  const Owned welcome = online(second, "dev", 1000, id);
  UNSIGNED_LONGS_EQUAL(id, welcome.welcome.session_id);
  CHECK_TRUE(run_until([&] { return second.has(FrameType::data); }));
  STRCMP_EQUAL("reboot", second.first(FrameType::data).text.c_str());
}

TEST(ReferenceServer, CloseDeviceSendsCloseWithRetryAfterThenHangsUp) {
  start(options());
  RawDevice& d = device();
  (void)online(d, "dev");
  CHECK_TRUE(run_until([&] { return server->is_online("dev"); }));
  CHECK_FALSE(server->close_device("dev", CloseReason::overloaded, 5000));
  CHECK_TRUE(run_until([&] { return d.eof(); }));
  const Owned close = d.first(FrameType::close);
  CHECK(close.reason == CloseReason::overloaded);
  UNSIGNED_LONGS_EQUAL(5000, close.retry_after_ms);
  const Event offline = events.last("offline");
  STRCMP_EQUAL("server_close", offline.text.c_str());
  UNSIGNED_LONGS_EQUAL(5000, offline.retry_after_ms);
  CHECK_TRUE(run_until([&] { return server->connection_count() == 0; }));
  CHECK(server->close_device("dev", CloseReason::normal, 0) == Errc::offline);
}

TEST(ReferenceServer, SilentDeviceIsClosedOnTheServersReadDeadline) {
  start(options());
  RawDevice& d = device();
  // Taken before HELLO leaves, so the server's last receive is later still.
  const auto started = std::chrono::steady_clock::now();
  const Owned welcome = online(d, "quiet", 40);  // read deadline 2.5 x 40 = 100 ms
  UNSIGNED_LONGS_EQUAL(40, welcome.welcome.heartbeat_ms);
  CHECK_TRUE(run_until([&] { return d.eof(); }));
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  CHECK(waited.count() >= 99);  // never early (the server clock counts whole ms)
  CHECK(d.first(FrameType::close).reason == CloseReason::silent);
  STRCMP_EQUAL("device_silent", events.last("offline").text.c_str());
}

TEST(ReferenceServer, NewConnectionReplacesTheOldOne) {
  start(options());
  RawDevice& first = device();
  const std::uint64_t id = online(first, "dev").welcome.session_id;
  RawDevice& second = device();
  const Owned welcome = online(second, "dev", 1000, id);
  UNSIGNED_LONGS_EQUAL(id, welcome.welcome.session_id);
  CHECK_TRUE(run_until([&] { return first.eof(); }));
  CHECK(first.first(FrameType::close).reason == CloseReason::session_replaced);
  CHECK_TRUE(server->is_online("dev"));
  CHECK_TRUE(second.send(data(1, "still here")));
  CHECK_TRUE(run_until([&] { return events.count("message") == 1; }));
}

TEST(ReferenceServer, ManyDevicesAtOnce) {
  start(options());
  constexpr int kDevices = 20;
  constexpr int kMessages = 5;
  std::vector<RawDevice*> fleet;
  for (int i = 0; i < kDevices; ++i) {
    RawDevice& d = device();
    fleet.push_back(&d);
    CHECK_TRUE(d.send(hello(("dev-" + std::to_string(i)).c_str(), 1000)));
  }
  CHECK_TRUE(run_until([&] { return events.count("online") == kDevices; }));
  for (RawDevice* d : fleet) {
    Bytes batch;
    for (int m = 1; m <= kMessages; ++m) batch = batch + data(static_cast<std::uint64_t>(m), "m");
    CHECK_TRUE(d->send(batch));
  }
  CHECK_TRUE(run_until([&] { return server->counters().messages == kDevices * kMessages; }));
  UNSIGNED_LONGS_EQUAL(kDevices, server->online_count());
}

TEST(ReferenceServer, ConnectionsBeyondTheLimitGetOverloadedWithRetryAfter) {
  ServerOptions o = options();
  o.max_connections = 1;
  o.overload_retry_after_ms = 2500;
  start(o);
  RawDevice& first = device();
  (void)online(first, "a");
  RawDevice& second = device();
  CHECK_TRUE(run_until([&] { return second.eof(); }));
  const Owned close = second.first(FrameType::close);
  CHECK(close.reason == CloseReason::overloaded);
  UNSIGNED_LONGS_EQUAL(2500, close.retry_after_ms);
  UNSIGNED_LONGS_EQUAL(1, server->counters().refused);
  CHECK_TRUE(server->is_online("a"));
}

TEST(ReferenceServer, ConnectionsThatNeverSendHelloCannotLockDevicesOut) {
  ServerOptions o = options();
  o.max_pending_hello = 4;
  o.max_pending_hello_per_source = 0;  // every test connection comes from 127.0.0.1
  o.overload_retry_after_ms = 700;
  start(o);
  std::vector<RawDevice*> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(&device());  // they never send HELLO
  CHECK_TRUE(run_until([&] { return server->connection_count() == 4; }));
  // A fifth idle connection evicts the oldest, and so does a real device:
  // it is through HELLO before it could be pushed out in turn.
  idle.push_back(&device());
  CHECK_TRUE(run_until([&] { return idle[0]->eof(); }));
  const Owned evicted = idle[0]->first(FrameType::close);
  CHECK(evicted.reason == CloseReason::overloaded);
  UNSIGNED_LONGS_EQUAL(700, evicted.retry_after_ms);
  RawDevice& real = device();
  (void)online(real, "real-device");
  CHECK_TRUE(server->is_online("real-device"));
  CHECK_TRUE(run_until([&] { return idle[1]->eof(); }));
  UNSIGNED_LONGS_EQUAL(2, server->counters().evicted);
  UNSIGNED_LONGS_EQUAL(0, server->counters().refused);
  CHECK_FALSE(idle[2]->eof());  // only as many as needed
  UNSIGNED_LONGS_EQUAL(2, events.count("error"));
  STRCMP_EQUAL("hello_budget", events.last("error").text.c_str());
}

TEST(ReferenceServer, OneAddressGetsOnlyItsShareOfConnectionsWithoutHello) {
  ServerOptions o = options();
  o.max_pending_hello_per_source = 2;
  start(o);
  RawDevice& a = device();
  (void)online(a, "a");  // online: no longer waiting for HELLO, not counted
  RawDevice& idle1 = device();
  RawDevice& idle2 = device();
  RawDevice& third = device();
  CHECK_TRUE(run_until([&] { return third.eof(); }));
  CHECK(third.first(FrameType::close).reason == CloseReason::overloaded);
  UNSIGNED_LONGS_EQUAL(1, server->counters().refused);
  CHECK_FALSE(idle1.eof());
  CHECK_FALSE(idle2.eof());
  // One of them sends HELLO: its slot is free again.
  (void)online(idle1, "b");
  RawDevice& fourth = device();
  (void)online(fourth, "c");
  CHECK_TRUE(server->is_online("c"));
  UNSIGNED_LONGS_EQUAL(1, server->counters().refused);
}

TEST(ReferenceServer, TheTotalWriteBacklogCutsTheDeviceWithTheLongestQueue) {
  ServerOptions o = options();
  o.max_write_backlog = 768u << 10;
  o.max_total_write_backlog = 768u << 10;  // the sum of both queues goes beyond it, neither alone does
  o.socket_send_buffer = 16384;            // so the kernel takes little of it
  start(o);
  devices.push_back(std::make_unique<RawDevice>(io));
  RawDevice& hoarder = *devices.back();
  CHECK_TRUE(hoarder.connect(server->port(), 4096));
  devices.push_back(std::make_unique<RawDevice>(io));
  RawDevice& slow = *devices.back();
  CHECK_TRUE(slow.connect(server->port(), 4096));
  (void)online(hoarder, "hoarder", 60000);  // long heartbeats: silence is not what ends them
  (void)online(slow, "slow", 60000);
  hoarder.stop_reading();
  slow.stop_reading();
  const std::string payload(kMaxDataPayload, 'd');
  const ConstByteSpan bytes{payload.data(), payload.size()};
  for (int i = 0; i < 60; ++i) {  // about 240 KB
    const std::error_code e = server->send_downlink("slow", bytes);
    CHECK_FALSE_TEXT(e, e.message().c_str());
  }
  for (int i = 0; i < 180 && server->is_online("hoarder"); ++i) {  // about 730 KB
    (void)server->send_downlink("hoarder", bytes);
  }
  CHECK_TRUE(run_until([&] { return !server->is_online("hoarder"); }));
  CHECK_TRUE(server->is_online("slow"));
  UNSIGNED_LONGS_EQUAL(1, server->counters().backlog_cuts);
  STRCMP_EQUAL("write_backlog", events.last("error").text.c_str());
  CHECK_TRUE(events.last("error").detail.find("total write backlog") != std::string::npos);
}

TEST(ReferenceServer, ShutdownSendsGoingAwayToEveryoneAndEnds) {
  ServerOptions o = options();
  o.shutdown_reconnect_rate = 0;  // one hint for all (the spread has its own test)
  start(o);
  RawDevice& a = device();
  RawDevice& b = device();
  (void)online(a, "a");
  (void)online(b, "b");
  RawDevice& early = device();  // connected, no HELLO yet
  CHECK_TRUE(run_until([&] { return server->connection_count() == 3; }));
  bool done = false;
  server->shutdown(CloseReason::going_away, 1000, [&] { done = true; });
  CHECK_TRUE(run_until([&] { return done && a.eof() && b.eof() && early.eof(); }));
  for (RawDevice* d : {&a, &b, &early}) {
    const Owned close = d->first(FrameType::close);
    CHECK(close.reason == CloseReason::going_away);
    UNSIGNED_LONGS_EQUAL(1000, close.retry_after_ms);
  }
  UNSIGNED_LONGS_EQUAL(0, server->connection_count());
  UNSIGNED_LONGS_EQUAL(2, events.count("offline"));
  // No longer accepting.
  RawDevice late(io);
  const bool connected = late.connect(server->port());
  CHECK_FALSE(connected);
}

TEST(ReferenceServer, ShutdownSpreadsTheRetryAfterHintsByTheReconnectRate) {
  ServerOptions o = options();
  o.shutdown_reconnect_rate = 2;  // 2 devices per second: 4 connections spread over 2 s
  start(o);
  std::vector<RawDevice*> fleet;
  for (const char* id : {"a", "b", "c", "d"}) {
    fleet.push_back(&device());
    (void)online(*fleet.back(), id);
  }
  bool done = false;
  server->shutdown(CloseReason::going_away, 1000, [&] { done = true; });
  CHECK_TRUE(run_until([&] { return done; }));
  std::vector<std::uint32_t> hints;
  for (RawDevice* d : fleet) {
    const Owned close = d->first(FrameType::close);
    CHECK(close.reason == CloseReason::going_away);
    CHECK_TEXT(close.retry_after_ms >= 1000 && close.retry_after_ms <= 3000, std::to_string(close.retry_after_ms).c_str());
    hints.push_back(close.retry_after_ms);
  }
  // Four draws from 2001 values all equal: about 1 in 8 * 10^9.
  CHECK_FALSE(hints[0] == hints[1] && hints[1] == hints[2] && hints[2] == hints[3]);
}

TEST(ReferenceServer, StartFailsOnAnAddressInUse) {
  start(options());
  ServerOptions o = options();
  o.port = server->port();
  Recorder other_events;
  Server other(io, other_events, o);
  CHECK_TRUE(static_cast<bool>(other.start()));  // port taken (no SO_REUSEPORT)
  ServerOptions bad = options();
  bad.session.read_factor = 0.5;
  Server invalid(io, other_events, bad);
  CHECK(invalid.start() == Errc::invalid_option);
}

// ============================================================================
// ReferenceServerJson: the event lines
// ============================================================================

namespace {

std::string read_all(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[1024];
  for (int i = 0; i < 1024; ++i) {  // bounded: the tests write a few lines
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file);
    if (n == 0) break;
    text.append(buffer, n);
  }
  return text;
}

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_GROUP(ReferenceServerJson) {
  std::FILE* file = nullptr;
  void setup() override { file = std::tmpfile(); }
  void teardown() override {
    if (file != nullptr) std::fclose(file);
  }
};

// Escaping is the tools' JSON writer's (tests/unit/tool_support_test.cpp).

TEST(ReferenceServerJson, EventLinesCarryTheDocumentedFieldsAndNeverTheToken) {
  JsonEventPrinter printer(file, true);
  SessionRegistry registry(3);
  SessionLimits limits;
  ServerSession session(registry, printer, limits, 0, 1);
  const Bytes input = hello("pi\"\\1", 1000, 0, 0, "s3cret") + data(1, "hi\n");
  session.on_bytes(0, ConstByteSpan{input.data(), input.size()});
  session.on_timer(2500);
  printer.listening("127.0.0.1", 7400);
  printer.shutdown(1, 0);
  const std::string text = read_all(file);
  UNSIGNED_LONGS_EQUAL(5, printer.lines());

  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  UNSIGNED_LONGS_EQUAL(5, lines.size());
  UNSIGNED_LONGS_EQUAL(text.size(), start);  // every line ends with a newline
  for (const std::string& line : lines) {
    CHECK_TRUE(line.rfind("{\"ts_ms\":", 0) == 0);
    CHECK_TRUE(line.back() == '}');
  }
  // The session id in decimal, as uplink_device and the SDK's logs print it.
  const std::string session_field = "\"session\":\"" + std::to_string(session.session_id()) + "\"";
  CHECK_TRUE(contains(lines[0], "\"event\":\"online\""));
  CHECK_TRUE(contains(lines[0], "\"device\":\"pi\\\"\\\\1\""));
  CHECK_TRUE(contains(lines[0], session_field.c_str()));
  CHECK_TRUE(contains(lines[0], "\"heartbeat_ms\":1000"));
  CHECK_TRUE(contains(lines[1], "\"event\":\"message\""));
  CHECK_TRUE(contains(lines[1], "\"seq\":1"));
  CHECK_TRUE(contains(lines[1], "\"bytes\":3"));
  CHECK_TRUE(contains(lines[1], "\"payload\":\"hi\\n\""));
  CHECK_TRUE(contains(lines[2], "\"event\":\"offline\""));
  CHECK_TRUE(contains(lines[2], "\"reason\":\"device_silent\""));
  CHECK_TRUE(contains(lines[2], "\"close_reason\":\"silent\""));
  STRCMP_CONTAINS("\"event\":\"listening\",\"address\":\"127.0.0.1\",\"port\":7400", lines[3].c_str());
  STRCMP_CONTAINS("\"event\":\"shutdown\",\"received\":1,\"duplicates\":0", lines[4].c_str());
  CHECK_FALSE(contains(text, "s3cret"));
}

TEST(ReferenceServerJson, PayloadsArePrintedOnlyWhenAsked) {
  JsonEventPrinter printer(file, false);
  MessageEvent message;
  message.device_id = "dev";
  message.session_id = 1;
  message.seq = 7;
  message.payload = text_span("secret payload");
  printer.on_message(message);
  ErrorEvent error;
  error.reason = "protocol_error";
  error.detail = "expected HELLO";
  printer.on_error(error);
  const std::string text = read_all(file);
  CHECK_TRUE(contains(text, "\"seq\":7,\"bytes\":14}"));
  CHECK_FALSE(contains(text, "secret payload"));
  CHECK_TRUE(contains(text, "\"event\":\"error\",\"reason\":\"protocol_error\",\"detail\":\"expected HELLO\""));
}

// ============================================================================
// JsonEventOutput: buffering, levels, stats
// ============================================================================

namespace {

// What the file holds now (the printer's own buffer not included); leaves
// the position at the end for the next writes.
std::string written(std::FILE* file) {
  std::string text = read_all(file);
  std::fseek(file, 0, SEEK_END);
  return text;
}

std::size_t count_of(const std::string& text, const char* part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

MessageEvent message_event(std::uint64_t seq, ConstByteSpan payload = text_span("hello")) {
  MessageEvent event;
  event.device_id = "dev";
  event.session_id = 1;
  event.seq = seq;
  event.payload = payload;
  return event;
}

OnlineEvent online_event() {
  OnlineEvent event;
  event.device_id = "dev";
  event.session_id = 1;
  return event;
}

// Records the order of the events and whether the ACK was already queued
// when on_batch_delivered came.
struct BatchRecorder final : ServerEvents {
  void on_message(const MessageEvent& event) override { order += "m" + std::to_string(event.seq) + " "; }
  void on_batch_delivered() override {
    order += "batch ";
    output_at_batch = session != nullptr && session->has_output();
  }
  std::string order;
  const ServerSession* session = nullptr;
  bool output_at_batch = true;
};

}  // namespace

TEST_GROUP(JsonEventOutput) {
  std::FILE* file = nullptr;
  void setup() override { file = std::tmpfile(); }
  void teardown() override {
    if (file != nullptr) std::fclose(file);
  }
};

TEST(JsonEventOutput, MessageLinesWaitInTheBufferUntilFlushed) {
  JsonEventPrinter printer(file);
  printer.on_message(message_event(1));
  printer.on_message(message_event(2));
  STRCMP_EQUAL("", written(file).c_str());
  CHECK_TRUE(printer.buffered_bytes() > 0);
  UNSIGNED_LONGS_EQUAL(2, printer.lines());
  printer.flush();
  UNSIGNED_LONGS_EQUAL(0, printer.buffered_bytes());
  const std::string text = written(file);
  UNSIGNED_LONGS_EQUAL(2, count_of(text, "\"event\":\"message\""));
  CHECK_TRUE(text.find("\"seq\":1,") < text.find("\"seq\":2,"));
}

TEST(JsonEventOutput, ConnectionLevelLinesAreWrittenAtOnceAfterWhatWasBuffered) {
  JsonEventPrinter printer(file);
  printer.on_message(message_event(1));
  printer.on_online(online_event());
  std::string text = written(file);
  CHECK_TRUE(text.find("\"event\":\"message\"") < text.find("\"event\":\"online\""));
  UNSIGNED_LONGS_EQUAL(0, printer.buffered_bytes());

  OfflineEvent offline;
  offline.device_id = "dev";
  ErrorEvent error;
  error.reason = "protocol_error";
  const std::size_t before = written(file).size();
  printer.on_offline(offline);
  CHECK_TRUE(written(file).size() > before);
  printer.on_error(error);
  printer.error("bad_command", "x");
  printer.listening("127.0.0.1", 1);
  printer.state("dir", 1, 0, 0, 0);
  printer.stats(StatsFigures{});
  printer.shutdown(1, 0);
  UNSIGNED_LONGS_EQUAL(0, printer.buffered_bytes());
  text = written(file);
  UNSIGNED_LONGS_EQUAL(9, count_of(text, "\n"));
}

TEST(JsonEventOutput, DuplicateAndDownlinkLinesAreBuffered) {
  JsonEventPrinter printer(file);
  DuplicateEvent duplicate;
  duplicate.seq = 3;
  DownlinkEvent downlink;
  downlink.seq = 4;
  printer.on_duplicate(duplicate);
  printer.on_downlink(downlink);
  STRCMP_EQUAL("", written(file).c_str());
  printer.flush();
  const std::string text = written(file);
  UNSIGNED_LONGS_EQUAL(1, count_of(text, "\"event\":\"duplicate\""));
  UNSIGNED_LONGS_EQUAL(1, count_of(text, "\"event\":\"downlink\""));
}

TEST(JsonEventOutput, TheBatchIsWrittenBeforeItsAck) {
  JsonEventPrinter printer(file);
  printer.on_message(message_event(1));
  printer.on_batch_delivered();
  UNSIGNED_LONGS_EQUAL(1, count_of(written(file), "\"event\":\"message\""));
  UNSIGNED_LONGS_EQUAL(0, printer.buffered_bytes());
}

TEST(JsonEventOutput, ASessionReportsTheBatchAfterItsMessagesAndBeforeTheAck) {
  SessionRegistry registry(3);
  SessionLimits limits;
  BatchRecorder events;
  ServerSession session(registry, events, limits, 0, 1);
  events.session = &session;
  const Bytes hello_bytes = hello("pi", 1000, 0, 0);
  session.on_bytes(0, ConstByteSpan{hello_bytes.data(), hello_bytes.size()});
  (void)session.take_output();  // WELCOME
  STRCMP_EQUAL("", events.order.c_str());

  const Bytes batch = data(1, "a") + data(2, "b");
  session.on_bytes(1, ConstByteSpan{batch.data(), batch.size()});
  STRCMP_EQUAL("m1 m2 batch ", events.order.c_str());
  CHECK_FALSE(events.output_at_batch);  // the ACK came after
  CHECK_TRUE(session.has_output());

  events.order.clear();
  const Bytes again = data(2, "b");  // a duplicate only: no batch of messages
  session.on_bytes(2, ConstByteSpan{again.data(), again.size()});
  STRCMP_EQUAL("", events.order.c_str());
}

TEST(JsonEventOutput, APrinterBehindASessionHasWrittenEveryMessageItAcknowledges) {
  JsonEventPrinter printer(file);
  SessionRegistry registry(3);
  SessionLimits limits;
  ServerSession session(registry, printer, limits, 0, 1);
  const Bytes input = hello("pi", 1000, 0, 0) + data(1, "a") + data(2, "b");
  session.on_bytes(0, ConstByteSpan{input.data(), input.size()});
  CHECK_TRUE(session.has_output());  // WELCOME and the ACK
  const std::string text = written(file);
  UNSIGNED_LONGS_EQUAL(2, count_of(text, "\"event\":\"message\""));
  UNSIGNED_LONGS_EQUAL(0, printer.buffered_bytes());
}

TEST(JsonEventOutput, TheBufferedHookFiresOncePerFlush) {
  JsonEventPrinter printer(file);
  int asked = 0;
  printer.set_on_buffered([&asked] { ++asked; });
  printer.on_message(message_event(1));
  printer.on_message(message_event(2));
  UNSIGNED_LONGS_EQUAL(1, asked);
  printer.flush();
  printer.on_message(message_event(3));
  UNSIGNED_LONGS_EQUAL(2, asked);
  printer.on_online(online_event());  // written at once: nothing left to ask for
  printer.on_message(message_event(4));
  UNSIGNED_LONGS_EQUAL(3, asked);
}

TEST(JsonEventOutput, AFullBufferIsWrittenWithoutAFlush) {
  JsonEventPrinter printer(file);
  std::size_t lines = 0;
  // Bounded: each line is at least 40 bytes.
  while (written(file).empty() && lines < JsonEventPrinter::kBufferBytes / 40 + 2) {
    printer.on_message(message_event(++lines));
    CHECK_TRUE(printer.buffered_bytes() <= JsonEventPrinter::kBufferBytes);
  }
  const std::string text = written(file);
  CHECK_FALSE(text.empty());
  CHECK_TRUE(text.size() <= JsonEventPrinter::kBufferBytes);
  CHECK_TRUE(text.size() > JsonEventPrinter::kBufferBytes / 2);
  UNSIGNED_LONGS_EQUAL(count_of(text, "\n") + 1, lines);  // whole lines only; the last one is buffered
  CHECK_TRUE(text.back() == '\n');
}

TEST(JsonEventOutput, ALineLongerThanTheBufferIsWrittenWholeAndInOrder) {
  JsonEventPrinter printer(file, true);
  const std::string big(JsonEventPrinter::kBufferBytes + 100, 'x');
  printer.on_message(message_event(1));
  printer.on_message(message_event(2, text_span(big.c_str())));
  printer.on_message(message_event(3));
  printer.flush();
  const std::string text = written(file);
  UNSIGNED_LONGS_EQUAL(3, count_of(text, "\n"));
  const std::size_t first = text.find("\"seq\":1,");
  const std::size_t second = text.find("\"seq\":2,");
  const std::size_t third = text.find("\"seq\":3,");
  CHECK_TRUE(first < second && second < third);
  CHECK_TRUE(text.find(big) != std::string::npos);
}

TEST(JsonEventOutput, AStreamWithoutADescriptorGetsTheLinesThroughStdio) {
  char* text = nullptr;
  std::size_t size = 0;
  std::FILE* memory = open_memstream(&text, &size);
  CHECK_TRUE(memory != nullptr);
  {
    JsonEventPrinter printer(memory);
    printer.on_message(message_event(1));
    UNSIGNED_LONGS_EQUAL(0, size);
    printer.flush();
    CHECK_TRUE(size > 0);
    STRCMP_CONTAINS("\"event\":\"message\"", text);
  }
  std::fclose(memory);
  std::free(text);
}

TEST(JsonEventOutput, TheDestructorWritesWhatIsBuffered) {
  {
    JsonEventPrinter printer(file);
    printer.on_message(message_event(1));
  }
  UNSIGNED_LONGS_EQUAL(1, count_of(written(file), "\"event\":\"message\""));
}

TEST(JsonEventOutput, EventLevelsAreParsedByName) {
  EventLevel level = EventLevel::none;
  CHECK_TRUE(parse_event_level("all", level));
  CHECK_TRUE(level == EventLevel::all);
  CHECK_TRUE(parse_event_level("connections", level));
  CHECK_TRUE(level == EventLevel::connections);
  CHECK_TRUE(parse_event_level("none", level));
  CHECK_TRUE(level == EventLevel::none);
  CHECK_FALSE(parse_event_level("All", level));
  CHECK_FALSE(parse_event_level("", level));
  CHECK_FALSE(parse_event_level("connection", level));
  CHECK_TRUE(level == EventLevel::none);  // unchanged by a refusal
}

namespace {

// Every kind of line once; returns what was written.
std::string print_every_kind(JsonEventPrinter& printer, std::FILE* file) {
  OfflineEvent offline;
  offline.device_id = "dev";
  ErrorEvent error;
  error.reason = "protocol_error";
  DuplicateEvent duplicate;
  DownlinkEvent downlink;
  printer.on_online(online_event());
  printer.on_message(message_event(1));
  printer.on_duplicate(duplicate);
  printer.on_downlink(downlink);
  printer.on_offline(offline);
  printer.on_error(error);
  printer.state("dir", 1, 0, 0, 0);
  printer.listening("127.0.0.1", 1);
  printer.stats(StatsFigures{});
  printer.shutdown(0, 0);
  printer.flush();
  return written(file);
}

std::string kinds(const std::string& text) {
  std::string out;
  for (const char* kind : {"online", "message", "duplicate", "downlink", "offline", "error", "state", "listening",
                           "stats", "shutdown"}) {
    const std::string field = std::string("\"event\":\"") + kind + "\"";
    if (text.find(field) != std::string::npos) out += std::string(kind) + " ";
  }
  return out;
}

}  // namespace

TEST(JsonEventOutput, LevelAllPrintsEveryLine) {
  JsonEventPrinter printer(file, false, EventLevel::all);
  STRCMP_EQUAL("online message duplicate downlink offline error state listening stats shutdown ",
               kinds(print_every_kind(printer, file)).c_str());
  UNSIGNED_LONGS_EQUAL(10, printer.lines());
}

TEST(JsonEventOutput, LevelConnectionsDropsThePerMessageLines) {
  JsonEventPrinter printer(file, false, EventLevel::connections);
  STRCMP_EQUAL("online offline error state listening stats shutdown ", kinds(print_every_kind(printer, file)).c_str());
  UNSIGNED_LONGS_EQUAL(7, printer.lines());
}

TEST(JsonEventOutput, LevelNonePrintsOnlyErrorsListeningShutdownAndStats) {
  JsonEventPrinter printer(file, false, EventLevel::none);
  STRCMP_EQUAL("error listening stats shutdown ", kinds(print_every_kind(printer, file)).c_str());
  UNSIGNED_LONGS_EQUAL(4, printer.lines());
}

TEST(JsonEventOutput, TheStatsLineCarriesTheDocumentedFields) {
  JsonEventPrinter printer(file, false, EventLevel::none);
  StatsFigures figures;
  figures.connections = 3;
  figures.online = 2;
  figures.received = 1000;
  figures.duplicates = 4;
  figures.bytes = 64000;
  figures.msgs_per_s = 100;
  figures.interval_ms = 10000;
  printer.stats(figures);
  STRCMP_CONTAINS(
      "\"event\":\"stats\",\"connections\":3,\"online\":2,\"received\":1000,\"duplicates\":4,\"bytes\":64000,"
      "\"msgs_per_s\":100,\"interval_ms\":10000}\n",
      written(file).c_str());
}

TEST(JsonEventOutput, TheStatsMeterGivesTheRateSinceTheLastSample) {
  StatsMeter meter(1000);
  StatsFigures f = meter.sample(11000, 2, 1, 5000, 3, 320000);
  UNSIGNED_LONGS_EQUAL(2, f.connections);
  UNSIGNED_LONGS_EQUAL(1, f.online);
  UNSIGNED_LONGS_EQUAL(5000, f.received);
  UNSIGNED_LONGS_EQUAL(3, f.duplicates);
  UNSIGNED_LONGS_EQUAL(320000, f.bytes);
  UNSIGNED_LONGS_EQUAL(10000, f.interval_ms);
  UNSIGNED_LONGS_EQUAL(500, f.msgs_per_s);
  f = meter.sample(11500, 2, 1, 6000, 3, 0);
  UNSIGNED_LONGS_EQUAL(500, f.interval_ms);
  UNSIGNED_LONGS_EQUAL(2000, f.msgs_per_s);
  f = meter.sample(11500, 2, 1, 7000, 3, 0);  // no time passed
  UNSIGNED_LONGS_EQUAL(0, f.interval_ms);
  UNSIGNED_LONGS_EQUAL(0, f.msgs_per_s);
  f = meter.sample(11000, 2, 1, 7000, 3, 0);  // a clock that went back
  UNSIGNED_LONGS_EQUAL(0, f.interval_ms);
  UNSIGNED_LONGS_EQUAL(0, f.msgs_per_s);
  f = meter.sample(12500, 2, 1, 8000, 3, 0);  // measured from the latest time seen
  UNSIGNED_LONGS_EQUAL(1000, f.interval_ms);
  UNSIGNED_LONGS_EQUAL(1000, f.msgs_per_s);
}

// ============================================================================
// DurableSessions: ServerSession with a SessionStore (in-memory fake)
// ============================================================================

TEST_GROUP(DurableSessions) {
  test::MemorySessionStore store;
  std::unique_ptr<SessionRegistry> registry;
  Recorder events;
  SessionLimits limits;
  std::uint64_t connection_ids = 0;

  void setup() override {
    registry = std::make_unique<SessionRegistry>(7);
    registry->set_store(&store);
  }
  std::unique_ptr<ServerSession> open() {
    return std::make_unique<ServerSession>(*registry, events, limits, 0, ++connection_ids);
  }
  std::vector<Owned> feed(ServerSession& session, const Bytes& bytes) {
    session.on_bytes(0, ConstByteSpan{bytes.data(), bytes.size()});
    return frames_of(session.take_output());
  }
  /// The server is killed: what was not committed is gone, and a new
  /// registry is rebuilt from the rest.
  void kill_and_restart() {
    store.pending.clear();
    registry = std::make_unique<SessionRegistry>(8);
    CHECK_EQUAL(std::string(), store.replay(*registry));
    registry->set_store(&store);
  }
};

TEST(DurableSessions, ABatchIsCommittedOnceBeforeItsMessagesAndItsAck) {
  auto s = open();
  (void)feed(*s, hello("dev", 1000));
  const int commits = store.commit_calls;
  STRCMP_EQUAL("ACK:2", describe(feed(*s, data(1, "a") + data(2, "b"))).c_str());
  UNSIGNED_LONGS_EQUAL(commits + 1, store.commit_calls);
  CHECK(store.pending.empty());
  STRCMP_EQUAL("1:a 2:b", events.messages().c_str());
  // The durable record holds both deliveries.
  std::string delivered;
  for (const JournalRecord& r : store.scan().records) {
    if (r.type == JournalRecordType::uplink_delivered) delivered += std::string(r.payload.begin(), r.payload.end());
  }
  STRCMP_EQUAL("ab", delivered.c_str());
}

TEST(DurableSessions, AFailedCommitSendsNothingAndReportsNoMessage) {
  auto s = open();
  (void)feed(*s, hello("dev", 1000));
  store.fail_commits = true;
  STRCMP_EQUAL("", describe(feed(*s, data(1, "a"))).c_str());  // no ACK
  CHECK(s->closed());
  STRCMP_EQUAL("", events.messages().c_str());
  STRCMP_EQUAL("state_write_failed", events.last("error").text.c_str());
  STRCMP_EQUAL("server_stopped", events.last("offline").text.c_str());
  // A downlink that cannot be committed is not sent either.
  auto other = open();
  store.fail_commits = false;
  (void)feed(*other, hello("dev2", 1000));
  store.fail_commits = true;
  CHECK(static_cast<bool>(other->queue_downlink(text_span("x"))));
  STRCMP_EQUAL("", describe(frames_of(other->take_output())).c_str());
}

TEST(DurableSessions, AKilledServerRestartedOnItsStateResumesBothDirections) {
  auto s = open();
  const std::uint64_t id = [&] {
    const std::vector<Owned> out = feed(*s, hello("dev", 1000));
    return out.at(0).welcome.session_id;
  }();
  (void)feed(*s, data(1, "a") + data(2, "b"));
  CHECK_FALSE(s->queue_downlink(text_span("d1")));
  CHECK_FALSE(s->queue_downlink(text_span("d2")));
  (void)s->take_output();
  (void)feed(*s, ack(1));
  s.reset();  // no goodbye: the socket simply dies with the process
  kill_and_restart();

  // The device resumes, having seen downlink 1 and 2 but acknowledged only 1.
  auto resumed = open();
  const std::vector<Owned> out = feed(*resumed, hello("dev", 1000, id, 2));
  STRCMP_EQUAL("WELCOME", describe(out).c_str());  // 2 is acknowledged by the HELLO: nothing to resend
  CHECK(out[0].welcome.session_id == id);
  UNSIGNED_LONGLONGS_EQUAL(3, out[0].welcome.next_uplink_seq);
  CHECK(events.last("online").resumed);
  // Uplink continues at 3; a repeat of 2 would be refused as a duplicate.
  STRCMP_EQUAL("ACK:3", describe(feed(*resumed, data(3, "c"))).c_str());
  std::uint64_t seq = 0;
  CHECK_FALSE(resumed->queue_downlink(text_span("d3"), &seq));
  UNSIGNED_LONGLONGS_EQUAL(3, seq);
}

TEST(DurableSessions, DownlinkQueuedBeforeTheKillIsResentWithItsSeq) {
  auto s = open();
  const std::uint64_t id = feed(*s, hello("dev", 1000)).at(0).welcome.session_id;
  CHECK_FALSE(s->queue_downlink(text_span("d1")));
  CHECK_FALSE(s->queue_downlink(text_span("d2")));
  s.reset();
  kill_and_restart();
  auto resumed = open();
  const std::vector<Owned> out = feed(*resumed, hello("dev", 1000, id, 0));
  STRCMP_EQUAL("WELCOME DATA:1 DATA:2", describe(out).c_str());
  STRCMP_EQUAL("d2", out[2].text.c_str());
}
