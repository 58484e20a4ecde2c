// SPDX-License-Identifier: Apache-2.0
// fd_transport: the engines over a real non-blocking socket pair, pumped on
// one thread (non-blocking descriptors make mbedTLS return want_*).
#include <cerrno>
#include <cstdint>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/test_pki.hpp"
#include "uplink/error.hpp"
#include "uplink/tls/fd_transport.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"

#include <CppUTest/TestHarness.h>

using uplink::ByteSpan;
using uplink::ConstByteSpan;
using uplink::tls::Credential;
using uplink::tls::TlsConfig;
using uplink::tls::TlsEngine;
using uplink::tls::TlsResult;
using uplink::tls::TlsRole;
using uplink::tls::TlsSettings;
using uplink::tls::TlsStatus;
using uplink::test::test_pki;

TEST_GROUP(TlsFdTransport) {
  int fds[2] = {-1, -1};
  TlsConfig client_config;
  TlsConfig server_config;
  TlsEngine client;
  TlsEngine server;

  void setup() override {
    LONGS_EQUAL(0, socketpair(AF_UNIX, SOCK_STREAM, 0, fds));
    for (int fd : fds) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    TlsSettings c;
    c.ca = Credential::pem(test_pki().ca.certificate_pem);
    TlsSettings s;
    s.role = TlsRole::server;
    s.certificate = Credential::pem(test_pki().server.certificate_pem);
    s.private_key = Credential::pem(test_pki().server.key_pem);
    CHECK_FALSE(static_cast<bool>(client_config.init(c)));
    CHECK_FALSE(static_cast<bool>(server_config.init(s)));
    CHECK_FALSE(static_cast<bool>(client.setup(client_config, "localhost")));
    CHECK_FALSE(static_cast<bool>(server.setup(server_config, nullptr)));
    client.set_transport(uplink::tls::fd_transport(fds[0]));
    server.set_transport(uplink::tls::fd_transport(fds[1]));
  }
  void teardown() override {
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
  }

  void handshake() {
    TlsResult c;
    TlsResult s;
    c.status = s.status = TlsStatus::want_read;
    for (int i = 0; i < 10000 && !(c.ok() && s.ok()); ++i) {
      if (!c.ok()) c = client.handshake_step();
      if (!s.ok()) s = server.handshake_step();
      CHECK_TRUE(c.status != TlsStatus::error && s.status != TlsStatus::error);
    }
    CHECK_TRUE(c.ok() && s.ok());
  }
};

TEST(TlsFdTransport, HandshakesAndCarriesMoreThanTheSocketBufferHolds) {
  handshake();
  std::vector<std::uint8_t> message(1 << 20);
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<std::uint8_t>(i * 7);
  std::vector<std::uint8_t> received;
  std::vector<std::uint8_t> chunk(8192);
  std::size_t sent = 0;
  std::size_t want_writes = 0;
  // First fill the socket buffers without reading, until mbedTLS must wait.
  for (int i = 0; i < 1000 && want_writes == 0; ++i) {
    const TlsResult w = client.write(ConstByteSpan(message.data() + sent, message.size() - sent));
    CHECK_TRUE(w.status != TlsStatus::error);
    if (w.ok()) sent += w.bytes;
    if (w.status == TlsStatus::want_write) ++want_writes;
  }
  CHECK_TRUE(want_writes > 0);  // 1 MiB does not fit in a socket pair's buffers
  CHECK_TRUE(client.write_pending());
  for (int i = 0; i < 100000 && received.size() < message.size(); ++i) {
    if (sent < message.size()) {
      const TlsResult w = client.write(ConstByteSpan(message.data() + sent, message.size() - sent));
      CHECK_TRUE(w.status != TlsStatus::error);
      if (w.ok()) sent += w.bytes;
      if (w.status == TlsStatus::want_write) ++want_writes;
    }
    for (TlsResult r = server.read(ByteSpan(chunk.data(), chunk.size())); r.ok();
         r = server.read(ByteSpan(chunk.data(), chunk.size()))) {
      received.insert(received.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(r.bytes));
    }
  }
  CHECK_TRUE(message == received);
}

TEST(TlsFdTransport, ReportsThePeersCloseAndTheSocketErrors) {
  handshake();
  close(fds[1]);
  fds[1] = -1;
  std::uint8_t buf[16];
  CHECK_TRUE(client.read(ByteSpan(buf, sizeof buf)).error == uplink::Errc::connection_closed);

  // A new connection on the same engine, to a closed peer: EPIPE, no SIGPIPE.
  CHECK_FALSE(static_cast<bool>(client.reset()));
  const TlsResult r = client.handshake_step();
  CHECK_TRUE(r.status == TlsStatus::error);
  CHECK_TRUE(r.error == std::error_code(EPIPE, std::system_category()));
}
