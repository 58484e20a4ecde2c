// SPDX-License-Identifier: Apache-2.0
// The Asio shell of the reference server: acceptor and per-connection actors.
//
// Each Connection has at most one read, one write and one timer wait in
// flight, and "pumps" after every event: it moves the session's output to
// its write queue, starts a write if none runs, and re-arms the timer for
// the session's next deadline. Once the session is closed the connection
// flushes what is queued (the CLOSE last), sends FIN, keeps reading until
// the device hangs up, and is cut at the latest close_linger_ms later, so
// the device gets to read the CLOSE instead of a reset.
//
// Every connection runs through a net::Stream: plain TCP, or in TLS mode
// (options.tls) the SDK's tls::TlsStream, the same one the client uses.
// One read and at most one write are in flight; writes go out one
// write_some at a time from the front of the queue, whose buffer stays in
// place until its completion (a TLS write is retried with the very same
// span). The stream's completions each hold the connection alive.
#include "server.hpp"

#include <sys/random.h>

#include <asio/post.hpp>
#include <asio/write.hpp>
#include <array>
#include <cerrno>
#include <chrono>
#include <deque>
#include <utility>
#include <vector>

#include "uplink/error.hpp"

#include "uplink/net/tcp_stream.hpp"

#if UPLINK_REFERENCE_SERVER_TLS
#include <string>

#include "certificate_names.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_stream.hpp"
#endif

