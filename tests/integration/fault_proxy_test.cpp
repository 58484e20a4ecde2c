// SPDX-License-Identifier: Apache-2.0
// Loopback tests of the FaultProxy (tools/fault_proxy): a raw Asio
// "device" connects through the proxy to a raw Asio upstream server, all in
// one io_context. Every wait is io_context::run_for() until a predicate
// holds or a deadline passes.

// First, before any standard header: Asio's configuration depends on it.
#include "uplink/net/asio.hpp"
#include "support/run_until.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/socket_base.hpp>
#include <asio/write.hpp>

#include "fault_proxy.hpp"

#include <CppUTest/TestHarness.h>

using uplink::tools::FaultProxy;
using Direction = FaultProxy::Direction;
using Side = FaultProxy::Side;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::milliseconds kDeadline = 3s;
// Long enough for the proxy to have acted if it were going to.
constexpr std::chrono::milliseconds kQuiet = 300ms;

// Runs `io` until `done()` holds or `timeout` passes. Returns done().
template <typename Pred>
bool run_until(asio::io_context& io, Pred done, std::chrono::milliseconds timeout = kDeadline) {
  return uplink::test::run_until(io, done, timeout);
}
using uplink::test::run_for;

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::address_v4::loopback(), port}; }

// One end of a raw TCP connection (the device, or the upstream's accepted
// socket): records what it reads and how its reads and writes end. Handlers
// hold the Peer, so it outlives whatever is still queued.
struct Peer {
  explicit Peer(asio::io_context& io) : socket(io) {}
  explicit Peer(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  std::array<char, 65536> rx{};
  std::string received;
  std::size_t reads = 0;
  Clock::time_point first_read_at{};
  bool echo = false;
  bool connect_done = false;
  std::error_code connect_error;
  bool read_done = false;  // EOF or error
  std::error_code read_error;
  std::size_t writes_done = 0;
  std::error_code write_error;
};

void start_reading(const std::shared_ptr<Peer>& peer);

void send(const std::shared_ptr<Peer>& peer, std::string data) {
  auto buffer = std::make_shared<std::string>(std::move(data));
  asio::async_write(peer->socket, asio::buffer(*buffer), [peer, buffer](std::error_code error, std::size_t) {
    if (error) {
      peer->write_error = error;
    } else {
      ++peer->writes_done;
    }
  });
}

void start_reading(const std::shared_ptr<Peer>& peer) {
  peer->socket.async_read_some(asio::buffer(peer->rx), [peer](std::error_code error, std::size_t n) {
    if (error) {
      peer->read_done = true;
      peer->read_error = error;
      return;
    }
    if (peer->reads++ == 0) peer->first_read_at = Clock::now();
    peer->received.append(peer->rx.data(), n);
    if (peer->echo) send(peer, std::string(peer->rx.data(), n));
    start_reading(peer);
  });
}

// Connects a device to `port` (with SO_SNDBUF = send_buffer if not 0) and
// starts reading. Check connect_done / connect_error.
std::shared_ptr<Peer> connect_device(asio::io_context& io, std::uint16_t port, int send_buffer = 0) {
  auto peer = std::make_shared<Peer>(io);
  std::error_code error;
  peer->socket.open(tcp::v4(), error);
  if (!error && send_buffer > 0) peer->socket.set_option(asio::socket_base::send_buffer_size(send_buffer), error);
  peer->socket.async_connect(loopback(port), [peer](std::error_code connect_error) {
    peer->connect_done = true;
    peer->connect_error = connect_error;
    if (!connect_error) start_reading(peer);
  });
  run_until(io, [&] { return peer->connect_done; });
  return peer;
}

// The upstream server: accepts on 127.0.0.1:0 and reads every connection
// (echoing it back if asked).
class Upstream {
 public:
  explicit Upstream(asio::io_context& io, bool echo = false) : state_(std::make_shared<State>(io)) {
    state_->echo = echo;
    std::error_code error;
    state_->acceptor.open(tcp::v4(), error);
    if (!error) state_->acceptor.bind(loopback(0), error);
    if (!error) state_->acceptor.listen(asio::socket_base::max_listen_connections, error);
    if (!error) port_ = state_->acceptor.local_endpoint(error).port();
    if (!error) accept(state_);
  }
  ~Upstream() {
    std::error_code ignored;
    state_->acceptor.close(ignored);
  }
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  std::uint16_t port() const { return port_; }
  const std::vector<std::shared_ptr<Peer>>& peers() const { return state_->peers; }

