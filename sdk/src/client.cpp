// SPDX-License-Identifier: Apache-2.0
// The Asio shell around Session: it performs what the session asks and
// reports what happened, nothing more. Every rule lives in Session.
//
//  Actors (each one asynchronous operation at most, each with its own
//  preallocated handler memory):
//
//    +-----------+  on_received / on_transport_error   +-----------+
//    |  reader   | -----------------------------------> |           |
//    +-----------+                                      |           |
//    +-----------+  on_write_complete                   |  Session  |
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
//  network change, starts a write if the session has bytes and none is in
//  flight, and re-arms the deadline timer when the next wake-up moved
//  earlier, or later by more than a quarter of the heartbeat (arm_timer()).
//  Each completion carries the generation it was started for; the session
//  ignores stale ones, so the handlers of a dead connection can never touch
//  the next.
#include "uplink/client.hpp"

#include <asio/bind_allocator.hpp>
#include <asio/post.hpp>
#include <cstdio>
#include <cstdlib>

#include "uplink/error.hpp"
#if defined(UPLINK_WITH_TLS)
#include "uplink/tls/fd_transport.hpp"
#include "uplink/tls/tls_engine.hpp"
#endif

namespace uplink {
namespace {

// Errors that mean "the peer or the network ended the connection".
std::error_code classify(const asio::error_code& error) {
  if (error == asio::error::eof || error == asio::error::connection_reset ||
      error == asio::error::broken_pipe || error == asio::error::connection_aborted) {
    return make_error_code(Errc::connection_closed);
  }
  // Asio reports socket errors in its own "asio.system" category; on POSIX
  // the values are errno values, so they are handed on in the standard
  // system category, where comparisons with std::errc work as expected.
  if (error.category() == asio::system_category()) return {error.value(), std::system_category()};
  return error;
}

template <typename Memory, typename Handler>
auto with_memory(Memory& memory, Handler&& handler) {
  return asio::bind_allocator(detail::HandlerAllocator<int, Memory>(memory), std::forward<Handler>(handler));
}

// Keeps the handler depth right on every exit path of a completion handler.
class HandlerScope {
 public:
  explicit HandlerScope(int& depth) : depth_(depth) { ++depth_; }
  ~HandlerScope() { --depth_; }
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;

 private:
  int& depth_;
};

}  // namespace

Client::Client(asio::io_context& io, Listener& listener, RandomSource& random)
    : io_(io),
      socket_(io.get_executor()),
      resolver_(io.get_executor()),
      timer_(io.get_executor()),
      epoch_(Timer::clock_type::now()),
      session_(*this, listener, random),
      listener_(listener) {}

Client::~Client() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  session_.stop(now());
  asio::error_code ignored;
  timer_.cancel();
  if (resolving_) resolver_.cancel();
  socket_.close(ignored);
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

#if defined(UPLINK_WITH_TLS)
void Client::use_tls(tls::TlsEngine& engine) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  tls_ = &engine;
}
#endif

std::error_code Client::attach_spool(Spool& spool) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  HandlerScope scope(handler_depth_);
  return session_.attach_spool(spool);
}

OptionsCheck Client::start(const Options& options) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  HandlerScope scope(handler_depth_);
  tuning_.user_timeout_ms = options.write_timeout_ms;
  tuning_.send_buffer_bytes = options.socket_send_buffer_bytes;
  tuning_.keepalive_idle_s = options.tcp_keepalive_idle_s;
  stop_requested_ = false;
  const OptionsCheck check = session_.start(options, now());
  if (check) pump();
  return check;
}

void Client::stop() {
  stop_requested_ = true;
  if (!on_io_thread()) {
    wake();
    return;
  }
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  // Inside a callback the session is mid-event: the request is carried out
  // by the pump that ends the current handler.
  if (handler_depth_ > 0) return;
  HandlerScope scope(handler_depth_);
  pump();
}

