// SPDX-License-Identifier: Apache-2.0
// Keep-alive decisions. The order in poll() is the order of severity: a
// stalled write or a silent server ends the connection even when a PING or
// the idle timeout would also be due.
#include "uplink/core/keep_alive.hpp"

namespace uplink {
namespace {
Millis earliest(Millis a, Millis b) { return a < b ? a : b; }
}  // namespace

void KeepAlive::start(const KeepAliveTimings& timings, Millis now) {
  timings_ = timings;
  last_rx_ = last_tx_ = last_business_ = now;
  probe_deadline_ = kNever;
  writing_ = false;
  ping_outstanding_ = false;
}

void KeepAlive::on_frame_received(Millis now, bool business) {
  last_rx_ = now;
  probe_deadline_ = kNever;
  if (business) last_business_ = now;
}

std::int64_t KeepAlive::on_pong(Millis now) {
  last_rx_ = now;
  probe_deadline_ = kNever;
  if (!ping_outstanding_) return -1;
  ping_outstanding_ = false;
  return static_cast<std::int64_t>(now - ping_sent_);
}

void KeepAlive::on_write_started(Millis now) {
  writing_ = true;
  write_started_ = now;
}

void KeepAlive::on_write_completed(Millis now) {
  writing_ = false;
  last_tx_ = now;
}

void KeepAlive::on_business_sent(Millis now) { last_business_ = now; }

void KeepAlive::on_ping_sent(Millis now) {
  ping_outstanding_ = true;
  ping_sent_ = now;
}

bool KeepAlive::start_probe(Millis now, std::uint32_t probe_timeout_ms) {
  const Millis deadline = now + probe_timeout_ms;
  if (deadline < probe_deadline_) probe_deadline_ = deadline;
  return !ping_outstanding_;
}

KeepAliveVerdict KeepAlive::poll(Millis now, bool tx_idle) const {
  if (writing_ && now >= write_started_ + timings_.write_timeout_ms) return KeepAliveVerdict::write_timeout;
  if (now >= last_rx_ + timings_.read_timeout_ms) return KeepAliveVerdict::server_silent;
  if (now >= probe_deadline_) return KeepAliveVerdict::probe_failed;
  if (timings_.idle_timeout_ms != 0 && now >= last_business_ + timings_.idle_timeout_ms) {
    return KeepAliveVerdict::idle_timeout;
  }
  if (tx_idle && !ping_outstanding_) {
    const Millis ping_due = earliest(last_tx_, last_rx_) + timings_.heartbeat_ms;
    if (now >= ping_due) return KeepAliveVerdict::send_ping;
  }
  return KeepAliveVerdict::none;
}

Millis KeepAlive::next_deadline(bool tx_idle) const {
  Millis next = earliest(last_rx_ + timings_.read_timeout_ms, probe_deadline_);
  if (writing_) next = earliest(next, write_started_ + timings_.write_timeout_ms);
  if (timings_.idle_timeout_ms != 0) next = earliest(next, last_business_ + timings_.idle_timeout_ms);
  // While a write is pending the PING is not worth sending; the write's
  // completion is an event of its own, after which this is asked again.
  if (tx_idle && !ping_outstanding_) next = earliest(next, earliest(last_tx_, last_rx_) + timings_.heartbeat_ms);
  return next;
}

}  // namespace uplink
