// SPDX-License-Identifier: Apache-2.0
// What the codecs' calls return, shared by every wire format (the native
// protocol's frames and MQTT 3.1.1's packets), so that code driving "a
// decoder" or "an encoder" reads the same whichever format it speaks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

namespace uplink {

/// What one feed() call of a decoder ended with.
enum class DecodeStatus : std::uint8_t {
  need_more,    ///< All input consumed; no complete frame yet.
  frame_ready,  ///< A complete frame (or packet) is ready; `consumed` stops right after it.
  error,        ///< Malformed input; error() says why. Decoder stays failed until reset().
};

/// Outcome of an encode call: `size` bytes were written when `error` is empty.
struct EncodeResult {
  std::error_code error;  ///< Empty on success; otherwise nothing was written.
  std::size_t size = 0;   ///< Bytes written to the start of `out`; 0 on error.

  /// True when the frame was written.
  [[nodiscard]] explicit operator bool() const { return !error; }
};

}  // namespace uplink
