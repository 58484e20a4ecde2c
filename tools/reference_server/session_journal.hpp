// SPDX-License-Identifier: Apache-2.0
// The reference server's durable session state, as a journal of records.
//
// Every change to a SessionRegistry that a restarted server must know is
// one JournalRecord: a session opened (or its whole state, in a snapshot),
// a session dropped, an uplink message delivered (with its payload), a
// downlink message queued (with its payload), a downlink acknowledgement.
// A SessionStore receives them as they happen and makes them durable on
// commit(); the server commits before it sends anything that depends on
// them (the ACK of delivered uplink, a queued downlink DATA, a WELCOME),
// so a server killed at any point restarts from a state the devices agree
// with: exactly once in both directions (docs/DELIVERY.md).
//
// Encoding of a journal (every integer big-endian):
//
//   file    = magic "uplinkJ1" (8 bytes), then records
//   record  = u32 body length, u32 CRC-32 of those 4 bytes, body,
//             u32 CRC-32 of the body (uplink::crc32, the device spool's CRC)
//   body    = u8 type, u64 session id, then by type:
//     session           u64 next_uplink_seq, u64 next_downlink_seq,
//                       u64 downlink_acked, u8 length + device id
//     session_dropped   -
//     uplink_delivered  u64 seq, payload (the rest of the body)
//     downlink_queued   u64 seq, payload (the rest of the body)
//     downlink_acked    u64 seq
//
// Scanning stops at the first record that is not whole and valid. If it is
// the file's last record (it reaches the end of the file, or only zero
// bytes follow it), it is a torn append from a crash: dropped and counted.
// Anything else is corruption and refused with the offset and the reason.
// The length's own CRC keeps a damaged length from passing for a record cut
// short by the end of the file.
//
// Pure: standard library and uplink core only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "uplink/core/byte_span.hpp"

namespace uplink::server {

enum class JournalRecordType : std::uint8_t {
  session = 1,           ///< A session's state (opened: 1, 1, 0).
  session_dropped = 2,   ///< Replaced by a newer session of its device, evicted or forgotten.
  uplink_delivered = 3,  ///< Uplink DATA `seq` delivered to the application.
  downlink_queued = 4,   ///< Downlink DATA `seq` queued (and possibly sent).
  downlink_acked = 5,    ///< The device acknowledged downlink through `seq`.
};

struct JournalRecord {
  JournalRecordType type = JournalRecordType::session;
  std::uint64_t session_id = 0;
  std::uint64_t seq = 0;  ///< uplink_delivered, downlink_queued, downlink_acked; session: downlink_acked.
  std::uint64_t next_uplink_seq = 1;    ///< session only.
  std::uint64_t next_downlink_seq = 1;  ///< session only.
  std::string device_id;                ///< session only.
  std::vector<std::uint8_t> payload;    ///< uplink_delivered, downlink_queued.

  friend bool operator==(const JournalRecord& a, const JournalRecord& b) {
    return a.type == b.type && a.session_id == b.session_id && a.seq == b.seq &&
           a.next_uplink_seq == b.next_uplink_seq && a.next_downlink_seq == b.next_downlink_seq &&
           a.device_id == b.device_id && a.payload == b.payload;
  }
};

/// The 8 bytes every journal starts with.
inline constexpr char kJournalMagic[9] = "uplinkJ1";
inline constexpr std::size_t kJournalMagicSize = 8;
/// A record's bytes besides its body: length, its CRC, the body's CRC.
inline constexpr std::size_t kJournalRecordOverhead = 12;
/// Largest body accepted when scanning (a downlink or uplink payload plus fields).
inline constexpr std::size_t kMaxJournalBody = 1u << 20;

/// Appends the encoding of `record` to `out`.
void encode_journal_record(const JournalRecord& record, std::vector<std::uint8_t>& out);
/// Appends kJournalMagic to `out`.
void encode_journal_magic(std::vector<std::uint8_t>& out);

struct JournalScan {
  std::vector<JournalRecord> records;  ///< Every whole, valid record, in order.
  std::vector<std::size_t> offsets;    ///< Where each of `records` starts.
  std::size_t valid_bytes = 0;         ///< Magic + whole records: where the next append goes.
  std::size_t torn_bytes = 0;          ///< A torn last record, dropped.
  /// Why the journal is refused (empty when it is not), with the offset:
  /// "bad magic", "CRC mismatch at offset 123 (record 4)", ...
  std::string problem;
  [[nodiscard]] bool ok() const { return problem.empty(); }
};

/// Decodes a whole journal file (see the file comment for torn vs corrupt).
[[nodiscard]] JournalScan scan_journal(ConstByteSpan file);

/// Receives the registry's changes and makes them durable. Implementations:
/// FileSessionStore (file_session_store.hpp); tests use an in-memory fake.
class SessionStore {
 public:
  /// Takes a change; it need not be durable before commit().
  virtual void append(const JournalRecord& record) = 0;
  /// Makes every appended record durable. After a failure the store stays
  /// failed (every later commit fails): the server must stop, and a new one
  /// restarts from what was committed.
  [[nodiscard]] virtual std::error_code commit() = 0;

 protected:
  SessionStore() = default;
  SessionStore(const SessionStore&) = default;
  SessionStore& operator=(const SessionStore&) = default;
  ~SessionStore() = default;
};

}  // namespace uplink::server
