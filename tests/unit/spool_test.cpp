// SPDX-License-Identifier: Apache-2.0
// uplink::Spool over an in-memory SpoolStorage that remembers every write,
// what a sync made durable, and can tear a write or fail a call: order and
// content across reopen, many laps of the ring, acknowledgements,
// tombstones, persisted state, header slots torn at every byte, the last
// record torn at every byte (over zeros and over stale data), stale records
// of earlier laps and epochs, power cuts losing any unsynced writes,
// capacity against the OutboundStore, compaction (and crashes in it), the
// durability policy counted in syncs, and errors.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "uplink/core/outbound_store.hpp"
#include "uplink/core/spool.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

namespace uplink {
/// Test access to the spool's serial counter: an epoch roll-over without
/// writing 2^32 records.
struct SpoolTestAccess {
  /// Only on an empty ring: the next record (and the head) get `serial`.
  static void set_next_serial(Spool& spool, std::uint32_t serial) {
    spool.next_serial_ = serial;
    spool.head_serial_ = serial;
  }
};
}  // namespace uplink

using namespace uplink;

namespace {

using Bytes = std::vector<std::uint8_t>;

struct Write {
  std::size_t offset;
  Bytes data;
};

/// Storage in RAM. `image` is what the process sees; `durable` what the last
/// sync() made durable (what a power cut keeps, at least). Every write is
/// kept in `history`, so a test can rebuild the storage as of any moment,
/// with any write torn.
class MemStorage final : public SpoolStorage {
 public:
  explicit MemStorage(std::size_t size) : image(size, 0), durable(size, 0) {}
  explicit MemStorage(const Bytes& bytes) : image(bytes), durable(bytes) {}

  std::size_t size() const override { return image.size(); }

  std::error_code read(std::size_t offset, ByteSpan out) override {
    ++reads;
    if (out.size == 0 || offset > image.size() || out.size > image.size() - offset) return bad_call();
    if (fail_reads) return std::make_error_code(std::errc::io_error);
    std::memcpy(out.data, image.data() + offset, out.size);
    return {};
  }

  std::error_code write(std::size_t offset, ConstByteSpan data) override {
    if (data.size == 0 || offset > image.size() || data.size > image.size() - offset) return bad_call();
    if (writes_until_failure == 0) return std::make_error_code(std::errc::io_error);
    if (writes_until_failure != kForever) --writes_until_failure;
    std::memcpy(image.data() + offset, data.data, data.size);
    history.push_back(Write{offset, Bytes(data.begin(), data.end())});
    ++writes;
    if (after_write) after_write();
    return {};
  }

  std::error_code sync() override {
    if (fail_syncs) return std::make_error_code(std::errc::io_error);
    durable = image;
    synced_history = history.size();
    ++syncs;
    return {};
  }

  /// What a power cut leaves: the durable image plus, of the writes since
  /// the last sync, those `keep` says (in order; the kept part of each is a
  /// prefix of `keep` bytes, SIZE_MAX = all of it).
  Bytes power_cut(const std::function<std::size_t(std::size_t index, const Write&)>& keep) const {
    Bytes out = durable;
    for (std::size_t i = synced_history; i < history.size(); ++i) {
      const Write& w = history[i];
      const std::size_t n = std::min(keep(i - synced_history, w), w.data.size());
      std::memcpy(out.data() + w.offset, w.data.data(), n);
    }
    return out;
  }

  static constexpr std::size_t kForever = ~std::size_t{0};
  Bytes image;
  Bytes durable;
  std::vector<Write> history;
  std::size_t synced_history = 0;
  std::size_t reads = 0;
  std::size_t writes = 0;
  std::size_t syncs = 0;
  std::size_t bad_calls = 0;
  std::size_t writes_until_failure = kForever;
  bool fail_syncs = false;
  bool fail_reads = false;
  std::function<void()> after_write;

 private:
  std::error_code bad_call() {
    ++bad_calls;
    return std::make_error_code(std::errc::invalid_argument);
  }
};

/// `before` with the writes applied in order, the first `bytes` bytes of them.
Bytes with_writes(Bytes before, const std::vector<Write>& writes, std::size_t bytes) {
  for (const Write& w : writes) {
    const std::size_t n = std::min(bytes, w.data.size());
    std::memcpy(before.data() + w.offset, w.data.data(), n);
    bytes -= n;
  }
  return before;
}

std::size_t total_bytes(const std::vector<Write>& writes) {
  std::size_t n = 0;
  for (const Write& w : writes) n += w.data.size();
  return n;
}

std::string error_text(std::error_code ec) {
  if (!ec) return "ok";
  if (ec.category() == error_category()) return errc_name(static_cast<Errc>(ec.value()));
  if (ec == std::errc::invalid_argument) return "invalid_argument";
  if (ec == std::errc::io_error) return "io_error";
  return "other";
}

#define SPOOL_OK(actual) STRCMP_EQUAL("ok", error_text(actual).c_str())
#define SPOOL_ERR(expected, actual) STRCMP_EQUAL(expected, error_text(actual).c_str())

/// Bytes that depend on the id and the position: a byte out of place, a
/// record cut short or two records mixed up all show.
std::string payload(std::uint64_t id, std::size_t size) {
  std::string p(size, '\0');
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<char>((id * 131 + i * 7 + (i >> 8)) & 0xFF);
  return p;
}

ConstByteSpan span_of(const std::string& s) { return ConstByteSpan{s.data(), s.size()}; }

struct Msg {
  std::uint64_t id;
  std::string payload;
};

std::string describe(const std::vector<Msg>& messages) {
  std::string out;
  for (const Msg& m : messages) {
    if (!out.empty()) out += ",";
    out += std::to_string(m.id) + ":" + std::to_string(m.payload.size());
  }
  return out;
}

std::vector<Msg> recover_all(Spool& spool) {
  std::vector<Msg> out;
  SPOOL_OK(spool.recover([&out](std::uint64_t id, ConstByteSpan p) {
    out.push_back(Msg{id, std::string(reinterpret_cast<const char*>(p.data), p.size)});
  }));
  return out;
}

/// Opens a fresh Spool on a copy of `image` and returns what it recovers.
std::vector<Msg> recover_image(const Bytes& image, SpoolState* state = nullptr, SpoolDamage* damage = nullptr) {
  MemStorage storage(image);
  Spool spool;
  SPOOL_OK(spool.open(storage));
  if (state != nullptr) *state = spool.state();
  if (damage != nullptr) *damage = spool.damage();
  return recover_all(spool);
}

#define MESSAGES_EQUAL(expected, actual) STRCMP_EQUAL(describe(expected).c_str(), describe(actual).c_str())

/// Checks content too (describe() shows ids and sizes).
void check_messages(const std::vector<Msg>& expected, const std::vector<Msg>& actual) {
  MESSAGES_EQUAL(expected, actual);
  for (std::size_t i = 0; i < expected.size() && i < actual.size(); ++i) {
    CHECK_TRUE(expected[i].payload == actual[i].payload);
  }
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

constexpr std::size_t kMinimum = Spool::minimum_storage_size();

}  // namespace

TEST_GROUP(Spool) {
  std::unique_ptr<MemStorage> storage{new MemStorage(kMinimum)};
  Spool spool;
  std::vector<Msg> model;  // live messages, oldest first
  std::uint64_t next_id = 1;

  void open(SpoolOptions options = {}) { SPOOL_OK(spool.open(*storage, options)); }

  /// A new Spool over the same storage, as after a process crash (the image
  /// the process saw) or after a power cut (`image`).
  std::vector<Msg> reopen(SpoolOptions options = {}) {
    SPOOL_OK(spool.open(*storage, options));
    return recover_all(spool);
  }

  void append(std::size_t size) {
    const std::string p = payload(next_id, size);
    SPOOL_OK(spool.append(next_id, span_of(p)));
    model.push_back(Msg{next_id, p});
    ++next_id;
  }

  void acknowledge(std::size_t count) {
    SPOOL_OK(spool.remove_front(count, spool.state().head_seq + count));
    model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(count));
  }