 private:
  struct State {
    explicit State(asio::io_context& io) : acceptor(io) {}
    tcp::acceptor acceptor;
    std::vector<std::shared_ptr<Peer>> peers;
    bool echo = false;
  };

  static void accept(const std::shared_ptr<State>& state) {
    state->acceptor.async_accept([state](std::error_code error, tcp::socket socket) {
      if (error) return;
      auto peer = std::make_shared<Peer>(std::move(socket));
      peer->echo = state->echo;
      state->peers.push_back(peer);
      start_reading(peer);
      accept(state);
    });
  }

  std::shared_ptr<State> state_;
  std::uint16_t port_ = 0;
};

// A device connected through the proxy, and the upstream's end of it.
struct Pair {
  std::shared_ptr<Peer> device;
  std::shared_ptr<Peer> server;
  bool ok() const { return device && !device->connect_error && server; }
};

Pair open_pair(asio::io_context& io, const Upstream& upstream, const FaultProxy& proxy, int send_buffer = 0) {
  const std::size_t before = upstream.peers().size();
  Pair pair;
  pair.device = connect_device(io, proxy.port(), send_buffer);
  if (!pair.device->connect_done || pair.device->connect_error) return pair;
  if (run_until(io, [&] { return upstream.peers().size() > before; })) pair.server = upstream.peers().back();
  return pair;
}

bool is_reset_or_eof(std::error_code error) {
  return error == asio::error::connection_reset || error == asio::error::eof;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// A port on which nothing listens (bound, then released).
std::uint16_t unused_port(asio::io_context& io) {
  tcp::acceptor acceptor(io);
  std::error_code error;
  acceptor.open(tcp::v4(), error);
  if (!error) acceptor.bind(loopback(0), error);
  const std::uint16_t port = error ? 0 : acceptor.local_endpoint(error).port();
  acceptor.close(error);
  return port;
}

}  // namespace

TEST_GROUP(FaultProxy) {
  asio::io_context io;
};

TEST(FaultProxy, ListensOnAnEphemeralLoopbackPortInForwardMode) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  CHECK(!proxy.listen_error());
  CHECK(proxy.port() != 0);
  const FaultProxy::Mode mode = proxy.mode();
  CHECK(!mode.blackhole_up && !mode.blackhole_down && !mode.bytewise && !mode.stall_device && !mode.refusing);
  CHECK(mode.latency_up == 0ms && mode.latency_down == 0ms);
}

TEST(FaultProxy, ForwardPassesBytesBothWays) {
  Upstream upstream(io, /*echo=*/true);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  send(pair.device, "hello proxy");
  CHECK(run_until(io, [&] { return pair.device->received == "hello proxy"; }));
  STRCMP_EQUAL("hello proxy", pair.server->received.c_str());
  // Bytes are counted when the proxy's write completes, which may be after
  // the peer has read them.
  CHECK(run_until(io, [&] { return proxy.counters().bytes_down == 11; }));
  const FaultProxy::Counters c = proxy.counters();
  LONGS_EQUAL(1, c.accepted);
  LONGS_EQUAL(1, c.live);
  LONGS_EQUAL(11, c.bytes_up);
  LONGS_EQUAL(11, c.bytes_down);
  LONGS_EQUAL(0, c.dropped_up);
  LONGS_EQUAL(0, c.dropped_down);
}

TEST(FaultProxy, EventsReportListeningAcceptedModeAndClosed) {
  Upstream upstream(io);
  std::vector<FaultProxy::Event> events;
  FaultProxy proxy(io, loopback(upstream.port()), loopback(0),
                   [&events](const FaultProxy::Event& e) { events.push_back(e); });
  CHECK(!events.empty());
  CHECK(events[0].type == FaultProxy::EventType::listening);
  LONGS_EQUAL(proxy.port(), events[0].port);
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  CHECK(run_until(io, [&] { return events.size() >= 2; }));
  CHECK(events[1].type == FaultProxy::EventType::accepted);
  LONGS_EQUAL(1, events[1].connection);
  proxy.blackhole(Direction::up);
  CHECK(events.back().type == FaultProxy::EventType::mode);
  STRCMP_EQUAL("blackhole up", events.back().text.c_str());
  proxy.reset_all();
  bool closed = false;
  for (const auto& e : events) {
    if (e.type == FaultProxy::EventType::closed && e.connection == 1) {
      closed = true;
      STRCMP_EQUAL("reset", e.text.c_str());
    }
  }
  CHECK(closed);
}

