// SPDX-License-Identifier: Apache-2.0
// The reference server in TLS mode (ServerOptions::tls) on 127.0.0.1, with
// certificates made at test time (support/test_pki). The devices are raw
// non-blocking Asio sockets on the server's io_context with a client
// TlsEngine each (fd_transport), polled between bounded run_for slices:
// the server's engines are driven by its async_waits, the devices' by the
// polls, all on this one thread.
#include "uplink/net/asio.hpp"
#include "support/run_until.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "server.hpp"
#include "server_session.hpp"
#include "support/test_pki.hpp"
#include "support/wire_frames.hpp"
#include "uplink/codec/frame_decoder.hpp"
#include "uplink/codec/frame_encoder.hpp"
#include "uplink/error.hpp"
#include "uplink/tls/fd_transport.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::server;
using namespace uplink::test;
using uplink::tls::Credential;
using uplink::tls::TlsConfig;
using uplink::tls::TlsEngine;
using uplink::tls::TlsResult;
using uplink::tls::TlsRole;
using uplink::tls::TlsSettings;
using uplink::tls::TlsStatus;

namespace {

// ------------------------------------------------------------- the devices

/// A device over TLS: a non-blocking socket, a client TlsEngine on it, and
/// a frame decoder for what it reads. poll() advances everything without
/// blocking. The engine outlives connections: connect() again resets it,
/// so the next handshake offers the saved session (resumption).
class TlsDevice {
 public:
  TlsDevice(asio::io_context& io, const TlsConfig& config) : socket_(io), config_(config) {}

