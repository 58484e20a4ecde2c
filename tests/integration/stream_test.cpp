// SPDX-License-Identifier: Apache-2.0
// The transport seam's edge semantics (uplink/net/stream.hpp), checked for
// both streams over loopback socket pairs: completions never inside the
// initiating call and always with their connection's tag, the end of the
// stream as Errc::connection_closed, stale completions after a close, the
// keep_alive reference, and TLS carrying more than the socket buffers hold
// (every write that waits is retried with the same span).
#include "uplink/net/asio.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "support/run_until.hpp"
#include "support/test_pki.hpp"
#include "uplink/error.hpp"
#include "uplink/net/stream.hpp"
#include "uplink/net/tcp_stream.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_error.hpp"
#include "uplink/tls/tls_stream.hpp"

#include <CppUTest/TestHarness.h>

namespace uplink {
namespace {

using namespace std::chrono_literals;

// What a stream reported, in order.
struct Recorder final : net::StreamHandler {
  struct Event {
    char kind;  // 'o'pen, 'r'ead, 'w'ritten, 's'hutdown
    std::uint32_t tag;
    std::error_code error;
    std::size_t bytes;
  };
  std::vector<Event> events;
  std::vector<std::uint8_t> received;  // bytes of successful reads (into `buffer`)
  std::uint8_t buffer[4096] = {};
  std::function<void(const Event&)> then;  // the owner's next step, from inside the completion

