// SPDX-License-Identifier: Apache-2.0
// Generates the test PKI with mbedtls_pk_* and mbedtls_x509write_crt. See
// test_pki.hpp.
#include "support/test_pki.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

namespace uplink::test {
namespace {

void check(int ret, const char* what) {
  if (ret == 0) return;
  char text[160];
  mbedtls_strerror(ret, text, sizeof text);
  std::fprintf(stderr, "test_pki: %s failed: %s (-0x%04X)\n", what, text, static_cast<unsigned>(-ret));
  std::abort();
}

struct Rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  Rng() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    static const unsigned char kPers[] = "uplink test pki";
    check(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, kPers, sizeof kPers - 1), "ctr_drbg_seed");
  }
  ~Rng() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
};

enum class KeyKind { ec_p256, rsa_2048 };

struct Key {
  mbedtls_pk_context pk;
  explicit Key(Rng& rng, KeyKind kind = KeyKind::ec_p256) {
    mbedtls_pk_init(&pk);
    if (kind == KeyKind::rsa_2048) {
      check(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), "pk_setup");
      check(mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk), mbedtls_ctr_drbg_random, &rng.drbg, 2048, 65537), "rsa_gen_key");
      return;
    }
    check(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), "pk_setup");
    check(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random, &rng.drbg),
          "ecp_gen_key");
  }
  ~Key() { mbedtls_pk_free(&pk); }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
};

struct CertSpec {
  const char* subject;
  const char* issuer;  // the issuer's subject
  const char* not_before = "20200101000000";
  const char* not_after = "20491231235959";
  bool is_ca = false;
  const char* dns_name = nullptr;  // SAN dNSName, with iPAddress 127.0.0.1 when with_ip
  bool with_ip = false;
  int serial = 1;
};

// GeneralNames ::= SEQUENCE OF GeneralName, with a dNSName [2] and an
// optional iPAddress [7]; every length below 128 (short DER form).
std::size_t encode_san(const CertSpec& spec, unsigned char* out, std::size_t size) {
  const std::size_t dns_len = std::strlen(spec.dns_name);
  const std::size_t body = 2 + dns_len + (spec.with_ip ? 6 : 0);
  if (body >= 128 || body + 2 > size) std::abort();
  std::size_t n = 0;
  out[n++] = 0x30;
  out[n++] = static_cast<unsigned char>(body);
  out[n++] = 0x82;
  out[n++] = static_cast<unsigned char>(dns_len);
  std::memcpy(out + n, spec.dns_name, dns_len);
  n += dns_len;
  if (spec.with_ip) {
    const unsigned char ip[] = {0x87, 4, 127, 0, 0, 1};
    std::memcpy(out + n, ip, sizeof ip);
    n += sizeof ip;
  }
  return n;
}

// Credential: TestCredential or TestRsaCredential (buffers sized for the key).
template <typename Credential>
void issue(Rng& rng, Key& subject_key, Key& issuer_key, const CertSpec& spec, Credential& out) {
  mbedtls_x509write_cert crt;
  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi serial;
  mbedtls_mpi_init(&serial);
  check(mbedtls_mpi_lset(&serial, spec.serial), "mpi_lset");

  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, &subject_key.pk);
  mbedtls_x509write_crt_set_issuer_key(&crt, &issuer_key.pk);
  check(mbedtls_x509write_crt_set_subject_name(&crt, spec.subject), "set_subject_name");
  check(mbedtls_x509write_crt_set_issuer_name(&crt, spec.issuer), "set_issuer_name");
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  // 3.x deprecates the bignum setter for the raw big-endian bytes.
  unsigned char raw[8] = {};
  const std::size_t raw_len = mbedtls_mpi_size(&serial);
  check(mbedtls_mpi_write_binary(&serial, raw, raw_len), "mpi_write_binary");
  check(mbedtls_x509write_crt_set_serial_raw(&crt, raw, raw_len), "set_serial");
#else
  check(mbedtls_x509write_crt_set_serial(&crt, &serial), "set_serial");
