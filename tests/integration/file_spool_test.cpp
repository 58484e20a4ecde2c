// SPDX-License-Identifier: Apache-2.0
// The spool on the Linux port's FileSpoolStorage, in a temporary directory:
// a pre-sized file, recovery in a new process image (new objects), the lock
// against a second user, the file truncated at every byte of the last
// record, and a writer killed with SIGKILL at arbitrary moments under each
// durability policy: what comes back is what the writer was told was
// stored, in order, uncorrupted (plus at most the one operation in flight).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <system_error>
#include <vector>

#include "uplink/net/asio.hpp"

#include "uplink/client.hpp"
#include "uplink/core/spool.hpp"
#include "uplink/listener.hpp"
#include "uplink/error.hpp"
#include "uplink/port/linux/file_spool_storage.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using uplink::port::FileSpoolStorage;

namespace {

using Bytes = std::vector<std::uint8_t>;

std::string error_text(std::error_code ec) { return ec ? ec.message() : "ok"; }
#define FILE_OK(actual) STRCMP_EQUAL("ok", error_text(actual).c_str())

std::string payload(std::uint64_t id, std::size_t size) {
  std::string p(size, '\0');
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<char>((id * 131 + i * 7 + (i >> 8)) & 0xFF);
  return p;
}
/// The size of message `id` in the tests that do not choose one.
std::size_t size_of(std::uint64_t id) { return static_cast<std::size_t>((id * 37) % 301); }

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
  FILE_OK(spool.recover([&out](std::uint64_t id, ConstByteSpan p) {
    out.push_back(Msg{id, std::string(reinterpret_cast<const char*>(p.data), p.size)});
  }));
  return out;
}

void check_messages(const std::vector<Msg>& expected, const std::vector<Msg>& actual) {
  STRCMP_EQUAL(describe(expected).c_str(), describe(actual).c_str());
  for (std::size_t i = 0; i < expected.size() && i < actual.size(); ++i) {
    CHECK_TRUE(expected[i].payload == actual[i].payload);
  }
}

Bytes read_file(const std::string& path) {
  Bytes out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  std::uint8_t chunk[8192];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    out.insert(out.end(), chunk, chunk + n);
  }
  ::close(fd);
  return out;
}

bool write_file(const std::string& path, const Bytes& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return done == bytes.size();
}

/// Forwards to a storage and remembers where the last write went.
class RecordingStorage final : public SpoolStorage {
 public:
  explicit RecordingStorage(SpoolStorage& inner) : inner_(inner) {}
  std::size_t size() const override { return inner_.size(); }
  std::error_code read(std::size_t offset, ByteSpan out) override { return inner_.read(offset, out); }
  std::error_code write(std::size_t offset, ConstByteSpan data) override {
    last_offset = offset;
    last_size = data.size;
    ++writes;
    return inner_.write(offset, data);
  }
  std::error_code sync() override { return inner_.sync(); }

  std::size_t last_offset = 0;
  std::size_t last_size = 0;
  std::size_t writes = 0;

 private:
  SpoolStorage& inner_;
};

std::uint64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
}

constexpr std::size_t kSize = Spool::minimum_storage_size();

// What the killed writer reports through its pipe, one event at a time.
struct Event {
  char kind;          // 'A' appended (id), 'R' removed (count), 'S' started (next id)
  std::uint64_t value;
};

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void report(int fd, char kind, std::uint64_t value) {
  std::uint8_t bytes[9];
  bytes[0] = static_cast<std::uint8_t>(kind);
  std::memcpy(bytes + 1, &value, sizeof value);
  if (!write_all(fd, bytes, sizeof bytes)) ::_exit(4);
}

/// The writer: opens the spool, appends messages in a loop (acknowledging
/// 20 whenever 50 are queued), reporting each operation once it returned.
/// Bounded; never returns.
[[noreturn]] void writer_main(const char* path, SpoolSync policy, int fd) {
  FileSpoolStorage file;
  Spool spool;
  if (file.open(path, kSize) || spool.open(file, SpoolOptions{policy, 5})) ::_exit(2);
  std::uint64_t id = spool.state().next_message_id;
  report(fd, 'S', id);
  for (int i = 0; i < 200000; ++i, ++id) {
    const std::string p = payload(id, size_of(id));
    if (spool.append(id, span_of(p))) ::_exit(3);
    report(fd, 'A', id);
    if (spool.size() >= 50) {
      if (spool.remove_front(20, spool.state().head_seq + 20)) ::_exit(3);
      report(fd, 'R', 20);
    }
    if (spool.maybe_sync(monotonic_ms())) ::_exit(3);
  }
  ::_exit(0);
}

}  // namespace

