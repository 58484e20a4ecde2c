// SPDX-License-Identifier: Apache-2.0
// The random source injected into a client (backoff jitter, session ids in
// test servers). Not for cryptography: TLS has its own entropy port.
#pragma once

#include <cstdint>

namespace uplink {

/// A source of uniformly distributed 32-bit values.
class RandomSource {
 public:
  /// Returns the next value. Must not block and must not allocate.
  virtual std::uint32_t next_u32() = 0;

 protected:
  ~RandomSource() = default;
};

}  // namespace uplink
