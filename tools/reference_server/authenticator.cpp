// SPDX-License-Identifier: Apache-2.0
// The pure parts of device authentication (authenticator.hpp).
#include "authenticator.hpp"

namespace uplink::server {

const char* auth_verdict_name(AuthVerdict verdict) noexcept {
  switch (verdict) {
    case AuthVerdict::allowed: return "allowed";
    case AuthVerdict::unknown_device: return "unknown_device";
    case AuthVerdict::wrong_token: return "wrong_token";
    case AuthVerdict::certificate_missing: return "certificate_missing";
    case AuthVerdict::certificate_mismatch: return "certificate_mismatch";
  }
  return "unknown";
}

AuthVerdict CertificateAuthenticator::authenticate(const AuthRequest& request) {
  if (request.certificate == nullptr) return AuthVerdict::certificate_missing;
  // Exact, case-sensitive comparison: device ids are case-sensitive, and a
  // wildcard dNSName ("*.example") is just a name that no device id equals.
  if (field_ == CertificateIdField::common_name) {
    return request.certificate->common_name == request.device_id ? AuthVerdict::allowed
                                                                 : AuthVerdict::certificate_mismatch;
  }
  for (const std::string& name : request.certificate->dns_names) {  // bounded by the certificate
    if (name == request.device_id) return AuthVerdict::allowed;
  }
  return AuthVerdict::certificate_mismatch;
}

AuthVerdict AllOf::authenticate(const AuthRequest& request) {
  const AuthVerdict first = first_.authenticate(request);
  return first != AuthVerdict::allowed ? first : second_.authenticate(request);
}

}  // namespace uplink::server