TEST_GROUP(FileSpool) {
  char dir[64] = {};

  void setup() override {
    std::snprintf(dir, sizeof dir, "/tmp/uplink_spool_XXXXXX");
    CHECK_TRUE(::mkdtemp(dir) != nullptr);
  }

  void teardown() override {
    DIR* d = ::opendir(dir);
    if (d != nullptr) {
      for (const dirent* e = ::readdir(d); e != nullptr; e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        ::unlink((std::string(dir) + "/" + e->d_name).c_str());
      }
      ::closedir(d);
    }
    ::rmdir(dir);
  }

  std::string path(const char* name) const { return std::string(dir) + "/" + name; }
};

TEST(FileSpool, CreatesAPreSizedFileAndRecoversInNewObjects) {
  const std::string file_path = path("uplink.spool");
  std::vector<Msg> expected;
  {
    FileSpoolStorage file;
    FILE_OK(file.open(file_path.c_str(), kSize));
    CHECK_TRUE(file.is_open());
    UNSIGNED_LONGS_EQUAL(kSize, file.size());
    struct stat st {};
    CHECK_EQUAL(0, ::stat(file_path.c_str(), &st));
    UNSIGNED_LONGS_EQUAL(kSize, static_cast<std::size_t>(st.st_size));
    CHECK_TRUE(static_cast<std::size_t>(st.st_blocks) * 512 >= kSize);  // reserved, not sparse
    UNSIGNED_LONGS_EQUAL(0600, st.st_mode & 0777);
    Spool spool;
    FILE_OK(spool.open(file));
    CHECK_TRUE(spool.formatted());
    for (std::uint64_t id = 1; id <= 60; ++id) {
      const std::string p = payload(id, size_of(id));
      FILE_OK(spool.append(id, span_of(p)));
      expected.push_back(Msg{id, p});
    }
    FILE_OK(spool.remove_front(10, 11));
    expected.erase(expected.begin(), expected.begin() + 10);
    SpoolState state = spool.state();
    state.session_id = 0xABCDEF;
    state.last_downlink_seq = 17;
    FILE_OK(spool.save_state(state));
  }
  FileSpoolStorage file;
  FILE_OK(file.open(file_path.c_str(), kSize));
  Spool spool;
  FILE_OK(spool.open(file));
  CHECK_FALSE(spool.formatted());
  check_messages(expected, recover_all(spool));
  UNSIGNED_LONGLONGS_EQUAL(0xABCDEF, spool.state().session_id);
  UNSIGNED_LONGLONGS_EQUAL(17, spool.state().last_downlink_seq);
  UNSIGNED_LONGLONGS_EQUAL(11, spool.state().head_seq);
  UNSIGNED_LONGLONGS_EQUAL(61, spool.state().next_message_id);
}

TEST(FileSpool, ASecondOpenOfTheSameFileIsRefused) {
  const std::string file_path = path("locked.spool");
  FileSpoolStorage first;
  FILE_OK(first.open(file_path.c_str(), kSize));
  FileSpoolStorage second;
  const std::error_code e = second.open(file_path.c_str(), kSize);
  CHECK_TRUE(e == std::errc::operation_would_block || e == std::errc::resource_unavailable_try_again);
  CHECK_FALSE(second.is_open());
  first.close();
  FILE_OK(second.open(file_path.c_str(), kSize));
}

