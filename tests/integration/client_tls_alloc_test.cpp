// SPDX-License-Identifier: Apache-2.0
// Heap allocations of a Client over TLS: none in steady state, and a
// measured, bounded count per reconnect (each one runs a TLS handshake, and
// mbedTLS allocates during handshakes).
//
// The TLS front and the scripted server behind it run on their own thread
// and io_context; only the client's thread is counted. The engine keeps its
// record buffers across reconnects (TlsEngine::reset, which uses
// mbedtls_ssl_session_reset), so a reconnect pays for the handshake state
// only: see docs/TLS.md, "Memory", for the figures this test prints.
#include "uplink/net/asio.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "support/alloc_client.hpp"
#include "support/alloc_counter.hpp"
#include "support/scripted_server.hpp"
#include "support/test_pki.hpp"
#include "support/tls_front.hpp"
#include "uplink/client.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_stream.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using test::run_until_done;

namespace {

// Bounds asserted per reconnect, from allocations counted on the client's
// thread between the drop and the next on_state(online). Measured with Debian 12's
// mbedTLS 2.28.3, ECDHE-ECDSA P-256, TLS 1.2 (x86_64, aarch64, armhf alike):
// a resumed reconnect makes 44 allocations (18 to re-create the handshake
// state in mbedtls_ssl_session_reset, the rest for the abbreviated
// handshake and the copy of the new session kept for the next
// resumption); a full one about 27,000 (26,700 to 26,850), nearly all
// small bignum temporaries of the ECDHE and ECDSA arithmetic, varying with
// the random values. The bounds leave room for that variation and
// for other mbedTLS builds; they catch a change of kind (a resumption
// that silently became a full handshake, a per-record allocation).
constexpr std::size_t kResumedReconnectBound = 64;
constexpr std::size_t kFullReconnectBound = 40000;

struct Range {
  std::size_t min = static_cast<std::size_t>(-1);
  std::size_t max = 0;
  std::size_t count = 0;
  void add(std::size_t v) {
    min = std::min(min, v);
    max = std::max(max, v);
    ++count;
  }
};

}  // namespace

TEST_GROUP(ClientTlsAllocations) {
  test::ServerThread server_thread;
  tls::TlsConfig server_tls;
  std::unique_ptr<test::ScriptedServer> server;
  std::unique_ptr<test::TlsFront> front;
  tls::TlsConfig client_tls;
  tls::TlsEngine engine;
  tls::TlsStream stream{engine};

  void setup() override {
    const test::TestPki& pki = test::test_pki();
    tls::TlsSettings s;
    s.role = tls::TlsRole::server;
    s.certificate = tls::Credential::pem(pki.server.certificate_pem);
    s.private_key = tls::Credential::pem(pki.server.key_pem);
    s.session_tickets = true;
    CHECK(!server_tls.init(s));
    server = std::make_unique<test::ScriptedServer>(server_thread.io);
    front = std::make_unique<test::TlsFront>(server_thread.io, server_tls, server->port());
    server_thread.start();

    tls::TlsSettings c;
    c.ca = tls::Credential::pem(pki.ca.certificate_pem);
    CHECK(!client_tls.init(c));
    CHECK(!engine.setup(client_tls, "localhost"));
  }
  void teardown() override {
    server_thread.finish([this] {
      front.reset();
      server.reset();
    });
  }
  // Drops every live connection, on the server's own thread.
  void drop_connections() {
    asio::post(server_thread.io, [this] { server->close_all(); });
  }
};

TEST(ClientTlsAllocations, SteadyStateOverTlsDoesNotAllocateAndReconnectHandshakesStayBounded) {
  asio::io_context io(1);
  test::CountingListener listener;
  test::FixedRandom random;
  Client client(io, listener, random);
  client.use_stream(stream);
  Options o;
  CHECK(!o.add_endpoint("127.0.0.1", front->port()));  // numeric: no resolver
  CHECK(!o.set_device_id("tls-alloc-test"));
  o.heartbeat_interval_ms = 20;
  o.read_timeout_ms = 1000;
  o.backoff.base_ms = 1;
  o.backoff.cap_ms = 5;
  CHECK(static_cast<bool>(client.start(o)));

  const std::string payload(64, 'm');
  const ConstByteSpan message{payload.data(), payload.size()};
  std::uint64_t sent = 0;
  std::size_t steady = 0;
  Range full, resumed;
  // No assertion while counting (a check allocates its message): failures
  // are collected and asserted after counting stops.
  bool all_ok = true;
  // Online, then traffic in both directions (messages up, acknowledgements
  // and heartbeats down), counted as steady state.
  const auto traffic = [&](std::uint64_t messages) {
    test::AllocCounter::reset();
    test::AllocCounter::start();
    all_ok &= test::exchange_traffic(io, client, listener, message, messages, sent, 3);
    test::AllocCounter::stop();
    steady += test::AllocCounter::count();
  };
  // A drop and a reconnect up to on_state(online): the TLS handshake's share.
  const auto reconnect = [&](bool full_handshake) {
    if (full_handshake) engine.forget_session();  // nothing to resume: a full handshake
    drop_connections();  // the post allocates on this thread: not counted
    test::AllocCounter::reset();
    test::AllocCounter::start();
    const std::uint64_t gone = listener.disconnects;
    all_ok &= run_until_done(io, [&] { return listener.disconnects > gone; }, 5000);
    all_ok &= run_until_done(io, [&] { return listener.is_online(); }, 5000);
    test::AllocCounter::stop();
    return test::AllocCounter::count();
  };

  // Warm-up: Asio's reactor and descriptor pools, the first full handshake,
  // then one full and one resumed reconnect.
  all_ok &= run_until_done(io, [&] { return listener.is_online(); }, 5000);
  traffic(200);
  (void)reconnect(true);
  traffic(200);
  (void)reconnect(false);
  const std::uint64_t handshakes_before = engine.stats().handshakes;
  const std::uint64_t resumed_before = engine.stats().resumed_handshakes;
  steady = 0;

  for (int cycle = 0; cycle < 4; ++cycle) {
    traffic(1000);
    const bool full_handshake = cycle % 2 == 0;
    (full_handshake ? full : resumed).add(reconnect(full_handshake));
  }
  traffic(200);

  client.stop();
  run_until_done(io, [&] { return client.quiescent(); }, 2000);
  std::printf("\n  client over TLS: %zu allocations in steady state; per reconnect: resumed %zu..%zu, full %zu..%zu\n",
              steady, resumed.min, resumed.max, full.min, full.max);
  CHECK_TEXT(all_ok, "a phase timed out: not online, not acknowledged, no heartbeats or no disconnect");
  UNSIGNED_LONGLONGS_EQUAL(sent, listener.acked.load());
  CHECK(sent >= 4600);
  CHECK(listener.heartbeats >= 18);
  UNSIGNED_LONGLONGS_EQUAL(4, engine.stats().handshakes - handshakes_before);
  UNSIGNED_LONGLONGS_EQUAL(2, engine.stats().resumed_handshakes - resumed_before);  // resumed, checked
  UNSIGNED_LONGS_EQUAL_TEXT(0, steady, "heap allocations in steady state over TLS");
  CHECK_TEXT(resumed.max <= kResumedReconnectBound, std::to_string(resumed.max).c_str());
  CHECK_TEXT(full.max <= kFullReconnectBound, std::to_string(full.max).c_str());
  CHECK(resumed.min > 0);  // a handshake that allocates nothing would mean the count is broken
  UNSIGNED_LONGS_EQUAL_TEXT(0, client.handler_heap_fallbacks(), "handler memory misses");
}
