// SPDX-License-Identifier: Apache-2.0
// ScriptedServer: see scripted_server.hpp.
//
// Structure: the public object owns a shared Impl (acceptor, sessions,
// statistics). Each accepted socket is a Connection owned by a shared_ptr;
// every asynchronous handler holds that shared_ptr, and a connection that
// is finished (closed) ignores every later completion. A connection leaves
// the server's list in finish(), which runs exactly once per connection.
#include "support/scripted_server.hpp"  // first: it includes uplink/net/asio.hpp first

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

#include "uplink/net/asio.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/socket_base.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "uplink/codec/frame_decoder.hpp"
#include "uplink/codec/frame_encoder.hpp"
#include "uplink/error.hpp"

namespace uplink::test {

namespace {

using Behavior = ScriptedServer::Behavior;

constexpr int kSmallReceiveBuffer = 4096;          // SO_RCVBUF for stop_reading_after_welcome
constexpr std::chrono::milliseconds kCloseDeadline{2000};  // flush + drain of a graceful close
constexpr std::size_t kMaxQueuedPings = 64;        // stop_reading: skip a PING above this backlog
constexpr std::uint64_t kMaxPingsPerConnection = 1000000;

// Session ids are unique within the process, so a new server never hands
// out an id an earlier server issued (that would look like a resume).
std::uint64_t new_session_id() {
  static std::atomic<std::uint64_t> counter{0};
  return 0x5E55000000000000ULL | (counter.fetch_add(1) + 1);
}

std::string to_string(ConstByteSpan bytes) {
  return bytes.empty() ? std::string() : std::string(reinterpret_cast<const char*>(bytes.data), bytes.size);
}

CloseReason close_reason_for(std::error_code error) {
  if (error == Errc::frame_too_large) return CloseReason::frame_too_large;
  if (error == Errc::unsupported_version) return CloseReason::unsupported_version;
  return CloseReason::protocol_error;
}

class Connection;

struct Session {
  std::uint64_t id = 0;
  std::uint64_t next_uplink = 1;    // next uplink seq expected from the device
  std::uint64_t next_downlink = 1;  // seq of the next downlink DATA
  std::deque<std::pair<std::uint64_t, std::string>> unacked_downlink;
  std::weak_ptr<Connection> current;  // newest connection WELCOMEd into this session
};

struct Stats {
  std::size_t accepted = 0;
  std::size_t hellos = 0;
  std::size_t welcomes = 0;
  std::size_t live = 0;
  std::size_t pings = 0;
  std::size_t pongs = 0;
  std::size_t acks = 0;
  std::size_t closes = 0;
  std::uint64_t last_ack = 0;
  std::uint64_t last_session_id = 0;
  CloseReason last_close_reason = CloseReason::normal;
  std::vector<ScriptedServer::Received> received;
  ScriptedServer::HelloInfo last_hello;
};

}  // namespace

class ScriptedServer::Impl : public std::enable_shared_from_this<ScriptedServer::Impl> {
 public:
  explicit Impl(asio::io_context& io) : io_(io), acceptor_(io), accept_retry_(io) {}

  std::error_code listen();
  void stop_listening();
  void shutdown();
  void apply_receive_buffer();

  Session& session_for(const Hello& hello, bool& resumed);
  void on_connection_finished(const std::shared_ptr<Connection>& connection);
  std::vector<std::shared_ptr<Connection>> connections_copy() const { return connections_; }

  template <typename F>
  void update(F&& f) {
    std::lock_guard<std::mutex> lock(mutex_);
    f(stats_);
  }
  template <typename F>
  auto read(F&& f) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return f(stats_);
  }

  asio::io_context& io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::uint16_t port_ = 0;
  std::error_code listen_error_;
  bool alive_ = true;
  bool listening_ = false;
  std::uint64_t accept_generation_ = 0;
  Behavior behavior_ = Behavior::normal;
  bool clamp_ = false;
  std::uint32_t clamp_min_ms_ = 0;
  std::uint32_t clamp_max_ms_ = 0;
  std::uint32_t ping_interval_ms_ = 50;
  std::uint32_t retry_after_ms_ = 0;
  int default_receive_buffer_ = 0;  // SO_RCVBUF of a fresh socket (0 = unknown)
  bool receive_buffer_changed_ = false;
  std::vector<std::shared_ptr<Connection>> connections_;
  std::map<std::uint64_t, Session> sessions_;

