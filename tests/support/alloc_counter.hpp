// SPDX-License-Identifier: Apache-2.0
// Counts heap allocations made by the calling thread, for "no allocation
// after start" checks.
//
// heap_interposer.cpp interposes malloc, calloc, realloc, free, aligned_alloc,
// posix_memalign, memalign and valloc in the executable and forwards them to
// glibc (__libc_malloc and friends). operator new (libstdc++'s and
// CppUTest's leak-detecting one) ends in malloc, so `new` is counted too.
// Each allocation call counts once, whatever happens inside it; free is
// never counted; realloc(p, 0) with p != nullptr is a free and not counted.
//
// Link heap_interposer.cpp only into executables built WITHOUT sanitizers
// (AddressSanitizer intercepts malloc itself): in CMake, only when
// NOT UPLINK_SANITIZE.
#pragma once

#include <cstddef>

namespace uplink::test {

struct AllocCounter {
  /// Starts counting allocations made by the calling thread. Does not reset.
  static void start();
  /// Stops counting on the calling thread; the count is kept.
  static void stop();
  /// Allocations counted on the calling thread since the last reset().
  static std::size_t count();
  /// Sets the calling thread's count to zero.
  static void reset();
};

}  // namespace uplink::test
