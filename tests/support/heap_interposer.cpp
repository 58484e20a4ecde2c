// SPDX-License-Identifier: Apache-2.0
// The one malloc interposer of the tests: it serves AllocCounter
// (alloc_counter.hpp: allocation calls, for "no allocation after start") and
// HeapMeter (heap_meter.hpp: live and peak bytes, for the TLS memory
// figures).
//
// The executable defines malloc & co., so the dynamic linker binds every
// call (ours, libstdc++'s, glibc's own) to these; they forward to glibc's
// __libc_* entry points, which stay exported for exactly this use. The
// per-thread state is constant-initialised thread_local PODs with internal
// linkage: no TLS wrapper, no dynamic initialisation, nothing that could
// itself allocate.
//
// Link it only into executables built WITHOUT sanitizers (AddressSanitizer
// intercepts malloc itself): in CMake, only when NOT UPLINK_SANITIZE.
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "support/alloc_counter.hpp"
#include "support/heap_meter.hpp"

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void __libc_free(void* ptr);
void* __libc_memalign(std::size_t alignment, std::size_t size);
}

namespace {

// AllocCounter: each allocation call counts once, whatever happens in it.
thread_local bool t_counting = false;
thread_local std::size_t t_count = 0;
// HeapMeter: malloc_usable_size of each block (what glibc really reserved).
thread_local bool t_metering = false;
thread_local std::int64_t t_live = 0;
thread_local std::int64_t t_peak = 0;
thread_local std::size_t t_allocations = 0;

inline void count_call() {
  if (t_counting) ++t_count;
}

inline void meter_allocated(void* p) {
  if (!t_metering || p == nullptr) return;
  ++t_allocations;
  t_live += static_cast<std::int64_t>(malloc_usable_size(p));
  if (t_live > t_peak) t_peak = t_live;
}

inline void meter_freed(void* p) {
  if (!t_metering || p == nullptr) return;
  t_live -= static_cast<std::int64_t>(malloc_usable_size(p));
}

inline bool is_power_of_two(std::size_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

// Same exception specification as glibc's declarations (__THROW), so these
// stay compatible with <stdlib.h> and <malloc.h> seen in this file.
extern "C" {

void* malloc(std::size_t size) noexcept {
  count_call();
  void* p = __libc_malloc(size);
  meter_allocated(p);
  return p;
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  count_call();
  void* p = __libc_calloc(count, size);
  meter_allocated(p);
  return p;
}

void* realloc(void* ptr, std::size_t size) noexcept {
  if (ptr == nullptr || size != 0) count_call();  // realloc(p, 0) is a free
  meter_freed(ptr);
  void* p = __libc_realloc(ptr, size);
  if (p == nullptr && size != 0 && ptr != nullptr) {
    // Failed: the old block is still there.
    meter_allocated(ptr);
    if (t_metering) --t_allocations;
    return nullptr;
  }
  meter_allocated(p);
  return p;
}

void free(void* ptr) noexcept {
  meter_freed(ptr);
  __libc_free(ptr);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  count_call();
  void* p = __libc_memalign(alignment, size);
  meter_allocated(p);
  return p;
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  count_call();
  if (!is_power_of_two(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  void* p = __libc_memalign(alignment, size);
  meter_allocated(p);
  return p;
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  count_call();
  if (!is_power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  const int saved_errno = errno;
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) {
    errno = saved_errno;
    return ENOMEM;
  }
  meter_allocated(p);
  *out = p;
  return 0;
}

void* valloc(std::size_t size) noexcept {
  count_call();
  void* p = __libc_memalign(static_cast<std::size_t>(sysconf(_SC_PAGESIZE)), size);
  meter_allocated(p);
  return p;
}

}  // extern "C"

namespace uplink::test {

void AllocCounter::start() { t_counting = true; }
void AllocCounter::stop() { t_counting = false; }
std::size_t AllocCounter::count() { return t_count; }
void AllocCounter::reset() { t_count = 0; }

void HeapMeter::start() {
  t_live = 0;
  t_peak = 0;
  t_allocations = 0;
  t_metering = true;
}
void HeapMeter::stop() { t_metering = false; }
std::int64_t HeapMeter::live() { return t_live; }
std::int64_t HeapMeter::peak() { return t_peak; }
std::size_t HeapMeter::allocations() { return t_allocations; }

}  // namespace uplink::test