  /// A fresh TCP connection and TLS connection; the handshake runs in poll().
  /// `receive_buffer` > 0 shrinks the socket's receive buffer (and window).
  bool connect(std::uint16_t port, int receive_buffer = 0) {
    asio::error_code error;
    if (socket_.is_open()) socket_.close(error);
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1", error), port);
    socket_.open(endpoint.protocol(), error);
    if (!error && receive_buffer > 0) socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer), error);
    if (!error) socket_.connect(endpoint, error);
    if (!error) socket_.non_blocking(true, error);
    if (error) return false;
    const std::error_code tls_error = set_up_ ? engine_.reset() : engine_.setup(config_, "localhost");
    set_up_ = true;
    engine_.set_transport(tls::fd_transport(socket_.native_handle()));
    decoder_.reset();
    frames_.clear();
    pending_.clear();
    inflight_.clear();
    inflight_offset_ = 0;
    eof_ = false;
    peer_closed_ = false;
    undecodable_ = false;
    handshake_error_.clear();
    read_error_.clear();
    return !tls_error;
  }

  /// Queues bytes; poll() encrypts and sends them once the handshake is done.
  void send(const Bytes& bytes) { pending_.insert(pending_.end(), bytes.begin(), bytes.end()); }

  void poll() {
    if (eof_ || !set_up_) return;
    if (!engine_.handshake_done()) {
      const TlsResult r = engine_.handshake_step();
      if (r.status == TlsStatus::error) {
        handshake_error_ = r.error;
        eof_ = true;
        return;
      }
      if (!r.ok()) return;
    }
    flush();
    for (int i = 0; i < 256 && !eof_; ++i) {
      std::uint8_t buffer[4096];
      const TlsResult r = engine_.read(ByteSpan{buffer, sizeof buffer});
      if (r.ok()) {
        decode(buffer, r.bytes);
        continue;
      }
      if (r.status == TlsStatus::want_read && engine_.has_pending_input()) continue;
      if (r.wants_io()) return;
      if (r.status == TlsStatus::closed) {
        peer_closed_ = true;
      } else {
        read_error_ = r.error;
      }
      eof_ = true;
    }
  }

  /// close_notify (best effort), then the socket.
  void close() {
    if (engine_.handshake_done()) (void)engine_.close_notify();
    asio::error_code ignored;
    socket_.close(ignored);
    eof_ = true;
  }

  [[nodiscard]] bool handshake_done() const { return engine_.handshake_done(); }
  [[nodiscard]] const std::error_code& handshake_error() const { return handshake_error_; }
  [[nodiscard]] const std::error_code& read_error() const { return read_error_; }
  [[nodiscard]] bool eof() const { return eof_; }
  /// The server ended the TLS stream with close_notify.
  [[nodiscard]] bool peer_closed() const { return peer_closed_; }
  [[nodiscard]] bool undecodable() const { return undecodable_; }
  [[nodiscard]] const TlsEngine& engine() const { return engine_; }
  [[nodiscard]] const std::vector<Owned>& frames() const { return frames_; }
  [[nodiscard]] std::size_t count(FrameType type) const {
    std::size_t n = 0;
    for (const Owned& f : frames_) n += f.type == type ? 1 : 0;
    return n;
  }
  [[nodiscard]] bool has(FrameType type) const { return count(type) > 0; }
  [[nodiscard]] Owned first(FrameType type) const {
    for (const Owned& f : frames_) {
      if (f.type == type) return f;
    }
    return {};
  }
  [[nodiscard]] std::uint64_t highest_ack() const {
    std::uint64_t highest = 0;
    for (const Owned& f : frames_) {
      if (f.type == FrameType::ack && f.seq > highest) highest = f.seq;
    }
    return highest;
  }

 private:
  /// Writes the queue. A write that returned want_* is retried with the
  /// very same span (pointer and size) on the next poll: new bytes go to
  /// pending_, never to the buffer being written.
  void flush() {
    for (int i = 0; i < 64; ++i) {  // every pass writes >= 1 byte, waits or ends
      if (inflight_offset_ == inflight_.size()) {
        if (pending_.empty()) return;
        inflight_.swap(pending_);
        pending_.clear();
        inflight_offset_ = 0;
      }
      const TlsResult r =
          engine_.write(ConstByteSpan{inflight_.data() + inflight_offset_, inflight_.size() - inflight_offset_});
      if (r.wants_io()) return;
      if (!r.ok()) {
        read_error_ = r.error;
        eof_ = true;
        return;
      }
      inflight_offset_ += r.bytes;
    }
  }

  void decode(const std::uint8_t* bytes, std::size_t size) {
    std::size_t offset = 0;
    while (offset < size && !undecodable_) {  // every pass consumes input or ends
      const FrameDecoderBase::Result result = decoder_.feed(ConstByteSpan{bytes + offset, size - offset});
      offset += result.consumed;
      if (result.status == DecodeStatus::error) {
        undecodable_ = true;
        return;
      }
      if (result.status == DecodeStatus::need_more) return;
      frames_.push_back(own(decoder_.frame()));
    }
  }

  asio::ip::tcp::socket socket_;
  const TlsConfig& config_;
  TlsEngine engine_;
  bool set_up_ = false;
  FrameDecoder<> decoder_;
  std::vector<Owned> frames_;
  Bytes pending_;   // queued by send()
  Bytes inflight_;  // being written; unchanged while a write is pinned
  std::size_t inflight_offset_ = 0;
  bool eof_ = false;
  bool peer_closed_ = false;
  bool undecodable_ = false;
  std::error_code handshake_error_;
  std::error_code read_error_;
};

/// A plain TCP client: sends bytes, notices the server hanging up.
class PlainDevice {
 public:
  explicit PlainDevice(asio::io_context& io) : socket_(io) {}
  bool connect(std::uint16_t port) {
    asio::error_code error;
    socket_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1", error), port), error);
    if (!error) socket_.non_blocking(true, error);
    return !error;
  }
  bool send(const Bytes& bytes) {
    asio::error_code error;
    asio::write(socket_, asio::buffer(bytes), error);  // small: fits in the socket buffer
    return !error;
  }
  void poll() {
    for (int i = 0; i < 64 && !eof_; ++i) {
      std::uint8_t buffer[4096];
      asio::error_code error;
      const std::size_t n = socket_.read_some(asio::buffer(buffer), error);
      if (error == asio::error::would_block || error == asio::error::try_again) return;
      if (error) {
        eof_ = true;
        return;
      }
      received_ += n;
    }
  }
  [[nodiscard]] bool eof() const { return eof_; }

 private:
  asio::ip::tcp::socket socket_;
  std::size_t received_ = 0;
  bool eof_ = false;
};

// ----------------------------------------------------------- event recorder

struct Event {
  std::string kind;
  std::string device;
  std::uint64_t session = 0;
  std::string reason;  // error reason, offline reason
  std::string detail;  // error detail
  bool resumed = false;
};

