// SPDX-License-Identifier: Apache-2.0
// The reference server's durable sessions, below the server:
//  - SessionJournal: record encoding, and the scan that drops a torn last
//    record (cut at every byte offset) but refuses corruption before it.
//  - SessionReplay: a registry rebuilt from its journal, or from its
//    compacted image, equals the original.
//  - FileSessionStore: segments in a temporary directory: replay,
//    compaction at open and by size, a torn tail recovered and counted, a
//    corrupt segment refused with its name, the delivered record.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "file_session_store.hpp"
#include "session_journal.hpp"
#include "session_registry.hpp"
#include "support/memory_session_store.hpp"
#include "support/temp_dir.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::server;

namespace {

using Bytes = std::vector<std::uint8_t>;

JournalRecord session_record(std::uint64_t id, const char* device, std::uint64_t next_up = 1,
                             std::uint64_t next_down = 1, std::uint64_t acked = 0) {
  JournalRecord r;
  r.type = JournalRecordType::session;
  r.session_id = id;
  r.device_id = device;
  r.next_uplink_seq = next_up;
  r.next_downlink_seq = next_down;
  r.seq = acked;
  return r;
}

JournalRecord seq_record(JournalRecordType type, std::uint64_t id, std::uint64_t seq, const char* payload = "") {
  JournalRecord r;
  r.type = type;
  r.session_id = id;
  r.seq = seq;
  r.payload.assign(payload, payload + std::string(payload).size());
  return r;
}

std::vector<JournalRecord> sample_records() {
  return {session_record(7, "dev-a"),
          seq_record(JournalRecordType::uplink_delivered, 7, 1, "hello"),
          seq_record(JournalRecordType::downlink_queued, 7, 1, "cmd 1"),
          seq_record(JournalRecordType::downlink_queued, 7, 2, ""),
          seq_record(JournalRecordType::downlink_acked, 7, 1),
          session_record(9, "dev-b", 5, 3, 2),
          seq_record(JournalRecordType::session_dropped, 9, 0)};
}

Bytes journal_of(const std::vector<JournalRecord>& records, std::vector<std::size_t>* starts = nullptr) {
  Bytes bytes;
  encode_journal_magic(bytes);
  for (const JournalRecord& r : records) {
    if (starts != nullptr) starts->push_back(bytes.size());
    encode_journal_record(r, bytes);
  }
  return bytes;
}

JournalScan scan(const Bytes& bytes) { return scan_journal(ConstByteSpan{bytes.data(), bytes.size()}); }

/// "id:device up=U down=D acked=A [seq:payload ...]" per session, by id: the whole state.
std::string describe(const SessionRegistry& registry, const std::vector<std::uint64_t>& ids) {
  std::string text;
  for (const std::uint64_t id : ids) {
    const SessionRecord* r = registry.find(id);
    if (r == nullptr) {
      text += std::to_string(id) + ":gone; ";
      continue;
    }
    text += std::to_string(id) + ":" + r->device_id + " up=" + std::to_string(r->next_uplink_seq) +
            " down=" + std::to_string(r->next_downlink_seq) + " acked=" + std::to_string(r->downlink_acked) + " [";
    for (const PendingDownlink& m : r->unacked) {
      text += " " + std::to_string(m.seq) + ":" + std::string(m.payload.begin(), m.payload.end());
    }
    text += " ]; ";
  }
  return text;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  for (dirent* e = ::readdir(d); e != nullptr; e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Bytes read_bytes(const std::string& path) {
  Bytes bytes;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return bytes;
  int c = 0;
  while ((c = std::fgetc(f)) != EOF) bytes.push_back(static_cast<std::uint8_t>(c));  // bounded by the file
  std::fclose(f);
  return bytes;
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  CHECK(f != nullptr);
  if (!bytes.empty()) CHECK(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
  std::fclose(f);
}

ConstByteSpan text(const char* t) { return ConstByteSpan{t, std::string(t).size()}; }

}  // namespace

// ============================================================================

TEST_GROUP(SessionJournal){};

TEST(SessionJournal, EveryRecordTypeRoundTrips) {
  const std::vector<JournalRecord> records = sample_records();
  const Bytes bytes = journal_of(records);
  const JournalScan s = scan(bytes);
  CHECK_TRUE(s.ok());
  UNSIGNED_LONGS_EQUAL(records.size(), s.records.size());
  for (std::size_t i = 0; i < records.size(); ++i) CHECK_TEXT(records[i] == s.records[i], std::to_string(i).c_str());
  UNSIGNED_LONGS_EQUAL(bytes.size(), s.valid_bytes);
  UNSIGNED_LONGS_EQUAL(0, s.torn_bytes);
}

TEST(SessionJournal, TornLastRecordIsDroppedAtEveryByteOffset) {
  std::vector<std::size_t> starts;
  const Bytes whole = journal_of(sample_records(), &starts);
  const std::size_t last = starts.back();
  // Every cut inside the last record, from none of it to all but one byte.
  for (std::size_t cut = last; cut < whole.size(); ++cut) {
    const Bytes torn(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
    const JournalScan s = scan(torn);
    CHECK_TEXT(s.ok(), (std::to_string(cut) + ": " + s.problem).c_str());
    UNSIGNED_LONGS_EQUAL(starts.size() - 1, s.records.size());
    UNSIGNED_LONGS_EQUAL(last, s.valid_bytes);
    UNSIGNED_LONGS_EQUAL(cut - last, s.torn_bytes);
  }
}

TEST(SessionJournal, ZeroFilledOrGarbledLastRecordIsTorn) {
  std::vector<std::size_t> starts;
  Bytes bytes = journal_of(sample_records(), &starts);
  Bytes zeros = bytes;
  zeros.resize(starts.back());
  zeros.resize(zeros.size() + 40, 0);  // a file extended, its data never written
  JournalScan s = scan(zeros);
  CHECK_TRUE(s.ok());
  UNSIGNED_LONGS_EQUAL(40, s.torn_bytes);

  bytes.back() ^= 0x01;  // the last record's CRC: a partly written page
  s = scan(bytes);
  CHECK_TRUE(s.ok());
  UNSIGNED_LONGS_EQUAL(starts.size() - 1, s.records.size());
}

TEST(SessionJournal, CorruptionBeforeTheLastRecordIsRefusedWithItsOffset) {
  std::vector<std::size_t> starts;
  const Bytes whole = journal_of(sample_records(), &starts);
  // A flipped bit in any byte of the second record (its length included).
  for (std::size_t at = starts[1]; at < starts[2]; ++at) {
    Bytes bytes = whole;
    bytes[at] ^= 0x10;
    const JournalScan s = scan(bytes);
    CHECK_FALSE_TEXT(s.ok(), std::to_string(at).c_str());
    CHECK_TEXT(s.problem.find("offset " + std::to_string(starts[1])) != std::string::npos, s.problem.c_str());
  }
  Bytes bad_magic = whole;
  bad_magic[0] = 'X';
  STRCMP_EQUAL("not an uplink journal (bad magic)", scan(bad_magic).problem.c_str());
}

// ============================================================================

TEST_GROUP(SessionReplay){};

TEST(SessionReplay, RebuiltRegistryEqualsTheOriginalFromItsJournalAndFromItsImage) {
  test::MemorySessionStore store;
  SessionRegistry original(1);
  original.set_store(&store);
  // Sessions come from records, as a server's attach() journals them.
  CHECK_EQUAL(std::string(), original.apply(session_record(11, "dev-a")));
  CHECK_EQUAL(std::string(), original.apply(session_record(12, "dev-b")));
  // From here on through the journaling API.
  SessionRecord& a = *original.find(11);
  SessionRecord& b = *original.find(12);
  original.deliver_uplink(a, 1, text("u1"));
  original.deliver_uplink(a, 2, text("u2"));
  CHECK_FALSE(original.queue_downlink(a, text("d1")));
  CHECK_FALSE(original.queue_downlink(a, text("d2")));
  CHECK_FALSE(original.queue_downlink(a, text("d3")));
  CHECK_FALSE(original.acknowledge_downlink(a, 1));
  CHECK_FALSE(original.queue_downlink(b, text("e1")));
  original.deliver_uplink(b, 1, text("v1"));
  CHECK_FALSE(original.commit());

  // The journal holds only what happened after the sessions were made, so
  // the replay starts from the same two records.
  SessionRegistry rebuilt(2);
  CHECK_EQUAL(std::string(), rebuilt.apply(session_record(11, "dev-a")));
  CHECK_EQUAL(std::string(), rebuilt.apply(session_record(12, "dev-b")));
  CHECK_EQUAL(std::string(), store.replay(rebuilt));
  const std::vector<std::uint64_t> ids{11, 12};
  STRCMP_EQUAL(describe(original, ids).c_str(), describe(rebuilt, ids).c_str());
  STRCMP_EQUAL("11:dev-a up=3 down=4 acked=1 [ 2:d2 3:d3 ]; 12:dev-b up=2 down=2 acked=0 [ 1:e1 ]; ",
               describe(rebuilt, ids).c_str());

  // The image alone rebuilds it too (compaction).
  SessionRegistry compacted(3);
  for (const JournalRecord& r : original.image()) CHECK_EQUAL(std::string(), compacted.apply(r));
  STRCMP_EQUAL(describe(original, ids).c_str(), describe(compacted, ids).c_str());
  UNSIGNED_LONGS_EQUAL(2, compacted.size());
}

TEST(SessionReplay, RecordsThatDoNotFitTheStateAreRefused) {
  SessionRegistry registry(1);
  CHECK(registry.apply(seq_record(JournalRecordType::uplink_delivered, 5, 1)).find("unknown session") !=
        std::string::npos);
  CHECK_EQUAL(std::string(), registry.apply(session_record(5, "dev")));
  CHECK(registry.apply(seq_record(JournalRecordType::uplink_delivered, 5, 2)).find("out of order") !=
        std::string::npos);
  CHECK(registry.apply(seq_record(JournalRecordType::downlink_queued, 5, 3)).find("out of order") !=
        std::string::npos);
  CHECK(registry.apply(seq_record(JournalRecordType::downlink_acked, 5, 1)).find("out of range") !=
        std::string::npos);
  CHECK(!registry.apply(session_record(6, "")).empty());
}

TEST(SessionReplay, ANewerSessionOfTheSameDeviceReplacesTheOlderOne) {
  SessionRegistry registry(1);
  CHECK_EQUAL(std::string(), registry.apply(session_record(5, "dev")));
  CHECK_EQUAL(std::string(), registry.apply(session_record(6, "dev")));
  UNSIGNED_LONGS_EQUAL(1, registry.size());
  CHECK(registry.find_device("dev")->id == 6);
}

// ============================================================================

TEST_GROUP(FileSessionStore) {
  std::string dir;
  void setup() override {
    dir = test::make_temp_dir("uplink-journal");
    CHECK_FALSE(dir.empty());
  }
  void teardown() override { test::remove_temp_dir(dir); }

  // A registry with one session and some history, committed to a store in `dir`.
  void populate(std::size_t max_segment_bytes = FileSessionStore::kDefaultMaxSegmentBytes) {
    SessionRegistry registry(1);
    FileSessionStore store(max_segment_bytes);
    CHECK_FALSE(store.open(dir, registry));
    store.append(session_record(21, "dev"));  // what attach() would journal
    CHECK_EQUAL(std::string(), registry.apply(session_record(21, "dev")));
    SessionRecord& r = *registry.find(21);
    for (int i = 1; i <= 3; ++i) {
      registry.deliver_uplink(r, static_cast<std::uint64_t>(i), text(("u" + std::to_string(i)).c_str()));
      CHECK_FALSE(store.commit());
    }
    CHECK_FALSE(registry.queue_downlink(r, text("d1")));
    CHECK_FALSE(registry.queue_downlink(r, text("d2")));
    CHECK_FALSE(registry.acknowledge_downlink(r, 1));
    CHECK_FALSE(store.commit());
    CHECK_FALSE(registry.queue_downlink(r, text("lost")));  // never committed: a kill loses it
  }
};

TEST(FileSessionStore, ADirectoryOtherUsersMayWriteIsRefusedNamingIt) {
  for (const unsigned mode : {0777u, 0770u, 0703u}) {
    CHECK_EQUAL(0, ::chmod(dir.c_str(), mode));
    SessionRegistry registry(2);
    FileSessionStore store;
    CHECK(store.open(dir, registry) == std::errc::permission_denied);
    STRCMP_CONTAINS(dir.c_str(), store.problem().c_str());
    STRCMP_CONTAINS("chmod 700", store.problem().c_str());
  }
  CHECK_EQUAL(0, ::chmod(dir.c_str(), 0700));
  SessionRegistry registry(2);
  FileSessionStore store;
  CHECK_FALSE(store.open(dir, registry));
}

TEST(FileSessionStore, AReopenedStoreRestoresWhatWasCommittedAndCompactsIt) {
  populate();
  SessionRegistry registry(2);
  FileSessionStore store;
  CHECK_FALSE(store.open(dir, registry));
  STRCMP_EQUAL("21:dev up=4 down=3 acked=1 [ 2:d2 ]; ", describe(registry, {21}).c_str());
  UNSIGNED_LONGS_EQUAL(0, store.torn_bytes());
  // Segment 1 (the history) stays; 2 is the compacted state.
  UNSIGNED_LONGS_EQUAL(2, store.segment_number());
  const std::vector<std::string> names = files_in(dir);
  UNSIGNED_LONGS_EQUAL(2, names.size());
  STRCMP_EQUAL("journal-0000000000000002", names.back().c_str());
  CHECK(registry.store() == &store);

  // The delivered record: every uplink message once, over all segments.
  std::string delivered;
  std::string problem;
  CHECK_FALSE(FileSessionStore::read_delivered(
      dir,
      [&](const FileSessionStore::Delivered& d) {
        delivered += d.device_id + "#" + std::to_string(d.seq) + "=" + std::string(d.payload.begin(), d.payload.end()) + " ";
      },
      problem));
  STRCMP_EQUAL("dev#1=u1 dev#2=u2 dev#3=u3 ", delivered.c_str());
}

TEST(FileSessionStore, TornTailIsRecoveredAndCounted) {
  populate();
  const std::string path = dir + "/journal-0000000000000001";
  Bytes bytes = read_bytes(path);
  const JournalScan before = scan(bytes);
  CHECK_TRUE(before.ok());
  bytes.resize(before.offsets.back() + 5);  // the last record (the ack) cut short
  write_bytes(path, bytes);
  SessionRegistry registry(2);
  FileSessionStore store;
  CHECK_FALSE(store.open(dir, registry));
  UNSIGNED_LONGS_EQUAL(5, store.torn_bytes());
  STRCMP_EQUAL("21:dev up=4 down=3 acked=0 [ 1:d1 2:d2 ]; ", describe(registry, {21}).c_str());
}

TEST(FileSessionStore, CorruptSegmentIsRefusedNamingTheFile) {
  populate();
  const std::string path = dir + "/journal-0000000000000001";
  Bytes bytes = read_bytes(path);
  const JournalScan before = scan(bytes);
  bytes[before.offsets[1] + 12] ^= 0xFF;  // inside the second record's body
  write_bytes(path, bytes);
  SessionRegistry registry(2);
  FileSessionStore store;
  CHECK(store.open(dir, registry) == std::errc::illegal_byte_sequence);
  CHECK_TEXT(store.problem().find(path + ": CRC mismatch at offset") == 0, store.problem().c_str());
  UNSIGNED_LONGS_EQUAL(0, registry.size());
  CHECK(registry.store() == nullptr);
}

TEST(FileSessionStore, ALeftoverTemporaryFileIsIgnoredAndRemoved) {
  populate();
  write_bytes(dir + "/journal-0000000000000002.tmp", Bytes{1, 2, 3});
  SessionRegistry registry(2);
  FileSessionStore store;
  CHECK_FALSE(store.open(dir, registry));
  STRCMP_EQUAL("21:dev up=4 down=3 acked=1 [ 2:d2 ]; ", describe(registry, {21}).c_str());
  for (const std::string& name : files_in(dir)) CHECK_TEXT(name.find(".tmp") == std::string::npos, name.c_str());
}

TEST(FileSessionStore, ASegmentOverItsLimitIsCompactedIntoANewOne) {
  populate(64);  // every commit crosses it
  SessionRegistry registry(2);
  FileSessionStore store;
  CHECK_FALSE(store.open(dir, registry));
  STRCMP_EQUAL("21:dev up=4 down=3 acked=1 [ 2:d2 ]; ", describe(registry, {21}).c_str());
  CHECK(store.segment_number() > 2);
  std::string delivered;
  std::string problem;
  CHECK_FALSE(FileSessionStore::read_delivered(
      dir, [&](const FileSessionStore::Delivered& d) { delivered += std::to_string(d.seq) + " "; }, problem));
  STRCMP_EQUAL("1 2 3 ", delivered.c_str());
}
