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
  return ProfileFeed{r.status, r.consumed};
}

const char* NativeProfile::error_text() const {
  const std::error_code ec = decoder_.error();
  return ec.category() == error_category() ? errc_name(static_cast<Errc>(ec.value())) : "decoder error";
}

}  // namespace uplink
