// SPDX-License-Identifier: Apache-2.0
// The Asio shell around Link: it performs what the link asks and
// reports what happened, nothing more. Every rule lives in Link.
//
//  Actors (each one asynchronous operation at most, each with its own
//  preallocated handler memory; the reader and the writer are operations
//  of the connection's net::Stream, TCP or TLS, which holds their memory):
//
//    +-----------+  on_received / on_transport_error   +-----------+
//    |  reader   | -----------------------------------> |           |
//    +-----------+                                      |           |
//    +-----------+  on_write_complete                   |   Link    |
//    |  writer   | -----------------------------------> |  (pure)   |
//    +-----------+   <--- pending_write() after events  |           |
//    +-----------+  on_timer at next_wakeup()           |           |
//    | deadline  | -----------------------------------> |           |
//    +-----------+   (connect+handshake, keep-alive,    +-----------+
//                     backoff: one timer, re-armed)       |  open/close_transport
//    +-----------+  on_transport_open / _failed           v
//    | connector | <------------------------------------ shell
//    +-----------+
//    +-----------+  send() / stop() / network_changed() from another thread:
//    |   wake    |  one post in flight, then a pump on the io thread
//    +-----------+
//
//  After every event the shell "pumps": it carries out a requested stop or
//  network change, starts a write if the link has bytes and none is in
//  flight, and re-arms the deadline timer when the next wake-up moved
//  earlier, or later by more than a quarter of the heartbeat (arm_timer()).
//  Each completion carries the generation it was started for; the link
//  ignores stale ones, so the handlers of a dead connection can never touch
//  the next.
#include "uplink/client.hpp"

#include <asio/post.hpp>
#include <cstdio>
#include <cstdlib>

#include "uplink/error.hpp"
#include "uplink/port/network_identity.hpp"

namespace uplink {
namespace {

using detail::with_memory;

}  // namespace

Client::Client(asio::io_context& io, Listener& listener, RandomSource& random)
    : io_(io),
      socket_(io.get_executor()),
      resolver_(io.get_executor()),
      timer_(io.get_executor()),
      epoch_(Timer::clock_type::now()),
      link_(*this, events_, random),
      listener_(listener) {}

Client::~Client() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    link_.stop(now());
    asio::error_code ignored;
    timer_.cancel();
    if (resolving_) resolver_.cancel();
    socket_.close(ignored);
  }
  deliver_events();  // the listener hears the stop, as from stop()
  // Handlers still queued would run against a destroyed object, long after
  // this returned: refuse loudly in every build instead of corrupting memory
  // somewhere else later.
  const unsigned pending = outstanding_.load();
  if (pending != 0) {
    std::fprintf(stderr,
                 "uplink::Client destroyed with %u asynchronous operation(s) pending: call stop() and run the "
                 "io_context until quiescent() before destroying it (uplink/client.hpp, \"Lifetime\")\n",
                 pending);
    std::abort();
  }
}

void Client::use_stream(net::Stream& stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  stream_ = &stream;
}

std::error_code Client::attach_spool(Spool& spool) {
  std::error_code error;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error = link_.attach_spool(spool);
  }
  deliver_events_soon();
  return error;
}

OptionsCheck Client::start(const Options& options) {
  OptionsCheck check;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tuning_.user_timeout_ms = options.write_timeout_ms;
    tuning_.send_buffer_bytes = options.socket_send_buffer_bytes;
    tuning_.keepalive_idle_s = options.tcp_keepalive_idle_s;
    stop_requested_ = false;
    check = link_.start(options, now());
    if (check) {
      // The adaptive heartbeat resumes what it learned on this network.
      char key[HeartbeatBook::kKeySize];
      (void)port::network_identity(key, sizeof key);
      link_.set_network(key);
      pump();
    }
  }
  deliver_events_soon();
  return check;
}

void Client::stop() { request(stop_requested_); }

