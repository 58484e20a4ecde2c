// SPDX-License-Identifier: Apache-2.0
// Counting mbedTLS's heap: how many bytes TLS holds, per process.
//
// mbedTLS lets an application replace its calloc/free
// (mbedtls_platform_set_calloc_free) only when it was built with
// MBEDTLS_PLATFORM_MEMORY. Debian 12's libmbedtls (2.28) is NOT: there,
// install_tls_heap_counter() returns false and tls_heap_stats().available
// is false; the figures then come from the TLS tests, which count every
// malloc of the test thread by interposition (tests/tls/heap_meter.*).
// A device that builds its own mbedTLS with MBEDTLS_PLATFORM_MEMORY gets
// the counter in production.
//
// The counter is process-wide (mbedTLS's hook is global): bytes per
// connection are the difference around a connection's setup and handshake.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uplink::tls {

/// What tls_heap_stats() reports: mbedTLS's heap use in this process.
struct TlsHeapStats {
  bool available = false;       ///< The counter is installed.
  std::size_t in_use = 0;       ///< Bytes mbedTLS holds now (as requested, without allocator overhead).
  std::size_t peak = 0;         ///< Highest in_use since install or reset_tls_heap_peak().
  std::uint64_t allocations = 0;  ///< calloc calls that succeeded.
};

/// Installs the counting calloc/free into mbedTLS. Must run before mbedTLS
/// allocates anything (before the first TlsConfig::init): a block
/// allocated by the default calloc must not reach the counting free.
/// Returns false when this mbedTLS build has no MBEDTLS_PLATFORM_MEMORY.
/// Idempotent.
bool install_tls_heap_counter() noexcept;

/// A snapshot of the counters (all zero, available false, when not installed).
[[nodiscard]] TlsHeapStats tls_heap_stats() noexcept;

/// Sets the peak to the current in_use.
void reset_tls_heap_peak() noexcept;

}  // namespace uplink::tls