namespace uplink::server {
namespace {

// Session ids from the kernel's CSPRNG: getrandom(2) without
// GRND_NONBLOCK, so it waits for the pool at early boot instead of handing
// out guessable ids. Checked once at Server::start(), which refuses to
// start without it.
class KernelRandom final : public RandomSource {
 public:
  std::uint32_t next_u32() override {
    std::uint32_t value = 0;
    // start() checked the kernel answers; should it stop, zeros make the
    // registry fall back to its counter rather than spin.
    return fill(&value, sizeof value) ? value : 0;
  }
  static bool fill(void* out, std::size_t size) {
    for (int attempt = 0; attempt < 8; ++attempt) {  // bounded: EINTR only
      const ssize_t got = getrandom(out, size, 0);
      if (got == static_cast<ssize_t>(size)) return true;
      if (got >= 0 || errno != EINTR) return false;
    }
    return false;
  }
};

RandomSource& kernel_random() {
  static KernelRandom random;
  return random;
}

const char* default_close_text(CloseReason reason) {
  return reason == CloseReason::going_away ? "server shutting down" : close_reason_name(reason);
}

// Poll period of a graceful shutdown waiting for connections to end.
constexpr std::chrono::milliseconds kDrainPoll{10};
// Pause before accepting again after an accept error (e.g. out of file
// descriptors): retrying at once would spin.
constexpr std::chrono::milliseconds kAcceptRetry{100};

#if UPLINK_REFERENCE_SERVER_TLS
// "uplink.tls: peer sent no certificate (certificate_missing)",
// "mbedtls: SSL - ... (-0x7780)": the category tells where to look; a
// TlsErrc also gets its stable name, for scripts.
std::string describe_tls_error(const std::error_code& error) {
  std::string text = error.category().name();
  text += ": ";
  text += error.message();
  if (error.category() == tls::tls_category()) {
    text += " (";
    text += tls::tls_errc_name(static_cast<tls::TlsErrc>(error.value()));
    text += ")";
  }
  return text;
}
#endif

}  // namespace

const char* check_options(const ServerOptions& options) {
  if (const char* problem = check_limits(options.session)) return problem;
  if (options.max_connections == 0) return "max_connections must be > 0";
  if (options.registry.max_sessions == 0) return "registry.max_sessions must be > 0";
  if (options.registry.max_unacked_downlink == 0) return "registry.max_unacked_downlink must be > 0";
  if (options.max_write_backlog < kMaxFrameSize) return "max_write_backlog must hold at least one frame";
  if (options.max_total_write_backlog < options.max_write_backlog) {
    return "max_total_write_backlog must be at least max_write_backlog";
  }
  if (options.max_pending_hello == 0) return "max_pending_hello must be > 0";
  if (options.tls != nullptr) {
#if UPLINK_REFERENCE_SERVER_TLS
    if (!options.tls->initialized()) return "tls config must be initialized";
    if (options.tls->role() != tls::TlsRole::server) return "tls config must have the server role";
#else
    return "tls is not available in this build (UPLINK_WITH_TLS=OFF)";
#endif
  }
  return nullptr;
}

// ============================================================== Connection

class Server::Connection final : public std::enable_shared_from_this<Connection>,
                                  public ServerEvents,
                                  private net::StreamHandler {
 public:
  Connection(Server& server, net::TcpSocket socket, std::uint64_t id, Millis now, std::string source)
      : server_(&server),
        id_(id),
        source_(std::move(source)),
        socket_(std::move(socket)),
        timer_(server.io_),
        session_(server.registry_, *this, server.options_.session, now, id) {
    session_.set_authenticator(server.options_.authenticator);
  }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  ServerSession& session() { return session_; }
  [[nodiscard]] std::uint64_t id() const { return id_; }
  /// The peer's address, as the HELLO budget counts it.
  [[nodiscard]] const std::string& source() const { return source_; }
  /// True until the session has taken a HELLO, or closed, or the connection ended.
  [[nodiscard]] bool pending_hello() const { return pending_hello_; }
  void hello_taken() { pending_hello_ = false; }
  /// Bytes queued for the device.
  [[nodiscard]] std::size_t backlog() const { return tx_bytes_; }
  /// Pushed out of the HELLO budget: CLOSE overloaded, written straight into
  /// the kernel (the connection has sent nothing and been sent nothing), and
  /// closed at once instead of lingering: a flood must not fill
  /// max_connections with connections it was pushed out of.
  void evict(std::uint32_t retry_after_ms) {
    session_.close(CloseReason::overloaded, retry_after_ms, "too many connections without HELLO");
    pump();
    finish();
  }
  /// Cut for the server's total write backlog.
  void cut_for_total_backlog() {
    cut(make_error_code(Errc::write_timeout), "write_backlog",
        "device does not read; the server's total write backlog is full");
  }

  void start() {
#if UPLINK_REFERENCE_SERVER_TLS
    if (server_->options_.tls != nullptr) {
      // TLS mode only: plain connections keep their footprint, no engine.
      tls_engine_ = std::make_unique<tls::TlsEngine>();
      if (const std::error_code error = tls_engine_->setup(*server_->options_.tls, nullptr)) {
        ++server_->counters_.tls_handshake_failures;
        const std::string detail = describe_tls_error(error);
        cut(error, "tls_setup_failed", detail.c_str());
        return;
      }
      tls_stream_ = std::make_unique<tls::TlsStream>(*tls_engine_);
      stream_ = tls_stream_.get();
    }
#endif
    // Every completion of the stream holds this connection alive until it ran.
    stream_->async_open(socket_, *this, 0, shared_from_this());
    pump();
  }

  /// After any change to the session: write its output, handle closing, re-arm the timer.
  void pump() {
    if (finished_) return;
    if (!collect_output()) return;
    if (open_ && !writing_ && !tx_.empty()) start_write();
    if (session_.closed()) {
      // Refused, evicted, out of time or done: no longer waiting for HELLO.
      server_->hello_done(*this);
      if (closing_deadline_ == kNever) closing_deadline_ = server_->now() + server_->options_.close_linger_ms;
      if (open_ && !writing_ && tx_.empty() && !shutting_down_) {
        // FIN (after close_notify with TLS) right after the CLOSE frame: the
        // device reads everything, then end of stream; our reads go on
        // until it hangs up.
        shutting_down_ = true;
        stream_->async_shutdown();
      }
    }
    arm_timer();
  }

  /// Server::stop(): no farewell.
  void abort() {
    session_.abort();
    finish();
  }

  // ---- ServerEvents: relayed to the server ----
  void on_online(const OnlineEvent& event) override {
    if (server_ == nullptr) return;
    server_->hello_done(*this);
    server_->report(event);
  }
  void on_message(const MessageEvent& event) override {
    if (server_ != nullptr) server_->report(event);
  }
  void on_duplicate(const DuplicateEvent& event) override {
    if (server_ != nullptr) server_->report(event);
  }
  void on_batch_delivered() override {
    if (server_ != nullptr) server_->report_batch_delivered();
  }
  void on_error(const ErrorEvent& event) override {
    if (server_ != nullptr) server_->report(event);
  }
  void on_offline(const OfflineEvent& event) override {
    if (server_ != nullptr) server_->report(event);
    // A session can be closed from outside this connection's handlers (a
    // newer connection of the device replaced it): its CLOSE still has to
    // be written, so pump from a fresh handler. Extra pumps are harmless.
    if (!finished_) {
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->pump(); });
    }
  }

 private:
  /// Moves the session's output to the write queue. False when the
  /// connection ended (finished, or cut for a full write backlog).
  bool collect_output() {
    if (finished_) return false;
    std::vector<std::uint8_t> out = session_.take_output();
    if (!out.empty()) {
      tx_bytes_ += out.size();
      server_->backlog_changed(static_cast<std::ptrdiff_t>(out.size()));
      // The front buffer is being written while writing_ (the stream keeps
      // its span); later output is appended to the last buffer that is
      // not, one write per burst.
      if (tx_.empty() || (writing_ && tx_.size() == 1)) {
        tx_.push_back(std::move(out));
      } else {
        tx_.back().insert(tx_.back().end(), out.begin(), out.end());
      }
    }
    if (tx_bytes_ > server_->options_.max_write_backlog) {
      ++server_->counters_.backlog_cuts;
      cut(make_error_code(Errc::write_timeout), "write_backlog", "device does not read; write backlog full");
      return false;
    }
    // The server's total may have been over as well, and this the longest queue.
    if (server_->total_backlog_ > server_->options_.max_total_write_backlog) server_->cut_largest_backlog();
    return !finished_;
  }

  // ---- net::StreamHandler ----

  void on_stream_open(std::uint32_t, std::error_code error) override {
    if (finished_) return;
    if (error) {
      open_failed(error);
      return;
    }
    open_ = true;
#if UPLINK_REFERENCE_SERVER_TLS
    if (tls_stream_ != nullptr) {
      ++server_->counters_.tls_handshakes;
      // The verified client certificate (mutual TLS), for the authenticator
      // of the HELLO; a resumed handshake finds it in the resumed session.
      PeerCertificate certificate;
      if (peer_certificate_of(*tls_engine_->native(), certificate)) {
        session_.set_peer_certificate(std::move(certificate));
      }
    }
#endif
    start_read();
    pump();
  }

  void start_read() { stream_->async_read_some(ByteSpan{rx_.data(), rx_.size()}); }

  void on_stream_read(std::uint32_t, std::error_code error, std::size_t size) override {
    if (finished_) return;
    if (error) {
      // End of stream (TLS: with or without close_notify), reset, a bad
      // record, or our own close: nothing more can be read.
      session_.on_connection_lost(error);
      finish();
      return;
    }
    // Once closed the session ignores input: bytes are drained until the
    // device hangs up.
    session_.on_bytes(server_->now(), ConstByteSpan{rx_.data(), size});
    start_read();
    pump();
  }

  void start_write() {
    writing_ = true;
    const std::vector<std::uint8_t>& front = tx_.front();
    stream_->async_write_some(ConstByteSpan{front.data() + tx_offset_, front.size() - tx_offset_});
  }

  void on_stream_written(std::uint32_t, std::error_code error, std::size_t size) override {
    writing_ = false;
    if (finished_) return;
    if (error) {
      session_.on_connection_lost(error);
      finish();
      return;
    }
    tx_offset_ += size;
    if (tx_offset_ >= tx_.front().size()) {
      tx_bytes_ -= tx_.front().size();
      server_->backlog_changed(-static_cast<std::ptrdiff_t>(tx_.front().size()));
      tx_.pop_front();
      tx_offset_ = 0;
    }
    pump();
  }

  // Sent, or failed: the FIN went out either way (the stream's contract);
  // reads go on until the device hangs up, within close_linger_ms.
  void on_stream_shutdown(std::uint32_t, std::error_code) override {}

  void open_failed(const std::error_code& error) {
#if UPLINK_REFERENCE_SERVER_TLS
    if (tls_stream_ != nullptr) {
      if (error == Errc::connection_closed && tls_engine_->stats().handshake_bytes_received == 0) {
        // Connected and hung up without a byte (a port probe): as in plain
        // mode, where a connection closed before HELLO is no event either.
        session_.on_connection_lost(error);
        finish();
        return;
      }
      ++server_->counters_.tls_handshake_failures;
      const std::string detail = describe_tls_error(error);
      cut(error, "tls_handshake_failed", detail.c_str());
      return;
    }
#endif
    session_.on_connection_lost(error);
    finish();
  }

  void arm_timer() {
    const Millis at = session_.closed() ? closing_deadline_ : session_.next_deadline();
    if (at == timer_at_) return;  // a wait for exactly this time is pending
    timer_at_ = at;
    if (at == kNever) {
      timer_.cancel();
      return;
    }
    // Re-arming cancels the previous wait (operation_aborted, ignored).
    timer_.expires_at(server_->epoch_ + std::chrono::milliseconds(at));
    timer_.async_wait([self = shared_from_this()](const asio::error_code& error) { self->handle_timer(error); });
  }

  void handle_timer(const asio::error_code& error) {
    if (finished_ || error == asio::error::operation_aborted) return;
    timer_at_ = kNever;
    const Millis now = server_->now();
    if (session_.closed()) {
      if (now >= closing_deadline_) {
        finish();  // the device did not hang up in time
        return;
      }
    } else {
      // Until the stream is open (the TLS handshake) the session waits for
      // HELLO: its deadline bounds the handshake too.
      if (!open_ && stream_ != &tcp_stream_ && now >= session_.next_deadline()) {
        ++server_->counters_.tls_handshake_failures;
        cut(make_error_code(Errc::handshake_timeout), "tls_handshake_timeout",
            "no TLS handshake within the HELLO timeout");
        return;
      }
      session_.on_timer(now);  // early wake-ups are ignored by the session
    }
    pump();
  }

  void cut(std::error_code error, const char* reason, const char* detail) {
    ErrorEvent event;
    event.device_id = session_.device_id();
    event.session_id = session_.session_id();
    event.error = error;
    event.reason = reason;
    event.detail = detail;
    event.connection_id = id_;
    server_->report(event);
    session_.on_connection_lost(error);
    finish();
  }

  /// Ends the connection for good: the server forgets it; completions
  /// still queued find it finished and return (each holds it alive).
  void finish() {
    if (finished_) return;
    finished_ = true;
    // Best effort, one non-blocking attempt: with TLS the device sees a
    // clean end of the stream (close_notify, unless already sent) rather
    // than a truncation. Also drops the stream's reference to this.
    stream_->close({});
    asio::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    if (server_ != nullptr) server_->backlog_changed(-static_cast<std::ptrdiff_t>(tx_bytes_));
    tx_.clear();
    tx_bytes_ = 0;
    Server* server = server_;
    server_ = nullptr;
    if (server != nullptr) server->forget(id_);  // the caller holds a reference to this
  }

  Server* server_;
  std::uint64_t id_;
  std::string source_;
  bool pending_hello_ = true;
  net::TcpSocket socket_;
  asio::steady_timer timer_;
  ServerSession session_;
  net::TcpStream tcp_stream_;
  net::Stream* stream_ = &tcp_stream_;  // tcp_stream_, or tls_stream_ in TLS mode
