// SPDX-License-Identifier: Apache-2.0
// The connection state machine. See the diagram in link.hpp.
//
// Rules that are easy to get wrong and why they are here:
//  - One deadline covers resolve + connect + transport handshake + WELCOME,
//    as one logical operation (Beast's basic_stream idea).
//  - The backoff attempt counter resets only after a connection has been
//    online for stable_after_ms, never on a mere TCP connect: a server that
//    accepts and drops cannot cause a tight loop (nats.c does the same).
//  - Every connection end goes through end_transport(): the transport is
//    closed once and the generation moves on, so late completions are ignored.
#include "uplink/core/link.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace uplink {
namespace {

bool is_business(FrameType type) { return type == FrameType::data || type == FrameType::ack; }

std::size_t reason_slot(std::error_code reason) {
  if (reason.category() != error_category()) return 0;
  const auto value = static_cast<std::size_t>(reason.value());
  return value < kReasonSlots ? value : 0;
}

const char* reason_text(std::error_code reason) {
  if (reason.category() == error_category()) return errc_name(static_cast<Errc>(reason.value()));
  return "socket_error";
}

// Scales the read timeout by the ratio the server applied to the heartbeat,
// so the silence bound keeps its margin over the interval actually used.
std::uint32_t scaled_read_timeout(const Options& o, std::uint32_t accepted_heartbeat) {
  const std::uint64_t scaled =
      static_cast<std::uint64_t>(o.read_timeout_ms) * accepted_heartbeat / o.heartbeat_interval_ms;
  if (scaled <= accepted_heartbeat) return accepted_heartbeat + 1;
  return scaled > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<std::uint32_t>(scaled);
}

}  // namespace

const char* client_state_name(ClientState state) noexcept {
  switch (state) {
    case ClientState::idle: return "idle";
    case ClientState::connecting: return "connecting";
    case ClientState::handshaking: return "handshaking";
    case ClientState::online: return "online";
    case ClientState::backing_off: return "backing_off";
    case ClientState::stopped: return "stopped";
  }
  return "unknown";
}

Link::Link(LinkIo& io, Listener& listener, RandomSource& random)
    : io_(io), listener_(listener), random_(random) {}

// ---------------------------------------------------------------- requests

std::error_code Link::attach_spool(Spool& spool) {
  if (state_ != ClientState::idle) return Errc::already_running;
  std::size_t recovered = 0;
  std::size_t surplus = 0;
  const std::error_code error = delivery_.attach_spool(spool, &recovered, [&](std::uint64_t id) {
    ++surplus;
    listener_.on_dropped(id, make_error_code(Errc::queue_full));
  });
  if (error) return error;
  log(LogLevel::info, "spool: %u messages recovered (%u dropped: store too small), session %llu",
      static_cast<unsigned>(recovered), static_cast<unsigned>(surplus),
      static_cast<unsigned long long>(delivery_.session_id()));
  const SpoolDamage& damage = spool.damage();
  if (damage.header_slot_damaged) {
    log(LogLevel::warning, "spool: one header slot is unreadable (a header write torn by a power cut, or damage); "
                           "the other one was used");
  }
  if (damage.lost_messages()) {
    counters_.spool_messages_lost += damage.messages_lost;
    log(LogLevel::error,
        "spool: %llu messages lost to damage (%s) in %u damaged stretches; the messages after them were recovered",
        static_cast<unsigned long long>(damage.messages_lost), damage.estimated ? "at least, estimated" : "exact",
        static_cast<unsigned>(damage.damaged_stretches));
    listener_.on_spool_damaged(damage);
    // The messages after the damage moved up in the store: under their old
    // sequence numbers the server would take some for others. A new session
    // numbers them afresh (some may arrive twice, none is lost).
    if (delivery_.session_id() != 0) report_session_reset(delivery_.abandon_session(SessionResetCause::spool_damaged));
  }
  return {};
}

void Link::report_spool_failure() {
  const char* what = nullptr;
  std::error_code error;
  if (!delivery_.take_spool_failure(what, error)) return;
  // The RAM store still holds everything: delivery goes on; only the
  // protection against a restart is weakened, which the application hears.
  log(LogLevel::error, "spool: %s failed (%s, %d); messages are kept in RAM only until this is fixed", what,
      error.category().name(), error.value());
}

OptionsCheck Link::start(const Options& options, Millis now) {
  if (state_ != ClientState::idle && state_ != ClientState::stopped) {
    return {make_error_code(Errc::already_running), "", "start() called while running"};
  }
  const OptionsCheck check = validate(options);
  if (!check) return check;
  options_ = options;
  profile_ = &profiles_.select(options_.protocol);
  if (const OptionsCheck fits = profile_->configure(options_); !fits) return fits;
  backoff_ = Backoff(options_.backoff);
  // What the last run learned stays in the book; set_network() resumes it.
  remember_heartbeat();
  network_key_[0] = '\0';
  if (options_.adaptive_heartbeat.enabled) learner_.reset(options_.heartbeat_learner_policy());
  idle_probe_ms_ = 0;
  begin_round(now);
  return {};
}

