// SPDX-License-Identifier: Apache-2.0
// The client over MQTT 3.1.1 through the SDK's TLS transport (use_stream()
// with a TlsStream) to a mosquitto TLS listener started by the test
// (Broker::enable_tls(), certificates made at test time by
// support/test_pki), with server verification on: messages up and down
// reach the application (itself over TLS: the listener is the broker's only
// one), and a broker whose certificate comes from another CA is refused at
// the handshake with the TLS reason, never online.
//
// When mosquitto is not installed, each test prints "IGNORED: ..." and CTest
// reports it as skipped (scripts/setup test installs it).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "support/broker.hpp"
#include "support/link_fakes.hpp"
#include "support/mqtt_application.hpp"
#include "support/run_until.hpp"
#include "support/test_pki.hpp"
#include "uplink/client.hpp"
#include "uplink/codec/mqtt_envelope.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_error.hpp"
#include "uplink/tls/tls_stream.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using test::BrokerKind;
using test::MqttApplication;
using test::text_span;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kLimit{10000};

// A client-side TLS stack that trusts `ca_pem` and checks the name "localhost".
struct TlsClientSide {
  tls::TlsConfig config;
  tls::TlsEngine engine;
  std::unique_ptr<tls::TlsStream> stream;

  explicit TlsClientSide(const char* ca_pem) {
    tls::TlsSettings s;
    s.ca = tls::Credential::pem(ca_pem);
    CHECK(!config.init(s));
    CHECK(!engine.setup(config, "localhost"));
    stream = std::make_unique<tls::TlsStream>(engine);
  }
};

}  // namespace

// The broker belongs to the group, so that teardown() stops it even when a
// failed check leaves the test early; the client is stopped there too.
TEST_GROUP(MqttClientTls) {
  test::Broker broker{BrokerKind::mosquitto};
  asio::io_context io;
  test::RecordingListener listener;
  test::ScriptedRandom random{0x80000000u};
  std::unique_ptr<TlsClientSide> device_tls;  // outlives the client (teardown)
  std::unique_ptr<Client> client;
  const std::string id = "uplink-tls-client-" + std::to_string(::getpid());

  void setup() override { client = std::make_unique<Client>(io, listener, random); }
  void teardown() override {
    client->stop();
    CHECK(test::run_until(io, [&] { return client->quiescent(); }, kLimit));
    client.reset();
    device_tls.reset();
    broker.stop();
  }
  bool skipped() {
    if (broker.installed()) return false;
    std::printf("\n  IGNORED: mosquitto is not installed (scripts/setup test installs it): not checked\n");
    return true;
  }
  void start_broker() {
    const test::TestPki& pki = test::test_pki();
    broker.enable_tls(pki.ca.certificate_pem, pki.server.certificate_pem, pki.server.key_pem, false);
    CHECK_BROKER(broker.start(), broker);
  }
};

TEST(MqttClientTls, TheClientSpeaksMqttThroughTlsToAVerifiedBroker) {
  if (skipped()) return;
  start_broker();
  TlsClientSide application_tls(test::test_pki().ca.certificate_pem);
  MqttApplication app(io, *application_tls.stream);
  CHECK_TEXT(app.connect(broker.port(), id + "-app", true, "devices/" + id + "/up"), app.error().message().c_str());

  device_tls = std::make_unique<TlsClientSide>(test::test_pki().ca.certificate_pem);
  client->use_stream(*device_tls->stream);
  CHECK(static_cast<bool>(client->start(test::loopback_mqtt_options(broker.port(), id))));
  CHECK_TEXT(test::run_until(io, [&] { return !listener.online.empty(); }, kLimit), "never online");
  CHECK(listener.connect_failures.empty());
  CHECK(test::run_until(io, [&] { return !listener.heartbeats.empty(); }, kLimit));  // subscribed by now

  constexpr std::uint64_t kMessages = 100;
  for (std::uint64_t i = 1; i <= kMessages; ++i) CHECK(!client->send(text_span("over TLS " + std::to_string(i))));
  std::uint64_t next = 1;
  for (int i = 0; i < 1000 && next <= kMessages; ++i) {
    CHECK_TEXT(app.read(milliseconds(50),
                        [&](const mqtt::Publish& p) {
                          mqtt::Enveloped e;
                          CHECK(!mqtt::decode_envelope(p.payload, e));
                          CHECK_EQUAL(next, e.seq);
                          CHECK(equal_bytes(text_span("over TLS " + std::to_string(next)), e.payload));
                          ++next;
                        }),
               app.error().message().c_str());
  }
  CHECK_EQUAL(kMessages + 1, next);
  CHECK(test::run_until_prompt(io, [&] { return listener.acks.size() == kMessages; }, kLimit));
  CHECK(app.publish("devices/" + id + "/down", "down over TLS", 1));
  CHECK(test::run_until_prompt(io, [&] { return !listener.messages.empty(); }, kLimit));
  STRCMP_EQUAL("down over TLS", listener.messages.at(0).payload.c_str());
  app.close();
}

TEST(MqttClientTls, ABrokerWhoseCertificateIsFromAnotherCaIsRefusedWithTheTlsError) {
  if (skipped()) return;
  start_broker();
  device_tls = std::make_unique<TlsClientSide>(test::test_pki().other_ca.certificate_pem);
  client->use_stream(*device_tls->stream);
  CHECK(static_cast<bool>(client->start(test::loopback_mqtt_options(broker.port(), id))));
  CHECK(test::run_until(io, [&] { return !listener.connect_failures.empty(); }, kLimit));
  CHECK_TEXT(listener.connect_failures[0].reason == make_error_code(tls::TlsErrc::unknown_ca),
             listener.connect_failures[0].reason.message().c_str());
  CHECK(listener.online.empty());
}