TEST(FileSpool, BadArgumentsAndMissingDirectoryFail) {
  FileSpoolStorage file;
  CHECK_TRUE(file.open(path("x").c_str(), 0) == std::errc::invalid_argument);
  CHECK_TRUE(file.open(path("no/such/dir").c_str(), kSize) == std::errc::no_such_file_or_directory);
  CHECK_FALSE(file.is_open());
  std::uint8_t byte = 0;
  CHECK_TRUE(static_cast<bool>(file.read(0, ByteSpan{&byte, 1})));
  FILE_OK(file.open(path("x").c_str(), 100));
  CHECK_TRUE(file.read(100, ByteSpan{&byte, 1}) == std::errc::invalid_argument);
  CHECK_TRUE(file.write(99, ConstByteSpan{&byte, 2}) == std::errc::invalid_argument);
  FILE_OK(file.write(99, ConstByteSpan{&byte, 1}));
  FILE_OK(file.sync());
  // Too small for a spool.
  Spool spool;
  CHECK_TRUE(spool.open(file) == Errc::invalid_option);
}

TEST(FileSpool, FileTruncatedAtEveryByteOfTheLastRecordRecoversTheRecordsBeforeAndSaysSo) {
  const std::string file_path = path("full.spool");
  std::vector<Msg> expected;
  std::size_t last_offset = 0;
  std::size_t last_size = 0;
  {
    FileSpoolStorage file;
    FILE_OK(file.open(file_path.c_str(), kSize));
    RecordingStorage recording(file);
    Spool spool;
    FILE_OK(spool.open(recording));
    for (std::uint64_t id = 1; id <= 12; ++id) {
      const std::size_t writes = recording.writes;
      const std::string p = payload(id, 40 + id);
      FILE_OK(spool.append(id, span_of(p)));
      expected.push_back(Msg{id, p});
      UNSIGNED_LONGS_EQUAL(writes + 1, recording.writes);  // one write: the record
      last_offset = recording.last_offset;
      last_size = recording.last_size;
    }
  }
  UNSIGNED_LONGS_EQUAL(Spool::kRecordOverhead + 40 + 12, last_size);
  const Bytes original = read_file(file_path);
  UNSIGNED_LONGS_EQUAL(kSize, original.size());
  const std::vector<Msg> before(expected.begin(), expected.end() - 1);
  const std::string cut_path = path("cut.spool");
  for (std::size_t k = 0; k <= last_size; ++k) {
    CHECK_TRUE(write_file(cut_path, original));
    CHECK_EQUAL(0, ::truncate(cut_path.c_str(), static_cast<off_t>(last_offset + k)));
    std::vector<Msg> want = k == last_size ? expected : before;
    {
      FileSpoolStorage file;
      FILE_OK(file.open(cut_path.c_str(), kSize));  // grows back, zeros after the cut
      UNSIGNED_LONGS_EQUAL(last_offset + k, file.intact_size());
      Spool spool;
      FILE_OK(spool.open(file));
      CHECK_FALSE(spool.formatted());
      check_messages(want, recover_all(spool));
      // A file does not shrink by itself: whatever lay past the cut is
      // reported lost (uncountable), never silently.
      CHECK_TRUE(spool.damage().truncated);
      CHECK_TRUE(spool.damage().lost_messages());
      const std::uint64_t id = spool.state().next_message_id;
      CHECK_TRUE(id > want.back().id);
      const std::string p = payload(id, 99);
      FILE_OK(spool.append(id, span_of(p)));
      want.push_back(Msg{id, p});
    }
    FileSpoolStorage file;
    FILE_OK(file.open(cut_path.c_str(), kSize));
    UNSIGNED_LONGS_EQUAL(kSize, file.intact_size());
    Spool spool;
    FILE_OK(spool.open(file));
    check_messages(want, recover_all(spool));
    CHECK_FALSE(spool.damage().lost_messages());
  }
}

