// Allocation counting by interposition: see alloc_counter.hpp.
//
// The executable defines malloc & co., so the dynamic linker binds every
// call (ours, libstdc++'s, glibc's own) to these; they forward to glibc's
// __libc_* entry points, which stay exported for exactly this use. The
// per-thread state is two constant-initialised thread_local PODs with
// internal linkage: no TLS wrapper, no dynamic initialisation, nothing that
// could itself allocate.
#include "support/alloc_counter.hpp"

#include <cerrno>
#include <cstddef>

#include <unistd.h>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void __libc_free(void* ptr);
void* __libc_memalign(std::size_t alignment, std::size_t size);
}

namespace {

thread_local bool t_counting = false;
thread_local std::size_t t_count = 0;

inline void note_allocation() {
  if (t_counting) ++t_count;
}

inline bool is_power_of_two(std::size_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

// Same exception specification as glibc's declarations (__THROW), so these
// stay compatible should <stdlib.h> or <malloc.h> be seen in this file.
extern "C" {

void* malloc(std::size_t size) noexcept {
  note_allocation();
  return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  note_allocation();
  return __libc_calloc(count, size);
}

void* realloc(void* ptr, std::size_t size) noexcept {
  if (ptr == nullptr || size != 0) note_allocation();
  return __libc_realloc(ptr, size);
}

void free(void* ptr) noexcept { __libc_free(ptr); }

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  note_allocation();
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  note_allocation();
  if (!is_power_of_two(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  note_allocation();
  if (!is_power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  const int saved_errno = errno;
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) {
    errno = saved_errno;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

void* valloc(std::size_t size) noexcept {
  note_allocation();
  return __libc_memalign(static_cast<std::size_t>(sysconf(_SC_PAGESIZE)), size);
}

}  // extern "C"

namespace uplink::test {

void AllocCounter::start() { t_counting = true; }
void AllocCounter::stop() { t_counting = false; }
std::size_t AllocCounter::count() { return t_count; }
void AllocCounter::reset() { t_count = 0; }

}  // namespace uplink::test
