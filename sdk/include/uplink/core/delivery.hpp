// SPDX-License-Identifier: Apache-2.0
// uplink::Delivery: the delivery ledger of one device, without any I/O and
// without time. What PROTOCOL.md calls the session, the resumable stream of
// numbered messages in both directions, lives here; the connection state
// machine (Link: states, deadlines, heartbeats, backoff, the send buffer)
// drives it and relays what it decides.
//
//   uplink:   accept() numbers and stores a message (mirrored into the
//             spool) -> next_data()/transmitted() as the link writes it ->
//             on_ack() acknowledges, in order; on_welcome() resumes from
//             the server's position or starts the numbering afresh.
//   downlink: on_data() says deliver, duplicate (acknowledge again, never
//             deliver twice) or out of sequence; delivered() records it
//             once the application has had it; ack_due() says when a
//             cumulative ACK is owed.
//   flush:    settled_through() and the drop watches.
//
// Delivery returns verdicts and never calls the application. Per-message
// outcomes (acknowledged ids, dropped ids) are handed to a visitor the
// caller passes, in order, during the call that decided them. A spool that
// fails to record something is not fatal (the RAM store still holds every
// message): the failure is kept for take_spool_failure(), which the link
// asks after each call and logs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/codec/frame.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/core/counters.hpp"
#include "uplink/core/outbound_store.hpp"
#include "uplink/core/spool.hpp"
#include "uplink/error.hpp"
#include "uplink/listener.hpp"
#include "uplink/options.hpp"

namespace uplink {

/// What Delivery::on_welcome() decided.
struct WelcomeVerdict {
  /// Empty: the WELCOME is taken. sequence_error: its numbers contradict
  /// what the device sent or holds (`why` says how); the link refuses it
  /// with CLOSE sequence_error and nothing of it was taken.
  std::error_code error;
  const char* why = "";  ///< With an error: what contradicts, for the log. A static string.
  bool resumed = false;  ///< The server kept the device's session.
  /// After a restart from a spool that does not sync every write, the
  /// server held more than the spool had made durable: the recovered
  /// messages were taken as delivered (the link logs it).
  bool server_ahead_of_spool = false;
};

/// What Delivery::on_data() decided about a downlink DATA.
enum class DownlinkVerdict : std::uint8_t {
  deliver,          ///< The next message: hand it to the application, then delivered().
  duplicate,        ///< Delivered before (a resend after a resume): acknowledge again, never deliver.
  out_of_sequence,  ///< A gap or a jump: a protocol error (CLOSE sequence_error).
};

/// What Delivery::on_ack() decided.
enum class AckVerdict : std::uint8_t {
  advanced,    ///< Messages were acknowledged (the visitor saw their ids).
  repeated,    ///< The same position again: harmless.
  never_sent,  ///< Beyond the highest seq ever transmitted: a protocol error.
  backwards,   ///< Below the last acknowledged seq: a protocol error.
};

/// The delivery ledger of one device (what PROTOCOL.md calls the session):
/// numbering, storage, acknowledgement and resume of uplink messages,
/// in-order once-only downlink, the spool. No I/O and no time; the file
/// comment walks through it. Not thread-safe: its Link serialises every call.
class Delivery {
 public:
  /// Refused resumes in a row after which the device opens a new session.
  static constexpr std::uint32_t kResumeRefusalsBeforeNewSession = 2;
  /// A sequence number (uplink or downlink) from which the next connection
  /// opens a new session instead of resuming, long before 2^64 could wrap.
  static constexpr std::uint64_t kSessionSequenceLimit = std::uint64_t{1} << 62;
  /// How many drop watches can be held at once (Client::flush).
  static constexpr int kMaxDropWatches = 4;

  /// Delivery counts into `counters` (messages_*, downlink_duplicates,
  /// data_frames_sent, session_resets), which the link owns and reports.
  explicit Delivery(Counters& counters) : counters_(counters) {}
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  // ---- the spool ----

