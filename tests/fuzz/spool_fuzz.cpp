// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the spool's reader (Spool::open and recovery) over any
// bytes, then the spool in use on what it recovered.
//
// Input layout: byte 0 options (bit 0: reformat_damaged; bits 1..2: the
// sync policy; bit 3: structured). Raw: the rest is the start of the
// storage (two header slots and the first records; the remainder of the
// minimum-size storage is zeros). Structured: the spool is written by a
// script (byte 1: the number of two-byte steps that follow: append, ack,
// drop, reopen), then damaged by the triples that follow (offset high and
// low byte, a mask to XOR).
// Properties, raw: open() either refuses or recovers messages in
// increasing id order, as many as size() says; the spool then appends,
// acknowledges and drops without a storage error, and a reopen (a process
// crash) finds the appended message. Structured: whatever the damage, what
// comes back is messages that were appended, intact, in order (never
// garbage a resync took for a record); without damage, exactly the live
// ones, and nothing reported.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "support/ram_storage.hpp"
#include "uplink/core/spool.hpp"
#include "uplink/error.hpp"

namespace {

std::size_t recover_checked(uplink::Spool& spool, std::uint64_t find, bool& found) {
  std::size_t count = 0;
  std::uint64_t last = 0;
  found = false;
  const std::error_code e = spool.recover([&](std::uint64_t id, uplink::ConstByteSpan payload) {
    if (id <= last || payload.size > uplink::Spool::kMaxPayload) std::abort();
    last = id;
    found = found || id == find;
    ++count;
  });
  if (e) std::abort();  // the records open() found must read back
  return count;
}

// The payload of message `id`: every byte depends on the id and its place.
std::uint8_t payload_byte(std::uint64_t id, std::size_t i) { return static_cast<std::uint8_t>(id * 131 + i * 7); }

int structured(const std::uint8_t* data, std::size_t size, uplink::SpoolOptions options) {
  static uplink::test::RamStorage storage(uplink::Spool::minimum_storage_size());
  storage.crash_back_to(std::vector<std::uint8_t>(storage.size(), 0));
  uplink::Spool spool;
  if (spool.open(storage, options)) std::abort();
  std::vector<std::uint64_t> live;
  std::uint64_t next_id = 1;
  std::uint8_t bytes[uplink::Spool::kMaxPayload];
  const std::size_t steps = size > 0 ? data[0] : 0;
  std::size_t at = 1;
  for (std::size_t step = 0; step < steps && at + 2 <= size; ++step, at += 2) {
    const std::uint8_t op = data[at];
    const std::uint8_t arg = data[at + 1];
    if (op % 4 <= 1) {  // append (twice as often)
      const std::size_t length = (arg * 5u) % 400;
      for (std::size_t i = 0; i < length; ++i) bytes[i] = payload_byte(next_id, i);
      if (!spool.append(next_id, uplink::ConstByteSpan{bytes, length})) live.push_back(next_id);
      ++next_id;
    } else if (op % 4 == 2 && !live.empty()) {  // acknowledge 1..3, or drop one
      if (arg % 2 == 0) {
        const std::size_t n = 1 + arg / 2 % 3 < live.size() ? 1 + arg / 2 % 3 : live.size();
        if (spool.remove_front(n, spool.state().head_seq + n)) std::abort();
        live.erase(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(n));
      } else {
        const std::uint64_t id = live[arg / 2 % live.size()];
        if (spool.tombstone(id)) std::abort();
        live.erase(std::find(live.begin(), live.end(), id));
      }
    } else if (op % 4 == 3) {  // a process crash and a restart
      if (spool.open(storage, options)) std::abort();
    }
  }
  bool damaged = false;
  std::vector<std::uint8_t> image = storage.image();
  for (; at + 3 <= size; at += 3) {
    const std::size_t offset = ((std::size_t{data[at]} << 8) | data[at + 1]) * 7 % image.size();
    image[offset] ^= data[at + 2];
    damaged = damaged || data[at + 2] != 0;
  }
  storage.crash_back_to(image);
  uplink::Spool again;
  if (const std::error_code e = again.open(storage, options)) {
    if (!damaged || e != uplink::Errc::spool_damaged) std::abort();
    return 0;
  }
  std::vector<std::uint64_t> got;
  const std::error_code e = again.recover([&](std::uint64_t id, uplink::ConstByteSpan payload) {
    if (id >= next_id || (!got.empty() && id <= got.back())) std::abort();
    for (std::size_t i = 0; i < payload.size; ++i) {
      if (payload.data[i] != payload_byte(id, i)) std::abort();  // garbage taken for a record
    }
    got.push_back(id);
  });
  if (e) std::abort();
  if (!damaged && (got != live || again.damage().lost_messages() || again.damage().damaged_stretches != 0)) {
    std::abort();
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  if ((data[0] & 8) != 0) {
    uplink::SpoolOptions options;
    options.reformat_damaged = (data[0] & 1) != 0;
    return structured(data + 1, size - 1, options);
  }
  static uplink::test::RamStorage storage(uplink::Spool::minimum_storage_size());
  std::vector<std::uint8_t> image(storage.size(), 0);
  const std::size_t n = size - 1 < image.size() ? size - 1 : image.size();
  if (n > 0) std::memcpy(image.data(), data + 1, n);
  storage.crash_back_to(image);

  uplink::SpoolOptions options;
  options.reformat_damaged = (data[0] & 1) != 0;
  const unsigned policy = (data[0] >> 1) & 3;
  options.sync = policy == 1 ? uplink::SpoolSync::interval
                 : policy == 2 ? uplink::SpoolSync::none
                               : uplink::SpoolSync::every_write;
  uplink::Spool spool;
  if (spool.open(storage, options)) return 0;
  bool found = false;
  if (recover_checked(spool, 0, found) != spool.size()) std::abort();

  const std::uint64_t id = spool.state().next_message_id;
  const std::uint8_t payload[] = {'f', 'u', 'z', 'z'};
  const std::error_code appended = spool.append(id, uplink::ConstByteSpan{payload, sizeof payload});
  if (appended && appended != uplink::Errc::queue_full && appended != std::errc::invalid_argument) std::abort();
  if (spool.size() > 1 && spool.remove_front(1, spool.state().head_seq + 1)) std::abort();
  if (spool.tombstone(id + 1)) std::abort();
  if (spool.flush()) std::abort();

  uplink::Spool again;
  if (again.open(storage, options)) std::abort();  // what this spool wrote must open
  const std::size_t count = recover_checked(again, id, found);
  if (count != again.size()) std::abort();
  if (!appended && !found) std::abort();  // a process crash loses nothing accepted
  return 0;
}