TEST(FaultProxy, BlackholeBothDeliversNothingButKeepsBothSocketsOpen) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  proxy.blackhole(Direction::both);
  send(pair.device, "abc");
  send(pair.server, "xyz");
  CHECK(run_until(io, [&] { return proxy.counters().dropped_up == 3 && proxy.counters().dropped_down == 3; }));
  run_for(io, kQuiet);
  CHECK(pair.server->received.empty());
  CHECK(pair.device->received.empty());
  CHECK(!pair.device->read_done);
  CHECK(!pair.server->read_done);
  CHECK(!pair.device->write_error);
  CHECK(!pair.server->write_error);
  LONGS_EQUAL(1, proxy.counters().live);
  // Still the same, open connection: back to forward, bytes flow again.
  CHECK(!proxy.forward());
  send(pair.device, "def");
  CHECK(run_until(io, [&] { return pair.server->received == "def"; }));
}

TEST(FaultProxy, BlackholeUpDropsOnlyDeviceToServer) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  proxy.blackhole(Direction::up);
  send(pair.device, "abc");
  send(pair.server, "xyz");
  CHECK(run_until(io, [&] { return pair.device->received == "xyz"; }));
  CHECK(run_until(io, [&] { return proxy.counters().dropped_up == 3; }));
  run_for(io, kQuiet);
  CHECK(pair.server->received.empty());
  LONGS_EQUAL(3, proxy.counters().bytes_down);
  LONGS_EQUAL(0, proxy.counters().bytes_up);
}

TEST(FaultProxy, BlackholeHidesTheDevicesCloseFromTheServer) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  proxy.blackhole(Direction::both);
  std::error_code ignored;
  pair.device->socket.close(ignored);
  run_for(io, kQuiet);
  CHECK(!pair.server->read_done);  // half-open, as behind a dead link
  LONGS_EQUAL(1, proxy.counters().live);
  // When the server gives up too, the connection is over.
  pair.server->socket.close(ignored);
  CHECK(run_until(io, [&] { return proxy.counters().live == 0; }));
}

TEST(FaultProxy, LatencyDelaysEachDirectionByAtLeastTheLatencyInOrder) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  constexpr auto kLatency = 200ms;
  proxy.set_latency(kLatency);
  const auto sent_up = Clock::now();
  send(pair.device, "a");
  send(pair.device, "b");
  send(pair.device, "c");
  CHECK(run_until(io, [&] { return pair.server->received.size() == 3; }));
  STRCMP_EQUAL("abc", pair.server->received.c_str());
  CHECK(pair.server->first_read_at - sent_up >= kLatency);

  const auto sent_down = Clock::now();
  send(pair.server, "xyz");
  CHECK(run_until(io, [&] { return pair.device->received == "xyz"; }));
  CHECK(pair.device->first_read_at - sent_down >= kLatency);
}

TEST(FaultProxy, LatencyCanBeSetPerDirection) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  proxy.set_latency(250ms, Direction::down);
  CHECK(proxy.mode().latency_up == 0ms);
  CHECK(proxy.mode().latency_down == 250ms);
  const auto sent = Clock::now();
  send(pair.server, "down");
  CHECK(run_until(io, [&] { return pair.device->received == "down"; }));
  CHECK(pair.device->first_read_at - sent >= 250ms);
}

TEST(FaultProxy, BytewiseDeliversAllBytesInOrderOneSegmentAtATime) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  proxy.set_bytewise(true);
  std::string data;
  for (int i = 0; i < 300; ++i) data += static_cast<char>('A' + i % 26);
  send(pair.device, data);
  CHECK(run_until(io, [&] { return pair.server->received.size() >= data.size(); }));
  CHECK(pair.server->received == data);
  CHECK(pair.server->reads > 1);
  // The proxy counts a byte when its write completes, and that completion
  // handler may run after the server has already read the byte.
  CHECK(run_until(io, [&] { return proxy.counters().bytes_up == data.size(); }));
}

