// SPDX-License-Identifier: Apache-2.0
// The session with a spool, in virtual time over an in-memory storage: what
// a restarted device recovers, and how it resumes with the server.
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "support/ram_storage.hpp"
#include "support/link_fakes.hpp"
#include "uplink/core/link.hpp"
#include "uplink/core/spool.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::test;

namespace {

// Records like RecordingListener, and runs a hook when the application gets
// a downlink message (where a test takes a copy of the "disk").
class DownlinkHookListener final : public RecordingListener {
 public:
  void on_message(std::uint64_t seq, ConstByteSpan payload) override {
    RecordingListener::on_message(seq, payload);
    if (on_delivery) on_delivery(seq);
  }
  std::function<void(std::uint64_t)> on_delivery;
};

// One "process": a session with its spool over the shared storage.
struct Device {
  FakeIo io;
  DownlinkHookListener listener;
  ScriptedRandom random{0x80000000u};
  Spool spool;
  Link link{io, listener, random};
  FakeServer server{link};
  DeviceWire wire{link};

  explicit Device(RamStorage& storage, SpoolOptions spool_options = {}) {
    CHECK(!spool.open(storage, spool_options));
    CHECK(!link.attach_spool(spool));
  }
  void online(Millis now, std::uint64_t session_id, std::uint64_t next_uplink_seq) {
    Options o;
    CHECK(!o.add_endpoint("127.0.0.1", 7400));
    CHECK(!o.set_device_id("spool-test"));
    CHECK(static_cast<bool>(link.start(o, now)));
    link.on_transport_open(now, link.generation());
    wire.flush(now);
    server.welcome(now, session_id, o.heartbeat_interval_ms, next_uplink_seq);
  }
  std::uint64_t send(Millis now, const std::string& text) {
    std::uint64_t id = 0;
    CHECK(!link.send(ConstByteSpan{text.data(), text.size()}, now, &id));
    return id;
  }
};

}  // namespace

TEST_GROUP(SessionSpool) {
  RamStorage storage{Spool::recommended_storage_size()};
  Millis now = 1000;
};

TEST(SessionSpool, QueuedMessagesSurviveARestartAndAreSentFirst) {
  {
    Device before(storage);
    before.send(now, "queued 1");
    before.send(now, "queued 2");  // never online: the process "dies" here
  }
  Device after(storage);
  UNSIGNED_LONGS_EQUAL(2, after.link.queued_messages());
  after.online(now, 42, 1);
  const std::vector<WireFrame> sent = after.wire.flush(now);
  STRCMP_EQUAL("DATA,DATA", type_names(sent).c_str());
  STRCMP_EQUAL("queued 1", sent[0].payload.c_str());
  // New messages continue the ids from before the restart.
  UNSIGNED_LONGLONGS_EQUAL(3, after.send(now, "fresh"));
}

TEST(SessionSpool, RestartWithEverythingAcknowledgedResumesWhereTheServerStands) {
  {
    Device before(storage);
    before.online(now, 42, 1);
    for (int i = 0; i < 5; ++i) before.send(now, "m");
    before.wire.flush(now);
    before.server.ack(now, 5);
    UNSIGNED_LONGS_EQUAL(0, before.link.queued_messages());
  }
  Device after(storage);
  after.online(now, 42, 6);  // the server resumes session 42 and expects 6
  CHECK(after.link.state() == ClientState::online);
  CHECK(after.listener.connect_failures.empty());
  CHECK(after.io.last_farewell().empty());
  after.send(now, "next");
  const std::vector<WireFrame> sent = after.wire.flush(now);
  UNSIGNED_LONGLONGS_EQUAL(6, sent.back().seq);
}

// Sends 5 messages that reach the server unacknowledged, then "crashes"
// losing the records of the last 2 (never synced): 3 come back, the server
// holds 5.
static void crash_losing_two_appends(RamStorage& storage, SpoolOptions options, Millis now) {
  Device before(storage, options);
  before.online(now, 42, 1);
  for (int i = 1; i <= 3; ++i) before.send(now, "m" + std::to_string(i));
  const std::vector<std::uint8_t> synced = storage.image();
  before.send(now, "m4");
  before.send(now, "m5");
  UNSIGNED_LONGLONGS_EQUAL(5, before.wire.flush(now).back().seq);
  storage.crash_back_to(synced);
}

