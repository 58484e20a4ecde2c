// SPDX-License-Identifier: Apache-2.0
// uplink::tls::TlsEngine: one TLS connection, as a non-blocking state
// machine over a caller-provided transport.
//
// The engine does no waiting and owns no socket. mbedTLS reads and writes
// the transport through two callbacks (its BIO); when the transport would
// block, the operation returns want_read or want_write, and the caller waits
// for THAT direction and calls the same operation again. This is how Asio
// drives a third-party library that does its own I/O (Asio's
// nonblocking/third_party_lib.cpp example):
//
//   socket.non_blocking(true);
//   engine.set_transport(fd_transport(socket.native_handle()));   // fd_transport.hpp
//   on result want_read : socket.async_wait(wait_read,  <call the operation again>)
//   on result want_write: socket.async_wait(wait_write, <call the operation again>)
//
// There is no copy buffer between the socket and mbedTLS: mbedTLS reads
// records straight into its own input buffer and writes from its output
// buffer (in stream mode it asks the transport for exactly the bytes the
// current record still needs, so it never reads ahead past a record).
//
// The traps this class handles, so that its caller need not:
//  1. After want_read/want_write, mbedtls_ssl_write must be called again
//     with the SAME arguments. write() pins the outbound slot (pointer and
//     size) and refuses a retry with anything else
//     (TlsErrc::write_retry_mismatch; nothing reaches mbedTLS then and the
//     pinned retry still works). Never slip a heartbeat into a retry.
//  2. A read can want a write and a write can want a read: every result
//     names the direction to wait for; wait for that one, not for the
//     direction of the operation. When a read wants a write, mbedTLS holds
//     output of its own (e.g. a no_renegotiation alert); mbedtls_ssl_write
//     would flush it and report the NEXT caller's bytes as written without
//     sending them. The engine flushes that owed output first.
//  3. Decrypted bytes can sit inside mbedTLS after a read that filled the
//     caller's buffer: while has_pending_input() is true, call read() again
//     BEFORE waiting on the socket (the socket may never become readable).
//  4. MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET (mbedTLS 3.x, TLS 1.3) is
//     retried internally wherever it can appear.
//  5. The handshake is driven by looping on mbedtls_ssl_handshake; no
//     field of mbedtls_ssl_context (ssl->state, out_left, ...) is read.
//     The one field read is mbedtls_ssl_session::master, for resumed()
//     on 2.28 (a public member there; private in 3.x, where resumed()
//     uses another signal).
//  6. close_notify() is best effort: it may return want_write, and the
//     caller is free to close the transport anyway.
//
// Life cycle, with the heap mbedTLS uses (Debian 12's mbedTLS 2.28.3,
// x86_64, ECDHE-ECDSA P-256, measured by tests/tls: TlsEngine.
// ReportsTheHeapBytesOfAConnection, glibc usable sizes):
//
//   setup(config, host)  36.9 KB: the two record buffers (~16.7 KB each)
//                        and the first handshake's state
//   set_transport(t)     per connection (e.g. the new socket's fd)
//   handshake_step()...  full handshake: +8.4 KB peak (client; server
//                        +6.8 KB) in about 27,000 small allocations (bignum
//                        arithmetic); afterwards the handshake state is
//                        freed and the client keeps the peer certificate
//                        and a saved session: 38.3 KB held while open
//                        (server 34.5 KB)
//   read()/write()...    no allocation
//   close_notify()       best effort
//   reset()              next connection on the same engine: the record
//                        buffers are KEPT (mbedtls_ssl_session_reset); only
//                        the handshake state is allocated again (2.4 KB,
//                        18 allocations); a resumed handshake then peaks at
//                        +0.8 KB in 26 allocations
//
// MaxFragment does not shrink the buffers in this build
// (MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH is off).
//
// Errors (TlsResult::error): see TlsEngine::handshake_step. Once an engine
// has failed it keeps returning that error until reset() or setup().
//
// Threading: one engine is used by one thread at a time. The TlsConfig may
// be shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include <mbedtls/ssl.h>
#include <mbedtls/version.h>

#include "uplink/core/byte_span.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_error.hpp"

