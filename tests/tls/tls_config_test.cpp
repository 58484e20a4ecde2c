// SPDX-License-Identifier: Apache-2.0
// TlsConfig::init: what it accepts and how it refuses; and the test PKI
// itself (support/test_pki), checked with mbedTLS's verifier.
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include "support/test_pki.hpp"
#include "uplink/port/raspberrypi.hpp"
#include "uplink/tls/tls_config.hpp"

#include <CppUTest/TestHarness.h>

using uplink::tls::Credential;
using uplink::tls::TlsConfig;
using uplink::tls::TlsErrc;
using uplink::tls::TlsRole;
using uplink::tls::TlsSettings;
using uplink::tls::mbedtls_error;
using uplink::test::test_pki;

namespace {

TlsSettings client_settings() {
  TlsSettings s;
  s.ca = Credential::pem(test_pki().ca.certificate_pem);
  return s;
}

TlsSettings server_settings() {
  TlsSettings s;
  s.role = TlsRole::server;
  s.certificate = Credential::pem(test_pki().server.certificate_pem);
  s.private_key = Credential::pem(test_pki().server.key_pem);
  return s;
}

// A PEM written to a temporary file, removed at the end of the test.
struct TempFile {
  char path[64] = "/tmp/uplink_tls_test_XXXXXX";
  explicit TempFile(const char* text) {
    const int fd = mkstemp(path);
    if (fd >= 0) {
      const ssize_t n = write(fd, text, std::strlen(text));
      (void)n;
      close(fd);
    }
  }
  ~TempFile() { unlink(path); }
};

}  // namespace

TEST_GROUP(TlsConfig) {
  TlsConfig config;
};

TEST(TlsConfig, BuildsAVerifyingClientFromAnInMemoryCa) {
  CHECK_FALSE(static_cast<bool>(config.init(client_settings())));
  CHECK_TRUE(config.initialized());
  CHECK_TRUE(config.verifies_peer());
  CHECK_TRUE(config.role() == TlsRole::client);
}

TEST(TlsConfig, LoadsCredentialsFromFiles) {
  TempFile ca(test_pki().ca.certificate_pem);
  TempFile cert(test_pki().client.certificate_pem);
  TempFile key(test_pki().client.key_pem);
  TlsSettings s;
  s.ca = Credential::file(ca.path);
  s.certificate = Credential::file(cert.path);
  s.private_key = Credential::file(key.path);
  CHECK_FALSE(static_cast<bool>(config.init(s)));
}

TEST(TlsConfig, BuildsAServerWithTicketsCacheAndClientCertificates) {
  TlsSettings s = server_settings();
  s.ca = Credential::pem(test_pki().ca.certificate_pem);
  s.require_client_certificate = true;
  s.session_cache_entries = 4;
  CHECK_FALSE(static_cast<bool>(config.init(s)));
  CHECK_TRUE(config.verifies_peer());
}

TEST(TlsConfig, RefusesASecondInit) {
  CHECK_FALSE(static_cast<bool>(config.init(client_settings())));
  CHECK_TRUE(config.init(client_settings()) == TlsErrc::already_initialized);
  CHECK_TRUE(config.initialized());
}

TEST(TlsConfig, RefusesContradictorySettingsNamingTheField) {
  struct Case {
    TlsSettings settings;
    const char* field;
  };
  TlsSettings no_ca;
  TlsSettings server_without_cert;
  server_without_cert.role = TlsRole::server;
  TlsSettings cert_without_key = client_settings();
  cert_without_key.certificate = Credential::pem(test_pki().client.certificate_pem);
  TlsSettings insecure_server = server_settings();
  insecure_server.insecure_skip_verify = true;
  TlsSettings mtls_without_ca = server_settings();
  mtls_without_ca.require_client_certificate = true;
  TlsSettings client_cache = client_settings();
  client_cache.session_cache_entries = 3;
  TlsSettings both_sources = client_settings();
  both_sources.ca.path = "/etc/ssl/certs/ca-certificates.crt";
  const Case cases[] = {
      {no_ca, "ca"},
      {server_without_cert, "certificate"},
      {cert_without_key, "private_key"},
      {insecure_server, "insecure_skip_verify"},
      {mtls_without_ca, "ca"},
      {client_cache, "session_cache_entries"},
      {both_sources, "ca"},
  };
  for (const Case& c : cases) {
    TlsConfig fresh;
    CHECK_TRUE(fresh.init(c.settings) == TlsErrc::invalid_settings);
    STRCMP_EQUAL(c.field, fresh.failed_field());
    CHECK_FALSE(fresh.initialized());
  }
}