#endif
  check(mbedtls_x509write_crt_set_validity(&crt, spec.not_before, spec.not_after), "set_validity");
  check(mbedtls_x509write_crt_set_basic_constraints(&crt, spec.is_ca ? 1 : 0, spec.is_ca ? 0 : -1),
        "set_basic_constraints");
  check(mbedtls_x509write_crt_set_subject_key_identifier(&crt), "set_subject_key_identifier");
  check(mbedtls_x509write_crt_set_authority_key_identifier(&crt), "set_authority_key_identifier");
  const unsigned int usage = spec.is_ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
                                        : MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
  check(mbedtls_x509write_crt_set_key_usage(&crt, usage), "set_key_usage");
  if (spec.dns_name != nullptr) {
    unsigned char san[128];
    const std::size_t san_len = encode_san(spec, san, sizeof san);
    check(mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san, san_len),
          "set_extension(subjectAltName)");
  }

  check(mbedtls_x509write_crt_pem(&crt, reinterpret_cast<unsigned char*>(out.certificate_pem),
                                  sizeof out.certificate_pem, mbedtls_ctr_drbg_random, &rng.drbg),
        "x509write_crt_pem");
  check(mbedtls_pk_write_key_pem(&subject_key.pk, reinterpret_cast<unsigned char*>(out.key_pem), sizeof out.key_pem),
        "pk_write_key_pem");
  mbedtls_mpi_free(&serial);
  mbedtls_x509write_crt_free(&crt);
}

TestPki g_pki;
TestRsaPki g_rsa_pki;

// A self-signed CA named `name`.
CertSpec ca_spec(const char* name, int serial) {
  CertSpec spec{name, name};
  spec.is_ca = true;
  spec.serial = serial;
  return spec;
}

// A server certificate for localhost and 127.0.0.1, issued by `issuer`.
CertSpec localhost_spec(const char* issuer, int serial) {
  CertSpec spec{"CN=localhost,O=uplink", issuer};
  spec.dns_name = "localhost";
  spec.with_ip = true;
  spec.serial = serial;
  return spec;
}

void generate() {
  constexpr const char* kCa = "CN=uplink test CA,O=uplink";
  constexpr const char* kOtherCa = "CN=uplink other CA,O=uplink";
  Rng rng;
  Key ca_key(rng), other_ca_key(rng), server_key(rng), client_key(rng), other_client_key(rng);

  issue(rng, ca_key, ca_key, ca_spec(kCa, 1), g_pki.ca);
  issue(rng, other_ca_key, other_ca_key, ca_spec(kOtherCa, 2), g_pki.other_ca);

  const CertSpec server = localhost_spec(kCa, 10);
  issue(rng, server_key, ca_key, server, g_pki.server);

  CertSpec expired = server;
  expired.not_before = "20000101000000";
  expired.not_after = "20010101000000";
  expired.serial = 11;
  issue(rng, server_key, ca_key, expired, g_pki.expired_server);

  CertSpec future = server;
  future.not_before = "20900101000000";
  future.not_after = "20991231235959";
  future.serial = 12;
  issue(rng, server_key, ca_key, future, g_pki.future_server);

  CertSpec wrong_host{"CN=other.example,O=uplink", kCa};
  wrong_host.dns_name = "other.example";
  wrong_host.serial = 13;
  issue(rng, server_key, ca_key, wrong_host, g_pki.wrong_host_server);

  CertSpec client{"CN=device-0001,O=uplink", kCa};
  client.serial = 20;
  issue(rng, client_key, ca_key, client, g_pki.client);

  CertSpec other_client{"CN=device-0001,O=uplink", kOtherCa};
  other_client.serial = 21;
  issue(rng, other_client_key, other_ca_key, other_client, g_pki.other_client);
}

void generate_rsa() {
  constexpr const char* kCa = "CN=uplink test RSA CA,O=uplink";
  Rng rng;
  Key ca_key(rng, KeyKind::rsa_2048), server_key(rng, KeyKind::rsa_2048);

  issue(rng, ca_key, ca_key, ca_spec(kCa, 1), g_rsa_pki.ca);
  issue(rng, server_key, ca_key, localhost_spec(kCa, 10), g_rsa_pki.server);
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
