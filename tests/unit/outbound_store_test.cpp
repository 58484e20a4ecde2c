// SPDX-License-Identifier: Apache-2.0
// uplink::OutboundStore alone: order, numbering by position, restart,
// acknowledgement ranges, the exact capacity limits, drop-oldest, and
// content that survives thousands of pushes and removals of varying sizes.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <system_error>
#include <vector>

#include "uplink/codec/frame.hpp"
#include "uplink/config_defaults.hpp"
#include "uplink/core/outbound_store.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

namespace {

constexpr std::size_t kOverhead = OutboundStore::kRecordOverhead;

std::string error_text(std::error_code ec) {
  if (!ec) return "ok";
  return ec.category() == error_category() ? errc_name(static_cast<Errc>(ec.value())) : "other";
}

#define STORE_ERRC_EQUAL(expected, actual) STRCMP_EQUAL(errc_name(expected), error_text(actual).c_str())
#define STORE_OK(actual) STRCMP_EQUAL("ok", error_text(actual).c_str())

ConstByteSpan span_of(const std::string& s) { return ConstByteSpan{s.data(), s.size()}; }

std::string text_of(ConstByteSpan bytes) {
  return bytes.empty() ? std::string() : std::string(reinterpret_cast<const char*>(bytes.data), bytes.size);
}

/// `size` bytes that depend on both the id and the position, so a byte out
/// of place, a truncated record or two records mixed up all show.
std::string payload(std::uint64_t id, std::size_t size) {
  std::string p(size, '\0');
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<char>((id * 131 + i * 7 + (i >> 8)) & 0xFF);
  return p;
}

/// The ids acknowledge_through() removed, in the order it reported them.
std::vector<std::uint64_t> ack_through(OutboundStore& store, std::uint64_t seq) {
  std::vector<std::uint64_t> removed;
  const std::size_t n = store.acknowledge_through(seq, [&removed](std::uint64_t id) { removed.push_back(id); });
  UNSIGNED_LONGS_EQUAL(removed.size(), n);
  return removed;
}

std::string join(const std::vector<std::uint64_t>& ids) {
  std::string out;
  for (const std::uint64_t id : ids) {
    if (!out.empty()) out += ",";
    out += std::to_string(id);
  }
  return out;
}

/// Same seed, same numbers.
class Lcg {
 public:
  explicit Lcg(std::uint64_t seed) : state_(seed) {}
  std::uint32_t below(std::uint32_t n) {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(state_ >> 33) % n;
  }

 private:
  std::uint64_t state_;
};

}  // namespace

TEST_GROUP(OutboundStore) {
  OutboundStore store;

  void push_ok(std::uint64_t id, const std::string& p) { STORE_OK(store.push(id, span_of(p))); }

  /// Takes the next untransmitted message, checks its id, seq and payload, and marks it transmitted.
  void transmit(std::uint64_t id, std::uint64_t seq, const std::string& p) {
    CHECK_TRUE(store.has_untransmitted());
    const OutboundStore::Message m = store.next_untransmitted();
    UNSIGNED_LONGLONGS_EQUAL(id, m.id);
    UNSIGNED_LONGLONGS_EQUAL(seq, store.next_seq());
    UNSIGNED_LONGS_EQUAL(p.size(), m.payload.size);
    CHECK_TRUE(p == text_of(m.payload));
    store.mark_transmitted();
  }
};

TEST(OutboundStore, StartsEmptyNumberedFromOne) {
  CHECK_TRUE(store.empty());
  UNSIGNED_LONGS_EQUAL(0, store.size());
  UNSIGNED_LONGS_EQUAL(0, store.transmitted());
  UNSIGNED_LONGS_EQUAL(0, store.bytes_used());
  UNSIGNED_LONGLONGS_EQUAL(1, store.head_seq());
  UNSIGNED_LONGLONGS_EQUAL(1, store.next_seq());
  CHECK_FALSE(store.has_untransmitted());
  CHECK_TRUE(store.has_room(0));
  store.mark_transmitted();  // nothing to mark: no effect
  UNSIGNED_LONGS_EQUAL(0, store.transmitted());
  std::uint64_t dropped = 99;
  CHECK_FALSE(store.drop_oldest_untransmitted(dropped));
  UNSIGNED_LONGLONGS_EQUAL(99, dropped);
  STRCMP_EQUAL("", join(ack_through(store, 5)).c_str());
}

