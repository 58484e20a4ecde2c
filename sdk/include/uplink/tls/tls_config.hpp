// SPDX-License-Identifier: Apache-2.0
// uplink::tls::TlsConfig: everything TLS needs that outlives one connection.
//
// Built once (init), then shared, read-only, by every TlsEngine of that role
// and reused across reconnects: the mbedtls_ssl_config, the random generator
// (CTR-DRBG seeded from mbedTLS's default entropy sources), the trusted CA
// chain, the own certificate and key (the device identity for mutual TLS),
// and on a server the session-ticket keys and/or the session cache.
//
//   uplink::tls::TlsSettings s;                          // client, verification REQUIRED
//   s.ca = uplink::tls::Credential::file("/etc/uplink/ca.pem");
//   s.certificate = uplink::tls::Credential::file("/etc/uplink/device.crt");  // optional (mTLS)
//   s.private_key = uplink::tls::Credential::file("/etc/uplink/device.key");
//   uplink::tls::TlsConfig config;
//   if (auto ec = config.init(s)) { log(config.failed_field(), ec.message()); }
//
// A hardware RNG is added through TlsSettings::entropy_source: the entropy
// context is private and seeded inside init(), so that is the only place.
//
// Protocol: TLS 1.2 only (what mbedTLS 2.28 offers for production; its
// TLS 1.3 is experimental and off in Debian's build).
//
// Memory: init() allocates (parsed certificates, keys, DRBG, ticket keys);
// nothing here allocates afterwards, except the server's session cache,
// which holds up to `session_cache_entries` sessions.
//
// Threading: init() once, before any engine uses the config. Afterwards
// engines on several threads may share it (the DRBG is locked by mbedTLS's
// threading layer, MBEDTLS_THREADING_C, enabled in Debian's build).
//
// Lifetime: the config must outlive every TlsEngine set up with it; it can
// be neither copied nor moved (mbedTLS holds pointers into it).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <system_error>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include "uplink/core/byte_span.hpp"
#include "uplink/tls/tls_error.hpp"

namespace uplink::tls {

/// Which end of the connection an engine set up with the config plays.
enum class TlsRole : std::uint8_t { client, server };

/// Where a certificate (chain) or a private key comes from: a file, or
/// bytes in memory (PEM or DER). The memory must stay valid during init()
/// only; mbedTLS keeps its own parsed copy.
struct Credential {
  const char* path = nullptr;  ///< File (PEM or DER), or nullptr.
  ConstByteSpan data;          ///< In-memory PEM (INCLUDING its terminating NUL, as mbedTLS requires) or DER.

  /// A file on disk.
  [[nodiscard]] static Credential file(const char* path) {
    Credential c;
    c.path = path;
    return c;
  }
  /// NUL-terminated PEM text in memory (one or more blocks).
  [[nodiscard]] static Credential pem(const char* text) {
    Credential c;
    c.data = text == nullptr ? ConstByteSpan() : ConstByteSpan(text, std::strlen(text) + 1);
    return c;
  }
  /// One DER-encoded certificate or key in memory.
  [[nodiscard]] static Credential der(ConstByteSpan bytes) {
    Credential c;
    c.data = bytes;
    return c;
  }
  /// True when neither a path nor data is set (the credential is not given).
  [[nodiscard]] bool empty() const { return path == nullptr && data.empty(); }
};

/// The maximum fragment length extension (RFC 6066) a client asks for.
/// Smaller records on the wire; note that with Debian's mbedTLS 2.28
/// (MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH off) the record BUFFERS stay at
/// their compiled size (16 KiB + overhead each way), so this bounds what
/// the PEER must buffer, not our RAM.
enum class MaxFragment : std::uint8_t { unlimited, bytes_512, bytes_1024, bytes_2048, bytes_4096 };

/// An extra entropy source for the config's random generator, shaped as
/// mbedtls_entropy_add_source takes it (mbedtls_entropy_f_source_ptr):
/// `function(context, out, size, &produced)` writes up to `size` bytes and
/// returns 0, or non-zero on failure. mbedTLS calls it on every entropy
/// gather, next to its platform source (getrandom / /dev/urandom).
/// Example, the Raspberry Pi's hardware RNG (ports/raspberrypi):
///   s.entropy_source = {uplink::port::raspberrypi::hwrng_entropy_source, nullptr, 0, false};
struct EntropySource {
  /// The source, called by mbedTLS with `context`; nullptr: no extra source.
  int (*function)(void* context, unsigned char* out, std::size_t size, std::size_t* produced) = nullptr;
  void* context = nullptr;  ///< Passed to `function` as is; must outlive the TlsConfig.
  /// Bytes it must have delivered before a gather may finish (mbedTLS's
  /// threshold). 0 for a device that may be absent or slow: then it adds
  /// what it has and never blocks seeding.
  std::size_t threshold = 0;
  /// MBEDTLS_ENTROPY_SOURCE_STRONG instead of WEAK. mbedTLS requires one
  /// strong source; its platform source already is one.
  bool strong = false;
};

/// Plain-data settings for TlsConfig::init. Defaults: a client that
/// requires a valid server certificate from `ca` for the host name given to
/// TlsEngine::setup, accepts session tickets, TLS 1.2.
struct TlsSettings {
  TlsRole role = TlsRole::client;  ///< Which end; some settings below apply to one role only.

