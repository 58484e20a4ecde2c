// SPDX-License-Identifier: Apache-2.0
// EventQueue: what the client delivers after the link returned, in order,
// bounded, nothing lost within its bounds.
#include <cstdint>
#include <string>
#include <variant>

#include "uplink/core/event_queue.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

TEST_GROUP(EventQueue) {
  EventQueue queue;
  EventQueue::Event event;
  char log_text[EventQueue::kLogLineSize] = {};

  template <typename T>
  const T& next() {
    CHECK(queue.pop(event, log_text));
    const T* value = std::get_if<T>(&event);
    CHECK(value != nullptr);
    return *value;
  }
};

TEST(EventQueue, KeepsTheOrderOfDifferentEvents) {
  StateChange connecting;
  connecting.state = ClientState::connecting;
  queue.on_state(connecting);
  queue.on_acked(1);
  queue.on_heartbeat(12);
  queue.on_acked(2);
  CHECK(next<StateChange>().state == ClientState::connecting);
  UNSIGNED_LONGS_EQUAL(1, next<EventQueue::Acked>().count);
  UNSIGNED_LONGS_EQUAL(12, next<EventQueue::Heartbeat>().rtt_ms);
  UNSIGNED_LONGS_EQUAL(1, next<EventQueue::Acked>().count);
  std::uint64_t ids[4] = {};
  UNSIGNED_LONGS_EQUAL(2, queue.take_acked(ids, 4));
  UNSIGNED_LONGLONGS_EQUAL(1, ids[0]);
  UNSIGNED_LONGLONGS_EQUAL(2, ids[1]);
  CHECK(queue.empty());
}

TEST(EventQueue, AcknowledgementsInARowShareOneRecordAndEveryIdIsKept) {
  for (std::uint64_t id = 10; id < 10 + kStoreMessages; ++id) queue.on_acked(id);
  UNSIGNED_LONGS_EQUAL(kStoreMessages, next<EventQueue::Acked>().count);
  CHECK(queue.empty());
  std::uint64_t ids[kStoreMessages] = {};
  UNSIGNED_LONGS_EQUAL(kStoreMessages, queue.take_acked(ids, kStoreMessages));
  UNSIGNED_LONGLONGS_EQUAL(10 + kStoreMessages - 1, ids[kStoreMessages - 1]);
  UNSIGNED_LONGLONGS_EQUAL(0, queue.overflowed());
}

TEST(EventQueue, ConsecutiveDropsWithOneReasonShareOneRecord) {
  const std::error_code full = make_error_code(Errc::queue_full);
  for (std::uint64_t id = 3; id <= 1002; ++id) queue.on_dropped(id, full);
  queue.on_dropped(1010, full);  // not consecutive: a record of its own
  const EventQueue::Dropped run = next<EventQueue::Dropped>();
  UNSIGNED_LONGLONGS_EQUAL(3, run.first);
  UNSIGNED_LONGLONGS_EQUAL(1000, run.count);
  CHECK(run.reason == full);
  UNSIGNED_LONGLONGS_EQUAL(1010, next<EventQueue::Dropped>().first);
}

TEST(EventQueue, LogLinesAreCopiedAndLinesBeyondTheSlotsAreCountedThenReported) {
  for (std::size_t i = 0; i < EventQueue::kLogSlots + 2; ++i) {
    queue.on_log(LogLevel::info, ("line " + std::to_string(i)).c_str());
  }
  for (std::size_t i = 0; i < EventQueue::kLogSlots; ++i) {
    (void)next<EventQueue::Log>();
    STRCMP_EQUAL(("line " + std::to_string(i)).c_str(), log_text);
  }
  CHECK(queue.empty());
  queue.on_log(LogLevel::warning, "after");
  CHECK(next<EventQueue::Log>().level == LogLevel::warning);
  STRCMP_CONTAINS("2 log lines lost", log_text);
  STRCMP_CONTAINS("after", log_text);
}

TEST(EventQueue, AFullRingCountsWhatDidNotFitAndKeepsWhatItHas) {
  for (std::size_t i = 0; i < EventQueue::kSlots + 3; ++i) queue.on_heartbeat(static_cast<std::uint32_t>(i));
  UNSIGNED_LONGLONGS_EQUAL(3, queue.overflowed());
  for (std::size_t i = 0; i < EventQueue::kSlots; ++i) {
    UNSIGNED_LONGS_EQUAL(i, next<EventQueue::Heartbeat>().rtt_ms);
  }
  CHECK(queue.empty());
}