  /// Mirrors the store and the session identity into `spool` (opened), and
  /// recovers its messages into the store. A recovered message that no
  /// longer fits the store (the build's store shrank) is dropped: tombstoned
  /// and handed to `on_dropped(id)`, never lost silently. `*recovered`
  /// receives the number of messages recovered into the store.
  template <typename OnDropped>
  [[nodiscard]] std::error_code attach_spool(Spool& spool, std::size_t* recovered, OnDropped&& on_dropped);
  /// The attached spool, or nullptr.
  [[nodiscard]] const Spool* spool() const { return spool_; }
  /// Flushes the spool (at stop), fsyncs it when its policy says it is due.
  void flush_spool();
  /// Syncs the spool if its policy says a sync is due at `now` (see
  /// next_spool_sync()); a failure is kept for take_spool_failure().
  void sync_spool(Millis now);
  /// When sync_spool() must run next, or kNever.
  [[nodiscard]] Millis next_spool_sync() const { return spool_ != nullptr ? spool_->next_sync_due() : kNever; }
  /// The first spool failure since the last call (what was being recorded,
  /// and why): true once per failure.
  [[nodiscard]] bool take_spool_failure(const char*& what, std::error_code& error);

  // ---- uplink ----

  /// Copies `payload` into the store (and first into the spool) as message
  /// `*id`. With FullPolicy::drop_oldest, messages never transmitted make
  /// room, oldest first, each handed to `on_dropped(id)`; messages that may
  /// be at the server already are never dropped. Errors: queue_full,
  /// field_too_long, the spool's error (the message is refused then).
  template <typename OnDropped>
  [[nodiscard]] std::error_code accept(ConstByteSpan payload, FullPolicy policy, std::uint64_t* id,
                                       OnDropped&& on_dropped);
  /// True when a message waits for transmission within `max_in_flight`.
  [[nodiscard]] bool can_transmit(std::uint32_t max_in_flight) const {
    return store_.has_untransmitted() && store_.transmitted() < max_in_flight;
  }
  /// The next DATA to transmit (can_transmit() is true); the payload view is
  /// valid until the store changes.
  [[nodiscard]] Data next_data() const { return Data{store_.next_seq(), store_.next_untransmitted().payload}; }
  /// next_data() was written to the send buffer.
  void transmitted();
  /// Messages transmitted on this connection and not yet acknowledged.
  [[nodiscard]] std::size_t in_flight() const { return store_.transmitted(); }

  /// The server's cumulative ACK: acknowledged ids go to `on_acked(id)`, oldest first.
  template <typename OnAcked>
  [[nodiscard]] AckVerdict on_ack(const Ack& ack, OnAcked&& on_acked);

  // ---- the handshake ----

  /// The session the next HELLO resumes (0: a new one), and its downlink position.
  [[nodiscard]] std::uint64_t session_id() const { return session_id_; }
  /// Highest downlink seq delivered to the application (0: none), sent in HELLO.
  [[nodiscard]] std::uint64_t last_downlink_seq() const { return last_downlink_; }
  /// True when a sequence number of the session reached kSessionSequenceLimit.
  [[nodiscard]] bool at_sequence_limit() const;
  /// Gives up the session: the next HELLO asks for a new one. Returns what
  /// the listener hears (Listener::on_session_reset).
  SessionReset abandon_session(SessionResetCause cause);
  /// The server refused to resume the session (CLOSE sequence_error, or a
  /// WELCOME on_welcome() refused). After kResumeRefusalsBeforeNewSession
  /// in a row the session is abandoned: returns true and fills `*reset`.
  bool resume_refused(SessionReset* reset);
  /// Takes a WELCOME (whose heartbeat the link has checked): resumes, or
  /// numbers the stored messages afresh. Messages the server already holds
  /// are acknowledged (`on_acked(id)`). Refused: see WelcomeVerdict.
  template <typename OnAcked>
  [[nodiscard]] WelcomeVerdict on_welcome(const Welcome& welcome, OnAcked&& on_acked);

  // ---- downlink ----

  /// Judges a downlink DATA against the last one delivered; a message to
  /// deliver (or a duplicate) makes an ACK due.
  [[nodiscard]] DownlinkVerdict on_data(const Data& data);
  /// The application has had the message on_data() said to deliver: it is
  /// recorded (spool) before the ACK that covers it leaves. A crash in
  /// between makes the server resend it with the same seq: delivered again,
  /// never lost.
  void delivered();
  /// True when received DATA awaits a cumulative ACK (ack() then says which).
  [[nodiscard]] bool ack_due() const { return ack_pending_; }
  /// The cumulative ACK owed: the highest downlink seq delivered.
  [[nodiscard]] Ack ack() const { return Ack{last_downlink_}; }
  /// The ACK from ack() was queued for sending.
  void ack_queued() { ack_pending_ = false; }