  void on_stream_open(std::uint32_t tag, std::error_code error) override { events.push_back({'o', tag, error, 0}); }
  void on_stream_read(std::uint32_t tag, std::error_code error, std::size_t bytes) override {
    events.push_back({'r', tag, error, bytes});
    if (!error) received.insert(received.end(), buffer, buffer + bytes);
    if (then) then(events.back());
  }
  void on_stream_written(std::uint32_t tag, std::error_code error, std::size_t bytes) override {
    events.push_back({'w', tag, error, bytes});
    if (then) then(events.back());
  }
  void on_stream_shutdown(std::uint32_t tag, std::error_code error) override {
    events.push_back({'s', tag, error, 0});
  }
  [[nodiscard]] std::size_t count(char kind) const {
    std::size_t n = 0;
    for (const Event& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
  [[nodiscard]] const Event* last(char kind) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->kind == kind) return &*it;
    }
    return nullptr;
  }
};

// The test server identity, with or without session tickets.
tls::TlsSettings server_settings(bool session_tickets) {
  const test::TestPki& pki = test::test_pki();
  tls::TlsSettings s;
  s.role = tls::TlsRole::server;
  s.certificate = tls::Credential::pem(pki.server.certificate_pem);
  s.private_key = tls::Credential::pem(pki.server.key_pem);
  s.session_tickets = session_tickets;
  return s;
}

// Two connected loopback sockets.
struct SocketPair {
  explicit SocketPair(asio::io_context& io) : a(io.get_executor()), b(io.get_executor()) {
    asio::basic_socket_acceptor<asio::ip::tcp, net::Executor> acceptor(
        io.get_executor(), asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    asio::error_code error;
    a.connect(acceptor.local_endpoint(), error);
    CHECK(!error);
    acceptor.accept(b, error);
    CHECK(!error);
    // As the client and the server set it: without, Nagle's algorithm and
    // delayed ACKs stall small writes for tens of milliseconds.
    a.set_option(asio::ip::tcp::no_delay(true));
    b.set_option(asio::ip::tcp::no_delay(true));
  }
  net::TcpSocket a;
  net::TcpSocket b;
};

}  // namespace

TEST_GROUP(TcpStream) {
  asio::io_context io;
  std::unique_ptr<SocketPair> pair;
  Recorder recorder;
  net::TcpStream stream;

  void setup() override { pair = std::make_unique<SocketPair>(io); }
  void teardown() override {
    asio::error_code ignored;
    pair->a.close(ignored);
    pair->b.close(ignored);
    test::run_for(io, 20ms);
  }
};

TEST(TcpStream, OpenCompletesAfterTheCallWithItsTag) {
  stream.async_open(pair->a, recorder, 7, nullptr);
  CHECK(recorder.events.empty());  // never inside the initiating call
  CHECK(test::run_until(io, [&] { return recorder.count('o') == 1; }, 2000ms));
  UNSIGNED_LONGS_EQUAL(7, recorder.last('o')->tag);
  CHECK(!recorder.last('o')->error);
}

TEST(TcpStream, CarriesBytesBothWays) {
  stream.async_open(pair->a, recorder, 1, nullptr);
  CHECK(test::run_until(io, [&] { return recorder.count('o') == 1; }, 2000ms));
  const std::uint8_t hello[] = {'h', 'e', 'l', 'l', 'o'};
  stream.async_write_some(ConstByteSpan{hello, sizeof hello});
  CHECK(recorder.count('w') == 0);
  CHECK(test::run_until(io, [&] { return recorder.count('w') == 1; }, 2000ms));
  UNSIGNED_LONGS_EQUAL(sizeof hello, recorder.last('w')->bytes);
  std::uint8_t got[5] = {};
  asio::error_code error;
  asio::read(pair->b, asio::buffer(got), error);
  CHECK(!error);
  MEMCMP_EQUAL(hello, got, sizeof got);

  asio::write(pair->b, asio::buffer(hello), error);
  stream.async_read_some(ByteSpan{recorder.buffer, sizeof recorder.buffer});
  CHECK(test::run_until(io, [&] { return recorder.received.size() == sizeof hello; }, 2000ms));
  UNSIGNED_LONGS_EQUAL(1, recorder.last('r')->tag);
}

TEST(TcpStream, PeerHangUpIsConnectionClosed) {
  stream.async_open(pair->a, recorder, 1, nullptr);
  CHECK(test::run_until(io, [&] { return recorder.count('o') == 1; }, 2000ms));
  stream.async_read_some(ByteSpan{recorder.buffer, sizeof recorder.buffer});
  pair->b.close();
  CHECK(test::run_until(io, [&] { return recorder.count('r') == 1; }, 2000ms));
  CHECK(recorder.last('r')->error == Errc::connection_closed);
}

TEST(TcpStream, ClosingTheSocketCompletesTheReadWithItsOwnTag) {
  stream.async_open(pair->a, recorder, 3, nullptr);
  CHECK(test::run_until(io, [&] { return recorder.count('o') == 1; }, 2000ms));
  stream.async_read_some(ByteSpan{recorder.buffer, sizeof recorder.buffer});
  stream.close({});
  pair->a.close();
  // The owner may open the next connection before the stale read completes.
  SocketPair next(io);
  stream.async_open(next.a, recorder, 4, nullptr);
  CHECK(test::run_until(io, [&] { return recorder.count('r') == 1 && recorder.count('o') == 2; }, 2000ms));
  UNSIGNED_LONGS_EQUAL(3, recorder.last('r')->tag);  // stale: the owner recognises it
  CHECK(static_cast<bool>(recorder.last('r')->error));
  UNSIGNED_LONGS_EQUAL(4, recorder.last('o')->tag);
}

TEST(TcpStream, KeepAliveIsHeldByPendingCompletionsAndDroppedByClose) {
  auto owner = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = owner;
  stream.async_open(pair->a, recorder, 1, owner);
  owner.reset();
  CHECK(test::run_until(io, [&] { return recorder.count('o') == 1; }, 2000ms));
  stream.async_read_some(ByteSpan{recorder.buffer, sizeof recorder.buffer});
  CHECK(!watch.expired());  // the stream's copy and the pending read's
  stream.close({});
  CHECK(!watch.expired());  // the pending read still holds it
  pair->a.close();
  CHECK(test::run_until(io, [&] { return recorder.count('r') == 1; }, 2000ms));
  CHECK(watch.expired());
}

TEST(TcpStream, ShutdownSendsFinAndReadsGoOn) {
  stream.async_open(pair->a, recorder, 1, nullptr);
  CHECK(test::run_until(io, [&] { return recorder.count('o') == 1; }, 2000ms));
  stream.async_shutdown();
  CHECK(test::run_until(io, [&] { return recorder.count('s') == 1; }, 2000ms));
  CHECK(!recorder.last('s')->error);
  std::uint8_t byte = 0;
  asio::error_code error;
  pair->b.read_some(asio::buffer(&byte, 1), error);
  CHECK(error == asio::error::eof);
  asio::write(pair->b, asio::buffer("x", 1), error);
  stream.async_read_some(ByteSpan{recorder.buffer, sizeof recorder.buffer});
  CHECK(test::run_until(io, [&] { return recorder.received.size() == 1; }, 2000ms));
}

TEST_GROUP(TlsStream) {
  asio::io_context io;
  std::unique_ptr<SocketPair> pair;
  tls::TlsConfig server_config;
  tls::TlsConfig client_config;
  tls::TlsEngine server_engine;
  tls::TlsEngine client_engine;
  std::unique_ptr<tls::TlsStream> server;
  std::unique_ptr<tls::TlsStream> client;
  Recorder server_side;
  Recorder client_side;

  void setup() override {
    CHECK(!server_config.init(server_settings(false)));
    tls::TlsSettings c;
    c.ca = tls::Credential::pem(test::test_pki().ca.certificate_pem);
    CHECK(!client_config.init(c));
    CHECK(!server_engine.setup(server_config, nullptr));
    CHECK(!client_engine.setup(client_config, "localhost"));
    server = std::make_unique<tls::TlsStream>(server_engine);
    client = std::make_unique<tls::TlsStream>(client_engine);
    pair = std::make_unique<SocketPair>(io);
  }
  void teardown() override {
    asio::error_code ignored;
    pair->a.close(ignored);
    pair->b.close(ignored);
    test::run_for(io, 20ms);
  }

  void open_both() {
    client->async_open(pair->a, client_side, 1, nullptr);
    server->async_open(pair->b, server_side, 2, nullptr);
    CHECK(test::run_until(io, [&] { return client_side.count('o') == 1 && server_side.count('o') == 1; }, 5000ms));
    CHECK(!client_side.last('o')->error);
    CHECK(!server_side.last('o')->error);
    UNSIGNED_LONGS_EQUAL(1, client_side.last('o')->tag);
    UNSIGNED_LONGS_EQUAL(2, server_side.last('o')->tag);
  }
};

TEST(TlsStream, CarriesMoreThanTheSocketBuffersHoldInOrder) {
  // A small send buffer: writes must wait for the socket (want_write) and
  // be retried with the very same span. (A tiny receive buffer as well
  // would only add the kernel's window-update stalls.)
  pair->a.set_option(asio::socket_base::send_buffer_size(4096));
  open_both();
  std::vector<std::uint8_t> payload(256 * 1024);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7 + (i >> 10));
  // The owners' loops, as client and server run them: the next write and
  // the next read start from the completion of the previous one.
  std::size_t written = 0;
  client_side.then = [&](const Recorder::Event& w) {
    CHECK(!w.error);
    written += w.bytes;
    if (written < payload.size()) {
      client->async_write_some(ConstByteSpan{payload.data() + written, payload.size() - written});
    }
  };
  server_side.then = [&](const Recorder::Event& r) {
    CHECK(!r.error);
    if (server_side.received.size() < payload.size()) {
      server->async_read_some(ByteSpan{server_side.buffer, sizeof server_side.buffer});
    }
  };
  client->async_write_some(ConstByteSpan{payload.data(), payload.size()});
  server->async_read_some(ByteSpan{server_side.buffer, sizeof server_side.buffer});
  const bool done = test::run_until(io, [&] { return server_side.received.size() == payload.size(); }, 20000ms);
  CHECK(done);
  CHECK(server_side.received == payload);
  CHECK(client_side.count('w') > 1);  // a record at a time: 16 KiB at most per write
}