TEST(OutboundStore, PushTransmitAndAckKeepTheOrder) {
  push_ok(10, "a");
  push_ok(11, "bb");
  push_ok(12, "ccc");
  UNSIGNED_LONGS_EQUAL(3, store.size());
  UNSIGNED_LONGS_EQUAL(3 * kOverhead + 6, store.bytes_used());
  transmit(10, 1, "a");
  transmit(11, 2, "bb");
  UNSIGNED_LONGS_EQUAL(2, store.transmitted());
  transmit(12, 3, "ccc");
  CHECK_FALSE(store.has_untransmitted());
  UNSIGNED_LONGLONGS_EQUAL(4, store.next_seq());
  STRCMP_EQUAL("10,11", join(ack_through(store, 2)).c_str());
  UNSIGNED_LONGLONGS_EQUAL(3, store.head_seq());
  UNSIGNED_LONGS_EQUAL(1, store.size());
  UNSIGNED_LONGS_EQUAL(1, store.transmitted());
  UNSIGNED_LONGS_EQUAL(kOverhead + 3, store.bytes_used());
  UNSIGNED_LONGLONGS_EQUAL(4, store.next_seq());
  STRCMP_EQUAL("12", join(ack_through(store, 3)).c_str());
  CHECK_TRUE(store.empty());
  UNSIGNED_LONGS_EQUAL(0, store.bytes_used());
  UNSIGNED_LONGS_EQUAL(0, store.transmitted());
  UNSIGNED_LONGLONGS_EQUAL(4, store.head_seq());
  UNSIGNED_LONGLONGS_EQUAL(4, store.next_seq());
  // The numbering goes on from where it stopped.
  push_ok(13, "d");
  transmit(13, 4, "d");
}

TEST(OutboundStore, MessagesPushedWhileOthersAreInFlightFollowThem) {
  push_ok(1, "one");
  transmit(1, 1, "one");
  push_ok(2, "two");
  push_ok(3, "three");
  transmit(2, 2, "two");
  STRCMP_EQUAL("1", join(ack_through(store, 1)).c_str());
  push_ok(4, "four");
  transmit(3, 3, "three");
  transmit(4, 4, "four");
  STRCMP_EQUAL("2,3,4", join(ack_through(store, 4)).c_str());
  CHECK_TRUE(store.empty());
}

TEST(OutboundStore, HeadSeqNumbersTheOldestAndTheRestFollowByPosition) {
  push_ok(7, "x");
  push_ok(8, "y");
  push_ok(9, "z");
  UNSIGNED_LONGLONGS_EQUAL(1, store.head_seq());
  UNSIGNED_LONGLONGS_EQUAL(1, store.next_seq());
  transmit(7, 1, "x");
  UNSIGNED_LONGLONGS_EQUAL(1, store.head_seq());  // transmitting does not move the head
  STRCMP_EQUAL("7", join(ack_through(store, 1)).c_str());
  UNSIGNED_LONGLONGS_EQUAL(2, store.head_seq());
  UNSIGNED_LONGLONGS_EQUAL(2, store.next_seq());  // 8 is next, as seq 2
  transmit(8, 2, "y");
  transmit(9, 3, "z");
}

