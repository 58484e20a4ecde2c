// SPDX-License-Identifier: Apache-2.0
// Exactly once in both directions across server kills and connection
// resets, in one process over loopback:
//
//   Client (device)  -->  FaultProxy (reset_all)  -->  Server + FileSessionStore
//
// The device sends a numbered uplink stream while the server application
// sends a numbered downlink stream. At seeded pseudo-random points the
// proxy resets every connection, or the server is "killed": the Server and
// its store are destroyed on the spot (the Server's destructor aborts its
// connections without CLOSE; the store drops whatever was not committed)
// and a new pair is built on the same port from the same state directory.
// At the end the server application has seen uplink 1..N once each, in
// order (its events, and the durable record read back from the files),
// the device application downlink 1..N once each, in order; the device's
// store and the session's unacknowledged downlink are empty.
//
// Bounded: every wait is a run_until() deadline; the faults are counted.
#include "uplink/net/asio.hpp"
#include "support/run_until.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fault_proxy.hpp"
#include "file_session_store.hpp"
#include "server.hpp"
#include "support/link_fakes.hpp"
#include "support/temp_dir.hpp"
#include "uplink/client.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

namespace {

using Clock = std::chrono::steady_clock;

bool run_until(asio::io_context& io, const std::function<bool()>& done, std::uint64_t limit_ms) {
  return test::run_until(io, done, std::chrono::milliseconds(limit_ms));
}

/// The server application: what it was told, in order.
class Application final : public server::ServerEvents {
 public:
  void on_message(const server::MessageEvent& e) override {
    uplink.emplace_back(reinterpret_cast<const char*>(e.payload.data), e.payload.size);
  }
  void on_online(const server::OnlineEvent& e) override { resumed += e.resumed ? 1 : 0; }
  std::vector<std::string> uplink;
  int resumed = 0;
};

/// A server and its durable state; destroying it is the "kill".
struct DurableServer {
  DurableServer(asio::io_context& io, server::ServerEvents& events, const std::string& dir, std::uint16_t port) {
    server::ServerOptions options;
    options.port = port;
    options.session.heartbeat_min_ms = 100;
    server = std::make_unique<server::Server>(io, events, options);
    open_error = store.open(dir, server->registry());
    if (!open_error) start_error = server->start();
  }
  // The store is declared first: the server's registry uses it until the server is gone.
  server::FileSessionStore store;
  std::unique_ptr<server::Server> server;
  std::error_code open_error;
  std::error_code start_error;
};

// A small deterministic generator (a seeded LCG): the same faults at the
// same points on every run.
struct Lcg {
  std::uint32_t state;
  std::uint32_t next(std::uint32_t bound) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % bound;
  }
};

std::string numbered(const char* prefix, int n) { return std::string(prefix) + std::to_string(n); }

}  // namespace

TEST_GROUP(DurableDelivery) {
  asio::io_context io;
  std::string dir;
  Application app;
  std::unique_ptr<DurableServer> server;
  std::unique_ptr<tools::FaultProxy> proxy;
  test::RecordingListener device_app;
  test::ScriptedRandom random{0x80000000u};
  std::unique_ptr<Client> client;
  std::uint16_t server_port = 0;

  void setup() override {
    dir = test::make_temp_dir("uplink-durable");
    CHECK_FALSE(dir.empty());
    start_server(0);
    server_port = server->server->port();
    proxy = std::make_unique<tools::FaultProxy>(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), server_port));
    CHECK_FALSE(proxy->listen_error());
    client = std::make_unique<Client>(io, device_app, random);
  }
  void teardown() override {
    client->stop();
    run_until(io, [&] { return client->quiescent(); }, 3000);
    client.reset();
    proxy.reset();
    server.reset();
    run_until(io, [] { return false; }, 20);
    test::remove_temp_dir(dir);
  }

  void start_server(std::uint16_t port) {
    server = std::make_unique<DurableServer>(io, app, dir, port);
    CHECK_FALSE_TEXT(server->open_error, server->store.problem().c_str());
    CHECK_FALSE_TEXT(server->start_error, server->start_error.message().c_str());
  }
  void kill_server() {
    server.reset();  // no shutdown(): connections aborted, nothing more committed
    start_server(server_port);
  }

  Options options() {
    Options o;
    (void)o.add_endpoint("127.0.0.1", proxy->port());
    (void)o.set_device_id("durable-device");
    o.heartbeat_interval_ms = 100;
    o.read_timeout_ms = 300;
    o.write_timeout_ms = 300;
    o.connect_timeout_ms = 500;
    o.stable_after_ms = 50;
    o.backoff.base_ms = 1;
    o.backoff.cap_ms = 20;
    return o;
  }
};

