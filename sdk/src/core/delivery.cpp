// SPDX-License-Identifier: Apache-2.0
// The delivery ledger. See delivery.hpp.
#include "uplink/core/delivery.hpp"

namespace uplink {

bool Delivery::take_spool_failure(const char*& what, std::error_code& error) {
  if (spool_failure_what_ == nullptr) return false;
  what = spool_failure_what_;
  error = spool_failure_;
  spool_failure_what_ = nullptr;
  spool_failure_ = {};
  return true;
}

void Delivery::spool_failed(const char* what, std::error_code error) {
  // The RAM store still holds everything: delivery goes on; only the
  // protection against a restart is weakened, which the link reports. The
  // first failure of a call is the one reported.
  if (spool_failure_what_ != nullptr) return;
  spool_failure_what_ = what;
  spool_failure_ = error;
}

void Delivery::flush_spool() {
  if (spool_ == nullptr) return;
  if (const std::error_code error = spool_->flush()) spool_failed("flushing at stop", error);
}

void Delivery::sync_spool(Millis now) {
  if (spool_ == nullptr) return;
  if (const std::error_code error = spool_->maybe_sync(now)) spool_failed("syncing", error);
}

bool Delivery::recover_one(Spool& spool, std::uint64_t id, ConstByteSpan payload) {
  if (!store_.push(id, payload)) return true;
  // Only possible when the build's store shrank since the spool was
  // written: the message is dropped and reported, never silently.
  (void)spool.tombstone(id);
  ++counters_.messages_dropped;
  return false;
}

void Delivery::dropped(std::uint64_t id) {
  // A dropped message must not come back after a restart.
  if (spool_ != nullptr) {
    if (const std::error_code error = spool_->tombstone(id)) spool_failed("recording a drop", error);
  }
  ++counters_.messages_dropped;
  for (DropWatch& watch : drop_watches_) {
    if (watch.active && id <= watch.through_id) watch.dropped = true;
  }
}

int Delivery::watch_drops(std::uint64_t through_id) {
  for (int i = 0; i < kMaxDropWatches; ++i) {
    if (drop_watches_[i].active) continue;
    drop_watches_[i] = DropWatch{through_id, true, false};
    return i;
  }
  return -1;
}

void Delivery::transmitted() {
  const std::uint64_t seq = store_.next_seq();
  if (seq > highest_transmitted_) highest_transmitted_ = seq;
  store_.mark_transmitted();
  ++counters_.data_frames_sent;
}

void Delivery::remove_acknowledged_from_spool(std::size_t removed) {
  if (spool_ == nullptr || removed == 0) return;
  if (const std::error_code error = spool_->remove_front(removed, store_.head_seq())) {
    spool_failed("recording acknowledgements", error);
  }
}

void Delivery::persist_state() {
  if (spool_ == nullptr) return;
  SpoolState state;
  state.session_id = session_id_;
  state.last_downlink_seq = last_downlink_;
  state.next_message_id = next_id_ + 1;
  state.head_seq = store_.head_seq();
  if (const std::error_code error = spool_->save_state(state)) spool_failed("saving the session state", error);
}

bool Delivery::at_sequence_limit() const {
  return session_id_ != 0 && (store_.next_seq() >= kSessionSequenceLimit || last_downlink_ >= kSessionSequenceLimit);
}

SessionReset Delivery::abandon_session(SessionResetCause cause) {
  SessionReset reset;
  reset.abandoned_session_id = session_id_;
  reset.cause = cause;
  // The next HELLO asks for a new session: its WELCOME numbers the stored
  // messages afresh (on_welcome), and downlink starts over.
  session_id_ = 0;
  last_downlink_ = 0;
  restored_ = false;
  resume_refusals_ = 0;
  ++counters_.session_resets;
  persist_state();
  return reset;
}

bool Delivery::resume_refused(SessionReset* reset) {
  if (++resume_refusals_ < kResumeRefusalsBeforeNewSession) return false;
  const SessionReset done = abandon_session(SessionResetCause::resume_refused);
  if (reset != nullptr) *reset = done;
  return true;
}

DownlinkVerdict Delivery::on_data(const Data& data) {
  if (data.seq <= last_downlink_) {
    // Already delivered (a server resending after a resume): acknowledge
    // again so the server can let go, but never deliver twice.
    ++counters_.downlink_duplicates;
    ack_pending_ = true;
    return DownlinkVerdict::duplicate;
  }
  if (data.seq != last_downlink_ + 1) return DownlinkVerdict::out_of_sequence;
  last_downlink_ = data.seq;
  ack_pending_ = true;
  ++counters_.messages_received;
  return DownlinkVerdict::deliver;
}

void Delivery::delivered() { persist_state(); }

}  // namespace uplink
