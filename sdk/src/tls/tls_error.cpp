// SPDX-License-Identifier: Apache-2.0
// The "uplink.tls" and "mbedtls" error categories, and the mapping of
// certificate verification flags to TlsErrc.
#include "uplink/tls/tls_error.hpp"

#include <cstdio>
#include <cstring>
#include <string>

#include <mbedtls/error.h>
#include <mbedtls/x509.h>

namespace uplink::tls {
namespace {

struct ErrcInfo {
  const char* name;
  const char* message;
};

ErrcInfo info_of(TlsErrc e) noexcept {
  switch (e) {
    case TlsErrc::unknown_ca: return {"unknown_ca", "certificate not issued by a trusted CA"};
    case TlsErrc::certificate_expired: return {"certificate_expired", "certificate expired"};
    case TlsErrc::certificate_not_yet_valid: return {"certificate_not_yet_valid", "certificate not valid yet"};
    case TlsErrc::hostname_mismatch: return {"hostname_mismatch", "certificate does not match the host name"};
    case TlsErrc::certificate_revoked: return {"certificate_revoked", "certificate revoked"};
    case TlsErrc::certificate_bad_usage: return {"certificate_bad_usage", "certificate not valid for this use"};
    case TlsErrc::certificate_weak: return {"certificate_weak", "certificate uses an unacceptable algorithm or key"};
    case TlsErrc::certificate_missing: return {"certificate_missing", "peer sent no certificate"};
    case TlsErrc::certificate_invalid: return {"certificate_invalid", "certificate verification failed"};
    case TlsErrc::invalid_settings: return {"invalid_settings", "invalid TLS settings"};
    case TlsErrc::credential_load_failed: return {"credential_load_failed", "could not load a certificate or key"};
    case TlsErrc::key_mismatch: return {"key_mismatch", "private key does not match the certificate"};
    case TlsErrc::already_initialized: return {"already_initialized", "TLS configuration already initialized"};
    case TlsErrc::not_initialized: return {"not_initialized", "TLS configuration not initialized"};
    case TlsErrc::hostname_required: return {"hostname_required", "certificate verification needs a host name"};
    case TlsErrc::not_set_up: return {"not_set_up", "TLS engine not set up"};
    case TlsErrc::not_connected: return {"not_connected", "TLS connection not established"};
    case TlsErrc::write_retry_mismatch:
      return {"write_retry_mismatch", "TLS write retried with different arguments"};
    case TlsErrc::no_transport: return {"no_transport", "TLS engine has no transport"};
    case TlsErrc::handshake_timeout: return {"handshake_timeout", "TLS handshake timed out"};
    case TlsErrc::client_certificate_rejected:
      return {"client_certificate_rejected", "the server rejected our client certificate"};
    case TlsErrc::client_certificate_required:
      return {"client_certificate_required", "the server requires a client certificate and none is configured"};
    case TlsErrc::server_certificate_rejected:
      return {"server_certificate_rejected", "the client rejected our server certificate"};
    case TlsErrc::peer_alert: return {"peer_alert", "the peer ended the handshake with a fatal TLS alert"};
  }
  return {"unknown", "unknown TLS error"};
}

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "uplink.tls"; }
  std::string message(int value) const override { return info_of(static_cast<TlsErrc>(value)).message; }
};

class MbedtlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mbedtls"; }
  std::string message(int value) const override {
    // mbedtls_strerror writes into the caller's buffer: a stack buffer here,
    // never a static one (thread safety).
    char text[160];
    mbedtls_strerror(value, text, sizeof text);
    char hex[24];
    const unsigned magnitude = value < 0 ? 0U - static_cast<unsigned>(value) : static_cast<unsigned>(value);
    std::snprintf(hex, sizeof hex, " (%s0x%04X)", value < 0 ? "-" : "", magnitude);
    return std::string(text) + hex;
  }
};

struct FlagName {
  std::uint32_t flag;
  const char* name;
};