std::error_code Client::send(ConstByteSpan payload, std::uint64_t* id) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  const std::error_code error = session_.send(payload, now(), id);
  if (error) return error;
  if (!on_io_thread()) {
    wake();
  } else if (handler_depth_ == 0) {
    HandlerScope scope(handler_depth_);
    pump();
  }
  return {};
}

void Client::network_changed() {
  network_changed_ = true;
  if (!on_io_thread()) {
    wake();
    return;
  }
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  if (handler_depth_ > 0) return;  // the pump ending the current handler takes it
  HandlerScope scope(handler_depth_);
  pump();
}

std::error_code Client::flush(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  // "Forever" must not overflow the deadline.
  const bool unbounded = timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - start);
  return flush(unbounded ? Clock::time_point::max() : start + timeout);
}

std::error_code Client::flush(std::chrono::steady_clock::time_point deadline) {
  if (on_io_thread()) return Errc::wrong_thread;
  std::unique_lock<std::recursive_mutex> lock(mutex_);
  // Only what is queued now: a thread that keeps sending must not hold
  // this one past its deadline.
  const std::uint64_t through = session_.last_message_id();
  const int watch = session_.watch_drops(through);
  const std::uint64_t dropped_before = session_.counters().messages_dropped;
  ++flushes_waiting_;
  const bool settled = settling_.wait_until(lock, deadline, [&] { return session_.settled_through(through); });
  --flushes_waiting_;
  // Without a watch (every slot taken) any drop meanwhile counts: never a
  // success for a message that may have been dropped.
  const bool dropped =
      watch >= 0 ? session_.watched_drop(watch) : session_.counters().messages_dropped != dropped_before;
  if (watch >= 0) session_.unwatch_drops(watch);
  if (!settled) return Errc::flush_timeout;
  return dropped ? make_error_code(Errc::messages_dropped) : std::error_code{};
}

std::size_t Client::flushes_waiting() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return flushes_waiting_;
}

bool Client::settled(std::uint64_t id) const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return session_.settled_through(id);
}

std::size_t Client::queued() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return session_.queued_messages();
}

ClientState Client::state() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return session_.state();
}

Counters Client::counters() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  Counters c = session_.counters();
#if defined(UPLINK_WITH_TLS)
  if (tls_ != nullptr) {
    const tls::TlsStats& stats = tls_->stats();
    c.tls_resumed_handshakes = stats.resumed_handshakes;
    c.tls_full_handshakes = stats.handshakes - stats.resumed_handshakes;
  }
#endif
  return c;
}

std::size_t Client::handler_heap_fallbacks() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return connect_memory_.heap_fallbacks() + read_memory_.heap_fallbacks() + write_memory_.heap_fallbacks() +
         timer_memory_.heap_fallbacks() + wake_memory_.heap_fallbacks();
}

// ------------------------------------------------------------- SessionIo

void Client::open_transport(std::size_t endpoint_index, const Endpoint& endpoint) {
  (void)endpoint_index;
  const Session::Generation generation = session_.generation();
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
        std::lock_guard<std::recursive_mutex> lock(mutex_);
        HandlerScope scope(handler_depth_);
        resolving_ = false;
        if (generation != session_.generation()) return;
        if (resolve_error) {
          session_.on_transport_failed(now(), generation, make_error_code(Errc::resolve_failed));
          pump();
          return;
        }
        // Each resolved address is tried in turn (handle_connect), all under
        // the session's one deadline.
        resolved_ = std::move(results);
        next_address_ = resolved_.begin();
        start_connect(generation, (next_address_++)->endpoint());
      });
}