void Link::stop(Millis now) {
  if (closing_.active) finish_closing(now);  // the protocol error first, then the stop
  switch (state_) {
    case ClientState::stopped:
      return;
    case ClientState::online:
      go_offline(now, make_error_code(Errc::stopped), nullptr);
      break;
    case ClientState::connecting:
    case ClientState::handshaking:
      end_transport({});
      break;
    case ClientState::idle:
    case ClientState::backing_off:
      break;
  }
  delivery_.flush_spool();
  report_spool_failure();
  enter(ClientState::stopped, now, make_error_code(Errc::stopped));
}

std::error_code Link::send(ConstByteSpan payload, Millis now, std::uint64_t* id) {
  if (payload.size > profile_->max_payload()) return Errc::field_too_long;
  const std::error_code error = delivery_.accept(payload, options_.when_full, id, [this](std::uint64_t dropped) {
    listener_.on_dropped(dropped, make_error_code(Errc::queue_full));
  });
  report_spool_failure();
  if (error) return error;
  if (state_ == ClientState::online) transmit_from_store(now);
  return {};
}

void Link::restore_heartbeat(const HeartbeatMemory& known) {
  if (!options_.adaptive_heartbeat.enabled) return;
  learner_.on_network_changed(&known);
  idle_probe_ms_ = 0;
  log(LogLevel::info, "adaptive heartbeat: resuming from what this network taught before: %u ms%s",
      static_cast<unsigned>(learner_.confirmed()), learner_.phase() == HeartbeatPhase::settled ? " (settled)" : "");
  refresh_heartbeat();
}

void Link::transmit_from_store(Millis now) {
  while (state_ == ClientState::online && !closing_.active && delivery_.can_transmit(options_.in_flight_window())) {
    const Data data = delivery_.next_data();
    if (!profile_->can_transmit(data.seq)) break;  // the wire's own window (MQTT packet ids) is full
    const std::size_t room = kTxBufferSize - tx_size_;
    // Application data leaves room for control frames: a buffer full of
    // DATA must never hold back a PONG or a PING.
    if (profile_->data_size(data) + kTxControlReserve > room) break;
    const EncodeResult r = profile_->encode_data(data, ByteSpan{tx_ + tx_size_, room});
    if (r.error) break;  // cannot happen: size checked, payload bounded by send()
    tx_size_ += r.size;
    if (delivery_.in_flight() == 0) ack_wait_since_ = now;  // the first in flight starts the ack deadline
    delivery_.transmitted();
    ++counters_.frames_sent;
    keep_alive_.on_business_sent(now);
  }
  refresh_heartbeat();
}

void Link::refresh_heartbeat() {
  // The interval is picked while no PING is out; a trial (an interval
  // longer than the confirmed one) only while no message is queued or in
  // flight, so a trial that kills the link strands no message.
  if (!options_.adaptive_heartbeat.enabled || state_ != ClientState::online || keep_alive_.ping_outstanding()) return;
  keep_alive_.set_heartbeat(learner_.interval(delivery_.queued() == 0));
}

void Link::heartbeat_outcome(bool survived, std::error_code reason) {
  const std::uint32_t tried = idle_probe_ms_;
  idle_probe_ms_ = 0;
  const bool was_settled = learner_.phase() == HeartbeatPhase::settled;
  const std::uint32_t before = learner_.confirmed();
  if (survived) {
    const bool trial = tried > before;
    learner_.on_idle_survived();
    if (trial && learner_.phase() != HeartbeatPhase::settled) {
      log(LogLevel::info, "adaptive heartbeat: an idle period of %u ms survived; next trial %u ms",
          static_cast<unsigned>(tried), static_cast<unsigned>(learner_.interval(true)));
    }
  } else if (reason == Errc::server_silent || reason == Errc::probe_failed || reason == Errc::write_timeout) {
    const bool trial = learner_.on_idle_failed();
    log(LogLevel::warning, "adaptive heartbeat: an idle period of %u ms lost the link (%s); now %u ms",
        static_cast<unsigned>(tried), trial ? "a trial" : "the confirmed interval: the path's timeout shortened",
        static_cast<unsigned>(learner_.confirmed()));
  } else {
    learner_.on_connection_ended();  // a CLOSE, a stop: nothing learned about the path
  }
  if (learner_.phase() == HeartbeatPhase::settled && (!was_settled || learner_.confirmed() != before)) {
    log(LogLevel::info, "adaptive heartbeat: settled at %u ms (%u link losses in this search)",
        static_cast<unsigned>(learner_.confirmed()), static_cast<unsigned>(learner_.losses()));
  }
  remember_heartbeat();
}

void Link::set_network(const char* key) {
  if (key == nullptr) key = "";
  // The same network as before: a spurious event (the monitor may report
  // those), nothing learned is thrown away.
  if (key[0] != '\0' && std::strncmp(key, network_key_, sizeof network_key_ - 1) == 0) return;
  remember_heartbeat();
  std::snprintf(network_key_, sizeof network_key_, "%s", key);
  if (!options_.adaptive_heartbeat.enabled) return;
  // Another network, another path: what was learned there before, if
  // anything, else a new search.
  const HeartbeatMemory* known = book_.find(network_key_);
  learner_.on_network_changed(known);
  idle_probe_ms_ = 0;
  log(LogLevel::info, "adaptive heartbeat: network '%s': %s %u ms", network_key_[0] != '\0' ? network_key_ : "unknown",
      known == nullptr                                  ? "learning from"
      : learner_.phase() == HeartbeatPhase::settled ? "settled before at"
                                                    : "resuming the search at",
      static_cast<unsigned>(learner_.confirmed()));
  refresh_heartbeat();
}

