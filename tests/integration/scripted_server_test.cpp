// SPDX-License-Identifier: Apache-2.0
// Self-tests of ScriptedServer, driven by a raw Asio client socket in the
// same io_context. Every wait is io_context::run_for() until a predicate
// holds or a deadline of a few seconds passes.
#include "uplink/net/asio.hpp"  // first: Asio's configuration depends on it
#include "support/run_until.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <asio/connect.hpp>
#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include "support/fd_count.hpp"
#include "support/scripted_server.hpp"
#include "uplink/codec/frame_decoder.hpp"
#include "uplink/codec/frame_encoder.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using test::ScriptedServer;
using Behavior = ScriptedServer::Behavior;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::milliseconds kDeadline = 3s;

// Runs `io` until `done()` holds or `timeout` passes. Returns done().
template <typename Pred>
bool run_until(asio::io_context& io, Pred done, std::chrono::milliseconds timeout = kDeadline) {
  return test::run_until(io, done, timeout);
}
using test::run_for;

// A frame received by the raw client, with owned copies of its bytes.
struct Got {
  FrameType type = FrameType::ping;
  Welcome welcome;
  std::uint64_t seq = 0;  // DATA, ACK
  std::string bytes;      // DATA payload, CLOSE text
  CloseReason reason = CloseReason::normal;
  std::uint32_t retry_after_ms = 0;
};

// A raw TCP client: writes whatever it is told, records every byte and
// every frame it reads. Handlers hold the shared state, so destroying the
// client before its handlers run is safe.
class RawClient {
 public:
  struct State {
    explicit State(asio::io_context& io) : socket(io) {}
    asio::ip::tcp::socket socket;
    FrameDecoder<> decoder;
    std::array<std::uint8_t, 1024> rx{};
    std::vector<std::uint8_t> bytes;
    std::vector<Got> frames;
    bool connect_done = false;
    std::error_code connect_error;
    bool read_done = false;  // EOF or error
    std::error_code read_error;
    bool decode_failed = false;
  };

  explicit RawClient(asio::io_context& io) : s_(std::make_shared<State>(io)) {}
  ~RawClient() {
    std::error_code ignored;
    s_->socket.close(ignored);
  }

  void connect(std::uint16_t port) {
    const asio::ip::tcp::endpoint endpoint(asio::ip::address_v4::loopback(), port);
    s_->socket.async_connect(endpoint, [s = s_](std::error_code error) {
      s->connect_done = true;
      s->connect_error = error;
      if (!error) read(s);
    });
  }

  bool connect_and_wait(asio::io_context& io, std::uint16_t port) {
    connect(port);
    return run_until(io, [this] { return s_->connect_done; }) && !s_->connect_error;
  }

  bool send(const std::uint8_t* data, std::size_t size) {
    std::error_code error;
    asio::write(s_->socket, asio::buffer(data, size), error);
    return !error;
  }

  template <typename F>
  bool send_frame(const F& frame) {
    std::uint8_t buffer[kMaxFrameSize];
    const EncodeResult r = encode(frame, ByteSpan{buffer, sizeof buffer});
    return r && send(buffer, r.size);
  }

  bool send_ping() {
    std::uint8_t buffer[2];
    return encode_ping(ByteSpan{buffer, sizeof buffer}) && send(buffer, sizeof buffer);
  }

  bool send_hello(std::uint32_t heartbeat_ms = 1000, std::uint64_t session_id = 0, std::uint64_t last_downlink = 0) {
    Hello hello;
    hello.device_id = literal_bytes("dev-0001");
    hello.token = literal_bytes("s3cret");
    hello.heartbeat_ms = heartbeat_ms;
    hello.session_id = session_id;
    hello.last_downlink_seq = last_downlink;
    return send_frame(hello);
  }

  bool send_data(std::uint64_t seq, const char* payload) {
    Data data;
    data.seq = seq;
    data.payload = ConstByteSpan{payload, std::strlen(payload)};
    return send_frame(data);
  }

