// Heap metering by interposition: see heap_meter.hpp. Same mechanics as
// tests/support/alloc_counter.cpp (forward to glibc's __libc_* entry
// points; per-thread state in constant-initialised thread_local PODs).
#include "tls/heap_meter.hpp"

#include <cerrno>
#include <cstddef>

#include <malloc.h>
#include <unistd.h>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void __libc_free(void* ptr);
void* __libc_memalign(std::size_t alignment, std::size_t size);
}

namespace {

thread_local bool t_metering = false;
thread_local std::int64_t t_live = 0;
thread_local std::int64_t t_peak = 0;
thread_local std::size_t t_allocations = 0;

inline void note_alloc(void* p) {
  if (!t_metering || p == nullptr) return;
  ++t_allocations;
  t_live += static_cast<std::int64_t>(malloc_usable_size(p));
  if (t_live > t_peak) t_peak = t_live;
}

inline void note_free(void* p) {
  if (!t_metering || p == nullptr) return;
  t_live -= static_cast<std::int64_t>(malloc_usable_size(p));
}

inline bool is_power_of_two(std::size_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
  void* p = __libc_malloc(size);
  note_alloc(p);
  return p;
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  void* p = __libc_calloc(count, size);
  note_alloc(p);
  return p;
}

void* realloc(void* ptr, std::size_t size) noexcept {
  note_free(ptr);
  void* p = __libc_realloc(ptr, size);
  if (p == nullptr && size != 0 && ptr != nullptr) {
    // Failed: the old block is still there.
    if (t_metering) t_live += static_cast<std::int64_t>(malloc_usable_size(ptr));
    return nullptr;
  }
  note_alloc(p);
  return p;
}

void free(void* ptr) noexcept {
  note_free(ptr);
  __libc_free(ptr);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  void* p = __libc_memalign(alignment, size);
  note_alloc(p);
  return p;
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  if (!is_power_of_two(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  void* p = __libc_memalign(alignment, size);
  note_alloc(p);
  return p;
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (!is_power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  const int saved_errno = errno;
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) {
    errno = saved_errno;
    return ENOMEM;
  }
  note_alloc(p);
  *out = p;
  return 0;
}

void* valloc(std::size_t size) noexcept {
  void* p = __libc_memalign(static_cast<std::size_t>(sysconf(_SC_PAGESIZE)), size);
  note_alloc(p);
  return p;
}

}  // extern "C"

namespace uplink::test {

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
