// SPDX-License-Identifier: Apache-2.0
// Compiled only by size_report's -Os sub-build (cmake/uplinkSizeReport.cmake):
// objects whose size is the sizeof of a type, read back with `nm -S`, so the
// static RAM of a client is known for a cross target without running on it.
#include "uplink/client.hpp"
#include "uplink/core/spool.hpp"
#if defined(UPLINK_WITH_TLS)
#include "uplink/tls/tls_engine.hpp"
#endif

extern "C" {
extern const unsigned char uplink_sizeof_client[sizeof(uplink::Client)];
const unsigned char uplink_sizeof_client[sizeof(uplink::Client)] = {};
extern const unsigned char uplink_sizeof_spool[sizeof(uplink::Spool)];
const unsigned char uplink_sizeof_spool[sizeof(uplink::Spool)] = {};
#if defined(UPLINK_WITH_TLS)
extern const unsigned char uplink_sizeof_tls_engine[sizeof(uplink::tls::TlsEngine)];
const unsigned char uplink_sizeof_tls_engine[sizeof(uplink::tls::TlsEngine)] = {};
#endif
}
