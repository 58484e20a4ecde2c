// SPDX-License-Identifier: Apache-2.0
// Packet identifiers and the in-flight table of uplink over MQTT: ids wrap,
// are never 0 and never one still unacknowledged; the cumulative mark moves
// only over a gap-free run, whatever the order of the PUBACKs.
#include <cstdint>

#include "uplink/core/in_flight_table.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

#include "support/xorshift32.hpp"

using namespace uplink;

TEST_GROUP(PacketIdAllocator) {
  PacketIdAllocator ids;
};

TEST(PacketIdAllocator, SeventyThousandIdsWrapPast65535AndSkipZero) {
  const auto none = [](std::uint16_t) { return false; };
  std::uint16_t expected = 1;
  for (std::uint32_t i = 0; i < 70000; ++i) {
    const std::uint16_t id = ids.next(none);
    CHECK(id != 0);
    CHECK_EQUAL(expected, id);
    expected = static_cast<std::uint16_t>(expected == 65535 ? 1 : expected + 1);
  }
  CHECK_EQUAL(70000u - 65535u, ids.last());
}

TEST(PacketIdAllocator, IdsStillInUseAreSkippedAcrossTheWrap) {
  const auto none = [](std::uint16_t) { return false; };
  while (ids.last() != 65534) (void)ids.next(none);
  const auto busy = [](std::uint16_t id) { return id == 65535 || id == 1 || id == 2; };
  CHECK_EQUAL(3, ids.next(busy));
  CHECK_EQUAL(4, ids.next(busy));
}

TEST(PacketIdAllocator, AllIdsInUseYieldsZero) {
  CHECK_EQUAL(0, ids.next([](std::uint16_t) { return true; }));
}

TEST_GROUP(InFlightTable) {
  InFlightTable<4> table;
};

TEST(InFlightTable, MessagesGetConsecutiveIdsAndAcknowledgeInOrder) {
  CHECK_EQUAL(1, table.add(1).packet_id);
  CHECK_EQUAL(2, table.add(2).packet_id);
  CHECK_EQUAL(2u, table.size());
  CHECK(table.acknowledge(1) == InFlightTableBase::AckResult::advanced);
  CHECK_EQUAL(1u, table.acked_through());
  CHECK(table.acknowledge(2) == InFlightTableBase::AckResult::advanced);
  CHECK_EQUAL(2u, table.acked_through());
  CHECK_EQUAL(0u, table.size());
}

TEST(InFlightTable, TheMarkMovesOnlyOverAGapFreeRun) {
  for (std::uint64_t seq = 1; seq <= 4; ++seq) CHECK_FALSE(table.add(seq).error);
  CHECK(table.acknowledge(3) == InFlightTableBase::AckResult::out_of_order);
  CHECK(table.acknowledge(2) == InFlightTableBase::AckResult::out_of_order);
  CHECK_EQUAL(0u, table.acked_through());
  CHECK_EQUAL(4u, table.size());
  CHECK_EQUAL(2u, table.unacknowledged());
  CHECK(table.acknowledge(1) == InFlightTableBase::AckResult::advanced);
  CHECK_EQUAL(3u, table.acked_through());  // 1, 2, 3; 4 is still open
  CHECK_EQUAL(1u, table.size());
  CHECK(table.acknowledge(4) == InFlightTableBase::AckResult::advanced);
  CHECK_EQUAL(4u, table.acked_through());
}

TEST(InFlightTable, UnknownAndDuplicateAcknowledgementsChangeNothing) {
  (void)table.add(1);
  (void)table.add(2);
  CHECK(table.acknowledge(0) == InFlightTableBase::AckResult::unknown);
  CHECK(table.acknowledge(77) == InFlightTableBase::AckResult::unknown);
  CHECK(table.acknowledge(2) == InFlightTableBase::AckResult::out_of_order);
  CHECK(table.acknowledge(2) == InFlightTableBase::AckResult::unknown);
  CHECK_EQUAL(0u, table.acked_through());
  CHECK_EQUAL(1u, table.unacknowledged());
}

TEST(InFlightTable, AFullWindowAndAWrongSequenceNumberAreRefused) {
  for (std::uint64_t seq = 1; seq <= 4; ++seq) (void)table.add(seq);
  CHECK(table.full());
  CHECK(table.add(5).error == Errc::queue_full);
  CHECK(table.add(7).error == Errc::sequence_error);
  CHECK(table.acknowledge(2) == InFlightTableBase::AckResult::out_of_order);
  CHECK(table.add(5).error == Errc::queue_full);  // acknowledged behind a gap still holds its slot
  (void)table.acknowledge(1);
  CHECK_EQUAL(5, table.add(5).packet_id);  // the allocator moves on; it does not go back to 1 or 2
}