  // Connects, sends HELLO and waits for the WELCOME.
  bool handshake(asio::io_context& io, std::uint16_t port, std::uint32_t heartbeat_ms = 1000,
                 std::uint64_t session_id = 0, std::uint64_t last_downlink = 0) {
    return connect_and_wait(io, port) && send_hello(heartbeat_ms, session_id, last_downlink) &&
           run_until(io, [this] { return !s_->frames.empty(); }) && s_->frames[0].type == FrameType::welcome;
  }

  bool wait_frames(asio::io_context& io, std::size_t n) {
    return run_until(io, [this, n] { return s_->frames.size() >= n; });
  }
  bool wait_closed(asio::io_context& io) {
    return run_until(io, [this] { return s_->read_done; });
  }

  const std::vector<Got>& frames() const { return s_->frames; }
  const std::vector<std::uint8_t>& bytes() const { return s_->bytes; }
  std::error_code connect_error() const { return s_->connect_error; }
  bool closed() const { return s_->read_done; }
  std::error_code read_error() const { return s_->read_error; }
  bool decode_failed() const { return s_->decode_failed; }
  asio::ip::tcp::socket& socket() { return s_->socket; }
  void close() {
    std::error_code ignored;
    s_->socket.close(ignored);
  }
  std::size_t count(FrameType type) const {
    std::size_t n = 0;
    for (const Got& g : s_->frames) n += g.type == type ? 1 : 0;
    return n;
  }

 private:
  static void read(const std::shared_ptr<State>& s) {
    s->socket.async_read_some(asio::buffer(s->rx), [s](std::error_code error, std::size_t n) {
      if (error) {
        s->read_done = true;
        s->read_error = error;
        return;
      }
      s->bytes.insert(s->bytes.end(), s->rx.begin(), s->rx.begin() + static_cast<std::ptrdiff_t>(n));
      decode(*s, ConstByteSpan{s->rx.data(), n});
      read(s);
    });
  }

  static void decode(State& s, ConstByteSpan input) {
    const std::size_t max_frames = input.size / 2 + 1;  // fixed on entry: each frame is at least 2 bytes
    for (std::size_t guard = 0; guard <= max_frames && !input.empty() && !s.decode_failed; ++guard) {
      const FrameDecoderBase::Result r = s.decoder.feed(input);
      input = input.subspan(r.consumed);
      if (r.status == DecodeStatus::error) s.decode_failed = true;
      if (r.status != DecodeStatus::frame_ready) return;
      const Frame& f = s.decoder.frame();
      Got g;
      g.type = f.type;
      g.welcome = f.welcome;
      if (f.type == FrameType::data) {
        g.seq = f.data.seq;
        g.bytes.assign(reinterpret_cast<const char*>(f.data.payload.data), f.data.payload.size);
      } else if (f.type == FrameType::ack) {
        g.seq = f.ack.seq;
      } else if (f.type == FrameType::close) {
        g.reason = f.close.reason;
        g.retry_after_ms = f.close.retry_after_ms;
        g.bytes.assign(reinterpret_cast<const char*>(f.close.text.data), f.close.text.size);
      }
      s.frames.push_back(std::move(g));
    }
  }

  std::shared_ptr<State> s_;
};

}  // namespace

TEST_GROUP(ScriptedServer) {
  asio::io_context io;
};

TEST(ScriptedServer, ListensOnAnEphemeralLoopbackPort) {
  ScriptedServer server(io);
  CHECK(!server.listen_error());
  CHECK(server.port() != 0);
  CHECK(server.listening());
}