TEST(FileSpool, AZeroLengthOrTruncatedFileIsReportedNeverSilentlyEmpty) {
  const std::string file_path = path("t.spool");
  {
    FileSpoolStorage file;
    FILE_OK(file.open(file_path.c_str(), kSize));
    UNSIGNED_LONGS_EQUAL(kSize, file.intact_size());  // new: complete
    Spool spool;
    FILE_OK(spool.open(file));
    CHECK_FALSE(spool.damage().lost_messages());
    for (std::uint64_t id = 1; id <= 40; ++id) FILE_OK(spool.append(id, span_of(payload(id, 100))));
    FILE_OK(spool.remove_front(5, 6));  // a header naming the ids handed out so far
  }
  const Bytes original = read_file(file_path);
  // Cut in the middle of the records: those before come back, the loss is
  // reported with what the header still tells (ids handed out past them).
  CHECK_TRUE(write_file(file_path, original));
  CHECK_EQUAL(0, ::truncate(file_path.c_str(), static_cast<off_t>(Spool::kRingOffset + 20 * 124 + 50)));
  {
    FileSpoolStorage file;
    FILE_OK(file.open(file_path.c_str(), kSize));
    Spool spool;
    FILE_OK(spool.open(file));
    UNSIGNED_LONGS_EQUAL(15, recover_all(spool).size());  // 6 .. 20
    CHECK_TRUE(spool.damage().truncated);
    CHECK_TRUE(spool.damage().estimated);
    UNSIGNED_LONGLONGS_EQUAL(20, spool.damage().messages_lost);  // 21 .. 40 were handed out
  }
  // Emptied: formatted, and reported.
  CHECK_EQUAL(0, ::truncate(file_path.c_str(), 0));
  {
    FileSpoolStorage file;
    FILE_OK(file.open(file_path.c_str(), kSize));
    UNSIGNED_LONGS_EQUAL(0, file.intact_size());
    Spool spool;
    FILE_OK(spool.open(file));
    CHECK_TRUE(spool.formatted());
    CHECK_TRUE(spool.damage().truncated);
    CHECK_TRUE(spool.damage().lost_messages());
  }
  // A leftover of a crash while creating is replaced, never taken.
  const std::string fresh = path("fresh.spool");
  CHECK_TRUE(write_file(fresh + ".new", Bytes(10, 0xAB)));
  FileSpoolStorage file;
  FILE_OK(file.open(fresh.c_str(), kSize));
  UNSIGNED_LONGS_EQUAL(kSize, read_file(fresh).size());
  struct stat st {};
  CHECK_EQUAL(-1, ::stat((fresh + ".new").c_str(), &st));
}

TEST(FileSpool, WriterKilledAtAnyMomentLeavesWhatItWasToldPlusAtMostOneOperation) {
  const std::string file_path = path("killed.spool");
  const SpoolSync policies[] = {SpoolSync::none, SpoolSync::interval, SpoolSync::every_write,
                                SpoolSync::none, SpoolSync::interval, SpoolSync::every_write};
  std::vector<Msg> live;  // what recovery found last, then what the writer reported on top
  std::uint64_t acked = 0;
  std::uint64_t seed = 12345;
  std::size_t total_appended = 0;
  for (const SpoolSync policy : policies) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const std::size_t threshold = 200 + static_cast<std::size_t>((seed >> 33) % 600);
    const unsigned extra_us = static_cast<unsigned>((seed >> 20) % 3000);
    int fds[2];
    CHECK_EQUAL(0, ::pipe(fds));
    const pid_t child = ::fork();
    CHECK_TRUE(child >= 0);
    if (child == 0) {
      ::close(fds[0]);
      writer_main(file_path.c_str(), policy, fds[1]);
    }
    ::close(fds[1]);

    // Read the reports; after `threshold` appends (and a little more time),
    // kill the writer wherever it is.
    std::vector<Event> events;
    std::size_t appends = 0;
    bool killed = false;
    Bytes pending;
    const std::uint64_t give_up = monotonic_ms() + 60000;
    for (;;) {
      if (!killed && appends >= threshold) {
        ::usleep(extra_us);
        ::kill(child, SIGKILL);
        killed = true;
      }
      pollfd p{fds[0], POLLIN, 0};
      const int ready = ::poll(&p, 1, 100);
      if (ready < 0 && errno == EINTR) continue;
      if (monotonic_ms() > give_up) {
        ::kill(child, SIGKILL);
        FAIL("the writer did not reach the threshold");
      }
      if (ready <= 0) continue;
      std::uint8_t chunk[4096];
      const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the writer is gone
      pending.insert(pending.end(), chunk, chunk + n);
      std::size_t used = 0;
      while (pending.size() - used >= 9) {
        Event e{static_cast<char>(pending[used]), 0};
        std::memcpy(&e.value, pending.data() + used + 1, sizeof e.value);
        events.push_back(e);
        if (e.kind == 'A') ++appends;
        used += 9;
      }
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(used));
    }
    ::close(fds[0]);
    int status = 0;
    CHECK_EQUAL(child, ::waitpid(child, &status, 0));
    CHECK_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_TRUE(killed);
    CHECK_TRUE(appends >= threshold);
    total_appended += appends;

    // What the writer was told was stored.
    CHECK_TRUE(!events.empty() && events[0].kind == 'S');
    std::uint64_t last_appended = events[0].value - 1;
    for (const Event& e : events) {
      if (e.kind == 'A') {
        CHECK_EQUAL(last_appended + 1, e.value);
        last_appended = e.value;
        live.push_back(Msg{e.value, payload(e.value, size_of(e.value))});
      } else if (e.kind == 'R') {
        live.erase(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(e.value));
        acked += e.value;
      }
    }

    FileSpoolStorage file;
    FILE_OK(file.open(file_path.c_str(), kSize));
    Spool spool;
    FILE_OK(spool.open(file));
    CHECK_FALSE(spool.formatted());
    std::vector<Msg> got = recover_all(spool);
    // At most one operation was in flight at the kill: an append that had
    // written its record, or an acknowledgement that had written its header.
    std::vector<Msg> want = live;
    if (!got.empty() && got.back().id == last_appended + 1) {
      want.push_back(Msg{last_appended + 1, payload(last_appended + 1, size_of(last_appended + 1))});
    }
    if (got.size() + 20 == want.size() && spool.state().head_seq == acked + 21) {
      want.erase(want.begin(), want.begin() + 20);
      acked += 20;
    }
    check_messages(want, got);
    UNSIGNED_LONGLONGS_EQUAL(acked + 1, spool.state().head_seq);
    live = got;
  }
  CHECK_TRUE(total_appended * 100 > 3 * kSize);  // the ring went round several times
}