class Recorder final : public ServerEvents {
 public:
  void on_online(const OnlineEvent& e) override {
    Event r = base("online", e.device_id, e.session_id);
    r.resumed = e.resumed;
    events.push_back(r);
  }
  void on_message(const MessageEvent& e) override {
    Event r = base("message", e.device_id, e.session_id);
    r.detail.assign(reinterpret_cast<const char*>(e.payload.data), e.payload.size);
    events.push_back(r);
  }
  void on_offline(const OfflineEvent& e) override {
    Event r = base("offline", e.device_id, e.session_id);
    r.reason = offline_reason(e);
    events.push_back(r);
  }
  void on_error(const ErrorEvent& e) override {
    Event r = base("error", e.device_id, e.session_id);
    r.reason = e.reason;
    r.detail = std::string(e.detail);
    events.push_back(r);
  }

  std::size_t count(const char* kind) const {
    std::size_t n = 0;
    for (const Event& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
  Event last(const char* kind) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->kind == kind) return *it;
    }
    return {};
  }
  std::string messages() const {
    std::string text;
    for (const Event& e : events) {
      if (e.kind == "message") text += (text.empty() ? "" : " ") + e.detail;
    }
    return text;
  }

  std::vector<Event> events;

 private:
  static Event base(const char* kind, std::string_view device, std::uint64_t session) {
    Event e;
    e.kind = kind;
    e.device = std::string(device);
    e.session = session;
    return e;
  }
};

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

}  // namespace

// ============================================================================
// ReferenceServerTls
// ============================================================================

TEST_GROUP(ReferenceServerTls) {
  asio::io_context io;
  Recorder events;
  std::unique_ptr<TlsConfig> server_tls;
  std::unique_ptr<TlsConfig> device_tls;  // trusts the test CA, no certificate
  std::unique_ptr<TlsConfig> device_tls_with_cert;
  std::unique_ptr<TlsConfig> foreign_tls;  // a device certificate from another CA
  std::unique_ptr<Server> server;
  std::vector<std::unique_ptr<TlsDevice>> devices;
  std::vector<std::unique_ptr<PlainDevice>> plain_devices;

  void setup() override {
    TlsSettings s;
    s.ca = Credential::pem(test_pki().ca.certificate_pem);
    device_tls = std::make_unique<TlsConfig>();
    CHECK_FALSE(static_cast<bool>(device_tls->init(s)));
    s.certificate = Credential::pem(test_pki().client.certificate_pem);
    s.private_key = Credential::pem(test_pki().client.key_pem);
    device_tls_with_cert = std::make_unique<TlsConfig>();
    CHECK_FALSE(static_cast<bool>(device_tls_with_cert->init(s)));
  }

  void teardown() override {
    for (auto& d : devices) d->close();
    if (server) server->stop();
    server.reset();
    // Let the aborted handlers run, so they release what they hold.
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
    devices.clear();
    plain_devices.clear();
  }

  /// The server's TLS config: test PKI server certificate, session tickets
  /// on; with `require_client_certificate`, devices need one from the test CA.
  void make_server_tls(bool require_client_certificate = false, bool session_tickets = true) {
    TlsSettings s;
    s.role = TlsRole::server;
    s.certificate = Credential::pem(test_pki().server.certificate_pem);
    s.private_key = Credential::pem(test_pki().server.key_pem);
    if (require_client_certificate) {
      s.ca = Credential::pem(test_pki().ca.certificate_pem);
      s.require_client_certificate = true;
    }
    s.session_tickets = session_tickets;
    server_tls = std::make_unique<TlsConfig>();
    CHECK_FALSE(static_cast<bool>(server_tls->init(s)));
  }

  ServerOptions options() {
    if (!server_tls) make_server_tls();
    ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.session.heartbeat_min_ms = 20;
    o.close_linger_ms = 300;
    o.session_id_seed = 99;
    o.tls = server_tls.get();
    return o;
  }
  void start(const ServerOptions& o) {
    server = std::make_unique<Server>(io, events, o);
    const std::error_code error = server->start();
    CHECK_FALSE(error);
    CHECK(server->port() != 0);
  }
  TlsDevice& device(const TlsConfig* config = nullptr, int receive_buffer = 0) {
    devices.push_back(std::make_unique<TlsDevice>(io, config != nullptr ? *config : *device_tls));
    TlsDevice& d = *devices.back();
    CHECK_TRUE(d.connect(server->port(), receive_buffer));
    return d;
  }
  PlainDevice& plain_device() {
    plain_devices.push_back(std::make_unique<PlainDevice>(io));
    PlainDevice& d = *plain_devices.back();
    CHECK_TRUE(d.connect(server->port()));
    return d;
  }
  /// Runs the io_context in 5 ms slices, polling the devices, until `done`
  /// or `limit_ms` of wall time.
  template <typename Predicate>
  bool run_until(Predicate done, int limit_ms = 5000) {
    const auto poll_then_check = [&] {
      for (auto& d : devices) {
        if (!paused) d->poll();
      }
      for (auto& d : plain_devices) d->poll();
      return done();
    };
    return test::run_until(io, poll_then_check, std::chrono::milliseconds(limit_ms));
  }

  /// HELLO over TLS, until the WELCOME; returns it.
  Owned online(TlsDevice& d, const char* id, std::uint32_t heartbeat_ms = 1000, std::uint64_t resume = 0) {
    d.send(hello(id, heartbeat_ms, resume));
    CHECK_TRUE(run_until([&] { return d.has(FrameType::welcome) || d.eof(); }));
    CHECK_TRUE(d.handshake_done());
    CHECK_TRUE(d.has(FrameType::welcome));
    return d.first(FrameType::welcome);
  }

  bool paused = false;  // devices do not poll (nor read) while set
};

