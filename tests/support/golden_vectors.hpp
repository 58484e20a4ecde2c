// SPDX-License-Identifier: Apache-2.0
// The golden frames of protocol version 1. The same bytes appear in
// docs/PROTOCOL.md (each after a "<!-- golden: NAME -->" marker); a test
// checks both places agree, so the spec cannot drift from the code.
#pragma once

#include <cstddef>
#include <cstdint>

#include "uplink/codec/frame.hpp"

namespace uplink::test {

struct GoldenVector {
  const char* name;
  const char* hex;  // lowercase bytes separated by spaces
  Frame frame;      // the frame these bytes encode
};

/// All golden vectors, in the order PROTOCOL.md presents them.
const GoldenVector* golden_vectors(std::size_t& count);

/// Parses "00 01 ff" into `out`; returns the byte count, or 0 on a bad digit
/// or when `capacity` is too small.
std::size_t parse_hex(const char* hex, std::uint8_t* out, std::size_t capacity);

}  // namespace uplink::test
