// SPDX-License-Identifier: Apache-2.0
// uplink::MqttProfile: MQTT 3.1.1 as a wire profile of the link (see
// core/wire_profile.hpp; docs/MQTT.md has the mapping as a table).
//
// The link keeps speaking HELLO, WELCOME, DATA, ACK, PING, CLOSE; this
// profile says them in MQTT:
//   - HELLO -> CONNECT (clean session 0, client id = device id, keepalive
//     from mqtt_keepalive(), the token as password, the will);
//   - CONNACK accepted -> a WELCOME made up from the ledger's position:
//     every message up to the last acknowledged one is at the broker, and
//     the session is the one the device had when the broker kept it
//     (session present = 1), a new one when it did not; then SUBSCRIBE;
//     CONNACK refused -> a CLOSE naming why (4 and 5: unauthorized);
//   - DATA -> PUBLISH QoS 1 with a packet identifier from the in-flight
//     table; after session present = 1 the unacknowledged ones go again
//     with their original identifiers and DUP set, after session present
//     = 0 under new identifiers;
//   - PUBACK -> a cumulative ACK whenever the table's gap-free mark moves;
//   - broker PUBLISH -> a downlink DATA numbered by the device (the broker
//     numbers nothing), PUBACKed once the application has had it;
//   - PING -> PINGREQ, PINGRESP -> PONG; CLOSE -> DISCONNECT when the
//     device stops, nothing otherwise (the broker then publishes the will).
#pragma once

#include <cstddef>
#include <cstdint>

#include "uplink/codec/mqtt_decoder.hpp"
#include "uplink/codec/mqtt_encoder.hpp"
#include "uplink/codec/mqtt_packet.hpp"
#include "uplink/config_defaults.hpp"
#include "uplink/core/in_flight_table.hpp"
#include "uplink/core/wire_profile.hpp"
#include "uplink/error.hpp"
#include "uplink/options.hpp"

namespace uplink {

namespace detail {
/// Longest topic once "{device_id}" is replaced: room for the template and
/// two device ids.
inline constexpr std::size_t kMaxExpandedMqttTopic = MqttOptions::kMaxTopicLength + 2 * kMaxDeviceIdLength;

/// What MqttProfile::configure() and validate_mqtt() derive from the options.
/// The topics (their sizes say how much of each is used) are written before
/// anything reads them, so they have no initialiser: zeroing them on every
/// check cost an image of zeros in flash.
struct MqttSettings {
  // The scalars first: near the start of the object, an ARM load or store
  // reaches them with a short encoding.
  std::size_t uplink_topic_size = 0;
  std::size_t downlink_topic_size = 0;
  std::size_t will_topic_size = 0;
  std::size_t max_payload = 0;    ///< The largest payload a PUBLISH carries (WireProfile::max_payload()).
  std::uint16_t keepalive_s = 0;  ///< What CONNECT announces, in seconds.
  bool envelope = false;          ///< Options::mqtt.envelope: the sequence envelope before each payload.
  char uplink_topic[kMaxExpandedMqttTopic];
  char downlink_topic[kMaxExpandedMqttTopic];
  char will_topic[kMaxExpandedMqttTopic];
};
}  // namespace detail

/// Checks the MQTT part of `options` (Options::mqtt, and what MQTT asks of
/// the rest: a keepalive within the broker's limit, topics that expand,
/// payloads that fit a PUBLISH). Called by validate().
[[nodiscard]] OptionsCheck validate_mqtt(const Options& options);

/// MQTT 3.1.1 as a WireProfile (see the file comment).
class MqttProfile final : public WireProfile {
 public:
  /// Downlink messages the application has had or is having whose PUBACK
  /// has not been written yet; a broker that outruns the acknowledgements
  /// by more than this has a connection whose writes are stuck.
  static constexpr std::size_t kMaxPendingPubacks = 32;
  /// Bytes of one PUBACK.
  static constexpr std::size_t kPubackSize = 4;
  /// The most encode_downlink_ack() writes at once: every PUBACK owed.
  static constexpr std::size_t kMaxDownlinkAck = kMaxPendingPubacks * kPubackSize;

  /// Longest topic once "{device_id}" is replaced: room for the template
  /// and two device ids.
  static constexpr std::size_t kMaxExpandedTopic = detail::kMaxExpandedMqttTopic;

  [[nodiscard]] OptionsCheck configure(const Options& options) override;
  [[nodiscard]] std::size_t max_payload() const override { return settings_.max_payload; }