TEST(OutboundStore, RestartRenumbersFromTheGivenSeqAndTransmitsFromTheOldestAgain) {
  push_ok(1, "a");
  push_ok(2, "b");
  push_ok(3, "c");
  transmit(1, 1, "a");
  transmit(2, 2, "b");
  store.restart(store.head_seq());  // a reconnect resuming at the same place
  UNSIGNED_LONGS_EQUAL(0, store.transmitted());
  UNSIGNED_LONGS_EQUAL(3, store.size());
  transmit(1, 1, "a");
  store.restart(7);  // a new session expecting 7
  UNSIGNED_LONGLONGS_EQUAL(7, store.head_seq());
  UNSIGNED_LONGLONGS_EQUAL(7, store.next_seq());
  UNSIGNED_LONGS_EQUAL(3, store.size());
  UNSIGNED_LONGS_EQUAL(3 * kOverhead + 3, store.bytes_used());
  transmit(1, 7, "a");
  transmit(2, 8, "b");
  transmit(3, 9, "c");
  STRCMP_EQUAL("1,2", join(ack_through(store, 8)).c_str());
  UNSIGNED_LONGLONGS_EQUAL(9, store.head_seq());
  // Renumbering downwards (a server that starts again at 1) works the same.
  store.restart(1);
  transmit(3, 1, "c");
  STRCMP_EQUAL("3", join(ack_through(store, 1)).c_str());
  UNSIGNED_LONGLONGS_EQUAL(2, store.head_seq());
}

TEST(OutboundStore, AcknowledgeThroughRemovesExactlyThePartialRange) {
  for (std::uint64_t id = 1; id <= 6; ++id) push_ok(id, payload(id, 3));
  for (std::uint64_t id = 1; id <= 4; ++id) transmit(id, id, payload(id, 3));
  STRCMP_EQUAL("", join(ack_through(store, 0)).c_str());  // below the head: nothing
  UNSIGNED_LONGS_EQUAL(6, store.size());
  STRCMP_EQUAL("1,2", join(ack_through(store, 2)).c_str());
  UNSIGNED_LONGS_EQUAL(2, store.transmitted());
  STRCMP_EQUAL("", join(ack_through(store, 2)).c_str());  // a repeat: nothing
  STRCMP_EQUAL("3", join(ack_through(store, 3)).c_str());
  UNSIGNED_LONGS_EQUAL(1, store.transmitted());
  UNSIGNED_LONGS_EQUAL(3, store.size());
  UNSIGNED_LONGLONGS_EQUAL(4, store.head_seq());
  UNSIGNED_LONGLONGS_EQUAL(5, store.next_seq());
  transmit(5, 5, payload(5, 3));  // what was untransmitted is intact
  STRCMP_EQUAL("4,5", join(ack_through(store, 5)).c_str());
  UNSIGNED_LONGS_EQUAL(0, store.transmitted());
  transmit(6, 6, payload(6, 3));
  STRCMP_EQUAL("6", join(ack_through(store, 6)).c_str());
  CHECK_TRUE(store.empty());
}

// What a resuming WELCOME does: after a reconnect nothing counts as
// transmitted, yet the server holds some of the messages.
TEST(OutboundStore, AcknowledgeThroughMessagesNotTransmittedOnThisConnection) {
  for (std::uint64_t id = 1; id <= 4; ++id) push_ok(id, payload(id, 5));
  for (std::uint64_t id = 1; id <= 3; ++id) transmit(id, id, payload(id, 5));
  store.restart(store.head_seq());
  STRCMP_EQUAL("1,2", join(ack_through(store, 2)).c_str());
  UNSIGNED_LONGS_EQUAL(0, store.transmitted());
  UNSIGNED_LONGLONGS_EQUAL(3, store.head_seq());
  transmit(3, 3, payload(3, 5));
  transmit(4, 4, payload(4, 5));
}