void Client::close_transport(ConstByteSpan farewell) {
  asio::error_code ignored;
  // Asio's resolver cancel() allocates, so it is only called when a lookup
  // is actually running.
  if (resolving_) resolver_.cancel();
#if defined(UPLINK_WITH_TLS)
  tls_handshaking_ = false;
#endif
  if (socket_.is_open()) {
#if defined(UPLINK_WITH_TLS)
    if (tls_ != nullptr) {
      // Best effort, never waiting: the farewell through TLS unless a
      // pinned write holds the record layer, then close_notify.
      if (tls_->handshake_done()) {
        if (!farewell.empty() && !tls_->write_pending()) (void)tls_->write(farewell);
        (void)tls_->close_notify();
      }
      farewell = {};
    }
#endif
    if (!farewell.empty()) {
      // Best effort: a non-blocking write of the CLOSE frame straight into
      // the kernel buffer. If it does not fit at once it is dropped; a close
      // must never wait on a link that may be dead.
      socket_.non_blocking(true, ignored);
      socket_.write_some(asio::buffer(farewell.data, farewell.size), ignored);
    }
    socket_.close(ignored);
  }
  writing_ = false;
}

// ------------------------------------------------------------- connector

void Client::start_connect(Session::Generation generation, const asio::ip::tcp::endpoint& endpoint) {
  ++outstanding_;
  // The session's deadline bounds this: on expiry it closes the socket,
  // which completes the connect with operation_aborted (then ignored).
  socket_.async_connect(endpoint, with_memory(connect_memory_, [this, generation](const asio::error_code& error) {
                          handle_connect(generation, error);
                        }));
}

void Client::handle_connect(Session::Generation generation, const asio::error_code& error) {
  --outstanding_;
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  HandlerScope scope(handler_depth_);
  if (generation != session_.generation()) return;
  if (error) {
    if (next_address_ != resolved_.end()) {
      asio::error_code ignored;
      socket_.close(ignored);
      start_connect(generation, (next_address_++)->endpoint());
      return;
    }
    session_.on_transport_failed(now(), generation, classify(error));
    pump();
    return;
  }
  resolved_ = {};
  if (const std::error_code tuning_error = port::tune_socket(socket_.native_handle(), tuning_)) {
    listener_.on_log(LogLevel::warning, "socket tuning failed; continuing without it");
  }
#if defined(UPLINK_WITH_TLS)
  if (tls_ != nullptr) {
    asio::error_code ignored;
    socket_.non_blocking(true, ignored);
    if (tls_used_) {
      if (const std::error_code reset_error = tls_->reset()) {
        session_.on_transport_failed(now(), generation, reset_error);
        pump();
        return;
      }
    }
    tls_used_ = true;
    tls_->set_transport(tls::fd_transport(socket_.native_handle()));
    if (!tls_->verifies_peer()) {
      listener_.on_log(LogLevel::warning, "TLS server verification is OFF (insecure): anyone can impersonate the server");
    }
    tls_handshaking_ = true;
    tls_handshake(generation);
    return;
  }
#endif
  transport_ready(generation);
}

std::error_code Client::connect_timeout_reason() const {
#if defined(UPLINK_WITH_TLS)
  // TCP was up and the deadline ran out inside the TLS handshake: saying so
  // tells an operator to look at the server's TLS side, not the network.
  if (tls_handshaking_) return make_error_code(tls::TlsErrc::handshake_timeout);
#endif
  return make_error_code(Errc::connect_timeout);
}

// The transport (TCP, and TLS if used) is up: the session takes over.
void Client::transport_ready(Session::Generation generation) {
#if defined(UPLINK_WITH_TLS)
  tls_handshaking_ = false;
#endif
  session_.on_transport_open(now(), generation);
  if (generation == session_.generation() && session_.transport_active()) start_read(generation);
  pump();
}

// ---------------------------------------------------------------- reader

void Client::start_read(Session::Generation generation) {
#if defined(UPLINK_WITH_TLS)
  if (tls_ != nullptr) {
    tls_read(generation);
    return;
  }
#endif
  ++outstanding_;
  // Always one read outstanding while connected: any byte from the server
  // is a sign of life, and a closed socket completes it at once.
  socket_.async_read_some(asio::buffer(rx_),
                          with_memory(read_memory_, [this, generation](const asio::error_code& error, std::size_t n) {
                            handle_read(generation, error, n);
                          }));
}