void Link::remember_heartbeat() {
  if (options_.adaptive_heartbeat.enabled && network_key_[0] != '\0') book_.put(network_key_, learner_.memory());
}

void Link::on_network_change(Millis now, const char* network_key) {
  if (options_.adaptive_heartbeat.enabled && state_ != ClientState::idle && state_ != ClientState::stopped) {
    set_network(network_key);
  }
  if (state_ == ClientState::backing_off) {
    log(LogLevel::info, "network changed: reconnecting now instead of after the backoff");
    begin_round(now);
    return;
  }
  if (state_ != ClientState::online || closing_.active) return;
  log(LogLevel::info, "network changed: probing the link");
  if (keep_alive_.start_probe(now, options_.probe_timeout_ms) && queue_ping()) {
    keep_alive_.on_ping_sent(now);
    ++counters_.heartbeats_sent;
  }
}

// -------------------------------------------------------- transport events

void Link::on_transport_open(Millis now, Generation generation) {
  if (generation != generation_ || state_ != ClientState::connecting) return;
  enter(ClientState::handshaking, now);
  queue_hello(now);
}

void Link::on_transport_failed(Millis now, Generation generation, std::error_code reason, std::error_code cause) {
  if (generation != generation_ || state_ != ClientState::connecting) return;
  attempt_failed(now, reason, nullptr, cause);
}

std::size_t Link::on_received(Millis now, Generation generation, ConstByteSpan bytes) {
  if (message_pending_) message_delivered();
  if (generation != generation_ || !transport_active_ || closing_.active) return bytes.size;
  const std::size_t given = bytes.size;
  // A frame may end this connection (a new generation) or start closing it:
  // nothing after it in this read counts.
  while (!bytes.empty() && generation == generation_ && !closing_.active) {
    // A wire that acknowledges each message keeps a bounded record of those
    // owed: before it fills, they go without waiting for the read's end.
    if (delivery_.ack_due() && profile_->downlink_ack_urgent()) queue_downlink_ack(now);
    const ProfileFeed r = profile_->feed(bytes);
    counters_.bytes_received += r.consumed;
    bytes = bytes.subspan(r.consumed);
    if (r.status == DecodeStatus::error) {
      const std::error_code ec = r.error;
      CloseReason close_reason = CloseReason::protocol_error;
      if (ec == Errc::frame_too_large) close_reason = CloseReason::frame_too_large;
      if (ec == Errc::unsupported_version) close_reason = CloseReason::unsupported_version;
      protocol_failure(now, ec, close_reason, r.error_text);
      return given;
    }
    if (r.status == DecodeStatus::frame_ready) {
      ++counters_.frames_received;
      handle_frame(now, *r.frame);
      if (message_pending_) return given - bytes.size;
    }
  }
  // Acknowledge everything this read delivered with one cumulative ACK:
  // batched per read, so promptly but without one ACK per message.
  if (generation == generation_) queue_downlink_ack(now);
  return given;
}

void Link::queue_downlink_ack(Millis now) {
  if (!delivery_.ack_due() || state_ != ClientState::online || closing_.active) return;
  // Room for the largest acknowledgement a profile writes at once.
  std::uint8_t ack[WireProfiles::kMaxDownlinkAck];
  const EncodeResult r = profile_->encode_downlink_ack(delivery_.ack(), ByteSpan{ack, sizeof ack});
  // Without room now, the ACK stays pending and goes with the next read.
  if (!r.error && queue_frame_bytes(ConstByteSpan{ack, r.size}, true)) {
    delivery_.ack_queued();
    keep_alive_.on_business_sent(now);
  }
}

void Link::message_delivered() {
  if (!message_pending_) return;
  message_pending_ = false;
  // Recorded only once the application has had it, and before the ACK
  // leaves: a crash in between makes the server resend it with the same
  // seq (delivered again, never lost; the application keys on seq if it
  // must not act twice). Recording first would lose it instead.
  delivery_.delivered();
  report_spool_failure();
}

void Link::on_write_complete(Millis now, Generation generation, std::size_t written) {
  if (generation != generation_ || tx_in_flight_ == 0) return;
  if (written > tx_in_flight_) written = tx_in_flight_;
  counters_.bytes_sent += written;
  std::memmove(tx_, tx_ + written, tx_size_ - written);
  tx_size_ -= written;
  if (written < tx_in_flight_) tx_mid_frame_ = true;
  if (tx_size_ == 0) tx_mid_frame_ = false;
  tx_in_flight_ = 0;
  keep_alive_.on_write_completed(now);
  if (closing_.active) {
    finish_closing(now);
    return;
  }
  transmit_from_store(now);  // room freed: more messages may go
}