TEST(FaultProxy, ResetGivesConnectionResetOrEofToBothSides) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  send(pair.device, "x");
  CHECK(run_until(io, [&] { return pair.server->received == "x"; }));
  proxy.reset_all();
  LONGS_EQUAL(0, proxy.counters().live);
  CHECK(run_until(io, [&] { return pair.device->read_done && pair.server->read_done; }));
  CHECK(is_reset_or_eof(pair.device->read_error));
  CHECK(is_reset_or_eof(pair.server->read_error));
}

TEST(FaultProxy, CloseDeviceSideSendsFinToTheDeviceOnly) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  proxy.close_side(Side::device);
  CHECK(run_until(io, [&] { return pair.device->read_done; }));
  CHECK(pair.device->read_error == asio::error::eof);
  send(pair.server, "lost");
  CHECK(run_until(io, [&] { return proxy.counters().dropped_down == 4; }));
  // The device closes in turn; the server still sees nothing.
  std::error_code ignored;
  pair.device->socket.close(ignored);
  run_for(io, kQuiet);
  CHECK(!pair.server->read_done);
  CHECK(!pair.server->write_error);
  LONGS_EQUAL(1, proxy.counters().live);
  pair.server->socket.close(ignored);
  CHECK(run_until(io, [&] { return proxy.counters().live == 0; }));
}

TEST(FaultProxy, CloseServerSideSendsFinToTheServerOnly) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  proxy.close_side(Side::server);
  CHECK(run_until(io, [&] { return pair.server->read_done; }));
  CHECK(pair.server->read_error == asio::error::eof);
  run_for(io, kQuiet);
  CHECK(!pair.device->read_done);
  LONGS_EQUAL(1, proxy.counters().live);
}

TEST(FaultProxy, ForwardPropagatesACloseEitherWay) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair first = open_pair(io, upstream, proxy);
  CHECK(first.ok());
  std::error_code ignored;
  first.device->socket.close(ignored);
  CHECK(run_until(io, [&] { return first.server->read_done; }));
  CHECK(first.server->read_error == asio::error::eof);
  first.server->socket.close(ignored);
  CHECK(run_until(io, [&] { return proxy.counters().live == 0; }));

  const Pair second = open_pair(io, upstream, proxy);
  CHECK(second.ok());
  send(second.server, "bye");
  CHECK(run_until(io, [&] { return second.server->writes_done == 1; }));
  second.server->socket.shutdown(tcp::socket::shutdown_send, ignored);
  CHECK(run_until(io, [&] { return second.device->read_done; }));
  STRCMP_EQUAL("bye", second.device->received.c_str());  // data first, then the FIN
  CHECK(second.device->read_error == asio::error::eof);
  second.device->socket.close(ignored);
  CHECK(run_until(io, [&] { return proxy.counters().live == 0; }));
  LONGS_EQUAL(2, proxy.counters().accepted);
}

TEST(FaultProxy, StalledDeviceCannotCompleteALargeWrite) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy, /*send_buffer=*/16384);
  CHECK(pair.ok());
  send(pair.device, "hi");
  CHECK(run_until(io, [&] { return pair.server->received == "hi"; }));
  proxy.stall_device(true);
  const std::string big(std::size_t{2} << 20, 'z');
  send(pair.device, big);
  run_for(io, 1000ms);
  LONGS_EQUAL(1, pair.device->writes_done);  // only "hi"
  CHECK(!pair.device->write_error);
  CHECK(pair.server->received.size() < big.size());
  // Reads resume: the write completes and every byte arrives.
  proxy.stall_device(false);
  CHECK(run_until(io, [&] { return pair.server->received.size() == 2 + big.size(); }, 30s));
  CHECK(run_until(io, [&] { return pair.device->writes_done == 2; }));
}

TEST(FaultProxy, RefuseOnRefusesConnectionsAndOffAcceptsAgainOnTheSamePort) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const std::uint16_t port = proxy.port();
  const Pair live = open_pair(io, upstream, proxy);
  CHECK(live.ok());
  CHECK(!proxy.refuse(true));
  CHECK(proxy.mode().refusing);
  const auto refused = connect_device(io, port);
  CHECK(refused->connect_done);
  CHECK(refused->connect_error == asio::error::connection_refused);
  // A connection accepted before is not affected.
  send(live.device, "still here");
  CHECK(run_until(io, [&] { return live.server->received == "still here"; }));

  CHECK(!proxy.refuse(false));
  CHECK(!proxy.mode().refusing);
  LONGS_EQUAL(port, proxy.port());
  const Pair again = open_pair(io, upstream, proxy);
  CHECK(again.ok());
  LONGS_EQUAL(2, proxy.counters().accepted);
}

