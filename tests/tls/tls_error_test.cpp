// SPDX-License-Identifier: Apache-2.0
// The TLS error categories and the mapping of certificate verification
// flags to readable conditions.
#include <cstring>
#include <string>
#include <system_error>

#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

#include "uplink/tls/tls_error.hpp"

#include <CppUTest/TestHarness.h>

using uplink::tls::TlsErrc;

TEST_GROUP(TlsError){};

TEST(TlsError, CategoriesHaveTheirDocumentedNames) {
  STRCMP_EQUAL("uplink.tls", uplink::tls::tls_category().name());
  STRCMP_EQUAL("mbedtls", uplink::tls::mbedtls_category().name());
  const std::error_code ec = TlsErrc::hostname_mismatch;
  CHECK_TRUE(ec.category() == uplink::tls::tls_category());
  STRCMP_EQUAL("hostname_mismatch", uplink::tls::tls_errc_name(TlsErrc::hostname_mismatch));
  STRCMP_EQUAL("handshake_timeout", uplink::tls::tls_errc_name(TlsErrc::handshake_timeout));
  STRCMP_EQUAL("TLS handshake timed out", make_error_code(TlsErrc::handshake_timeout).message().c_str());
  STRCMP_EQUAL("unknown", uplink::tls::tls_errc_name(static_cast<TlsErrc>(999)));
}

TEST(TlsError, KeepsMbedtlsCodesAsTheyAreAndExplainsThem) {
  const std::error_code ec = uplink::tls::mbedtls_error(MBEDTLS_ERR_SSL_INVALID_RECORD);
  LONGS_EQUAL(MBEDTLS_ERR_SSL_INVALID_RECORD, ec.value());  // negative, as mbedTLS documents it
  CHECK_TRUE(static_cast<bool>(ec));
  const std::string text = ec.message();
  CHECK_TRUE(text.find("SSL") != std::string::npos);
  CHECK_TRUE(text.find("-0x7200") != std::string::npos);
  CHECK_FALSE(static_cast<bool>(uplink::tls::mbedtls_error(0)));
}

TEST(TlsError, MapsEachVerificationFlagToItsName) {
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_NOT_TRUSTED) == TlsErrc::unknown_ca);
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_EXPIRED) == TlsErrc::certificate_expired);
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_FUTURE) == TlsErrc::certificate_not_yet_valid);
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_CN_MISMATCH) == TlsErrc::hostname_mismatch);
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_REVOKED) == TlsErrc::certificate_revoked);
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_MISSING) == TlsErrc::certificate_missing);
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_EXT_KEY_USAGE) == TlsErrc::certificate_bad_usage);
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_BAD_MD) == TlsErrc::certificate_weak);
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_OTHER) == TlsErrc::certificate_invalid);
  CHECK_FALSE(static_cast<bool>(uplink::tls::verify_error(0)));
}

TEST(TlsError, PutsTrustBeforeExpiryBeforeTheHostName) {
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_NOT_TRUSTED) ==
             TlsErrc::unknown_ca);
  CHECK_TRUE(uplink::tls::verify_error(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_CN_MISMATCH) ==
             TlsErrc::certificate_expired);
}

TEST(TlsError, DescribesVerificationFlagsReadably) {
  char text[64];
  STRCMP_EQUAL("expired, cn mismatch",
               uplink::tls::describe_verify_flags(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_CN_MISMATCH,
                                                  text, sizeof text));
  char tiny[10];
  uplink::tls::describe_verify_flags(0xFFFFFF, tiny, sizeof tiny);
  CHECK_TRUE(std::strlen(tiny) < sizeof tiny);
}
