// SPDX-License-Identifier: Apache-2.0
// Server-side protocol rules of one connection (PROTOCOL.md 4 and 5).
#include "server_session.hpp"

#include <cmath>
#include <cstdio>

#include "session_registry.hpp"
#include "uplink/codec/frame_encoder.hpp"
#include "uplink/error.hpp"

namespace uplink::server {
namespace {

// Retry hint sent with CLOSE overloaded when no session can be created.
constexpr std::uint32_t kOverloadRetryAfterMs = 5000;

CloseReason close_reason_for_decode_error(std::error_code error) {
  if (error == Errc::frame_too_large) return CloseReason::frame_too_large;
  if (error == Errc::unsupported_version) return CloseReason::unsupported_version;
  return CloseReason::protocol_error;
}

const char* reason_name(std::error_code error) {
  return error.category() == error_category() ? errc_name(static_cast<Errc>(error.value())) : "error";
}

}  // namespace

const char* check_limits(const SessionLimits& limits) {
  if (limits.heartbeat_min_ms == 0) return "heartbeat_min_ms must be > 0";
  if (limits.heartbeat_min_ms > limits.heartbeat_max_ms) return "heartbeat_min_ms must not exceed heartbeat_max_ms";
  // The negated form also refuses NaN.
  if (!(limits.read_factor >= 1.0 && limits.read_factor <= 100.0)) return "read_factor must be within 1 .. 100";
  if (limits.hello_timeout_ms == 0) return "hello_timeout_ms must be > 0";
  return nullptr;
}

const char* offline_cause_name(OfflineCause cause) noexcept {
  switch (cause) {
    case OfflineCause::device_closed: return "device_close";
    case OfflineCause::silent: return "device_silent";
    case OfflineCause::connection_lost: return "connection_lost";
    case OfflineCause::protocol_violation: return "protocol_violation";
    case OfflineCause::replaced: return "session_replaced";
    case OfflineCause::server_closed: return "server_close";
    case OfflineCause::server_stopped: return "server_stopped";
  }
  return "unknown";
}

const char* offline_reason(const OfflineEvent& event) noexcept {
  if (event.cause == OfflineCause::protocol_violation) return close_reason_name(event.close_reason);
  return offline_cause_name(event.cause);
}

ServerSession::ServerSession(SessionRegistry& registry, ServerEvents& events, const SessionLimits& limits,
                             Millis now, std::uint64_t connection_id)
    : registry_(registry),
      events_(events),
      limits_(limits),
      connection_id_(connection_id),
      hello_deadline_(now + limits.hello_timeout_ms),
      last_rx_(now) {}

ServerSession::~ServerSession() { detach(); }

// ------------------------------------------------------------------ inputs

void ServerSession::on_bytes(Millis now, ConstByteSpan bytes) {
  if (closed()) return;
  std::size_t offset = 0;
  // Bounded: every pass either consumes at least one byte (a frame is at
  // least two bytes long) or ends the loop.
  while (offset < bytes.size && !closed()) {
    const FrameDecoderBase::Result result = decoder_.feed(bytes.subspan(offset));
    offset += result.consumed;
    if (result.status == DecodeStatus::error) {
      const std::error_code error = decoder_.error();
      // No resynchronisation after a decode error (PROTOCOL.md 5): close.
      fail(error, close_reason_for_decode_error(error), reason_name(error));
      return;
    }
    if (result.status == DecodeStatus::need_more) break;
    last_rx_ = now;  // any complete frame proves the device alive
    handle_frame(now, decoder_.frame());
  }
  flush_ack();  // one cumulative ACK per batch, not one per DATA; settles first
}

void ServerSession::on_timer(Millis now) {
  if (state_ == State::awaiting_hello && now >= hello_deadline_) {
    fail(make_error_code(Errc::handshake_timeout), CloseReason::silent, "no HELLO in time");
    return;
  }
  if (state_ == State::online && now >= last_rx_ + read_timeout_ms_) {
    char text[64];
    std::snprintf(text, sizeof text, "nothing received for %llu ms",
                  static_cast<unsigned long long>(read_timeout_ms_));
    send_close(CloseReason::silent, 0, text);
    finish(OfflineCause::silent, CloseReason::silent, 0);
  }
}

void ServerSession::on_connection_lost(std::error_code why) {
  (void)why;  // EOF and resets are all the same to the protocol: no CLOSE was seen
  if (closed()) return;
  finish(OfflineCause::connection_lost, CloseReason::normal, 0);
}

void ServerSession::abort() {
  if (closed()) return;
  finish(OfflineCause::server_stopped, CloseReason::normal, 0);
}

// ---------------------------------------------------------------- requests

std::error_code ServerSession::queue_downlink(ConstByteSpan payload, std::uint64_t* seq) {
  if (state_ != State::online || record_ == nullptr) return make_error_code(Errc::offline);
  std::uint64_t assigned = 0;
  if (const std::error_code error = registry_.queue_downlink(*record_, payload, &assigned)) return error;
  // Durable before it is sent: a restarted server must resend it with the
  // same seq (a device that saw seq n drops a different message numbered n).
  if (const std::error_code error = registry_.commit()) {
    storage_failed(error);
    return error;
  }
  send_data(assigned, payload);
  if (seq != nullptr) *seq = assigned;
  return {};
}

void ServerSession::close(CloseReason reason, std::uint32_t retry_after_ms, std::string_view text) {
  if (closed()) return;
  send_close(reason, retry_after_ms, text);
  finish(OfflineCause::server_closed, reason, retry_after_ms);
}

std::vector<std::uint8_t> ServerSession::take_output() {
  std::vector<std::uint8_t> out;
  out.swap(out_);
  return out;
}

Millis ServerSession::next_deadline() const {
  switch (state_) {
    case State::awaiting_hello: return hello_deadline_;
    case State::online: return last_rx_ + read_timeout_ms_;
    case State::closed: return kNever;
  }
  return kNever;
}

// ------------------------------------------------------------------ frames

void ServerSession::handle_frame(Millis now, const Frame& frame) {
  switch (frame.type) {
    case FrameType::ping: append_pong(); return;  // answered in any state
    case FrameType::pong: return;                         // life, nothing more
    case FrameType::hello:
      if (state_ == State::awaiting_hello) {
        handle_hello(now, frame.hello);
      } else {
        fail(make_error_code(Errc::protocol_error), CloseReason::protocol_error, "unexpected HELLO");
      }
      return;
    case FrameType::welcome:
      fail(make_error_code(Errc::protocol_error), CloseReason::protocol_error, "unexpected WELCOME");
      return;
    case FrameType::data:
    case FrameType::ack:
    case FrameType::close: break;
  }
  if (state_ == State::awaiting_hello) {
    fail(make_error_code(Errc::protocol_error), CloseReason::protocol_error, "expected HELLO");
    return;
  }
  if (frame.type == FrameType::data) {
    handle_data(frame.data);
  } else if (frame.type == FrameType::ack) {
    handle_ack(frame.ack);
  } else {
    handle_close(frame.close);
  }
}

void ServerSession::handle_hello(Millis now, const Hello& hello) {
  // The decoder already refused other versions (unsupported_version).
  const std::string device(reinterpret_cast<const char*>(hello.device_id.data), hello.device_id.size);
  device_id_ = device;
  // First of all: a device that is not who it says it is learns nothing
  // about the session it names and changes nothing.
  if (!authenticated(hello)) return;

  // Checked before attaching, so that a bad HELLO changes no session and
  // replaces no connection.
  const SessionRecord* known = hello.session_id != 0 ? registry_.find(hello.session_id) : nullptr;
  if (known != nullptr && known->device_id == device &&
      (hello.last_downlink_seq > known->last_downlink_seq() || hello.last_downlink_seq < known->downlink_acked)) {
    char text[96];
    std::snprintf(text, sizeof text, "last_downlink_seq %llu outside %llu .. %llu",
                  static_cast<unsigned long long>(hello.last_downlink_seq),
                  static_cast<unsigned long long>(known->downlink_acked),
                  static_cast<unsigned long long>(known->last_downlink_seq()));
    // The device learns the reason only: the range would tell whoever sent
    // this HELLO where the session stands.
    fail(make_error_code(Errc::sequence_error), CloseReason::sequence_error, "resume refused", text);
    return;
  }

  const SessionRegistry::Attached attached = registry_.attach(*this, device, hello.session_id, now);
  if (attached.record == nullptr) {
    send_close(CloseReason::overloaded, kOverloadRetryAfterMs, "too many sessions");
    ErrorEvent event;
    event.device_id = device_id_;
    event.error = std::make_error_code(std::errc::resource_unavailable_try_again);
    event.reason = "overloaded";
    event.detail = "too many sessions";
    event.connection_id = connection_id_;
    finish(OfflineCause::server_closed, CloseReason::overloaded, kOverloadRetryAfterMs);
    events_.on_error(event);
    return;
  }

  record_ = attached.record;
  session_id_ = record_->id;
  std::uint32_t heartbeat = hello.heartbeat_ms;
  if (heartbeat < limits_.heartbeat_min_ms) heartbeat = limits_.heartbeat_min_ms;
  if (heartbeat > limits_.heartbeat_max_ms) heartbeat = limits_.heartbeat_max_ms;
  heartbeat_ms_ = heartbeat;
  read_timeout_ms_ = static_cast<Millis>(std::ceil(static_cast<double>(heartbeat) * limits_.read_factor));
  // Everything the device says it delivered is acknowledged (PROTOCOL.md
  // 4.2); checked above, so this cannot fail. A new session ignores it: the
  // device resets its downlink position when the session id changes.
  if (attached.resumed) (void)registry_.acknowledge_downlink(*record_, hello.last_downlink_seq);

  state_ = State::online;
  hello_deadline_ = kNever;
  last_rx_ = now;

  Welcome welcome;
  welcome.heartbeat_ms = heartbeat;
  welcome.session_id = session_id_;
  welcome.next_uplink_seq = record_->next_uplink_seq;
  append(welcome);
  // Downlink resumes exactly at last_downlink_seq + 1 (or at 1 in a new session).
  for (const PendingDownlink& message : record_->unacked) {
    send_data(message.seq, ConstByteSpan{message.payload.data(), message.payload.size()});
  }

  OnlineEvent event;
  event.device_id = device_id_;
  event.session_id = session_id_;
  event.resumed = attached.resumed;
  event.requested_heartbeat_ms = hello.heartbeat_ms;
  event.heartbeat_ms = heartbeat;
  event.next_uplink_seq = welcome.next_uplink_seq;
  event.downlink_resent = record_->unacked.size();
  event.connection_id = connection_id_;
  events_.on_online(event);
}

bool ServerSession::authenticated(const Hello& hello) {
  if (authenticator_ == nullptr) return true;
  AuthRequest request;
  request.device_id = device_id_;
  request.token = hello.token;
  request.certificate = has_peer_ ? &peer_ : nullptr;
  const AuthVerdict verdict = authenticator_->authenticate(request);
  if (verdict == AuthVerdict::allowed) return true;
  // The device gets the reason only, the same for every cause; the
  // server's log gets the cause (and the certificate's names, which the
  // device sent in the clear anyway), never the token.
  std::string detail = auth_verdict_name(verdict);
  if (verdict == AuthVerdict::certificate_mismatch) {
    detail += ": the certificate names CN '" + peer_.common_name + "'";
    for (const std::string& name : peer_.dns_names) detail += ", DNS '" + name + "'";
  }
  send_close(CloseReason::unauthorized, kUnauthorizedRetryAfterMs, "unauthorized");
  ErrorEvent event;
  event.device_id = device_id_;
  event.error = std::make_error_code(std::errc::permission_denied);
  event.reason = "unauthorized";
  event.detail = detail;
  event.connection_id = connection_id_;
  events_.on_error(event);
  finish(OfflineCause::protocol_violation, CloseReason::unauthorized, kUnauthorizedRetryAfterMs);
  return false;
}

void ServerSession::handle_data(const Data& data) {
  const std::uint64_t expected = record_->next_uplink_seq;
  if (data.seq == expected) {
    registry_.deliver_uplink(*record_, data.seq, data.payload);  // delivered exactly once
    ack_pending_ = true;
    delivered_.push_back(Delivered{data.seq, std::vector<std::uint8_t>(data.payload.begin(), data.payload.end())});
    return;
  }
  char text[80];
  if (data.seq < expected) {
    // Already delivered: never again. A device resends only from WELCOME's
    // next_uplink_seq, so this breaks the protocol all the same.
    DuplicateEvent event;
    event.device_id = device_id_;
    event.session_id = session_id_;
    event.seq = data.seq;
    event.expected_seq = expected;
    events_.on_duplicate(event);
    std::snprintf(text, sizeof text, "duplicate DATA seq %llu, expected %llu",
                  static_cast<unsigned long long>(data.seq), static_cast<unsigned long long>(expected));
    fail(make_error_code(Errc::sequence_error), CloseReason::sequence_error, "duplicate DATA", text);
    return;
  }
  std::snprintf(text, sizeof text, "DATA seq %llu, expected %llu", static_cast<unsigned long long>(data.seq),
                static_cast<unsigned long long>(expected));
  fail(make_error_code(Errc::sequence_error), CloseReason::sequence_error, "DATA out of sequence", text);
}

void ServerSession::handle_ack(const Ack& ack) {
  const std::uint64_t acked_before = record_->downlink_acked;
  if (!registry_.acknowledge_downlink(*record_, ack.seq)) return;
  char text[80];
  if (ack.seq < acked_before) {
    std::snprintf(text, sizeof text, "ACK %llu below earlier ACK %llu", static_cast<unsigned long long>(ack.seq),
                  static_cast<unsigned long long>(acked_before));
    fail(make_error_code(Errc::sequence_error), CloseReason::sequence_error, "ACK going backwards", text);
    return;
  }
  std::snprintf(text, sizeof text, "ACK %llu, last sent %llu", static_cast<unsigned long long>(ack.seq),
                static_cast<unsigned long long>(record_->last_downlink_seq()));
  fail(make_error_code(Errc::sequence_error), CloseReason::sequence_error, "ACK for a seq never sent", text);
}

void ServerSession::handle_close(const Close& close) {
  // The device stops sending and closes: nothing more goes out, not even
  // the ACK of this batch. Its next WELCOME carries next_uplink_seq instead.
  ack_pending_ = false;
  finish(OfflineCause::device_closed, close.reason, close.retry_after_ms);
}

void ServerSession::on_replaced(std::uint32_t retry_after_ms, std::uint32_t contests) {
  record_ = nullptr;  // the registry already gave the session to the newer connection
  if (closed()) return;
  send_close(CloseReason::session_replaced, retry_after_ms, "replaced by a newer connection");
  if (contests != 0) {
    char detail[160];
    std::snprintf(detail, sizeof detail,
                  "connections of this device replaced each other %u times in a row, each within %llu ms: two "
                  "devices share the id? the replaced one waits %u ms",
                  static_cast<unsigned>(contests), static_cast<unsigned long long>(SessionRegistry::kContestWindowMs),
                  static_cast<unsigned>(retry_after_ms));
    ErrorEvent event;
    event.device_id = device_id_;
    event.session_id = session_id_;
    event.error = make_error_code(Errc::closed_by_server);
    event.reason = "device_id_contested";
    event.detail = detail;
    event.connection_id = connection_id_;
    events_.on_error(event);
  }
  finish(OfflineCause::replaced, CloseReason::session_replaced, retry_after_ms);
}

// --------------------------------------------------------------- endings

void ServerSession::fail(std::error_code error, CloseReason reason, std::string_view text, std::string_view detail) {
  flush_ack();  // what was delivered before the error stays acknowledged
  send_close(reason, 0, text);
  ErrorEvent event;
  event.device_id = device_id_;
  event.session_id = session_id_;
  event.error = error;
  event.reason = reason_name(error);
  event.detail = detail.empty() ? text : detail;
  event.connection_id = connection_id_;
  events_.on_error(event);
  finish(OfflineCause::protocol_violation, reason, 0);
}

void ServerSession::finish(OfflineCause cause, CloseReason reason, std::uint32_t retry_after_ms) {
  // What the batch delivered is reported before the device goes offline.
  if (!settle()) return;
  const bool was_online = state_ == State::online;
  // Detached before the event, so that handlers already see the device offline.
  detach();
  state_ = State::closed;
  hello_deadline_ = kNever;
  ack_pending_ = false;
  if (!was_online) return;
  OfflineEvent event;
  event.device_id = device_id_;
  event.session_id = session_id_;
  event.cause = cause;
  event.close_reason = reason;
  event.retry_after_ms = retry_after_ms;
  event.connection_id = connection_id_;
  events_.on_offline(event);
}

void ServerSession::detach() {
  if (record_ == nullptr) return;
  registry_.detach(*this);
  record_ = nullptr;
}

// ---------------------------------------------------------------- output

bool ServerSession::settle() {
  if (storage_failed_) return false;
  if (const std::error_code error = registry_.commit()) {
    storage_failed(error);
    return false;
  }
  // Bounded by the DATA of one read batch. The vector is taken first: a
  // callback may queue downlink, which commits again.
  std::vector<Delivered> delivered;
  delivered.swap(delivered_);
  for (const Delivered& message : delivered) {
    MessageEvent event;
    event.device_id = device_id_;
    event.session_id = session_id_;
    event.seq = message.seq;
    event.payload = ConstByteSpan{message.payload.data(), message.payload.size()};
    events_.on_message(event);
  }
  if (!delivered.empty()) events_.on_batch_delivered();
  return true;
}

void ServerSession::storage_failed(std::error_code error) {
  if (storage_failed_) return;
  storage_failed_ = true;
  // Nothing that depends on the lost changes may leave: no ACK, no WELCOME,
  // no DATA; the messages of the batch are not reported (a restarted server
  // expects them again).
  delivered_.clear();
  out_.clear();
  ack_pending_ = false;
  const bool was_online = state_ == State::online;
  detach();
  state_ = State::closed;
  hello_deadline_ = kNever;
  ErrorEvent event;
  event.device_id = device_id_;
  event.session_id = session_id_;
  event.error = error;
  event.reason = "state_write_failed";
  event.detail = "cannot commit the session state";
  event.connection_id = connection_id_;
  events_.on_error(event);
  if (!was_online) return;
  OfflineEvent offline;
  offline.device_id = device_id_;
  offline.session_id = session_id_;
  offline.cause = OfflineCause::server_stopped;
  offline.connection_id = connection_id_;
  events_.on_offline(offline);
}

void ServerSession::flush_ack() {
  if (!settle()) return;
  if (!ack_pending_ || state_ != State::online) return;
  ack_pending_ = false;
  Ack ack;
  ack.seq = record_->next_uplink_seq - 1;
  append(ack);
}

void ServerSession::send_close(CloseReason reason, std::uint32_t retry_after_ms, std::string_view text) {
  Close close;
  close.reason = reason;
  close.retry_after_ms = retry_after_ms;
  close.text = ConstByteSpan{text.data(), text.size() < wire::kMaxCloseText ? text.size() : wire::kMaxCloseText};
  append(close);
}

void ServerSession::send_data(std::uint64_t seq, ConstByteSpan payload) {
  Data data;
  data.seq = seq;
  data.payload = payload;
  append(data);
}

template <typename FrameT>
void ServerSession::append(const FrameT& frame) {
  const std::size_t start = out_.size();
  out_.resize(start + encoded_size(frame));
  const EncodeResult result = encode(frame, ByteSpan{out_.data() + start, out_.size() - start});
  // Every frame is built from validated fields, so this cannot fail; if it
  // did, writing nothing beats writing a broken frame.
  out_.resize(result ? start + result.size : start);
}

void ServerSession::append_pong() {
  std::uint8_t bytes[kControlFrameSize];
  const EncodeResult result = encode_pong(ByteSpan{bytes, sizeof bytes});
  if (result) out_.insert(out_.end(), bytes, bytes + result.size);
}

}  // namespace uplink::server