void Link::on_transport_error(Millis now, Generation generation, std::error_code reason) {
  if (generation != generation_ || !transport_active_) return;
  if (closing_.active) {
    finish_closing(now);  // the protocol error is the reason; no CLOSE follows a failed write
    return;
  }
  if (state_ == ClientState::online) {
    // The shell gives the kernel the write deadline too (TCP_USER_TIMEOUT =
    // write_timeout_ms, port/socket_tuning.hpp): when the kernel gives up on
    // unacknowledged data first, ETIMEDOUT is this link's write timeout, and
    // is reported as such rather than as "Connection timed out".
    if (reason == std::errc::timed_out) reason = make_error_code(Errc::write_timeout);
    go_offline(now, reason, nullptr);
  } else {
    attempt_failed(now, reason);
  }
}

void Link::on_timer(Millis now) {
  delivery_.sync_spool(now);
  report_spool_failure();
  if (closing_.active) {
    if (now >= closing_.deadline) finish_closing(now);
    return;
  }
  switch (state_) {
    case ClientState::connecting:
    case ClientState::handshaking:
      if (now >= attempt_deadline_) {
        attempt_failed(now, state_ == ClientState::connecting ? io_.connect_timeout_reason()
                                                               : make_error_code(Errc::handshake_timeout));
      }
      return;
    case ClientState::backing_off:
      if (now >= backoff_until_) begin_round(now);
      return;
    case ClientState::online:
      break;
    case ClientState::idle:
    case ClientState::stopped:
      return;
  }

  if (!stable_ && now >= online_since_ + options_.stable_after_ms) {
    stable_ = true;
    backoff_.reset();
  }
  refresh_heartbeat();
  const bool tx_idle = tx_size_ == 0;
  const KeepAliveVerdict verdict = keep_alive_.poll(now, tx_idle);
  // A dead link is reported as such first (the keep-alive verdicts below);
  // a link that lives while the acknowledgements stop is a stuck server.
  if ((verdict == KeepAliveVerdict::none || verdict == KeepAliveVerdict::send_ping) && ack_deadline() <= now) {
    log(LogLevel::warning, "no acknowledgement for %u ms with %u messages in flight: the server is stuck",
        static_cast<unsigned>(ack_timeout_ms_), static_cast<unsigned>(delivery_.in_flight()));
    go_offline(now, make_error_code(Errc::ack_timeout), nullptr);
    return;
  }
  switch (verdict) {
    case KeepAliveVerdict::none:
      return;
    case KeepAliveVerdict::send_ping:
      if (queue_ping()) {
        keep_alive_.on_ping_sent(now);
        ++counters_.heartbeats_sent;
        if (options_.adaptive_heartbeat.enabled) {
          if (idle_probe_ms_ == 0) {
            // The PING ends an idle period of the learned interval.
            start_idle_probe(now, keep_alive_.timings().heartbeat_ms);
          } else {
            // DATA already ended the idle period (its ACK is awaited): this
            // read-idle PING only hurries the verdict on that period.
            (void)keep_alive_.start_probe(now, options_.probe_timeout_ms);
          }
        }
      }
      return;
    case KeepAliveVerdict::write_timeout:
      go_offline(now, make_error_code(Errc::write_timeout), nullptr);
      return;
    case KeepAliveVerdict::server_silent:
      go_offline(now, make_error_code(Errc::server_silent), nullptr);
      return;
    case KeepAliveVerdict::probe_failed:
      go_offline(now, make_error_code(Errc::probe_failed), nullptr);
      return;
    case KeepAliveVerdict::idle_timeout:
      go_offline(now, make_error_code(Errc::idle_timeout), nullptr);
      return;
  }
}

// ------------------------------------------------------ shell's questions

ConstByteSpan Link::pending_write() const {
  if (!transport_active_ || tx_in_flight_ != 0 || state_ == ClientState::connecting) return {};
  return {tx_, tx_size_};
}

void Link::on_write_started(Millis now) {
  tx_in_flight_ = tx_size_;
  // DATA that ends an idle period longer than the confirmed interval (a
  // message sent while a trial ran) tests the path as the trial's PING
  // would have: its answer, or the link's death, is the trial's outcome,
  // for an idle period of the length it really had.
  if (options_.adaptive_heartbeat.enabled && state_ == ClientState::online && idle_probe_ms_ == 0 &&
      !keep_alive_.ping_outstanding()) {
    const Millis idle = now - keep_alive_.last_activity();
    if (idle > learner_.confirmed()) start_idle_probe(now, idle > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<std::uint32_t>(idle));
  }
  keep_alive_.on_write_started(now);
}

void Link::start_idle_probe(Millis now, std::uint32_t idle_ms) {
  // Answered within the probe timeout, or the link is dead: a mapping the
  // path dropped is found then, not after the full read timeout.
  idle_probe_ms_ = idle_ms;
  learner_.on_ping_sent(idle_ms);
  (void)keep_alive_.start_probe(now, options_.probe_timeout_ms);
}

Millis Link::next_wakeup() const {
  const Millis session_wakeup = next_session_wakeup();
  const Millis spool_sync = delivery_.next_spool_sync();
  return spool_sync < session_wakeup ? spool_sync : session_wakeup;
}

Millis Link::ack_deadline() const {
  if (ack_wait_since_ == kNever || delivery_.in_flight() == 0) return kNever;
  return ack_wait_since_ + ack_timeout_ms_;
}