namespace uplink::tls {

/// Return values of the Transport callbacks other than a byte count.
/// send: a count in [1, size], kWouldBlock or kTransportError.
/// recv: a count in [1, size], kEndOfStream, kWouldBlock or kTransportError.
inline constexpr std::ptrdiff_t kEndOfStream = 0;
/// Nothing can be sent or received now; the engine returns want_write or want_read.
inline constexpr std::ptrdiff_t kWouldBlock = -1;
/// The connection is broken; the callback has set `error`.
inline constexpr std::ptrdiff_t kTransportError = -2;

/// The byte stream under TLS: two non-blocking callbacks and their context.
/// Edge semantics (the engine relies on them):
///  - send never returns 0 for size > 0: nothing could be sent now is
///    kWouldBlock; a broken connection is kTransportError.
///  - recv returns kEndOfStream (0) only when the peer closed its side (no
///    more bytes will ever come); nothing available now is kWouldBlock.
///  - On kTransportError the callback sets `error` (e.g. the errno as a
///    std::system_category code); the engine reports it as the operation's
///    error. An empty `error` is reported as std::errc::io_error.
///  - Neither blocks (a blocking transport works, but then the engine never
///    returns want_read/want_write and the thread waits inside mbedTLS).
struct Transport {
  void* context = nullptr;  ///< Passed to both callbacks as is (e.g. the socket); must outlive the connection.
  /// Writes up to `size` bytes of `data`: a count, kWouldBlock or kTransportError.
  std::ptrdiff_t (*send)(void* context, const std::uint8_t* data, std::size_t size, std::error_code& error) = nullptr;
  /// Reads up to `size` bytes into `data`: a count, kEndOfStream, kWouldBlock or kTransportError.
  std::ptrdiff_t (*recv)(void* context, std::uint8_t* data, std::size_t size, std::error_code& error) = nullptr;
};

/// What an engine operation did.
enum class TlsStatus : std::uint8_t {
  ok,          ///< Done: the handshake completed, or `bytes` were read / written.
  want_read,   ///< Wait until the transport is readable, then call the SAME operation again.
  want_write,  ///< Wait until the transport is writable, then call the SAME operation again.
  closed,      ///< read: the peer sent close_notify; no more data will come.
  error,       ///< Failed; `error` says why. The connection is unusable (reset() for the next one).
};

/// Result of an engine operation.
struct TlsResult {
  TlsStatus status = TlsStatus::ok;  ///< What happened, and what the caller waits for before calling again.
  std::size_t bytes = 0;  ///< read/write with status ok: bytes moved (>= 1 unless the span was empty).
  std::error_code error;  ///< status error: the reason.

  /// True when the operation is done (status ok).
  [[nodiscard]] bool ok() const { return status == TlsStatus::ok; }
  /// True when the caller must wait for the transport and call the same operation again.
  [[nodiscard]] bool wants_io() const { return status == TlsStatus::want_read || status == TlsStatus::want_write; }
};

/// Counters of one engine over its whole life (all connections).
struct TlsStats {
  std::uint64_t handshakes = 0;          ///< Handshakes completed.
  std::uint64_t resumed_handshakes = 0;  ///< Client: of those, abbreviated (a saved session was resumed).
  std::uint64_t failed_handshakes = 0;   ///< Handshakes that ended in an error.
  std::uint64_t bytes_sent = 0;          ///< Bytes the transport accepted (TLS records, i.e. ciphertext).
  std::uint64_t bytes_received = 0;      ///< Bytes the transport delivered.
  std::uint64_t handshake_bytes_sent = 0;      ///< Of the last handshake only.
  std::uint64_t handshake_bytes_received = 0;  ///< Of the last handshake only.
};

/// One TLS connection over a Transport. See the file comment.
class TlsEngine {
 public:
  TlsEngine();
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  /// Binds the engine to `config` (which must outlive it, or the next
  /// setup()) for a first connection. Client: `hostname` is sent as SNI and
  /// the server certificate must match it; required when the config
  /// verifies the peer (TlsErrc::hostname_required). A numeric IPv4 or IPv6
  /// address ("127.0.0.1", "::1") matches a certificate that names it in an
  /// iPAddress subjectAltName (mbedTLS 3.x does that itself; with 2.28 the
  /// engine does it in its verify callback). Server: `hostname` must be
  /// nullptr. Calling setup() again frees everything first (the saved
  /// session is forgotten). Allocates the record buffers.
  /// Errors: TlsErrc::not_initialized, invalid_settings, hostname_required;
  /// mbedTLS codes (MBEDTLS_ERR_SSL_ALLOC_FAILED, BAD_INPUT_DATA for a host
  /// name over 255 bytes).
  [[nodiscard]] std::error_code setup(const TlsConfig& config, const char* hostname);

