// SPDX-License-Identifier: Apache-2.0
// Delivery on its own: the resumable session's rules as verdicts, without a
// link, a clock or a listener (tests/unit/link_test.cpp drives the same
// rules through the state machine and the wire).
#include <cstdint>
#include <string>
#include <vector>

#include "support/ram_storage.hpp"
#include "uplink/core/delivery.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

namespace {

ConstByteSpan text(const std::string& s) { return ConstByteSpan{s.data(), s.size()}; }

Welcome welcome(std::uint64_t session_id, std::uint64_t next_uplink_seq) {
  Welcome w;
  w.heartbeat_ms = 1000;
  w.session_id = session_id;
  w.next_uplink_seq = next_uplink_seq;
  return w;
}

}  // namespace

TEST_GROUP(Delivery) {
  Counters counters;
  Delivery delivery{counters};
  std::vector<std::uint64_t> acked;
  std::vector<std::uint64_t> dropped;

  std::uint64_t accept(const std::string& payload, FullPolicy policy = FullPolicy::refuse) {
    std::uint64_t id = 0;
    CHECK(!delivery.accept(text(payload), policy, &id, [&](std::uint64_t d) { dropped.push_back(d); }));
    return id;
  }
  // Transmits everything the window allows; returns the seqs written.
  std::vector<std::uint64_t> transmit_all(std::uint32_t max_in_flight = 1000) {
    std::vector<std::uint64_t> seqs;
    while (delivery.can_transmit(max_in_flight)) {
      seqs.push_back(delivery.next_data().seq);
      delivery.transmitted();
    }
    return seqs;
  }
  WelcomeVerdict take(const Welcome& w) {
    return delivery.on_welcome(w, [&](std::uint64_t id) { acked.push_back(id); });
  }
  AckVerdict ack(std::uint64_t seq) {
    return delivery.on_ack(Ack{seq}, [&](std::uint64_t id) { acked.push_back(id); });
  }
};

TEST(Delivery, NumbersMessagesFromTheServersPositionAndAcknowledgesInOrder) {
  CHECK_EQUAL(1u, accept("a"));
  CHECK_EQUAL(2u, accept("b"));
  CHECK_EQUAL(3u, accept("c"));
  const WelcomeVerdict v = take(welcome(77, 10));
  CHECK(!v.error);
  CHECK(!v.resumed);  // the device had no session
  CHECK_EQUAL(77u, delivery.session_id());
  const std::vector<std::uint64_t> seqs = transmit_all();
  CHECK((seqs == std::vector<std::uint64_t>{10, 11, 12}));
  CHECK(ack(11) == AckVerdict::advanced);
  CHECK((acked == std::vector<std::uint64_t>{1, 2}));
  CHECK(ack(11) == AckVerdict::repeated);
  CHECK(ack(10) == AckVerdict::backwards);
  CHECK(ack(13) == AckVerdict::never_sent);
  CHECK_EQUAL(1u, delivery.queued());
  CHECK_EQUAL(2u, counters.messages_acked);
  CHECK_EQUAL(3u, counters.data_frames_sent);
}

TEST(Delivery, TheWindowBoundsWhatIsInFlight) {
  for (int i = 0; i < 5; ++i) accept("m");
  CHECK(!take(welcome(1, 1)).error);
  CHECK_EQUAL(2u, transmit_all(2).size());
  CHECK_EQUAL(2u, delivery.in_flight());
  CHECK(!delivery.can_transmit(2));
  CHECK(ack(1) == AckVerdict::advanced);
  CHECK(delivery.can_transmit(2));
}

TEST(Delivery, ANewConnectionResendsWhatWasNotAcknowledged) {
  accept("a");
  accept("b");
  CHECK(!take(welcome(5, 1)).error);
  transmit_all();
  delivery.connection_ended();
  // The server received the first one: it resumes at 2.
  const WelcomeVerdict v = take(welcome(5, 2));
  CHECK(!v.error);
  CHECK(v.resumed);
  CHECK((acked == std::vector<std::uint64_t>{1}));
  CHECK((transmit_all() == std::vector<std::uint64_t>{2}));
}

TEST(Delivery, AResumeAheadOfWhatWasSentOrBehindTheAcknowledgedIsRefusedAndTakesNothing) {
  accept("a");
  accept("b");
  CHECK(!take(welcome(5, 1)).error);
  transmit_all();
  CHECK(ack(1) == AckVerdict::advanced);
  delivery.connection_ended();
  WelcomeVerdict v = take(welcome(5, 4));  // 3 was never sent
  CHECK(v.error == Errc::sequence_error);
  STRCMP_EQUAL("WELCOME expects a sequence number never sent", v.why);
  v = take(welcome(5, 1));  // 1 was acknowledged already
  CHECK(v.error == Errc::sequence_error);
  STRCMP_EQUAL("WELCOME goes back before acknowledged messages", v.why);
  CHECK_EQUAL(1u, delivery.queued());
  CHECK_EQUAL(2u, delivery.last_acked_seq() + 1);
  CHECK((acked == std::vector<std::uint64_t>{1}));
}