TEST(SessionSpool, ServerAheadOfTheRecoveredMessagesAcknowledgesThemWhenAppendsCanBeLost) {
  const SpoolSync policies[] = {SpoolSync::interval, SpoolSync::none};
  for (const SpoolSync policy : policies) {
    RamStorage disk{Spool::recommended_storage_size()};
    SpoolOptions options;
    options.sync = policy;
    crash_losing_two_appends(disk, options, now);
    Device after(disk, options);
    UNSIGNED_LONGS_EQUAL(3, after.link.queued_messages());
    after.online(now, 42, 6);  // the server holds 1..5: the 3 recovered are delivered
    CHECK(after.link.state() == ClientState::online);
    UNSIGNED_LONGS_EQUAL(0, after.link.queued_messages());
    const std::vector<std::uint64_t> acked = {1, 2, 3};
    CHECK_TRUE(acked == after.listener.acks);
    // Numbering continues from the server's position.
    after.send(now, "m6");
    UNSIGNED_LONGLONGS_EQUAL(6, after.wire.flush(now).back().seq);
  }
}

TEST(SessionSpool, ServerAheadOfTheRecoveredMessagesUnderEveryWriteIsASequenceError) {
  // every_write makes each append durable before it can be transmitted: a
  // server claiming more than the spool holds is broken, and nothing stored
  // may be taken for delivered.
  {
    Device before(storage);
    before.online(now, 42, 1);
    for (int i = 1; i <= 3; ++i) before.send(now, "m" + std::to_string(i));
    before.wire.flush(now);
  }
  Device after(storage);
  UNSIGNED_LONGS_EQUAL(3, after.link.queued_messages());
  after.online(now, 42, 6);
  // The handshake fails (the only endpoint: the session backs off).
  CHECK(after.link.state() == ClientState::backing_off);
  UNSIGNED_LONGS_EQUAL(1, after.listener.connect_failures.size());
  CHECK(after.listener.connect_failures[0].reason == make_error_code(Errc::sequence_error));
  const std::vector<WireFrame> farewell = after.io.last_farewell();
  STRCMP_EQUAL("CLOSE", type_names(farewell).c_str());
  CHECK(farewell[0].close_reason == CloseReason::sequence_error);
  STRCMP_EQUAL("WELCOME ahead of what the spool made durable", farewell[0].text.c_str());
  CHECK(after.listener.acks.empty());
  UNSIGNED_LONGS_EQUAL(3, after.link.queued_messages());
  // A server that comes back sane gets every stored message, in order.
  now = after.link.next_wakeup();
  after.link.on_timer(now);
  CHECK(after.link.state() == ClientState::connecting);
  after.link.on_transport_open(now, after.link.generation());
  after.wire.flush(now);
  after.server.welcome(now, 42, Options{}.heartbeat_interval_ms, 1);
  const std::vector<WireFrame> sent = after.wire.flush(now);
  STRCMP_EQUAL("DATA,DATA,DATA", type_names(sent).c_str());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    UNSIGNED_LONGLONGS_EQUAL(i + 1, sent[i].seq);
    STRCMP_EQUAL(("m" + std::to_string(i + 1)).c_str(), sent[i].payload.c_str());
  }
}

TEST(SessionSpool, SessionIdAndDownlinkPositionSurviveARestart) {
  {
    Device before(storage);
    before.online(now, 77, 1);
    before.server.data(now, 1, "down 1");
    before.server.data(now, 2, "down 2");
  }
  Device after(storage);
  after.online(now, 77, 1);
  // HELLO of the restarted device names the session and the downlink position.
  bool found = false;
  for (const WireFrame& f : after.wire.all) {
    if (f.type != FrameType::hello) continue;
    found = true;
    UNSIGNED_LONGLONGS_EQUAL(77, f.session_id);
    UNSIGNED_LONGLONGS_EQUAL(2, f.last_downlink_seq);
  }
  CHECK(found);
  after.server.data(now, 2, "down 2");  // a resend of what was delivered: not again
  after.server.data(now, 3, "down 3");
  UNSIGNED_LONGS_EQUAL(1, after.listener.messages.size());
  STRCMP_EQUAL("down 3", after.listener.messages[0].payload.c_str());
}

