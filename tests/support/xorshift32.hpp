// SPDX-License-Identifier: Apache-2.0
// The tests' one pseudo-random generator: xorshift32, deterministic, so a
// failure found with varied values reproduces. Seed it per test for
// independent sequences (XorShift32 rng{0x9E3779B9u}).
#pragma once

#include <cstdint>

namespace uplink::test {

/// Marsaglia's xorshift32; the state must not be 0.
struct XorShift32 {
  std::uint32_t state = 0x12345678u;  ///< The seed, then the last value.
  /// The next value.
  std::uint32_t next() {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }
  /// A value in 0 .. n - 1 (n > 0).
  std::uint32_t below(std::uint32_t n) { return next() % n; }
};

}  // namespace uplink::test