void Client::handle_read(Session::Generation generation, const asio::error_code& error, std::size_t size) {
  --outstanding_;
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  HandlerScope scope(handler_depth_);
  if (generation != session_.generation()) return;
  if (error) {
    session_.on_transport_error(now(), generation, classify(error));
  } else {
    session_.on_received(now(), generation, ConstByteSpan{rx_, size});
    if (generation == session_.generation() && session_.transport_active()) start_read(generation);
  }
  pump();
}

// ---------------------------------------------------------------- writer

void Client::start_write() {
  const ConstByteSpan bytes = session_.pending_write();
  if (bytes.empty()) return;
  const Session::Generation generation = session_.generation();
  session_.on_write_started(now());
  writing_ = true;
#if defined(UPLINK_WITH_TLS)
  if (tls_ != nullptr) {
    tls_write(generation);
    return;
  }
#endif
  ++outstanding_;
  // One write_some at a time, never the composed asio::async_write: a
  // composed write that outlives its connection would carry on writing the
  // rest of its buffer into the next connection on this same socket object.
  // A partial write just leaves the rest pending for the next pump.
  // The write deadline is the session's: if this does not complete in
  // time, the deadline actor closes the socket and the link is declared dead.
  socket_.async_write_some(asio::buffer(bytes.data, bytes.size),
                           with_memory(write_memory_, [this, generation](const asio::error_code& error, std::size_t n) {
                             handle_write(generation, error, n);
                           }));
}

void Client::handle_write(Session::Generation generation, const asio::error_code& error, std::size_t size) {
  --outstanding_;
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  HandlerScope scope(handler_depth_);
  if (generation != session_.generation()) return;
  writing_ = false;
  if (error) {
    session_.on_transport_error(now(), generation, classify(error));
  } else {
    session_.on_write_complete(now(), generation, size);
  }
  pump();
}

#if defined(UPLINK_WITH_TLS)
// ------------------------------------------------------------------- TLS
//
// mbedTLS does its own socket I/O through non-blocking send/recv on the
// socket's descriptor (Asio's third-party-library pattern): an operation
// that would block reports want_read or want_write, the shell waits for
// that readiness with async_wait, then calls the SAME operation again.

template <typename Handler>
void Client::wait_socket(bool for_write, detail::HandlerMemory<256, 3>& memory, Handler&& handler) {
  ++outstanding_;
  socket_.async_wait(for_write ? Socket::wait_write : Socket::wait_read,
                     with_memory(memory, std::forward<Handler>(handler)));
}

void Client::tls_handshake(Session::Generation generation) {
  const tls::TlsResult r = tls_->handshake_step();
  if (r.ok()) {
    transport_ready(generation);
    return;
  }
  if (r.wants_io()) {
    // The session's connect deadline bounds this: on expiry the socket is
    // closed and the wait completes with operation_aborted (then ignored).
    wait_socket(r.status == tls::TlsStatus::want_write, connect_memory_,
                [this, generation](const asio::error_code& error) {
                  --outstanding_;
                  std::lock_guard<std::recursive_mutex> lock(mutex_);
                  HandlerScope scope(handler_depth_);
                  if (generation != session_.generation()) return;
                  if (error) {
                    session_.on_transport_failed(now(), generation, classify(error));
                    pump();
                    return;
                  }
                  tls_handshake(generation);
                });
    return;
  }
  session_.on_transport_failed(now(), generation, r.error ? r.error : make_error_code(Errc::connection_closed));
  pump();
}

void Client::tls_read(Session::Generation generation) {
  // Drain everything mbedTLS can give without the socket (records already
  // received may hold more plaintext than one chunk), then wait.
  for (int chunk = 0; chunk < 64; ++chunk) {
    const tls::TlsResult r = tls_->read(ByteSpan{rx_, sizeof rx_});
    if (r.ok()) {
      session_.on_received(now(), generation, ConstByteSpan{rx_, r.bytes});
      if (generation != session_.generation() || !session_.transport_active()) return;
      continue;
    }
    if (r.wants_io()) {
      tls_read_when_ready(generation, r.status == tls::TlsStatus::want_write);
      return;
    }
    session_.on_transport_error(now(), generation,
                                r.status == tls::TlsStatus::closed || !r.error ? make_error_code(Errc::connection_closed)
                                                                              : r.error);
    return;
  }
  // A flood of buffered records: continue after other handlers had a turn.
  tls_read_when_ready(generation, false);
}