 private:
  void arm_accept();
  void on_accept(std::uint64_t generation, std::error_code error, asio::ip::tcp::socket socket);

  mutable std::mutex mutex_;
  Stats stats_;
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ScriptedServer::Impl> server, asio::ip::tcp::socket socket, Behavior behavior)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        ping_timer_(server_->io_),
        close_timer_(server_->io_),
        behavior_(behavior) {}

  void start() {
    std::error_code ignored;
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    silent_ = behavior_ == Behavior::never_welcome || behavior_ == Behavior::accept_and_hold;
    read_stopped_ = behavior_ == Behavior::accept_and_hold;
    arm_read();
  }

  // set_behavior_now on a live connection.
  void apply_now(Behavior behavior) {
    if (finished_ || closing_) return;
    behavior_ = behavior;
    if (welcomed_) {
      after_welcome(behavior, /*first_time=*/false);
      return;
    }
    // Before WELCOME: the behaviour decides what happens on HELLO.
    silent_ = behavior == Behavior::never_welcome || behavior == Behavior::accept_and_hold;
    if (behavior == Behavior::accept_and_hold) {
      read_stopped_ = true;
    } else {
      resume_reading();
    }
  }

  bool can_write() const { return !finished_ && !closing_ && !silent_; }
  bool online() const { return can_write() && welcomed_; }

  void send_ping() { queue_ping(); }

  template <typename F>
  void send_frame(const F& frame) {
    std::uint8_t buffer[kMaxFrameSize];
    const EncodeResult r = encode(frame, ByteSpan{buffer, sizeof buffer});
    if (r) queue(buffer, r.size);
  }

  // Flush what is queued, FIN, read until the peer closes (or the deadline), close.
  void graceful_close() {
    if (finished_ || closing_) return;
    closing_ = true;
    silent_ = true;
    after_flush_ = AfterFlush::graceful;
    start_close_deadline();
    arm_write();
  }

  // RST right away.
  void abort() {
    if (finished_) return;
    std::error_code ignored;
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    finish();
  }

  // The one exit of every connection: runs once.
  void finish() {
    if (finished_) return;
    const std::shared_ptr<Connection> self = shared_from_this();
    finished_ = true;
    ping_timer_.cancel();
    close_timer_.cancel();
    std::error_code ignored;
    socket_.close(ignored);
    tx_.clear();
    held_.clear();
    server_->on_connection_finished(self);
  }

  std::uint64_t session_id() const { return session_id_; }

 private:
  enum class AfterFlush : std::uint8_t { none, graceful, abort };

  // --- Reading ---------------------------------------------------------------

  void arm_read() {
    if (finished_ || reading_) return;
    if (!closing_ && read_stopped_) return;
    reading_ = true;
    socket_.async_read_some(asio::buffer(rx_), [self = shared_from_this()](std::error_code error, std::size_t n) {
      self->on_read(error, n);
    });
  }

  void on_read(std::error_code error, std::size_t n) {
    reading_ = false;
    if (finished_) return;
    if (error) {  // EOF, reset, or aborted: the connection is over
      finish();
      return;
    }
    if (closing_) {  // draining after our FIN: discard
      arm_read();
      return;
    }
    if (read_stopped_) {  // stopped while this read was in flight: keep the bytes for a resume
      held_.insert(held_.end(), rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(n));
      return;
    }
    on_bytes(ConstByteSpan{rx_.data(), n});
    arm_read();
  }

  void resume_reading() {
    read_stopped_ = false;
    if (!held_.empty()) {
      const std::vector<std::uint8_t> held = std::move(held_);
      held_.clear();
      on_bytes(ConstByteSpan{held.data(), held.size()});
    }
    arm_read();
  }

  void on_bytes(ConstByteSpan input) {
    if (decode_failed_) return;  // discarding after garbage in a silent mode
    // Each frame takes at least 2 bytes, so this bound (fixed from the
    // input's size on entry, not its shrinking rest) is never reached.
    const std::size_t max_frames = input.size / 2 + 1;
    for (std::size_t guard = 0; guard <= max_frames && !input.empty(); ++guard) {
      if (finished_ || closing_ || read_stopped_) return;
      const FrameDecoderBase::Result r = decoder_.feed(input);
      input = input.subspan(r.consumed);
      if (r.status == DecodeStatus::need_more) return;
      if (r.status == DecodeStatus::error) {
        if (silent_) {
          decode_failed_ = true;
        } else {
          fail(close_reason_for(decoder_.error()), "malformed input");
        }
        return;
      }
      on_frame(decoder_.frame());
    }
  }

  void on_frame(const Frame& frame) {
    switch (frame.type) {
      case FrameType::ping:
        server_->update([](Stats& s) { ++s.pings; });
        if (!silent_) queue_pong();
        return;
      case FrameType::pong:
        server_->update([](Stats& s) { ++s.pongs; });
        return;
      case FrameType::hello:
        if (hello_seen_) {
          fail(CloseReason::protocol_error, "second HELLO");
          return;
        }
        on_hello(frame.hello);
        return;
      case FrameType::welcome:
        fail(CloseReason::protocol_error, "WELCOME from a device");
        return;
      case FrameType::data:
        on_data(frame.data);
        return;
      case FrameType::ack:
        on_ack(frame.ack);
        return;
      case FrameType::close: {
        const CloseReason reason = frame.close.reason;
        server_->update([reason](Stats& s) {
          ++s.closes;
          s.last_close_reason = reason;
        });
        graceful_close();
        return;
      }
    }
  }

  void on_hello(const Hello& hello) {
    hello_seen_ = true;
    ScriptedServer::HelloInfo info;
    info.device_id = to_string(hello.device_id);
    info.heartbeat_ms = hello.heartbeat_ms;
    info.session_id = hello.session_id;
    info.last_downlink_seq = hello.last_downlink_seq;
    info.token = to_string(hello.token);
    server_->update([&info](Stats& s) {
      ++s.hellos;
      s.last_hello = std::move(info);
    });
    if (silent_) return;  // never_welcome (or switched to a silent mode before HELLO)

    bool resumed = false;
    Session& session = server_->session_for(hello, resumed);
    session_id_ = session.id;
    session.current = weak_from_this();

    Welcome welcome;
    welcome.heartbeat_ms = hello.heartbeat_ms;
    if (server_->clamp_) {
      welcome.heartbeat_ms = std::max(server_->clamp_min_ms_, std::min(server_->clamp_max_ms_, welcome.heartbeat_ms));
      if (welcome.heartbeat_ms == 0) welcome.heartbeat_ms = 1;
    }
    welcome.session_id = session.id;
    welcome.next_uplink_seq = session.next_uplink;
    send_frame(welcome);
    welcomed_ = true;
    const std::uint64_t id = session.id;
    server_->update([id](Stats& s) {
      ++s.welcomes;
      s.last_session_id = id;
    });
    after_welcome(behavior_, /*first_time=*/true);
  }

  void on_data(const Data& data) {
    if (silent_) return;  // silent modes discard
    if (!welcomed_) {
      fail(CloseReason::protocol_error, "DATA before HELLO");
      return;
    }
    Session* session = current_session();
    if (session == nullptr) {  // sessions were forgotten under us
      fail(CloseReason::sequence_error, "unknown session");
      return;
    }
    if (data.seq != session->next_uplink) {
      fail(CloseReason::sequence_error, "unexpected seq");
      return;
    }
    ++session->next_uplink;
    ScriptedServer::Received r;
    r.seq = data.seq;
    r.payload = to_string(data.payload);
    server_->update([&r](Stats& s) { s.received.push_back(std::move(r)); });
    Ack ack;
    ack.seq = data.seq;
    send_frame(ack);
  }

  void on_ack(const Ack& ack) {
    if (!welcomed_ && !silent_) {
      fail(CloseReason::protocol_error, "ACK before HELLO");
      return;
    }
    const std::uint64_t seq = ack.seq;
    server_->update([seq](Stats& s) {
      ++s.acks;
      s.last_ack = seq;
    });
    if (Session* session = current_session()) {
      auto& log = session->unacked_downlink;
      while (!log.empty() && log.front().first <= seq) log.pop_front();
    }
  }

  // What happens once WELCOME is queued (first_time) or when a welcomed
  // connection is switched by set_behavior_now.
  void after_welcome(Behavior behavior, bool first_time) {
    if (behavior != Behavior::stop_reading_after_welcome) ping_timer_.cancel();
    switch (behavior) {
      case Behavior::normal:
        silent_ = false;
        if (first_time) resend_downlink();
        resume_reading();
        return;
      case Behavior::silent_after_welcome:
      case Behavior::never_welcome:
        silent_ = true;
        resume_reading();
        return;
      case Behavior::stop_reading_after_welcome: {
        silent_ = false;
        read_stopped_ = true;
        if (!first_time) {  // too late for the window scale, but shrinks what is left
          std::error_code ignored;
          socket_.set_option(asio::socket_base::receive_buffer_size(kSmallReceiveBuffer), ignored);
        }
        start_ping_timer();
        return;
      }
      case Behavior::accept_and_hold:
        silent_ = true;
        read_stopped_ = true;
        return;
      case Behavior::close_after_welcome:
        graceful_close();
        return;
      case Behavior::reset_after_welcome:
        closing_ = true;
        silent_ = true;
        after_flush_ = AfterFlush::abort;
        start_close_deadline();
        arm_write();
        return;
      case Behavior::close_mid_frame: {
        Data data;
        data.seq = 1;
        data.payload = literal_bytes("partial");
        std::uint8_t buffer[64];
        const EncodeResult r = encode(data, ByteSpan{buffer, sizeof buffer});
        if (r) queue(buffer, 3);
        graceful_close();
        return;
      }
      case Behavior::garbage_after_welcome: {
        static const std::uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff};
        queue(garbage, sizeof garbage);
        silent_ = true;
        resume_reading();
        return;
      }
      case Behavior::close_frame_after_welcome: {
        Close close;
        close.reason = CloseReason::going_away;
        close.retry_after_ms = server_->retry_after_ms_;
        close.text = literal_bytes("restart");
        send_frame(close);
        graceful_close();
        return;
      }
    }
  }

  void resend_downlink() {
    Session* session = current_session();
    if (session == nullptr) return;
    for (const auto& entry : session->unacked_downlink) {
      Data data;
      data.seq = entry.first;
      data.payload = ConstByteSpan{entry.second.data(), entry.second.size()};
      send_frame(data);
    }
  }

  Session* current_session() {
    auto it = server_->sessions_.find(session_id_);
    return it == server_->sessions_.end() ? nullptr : &it->second;
  }

  // Error: CLOSE with the reason (unless silent), then graceful close.
  void fail(CloseReason reason, const char* text) {
    if (!silent_) {
      Close close;
      close.reason = reason;
      close.text = ConstByteSpan{text, std::strlen(text)};
      send_frame(close);
    }
    graceful_close();
  }

  // --- Writing ---------------------------------------------------------------

  void queue_ping() {
    std::uint8_t buffer[kControlFrameSize];
    if (encode_ping(ByteSpan{buffer, sizeof buffer})) queue(buffer, sizeof buffer);
  }

  void queue_pong() {
    std::uint8_t buffer[kControlFrameSize];
    if (encode_pong(ByteSpan{buffer, sizeof buffer})) queue(buffer, sizeof buffer);
  }

  void queue(const std::uint8_t* bytes, std::size_t size) {
    if (finished_ || send_shut_) return;
    tx_.emplace_back(bytes, bytes + size);
    arm_write();
  }

  void arm_write() {
    if (finished_ || writing_) return;
    if (tx_.empty()) {
      on_flushed();
      return;
    }
    writing_ = true;
    asio::async_write(socket_, asio::buffer(tx_.front()),
                      [self = shared_from_this()](std::error_code error, std::size_t) { self->on_write(error); });
  }

  void on_write(std::error_code error) {
    writing_ = false;
    if (finished_) return;
    if (error) {
      finish();
      return;
    }
    tx_.pop_front();
    arm_write();
  }

  void on_flushed() {
    switch (after_flush_) {
      case AfterFlush::none:
        return;
      case AfterFlush::graceful: {
        after_flush_ = AfterFlush::none;
        std::error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        send_shut_ = true;
        arm_read();  // drain until the peer closes (bounded by the close deadline)
        return;
      }
      case AfterFlush::abort:
        abort();
        return;
    }
  }

  // --- Timers ----------------------------------------------------------------

  void start_close_deadline() {
    close_timer_.expires_after(kCloseDeadline);
    close_timer_.async_wait([self = shared_from_this()](std::error_code error) {
      if (!error && !self->finished_) self->finish();
    });
  }

  void start_ping_timer() {
    ping_timer_.expires_after(std::chrono::milliseconds(std::max<std::uint32_t>(1, server_->ping_interval_ms_)));
    ping_timer_.async_wait([self = shared_from_this()](std::error_code error) { self->on_ping_timer(error); });
  }

  void on_ping_timer(std::error_code error) {
    if (error || finished_ || closing_ || behavior_ != Behavior::stop_reading_after_welcome) return;
    if (pings_sent_ >= kMaxPingsPerConnection) return;
    if (tx_.size() < kMaxQueuedPings) {
      queue_ping();
      ++pings_sent_;
    }
    start_ping_timer();
  }

  std::shared_ptr<ScriptedServer::Impl> server_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer ping_timer_;
  asio::steady_timer close_timer_;
  Behavior behavior_;
  FrameDecoder<> decoder_;
  std::array<std::uint8_t, 4096> rx_{};
  std::vector<std::uint8_t> held_;  // bytes read while reading was stopped
  std::deque<std::vector<std::uint8_t>> tx_;
  AfterFlush after_flush_ = AfterFlush::none;
  std::uint64_t session_id_ = 0;
  std::uint64_t pings_sent_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool read_stopped_ = false;   // no protocol reads (stop_reading, accept_and_hold)
  bool silent_ = false;         // no protocol writes
  bool hello_seen_ = false;
  bool welcomed_ = false;
  bool decode_failed_ = false;
  bool closing_ = false;        // graceful close or abort under way
  bool send_shut_ = false;      // FIN sent
  bool finished_ = false;       // socket closed; every later completion is ignored
};

}  // namespace

