// SPDX-License-Identifier: Apache-2.0
// Journal records: encoding, and the scan that tells a torn tail from corruption.
#include "session_journal.hpp"

#include <cstring>

#include "uplink/core/byte_order.hpp"
#include "uplink/core/crc32.hpp"  // the same CRC as the device's spool

namespace uplink::server {
namespace {

void put_u8(std::vector<std::uint8_t>& out, std::uint8_t v) { out.push_back(v); }
void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  std::uint8_t bytes[4];
  detail::store_be32(bytes, v);
  out.insert(out.end(), bytes, bytes + sizeof bytes);
}
void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  std::uint8_t bytes[8];
  detail::store_be64(bytes, v);
  out.insert(out.end(), bytes, bytes + sizeof bytes);
}
using detail::load_be32;
using detail::load_be64;

// Decodes one body; false when its layout does not match its type.
bool decode_body(const std::uint8_t* p, std::size_t size, JournalRecord& record) {
  if (size < 9) return false;
  const std::uint8_t type = p[0];
  record.session_id = load_be64(p + 1);
  p += 9;
  size -= 9;
  switch (type) {
    case static_cast<std::uint8_t>(JournalRecordType::session): {
      if (size < 25) return false;
      record.type = JournalRecordType::session;
      record.next_uplink_seq = load_be64(p);
      record.next_downlink_seq = load_be64(p + 8);
      record.seq = load_be64(p + 16);
      const std::size_t length = p[24];
      if (size != 25 + length) return false;
      record.device_id.assign(reinterpret_cast<const char*>(p + 25), length);
      return true;
    }
    case static_cast<std::uint8_t>(JournalRecordType::session_dropped):
      record.type = JournalRecordType::session_dropped;
      return size == 0;
    case static_cast<std::uint8_t>(JournalRecordType::uplink_delivered):
    case static_cast<std::uint8_t>(JournalRecordType::downlink_queued):
      if (size < 8) return false;
      record.type = static_cast<JournalRecordType>(type);
      record.seq = load_be64(p);
      record.payload.assign(p + 8, p + size);
      return true;
    case static_cast<std::uint8_t>(JournalRecordType::downlink_acked):
      record.type = JournalRecordType::downlink_acked;
      record.seq = size == 8 ? load_be64(p) : 0;
      return size == 8;
    default: return false;
  }
}

bool all_zero(const std::uint8_t* p, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

void encode_journal_magic(std::vector<std::uint8_t>& out) {
  out.insert(out.end(), kJournalMagic, kJournalMagic + kJournalMagicSize);
}

void encode_journal_record(const JournalRecord& record, std::vector<std::uint8_t>& out) {
  const std::size_t start = out.size();
  put_u32(out, 0);  // the length and its CRC, patched below
  put_u32(out, 0);
  put_u8(out, static_cast<std::uint8_t>(record.type));
  put_u64(out, record.session_id);
  switch (record.type) {
    case JournalRecordType::session: {
      put_u64(out, record.next_uplink_seq);
      put_u64(out, record.next_downlink_seq);
      put_u64(out, record.seq);
      // Device ids are at most 64 bytes on the wire (HELLO); 255 is the format's limit.
      const std::size_t length = record.device_id.size() < 255 ? record.device_id.size() : 255;
      put_u8(out, static_cast<std::uint8_t>(length));
      out.insert(out.end(), record.device_id.begin(), record.device_id.begin() + static_cast<std::ptrdiff_t>(length));
      break;
    }
    case JournalRecordType::session_dropped: break;
    case JournalRecordType::uplink_delivered:
    case JournalRecordType::downlink_queued:
      put_u64(out, record.seq);
      out.insert(out.end(), record.payload.begin(), record.payload.end());
      break;
    case JournalRecordType::downlink_acked: put_u64(out, record.seq); break;
  }
  const std::size_t body = out.size() - start - 8;
  for (int i = 0; i < 4; ++i) out[start + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(body >> (24 - 8 * i));
  const std::uint32_t length_crc = crc32(ConstByteSpan{out.data() + start, 4});
  for (int i = 0; i < 4; ++i) out[start + 4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(length_crc >> (24 - 8 * i));
  put_u32(out, crc32(ConstByteSpan{out.data() + start + 8, body}));
}

JournalScan scan_journal(ConstByteSpan file) {
  JournalScan scan;
  const std::uint8_t* bytes = file.data;
  if (file.size < kJournalMagicSize) {
    // A journal is created complete (magic included) by a rename: a short
    // one was not made by us.
    scan.problem = "too short for a journal (" + std::to_string(file.size) + " bytes)";
    return scan;
  }
  if (std::memcmp(bytes, kJournalMagic, kJournalMagicSize) != 0) {
    scan.problem = "not an uplink journal (bad magic)";
    return scan;
  }
  std::size_t offset = kJournalMagicSize;
  // Bounded: every pass consumes a whole record (>= 8 bytes) or ends.
  while (offset < file.size) {
    const std::size_t left = file.size - offset;
    const char* defect = nullptr;
    bool reaches_end = false;
    std::size_t body = 0;
    if (left < 8) {
      defect = "truncated record header";
      reaches_end = true;
    } else {
      body = load_be32(bytes + offset);
      // The length has its own CRC: a damaged length must not pass for a
      // record that merely runs past the end of the file.
      if (crc32(ConstByteSpan{bytes + offset, 4}) != load_be32(bytes + offset + 4)) {
        defect = "record header CRC mismatch";
      } else if (body < 9 || body > kMaxJournalBody) {
        defect = "invalid record length";
      } else if (left < body + kJournalRecordOverhead) {
        defect = "truncated record";
        reaches_end = true;
      } else {
        reaches_end = left == body + kJournalRecordOverhead;
        const std::uint8_t* body_at = bytes + offset + 8;
        if (crc32(ConstByteSpan{body_at, body}) != load_be32(body_at + body)) {
          defect = "CRC mismatch";
        } else {
          JournalRecord record;
          if (!decode_body(body_at, body, record)) {
            defect = "malformed record";
            reaches_end = false;  // its CRC holds: written like this, not torn
          } else {
            scan.records.push_back(std::move(record));
            scan.offsets.push_back(offset);
            offset += body + kJournalRecordOverhead;
            continue;
          }
        }
      }
    }
    // A crash mid-append leaves a prefix of the record, or (on some file
    // systems) the right size filled with zeros: only at the very end.
    if (reaches_end || all_zero(bytes + offset, left)) {
      scan.torn_bytes = left;
      break;
    }
    scan.problem = std::string(defect) + " at offset " + std::to_string(offset) + " (record " +
                   std::to_string(scan.records.size() + 1) + "), followed by " + std::to_string(left) +
                   " more bytes";
    return scan;
  }
  scan.valid_bytes = offset;
  return scan;
}

}  // namespace uplink::server
