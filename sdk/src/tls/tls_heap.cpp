// SPDX-License-Identifier: Apache-2.0
// Counting calloc/free for mbedTLS, when its build allows replacing them.
// See tls_heap.hpp.
#include "uplink/tls/tls_heap.hpp"

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include <mbedtls/platform.h>

namespace uplink::tls {

#if defined(MBEDTLS_PLATFORM_MEMORY) && !defined(MBEDTLS_PLATFORM_CALLOC_MACRO) && \
    !defined(MBEDTLS_PLATFORM_FREE_MACRO)

namespace {

// Each block carries its size in a header as large as the strictest
// alignment, so the pointer handed to mbedTLS keeps calloc's alignment.
constexpr std::size_t kHeader = alignof(std::max_align_t) > sizeof(std::size_t) ? alignof(std::max_align_t)
                                                                                 : sizeof(std::size_t);

std::atomic<bool> g_installed{false};
std::atomic<std::size_t> g_in_use{0};
std::atomic<std::size_t> g_peak{0};
std::atomic<std::uint64_t> g_allocations{0};

void* counting_calloc(std::size_t count, std::size_t size) {
  if (size != 0 && count > (static_cast<std::size_t>(-1) - kHeader) / size) return nullptr;
  const std::size_t bytes = count * size;
  auto* base = static_cast<unsigned char*>(std::calloc(1, bytes + kHeader));
  if (base == nullptr) return nullptr;
  std::memcpy(base, &bytes, sizeof bytes);
  const std::size_t now = g_in_use.fetch_add(bytes) + bytes;
  std::size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  g_allocations.fetch_add(1);
  return base + kHeader;
}

void counting_free(void* p) {
  if (p == nullptr) return;
  unsigned char* base = static_cast<unsigned char*>(p) - kHeader;
  std::size_t bytes = 0;
  std::memcpy(&bytes, base, sizeof bytes);
  g_in_use.fetch_sub(bytes);
  std::free(base);
}

}  // namespace

bool install_tls_heap_counter() noexcept {
  if (g_installed.exchange(true)) return true;
  mbedtls_platform_set_calloc_free(&counting_calloc, &counting_free);
  return true;
}

TlsHeapStats tls_heap_stats() noexcept {
  TlsHeapStats s;
  s.available = g_installed.load();
  if (!s.available) return s;
  s.in_use = g_in_use.load();
  s.peak = g_peak.load();
  s.allocations = g_allocations.load();
  return s;
}

void reset_tls_heap_peak() noexcept { g_peak.store(g_in_use.load()); }

#else  // no MBEDTLS_PLATFORM_MEMORY (Debian's build): nothing to install

bool install_tls_heap_counter() noexcept { return false; }
TlsHeapStats tls_heap_stats() noexcept { return {}; }
void reset_tls_heap_peak() noexcept {}

#endif

}  // namespace uplink::tls