#if UPLINK_REFERENCE_SERVER_TLS
  std::unique_ptr<tls::TlsEngine> tls_engine_;
  std::unique_ptr<tls::TlsStream> tls_stream_;
#endif
  std::deque<std::vector<std::uint8_t>> tx_;
  std::size_t tx_bytes_ = 0;
  std::size_t tx_offset_ = 0;  // bytes of tx_.front() already written
  bool open_ = false;          // the stream is up (TLS: handshake done)
  bool writing_ = false;
  bool shutting_down_ = false;
  bool finished_ = false;
  Millis closing_deadline_ = kNever;
  Millis timer_at_ = kNever;
  std::array<std::uint8_t, 4096> rx_{};
};

// ================================================================== Server

Server::Server(asio::io_context& io, ServerEvents& events, ServerOptions options)
    : io_(io),
      events_(events),
      options_(std::move(options)),
      registry_(options_.session_id_seed, options_.registry),
      acceptor_(io),
      accept_retry_timer_(io),
      drain_timer_(io),
      epoch_(asio::steady_timer::clock_type::now()) {}

Server::~Server() { stop(); }

std::error_code Server::start() {
  if (check_options(options_) != nullptr) return make_error_code(Errc::invalid_option);
  if (acceptor_.is_open()) return make_error_code(Errc::already_running);
  if (options_.session_id_seed == 0) {
    std::uint64_t probe = 0;
    if (!KernelRandom::fill(&probe, sizeof probe)) return {errno != 0 ? errno : ENOSYS, std::generic_category()};
    registry_.use_random_ids(kernel_random());
  }
  asio::error_code error;
  const asio::ip::address address = asio::ip::make_address(options_.address, error);
  if (error) return error;
  const asio::ip::tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), error);
  // A restarted server must not wait for the old one's TIME_WAIT sockets.
  if (!error) acceptor_.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    asio::error_code ignored;
    acceptor_.close(ignored);
    return error;
  }
  start_accept();
  return {};
}

