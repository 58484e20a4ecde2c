// SPDX-License-Identifier: Apache-2.0
// Writes the binary seed files of the fuzz targets of untrusted input into
// <corpus>/<target>/: spool images, client byte streams for a server
// session, session journals. Run by hand when a format changes; its output
// is committed (tests/fuzz/corpus/). Usage: make_fuzz_seeds <corpus dir>.
#include <cstdio>
#include <string>
#include <vector>

#include "session_journal.hpp"
#include "support/ram_storage.hpp"
#include "uplink/codec/frame_encoder.hpp"
#include "uplink/core/spool.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

bool write(const std::string& path, const Bytes& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

template <typename FrameT>
void add(Bytes& out, const FrameT& frame) {
  std::uint8_t buffer[uplink::kMaxFrameSize];
  const uplink::EncodeResult r = uplink::encode(frame, uplink::ByteSpan{buffer, sizeof buffer});
  out.insert(out.end(), buffer, buffer + r.size);
}

uplink::ConstByteSpan text(const char* s) { return uplink::ConstByteSpan{s, std::char_traits<char>::length(s)}; }

Bytes hello(std::uint64_t session_id = 0, std::uint64_t last_downlink = 0) {
  uplink::Hello h;
  h.device_id = text("fuzz-dev");
  h.token = text("secret");
  h.heartbeat_ms = 1000;
  h.session_id = session_id;
  h.last_downlink_seq = last_downlink;
  Bytes out;
  add(out, h);
  return out;
}

// Option byte, chunk byte, then the stream (server_session_fuzz's layout).
Bytes stream(std::uint8_t chunk, std::uint8_t options, const Bytes& body) {
  Bytes out{chunk, options};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// Option byte, then the first `keep` bytes of a spool's storage.
Bytes spool_seed(int messages, int acknowledged, bool drop, std::size_t keep) {
  uplink::test::RamStorage storage(uplink::Spool::minimum_storage_size());
  uplink::Spool spool;
  (void)spool.open(storage);
  for (int i = 1; i <= messages; ++i) {
    const std::string p = "message " + std::to_string(i);
    (void)spool.append(static_cast<std::uint64_t>(i), uplink::ConstByteSpan{p.data(), p.size()});
  }
  if (acknowledged > 0) (void)spool.remove_front(static_cast<std::size_t>(acknowledged), 1 + acknowledged);
  if (drop) (void)spool.tombstone(static_cast<std::uint64_t>(messages));
  uplink::SpoolState state = spool.state();
  state.session_id = 42;
  (void)spool.save_state(state);
  const Bytes image = storage.image();
  Bytes out{0};
  out.insert(out.end(), image.begin(), image.begin() + static_cast<std::ptrdiff_t>(keep < image.size() ? keep : image.size()));
  return out;
}

Bytes journal(bool torn) {
  using uplink::server::JournalRecord;
  using uplink::server::JournalRecordType;
  Bytes out;
  uplink::server::encode_journal_magic(out);
  JournalRecord session;
  session.type = JournalRecordType::session;
  session.session_id = 7;
  session.device_id = "fuzz-dev";
  uplink::server::encode_journal_record(session, out);
  JournalRecord up;
  up.type = JournalRecordType::uplink_delivered;
  up.session_id = 7;
  up.seq = 1;
  up.payload = {'h', 'i'};
  uplink::server::encode_journal_record(up, out);
  JournalRecord down = up;
  down.type = JournalRecordType::downlink_queued;
  uplink::server::encode_journal_record(down, out);
  JournalRecord acked;
  acked.type = JournalRecordType::downlink_acked;
  acked.session_id = 7;
  acked.seq = 1;
  uplink::server::encode_journal_record(acked, out);
  JournalRecord dropped;
  dropped.type = JournalRecordType::session_dropped;
  dropped.session_id = 7;
  if (torn) {
    Bytes last;
    uplink::server::encode_journal_record(dropped, last);
    out.insert(out.end(), last.begin(), last.begin() + 10);
  } else {
    uplink::server::encode_journal_record(dropped, out);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds <corpus directory>\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;

  // Server session: a whole exchange, a resume, byte at a time, garbage after HELLO.
  Bytes exchange = hello();
  add(exchange, uplink::Data{1, text("one")});
  add(exchange, uplink::Data{2, text("two")});
  add(exchange, uplink::Ack{1});
  Bytes ping(2, 0);
  (void)uplink::encode_ping(uplink::ByteSpan{ping.data(), ping.size()});
  exchange.insert(exchange.end(), ping.begin(), ping.end());
  add(exchange, uplink::Data{3, text("three")});
  add(exchange, uplink::Close{uplink::CloseReason::normal, 0, text("bye")});
  ok = ok && write(dir + "/server_session_fuzz/exchange", stream(0, 1, exchange));
  ok = ok && write(dir + "/server_session_fuzz/exchange_bytewise", stream(1, 0, exchange));
  Bytes resume = hello(0x1234, 5);
  add(resume, uplink::Data{9, text("gap")});
  ok = ok && write(dir + "/server_session_fuzz/resume_twice", stream(3, 2 | 1 | (1 << 4), resume));
  Bytes duplicate = hello();
  add(duplicate, uplink::Data{1, text("a")});
  add(duplicate, uplink::Data{1, text("a")});
  ok = ok && write(dir + "/server_session_fuzz/duplicate", stream(0, 0, duplicate));
  Bytes silent = hello();
  ok = ok && write(dir + "/server_session_fuzz/silent", stream(0, 15 << 4, silent));
  ok = ok && write(dir + "/server_session_fuzz/durable", stream(0, 4 | 2 | 1 | (1 << 4), exchange));
  ok = ok && write(dir + "/server_session_fuzz/durable_failing", stream(2, 8 | 4 | 1, exchange));

  // Spool: empty, messages, acknowledged and dropped ones, the whole ring.
  ok = ok && write(dir + "/spool_fuzz/empty", spool_seed(0, 0, false, 512));
  ok = ok && write(dir + "/spool_fuzz/five", spool_seed(5, 0, false, 512));
  ok = ok && write(dir + "/spool_fuzz/acked_and_dropped", spool_seed(12, 4, true, 1024));
  ok = ok && write(dir + "/spool_fuzz/many", spool_seed(300, 200, true, 12000));

  // Spool, structured: a script of 40 steps (appends, acknowledgements,
  // drops, restarts), undamaged, and then with three damaged bytes.
  Bytes script{8, 40};
  for (int i = 0; i < 40; ++i) {
    const std::uint8_t ops[] = {0, 1, 0, 2, 1, 0, 2, 3};
    script.push_back(ops[i % 8]);
    script.push_back(static_cast<std::uint8_t>(i * 37));
  }
  ok = ok && write(dir + "/spool_fuzz/script", script);
  Bytes damaged = script;
  for (std::uint8_t b : {0x00, 0x30, 0xFF, 0x00, 0x40, 0x01, 0x00, 0x52, 0x10}) damaged.push_back(b);
  ok = ok && write(dir + "/spool_fuzz/script_damaged", damaged);

  // Journal: whole, and with a torn last record.
  ok = ok && write(dir + "/session_journal_fuzz/whole", journal(false));
  ok = ok && write(dir + "/session_journal_fuzz/torn", journal(true));

  if (!ok) {
    std::fprintf(stderr, "make_fuzz_seeds: cannot write under %s\n", dir.c_str());
    return 1;
  }
  std::printf("seeds written under %s\n", dir.c_str());
  return 0;
}
