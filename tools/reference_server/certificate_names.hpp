// SPDX-License-Identifier: Apache-2.0
// The names of a client certificate that CertificateAuthenticator matches
// a device id against, read from mbedTLS's parsed certificate. Kept apart
// from authenticator.hpp, which needs no mbedTLS.
#pragma once

#include "authenticator.hpp"

struct mbedtls_x509_crt;
struct mbedtls_ssl_context;

namespace uplink::server {

/// The subject's CN and the subjectAltName dNSName entries of `certificate`.
/// A subject with more than one CN gets an empty common_name (ambiguous:
/// it matches no device id); so does a CN that holds a NUL byte.
[[nodiscard]] PeerCertificate peer_certificate_of(const mbedtls_x509_crt& certificate);

/// The verified client certificate of a TLS connection whose handshake is
/// done, into `out`; false when the peer presented none (or, after a
/// resumed handshake, the session did not keep it).
[[nodiscard]] bool peer_certificate_of(const mbedtls_ssl_context& ssl, PeerCertificate& out);

}  // namespace uplink::server
