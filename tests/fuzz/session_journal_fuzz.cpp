// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the reference server's session journal reader
// (tools/reference_server/session_journal.*) and the replay of what it
// reads into a registry, as at a server's start with --state-dir.
//
// Properties: scanning any bytes never crashes; what it accepts is a prefix
// of the file that re-encodes byte for byte; replaying the records either
// applies them or names the one that does not fit; a registry rebuilt from
// the image of the replayed one has the same image.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "session_journal.hpp"
#include "session_registry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace uplink::server;
  const JournalScan scan = scan_journal(uplink::ConstByteSpan{data, size});
  if (scan.records.size() != scan.offsets.size()) std::abort();
  if (!scan.ok()) return 0;
  if (scan.valid_bytes + scan.torn_bytes != size) std::abort();
  std::vector<std::uint8_t> again;
  encode_journal_magic(again);
  for (const JournalRecord& record : scan.records) encode_journal_record(record, again);
  if (again.size() != scan.valid_bytes || std::memcmp(again.data(), data, again.size()) != 0) std::abort();

  SessionRegistry registry(1);
  for (const JournalRecord& record : scan.records) {
    if (!registry.apply(record).empty()) return 0;  // refused, with a reason
  }
  const std::vector<JournalRecord> image = registry.image();
  SessionRegistry rebuilt(2);
  for (const JournalRecord& record : image) {
    if (!rebuilt.apply(record).empty()) std::abort();  // an image always replays
  }
  if (!(rebuilt.image() == image)) std::abort();
  return 0;
}