  void drop(std::uint64_t id) {
    SPOOL_OK(spool.tombstone(id));
    model.erase(std::remove_if(model.begin(), model.end(), [id](const Msg& m) { return m.id == id; }), model.end());
  }
};

TEST(Spool, Crc32MatchesTheStandardCheckValueAndStreams) {
  const std::string check = "123456789";
  UNSIGNED_LONGS_EQUAL(0xCBF43926u, crc32(span_of(check)));
  UNSIGNED_LONGS_EQUAL(0u, crc32(ConstByteSpan{}));
  for (std::size_t split = 0; split <= check.size(); ++split) {
    const std::uint32_t first = crc32(ConstByteSpan{check.data(), split});
    UNSIGNED_LONGS_EQUAL(0xCBF43926u, crc32(ConstByteSpan{check.data() + split, check.size() - split}, first));
  }
}

TEST(Spool, FreshStorageIsFormattedEmptyWithDefaultState) {
  open();
  CHECK_TRUE(spool.is_open());
  CHECK_TRUE(spool.formatted());
  CHECK_TRUE(spool.empty());
  UNSIGNED_LONGS_EQUAL(0, spool.bytes_used());
  UNSIGNED_LONGS_EQUAL(kMinimum - Spool::kRingOffset, spool.capacity());
  UNSIGNED_LONGLONGS_EQUAL(0, spool.state().session_id);
  UNSIGNED_LONGLONGS_EQUAL(0, spool.state().last_downlink_seq);
  UNSIGNED_LONGLONGS_EQUAL(1, spool.state().next_message_id);
  UNSIGNED_LONGLONGS_EQUAL(1, spool.state().head_seq);
  CHECK_TRUE(recover_all(spool).empty());
  UNSIGNED_LONGS_EQUAL(0, storage->bad_calls);
  // The second open finds the header: not formatted again, a new epoch.
  const std::uint32_t epoch = spool.epoch();
  CHECK_TRUE(reopen().empty());
  CHECK_FALSE(spool.formatted());
  UNSIGNED_LONGS_EQUAL(epoch + 1, spool.epoch());
}

TEST(Spool, ForeignDataIsRefusedUntouchedUnlessReformattingIsAskedFor) {
  Rng rng(7);
  for (auto& b : storage->image) b = static_cast<std::uint8_t>(rng.next());
  const Bytes before = storage->image;
  CHECK_TRUE(spool.open(*storage, SpoolOptions{}) == Errc::spool_damaged);
  CHECK_FALSE(spool.is_open());
  CHECK_TRUE(before == storage->image);
  SpoolOptions reformat;
  reformat.reformat_damaged = true;
  CHECK_FALSE(spool.open(*storage, reformat));
  CHECK_TRUE(spool.formatted());
  append(10);
  append(0);
  append(Spool::kMaxPayload);
  check_messages(model, reopen());
}

TEST(Spool, BothHeadersDamagedIsAClearErrorAndTheMessagesStayOnTheStorage) {
  open();
  for (int i = 0; i < 5; ++i) append(30);
  // A torn header write damages one slot at most; both damaged is
  // corruption: refused rather than formatted over five messages.
  storage->image[8] ^= 0x01;
  storage->image[Spool::kSlotSize + 8] ^= 0x01;
  const Bytes damaged = storage->image;
  Spool again;
  CHECK_TRUE(again.open(*storage, SpoolOptions{}) == Errc::spool_damaged);
  CHECK_FALSE(again.is_open());
  CHECK_TRUE(damaged == storage->image);
  STRCMP_EQUAL("spool_damaged", errc_name(Errc::spool_damaged));
}

TEST(Spool, OneDamagedHeaderFallsBackToTheOtherAndLosesNothing) {
  open();
  for (int i = 0; i < 5; ++i) append(30);
  CHECK_EQUAL(5u, reopen().size());  // the second open writes the other slot: both valid now
  for (std::size_t slot = 0; slot < 2; ++slot) {
    MemStorage copy(storage->image);
    copy.image[slot * Spool::kSlotSize + 8] ^= 0x01;
    Spool again;
    CHECK_FALSE(again.open(copy, SpoolOptions{}));
    CHECK_FALSE(again.formatted());
    UNSIGNED_LONGS_EQUAL(5, recover_all(again).size());
  }
}

TEST(Spool, MessagesComeBackInOrderAfterReopen) {
  open();
  const std::size_t sizes[] = {0, 1, 5, 100, Spool::kMaxPayload, 2, 33, 700};
  for (const std::size_t size : sizes) append(size);
  UNSIGNED_LONGS_EQUAL(8, spool.size());
  check_messages(model, recover_all(spool));  // in the same process, too
  check_messages(model, reopen());
  UNSIGNED_LONGLONGS_EQUAL(9, spool.state().next_message_id);
  // And appending goes on after a reopen.
  next_id = spool.state().next_message_id;
  append(3);
  check_messages(model, reopen());
  UNSIGNED_LONGS_EQUAL(0, storage->bad_calls);
}