TEST(InFlightTable, EntriesReportTheirSequenceNumbersOldestFirst) {
  table.reset(100);
  (void)table.add(101);
  (void)table.add(102);
  (void)table.acknowledge(2);
  const InFlightEntry first = table.at(0);
  const InFlightEntry second = table.at(1);
  CHECK_EQUAL(101u, first.seq);
  CHECK_EQUAL(1, first.packet_id);
  CHECK_FALSE(first.acked);
  CHECK_EQUAL(102u, second.seq);
  CHECK(second.acked);
}

TEST(InFlightTable, RenumberGivesEveryOpenEntryAFreshIdForAForgottenSession) {
  for (std::uint64_t seq = 1; seq <= 3; ++seq) (void)table.add(seq);  // ids 1, 2, 3
  (void)table.acknowledge(2);
  table.renumber();
  CHECK_EQUAL(4, table.at(0).packet_id);
  CHECK_EQUAL(2, table.at(1).packet_id);  // acknowledged: kept as it was
  CHECK_EQUAL(5, table.at(2).packet_id);
  CHECK(table.acknowledge(1) == InFlightTableBase::AckResult::unknown);  // the old id is gone
  CHECK(table.acknowledge(4) == InFlightTableBase::AckResult::advanced);
  CHECK_EQUAL(2u, table.acked_through());
  CHECK(table.acknowledge(5) == InFlightTableBase::AckResult::advanced);
  CHECK_EQUAL(3u, table.acked_through());
}

TEST(InFlightTable, ResetForgetsEverythingAndSetsTheMark) {
  (void)table.add(1);
  table.reset(41);
  CHECK_EQUAL(0u, table.size());
  CHECK_EQUAL(41u, table.acked_through());
  CHECK(table.add(1).error == Errc::sequence_error);
  CHECK_FALSE(table.add(42).error);
}

TEST(InFlightTable, SeventyThousandMessagesAcknowledgedOutOfOrderNeverReuseAnOpenId) {
  InFlightTable<20> window;
  test::XorShift32 random{0x2545F491u};
  std::uint64_t next_seq = 1;
  std::uint32_t wrapped = 0;
  std::uint16_t previous = 0;
  while (window.acked_through() < 70000) {
    while (!window.full() && next_seq <= 70000) {
      const InFlightTableBase::Added added = window.add(next_seq++);
      CHECK_FALSE(added.error);
      CHECK(added.packet_id != 0);
      // Distinct from every other open entry's id.
      std::size_t holders = 0;
      for (std::size_t i = 0; i < window.size(); ++i) {
        const InFlightEntry e = window.at(i);
        if (!e.acked && e.packet_id == added.packet_id) ++holders;
      }
      CHECK_EQUAL(1u, holders);
      if (added.packet_id < previous) ++wrapped;
      previous = added.packet_id;
    }
    // Acknowledge one open entry at random (the oldest now and then, so the mark moves).
    std::size_t index = random.next() % window.size();
    if (random.next() % 4 == 0) index = 0;
    while (window.at(index).acked) index = (index + 1) % window.size();
    const std::uint64_t before = window.acked_through();
    const InFlightTableBase::AckResult r = window.acknowledge(window.at(index).packet_id);
    CHECK(r != InFlightTableBase::AckResult::unknown);
    CHECK((r == InFlightTableBase::AckResult::advanced) == (index == 0));
    CHECK(window.acked_through() >= before);
  }
  CHECK_EQUAL(70000u, window.acked_through());
  CHECK_EQUAL(0u, window.size());
  CHECK(wrapped >= 1);
}

TEST(InFlightTable, AWindowBelowTheCapacityBoundsTheMessagesInFlight) {
  CHECK_EQUAL(4u, table.window());
  CHECK(table.set_window(0) == Errc::invalid_option);
  CHECK(table.set_window(5) == Errc::invalid_option);
  CHECK_FALSE(table.set_window(2));
  CHECK_FALSE(table.add(1).error);
  CHECK_FALSE(table.add(2).error);
  CHECK(table.full());
  CHECK(table.add(3).error == Errc::queue_full);
  // Lowered below what is held: nothing is dropped, nothing more is taken.
  CHECK_FALSE(table.set_window(1));
  CHECK_EQUAL(2u, table.size());
  (void)table.acknowledge(1);
  CHECK(table.full());
  (void)table.acknowledge(2);
  CHECK_FALSE(table.add(3).error);
}