// --- Impl --------------------------------------------------------------------

std::error_code ScriptedServer::Impl::listen() {
  std::error_code error;
  const asio::ip::tcp::endpoint endpoint(asio::ip::address_v4::loopback(), port_);
  acceptor_.open(endpoint.protocol(), error);
  if (error) return error;
  acceptor_.set_option(asio::socket_base::reuse_address(true), error);
  if (!error && default_receive_buffer_ == 0) {
    asio::socket_base::receive_buffer_size size;
    std::error_code ignored;
    acceptor_.get_option(size, ignored);
    if (!ignored) default_receive_buffer_ = size.value();
  }
  if (!error) apply_receive_buffer();
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (!error) {
    const asio::ip::tcp::endpoint local = acceptor_.local_endpoint(error);
    if (!error) port_ = local.port();
  }
  if (error) {
    std::error_code ignored;
    acceptor_.close(ignored);
    return error;
  }
  listening_ = true;
  ++accept_generation_;
  arm_accept();
  return {};
}

// The receive buffer is set on the ACCEPTOR so that accepted sockets inherit
// it before the handshake, which is when the window scale is chosen.
void ScriptedServer::Impl::apply_receive_buffer() {
  if (!acceptor_.is_open()) return;
  std::error_code ignored;
  if (behavior_ == Behavior::stop_reading_after_welcome) {
    acceptor_.set_option(asio::socket_base::receive_buffer_size(kSmallReceiveBuffer), ignored);
    receive_buffer_changed_ = true;
  } else if (receive_buffer_changed_ && default_receive_buffer_ > 0) {
    // Linux doubles the value set; halve it to get the default size back.
    acceptor_.set_option(asio::socket_base::receive_buffer_size(default_receive_buffer_ / 2), ignored);
    receive_buffer_changed_ = false;
  }
}

