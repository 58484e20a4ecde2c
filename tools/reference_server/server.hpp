// SPDX-License-Identifier: Apache-2.0
// A TCP server that speaks uplink protocol v1 for many devices at once.
//
// The Asio shell around ServerSession: it accepts connections, and for each
// one runs a read loop, a write queue and one deadline timer; every protocol
// decision is the ServerSession's. Sessions outlive connections in a
// SessionRegistry, so a reconnecting device resumes where it stopped.
//
// Threading: one io_context, run by one thread. Every method must be
// called on that thread (or while the io_context is not running); from
// other threads, asio::post() the call. Events are reported on that thread.
//
// Lifetime: the io_context and the ServerEvents sink must outlive the
// server. Destroying the server is stop(); handlers still queued in the
// io_context afterwards are harmless.
//
// Durable sessions (opt-in): open a SessionStore on registry() before
// start() (FileSessionStore::open replays its journal into the registry and
// attaches itself). Changes are then committed before the ACK, WELCOME or
// DATA that depends on them is written, so a server killed at any point and
// restarted on the same state resumes every session: each uplink message is
// delivered exactly once into the durable record, each downlink message
// reaches the device application exactly once. A failed commit stops the
// server (error event state_write_failed; see store_failed()).
//
// TLS (ServerOptions::tls): every accepted connection first completes a TLS
// handshake (mbedTLS through the SDK's uplink::tls::TlsStream, the transport
// layer the client uses too), then speaks the same protocol inside TLS. The HELLO timeout runs from the
// TCP accept, so it also bounds the handshake (error tls_handshake_timeout).
// A failed handshake is an error event tls_handshake_failed whose detail is
// the TLS error ("uplink.tls: peer sent no certificate (certificate_missing)",
// "mbedtls: SSL - ..." with the code in hex);
// a peer that hangs up before sending a single byte is not reported (as in
// plain mode, where a connection closed before HELLO is no event either).
// A CLOSE sent to a device that is still in its handshake (overloaded,
// close_all) is written once the handshake is done, within close_linger_ms.
// At the end of a connection close_notify is sent, best effort, before FIN.
// Plain TCP (tls == nullptr) is unaffected.
//
// Device authentication (ServerOptions::authenticator, authenticator.hpp):
// every HELLO is checked before it touches a session; a refused one gets
// CLOSE unauthorized and an error event "unauthorized" naming the cause.
// In TLS mode the connection's verified client certificate (if any) is
// handed to the authenticator with the HELLO. Without an authenticator
// every device is taken at its word (tests; uplink_server refuses that
// unless --insecure-no-auth).
#pragma once

#include "uplink/net/asio.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "authenticator.hpp"
#include "server_session.hpp"
#include "session_registry.hpp"
#include "uplink/codec/frame.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/net/stream.hpp"

namespace uplink::tls {
class TlsConfig;
}  // namespace uplink::tls

