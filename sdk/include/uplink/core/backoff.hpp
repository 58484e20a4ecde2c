// SPDX-License-Identifier: Apache-2.0
// Capped exponential backoff with full jitter, random value injected.
//
// The delay before attempt n (counting from 0) is uniform in
// [0, min(cap, base * 2^n)] ("full jitter"): devices that lost the same
// server at the same moment spread their reconnects over the whole window
// instead of stampeding together. The random value is an argument, so tests
// are exact (the idea of FreeRTOS backoffAlgorithm, with 32-bit milliseconds).
#pragma once

#include <cstdint>

namespace uplink {

/// Backoff settings. Plain data; see Options for defaults and validation.
struct BackoffPolicy {
  std::uint32_t base_ms = 1000;    ///< Ceiling of the first delay. > 0.
  std::uint32_t cap_ms = 60000;    ///< Largest ceiling. >= base_ms.
  std::uint32_t max_attempts = 0;  ///< Delays handed out before giving up; 0 = retry forever.
};

/// Counts attempts and hands out jittered delays.
class Backoff {
 public:
  /// Starts at attempt 0 with a copy of `policy` (validated by the caller: Options::validate()).
  explicit Backoff(const BackoffPolicy& policy) : policy_(policy) {}

  /// Ceiling of the next delay: min(cap, base * 2^attempts), overflow-safe.
  [[nodiscard]] std::uint32_t ceiling_ms() const;

  /// Picks the next delay from `random` (any 32-bit value, uniformly
  /// distributed) and counts one attempt. Returns false, leaving `delay_ms`
  /// untouched, when max_attempts delays were already handed out.
  [[nodiscard]] bool next(std::uint32_t random, std::uint32_t& delay_ms);

  /// Starts again from the first ceiling (after a connection proved healthy).
  void reset() { attempts_ = 0; }

  /// Delays handed out since construction or the last reset().
  [[nodiscard]] std::uint32_t attempts() const { return attempts_; }
  /// The settings this backoff was built with.
  [[nodiscard]] const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  std::uint32_t attempts_ = 0;
};

}  // namespace uplink