void ScriptedServer::Impl::arm_accept() {
  const std::uint64_t generation = accept_generation_;
  acceptor_.async_accept([self = shared_from_this(), generation](std::error_code error, asio::ip::tcp::socket socket) {
    self->on_accept(generation, error, std::move(socket));
  });
}

void ScriptedServer::Impl::on_accept(std::uint64_t generation, std::error_code error, asio::ip::tcp::socket socket) {
  if (!alive_ || error == asio::error::operation_aborted) return;
  if (!error) {
    update([](Stats& s) {
      ++s.accepted;
      ++s.live;
    });
    auto connection = std::make_shared<Connection>(shared_from_this(), std::move(socket), behavior_);
    connections_.push_back(connection);
    connection->start();
  }
  if (!listening_ || generation != accept_generation_) return;  // stopped (and maybe restarted) meanwhile
  if (!error) {
    arm_accept();
    return;
  }
  // Transient failure (EMFILE, ECONNABORTED, ...): retry a little later, not in a tight loop.
  accept_retry_.expires_after(std::chrono::milliseconds(10));
  accept_retry_.async_wait([self = shared_from_this(), generation](std::error_code e) {
    if (!e && self->alive_ && self->listening_ && generation == self->accept_generation_) self->arm_accept();
  });
}

void ScriptedServer::Impl::stop_listening() {
  listening_ = false;
  ++accept_generation_;
  accept_retry_.cancel();
  std::error_code ignored;
  acceptor_.close(ignored);
}