TEST(Spool, AcknowledgedMessagesLeaveAndHeadSeqPersists) {
  open();
  for (int i = 0; i < 10; ++i) append(20);
  SPOOL_OK(spool.remove_front(4, 5));
  model.erase(model.begin(), model.begin() + 4);
  UNSIGNED_LONGS_EQUAL(6, spool.size());
  UNSIGNED_LONGLONGS_EQUAL(5, spool.state().head_seq);
  check_messages(model, reopen());
  UNSIGNED_LONGLONGS_EQUAL(5, spool.state().head_seq);
  SPOOL_OK(spool.remove_front(0, 7));  // a renumbering only
  UNSIGNED_LONGLONGS_EQUAL(7, spool.state().head_seq);
  SPOOL_ERR("invalid_argument", spool.remove_front(7, 99));  // more than there are: nothing changes
  UNSIGNED_LONGS_EQUAL(6, spool.size());
  acknowledge(6);
  CHECK_TRUE(spool.empty());
  UNSIGNED_LONGS_EQUAL(0, spool.bytes_used());
  CHECK_TRUE(reopen().empty());
  UNSIGNED_LONGLONGS_EQUAL(13, spool.state().head_seq);
  UNSIGNED_LONGLONGS_EQUAL(11, spool.state().next_message_id);
}

TEST(Spool, RingWrapsManyTimesWithVaryingSizes) {
  open();
  Rng rng(42);
  std::size_t appended_bytes = 0;
  for (int step = 0; step < 6000; ++step) {
    const std::size_t size = rng.below(4) == 0 ? rng.below(Spool::kMaxPayload + 1) : rng.below(200);
    if (rng.below(3) != 0) {
      const std::string p = payload(next_id, size);
      const std::error_code e = spool.append(next_id, span_of(p));
      if (e == Errc::queue_full) {
        CHECK_FALSE(model.empty());
      } else {
        SPOOL_OK(e);
        model.push_back(Msg{next_id, p});
        appended_bytes += size + Spool::kRecordOverhead;
      }
      ++next_id;
    } else if (!model.empty()) {
      acknowledge(1 + rng.below(model.size()));
    }
    if (step % 500 == 0) {
      check_messages(model, reopen());
      next_id = spool.state().next_message_id;
    }
  }
  CHECK_TRUE(appended_bytes > 20 * spool.capacity());  // many laps
  check_messages(model, reopen());
  UNSIGNED_LONGS_EQUAL(0, storage->bad_calls);
}

TEST(Spool, TombstonedMessagesDoNotComeBack) {
  open();
  for (int i = 0; i < 8; ++i) append(10 + static_cast<std::size_t>(i));
  drop(3);
  drop(5);
  SPOOL_OK(spool.tombstone(5));    // twice: nothing more
  SPOOL_OK(spool.tombstone(100));  // unknown: nothing
  UNSIGNED_LONGS_EQUAL(6, spool.size());
  check_messages(model, recover_all(spool));
  check_messages(model, reopen());
  // Acknowledgements count live messages only: 1, 2 and 4 leave (and the
  // dropped 3 and 5 with them: the head moves to 6).
  acknowledge(3);
  check_messages(model, reopen());
  UNSIGNED_LONGS_EQUAL(0, spool.dropped_bytes());
  // Dropping the oldest moves the head at once.
  drop(6);
  drop(8);
  check_messages(model, reopen());
  drop(7);
  CHECK_TRUE(spool.empty());
  UNSIGNED_LONGS_EQUAL(0, spool.bytes_used());
  CHECK_TRUE(reopen().empty());
}

TEST(Spool, StatePersistsAcrossReopen) {
  open();
  SpoolState s;
  s.session_id = 0x1122334455667788ull;
  s.last_downlink_seq = 42;
  s.next_message_id = 1000;
  s.head_seq = 77;
  SPOOL_OK(spool.save_state(s));
  CHECK_TRUE(reopen().empty());
  UNSIGNED_LONGLONGS_EQUAL(s.session_id, spool.state().session_id);
  UNSIGNED_LONGLONGS_EQUAL(42, spool.state().last_downlink_seq);
  UNSIGNED_LONGLONGS_EQUAL(1000, spool.state().next_message_id);
  UNSIGNED_LONGLONGS_EQUAL(77, spool.state().head_seq);
  // Ids below next_message_id are refused; appended ids move it on, and it
  // survives without another save_state().
  SPOOL_ERR("invalid_argument", spool.append(999, literal_bytes("x")));
  SPOOL_OK(spool.append(1000, literal_bytes("x")));
  SPOOL_ERR("invalid_argument", spool.append(1000, literal_bytes("y")));
  SPOOL_OK(spool.append(1005, literal_bytes("y")));
  reopen();
  UNSIGNED_LONGLONGS_EQUAL(1006, spool.state().next_message_id);
  // save_state() cannot move next_message_id below an appended id.
  s.next_message_id = 1;
  SPOOL_OK(spool.save_state(s));
  UNSIGNED_LONGLONGS_EQUAL(1006, spool.state().next_message_id);
}

TEST(Spool, HeaderWriteTornAtEveryByteKeepsThePreviousState) {
  open();
  append(30);
  append(40);
  SpoolState before = spool.state();
  before.session_id = 5;
  before.last_downlink_seq = 6;
  SPOOL_OK(spool.save_state(before));
  const Bytes image = storage->image;
  const std::size_t mark = storage->history.size();
  SpoolState after = before;
  after.session_id = 99;
  after.last_downlink_seq = 100;
  SPOOL_OK(spool.save_state(after));
  const std::vector<Write> writes(storage->history.begin() + static_cast<std::ptrdiff_t>(mark),
                                  storage->history.end());
  UNSIGNED_LONGS_EQUAL(1, writes.size());
  UNSIGNED_LONGS_EQUAL(Spool::kSlotSize, writes[0].data.size());
  for (std::size_t k = 0; k <= Spool::kSlotSize; ++k) {
    SpoolState state;
    check_messages(model, recover_image(with_writes(image, writes, k), &state));
    // The CRC covers the first 84 bytes; the rest of the slot is zeros.
    const SpoolState& expected = k >= 84 ? after : before;
    UNSIGNED_LONGLONGS_EQUAL(expected.session_id, state.session_id);
    UNSIGNED_LONGLONGS_EQUAL(expected.last_downlink_seq, state.last_downlink_seq);
  }
}

TEST(Spool, AcknowledgementTornAtEveryByteReplaysOrRemoves) {
  open();
  for (int i = 0; i < 5; ++i) append(25);
  const Bytes image = storage->image;
  const std::size_t mark = storage->history.size();
  SPOOL_OK(spool.remove_front(2, 3));
  const std::vector<Write> writes(storage->history.begin() + static_cast<std::ptrdiff_t>(mark),
                                  storage->history.end());
  const std::vector<Msg> all = model;
  const std::vector<Msg> rest(model.begin() + 2, model.end());
  for (std::size_t k = 0; k <= total_bytes(writes); ++k) {
    SpoolState state;
    const std::vector<Msg> got = recover_image(with_writes(image, writes, k), &state);
    // Either the acknowledgement is there (seq 3 first) or it is replayed
    // with the numbering it had (seq 1 first): never a mix.
    if (state.head_seq == 3) {
      check_messages(rest, got);
    } else {
      UNSIGNED_LONGLONGS_EQUAL(1, state.head_seq);
      check_messages(all, got);
    }
  }
}

