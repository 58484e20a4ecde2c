// SPDX-License-Identifier: Apache-2.0
// uplink::Link: the connection state machine of a client, without any I/O:
// states, the connect/handshake deadline, heartbeats and silence detection,
// backoff and failover, the send buffer. The resumable session itself
// (numbering, acknowledgements, resume, downlink dedup, the spool) is its
// Delivery (core/delivery.hpp), whose verdicts the link relays.
//
// Events go in (transport opened, bytes received, write completed, timer,
// stop), each with the current time; what must happen comes out through
// LinkIo (open or close the transport), through the bytes returned by
// pending_write(), through next_wakeup(), and through the Listener. The
// Asio shell (Client) only executes that; every rule lives here, so every
// transition is tested in virtual time without sockets.
//
//            start()                 transport open              WELCOME
//   idle ------------> connecting ------------------> handshaking --------> online
//                        |   ^  failure / deadline:        |                  |
//                        |   |  next endpoint              |                  | dead link, CLOSE,
//                        |   +-----------------------------+                  | protocol error
//                        | all endpoints failed                                v
//                        +-----------------------------------------------> backing_off
//                                                      delay elapsed: endpoint 0 again
//   stop() from any state -> stopped;  backoff attempts exhausted -> stopped
//
// Close exactly once: every connection has a generation number. The link
// calls LinkIo::close_transport() once per generation and then moves to a
// new one; events carrying an old generation are ignored, so a late
// completion of a dead connection can never touch a new one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/codec/frame.hpp"
#include "uplink/config_defaults.hpp"
#include "uplink/core/backoff.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/core/counters.hpp"
#include "uplink/core/delivery.hpp"
#include "uplink/core/heartbeat_book.hpp"
#include "uplink/core/heartbeat_learner.hpp"
#include "uplink/core/keep_alive.hpp"
#include "uplink/core/random_source.hpp"
#include "uplink/core/spool.hpp"
#include "uplink/core/wire_profiles.hpp"
#include "uplink/error.hpp"
#include "uplink/listener.hpp"
#include "uplink/options.hpp"

namespace uplink {

/// What the link asks of its I/O shell. Both calls only start work; the
/// shell reports back through Link events, never from inside these calls.
class LinkIo {
 public:
  /// Start resolving and connecting to `endpoint` (and any transport
  /// handshake). Report on_transport_open() or on_transport_failed() with
  /// the link's current generation.
  virtual void open_transport(std::size_t endpoint_index, const Endpoint& endpoint) = 0;
  /// Close the transport now, cancelling every pending operation. If
  /// `farewell` is not empty, first try to write it without blocking (best
  /// effort; never wait for it). Called exactly once per opened generation.
  virtual void close_transport(ConstByteSpan farewell) = 0;
  /// The reason to report when the connect deadline passes before the
  /// transport is open. A shell whose transport has a handshake of its own
  /// (TLS) names that phase when it was the one running; the link needs
  /// to know nothing about it. Asked before close_transport().
  [[nodiscard]] virtual std::error_code connect_timeout_reason() const { return make_error_code(Errc::connect_timeout); }

 protected:
  ~LinkIo() = default;
};

/// The connection state machine of a client, without I/O: events go in
/// with the time, what to do comes out through LinkIo, pending_write(),
/// next_wakeup() and the Listener. The file comment has its states and the
/// generation rule. Not thread-safe: Client serialises every call.
class Link {
 public:
  /// Number of a connection attempt; events carrying an older one are ignored.
  using Generation = std::uint32_t;

  /// Idle until start(). `io`, `listener` and `random` (backoff jitter) must outlive the link.
  Link(LinkIo& io, Listener& listener, RandomSource& random);
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // ---- Application requests ----

  /// Mirrors the outbound store and the session identity into `spool` (an
  /// opened Spool over a file, see core/spool.hpp), so queued messages,
  /// the session id and the sequence positions survive a crash or a power
  /// cut (within the spool's sync policy). Call before the first start():
  /// the spool's messages are then recovered into the store and sent first.
  /// Returns the spool's error if recovery fails.
  [[nodiscard]] std::error_code attach_spool(Spool& spool);