TEST(FaultProxy, UnreachableUpstreamResetsTheDeviceAndReportsAnError) {
  const std::uint16_t dead_port = unused_port(io);
  std::vector<FaultProxy::Event> events;
  FaultProxy proxy(io, loopback(dead_port), loopback(0),
                   [&events](const FaultProxy::Event& e) { events.push_back(e); });
  const auto device = connect_device(io, proxy.port());
  CHECK(!device->connect_error);
  CHECK(run_until(io, [&] { return device->read_done; }));
  CHECK(is_reset_or_eof(device->read_error));
  LONGS_EQUAL(0, proxy.counters().live);
  bool reported = false;
  for (const auto& e : events) {
    if (e.type == FaultProxy::EventType::error && contains(e.text, "upstream")) reported = true;
  }
  CHECK(reported);
}

TEST(FaultProxy, DestroyingTheProxyClosesEveryConnection) {
  Upstream upstream(io);
  std::optional<FaultProxy> proxy;
  proxy.emplace(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, *proxy);
  CHECK(pair.ok());
  proxy->set_latency(10s);  // handlers still pending at destruction
  send(pair.device, "pending");
  run_for(io, 50ms);
  proxy.reset();
  CHECK(run_until(io, [&] { return pair.device->read_done && pair.server->read_done; }));
  CHECK(pair.server->received.empty());
}

TEST(FaultProxy, CommandParserAcceptsValidCommands) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  STRCMP_EQUAL("", proxy.apply_command("blackhole up").c_str());
  CHECK(proxy.mode().blackhole_up && !proxy.mode().blackhole_down);
  STRCMP_EQUAL("", proxy.apply_command("blackhole down").c_str());
  CHECK(proxy.mode().blackhole_up && proxy.mode().blackhole_down);
  STRCMP_EQUAL("", proxy.apply_command("forward").c_str());
  CHECK(!proxy.mode().blackhole_up && !proxy.mode().blackhole_down);
  STRCMP_EQUAL("", proxy.apply_command("blackhole both").c_str());
  CHECK(proxy.mode().blackhole_up && proxy.mode().blackhole_down);
  STRCMP_EQUAL("", proxy.apply_command("  latency 250 \r").c_str());
  CHECK(proxy.mode().latency_up == 250ms && proxy.mode().latency_down == 250ms);
  STRCMP_EQUAL("", proxy.apply_command("latency 40 up").c_str());
  CHECK(proxy.mode().latency_up == 40ms && proxy.mode().latency_down == 250ms);
  STRCMP_EQUAL("", proxy.apply_command("latency 0 down").c_str());
  CHECK(proxy.mode().latency_down == 0ms);
  STRCMP_EQUAL("", proxy.apply_command("bytewise on").c_str());
  CHECK(proxy.mode().bytewise);
  STRCMP_EQUAL("", proxy.apply_command("bytewise off").c_str());
  CHECK(!proxy.mode().bytewise);
  STRCMP_EQUAL("", proxy.apply_command("stall on").c_str());
  CHECK(proxy.mode().stall_device);
  STRCMP_EQUAL("", proxy.apply_command("stall off").c_str());
  CHECK(!proxy.mode().stall_device);
  STRCMP_EQUAL("", proxy.apply_command("refuse on").c_str());
  CHECK(proxy.mode().refusing);
  STRCMP_EQUAL("", proxy.apply_command("refuse off").c_str());
  CHECK(!proxy.mode().refusing);
  STRCMP_EQUAL("", proxy.apply_command("reset").c_str());
  STRCMP_EQUAL("", proxy.apply_command("close device").c_str());
  STRCMP_EQUAL("", proxy.apply_command("close server").c_str());
  // forward restores everything, listening included.
  STRCMP_EQUAL("", proxy.apply_command("refuse on").c_str());
  STRCMP_EQUAL("", proxy.apply_command("stall on").c_str());
  STRCMP_EQUAL("", proxy.apply_command("forward").c_str());
  CHECK(!proxy.mode().refusing && !proxy.mode().stall_device && proxy.mode().latency_up == 0ms);
}