TEST(SessionSpool, ADownlinkMessageIsRecordedAsDeliveredOnlyAfterTheApplicationHadIt) {
  // A crash while the application handles downlink #2 (the disk as it was
  // then): the restarted device must get #2 again, with the same seq, so
  // nothing is lost; an application that must not act twice keys on seq.
  std::vector<std::uint8_t> disk_during_delivery;
  {
    Device before(storage);
    before.listener.on_delivery = [&](std::uint64_t seq) {
      if (seq == 2) disk_during_delivery = storage.image();
    };
    before.online(now, 77, 1);
    before.server.data(now, 1, "down 1");
    before.server.data(now, 2, "down 2");
  }
  CHECK(!disk_during_delivery.empty());
  storage.crash_back_to(disk_during_delivery);
  Device after(storage);
  after.online(now, 77, 1);
  bool found = false;
  for (const WireFrame& f : after.wire.all) {
    if (f.type != FrameType::hello) continue;
    found = true;
    UNSIGNED_LONGLONGS_EQUAL(1, f.last_downlink_seq);
  }
  CHECK(found);
  after.server.data(now, 2, "down 2");  // the server resends what was not acknowledged
  UNSIGNED_LONGS_EQUAL(1, after.listener.messages.size());
  UNSIGNED_LONGLONGS_EQUAL(2, after.listener.messages[0].seq);
  STRCMP_EQUAL("down 2", after.listener.messages[0].payload.c_str());
}

TEST(SessionSpool, MessagesLostToADamagedRecordAreReportedCountedAndTheRestGoOutInANewSession) {
  {
    Device before(storage);
    before.online(now, 42, 1);
    for (int i = 1; i <= 5; ++i) before.send(now, "m" + std::to_string(i));
    UNSIGNED_LONGLONGS_EQUAL(5, before.wire.flush(now).back().seq);
  }
  // A flipped byte in the payload of m2 (records of 24 + 2 bytes from the
  // ring start): valid records follow it, so it is damage, not a torn tail.
  std::vector<std::uint8_t> image = storage.image();
  image[Spool::kRingOffset + 26 + Spool::kRecordHeader] ^= 0x40;
  storage.crash_back_to(image);
  Device after(storage);
  UNSIGNED_LONGS_EQUAL(1, after.listener.spool_damages.size());
  UNSIGNED_LONGLONGS_EQUAL(1, after.listener.spool_damages[0].messages_lost);
  UNSIGNED_LONGLONGS_EQUAL(1, after.link.counters().spool_messages_lost);
  CHECK_TRUE(after.listener.logged("1 messages lost to damage (exact)"));
  // m3..m5 moved up a place: under their old numbers the server would take
  // them for others, so the session is given up and they go out afresh.
  UNSIGNED_LONGS_EQUAL(1, after.listener.session_resets.size());
  CHECK_TRUE(after.listener.session_resets[0].cause == SessionResetCause::spool_damaged);
  UNSIGNED_LONGLONGS_EQUAL(42, after.listener.session_resets[0].abandoned_session_id);
  UNSIGNED_LONGS_EQUAL(4, after.link.queued_messages());
  UNSIGNED_LONGLONGS_EQUAL(0, after.spool.state().session_id);
  after.online(now, 43, 1);
  const std::vector<WireFrame> sent = after.wire.flush(now);
  STRCMP_EQUAL("DATA,DATA,DATA,DATA", type_names(sent).c_str());
  STRCMP_EQUAL("m1", sent[0].payload.c_str());
  STRCMP_EQUAL("m3", sent[1].payload.c_str());
  UNSIGNED_LONGLONGS_EQUAL(1, sent[0].seq);
  UNSIGNED_LONGLONGS_EQUAL(4, sent[3].seq);
}

TEST(SessionSpool, AnUndamagedSpoolReportsNothing) {
  {
    Device before(storage);
    before.online(now, 42, 1);
    before.send(now, "m1");
  }
  Device after(storage);
  CHECK_TRUE(after.listener.spool_damages.empty());
  CHECK_TRUE(after.listener.session_resets.empty());
  UNSIGNED_LONGLONGS_EQUAL(0, after.link.counters().spool_messages_lost);
}