TEST(Delivery, TwoRefusedResumesInARowAbandonTheSessionAndANewOneNumbersTheStoreAfresh) {
  accept("a");
  CHECK(!take(welcome(5, 1)).error);
  transmit_all();
  delivery.connection_ended();
  SessionReset reset;
  CHECK(!delivery.resume_refused(&reset));
  CHECK(delivery.resume_refused(&reset));
  CHECK_EQUAL(5u, reset.abandoned_session_id);
  CHECK(reset.cause == SessionResetCause::resume_refused);
  CHECK_EQUAL(0u, delivery.session_id());  // the next HELLO asks for a new session
  CHECK_EQUAL(1u, counters.session_resets);
  CHECK(!take(welcome(9, 100)).error);
  CHECK((transmit_all() == std::vector<std::uint64_t>{100}));  // the stored message, numbered afresh
}

TEST(Delivery, AnAcceptedResumeClearsTheRefusalCount) {
  accept("a");
  CHECK(!take(welcome(5, 1)).error);
  delivery.connection_ended();
  CHECK(!delivery.resume_refused(nullptr));
  CHECK(!take(welcome(5, 1)).error);
  delivery.connection_ended();
  CHECK(!delivery.resume_refused(nullptr));  // one in a row again, not two
  CHECK_EQUAL(5u, delivery.session_id());
}

TEST(Delivery, DownlinkIsDeliveredOnceInOrderAndDuplicatesAreAcknowledgedAgain) {
  CHECK(!take(welcome(5, 1)).error);
  CHECK(!delivery.ack_due());
  CHECK(delivery.on_data(Data{1, text("x")}) == DownlinkVerdict::deliver);
  delivery.delivered();
  CHECK(delivery.ack_due());
  CHECK_EQUAL(1u, delivery.ack().seq);
  delivery.ack_queued();
  CHECK(delivery.on_data(Data{1, text("x")}) == DownlinkVerdict::duplicate);
  CHECK(delivery.ack_due());  // acknowledged again so the server can let go
  CHECK(delivery.on_data(Data{3, text("z")}) == DownlinkVerdict::out_of_sequence);
  CHECK_EQUAL(1u, delivery.last_downlink_seq());
  CHECK_EQUAL(1u, counters.messages_received);
  CHECK_EQUAL(1u, counters.downlink_duplicates);
  delivery.connection_started();
  CHECK(!delivery.ack_due());  // nothing is owed on a new connection
}

TEST(Delivery, ANewSessionStartsDownlinkOver) {
  CHECK(!take(welcome(5, 1)).error);
  CHECK(delivery.on_data(Data{1, text("x")}) == DownlinkVerdict::deliver);
  delivery.connection_ended();
  CHECK(!take(welcome(6, 1)).error);  // the server lost the session
  CHECK_EQUAL(0u, delivery.last_downlink_seq());
  CHECK(delivery.on_data(Data{1, text("y")}) == DownlinkVerdict::deliver);
}

TEST(Delivery, DropOldestNeverDropsAMessageTheServerMayHold) {
  // Fill the store, transmit the first two, then send one more under drop-oldest.
  const std::string quarter(kMaxDataPayload / 4, 'p');
  std::uint64_t id = 0;
  while (!delivery.accept(text(quarter), FullPolicy::refuse, &id, [](std::uint64_t) {})) {
  }
  CHECK(!take(welcome(5, 1)).error);
  transmit_all(2);
  const std::size_t before = delivery.queued();
  const std::uint64_t newest = accept(quarter, FullPolicy::drop_oldest);
  CHECK(!dropped.empty());
  UNSIGNED_LONGLONGS_EQUAL(3, dropped.front());  // 1 and 2 were transmitted: kept
  UNSIGNED_LONGS_EQUAL(before + 1 - dropped.size(), delivery.queued());
  UNSIGNED_LONGS_EQUAL(dropped.size(), counters.messages_dropped);
  UNSIGNED_LONGLONGS_EQUAL(delivery.last_message_id(), newest);
  CHECK(!delivery.settled_through(2));  // the transmitted ones are still there
}

TEST(Delivery, AFullStoreRefusesAndCounts) {
  std::uint64_t id = 0;
  std::error_code error;
  int accepted = 0;
  while (!(error = delivery.accept(text(std::string(kMaxDataPayload, 'p')), FullPolicy::refuse, &id,
                                   [](std::uint64_t) {}))) {
    ++accepted;
    CHECK(accepted < 100000);
  }
  CHECK(error == Errc::queue_full);
  CHECK_EQUAL(1u, counters.messages_refused);
  CHECK(delivery.accept(text(std::string(kMaxDataPayload + 1, 'p')), FullPolicy::refuse, &id, [](std::uint64_t) {}) ==
        Errc::field_too_long);
}