  /// Trusted CA certificates. Client: issuers of server certificates
  /// (required unless insecure_skip_verify). Server: issuers of client
  /// certificates (required with require_client_certificate).
  Credential ca;
  /// Own certificate (chain, leaf first) and its private key. Server:
  /// required. Client: optional, the device identity for mutual TLS. Both
  /// or neither.
  Credential certificate;
  /// The private key of `certificate` (PEM or DER, possibly encrypted: see key_password).
  Credential private_key;
  /// Password of an encrypted private key, or nullptr.
  const char* key_password = nullptr;

  /// Client only. INSECURE: the handshake succeeds whatever the server's
  /// certificate (unknown CA, expired, other host). The certificate is still
  /// checked (mbedTLS VERIFY_OPTIONAL) and the result is available from
  /// TlsEngine::verify_flags() for logging. For bring-up on a bench, never
  /// for a fleet.
  bool insecure_skip_verify = false;

  /// Server only: clients must present a certificate issued by `ca`
  /// (mbedTLS VERIFY_REQUIRED); otherwise none is asked for.
  bool require_client_certificate = false;

  /// Client: accept session tickets (RFC 5077) for resumption.
  /// Server: issue them (keys from the DRBG, AES-256-GCM, rotated by
  /// mbedTLS every ticket_lifetime_s).
  bool session_tickets = true;
  /// Server: seconds a ticket stays valid, and the rotation period of its key.
  std::uint32_t ticket_lifetime_s = 86400;

  /// Server only: session-ID resumption cache with this many entries
  /// (0: no cache). Each entry holds a session (about 200 bytes plus the
  /// peer certificate, if any).
  int session_cache_entries = 0;
  /// Server: seconds a cached session may be resumed.
  std::uint32_t session_cache_timeout_s = 86400;

  /// Client: ask the server for smaller records (see MaxFragment).
  /// Server: also caps its own outgoing records.
  MaxFragment max_fragment = MaxFragment::unlimited;

  /// Personalization string of the DRBG (e.g. the device id); optional.
  ConstByteSpan personalization;

  /// Added to the entropy context before the DRBG is seeded, so it feeds
  /// the seed and every reseed (see EntropySource). No function: mbedTLS's
  /// default sources only.
  EntropySource entropy_source;
};

/// The shared, per-role TLS configuration. See the file comment.
class TlsConfig {
 public:
  TlsConfig();
  ~TlsConfig();
  TlsConfig(const TlsConfig&) = delete;
  TlsConfig& operator=(const TlsConfig&) = delete;