TEST(ScriptedServer, HelloGetsWelcomeWithRequestedHeartbeatAndNewSession) {
  ScriptedServer server(io);
  RawClient client(io);
  CHECK(client.handshake(io, server.port(), 1234));
  const Welcome& w = client.frames()[0].welcome;
  LONGS_EQUAL(kProtocolVersion, w.version);
  LONGS_EQUAL(1234, w.heartbeat_ms);
  CHECK(w.session_id != 0);
  CHECK(w.next_uplink_seq == 1);
  CHECK(server.last_session_id() == w.session_id);
  LONGS_EQUAL(1, server.accepted());
  LONGS_EQUAL(1, server.hellos());
  LONGS_EQUAL(1, server.welcomes());
  LONGS_EQUAL(1, server.live_connections());
  const ScriptedServer::HelloInfo hello = server.last_hello();
  STRCMP_EQUAL("dev-0001", hello.device_id.c_str());
  STRCMP_EQUAL("s3cret", hello.token.c_str());
  LONGS_EQUAL(1234, hello.heartbeat_ms);
  CHECK(hello.session_id == 0);
  CHECK(hello.last_downlink_seq == 0);
}

TEST(ScriptedServer, HeartbeatIsClampedWhenAClampIsSet) {
  ScriptedServer server(io);
  server.set_heartbeat_clamp(2000, 5000);
  RawClient low(io);
  RawClient high(io);
  CHECK(low.handshake(io, server.port(), 100));
  CHECK(high.handshake(io, server.port(), 60000));
  LONGS_EQUAL(2000, low.frames()[0].welcome.heartbeat_ms);
  LONGS_EQUAL(5000, high.frames()[0].welcome.heartbeat_ms);
}

TEST(ScriptedServer, PingGetsPong) {
  ScriptedServer server(io);
  RawClient client(io);
  CHECK(client.connect_and_wait(io, server.port()));
  CHECK(client.send_ping());  // allowed before HELLO
  CHECK(client.wait_frames(io, 1));
  CHECK(client.frames()[0].type == FrameType::pong);
  CHECK(client.send_hello());
  CHECK(client.wait_frames(io, 2));
  CHECK(client.send_ping());
  CHECK(client.wait_frames(io, 3));
  CHECK(client.frames()[2].type == FrameType::pong);
  LONGS_EQUAL(2, server.pings_received());
}

TEST(ScriptedServer, DataIsRecordedAndAcknowledged) {
  ScriptedServer server(io);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  CHECK(client.send_data(1, "temp=21"));
  CHECK(client.send_data(2, ""));
  CHECK(client.wait_frames(io, 3));
  CHECK(client.frames()[1].type == FrameType::ack);
  CHECK(client.frames()[2].type == FrameType::ack);
  CHECK(client.frames()[2].seq == 2);
  const std::vector<ScriptedServer::Received> got = server.received();
  LONGS_EQUAL(2, got.size());
  CHECK(got[0].seq == 1);
  STRCMP_EQUAL("temp=21", got[0].payload.c_str());
  CHECK(got[1].seq == 2);
  CHECK(got[1].payload.empty());
}

TEST(ScriptedServer, WrongSeqGetsCloseSequenceError) {
  ScriptedServer server(io);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  CHECK(client.send_data(2, "gap"));
  CHECK(client.wait_closed(io));
  LONGS_EQUAL(2, client.frames().size());
  CHECK(client.frames()[1].type == FrameType::close);
  CHECK(client.frames()[1].reason == CloseReason::sequence_error);
  CHECK(client.read_error() == asio::error::eof);
  CHECK(server.received().empty());
  client.close();
  CHECK(run_until(io, [&] { return server.live_connections() == 0; }));
}

TEST(ScriptedServer, ResumedSessionKeepsIdAndUplinkPosition) {
  ScriptedServer server(io);
  std::uint64_t session = 0;
  {
    RawClient first(io);
    CHECK(first.handshake(io, server.port()));
    session = first.frames()[0].welcome.session_id;
    CHECK(first.send_data(1, "a"));
    CHECK(first.send_data(2, "b"));
    CHECK(first.wait_frames(io, 3));
  }
  RawClient second(io);
  CHECK(second.handshake(io, server.port(), 1000, session, 0));
  CHECK(second.frames()[0].welcome.session_id == session);
  CHECK(second.frames()[0].welcome.next_uplink_seq == 3);
  CHECK(second.send_data(3, "c"));
  CHECK(second.wait_frames(io, 2));
  CHECK(second.frames()[1].seq == 3);

  // An unknown session (e.g. the server lost it) gets a new one from 1.
  server.forget_sessions();
  RawClient third(io);
  CHECK(third.handshake(io, server.port(), 1000, session, 0));
  CHECK(third.frames()[0].welcome.session_id != session);
  CHECK(third.frames()[0].welcome.next_uplink_seq == 1);
}

