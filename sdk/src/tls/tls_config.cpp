// SPDX-License-Identifier: Apache-2.0
// TlsConfig: the shared mbedTLS configuration. See tls_config.hpp.
#include "uplink/tls/tls_config.hpp"

#include <cerrno>

#include <mbedtls/cipher.h>
#include <mbedtls/version.h>

// mbedTLS 3.x changed some of the calls below; each difference is guarded
// with MBEDTLS_VERSION_NUMBER. CI tests the 2.28 branch; the 3.x branch is
// built and tested by hand with scripts/check-mbedtls3 (docs/TLS.md).
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
#endif

namespace uplink::tls {
namespace {

constexpr char kDefaultPersonalization[] = "uplink tls";

unsigned char mfl_code(MaxFragment m) {
  switch (m) {
    case MaxFragment::bytes_512: return MBEDTLS_SSL_MAX_FRAG_LEN_512;
    case MaxFragment::bytes_1024: return MBEDTLS_SSL_MAX_FRAG_LEN_1024;
    case MaxFragment::bytes_2048: return MBEDTLS_SSL_MAX_FRAG_LEN_2048;
    case MaxFragment::bytes_4096: return MBEDTLS_SSL_MAX_FRAG_LEN_4096;
    case MaxFragment::unlimited: break;
  }
  return MBEDTLS_SSL_MAX_FRAG_LEN_NONE;
}

bool ambiguous(const Credential& c) { return c.path != nullptr && !c.data.empty(); }

// Parses a certificate chain. `partial_ok`: a CA bundle may hold entries
// mbedTLS cannot parse (mbedtls_x509_crt_parse* then returns how many
// failed); they are skipped as long as one certificate loaded.
int load_certificates(mbedtls_x509_crt* chain, const Credential& source, bool partial_ok) {
  const int ret = source.path != nullptr ? mbedtls_x509_crt_parse_file(chain, source.path)
                                         : mbedtls_x509_crt_parse(chain, source.data.data, source.data.size);
  if (ret < 0) return ret;
  const bool loaded_one = chain->version != 0;  // an empty mbedtls_x509_crt has version 0
  if (!loaded_one || (ret > 0 && !partial_ok)) return MBEDTLS_ERR_X509_INVALID_FORMAT;
  return 0;
}

// mbedTLS 3.x takes a random generator for the blinding of private-key
// operations during parsing and pair checking; 2.28 has no such argument.
int load_key(mbedtls_pk_context* key, const Credential& source, const char* password,
             mbedtls_ctr_drbg_context* drbg) {
  const auto* pwd = reinterpret_cast<const unsigned char*>(password);
  const std::size_t pwd_len = password == nullptr ? 0 : std::strlen(password);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  if (source.path != nullptr) return mbedtls_pk_parse_keyfile(key, source.path, password, mbedtls_ctr_drbg_random, drbg);
  return mbedtls_pk_parse_key(key, source.data.data, source.data.size, pwd, pwd_len, mbedtls_ctr_drbg_random, drbg);
#else
  (void)drbg;
  if (source.path != nullptr) return mbedtls_pk_parse_keyfile(key, source.path, password);
  return mbedtls_pk_parse_key(key, source.data.data, source.data.size, pwd, pwd_len);
#endif
}

// What a failed load means: a file that cannot be opened is reported with
// the system's reason ("No such file or directory", "Permission denied"),
// which mbedTLS reduces to "Read/write of file failed".
std::error_code load_error(int ret, const Credential& source, int open_errno) {
  const bool file_io = ret == MBEDTLS_ERR_PK_FILE_IO_ERROR || ret == MBEDTLS_ERR_X509_FILE_IO_ERROR;
  if (file_io && source.path != nullptr && open_errno != 0) return {open_errno, std::generic_category()};
  return mbedtls_error(ret);
}

int check_pair(const mbedtls_pk_context* pub, const mbedtls_pk_context* prv, mbedtls_ctr_drbg_context* drbg) {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  return mbedtls_pk_check_pair(pub, prv, mbedtls_ctr_drbg_random, drbg);
#else
  (void)drbg;
  return mbedtls_pk_check_pair(pub, prv);
#endif
}

}  // namespace

TlsConfig::TlsConfig() { init_contexts(); }

void TlsConfig::init_contexts() {
  mbedtls_entropy_init(&entropy_);
  mbedtls_ctr_drbg_init(&drbg_);
  mbedtls_ssl_config_init(&conf_);
  mbedtls_x509_crt_init(&ca_);
  mbedtls_x509_crt_init(&own_certificate_);
  mbedtls_pk_init(&own_key_);
  mbedtls_ssl_ticket_init(&ticket_);
  mbedtls_ssl_cache_init(&cache_);
}

TlsConfig::~TlsConfig() { release(); }

void TlsConfig::release() {
  // Free, then init again: every context is back to its empty state, so a
  // failed init() can be retried and the destructor is safe in all states.
  mbedtls_ssl_cache_free(&cache_);
  mbedtls_ssl_ticket_free(&ticket_);
  mbedtls_pk_free(&own_key_);
  mbedtls_x509_crt_free(&own_certificate_);
  mbedtls_x509_crt_free(&ca_);
  mbedtls_ssl_config_free(&conf_);
  mbedtls_ctr_drbg_free(&drbg_);
  mbedtls_entropy_free(&entropy_);
  init_contexts();
  initialized_ = false;
  verifies_peer_ = false;
  has_certificate_ = false;
}

std::error_code TlsConfig::refuse(const char* field, std::error_code ec) {
  release();
  failed_field_ = field;
  return ec;
}

std::error_code TlsConfig::init(const TlsSettings& s) {
  if (initialized_) {
    failed_field_ = "";
    return TlsErrc::already_initialized;
  }
  failed_field_ = "";
  const bool server = s.role == TlsRole::server;
  const std::error_code invalid = TlsErrc::invalid_settings;

  // --- Settings that contradict each other: refused before any work ---
  if (ambiguous(s.ca)) return refuse("ca", invalid);
  if (ambiguous(s.certificate)) return refuse("certificate", invalid);
  if (ambiguous(s.private_key)) return refuse("private_key", invalid);
  if (s.certificate.empty() != s.private_key.empty()) {
    return refuse(s.certificate.empty() ? "certificate" : "private_key", invalid);
  }
  if (server) {
    if (s.certificate.empty()) return refuse("certificate", invalid);
    if (s.insecure_skip_verify) return refuse("insecure_skip_verify", invalid);
    if (s.require_client_certificate && s.ca.empty()) return refuse("ca", invalid);
    if (s.session_cache_entries < 0) return refuse("session_cache_entries", invalid);
  } else {
    if (s.ca.empty() && !s.insecure_skip_verify) return refuse("ca", invalid);
    if (s.require_client_certificate) return refuse("require_client_certificate", invalid);
    if (s.session_cache_entries != 0) return refuse("session_cache_entries", invalid);
  }

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  // mbedTLS 3.x routes part of its cryptography through PSA, which must be
  // initialized before a handshake (idempotent; global to the process).
  if (psa_crypto_init() != PSA_SUCCESS) return refuse("role", mbedtls_error(MBEDTLS_ERR_SSL_INTERNAL_ERROR));
#endif

  // --- Random generator ---
  int ret = 0;
  const bool extra_entropy = s.entropy_source.function != nullptr;
  if (extra_entropy) {
    // Before seeding: the seed itself must already mix in the extra source.
    ret = mbedtls_entropy_add_source(&entropy_, s.entropy_source.function, s.entropy_source.context,
                                     s.entropy_source.threshold,
                                     s.entropy_source.strong ? MBEDTLS_ENTROPY_SOURCE_STRONG : MBEDTLS_ENTROPY_SOURCE_WEAK);
    if (ret != 0) return refuse("entropy_source", mbedtls_error(ret));
  }
  const ConstByteSpan pers = s.personalization.empty() ? literal_bytes(kDefaultPersonalization) : s.personalization;
  ret = mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_, pers.data, pers.size);
  if (ret != 0) return refuse(extra_entropy ? "entropy_source" : "personalization", mbedtls_error(ret));

