// SPDX-License-Identifier: Apache-2.0
// uplink::Client: keeps one device connected to its server on an Asio
// io_context that the application owns.
//
//   asio::io_context io;                  // one thread is the normal embedded case
//   MyListener listener;                  // your uplink::Listener
//   uplink::Client client(io, listener, uplink::port::system_random());
//   uplink::Options options;              // documented defaults
//   (void)options.add_endpoint("192.0.2.10", 7400);
//   (void)options.set_device_id("pi-0001");
//   if (auto check = client.start(options); !check) { /* check.field names what is wrong */ }
//   io.run();
//
// Threading: start() is called on the io_context's thread or before it runs.
// send() and stop() may be called from any thread: they are serialised with a
// mutex and the io thread is woken with a post that uses preallocated memory.
// Listener callbacks run on the io thread, always, and never inside the
// client's own work: the link records what the application must hear, and
// the client delivers it after the link returned, outside its lock, in
// order (core/event_queue.hpp). So a callback may call any Client function
// (a stop() takes effect at once), and Listener::on_dropped() for a send()
// on another thread arrives on the io thread.
//
// Lifetime: destroy a client only when quiescent(): after stop(), run the
// io_context until every cancelled operation has completed, e.g.
//   client.stop(); while (!client.quiescent()) io.run_one();
// or, when the io_context has no other work, stop() and let io.run() return
// (samples/minimal_device does so on SIGINT/SIGTERM). Destroying a client
// that is not quiescent is a loud error in every build: it prints why and
// calls std::abort(), rather than leave handlers to run against freed memory.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <system_error>

#include "uplink/net/asio.hpp"

#include <asio/basic_waitable_timer.hpp>
#include <asio/ip/tcp.hpp>

#include "uplink/core/byte_span.hpp"
#include "uplink/core/event_queue.hpp"
#include "uplink/core/random_source.hpp"
#include "uplink/core/link.hpp"
#include "uplink/listener.hpp"
#include "uplink/net/handler_memory.hpp"
#include "uplink/net/stream.hpp"
#include "uplink/net/tcp_stream.hpp"
#include "uplink/options.hpp"
#include "uplink/port/clock.hpp"
#include "uplink/port/socket_tuning.hpp"

namespace uplink {

/// Keeps one device connected to its server on an asio::io_context the
/// application owns: connects, sends heartbeats, detects a dead link,
/// reconnects with backoff and delivers every message once, in order.
/// Events reach the Listener on the io thread. start() runs on the io
/// thread or before it runs; send(), stop() and the other calls marked
/// "any thread" are thread-safe. Destroy it only when quiescent() (after
/// stop(), run the io_context until it is); the header's file comment has
/// an example and the rules in full.
class Client final : private LinkIo, private net::StreamHandler {
 public:
  /// `listener` and `random` must outlive the client.
  Client(asio::io_context& io, Listener& listener, RandomSource& random);
  /// Requires quiescent() (see the file comment): otherwise prints why on
  /// stderr and calls std::abort(), in every build.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Runs every connection through `stream` (which must outlive the
  /// client) instead of plain TCP: for TLS, a tls::TlsStream over a
  /// TlsEngine set up with a client TlsConfig and the server's host name
  /// (tls/tls_stream.hpp). The stream's open (the TLS handshake) runs under
  /// the same connect deadline as the rest of connecting; a deadline that
  /// passes inside it is reported with the stream's reason
  /// (TlsErrc::handshake_timeout), and the stream's open_warning() (TLS
  /// without server verification) is logged on every connect. Call before
  /// start().
  void use_stream(net::Stream& stream);

  /// Keeps queued messages and the session identity in `spool` (opened by
  /// the application over a port::FileSpoolStorage), so they survive a
  /// crash or power cut within the spool's sync policy (docs/DELIVERY.md).
  /// Call once, before the first start(); recovered messages are sent first.
  /// Errors: the spool's recovery error; already_running after start();
  /// invalid_option when the spool was not opened.
  [[nodiscard]] std::error_code attach_spool(Spool& spool);