TEST(ReferenceServerTls, HelloIsAnsweredWithWelcomeOverTls) {
  start(options());
  TlsDevice& d = device();
  const Owned welcome = online(d, "pi-0001", 30000);
  UNSIGNED_LONGS_EQUAL(30000, welcome.welcome.heartbeat_ms);
  CHECK(welcome.welcome.session_id != 0);
  UNSIGNED_LONGS_EQUAL(1, welcome.welcome.next_uplink_seq);
  CHECK_TRUE(run_until([&] { return events.count("online") == 1; }));
  STRCMP_EQUAL("pi-0001", events.last("online").device.c_str());
  CHECK_TRUE(server->is_online("pi-0001"));
  UNSIGNED_LONGS_EQUAL(1, server->counters().tls_handshakes);
  UNSIGNED_LONGS_EQUAL(0, server->counters().tls_handshake_failures);
  CHECK_FALSE(d.engine().resumed());  // the first handshake is a full one
  STRCMP_CONTAINS("ECDHE", d.engine().ciphersuite());
}

TEST(ReferenceServerTls, DataIsAcknowledgedAndPingAnsweredOverTls) {
  start(options());
  TlsDevice& d = device();
  (void)online(d, "dev");
  d.send(data(1, "temp=21") + data(2, "temp=22"));
  CHECK_TRUE(run_until([&] { return d.highest_ack() == 2; }));
  STRCMP_EQUAL("temp=21 temp=22", events.messages().c_str());
  d.send(ping());
  CHECK_TRUE(run_until([&] { return d.has(FrameType::pong); }));
  d.send(data(3, "temp=23") + ping());
  CHECK_TRUE(run_until([&] { return d.highest_ack() == 3 && d.count(FrameType::pong) == 2; }));
  UNSIGNED_LONGS_EQUAL(3, server->counters().messages);
  CHECK_FALSE(d.undecodable());
}

TEST(ReferenceServerTls, MissingRequiredClientCertificateIsAHandshakeErrorAndTheServerGoesOn) {
  make_server_tls(/*require_client_certificate=*/true);
  start(options());
  TlsDevice& anonymous = device();  // trusts the server, presents no certificate
  CHECK_TRUE(run_until([&] { return events.count("error") == 1 && anonymous.eof(); }));
  CHECK_FALSE(anonymous.handshake_done());
  CHECK_TRUE(static_cast<bool>(anonymous.handshake_error()));
  const Event error = events.last("error");
  STRCMP_EQUAL("tls_handshake_failed", error.reason.c_str());
  STRCMP_EQUAL("uplink.tls: peer sent no certificate (certificate_missing)", error.detail.c_str());
  UNSIGNED_LONGS_EQUAL(1, server->counters().tls_handshake_failures);
  CHECK_TRUE(run_until([&] { return server->connection_count() == 0; }));
  UNSIGNED_LONGS_EQUAL(0, events.count("online"));

  // The server keeps serving: a device with a certificate from the CA.
  TlsDevice& identified = device(device_tls_with_cert.get());
  (void)online(identified, "device-0001");
  CHECK_TRUE(run_until([&] { return server->is_online("device-0001"); }));
  UNSIGNED_LONGS_EQUAL(1, server->counters().tls_handshakes);
}

