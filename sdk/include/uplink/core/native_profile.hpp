// SPDX-License-Identifier: Apache-2.0
// uplink::NativeProfile: the native protocol v1 (docs/PROTOCOL.md) as a
// wire profile. Its frames are the link's own vocabulary, so the profile is
// the identity over the frame codec.
#pragma once

#include "uplink/codec/frame_decoder.hpp"
#include "uplink/codec/frame_encoder.hpp"
#include "uplink/core/wire_profile.hpp"

namespace uplink {

/// The native protocol v1 as a WireProfile (see core/wire_profile.hpp).
class NativeProfile final : public WireProfile {
 public:
  [[nodiscard]] OptionsCheck configure(const Options& options) override;
  [[nodiscard]] std::size_t max_payload() const override { return kMaxDataPayload; }

  void connection_started(const SessionPosition&) override { decoder_.reset(); }
  [[nodiscard]] EncodeResult encode_hello(const Hello& hello, ByteSpan out) override { return encode(hello, out); }
  [[nodiscard]] bool session_kept(bool ledger_resumed) const override { return ledger_resumed; }
  [[nodiscard]] EncodeResult encode_after_welcome(ByteSpan) override { return {}; }
  [[nodiscard]] bool can_transmit(std::uint64_t) const override { return true; }
  [[nodiscard]] std::size_t data_size(const Data& data) const override { return encoded_size(data); }
  [[nodiscard]] EncodeResult encode_data(const Data& data, ByteSpan out) override { return encode(data, out); }
  [[nodiscard]] EncodeResult encode_ping(ByteSpan out) override { return uplink::encode_ping(out); }
  [[nodiscard]] EncodeResult encode_pong(ByteSpan out) override { return uplink::encode_pong(out); }
  /// One cumulative ACK covers them all.
  [[nodiscard]] EncodeResult encode_downlink_ack(const Ack& ack, ByteSpan out) override { return encode(ack, out); }
  [[nodiscard]] bool downlink_ack_urgent() const override { return false; }
  /// A CLOSE naming the reason, its text cut to fit a small farewell.
  [[nodiscard]] EncodeResult encode_farewell(CloseReason reason, const char* text, ByteSpan out) override;

  [[nodiscard]] ProfileFeed feed(ConstByteSpan input) override;

 private:
  FrameDecoder<> decoder_;
};

}  // namespace uplink
