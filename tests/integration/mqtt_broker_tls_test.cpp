// SPDX-License-Identifier: Apache-2.0
// The MQTT 3.1.1 codec through the SDK's TlsStream to a mosquitto TLS
// listener started by the test (support/broker.hpp) with certificates made
// at test time (support/test_pki): the server verified by default, a server
// from another CA refused, and mutual TLS with the device's certificate.
//
// When mosquitto is not installed, each test prints "IGNORED: ..." and CTest
// reports it as skipped (scripts/setup test installs it).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "support/broker.hpp"
#include "support/mqtt_test_client.hpp"
#include "support/test_pki.hpp"
#include "uplink/codec/mqtt_encoder.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_stream.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::mqtt;
using test::BrokerKind;
using test::MqttTestConnection;

namespace {

// A client-side TLS stack: settings -> config -> engine -> stream.
struct TlsClient {
  tls::TlsConfig config;
  tls::TlsEngine engine;
  std::unique_ptr<tls::TlsStream> stream;

  // Trusts `ca`; presents `credential` when not null (mutual TLS).
  TlsClient(const test::TestCredential& ca, const test::TestCredential* credential) {
    tls::TlsSettings s;
    s.ca = tls::Credential::pem(ca.certificate_pem);
    if (credential != nullptr) {
      s.certificate = tls::Credential::pem(credential->certificate_pem);
      s.private_key = tls::Credential::pem(credential->key_pem);
    }
    CHECK(!config.init(s));
    CHECK(!engine.setup(config, "localhost"));
    stream = std::make_unique<tls::TlsStream>(engine);
  }
};

const Packet* connect(MqttTestConnection& c, std::uint16_t port, const std::string& client_id) {
  if (!c.connect(port)) return nullptr;
  Connect connect;
  connect.client_id = ConstByteSpan{client_id.data(), client_id.size()};
  connect.clean_session = true;
  connect.keepalive_s = 30;
  if (!c.send([&](ByteSpan out) { return encode(connect, out); })) return nullptr;
  return c.receive();
}

// CONNECT -> CONNACK, PUBLISH QoS 1 -> PUBACK, PINGREQ -> PINGRESP over `stream`.
void exchange(asio::io_context& io, net::Stream& stream, std::uint16_t port) {
  MqttTestConnection device(io, stream);
  const Packet* p = connect(device, port, "uplink-tls-" + std::to_string(::getpid()));
  CHECK_TEXT(p != nullptr && p->type == PacketType::connack, device.error().message().c_str());
  CHECK(p->connack.return_code == ConnectReturnCode::accepted);
  Publish message;
  message.topic = literal_bytes("devices/uplink-tls/up");
  message.qos = Qos::at_least_once;
  message.packet_id = 42;
  message.payload = literal_bytes("over TLS");
  CHECK(device.send([&](ByteSpan out) { return encode(message, out); }));
  p = device.receive();
  CHECK_TEXT(p != nullptr && p->type == PacketType::puback, device.error().message().c_str());
  CHECK_EQUAL(42, p->packet_id);
  CHECK(device.send([](ByteSpan out) { return encode_pingreq(out); }));
  p = device.receive();
  CHECK_TEXT(p != nullptr && p->type == PacketType::pingresp, device.error().message().c_str());
  CHECK(device.send([](ByteSpan out) { return encode_disconnect(out); }));
}

bool skipped(const test::Broker& broker) {
  if (broker.installed()) return false;
  std::printf("\n  IGNORED: mosquitto is not installed (scripts/setup test installs it): TLS was not checked\n");
  return true;
}

}  // namespace

// The broker belongs to the group, so that teardown() stops it even when a
// failed check leaves the test early.
TEST_GROUP(MqttMosquittoTls) {
  test::Broker broker{BrokerKind::mosquitto};
  asio::io_context io;
  void teardown() override { broker.stop(); }

  void start(bool require_client_certificate) {
    const test::TestPki& pki = test::test_pki();
    broker.enable_tls(pki.ca.certificate_pem, pki.server.certificate_pem, pki.server.key_pem,
                      require_client_certificate);
    CHECK_BROKER(broker.start(), broker);
  }
};

TEST(MqttMosquittoTls, TheCodecSpeaksThroughTlsStreamToAVerifiedListener) {
  if (skipped(broker)) return;
  start(false);
  TlsClient client(test::test_pki().ca, nullptr);
  exchange(io, *client.stream, broker.port());
}

TEST(MqttMosquittoTls, AListenerWhoseCertificateIsFromAnotherCaIsRefused) {
  if (skipped(broker)) return;
  start(false);
  TlsClient client(test::test_pki().other_ca, nullptr);
  MqttTestConnection device(io, *client.stream);
  CHECK_FALSE(device.connect(broker.port()));
  CHECK(static_cast<bool>(device.error()));
  CHECK(device.error() != std::make_error_code(std::errc::timed_out));
}

TEST(MqttMosquittoTls, MutualTlsAcceptsTheDeviceCertificateAndRefusesNone) {
  if (skipped(broker)) return;
  start(true);
  TlsClient with_certificate(test::test_pki().ca, &test::test_pki().client);
  exchange(io, *with_certificate.stream, broker.port());

  // Without a certificate, the broker ends the handshake (or the connection
  // right after it, under TLS 1.3): no CONNACK either way.
  TlsClient without(test::test_pki().ca, nullptr);
  MqttTestConnection device(io, *without.stream);
  const Packet* p = connect(device, broker.port(), "uplink-tls-anonymous");
  CHECK(p == nullptr);
  CHECK(static_cast<bool>(device.error()));
}
