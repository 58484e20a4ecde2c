// SPDX-License-Identifier: Apache-2.0
// Zero heap allocations after warm-up over MQTT: the client speaks MQTT 3.1.1
// to a mosquitto started by the test (another process: its allocations are
// not counted), through the fault proxy, and after two warm-up phases
// exchanges messages, heartbeats (PINGREQ/PINGRESP), downlink PUBLISHes
// (PUBACKed after delivery) and reconnects (the proxy resets the link)
// while every allocation made on its thread is counted. The proxy and the
// application publishing the downlink run on a thread of their own
// (support/alloc_client.hpp's ServerThread), so theirs are not counted
// either.
#include "uplink/net/asio.hpp"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "fault_proxy.hpp"
#include "support/alloc_client.hpp"
#include "support/alloc_counter.hpp"
#include "support/broker.hpp"
#include "support/mqtt_application.hpp"
#include "uplink/client.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using test::run_until_done;

namespace {

// The downlink, published by the application on the server thread: a
// connection of its own on an io_context of its own, made and ended there.
// Returns how many were acknowledged by the broker.
int publish_downlink(std::uint16_t broker_port, const std::string& topic, int count, int first) {
  asio::io_context io;
  test::MqttApplication app(io);
  int published = 0;
  if (app.connect(broker_port, topic + "-app", true, "")) {
    for (int i = 0; i < count; ++i) {
      const std::string payload = "down " + std::to_string(first + i);
      if (!app.publish(topic, payload, static_cast<std::uint16_t>(i + 1))) break;
      ++published;
    }
  }
  app.close();
  return published;
}

}  // namespace

TEST_GROUP(MqttClientAllocations) {
  test::Broker broker{test::BrokerKind::mosquitto};
  test::ServerThread server_thread;
  std::unique_ptr<tools::FaultProxy> proxy;
  asio::io_context io{1};
  test::CountingListener listener;
  test::FixedRandom random;
  std::uint64_t sent = 0;
  std::string device_id = "alloc-mqtt-" + std::to_string(::getpid());
  std::atomic<int> downlink_published{0};
  bool started = false;
  const std::string payload = std::string(64, 'm');  // made before counting

  void setup() override {
    if (!broker.installed()) return;
    started = broker.start();
    proxy = std::make_unique<tools::FaultProxy>(
        server_thread.io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), broker.port()));
    server_thread.start();
  }
  void teardown() override {
    if (proxy) server_thread.finish([this] { proxy.reset(); });
    broker.stop();
  }
  Options options() {
    Options o;
    o.protocol = WireProtocol::mqtt;
    CHECK(!o.add_endpoint("127.0.0.1", proxy->port()));  // numeric: no resolver
    CHECK(!o.set_device_id(device_id.c_str()));
    o.heartbeat_interval_ms = 20;
    o.read_timeout_ms = 500;
    o.backoff.base_ms = 1;
    o.backoff.cap_ms = 5;
    o.max_in_flight = 20;  // mosquitto's inflight limit
    o.mqtt.envelope = true;
    return o;
  }
  // Posts `f` to the server thread; the post's own allocation is the
  // test's, made with the counter stopped.
  template <typename F>
  void on_server_thread(F f) {
    test::AllocCounter::stop();
    asio::post(server_thread.io, std::move(f));
    test::AllocCounter::start();
  }

  // A phase: online, downlink published (on the server thread) and
  // delivered, `messages` acknowledged and 3 heartbeats, then the link
  // reset and the disconnect seen. No assertion while counting (CppUTest's
  // checks allocate their messages): failures are collected.
  void phase(Client& client, std::uint64_t messages, int downlink, bool& all_ok) {
    const ConstByteSpan message{payload.data(), payload.size()};
    all_ok &= run_until_done(io, [&] { return listener.is_online(); }, 5000);
    const std::uint64_t received = client.counters().messages_received;
    const std::uint16_t port = broker.port();
    const int first = static_cast<int>(received) + 1;
    on_server_thread([this, port, downlink, first] {
      downlink_published += publish_downlink(port, "devices/" + device_id + "/down", downlink, first);
    });
    all_ok &= test::exchange_traffic(io, client, listener, message, messages, sent, 3);
    all_ok &= run_until_done(
        io, [&] { return client.counters().messages_received >= received + static_cast<std::uint64_t>(downlink); },
        5000);
    on_server_thread([this] { proxy->reset_all(); });
    const std::uint64_t gone = listener.disconnects;
    all_ok &= run_until_done(io, [&] { return listener.disconnects > gone; }, 5000);
  }
};

TEST(MqttClientAllocations, ClientOverMqttDoesNotAllocateAcrossMessagesHeartbeatsDownlinkAndReconnects) {
  if (!broker.installed()) {
    std::printf("\n  IGNORED: mosquitto is not installed (scripts/setup test installs it): not checked\n");
    return;
  }
  CHECK_TEXT(started, broker.why().c_str());
  Client client(io, listener, random);
  CHECK(static_cast<bool>(client.start(options())));
  bool all_ok = true;
  // Two warm-up phases (Asio's reactor and descriptor pools, the first
  // connection and subscription), then four counted ones.
  phase(client, 200, 20, all_ok);
  phase(client, 200, 20, all_ok);
  test::AllocCounter::reset();
  test::AllocCounter::start();
  for (int cycle = 0; cycle < 4; ++cycle) phase(client, 500, 50, all_ok);
  test::AllocCounter::stop();
  const std::size_t allocations = test::AllocCounter::count();
  const Counters c = client.counters();
  client.stop();
  run_until_done(io, [&] { return client.quiescent(); }, 2000);
  std::printf("\n  %llu messages, %llu downlink, %llu heartbeats, %llu connections: %zu allocations\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(c.messages_received),
              static_cast<unsigned long long>(listener.heartbeats.load()),
              static_cast<unsigned long long>(c.connects), allocations);
  CHECK_TEXT(all_ok, "a phase timed out: not online, not acknowledged, no heartbeats, no downlink or no disconnect");
  UNSIGNED_LONGLONGS_EQUAL(sent, listener.acked.load());
  CHECK(sent >= 2400);
  CHECK_EQUAL(240, downlink_published.load());
  CHECK(c.messages_received >= 240);
  CHECK(listener.heartbeats >= 18);
  CHECK(c.connects >= 6);
  UNSIGNED_LONGS_EQUAL_TEXT(0, allocations, "heap allocations after warm-up, over MQTT");
  UNSIGNED_LONGS_EQUAL_TEXT(0, client.handler_heap_fallbacks(), "handler memory misses");
}