void Client::request(std::atomic<bool>& flag) {
  flag = true;
  if (!on_io_thread()) {
    wake();
    return;
  }
  // On the io thread (a listener callback included: none runs inside the
  // link any more), at once.
  locked([this] { pump(); });
}

std::error_code Client::send(ConstByteSpan payload, std::uint64_t* id) {
  std::error_code error;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error = link_.send(payload, now(), id);
    if (!error && on_io_thread()) {
      // From a callback (say on_acked, refilling the window), the write
      // waits for the end of the delivery: every message the callbacks
      // send then leaves in one write instead of the first alone.
      if (delivering_) {
        pump_after_delivery_ = true;
      } else {
        pump();
      }
    }
  }
  // Drops (FullPolicy::drop_oldest) reach the listener on the io thread.
  deliver_events_soon();
  if (!error && !on_io_thread()) wake();
  return error;
}

void Client::network_changed() { request(network_changed_); }

std::error_code Client::flush(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  // "Forever" must not overflow the deadline.
  const bool unbounded = timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - start);
  return flush(unbounded ? Clock::time_point::max() : start + timeout);
}

std::error_code Client::flush(std::chrono::steady_clock::time_point deadline) {
  if (on_io_thread()) return Errc::wrong_thread;
  std::unique_lock<std::mutex> lock(mutex_);
  // Only what is queued now: a thread that keeps sending must not hold
  // this one past its deadline.
  const std::uint64_t through = link_.last_message_id();
  const int watch = link_.watch_drops(through);
  const std::uint64_t dropped_before = link_.counters().messages_dropped;
  ++flushes_waiting_;
  const bool settled = settling_.wait_until(lock, deadline, [&] { return link_.settled_through(through); });
  --flushes_waiting_;
  // Without a watch (every slot taken) any drop meanwhile counts: never a
  // success for a message that may have been dropped.
  const bool dropped =
      watch >= 0 ? link_.watched_drop(watch) : link_.counters().messages_dropped != dropped_before;
  if (watch >= 0) link_.unwatch_drops(watch);
  if (!settled) return Errc::flush_timeout;
  return dropped ? make_error_code(Errc::messages_dropped) : std::error_code{};
}

std::size_t Client::flushes_waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return flushes_waiting_;
}

bool Client::settled(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return link_.settled_through(id);
}

std::size_t Client::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return link_.queued_messages();
}

ClientState Client::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return link_.state();
}

std::size_t Client::save_heartbeats(char* out, std::size_t size) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return link_.heartbeat_book().write(out, size);
}

bool Client::load_heartbeats(const char* text, std::size_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  return link_.heartbeat_book().read(text, size);
}

Counters Client::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return link_.counters();
}

std::size_t Client::handler_heap_fallbacks() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return connect_memory_.heap_fallbacks() + timer_memory_.heap_fallbacks() + wake_memory_.heap_fallbacks() +
         stream_->handler_heap_fallbacks();
}

// ------------------------------------------------------------- LinkIo

void Client::open_transport(std::size_t endpoint_index, const Endpoint& endpoint) {
  (void)endpoint_index;
  const Link::Generation generation = link_.generation();
  asio::error_code error;
  resolved_ = {};
  next_address_ = resolved_.end();
  const asio::ip::address address = asio::ip::make_address(endpoint.host, error);
  if (!error) {
    // A numeric address needs no resolver, and so no allocation.
    start_connect(generation, asio::ip::tcp::endpoint(address, endpoint.port));
    return;
  }
  char port_text[8];
  std::snprintf(port_text, sizeof port_text, "%u", static_cast<unsigned>(endpoint.port));
  ++outstanding_;
  resolving_ = true;
  // Name resolution runs on Asio's resolver thread and allocates inside
  // getaddrinfo(); devices that must not allocate configure numeric addresses.
  resolver_.async_resolve(
      endpoint.host, port_text,
      [this, generation](const asio::error_code& resolve_error, Resolver::results_type results) {
        --outstanding_;
        locked([&] {
          resolving_ = false;
          if (generation != link_.generation()) return;
          if (resolve_error) {
            link_.on_transport_failed(now(), generation, make_error_code(Errc::resolve_failed), resolve_error);
            pump();
            return;
          }
          // Each resolved address is tried in turn (handle_connect), all under
          // the link's one deadline.
          resolved_ = std::move(results);
          next_address_ = resolved_.begin();
          start_connect(generation, (next_address_++)->endpoint());
        });
      });
}