TEST(ReferenceServerTls, ClientCertificateFromAnotherCaIsRefused) {
  make_server_tls(/*require_client_certificate=*/true);
  start(options());
  TlsSettings s;
  s.ca = Credential::pem(test_pki().ca.certificate_pem);
  s.certificate = Credential::pem(test_pki().other_client.certificate_pem);
  s.private_key = Credential::pem(test_pki().other_client.key_pem);
  foreign_tls = std::make_unique<TlsConfig>();
  CHECK_FALSE(static_cast<bool>(foreign_tls->init(s)));
  TlsDevice& d = device(foreign_tls.get());
  CHECK_TRUE(run_until([&] { return events.count("error") == 1 && d.eof(); }));
  CHECK_FALSE(d.handshake_done());
  STRCMP_EQUAL("tls_handshake_failed", events.last("error").reason.c_str());
  STRCMP_EQUAL("uplink.tls: certificate not issued by a trusted CA (unknown_ca)", events.last("error").detail.c_str());
}

TEST(ReferenceServerTls, SecondConnectionResumesTheTlsSessionWithATicket) {
  start(options());
  TlsDevice& d = device();
  const std::uint64_t session = online(d, "dev").welcome.session_id;
  CHECK_FALSE(d.engine().resumed());
  CHECK_TRUE(d.engine().has_saved_session());
  d.close();  // close_notify, then the socket
  CHECK_TRUE(run_until([&] { return events.count("offline") == 1; }));
  STRCMP_EQUAL("connection_lost", events.last("offline").reason.c_str());

  // Same engine, new socket: it offers the ticket, the server takes it.
  CHECK_TRUE(d.connect(server->port()));
  const Owned welcome = online(d, "dev", 1000, session);
  CHECK_TRUE(d.engine().resumed());
  UNSIGNED_LONGS_EQUAL(1, d.engine().stats().resumed_handshakes);
  UNSIGNED_LONGS_EQUAL(1, server_tls->tickets_accepted());
  UNSIGNED_LONGS_EQUAL(2, server->counters().tls_handshakes);
  // ... and the protocol session resumes on top of it.
  UNSIGNED_LONGS_EQUAL(session, welcome.welcome.session_id);
  CHECK_TRUE(run_until([&] { return events.count("online") == 2; }));
  CHECK_TRUE(events.last("online").resumed);
  d.send(data(1, "after resume"));
  CHECK_TRUE(run_until([&] { return d.highest_ack() == 1; }));
}

TEST(ReferenceServerTls, WithoutSessionTicketsTheSecondHandshakeIsAFullOne) {
  make_server_tls(/*require_client_certificate=*/false, /*session_tickets=*/false);
  start(options());
  TlsDevice& d = device();
  (void)online(d, "dev");
  d.close();
  CHECK_TRUE(d.connect(server->port()));
  (void)online(d, "dev");
  CHECK_FALSE(d.engine().resumed());
  UNSIGNED_LONGS_EQUAL(0, server_tls->tickets_accepted());
}

TEST(ReferenceServerTls, PlainTcpClientGetsAHandshakeErrorNotACrash) {
  start(options());
  PlainDevice& plain = plain_device();
  CHECK_TRUE(plain.send(hello("plain", 1000)));  // protocol bytes where a ClientHello belongs
  CHECK_TRUE(run_until([&] { return events.count("error") == 1 && plain.eof(); }));
  const Event error = events.last("error");
  STRCMP_EQUAL("tls_handshake_failed", error.reason.c_str());
  CHECK_TRUE(contains(error.detail, "mbedtls: "));
  UNSIGNED_LONGS_EQUAL(0, events.count("online"));
  UNSIGNED_LONGS_EQUAL(1, server->counters().tls_handshake_failures);
  CHECK_TRUE(run_until([&] { return server->connection_count() == 0; }));

  // Still serving TLS devices.
  TlsDevice& d = device();
  (void)online(d, "after-plain");
  CHECK_TRUE(server->is_online("after-plain"));
}

