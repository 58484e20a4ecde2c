// SPDX-License-Identifier: Apache-2.0
// Port contract: the platform's default random source for backoff jitter.
#pragma once

#include "uplink/core/random_source.hpp"

namespace uplink::port {

/// A process-wide RandomSource backed by the platform (getrandom(2) on Linux).
/// Not for cryptographic use. Thread-safe; never blocks after boot; never allocates.
[[nodiscard]] RandomSource& system_random() noexcept;

}  // namespace uplink::port