Millis Link::next_session_wakeup() const {
  if (closing_.active) return closing_.deadline;
  switch (state_) {
    case ClientState::connecting:
    case ClientState::handshaking:
      return attempt_deadline_;
    case ClientState::backing_off:
      return backoff_until_;
    case ClientState::online: {
      Millis next = keep_alive_.next_deadline(tx_size_ == 0);
      if (ack_deadline() < next) next = ack_deadline();
      if (!stable_) {
        const Millis stable_at = online_since_ + options_.stable_after_ms;
        if (stable_at < next) next = stable_at;
      }
      return next;
    }
    case ClientState::idle:
    case ClientState::stopped:
      return kNever;
  }
  return kNever;
}

// ------------------------------------------------------------ transitions

void Link::begin_round(Millis now) {
  endpoint_index_ = 0;
  retry_after_hint_ms_ = 0;
  begin_attempt(now);
}

void Link::begin_attempt(Millis now) {
  ++generation_;
  transport_active_ = true;
  tx_size_ = 0;
  tx_in_flight_ = 0;
  tx_mid_frame_ = false;
  delivery_.connection_started();
  // A PING of the previous connection can never be answered on this one.
  keep_alive_.start(keep_alive_.timings(), now);
  attempt_deadline_ = now + options_.connect_timeout_ms;
  ++counters_.connect_attempts;
  enter(ClientState::connecting, now);
  io_.open_transport(endpoint_index_, options_.endpoints[endpoint_index_]);
}

void Link::attempt_failed(Millis now, std::error_code reason, const Close* server_close, std::error_code cause) {
  end_transport({});
  ++counters_.connect_failures;
  ConnectFailure failure;
  failure.endpoint_index = endpoint_index_;
  failure.reason = reason;
  if (server_close != nullptr) {
    failure.server_reason = server_close->reason;
    failure.retry_after_ms = server_close->retry_after_ms;
  }
  failure.cause = cause;
  const Endpoint& endpoint = options_.endpoints[endpoint_index_];
  if (cause) {
    // The cause by category and number: its text would need a std::string.
    log(LogLevel::warning, "connect to endpoint %u (%s:%u) failed: %s (%s %d)", static_cast<unsigned>(endpoint_index_),
        endpoint.host, static_cast<unsigned>(endpoint.port), reason_text(reason), cause.category().name(),
        cause.value());
  } else {
    log(LogLevel::warning, "connect to endpoint %u (%s:%u) failed: %s", static_cast<unsigned>(endpoint_index_),
        endpoint.host, static_cast<unsigned>(endpoint.port), reason_text(reason));
  }
  listener_.on_connect_failed(failure);
  if (state_ == ClientState::stopped) return;  // the listener stopped us
  ++endpoint_index_;
  if (endpoint_index_ < options_.endpoint_count) {
    begin_attempt(now);  // failover: the next endpoint before any backoff
  } else {
    back_off(now);
  }
}

void Link::go_offline(Millis now, std::error_code reason, const Close* server_close, ConstByteSpan farewell) {
  DisconnectInfo info;
  info.reason = reason;
  info.since_last_rx_ms = now - keep_alive_.last_rx();
  info.online_ms = now - online_since_;
  if (idle_probe_ms_ != 0) heartbeat_outcome(false, reason);
  if (server_close != nullptr) {
    info.closed_by_server = true;
    info.server_reason = server_close->reason;
    info.retry_after_ms = server_close->retry_after_ms;
    retry_after_hint_ms_ = server_close->retry_after_ms;
  }

  // Say why when the link may still carry it; a dead link just drops it.
  if (farewell.empty() && server_close == nullptr) {
    if (reason == Errc::stopped) {
      farewell = make_farewell(CloseReason::normal, "stopped");
    } else if (reason == Errc::idle_timeout) {
      farewell = make_farewell(CloseReason::idle_timeout, "idle");
    } else if (reason == Errc::server_silent) {
      farewell = make_farewell(CloseReason::silent, "server silent");
    } else if (reason == Errc::probe_failed) {
      farewell = make_farewell(CloseReason::silent, "probe unanswered");
    } else if (reason == Errc::ack_timeout) {
      farewell = make_farewell(CloseReason::protocol_error, "no acknowledgement");
    }
  }
  end_transport(farewell);

  ++counters_.disconnects;
  ++counters_.disconnects_by_reason[reason_slot(reason)];
  log(LogLevel::warning, "offline: %s after %llu ms online, %llu ms since last frame", reason_text(reason),
      static_cast<unsigned long long>(info.online_ms), static_cast<unsigned long long>(info.since_last_rx_ms));
  // The stability rule is checked here as well as on the timer: a drop
  // handled before a (late) timer wake-up must not lose the reset.
  if (!stable_ && now >= online_since_ + options_.stable_after_ms) {
    stable_ = true;
    backoff_.reset();
  }
  listener_.on_disconnected(info);
  if (reason == Errc::stopped || state_ == ClientState::stopped) return;
  // Keep the hint across the round: back_off() resets the endpoint index.
  const std::uint32_t hint = retry_after_hint_ms_;
  back_off(now);
  retry_after_hint_ms_ = hint;
}

