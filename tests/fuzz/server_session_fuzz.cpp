// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: one reference-server session (tools/reference_server/
// server_session.*) from the first byte a client sends, in virtual time.
// Whatever arrives, the session must not crash, must end in a bounded way,
// and every byte it writes must decode as well-formed frames.
//
// Input layout: byte 0 picks the chunk size (1..16, or 0 = all at once),
// byte 1 options (bit 0: queue a downlink message after each chunk while
// online; bit 1: a second connection resumes the first one's session on the
// same registry with the same bytes; bit 2: durable sessions, a journal
// in memory whose records must replay into a registry, and whose commits
// fail from the fifth on when bit 3 is set too; bits 4..7: milliseconds
// between chunks, times 500); the rest is what the client sends.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "server_session.hpp"
#include "session_registry.hpp"
#include "uplink/codec/frame_decoder.hpp"

namespace {

using uplink::ConstByteSpan;
using uplink::Millis;

class Events final : public uplink::server::ServerEvents {};

// The journal in memory; commits fail from the fifth when asked to.
class MemoryStore final : public uplink::server::SessionStore {
 public:
  explicit MemoryStore(bool failing) : failing_(failing) {}
  void append(const uplink::server::JournalRecord& record) override { records.push_back(record); }
  std::error_code commit() override {
    if (failing_ && ++commits_ >= 5) return std::make_error_code(std::errc::io_error);
    committed = records.size();
    return {};
  }
  std::vector<uplink::server::JournalRecord> records;
  std::size_t committed = 0;  // records made durable

 private:
  bool failing_;
  int commits_ = 0;
};

// Every byte a server writes is a stream of whole, well-formed frames.
void check_output(uplink::FrameDecoder<>& decoder, const std::vector<std::uint8_t>& out) {
  ConstByteSpan rest{out.data(), out.size()};
  while (!rest.empty()) {
    const auto r = decoder.feed(rest);
    if (r.status == uplink::DecodeStatus::error || r.consumed > rest.size) std::abort();
    rest = rest.subspan(r.consumed);
  }
}

void run_connection(uplink::server::SessionRegistry& registry, Events& events, ConstByteSpan stream,
                    std::size_t chunk, std::uint8_t options, Millis& now, std::uint64_t id) {
  const uplink::server::SessionLimits limits;
  uplink::server::ServerSession session(registry, events, limits, now, id);
  uplink::FrameDecoder<> decoder;
  const Millis step = static_cast<Millis>(options >> 4) * 500;
  while (!stream.empty() && !session.closed()) {
    const std::size_t take = (chunk == 0 || chunk > stream.size) ? stream.size : chunk;
    session.on_bytes(now, ConstByteSpan{stream.data, take});
    stream = stream.subspan(take);
    if ((options & 1) != 0 && session.state() == uplink::server::ServerSession::State::online) {
      const std::uint8_t payload[] = {'d', 'o', 'w', 'n'};
      (void)session.queue_downlink(ConstByteSpan{payload, sizeof payload});
    }
    now += step;
    session.on_timer(now);
    check_output(decoder, session.take_output());
  }
  // Time runs out for a session that is still open: the deadline closes it.
  for (int i = 0; i < 4 && !session.closed(); ++i) {
    const Millis due = session.next_deadline();
    if (due == uplink::kNever) break;
    now = due > now ? due : now;
    session.on_timer(now);
    check_output(decoder, session.take_output());
  }
  if (!session.closed()) session.on_connection_lost(std::make_error_code(std::errc::connection_reset));
  check_output(decoder, session.take_output());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = data[0] % 17;
  const std::uint8_t options = data[1];
  const ConstByteSpan stream{data + 2, size - 2};
  uplink::server::SessionRegistry registry(1);
  MemoryStore store((options & 8) != 0);
  if ((options & 4) != 0) registry.set_store(&store);
  Events events;
  Millis now = 1000;
  run_connection(registry, events, stream, chunk, options, now, 1);
  if ((options & 2) != 0) run_connection(registry, events, stream, chunk, options, now, 2);
  // What a server journaled, a restarted one replays.
  uplink::server::SessionRegistry restarted(2);
  for (std::size_t i = 0; i < store.committed; ++i) {
    if (!restarted.apply(store.records[i]).empty()) std::abort();
  }
  return 0;
}
