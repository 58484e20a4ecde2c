// SPDX-License-Identifier: Apache-2.0
// The test PKI generator: mbedtls_pk_* keys and mbedtls_x509write_crt
// certificates. See certificate_writer.hpp.
#include "certificate_writer.hpp"

#include <cstdio>
#include <cstring>

#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/rsa.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

namespace uplink::test_pki {
namespace {

// extKeyUsage ::= SEQUENCE { KeyPurposeId }: id-kp-serverAuth (1.3.6.1.5.5.7.3.1)
// and id-kp-clientAuth (.2), in DER.
constexpr unsigned char kServerAuth[] = {0x30, 0x0A, 0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
constexpr unsigned char kClientAuth[] = {0x30, 0x0A, 0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02};
static_assert(sizeof kServerAuth == sizeof kClientAuth, "one length for both purposes");

// GeneralNames ::= SEQUENCE OF GeneralName, with a dNSName [2] and
// optionally the loopback addresses as iPAddress [7] (127.0.0.1 and ::1), in DER; every length below 128 (the
// short length form). Returns the length, or 0 if the name is too long.
std::size_t encode_san(const char* dns_name, bool loopback_ip, unsigned char* out, std::size_t size) {
  const std::size_t dns_len = std::strlen(dns_name);
  static constexpr unsigned char kLoopback[] = {0x87, 4,  127, 0, 0, 1,  // 127.0.0.1
                                                0x87, 16, 0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};  // ::1
  const std::size_t body = 2 + dns_len + (loopback_ip ? sizeof kLoopback : 0);
  if (body >= 128 || body + 2 > size) return 0;
  std::size_t n = 0;
  out[n++] = 0x30;
  out[n++] = static_cast<unsigned char>(body);
  out[n++] = 0x82;
  out[n++] = static_cast<unsigned char>(dns_len);
  std::memcpy(out + n, dns_name, dns_len);
  n += dns_len;
  if (loopback_ip) {
    std::memcpy(out + n, kLoopback, sizeof kLoopback);
    n += sizeof kLoopback;
  }
  return n;
}

// A fixed serial as its shortest big-endian bytes (no leading zero).
std::size_t fixed_serial(std::uint32_t serial, unsigned char* out) {
  std::size_t n = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    const auto byte = static_cast<unsigned char>(serial >> shift);
    if (n > 0 || byte != 0) out[n++] = byte;
  }
  return n;
}

}  // namespace

CertificateSpec ca_spec(const char* subject, std::uint32_t serial) {
  CertificateSpec spec;
  spec.subject = subject;
  spec.issuer = subject;
  spec.is_ca = true;
  spec.serial = serial;
  return spec;
}

CertificateSpec server_spec(const char* subject, const char* host, bool loopback_ip, const char* issuer,
                            std::uint32_t serial) {
  CertificateSpec spec;
  spec.subject = subject;
  spec.issuer = issuer;
  spec.dns_name = host;
  spec.loopback_ip = loopback_ip;
  spec.serial = serial;
  return spec;
}

CertificateSpec device_spec(const char* subject, const char* issuer, std::uint32_t serial) {
  CertificateSpec spec;
  spec.subject = subject;
  spec.issuer = issuer;
  spec.serial = serial;
  return spec;
}

CertificateWriter::CertificateWriter(const char* program) : program_(program) {
  mbedtls_entropy_init(&entropy_);
  mbedtls_ctr_drbg_init(&drbg_);
}

CertificateWriter::~CertificateWriter() {
  mbedtls_ctr_drbg_free(&drbg_);
  mbedtls_entropy_free(&entropy_);
}

bool CertificateWriter::ok(int ret, const char* step) const {
  if (ret == 0) return true;
  char text[160];
  mbedtls_strerror(ret, text, sizeof text);
  std::fprintf(stderr, "%s: %s failed: %s (-0x%04X)\n", program_, step, text, static_cast<unsigned>(-ret));
  return false;
}

bool CertificateWriter::seed(const char* personalization) {
  return ok(mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_,
                                  reinterpret_cast<const unsigned char*>(personalization),
                                  std::strlen(personalization)),
            "seeding the random generator");
}

