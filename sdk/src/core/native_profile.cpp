// SPDX-License-Identifier: Apache-2.0
#include "uplink/core/native_profile.hpp"

#include <cstring>

#include "uplink/error.hpp"
#include "uplink/options.hpp"

namespace uplink {

OptionsCheck NativeProfile::configure(const Options&) { return {}; }

EncodeResult NativeProfile::encode_farewell(CloseReason reason, const char* text, ByteSpan out) {
  Close close;
  close.reason = reason;
  const std::size_t text_len = std::strlen(text);
  const std::size_t fixed = kFrameHeaderSize + wire::kCloseFixedBody;
  const std::size_t room = out.size > fixed ? out.size - fixed : 0;
  close.text = ConstByteSpan{text, text_len < room ? text_len : room};
  return encode(close, out);
}

ProfileFeed NativeProfile::feed(ConstByteSpan input) {
  const FrameDecoderBase::Result r = decoder_.feed(input);
  ProfileFeed result;
  result.status = r.status;
  result.consumed = r.consumed;
  if (r.status == DecodeStatus::frame_ready) result.frame = &decoder_.frame();
  if (r.status == DecodeStatus::error) {
    result.error = decoder_.error();
    result.error_text = result.error.category() == error_category() ? errc_name(static_cast<Errc>(result.error.value()))
                                                                     : "decoder error";
  }
  return result;
}

}  // namespace uplink