namespace uplink::server {

struct ServerOptions {
  std::string address = "127.0.0.1";  ///< Numeric IPv4 or IPv6 address to listen on.
  std::uint16_t port = 7400;           ///< 0 = an ephemeral port (see Server::port()).
  SessionLimits session;               ///< Heartbeat clamp, read-deadline factor, HELLO timeout.
  RegistryLimits registry;             ///< Sessions kept, unacknowledged downlink per session.
  /// Connections beyond this get CLOSE overloaded with overload_retry_after_ms.
  std::size_t max_connections = 1000;
  std::uint32_t overload_retry_after_ms = 5000;
  /// After CLOSE: how long a connection may take to flush it and see the
  /// device hang up before it is cut.
  std::uint32_t close_linger_ms = 1000;
  /// Bytes waiting for a device that does not read; beyond it the connection is cut.
  std::size_t max_write_backlog = 1u << 20;
  /// Bytes waiting for devices that do not read, all connections together;
  /// beyond it the connection with the largest backlog is cut, so many
  /// non-readers cannot pin max_connections x max_write_backlog of memory.
  std::size_t max_total_write_backlog = 64u << 20;
  /// A graceful shutdown spreads the retry-after hints of its CLOSE over
  /// connections / rate seconds (at most 10 minutes), so the server that
  /// comes back takes about this many devices per second instead of all at
  /// once. 0: every device gets the same hint.
  std::uint32_t shutdown_reconnect_rate = 500;
  /// SO_SNDBUF of each accepted connection (the kernel doubles it); 0: the
  /// system's default, which autotunes up to net.ipv4.tcp_wmem's maximum
  /// (4 MiB on Debian) per connection that does not read.
  std::size_t socket_send_buffer = 0;
  /// Connections that have not completed HELLO yet (the TLS handshake
  /// included), at once. A newcomer beyond it evicts the oldest of them
  /// (CLOSE overloaded): a flood of connections that never send HELLO is
  /// pushed out by newer ones instead of locking devices out, while a real
  /// device is through HELLO within a round trip or two.
  std::size_t max_pending_hello = 256;
  /// Of those, at most this many from one source address; a newcomer
  /// beyond it is refused at once (CLOSE overloaded). 0: no such limit.
  std::size_t max_pending_hello_per_source = 64;
  /// 0 (the default): session ids are 64 random bits from the kernel's
  /// CSPRNG (getrandom), so no id can be derived from another. Non-zero:
  /// predictable ids from this seed, for tests only.
  std::uint64_t session_id_seed = 0;
  /// TLS for every connection, or nullptr for plain TCP. A server-role
  /// config, initialized by the caller (certificate and key; optionally a CA
  /// with require_client_certificate; session tickets and/or a session
  /// cache for resumption). Not owned: it must outlive the server. Only in
  /// builds with uplink_tls (UPLINK_WITH_TLS); elsewhere check_options()
  /// refuses it.
  const uplink::tls::TlsConfig* tls = nullptr;
  /// Checks every HELLO (authenticator.hpp): a credentials file of token
  /// hashes, a client certificate bound to the device id (mutual TLS; the
  /// connection's verified certificate is handed to it), or both (AllOf).
  /// Not owned: it must outlive the server. nullptr: every device is taken
  /// at its word; uplink_server refuses to run so unless told
  /// --insecure-no-auth.
  Authenticator* authenticator = nullptr;
};

/// Why `options` cannot be used (names the field), or nullptr when they can.
[[nodiscard]] const char* check_options(const ServerOptions& options);

/// Running totals since construction.
struct ServerCounters {
  std::uint64_t accepted = 0;    ///< TCP connections accepted.
  std::uint64_t refused = 0;     ///< Of those, closed at once: over max_connections or the per-source HELLO budget.
  std::uint64_t evicted = 0;     ///< Connections without HELLO closed to make room (max_pending_hello).
  std::uint64_t backlog_cuts = 0;  ///< Connections cut for the write backlog (their own, or the total).
  std::uint64_t online = 0;      ///< Online events.
  std::uint64_t offline = 0;     ///< Offline events.
  std::uint64_t messages = 0;    ///< Uplink DATA delivered (exactly once each).
  std::uint64_t duplicates = 0;  ///< Uplink DATA refused as already delivered.
  std::uint64_t downlinks = 0;   ///< Downlink messages accepted by send_downlink().
  std::uint64_t errors = 0;      ///< Error events.
  std::uint64_t tls_handshakes = 0;        ///< TLS handshakes completed (TLS mode).
  std::uint64_t tls_handshake_failures = 0;  ///< TLS handshakes failed or timed out (TLS mode).
};

class Server {
 public:
  Server(asio::io_context& io, ServerEvents& events, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Validates the options (invalid_option), opens, binds and listens, then
  /// accepts until stop(). Socket errors are returned as they are.
  [[nodiscard]] std::error_code start();
  /// The port listened on (the chosen one when options.port was 0); 0 before start().
  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] asio::ip::tcp::endpoint local_endpoint() const;