void Link::back_off(Millis now) {
  std::uint32_t delay = 0;
  if (!backoff_.next(random_.next_u32(), delay)) {
    log(LogLevel::error, "giving up after %u reconnect attempts", static_cast<unsigned>(backoff_.attempts()));
    enter(ClientState::stopped, now, make_error_code(Errc::retries_exhausted));
    return;
  }
  // A server that asked for a pause (CLOSE retry-after) gets it, within the
  // device's cap, plus the jittered delay: a restarting server that closed
  // every device with the same hint must not see them all return at once.
  if (retry_after_hint_ms_ != 0) {
    std::uint32_t pause = retry_after_hint_ms_;
    if (pause > options_.max_retry_after_ms) {
      log(LogLevel::warning, "server asked for a pause of %u ms; capped at %u ms (max_retry_after_ms)",
          static_cast<unsigned>(pause), static_cast<unsigned>(options_.max_retry_after_ms));
      pause = options_.max_retry_after_ms;
    }
    delay = pause > 0xFFFFFFFFu - delay ? 0xFFFFFFFFu : pause + delay;
  }
  retry_after_hint_ms_ = 0;
  backoff_until_ = now + delay;
  StateChange change;
  change.state = ClientState::backing_off;
  change.backoff_delay_ms = delay;
  change.attempt = backoff_.attempts();
  state_ = ClientState::backing_off;
  log(LogLevel::info, "backing off %u ms (attempt %u)", static_cast<unsigned>(delay),
      static_cast<unsigned>(change.attempt));
  listener_.on_state(change);
}

void Link::enter(ClientState state, Millis now, std::error_code reason) {
  (void)now;
  state_ = state;
  StateChange change;
  change.state = state;
  change.endpoint_index = endpoint_index_;
  change.reason = reason;
  listener_.on_state(change);
}

void Link::end_transport(ConstByteSpan farewell) {
  if (!transport_active_) return;
  transport_active_ = false;
  // Bytes mid-write, or a frame only partly written, must not be followed by
  // a farewell: the peer would read a corrupt stream. The CLOSE is skipped.
  if (tx_in_flight_ != 0 || tx_mid_frame_) farewell = {};
  io_.close_transport(farewell);
  ++generation_;
  // Whatever was in flight is unconfirmed: it goes again on the next connection.
  delivery_.connection_ended();
  tx_size_ = 0;
  tx_in_flight_ = 0;
  tx_mid_frame_ = false;
}

ConstByteSpan Link::make_farewell(CloseReason reason, const char* text) {
  const EncodeResult r = profile_->encode_farewell(reason, text, ByteSpan{farewell_, sizeof farewell_});
  return r.error ? ConstByteSpan{} : ConstByteSpan{farewell_, r.size};
}

// --------------------------------------------------------------- frames

void Link::handle_frame(Millis now, const Frame& frame) {
  // Any frame after the idle period's first write shows the path kept the
  // connection through it.
  if (idle_probe_ms_ != 0) heartbeat_outcome(true, {});
  if (frame.type == FrameType::pong) {
    const std::int64_t rtt = keep_alive_.on_pong(now);
    if (rtt >= 0) {
      counters_.last_rtt_ms = static_cast<std::uint32_t>(rtt);
      listener_.on_heartbeat(counters_.last_rtt_ms);
    }
    refresh_heartbeat();
    return;
  }
  keep_alive_.on_frame_received(now, is_business(frame.type));

  switch (frame.type) {
    case FrameType::ping: {
      std::uint8_t pong[kControlFrameSize];
      const EncodeResult r = profile_->encode_pong(ByteSpan{pong, sizeof pong});
      if (!r.error && queue_frame_bytes(ConstByteSpan{pong, r.size}, true)) ++counters_.heartbeats_answered;
      return;
    }
    case FrameType::welcome:
      if (state_ != ClientState::handshaking) {
        protocol_failure(now, make_error_code(Errc::protocol_error), CloseReason::protocol_error,
                         "unexpected WELCOME");
        return;
      }
      handle_welcome(now, frame.welcome);
      return;
    case FrameType::close:
      log_server_close(frame.close);
      if (state_ == ClientState::online) {
        go_offline(now, make_error_code(Errc::closed_by_server), &frame.close);
      } else {
        retry_after_hint_ms_ = frame.close.retry_after_ms;
        if (frame.close.reason == CloseReason::sequence_error && delivery_.session_id() != 0) resume_refused();
        attempt_failed(now, make_error_code(Errc::closed_by_server), &frame.close);
      }
      return;
    case FrameType::data:
    case FrameType::ack:
      if (state_ != ClientState::online) {
        protocol_failure(now, make_error_code(Errc::protocol_error), CloseReason::protocol_error,
                         "DATA or ACK before WELCOME");
        return;
      }
      if (frame.type == FrameType::data) {
        handle_data(now, frame.data);
      } else {
        handle_ack(now, frame.ack);
      }
      return;
    case FrameType::hello:
    case FrameType::pong:
      protocol_failure(now, make_error_code(Errc::protocol_error), CloseReason::protocol_error,
                       "HELLO sent to a device");
      return;
  }
}