TEST(Spool, TornLastRecordAtEveryByteRecoversTheRecordsBeforeIt) {
  // Over zeros (a new file) and over stale records of earlier laps; in the
  // middle of the ring and where the record wraps (a wrap record first).
  for (int variant = 0; variant < 4; ++variant) {
    const bool stale = variant >= 2;
    const bool wraps = variant % 2 == 1;
    storage.reset(new MemStorage(kMinimum));
    model.clear();
    next_id = 1;
    open();
    const std::size_t end = Spool::kRingOffset + spool.capacity();
    Rng rng(static_cast<std::uint64_t>(variant) + 1);
    if (stale) {
      // A few laps of the ring, then everything acknowledged.
      while (next_id < 400) {
        append(rng.below(300));
        if (model.size() > 20) acknowledge(10);
      }
      acknowledge(model.size());
    }
    // Head and tail past the middle, far from the end.
    while (spool.tail_offset() < Spool::kRingOffset + spool.capacity() / 2 || end - spool.tail_offset() < 3000) {
      append(64);
      acknowledge(1);
    }
    for (int i = 0; i < 5; ++i) append(50 + rng.below(100));
    const std::size_t last_size = 300;
    const std::size_t last_record = last_size + Spool::kRecordOverhead;
    if (wraps) {
      while (end - spool.tail_offset() >= last_record) append(64);
    }
    const std::vector<Msg> kept = model;
    const Bytes image = storage->image;
    const std::size_t mark = storage->history.size();
    append(last_size);
    const std::vector<Write> writes(storage->history.begin() + static_cast<std::ptrdiff_t>(mark),
                                    storage->history.end());
    UNSIGNED_LONGS_EQUAL(wraps ? 2 : 1, writes.size());
    UNSIGNED_LONGS_EQUAL(last_record, writes.back().data.size());
    if (wraps) UNSIGNED_LONGS_EQUAL(Spool::kRingOffset, writes.back().offset);
    const std::size_t total = total_bytes(writes);
    for (std::size_t k = 0; k <= total; ++k) {
      MemStorage torn(with_writes(image, writes, k));
      Spool recovered;
      SPOOL_OK(recovered.open(torn));
      std::vector<Msg> expected = k == total ? model : kept;
      check_messages(expected, recover_all(recovered));
      // Then the spool goes on: two more messages, recovered after them.
      std::uint64_t id = recovered.state().next_message_id;
      CHECK_TRUE(id > expected.back().id);
      for (int more = 0; more < 2; ++more, ++id) {
        const std::string p = payload(id, 80);
        SPOOL_OK(recovered.append(id, span_of(p)));
        expected.push_back(Msg{id, p});
      }
      Spool again;
      SPOOL_OK(again.open(torn));
      check_messages(expected, recover_all(again));
    }
  }
}

TEST(Spool, StaleRecordsOfAnEarlierLapAreNotResurrected) {
  open();
  // Fill the ring with small records over a few laps, acknowledge all:
  // the ring is full of valid-looking old records.
  for (int lap = 0; lap < 3; ++lap) {
    while (!spool.append(next_id, span_of(payload(next_id, 40)))) {
      model.push_back(Msg{next_id, payload(next_id, 40)});
      ++next_id;
    }
    acknowledge(model.size());
  }
  // One new record of the same size over an old one: the old records right
  // after it carry valid CRCs, but older serials and smaller ids.
  append(40);
  check_messages(model, reopen());
  append(40);
  append(40);
  check_messages(model, reopen());
}

TEST(Spool, ALostRecordBeforeAKeptOneIsCountedAndTheKeptOneComesBack) {
  // A and B durable; C and D written unsynced, then a power cut keeps D but
  // not C: a damaged stretch with a valid record after it, not a torn tail.
  open();
  append(30);  // A
  append(30);  // B
  open(SpoolOptions{SpoolSync::none, 1000});
  append(30);  // C
  append(30);  // D
  const Bytes cut = storage->power_cut([](std::size_t index, const Write&) {
    return index == 0 ? std::size_t{0} : ~std::size_t{0};  // C lost, D kept
  });
  storage.reset(new MemStorage(cut));
  model.erase(model.begin() + 2);  // C
  check_messages(model, reopen());
  UNSIGNED_LONGLONGS_EQUAL(1, spool.damage().messages_lost);
  UNSIGNED_LONGS_EQUAL(1, spool.damage().damaged_stretches);
  CHECK_FALSE(spool.damage().estimated);
  // The spool goes on after D, and the damage was compacted away: the
  // next open finds the messages and nothing to report again.
  append(30);
  check_messages(model, reopen());
  CHECK_FALSE(spool.damage().lost_messages());
  UNSIGNED_LONGS_EQUAL(0, spool.damage().damaged_stretches);
}

TEST(Spool, RecordsOfACrashedEpochDoNotChainOntoANewOne) {
  // A and B durable; C and D written, then a power cut keeps neither; the
  // next run writes C' where C was, shorter: D's bytes further on carry an
  // older epoch and smaller ids and must not come back after C'.
  open();
  append(30);  // A
  append(30);  // B
  const std::vector<Msg> durable_part = model;
  open(SpoolOptions{SpoolSync::none, 1000});
  append(30);  // C
  append(30);  // D
  const Bytes image = storage->power_cut([](std::size_t index, const Write&) {
    return index == 1 ? ~std::size_t{0} : std::size_t{0};  // only D's record kept
  });
  // The next run wrote C' over C before D's bytes reappeared (as if D's
  // write had been kept by the medium but missed by that run).
  model = durable_part;
  MemStorage without_d(storage->durable);
  Spool first_run;
  SPOOL_OK(first_run.open(without_d));
  const std::string c_prime = payload(3, 10);
  SPOOL_OK(first_run.append(3, span_of(c_prime)));
  // D's record, of the crashed epoch, back where it was after C'.
  for (std::size_t i = Spool::kRingOffset; i < image.size(); ++i) {
    if (without_d.image[i] == 0 && image[i] != 0) without_d.image[i] = image[i];
  }
  model.push_back(Msg{3, c_prime});
  MemStorage again(without_d.image);
  Spool second_run;
  SPOOL_OK(second_run.open(again));
  check_messages(model, recover_all(second_run));
  CHECK_FALSE(second_run.damage().lost_messages());
}

TEST(Spool, FullRingRefusesThenTakesMoreAfterAcknowledgements) {
  open();
  std::size_t accepted = 0;
  while (true) {
    const std::string p = payload(next_id, 500);
    const std::error_code e = spool.append(next_id, span_of(p));
    if (e) {
      SPOOL_ERR("queue_full", e);
      break;
    }
    model.push_back(Msg{next_id++, p});
    ++accepted;
  }
  CHECK_TRUE(accepted * 524 > spool.capacity() - 524 * 2);
  UNSIGNED_LONGS_EQUAL(accepted, spool.size());
  check_messages(model, recover_all(spool));  // the refused one left no trace
  acknowledge(3);
  append(500);
  append(500);
  check_messages(model, reopen());
}

