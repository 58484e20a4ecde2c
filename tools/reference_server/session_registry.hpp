// SPDX-License-Identifier: Apache-2.0
// Sessions of a server by id, surviving reconnects.
//
// A session outlives its connections: it remembers the next uplink seq it
// expects, the downlink messages the device has not acknowledged yet, and
// which connection (if any) currently serves it. A device has at most one
// session: when it opens a new one (HELLO with session 0, or a session this
// server does not know), its previous session is dropped, and its
// unacknowledged downlink is carried over, renumbered from 1 (at least once,
// the same promise the device makes for its uplink in PROTOCOL.md 4.2).
//
// Durable state (opt-in): with a SessionStore set, every change a restarted
// server must know is appended to it as a JournalRecord, and commit() makes
// them durable; apply() rebuilds a registry from those records and image()
// writes the records that recreate it (session_journal.hpp). Without a
// store a new server knows no sessions.
//
// Pure: standard library and uplink core only (the store is an interface).
// Not thread-safe; the server uses it from its one I/O thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "session_journal.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/core/random_source.hpp"
#include "uplink/core/time.hpp"

namespace uplink::server {

class ServerSession;

/// One downlink DATA sent (or waiting to be sent) and not yet acknowledged.
struct PendingDownlink {
  std::uint64_t seq = 0;
  std::vector<std::uint8_t> payload;
};

struct SessionRecord {
  std::uint64_t id = 0;
  std::string device_id;
  std::uint64_t next_uplink_seq = 1;    ///< Next uplink DATA seq expected; all below were delivered.
  std::uint64_t next_downlink_seq = 1;  ///< Seq the next queued downlink message gets.
  std::uint64_t downlink_acked = 0;     ///< Highest downlink seq the device acknowledged.
  /// Exactly the seqs downlink_acked+1 .. next_downlink_seq-1, oldest first.
  std::deque<PendingDownlink> unacked;
  ServerSession* connection = nullptr;  ///< The live connection serving it, if any.
  std::uint64_t detached_order = 0;     ///< When it lost its connection (eviction picks the oldest).
  Millis attached_at = 0;               ///< When its current (or last) connection took it.
  /// Replacements in a row, each within kContestWindowMs of the previous
  /// attach: two devices with one id taking the session from each other.
  std::uint32_t contests = 0;

  /// Highest downlink seq assigned so far (0 = none).
  [[nodiscard]] std::uint64_t last_downlink_seq() const { return next_downlink_seq - 1; }
  /// Applies a cumulative downlink acknowledgement. sequence_error when
  /// `seq` was never sent or is below an earlier acknowledgement.
  [[nodiscard]] std::error_code acknowledge_downlink(std::uint64_t seq);
};

struct RegistryLimits {
  /// Sessions kept at most; a new one evicts the longest-detached session,
  /// and is refused (overloaded) if every session has a live connection.
  std::size_t max_sessions = 100000;
  /// Unacknowledged downlink messages per session (queue_downlink: queue_full).
  std::size_t max_unacked_downlink = 256;
};

class SessionRegistry {
 public:
  /// Session ids come from use_random_ids()'s source; until it is called,
  /// from a bijection of `id_seed` plus a counter: predictable, for tests.
  explicit SessionRegistry(std::uint64_t id_seed = 0, RegistryLimits limits = {});
  /// New session ids from `random` (a CSPRNG, which must outlive the
  /// registry): nobody can derive another session's id from their own.
  void use_random_ids(RandomSource& random) { random_ = &random; }
  /// Unhooks still-attached connections (they then never touch the registry).
  ~SessionRegistry();
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  struct Attached {
    SessionRecord* record = nullptr;  ///< nullptr: no room for a new session (overloaded).
    bool resumed = false;
  };

  /// A replacement this soon after the replaced connection attached counts
  /// as a contest (two devices with one id, or a device that reconnects
  /// while its old connection lingers).
  static constexpr Millis kContestWindowMs = 30000;
  /// The retry-after a contested replacement (the second in a row within
  /// the window, and every one after) asks of the connection it replaces:
  /// 1 s, doubled per contest in a row, at most 64 s.
  static constexpr std::uint32_t kContestRetryBaseMs = 1000;
  static constexpr std::uint32_t kContestRetryMaxMs = 64000;

