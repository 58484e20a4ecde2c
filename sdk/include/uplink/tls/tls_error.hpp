// SPDX-License-Identifier: Apache-2.0
// TLS errors as std::error_code: two categories, no exceptions, no RTTI.
//
//  * "mbedtls": a raw mbedTLS return code, kept AS-IS, i.e. negative
//    (MBEDTLS_ERR_SSL_INVALID_RECORD is value -0x7200). The value is then
//    the number mbedTLS documents, prints and greps for; a std::error_code
//    is "set" for any non-zero value, so negative values are fine.
//    message() is mbedtls_strerror's text plus the code in hex.
//  * "uplink.tls": uplink::tls::TlsErrc, readable names for what an
//    application or an operator acts on: certificate_expired, unknown_ca,
//    hostname_mismatch, ... and misuse of the TLS API. A certificate
//    verification failure (MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) is always
//    reported in this category, from the verification flags.
//
// Errors of the transport below TLS keep their own category (system for a
// socket errno); an end of stream without close_notify is
// uplink::Errc::connection_closed (the "uplink" category).
//
// This header does not include mbedTLS: flags are plain std::uint32_t
// (the MBEDTLS_X509_BADCERT_* bits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

namespace uplink::tls {

/// TLS conditions with uplink-style names. Zero is never used.
enum class TlsErrc : int {
  // --- Certificate verification (from MBEDTLS_X509_BADCERT_* flags) ---
  unknown_ca = 1,             ///< Chain does not lead to a trusted CA (BADCERT_NOT_TRUSTED).
  certificate_expired,        ///< Validity ended (BADCERT_EXPIRED).
  certificate_not_yet_valid,  ///< Validity starts in the future (BADCERT_FUTURE).
  hostname_mismatch,          ///< Certificate is not for the expected host name (BADCERT_CN_MISMATCH).
  certificate_revoked,        ///< On a CRL (BADCERT_REVOKED).
  certificate_bad_usage,      ///< keyUsage / extendedKeyUsage / nsCertType forbid this use.
  certificate_weak,           ///< Unacceptable hash, signature algorithm or key (BAD_MD / BAD_PK / BAD_KEY).
  certificate_missing,        ///< The peer sent no certificate where one is required (BADCERT_MISSING).
  certificate_invalid,        ///< Any other verification failure (BADCERT_OTHER, CRL problems, ...).

  // --- Configuration (TlsConfig::init) ---
  invalid_settings,           ///< Contradictory or incomplete TlsSettings (the function documents which).
  credential_load_failed,     ///< A CA, certificate or key could not be read or parsed.
  key_mismatch,               ///< The own private key does not belong to the own certificate.
  already_initialized,        ///< TlsConfig::init called twice.
  not_initialized,            ///< A TlsConfig used before a successful init.
  hostname_required,          ///< Client with verification on but no host name to verify against.

  // --- Engine API use ---
  not_set_up,                 ///< TlsEngine used before a successful setup().
  not_connected,              ///< read/write before the handshake is done, or after the connection ended.
  write_retry_mismatch,       ///< A write retried after want_read/want_write with another buffer or size.
  no_transport,               ///< The engine has no transport callbacks.

  // --- Connection (reported by uplink::Client) ---
  handshake_timeout,          ///< The connect deadline passed during the TLS handshake.

  // --- The peer ended the handshake with a fatal alert (TlsEngine::last_alert() has its number) ---
  client_certificate_rejected,  ///< Client: the server refused our certificate (bad_certificate, unknown_ca, ...).
  client_certificate_required,  ///< Client: the server requires a certificate and we have none configured.
  server_certificate_rejected,  ///< Server: the client refused our certificate.
  peer_alert,                   ///< Any other fatal alert (handshake_failure, protocol_version, ...).
};

/// The category of TlsErrc. Its name is "uplink.tls".
[[nodiscard]] const std::error_category& tls_category() noexcept;

/// The category of raw mbedTLS return codes. Its name is "mbedtls"; values
/// are stored as mbedTLS returns them (negative).
[[nodiscard]] const std::error_category& mbedtls_category() noexcept;

/// Makes a std::error_code from a TlsErrc (found by ADL).
[[nodiscard]] inline std::error_code make_error_code(TlsErrc e) noexcept {
  return {static_cast<int>(e), tls_category()};
}

/// Wraps an mbedTLS return code. 0 (success) gives an empty error_code;
/// MBEDTLS_ERR_X509_CERT_VERIFY_FAILED is NOT translated here (it carries
/// no flags): see verify_error().
[[nodiscard]] inline std::error_code mbedtls_error(int code) noexcept {
  return code == 0 ? std::error_code() : std::error_code(code, mbedtls_category());
}

/// Short stable name ("unknown_ca"), for logs and metrics labels;
/// "unknown" outside the enum.
[[nodiscard]] const char* tls_errc_name(TlsErrc e) noexcept;

/// The most telling TlsErrc for a set of MBEDTLS_X509_BADCERT_* / BADCRL_*
/// verification flags, in this order of precedence (the first flag present
/// wins): NOT_TRUSTED -> unknown_ca, MISSING -> certificate_missing,
/// REVOKED -> certificate_revoked, EXPIRED -> certificate_expired,
/// FUTURE -> certificate_not_yet_valid, CN_MISMATCH -> hostname_mismatch,
/// KEY_USAGE / EXT_KEY_USAGE / NS_CERT_TYPE -> certificate_bad_usage,
/// BAD_MD / BAD_PK / BAD_KEY -> certificate_weak, anything else ->
/// certificate_invalid. Trust comes first: an expired certificate from an
/// unknown CA is an unknown CA. `flags == 0` gives an empty error_code.
[[nodiscard]] std::error_code verify_error(std::uint32_t flags) noexcept;

/// Writes a readable list of the verification flags ("expired, cn mismatch")
/// into `out` (always NUL-terminated when size > 0). Returns `out`.
const char* describe_verify_flags(std::uint32_t flags, char* out, std::size_t size) noexcept;

}  // namespace uplink::tls

namespace std {
template <>
struct is_error_code_enum<uplink::tls::TlsErrc> : true_type {};
}  // namespace std