TEST(Spool, HoldsWhateverTheOutboundStoreHolds) {
  // With the smallest storage and every policy, an append the store takes
  // the spool takes too, whatever the sizes and wherever the ring stands.
  const SpoolSync policies[] = {SpoolSync::every_write, SpoolSync::interval, SpoolSync::none};
  for (const SpoolSync policy : policies) {
    storage.reset(new MemStorage(kMinimum));
    model.clear();
    next_id = 1;
    open(SpoolOptions{policy, 50});
    std::unique_ptr<OutboundStore> store(new OutboundStore);
    Rng rng(99 + static_cast<std::uint64_t>(policy));
    Millis now = 0;
    for (int step = 0; step < 8000; ++step) {
      now += 7;
      const std::size_t size = rng.below(8) == 0 ? Spool::kMaxPayload - rng.below(10)
                                                 : rng.below(5) == 0 ? 0 : rng.below(120);
      const int action = static_cast<int>(rng.below(10));
      if (action < 6) {
        const std::string p = payload(next_id, size);
        if (store->has_room(size)) {
          SPOOL_OK(store->push(next_id, span_of(p)));
          SPOOL_OK(spool.append(next_id, span_of(p)));
          model.push_back(Msg{next_id, p});
        }
        ++next_id;
      } else if (!model.empty()) {
        const std::size_t n = 1 + rng.below(action == 9 ? model.size() : std::min<std::size_t>(3, model.size()));
        store->acknowledge_through(store->head_seq() + n - 1, [](std::uint64_t) {});
        acknowledge(n);
      }
      SPOOL_OK(spool.maybe_sync(now));
    }
    // The worst cases by construction: as many empty messages as the store
    // takes, and as many of the largest.
    for (const std::size_t size : {std::size_t{0}, Spool::kMaxPayload, std::size_t{1}}) {
      if (!model.empty()) {
        store->acknowledge_through(store->head_seq() + model.size() - 1, [](std::uint64_t) {});
        acknowledge(model.size());
      }
      while (store->has_room(size)) {
        const std::string p = payload(next_id, size);
        SPOOL_OK(store->push(next_id, span_of(p)));
        SPOOL_OK(spool.append(next_id, span_of(p)));
        model.push_back(Msg{next_id++, p});
      }
    }
    check_messages(model, reopen());
  }
}

TEST(Spool, StorageSmallerThanTheMinimumAndBadOptionsAreRefused) {
  storage.reset(new MemStorage(kMinimum - 1));
  SPOOL_ERR("invalid_option", spool.open(*storage));
  CHECK_FALSE(spool.is_open());
  UNSIGNED_LONGS_EQUAL(0, storage->writes);
  storage.reset(new MemStorage(kMinimum));
  SPOOL_ERR("invalid_option", spool.open(*storage, SpoolOptions{SpoolSync::interval, 0}));
  SPOOL_ERR("invalid_option", spool.open(*storage, SpoolOptions{SpoolSync::interval, 3600001}));
  SPOOL_ERR("invalid_option", spool.open(*storage, SpoolOptions{static_cast<SpoolSync>(7), 10}));
  CHECK_FALSE(spool.is_open());
  // And a closed spool says so.
  SPOOL_ERR("not_running", spool.append(1, literal_bytes("x")));
  SPOOL_ERR("not_running", spool.remove_front(0, 1));
  SPOOL_ERR("not_running", spool.tombstone(1));
  SPOOL_ERR("not_running", spool.save_state(SpoolState{}));
  SPOOL_ERR("not_running", spool.flush());
  SPOOL_ERR("not_running", spool.recover([](std::uint64_t, ConstByteSpan) {}));
  CHECK_TRUE(Spool::minimum_storage_size() >= Spool::kRingOffset + kStoreBytes + Spool::kMaxRecord);
  CHECK_TRUE(Spool::recommended_storage_size() > 2 * Spool::minimum_storage_size());
}

TEST(Spool, BadArgumentsAreRefusedAndChangeNothing) {
  open();
  append(5);
  const std::string big(Spool::kMaxPayload + 1, 'x');
  SPOOL_ERR("field_too_long", spool.append(next_id, span_of(big)));
  SPOOL_ERR("invalid_argument", spool.append(0, literal_bytes("x")));
  SPOOL_ERR("invalid_argument", spool.append(1, literal_bytes("x")));
  check_messages(model, reopen());
}

TEST(Spool, EveryWriteSyncsEachChange) {
  open();
  const std::size_t at_open = storage->syncs;
  CHECK_TRUE(at_open >= 1);  // the new epoch is durable at once
  append(10);
  UNSIGNED_LONGS_EQUAL(at_open + 1, storage->syncs);
  append(10);
  append(10);
  UNSIGNED_LONGS_EQUAL(at_open + 3, storage->syncs);
  acknowledge(1);
  UNSIGNED_LONGS_EQUAL(at_open + 4, storage->syncs);
  drop(3);
  UNSIGNED_LONGS_EQUAL(at_open + 5, storage->syncs);
  SPOOL_OK(spool.save_state(spool.state()));
  UNSIGNED_LONGS_EQUAL(at_open + 6, storage->syncs);
  SPOOL_OK(spool.maybe_sync(1000000));
  SPOOL_OK(spool.flush());  // nothing unsynced
  UNSIGNED_LONGS_EQUAL(at_open + 6, storage->syncs);
  UNSIGNED_LONGLONGS_EQUAL(kNever, spool.next_sync_due());
  // Nothing is ever unsynced: a power cut keeps exactly what was accepted.
  check_messages(model, recover_image(storage->power_cut([](std::size_t, const Write&) { return std::size_t{0}; })));
}

TEST(Spool, IntervalSyncsAtMostOncePerInterval) {
  open(SpoolOptions{SpoolSync::interval, 1000});
  const std::size_t at_open = storage->syncs;
  UNSIGNED_LONGLONGS_EQUAL(kNever, spool.next_sync_due());
  for (int i = 0; i < 10; ++i) append(10);
  acknowledge(2);
  UNSIGNED_LONGS_EQUAL(at_open, storage->syncs);
  UNSIGNED_LONGLONGS_EQUAL(0, spool.next_sync_due());  // the first one: now
  SPOOL_OK(spool.maybe_sync(5000));
  UNSIGNED_LONGS_EQUAL(at_open + 1, storage->syncs);
  UNSIGNED_LONGLONGS_EQUAL(kNever, spool.next_sync_due());
  append(10);
  UNSIGNED_LONGLONGS_EQUAL(6000, spool.next_sync_due());
  SPOOL_OK(spool.maybe_sync(5500));
  SPOOL_OK(spool.maybe_sync(5999));
  UNSIGNED_LONGS_EQUAL(at_open + 1, storage->syncs);
  SPOOL_OK(spool.maybe_sync(6000));
  UNSIGNED_LONGS_EQUAL(at_open + 2, storage->syncs);
  SPOOL_OK(spool.maybe_sync(9000));  // nothing unsynced: no sync
  UNSIGNED_LONGS_EQUAL(at_open + 2, storage->syncs);
  append(10);
  SPOOL_OK(spool.flush());
  UNSIGNED_LONGS_EQUAL(at_open + 3, storage->syncs);
}

