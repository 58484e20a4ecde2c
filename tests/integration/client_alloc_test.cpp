// Zero heap allocations after warm-up: a connected client exchanges
// thousands of frames, heartbeats and several reconnects while every
// allocation made on its thread is counted. The server runs on its own
// thread and io_context, so its (allowed) allocations are not counted.
#include "uplink/net/asio.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "support/alloc_counter.hpp"
#include "support/scripted_server.hpp"
#include "uplink/client.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

namespace {

using Clock = std::chrono::steady_clock;

// A listener that only counts: the application side must not allocate
// either, or the measurement would blame the SDK for it.
class CountingListener final : public Listener {
 public:
  void on_online(const OnlineInfo&) override { ++online; }
  void on_disconnected(const DisconnectInfo&) override { ++disconnects; }
  void on_acked(std::uint64_t seq) override { acked = seq; }
  void on_heartbeat(std::uint32_t) override { ++heartbeats; }
  std::atomic<std::uint64_t> online{0}, disconnects{0}, acked{0}, heartbeats{0};
};

class FixedRandom final : public RandomSource {
 public:
  std::uint32_t next_u32() override { return 0x10000000u; }
};

// Runs `io` until `done()` or the limit; no allocation of its own.
template <typename Done>
bool run_until(asio::io_context& io, Done done, std::uint64_t limit_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(limit_ms);
  while (!done() && Clock::now() < deadline) io.run_for(std::chrono::milliseconds(5));
  return done();
}

}  // namespace

TEST_GROUP(ClientAllocations) {
  asio::io_context server_io;
  std::unique_ptr<test::ScriptedServer> server;
  std::thread server_thread;
  asio::executor_work_guard<asio::io_context::executor_type> server_work{server_io.get_executor()};

  void setup() override {
    server = std::make_unique<test::ScriptedServer>(server_io);
    server_thread = std::thread([this] { server_io.run(); });
  }
  void teardown() override {
    asio::post(server_io, [this] { server.reset(); });
    server_work.reset();
    server_thread.join();
  }
  // Drops every live connection, on the server's own thread.
  void drop_connections() {
    asio::post(server_io, [this] { server->close_all(); });
  }
};

TEST(ClientAllocations, ConnectedClientDoesNotAllocateAcrossFramesHeartbeatsAndReconnects) {
  asio::io_context io(1);
  CountingListener listener;
  FixedRandom random;
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
    // Online means one more connection than disconnects.
    all_ok &= run_until(io, [&] { return listener.online > listener.disconnects; }, 5000);
    for (std::uint64_t i = 0; i < messages; ++i) {
      while (client.send(message)) io.run_for(std::chrono::milliseconds(1));  // queue full: let it drain
      ++sent;
      if (i % 64 == 0) io.poll();
    }
    all_ok &= run_until(io, [&] { return listener.acked >= sent; }, 5000);
    const std::uint64_t beats = listener.heartbeats;
    all_ok &= run_until(io, [&] { return listener.heartbeats >= beats + 3; }, 5000);
    test::AllocCounter::stop();  // the post below is the test's allocation, made on this thread
    drop_connections();
    test::AllocCounter::start();
    const std::uint64_t gone = listener.disconnects;
    all_ok &= run_until(io, [&] { return listener.disconnects > gone; }, 5000);
  };

  phase(200);  // warm-up: Asio's reactor and descriptor pools, first connection
  phase(200);
  test::AllocCounter::reset();
  test::AllocCounter::start();
  for (int cycle = 0; cycle < 4; ++cycle) phase(1000);
  test::AllocCounter::stop();
  const std::size_t allocations = test::AllocCounter::count();

  client.stop();
  run_until(io, [&] { return client.quiescent(); }, 2000);
  CHECK_TEXT(all_ok, "a phase timed out: not online, not acknowledged, no heartbeats or no disconnect");
  UNSIGNED_LONGLONGS_EQUAL(sent, listener.acked.load());
  CHECK(sent >= 4400);
  CHECK(listener.heartbeats >= 12);
  UNSIGNED_LONGS_EQUAL_TEXT(0, allocations, "heap allocations after warm-up");
  UNSIGNED_LONGS_EQUAL_TEXT(0, client.handler_heap_fallbacks(), "handler memory misses");
}
