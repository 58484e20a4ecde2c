// SPDX-License-Identifier: Apache-2.0
// MQTT 3.1.1 as a wire profile. See the mapping in mqtt_profile.hpp and
// docs/MQTT.md.
//
// Rules that are easy to get wrong and why they are here:
//  - The broker numbers nothing, so the WELCOME the link hears is made up
//    from the ledger: every message up to the last acknowledged one is at
//    the broker (next_uplink_seq), and the session id stays the device's
//    when the broker kept the session and becomes a new one when it did
//    not. The link's Delivery then resumes or starts over exactly as with
//    the native protocol, and the listener hears which (OnlineInfo::resumed).
//  - Sequence numbers never restart over MQTT: a new session sends what is
//    stored under the same numbers, so a consumer reading the envelope
//    keeps dropping duplicates across a broker that forgot the session.
//  - PUBACK goes only after the application has had the message (and the
//    spool recorded it): the link asks for it then, never at decode time.
#include "uplink/core/mqtt_profile.hpp"

#include <cstring>

#include "uplink/codec/mqtt_encoder.hpp"
#include "uplink/codec/mqtt_envelope.hpp"
#include "uplink/codec/mqtt_error.hpp"
#include "uplink/codec/mqtt_topic.hpp"
#include "uplink/core/mqtt_keepalive.hpp"
#include "uplink/error.hpp"