void ScriptedServer::Impl::shutdown() {
  alive_ = false;
  stop_listening();
  for (const auto& connection : connections_copy()) connection->finish();
  connections_.clear();
  sessions_.clear();
}

Session& ScriptedServer::Impl::session_for(const Hello& hello, bool& resumed) {
  resumed = false;
  if (hello.session_id != 0) {
    auto it = sessions_.find(hello.session_id);
    if (it != sessions_.end()) {
      resumed = true;
      Session& session = it->second;
      // Everything up to last_downlink_seq was delivered: drop it; resend the rest.
      auto& log = session.unacked_downlink;
      while (!log.empty() && log.front().first <= hello.last_downlink_seq) log.pop_front();
      session.next_downlink = std::max(session.next_downlink, hello.last_downlink_seq + 1);
      return session;
    }
  }
  // New session: uplink and downlink both start at 1.
  std::uint64_t id = new_session_id();
  for (int i = 0; i < 16 && sessions_.count(id) != 0; ++i) id = new_session_id();
  Session& session = sessions_[id];
  session.id = id;
  return session;
}

void ScriptedServer::Impl::on_connection_finished(const std::shared_ptr<Connection>& connection) {
  auto it = std::find(connections_.begin(), connections_.end(), connection);
  if (it == connections_.end()) return;
  connections_.erase(it);
  update([](Stats& s) { --s.live; });
}