std::uint16_t Server::port() const { return local_endpoint().port(); }

asio::ip::tcp::endpoint Server::local_endpoint() const {
  asio::error_code error;
  const asio::ip::tcp::endpoint endpoint = acceptor_.local_endpoint(error);
  return error ? asio::ip::tcp::endpoint{} : endpoint;
}

void Server::start_accept() {
  acceptor_.async_accept(
      [this, alive = std::weak_ptr<int>(alive_)](const asio::error_code& error, net::TcpSocket socket) {
        if (alive.expired()) return;
        handle_accept(error, std::move(socket));
      });
}

void Server::handle_accept(const asio::error_code& error, net::TcpSocket socket) {
  if (!acceptor_.is_open()) return;  // stopped or shutting down
  if (error) {
    ErrorEvent event;
    event.error = error;
    event.reason = "accept_failed";
    const std::string detail = error.message();
    event.detail = detail;
    report(event);
    accept_retry_timer_.expires_after(kAcceptRetry);
    accept_retry_timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const asio::error_code& wait_error) {
      if (alive.expired() || wait_error || !acceptor_.is_open()) return;
      start_accept();
    });
    return;
  }
  ++counters_.accepted;
  asio::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);  // small frames: latency over batching
  if (options_.socket_send_buffer != 0) {
    socket.set_option(asio::socket_base::send_buffer_size(static_cast<int>(options_.socket_send_buffer)), ignored);
  }
  const asio::ip::tcp::endpoint peer = socket.remote_endpoint(ignored);
  std::string source = ignored ? std::string("unknown") : peer.address().to_string();
  const std::uint64_t id = ++next_connection_id_;
  auto connection = std::make_shared<Connection>(*this, std::move(socket), id, now(), source);
  connections_.emplace(id, connection);
  ++pending_hello_;
  const std::size_t from_source = ++pending_by_source_[source];
  const auto refuse = [&](const char* detail) {
    ++counters_.refused;
    ErrorEvent event;
    event.error = std::make_error_code(std::errc::resource_unavailable_try_again);
    event.reason = "overloaded";
    event.detail = detail;
    event.connection_id = id;
    report(event);
    connection->session().close(CloseReason::overloaded, options_.overload_retry_after_ms, detail);
  };
  if (connections_.size() > options_.max_connections) {
    refuse("too many connections");
  } else if (options_.max_pending_hello_per_source != 0 && from_source > options_.max_pending_hello_per_source) {
    refuse("too many connections without HELLO from this address");
  } else if (pending_hello_ > options_.max_pending_hello) {
    evict_oldest_pending();
  }
  connection->start();
  start_accept();
}