TEST(FaultProxy, CommandParserRejectsBadCommandsNamingThem) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  struct Bad {
    const char* line;
    const char* named;  // must appear in the message
  };
  const Bad bad[] = {
      {"", "empty"},
      {"   ", "empty"},
      {"bogus", "bogus"},
      {"BLACKHOLE up", "BLACKHOLE"},
      {"blackhole", "blackhole"},
      {"blackhole sideways", "sideways"},
      {"latency", "latency"},
      {"latency -5", "-5"},
      {"latency 10x", "10x"},
      {"latency 600001", "latency"},
      {"latency 5 left", "left"},
      {"bytewise maybe", "maybe"},
      {"close both", "close"},
      {"stall", "stall"},
      {"refuse yes", "refuse"},
      {"forward now", "now"},
      {"reset all", "reset"},
      {"blackhole up down", "down"},
  };
  for (const Bad& b : bad) {
    const std::string message = proxy.apply_command(b.line);
    if (message.empty() || !contains(message, b.named)) {
      FAIL(("'" + std::string(b.line) + "' gave '" + message + "'").c_str());
    }
    CHECK(!FaultProxy::check_command(b.line).empty());
  }
  // Nothing was applied.
  const FaultProxy::Mode mode = proxy.mode();
  CHECK(!mode.blackhole_up && !mode.blackhole_down && mode.latency_up == 0ms && !mode.bytewise);
  CHECK(!mode.stall_device && !mode.refusing);
}

TEST(FaultProxy, ScheduleAppliesCommandsAtTheirTimes) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const auto start = Clock::now();
  STRCMP_EQUAL("", proxy.run_schedule("0.5s forward; 0.2s blackhole both;").c_str());
  CHECK(!proxy.mode().blackhole_up);
  CHECK(run_until(io, [&] { return proxy.mode().blackhole_up; }));
  const auto blackholed_at = Clock::now() - start;
  CHECK(blackholed_at >= 200ms);
  CHECK(proxy.mode().blackhole_down);
  CHECK(run_until(io, [&] { return !proxy.mode().blackhole_up; }));
  CHECK(Clock::now() - start >= 500ms);
}

TEST(FaultProxy, ScheduleIsRejectedWholeWhenAnyEntryIsBad) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const char* bad[] = {"", " ; ", "3 blackhole both", "3s", "xs forward", "1.2345s forward", "-1s forward",
                       "0.1s blackhole up; 0.2s bogus", "0.1s latency lots"};
  for (const char* spec : bad) {
    const std::string message = proxy.run_schedule(spec);
    if (message.empty()) FAIL(("'" + std::string(spec) + "' was accepted").c_str());
    CHECK(!FaultProxy::check_schedule(spec).empty());
  }
  CHECK(contains(proxy.run_schedule("0.1s blackhole up; 0.2s bogus"), "bogus"));
  run_for(io, kQuiet);
  CHECK(!proxy.mode().blackhole_up);  // the valid first entry was not scheduled either
}

TEST(FaultProxy, CancelScheduleDropsPendingCommands) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  STRCMP_EQUAL("", proxy.run_schedule("0.1s stall on").c_str());
  proxy.cancel_schedule();
  run_for(io, kQuiet);
  CHECK(!proxy.mode().stall_device);
}