namespace uplink {
namespace {

ConstByteSpan text_of(const char* text) { return ConstByteSpan{text, std::strlen(text)}; }

// Expands one topic template into `out`; an empty template expands to
// nothing. Returns why it cannot, or nullptr.
const char* expand(const char* topic_template, const char* device_id, char* out, std::size_t* size) {
  *size = 0;
  if (topic_template[0] == '\0') return nullptr;
  const EncodeResult r =
      mqtt::expand_topic(text_of(topic_template), text_of(device_id),
                         ByteSpan{reinterpret_cast<std::uint8_t*>(out), detail::kMaxExpandedMqttTopic});
  if (r.error.category() == mqtt::error_category()) {
    switch (static_cast<mqtt::Errc>(r.error.value())) {
      case mqtt::Errc::invalid_topic_template: return "an unknown {placeholder} or lone brace";
      case mqtt::Errc::invalid_utf8: return "not UTF-8";
      default: return "empty, a wildcard, or a device_id with '/'";  // invalid_topic
    }
  }
  if (r.error) return "too long once {device_id} is replaced";
  *size = r.size;
  return nullptr;
}

// The largest payload whose PUBLISH (fixed header of up to 5 bytes, topic,
// packet id, envelope) fits the link's send buffer beside the control
// reserve, and the store's own limit.
std::size_t max_payload_for(std::size_t topic_size, bool envelope) {
  const std::size_t overhead = mqtt::kMaxFixedHeaderSize + 2 + topic_size + 2 + (envelope ? mqtt::kEnvelopeSize : 0);
  const std::size_t room = kTxBufferSize - kTxControlReserve;
  const std::size_t fits = room > overhead ? room - overhead : 0;
  return fits < kMaxDataPayload ? fits : kMaxDataPayload;
}

// Everything configure() and validate_mqtt() both derive from the options.
OptionsCheck derive(const Options& o, detail::MqttSettings& d) {
  const MqttOptions& m = o.mqtt;
  const char* field = "mqtt.uplink_topic";
  const char* why = m.uplink_topic[0] == '\0'
                        ? "a topic to publish to is required"
                        : expand(m.uplink_topic, o.device_id, d.uplink_topic, &d.uplink_topic_size);
  if (why == nullptr) {
    field = "mqtt.downlink_topic";
    why = expand(m.downlink_topic, o.device_id, d.downlink_topic, &d.downlink_topic_size);
  }
  if (why == nullptr) {
    field = "mqtt.will_topic";
    why = expand(m.will_topic, o.device_id, d.will_topic, &d.will_topic_size);
  }
  if (why != nullptr) return refuse_option(field, why);
  if (m.will_qos > 1) return refuse_option("mqtt.will_qos", "0 or 1 (no QoS 2)");
  if (m.will_message_size > MqttOptions::kMaxWillMessage) {
    return refuse_option("mqtt.will_message_size", "over MqttOptions::kMaxWillMessage");
  }
  if (mqtt::check_utf8(text_of(m.username))) return refuse_option("mqtt.username", "not UTF-8");
  const MqttKeepalive k = mqtt_keepalive(o.heartbeat_interval_ms, o.read_timeout_ms, m.broker_max_keepalive_s);
  if (k.error) {
    return refuse_option("read_timeout_ms",
                         "the keepalive, (this + heartbeat_interval_ms) / 1.5 s, is over mqtt.broker_max_keepalive_s "
                         "or 65535");
  }
  d.keepalive_s = k.seconds;
  d.envelope = m.envelope;
  d.max_payload = max_payload_for(d.uplink_topic_size, m.envelope);
  if (d.max_payload == 0) {
    return refuse_option("mqtt.uplink_topic", "too long for a PUBLISH to fit UPLINK_TX_BUFFER_SIZE");
  }
  return {};
}

// The PUBLISH every uplink message goes in (QoS 1 to the uplink topic),
// without its packet id and flags; and its payload's size on the wire.
mqtt::Publish uplink_publish(const detail::MqttSettings& s) {
  mqtt::Publish publish;
  publish.topic = ConstByteSpan{s.uplink_topic, s.uplink_topic_size};
  publish.qos = mqtt::Qos::at_least_once;
  return publish;
}

std::size_t wire_payload_size(const detail::MqttSettings& s, const Data& data) {
  return data.payload.size + (s.envelope ? mqtt::kEnvelopeSize : 0);
}

CloseReason close_reason_of(mqtt::ConnectReturnCode code) {
  switch (code) {
    case mqtt::ConnectReturnCode::unacceptable_protocol_version: return CloseReason::unsupported_version;
    case mqtt::ConnectReturnCode::server_unavailable: return CloseReason::overloaded;
    case mqtt::ConnectReturnCode::identifier_rejected:
    case mqtt::ConnectReturnCode::bad_username_or_password:
    case mqtt::ConnectReturnCode::not_authorized:
    case mqtt::ConnectReturnCode::accepted: break;
  }
  return CloseReason::unauthorized;
}

}  // namespace

OptionsCheck validate_mqtt(const Options& options) {
  detail::MqttSettings scratch;
  return derive(options, scratch);
}

// ------------------------------------------------------------- configure

OptionsCheck MqttProfile::configure(const Options& options) {
  // Derived straight into the profile: a refused start() leaves it unused
  // (the next start() builds a new one).
  const OptionsCheck c = derive(options, settings_);
  if (c) {
    options_ = &options;
    (void)table_.set_window(options.in_flight_window());  // validated: 1 .. kStoreMessages, the table's capacity
  }
  return c;
}

// ------------------------------------------------------------ connection

void MqttProfile::connection_started(const SessionPosition& position) {
  // error_ and error_text_ are written by every failure before feed() reports them.
  decoder_.reset();
  position_ = position;
  session_present_ = false;
  connack_seen_ = false;
  subscribe_id_ = 0;
  dup_through_ = 0;
  // The broker sends again what it has not seen acknowledged.
  pending_pubacks_ = 0;
  // The ledger moved without the table (a spool recovered at start, a
  // session given up): the table starts over from where the ledger is.
  if (table_.acked_through() != position.last_acked_seq) table_.reset(position.last_acked_seq);
}

EncodeResult MqttProfile::encode_hello(const Hello& hello, ByteSpan out) {
  const MqttOptions& m = options_->mqtt;
  mqtt::Connect connect;
  connect.client_id = hello.device_id;
  connect.clean_session = false;
  connect.keepalive_s = settings_.keepalive_s;
  if (m.username[0] != '\0') {
    connect.has_username = true;
    connect.username = text_of(m.username);
  } else if (!hello.token.empty()) {
    connect.has_username = true;
    connect.username = hello.device_id;
  }
  if (!hello.token.empty()) {
    connect.has_password = true;
    connect.password = hello.token;
  }
  if (settings_.will_topic_size != 0) {
    connect.has_will = true;
    connect.will.topic = ConstByteSpan{settings_.will_topic, settings_.will_topic_size};
    connect.will.message = ConstByteSpan{m.will_message, m.will_message_size};
    connect.will.qos = static_cast<mqtt::Qos>(m.will_qos);
    connect.will.retain = m.will_retain;
  }
  return mqtt::write_connect(connect, out);  // every field checked at configure()
}

EncodeResult MqttProfile::encode_after_welcome(ByteSpan out) {
  if (settings_.downlink_topic_size == 0) return {};
  // From the table's own sequence: no PUBLISH of this connection carries it
  // while the SUBACK is awaited.
  const std::uint16_t id = table_.take_spare_id();
  mqtt::TopicFilter filter;
  filter.filter = ConstByteSpan{settings_.downlink_topic, settings_.downlink_topic_size};
  filter.qos = mqtt::Qos::at_least_once;
  mqtt::Subscribe subscribe;
  subscribe.packet_id = id;
  subscribe.filters = &filter;
  subscribe.count = 1;
  const EncodeResult r = mqtt::write_subscribe(subscribe, out);  // the topic checked at configure()
  if (!r.error) subscribe_id_ = id;
  return r;
}

// --------------------------------------------------------------- uplink

bool MqttProfile::can_transmit(std::uint64_t seq) const { return table_.packet_id_of(seq) != 0 || !table_.full(); }

std::size_t MqttProfile::data_size(const Data& data) const {
  return mqtt::encoded_size(uplink_publish(settings_), wire_payload_size(settings_, data));  // the same for every packet id
}

EncodeResult MqttProfile::encode_data(const Data& data, ByteSpan out) {
  mqtt::Publish publish = uplink_publish(settings_);
  // Sent on an earlier connection: the same identifier again, DUP set when
  // the broker kept the session (it may have seen it).
  publish.packet_id = table_.packet_id_of(data.seq);
  if (publish.packet_id != 0) {
    publish.dup = data.seq <= dup_through_;
  } else {
    const InFlightTableBase::Added added = table_.add(data.seq);
    if (added.error) return {added.error, 0};
    publish.packet_id = added.packet_id;
  }
  // The topic was checked at configure(); the size is checked here, after
  // the table took the message (the link asks only with room for
  // data_size()). Were it refused, the entry would wait for the next
  // attempt, which sends it under the same identifier.
  const EncodeResult header = mqtt::write_publish_header(publish, wire_payload_size(settings_, data), out);
  if (header.error) return header;
  std::size_t at = header.size;
  if (settings_.envelope) {
    // Cannot fail: the header's size counted the envelope, and seqs start at 1.
    (void)mqtt::encode_envelope(data.seq, ByteSpan{out.data + at, mqtt::kEnvelopeSize});
    at += mqtt::kEnvelopeSize;
  }
  if (!data.payload.empty()) std::memcpy(out.data + at, data.payload.data, data.payload.size);
  return {{}, at + data.payload.size};
}

EncodeResult MqttProfile::encode_pong(ByteSpan) { return {make_error_code(Errc::protocol_error), 0}; }

// ------------------------------------------------------------- downlink

EncodeResult MqttProfile::encode_downlink_ack(const Ack& ack, ByteSpan out) {
  std::size_t count = 0;
  while (count < pending_pubacks_ && pubacks_[count].seq <= ack.seq) ++count;
  const std::size_t size = count * kPubackSize;
  if (size > out.size) return {make_error_code(Errc::buffer_too_small), 0};
  for (std::size_t i = 0; i < count; ++i) {
    // Cannot fail: the room is checked and a packet id is never 0 (the decoder refuses one).
    (void)mqtt::encode_puback(pubacks_[i].packet_id, ByteSpan{out.data + i * kPubackSize, kPubackSize});
  }
  pending_pubacks_ -= count;
  std::memmove(pubacks_, pubacks_ + count, pending_pubacks_ * sizeof *pubacks_);
  return {{}, size};
}

EncodeResult MqttProfile::encode_farewell(CloseReason reason, const char*, ByteSpan out) {
  if (reason != CloseReason::normal) return {};
  return mqtt::encode_disconnect(out);
}

// ---------------------------------------------------------------- input

ProfileFeed MqttProfile::feed(ConstByteSpan input) {
  ProfileFeed result;
  while (true) {
    const mqtt::DecoderBase::Result r = decoder_.feed(input.subspan(result.consumed));
    result.consumed += r.consumed;
    result.status = r.status;
    if (r.status == DecodeStatus::need_more) return result;
    Meaning meaning = Meaning::error;
    if (r.status == DecodeStatus::error) {
      error_ = decoder_.error();
      // The decoder's errors are mqtt::Errc, but for uplink::Errc::frame_too_large.
      error_text_ = error_.category() == mqtt::error_category()
                        ? mqtt::errc_name(static_cast<mqtt::Errc>(error_.value()))
                        : errc_name(static_cast<Errc>(error_.value()));
    } else {
      meaning = interpret(decoder_.packet());
    }
    switch (meaning) {
      case Meaning::frame:
        result.frame = &frame_;
        return result;
      case Meaning::error:
        result.status = DecodeStatus::error;
        result.error = error_;
        result.error_text = error_text_;
        return result;
      case Meaning::nothing:
        break;  // a packet the link need not hear of: on to the next (each takes at least 2 bytes)
    }
  }
}

MqttProfile::Meaning MqttProfile::fail(Errc error, const char* text) {
  error_ = make_error_code(error);
  error_text_ = text;
  return Meaning::error;
}

MqttProfile::Meaning MqttProfile::interpret(const mqtt::Packet& packet) {
  if (!connack_seen_ && packet.type != mqtt::PacketType::connack) {
    return fail(Errc::protocol_error, "a packet before CONNACK");
  }
  switch (packet.type) {
    case mqtt::PacketType::connack: return connack(packet.connack);
    case mqtt::PacketType::puback: return puback(packet.packet_id);
    case mqtt::PacketType::publish: return publish(packet.publish);
    case mqtt::PacketType::suback: return suback(packet.suback, packet.packet_id);
    case mqtt::PacketType::pingresp:
      frame_.type = FrameType::pong;
      return Meaning::frame;
    case mqtt::PacketType::unsuback: return Meaning::nothing;
    default: break;  // the decoder refuses what a server never sends a client
  }
  return fail(Errc::protocol_error, "unexpected packet");
}

MqttProfile::Meaning MqttProfile::connack(const mqtt::Connack& connack) {
  if (connack_seen_) return fail(Errc::protocol_error, "a second CONNACK");
  connack_seen_ = true;
  if (connack.return_code != mqtt::ConnectReturnCode::accepted) {
    // The link hears a CLOSE: the attempt failed, for the reason the broker gave.
    frame_.type = FrameType::close;
    frame_.close.reason = close_reason_of(connack.return_code);
    frame_.close.retry_after_ms = 0;
    frame_.close.text =
        text_of(mqtt::errc_name(static_cast<mqtt::Errc>(mqtt::connack_error(connack.return_code).value())));
    return Meaning::frame;
  }
  session_present_ = connack.session_present;
  const bool ledger_resumes = session_present_ && position_.session_id != 0;
  if (session_present_) {
    // What is still in the table may have reached the broker: DUP when sent again.
    dup_through_ = table_.acked_through() + table_.size();
  } else {
    // The broker forgot the session and its identifiers: new ones.
    table_.renumber();
  }
  next_downlink_seq_ = ledger_resumes ? position_.last_downlink_seq + 1 : 1;
  frame_.type = FrameType::welcome;
  frame_.welcome.heartbeat_ms = options_->heartbeat_interval_ms;
  frame_.welcome.next_uplink_seq = position_.last_acked_seq + 1;
  frame_.welcome.session_id = ledger_resumes ? position_.session_id : position_.session_id + 1;
  return Meaning::frame;
}

MqttProfile::Meaning MqttProfile::puback(std::uint16_t packet_id) {
  if (table_.acknowledge(packet_id) != InFlightTableBase::AckResult::advanced) {
    // Out of order (recorded; the mark moves when the gap closes), or an
    // identifier not in flight (a late duplicate): nothing for the link.
    return Meaning::nothing;
  }
  frame_.type = FrameType::ack;
  frame_.ack.seq = table_.acked_through();
  return Meaning::frame;
}

MqttProfile::Meaning MqttProfile::publish(const mqtt::Publish& publish) {
  if (publish.qos == mqtt::Qos::at_least_once) {
    if (pending_pubacks_ == kMaxPendingPubacks) {
      // The link flushes PUBACKs long before (downlink_ack_urgent()); only
      // a connection whose writes are stuck gets here.
      return fail(Errc::write_timeout, "downlink messages outran their acknowledgements");
    }
    PendingPuback& slot = pubacks_[pending_pubacks_];
    slot.seq = next_downlink_seq_;
    slot.packet_id = publish.packet_id;
    ++pending_pubacks_;
  }
  // Every message the broker sends is this session's: the subscriptions it
  // holds are the device's (an older downlink topic's included).
  frame_.type = FrameType::data;
  frame_.data.seq = next_downlink_seq_++;
  frame_.data.payload = publish.payload;
  return Meaning::frame;
}

MqttProfile::Meaning MqttProfile::suback(const mqtt::Suback& suback, std::uint16_t packet_id) {
  if (packet_id != subscribe_id_) return Meaning::nothing;  // not the subscription of this connection
  subscribe_id_ = 0;
  if (suback.return_codes.size != 1 || suback.return_codes.data[0] == mqtt::kSubackFailure) {
    // Online without downlink would fail silently; the operator sees this
    // reason on every attempt instead (or sets mqtt.downlink_topic to "").
    return fail(Errc::protocol_error, "the broker refused the downlink subscription (SUBACK 0x80)");
  }
  return Meaning::nothing;
}

}  // namespace uplink