  /// Builds the configuration. Errors (failed_field() names the setting):
  ///  - TlsErrc::already_initialized: init() succeeded before;
  ///  - TlsErrc::invalid_settings: a server without certificate or key; a
  ///    certificate without key or the reverse; a client without `ca` and
  ///    without insecure_skip_verify; require_client_certificate without
  ///    `ca`; a client-only option on a server or the reverse; a Credential
  ///    with both a path and data; a negative cache size;
  ///  - TlsErrc::key_mismatch: private_key is not the certificate's key;
  ///  - generic category: a credential file that cannot be opened, with the
  ///    system's reason (ENOENT "No such file or directory", EACCES, ...);
  ///  - mbedTLS category: the parser's or the DRBG's error (e.g.
  ///    MBEDTLS_ERR_X509_FILE_IO_ERROR, MBEDTLS_ERR_PK_PASSWORD_REQUIRED,
  ///    MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED, field "entropy_source"
  ///    when one is set, e.g. a strong source that fails or delivers less
  ///    than its threshold; MBEDTLS_ERR_ENTROPY_MAX_SOURCES); with mbedTLS 3.x,
  ///    MBEDTLS_ERR_SSL_INTERNAL_ERROR (field "role") when psa_crypto_init fails.
  /// On error the config stays uninitialized and init() may be called again.
  [[nodiscard]] std::error_code init(const TlsSettings& settings);

  /// True after a successful init(): engines may be set up with it.
  [[nodiscard]] bool initialized() const { return initialized_; }
  /// The role given to init() (client before it).
  [[nodiscard]] TlsRole role() const { return role_; }
  /// True when a bad peer certificate fails the handshake.
  [[nodiscard]] bool verifies_peer() const { return verifies_peer_; }
  /// True when init() loaded an own certificate (a client identity for mutual TLS).
  [[nodiscard]] bool has_certificate() const { return has_certificate_; }
  /// The setting init() refused last ("ca", "private_key", ...), or "".
  [[nodiscard]] const char* failed_field() const { return failed_field_; }

  /// Server: handshakes that resumed a session, by ticket and by cache
  /// (counted in the ticket-parse and cache-lookup callbacks, which mbedTLS
  /// calls only to resume). Shared by all engines using this config.
  [[nodiscard]] std::uint64_t tickets_accepted() const { return tickets_accepted_.load(); }
  /// See tickets_accepted(): handshakes resumed from the session cache.
  [[nodiscard]] std::uint64_t cache_hits() const { return cache_hits_.load(); }

  /// The mbedTLS configuration, for TlsEngine (and for tuning the few
  /// settings not covered by TlsSettings before any engine is set up).
  [[nodiscard]] const mbedtls_ssl_config* native() const { return &conf_; }
  /// See native() const: the same configuration, writable.
  [[nodiscard]] mbedtls_ssl_config* native() { return &conf_; }

 private:
  std::error_code refuse(const char* field, std::error_code ec);
  void release();
  // Every mbedTLS context back to its empty state (constructor, release()).
  void init_contexts();
  static int ticket_write(void* self, const mbedtls_ssl_session* session, unsigned char* start,
                          const unsigned char* end, std::size_t* written, std::uint32_t* lifetime);
  static int ticket_parse(void* self, mbedtls_ssl_session* session, unsigned char* buf, std::size_t len);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  static int cache_get(void* self, const unsigned char* id, std::size_t id_len, mbedtls_ssl_session* session);
  static int cache_set(void* self, const unsigned char* id, std::size_t id_len, const mbedtls_ssl_session* session);
#else
  static int cache_get(void* self, mbedtls_ssl_session* session);
  static int cache_set(void* self, const mbedtls_ssl_session* session);
#endif

  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
  mbedtls_ssl_config conf_;
  mbedtls_x509_crt ca_;
  mbedtls_x509_crt own_certificate_;
  mbedtls_pk_context own_key_;
  mbedtls_ssl_ticket_context ticket_;
  mbedtls_ssl_cache_context cache_;

  bool initialized_ = false;
  bool verifies_peer_ = false;
  bool has_certificate_ = false;
  TlsRole role_ = TlsRole::client;
  const char* failed_field_ = "";
  std::atomic<std::uint64_t> tickets_accepted_{0};
  std::atomic<std::uint64_t> cache_hits_{0};
};

}  // namespace uplink::tls