TEST(FaultProxy, InjectWritesRawBytesIntoEveryLiveConnectionOneWay) {
  Upstream upstream(io);
  std::vector<FaultProxy::Event> events;
  FaultProxy proxy(io, loopback(upstream.port()), loopback(0),
                   [&events](const FaultProxy::Event& e) { events.push_back(e); });
  // Nothing to write into yet: refused, naming the command.
  const std::string none = proxy.apply_command("inject down ff");
  CHECK(contains(none, "inject down ff"));
  CHECK(contains(none, "no live connection"));

  const Pair first = open_pair(io, upstream, proxy);
  const Pair second = open_pair(io, upstream, proxy);
  CHECK(first.ok());
  CHECK(second.ok());
  const std::string garbage("\xff\xff\xff\xff", 4);
  STRCMP_EQUAL("", proxy.apply_command("inject down ff ff ff ff").c_str());
  CHECK(events.back().type == FaultProxy::EventType::mode);
  STRCMP_EQUAL("inject down ff ff ff ff", events.back().text.c_str());
  CHECK(run_until(io, [&] { return first.device->received == garbage && second.device->received == garbage; }));
  CHECK(proxy.mode().blackhole_up == false && proxy.mode().blackhole_down == false);  // one-shot, not a mode

  // Up: toward the server only; several bytes in one token are fine.
  STRCMP_EQUAL("", proxy.apply_command("inject up 0001 7f").c_str());
  const std::string up("\x00\x01\x7f", 3);
  CHECK(run_until(io, [&] { return first.server->received == up && second.server->received == up; }));
  run_for(io, kQuiet);
  CHECK(first.device->received == garbage);  // nothing more went down
  CHECK(first.server->received == up);       // and nothing went up twice
  LONGS_EQUAL(2 * 4, proxy.counters().bytes_down);
  LONGS_EQUAL(2 * 3, proxy.counters().bytes_up);

  // The connections are untouched: bytes still flow both ways.
  send(first.device, "data");
  send(first.server, "back");
  CHECK(run_until(io, [&] { return first.server->received == up + "data"; }));
  CHECK(run_until(io, [&] { return first.device->received == garbage + "back"; }));
  LONGS_EQUAL(2, proxy.counters().live);
}

TEST(FaultProxy, InjectGoesAfterQueuedBytesAndObeysTheDirectionsMode) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  const Pair pair = open_pair(io, upstream, proxy);
  CHECK(pair.ok());
  // Latency: the injected bytes queue behind what the server already sent.
  proxy.set_latency(200ms, Direction::down);
  send(pair.server, "abc");
  CHECK(run_until(io, [&] { return pair.server->writes_done == 1; }));
  run_for(io, 50ms);  // read by the proxy, still delayed
  CHECK(pair.device->received.empty());
  STRCMP_EQUAL("", proxy.apply_command("inject down 05").c_str());
  CHECK(run_until(io, [&] { return pair.device->received.size() == 4; }));
  CHECK(pair.device->received == std::string("abc\x05", 4));

  // A blackholed direction swallows them: refused, counted as dropped.
  CHECK(!proxy.forward());
  proxy.blackhole(Direction::down);
  const std::uint64_t dropped = proxy.counters().dropped_down;
  CHECK(contains(proxy.apply_command("inject down ee ee"), "no live connection"));
  LONGS_EQUAL(dropped + 2, proxy.counters().dropped_down);
  // The other direction still takes them.
  STRCMP_EQUAL("", proxy.apply_command("inject up ee").c_str());
  CHECK(run_until(io, [&] { return pair.server->received == "\xee"; }));
  run_for(io, kQuiet);
  LONGS_EQUAL(4, pair.device->received.size());
}

TEST(FaultProxy, InjectCommandIsParsedAndCheckedLikeTheOthers) {
  Upstream upstream(io);
  FaultProxy proxy(io, loopback(upstream.port()));
  STRCMP_EQUAL("", FaultProxy::check_command("inject down ff ff ff ff").c_str());
  STRCMP_EQUAL("", FaultProxy::check_command("  inject up 00 01 \r").c_str());
  STRCMP_EQUAL("", FaultProxy::check_command("inject down DEADbeef").c_str());
  STRCMP_EQUAL("", FaultProxy::check_schedule("0.1s inject down ff ff; 0.2s forward").c_str());
  std::string longest = "inject down";
  for (int i = 0; i < 1024; ++i) longest += " ab";
  STRCMP_EQUAL("", FaultProxy::check_command(longest).c_str());
  struct Bad {
    const char* line;
    const char* named;
  };
  const Bad bad[] = {
      {"inject", "inject"},          {"inject down", "missing"},   {"inject both ff", "both"},
      {"inject sideways ff", "sideways"}, {"inject down f", "'f'"}, {"inject down fff", "fff"},
      {"inject down zz", "zz"},      {"inject down 0x01", "0x01"}, {"inject up ff -1", "-1"},
  };
  for (const Bad& b : bad) {
    const std::string message = proxy.apply_command(b.line);
    if (message.empty() || !contains(message, b.named)) {
      FAIL(("'" + std::string(b.line) + "' gave '" + message + "'").c_str());
    }
    CHECK(!FaultProxy::check_command(b.line).empty());
  }
  CHECK(contains(FaultProxy::check_command(longest + " cd"), "more than 1024 bytes"));
  CHECK(contains(FaultProxy::check_schedule("0.1s inject down zz"), "zz"));
}