  /// Validates `options` and starts connecting to the first endpoint.
  /// Refused with the OptionsCheck naming the field; already_running when
  /// not idle or stopped.
  [[nodiscard]] OptionsCheck start(const Options& options, Millis now);
  /// Ends everything from any state: sends CLOSE(normal) best effort when
  /// online, closes the transport, reports the disconnect (if online) and
  /// the stopped state. Calling it again does nothing.
  void stop(Millis now);
  /// Copies `payload` into the outbound store; it is transmitted when online
  /// (now or after the next connection) and kept until acknowledged, then
  /// reported with Listener::on_acked(id). Works in every state, offline
  /// included. Errors: queue_full (store full and the policy is refuse: the
  /// caller keeps the message), field_too_long (over kMaxDataPayload).
  /// On success `*id` (if given) receives the message's id (1, 2, 3, ...).
  [[nodiscard]] std::error_code send(ConstByteSpan payload, Millis now, std::uint64_t* id = nullptr);

  /// The network under the device changed (link or address event). Online:
  /// a PING probes the link now, and without an answer within
  /// probe_timeout_ms it is declared dead (server_silent). Backing off: the
  /// wait is cut short and the next round starts now (the network may just
  /// have come back). Other states: nothing to do. With the adaptive
  /// heartbeat, `network_key` (port/network_identity.hpp) goes to
  /// set_network() while running.
  void on_network_change(Millis now, const char* network_key = nullptr);
  /// The adaptive heartbeat's network: `key` names the network the device
  /// is on now (port/network_identity.hpp; empty or null: unknown). The
  /// same known key as before changes nothing (a spurious event). Another
  /// key keeps what was learned for the old one in the heartbeat book and
  /// resumes from what the book holds for the new one, or learns afresh;
  /// an unknown key always learns afresh. Call after start().
  void set_network(const char* key);

  // ---- Transport events (ignored unless `generation` is current) ----

  /// The transport asked for by LinkIo::open_transport() is connected (and
  /// its own handshake done): the link queues HELLO.
  void on_transport_open(Millis now, Generation generation);
  /// The transport could not be opened: the link tries the next endpoint,
  /// or backs off after the last. `cause` is the system's error where
  /// `reason` sums it up (ConnectFailure::cause).
  void on_transport_failed(Millis now, Generation generation, std::error_code reason, std::error_code cause = {});
  /// Bytes read from the transport, in order, split anywhere (the view is
  /// needed only during the call). Returns how many were taken: all of
  /// them, unless a downlink message was handed to the listener, after
  /// which the link pauses (message_pending()) so the listener's view of its
  /// payload stays valid until message_delivered(); then call again with
  /// the rest, also when nothing is left (the cumulative ACK of the read
  /// goes out at its end).
  std::size_t on_received(Millis now, Generation generation, ConstByteSpan bytes);
  /// A downlink message was handed to the listener and is not yet confirmed.
  [[nodiscard]] bool message_pending() const { return message_pending_; }
  /// The application has had the pending message: it is recorded (spool)
  /// before the ACK that covers it can leave. Call whatever happened since
  /// (a stop, another generation): the application did get it.
  void message_delivered();
  /// `written` bytes (from the start of the last pending_write(), at most
  /// all of them) reached the transport. The rest stays pending.
  void on_write_complete(Millis now, Generation generation, std::size_t written);
  /// A read or write failed, or the peer closed the connection.
  void on_transport_error(Millis now, Generation generation, std::error_code reason);
  /// The time given by next_wakeup() has come (early or late calls are fine).
  void on_timer(Millis now);

  // ---- What the shell must do ----

  /// Bytes to write next, or empty when nothing waits or a write is in flight.
  [[nodiscard]] ConstByteSpan pending_write() const;
  /// The shell started writing pending_write() (starts the write
  /// deadline). Those bytes stay in place until on_write_complete() or the
  /// connection's end: new frames are appended after them, so a transport
  /// that must retry a write with the same buffer (TLS) can.
  void on_write_started(Millis now);
  /// When on_timer() must be called next, or kNever.
  [[nodiscard]] Millis next_wakeup() const;
  /// Current connection generation; events from older ones are ignored.
  [[nodiscard]] Generation generation() const { return generation_; }
  /// True while a transport of the current generation is open or opening.
  [[nodiscard]] bool transport_active() const { return transport_active_; }

