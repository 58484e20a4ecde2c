// SPDX-License-Identifier: Apache-2.0
// Who may speak for a device: the seam between a server session and the
// proof a device offers in its HELLO (a token) and in its TLS handshake (a
// client certificate).
//
// A ServerSession with an Authenticator asks it once per connection, on
// HELLO, before the HELLO touches any session: a refused device gets CLOSE
// unauthorized (the same reason and text whatever the cause, so that the
// device learns nothing about which devices exist), and the server's own
// log gets an error event "unauthorized" with the cause. A session is only
// ever resumed for the device id that opened it (SessionRegistry), so once
// the id is authenticated, so is the resume.
//
// Two implementations ship with the server:
//   CredentialsFile        (credentials_file.hpp)  device id -> salted
//                          PBKDF2-HMAC-SHA256 hash of the token
//   CertificateAuthenticator (below)   mutual TLS: the device id must be
//                          the client certificate's CN or a dNSName SAN
// and AllOf (below) demands several at once.
//
// Pure: standard library and uplink core only; the shell extracts the
// certificate's names (peer_certificate_of in certificate_names.hpp) so
// that this header needs no mbedTLS.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "uplink/core/byte_span.hpp"

namespace uplink::server {

/// The names of a client certificate that the TLS handshake verified
/// against the server's CA (mutual TLS).
struct PeerCertificate {
  std::string common_name;             ///< The subject's CN; empty when it has none.
  std::vector<std::string> dns_names;  ///< Its subjectAltName dNSName entries, in order.
};

/// What a device offers for one connection.
struct AuthRequest {
  std::string_view device_id;  ///< From HELLO (already checked: printable ASCII, 1..64 bytes).
  ConstByteSpan token;         ///< From HELLO; never logged, never copied beyond the check.
  /// The verified client certificate, or nullptr (plain TCP, or TLS without one).
  const PeerCertificate* certificate = nullptr;
};

/// An Authenticator's answer; anything but allowed refuses the device.
enum class AuthVerdict : std::uint8_t {
  allowed,               ///< The device is who it says it is.
  unknown_device,        ///< No credentials for this device id.
  wrong_token,           ///< Credentials exist, the token does not match them.
  certificate_missing,   ///< A certificate is required and none was presented.
  certificate_mismatch,  ///< The certificate names another device.
};

/// Stable snake_case name of a verdict ("wrong_token", ...), for the
/// server's log (never sent to the device).
[[nodiscard]] const char* auth_verdict_name(AuthVerdict verdict) noexcept;

/// Decides whether a HELLO may speak for its device id. Called on the
/// server's I/O thread, once per HELLO; implementations may take time (a
/// slow hash) but must not block on I/O of unbounded duration.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  /// The verdict for `request`.
  [[nodiscard]] virtual AuthVerdict authenticate(const AuthRequest& request) = 0;

 protected:
  Authenticator() = default;
  Authenticator(const Authenticator&) = default;
  Authenticator& operator=(const Authenticator&) = default;
};

/// Which certificate names may carry the device id.
enum class CertificateIdField : std::uint8_t {
  common_name,  ///< The subject's CN (the default; uplink_make_test_pki's device certificates).
  dns_san,      ///< Any subjectAltName dNSName entry.
};

/// Mutual TLS: a device is allowed when its verified client certificate
/// names exactly its device id in the configured field, so a certificate
/// speaks for one device only. The token is not looked at. The server's
/// TLS configuration must require client certificates from the devices'
/// CA; this authenticator only binds the certificate to the id.
class CertificateAuthenticator final : public Authenticator {
 public:
  /// Matches the device id against `field`.
  explicit CertificateAuthenticator(CertificateIdField field = CertificateIdField::common_name) : field_(field) {}
  /// allowed, certificate_missing (no certificate) or certificate_mismatch.
  [[nodiscard]] AuthVerdict authenticate(const AuthRequest& request) override;
  /// The field the device id is matched against.
  [[nodiscard]] CertificateIdField field() const { return field_; }

 private:
  CertificateIdField field_;
};

/// Allows a device only when every one of its authenticators does (e.g. a
/// token and a certificate); answers with the first refusal. Not owning.
class AllOf final : public Authenticator {
 public:
  /// Asks `first`, then `second` (neither may be nullptr; both must outlive this).
  AllOf(Authenticator& first, Authenticator& second) : first_(first), second_(second) {}
  /// The first refusal, or allowed.
  [[nodiscard]] AuthVerdict authenticate(const AuthRequest& request) override;

 private:
  Authenticator& first_;
  Authenticator& second_;
};

}  // namespace uplink::server