constexpr FlagName kFlagNames[] = {
    {MBEDTLS_X509_BADCERT_EXPIRED, "expired"},
    {MBEDTLS_X509_BADCERT_REVOKED, "revoked"},
    {MBEDTLS_X509_BADCERT_CN_MISMATCH, "cn mismatch"},
    {MBEDTLS_X509_BADCERT_NOT_TRUSTED, "not trusted"},
    {MBEDTLS_X509_BADCRL_NOT_TRUSTED, "crl not trusted"},
    {MBEDTLS_X509_BADCRL_EXPIRED, "crl expired"},
    {MBEDTLS_X509_BADCERT_MISSING, "missing"},
    {MBEDTLS_X509_BADCERT_SKIP_VERIFY, "skipped"},
    {MBEDTLS_X509_BADCERT_OTHER, "other"},
    {MBEDTLS_X509_BADCERT_FUTURE, "not yet valid"},
    {MBEDTLS_X509_BADCRL_FUTURE, "crl not yet valid"},
    {MBEDTLS_X509_BADCERT_KEY_USAGE, "key usage"},
    {MBEDTLS_X509_BADCERT_EXT_KEY_USAGE, "extended key usage"},
    {MBEDTLS_X509_BADCERT_NS_CERT_TYPE, "ns cert type"},
    {MBEDTLS_X509_BADCERT_BAD_MD, "bad hash"},
    {MBEDTLS_X509_BADCERT_BAD_PK, "bad signature algorithm"},
    {MBEDTLS_X509_BADCERT_BAD_KEY, "bad key"},
    {MBEDTLS_X509_BADCRL_BAD_MD, "crl bad hash"},
    {MBEDTLS_X509_BADCRL_BAD_PK, "crl bad signature algorithm"},
    {MBEDTLS_X509_BADCRL_BAD_KEY, "crl bad key"},
};

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory category;
  return category;
}

const std::error_category& mbedtls_category() noexcept {
  static const MbedtlsCategory category;
  return category;
}

const char* tls_errc_name(TlsErrc e) noexcept { return info_of(e).name; }

std::error_code verify_error(std::uint32_t flags) noexcept {
  if (flags == 0) return {};
  struct Rule {
    std::uint32_t mask;
    TlsErrc errc;
  };
  static constexpr Rule kRules[] = {
      {MBEDTLS_X509_BADCERT_NOT_TRUSTED, TlsErrc::unknown_ca},
      {MBEDTLS_X509_BADCERT_MISSING, TlsErrc::certificate_missing},
      {MBEDTLS_X509_BADCERT_REVOKED, TlsErrc::certificate_revoked},
      {MBEDTLS_X509_BADCERT_EXPIRED, TlsErrc::certificate_expired},
      {MBEDTLS_X509_BADCERT_FUTURE, TlsErrc::certificate_not_yet_valid},
      {MBEDTLS_X509_BADCERT_CN_MISMATCH, TlsErrc::hostname_mismatch},
      {MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE | MBEDTLS_X509_BADCERT_NS_CERT_TYPE,
       TlsErrc::certificate_bad_usage},
      {MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY,
       TlsErrc::certificate_weak},
  };
  for (const Rule& rule : kRules) {
    if ((flags & rule.mask) != 0) return rule.errc;
  }
  return TlsErrc::certificate_invalid;
}

const char* describe_verify_flags(std::uint32_t flags, char* out, std::size_t size) noexcept {
  if (out == nullptr || size == 0) return out;
  out[0] = '\0';
  std::size_t used = 0;
  for (const FlagName& entry : kFlagNames) {
    if ((flags & entry.flag) == 0) continue;
    const int n = std::snprintf(out + used, size - used, "%s%s", used == 0 ? "" : ", ", entry.name);
    if (n < 0 || static_cast<std::size_t>(n) >= size - used) break;  // truncated: keep what fits
    used += static_cast<std::size_t>(n);
  }
  return out;
}

}  // namespace uplink::tls