void Link::handle_welcome(Millis now, const Welcome& welcome) {
  // Checked before anything of the WELCOME is taken: a refused one changes
  // no session state.
  const std::uint32_t floor = options_.accepted_server_heartbeat_min_ms();
  const std::uint32_t ceiling = options_.accepted_server_heartbeat_max_ms();
  if (welcome.heartbeat_ms < floor || welcome.heartbeat_ms > ceiling) {
    log(LogLevel::error, "WELCOME names a heartbeat of %u ms, outside this device's bounds %u .. %u ms",
        static_cast<unsigned>(welcome.heartbeat_ms), static_cast<unsigned>(floor), static_cast<unsigned>(ceiling));
    protocol_failure(now, make_error_code(Errc::protocol_error), CloseReason::protocol_error,
                     "WELCOME heartbeat outside the device's bounds");
    return;
  }
  const WelcomeVerdict verdict =
      delivery_.on_welcome(welcome, [this](std::uint64_t id) { listener_.on_acked(id); });
  report_spool_failure();
  if (verdict.server_ahead_of_spool) {
    log(LogLevel::warning, "spool: the server is ahead of the recovered messages; treating them as delivered");
  }
  if (verdict.error) {
    resume_refused();
    protocol_failure(now, verdict.error, CloseReason::sequence_error, verdict.why);
    return;
  }
  const bool resumed = profile_->session_kept(verdict.resumed);

  KeepAliveTimings timings;
  timings.heartbeat_ms = welcome.heartbeat_ms;
  if (options_.adaptive_heartbeat.enabled) {
    // The accepted interval is the ceiling of this connection: the server's
    // read deadline covers it, so any shorter learned interval is safe.
    learner_.set_ceiling(welcome.heartbeat_ms);
    timings.heartbeat_ms = learner_.interval(false);
  }
  timings.read_timeout_ms = welcome.heartbeat_ms == options_.heartbeat_interval_ms
                                ? options_.read_timeout_ms
                                : scaled_read_timeout(options_, welcome.heartbeat_ms);
  timings.write_timeout_ms = options_.write_timeout_ms;
  timings.idle_timeout_ms = options_.idle_timeout_ms;
  keep_alive_.start(timings, now);
  // Automatic: twice the silence bound, so a link that died is reported as
  // server_silent first, and only a server that keeps the link alive
  // without acknowledging anything counts as stuck.
  ack_timeout_ms_ = options_.ack_timeout_ms != 0 ? options_.ack_timeout_ms
                    : timings.read_timeout_ms > 0x7FFFFFFFu ? 0xFFFFFFFFu
                                                             : 2 * timings.read_timeout_ms;
  ack_wait_since_ = kNever;  // set again by the first DATA this connection transmits
  online_since_ = now;
  stable_ = false;
  retry_after_hint_ms_ = 0;  // a hint from a failed attempt of this round is spent
  ++counters_.connects;
  state_ = ClientState::online;
  // What the wire asks right after its handshake (MQTT: the downlink
  // SUBSCRIBE), before any DATA.
  const EncodeResult after = profile_->encode_after_welcome(ByteSpan{tx_ + tx_size_, kTxBufferSize - tx_size_});
  if (after.error) {  // cannot happen: topics checked at start(), the buffer holds little yet
    protocol_failure(now, after.error, CloseReason::protocol_error, "cannot encode what follows the handshake");
    return;
  }
  if (after.size != 0) {
    tx_size_ += after.size;
    ++counters_.frames_sent;
  }

  log(LogLevel::info, "online: endpoint %u, session %llu%s, heartbeat %u ms, read timeout %u ms",
      static_cast<unsigned>(endpoint_index_), static_cast<unsigned long long>(delivery_.session_id()),
      resumed ? " (resumed)" : "", static_cast<unsigned>(timings.heartbeat_ms),
      static_cast<unsigned>(timings.read_timeout_ms));
  StateChange change;
  change.state = ClientState::online;
  change.endpoint_index = endpoint_index_;
  change.online.endpoint_index = endpoint_index_;
  change.online.session_id = delivery_.session_id();
  change.online.resumed = resumed;
  change.online.heartbeat_ms = welcome.heartbeat_ms;  // as accepted: the adaptive interval may be shorter
  change.online.read_timeout_ms = timings.read_timeout_ms;
  change.online.next_uplink_seq = delivery_.next_uplink_seq();
  listener_.on_state(change);
  if (state_ != ClientState::online) return;  // the listener stopped us
  transmit_from_store(now);  // resend what was unacknowledged, then the rest
}

void Link::handle_data(Millis now, const Data& data) {
  switch (delivery_.on_data(data)) {
    case DownlinkVerdict::duplicate:
      return;
    case DownlinkVerdict::out_of_sequence:
      protocol_failure(now, make_error_code(Errc::sequence_error), CloseReason::sequence_error,
                       "downlink DATA out of sequence");
      return;
    case DownlinkVerdict::deliver:
      break;
  }
  listener_.on_message(data.seq, data.payload);
  message_pending_ = true;  // on_received pauses: see message_delivered()
}

