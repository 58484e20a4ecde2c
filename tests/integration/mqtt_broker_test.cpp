// SPDX-License-Identifier: Apache-2.0
// The MQTT 3.1.1 codec against real brokers on loopback: mosquitto and
// nats-server's MQTT gateway, each started by the test on a free port with
// its own configuration (support/broker.hpp). A device connection and a
// second one that plays the application: CONNECT -> CONNACK, SUBSCRIBE ->
// SUBACK, PUBLISH QoS 1 -> PUBACK, a PUBLISH received on the subscribed
// topic (and acknowledged), PINGREQ -> PINGRESP, and a persistent session
// found again (CONNACK session present) after DISCONNECT; then the same
// session and a message queued for it found again after the broker went
// down and came back on its state directory.
//
// When a broker is not installed, its test prints "IGNORED: ..." and CTest
// reports it as skipped (scripts/setup test installs both).
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "support/broker.hpp"
#include "support/mqtt_test_client.hpp"
#include "uplink/codec/mqtt_encoder.hpp"
#include "uplink/codec/mqtt_error.hpp"
#include "uplink/codec/mqtt_topic.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::mqtt;
using test::BrokerKind;
using test::MqttTestConnection;

namespace {

ConstByteSpan bytes_of(const std::string& s) { return ConstByteSpan{s.data(), s.size()}; }

// CONNECT with a persistent session (as the device profile will send it);
// returns the CONNACK or null.
const Packet* connect(MqttTestConnection& c, std::uint16_t port, const std::string& client_id, bool clean) {
  if (!c.connect(port)) return nullptr;
  Connect connect;
  connect.client_id = bytes_of(client_id);
  connect.clean_session = clean;
  connect.keepalive_s = 30;
  if (!c.send([&](ByteSpan out) { return encode(connect, out); })) return nullptr;
  return c.receive();
}

void run_exchange(test::Broker& broker) {
  const BrokerKind kind = broker.kind();
  if (!broker.installed()) {
    std::printf("\n  IGNORED: %s is not installed (scripts/setup test installs it): the MQTT exchange was not checked\n",
                test::broker_name(kind));
    return;
  }
  CHECK_BROKER(broker.start(), broker);

  asio::io_context io;
  const std::string device_id = "uplink-test-" + std::to_string(::getpid());
  char up[128];
  char down[128];
  const EncodeResult up_size =
      expand_topic(literal_bytes(kDefaultUplinkTopic), bytes_of(device_id), ByteSpan{reinterpret_cast<std::uint8_t*>(up), sizeof up});
  const EncodeResult down_size = expand_topic(literal_bytes(kDefaultDownlinkTopic), bytes_of(device_id),
                                              ByteSpan{reinterpret_cast<std::uint8_t*>(down), sizeof down});
  CHECK_FALSE(up_size.error || down_size.error);
  const ConstByteSpan up_topic{up, up_size.size};
  const ConstByteSpan down_topic{down, down_size.size};

  // The device: a persistent session (clean session 0), a fresh one at first.
  MqttTestConnection device(io);
  const Packet* p = connect(device, broker.port(), device_id, false);
  CHECK_TEXT(p != nullptr, device.error().message().c_str());
  CHECK(p->type == PacketType::connack);
  CHECK(p->connack.return_code == ConnectReturnCode::accepted);

  // SUBSCRIBE to the downlink topic at QoS 1 -> SUBACK granting QoS 1.
  const TopicFilter filter{down_topic, Qos::at_least_once};
  CHECK(device.send([&](ByteSpan out) { return encode(Subscribe{7, &filter, 1}, out); }));
  p = device.receive();
  CHECK_TEXT(p != nullptr, device.error().message().c_str());
  CHECK(p->type == PacketType::suback);
  CHECK_EQUAL(7, p->packet_id);
  CHECK_EQUAL(1u, p->suback.return_codes.size);
  CHECK_EQUAL(0x01, p->suback.return_codes[0]);

  // PUBLISH QoS 1 to the uplink topic -> PUBACK with its packet id.
  Publish uplink_message;
  uplink_message.topic = up_topic;
  uplink_message.qos = Qos::at_least_once;
  uplink_message.packet_id = 65535;
  uplink_message.payload = literal_bytes("temperature=21.5");
  CHECK(device.send([&](ByteSpan out) { return encode(uplink_message, out); }));
  p = device.receive();
  CHECK_TEXT(p != nullptr, device.error().message().c_str());
  CHECK(p->type == PacketType::puback);
  CHECK_EQUAL(65535, p->packet_id);

  // The application publishes on the device's downlink topic at QoS 1.
  MqttTestConnection application(io);
  p = connect(application, broker.port(), device_id + "-app", true);
  CHECK_TEXT(p != nullptr, application.error().message().c_str());
  CHECK(p->connack.return_code == ConnectReturnCode::accepted);
  Publish command;
  command.topic = down_topic;
  command.qos = Qos::at_least_once;
  command.packet_id = 1;
  command.payload = literal_bytes("reboot");
  CHECK(application.send([&](ByteSpan out) { return encode(command, out); }));
  p = application.receive();
  CHECK_TEXT(p != nullptr, application.error().message().c_str());
  CHECK(p->type == PacketType::puback);

  // The device receives it at QoS 1 and acknowledges it.
  p = device.receive();
  CHECK_TEXT(p != nullptr, device.error().message().c_str());
  CHECK(p->type == PacketType::publish);
  CHECK(equal_bytes(down_topic, p->publish.topic));
  CHECK(equal_bytes(literal_bytes("reboot"), p->publish.payload));
  CHECK(p->publish.qos == Qos::at_least_once);
  CHECK(p->publish.packet_id != 0);
  const std::uint16_t received_id = p->publish.packet_id;
  CHECK(device.send([&](ByteSpan out) { return encode_puback(received_id, out); }));

  // PINGREQ -> PINGRESP.
  CHECK(device.send([](ByteSpan out) { return encode_pingreq(out); }));
  p = device.receive();
  CHECK_TEXT(p != nullptr, device.error().message().c_str());
  CHECK(p->type == PacketType::pingresp);

  // DISCONNECT, then the same client id again: the broker kept the session.
  CHECK(device.send([](ByteSpan out) { return encode_disconnect(out); }));
  device.close();
  MqttTestConnection again(io);
  p = connect(again, broker.port(), device_id, false);
  CHECK_TEXT(p != nullptr, again.error().message().c_str());
  CHECK(p->connack.return_code == ConnectReturnCode::accepted);
  CHECK(p->connack.session_present);
  CHECK(again.send([](ByteSpan out) { return encode_disconnect(out); }));
  again.close();
  application.close();
  broker.stop();
}

// A device session (clean session 0) subscribed to its downlink topic, then
// offline; the application publishes at QoS 1 meanwhile; the broker shuts
// down (SIGTERM) and comes back on its state directory: the device finds its
// session and receives the message. (Not SIGKILL: nats-server 2.9.10
// acknowledges a QoS 1 PUBLISH before its file store has written it, so a
// SIGKILL right after the PUBACK loses it now and then; docs/MQTT.md.)
void run_restart(test::Broker& broker) {
  if (!broker.installed()) {
    std::printf("\n  IGNORED: %s is not installed (scripts/setup test installs it): the restart was not checked\n",
                test::broker_name(broker.kind()));
    return;
  }
  CHECK_BROKER(broker.start(), broker);
  asio::io_context io;
  const std::string device_id = "uplink-restart-" + std::to_string(::getpid());
  char down[128];
  const EncodeResult down_size = expand_topic(literal_bytes(kDefaultDownlinkTopic), bytes_of(device_id),
                                              ByteSpan{reinterpret_cast<std::uint8_t*>(down), sizeof down});
  CHECK_FALSE(down_size.error);
  const ConstByteSpan down_topic{down, down_size.size};

  {
    MqttTestConnection device(io);
    const Packet* p = connect(device, broker.port(), device_id, false);
    CHECK_TEXT(p != nullptr && p->type == PacketType::connack, device.error().message().c_str());
    const TopicFilter filter{down_topic, Qos::at_least_once};
    CHECK(device.send([&](ByteSpan out) { return encode(Subscribe{1, &filter, 1}, out); }));
    p = device.receive();
    CHECK_TEXT(p != nullptr && p->type == PacketType::suback, device.error().message().c_str());
    CHECK(device.send([](ByteSpan out) { return encode_disconnect(out); }));
    device.close();
  }
  {
    MqttTestConnection application(io);
    const Packet* p = connect(application, broker.port(), device_id + "-app", true);
    CHECK_TEXT(p != nullptr && p->type == PacketType::connack, application.error().message().c_str());
    Publish command;
    command.topic = down_topic;
    command.qos = Qos::at_least_once;
    command.packet_id = 9;
    command.payload = literal_bytes("while-offline");
    CHECK(application.send([&](ByteSpan out) { return encode(command, out); }));
    p = application.receive();
    CHECK_TEXT(p != nullptr && p->type == PacketType::puback, application.error().message().c_str());
    CHECK(application.send([](ByteSpan out) { return encode_disconnect(out); }));
    application.close();
  }

  broker.terminate();
  CHECK_BROKER(broker.restart(), broker);

  MqttTestConnection device(io);
  const Packet* p = connect(device, broker.port(), device_id, false);
  CHECK_TEXT(p != nullptr && p->type == PacketType::connack, device.error().message().c_str());
  CHECK(p->connack.return_code == ConnectReturnCode::accepted);
  CHECK(p->connack.session_present);
  p = device.receive();
  CHECK_TEXT(p != nullptr, device.error().message().c_str());
  CHECK(p->type == PacketType::publish);
  CHECK(equal_bytes(literal_bytes("while-offline"), p->publish.payload));
  CHECK(p->publish.qos == Qos::at_least_once);
  const std::uint16_t id = p->publish.packet_id;
  CHECK(device.send([&](ByteSpan out) { return encode_puback(id, out); }));
  CHECK(device.send([](ByteSpan out) { return encode_disconnect(out); }));
  device.close();
  broker.stop();
}

// CONNECT with a user name and password; returns the CONNACK or null.
const Packet* connect_as(MqttTestConnection& c, std::uint16_t port, const std::string& client_id,
                         const char* user, const char* password) {
  if (!c.connect(port)) return nullptr;
  Connect connect;
  connect.client_id = bytes_of(client_id);
  connect.clean_session = true;
  connect.keepalive_s = 30;
  connect.has_username = user != nullptr;
  connect.username = user != nullptr ? ConstByteSpan{user, std::strlen(user)} : ConstByteSpan{};
  connect.has_password = password != nullptr;
  connect.password = password != nullptr ? ConstByteSpan{password, std::strlen(password)} : ConstByteSpan{};
  if (!c.send([&](ByteSpan out) { return encode(connect, out); })) return nullptr;
  return c.receive();
}

// A broker that requires a password accepts the right one and refuses a
// wrong one and none with CONNACK 4 or 5: what the profile reports as
// unauthorized.
void run_password(test::Broker& broker) {
  if (!broker.installed()) {
    std::printf("\n  IGNORED: %s is not installed (scripts/setup test installs it): passwords were not checked\n",
                test::broker_name(broker.kind()));
    return;
  }
  broker.require_password("device", "s3cret");
  CHECK_BROKER(broker.start(), broker);
  asio::io_context io;
  const std::string id = "uplink-auth-" + std::to_string(::getpid());

  MqttTestConnection good(io);
  const Packet* p = connect_as(good, broker.port(), id, "device", "s3cret");
  CHECK_TEXT(p != nullptr && p->type == PacketType::connack, good.error().message().c_str());
  CHECK(p->connack.return_code == ConnectReturnCode::accepted);
  CHECK_FALSE(connack_error(p->connack.return_code));
  good.close();

  struct Attempt {
    const char* user;
    const char* password;
  };
  for (const Attempt& a : {Attempt{"device", "wrong"}, Attempt{nullptr, nullptr}, Attempt{"nobody", "s3cret"}}) {
    MqttTestConnection bad(io);
    p = connect_as(bad, broker.port(), id + "-bad", a.user, a.password);
    CHECK_TEXT(p != nullptr && p->type == PacketType::connack, bad.error().message().c_str());
    const std::error_code refused = connack_error(p->connack.return_code);
    CHECK_TEXT(refused == Errc::bad_username_or_password || refused == Errc::not_authorized, refused.message().c_str());
    CHECK_FALSE(p->connack.session_present);
    bad.close();
  }
  broker.stop();
}

}  // namespace