  /// Validates `options` and starts connecting. Returns the first invalid
  /// field (Errc::invalid_option) or Errc::already_running; nothing starts then.
  [[nodiscard]] OptionsCheck start(const Options& options);

  /// Stops from any state, from any thread, promptly: the connection (if
  /// any) gets a best-effort CLOSE and is closed, every timer is cancelled,
  /// the listener sees the disconnect (if online) and the stopped state.
  void stop();

  /// Copies one message into the outbound store; it reaches the server once
  /// and in order, across reconnects, and Listener::on_acked(id) reports it.
  /// Works offline too. Errors: queue_full (store full under
  /// FullPolicy::refuse: the caller keeps the message and retries later),
  /// field_too_long (payload over kMaxDataPayload). Any thread.
  /// `*id` (if given) receives the message's id.
  [[nodiscard]] std::error_code send(ConstByteSpan payload, std::uint64_t* id = nullptr);
  /// Messages accepted by send() and not yet acknowledged or dropped.
  [[nodiscard]] std::size_t queued() const;

  /// Blocks the calling thread until every message queued before the call
  /// is settled (acknowledged or dropped), or `deadline` passes. Messages
  /// other threads send meanwhile are not waited for. For threads other
  /// than the one running the io_context (which must keep running); that
  /// thread learns the same without blocking from settled() and the
  /// listener. Errors: flush_timeout (some still queued at the deadline),
  /// messages_dropped (all settled, but at least one was dropped by
  /// FullPolicy::drop_oldest instead of acknowledged; Listener::on_dropped
  /// named it; with more than Link::kMaxDropWatches flushes waiting at
  /// once, any drop meanwhile is reported), wrong_thread (called on the io
  /// thread, where waiting would deadlock).
  [[nodiscard]] std::error_code flush(std::chrono::steady_clock::time_point deadline);
  /// flush() with a deadline `timeout` from now.
  [[nodiscard]] std::error_code flush(std::chrono::milliseconds timeout);
  /// True when every message up to id `id` (what send() returned) is
  /// acknowledged or dropped. Never blocks: for the io thread, where
  /// flush() refuses. Any thread.
  [[nodiscard]] bool settled(std::uint64_t id) const;
  /// Threads blocked in flush() at this moment: for diagnostics, and for
  /// tests that must know a flush() has taken its snapshot. Any thread.
  [[nodiscard]] std::size_t flushes_waiting() const;

  /// Tells the client the network changed (a link or address event, e.g.
  /// from port::NetworkMonitor): online, it probes the link with a PING and
  /// declares it dead after Options::probe_timeout_ms without an answer;
  /// backing off, it reconnects at once. Any thread.
  void network_changed();

  /// What the adaptive heartbeat (Options::adaptive_heartbeat) learned per
  /// network (core/heartbeat_book.hpp), as text for the application to keep
  /// (a small file) and give back to load_heartbeats() after a restart.
  /// Writes at most `size` bytes (HeartbeatBook::kMaxTextSize always
  /// suffices); returns the length, 0 when `size` is too small. Any thread.
  [[nodiscard]] std::size_t save_heartbeats(char* out, std::size_t size) const;
  /// Gives back what save_heartbeats() wrote before a restart; call before
  /// start(), which resumes from the memory of the network the port names
  /// (port/network_identity.hpp). Returns false for text that is not of
  /// this format (nothing is kept then; lines that do not parse are skipped).
  /// Any thread.
  [[nodiscard]] bool load_heartbeats(const char* text, std::size_t size);

  /// The state of the connection's life cycle at this moment. Any thread.
  [[nodiscard]] ClientState state() const;
  /// A consistent copy of the counters.
  [[nodiscard]] Counters counters() const;
  /// True when no asynchronous operation of this client is pending.
  [[nodiscard]] bool quiescent() const { return outstanding_.load() == 0; }
  /// Handler allocations that missed the preallocated blocks (should stay 0).
  [[nodiscard]] std::size_t handler_heap_fallbacks() const;