// --- ScriptedServer ----------------------------------------------------------

ScriptedServer::ScriptedServer(asio::io_context& io) : impl_(std::make_shared<Impl>(io)) {
  impl_->listen_error_ = impl_->listen();
}

ScriptedServer::~ScriptedServer() { impl_->shutdown(); }

std::uint16_t ScriptedServer::port() const { return impl_->port_; }
std::error_code ScriptedServer::listen_error() const { return impl_->listen_error_; }
bool ScriptedServer::listening() const { return impl_->listening_; }

void ScriptedServer::set_behavior(Behavior behavior) {
  impl_->behavior_ = behavior;
  impl_->apply_receive_buffer();
}

void ScriptedServer::set_behavior_now(Behavior behavior) {
  set_behavior(behavior);
  for (const auto& connection : impl_->connections_copy()) connection->apply_now(behavior);
}

ScriptedServer::Behavior ScriptedServer::behavior() const { return impl_->behavior_; }

void ScriptedServer::set_heartbeat_clamp(std::uint32_t min_ms, std::uint32_t max_ms) {
  impl_->clamp_ = true;
  impl_->clamp_min_ms_ = min_ms;
  impl_->clamp_max_ms_ = std::max(min_ms, max_ms);
}

void ScriptedServer::set_ping_interval(std::uint32_t ms) { impl_->ping_interval_ms_ = std::max<std::uint32_t>(1, ms); }
void ScriptedServer::set_retry_after(std::uint32_t ms) { impl_->retry_after_ms_ = ms; }

