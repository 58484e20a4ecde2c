// SPDX-License-Identifier: Apache-2.0
// The application's side of the client-against-a-broker tests: a bare MQTT
// connection (MqttTestConnection) that subscribes to the device's uplink
// topic and reads fast, or publishes on its downlink topic. Reading takes
// every packet of one read in one go and acknowledges them with one write,
// so that 70,000 messages take seconds, not minutes; every wait is bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "support/mqtt_test_client.hpp"
#include "uplink/options.hpp"
#include "uplink/codec/mqtt_encoder.hpp"

namespace uplink::test {

/// The options of a device that talks MQTT to a broker on 127.0.0.1:`port`
/// in the broker tests: short timings (heartbeat 1 s, read timeout 3 s),
/// a quick backoff, mosquitto's in-flight limit (20) and the envelope.
inline Options loopback_mqtt_options(std::uint16_t port, const std::string& device_id) {
  Options o;
  o.protocol = WireProtocol::mqtt;
  (void)o.add_endpoint("127.0.0.1", port);
  (void)o.set_device_id(device_id.c_str());
  o.heartbeat_interval_ms = 1000;
  o.read_timeout_ms = 3000;
  o.connect_timeout_ms = 3000;
  o.stable_after_ms = 1000;
  o.backoff.base_ms = 50;
  o.backoff.cap_ms = 500;
  o.max_in_flight = 20;  // mosquitto's default inflight limit
  o.mqtt.envelope = true;
  return o;
}

/// The bytes of a string, for payloads and topics.
inline ConstByteSpan text_span(const std::string& s) { return ConstByteSpan{s.data(), s.size()}; }

class MqttApplication {
 public:
  explicit MqttApplication(asio::io_context& io) : connection_(io) {}
  /// Over `stream` (e.g. a TlsStream), which must outlive the application.
  MqttApplication(asio::io_context& io, net::Stream& stream) : connection_(io, stream) {}

  /// CONNECT as `client_id` (clean session or not), then SUBSCRIBE to
  /// `filter` at QoS 1 unless it is empty. False on any failure (error()).
  bool connect(std::uint16_t port, const std::string& client_id, bool clean_session, const std::string& filter) {
    if (!connection_.connect(port)) return false;
    mqtt::Connect connect;
    connect.client_id = text_span(client_id);
    connect.clean_session = clean_session;
    connect.keepalive_s = 60;
    if (!connection_.send([&](ByteSpan out) { return mqtt::encode(connect, out); })) return false;
    const mqtt::Packet* p = connection_.receive();
    if (p == nullptr || p->type != mqtt::PacketType::connack) return false;
    return_code_ = p->connack.return_code;
    if (p->connack.return_code != mqtt::ConnectReturnCode::accepted) return false;
    session_present_ = p->connack.session_present;
    return filter.empty() || subscribe(filter);
  }

  /// SUBSCRIBE to `filter` at QoS 1; true when the SUBACK grants it (not
  /// 0x80: nats-server refuses when it cannot make the JetStream consumer,
  /// e.g. while a cluster elects leaders).
  bool subscribe(const std::string& filter) {
    const mqtt::TopicFilter f{text_span(filter), mqtt::Qos::at_least_once};
    if (!connection_.send([&](ByteSpan out) { return mqtt::encode(mqtt::Subscribe{1, &f, 1}, out); })) return false;
    const mqtt::Packet* p = connection_.receive();
    return p != nullptr && p->type == mqtt::PacketType::suback && p->suback.return_codes.size == 1 &&
           p->suback.return_codes[0] != 0x80;
  }

  /// PUBLISH at QoS 1 with identifier `id` and wait for its PUBACK.
  bool publish(const std::string& topic, const std::string& payload, std::uint16_t id) {
    mqtt::Publish publish;
    publish.topic = text_span(topic);
    publish.payload = text_span(payload);
    publish.qos = mqtt::Qos::at_least_once;
    publish.packet_id = id;
    if (!connection_.send([&](ByteSpan out) { return mqtt::encode(publish, out); })) return false;
    for (int i = 0; i < 1000; ++i) {  // a PUBLISH for us may come first: not expected, skipped
      const mqtt::Packet* p = connection_.receive();
      if (p == nullptr) return false;
      if (p->type == mqtt::PacketType::puback && p->packet_id == id) return true;
    }
    return false;
  }

  /// Waits at most `wait` for a packet, then hands every PUBLISH among the
  /// bytes read so far to `on_publish(const mqtt::Publish&)` and
  /// acknowledges the QoS 1 ones (after the call, in one write). False when
  /// the connection failed (error()); true on a quiet `wait`.
  template <typename OnPublish>
  bool read(std::chrono::milliseconds wait, OnPublish&& on_publish) {
    const mqtt::Packet* p = connection_.receive_within(wait, false);
    if (p == nullptr) return !connection_.error();
    for (int n = 0; p != nullptr && n < 100000; ++n) {
      if (p->type == mqtt::PacketType::publish) {
        on_publish(p->publish);
        if (p->publish.qos == mqtt::Qos::at_least_once) owed_.push_back(p->publish.packet_id);
        if (owed_.size() >= kPubacksPerWrite && !acknowledge()) return false;
      }
      p = connection_.receive_buffered();
    }
    if (connection_.error()) return false;
    return acknowledge();
  }

  /// The last CONNACK's return code.
  [[nodiscard]] mqtt::ConnectReturnCode return_code() const { return return_code_; }
  /// The CONNACK's session present flag.
  [[nodiscard]] bool session_present() const { return session_present_; }
  [[nodiscard]] std::error_code error() const { return connection_.error(); }
  void close() {
    owed_.clear();
    connection_.close();
  }
  /// The connection, for what this class does not cover.
  MqttTestConnection& connection() { return connection_; }

 private:
  // MqttTestConnection::send() encodes into 1 KiB: 4 bytes per PUBACK.
  static constexpr std::size_t kPubacksPerWrite = 200;

  bool acknowledge() {
    if (owed_.empty()) return true;
    const bool ok = connection_.send([&](ByteSpan out) {
      EncodeResult all;
      for (const std::uint16_t id : owed_) {
        const EncodeResult r = mqtt::encode_puback(id, ByteSpan{out.data + all.size, out.size - all.size});
        if (r.error) return r;
        all.size += r.size;
      }
      return all;
    });
    owed_.clear();
    return ok;
  }

  MqttTestConnection connection_;
  std::vector<std::uint16_t> owed_;
  bool session_present_ = false;
  mqtt::ConnectReturnCode return_code_ = mqtt::ConnectReturnCode::accepted;
};

}  // namespace uplink::test
