// SPDX-License-Identifier: Apache-2.0
// The one generator of throwaway certificates for tests, benchmarks and
// demos (library uplink_test_pki; not part of the installed SDK). Keys and
// certificates are made with mbedTLS's own writers (mbedtls_pk_*,
// mbedtls_x509write_crt_*) when they are needed, so no private key is ever
// committed. Two users:
//
//   tests/support/test_pki.cpp   the tests' in-process set (fixed names,
//                                serials and validity; PEM in static storage)
//   uplink_make_test_pki         files for the TLS demo and the end-to-end
//                                scenarios (random serials, valid from now)
//
// Every certificate is X.509 v3, signed with SHA-256 (ECDSA or RSA, after
// the issuer's key), with subject and authority key identifiers,
// basicConstraints and keyUsage. The kinds (see CertificateSpec):
//
//   CA       self-signed, basicConstraints CA, keyUsage keyCertSign + cRLSign
//   server   keyUsage digitalSignature, subjectAltName dNSName (and
//            iPAddress 127.0.0.1 and ::1 if asked), optionally extKeyUsage serverAuth
//   device   keyUsage digitalSignature, CN = the device id, optionally
//            extKeyUsage clientAuth (an identity for mutual TLS)
//
// plus any validity window (expired, not yet valid) and any issuer (a
// foreign CA). Keys: EC on secp256r1 (P-256) or RSA-2048.
//
// Failures are reported on stderr as "<program>: <step> failed: <mbedTLS
// text> (-0xNNNN)" and returned as false; the caller decides whether to
// abort (tests) or exit with a status (the tool).
#pragma once

#include <cstddef>
#include <cstdint>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>

namespace uplink::test_pki {

/// The key algorithms the generator makes.
enum class KeyType {
  ec_p256,   ///< EC key on secp256r1; certificates signed with ECDSA-SHA256.
  rsa_2048,  ///< RSA-2048 with exponent 65537 (seconds to generate).
};

/// The extendedKeyUsage extension of a certificate, if any.
enum class ExtendedKeyUsage {
  none,         ///< No extKeyUsage extension (any purpose).
  server_auth,  ///< id-kp-serverAuth (1.3.6.1.5.5.7.3.1).
  client_auth,  ///< id-kp-clientAuth (1.3.6.1.5.5.7.3.2).
};

/// What one certificate says. Names are mbedTLS subject strings
/// ("CN=localhost,O=uplink"); times are UTC, "YYYYMMDDhhmmss".
struct CertificateSpec {
  const char* subject = nullptr;              ///< The subject's distinguished name.
  const char* issuer = nullptr;               ///< The issuer's subject (the subject itself for a self-signed CA).
  const char* not_before = "20200101000000";  ///< Start of validity.
  const char* not_after = "20491231235959";   ///< End of validity.
  bool is_ca = false;                         ///< basicConstraints CA with path length 0, keyUsage for signing.
  const char* dns_name = nullptr;             ///< subjectAltName dNSName; nullptr: no subjectAltName.
  bool loopback_ip = false;                   ///< With dns_name: also iPAddress 127.0.0.1 and ::1.
  ExtendedKeyUsage extended_key_usage = ExtendedKeyUsage::none;  ///< The extKeyUsage extension.
  std::uint32_t serial = 0;                   ///< Serial number; 0: a random positive 128-bit one.
};

/// A self-signed CA named `subject`.
CertificateSpec ca_spec(const char* subject, std::uint32_t serial = 0);

/// A server certificate for `host` (CN and subjectAltName dNSName), with
/// iPAddress 127.0.0.1 and ::1 as well when `loopback_ip`, issued by `issuer`.
/// `subject` must name the same host ("CN=localhost,O=uplink").
CertificateSpec server_spec(const char* subject, const char* host, bool loopback_ip, const char* issuer,
                            std::uint32_t serial = 0);

/// A device certificate: `subject` carries the device id as its CN
/// ("CN=device-0001,O=uplink"), issued by `issuer`.
CertificateSpec device_spec(const char* subject, const char* issuer, std::uint32_t serial = 0);

/// A private key; empty until CertificateWriter::generate() fills it.
class Key {
 public:
  Key() { mbedtls_pk_init(&pk_); }
  ~Key() { mbedtls_pk_free(&pk_); }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  /// The mbedTLS key.
  mbedtls_pk_context& pk() { return pk_; }

 private:
  mbedtls_pk_context pk_;
};

/// The random generator and the writers. Every method returns false after
/// reporting the mbedTLS step that failed (see the file comment).
class CertificateWriter {
 public:
  /// `program` prefixes every error message.
  explicit CertificateWriter(const char* program);
  ~CertificateWriter();
  CertificateWriter(const CertificateWriter&) = delete;
  CertificateWriter& operator=(const CertificateWriter&) = delete;

  /// Seeds the CTR-DRBG from the system's entropy; call once, first.
  [[nodiscard]] bool seed(const char* personalization);

  /// Generates a fresh key of `type` into `key` (which must be empty).
  [[nodiscard]] bool generate(Key& key, KeyType type = KeyType::ec_p256);

  /// Signs `subject_key` with `issuer_key` as `spec` says and writes the
  /// certificate as NUL-terminated PEM into `pem`.
  [[nodiscard]] bool issue(const CertificateSpec& spec, Key& subject_key, Key& issuer_key, char* pem,
                           std::size_t pem_size);

  /// Writes `key`'s private key as NUL-terminated PEM into `pem`.
  [[nodiscard]] bool write_key(Key& key, char* pem, std::size_t pem_size);

 private:
  bool ok(int ret, const char* step) const;

  const char* program_;
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
};

}  // namespace uplink::test_pki