TEST(Spool, IntervalPowerCutLosesOnlyWhatWasNotSynced) {
  open(SpoolOptions{SpoolSync::interval, 1000});
  for (int i = 0; i < 6; ++i) append(15);
  acknowledge(2);
  SPOOL_OK(spool.maybe_sync(0));
  const std::vector<Msg> at_sync = model;
  const std::uint64_t head_seq_at_sync = spool.state().head_seq;
  acknowledge(2);  // replayed after the cut if its header is lost
  append(15);      // lost if its record is lost
  append(15);
  // Nothing unsynced survives: the state of the last sync.
  SpoolState state;
  check_messages(at_sync, recover_image(storage->power_cut([](std::size_t, const Write&) { return std::size_t{0}; }),
                                        &state));
  UNSIGNED_LONGLONGS_EQUAL(head_seq_at_sync, state.head_seq);
  // Everything survives: the state now.
  check_messages(model, recover_image(storage->power_cut([](std::size_t, const Write&) { return ~std::size_t{0}; }),
                                      &state));
  UNSIGNED_LONGLONGS_EQUAL(head_seq_at_sync + 2, state.head_seq);
  // A process crash loses nothing either.
  check_messages(model, recover_image(storage->image));
}

namespace {

/// Random operations under the interval policy; at random moments a power
/// cut keeps a random subset of the unsynced writes, one of them torn. What
/// must come back: every message live at the last sync and still live now;
/// of those live at the last sync, only ones acknowledged or dropped since
/// may be missing; then a run of the messages appended since (dropped ones
/// aside); never a corrupt, reordered or unknown message. With `pinned`,
/// the oldest messages are never acknowledged and the newest are dropped
/// from behind them instead (drop_oldest during an outage: compactions).
void power_cut_property(std::size_t storage_size, bool pinned, std::uint64_t seed, std::size_t appends_in_10 = 5) {
  MemStorage storage(storage_size);
  Spool spool;
  SPOOL_OK(spool.open(storage, SpoolOptions{SpoolSync::interval, 100}));
  Rng rng(seed);
  std::vector<Msg> model;
  std::vector<std::uint64_t> seq_of(1, 0);  // seq_of[id], when ids keep their seq
  std::vector<Msg> at_sync;
  std::vector<std::uint64_t> dropped_since;
  std::vector<std::uint64_t> appended_since;
  std::uint64_t next_id = 1;
  Millis now = 0;
  std::size_t cuts = 0;
  auto live = [&model](std::uint64_t id) {
    return std::any_of(model.begin(), model.end(), [id](const Msg& m) { return m.id == id; });
  };
  for (int step = 0; step < 4000; ++step) {
    now += 13;
    const std::size_t action = rng.below(10);
    if (action < appends_in_10) {
      const std::size_t size = rng.below(8) == 0 ? rng.below(Spool::kMaxPayload) : rng.below(300);
      const std::string p = payload(next_id, size);
      seq_of.push_back(spool.state().head_seq + model.size());
      if (!spool.append(next_id, span_of(p))) {
        model.push_back(Msg{next_id, p});
        appended_since.push_back(next_id);
      }
      ++next_id;
    } else if (!pinned && action < 8 && !model.empty()) {
      // (With appends_in_10 > 5, acknowledgements are rarer: the ring runs full.)
      const std::size_t n = 1 + rng.below(std::min<std::size_t>(model.size(), 4));
      SPOOL_OK(spool.remove_front(n, spool.state().head_seq + n));
      model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(n));
    } else if ((action == 8 || (pinned && action < 9)) && model.size() > 3) {
      // Without pins: the newest (numbering unchanged); with pins: the
      // oldest after the three pinned ones.
      const std::uint64_t id = pinned ? model[3].id : model.back().id;
      dropped_since.push_back(id);
      SPOOL_OK(spool.tombstone(id));
      model.erase(std::remove_if(model.begin(), model.end(), [id](const Msg& m) { return m.id == id; }),
                  model.end());
    }
    const std::size_t syncs = storage.syncs;
    SPOOL_OK(spool.maybe_sync(now));
    if (storage.syncs != syncs) {
      at_sync = model;
      dropped_since.clear();
      appended_since.clear();
    }
    if (step % 23 != 0) continue;
    ++cuts;
    const std::size_t torn = rng.below(8);
    const std::uint64_t pattern = rng.next();
    const Bytes cut = storage.power_cut([&](std::size_t index, const Write& w) {
      if (index == torn) return static_cast<std::size_t>(pattern % (w.data.size() + 1));
      return ((pattern >> (index % 64)) & 1u) != 0 ? ~std::size_t{0} : std::size_t{0};
    });
    SpoolState state;
    SpoolDamage damage;
    const std::vector<Msg> got = recover_image(cut, &state, &damage);
    std::size_t skipped = 0;  // appended since the sync, not dropped, missing between recovered ones
    std::uint64_t last = 0;
    std::size_t since_at = 0;  // position in appended_since of the next new one
    bool in_new_part = false;
    for (const Msg& m : got) {
      CHECK_TRUE(m.id > last);
      last = m.id;
      CHECK_TRUE(m.payload == payload(m.id, m.payload.size()));
      const bool old = std::any_of(at_sync.begin(), at_sync.end(), [&m](const Msg& o) { return o.id == m.id; });
      if (old) {
        CHECK_FALSE(in_new_part);
        continue;
      }
      // A new one: the next in appended_since, dropped ones skipped (and
      // any number of them at the start: acknowledged since).
      auto at = std::find(appended_since.begin(), appended_since.end(), m.id);
      CHECK_TRUE(at != appended_since.end());
      std::size_t index = static_cast<std::size_t>(at - appended_since.begin());
      // A record lost with a later one kept (unsynced writes survive in
      // any order) is a damaged stretch: skipped and counted.
      if (in_new_part) {
        for (std::size_t k = since_at; k < index; ++k) {
          if (std::find(dropped_since.begin(), dropped_since.end(), appended_since[k]) == dropped_since.end()) {
            ++skipped;
          }
        }
      }
      in_new_part = true;
      since_at = index + 1;
    }
    for (const Msg& m : at_sync) {
      if (!live(m.id)) continue;
      const bool found = std::any_of(got.begin(), got.end(), [&m](const Msg& g) { return g.id == m.id; });
      if (!found) FAIL(("message " + std::to_string(m.id) + " was durable and is lost").c_str());
    }
    CHECK_TRUE(skipped <= damage.messages_lost);
    if (skipped > 0) CHECK_TRUE(damage.damaged_stretches > 0);
    // (After a loss the recovered messages cannot keep their numbers: a
    // client starts a new session then.)
    if (!pinned && !got.empty() && !damage.lost_messages()) {
      UNSIGNED_LONGLONGS_EQUAL(seq_of[got[0].id], state.head_seq);
    }
  }
  CHECK_TRUE(cuts > 100);
  if (pinned) CHECK_TRUE(spool.compactions() > 0);
}

}  // namespace