void Link::handle_ack(Millis now, const Ack& ack) {
  const AckVerdict verdict = delivery_.on_ack(ack, [this](std::uint64_t id) { listener_.on_acked(id); });
  report_spool_failure();
  switch (verdict) {
    case AckVerdict::never_sent:
    case AckVerdict::backwards:
      protocol_failure(now, make_error_code(Errc::sequence_error), CloseReason::sequence_error,
                       verdict == AckVerdict::never_sent ? "ACK for a message never sent" : "ACK going backwards");
      return;
    case AckVerdict::repeated:
      return;  // harmless
    case AckVerdict::advanced:
      break;
  }
  ack_wait_since_ = delivery_.in_flight() != 0 ? now : kNever;
  transmit_from_store(now);  // the window moved
}

void Link::protocol_failure(Millis now, std::error_code reason, CloseReason close_reason, const char* text) {
  log(LogLevel::error, "protocol error: %s (%s)", text, reason_text(reason));
  // The CLOSE tells the server why, before the connection goes.
  const ConstByteSpan farewell = make_farewell(close_reason, text);
  if (tx_in_flight_ != 0 && !tx_mid_frame_ && !farewell.empty()) {
    // The write in flight holds whole frames and has most likely reached
    // the kernel already (its completion is on its way): closing now would
    // drop the CLOSE. It follows that write instead, bounded by the write
    // deadline.
    closing_.active = true;
    closing_.reason = reason;
    closing_.farewell_size = farewell.size;
    closing_.deadline = now + options_.write_timeout_ms;
    return;
  }
  fail_connection(now, reason, farewell);
}

void Link::finish_closing(Millis now) {
  closing_.active = false;
  // end_transport() drops the CLOSE unless the write completed whole.
  fail_connection(now, closing_.reason, ConstByteSpan{farewell_, closing_.farewell_size});
}

void Link::fail_connection(Millis now, std::error_code reason, ConstByteSpan farewell) {
  if (state_ == ClientState::online) {
    go_offline(now, reason, nullptr, farewell);
  } else {
    end_transport(farewell);
    attempt_failed(now, reason);
  }
}

void Link::resume_refused() {
  SessionReset reset;
  if (delivery_.resume_refused(&reset)) report_session_reset(reset);
}

void Link::report_session_reset(const SessionReset& reset) {
  report_spool_failure();
  log(LogLevel::warning,
      "session %llu abandoned (%s): the next connection opens a new session; stored messages are sent again "
      "there",
      static_cast<unsigned long long>(reset.abandoned_session_id),
      reset.cause == SessionResetCause::resume_refused  ? "the server refused to resume it twice"
      : reset.cause == SessionResetCause::spool_damaged ? "the spool lost messages to damage"
                                                        : "sequence limit");
  listener_.on_session_reset(reset);
}

// ------------------------------------------------------------- transmit

bool Link::queue_frame_bytes(ConstByteSpan frame, bool control) {
  const std::size_t room = kTxBufferSize - tx_size_;
  const std::size_t reserve = control ? 0 : kTxControlReserve;
  if (frame.size + reserve > room) return false;
  if (!frame.empty()) {
    std::memcpy(tx_ + tx_size_, frame.data, frame.size);
    tx_size_ += frame.size;
    ++counters_.frames_sent;
  }
  return true;
}

bool Link::queue_ping() {
  std::uint8_t bytes[kControlFrameSize];
  const EncodeResult r = profile_->encode_ping(ByteSpan{bytes, sizeof bytes});
  return !r.error && queue_frame_bytes(ConstByteSpan{bytes, r.size}, true);
}

void Link::queue_hello(Millis now) {
  if (delivery_.at_sequence_limit()) report_session_reset(delivery_.abandon_session(SessionResetCause::sequence_limit));
  Hello hello;
  hello.device_id = ConstByteSpan{options_.device_id, std::strlen(options_.device_id)};
  hello.token = ConstByteSpan{options_.token, options_.token_size};
  hello.heartbeat_ms = options_.heartbeat_interval_ms;
  hello.session_id = delivery_.session_id();
  hello.last_downlink_seq = delivery_.last_downlink_seq();
  // The ledger as this connection opens: what a profile that makes up the
  // WELCOME from its wire's handshake starts from.
  profile_->connection_started(
      SessionPosition{delivery_.session_id(), delivery_.last_acked_seq(), delivery_.last_downlink_seq()});
  const EncodeResult r = profile_->encode_hello(hello, ByteSpan{tx_ + tx_size_, kTxBufferSize - tx_size_});
  if (r.error) {  // cannot happen with validated options; fail loudly rather than hang
    attempt_failed(now, r.error);
    return;
  }
  tx_size_ += r.size;
  ++counters_.frames_sent;
}

void Link::log_server_close(const Close& close) {
  // The text comes from the wire: only printable ASCII reaches the log.
  char text[49];
  std::size_t n = 0;
  for (; n < close.text.size && n + 1 < sizeof text; ++n) {
    const std::uint8_t c = close.text.data[n];
    text[n] = c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '?';
  }
  text[n] = '\0';
  // A reason this build does not know is logged by its number.
  log(LogLevel::info, "server closed: %s (0x%02x)%s%s, retry after %u ms", close_reason_name(close.reason),
      static_cast<unsigned>(close.reason), n != 0 ? ": " : "", text, static_cast<unsigned>(close.retry_after_ms));
}

void Link::log(LogLevel level, const char* format, ...) {
  char line[192];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  listener_.on_log(level, line);
}

}  // namespace uplink