TEST(ReferenceServerTls, SilentConnectionIsCutAtTheHelloTimeout) {
  ServerOptions o = options();
  o.session.hello_timeout_ms = 150;
  start(o);
  const auto started = std::chrono::steady_clock::now();
  PlainDevice& silent = plain_device();  // connects, never starts a handshake
  CHECK_TRUE(run_until([&] { return silent.eof(); }));
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  CHECK(waited.count() >= 149);
  const Event error = events.last("error");
  STRCMP_EQUAL("tls_handshake_timeout", error.reason.c_str());
  UNSIGNED_LONGS_EQUAL(1, server->counters().tls_handshake_failures);
  CHECK_TRUE(run_until([&] { return server->connection_count() == 0; }));
}

TEST(ReferenceServerTls, HangUpBeforeTheHandshakeIsNoEvent) {
  start(options());
  {
    asio::ip::tcp::socket probe(io);
    asio::error_code error;
    probe.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1", error), server->port()), error);
    CHECK_FALSE(error);
  }  // closed without a byte, like a port probe
  CHECK_TRUE(run_until([&] { return server->counters().accepted == 1 && server->connection_count() == 0; }));
  UNSIGNED_LONGS_EQUAL(0, events.count("error"));
  UNSIGNED_LONGS_EQUAL(0, server->counters().tls_handshake_failures);
}

TEST(ReferenceServerTls, CloseDeviceSendsCloseThenCloseNotify) {
  start(options());
  TlsDevice& d = device();
  (void)online(d, "dev");
  CHECK_TRUE(run_until([&] { return server->is_online("dev"); }));
  CHECK_FALSE(server->close_device("dev", CloseReason::overloaded, 5000));
  CHECK_TRUE(run_until([&] { return d.eof(); }));
  const Owned close = d.first(FrameType::close);
  CHECK(close.reason == CloseReason::overloaded);
  UNSIGNED_LONGS_EQUAL(5000, close.retry_after_ms);
  CHECK_TRUE(d.peer_closed());  // a clean end of the TLS stream, not a truncation
  CHECK_FALSE(static_cast<bool>(d.read_error()));
  d.close();
  CHECK_TRUE(run_until([&] { return server->connection_count() == 0; }));
}

TEST(ReferenceServerTls, OverloadedDeviceGetsItsCloseAfterTheHandshake) {
  ServerOptions o = options();
  o.max_connections = 1;
  o.overload_retry_after_ms = 2500;
  start(o);
  TlsDevice& first = device();
  (void)online(first, "a");
  TlsDevice& second = device();
  CHECK_TRUE(run_until([&] { return second.eof(); }));
  CHECK_TRUE(second.handshake_done());
  const Owned close = second.first(FrameType::close);
  CHECK(close.reason == CloseReason::overloaded);
  UNSIGNED_LONGS_EQUAL(2500, close.retry_after_ms);
  CHECK_TRUE(server->is_online("a"));
}

