// SPDX-License-Identifier: Apache-2.0
// Reading the names of a client certificate (certificate_names.hpp); the
// same code for mbedTLS 2.28 and 3.x (public fields and functions only).
#include "certificate_names.hpp"

#include <cstring>
#include <string>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

namespace uplink::server {
namespace {

// subjectAltName GeneralName dNSName: [2] IA5String, context-specific.
constexpr int kDnsNameTag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2;

bool is_common_name(const mbedtls_asn1_buf& oid) {
  static constexpr char kOid[] = MBEDTLS_OID_AT_CN;
  return oid.len == sizeof kOid - 1 && std::memcmp(oid.p, kOid, sizeof kOid - 1) == 0;
}

std::string text_of(const mbedtls_asn1_buf& value) {
  return std::string(reinterpret_cast<const char*>(value.p), value.len);
}

}  // namespace

PeerCertificate peer_certificate_of(const mbedtls_x509_crt& certificate) {
  PeerCertificate names;
  int common_names = 0;
  // Bounded: the parsed certificate's lists are finite.
  for (const mbedtls_x509_name* name = &certificate.subject; name != nullptr; name = name->next) {
    if (name->oid.p == nullptr || !is_common_name(name->oid)) continue;
    ++common_names;
    names.common_name = text_of(name->val);
  }
  if (common_names != 1 || names.common_name.find('\0') != std::string::npos) names.common_name.clear();
  for (const mbedtls_x509_sequence* san = &certificate.subject_alt_names; san != nullptr; san = san->next) {
    if (san->buf.p == nullptr || san->buf.tag != kDnsNameTag) continue;
    std::string dns = text_of(san->buf);
    if (dns.find('\0') == std::string::npos) names.dns_names.push_back(std::move(dns));
  }
  return names;
}

bool peer_certificate_of(const mbedtls_ssl_context& ssl, PeerCertificate& out) {
  // Only a certificate that verified against the configured CA speaks
  // for anyone (a config with optional client certificates lets others in).
  const mbedtls_x509_crt* certificate = mbedtls_ssl_get_peer_cert(&ssl);
  if (certificate == nullptr || mbedtls_ssl_get_verify_result(&ssl) != 0) return false;
  out = peer_certificate_of(*certificate);
  return true;
}

}  // namespace uplink::server