  /// Queues `payload` as the next downlink DATA of the device's session:
  /// written now if the device is online, else held and sent when it
  /// resumes. Errors: offline (no session known for the device), queue_full,
  /// field_too_long. Reports a downlink event on success.
  [[nodiscard]] std::error_code send_downlink(std::string_view device_id, ConstByteSpan payload,
                                              std::uint64_t* seq = nullptr);
  /// Sends CLOSE(reason, retry_after_ms, text) to the device's live
  /// connection and closes it. Errors: offline (no live connection).
  [[nodiscard]] std::error_code close_device(std::string_view device_id, CloseReason reason,
                                             std::uint32_t retry_after_ms, std::string_view text = {});
  /// Sends CLOSE to every connection (also those still before HELLO).
  /// Returns how many were closed. The server keeps accepting. With
  /// `spread_ms` > 0 each connection's retry-after is `retry_after_ms` plus
  /// its own random share of 0 .. spread_ms, so the devices return spread
  /// out instead of together.
  std::size_t close_all(CloseReason reason, std::uint32_t retry_after_ms, std::string_view text = {},
                        std::uint32_t spread_ms = 0);
  /// Graceful end: stops accepting, close_all() with the retry-after hints
  /// spread by ServerOptions::shutdown_reconnect_rate, waits (bounded by
  /// close_linger_ms) until every connection is gone, then stop() and `done`.
  /// A second call while one is running does nothing.
  void shutdown(CloseReason reason, std::uint32_t retry_after_ms, std::function<void()> done);
  /// Hard end: closes the acceptor and every connection at once, without
  /// CLOSE (devices still online get offline server_stopped). Idempotent.
  void stop();

  [[nodiscard]] bool is_online(std::string_view device_id) const;
  [[nodiscard]] std::size_t connection_count() const { return connections_.size(); }
  [[nodiscard]] std::size_t online_count() const;
  [[nodiscard]] const ServerCounters& counters() const { return counters_; }
  /// True once a commit of the durable state failed: the server stopped itself.
  [[nodiscard]] bool store_failed() const { return store_failed_; }
  [[nodiscard]] const ServerOptions& options() const { return options_; }
  /// Session state, e.g. to inspect or forget() sessions.
  [[nodiscard]] SessionRegistry& registry() { return registry_; }
  [[nodiscard]] const SessionRegistry& registry() const { return registry_; }

 private:
  class Connection;

  void start_accept();
  void handle_accept(const asio::error_code& error, net::TcpSocket socket);
  void wait_for_drain();
  void forget(std::uint64_t connection_id);
  // The HELLO budget (max_pending_hello, max_pending_hello_per_source).
  void hello_done(Connection& connection);
  void evict_oldest_pending();
  // The total write backlog (max_total_write_backlog).
  void backlog_changed(std::ptrdiff_t delta) { total_backlog_ += static_cast<std::size_t>(delta); }
  void cut_largest_backlog();
  std::shared_ptr<Connection> live_connection(std::string_view device_id) const;
  Millis now() const;

  // Relays from connections: counted, then passed to the user's sink.
  void report(const OnlineEvent& event);
  void report(const OfflineEvent& event);
  void report(const MessageEvent& event);
  void report(const DuplicateEvent& event);
  void report(const ErrorEvent& event);
  void report_batch_delivered();

  asio::io_context& io_;
  ServerEvents& events_;
  ServerOptions options_;
  SessionRegistry registry_;
  asio::basic_socket_acceptor<asio::ip::tcp, net::Executor> acceptor_;  // accepts net::TcpSocket
  asio::steady_timer accept_retry_timer_;
  asio::steady_timer drain_timer_;
  asio::steady_timer::time_point epoch_;
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections_;
  std::uint64_t next_connection_id_ = 0;
  std::size_t pending_hello_ = 0;                            // connections without HELLO yet
  std::map<std::string, std::size_t> pending_by_source_;     // of those, per source address
  std::size_t total_backlog_ = 0;                            // bytes queued on every connection
  ServerCounters counters_;
  bool shutting_down_ = false;
  bool store_failed_ = false;
  Millis drain_deadline_ = 0;
  std::function<void()> shutdown_done_;
  // Handlers of the acceptor and timers hold a weak copy: once the server
  // is destroyed they see it expired and touch nothing.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace uplink::server