TEST(OutboundStore, FullByBytesAtTheExactBoundary) {
  std::uint64_t id = 0;
  // Fill with maximum-size DATA payloads while one more still leaves room for a last record.
  while (kStoreBytes - store.bytes_used() > 2 * kOverhead + kMaxDataPayload) {
    ++id;
    push_ok(id, payload(id, kMaxDataPayload));
  }
  const std::size_t last = kStoreBytes - store.bytes_used() - kOverhead;  // exactly what is left
  CHECK_TRUE(store.size() + 1 < kStoreMessages);  // bytes, not the count, are the limit here
  CHECK_FALSE(store.has_room(last + 1));
  const std::size_t size_before = store.size();
  const std::string one_too_many = payload(id + 1, last + 1);
  STORE_ERRC_EQUAL(Errc::queue_full, store.push(id + 1, span_of(one_too_many)));
  UNSIGNED_LONGS_EQUAL(size_before, store.size());
  UNSIGNED_LONGS_EQUAL(kStoreBytes - last - kOverhead, store.bytes_used());
  CHECK_TRUE(store.has_room(last));
  ++id;
  push_ok(id, payload(id, last));
  UNSIGNED_LONGS_EQUAL(kStoreBytes, store.bytes_used());
  CHECK_FALSE(store.has_room(0));
  STORE_ERRC_EQUAL(Errc::queue_full, store.push(id + 1, ConstByteSpan{}));
  // Everything is intact, the last record up to the very last byte.
  for (std::uint64_t i = 1; i < id; ++i) transmit(i, i, payload(i, kMaxDataPayload));
  transmit(id, id, payload(id, last));
  // One acknowledged message makes room for exactly its own size again.
  STRCMP_EQUAL("1", join(ack_through(store, 1)).c_str());
  CHECK_TRUE(store.has_room(kMaxDataPayload));
  CHECK_FALSE(store.has_room(kMaxDataPayload + 1));
  push_ok(id + 1, payload(id + 1, kMaxDataPayload));
  UNSIGNED_LONGS_EQUAL(kStoreBytes, store.bytes_used());
}

TEST(OutboundStore, FullByMessageCountAtTheExactBoundary) {
  CHECK_TRUE((kStoreMessages + 1) * (kOverhead + 1) <= kStoreBytes);  // the count, not the bytes, is the limit
  for (std::uint64_t id = 1; id <= kStoreMessages; ++id) {
    CHECK_TRUE(store.has_room(1));
    push_ok(id, "x");
  }
  UNSIGNED_LONGS_EQUAL(kStoreMessages, store.size());
  CHECK_FALSE(store.has_room(0));
  CHECK_FALSE(store.has_room(1));
  STORE_ERRC_EQUAL(Errc::queue_full, store.push(kStoreMessages + 1, span_of("x")));
  STORE_ERRC_EQUAL(Errc::queue_full, store.push(kStoreMessages + 1, ConstByteSpan{}));
  UNSIGNED_LONGS_EQUAL(kStoreMessages, store.size());
  UNSIGNED_LONGS_EQUAL(kStoreMessages * (kOverhead + 1), store.bytes_used());
  transmit(1, 1, "x");
  STRCMP_EQUAL("1", join(ack_through(store, 1)).c_str());
  CHECK_TRUE(store.has_room(1));
  push_ok(kStoreMessages + 1, "y");
  CHECK_FALSE(store.has_room(0));
  for (std::uint64_t id = 2; id <= kStoreMessages; ++id) transmit(id, id, "x");
  transmit(kStoreMessages + 1, kStoreMessages + 1, "y");
}

TEST(OutboundStore, ZeroLengthPayloadsAreMessagesLikeAnyOther) {
  STORE_OK(store.push(1, ConstByteSpan{}));
  push_ok(2, "between");
  push_ok(3, "");
  UNSIGNED_LONGS_EQUAL(3, store.size());
  UNSIGNED_LONGS_EQUAL(3 * kOverhead + 7, store.bytes_used());
  transmit(1, 1, "");
  transmit(2, 2, "between");
  transmit(3, 3, "");
  std::uint64_t dropped = 0;
  push_ok(4, "");
  CHECK_TRUE(store.drop_oldest_untransmitted(dropped));
  UNSIGNED_LONGLONGS_EQUAL(4, dropped);
  STRCMP_EQUAL("1,2,3", join(ack_through(store, 3)).c_str());
  CHECK_TRUE(store.empty());
  UNSIGNED_LONGS_EQUAL(0, store.bytes_used());
}

