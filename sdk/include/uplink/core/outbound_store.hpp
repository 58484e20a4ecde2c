// SPDX-License-Identifier: Apache-2.0
// The outbound store: every message the application handed to send(), in
// order, until the server acknowledges it.
//
// Messages are kept back to back in one fixed buffer (no heap). Each has a
// local id (what send() returned) and gets its wire sequence number from its
// position: the oldest message is numbered head_seq(), the next head_seq()+1,
// and so on. Numbering by position is what lets the store resend from any
// point a server names after a reconnect, and lets a dropped message (the
// drop-oldest policy) leave no gap in the sequence the server sees.
//
//   [ acknowledged: gone ][ transmitted, unacknowledged ][ not yet transmitted ]
//                          ^ head_seq()                   ^ head_seq() + transmitted()
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/config_defaults.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink {

/// Every message accepted by send() until the server acknowledges it, in
/// order, in a fixed buffer of kStoreBytes; numbered by position (the file
/// comment has the picture). Not thread-safe: the client's lock guards it.
class OutboundStore {
 public:
  /// Bytes each message costs on top of its payload.
  static constexpr std::size_t kRecordOverhead = 8 + 2;

  /// A message held by the store, as a view into it.
  struct Message {
    std::uint64_t id = 0;   ///< The local id given to push() (what send() returned).
    ConstByteSpan payload;  ///< Valid until the store is modified.
  };

  /// Appends a message. Errors: queue_full (no room in bytes or messages).
  [[nodiscard]] std::error_code push(std::uint64_t id, ConstByteSpan payload);
  /// True when push() of `payload_size` bytes would succeed.
  [[nodiscard]] bool has_room(std::size_t payload_size) const;

  /// Removes the oldest message not yet transmitted on this connection.
  /// Returns false when every message is in flight.
  bool drop_oldest_untransmitted(std::uint64_t& dropped_id) { return drop_after(0, dropped_id); }

  /// Makes room for a `payload_size` message by dropping the oldest
  /// messages that come after the first `keep_front` ones (those the server
  /// may already hold: transmitted on this connection or an earlier one).
  /// Drops nothing unless dropping can make enough room. Calls
  /// `on_dropped(id)` for each. Returns true when there is room afterwards.
  template <typename Fn>
  bool drop_oldest_for_room(std::size_t payload_size, std::size_t keep_front, Fn&& on_dropped) {
    if (has_room(payload_size)) return true;
    if (!droppable_room_suffices(payload_size, keep_front)) return false;
    std::uint64_t id = 0;
    while (!has_room(payload_size) && drop_after(keep_front, id)) on_dropped(id);
    return has_room(payload_size);
  }

  /// The next message to transmit, if any.
  [[nodiscard]] bool has_untransmitted() const { return transmitted_ < count_; }
  /// The oldest message not yet transmitted on this connection; requires has_untransmitted().
  [[nodiscard]] Message next_untransmitted() const;
  /// Wire sequence number of next_untransmitted().
  [[nodiscard]] std::uint64_t next_seq() const { return head_seq_ + transmitted_; }
  /// next_untransmitted() was written to the transmit buffer.
  void mark_transmitted();

  /// The server acknowledged every seq <= `seq`: removes those messages,
  /// calling `on_removed(context, id)` for each, oldest first. Requires
  /// head_seq() <= seq + 1 and seq < next_seq() (the caller checks).
  template <typename Fn>
  std::size_t acknowledge_through(std::uint64_t seq, Fn&& on_removed) {
    std::size_t removed = 0;
    while (count_ > 0 && head_seq_ <= seq) {
      on_removed(front().id);
      pop_front();
      ++removed;
    }
    return removed;
  }

  /// A new connection: nothing is in flight any more; the oldest message
  /// will go out as `head_seq` (the number the server expects next).
  void restart(std::uint64_t head_seq);

  /// Wire sequence number of the oldest message held (of the next one pushed, when empty).
  [[nodiscard]] std::uint64_t head_seq() const { return head_seq_; }
  /// Messages held, transmitted or not.
  [[nodiscard]] std::size_t size() const { return count_; }
  /// Messages at the front transmitted on this connection, not yet acknowledged.
  [[nodiscard]] std::size_t transmitted() const { return transmitted_; }
  /// Bytes of kStoreBytes taken by the messages, kRecordOverhead each included.
  [[nodiscard]] std::size_t bytes_used() const { return used_; }
  /// True when no message is held.
  [[nodiscard]] bool empty() const { return count_ == 0; }
  /// Times the records were moved back to one run from offset 0 (room
  /// that was there but fragmented, and drops). A steady flow through a
  /// full store moves none: acknowledged messages leave without a copy.
  [[nodiscard]] std::size_t relocations() const { return relocations_; }
  /// Id of the oldest message held; requires !empty().
  [[nodiscard]] std::uint64_t front_id() const { return front().id; }

 private:
  [[nodiscard]] Message front() const { return message_at(0); }
  [[nodiscard]] Message message_at(std::size_t offset) const;
  [[nodiscard]] std::size_t record_size_at(std::size_t offset) const;
  void pop_front();
  [[nodiscard]] bool wrapped() const { return wrap_at_ != 0; }
  /// Where the record at logical offset `logical` starts in bytes_.
  [[nodiscard]] std::size_t physical(std::size_t logical) const;
  /// Moves the records to one run from offset 0 (fragmented room, drops).
  void normalize();
  [[nodiscard]] std::size_t offset_of(std::size_t index) const;
  [[nodiscard]] bool droppable_room_suffices(std::size_t payload_size, std::size_t keep_front) const;
  bool drop_after(std::size_t keep_front, std::uint64_t& dropped_id);

  std::uint8_t bytes_[kStoreBytes] = {};
  std::size_t start_ = 0;            // offset of the oldest record
  std::size_t used_ = 0;             // bytes of records (padding excluded)
  std::size_t wrap_at_ = 0;          // wrapped: end of the older part; 0 when not wrapped
  std::size_t relocations_ = 0;
  std::size_t count_ = 0;            // messages held
  std::size_t transmitted_ = 0;      // messages at the front sent on this connection
  std::size_t transmitted_end_ = 0;  // byte offset of the first untransmitted record
  std::uint64_t head_seq_ = 1;
};

}  // namespace uplink