void Server::hello_done(Connection& connection) {
  if (!connection.pending_hello()) return;
  connection.hello_taken();
  --pending_hello_;
  const auto it = pending_by_source_.find(connection.source());
  if (it != pending_by_source_.end() && --it->second == 0) pending_by_source_.erase(it);
}

void Server::evict_oldest_pending() {
  // Ids grow with accept time: the first pending connection in the map is
  // the one that has waited longest without a HELLO.
  for (const auto& [id, connection] : connections_) {
    if (!connection->pending_hello() || connection->session().closed()) continue;
    ++counters_.evicted;
    ErrorEvent event;
    event.error = std::make_error_code(std::errc::resource_unavailable_try_again);
    event.reason = "hello_budget";
    event.detail = "evicted: the oldest of too many connections without HELLO";
    event.connection_id = id;
    report(event);
    // Held here: the eviction erases it from the map.
    const std::shared_ptr<Connection> victim = connection;
    victim->evict(options_.overload_retry_after_ms);
    return;
  }
}

void Server::cut_largest_backlog() {
  // Held here: the cut erases it from the map.
  std::shared_ptr<Connection> largest;
  for (const auto& entry : connections_) {
    if (largest == nullptr || entry.second->backlog() > largest->backlog()) largest = entry.second;
  }
  if (largest == nullptr) return;
  ++counters_.backlog_cuts;
  largest->cut_for_total_backlog();
}