TEST(ScriptedServer, DownlinkDataIsSequencedAckedAndResentOnResume) {
  ScriptedServer server(io);
  std::uint64_t session = 0;
  {
    RawClient client(io);
    CHECK(client.handshake(io, server.port()));
    session = client.frames()[0].welcome.session_id;
    LONGS_EQUAL(1, server.send_data("one"));
    LONGS_EQUAL(1, server.send_data("two"));
    CHECK(client.wait_frames(io, 3));
    CHECK(client.frames()[1].type == FrameType::data);
    CHECK(client.frames()[1].seq == 1);
    STRCMP_EQUAL("one", client.frames()[1].bytes.c_str());
    CHECK(client.frames()[2].seq == 2);
    Ack ack;
    ack.seq = 1;
    CHECK(client.send_frame(ack));
    CHECK(run_until(io, [&] { return server.acks_received() == 1; }));
  }
  CHECK(run_until(io, [&] { return server.live_connections() == 0; }));
  LONGS_EQUAL(0, server.send_data("nobody online"));

  // Resume having delivered 1: the server resends 2, then continues at 3.
  RawClient client(io);
  CHECK(client.handshake(io, server.port(), 1000, session, 1));
  CHECK(client.wait_frames(io, 2));
  CHECK(client.frames()[1].seq == 2);
  STRCMP_EQUAL("two", client.frames()[1].bytes.c_str());
  LONGS_EQUAL(1, server.send_data("three"));
  CHECK(client.wait_frames(io, 3));
  CHECK(client.frames()[2].seq == 3);
}

TEST(ScriptedServer, SendPingReachesEveryLiveConnection) {
  ScriptedServer server(io);
  RawClient a(io);
  RawClient b(io);
  CHECK(a.handshake(io, server.port()));
  CHECK(b.connect_and_wait(io, server.port()));
  CHECK(run_until(io, [&] { return server.live_connections() == 2; }));
  LONGS_EQUAL(2, server.send_ping());
  CHECK(a.wait_frames(io, 2));
  CHECK(b.wait_frames(io, 1));
  CHECK(a.frames()[1].type == FrameType::ping);
  CHECK(b.frames()[0].type == FrameType::ping);
}

TEST(ScriptedServer, NeverWelcomeReadsButNeverAnswers) {
  ScriptedServer server(io);
  server.set_behavior(Behavior::never_welcome);
  RawClient client(io);
  CHECK(client.connect_and_wait(io, server.port()));
  CHECK(client.send_hello());
  CHECK(client.send_ping());
  CHECK(run_until(io, [&] { return server.pings_received() == 1; }));
  run_for(io, 100ms);
  LONGS_EQUAL(1, server.hellos());
  LONGS_EQUAL(0, server.welcomes());
  CHECK(client.bytes().empty());
  CHECK(!client.closed());
  LONGS_EQUAL(1, server.live_connections());
}

TEST(ScriptedServer, AcceptAndHoldNeitherReadsNorWrites) {
  ScriptedServer server(io);
  server.set_behavior(Behavior::accept_and_hold);
  RawClient client(io);
  CHECK(client.connect_and_wait(io, server.port()));
  CHECK(client.send_hello());
  CHECK(run_until(io, [&] { return server.accepted() == 1; }));
  run_for(io, 100ms);
  LONGS_EQUAL(0, server.hellos());
  CHECK(client.bytes().empty());
  CHECK(!client.closed());
}

TEST(ScriptedServer, SilentAfterWelcomeKeepsReadingButNeverWrites) {
  ScriptedServer server(io);
  server.set_behavior(Behavior::silent_after_welcome);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  CHECK(client.send_ping());
  CHECK(client.send_data(1, "x"));
  CHECK(run_until(io, [&] { return server.pings_received() == 1; }));
  run_for(io, 100ms);
  LONGS_EQUAL(1, client.frames().size());
  CHECK(server.received().empty());
  CHECK(!client.closed());
}