TEST(OutboundStore, MaximumSizePayloadsKeepEveryByte) {
  const std::size_t fit = kStoreBytes / (kMaxDataPayload + kOverhead);
  CHECK_TRUE(fit >= 1);
  for (std::uint64_t id = 1; id <= fit; ++id) {
    CHECK_TRUE(store.has_room(kMaxDataPayload));
    push_ok(id, payload(id, kMaxDataPayload));
  }
  if (fit < kStoreMessages) {
    CHECK_FALSE(store.has_room(kMaxDataPayload));
    STORE_ERRC_EQUAL(Errc::queue_full, store.push(fit + 1, span_of(payload(fit + 1, kMaxDataPayload))));
  }
  for (std::uint64_t id = 1; id <= fit; ++id) transmit(id, id, payload(id, kMaxDataPayload));
  STRCMP_EQUAL("1", join(ack_through(store, 1)).c_str());
  push_ok(fit + 1, payload(fit + 1, kMaxDataPayload));
  store.restart(store.head_seq());
  for (std::uint64_t id = 2; id <= fit + 1; ++id) transmit(id, id, payload(id, kMaxDataPayload));
}

TEST(OutboundStore, DropOldestUntransmittedWithNothingTransmittedDropsTheOldest) {
  push_ok(1, "first");
  push_ok(2, "second");
  push_ok(3, "third");
  std::uint64_t dropped = 0;
  CHECK_TRUE(store.drop_oldest_untransmitted(dropped));
  UNSIGNED_LONGLONGS_EQUAL(1, dropped);
  UNSIGNED_LONGS_EQUAL(2, store.size());
  UNSIGNED_LONGS_EQUAL(2 * kOverhead + 11, store.bytes_used());
  UNSIGNED_LONGLONGS_EQUAL(1, store.head_seq());  // no gap: the next takes the dropped one's seq
  transmit(2, 1, "second");
  transmit(3, 2, "third");
}

TEST(OutboundStore, DropOldestUntransmittedNeverTouchesATransmittedMessage) {
  for (std::uint64_t id = 1; id <= 5; ++id) push_ok(id, payload(id, id * 10));
  transmit(1, 1, payload(1, 10));
  transmit(2, 2, payload(2, 20));
  std::uint64_t dropped = 0;
  CHECK_TRUE(store.drop_oldest_untransmitted(dropped));
  UNSIGNED_LONGLONGS_EQUAL(3, dropped);
  UNSIGNED_LONGS_EQUAL(2, store.transmitted());
  UNSIGNED_LONGLONGS_EQUAL(3, store.next_seq());
  transmit(4, 3, payload(4, 40));  // the rest is intact and numbered without a gap
  CHECK_TRUE(store.drop_oldest_untransmitted(dropped));
  UNSIGNED_LONGLONGS_EQUAL(5, dropped);
  CHECK_FALSE(store.drop_oldest_untransmitted(dropped));  // all in flight
  UNSIGNED_LONGLONGS_EQUAL(5, dropped);
  UNSIGNED_LONGS_EQUAL(3, store.size());
  UNSIGNED_LONGS_EQUAL(kOverhead * 3 + 70, store.bytes_used());
  STRCMP_EQUAL("1,2", join(ack_through(store, 2)).c_str());
  push_ok(6, "six");
  transmit(6, 4, "six");
  STRCMP_EQUAL("4,6", join(ack_through(store, 4)).c_str());
  CHECK_TRUE(store.empty());
}