TEST(Spool, PowerCutsKeepingAnyUnsyncedWritesNeverLoseDurableMessages) {
  power_cut_property(kMinimum, false, 2024);
  power_cut_property(kMinimum, false, 7);
  power_cut_property(kMinimum, false, 8, 7);  // the ring runs full
}

TEST(Spool, IntervalSyncsBeforeReusingSpaceFreedSinceTheLastSync) {
  // The durable header points at acknowledged records; overwriting them
  // before that header is replaced would lose the rest after a power cut.
  open(SpoolOptions{SpoolSync::interval, 1000});
  while (!spool.append(next_id, span_of(payload(next_id, 200)))) {
    model.push_back(Msg{next_id, payload(next_id, 200)});
    ++next_id;
  }
  SPOOL_OK(spool.maybe_sync(0));
  const std::size_t syncs = storage->syncs;
  acknowledge(model.size() - 3);  // not synced
  const std::vector<Msg> durable_live = model;
  for (int i = 0; i < 10; ++i) append(200);  // into the space just freed
  CHECK_TRUE(storage->syncs > syncs);        // forced
  // A power cut keeping nothing unsynced: the three durable messages are there.
  const std::vector<Msg> got =
      recover_image(storage->power_cut([](std::size_t, const Write&) { return std::size_t{0}; }));
  CHECK_TRUE(got.size() >= 3);
  std::vector<Msg> first_three(got.begin(), got.begin() + 3);
  check_messages(durable_live, first_three);
}

TEST(Spool, PowerCutsDuringCompactionsNeverLoseDurableMessages) {
  power_cut_property(Spool::recommended_storage_size(), true, 99);
}

TEST(Spool, DroppedRecordsAreCompactedAwayUnderTheRecommendedSize) {
  // drop_oldest during an outage: the 5 oldest messages are in flight and
  // pin the head; every new message makes the store drop the oldest after
  // them. Without compaction the ring would fill with dropped records.
  storage.reset(new MemStorage(Spool::recommended_storage_size()));
  open();
  std::unique_ptr<OutboundStore> store(new OutboundStore);
  Rng rng(5);
  for (int i = 0; i < 5; ++i) {
    const std::string p = payload(next_id, 100);
    SPOOL_OK(store->push(next_id, span_of(p)));
    store->mark_transmitted();
    append(100);
  }
  for (int step = 0; step < 5000; ++step) {
    const std::size_t size = rng.below(6) == 0 ? Spool::kMaxPayload : rng.below(400);
    std::uint64_t dropped = 0;
    while (!store->has_room(size) && store->drop_oldest_untransmitted(dropped)) drop(dropped);
    const std::string p = payload(next_id, size);
    SPOOL_OK(store->push(next_id, span_of(p)));
    SPOOL_OK(spool.append(next_id, span_of(p)));
    model.push_back(Msg{next_id++, p});
  }
  CHECK_TRUE(spool.compactions() > 0);
  UNSIGNED_LONGS_EQUAL(store->size(), spool.size());
  check_messages(model, recover_all(spool));
  check_messages(model, reopen());
}

TEST(Spool, CrashDuringCompactionKeepsEveryMessageOnce) {
  storage.reset(new MemStorage(Spool::recommended_storage_size()));
  open();
  for (int i = 0; i < 3; ++i) append(100);  // pinned
  // Drop behind the pinned ones until the next append compacts.
  std::vector<Bytes> images;
  std::vector<std::vector<Msg>> expected;
  Rng rng(11);
  while (spool.compactions() == 0) {
    if (model.size() > 12) drop(model[3 + rng.below(model.size() - 4)].id);
    const std::size_t size = 50 + rng.below(300);
    const std::uint64_t compactions = spool.compactions();
    const std::vector<Msg> before = model;
    const std::string p = payload(next_id, size);
    storage->after_write = [&] {
      images.push_back(storage->image);
      expected.push_back(before);
    };
    SPOOL_OK(spool.append(next_id, span_of(p)));
    storage->after_write = nullptr;
    model.push_back(Msg{next_id++, p});
    if (spool.compactions() == compactions) {
      images.clear();
      expected.clear();
    }
  }
  CHECK_TRUE(images.size() > 3);
  // A crash after any write of the compacting append: the messages before
  // it, each once, in order; after its last write, the new one too.
  for (std::size_t k = 0; k < images.size(); ++k) {
    const std::vector<Msg> got = recover_image(images[k]);
    if (k + 1 == images.size()) {
      check_messages(model, got);
    } else {
      check_messages(expected[k], got);
    }
  }
  check_messages(model, reopen());
}

TEST(Spool, EpochRollsOverAfterTheLastSerial) {
  open();
  SpoolTestAccess::set_next_serial(spool, 0xFFFFFFF0u);
  SPOOL_OK(spool.save_state(spool.state()));
  const std::uint32_t epoch = spool.epoch();
  for (int i = 0; i < 40; ++i) append(10);
  UNSIGNED_LONGS_EQUAL(epoch + 1, spool.epoch());
  check_messages(model, reopen());
  acknowledge(20);
  check_messages(model, reopen());
}

TEST(Spool, StorageErrorsAreReportedAndLeaveTheSpoolConsistent) {
  open();
  append(10);
  append(10);
  // A failing write: nothing appended, and nothing comes back later.
  storage->writes_until_failure = 0;
  SPOOL_ERR("io_error", spool.append(next_id, span_of(payload(next_id, 10))));
  storage->writes_until_failure = MemStorage::kForever;
  ++next_id;
  UNSIGNED_LONGS_EQUAL(2, spool.size());
  append(10);
  // A failing sync: the append is refused, and its record spoiled so that
  // a crash cannot bring it back.
  storage->fail_syncs = true;
  SPOOL_ERR("io_error", spool.append(next_id, span_of(payload(next_id, 10))));
  ++next_id;
  check_messages(model, recover_image(storage->image));
  storage->fail_syncs = false;
  append(10);
  check_messages(model, recover_all(spool));
  // A failing header write on acknowledgement: the spool moves on in RAM and
  // writes the header at the next chance.
  storage->writes_until_failure = 0;
  SPOOL_ERR("io_error", spool.remove_front(1, 2));
  model.erase(model.begin());
  storage->writes_until_failure = MemStorage::kForever;
  append(10);
  check_messages(model, reopen());
  UNSIGNED_LONGLONGS_EQUAL(2, spool.state().head_seq);
  // A failing read at open: closed.
  storage->fail_reads = true;
  CHECK_TRUE(static_cast<bool>(spool.open(*storage)));
  CHECK_FALSE(spool.is_open());
  storage->fail_reads = false;
  check_messages(model, reopen());
}

