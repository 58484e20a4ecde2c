// SPDX-License-Identifier: Apache-2.0
// Default random source on Linux: getrandom(2), falling back to a
// splitmix64 sequence seeded from the clock if the call is unavailable
// (jitter only needs spread, not secrecy).
#include <sys/random.h>

#include <atomic>
#include <cstdint>
#include <ctime>

#include "uplink/port/random.hpp"

namespace uplink::port {
namespace {

class LinuxRandom final : public RandomSource {
 public:
  std::uint32_t next_u32() override {
    std::uint32_t value = 0;
    if (getrandom(&value, sizeof value, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof value)) return value;
    return fallback();
  }

 private:
  std::uint32_t fallback() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    std::uint64_t z = state_.fetch_add(0x9E3779B97F4A7C15ULL) + static_cast<std::uint64_t>(ts.tv_nsec);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return static_cast<std::uint32_t>(z ^ (z >> 31));
  }

  std::atomic<std::uint64_t> state_{0x853C49E6748FEA9BULL};
};

}  // namespace

RandomSource& system_random() noexcept {
  static LinuxRandom random;
  return random;
}

}  // namespace uplink::port
