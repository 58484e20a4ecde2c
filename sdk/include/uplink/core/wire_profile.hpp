// SPDX-License-Identifier: Apache-2.0
// uplink::WireProfile: what the link's conversation looks like on the wire.
//
// The link (core/link.hpp) keeps everything that does not depend on the
// wire format: the connect deadline, heartbeats and silence detection,
// backoff and failover, the send buffer, and through its Delivery the
// numbering, acknowledgement and resume of messages. It speaks in the
// native protocol's terms (codec/frame.hpp): HELLO, WELCOME, DATA, ACK,
// PING, PONG, CLOSE. A wire profile turns those into bytes, and the peer's
// bytes back into them:
//
//   - NativeProfile (core/native_profile.hpp): the native protocol v1
//     (docs/PROTOCOL.md), the identity over its codec;
//   - MqttProfile (core/mqtt_profile.hpp): MQTT 3.1.1, CONNECT / CONNACK /
//     PUBLISH / PUBACK / SUBSCRIBE / PINGREQ / DISCONNECT mapped onto the
//     same conversation (docs/MQTT.md has the table).
//
// A profile is a pure unit like the link: bytes and positions in, bytes and
// frames out, no I/O, no time, no heap. Options::protocol picks one at
// start(); the link holds them in place (core/wire_profiles.hpp, which
// also knows whether this build has MQTT: UPLINK_WITH_MQTT) and talks to
// the chosen one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/codec/codec_result.hpp"
#include "uplink/codec/frame.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink {

struct Options;
struct OptionsCheck;

/// Where the delivery ledger stands as a connection opens: what a HELLO
/// carries, and what a profile that has to make up a WELCOME from its
/// wire's handshake needs to know.
struct SessionPosition {
  std::uint64_t session_id = 0;         ///< The session the device resumes; 0: none yet.
  std::uint64_t last_acked_seq = 0;     ///< Every uplink message up to this one is acknowledged.
  std::uint64_t last_downlink_seq = 0;  ///< Highest downlink seq delivered to the application.
};

/// What one WireProfile::feed() call did with its input.
struct ProfileFeed {
  DecodeStatus status = DecodeStatus::need_more;  ///< Why feed() returned.
  std::size_t consumed = 0;                       ///< Bytes of the input taken by this call.
  /// frame_ready: the next frame for the link; its views stay valid until the next feed().
  const Frame* frame = nullptr;
  std::error_code error;        ///< error: why the input was refused.
  const char* error_text = "";  ///< error: a short text for the log and the CLOSE, a static string.
};

/// A wire format for the link's conversation. Encoders write a whole unit
/// into `out` or nothing (EncodeResult, as the codecs). Not thread-safe:
/// its Link serialises every call.
class WireProfile {
 public:
  WireProfile() = default;
  WireProfile(const WireProfile&) = delete;
  WireProfile& operator=(const WireProfile&) = delete;

  /// Takes what the profile needs of `options` (validated), at the link's
  /// start(). Refused with the field named when the options cannot work
  /// over this wire (a topic template that does not expand, say).
  [[nodiscard]] virtual OptionsCheck configure(const Options& options) = 0;
  /// Largest application payload a DATA may carry over this wire (what
  /// send() accepts).
  [[nodiscard]] virtual std::size_t max_payload() const = 0;

  // ---- one connection ----

  /// A transport opened: forget any partial input of the last one; the
  /// ledger stands at `position`.
  virtual void connection_started(const SessionPosition& position) = 0;
  /// The opening of the handshake (HELLO or what stands for it).
  [[nodiscard]] virtual EncodeResult encode_hello(const Hello& hello, ByteSpan out) = 0;
  /// Whether the peer kept the device's session, as the listener hears it
  /// (OnlineInfo::resumed), given whether the ledger resumed it.
  [[nodiscard]] virtual bool session_kept(bool ledger_resumed) const = 0;
  /// What follows the peer's WELCOME at once (nothing, or a subscription).
  [[nodiscard]] virtual EncodeResult encode_after_welcome(ByteSpan out) = 0;
  /// True when DATA `seq` (the next to transmit) may go now: a wire with a
  /// window of its own (MQTT's packet identifiers) says no when it is full.
  [[nodiscard]] virtual bool can_transmit(std::uint64_t seq) const = 0;
  /// Bytes encode_data() takes for `data`.
  [[nodiscard]] virtual std::size_t data_size(const Data& data) const = 0;
  /// An uplink DATA. Called in sequence order; after a connection ends,
  /// again from the first unacknowledged one.
  [[nodiscard]] virtual EncodeResult encode_data(const Data& data, ByteSpan out) = 0;
  /// A heartbeat request (PING).
  [[nodiscard]] virtual EncodeResult encode_ping(ByteSpan out) = 0;
  /// The answer to the peer's PING (a wire whose peer never pings may refuse).
  [[nodiscard]] virtual EncodeResult encode_pong(ByteSpan out) = 0;
  /// The acknowledgement of every downlink message up to `ack.seq` that the
  /// application has had (a wire that acknowledges each message writes one
  /// per message; possibly nothing). All or nothing, as every encoder.
  [[nodiscard]] virtual EncodeResult encode_downlink_ack(const Ack& ack, ByteSpan out) = 0;
  /// True when the acknowledgements owed must go before the read ends (a
  /// wire with a bounded record of them is filling it).
  [[nodiscard]] virtual bool downlink_ack_urgent() const = 0;
  /// The last words before the device closes the connection (may be nothing).
  [[nodiscard]] virtual EncodeResult encode_farewell(CloseReason reason, const char* text, ByteSpan out) = 0;

  /// Consumes bytes until one frame for the link is ready (returned with
  /// it), an error is found (returned with why), or the input ends, as the
  /// decoders' feed(). The link ends the connection on an error.
  [[nodiscard]] virtual ProfileFeed feed(ConstByteSpan input) = 0;

 protected:
  ~WireProfile() = default;
};

}  // namespace uplink