  // ---- connections ----

  /// A new connection begins: nothing is owed on it yet.
  void connection_started() { ack_pending_ = false; }
  /// The connection ended: what was transmitted and not acknowledged is
  /// unconfirmed and goes again on the next one.
  void connection_ended() { store_.restart(store_.head_seq()); }

  // ---- observation and flush ----

  /// Wire sequence number the next DATA transmitted will carry.
  [[nodiscard]] std::uint64_t next_uplink_seq() const { return store_.next_seq(); }
  /// Highest uplink seq the server acknowledged (0: none).
  [[nodiscard]] std::uint64_t last_acked_seq() const { return last_acked_; }
  /// Messages accepted and not yet acknowledged or dropped.
  [[nodiscard]] std::size_t queued() const { return store_.size(); }
  /// Id of the last message accept() took (0 before the first).
  [[nodiscard]] std::uint64_t last_message_id() const { return next_id_; }
  /// True when no message with an id up to `id` is queued any more.
  [[nodiscard]] bool settled_through(std::uint64_t id) const { return store_.empty() || store_.front_id() > id; }
  /// Starts recording whether a message with an id up to `through_id` is
  /// dropped; returns the watch, or -1 when all kMaxDropWatches are taken.
  [[nodiscard]] int watch_drops(std::uint64_t through_id);
  /// True when a message covered by `watch` was dropped since watch_drops().
  [[nodiscard]] bool watched_drop(int watch) const { return drop_watches_[watch].dropped; }
  /// Releases a watch from watch_drops(); `watch` must be one it returned.
  void unwatch_drops(int watch) { drop_watches_[watch].active = false; }

 private:
  void dropped(std::uint64_t id);
  // Everything up to `seq` is at the server: out of the store and the spool,
  // each id to `on_acked`, oldest first.
  template <typename OnAcked>
  void acknowledge_through(std::uint64_t seq, OnAcked&& on_acked);
  void remove_acknowledged_from_spool(std::size_t removed);
  void persist_state();
  void spool_failed(const char* what, std::error_code error);
  [[nodiscard]] bool recover_one(Spool& spool, std::uint64_t id, ConstByteSpan payload);

  Counters& counters_;
  OutboundStore store_;
  Spool* spool_ = nullptr;
  std::uint64_t session_id_ = 0;
  bool restored_ = false;  // messages came back from the spool: the first WELCOME may be ahead
  std::uint64_t next_id_ = 0;              // id of the last message accepted
  std::uint64_t last_acked_ = 0;           // highest uplink seq acknowledged by the server
  std::uint64_t highest_transmitted_ = 0;  // highest uplink seq ever written in this session
  std::uint64_t last_downlink_ = 0;        // highest downlink seq delivered to the application
  bool ack_pending_ = false;
  std::uint32_t resume_refusals_ = 0;  // resumes of session_id_ refused in a row
  const char* spool_failure_what_ = nullptr;
  std::error_code spool_failure_;