  /// Refused resumes in a row after which the device opens a new session.
  static constexpr std::uint32_t kResumeRefusalsBeforeNewSession = Delivery::kResumeRefusalsBeforeNewSession;
  /// A sequence number (uplink or downlink) from which the next connection
  /// opens a new session instead of resuming, long before 2^64 could wrap.
  static constexpr std::uint64_t kSessionSequenceLimit = Delivery::kSessionSequenceLimit;

  // ---- Observation ----

  /// The current state (see the diagram in the file comment).
  [[nodiscard]] ClientState state() const { return state_; }
  /// The running totals since construction.
  [[nodiscard]] const Counters& counters() const { return counters_; }
  /// The session of the current connection, or the one the next HELLO resumes; 0 for none yet.
  [[nodiscard]] std::uint64_t session_id() const { return delivery_.session_id(); }
  /// Wire sequence number the next DATA transmitted will carry.
  [[nodiscard]] std::uint64_t next_uplink_seq() const { return delivery_.next_uplink_seq(); }
  /// Highest uplink sequence number the server acknowledged; 0 for none.
  [[nodiscard]] std::uint64_t last_acked_seq() const { return delivery_.last_acked_seq(); }
  /// Messages accepted by send() and not yet acknowledged or dropped.
  [[nodiscard]] std::size_t queued_messages() const { return delivery_.queued(); }
  /// Highest downlink sequence number delivered to the Listener; 0 for none.
  [[nodiscard]] std::uint64_t last_downlink_seq() const { return delivery_.last_downlink_seq(); }
  /// The keep-alive state of the current connection (timings in effect, last frame received).
  [[nodiscard]] const KeepAlive& keep_alive() const { return keep_alive_; }
  /// The adaptive heartbeat's learner (Options::adaptive_heartbeat); idle
  /// and unused when the option is off.
  [[nodiscard]] const HeartbeatLearner& heartbeat_learner() const { return learner_; }
  /// What the adaptive heartbeat learned, to keep per network across
  /// restarts (see restore_heartbeat()).
  [[nodiscard]] HeartbeatMemory heartbeat_memory() const { return learner_.memory(); }
  /// Resumes the adaptive heartbeat from what was learned on this network
  /// before (a saved heartbeat_memory()). Call after start(); ignored when
  /// the option is off.
  void restore_heartbeat(const HeartbeatMemory& known);
  /// What the adaptive heartbeat learned per network, the current one's
  /// progress included: for the application to keep across restarts
  /// (HeartbeatBook::write()), and to fill before start() (HeartbeatBook::read()).
  [[nodiscard]] const HeartbeatBook& heartbeat_book() const { return book_; }
  /// See heartbeat_book() const.
  [[nodiscard]] HeartbeatBook& heartbeat_book() { return book_; }

  // ---- Settling (Client::flush) ----

  /// Id of the last message send() accepted (0 before the first).
  [[nodiscard]] std::uint64_t last_message_id() const { return delivery_.last_message_id(); }
  /// True when no message with an id up to `id` is queued any more: each
  /// was acknowledged or dropped.
  [[nodiscard]] bool settled_through(std::uint64_t id) const { return delivery_.settled_through(id); }
  /// How many watches can be held at once.
  static constexpr int kMaxDropWatches = Delivery::kMaxDropWatches;
  /// Starts recording whether a message with an id up to `through_id` is
  /// dropped; returns the watch, or -1 when all kMaxDropWatches are taken.
  [[nodiscard]] int watch_drops(std::uint64_t through_id) { return delivery_.watch_drops(through_id); }
  /// True when a message covered by `watch` was dropped since watch_drops().
  [[nodiscard]] bool watched_drop(int watch) const { return delivery_.watched_drop(watch); }
  /// Ends a watch from watch_drops().
  void unwatch_drops(int watch) { delivery_.unwatch_drops(watch); }

 private:
  [[nodiscard]] Millis next_session_wakeup() const;
  [[nodiscard]] Millis ack_deadline() const;
  void begin_round(Millis now);
  void begin_attempt(Millis now);
  // `server_close`: the CLOSE that ended the attempt, if one did (its
  // reason and retry-after go to the listener's ConnectFailure); `cause`:
  // the system's error where `reason` sums it up (ConnectFailure::cause).
  void attempt_failed(Millis now, std::error_code reason, const Close* server_close = nullptr,
                      std::error_code cause = {});
  void go_offline(Millis now, std::error_code reason, const Close* server_close, ConstByteSpan farewell = {});
  void back_off(Millis now);
  void enter(ClientState state, Millis now, std::error_code reason = {});
  void end_transport(ConstByteSpan farewell);
  ConstByteSpan make_farewell(CloseReason reason, const char* text);