std::size_t ScriptedServer::send_data(std::string_view payload) {
  if (payload.size() > kMaxDataPayload) return 0;
  std::size_t sent = 0;
  for (auto& entry : impl_->sessions_) {
    Session& session = entry.second;
    const std::shared_ptr<Connection> connection = session.current.lock();
    if (!connection || !connection->online()) continue;
    const std::uint64_t seq = session.next_downlink++;
    session.unacked_downlink.emplace_back(seq, std::string(payload));
    Data data;
    data.seq = seq;
    data.payload = ConstByteSpan{payload.data(), payload.size()};
    connection->send_frame(data);
    ++sent;
  }
  return sent;
}

std::size_t ScriptedServer::send_ping() {
  std::size_t sent = 0;
  for (const auto& connection : impl_->connections_copy()) {
    if (!connection->can_write()) continue;
    connection->send_ping();
    ++sent;
  }
  return sent;
}

void ScriptedServer::stop_listening() { impl_->stop_listening(); }

std::error_code ScriptedServer::start_listening() {
  if (impl_->listening_ || !impl_->alive_) return {};
  return impl_->listen();
}

void ScriptedServer::close_all() {
  for (const auto& connection : impl_->connections_copy()) connection->graceful_close();
}

void ScriptedServer::reset_all() {
  for (const auto& connection : impl_->connections_copy()) connection->abort();
}

void ScriptedServer::forget_sessions() { impl_->sessions_.clear(); }

std::size_t ScriptedServer::accepted() const { return impl_->read([](const Stats& s) { return s.accepted; }); }
std::size_t ScriptedServer::hellos() const { return impl_->read([](const Stats& s) { return s.hellos; }); }
std::size_t ScriptedServer::welcomes() const { return impl_->read([](const Stats& s) { return s.welcomes; }); }
std::size_t ScriptedServer::live_connections() const { return impl_->read([](const Stats& s) { return s.live; }); }
std::size_t ScriptedServer::pings_received() const { return impl_->read([](const Stats& s) { return s.pings; }); }
std::size_t ScriptedServer::pongs_received() const { return impl_->read([](const Stats& s) { return s.pongs; }); }
std::vector<ScriptedServer::Received> ScriptedServer::received() const {
  return impl_->read([](const Stats& s) { return s.received; });
}
std::uint64_t ScriptedServer::acks_received() const { return impl_->read([](const Stats& s) { return s.last_ack; }); }
std::size_t ScriptedServer::ack_count() const { return impl_->read([](const Stats& s) { return s.acks; }); }
ScriptedServer::HelloInfo ScriptedServer::last_hello() const {
  return impl_->read([](const Stats& s) { return s.last_hello; });
}
std::uint64_t ScriptedServer::last_session_id() const {
  return impl_->read([](const Stats& s) { return s.last_session_id; });
}
std::size_t ScriptedServer::closes_received() const { return impl_->read([](const Stats& s) { return s.closes; }); }
CloseReason ScriptedServer::last_close_reason() const {
  return impl_->read([](const Stats& s) { return s.last_close_reason; });
}

}  // namespace uplink::test