  /// The transport of the current (or next) connection. May be replaced
  /// any time no operation is running, typically after reset().
  void set_transport(const Transport& transport) { transport_ = transport; }

  /// Changes the host name of the next connection (client, after setup()
  /// or reset(), before its first handshake_step()). Without allocation
  /// when the name is unchanged; a different name forgets the saved
  /// session (a session is only offered to the host it was made with).
  /// Errors: TlsErrc::not_set_up, invalid_settings (server, nullptr while
  /// the config verifies, or the handshake already started), mbedTLS codes.
  [[nodiscard]] std::error_code set_hostname(const char* hostname);

  /// Advances the handshake as far as the transport allows. ok: done (also
  /// when called again after that). Errors:
  ///  - certificate verification (TlsErrc, from the flags; see
  ///    verify_error()): unknown_ca, certificate_expired, hostname_mismatch, ...;
  ///  - TlsErrc::certificate_missing: server requires a client certificate
  ///    and got none;
  ///  - the transport's own error (e.g. ECONNRESET, system category);
  ///  - uplink::Errc::connection_closed: the transport ended mid-handshake;
  ///  - mbedTLS category: anything else, e.g. MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE
  ///    (the peer refused us), MBEDTLS_ERR_SSL_INVALID_RECORD or
  ///    BAD_HS_SERVER_HELLO (garbage from the peer);
  ///  - TlsErrc::not_set_up, no_transport.
  [[nodiscard]] TlsResult handshake_step();

  /// Reads decrypted bytes into `out`. ok with bytes >= 1; closed when the
  /// peer sent close_notify. An end of the transport without close_notify
  /// is an error, uplink::Errc::connection_closed (a truncation: the
  /// application protocol decides whether it matters). Before the handshake
  /// is done: TlsErrc::not_connected. Other errors as handshake_step.
  [[nodiscard]] TlsResult read(ByteSpan out);

  /// Encrypts and sends up to one record of `data` (16 KiB, or the
  /// negotiated maximum fragment length): ok with bytes in [1, data.size];
  /// call again with the rest. After want_read / want_write the next call
  /// MUST pass the same span (same pointer and size; the bytes are already
  /// inside mbedTLS), otherwise TlsErrc::write_retry_mismatch and nothing
  /// else happens. An empty span returns ok with 0 bytes and sends nothing.
  /// Errors: TlsErrc::not_connected (before the handshake, after
  /// close_notify()), the transport's error, mbedTLS codes.
  [[nodiscard]] TlsResult write(ConstByteSpan data);

  /// Decrypted bytes inside mbedTLS that read() returns without touching
  /// the transport (mbedtls_ssl_get_bytes_avail).
  [[nodiscard]] std::size_t pending_plaintext() const;
  /// True when read() must be called before waiting for the transport to be
  /// readable: decrypted bytes or an unprocessed record are buffered.
  [[nodiscard]] bool has_pending_input() const;
  /// True while a write is pinned (returned want_*; must be retried).
  [[nodiscard]] bool write_pending() const { return pinned_.active; }

  /// Sends close_notify, best effort: ok when it has been handed to the
  /// transport (or there is nothing to close: no handshake done, already
  /// sent, failed), want_write when the transport cannot take it now (call
  /// again when writable, or give up and close). A pinned write's record
  /// is flushed first (and counts as sent). write() is refused afterwards;
  /// read() still works until the peer's close_notify.
  [[nodiscard]] TlsResult close_notify();

  /// Prepares the engine for the next connection on the same config and
  /// host, WITHOUT freeing the record buffers (mbedtls_ssl_session_reset).
  /// Clears the connection's state (pinned write, errors); keeps the
  /// transport (replace it with set_transport), the host name and the
  /// saved session, which the client offers for resumption.
  /// Errors: TlsErrc::not_set_up, mbedTLS codes.
  [[nodiscard]] std::error_code reset();