TEST(ScriptedServer, GarbageAfterWelcomeSendsFourFfBytes) {
  ScriptedServer server(io);
  server.set_behavior(Behavior::garbage_after_welcome);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  CHECK(run_until(io, [&] { return client.bytes().size() >= encoded_size(Welcome{}) + 4; }));
  run_for(io, 50ms);
  const std::vector<std::uint8_t>& bytes = client.bytes();
  LONGS_EQUAL(encoded_size(Welcome{}) + 4, bytes.size());
  for (std::size_t i = bytes.size() - 4; i < bytes.size(); ++i) LONGS_EQUAL(0xff, bytes[i]);
  CHECK(client.decode_failed());
  // The device answers CLOSE protocol_error and closes: the server records it.
  Close close;
  close.reason = CloseReason::protocol_error;
  CHECK(client.send_frame(close));
  CHECK(run_until(io, [&] { return server.closes_received() == 1; }));
  CHECK(server.last_close_reason() == CloseReason::protocol_error);
  CHECK(client.wait_closed(io));
}

TEST(ScriptedServer, CloseFrameAfterWelcomeSaysGoingAwayAndCloses) {
  ScriptedServer server(io);
  server.set_behavior(Behavior::close_frame_after_welcome);
  server.set_retry_after(5000);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  CHECK(client.wait_closed(io));
  CHECK(client.read_error() == asio::error::eof);
  LONGS_EQUAL(2, client.frames().size());
  const Got& close = client.frames()[1];
  CHECK(close.type == FrameType::close);
  CHECK(close.reason == CloseReason::going_away);
  LONGS_EQUAL(5000, close.retry_after_ms);
  STRCMP_EQUAL("restart", close.bytes.c_str());
}

TEST(ScriptedServer, CloseAfterWelcomeIsAGracefulClose) {
  ScriptedServer server(io);
  server.set_behavior(Behavior::close_after_welcome);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  CHECK(client.wait_closed(io));
  CHECK(client.read_error() == asio::error::eof);
  LONGS_EQUAL(1, client.frames().size());
  client.close();
  CHECK(run_until(io, [&] { return server.live_connections() == 0; }));
}

TEST(ScriptedServer, ResetAfterWelcomeIsSeenAsReset) {
  ScriptedServer server(io);
  server.set_behavior(Behavior::reset_after_welcome);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  CHECK(client.wait_closed(io));
  CHECK(client.read_error() == asio::error::connection_reset);
  CHECK(run_until(io, [&] { return server.live_connections() == 0; }));
}

TEST(ScriptedServer, CloseMidFrameSendsThreeBytesOfDataThenEof) {
  ScriptedServer server(io);
  server.set_behavior(Behavior::close_mid_frame);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  CHECK(client.wait_closed(io));
  CHECK(client.read_error() == asio::error::eof);
  const std::vector<std::uint8_t>& bytes = client.bytes();
  LONGS_EQUAL(encoded_size(Welcome{}) + 3, bytes.size());
  LONGS_EQUAL(0x03, bytes[encoded_size(Welcome{})]);
  LONGS_EQUAL(1, client.frames().size());
}

TEST(ScriptedServer, StopReadingAfterWelcomeStallsTheWriterButKeepsPinging) {
  ScriptedServer server(io);
  server.set_behavior(Behavior::stop_reading_after_welcome);
  server.set_ping_interval(20);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  // Keep the client's own send buffer small too, so the stall comes quickly.
  std::error_code ignored;
  client.socket().set_option(asio::socket_base::send_buffer_size(4096), ignored);
  CHECK(client.wait_frames(io, 4));  // pings keep coming
  CHECK(client.frames()[1].type == FrameType::ping);

  std::vector<std::uint8_t> big(4 * 1024 * 1024, 0x00);
  for (std::size_t i = 0; i + 1 < big.size(); i += 2) big[i + 1] = wire::kPong;  // a stream of PONGs
  bool write_done = false;
  std::size_t written = 0;
  asio::async_write(client.socket(), asio::buffer(big), [&](std::error_code, std::size_t n) {
    write_done = true;
    written = n;
  });
  const std::size_t pings_before = client.count(FrameType::ping);
  run_for(io, 300ms);
  CHECK(!write_done);
  CHECK(client.count(FrameType::ping) > pings_before);
  client.close();  // cancels the write
  CHECK(run_until(io, [&] { return write_done; }));
  CHECK(written < big.size());
}