void Client::close_transport(ConstByteSpan farewell) {
  asio::error_code ignored;
  // Asio's resolver cancel() allocates, so it is only called when a lookup
  // is actually running.
  if (resolving_) resolver_.cancel();
  if (socket_.is_open()) {
    if (stream_opened_) stream_->close(farewell);
    socket_.close(ignored);
  }
  stream_opened_ = false;
  writing_ = false;
}

// ------------------------------------------------------------- connector

void Client::start_connect(Link::Generation generation, const asio::ip::tcp::endpoint& endpoint) {
  ++outstanding_;
  // The link's deadline bounds this: on expiry it closes the socket,
  // which completes the connect with operation_aborted (then ignored).
  socket_.async_connect(endpoint, with_memory(connect_memory_, [this, generation](const asio::error_code& error) {
                          handle_connect(generation, error);
                        }));
}

void Client::handle_connect(Link::Generation generation, const asio::error_code& error) {
  --outstanding_;
  locked([&] { connected(generation, error); });
}

void Client::connected(Link::Generation generation, const asio::error_code& error) {
  if (generation != link_.generation()) return;
  if (error) {
    if (next_address_ != resolved_.end()) {
      asio::error_code ignored;
      socket_.close(ignored);
      start_connect(generation, (next_address_++)->endpoint());
      return;
    }
    link_.on_transport_failed(now(), generation, net::stream_error(error));
    pump();
    return;
  }
  resolved_ = {};
  if (const std::error_code tuning_error = port::tune_socket(socket_.native_handle(), tuning_)) {
    events_.on_log(LogLevel::warning, "socket tuning failed; continuing without it");
  }
  if (const char* warning = stream_->open_warning()) events_.on_log(LogLevel::warning, warning);
  stream_opened_ = true;
  ++outstanding_;
  stream_->async_open(socket_, *this, generation, nullptr);
}

std::error_code Client::connect_timeout_reason() const {
  // The deadline ran out inside the stream's own handshake (TLS): saying so
  // tells an operator to look at the server's TLS side, not the network.
  if (stream_opened_) {
    if (const std::error_code reason = stream_->open_timeout_reason()) return reason;
  }
  return make_error_code(Errc::connect_timeout);
}

void Client::on_stream_open(std::uint32_t generation, std::error_code error) {
  --outstanding_;
  locked([&] {
    if (generation != link_.generation()) return;
    if (error) {
      link_.on_transport_failed(now(), generation, error);
    } else {
      // The transport (TCP, and TLS if used) is up: the link takes over.
      link_.on_transport_open(now(), generation);
      if (generation == link_.generation() && link_.transport_active()) start_read(generation);
    }
    pump();
  });
}

// ---------------------------------------------------------------- reader

void Client::start_read(Link::Generation generation) {
  (void)generation;  // the stream reports with the generation of its open
  ++outstanding_;
  // Always one read outstanding while connected: any byte from the server
  // is a sign of life, and a closed socket completes it at once.
  stream_->async_read_some(ByteSpan{rx_, sizeof rx_});
}

