// SPDX-License-Identifier: Apache-2.0
// TlsEngine: mbedTLS driven through non-blocking BIO callbacks. See
// tls_engine.hpp for the contract and the traps it handles.
#include "uplink/tls/tls_engine.hpp"

#include <cstring>

#include <arpa/inet.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/x509.h>

#include "uplink/error.hpp"

namespace uplink::tls {
namespace {

// mbedTLS 3.x (TLS 1.3) reports a post-handshake NewSessionTicket as a
// return code of read/write/handshake; the operation just has to be called
// again. 2.28 never returns it; the guard keeps the SDK building on both.
bool is_new_session_ticket(int ret) {
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
  return ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET;
#else
  (void)ret;
  return false;
#endif
}

// Bounds the internal retries of a NEW_SESSION_TICKET (a peer could send
// tickets forever); beyond it the caller is told to wait for input.
constexpr int kMaxTicketRetries = 8;

TlsResult status_of(TlsStatus status) {
  TlsResult r;
  r.status = status;
  return r;
}

TlsResult ok_bytes(std::size_t n) {
  TlsResult r;
  r.bytes = n;
  return r;
}

TlsResult error_of(std::error_code ec) {
  TlsResult r;
  r.status = TlsStatus::error;
  r.error = ec;
  return r;
}

// True when `host` is a numeric IPv4 or IPv6 address that the certificate
// names in an iPAddress subjectAltName (4 or 16 bytes, RFC 5280 4.2.1.6).
bool names_address(const mbedtls_x509_crt& crt, const char* host) {
  unsigned char address[16];
  std::size_t length = 0;
  if (inet_pton(AF_INET, host, address) == 1) {
    length = 4;
  } else if (inet_pton(AF_INET6, host, address) == 1) {
    length = 16;
  } else {
    return false;
  }
  constexpr int kIpAddressTag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7;
  for (const mbedtls_x509_sequence* san = &crt.subject_alt_names; san != nullptr; san = san->next) {
    if (san->buf.tag == kIpAddressTag && san->buf.len == length && std::memcmp(san->buf.p, address, length) == 0) {
      return true;
    }
  }
  return false;
}

// The alert the peer's last record carried (its second byte).
int received_alert(const mbedtls_ssl_context& ssl) {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  const unsigned char* message = ssl.MBEDTLS_PRIVATE(in_msg);
  const std::size_t length = ssl.MBEDTLS_PRIVATE(in_msglen);
#else
  const unsigned char* message = ssl.in_msg;
  const std::size_t length = ssl.in_msglen;
#endif
  return message != nullptr && length >= 2 ? message[1] : -1;
}

// How far the handshake got (MBEDTLS_SSL_CLIENT_HELLO, ...).
int handshake_progress(const mbedtls_ssl_context& ssl) {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  return ssl.MBEDTLS_PRIVATE(state);
#else
  return ssl.state;
#endif
}

#if MBEDTLS_VERSION_NUMBER < 0x03000000
// Constant-time equality of two master secrets (their timing must not tell
// how many leading bytes match).
bool same_secret(const unsigned char* a, const unsigned char* b, std::size_t n) {
  unsigned char diff = 0;
  for (std::size_t i = 0; i < n; ++i) diff = static_cast<unsigned char>(diff | (a[i] ^ b[i]));
  return diff == 0;
}
#endif

}  // namespace

TlsEngine::TlsEngine() {
  mbedtls_ssl_init(&ssl_);
  mbedtls_ssl_session_init(&saved_);
}

TlsEngine::~TlsEngine() {
  mbedtls_ssl_session_free(&saved_);
  mbedtls_ssl_free(&ssl_);
}

bool TlsEngine::is_client() const { return config_ != nullptr && config_->role() == TlsRole::client; }

void TlsEngine::clear_connection_state() {
  pinned_ = PinnedWrite();
  error_.clear();
  transport_error_.clear();
  output_owed_ = false;
  handshake_started_ = false;
  close_sent_ = false;
  peer_closed_ = false;
  offered_session_ = false;
  resumed_ = false;
  certificate_seen_ = false;
  verify_flags_ = 0;
  last_alert_ = -1;
  stats_.handshake_bytes_sent = 0;
  stats_.handshake_bytes_received = 0;
}

std::error_code TlsEngine::setup(const TlsConfig& config, const char* hostname) {
  // Start from scratch: free the previous context (and its buffers).
  mbedtls_ssl_free(&ssl_);
  mbedtls_ssl_init(&ssl_);
  forget_session();
  clear_connection_state();
  state_ = State::unset;
  config_ = nullptr;
  hostname_[0] = '\0';

  if (!config.initialized()) return TlsErrc::not_initialized;
  const bool client = config.role() == TlsRole::client;
  if (!client && hostname != nullptr) return TlsErrc::invalid_settings;
  if (client && hostname == nullptr && config.verifies_peer()) return TlsErrc::hostname_required;
  if (hostname != nullptr && std::strlen(hostname) >= sizeof hostname_) return mbedtls_error(MBEDTLS_ERR_SSL_BAD_INPUT_DATA);

  int ret = mbedtls_ssl_setup(&ssl_, config.native());
  if (ret != 0) return mbedtls_error(ret);
  if (hostname != nullptr) {
    ret = mbedtls_ssl_set_hostname(&ssl_, hostname);
    if (ret != 0) {
      mbedtls_ssl_free(&ssl_);
      mbedtls_ssl_init(&ssl_);
      return mbedtls_error(ret);
    }
    std::memcpy(hostname_, hostname, std::strlen(hostname) + 1);
  }
  // The BIO context is the engine itself: the transport can change between
  // connections without telling mbedTLS.
  mbedtls_ssl_set_bio(&ssl_, this, &TlsEngine::bio_send, &TlsEngine::bio_recv, nullptr);
  // Numeric host names against iPAddress SANs, and the "resumed" signal of
  // 3.x (see resumed()); kept by session resets.
  if (client) mbedtls_ssl_set_verify(&ssl_, &TlsEngine::on_verify, this);
  config_ = &config;
  state_ = State::handshaking;
  return {};
}

std::error_code TlsEngine::set_hostname(const char* hostname) {
  if (state_ == State::unset) return TlsErrc::not_set_up;
  if (!is_client() || handshake_started_ || state_ != State::handshaking) return TlsErrc::invalid_settings;
  if (hostname == nullptr && config_->verifies_peer()) return TlsErrc::hostname_required;
  const char* current = hostname_[0] == '\0' ? nullptr : hostname_;
  const bool same = (hostname == nullptr && current == nullptr) ||
                    (hostname != nullptr && current != nullptr && std::strcmp(hostname, current) == 0);
  if (same) return {};
  if (hostname != nullptr && std::strlen(hostname) >= sizeof hostname_) return mbedtls_error(MBEDTLS_ERR_SSL_BAD_INPUT_DATA);
  const int ret = mbedtls_ssl_set_hostname(&ssl_, hostname);
  if (ret != 0) return mbedtls_error(ret);
  if (hostname == nullptr) {
    hostname_[0] = '\0';
  } else {
    std::memcpy(hostname_, hostname, std::strlen(hostname) + 1);
  }
  // The session in the context (set by reset()) belongs to the old host;
  // a reset of the context drops it, and the saved copy goes too.
  forget_session();
  return reset();
}

std::error_code TlsEngine::reset() {
  if (state_ == State::unset) return TlsErrc::not_set_up;
  clear_connection_state();
  // Keeps the record buffers and the host name; frees the connection's
  // keys and peer certificate and starts a fresh handshake state.
  int ret = mbedtls_ssl_session_reset(&ssl_);
  if (ret != 0) {
    state_ = State::failed;
    error_ = mbedtls_error(ret);
    return error_;
  }
  state_ = State::handshaking;
  if (is_client() && have_saved_) {
    // Offer the saved session: mbedTLS copies it (ID or ticket, master
    // secret) into the handshake; the server decides whether to resume.
    ret = mbedtls_ssl_set_session(&ssl_, &saved_);
    if (ret != 0) {
      forget_session();  // not fatal: the handshake will be a full one
    } else {
      offered_session_ = true;
    }
  }
  return {};
}

void TlsEngine::forget_session() {
  mbedtls_ssl_session_free(&saved_);
  mbedtls_ssl_session_init(&saved_);
  have_saved_ = false;
}

TlsResult TlsEngine::refuse_use() const {
  if (state_ == State::unset) return error_of(TlsErrc::not_set_up);
  if (state_ == State::failed) return error_of(error_);
  return error_of(TlsErrc::not_connected);
}

TlsResult TlsEngine::handshake_step() {
  if (state_ == State::open) return ok_bytes(0);
  if (state_ != State::handshaking) return refuse_use();
  if (transport_.send == nullptr || transport_.recv == nullptr) return error_of(TlsErrc::no_transport);
  handshake_started_ = true;
  for (int tickets = 0;; ++tickets) {
    // mbedtls_ssl_handshake loops over the handshake steps itself until it
    // is done or the transport would block.
    const int ret = mbedtls_ssl_handshake(&ssl_);
    if (ret == 0) {
      finish_handshake();
      return ok_bytes(0);
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ) return status_of(TlsStatus::want_read);
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) return status_of(TlsStatus::want_write);
    if (is_new_session_ticket(ret) && tickets < kMaxTicketRetries) continue;
    ++stats_.failed_handshakes;
    return fail(ret);
  }
}