TEST(ReferenceServerTls, DownlinkBeyondTheSocketBuffersArrivesWholeAndInOrder) {
  // 5.2 MB: more than a loopback connection buffers with Linux's default
  // limits (tcp_wmem max 4 MiB, and the device's window is small), so the
  // server's engine returns want_write and retries its pinned writes.
  ServerOptions o = options();
  constexpr int kMessages = 1300;
  o.registry.max_unacked_downlink = kMessages;
  o.max_write_backlog = 16u << 20;
  start(o);
  TlsDevice& d = device(nullptr, /*receive_buffer=*/4096);
  // This device sends nothing while it reads: a 10 s heartbeat keeps the
  // server's silence bound (2 heartbeats) above the transfer's length even
  // on an emulated board (scripts/pi-test), where 5.2 MB of TLS takes seconds.
  (void)online(d, "slow", 10000);
  CHECK_TRUE(run_until([&] { return server->is_online("slow"); }));
  std::string payload(4000, 'x');
  paused = true;  // the device reads nothing for a while
  for (int i = 1; i <= kMessages; ++i) {
    payload[0] = static_cast<char>('a' + i % 26);
    CHECK_FALSE(server->send_downlink("slow", ConstByteSpan{payload.data(), payload.size()}));
  }
  (void)run_until([] { return false; }, 200);  // the server writes until the socket is full
  paused = false;
  CHECK_TRUE(run_until([&] { return d.count(FrameType::data) == kMessages || d.eof(); }, 10000));
  UNSIGNED_LONGS_EQUAL(kMessages, d.count(FrameType::data));
  std::uint64_t expected = 1;
  for (const Owned& f : d.frames()) {
    if (f.type != FrameType::data) continue;
    UNSIGNED_LONGS_EQUAL(expected, f.seq);
    UNSIGNED_LONGS_EQUAL(4000, f.text.size());
    CHECK_EQUAL(static_cast<char>('a' + static_cast<int>(expected) % 26), f.text[0]);
    ++expected;
  }
  CHECK_FALSE(d.undecodable());
  CHECK_TRUE(server->is_online("slow"));
}

TEST(ReferenceServerTls, OptionsRefuseAConfigThatIsNotAnInitializedServerConfig) {
  ServerOptions o = options();
  TlsConfig uninitialized;
  o.tls = &uninitialized;
  STRCMP_EQUAL("tls config must be initialized", check_options(o));
  o.tls = device_tls.get();
  STRCMP_EQUAL("tls config must have the server role", check_options(o));
  Server refused(io, events, o);
  CHECK(refused.start() == Errc::invalid_option);
}

// ---- Mutual TLS binds the certificate to the device id (CertificateAuthenticator)

TEST(ReferenceServerTls, ACertificateSpeaksOnlyForTheDeviceItNames) {
  make_server_tls(true);
  CertificateAuthenticator by_cn;  // the test client certificate: CN=device-0001
  ServerOptions o = options();
  o.authenticator = &by_cn;
  start(o);

  // Another device's id with device-0001's certificate: CLOSE unauthorized.
  TlsDevice& thief = device(device_tls_with_cert.get());
  thief.send(hello("device-0002", 1000));
  CHECK_TRUE(run_until([&] { return thief.has(FrameType::close); }));
  CHECK(thief.first(FrameType::close).reason == CloseReason::unauthorized);
  CHECK_FALSE(thief.has(FrameType::welcome));
  CHECK_TRUE(run_until([&] { return events.count("error") == 1; }));
  STRCMP_EQUAL("unauthorized", events.last("error").reason.c_str());
  STRCMP_EQUAL("certificate_mismatch: the certificate names CN 'device-0001'", events.last("error").detail.c_str());
  UNSIGNED_LONGS_EQUAL(0, server->registry().size());

  // Its own id: welcomed; and again over a resumed TLS session, whose
  // certificate the server still knows.
  TlsDevice& owner = device(device_tls_with_cert.get());
  const std::uint64_t session = online(owner, "device-0001").welcome.session_id;
  owner.close();
  CHECK_TRUE(run_until([&] { return events.count("offline") == 1; }));
  CHECK_TRUE(owner.connect(server->port()));
  const Owned welcome = online(owner, "device-0001", 1000, session);
  CHECK_TRUE(owner.engine().resumed());
  UNSIGNED_LONGS_EQUAL(session, welcome.welcome.session_id);
}

TEST(ReferenceServerTls, WithoutAClientCertificateTheCertificateAuthenticatorRefuses) {
  CertificateAuthenticator by_cn;
  ServerOptions o = options();  // TLS without client certificates
  o.authenticator = &by_cn;
  start(o);
  TlsDevice& d = device();
  d.send(hello("device-0001", 1000));
  CHECK_TRUE(run_until([&] { return d.has(FrameType::close); }));
  CHECK(d.first(FrameType::close).reason == CloseReason::unauthorized);
  CHECK_TRUE(run_until([&] { return events.count("error") == 1; }));
  STRCMP_EQUAL("certificate_missing", events.last("error").detail.c_str());
}