void Client::tls_read_when_ready(Session::Generation generation, bool for_write) {
  wait_socket(for_write, read_memory_, [this, generation](const asio::error_code& error) {
    --outstanding_;
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    HandlerScope scope(handler_depth_);
    if (generation != session_.generation()) return;
    if (error) {
      session_.on_transport_error(now(), generation, classify(error));
    } else {
      tls_read(generation);
    }
    pump();
  });
}

void Client::tls_write(Session::Generation generation) {
  // The bytes handed to mbedTLS stay where they are until the write
  // completes (the session only appends after them): a want_write retry
  // passes the very same buffer, as mbedTLS requires.
  const ConstByteSpan bytes = session_.pending_write_in_flight();
  const tls::TlsResult r = tls_->write(bytes);
  if (r.ok()) {
    writing_ = false;
    session_.on_write_complete(now(), generation, r.bytes);
    return;  // the pump that called us writes the rest
  }
  if (r.wants_io()) {
    wait_socket(r.status == tls::TlsStatus::want_write, write_memory_, [this, generation](const asio::error_code& error) {
      --outstanding_;
      std::lock_guard<std::recursive_mutex> lock(mutex_);
      HandlerScope scope(handler_depth_);
      if (generation != session_.generation()) return;
      if (error) {
        writing_ = false;
        session_.on_transport_error(now(), generation, classify(error));
      } else {
        tls_write(generation);
      }
      pump();
    });
    return;
  }
  writing_ = false;
  session_.on_transport_error(now(), generation, r.error ? r.error : make_error_code(Errc::connection_closed));
}
#endif

// -------------------------------------------------------------- deadline

void Client::arm_timer() {
  const Millis wake_at = session_.next_wakeup();
  if (wake_at == kNever) {
    if (timer_waits_ > 0) timer_.cancel();
    timer_armed_at_ = kNever;
    return;
  }
  // A wait that fires no later than needed is kept: on waking, the session
  // is asked again. An earlier deadline always costs a re-arm; a later one
  // only when it moved by more than a quarter of the heartbeat interval:
  // then an idle device does not wake once for nothing per heartbeat (a
  // PONG pushes every deadline out), while busy traffic, which moves the
  // deadlines a little with every frame, does not re-arm on every frame.
  if (timer_waits_ > 0 && timer_armed_at_ <= wake_at) {
    const Millis slack = session_.state() == ClientState::online
                             ? session_.keep_alive().timings().heartbeat_ms / 4
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
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  HandlerScope scope(handler_depth_);
  --timer_waits_;
  if (error == asio::error::operation_aborted) {  // re-armed or cancelled on purpose
    if (timer_rearm_owed_) arm_timer();
    return;
  }
  if (timer_waits_ == 0) timer_armed_at_ = kNever;
  session_.on_timer(now());
  pump();
}

// ------------------------------------------------------------------ pump

void Client::pump() {
  if (stop_requested_.exchange(false)) session_.stop(now());
  if (network_changed_.exchange(false)) session_.on_network_change(now());
  // A TLS write may complete at once; then there may be more to write.
  for (int round = 0; round < 16 && !writing_ && session_.transport_active() && !session_.pending_write().empty();
       ++round) {
    start_write();
  }
  arm_timer();
  const Counters& counters = session_.counters();
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
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  HandlerScope scope(handler_depth_);
  pump();
}

Millis Client::now() const {
  return static_cast<Millis>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Timer::clock_type::now() - epoch_).count());
}

bool Client::on_io_thread() const { return io_.get_executor().running_in_this_thread(); }

}  // namespace uplink