void TlsEngine::finish_handshake() {
  state_ = State::open;
  ++stats_.handshakes;
  verify_flags_ = mbedtls_ssl_get_verify_result(&ssl_);
  if (!is_client()) return;
  // Resumed or full? See resumed() in the header: equal master secrets of
  // the offered and the resulting session mean the server resumed it.
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  resumed_ = offered_session_ && !certificate_seen_;
#else
  const mbedtls_ssl_session* current = mbedtls_ssl_get_session_pointer(&ssl_);
  resumed_ = offered_session_ && current != nullptr &&
             same_secret(current->master, saved_.master, sizeof saved_.master);
#endif
  if (resumed_) ++stats_.resumed_handshakes;
  save_session();
}

void TlsEngine::save_session() {
  // Kept after every handshake, resumed ones included: the server may have
  // sent a fresh ticket. mbedtls_ssl_get_session copies the session (and
  // allocates for the peer certificate and the ticket).
  forget_session();
  have_saved_ = mbedtls_ssl_get_session(&ssl_, &saved_) == 0;
  if (!have_saved_) forget_session();
}

TlsResult TlsEngine::read(ByteSpan out) {
  if (state_ != State::open) return refuse_use();
  if (peer_closed_) return status_of(TlsStatus::closed);
  if (out.size == 0) return ok_bytes(0);
  if (const TlsResult flushed = flush_owed_output(); !flushed.ok()) return flushed;
  for (int tickets = 0;; ++tickets) {
    const int ret = mbedtls_ssl_read(&ssl_, out.data, out.size);
    if (ret > 0) return ok_bytes(static_cast<std::size_t>(ret));
    if (ret == MBEDTLS_ERR_SSL_WANT_READ) return status_of(TlsStatus::want_read);
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
      // mbedTLS wrote something of its own (e.g. a no_renegotiation alert)
      // that the transport did not take: it is owed before any new write.
      output_owed_ = true;
      return status_of(TlsStatus::want_write);
    }
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      peer_closed_ = true;
      return status_of(TlsStatus::closed);
    }
    if (is_new_session_ticket(ret) && tickets < kMaxTicketRetries) continue;
    // 0: mbedTLS 2.28's "transport closed without close_notify".
    return fail(ret == 0 ? MBEDTLS_ERR_SSL_CONN_EOF : ret);
  }
}