  /// Gives `connection` the session its HELLO asks for: `session_id` if this
  /// registry knows it for the same device, else a new session. The live
  /// connection previously serving the device, if any, is told first
  /// (ServerSession gets CLOSE session_replaced and goes offline): the
  /// newer connection always wins, and when replacements of one device
  /// follow each other within kContestWindowMs, the replaced one is asked to
  /// wait a growing retry-after, so two devices sharing an id cannot hammer
  /// the server.
  [[nodiscard]] Attached attach(ServerSession& connection, std::string_view device_id, std::uint64_t session_id,
                                Millis now = 0);
  /// `connection` no longer serves its session (which stays for a resume).
  void detach(const ServerSession& connection);

  [[nodiscard]] SessionRecord* find(std::uint64_t session_id);
  [[nodiscard]] const SessionRecord* find(std::uint64_t session_id) const;
  [[nodiscard]] SessionRecord* find_device(std::string_view device_id);
  [[nodiscard]] const SessionRecord* find_device(std::string_view device_id) const;

  /// Assigns `payload` the record's next downlink seq and keeps it until
  /// acknowledged. Does not send anything (ServerSession::queue_downlink does).
  /// Errors: queue_full, field_too_long (over kMaxDataPayload).
  [[nodiscard]] std::error_code queue_downlink(SessionRecord& record, ConstByteSpan payload,
                                               std::uint64_t* seq = nullptr);
  /// Drops a detached session, as a restart without persistence would.
  /// Returns false when unknown or still attached to a connection.
  bool forget(std::uint64_t session_id);

  /// Uplink DATA `seq` (the record's next_uplink_seq) was delivered:
  /// advances next_uplink_seq and journals the payload.
  void deliver_uplink(SessionRecord& record, std::uint64_t seq, ConstByteSpan payload);
  /// SessionRecord::acknowledge_downlink, journaled when it moves forward.
  [[nodiscard]] std::error_code acknowledge_downlink(SessionRecord& record, std::uint64_t seq);

  // ---- Durable state (session_journal.hpp) --------------------------------

  /// Where changes are journaled from now on (not owned; nullptr: nowhere).
  void set_store(SessionStore* store) { store_ = store; }
  [[nodiscard]] SessionStore* store() const { return store_; }
  /// Makes the journaled changes durable (nothing to do without a store).
  [[nodiscard]] std::error_code commit();
  /// Replays one record into this registry (no store calls). Returns why it
  /// cannot apply (names the session and seq), or an empty string.
  [[nodiscard]] std::string apply(const JournalRecord& record);
  /// Records that rebuild this registry with apply(): per session, oldest
  /// detachment first, its state and its unacknowledged downlink.
  [[nodiscard]] std::vector<JournalRecord> image() const;

  [[nodiscard]] std::size_t size() const { return sessions_.size(); }
  [[nodiscard]] const RegistryLimits& limits() const { return limits_; }

 private:
  SessionRecord* create(std::string_view device_id, ServerSession& connection);
  void erase(SessionRecord& record);
  bool evict_one();
  std::uint64_t next_id();

  void journal(const JournalRecord& record) {
    if (store_ != nullptr) store_->append(record);
  }
  void journal_session(const SessionRecord& record);
  void journal_downlink(const SessionRecord& record, const PendingDownlink& message);

  RegistryLimits limits_;
  SessionStore* store_ = nullptr;
  std::uint64_t id_seed_;
  std::uint64_t id_counter_ = 0;
  RandomSource* random_ = nullptr;  // use_random_ids()
  std::uint64_t detach_counter_ = 0;
  // unique_ptr: records are referred to by pointer (ServerSession, shells),
  // so they must never move.
  std::unordered_map<std::uint64_t, std::unique_ptr<SessionRecord>> sessions_;
  std::unordered_map<std::string, std::uint64_t> by_device_;
};

}  // namespace uplink::server