  struct DropWatch {
    std::uint64_t through_id = 0;
    bool active = false;
    bool dropped = false;
  };
  DropWatch drop_watches_[kMaxDropWatches];
};

// ------------------------------------------------------------ templates

template <typename OnDropped>
std::error_code Delivery::attach_spool(Spool& spool, std::size_t* recovered, OnDropped&& on_dropped) {
  if (!spool.is_open()) return Errc::invalid_option;  // open() it over its storage first
  spool_ = &spool;
  const SpoolState& saved = spool.state();
  session_id_ = saved.session_id;
  last_downlink_ = saved.last_downlink_seq;
  next_id_ = saved.next_message_id - 1;
  store_.restart(saved.head_seq);
  const std::error_code error = spool.recover([&](std::uint64_t id, ConstByteSpan payload) {
    if (!recover_one(spool, id, payload)) on_dropped(id);
  });
  if (error) {
    spool_ = nullptr;
    return error;
  }
  // Everything below head_seq was acknowledged, and any stored message may
  // have reached the server before the restart.
  highest_transmitted_ = saved.head_seq - 1 + store_.size();
  restored_ = true;
  last_acked_ = saved.head_seq - 1;
  if (recovered != nullptr) *recovered = store_.size();
  return {};
}

template <typename OnDropped>
std::error_code Delivery::accept(ConstByteSpan payload, FullPolicy policy, std::uint64_t* id,
                                 OnDropped&& on_dropped) {
  if (payload.size > kMaxDataPayload) return Errc::field_too_long;
  if (!store_.has_room(payload.size) && policy == FullPolicy::drop_oldest) {
    // Messages up to the highest seq ever transmitted may already be at the
    // server (sent on this connection or a dropped one): never drop those,
    // or the numbering would shift onto seqs the server already holds.
    const std::uint64_t held =
        highest_transmitted_ >= store_.head_seq() ? highest_transmitted_ - store_.head_seq() + 1 : 0;
    store_.drop_oldest_for_room(payload.size, static_cast<std::size_t>(held), [&](std::uint64_t victim) {
      dropped(victim);
      on_dropped(victim);
    });
  }
  if (!store_.has_room(payload.size)) {
    ++counters_.messages_refused;
    return Errc::queue_full;
  }
  if (spool_ != nullptr) {
    // Durable first (per the spool's sync policy), then in RAM: a message
    // the spool refused is refused to the caller, who keeps it.
    if (const std::error_code error = spool_->append(next_id_ + 1, payload)) {
      ++counters_.messages_refused;
      return error;
    }
  }
  (void)store_.push(next_id_ + 1, payload);  // room checked above
  ++next_id_;
  if (id != nullptr) *id = next_id_;
  ++counters_.messages_sent;
  return {};
}

template <typename OnAcked>
AckVerdict Delivery::on_ack(const Ack& ack, OnAcked&& on_acked) {
  if (ack.seq > highest_transmitted_) return AckVerdict::never_sent;
  if (ack.seq < last_acked_) return AckVerdict::backwards;
  if (ack.seq == last_acked_) return AckVerdict::repeated;
  acknowledge_through(ack.seq, on_acked);
  return AckVerdict::advanced;
}

template <typename OnAcked>
void Delivery::acknowledge_through(std::uint64_t seq, OnAcked&& on_acked) {
  last_acked_ = seq;
  remove_acknowledged_from_spool(store_.acknowledge_through(seq, [&](std::uint64_t id) {
    ++counters_.messages_acked;
    on_acked(id);
  }));
}

template <typename OnAcked>
WelcomeVerdict Delivery::on_welcome(const Welcome& welcome, OnAcked&& on_acked) {
  WelcomeVerdict verdict;
  verdict.resumed = session_id_ != 0 && welcome.session_id == session_id_;
  const std::uint64_t next = welcome.next_uplink_seq;
  // Under SpoolSync::every_write a message is durable before it can be
  // transmitted (accept() appends first), so a server ahead of the recovered
  // messages can only be a broken one: the checks below refuse it.
  if (verdict.resumed && restored_ && next > highest_transmitted_ + 1 && spool_ != nullptr &&
      spool_->options().sync != SpoolSync::every_write) {
    // After a restart from the spool the server can be ahead of what the
    // device kept (messages it received whose record the last sync did not
    // cover): everything still stored was received; numbering continues
    // from the server's position.
    verdict.server_ahead_of_spool = true;
    acknowledge_through(store_.head_seq() + store_.size() - 1, on_acked);
    highest_transmitted_ = next - 1;
  }
  if (verdict.resumed) {
    if (next > highest_transmitted_ + 1) {
      verdict.error = make_error_code(Errc::sequence_error);
      verdict.why = restored_ ? "WELCOME ahead of what the spool made durable"
                              : "WELCOME expects a sequence number never sent";
      return verdict;
    }
    if (next < store_.head_seq()) {
      verdict.error = make_error_code(Errc::sequence_error);
      verdict.why = "WELCOME goes back before acknowledged messages";
      return verdict;
    }
    // The server holds everything below `next`: those are acknowledged now.
    if (next > store_.head_seq()) acknowledge_through(next - 1, on_acked);
  } else {
    // A new session (or the server lost ours): everything still stored is
    // numbered afresh from what it expects, and downlink starts over.
    last_downlink_ = 0;
    highest_transmitted_ = next - 1;
  }
  restored_ = false;
  resume_refusals_ = 0;
  session_id_ = welcome.session_id;
  store_.restart(next);
  last_acked_ = next - 1;
  persist_state();
  return verdict;
}

}  // namespace uplink