bool CertificateWriter::generate(Key& key, KeyType type) {
  if (type == KeyType::rsa_2048) {
    return ok(mbedtls_pk_setup(&key.pk(), mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), "pk_setup") &&
           ok(mbedtls_rsa_gen_key(mbedtls_pk_rsa(key.pk()), mbedtls_ctr_drbg_random, &drbg_, 2048, 65537),
              "generating an RSA key");
  }
  return ok(mbedtls_pk_setup(&key.pk(), mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), "pk_setup") &&
         ok(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key.pk()), mbedtls_ctr_drbg_random, &drbg_),
            "generating an EC key");
}

bool CertificateWriter::write_key(Key& key, char* pem, std::size_t pem_size) {
  return ok(mbedtls_pk_write_key_pem(&key.pk(), reinterpret_cast<unsigned char*>(pem), pem_size),
            "writing the private key");
}

bool CertificateWriter::issue(const CertificateSpec& spec, Key& subject_key, Key& issuer_key, char* pem,
                              std::size_t pem_size) {
  // The serial's big-endian bytes: fixed, or a random positive 128-bit
  // number (RFC 5280: unique per CA, at most 20 bytes).
  unsigned char serial_bytes[16];
  std::size_t serial_len = 0;
  bool good = true;
  if (spec.serial != 0) {
    serial_len = fixed_serial(spec.serial, serial_bytes);
  } else {
    good = ok(mbedtls_ctr_drbg_random(&drbg_, serial_bytes, sizeof serial_bytes), "drawing a serial number");
    serial_bytes[0] = static_cast<unsigned char>((serial_bytes[0] & 0x7F) | 0x01);
    serial_len = sizeof serial_bytes;
  }

  mbedtls_x509write_cert crt;
  mbedtls_x509write_crt_init(&crt);
  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, &subject_key.pk());
  mbedtls_x509write_crt_set_issuer_key(&crt, &issuer_key.pk());
  good = good && ok(mbedtls_x509write_crt_set_subject_name(&crt, spec.subject), "set_subject_name");
  good = good && ok(mbedtls_x509write_crt_set_issuer_name(&crt, spec.issuer), "set_issuer_name");
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  // 3.x deprecates the bignum setter for the raw big-endian bytes.
  good = good && ok(mbedtls_x509write_crt_set_serial_raw(&crt, serial_bytes, serial_len), "set_serial");
#else
  mbedtls_mpi serial;
  mbedtls_mpi_init(&serial);
  good = good && ok(mbedtls_mpi_read_binary(&serial, serial_bytes, serial_len), "mpi_read_binary");
  good = good && ok(mbedtls_x509write_crt_set_serial(&crt, &serial), "set_serial");
  mbedtls_mpi_free(&serial);
#endif
  good = good && ok(mbedtls_x509write_crt_set_validity(&crt, spec.not_before, spec.not_after), "set_validity");
  good = good && ok(mbedtls_x509write_crt_set_basic_constraints(&crt, spec.is_ca ? 1 : 0, spec.is_ca ? 0 : -1),
                    "set_basic_constraints");
  good = good && ok(mbedtls_x509write_crt_set_subject_key_identifier(&crt), "set_subject_key_identifier");
  good = good && ok(mbedtls_x509write_crt_set_authority_key_identifier(&crt), "set_authority_key_identifier");
  const unsigned int usage = spec.is_ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
                                        : MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
  good = good && ok(mbedtls_x509write_crt_set_key_usage(&crt, usage), "set_key_usage");
  if (good && spec.dns_name != nullptr) {
    unsigned char san[128];
    const std::size_t san_len = encode_san(spec.dns_name, spec.loopback_ip, san, sizeof san);
    if (san_len == 0) {
      std::fprintf(stderr, "%s: subjectAltName %s is too long\n", program_, spec.dns_name);
      good = false;
    }
    good = good && ok(mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                          MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san,
                                                          san_len),
                      "set_extension(subjectAltName)");
  }
  if (spec.extended_key_usage != ExtendedKeyUsage::none) {
    const unsigned char* eku = spec.extended_key_usage == ExtendedKeyUsage::server_auth ? kServerAuth : kClientAuth;
    good = good && ok(mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                                          MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku,
                                                          sizeof kServerAuth),
                      "set_extension(extendedKeyUsage)");
  }
  good = good && ok(mbedtls_x509write_crt_pem(&crt, reinterpret_cast<unsigned char*>(pem), pem_size,
                                              mbedtls_ctr_drbg_random, &drbg_),
                    "writing the certificate");
  mbedtls_x509write_crt_free(&crt);
  return good;
}

}  // namespace uplink::test_pki