TEST(TlsStream, ShutdownIsCloseNotifyThenFinAndThePeerReadsTheEnd) {
  open_both();
  server->async_read_some(ByteSpan{server_side.buffer, sizeof server_side.buffer});
  client->async_shutdown();
  CHECK(test::run_until(io, [&] { return client_side.count('s') == 1 && server_side.count('r') == 1; }, 5000ms));
  CHECK(!client_side.last('s')->error);
  CHECK(server_side.last('r')->error == Errc::connection_closed);
}

TEST(TlsStream, AHandshakeRunningAtTheDeadlineNamesItself) {
  // The peer accepts TCP and never answers the ClientHello.
  client->async_open(pair->a, client_side, 1, nullptr);
  test::run_for(io, 50ms);
  CHECK(client_side.events.empty());
  CHECK(client->open_timeout_reason() == tls::TlsErrc::handshake_timeout);
  client->close({});  // the owner's deadline: close, then the socket
  CHECK(!client->open_timeout_reason());
  pair->a.close();
  CHECK(test::run_until(io, [&] { return client_side.count('o') == 1; }, 2000ms));
  CHECK(static_cast<bool>(client_side.last('o')->error));
}

TEST(TlsStream, ASecondConnectionOnTheSameEngineResumesAfterReset) {
  // Session tickets on the server side so that the client can resume.
  tls::TlsConfig ticket_config;
  CHECK(!ticket_config.init(server_settings(true)));
  CHECK(!server_engine.setup(ticket_config, nullptr));
  open_both();
  client->close({});
  server->close({});
  pair = std::make_unique<SocketPair>(io);  // closes the first pair
  tls::TlsEngine second_server_engine;
  CHECK(!second_server_engine.setup(ticket_config, nullptr));
  tls::TlsStream second_server(second_server_engine);
  Recorder second_server_side;
  client->async_open(pair->a, client_side, 5, nullptr);  // the same stream and engine: reset() first
  second_server.async_open(pair->b, second_server_side, 6, nullptr);
  CHECK(test::run_until(io, [&] { return client_side.count('o') == 2 && second_server_side.count('o') == 1; },
                        5000ms));
  CHECK(!client_side.last('o')->error);
  UNSIGNED_LONGS_EQUAL(5, client_side.last('o')->tag);
  CHECK(client_engine.resumed());
  UNSIGNED_LONGLONGS_EQUAL(2, client_engine.stats().handshakes);
  second_server.close({});
  asio::error_code ignored;
  pair->b.close(ignored);
  test::run_for(io, 20ms);
}

TEST(TlsStream, WarnsOnEveryOpenOnlyWithoutVerification) {
  CHECK(client->open_warning() == nullptr);
  tls::TlsSettings insecure;
  insecure.insecure_skip_verify = true;
  tls::TlsConfig insecure_config;
  CHECK(!insecure_config.init(insecure));
  tls::TlsEngine engine;
  CHECK(!engine.setup(insecure_config, "localhost"));
  tls::TlsStream stream(engine);
  CHECK(stream.open_warning() != nullptr);
}

}  // namespace uplink