TEST(DurableDelivery, NumberedStreamsBothWaysSurviveServerKillsAndResetsExactlyOnceInOrder) {
  constexpr int kMessages = 300;
  CHECK(static_cast<bool>(client->start(options())));
  Lcg lcg{20261125u};
  int next_up = 1;
  int next_down = 1;
  int kills = 0;
  int resets = 0;
  // The next fault comes after this many more messages (uplink + downlink) were handed over.
  std::uint32_t fault_in = 20 + lcg.next(40);
  const bool done = run_until(io, [&] {
    // Both applications hand over a few messages per turn; full queues and
    // an unknown device (before the first HELLO) just mean "later".
    for (int i = 0; i < 3 && next_up <= kMessages; ++i) {
      const std::string payload = numbered("up ", next_up);
      if (client->send(ConstByteSpan{payload.data(), payload.size()})) break;
      ++next_up;
      --fault_in;
    }
    for (int i = 0; i < 3 && next_down <= kMessages; ++i) {
      const std::string payload = numbered("down ", next_down);
      if (server->server->send_downlink("durable-device", ConstByteSpan{payload.data(), payload.size()})) break;
      ++next_down;
      --fault_in;
    }
    if (static_cast<std::int32_t>(fault_in) <= 0 && kills + resets < 12) {
      // Two faults of three are resets, one a kill, at whatever point the streams are.
      if (lcg.next(3) == 0) {
        ++kills;
        kill_server();
      } else {
        ++resets;
        proxy->reset_all();
      }
      fault_in = 20 + lcg.next(40);
    }
    const server::SessionRecord* record = server->server->registry().find_device("durable-device");
    return next_up > kMessages && next_down > kMessages && client->queued() == 0 &&
           device_app.messages.size() >= static_cast<std::size_t>(kMessages) && record != nullptr &&
           record->unacked.empty();
  }, 30000);
  CHECK_TEXT(done, ("up " + std::to_string(next_up) + ", down " + std::to_string(next_down) + ", device got " +
                    std::to_string(device_app.messages.size()) + ", app got " + std::to_string(app.uplink.size()))
                       .c_str());
  CHECK(kills >= 2);
  CHECK(resets >= 2);
  CHECK(app.resumed >= kills);  // every restarted server resumed the session

  // Uplink: the server application's events and its durable record.
  UNSIGNED_LONGS_EQUAL(kMessages, app.uplink.size());
  for (int i = 0; i < kMessages; ++i) STRCMP_EQUAL(numbered("up ", i + 1).c_str(), app.uplink[static_cast<std::size_t>(i)].c_str());
  std::vector<std::string> durable;
  std::string problem;
  CHECK_FALSE(server::FileSessionStore::read_delivered(
      dir, [&](const server::FileSessionStore::Delivered& d) { durable.emplace_back(d.payload.begin(), d.payload.end()); },
      problem));
  CHECK(durable == app.uplink);

  // Downlink: the device application.
  UNSIGNED_LONGS_EQUAL(kMessages, device_app.messages.size());
  for (int i = 0; i < kMessages; ++i) {
    STRCMP_EQUAL(numbered("down ", i + 1).c_str(), device_app.messages[static_cast<std::size_t>(i)].payload.c_str());
  }
  UNSIGNED_LONGLONGS_EQUAL(kMessages, client->counters().messages_acked);
}
