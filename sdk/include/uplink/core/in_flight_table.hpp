// SPDX-License-Identifier: Apache-2.0
// The in-flight table of uplink over MQTT: which packet identifier carries
// which sequence number, and how far the acknowledgements reach.
//
// uplink numbers its messages 1, 2, 3, ... and acknowledges cumulatively;
// MQTT acknowledges each PUBLISH by its 16-bit packet identifier. The table
// bridges the two: a message added gets a packet identifier (never 0,
// wrapping past 65535, never one still unacknowledged), a PUBACK marks its
// entry, and the cumulative mark acked_through() moves only over a gap-free
// run from the oldest entry, so PUBACKs may arrive in any order (brokers
// should acknowledge in order; the table does not depend on it). Fixed
// capacity, no heap; sequence numbers are implied by position (the entry at
// index i carries acked_through() + 1 + i), so an entry is three bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

namespace uplink {

/// Hands out MQTT packet identifiers: 16-bit, never 0, one more than the
/// last each time (wrapping from 65535 to 1), skipping those still in use.
class PacketIdAllocator {
 public:
  /// The next identifier for which `in_use(id)` is false; 0 when all 65535
  /// are in use. At most 65535 calls of `in_use`.
  template <typename InUse>
  [[nodiscard]] std::uint16_t next(InUse&& in_use) {
    for (std::uint32_t tries = 0; tries < 65535u; ++tries) {
      last_ = static_cast<std::uint16_t>(last_ == 65535u ? 1u : last_ + 1u);
      if (!in_use(last_)) return last_;
    }
    return 0;
  }
  /// The identifier given last; 0 before the first.
  [[nodiscard]] std::uint16_t last() const { return last_; }

 private:
  std::uint16_t last_ = 0;
};

/// One message of the table, as at() reports it.
struct InFlightEntry {
  std::uint64_t seq = 0;        ///< The message's sequence number.
  std::uint16_t packet_id = 0;  ///< The packet identifier its PUBLISH carries.
  bool acked = false;           ///< A PUBACK came for it (out of order: an older one is still open).
};

/// Size-erased table: works on storage owned by InFlightTable<N>.
class InFlightTableBase {
 public:
  /// What add() did.
  struct Added {
    std::error_code error;        ///< Empty on success.
    std::uint16_t packet_id = 0;  ///< The identifier to publish the message with; 0 on error.
  };
  /// What acknowledge() found.
  enum class AckResult : std::uint8_t {
    advanced,      ///< acked_through() moved forward.
    out_of_order,  ///< Recorded; an older message is still unacknowledged.
    unknown,       ///< No unacknowledged message has this identifier (late, duplicate or invented).
  };

  InFlightTableBase(const InFlightTableBase&) = delete;
  InFlightTableBase& operator=(const InFlightTableBase&) = delete;

  /// Records message `seq`, which must be the next one
  /// (acked_through() + size() + 1), and gives it a packet identifier.
  /// Errors: uplink::Errc::queue_full (the table holds window() entries),
  /// uplink::Errc::sequence_error (not the next sequence number).
  [[nodiscard]] Added add(std::uint64_t seq);

  /// Records the PUBACK of `packet_id`, then moves acked_through() over
  /// every acknowledged entry at the front, releasing them.
  AckResult acknowledge(std::uint16_t packet_id);

  /// Every message up to and including this one is acknowledged.
  [[nodiscard]] std::uint64_t acked_through() const { return acked_through_; }
  /// Entries held: unacknowledged ones and those acknowledged out of order behind them.
  [[nodiscard]] std::size_t size() const { return size_; }
  /// Entries still waiting for a PUBACK.
  [[nodiscard]] std::size_t unacknowledged() const { return unacked_; }
  /// Most entries the table can hold (its storage).
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  /// Most entries held at once: capacity() unless set_window() lowered it.
  [[nodiscard]] std::size_t window() const { return window_; }
  /// Holds at most `window` entries at once from now on (1..capacity()), to
  /// stay within a broker's in-flight limit; entries already held stay.
  /// Errors: uplink::Errc::invalid_option (0 or above capacity()).
  std::error_code set_window(std::size_t window);
  /// True when add() would refuse with queue_full.
  [[nodiscard]] bool full() const { return size_ >= window_; }
  /// The entry at `index` (0 = oldest, seq acked_through() + 1); index < size().
  [[nodiscard]] InFlightEntry at(std::size_t index) const;
  /// The packet identifier of message `seq` when the table holds it (sent,
  /// not yet released: acked_through() < seq <= acked_through() + size()); 0
  /// when it does not.
  [[nodiscard]] std::uint16_t packet_id_of(std::uint64_t seq) const;
  /// True when an unacknowledged entry carries `packet_id`.
  [[nodiscard]] bool in_use(std::uint16_t packet_id) const;

  /// Takes an identifier for a packet outside the table (a SUBSCRIBE) from
  /// the same sequence as add()'s, skipping those in use: the entries added
  /// next get later identifiers, and reach this one again only after 65535
  /// more, long after its answer came back (MQTT shares one identifier space
  /// between PUBLISH and SUBSCRIBE).
  [[nodiscard]] std::uint16_t take_spare_id();
  /// Gives every unacknowledged entry a new packet identifier, oldest first:
  /// for a server that forgot the session (CONNACK session present = 0),
  /// where the messages are published again as new ones.
  void renumber();
  /// Forgets every entry; the mark becomes `acked_through`.
  void reset(std::uint64_t acked_through);

 protected:
  /// `storage` (owned by the derived class, outliving this object) holds
  /// `capacity` ids and `capacity` flags.
  InFlightTableBase(std::uint16_t* ids, bool* acked, std::size_t capacity)
      : ids_(ids), acked_(acked), capacity_(capacity), window_(capacity) {}
  ~InFlightTableBase() = default;

 private:
  [[nodiscard]] std::uint16_t fresh_id() { return ids_alloc_.next([this](std::uint16_t id) { return in_use(id); }); }

  std::uint16_t* ids_;
  bool* acked_;
  std::size_t capacity_;
  std::size_t window_;
  std::size_t size_ = 0;
  std::size_t unacked_ = 0;
  std::uint64_t acked_through_ = 0;
  PacketIdAllocator ids_alloc_;
};

/// An in-flight table of up to Capacity messages (the window; brokers bound
/// it: mosquitto and VerneMQ 20, EMQX 32, AWS IoT Core 100, HiveMQ 10).
template <std::size_t Capacity>
class InFlightTable final : public InFlightTableBase {
  static_assert(Capacity >= 1 && Capacity <= 65535, "Capacity must be within 1 .. 65535");

 public:
  InFlightTable() : InFlightTableBase(ids_, acked_, Capacity) {}

 private:
  // No initialisers: add() writes an entry before anything reads it (every
  // reader stays below size()).
  std::uint16_t ids_[Capacity];
  bool acked_[Capacity];
};

}  // namespace uplink
