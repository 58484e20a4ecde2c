// SPDX-License-Identifier: Apache-2.0
// The tests' in-process PKI, made with the one test PKI generator
// (tools/test_pki, library uplink_test_pki). See test_pki.hpp.
#include "support/test_pki.hpp"

#include <cstdlib>
#include <initializer_list>

#include "certificate_writer.hpp"

namespace uplink::test {
namespace {

using test_pki::CertificateSpec;
using test_pki::CertificateWriter;
using test_pki::Key;
using test_pki::KeyType;

// The generator has printed what failed.
void check(bool good) {
  if (!good) std::abort();
}

// Issues `spec` and writes the subject's key beside it. Credential:
// TestCredential or TestRsaCredential (buffers sized for the key).
template <typename Credential>
void issue(CertificateWriter& writer, Key& subject_key, Key& issuer_key, const CertificateSpec& spec,
           Credential& out) {
  check(writer.issue(spec, subject_key, issuer_key, out.certificate_pem, sizeof out.certificate_pem));
  check(writer.write_key(subject_key, out.key_pem, sizeof out.key_pem));
}

TestPki g_pki;
TestRsaPki g_rsa_pki;

void generate() {
  constexpr const char* kCa = "CN=uplink test CA,O=uplink";
  constexpr const char* kOtherCa = "CN=uplink other CA,O=uplink";
  constexpr const char* kLocalhost = "CN=localhost,O=uplink";
  CertificateWriter writer("test_pki");
  check(writer.seed("uplink test pki"));
  Key ca_key, other_ca_key, server_key, client_key, other_client_key;
  for (Key* key : {&ca_key, &other_ca_key, &server_key, &client_key, &other_client_key}) check(writer.generate(*key));

  issue(writer, ca_key, ca_key, test_pki::ca_spec(kCa, 1), g_pki.ca);
  issue(writer, other_ca_key, other_ca_key, test_pki::ca_spec(kOtherCa, 2), g_pki.other_ca);

  const CertificateSpec server = test_pki::server_spec(kLocalhost, "localhost", true, kCa, 10);
  issue(writer, server_key, ca_key, server, g_pki.server);

  CertificateSpec expired = server;
  expired.not_before = "20000101000000";
  expired.not_after = "20010101000000";
  expired.serial = 11;
  issue(writer, server_key, ca_key, expired, g_pki.expired_server);

  CertificateSpec future = server;
  future.not_before = "20900101000000";
  future.not_after = "20991231235959";
  future.serial = 12;
  issue(writer, server_key, ca_key, future, g_pki.future_server);

  issue(writer, server_key, ca_key, test_pki::server_spec("CN=other.example,O=uplink", "other.example", false, kCa, 13),
        g_pki.wrong_host_server);

  issue(writer, client_key, ca_key, test_pki::device_spec("CN=device-0001,O=uplink", kCa, 20), g_pki.client);
  issue(writer, other_client_key, other_ca_key, test_pki::device_spec("CN=device-0001,O=uplink", kOtherCa, 21),
        g_pki.other_client);
}

void generate_rsa() {
  constexpr const char* kCa = "CN=uplink test RSA CA,O=uplink";
  CertificateWriter writer("test_pki");
  check(writer.seed("uplink test pki"));
  Key ca_key, server_key;
  check(writer.generate(ca_key, KeyType::rsa_2048));
  check(writer.generate(server_key, KeyType::rsa_2048));

  issue(writer, ca_key, ca_key, test_pki::ca_spec(kCa, 1), g_rsa_pki.ca);
  issue(writer, server_key, ca_key, test_pki::server_spec("CN=localhost,O=uplink", "localhost", true, kCa, 10),
        g_rsa_pki.server);
}

}  // namespace

const TestRsaPki& test_pki_rsa() {
  static const bool generated = (generate_rsa(), true);
  (void)generated;
  return g_rsa_pki;
}

const TestPki& test_pki() {
  static const bool generated = (generate(), true);
  (void)generated;
  return g_pki;
}

}  // namespace uplink::test