void Client::on_stream_read(std::uint32_t generation, std::error_code error, std::size_t bytes) {
  --outstanding_;
  ConstByteSpan rest{rx_, bytes};
  // The link pauses after each downlink message until the listener had it
  // (outside the lock, with the payload still in the link's decoder); each
  // round takes at least one frame, so the rounds are bounded by the bytes.
  bool delivered = false;
  for (std::size_t round = 0; round <= bytes; ++round) {
    bool paused = false;
    locked([&] {
      if (delivered) link_.message_delivered();  // whatever happened since: it was delivered
      if (generation == link_.generation()) {
        if (error) {
          link_.on_transport_error(now(), generation, error);
        } else {
          rest = rest.subspan(link_.on_received(now(), generation, rest));
          paused = link_.message_pending();
          if (!paused && generation == link_.generation() && link_.transport_active()) start_read(generation);
        }
      }
      pump();
    });
    if (!paused) return;
    delivered = true;
  }
}

// ---------------------------------------------------------------- writer

void Client::start_write() {
  const ConstByteSpan bytes = link_.pending_write();
  if (bytes.empty()) return;
  link_.on_write_started(now());
  writing_ = true;
  ++outstanding_;
  // The bytes stay in place until the completion (the link appends new
  // frames after them), as the stream requires. A partial write leaves the
  // rest pending for the next pump. The write deadline is the link's:
  // if this does not complete in time, the deadline actor closes the
  // socket and the link is declared dead.
  stream_->async_write_some(bytes);
}

void Client::on_stream_written(std::uint32_t generation, std::error_code error, std::size_t bytes) {
  --outstanding_;
  locked([&] {
    if (generation != link_.generation()) return;
    writing_ = false;
    if (error) {
      link_.on_transport_error(now(), generation, error);
    } else {
      link_.on_write_complete(now(), generation, bytes);
    }
    pump();
  });
}

// -------------------------------------------------------------- deadline

void Client::arm_timer() {
  const Millis wake_at = link_.next_wakeup();
  if (wake_at == kNever) {
    if (timer_waits_ > 0) timer_.cancel();
    timer_armed_at_ = kNever;
    return;
  }
  // A wait that fires no later than needed is kept: on waking, the link
  // is asked again. An earlier deadline always costs a re-arm; a later one
  // only when it moved by more than a quarter of the heartbeat interval:
  // then an idle device does not wake once for nothing per heartbeat (a
  // PONG pushes every deadline out), while busy traffic, which moves the
  // deadlines a little with every frame, does not re-arm on every frame.
  if (timer_waits_ > 0 && timer_armed_at_ <= wake_at) {
    const Millis slack = link_.state() == ClientState::online
                             ? link_.keep_alive().timings().heartbeat_ms / 4
                             : kNever;
    if (wake_at - timer_armed_at_ <= slack) return;
  }
  // A cancelled wait holds its handler block until its completion runs.
  // Re-arms in a row (handlers queued behind slow ones, e.g. a spool's
  // fdatasync) would take every block and then the heap: the re-arm is
  // owed to the next cancelled completion instead, which is already queued.
  if (timer_waits_ >= kOpBlocks) {
    timer_rearm_owed_ = true;
    return;
  }
  timer_rearm_owed_ = false;
  timer_armed_at_ = wake_at;
  timer_.expires_at(epoch_ + std::chrono::milliseconds(wake_at));
  ++timer_waits_;
  ++outstanding_;
  timer_.async_wait(with_memory(timer_memory_, [this](const asio::error_code& error) { handle_timer(error); }));
}

void Client::handle_timer(const asio::error_code& error) {
  --outstanding_;
  locked([&] {
    --timer_waits_;
    if (error == asio::error::operation_aborted) {  // re-armed or cancelled on purpose
      if (timer_rearm_owed_) arm_timer();
      return;
    }
    if (timer_waits_ == 0) timer_armed_at_ = kNever;
    link_.on_timer(now());
    pump();
  });
}

// ------------------------------------------------------------------ pump

