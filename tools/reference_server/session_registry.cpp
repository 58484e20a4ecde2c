// SPDX-License-Identifier: Apache-2.0
// Session bookkeeping: ids, resume lookups, replacement, downlink queues.
#include "session_registry.hpp"

#include <algorithm>
#include <utility>

#include "server_session.hpp"
#include "uplink/codec/frame.hpp"
#include "uplink/error.hpp"

namespace uplink::server {
namespace {

// SplitMix64's finaliser: a bijection on 64-bit values, so distinct counter
// values give distinct ids, which still look unrelated to one another (a
// device cannot guess a neighbour's session id from its own).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

std::error_code SessionRecord::acknowledge_downlink(std::uint64_t seq) {
  if (seq > last_downlink_seq() || seq < downlink_acked) return make_error_code(Errc::sequence_error);
  downlink_acked = seq;
  // Bounded by the queue length; the queue holds consecutive seqs.
  while (!unacked.empty() && unacked.front().seq <= seq) unacked.pop_front();
  return {};
}

SessionRegistry::SessionRegistry(std::uint64_t id_seed, RegistryLimits limits)
    : limits_(limits), id_seed_(id_seed) {}

SessionRegistry::~SessionRegistry() {
  for (auto& entry : sessions_) {
    if (ServerSession* connection = entry.second->connection) connection->record_ = nullptr;
  }
}

std::uint64_t SessionRegistry::next_id() {
  if (random_ != nullptr) {
    // 64 random bits; a collision with a live id (or 0) is drawn again. A
    // source that keeps failing (returning the same values) falls through
    // to the counter below rather than spin.
    for (int attempt = 0; attempt < 16; ++attempt) {
      const std::uint64_t id = (std::uint64_t{random_->next_u32()} << 32) | random_->next_u32();
      if (id != 0 && sessions_.count(id) == 0) return id;
    }
  }
  // mix() maps exactly one input to 0; the next counter value then cannot.
  // Also skips ids of sessions restored from a journal (bounded: a
  // bijection yields each id once, and there are size() of them).
  std::uint64_t id = mix(id_seed_ + ++id_counter_);
  while (id == 0 || sessions_.count(id) != 0) id = mix(id_seed_ + ++id_counter_);
  return id;
}

SessionRegistry::Attached SessionRegistry::attach(ServerSession& connection, std::string_view device_id,
                                                  std::uint64_t session_id, Millis now) {
  SessionRecord* wanted = session_id != 0 ? find(session_id) : nullptr;
  // A session is only ever handed to the device that opened it.
  if (wanted != nullptr && wanted->device_id != device_id) wanted = nullptr;

  SessionRecord* previous = find_device(device_id);
  std::uint32_t contests = 0;
  if (previous != nullptr && previous->connection != nullptr && previous->connection != &connection) {
    ServerSession* old = previous->connection;
    previous->connection = nullptr;
    previous->detached_order = ++detach_counter_;
    contests = now - previous->attached_at < kContestWindowMs ? previous->contests + 1 : 0;
    previous->contests = contests;
    // One quick replacement is a device reconnecting while its old
    // connection lingers; from the second in a row, two connections are
    // taking the session from each other.
    std::uint32_t retry_after = 0;
    if (contests >= 2) {
      const std::uint32_t shift = contests - 2 > 6 ? 6 : contests - 2;
      retry_after = kContestRetryBaseMs << shift;
      if (retry_after > kContestRetryMaxMs) retry_after = kContestRetryMaxMs;
    }
    old->on_replaced(retry_after, contests >= 2 ? contests : 0);  // its offline comes before the new online
  } else if (previous != nullptr) {
    contests = previous->contests;
  }

  if (wanted != nullptr) {  // one session per device: wanted == previous here
    wanted->connection = &connection;
    wanted->attached_at = now;
    return {wanted, true};
  }

  std::deque<PendingDownlink> carried;
  if (previous != nullptr) {
    carried = std::move(previous->unacked);
    erase(*previous);
  }
  if (sessions_.size() >= limits_.max_sessions && !evict_one()) return {};
  SessionRecord* record = create(device_id, connection);
  record->attached_at = now;
  record->contests = contests;
  for (PendingDownlink& message : carried) {
    message.seq = record->next_downlink_seq++;
    journal_downlink(*record, message);
    record->unacked.push_back(std::move(message));
  }
  return {record, false};
}

void SessionRegistry::detach(const ServerSession& connection) {
  SessionRecord* record = find(connection.session_id());
  if (record != nullptr && record->connection == &connection) {
    record->connection = nullptr;
    record->detached_order = ++detach_counter_;
  }
}

SessionRecord* SessionRegistry::create(std::string_view device_id, ServerSession& connection) {
  auto record = std::make_unique<SessionRecord>();
  record->id = next_id();
  record->device_id = std::string(device_id);
  record->connection = &connection;
  SessionRecord* raw = record.get();
  by_device_[raw->device_id] = raw->id;
  sessions_.emplace(raw->id, std::move(record));
  journal_session(*raw);
  return raw;
}

void SessionRegistry::erase(SessionRecord& record) {
  JournalRecord dropped;
  dropped.type = JournalRecordType::session_dropped;
  dropped.session_id = record.id;
  journal(dropped);
  by_device_.erase(record.device_id);
  sessions_.erase(record.id);  // destroys `record`
}

bool SessionRegistry::evict_one() {
  SessionRecord* oldest = nullptr;
  for (auto& entry : sessions_) {
    SessionRecord* record = entry.second.get();
    if (record->connection == nullptr && (oldest == nullptr || record->detached_order < oldest->detached_order)) {
      oldest = record;
    }
  }
  if (oldest == nullptr) return false;
  erase(*oldest);
  return true;
}

SessionRecord* SessionRegistry::find(std::uint64_t session_id) {
  auto it = sessions_.find(session_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

const SessionRecord* SessionRegistry::find(std::uint64_t session_id) const {
  auto it = sessions_.find(session_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

SessionRecord* SessionRegistry::find_device(std::string_view device_id) {
  auto it = by_device_.find(std::string(device_id));
  return it == by_device_.end() ? nullptr : find(it->second);
}

const SessionRecord* SessionRegistry::find_device(std::string_view device_id) const {
  auto it = by_device_.find(std::string(device_id));
  return it == by_device_.end() ? nullptr : find(it->second);
}

std::error_code SessionRegistry::queue_downlink(SessionRecord& record, ConstByteSpan payload, std::uint64_t* seq) {
  if (payload.size > kMaxDataPayload) return make_error_code(Errc::field_too_long);
  if (record.unacked.size() >= limits_.max_unacked_downlink) return make_error_code(Errc::queue_full);
  PendingDownlink message;
  message.seq = record.next_downlink_seq++;
  message.payload.assign(payload.begin(), payload.end());
  if (seq != nullptr) *seq = message.seq;
  journal_downlink(record, message);
  record.unacked.push_back(std::move(message));
  return {};
}

bool SessionRegistry::forget(std::uint64_t session_id) {
  SessionRecord* record = find(session_id);
  if (record == nullptr || record->connection != nullptr) return false;
  erase(*record);
  return true;
}

void SessionRegistry::deliver_uplink(SessionRecord& record, std::uint64_t seq, ConstByteSpan payload) {
  record.next_uplink_seq = seq + 1;
  if (store_ == nullptr) return;
  JournalRecord delivered;
  delivered.type = JournalRecordType::uplink_delivered;
  delivered.session_id = record.id;
  delivered.seq = seq;
  delivered.payload.assign(payload.begin(), payload.end());
  store_->append(delivered);
}

std::error_code SessionRegistry::acknowledge_downlink(SessionRecord& record, std::uint64_t seq) {
  const std::uint64_t before = record.downlink_acked;
  if (const std::error_code error = record.acknowledge_downlink(seq)) return error;
  if (record.downlink_acked != before) {
    JournalRecord acked;
    acked.type = JournalRecordType::downlink_acked;
    acked.session_id = record.id;
    acked.seq = seq;
    journal(acked);
  }
  return {};
}

std::error_code SessionRegistry::commit() { return store_ != nullptr ? store_->commit() : std::error_code{}; }

void SessionRegistry::journal_session(const SessionRecord& record) {
  if (store_ == nullptr) return;
  JournalRecord state;
  state.type = JournalRecordType::session;
  state.session_id = record.id;
  state.device_id = record.device_id;
  state.next_uplink_seq = record.next_uplink_seq;
  state.next_downlink_seq = record.next_downlink_seq;
  state.seq = record.downlink_acked;
  store_->append(state);
}

void SessionRegistry::journal_downlink(const SessionRecord& record, const PendingDownlink& message) {
  if (store_ == nullptr) return;
  JournalRecord queued;
  queued.type = JournalRecordType::downlink_queued;
  queued.session_id = record.id;
  queued.seq = message.seq;
  queued.payload = message.payload;
  store_->append(queued);
}

std::string SessionRegistry::apply(const JournalRecord& r) {
  SessionStore* const store = store_;
  store_ = nullptr;  // replaying journals nothing
  std::string problem;
  SessionRecord* record = r.type == JournalRecordType::session ? nullptr : find(r.session_id);
  const auto about = [&r](const char* what) {
    return std::string(what) + " (session " + std::to_string(r.session_id) + ", seq " + std::to_string(r.seq) + ")";
  };
  if (r.type != JournalRecordType::session && record == nullptr) {
    problem = about("record for an unknown session");
  } else {
    switch (r.type) {
      case JournalRecordType::session: {
        if (r.session_id == 0 || r.device_id.empty() || r.next_uplink_seq == 0 || r.next_downlink_seq == 0 ||
            r.seq >= r.next_downlink_seq) {
          problem = about("invalid session state");
          break;
        }
        if (SessionRecord* same = find(r.session_id)) erase(*same);
        // One session per device: a newer one replaces it (as attach() does).
        if (SessionRecord* previous = find_device(r.device_id)) erase(*previous);
        auto fresh = std::make_unique<SessionRecord>();
        fresh->id = r.session_id;
        fresh->device_id = r.device_id;
        fresh->next_uplink_seq = r.next_uplink_seq;
        fresh->next_downlink_seq = r.next_downlink_seq;
        fresh->downlink_acked = r.seq;
        fresh->detached_order = ++detach_counter_;
        by_device_[fresh->device_id] = fresh->id;
        sessions_.emplace(fresh->id, std::move(fresh));
        break;
      }
      case JournalRecordType::session_dropped: erase(*record); break;
      case JournalRecordType::uplink_delivered:
        if (r.seq != record->next_uplink_seq) {
          problem = about("uplink delivered out of order");
        } else {
          record->next_uplink_seq = r.seq + 1;
        }
        break;
      case JournalRecordType::downlink_queued:
        // A snapshot lists the unacknowledged downlink below next_downlink_seq;
        // a live journal queues at next_downlink_seq.
        if (r.seq <= record->downlink_acked || r.seq > record->next_downlink_seq ||
            (!record->unacked.empty() && r.seq != record->unacked.back().seq + 1) ||
            (record->unacked.empty() && r.seq != record->downlink_acked + 1)) {
          problem = about("downlink queued out of order");
        } else {
          PendingDownlink message;
          message.seq = r.seq;
          message.payload = r.payload;
          record->unacked.push_back(std::move(message));
          if (r.seq == record->next_downlink_seq) ++record->next_downlink_seq;
        }
        break;
      case JournalRecordType::downlink_acked:
        if (record->acknowledge_downlink(r.seq)) problem = about("downlink acknowledgement out of range");
        break;
    }
  }
  store_ = store;
  return problem;
}

std::vector<JournalRecord> SessionRegistry::image() const {
  std::vector<const SessionRecord*> order;
  order.reserve(sessions_.size());
  for (const auto& entry : sessions_) order.push_back(entry.second.get());
  // Attached sessions count as the most recently detached: evicted last.
  const auto rank = [](const SessionRecord* r) {
    return r->connection != nullptr ? ~std::uint64_t{0} : r->detached_order;
  };
  std::sort(order.begin(), order.end(), [&rank](const SessionRecord* a, const SessionRecord* b) {
    return rank(a) != rank(b) ? rank(a) < rank(b) : a->id < b->id;
  });
  std::vector<JournalRecord> records;
  for (const SessionRecord* session : order) {
    JournalRecord state;
    state.type = JournalRecordType::session;
    state.session_id = session->id;
    state.device_id = session->device_id;
    state.next_uplink_seq = session->next_uplink_seq;
    state.next_downlink_seq = session->next_downlink_seq;
    state.seq = session->downlink_acked;
    records.push_back(std::move(state));
    for (const PendingDownlink& message : session->unacked) {
      JournalRecord queued;
      queued.type = JournalRecordType::downlink_queued;
      queued.session_id = session->id;
      queued.seq = message.seq;
      queued.payload = message.payload;
      records.push_back(std::move(queued));
    }
  }
  return records;
}

}  // namespace uplink::server