// The broker belongs to the group, so that teardown() stops it even when a
// failed check leaves the test early.
TEST_GROUP(MqttMosquitto) {
  test::Broker broker{BrokerKind::mosquitto};
  void teardown() override { broker.stop(); }
};

TEST(MqttMosquitto, ConnectSubscribePublishReceivePingAndResumeTheSession) { run_exchange(broker); }

// mosquitto saves its state on an orderly shutdown (and every autosave
// interval): a message queued for an offline session survives a restart.
TEST(MqttMosquitto, AQueuedMessageSurvivesARestartOnTheStateDirectory) { run_restart(broker); }

TEST(MqttMosquitto, APasswordFileRefusesWrongCredentialsAsUnauthorized) { run_password(broker); }

TEST(MqttMosquitto, ABrokerKilledWithSigkillListensAgainOnItsPort) {
  if (!broker.installed()) {
    std::printf("\n  IGNORED: mosquitto is not installed (scripts/setup test installs it)\n");
    return;
  }
  CHECK_BROKER(broker.start(), broker);
  const std::uint16_t port = broker.port();
  const pid_t first = broker.pid();
  broker.kill();
  CHECK_EQUAL(-1, broker.pid());
  CHECK_BROKER(broker.restart(), broker);
  CHECK_EQUAL(port, broker.port());
  CHECK(broker.pid() != first);
  asio::io_context io;
  MqttTestConnection device(io);
  const Packet* p = connect(device, broker.port(), "uplink-killed-" + std::to_string(::getpid()), true);
  CHECK_TEXT(p != nullptr && p->type == PacketType::connack, device.error().message().c_str());
  CHECK(p->connack.return_code == ConnectReturnCode::accepted);
  device.close();
}

TEST_GROUP(MqttNats) {
  test::Broker broker{BrokerKind::nats};
  void teardown() override { broker.stop(); }
};

TEST(MqttNats, ConnectSubscribePublishReceivePingAndResumeTheSession) { run_exchange(broker); }

// NATS keeps MQTT sessions and QoS 1 messages in JetStream's file store: a
// message queued for an offline session survives a restart.
TEST(MqttNats, AQueuedMessageSurvivesARestartOnTheStateDirectory) { run_restart(broker); }

TEST(MqttNats, AnAuthorizationBlockRefusesWrongCredentialsAsUnauthorized) { run_password(broker); }