TEST(ScriptedServer, SetBehaviorNowSwitchesLiveConnections) {
  ScriptedServer server(io);
  RawClient client(io);
  CHECK(client.handshake(io, server.port()));
  server.set_behavior_now(Behavior::silent_after_welcome);
  CHECK(client.send_ping());
  CHECK(run_until(io, [&] { return server.pings_received() == 1; }));
  run_for(io, 50ms);
  LONGS_EQUAL(1, client.frames().size());  // no PONG
  CHECK(server.behavior() == Behavior::silent_after_welcome);

  server.set_behavior_now(Behavior::close_frame_after_welcome);
  CHECK(client.wait_closed(io));
  CHECK(client.frames().back().type == FrameType::close);
}

TEST(ScriptedServer, StopListeningRefusesConnects) {
  ScriptedServer server(io);
  const std::uint16_t port = server.port();
  server.stop_listening();
  CHECK(!server.listening());
  RawClient client(io);
  client.connect(port);
  CHECK(run_until(io, [&] { return client.connect_error() || client.closed(); }));
  CHECK(client.connect_error() == asio::error::connection_refused);
}

TEST(ScriptedServer, StartListeningAgainUsesTheSamePort) {
  ScriptedServer server(io);
  const std::uint16_t port = server.port();
  RawClient live(io);
  CHECK(live.handshake(io, port));  // a connection on the port while it re-listens
  server.stop_listening();
  run_for(io, 20ms);
  CHECK(!server.start_listening());
  CHECK(server.listening());
  LONGS_EQUAL(port, server.port());
  RawClient client(io);
  CHECK(client.handshake(io, port));
  LONGS_EQUAL(2, server.accepted());
  // Stopping and starting again within one io_context turn leaves one accept loop.
  server.stop_listening();
  CHECK(!server.start_listening());
  RawClient third(io);
  CHECK(third.handshake(io, port));
  LONGS_EQUAL(3, server.accepted());
}

TEST(ScriptedServer, CloseAllAndResetAll) {
  ScriptedServer server(io);
  RawClient a(io);
  RawClient b(io);
  CHECK(a.handshake(io, server.port()));
  CHECK(b.handshake(io, server.port()));
  server.close_all();
  CHECK(a.wait_closed(io));
  CHECK(b.wait_closed(io));
  CHECK(a.read_error() == asio::error::eof);

  RawClient c(io);
  CHECK(c.handshake(io, server.port()));
  server.reset_all();
  CHECK(c.wait_closed(io));
  CHECK(c.read_error() == asio::error::connection_reset);
}

TEST(ScriptedServer, DestroyingTheServerClosesEverythingAndLeaksNoFd) {
  RawClient client(io);
  RawClient held(io);
  const std::size_t fds_before = test::open_fd_count();  // after the io_context's own fds exist
  {
    ScriptedServer server(io);
    CHECK(client.handshake(io, server.port()));
    server.set_behavior(Behavior::stop_reading_after_welcome);
    CHECK(held.handshake(io, server.port()));
    CHECK(run_until(io, [&] { return server.live_connections() == 2; }));
  }
  // Handlers of the destroyed server still run here: they must be harmless.
  CHECK(client.wait_closed(io));
  CHECK(held.wait_closed(io));
  run_for(io, 20ms);
  client.close();
  held.close();
  LONGS_EQUAL(fds_before, test::open_fd_count());
}