 private:
  // Handler memory: sizes found by measurement with Asio 1.22 on x86_64 and
  // aarch64 with margin; a miss is counted, never fatal.
  using OpMemory = net::OpMemory;
  static constexpr int kOpBlocks = 3;  // the blocks of an OpMemory
  using WakeMemory = detail::HandlerMemory<128, 1>;

  // LinkIo
  void open_transport(std::size_t endpoint_index, const Endpoint& endpoint) override;
  void close_transport(ConstByteSpan farewell) override;
  [[nodiscard]] std::error_code connect_timeout_reason() const override;

  // net::StreamHandler
  void on_stream_open(std::uint32_t generation, std::error_code error) override;
  void on_stream_read(std::uint32_t generation, std::error_code error, std::size_t bytes) override;
  void on_stream_written(std::uint32_t generation, std::error_code error, std::size_t bytes) override;

  void start_connect(Link::Generation generation, const asio::ip::tcp::endpoint& endpoint);
  void handle_connect(Link::Generation generation, const asio::error_code& error);
  void connected(Link::Generation generation, const asio::error_code& error);
  void start_read(Link::Generation generation);
  void transport_ready(Link::Generation generation);
  void handle_timer(const asio::error_code& error);
  void handle_wake();
  // Sets `flag` (stop, network change) for the pump: at once on the io
  // thread, through a wake from any other.
  void request(std::atomic<bool>& flag);
  // Runs `fn` under the lock, then delivers the events it caused, outside it.
  template <typename Fn>
  void locked(Fn&& fn);
  void deliver_events();
  // deliver_events() on the io thread; from another, a wake that does it.
  void deliver_events_soon();
  void deliver(const EventQueue::Event& event);
  void pump();
  void start_write();
  void arm_timer();
  void wake();
  [[nodiscard]] Millis now() const;
  [[nodiscard]] bool on_io_thread() const;

  using Executor = net::Executor;
  using Socket = net::TcpSocket;
  using Resolver = asio::ip::basic_resolver<asio::ip::tcp, Executor>;
  // The port's clock (UPLINK_CLOCK), for the deadlines and for now(): both
  // must be one clock, or a deadline computed from now() would drift.
  using Timer = asio::basic_waitable_timer<port::Clock, asio::wait_traits<port::Clock>, Executor>;

  asio::io_context& io_;
  Socket socket_;
  Resolver resolver_;
  Resolver::results_type resolved_;  // addresses of the endpoint being tried
  Resolver::results_type::const_iterator next_address_;
  Timer timer_;
  net::TcpStream tcp_stream_;
  net::Stream* stream_ = &tcp_stream_;  // tcp_stream_, or the one given to use_stream()
  bool stream_opened_ = false;           // the stream carries this connection: close it
  const Timer::time_point epoch_;
  // What the application must hear, recorded by the link and delivered
  // after it returned, outside the lock, on the io thread (event_queue.hpp).
  EventQueue events_;
  Link link_;
  Listener& listener_;
  bool delivering_ = false;          // io thread: a deliver_events() loop runs
  bool pump_after_delivery_ = false;  // io thread: a callback sent; write once the delivery ends
  char log_line_[EventQueue::kLogLineSize] = {};  // io thread: the log line being delivered

  mutable std::mutex mutex_;
  std::condition_variable settling_;  // signalled when messages are acknowledged or dropped (flush)
  std::size_t flushes_waiting_ = 0;       // under mutex_
  std::uint64_t settled_seen_ = 0;       // acknowledged + dropped at the last signal
  std::atomic<int> outstanding_{0};
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> network_changed_{false};
  bool writing_ = false;
  bool resolving_ = false;
  int timer_waits_ = 0;
  bool timer_rearm_owed_ = false;  // a re-arm waits for a cancelled wait's block (arm_timer)
  Millis timer_armed_at_ = kNever;
  port::SocketTuning tuning_;

  OpMemory connect_memory_;
  OpMemory timer_memory_;
  WakeMemory wake_memory_;

  std::uint8_t rx_[kRxChunkSize] = {};
};

}  // namespace uplink
