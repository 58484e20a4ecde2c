// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the spool's reader (Spool::open and recovery) over any
// bytes, then the spool in use on what it recovered.
//
// Input layout: byte 0 options (bit 0: reformat_damaged; bits 1..2: the
// sync policy); the rest is the start of the storage (two header slots and
// the first records; the remainder of the minimum-size storage is zeros).
// Properties: open() either refuses or recovers messages in increasing id
// order, as many as size() says; the spool then appends, acknowledges and
// drops without a storage error, and a reopen (a process crash) finds the
// appended message.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
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