TEST(OutboundStore, HasRoomAgreesWithPushForEverySizeAroundTheLimits) {
  Lcg rng(7);
  std::uint64_t id = 0;
  for (int step = 0; step < 20000; ++step) {
    const std::size_t free_bytes = kStoreBytes - store.bytes_used();
    std::size_t size = 0;
    switch (rng.below(4)) {
      case 0: size = rng.below(static_cast<std::uint32_t>(kMaxDataPayload + 1)); break;
      case 1: size = rng.below(40); break;
      default:  // right at the byte boundary: one below, at, one above
        size = free_bytes >= kOverhead ? free_bytes - kOverhead : 0;
        size = size + rng.below(3);
        size = size > 0 ? size - 1 : 0;
        if (size > kMaxDataPayload) size = rng.below(static_cast<std::uint32_t>(kMaxDataPayload + 1));
        break;
    }
    const bool room = store.has_room(size);
    const bool expected = store.size() < kStoreMessages && store.bytes_used() + kOverhead + size <= kStoreBytes;
    CHECK_EQUAL(expected, room);
    const std::size_t count = store.size();
    const std::error_code ec = store.push(id + 1, span_of(payload(id + 1, size)));
    CHECK_EQUAL(room, !ec);
    if (ec) {
      STORE_ERRC_EQUAL(Errc::queue_full, ec);
      UNSIGNED_LONGS_EQUAL(count, store.size());
      // Make room: transmit and acknowledge a few.
      const std::uint32_t n = 1 + rng.below(4);
      for (std::uint32_t i = 0; i < n && !store.empty(); ++i) {
        if (!store.has_untransmitted()) break;
        store.mark_transmitted();
      }
      (void)ack_through(store, store.next_seq() - 1);
    } else {
      ++id;
    }
  }
  CHECK_TRUE(id > 1000);
}

TEST(OutboundStore, ASteadyFlowThroughAFullStoreWrapsWithoutMovingItsRecords) {
  // The bench's pattern: the store kept full, one message acknowledged and
  // one pushed, over and over. The records wrap around the buffer; none is
  // moved (which used to cost a copy of the whole store per message).
  std::uint64_t id = 0;
  std::uint64_t head = 1;
  while (store.has_room(64)) {
    ++id;
    push_ok(id, payload(id, 64));
  }
  const std::uint64_t capacity = id;
  for (int round = 0; round < 10000; ++round) {
    store.mark_transmitted();
    const std::vector<std::uint64_t> removed = ack_through(store, head);
    UNSIGNED_LONGLONGS_EQUAL(head, removed.at(0));  // ids and seqs move together here
    ++head;
    ++id;
    push_ok(id, payload(id, 64));
    CHECK(!store.has_room(64));
  }
  UNSIGNED_LONGS_EQUAL(0, store.relocations());
  // Every message still held is intact, oldest first, across the wrap.
  store.restart(head);
  for (std::uint64_t expected = head; expected <= id; ++expected) {
    const OutboundStore::Message m = store.next_untransmitted();
    UNSIGNED_LONGLONGS_EQUAL(expected, m.id);
    STRCMP_EQUAL(payload(expected, 64).c_str(), text_of(m.payload).c_str());
    store.mark_transmitted();
  }
  UNSIGNED_LONGLONGS_EQUAL(capacity, store.size());
}

TEST(OutboundStore, FragmentedRoomIsFoundByMovingTheRecordsOnce) {
  // Messages fill the store by bytes; acknowledging 40 frees room in front
  // of the records. A message larger than that room and than the little
  // left at the end, but not than both, must still fit: the records move.
  constexpr std::size_t kSize = 100;
  std::uint64_t id = 0;
  while (store.has_room(kSize)) {
    ++id;
    push_ok(id, payload(id, kSize));
  }
  const std::size_t end_room = kStoreBytes - store.bytes_used();
  CHECK(end_room < kOverhead + kSize);  // full by bytes, not by count
  for (int i = 0; i < 40; ++i) store.mark_transmitted();
  CHECK_EQUAL(40u, ack_through(store, 40).size());
  const std::size_t front_room = 40 * (kOverhead + kSize);
  const std::size_t large = front_room + end_room - kOverhead;  // fits only in both together
  CHECK(store.has_room(large));
  ++id;
  push_ok(id, payload(id, large));
  UNSIGNED_LONGS_EQUAL(1, store.relocations());
  store.restart(41);
  for (std::uint64_t expected = 41; expected <= id; ++expected) {
    const OutboundStore::Message m = store.next_untransmitted();
    UNSIGNED_LONGLONGS_EQUAL(expected, m.id);
    STRCMP_EQUAL(payload(expected, expected == id ? large : kSize).c_str(), text_of(m.payload).c_str());
    store.mark_transmitted();
  }
}