TEST(TlsConfig, RefusesAKeyThatIsNotTheCertificates) {
  TlsSettings s = server_settings();
  s.private_key = Credential::pem(test_pki().client.key_pem);
  CHECK_TRUE(config.init(s) == TlsErrc::key_mismatch);
  STRCMP_EQUAL("private_key", config.failed_field());
  // A failed init can be retried.
  CHECK_FALSE(static_cast<bool>(config.init(server_settings())));
}

TEST(TlsConfig, ReportsParserErrorsInTheMbedtlsCategory) {
  TlsSettings s;
  s.ca = Credential::pem("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  const std::error_code ec = config.init(s);
  STRCMP_EQUAL("mbedtls", ec.category().name());
  STRCMP_EQUAL("ca", config.failed_field());

  TlsSettings missing_file;
  missing_file.ca = Credential::file("/nonexistent/uplink/ca.pem");
  const std::error_code io = config.init(missing_file);
  // mbedTLS says only "Read/write of file failed"; the system says why.
  CHECK_TRUE(io == std::errc::no_such_file_or_directory);
  STRCMP_EQUAL("ca", config.failed_field());

  TlsSettings missing_key;
  missing_key.certificate = Credential::pem(test_pki().client.certificate_pem);
  missing_key.private_key = Credential::file("/nonexistent/uplink/device.key");
  missing_key.insecure_skip_verify = true;
  CHECK_TRUE(config.init(missing_key) == std::errc::no_such_file_or_directory);
  STRCMP_EQUAL("private_key", config.failed_field());
}

namespace {

// An entropy source that counts its calls and fills with a fixed byte.
struct CountingSource {
  int calls = 0;
  bool fail = false;
  static int gather(void* self, unsigned char* out, std::size_t size, std::size_t* produced) {
    auto* source = static_cast<CountingSource*>(self);
    ++source->calls;
    if (source->fail) return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
    std::memset(out, 0x5a, size);
    *produced = size;
    return 0;
  }
};

}  // namespace

TEST(TlsConfig, MixesAnExtraEntropySourceIntoTheSeed) {
  CountingSource source;
  TlsSettings s = client_settings();
  s.entropy_source = {&CountingSource::gather, &source, 32, false};
  CHECK_FALSE(static_cast<bool>(config.init(s)));
  CHECK_TEXT(source.calls >= 1, std::to_string(source.calls).c_str());
}

TEST(TlsConfig, AStrongEntropySourceThatFailsFailsTheInitNamingIt) {
  CountingSource source;
  source.fail = true;
  TlsSettings s = client_settings();
  s.entropy_source = {&CountingSource::gather, &source, 32, true};
  const std::error_code ec = config.init(s);
  CHECK_TRUE(ec == mbedtls_error(MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED));
  STRCMP_EQUAL("entropy_source", config.failed_field());
  CHECK_FALSE(config.initialized());
  s.entropy_source = {};
  CHECK_FALSE(static_cast<bool>(config.init(s)));  // the failed source is not kept
}

TEST(TlsConfig, TheRaspberryPiHardwareRngPlugsInAndIsOptional) {
  // No /dev/hwrng under this root (a PC, or a Pi kernel without the driver):
  // with threshold 0 the source adds nothing and seeding still succeeds.
  static char absent_root[] = "/nonexistent-uplink-root";
  TlsSettings s = client_settings();
  s.entropy_source = {uplink::port::raspberrypi::hwrng_entropy_source, absent_root, 0, false};
  CHECK_FALSE(static_cast<bool>(config.init(s)));
}

TEST_GROUP(TlsTestPki){};

TEST(TlsTestPki, IssuesCertificatesThatVerifyAgainstTheirCa) {
  mbedtls_x509_crt ca;
  mbedtls_x509_crt other_ca;
  mbedtls_x509_crt leaf;
  mbedtls_x509_crt_init(&ca);
  mbedtls_x509_crt_init(&other_ca);
  mbedtls_x509_crt_init(&leaf);
  const auto& pki = test_pki();
  auto parse = [](mbedtls_x509_crt* crt, const char* pem) {
    return mbedtls_x509_crt_parse(crt, reinterpret_cast<const unsigned char*>(pem), std::strlen(pem) + 1);
  };
  LONGS_EQUAL(0, parse(&ca, pki.ca.certificate_pem));
  LONGS_EQUAL(0, parse(&other_ca, pki.other_ca.certificate_pem));

  std::uint32_t flags = 0;
  LONGS_EQUAL(0, parse(&leaf, pki.server.certificate_pem));
  LONGS_EQUAL(0, mbedtls_x509_crt_verify(&leaf, &ca, nullptr, "localhost", &flags, nullptr, nullptr));
  CHECK_TRUE(mbedtls_x509_crt_verify(&leaf, &other_ca, nullptr, "localhost", &flags, nullptr, nullptr) != 0);
  CHECK_TRUE((flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) != 0);
  mbedtls_x509_crt_free(&leaf);

  mbedtls_x509_crt_init(&leaf);
  LONGS_EQUAL(0, parse(&leaf, pki.expired_server.certificate_pem));
  CHECK_TRUE(mbedtls_x509_crt_verify(&leaf, &ca, nullptr, "localhost", &flags, nullptr, nullptr) != 0);
  LONGS_EQUAL(MBEDTLS_X509_BADCERT_EXPIRED, flags);
  mbedtls_x509_crt_free(&leaf);

  mbedtls_x509_crt_init(&leaf);
  LONGS_EQUAL(0, parse(&leaf, pki.client.certificate_pem));
  LONGS_EQUAL(0, mbedtls_x509_crt_verify(&leaf, &ca, nullptr, nullptr, &flags, nullptr, nullptr));
  mbedtls_x509_crt_free(&leaf);

  mbedtls_x509_crt_init(&leaf);
  LONGS_EQUAL(0, parse(&leaf, pki.other_client.certificate_pem));
  LONGS_EQUAL(0, mbedtls_x509_crt_verify(&leaf, &other_ca, nullptr, nullptr, &flags, nullptr, nullptr));
  mbedtls_x509_crt_free(&leaf);

  mbedtls_x509_crt_free(&other_ca);
  mbedtls_x509_crt_free(&ca);
}

TEST(TlsTestPki, WritesUnencryptedEcKeys) {
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  const char* pem = test_pki().server.key_pem;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  // 3.x wants a generator for blinding; any bytes do for parsing a test key.
  const auto fill = [](void*, unsigned char* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(i * 131u + 7u);
    return 0;
  };
  LONGS_EQUAL(0, mbedtls_pk_parse_key(&key, reinterpret_cast<const unsigned char*>(pem), std::strlen(pem) + 1,
                                      nullptr, 0, fill, nullptr));
#else
  LONGS_EQUAL(0, mbedtls_pk_parse_key(&key, reinterpret_cast<const unsigned char*>(pem), std::strlen(pem) + 1,
                                      nullptr, 0));
#endif
  CHECK_TRUE(mbedtls_pk_get_type(&key) == MBEDTLS_PK_ECKEY);
  LONGS_EQUAL(256, mbedtls_pk_get_bitlen(&key));
  mbedtls_pk_free(&key);
}