void Client::pump() {
  if (stop_requested_.exchange(false)) link_.stop(now());
  if (network_changed_.exchange(false)) {
    char key[HeartbeatBook::kKeySize];
    (void)port::network_identity(key, sizeof key);
    link_.on_network_change(now(), key);
  }
  if (!writing_ && link_.transport_active()) start_write();
  arm_timer();
  const Counters& counters = link_.counters();
  const std::uint64_t settled = counters.messages_acked + counters.messages_dropped;
  if (settled != settled_seen_) {
    settled_seen_ = settled;
    settling_.notify_all();
  }
}

void Client::wake() {
  if (wake_pending_.exchange(true)) return;  // one wake-up in flight serves every request
  ++outstanding_;
  asio::post(io_, with_memory(wake_memory_, [this] { handle_wake(); }));
}

void Client::handle_wake() {
  --outstanding_;
  wake_pending_ = false;
  locked([this] { pump(); });
}

// -------------------------------------------------------------- events

template <typename Fn>
void Client::locked(Fn&& fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn();
  }
  deliver_events();
}

void Client::deliver_events_soon() {
  if (on_io_thread()) {
    deliver_events();
    return;
  }
  bool pending = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending = !events_.empty();
  }
  if (pending) wake();
}

void Client::deliver_events() {
  // One delivery at a time: what a callback causes (a send() that drops, a
  // stop()) is queued behind and delivered by this loop, in order, never
  // from inside the callback.
  if (delivering_) return;
  delivering_ = true;
  // Bounded: another round only when a callback sent something.
  for (int round = 0; round < 64; ++round) {
    for (;;) {
      EventQueue::Event event;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!events_.pop(event, log_line_)) break;
      }
      deliver(event);
    }
    if (!pump_after_delivery_) break;
    pump_after_delivery_ = false;
    std::lock_guard<std::mutex> lock(mutex_);
    pump();
  }
  if (pump_after_delivery_) {  // the bound was hit: write what waits anyway
    pump_after_delivery_ = false;
    std::lock_guard<std::mutex> lock(mutex_);
    pump();
  }
  delivering_ = false;
}

void Client::deliver(const EventQueue::Event& event) {
  if (const auto* e = std::get_if<StateChange>(&event)) {
    listener_.on_state(*e);
  } else if (const auto* down = std::get_if<DisconnectInfo>(&event)) {
    listener_.on_disconnected(*down);
  } else if (const auto* failure = std::get_if<ConnectFailure>(&event)) {
    listener_.on_connect_failed(*failure);
  } else if (const auto* reset = std::get_if<SessionReset>(&event)) {
    listener_.on_session_reset(*reset);
  } else if (const auto* damage = std::get_if<SpoolDamage>(&event)) {
    listener_.on_spool_damaged(*damage);
  } else if (const auto* message = std::get_if<EventQueue::Message>(&event)) {
    listener_.on_message(message->seq, message->payload);
  } else if (const auto* acked = std::get_if<EventQueue::Acked>(&event)) {
    std::uint64_t ids[16];
    for (std::uint32_t left = acked->count; left > 0;) {
      std::size_t n = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        n = events_.take_acked(ids, left < 16 ? left : 16);
      }
      if (n == 0) break;
      left -= static_cast<std::uint32_t>(n);
      for (std::size_t i = 0; i < n; ++i) listener_.on_acked(ids[i]);
    }
  } else if (const auto* dropped = std::get_if<EventQueue::Dropped>(&event)) {
    for (std::uint64_t i = 0; i < dropped->count; ++i) listener_.on_dropped(dropped->first + i, dropped->reason);
  } else if (const auto* heartbeat = std::get_if<EventQueue::Heartbeat>(&event)) {
    listener_.on_heartbeat(heartbeat->rtt_ms);
  } else if (const auto* log = std::get_if<EventQueue::Log>(&event)) {
    listener_.on_log(log->level, log_line_);
  }
}

Millis Client::now() const {
  return static_cast<Millis>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Timer::clock_type::now() - epoch_).count());
}

bool Client::on_io_thread() const { return io_.get_executor().running_in_this_thread(); }

}  // namespace uplink
