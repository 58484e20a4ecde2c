// SPDX-License-Identifier: Apache-2.0
// Throwaway certificates for TLS tests, generated AT TEST TIME with
// mbedTLS's own APIs: no private key is ever committed. They come from the
// same generator as uplink_make_test_pki's (tools/test_pki, library
// uplink_test_pki); this file names the tests' set.
//
// Every key is a fresh EC key on secp256r1; certificates are X.509 v3,
// ECDSA with SHA-256, with subject and authority key identifiers.
//
//   ca                 "uplink test CA" (self-signed, basicConstraints CA)
//   other_ca           "uplink other CA": trusted by nobody unless a test says so
//   server             from ca: CN=localhost, SAN DNS:localhost + IP:127.0.0.1
//   expired_server     from ca: same names, valid 2000-01-01 .. 2001-01-01
//   future_server      from ca: same names, valid from 2090 on
//   wrong_host_server  from ca: CN=other.example, SAN DNS:other.example
//   client             from ca: CN=device-0001 (the device identity for mutual TLS)
//   other_client       from other_ca: CN=device-0001
//
// The PEM texts live in static storage (no heap), NUL-terminated, ready for
// uplink::tls::Credential::pem().
//
// test_pki_rsa() is a separate, RSA-2048 chain for comparing key types (the
// TLS handshake bench); tests do not need it, and test_pki() never pays for
// its key generation:
//
//   ca                 "uplink test RSA CA" (self-signed), RSA-2048, SHA-256
//   server             from that CA: CN=localhost, SAN DNS:localhost + IP:127.0.0.1
#pragma once

#include <cstddef>

namespace uplink::test {

struct TestCredential {
  char certificate_pem[4096];
  char key_pem[1024];
};

struct TestPki {
  TestCredential ca;
  TestCredential other_ca;
  TestCredential server;
  TestCredential expired_server;
  TestCredential future_server;
  TestCredential wrong_host_server;
  TestCredential client;
  TestCredential other_client;
};

/// An RSA key in PEM is about 1.7 KB.
struct TestRsaCredential {
  char certificate_pem[4096];
  char key_pem[4096];
};

struct TestRsaPki {
  TestRsaCredential ca;
  TestRsaCredential server;
};

/// The test PKI of this process, generated on the first call (a few
/// milliseconds). Aborts with a message if mbedTLS fails.
const TestPki& test_pki();

/// The RSA-2048 chain, generated on the first call (two RSA key
/// generations: up to seconds). Aborts with a message if mbedTLS fails.
const TestRsaPki& test_pki_rsa();

}  // namespace uplink::test