TlsResult TlsEngine::write(ConstByteSpan data) {
  if (state_ != State::open || close_sent_) return refuse_use();
  if (pinned_.active && (data.data != pinned_.data || data.size != pinned_.size)) {
    // The bytes of the pinned call are already encrypted inside mbedTLS;
    // passing other arguments would lose or duplicate data. Refuse and
    // leave the pinned write intact.
    return error_of(TlsErrc::write_retry_mismatch);
  }
  if (data.size == 0) return ok_bytes(0);  // mbedTLS would send an empty record
  if (const TlsResult flushed = flush_owed_output(); !flushed.ok()) return flushed;
  for (int tickets = 0;; ++tickets) {
    const int ret = mbedtls_ssl_write(&ssl_, data.data, data.size);
    if (ret >= 0) {
      pinned_ = PinnedWrite();
      output_owed_ = false;  // a completed write leaves mbedTLS's output buffer empty
      return ok_bytes(static_cast<std::size_t>(ret));
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
      const TlsStatus want = ret == MBEDTLS_ERR_SSL_WANT_READ ? TlsStatus::want_read : TlsStatus::want_write;
      pinned_ = PinnedWrite{data.data, data.size, want, true};
      return status_of(want);
    }
    if (is_new_session_ticket(ret) && tickets < kMaxTicketRetries) continue;
    pinned_ = PinnedWrite();
    return fail(ret);
  }
}