TEST(Spool, AnotherStorageSizeReformatsWithoutResurrectingOldRecords) {
  open();
  for (int i = 0; i < 20; ++i) append(40);
  // The same bytes in a larger storage: the header names the old size.
  Bytes bigger = storage->image;
  bigger.resize(kMinimum + 5000, 0);
  storage.reset(new MemStorage(bigger));
  CHECK_TRUE(reopen().empty());
  CHECK_TRUE(spool.formatted());
  UNSIGNED_LONGLONGS_EQUAL(0, spool.state().session_id);
  // New records of the same size as the old ones, at the same places.
  model.clear();
  next_id = spool.state().next_message_id;
  append(40);
  append(40);
  check_messages(model, reopen());
}

namespace {

/// Opens a copy of `image` with the byte at `offset` flipped by `mask` and
/// checks the promise of recovery: every live message comes back, or the
/// loss is reported with its exact count; nothing corrupt, reordered or
/// unknown comes back (a message acknowledged before the newest header may
/// come back when that header was damaged: a replay, not a loss). The one
/// exception is the last record, [last_from, last_to): damaged, it is what a
/// crash in the middle of its append leaves, a torn tail, dropped silently.
/// Then the spool goes on, and the next open reports nothing again.
void check_flip(const Bytes& image, std::size_t offset, std::uint8_t mask, const std::vector<Msg>& live,
                std::uint64_t first_acked_id, std::size_t last_from, std::size_t last_to) {
  MemStorage storage(image);
  storage.image[offset] ^= mask;
  Spool spool;
  const std::string where = "byte " + std::to_string(offset) + " ^ " + std::to_string(mask);
  const std::error_code opened = spool.open(storage);
  if (opened) FAIL((where + ": open failed: " + opened.message()).c_str());
  const std::vector<Msg> got = recover_all(spool);
  std::uint64_t last = 0;
  for (const Msg& m : got) {
    if (m.id <= last) FAIL((where + ": out of order").c_str());
    last = m.id;
    if (m.payload != payload(m.id, m.payload.size())) FAIL((where + ": corrupt message").c_str());
    const bool is_live = std::any_of(live.begin(), live.end(), [&m](const Msg& l) { return l.id == m.id; });
    const bool replay = spool.damage().header_slot_damaged && m.id >= first_acked_id && m.id < live.front().id;
    if (!is_live && !replay) FAIL((where + ": unknown message " + std::to_string(m.id)).c_str());
  }
  std::uint64_t missing = 0;
  for (const Msg& l : live) {
    const bool found = std::any_of(got.begin(), got.end(), [&l](const Msg& g) { return g.id == l.id; });
    if (!found) ++missing;
  }
  const bool torn_tail = offset >= last_from && offset < last_to && missing == 1 && got.size() == live.size() - 1 &&
                         (got.empty() || got.back().id < live.back().id);
  if (torn_tail) {
    CHECK_FALSE(spool.damage().lost_messages());
  } else if (missing != spool.damage().messages_lost || spool.damage().estimated) {
    FAIL((where + ": " + std::to_string(missing) + " lost, " + std::to_string(spool.damage().messages_lost) +
          " reported" + (spool.damage().estimated ? " (estimated)" : "") + "; head " +
          std::to_string(spool.head_offset()) + " tail " + std::to_string(spool.tail_offset()) + " got " +
          describe(got) + " live " + describe(live))
             .c_str());
  }
  if (missing > 0 && !torn_tail) CHECK_TRUE(spool.damage().damaged_stretches > 0);
  // The spool goes on; the damage is not met again.
  const std::uint64_t id = spool.state().next_message_id;
  SPOOL_OK(spool.append(id, span_of(payload(id, 10))));
  Spool again;
  SPOOL_OK(again.open(storage));
  const std::vector<Msg> after = recover_all(again);
  if (after.size() != got.size() + 1 || again.damage().lost_messages()) {
    FAIL((where + ": the second open differs").c_str());
  }
}

}  // namespace

// Its own group (and CTest entry, uplink_unit_tests.SpoolByteSweep): the
// spool byte sweep of issue 12.
TEST_GROUP(SpoolByteSweep) {};

TEST(SpoolByteSweep, EveryFlippedByteLosesNothingOrReportsTheExactLoss) {
  // A spool holding messages that wrap around the end of the ring, with
  // acknowledged records before them and stale ones after; each byte of
  // both header slots, of the live records, and around them, flipped in
  // turn (all bits, and the lowest).
  MemStorage storage(kMinimum);
  Spool spool;
  SPOOL_OK(spool.open(storage));
  std::vector<Msg> model;
  std::uint64_t next_id = 1;
  auto append = [&](std::size_t size) {
    const std::string p = payload(next_id, size);
    SPOOL_OK(spool.append(next_id, span_of(p)));
    model.push_back(Msg{next_id++, p});
  };
  auto acknowledge = [&](std::size_t count) {
    SPOOL_OK(spool.remove_front(count, spool.state().head_seq + count));
    model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(count));
  };
  const std::size_t end = Spool::kRingOffset + spool.capacity();
  Rng rng(5);
  while (end - spool.tail_offset() > 700) {
    append(40 + rng.below(200));
    if (model.size() > 4) acknowledge(2);
  }
  acknowledge(model.size() - 1);
  const std::uint64_t first_acked_id = model.front().id;
  acknowledge(1);
  for (int i = 0; i < 14; ++i) append(rng.below(90));
  CHECK_TRUE(spool.tail_offset() < spool.head_offset());  // wrapped
  const std::size_t last_to = spool.tail_offset();
  const std::size_t last_from = last_to - Spool::kRecordOverhead - model.back().payload.size();
  CHECK_TRUE(last_from >= Spool::kRingOffset);
  const std::vector<Msg> live = model;
  const Bytes image = storage.image;
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < Spool::kRingOffset; ++i) offsets.push_back(i);
  for (std::size_t i = spool.head_offset() - 200; i < end; ++i) offsets.push_back(i);
  for (std::size_t i = Spool::kRingOffset; i < spool.tail_offset() + 200; ++i) offsets.push_back(i);
  for (std::size_t offset : offsets) {
    check_flip(image, offset, 0xFF, live, first_acked_id, last_from, last_to);
    check_flip(image, offset, 0x01, live, first_acked_id, last_from, last_to);
  }
}
