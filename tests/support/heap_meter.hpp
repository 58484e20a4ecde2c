// SPDX-License-Identifier: Apache-2.0
// Bytes on the heap held by the calling thread's allocations, for the TLS
// memory figures. Debian's mbedTLS has no MBEDTLS_PLATFORM_MEMORY (so no
// mbedtls_platform_set_calloc_free); heap_interposer.cpp therefore interposes
// malloc & co. in the test executable (the same interposer as AllocCounter's)
// and adds malloc_usable_size of each block while metering (the size glibc
// really reserved: requests rounded up to 16 bytes, without the 8-byte
// chunk header).
//
// Built only without sanitizers (ASan owns malloc); UPLINK_TLS_HEAP_METER
// is defined to 1 when it is linked.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uplink::test {

struct HeapMeter {
  /// Zeroes the calling thread's figures and starts metering.
  static void start();
  /// Stops metering; the figures are kept.
  static void stop();
  /// Net bytes allocated minus freed while metering (negative if more was
  /// freed than allocated, e.g. blocks from before start()).
  static std::int64_t live();
  /// Highest live() since start().
  static std::int64_t peak();
  /// Allocation calls since start().
  static std::size_t allocations();
};

}  // namespace uplink::test