TEST(Delivery, DropWatchesSeeOnlyDropsOfTheirMessages) {
  while (delivery.queued() < 4) accept(std::string(kMaxDataPayload / 4, 'p'));
  const int early = delivery.watch_drops(1);
  const int late = delivery.watch_drops(1000);
  CHECK(early >= 0 && late >= 0);
  std::uint64_t id = 0;
  while (!delivery.accept(text(std::string(kMaxDataPayload / 4, 'q')), FullPolicy::refuse, &id, [](std::uint64_t) {})) {
  }
  accept(std::string(kMaxDataPayload / 4, 'r'), FullPolicy::drop_oldest);  // drops message 1
  CHECK((dropped.front() == 1));
  CHECK(delivery.watched_drop(early));
  CHECK(delivery.watched_drop(late));
  CHECK(delivery.settled_through(1));
  CHECK(!delivery.settled_through(delivery.last_message_id()));
  delivery.unwatch_drops(early);
  delivery.unwatch_drops(late);
  for (int i = 0; i < Delivery::kMaxDropWatches; ++i) CHECK(delivery.watch_drops(1) >= 0);
  CHECK_EQUAL(-1, delivery.watch_drops(1));
}

TEST(Delivery, ASessionAtTheSequenceLimitIsReplacedOnPurpose) {
  CHECK(!take(welcome(5, Delivery::kSessionSequenceLimit)).error);
  CHECK(delivery.at_sequence_limit());
  const SessionReset reset = delivery.abandon_session(SessionResetCause::sequence_limit);
  CHECK_EQUAL(5u, reset.abandoned_session_id);
  CHECK(!delivery.at_sequence_limit());
}

TEST_GROUP(DeliverySpool) {
  test::RamStorage storage{Spool::recommended_storage_size()};
};

TEST(DeliverySpool, MessagesAndTheSessionSurviveARestartAndAcknowledgementsLeaveTheSpool) {
  {
    Counters counters;
    Delivery delivery(counters);
    Spool spool;
    CHECK(!spool.open(storage, SpoolOptions{}));
    CHECK(!delivery.attach_spool(spool, nullptr, [](std::uint64_t) {}));
    for (const char* m : {"a", "b", "c"}) {
      CHECK(!delivery.accept(text(m), FullPolicy::refuse, nullptr, [](std::uint64_t) {}));
    }
    CHECK(!delivery.on_welcome(welcome(42, 1), [](std::uint64_t) {}).error);
    while (delivery.can_transmit(10)) delivery.transmitted();
    CHECK(delivery.on_ack(Ack{1}, [](std::uint64_t) {}) == AckVerdict::advanced);
    CHECK(delivery.on_data(Data{1, text("down")}) == DownlinkVerdict::deliver);
    delivery.delivered();
    delivery.flush_spool();
  }
  Counters counters;
  Delivery delivery(counters);
  Spool spool;
  CHECK(!spool.open(storage, SpoolOptions{}));
  std::size_t recovered = 0;
  CHECK(!delivery.attach_spool(spool, &recovered, [](std::uint64_t) {}));
  CHECK_EQUAL(2u, recovered);  // b and c; a was acknowledged
  CHECK_EQUAL(42u, delivery.session_id());
  CHECK_EQUAL(1u, delivery.last_downlink_seq());
  CHECK_EQUAL(3u, delivery.last_message_id());
  // The server resumes at 2: both go again with their seqs.
  const WelcomeVerdict v = delivery.on_welcome(welcome(42, 2), [](std::uint64_t) {});
  CHECK(!v.error);
  CHECK(v.resumed);
  CHECK_EQUAL(2u, delivery.next_data().seq);
}

TEST(DeliverySpool, AFailingSpoolIsReportedOnceAndTheMessageIsRefusedToTheCaller) {
  Counters counters;
  Delivery delivery(counters);
  Spool spool;
  CHECK(!spool.open(storage, SpoolOptions{}));
  CHECK(!delivery.attach_spool(spool, nullptr, [](std::uint64_t) {}));
  const char* what = nullptr;
  std::error_code error;
  CHECK(!delivery.take_spool_failure(what, error));
  storage.fail_writes = true;
  CHECK(delivery.accept(text("x"), FullPolicy::refuse, nullptr, [](std::uint64_t) {}) == std::errc::io_error);
  CHECK_EQUAL(1u, counters.messages_refused);
  CHECK_EQUAL(0u, delivery.queued());
  // A failure while recording state is kept for the link to report, once.
  CHECK(!delivery.on_welcome(welcome(7, 1), [](std::uint64_t) {}).error);
  CHECK(delivery.take_spool_failure(what, error));
  STRCMP_EQUAL("saving the session state", what);
  CHECK(error == std::errc::io_error);
  CHECK(!delivery.take_spool_failure(what, error));
}

TEST(DeliverySpool, AnUnopenedSpoolIsRefused) {
  Counters counters;
  Delivery delivery(counters);
  Spool spool;
  CHECK(delivery.attach_spool(spool, nullptr, [](std::uint64_t) {}) == Errc::invalid_option);
  CHECK(delivery.spool() == nullptr);
}