  void handle_frame(Millis now, const Frame& frame);
  void handle_welcome(Millis now, const Welcome& welcome);
  void handle_data(Millis now, const Data& data);
  void handle_ack(Millis now, const Ack& ack);
  void protocol_failure(Millis now, std::error_code reason, CloseReason close_reason, const char* text);
  void fail_connection(Millis now, std::error_code reason, ConstByteSpan farewell);
  void finish_closing(Millis now);
  void resume_refused();
  void report_session_reset(const SessionReset& reset);

  void transmit_from_store(Millis now);
  void refresh_heartbeat();
  void start_idle_probe(Millis now, std::uint32_t idle_ms);
  void heartbeat_outcome(bool survived, std::error_code reason);
  void remember_heartbeat();
  void report_spool_failure();
  bool queue_frame_bytes(ConstByteSpan frame, bool control);
  bool queue_ping();
  void queue_downlink_ack(Millis now);
  void queue_hello(Millis now);
  void log_server_close(const Close& close);
  void log(LogLevel level, const char* format, ...);

  LinkIo& io_;
  Listener& listener_;
  RandomSource& random_;
  Options options_;
  Backoff backoff_{BackoffPolicy{}};
  KeepAlive keep_alive_;
  // The wire format (Options::protocol), chosen at start(): only one is
  // built at a time, and profile_ points at it. Which profiles this build
  // holds is WireProfiles' business (UPLINK_WITH_MQTT).
  WireProfiles profiles_;
  WireProfile* profile_ = &profiles_.current();
  Counters counters_;

  ClientState state_ = ClientState::idle;
  Generation generation_ = 0;
  bool transport_active_ = false;
  std::size_t endpoint_index_ = 0;
  bool message_pending_ = false;  // on_received paused after a message (message_delivered)
  Millis attempt_deadline_ = kNever;
  Millis backoff_until_ = kNever;
  std::uint32_t retry_after_hint_ms_ = 0;
  Millis online_since_ = 0;
  bool stable_ = false;

  // The resumable session: numbering, acknowledgements, resume, downlink
  // dedup, the spool mirror. The link relays what it decides.
  Delivery delivery_{counters_};
  // Online, with messages transmitted and unacknowledged: when the
  // acknowledgements last made progress (or the first of them went out).
  // kNever while nothing is in flight.
  Millis ack_wait_since_ = kNever;
  std::uint32_t ack_timeout_ms_ = 0;  // in effect on this connection

  // Adaptive heartbeat (Options::adaptive_heartbeat): the learner picks the
  // interval of each idle period. idle_probe_ms_ is the length of the idle
  // period whose first write (the heartbeat PING, or DATA that cut a trial
  // short) awaits an answer (0: none); the learner hears its fate.
  HeartbeatLearner learner_;
  std::uint32_t idle_probe_ms_ = 0;
  HeartbeatBook book_;
  char network_key_[HeartbeatBook::kKeySize] = {};  // the network learned on; "" = unknown

  // Encoded frames waiting for the socket, oldest first. The first
  // tx_in_flight_ bytes are being written; new frames are appended after.
  std::uint8_t tx_[kTxBufferSize] = {};
  std::size_t tx_size_ = 0;
  std::size_t tx_in_flight_ = 0;
  // A write ended inside a frame: until the buffer drains, a farewell CLOSE
  // cannot be slipped in without corrupting the stream.
  bool tx_mid_frame_ = false;

  std::uint8_t farewell_[kFrameHeaderSize + wire::kCloseFixedBody + 48] = {};  // CLOSE, DISCONNECT
  // A protocol error met a write of whole frames in flight: the CLOSE in
  // farewell_ waits for that write to complete (it would otherwise be lost,
  // or cut into the stream), until `deadline` at most. Nothing is read,
  // queued or reported meanwhile; finish_closing() then fails the
  // connection as protocol_failure() would have.
  struct Closing {
    bool active = false;
    std::error_code reason;
    std::size_t farewell_size = 0;
    Millis deadline = kNever;
  };
  Closing closing_;
};

}  // namespace uplink