std::shared_ptr<Server::Connection> Server::live_connection(std::string_view device_id) const {
  const SessionRecord* record = registry_.find_device(device_id);
  if (record == nullptr || record->connection == nullptr) return nullptr;
  auto it = connections_.find(record->connection->connection_id());
  return it == connections_.end() ? nullptr : it->second;
}

std::error_code Server::send_downlink(std::string_view device_id, ConstByteSpan payload, std::uint64_t* seq) {
  SessionRecord* record = registry_.find_device(device_id);
  if (record == nullptr) return make_error_code(Errc::offline);
  std::uint64_t assigned = 0;
  const std::shared_ptr<Connection> connection = live_connection(device_id);
  const bool online = connection != nullptr && !connection->session().closed();
  std::error_code error = online ? connection->session().queue_downlink(payload, &assigned)
                                 : registry_.queue_downlink(*record, payload, &assigned);
  if (!error && !online) {
    // Durable before it is reported, like a downlink sent at once.
    error = registry_.commit();
    if (error) {
      ErrorEvent failed;
      failed.device_id = device_id;
      failed.session_id = record->id;
      failed.error = error;
      failed.reason = "state_write_failed";
      failed.detail = "cannot commit the session state";
      report(failed);
    }
  }
  if (error) return error;
  ++counters_.downlinks;
  DownlinkEvent event;
  event.device_id = device_id;
  event.session_id = record->id;
  event.seq = assigned;
  event.bytes = payload.size;
  event.online = online;
  events_.on_downlink(event);
  if (online) connection->pump();
  if (seq != nullptr) *seq = assigned;
  return {};
}

std::error_code Server::close_device(std::string_view device_id, CloseReason reason, std::uint32_t retry_after_ms,
                                     std::string_view text) {
  const std::shared_ptr<Connection> connection = live_connection(device_id);
  if (connection == nullptr || connection->session().closed()) return make_error_code(Errc::offline);
  connection->session().close(reason, retry_after_ms, text.empty() ? default_close_text(reason) : text);
  connection->pump();
  return {};
}