TEST(OutboundStore, ChurnOfThousandsOfMessagesKeepsContentAndOrder) {
  struct Model {
    std::uint64_t id;
    std::string payload;
  };
  std::deque<Model> model;  // what the store must hold, oldest first
  std::size_t transmitted = 0;
  std::uint64_t head = 1;
  std::size_t bytes = 0;
  std::uint64_t next_id = 0;
  std::size_t pushes = 0, acks = 0, drops = 0, restarts = 0, refusals = 0;
  Lcg rng(2024);

  for (int step = 0; step < 60000; ++step) {
    const std::uint32_t op = rng.below(100);
    if (op < 45) {  // push, mostly small, sometimes up to the maximum
      const std::size_t size = rng.below(10) == 0 ? rng.below(static_cast<std::uint32_t>(kMaxDataPayload + 1))
                                                  : rng.below(64);
      const std::string p = payload(next_id + 1, size);
      const bool fits = model.size() < kStoreMessages && bytes + kOverhead + size <= kStoreBytes;
      CHECK_EQUAL(fits, store.has_room(size));
      const std::error_code ec = store.push(next_id + 1, span_of(p));
      if (fits) {
        STORE_OK(ec);
        ++next_id;
        model.push_back(Model{next_id, p});
        bytes += kOverhead + size;
        ++pushes;
      } else {
        STORE_ERRC_EQUAL(Errc::queue_full, ec);
        ++refusals;
      }
    } else if (op < 75) {  // transmit one
      if (transmitted < model.size()) {
        const Model& m = model[transmitted];
        transmit(m.id, head + transmitted, m.payload);
        ++transmitted;
      } else {
        CHECK_FALSE(store.has_untransmitted());
      }
    } else if (op < 92) {  // acknowledge part of what is in flight
      if (transmitted > 0) {
        const std::size_t k = 1 + rng.below(static_cast<std::uint32_t>(transmitted));
        std::vector<std::uint64_t> expected;
        for (std::size_t i = 0; i < k; ++i) {
          expected.push_back(model.front().id);
          bytes -= kOverhead + model.front().payload.size();
          model.pop_front();
        }
        STRCMP_EQUAL(join(expected).c_str(), join(ack_through(store, head + k - 1)).c_str());
        head += k;
        transmitted -= k;
        ++acks;
      }
    } else if (op < 97) {  // drop the oldest untransmitted
      std::uint64_t dropped = 0;
      const bool any = store.drop_oldest_untransmitted(dropped);
      CHECK_EQUAL(transmitted < model.size(), any);
      if (any) {
        UNSIGNED_LONGLONGS_EQUAL(model[transmitted].id, dropped);
        bytes -= kOverhead + model[transmitted].payload.size();
        model.erase(model.begin() + static_cast<std::ptrdiff_t>(transmitted));
        ++drops;
      }
    } else {  // a reconnect: same numbering, or a new session's
      head = rng.below(2) == 0 ? head : 1 + rng.below(1000000);
      store.restart(head);
      transmitted = 0;
      ++restarts;
    }
    UNSIGNED_LONGS_EQUAL(model.size(), store.size());
    UNSIGNED_LONGS_EQUAL(transmitted, store.transmitted());
    UNSIGNED_LONGS_EQUAL(bytes, store.bytes_used());
    UNSIGNED_LONGLONGS_EQUAL(head, store.head_seq());
    UNSIGNED_LONGLONGS_EQUAL(head + transmitted, store.next_seq());
    CHECK_EQUAL(model.empty(), store.empty());

    if (step % 1000 == 999) {  // read every stored message back, as a reconnect would
      store.restart(head);
      for (std::size_t i = 0; i < model.size(); ++i) transmit(model[i].id, head + i, model[i].payload);
      CHECK_FALSE(store.has_untransmitted());
      transmitted = model.size();
    }
  }
  // The run did what it claims: many of each operation, the store full at times.
  CHECK_TRUE(pushes > 20000);
  CHECK_TRUE(acks > 5000);
  CHECK_TRUE(drops > 500);
  CHECK_TRUE(restarts > 500);
  CHECK_TRUE(refusals > 100);
}