  // --- Defaults of the role, TLS 1.2 only ---
  ret = mbedtls_ssl_config_defaults(&conf_, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0) return refuse("role", mbedtls_error(ret));
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  // Also capped at TLS 1.2: resumption and its "resumed" signal, the
  // tested figures and the traps handled are TLS 1.2's (2.28 has no TLS 1.3).
  mbedtls_ssl_conf_min_tls_version(&conf_, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(&conf_, MBEDTLS_SSL_VERSION_TLS1_2);
#else
  mbedtls_ssl_conf_min_version(&conf_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
  mbedtls_ssl_conf_rng(&conf_, mbedtls_ctr_drbg_random, &drbg_);

  // --- Trust ---
  if (!s.ca.empty()) {
    errno = 0;
    ret = load_certificates(&ca_, s.ca, /*partial_ok=*/true);
    if (ret != 0) return refuse("ca", load_error(ret, s.ca, errno));
    mbedtls_ssl_conf_ca_chain(&conf_, &ca_, nullptr);
  }
  int authmode = MBEDTLS_SSL_VERIFY_REQUIRED;
  if (server) {
    authmode = s.require_client_certificate ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE;
  } else if (s.insecure_skip_verify) {
    authmode = MBEDTLS_SSL_VERIFY_OPTIONAL;
  }
  mbedtls_ssl_conf_authmode(&conf_, authmode);

  // --- Own identity ---
  if (!s.certificate.empty()) {
    errno = 0;
    ret = load_certificates(&own_certificate_, s.certificate, /*partial_ok=*/false);
    if (ret != 0) return refuse("certificate", load_error(ret, s.certificate, errno));
    errno = 0;
    ret = load_key(&own_key_, s.private_key, s.key_password, &drbg_);
    if (ret != 0) return refuse("private_key", load_error(ret, s.private_key, errno));
    if (check_pair(&own_certificate_.pk, &own_key_, &drbg_) != 0) {
      return refuse("private_key", TlsErrc::key_mismatch);
    }
    ret = mbedtls_ssl_conf_own_cert(&conf_, &own_certificate_, &own_key_);
    if (ret != 0) return refuse("certificate", mbedtls_error(ret));
    has_certificate_ = true;
  }

  // --- Resumption ---
  if (server) {
    if (s.session_tickets) {
      ret = mbedtls_ssl_ticket_setup(&ticket_, mbedtls_ctr_drbg_random, &drbg_, MBEDTLS_CIPHER_AES_256_GCM,
                                     s.ticket_lifetime_s);
      if (ret != 0) return refuse("session_tickets", mbedtls_error(ret));
      mbedtls_ssl_conf_session_tickets_cb(&conf_, &TlsConfig::ticket_write, &TlsConfig::ticket_parse, this);
    }
    if (s.session_cache_entries > 0) {
      mbedtls_ssl_cache_set_max_entries(&cache_, s.session_cache_entries);
      mbedtls_ssl_cache_set_timeout(&cache_, static_cast<int>(s.session_cache_timeout_s));
      mbedtls_ssl_conf_session_cache(&conf_, this, &TlsConfig::cache_get, &TlsConfig::cache_set);
    }
  } else {
    mbedtls_ssl_conf_session_tickets(&conf_, s.session_tickets ? MBEDTLS_SSL_SESSION_TICKETS_ENABLED
                                                               : MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
  }

  // --- Record size ---
  if (s.max_fragment != MaxFragment::unlimited) {
    ret = mbedtls_ssl_conf_max_frag_len(&conf_, mfl_code(s.max_fragment));
    if (ret != 0) return refuse("max_fragment", mbedtls_error(ret));
  }

  role_ = s.role;
  verifies_peer_ = authmode == MBEDTLS_SSL_VERIFY_REQUIRED;
  initialized_ = true;
  return {};
}

// The resumption callbacks forward to mbedTLS's own implementations; they
// exist to count: mbedTLS (2.28, server side) calls the ticket parser only
// for a ticket the client presents and the cache lookup only for a session
// ID the client offers, and a success of either makes the handshake an
// abbreviated one. That is the server's view of "resumed".
int TlsConfig::ticket_write(void* self, const mbedtls_ssl_session* session, unsigned char* start,
                            const unsigned char* end, std::size_t* written, std::uint32_t* lifetime) {
  auto* config = static_cast<TlsConfig*>(self);
  return mbedtls_ssl_ticket_write(&config->ticket_, session, start, end, written, lifetime);
}

int TlsConfig::ticket_parse(void* self, mbedtls_ssl_session* session, unsigned char* buf, std::size_t len) {
  auto* config = static_cast<TlsConfig*>(self);
  const int ret = mbedtls_ssl_ticket_parse(&config->ticket_, session, buf, len);
  if (ret == 0) config->tickets_accepted_.fetch_add(1);
  return ret;
}

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
// mbedTLS 3.x passes the session ID separately instead of inside `session`.
int TlsConfig::cache_get(void* self, const unsigned char* id, std::size_t id_len, mbedtls_ssl_session* session) {
  auto* config = static_cast<TlsConfig*>(self);
  const int ret = mbedtls_ssl_cache_get(&config->cache_, id, id_len, session);
  if (ret == 0) config->cache_hits_.fetch_add(1);
  return ret;
}

int TlsConfig::cache_set(void* self, const unsigned char* id, std::size_t id_len, const mbedtls_ssl_session* session) {
  auto* config = static_cast<TlsConfig*>(self);
  return mbedtls_ssl_cache_set(&config->cache_, id, id_len, session);
}
#else
int TlsConfig::cache_get(void* self, mbedtls_ssl_session* session) {
  auto* config = static_cast<TlsConfig*>(self);
  const int ret = mbedtls_ssl_cache_get(&config->cache_, session);
  if (ret == 0) config->cache_hits_.fetch_add(1);
  return ret;
}

int TlsConfig::cache_set(void* self, const mbedtls_ssl_session* session) {
  auto* config = static_cast<TlsConfig*>(self);
  return mbedtls_ssl_cache_set(&config->cache_, session);
}
#endif

}  // namespace uplink::tls