std::size_t Server::close_all(CloseReason reason, std::uint32_t retry_after_ms, std::string_view text,
                              std::uint32_t spread_ms) {
  // A snapshot: pumping may end connections, which erases them from the map.
  std::vector<std::shared_ptr<Connection>> snapshot;
  snapshot.reserve(connections_.size());
  for (const auto& entry : connections_) snapshot.push_back(entry.second);
  std::size_t closed = 0;
  for (const std::shared_ptr<Connection>& connection : snapshot) {
    if (connection->session().closed()) continue;
    std::uint32_t hint = retry_after_ms;
    if (spread_ms > 0) {
      const std::uint32_t share = kernel_random().next_u32() % (spread_ms + 1);
      hint = share > 0xFFFFFFFFu - hint ? 0xFFFFFFFFu : hint + share;
    }
    connection->session().close(reason, hint, text.empty() ? default_close_text(reason) : text);
    connection->pump();
    ++closed;
  }
  return closed;
}

void Server::shutdown(CloseReason reason, std::uint32_t retry_after_ms, std::function<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  asio::error_code ignored;
  acceptor_.close(ignored);  // no newcomers during the farewell
  accept_retry_timer_.cancel();
  // Spread the hints so that the server that comes back (this one
  // restarted, or another) takes its devices at about the configured rate.
  std::uint64_t spread_ms = 0;
  if (options_.shutdown_reconnect_rate != 0 && retry_after_ms != 0) {
    constexpr std::uint64_t kMaxSpreadMs = 600000;
    spread_ms = static_cast<std::uint64_t>(connections_.size()) * 1000 / options_.shutdown_reconnect_rate;
    if (spread_ms > kMaxSpreadMs) spread_ms = kMaxSpreadMs;
  }
  close_all(reason, retry_after_ms, {}, static_cast<std::uint32_t>(spread_ms));
  // A little beyond the connections' own linger, which cuts them anyway.
  drain_deadline_ = now() + options_.close_linger_ms + 100;
  wait_for_drain();
}

void Server::wait_for_drain() {
  if (connections_.empty() || now() >= drain_deadline_) {
    stop();
    std::function<void()> done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    if (done) done();
    return;
  }
  drain_timer_.expires_after(kDrainPoll);
  drain_timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const asio::error_code& error) {
    if (alive.expired() || error) return;
    wait_for_drain();
  });
}

void Server::stop() {
  asio::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
  drain_timer_.cancel();
  // Moved out first: each abort() ends its connection, which would erase
  // it from the map being walked.
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections;
  connections.swap(connections_);
  for (auto& entry : connections) entry.second->abort();
}

bool Server::is_online(std::string_view device_id) const {
  const SessionRecord* record = registry_.find_device(device_id);
  return record != nullptr && record->connection != nullptr;
}

std::size_t Server::online_count() const {
  std::size_t online = 0;
  for (const auto& entry : connections_) {
    if (entry.second->session().state() == ServerSession::State::online) ++online;
  }
  return online;
}

void Server::forget(std::uint64_t connection_id) {
  const auto it = connections_.find(connection_id);
  if (it == connections_.end()) return;
  hello_done(*it->second);  // a connection that ends leaves the HELLO budget too
  connections_.erase(it);
}

Millis Server::now() const {
  return static_cast<Millis>(
      std::chrono::duration_cast<std::chrono::milliseconds>(asio::steady_timer::clock_type::now() - epoch_).count());
}

void Server::report(const OnlineEvent& event) {
  ++counters_.online;
  events_.on_online(event);
}
void Server::report(const OfflineEvent& event) {
  ++counters_.offline;
  events_.on_offline(event);
}
void Server::report(const MessageEvent& event) {
  ++counters_.messages;
  events_.on_message(event);
}
void Server::report(const DuplicateEvent& event) {
  ++counters_.duplicates;
  events_.on_duplicate(event);
}
void Server::report_batch_delivered() { events_.on_batch_delivered(); }
void Server::report(const ErrorEvent& event) {
  ++counters_.errors;
  events_.on_error(event);
  if (std::string_view(event.reason) == "state_write_failed" && !store_failed_) {
    // The registry is now ahead of the durable state: serving on would
    // promise what a restart cannot keep. Stopped from a fresh handler (the
    // reporting connection is still on the stack).
    store_failed_ = true;
    asio::post(io_, [this, alive = std::weak_ptr<int>(alive_)] {
      if (!alive.expired()) stop();
    });
  }
}

}  // namespace uplink::server
