// Zero heap allocations after warm-up: a connected client exchanges
// thousands of frames, heartbeats and several reconnects while every
// allocation made on its thread is counted. The server runs on its own
// thread and io_context, so its (allowed) allocations are not counted.
#include "uplink/net/asio.hpp"

#include <memory>
#include <string>

#include "support/alloc_client.hpp"
#include "support/alloc_counter.hpp"
#include "support/scripted_server.hpp"
#include "uplink/client.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using test::run_until_done;

TEST_GROUP(ClientAllocations) {
  test::ServerThread server_thread;
  std::unique_ptr<test::ScriptedServer> server;

  void setup() override {
    server = std::make_unique<test::ScriptedServer>(server_thread.io);
    server_thread.start();
  }
  void teardown() override {
    server_thread.finish([this] { server.reset(); });
  }
  // Drops every live connection, on the server's own thread.
  void drop_connections() {
    asio::post(server_thread.io, [this] { server->close_all(); });
  }
};

TEST(ClientAllocations, ConnectedClientDoesNotAllocateAcrossFramesHeartbeatsAndReconnects) {
  asio::io_context io(1);
  test::CountingListener listener;
  test::FixedRandom random;
  Client client(io, listener, random);
  Options o;
  CHECK(!o.add_endpoint("127.0.0.1", server->port()));  // numeric: no resolver
  CHECK(!o.set_device_id("alloc-test"));
  o.heartbeat_interval_ms = 20;
  o.read_timeout_ms = 500;
  o.backoff.base_ms = 1;
  o.backoff.cap_ms = 5;
  CHECK(static_cast<bool>(client.start(o)));

  const std::string payload(64, 'm');
  const ConstByteSpan message{payload.data(), payload.size()};
  std::uint64_t sent = 0;
  // One phase: online, then many messages and heartbeats, then a drop and a
  // reconnect. No assertion inside (CppUTest's checks allocate their
  // messages): failures are collected and asserted after counting stops.
  bool all_ok = true;
  const auto phase = [&](std::uint64_t messages) {
    all_ok &= run_until_done(io, [&] { return listener.is_online(); }, 5000);
    all_ok &= test::exchange_traffic(io, client, listener, message, messages, sent, 3);
    test::AllocCounter::stop();  // the post below is the test's allocation, made on this thread
    drop_connections();
    test::AllocCounter::start();
    const std::uint64_t gone = listener.disconnects;
    all_ok &= run_until_done(io, [&] { return listener.disconnects > gone; }, 5000);
  };

  phase(200);  // warm-up: Asio's reactor and descriptor pools, first connection
  phase(200);
  test::AllocCounter::reset();
  test::AllocCounter::start();
  for (int cycle = 0; cycle < 4; ++cycle) phase(1000);
  test::AllocCounter::stop();
  const std::size_t allocations = test::AllocCounter::count();

  client.stop();
  run_until_done(io, [&] { return client.quiescent(); }, 2000);
  CHECK_TEXT(all_ok, "a phase timed out: not online, not acknowledged, no heartbeats or no disconnect");
  UNSIGNED_LONGLONGS_EQUAL(sent, listener.acked.load());
  CHECK(sent >= 4400);
  CHECK(listener.heartbeats >= 12);
  UNSIGNED_LONGS_EQUAL_TEXT(0, allocations, "heap allocations after warm-up");
  UNSIGNED_LONGS_EQUAL_TEXT(0, client.handler_heap_fallbacks(), "handler memory misses");
}