std::size_t TlsEngine::pending_plaintext() const {
  return state_ == State::unset ? 0 : mbedtls_ssl_get_bytes_avail(&ssl_);
}

bool TlsEngine::has_pending_input() const {
  if (state_ == State::unset) return false;
  return mbedtls_ssl_get_bytes_avail(&ssl_) > 0 || mbedtls_ssl_check_pending(&ssl_) != 0;
}

TlsResult TlsEngine::flush_owed_output() {
  // Only when mbedTLS holds output of its own. If a write is pinned on
  // want_write, the buffered record is that write's, and its retry flushes it.
  if (!output_owed_ || (pinned_.active && pinned_.want == TlsStatus::want_write)) return ok_bytes(0);
  // mbedTLS has no public flush (neither 2.28 nor 3.6). mbedtls_ssl_write
  // with pending output flushes it and returns the length it was given
  // without taking any new bytes (ssl_write_real, the same in both); with
  // length 0 that is exactly a flush. (Should the buffer be
  // empty after all, it sends an empty application record, which TLS
  // allows and receivers skip.) A retry after want_write passes the same
  // arguments, as mbedTLS requires.
  static const unsigned char kNothing = 0;
  const int ret = mbedtls_ssl_write(&ssl_, &kNothing, 0);
  if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) return status_of(TlsStatus::want_write);
  if (ret == MBEDTLS_ERR_SSL_WANT_READ) return status_of(TlsStatus::want_read);
  if (ret < 0) return fail(ret);
  output_owed_ = false;
  return ok_bytes(0);
}

TlsResult TlsEngine::close_notify() {
  if (state_ != State::open || close_sent_) return ok_bytes(0);
  if ((pinned_.active && pinned_.want == TlsStatus::want_write) || output_owed_) {
    // A record (of the pinned write, or mbedTLS's own) is still (partly) in
    // the output buffer. mbedtls_ssl_close_notify then only flushes it and
    // returns 0 without sending the alert, so it takes a second call: this one.
    const int ret = mbedtls_ssl_close_notify(&ssl_);
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == MBEDTLS_ERR_SSL_WANT_READ) {
      return status_of(ret == MBEDTLS_ERR_SSL_WANT_READ ? TlsStatus::want_read : TlsStatus::want_write);
    }
    pinned_ = PinnedWrite();
    output_owed_ = false;
    if (ret != 0) return fail(ret);
  }
  const int ret = mbedtls_ssl_close_notify(&ssl_);
  if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) return status_of(TlsStatus::want_write);
  if (ret == MBEDTLS_ERR_SSL_WANT_READ) return status_of(TlsStatus::want_read);
  if (ret != 0) return fail(ret);
  close_sent_ = true;
  pinned_ = PinnedWrite();
  return ok_bytes(0);
}

const char* TlsEngine::ciphersuite() const {
  if (state_ != State::open) return "";
  const char* name = mbedtls_ssl_get_ciphersuite(&ssl_);
  return name == nullptr ? "" : name;
}

TlsResult TlsEngine::fail(int ret) {
  state_ = State::failed;
  pinned_ = PinnedWrite();
  if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) last_alert_ = received_alert(ssl_);
  if (ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) {
    // mbedTLS 2.28 refuses a client without a certificate by closing, so
    // the device could only guess why; RFC 5246 7.4.6 names the alert.
    // Best effort: the connection is over whether or not it goes out.
    (void)mbedtls_ssl_send_alert_message(&ssl_, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                         MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
  }
  error_ = translate(ret);
  return error_of(error_);
}

std::error_code TlsEngine::translate(int ret) const {
  // The transport's own error says more than MBEDTLS_ERR_NET_*_FAILED.
  if ((ret == MBEDTLS_ERR_NET_SEND_FAILED || ret == MBEDTLS_ERR_NET_RECV_FAILED) && transport_error_) {
    return transport_error_;
  }
  if (ret == MBEDTLS_ERR_SSL_CONN_EOF) return Errc::connection_closed;
  if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
    const std::error_code ec = verify_error(mbedtls_ssl_get_verify_result(&ssl_));
    return ec ? ec : mbedtls_error(ret);
  }
  if (ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) return TlsErrc::certificate_missing;
  if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && last_alert_ >= 0) return alert_error(last_alert_);
  return mbedtls_error(ret);
}

