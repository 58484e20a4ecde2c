// SPDX-License-Identifier: Apache-2.0
// Zero heap allocations after warm-up: a connected client exchanges
// thousands of frames, heartbeats and several reconnects while every
// allocation made on its thread is counted, without and with an on-disk
// spool attached. The server runs on its own thread and io_context, so its
// (allowed) allocations are not counted.
#include "uplink/net/asio.hpp"

#include <memory>
#include <string>

#include "support/alloc_client.hpp"
#include "support/alloc_counter.hpp"
#include "support/scripted_server.hpp"
#include "support/temp_dir.hpp"
#include "uplink/client.hpp"
#include "uplink/core/spool.hpp"
#include "uplink/port/linux/file_spool_storage.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using test::run_until_done;

TEST_GROUP(ClientAllocations) {
  test::ServerThread server_thread;
  std::unique_ptr<test::ScriptedServer> server;
  asio::io_context io{1};
  test::CountingListener listener;
  test::FixedRandom random;
  std::uint64_t sent = 0;

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
  Options options() {
    Options o;
    CHECK(!o.add_endpoint("127.0.0.1", server->port()));  // numeric: no resolver
    CHECK(!o.set_device_id("alloc-test"));
    o.heartbeat_interval_ms = 20;
    o.read_timeout_ms = 500;
    o.backoff.base_ms = 1;
    o.backoff.cap_ms = 5;
    return o;
  }

  // Two warm-up phases (Asio's reactor and descriptor pools, the first
  // connection), then `cycles` counted ones of `messages` each. A phase:
  // online, the messages acknowledged and 3 heartbeats, then a drop and a
  // reconnect. No assertion while counting (CppUTest's checks allocate
  // their messages): failures are collected and asserted afterwards.
  // Returns the allocations counted.
  std::size_t run_counted(Client& client, int cycles, std::uint64_t messages, bool& all_ok) {
    const std::string payload(64, 'm');
    const ConstByteSpan message{payload.data(), payload.size()};
    const auto phase = [&](std::uint64_t count) {
      all_ok &= run_until_done(io, [&] { return listener.is_online(); }, 5000);
      all_ok &= test::exchange_traffic(io, client, listener, message, count, sent, 3);
      test::AllocCounter::stop();  // the post below is the test's allocation, made on this thread
      drop_connections();
      test::AllocCounter::start();
      const std::uint64_t gone = listener.disconnects;
      all_ok &= run_until_done(io, [&] { return listener.disconnects > gone; }, 5000);
    };
    phase(200);
    phase(200);
    test::AllocCounter::reset();
    test::AllocCounter::start();
    for (int cycle = 0; cycle < cycles; ++cycle) phase(messages);
    test::AllocCounter::stop();
    const std::size_t allocations = test::AllocCounter::count();
    client.stop();
    run_until_done(io, [&] { return client.quiescent(); }, 2000);
    return allocations;
  }
};

TEST(ClientAllocations, ConnectedClientDoesNotAllocateAcrossFramesHeartbeatsAndReconnects) {
  Client client(io, listener, random);
  CHECK(static_cast<bool>(client.start(options())));
  bool all_ok = true;
  const std::size_t allocations = run_counted(client, 4, 1000, all_ok);
  CHECK_TEXT(all_ok, "a phase timed out: not online, not acknowledged, no heartbeats or no disconnect");
  UNSIGNED_LONGLONGS_EQUAL(sent, listener.acked.load());
  CHECK(sent >= 4400);
  CHECK(listener.heartbeats >= 12);
  UNSIGNED_LONGS_EQUAL_TEXT(0, allocations, "heap allocations after warm-up");
  UNSIGNED_LONGS_EQUAL_TEXT(0, client.handler_heap_fallbacks(), "handler memory misses");
}

TEST(ClientAllocations, ClientWithAFileSpoolDoesNotAllocateEither) {
  // Every message is appended (and fdatasync'ed: every_write) before it is
  // sent, every acknowledgement recorded, each WELCOME saves the state: all
  // of that on the client's thread, into the spool's own record buffer.
  const std::string dir = test::make_temp_dir("uplink-alloc-spool");
  CHECK(!dir.empty());
  port::FileSpoolStorage file;
  CHECK(!file.open((dir + "/device.spool").c_str(), Spool::recommended_storage_size()));
  Spool spool;
  CHECK(!spool.open(file, SpoolOptions{SpoolSync::every_write, 1000}));
  bool all_ok = true;
  std::size_t allocations = 0;
  std::size_t fallbacks = 0;
  {
    Client client(io, listener, random);
    CHECK(!client.attach_spool(spool));
    CHECK(static_cast<bool>(client.start(options())));
    allocations = run_counted(client, 4, 500, all_ok);
    fallbacks = client.handler_heap_fallbacks();
  }
  spool.close();
  file.close();
  test::remove_temp_dir(dir);
  CHECK_TEXT(all_ok, "a phase timed out: not online, not acknowledged, no heartbeats or no disconnect");
  UNSIGNED_LONGLONGS_EQUAL(sent, listener.acked.load());
  CHECK(sent >= 2400);
  CHECK(listener.heartbeats >= 12);
  UNSIGNED_LONGS_EQUAL_TEXT(0, allocations, "heap allocations after warm-up, with a spool");
  UNSIGNED_LONGS_EQUAL_TEXT(0, fallbacks, "handler memory misses");
}