namespace {

class DamageListener final : public uplink::Listener {
 public:
  void on_spool_damaged(const uplink::SpoolDamage& damage) override { damages.push_back(damage); }
  void on_session_reset(const uplink::SessionReset& reset) override { resets.push_back(reset); }
  std::vector<uplink::SpoolDamage> damages;
  std::vector<uplink::SessionReset> resets;
};

class ZeroRandom final : public uplink::RandomSource {
 public:
  std::uint32_t next_u32() override { return 0; }
};

}  // namespace

TEST(FileSpool, AClientOnADamagedSpoolTellsTheApplicationHowManyMessagesWereLost) {
  const std::string file_path = path("client.spool");
  {
    FileSpoolStorage file;
    FILE_OK(file.open(file_path.c_str(), kSize));
    Spool spool;
    FILE_OK(spool.open(file));
    for (std::uint64_t id = 1; id <= 10; ++id) FILE_OK(spool.append(id, span_of(payload(id, 30))));
    SpoolState state = spool.state();
    state.session_id = 77;
    FILE_OK(spool.save_state(state));
  }
  // Records of 24 + 30 bytes from the ring's start: flip a payload byte of
  // the fourth and of the seventh: two stretches, one message each.
  Bytes bytes = read_file(file_path);
  bytes[Spool::kRingOffset + 3 * 54 + 25] ^= 0xFF;
  bytes[Spool::kRingOffset + 6 * 54 + 25] ^= 0xFF;
  CHECK_TRUE(write_file(file_path, bytes));
  FileSpoolStorage file;
  FILE_OK(file.open(file_path.c_str(), kSize));
  Spool spool;
  FILE_OK(spool.open(file));
  asio::io_context io;
  DamageListener listener;
  ZeroRandom random;
  uplink::Client client(io, listener, random);
  FILE_OK(client.attach_spool(spool));
  io.run_for(std::chrono::milliseconds(200));  // events are delivered on the io thread
  UNSIGNED_LONGS_EQUAL(1, listener.damages.size());
  UNSIGNED_LONGLONGS_EQUAL(2, listener.damages[0].messages_lost);
  UNSIGNED_LONGS_EQUAL(2, listener.damages[0].damaged_stretches);
  UNSIGNED_LONGLONGS_EQUAL(2, client.counters().spool_messages_lost);
  UNSIGNED_LONGS_EQUAL(1, listener.resets.size());
  CHECK_TRUE(listener.resets[0].cause == uplink::SessionResetCause::spool_damaged);
  UNSIGNED_LONGLONGS_EQUAL(77, listener.resets[0].abandoned_session_id);
  UNSIGNED_LONGS_EQUAL(8, client.queued());
}