std::error_code TlsEngine::alert_error(int alert) const {
  // RFC 5246 7.2.2 and RFC 8446 4.4.2.4: the alerts that mean "your
  // certificate": bad_certificate (42) to certificate_unknown (46),
  // unknown_ca (48), access_denied (49).
  const bool about_certificate = (alert >= 42 && alert <= 46) || alert == 48 || alert == 49;
  if (!is_client()) return about_certificate ? TlsErrc::server_certificate_rejected : TlsErrc::peer_alert;
  const bool have_certificate = config_ != nullptr && config_->has_certificate();
  if (have_certificate && about_certificate) return TlsErrc::client_certificate_rejected;
  // Without a certificate: certificate_required (116, TLS 1.3), or
  // handshake_failure (40) once the server's flight, whose
  // CertificateRequest we could not answer, was read (before that, a 40
  // means no common ciphersuite or curve).
  if (!have_certificate && (alert == 116 || (alert == 40 && handshake_progress(ssl_) > MBEDTLS_SSL_SERVER_HELLO_DONE))) {
    return TlsErrc::client_certificate_required;
  }
  return TlsErrc::peer_alert;
}

int TlsEngine::bio_send(void* self, const unsigned char* data, std::size_t size) {
  auto* engine = static_cast<TlsEngine*>(self);
  const Transport& t = engine->transport_;
  if (t.send == nullptr) {
    engine->transport_error_ = TlsErrc::no_transport;
    return MBEDTLS_ERR_NET_SEND_FAILED;
  }
  std::error_code ec;
  const std::ptrdiff_t n = t.send(t.context, data, size, ec);
  if (n == kWouldBlock) return MBEDTLS_ERR_SSL_WANT_WRITE;
  if (n <= 0 || static_cast<std::size_t>(n) > size) {
    // kTransportError, or a broken promise (0 or more than asked): both
    // mean the stream can no longer be trusted.
    engine->transport_error_ = (n == kTransportError && ec) ? ec : std::make_error_code(std::errc::io_error);
    return MBEDTLS_ERR_NET_SEND_FAILED;
  }
  engine->stats_.bytes_sent += static_cast<std::uint64_t>(n);
  if (engine->state_ == State::handshaking) engine->stats_.handshake_bytes_sent += static_cast<std::uint64_t>(n);
  return static_cast<int>(n);  // n <= size, and mbedTLS never asks for more than INT_MAX
}

int TlsEngine::on_verify(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
  // Called once per certificate of the peer's chain: only in a full
  // handshake. The flags stay as mbedTLS computed them, but for one case:
  // mbedTLS 2.28 compares a numeric host name with the DNS names only, so
  // "127.0.0.1" never matches a certificate that names it as an address
  // (3.x matches it itself, and then never raises the flag).
  auto* engine = static_cast<TlsEngine*>(self);
  engine->certificate_seen_ = true;
  if (depth == 0 && (*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0 && names_address(*crt, engine->hostname_)) {
    *flags &= ~static_cast<std::uint32_t>(MBEDTLS_X509_BADCERT_CN_MISMATCH);
  }
  return 0;
}

int TlsEngine::bio_recv(void* self, unsigned char* data, std::size_t size) {
  auto* engine = static_cast<TlsEngine*>(self);
  const Transport& t = engine->transport_;
  if (t.recv == nullptr) {
    engine->transport_error_ = TlsErrc::no_transport;
    return MBEDTLS_ERR_NET_RECV_FAILED;
  }
  std::error_code ec;
  const std::ptrdiff_t n = t.recv(t.context, data, size, ec);
  if (n == kWouldBlock) return MBEDTLS_ERR_SSL_WANT_READ;
  if (n == kEndOfStream) return 0;  // mbedTLS: end of stream (MBEDTLS_ERR_SSL_CONN_EOF)
  if (n < 0 || static_cast<std::size_t>(n) > size) {
    engine->transport_error_ = (n == kTransportError && ec) ? ec : std::make_error_code(std::errc::io_error);
    return MBEDTLS_ERR_NET_RECV_FAILED;
  }
  engine->stats_.bytes_received += static_cast<std::uint64_t>(n);
  if (engine->state_ == State::handshaking) {
    engine->stats_.handshake_bytes_received += static_cast<std::uint64_t>(n);
  }
  return static_cast<int>(n);
}

}  // namespace uplink::tls
