// Session bookkeeping: ids, resume lookups, replacement, downlink queues.
#include "session_registry.hpp"

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
  // mix() maps exactly one input to 0; the next counter value then cannot.
  std::uint64_t id = mix(id_seed_ + ++id_counter_);
  if (id == 0) id = mix(id_seed_ + ++id_counter_);
  return id;
}

SessionRegistry::Attached SessionRegistry::attach(ServerSession& connection, std::string_view device_id,
                                                  std::uint64_t session_id) {
  SessionRecord* wanted = session_id != 0 ? find(session_id) : nullptr;
  // A session is only ever handed to the device that opened it.
  if (wanted != nullptr && wanted->device_id != device_id) wanted = nullptr;

  SessionRecord* previous = find_device(device_id);
  if (previous != nullptr && previous->connection != nullptr && previous->connection != &connection) {
    ServerSession* old = previous->connection;
    previous->connection = nullptr;
    previous->detached_order = ++detach_counter_;
    old->on_replaced();  // its offline event comes before the new online event
  }

  if (wanted != nullptr) {  // one session per device: wanted == previous here
    wanted->connection = &connection;
    return {wanted, true};
  }

  std::deque<PendingDownlink> carried;
  if (previous != nullptr) {
    carried = std::move(previous->unacked);
    erase(*previous);
  }
  if (sessions_.size() >= limits_.max_sessions && !evict_one()) return {};
  SessionRecord* record = create(device_id, connection);
  for (PendingDownlink& message : carried) {
    message.seq = record->next_downlink_seq++;
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
  return raw;
}

void SessionRegistry::erase(SessionRecord& record) {
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
  record.unacked.push_back(std::move(message));
  return {};
}

bool SessionRegistry::forget(std::uint64_t session_id) {
  SessionRecord* record = find(session_id);
  if (record == nullptr || record->connection != nullptr) return false;
  erase(*record);
  return true;
}

}  // namespace uplink::server