  /// Client: true when the last completed handshake RESUMED the saved
  /// session (abbreviated handshake, no certificate exchanged). How it is
  /// known on mbedTLS 2.28, which has no public "resumed" flag: a resumed
  /// handshake reuses the saved session's master secret, a full one derives
  /// a fresh one from new randoms; the engine compares (in constant time)
  /// the master secret of the session offered with that of the session
  /// that resulted (mbedtls_ssl_get_session_pointer). This holds for both
  /// session-ID and ticket resumption; the session ID cannot be used since
  /// a client presenting a ticket sends a random ID. mbedTLS 3.x makes
  /// `master` private and has no flag either: there the engine notes
  /// whether its certificate-verify callback ran, which only a full
  /// handshake does (a resumed one exchanges no certificate).
  [[nodiscard]] bool resumed() const { return resumed_; }
  /// Client: a session from an earlier handshake is kept for resumption.
  [[nodiscard]] bool has_saved_session() const { return have_saved_; }
  /// Client: drops the saved session; the next handshake is a full one.
  void forget_session();

  /// MBEDTLS_X509_BADCERT_* flags of the peer's certificate from the last
  /// handshake (non-zero only with insecure_skip_verify, where the
  /// handshake succeeds anyway). See describe_verify_flags().
  [[nodiscard]] std::uint32_t verify_flags() const { return verify_flags_; }
  /// The description of the fatal alert the peer ended the last handshake
  /// with (RFC 5246 7.2: 42 bad_certificate, 48 unknown_ca, 40
  /// handshake_failure, ...), or -1 when it sent none. The connection's
  /// error names what it means (TlsErrc::client_certificate_rejected, ...).
  [[nodiscard]] int last_alert() const { return last_alert_; }
  /// True from a completed handshake until the connection fails or is reset:
  /// read() and write() move application data.
  [[nodiscard]] bool handshake_done() const { return state_ == State::open; }
  /// True when the engine is set up with a config whose handshakes fail on
  /// a bad peer certificate (TlsConfig::verifies_peer); false before setup()
  /// and with insecure_skip_verify.
  [[nodiscard]] bool verifies_peer() const { return config_ != nullptr && config_->verifies_peer(); }
  /// The negotiated ciphersuite's name, or "" before the handshake.
  [[nodiscard]] const char* ciphersuite() const;
  /// The engine's counters over all its connections.
  [[nodiscard]] const TlsStats& stats() const { return stats_; }

  /// The mbedTLS context (e.g. for mbedtls_ssl_get_peer_cert). Calling
  /// mbedtls_ssl_read/write/handshake on it directly voids this class's
  /// guarantees.
  [[nodiscard]] const mbedtls_ssl_context* native() const { return &ssl_; }

 private:
  enum class State : std::uint8_t { unset, handshaking, open, failed };

  struct PinnedWrite {
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
    TlsStatus want = TlsStatus::ok;
    bool active = false;
  };

  static int bio_send(void* self, const unsigned char* data, std::size_t size);
  static int on_verify(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags);
  static int bio_recv(void* self, unsigned char* data, std::size_t size);

  [[nodiscard]] bool is_client() const;
  [[nodiscard]] TlsResult fail(int ret);
  [[nodiscard]] std::error_code translate(int ret) const;
  [[nodiscard]] std::error_code alert_error(int alert) const;
  [[nodiscard]] TlsResult refuse_use() const;
  [[nodiscard]] TlsResult flush_owed_output();
  void finish_handshake();
  void save_session();
  void clear_connection_state();

  mbedtls_ssl_context ssl_;
  mbedtls_ssl_session saved_;
  const TlsConfig* config_ = nullptr;
  Transport transport_;
  State state_ = State::unset;
  PinnedWrite pinned_;
  std::error_code error_;            // sticky failure of this connection
  std::error_code transport_error_;  // what the transport reported last
  bool output_owed_ = false;         // mbedTLS holds output of its own (a read wanted a write)
  bool handshake_started_ = false;
  bool close_sent_ = false;
  bool peer_closed_ = false;
  bool have_saved_ = false;
  bool offered_session_ = false;
  bool resumed_ = false;
  bool certificate_seen_ = false;  // mbedTLS 3.x: the peer sent a certificate (a full handshake)
  std::uint32_t verify_flags_ = 0;
  int last_alert_ = -1;
  TlsStats stats_;
  char hostname_[256] = {};  // MBEDTLS_SSL_MAX_HOST_NAME_LEN (255) + NUL
};

}  // namespace uplink::tls