  void connection_started(const SessionPosition& position) override;
  [[nodiscard]] EncodeResult encode_hello(const Hello& hello, ByteSpan out) override;
  /// The broker's CONNACK session present: a device without a spool still
  /// hears that the broker kept its subscriptions and queued messages.
  [[nodiscard]] bool session_kept(bool) const override { return session_present_; }
  [[nodiscard]] EncodeResult encode_after_welcome(ByteSpan out) override;
  [[nodiscard]] bool can_transmit(std::uint64_t seq) const override;
  [[nodiscard]] std::size_t data_size(const Data& data) const override;
  [[nodiscard]] EncodeResult encode_data(const Data& data, ByteSpan out) override;
  [[nodiscard]] EncodeResult encode_ping(ByteSpan out) override { return mqtt::encode_pingreq(out); }
  /// A broker never sends PINGREQ (the decoder refuses one): nothing to answer.
  [[nodiscard]] EncodeResult encode_pong(ByteSpan out) override;
  /// One PUBACK per QoS 1 message up to `ack.seq` the application has had.
  [[nodiscard]] EncodeResult encode_downlink_ack(const Ack& ack, ByteSpan out) override;
  [[nodiscard]] bool downlink_ack_urgent() const override { return pending_pubacks_ >= kMaxPendingPubacks / 2; }
  /// DISCONNECT when the device stops (the will is discarded); nothing for
  /// any other reason, so the broker publishes the will.
  [[nodiscard]] EncodeResult encode_farewell(CloseReason reason, const char* text, ByteSpan out) override;

  [[nodiscard]] ProfileFeed feed(ConstByteSpan input) override;

  // ---- observation (tests, logs) ----

  /// The last CONNACK's session present flag.
  [[nodiscard]] bool session_present() const { return session_present_; }
  /// The in-flight table (packet identifiers of the unacknowledged PUBLISHes).
  [[nodiscard]] const InFlightTableBase& in_flight() const { return table_; }
  /// The keepalive CONNECT announces, in seconds.
  [[nodiscard]] std::uint16_t keepalive_s() const { return settings_.keepalive_s; }
  /// The topic messages are published to (the template expanded).
  [[nodiscard]] ConstByteSpan uplink_topic() const {
    return ConstByteSpan{settings_.uplink_topic, settings_.uplink_topic_size};
  }

 private:
  // What a packet meant for the link: a frame, or nothing to tell.
  enum class Meaning : std::uint8_t { frame, nothing, error };
  Meaning interpret(const mqtt::Packet& packet);
  Meaning connack(const mqtt::Connack& connack);
  Meaning puback(std::uint16_t packet_id);
  Meaning publish(const mqtt::Publish& publish);
  Meaning suback(const mqtt::Suback& suback, std::uint16_t packet_id);
  Meaning fail(Errc error, const char* text);

  // The scalars come first and the arrays last: an ARM load or store
  // reaches an offset below 128 with a 16-bit instruction and one below
  // 4096 without computing the address first, and every function here
  // touches the scalars.

  // From the options (configure()).
  const Options* options_ = nullptr;

  // The connection.
  SessionPosition position_;
  bool session_present_ = false;
  bool connack_seen_ = false;
  std::uint16_t subscribe_id_ = 0;  // the SUBSCRIBE awaiting its SUBACK; 0: none
  std::size_t pending_pubacks_ = 0;  // entries of pubacks_ in use
  // Unacknowledged PUBLISHes up to this seq were sent on an earlier
  // connection of a session the broker kept: they go again with DUP set.
  std::uint64_t dup_through_ = 0;
  std::uint64_t next_downlink_seq_ = 1;  // what the next delivered broker PUBLISH is numbered
  std::error_code error_;
  const char* error_text_ = "";
  Frame frame_;

  detail::MqttSettings settings_;
  InFlightTable<kStoreMessages> table_;

  // QoS 1 downlink messages handed to the link, oldest first, with the seq
  // the link knows them by: PUBACKed once the application has had them.
  // No initialisers: publish() writes an entry before encode_downlink_ack()
  // reads it (only the first pending_pubacks_ are read).
  struct PendingPuback {
    std::uint64_t seq;
    std::uint16_t packet_id;
  };
  PendingPuback pubacks_[kMaxPendingPubacks];

  mqtt::Decoder<kMaxFrameSize> decoder_;
};

}  // namespace uplink
