// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the decoder must survive any byte stream fed in any
// split, and every frame it accepts must re-encode to the bytes it came from.
//
// Input layout: byte 0 picks the chunk size (1..16, or 0 = all at once);
// the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "support/frame_compare.hpp"
#include "uplink/codec/frame_decoder.hpp"
#include "uplink/codec/frame_encoder.hpp"

namespace {

// Decodes `bytes` in one go; true when it is exactly one frame equal to `expected`.
bool decodes_back_to(const std::uint8_t* bytes, std::size_t size, const uplink::Frame& expected) {
  uplink::FrameDecoder<> again;
  const auto r = again.feed(uplink::ConstByteSpan{bytes, size});
  return r.status == uplink::DecodeStatus::frame_ready && r.consumed == size &&
         uplink::test::same_frame(expected, again.frame());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = data[0] % 17;
  uplink::ConstByteSpan stream{data + 1, size - 1};
  static uplink::FrameDecoder<> decoder;
  decoder.reset();
  static std::uint8_t encoded[uplink::kMaxFrameSize];

  while (!stream.empty()) {
    const std::size_t take = (chunk == 0 || chunk > stream.size) ? stream.size : chunk;
    uplink::ConstByteSpan piece{stream.data, take};
    while (!piece.empty()) {
      const auto r = decoder.feed(piece);
      if (r.consumed > piece.size) std::abort();
      piece = piece.subspan(r.consumed);
      if (r.status == uplink::DecodeStatus::error) {
        if (!decoder.error()) std::abort();  // an error always says why
        return 0;
      }
      if (r.status == uplink::DecodeStatus::frame_ready) {
        const uplink::Frame& frame = decoder.frame();
        const uplink::EncodeResult e = uplink::test::encode_frame(frame, uplink::ByteSpan{encoded, sizeof encoded});
        if (e.error) std::abort();  // everything accepted must be encodable
        if (!decodes_back_to(encoded, e.size, frame)) std::abort();
      } else if (!piece.empty()) {
        std::abort();  // need_more must mean "all input consumed"
      }
    }
    stream = stream.subspan(take);
  }
  return 0;
}
