// SPDX-License-Identifier: Apache-2.0
// TlsEngine: a client engine and a server engine joined by in-memory pipes
// (tls_pipe.hpp), pumped in turn by a bounded loop: deterministic and
// single-threaded. Certificates come from support/test_pki, generated when
// the tests start.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <vector>

#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509.h>

#include "support/test_pki.hpp"
#include "tls/tls_pipe.hpp"
#include "uplink/error.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_error.hpp"
#include "uplink/tls/tls_heap.hpp"
#if defined(UPLINK_TLS_HEAP_METER)
#include "support/heap_meter.hpp"
#endif

#include <CppUTest/TestHarness.h>

using uplink::ConstByteSpan;
using uplink::ByteSpan;
using uplink::tls::Credential;
using uplink::tls::MaxFragment;
using uplink::tls::TlsConfig;
using uplink::tls::TlsEngine;
using uplink::tls::TlsErrc;
using uplink::tls::TlsResult;
using uplink::tls::TlsRole;
using uplink::tls::TlsSettings;
using uplink::tls::TlsStatus;
using uplink::test::ByteQueue;
using uplink::test::PipeEnd;
using uplink::test::TestCredential;
using uplink::test::test_pki;

namespace {

constexpr int kMaxRounds = 200000;  // bounds every pump loop; byte-at-a-time handshakes need a few thousand

std::string describe(const std::error_code& ec) {
  return ec ? std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " " + ec.message() : "ok";
}

#define CHECK_OK_EC(expr)                                         \
  do {                                                            \
    const std::error_code check_ec_ = (expr);                     \
    if (check_ec_) FAIL(("unexpected error: " + describe(check_ec_)).c_str()); \
  } while (0)

#define CHECK_EC(expected, actual)                                                                       \
  do {                                                                                                   \
    const std::error_code want_ec_ = (expected);                                                         \
    const std::error_code got_ec_ = (actual);                                                            \
    if (want_ec_ != got_ec_) FAIL(("expected " + describe(want_ec_) + ", got " + describe(got_ec_)).c_str()); \
  } while (0)

TlsSettings client_settings(const TestCredential& trusted) {
  TlsSettings s;
  s.role = TlsRole::client;
  s.ca = Credential::pem(trusted.certificate_pem);
  return s;
}

TlsSettings server_settings(const TestCredential& identity) {
  TlsSettings s;
  s.role = TlsRole::server;
  s.certificate = Credential::pem(identity.certificate_pem);
  s.private_key = Credential::pem(identity.key_pem);
  return s;
}

std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>((i * 31 + seed) ^ (i >> 8));
  return v;
}

struct Handshake {
  TlsResult client;
  TlsResult server;
  int rounds = 0;
  std::size_t client_waits = 0;  // want_read / want_write results
  std::size_t server_waits = 0;
  [[nodiscard]] bool ok() const { return client.ok() && server.ok(); }
};

struct Transfer {
  std::vector<std::uint8_t> received;
  std::size_t write_waits = 0;  // write() returned want_* (and was retried with the same span)
  std::size_t writes = 0;       // write() calls that moved bytes
  std::size_t max_write = 0;    // largest single write
  bool failed = false;
  std::error_code error;
};

}  // namespace

TEST_GROUP(TlsEngine) {
  ByteQueue c2s;
  ByteQueue s2c;
  PipeEnd client_end;
  PipeEnd server_end;
  TlsConfig client_config;
  TlsConfig server_config;
  TlsEngine client;
  TlsEngine server;

  void setup() override {
    (void)test_pki();  // generated once per process, outside any measurement
    client_end.rx = &s2c;
    client_end.tx = &c2s;
    server_end.rx = &c2s;
    server_end.tx = &s2c;
  }

  void init(const TlsSettings& c, const TlsSettings& s) {
    CHECK_OK_EC(client_config.init(c));
    CHECK_OK_EC(server_config.init(s));
  }

  // Sets both engines up for a first connection.
  void connect(const char* host = "localhost") {
    CHECK_OK_EC(client.setup(client_config, host));
    CHECK_OK_EC(server.setup(server_config, nullptr));
    client.set_transport(client_end.transport());
    server.set_transport(server_end.transport());
  }

  // Empty, open pipes: a new TCP connection.
  void reopen_pipes() {
    c2s.clear();
    s2c.clear();
    c2s.writer_closed = c2s.reader_closed = s2c.writer_closed = s2c.reader_closed = false;
  }

  // A fresh pair of pipes and both engines reset for the next connection.
  void reconnect() {
    reopen_pipes();
    CHECK_OK_EC(client.reset());
    CHECK_OK_EC(server.reset());
  }

  // Steps both handshakes until each is done or failed. A side that fails
  // closes its end, as a real socket would be closed.
  Handshake pump_handshake() { return pump_handshake(client, server); }
  Handshake pump_handshake(TlsEngine& c, TlsEngine& s) {
    Handshake h;
    bool client_over = false;
    bool server_over = false;
    for (; h.rounds < kMaxRounds && !(client_over && server_over); ++h.rounds) {
      if (!client_over) {
        h.client = c.handshake_step();
        if (h.client.wants_io()) ++h.client_waits;
        client_over = !h.client.wants_io();
        if (h.client.status == TlsStatus::error) client_end.close();
      }
      if (!server_over) {
        h.server = s.handshake_step();
        if (h.server.wants_io()) ++h.server_waits;
        server_over = !h.server.wants_io();
        if (h.server.status == TlsStatus::error) server_end.close();
      }
    }
    return h;
  }

  void handshake_ok() {
    const Handshake h = pump_handshake();
    CHECK_OK_EC(h.client.error);
    CHECK_OK_EC(h.server.error);
    CHECK_TRUE(h.ok());
  }

  // Sends `message` from one engine to the other, both pumped in turn; the
  // receiver reads into `read_chunk`-byte pieces and drains what mbedTLS
  // holds before it lets the pipe be looked at again.
  static Transfer transfer(TlsEngine& from, TlsEngine& to, const std::vector<std::uint8_t>& message,
                           std::size_t read_chunk) {
    Transfer t;
    std::vector<std::uint8_t> chunk(read_chunk);
    std::size_t sent = 0;
    for (int round = 0; round < kMaxRounds && t.received.size() < message.size(); ++round) {
      if (sent < message.size()) {
        // After want_*, `sent` has not moved: the retry passes the same span.
        const TlsResult w = from.write(ConstByteSpan(message.data() + sent, message.size() - sent));
        if (w.ok()) {
          sent += w.bytes;
          ++t.writes;
          if (w.bytes > t.max_write) t.max_write = w.bytes;
        } else if (w.wants_io()) {
          ++t.write_waits;
        } else {
          t.failed = true;
          t.error = w.error;
          return t;
        }
      }
      for (;;) {
        const TlsResult r = to.read(ByteSpan(chunk.data(), chunk.size()));
        if (r.ok()) {
          t.received.insert(t.received.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(r.bytes));
          continue;  // plaintext may still sit inside mbedTLS: drain it first
        }
        if (r.wants_io()) break;
        t.failed = true;
        t.error = r.error;
        return t;
      }
    }
    return t;
  }

  void check_transfer(TlsEngine& from, TlsEngine& to, std::size_t size, std::size_t read_chunk, std::uint8_t seed) {
    const std::vector<std::uint8_t> message = pattern(size, seed);
    const Transfer t = transfer(from, to, message, read_chunk);
    CHECK_OK_EC(t.error);
    CHECK_FALSE(t.failed);
    LONGS_EQUAL(message.size(), t.received.size());
    CHECK_TRUE(message == t.received);
  }
};

// ---------------------------------------------------------------------------
// Handshake outcomes
// ---------------------------------------------------------------------------

TEST(TlsEngine, CompletesAHandshakeWithAServerFromTheTrustedCa) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  CHECK_TRUE(client.handshake_done());
  CHECK_TRUE(server.handshake_done());
  CHECK_TRUE(std::strlen(client.ciphersuite()) > 0);
  STRCMP_EQUAL(client.ciphersuite(), server.ciphersuite());
  LONGS_EQUAL(0, client.verify_flags());
  CHECK_FALSE(client.resumed());
  CHECK_TRUE(client.has_saved_session());
  LONGS_EQUAL(1, client.stats().handshakes);
  std::printf("\n  full handshake: %s, client sent %llu / received %llu bytes\n", client.ciphersuite(),
              static_cast<unsigned long long>(client.stats().handshake_bytes_sent),
              static_cast<unsigned long long>(client.stats().handshake_bytes_received));
}

TEST(TlsEngine, RefusesAServerFromAnUnknownCa) {
  init(client_settings(test_pki().other_ca), server_settings(test_pki().server));
  connect();
  const Handshake h = pump_handshake();
  CHECK_EC(TlsErrc::unknown_ca, h.client.error);
  CHECK_TRUE(h.server.status == TlsStatus::error);
  CHECK_FALSE(client.has_saved_session());
  LONGS_EQUAL(1, client.stats().failed_handshakes);
}

TEST(TlsEngine, RefusesAnExpiredServerCertificate) {
  init(client_settings(test_pki().ca), server_settings(test_pki().expired_server));
  connect();
  CHECK_EC(TlsErrc::certificate_expired, pump_handshake().client.error);
}

TEST(TlsEngine, RefusesAServerCertificateNotValidYet) {
  init(client_settings(test_pki().ca), server_settings(test_pki().future_server));
  connect();
  CHECK_EC(TlsErrc::certificate_not_yet_valid, pump_handshake().client.error);
}

TEST(TlsEngine, RefusesACertificateForAnotherHost) {
  init(client_settings(test_pki().ca), server_settings(test_pki().wrong_host_server));
  connect("localhost");
  CHECK_EC(TlsErrc::hostname_mismatch, pump_handshake().client.error);
}

TEST(TlsEngine, KeepsCheckingTheHostNameAfterReset) {
  // mbedtls_ssl_session_reset keeps the host name: a reused engine must not
  // silently stop matching it.
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect("other.example");
  CHECK_EC(TlsErrc::hostname_mismatch, pump_handshake().client.error);
  reconnect();
  CHECK_EC(TlsErrc::hostname_mismatch, pump_handshake().client.error);
}

TEST(TlsEngine, MatchesANumericHostAgainstTheCertificatesIpAddresses) {
  // The test server certificate names localhost, 127.0.0.1 and ::1.
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  for (const char* address : {"127.0.0.1", "::1"}) {
    reopen_pipes();
    connect(address);  // a fresh setup: a full handshake, verified again
    const Handshake h = pump_handshake();
    CHECK_TEXT(h.client.status == TlsStatus::ok, address);
    LONGS_EQUAL(0, client.verify_flags());
  }
}

TEST(TlsEngine, RefusesANumericHostTheCertificateDoesNotName) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect("127.0.0.2");  // another address
  CHECK_EC(TlsErrc::hostname_mismatch, pump_handshake().client.error);
  reconnect();
  CHECK_OK_EC(client.set_hostname("::2"));
  CHECK_EC(TlsErrc::hostname_mismatch, pump_handshake().client.error);
}

TEST(TlsEngine, RefusesALoopbackAddressWhenTheCertificateNamesNoAddress) {
  // wrong_host_server names other.example only: an address is not a free pass.
  init(client_settings(test_pki().ca), server_settings(test_pki().wrong_host_server));
  connect("127.0.0.1");
  CHECK_EC(TlsErrc::hostname_mismatch, pump_handshake().client.error);
}

TEST(TlsEngine, RejectsGarbageInsteadOfAServerHello) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  CHECK_OK_EC(client.setup(client_config, "localhost"));
  client.set_transport(client_end.transport());
  static const char kGarbage[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  s2c.push(reinterpret_cast<const std::uint8_t*>(kGarbage), sizeof kGarbage - 1);
  TlsResult r;
  int rounds = 0;
  do {
    r = client.handshake_step();
  } while (r.wants_io() && ++rounds < 100);
  CHECK_TRUE(r.status == TlsStatus::error);
  STRCMP_EQUAL("mbedtls", r.error.category().name());
  CHECK_TRUE(c2s.size() > 0);  // the ClientHello went out
  std::printf("\n  garbage instead of a ServerHello: %s\n", describe(r.error).c_str());
  // The engine stays failed until reset().
  CHECK_EC(r.error, client.handshake_step().error);
}

TEST(TlsEngine, ReportsTheEndOfTheTransportDuringTheHandshakeAsConnectionClosed) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  CHECK_OK_EC(client.setup(client_config, "localhost"));
  client.set_transport(client_end.transport());
  CHECK_TRUE(client.handshake_step().status == TlsStatus::want_read);
  server_end.close();
  CHECK_EC(uplink::Errc::connection_closed, client.handshake_step().error);
}

TEST(TlsEngine, ReportsTheTransportsOwnError) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  client_end.fail_with = std::error_code(ECONNRESET, std::system_category());
  CHECK_EC(std::error_code(ECONNRESET, std::system_category()), client.handshake_step().error);
}

// ---------------------------------------------------------------------------
// Mutual TLS
// ---------------------------------------------------------------------------

TEST(TlsEngine, AcceptsAClientCertificateFromTheCaWhenRequired) {
  TlsSettings c = client_settings(test_pki().ca);
  c.certificate = Credential::pem(test_pki().client.certificate_pem);
  c.private_key = Credential::pem(test_pki().client.key_pem);
  TlsSettings s = server_settings(test_pki().server);
  s.ca = Credential::pem(test_pki().ca.certificate_pem);
  s.require_client_certificate = true;
  init(c, s);
  connect();
  handshake_ok();
  const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(server.native());
  CHECK_TRUE(peer != nullptr);
  LONGS_EQUAL(0, server.verify_flags());
}

TEST(TlsEngine, RefusesAClientWithoutCertificateWhenOneIsRequired) {
  TlsSettings s = server_settings(test_pki().server);
  s.ca = Credential::pem(test_pki().ca.certificate_pem);
  s.require_client_certificate = true;
  init(client_settings(test_pki().ca), s);
  connect();
  const Handshake h = pump_handshake();
  CHECK_EC(TlsErrc::certificate_missing, h.server.error);
  // The server says why (handshake_failure), and the client names it.
  CHECK_EC(TlsErrc::client_certificate_required, h.client.error);
  LONGS_EQUAL(MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE, client.last_alert());
}

TEST(TlsEngine, RefusesAClientCertificateFromAnotherCa) {
  TlsSettings c = client_settings(test_pki().ca);
  c.certificate = Credential::pem(test_pki().other_client.certificate_pem);
  c.private_key = Credential::pem(test_pki().other_client.key_pem);
  TlsSettings s = server_settings(test_pki().server);
  s.ca = Credential::pem(test_pki().ca.certificate_pem);
  s.require_client_certificate = true;
  init(c, s);
  connect();
  const Handshake h = pump_handshake();
  CHECK_EC(TlsErrc::unknown_ca, h.server.error);
  CHECK_EC(TlsErrc::client_certificate_rejected, h.client.error);
  LONGS_EQUAL(MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA, client.last_alert());
  STRCMP_EQUAL("the server rejected our client certificate", h.client.error.message().c_str());
}

// ---------------------------------------------------------------------------
// insecure_skip_verify
// ---------------------------------------------------------------------------

TEST(TlsEngine, AcceptsAnUnknownCaOnlyWithInsecureSkipVerify) {
  CHECK_OK_EC(server_config.init(server_settings(test_pki().server)));
  {
    CHECK_OK_EC(client_config.init(client_settings(test_pki().other_ca)));
    connect();
    CHECK_EC(TlsErrc::unknown_ca, pump_handshake().client.error);
  }
  TlsConfig insecure_config;
  TlsSettings insecure = client_settings(test_pki().other_ca);
  insecure.insecure_skip_verify = true;
  CHECK_OK_EC(insecure_config.init(insecure));
  CHECK_FALSE(insecure_config.verifies_peer());
  TlsEngine insecure_client;
  CHECK_OK_EC(insecure_client.setup(insecure_config, "localhost"));
  reopen_pipes();
  CHECK_OK_EC(server.reset());
  insecure_client.set_transport(client_end.transport());
  const Handshake h = pump_handshake(insecure_client, server);
  CHECK_OK_EC(h.client.error);
  CHECK_TRUE(h.ok());
  // The certificate was still checked; the result is there to be logged.
  CHECK_TRUE((insecure_client.verify_flags() & MBEDTLS_X509_BADCERT_NOT_TRUSTED) != 0);
}

// ---------------------------------------------------------------------------
// Session resumption (client side), checked rather than assumed
// ---------------------------------------------------------------------------

TEST(TlsEngine, ResumesTheSavedSessionWithATicket) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  CHECK_FALSE(client.resumed());
  const std::uint64_t full_bytes = client.stats().handshake_bytes_received;

  reconnect();
  handshake_ok();
  CHECK_TRUE(client.resumed());
  LONGS_EQUAL(2, client.stats().handshakes);
  LONGS_EQUAL(1, client.stats().resumed_handshakes);
  // Independent evidence: the server's ticket parser accepted the ticket,
  // and no certificate crossed the wire (an abbreviated handshake is small).
  LONGS_EQUAL(1, server_config.tickets_accepted());
  const std::uint64_t resumed_bytes = client.stats().handshake_bytes_received;
  CHECK_TRUE(resumed_bytes * 3 < full_bytes);
  std::printf("\n  server flight: full %llu bytes, resumed %llu bytes; handshakes %llu full, %llu resumed\n",
              static_cast<unsigned long long>(full_bytes), static_cast<unsigned long long>(resumed_bytes),
              static_cast<unsigned long long>(client.stats().handshakes - client.stats().resumed_handshakes),
              static_cast<unsigned long long>(client.stats().resumed_handshakes));

  // And again: the session saved after the resumed handshake resumes too.
  reconnect();
  handshake_ok();
  CHECK_TRUE(client.resumed());
  LONGS_EQUAL(2, client.stats().resumed_handshakes);
  check_transfer(client, server, 1000, 512, 3);
}

TEST(TlsEngine, ResumesTheSavedSessionFromTheServerCache) {
  TlsSettings c = client_settings(test_pki().ca);
  c.session_tickets = false;
  TlsSettings s = server_settings(test_pki().server);
  s.session_tickets = false;
  s.session_cache_entries = 8;
  init(c, s);
  connect();
  handshake_ok();
  CHECK_FALSE(client.resumed());
  reconnect();
  handshake_ok();
  CHECK_TRUE(client.resumed());
  LONGS_EQUAL(1, server_config.cache_hits());
  LONGS_EQUAL(0, server_config.tickets_accepted());
}

TEST(TlsEngine, DoesNotClaimResumptionWhenTheServerCannotResume) {
  // Tickets sealed with keys this server does not have: the server falls
  // back to a full handshake, and the client must notice.
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  CHECK_TRUE(client.has_saved_session());

  TlsConfig other_server_config;  // new ticket keys
  CHECK_OK_EC(other_server_config.init(server_settings(test_pki().server)));
  TlsEngine other_server;
  CHECK_OK_EC(other_server.setup(other_server_config, nullptr));
  reconnect();
  other_server.set_transport(server_end.transport());
  const Handshake h = pump_handshake(client, other_server);
  CHECK_TRUE(h.ok());
  CHECK_FALSE(client.resumed());
  LONGS_EQUAL(0, other_server_config.tickets_accepted());
  LONGS_EQUAL(2, client.stats().handshakes);
  LONGS_EQUAL(0, client.stats().resumed_handshakes);
}

TEST(TlsEngine, ForgetsTheSessionWhenTheHostNameChanges) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  reconnect();
  CHECK_OK_EC(client.set_hostname("localhost"));  // unchanged: session kept
  CHECK_TRUE(client.has_saved_session());
  CHECK_OK_EC(client.set_hostname("other.example"));
  CHECK_FALSE(client.has_saved_session());
  CHECK_EC(TlsErrc::hostname_mismatch, pump_handshake().client.error);
}

// ---------------------------------------------------------------------------
// Application data
// ---------------------------------------------------------------------------

TEST(TlsEngine, CarriesApplicationDataBothWaysIncludingMessagesAbove16KiB) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  check_transfer(client, server, 1, 64, 1);
  check_transfer(server, client, 1, 64, 2);
  check_transfer(client, server, 40000, 1000, 3);  // three records
  check_transfer(server, client, 70000, 4096, 4);
  check_transfer(client, server, 16384, 16384, 5);  // exactly one full record
  check_transfer(client, server, 16385, 333, 6);
}

TEST(TlsEngine, HandshakesAndCarriesDataOverAPipeThatDeliversOneByteAtATime) {
  // One byte per recv, and nothing on every other call: mbedTLS returns
  // want_read in the middle of record headers and bodies.
  client_end.recv_chunk = 1;
  server_end.recv_chunk = 1;
  client_end.stutter = true;
  server_end.stutter = true;
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  const Handshake h = pump_handshake();
  CHECK_TRUE(h.ok());
  CHECK_TRUE(h.client_waits > 100);  // want_read after nearly every byte
  check_transfer(client, server, 20000, 1000, 7);
  check_transfer(server, client, 20000, 100, 8);
  std::printf("\n  byte-at-a-time handshake: %d rounds, client waited %zu times, server %zu times\n", h.rounds,
              h.client_waits, h.server_waits);
}

TEST(TlsEngine, HandshakesAndCarriesDataOverAPipeThatAcceptsOneBytePerSend) {
  client_end.send_chunk = 1;
  server_end.send_chunk = 1;
  client_end.stutter = true;  // and every other call would block: want_write mid-record
  server_end.stutter = true;
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  const Handshake h = pump_handshake();
  CHECK_TRUE(h.ok());
  CHECK_TRUE(h.client_waits > 10);
  const std::vector<std::uint8_t> message = pattern(20000, 9);
  const Transfer t = transfer(client, server, message, 1000);
  CHECK_FALSE(t.failed);
  CHECK_TRUE(message == t.received);
  CHECK_TRUE(t.write_waits > 1000);  // every want_write was retried with the same span
  check_transfer(server, client, 20000, 700, 10);
}

TEST(TlsEngine, RefusesAWriteRetryWithAnotherBufferAndKeepsThePinnedOne) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  c2s.set_limit(1000);  // a nearly full socket send buffer
  const std::vector<std::uint8_t> message = pattern(20000, 11);
  const std::vector<std::uint8_t> heartbeat = pattern(5, 12);
  const ConstByteSpan pinned(message.data(), message.size());

  TlsResult w = client.write(pinned);
  CHECK_TRUE(w.status == TlsStatus::want_write);
  CHECK_TRUE(client.write_pending());
  // A heartbeat must not slip into the retry; nor may a shorter span.
  CHECK_EC(TlsErrc::write_retry_mismatch, client.write(ConstByteSpan(heartbeat.data(), heartbeat.size())).error);
  CHECK_EC(TlsErrc::write_retry_mismatch, client.write(ConstByteSpan(message.data(), 100)).error);
  CHECK_TRUE(client.write_pending());

  // The pinned write still completes, and nothing was lost or duplicated.
  std::vector<std::uint8_t> received;
  std::vector<std::uint8_t> chunk(2048);
  std::size_t sent = 0;
  for (int i = 0; i < kMaxRounds && received.size() < message.size(); ++i) {
    if (sent < message.size()) {
      w = client.write(ConstByteSpan(message.data() + sent, message.size() - sent));
      CHECK_TRUE(w.status != TlsStatus::error);
      if (w.ok()) sent += w.bytes;
    }
    for (TlsResult r = server.read(ByteSpan(chunk.data(), chunk.size())); r.ok();
         r = server.read(ByteSpan(chunk.data(), chunk.size()))) {
      received.insert(received.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(r.bytes));
    }
  }
  CHECK_FALSE(client.write_pending());
  CHECK_TRUE(message == received);
}

TEST(TlsEngine, HandsOutPlaintextHeldInsideMbedtlsWithoutTouchingTheTransport) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  const std::vector<std::uint8_t> message = pattern(16384, 13);
  const TlsResult w = server.write(ConstByteSpan(message.data(), message.size()));
  CHECK_TRUE(w.ok());
  LONGS_EQUAL(16384, w.bytes);

  std::uint8_t small[100];
  TlsResult r = client.read(ByteSpan(small, sizeof small));
  CHECK_TRUE(r.ok());
  LONGS_EQUAL(100, r.bytes);
  // The whole record was decrypted: the pipe is empty, the rest waits inside.
  LONGS_EQUAL(0, s2c.size());
  LONGS_EQUAL(16284, client.pending_plaintext());
  CHECK_TRUE(client.has_pending_input());

  const std::size_t recv_calls = client_end.recv_calls;
  std::vector<std::uint8_t> received(small, small + 100);
  while (client.has_pending_input()) {
    r = client.read(ByteSpan(small, sizeof small));
    CHECK_TRUE(r.ok());
    received.insert(received.end(), small, small + r.bytes);
  }
  LONGS_EQUAL(recv_calls, client_end.recv_calls);
  CHECK_TRUE(message == received);
  CHECK_TRUE(client.read(ByteSpan(small, sizeof small)).status == TlsStatus::want_read);
}

TEST(TlsEngine, AReadThatWantsAWriteDoesNotSwallowTheNextWrite) {
  // A server asks for renegotiation (HelloRequest); the client refuses
  // with a no_renegotiation alert, written from inside mbedtls_ssl_read. If
  // the transport cannot take it, the read wants a WRITE, and the alert
  // stays in mbedTLS's output buffer. mbedtls_ssl_write would then flush
  // that alert and report the caller's bytes as written without sending
  // them; the engine flushes the owed output first.
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  // Test only: drive the server's mbedTLS context directly, as a peer would.
  LONGS_EQUAL(0, mbedtls_ssl_renegotiate(const_cast<mbedtls_ssl_context*>(server.native())));
  c2s.set_limit(c2s.size());  // the client's socket buffer is full

  std::uint8_t buf[64];
  const TlsResult r = client.read(ByteSpan(buf, sizeof buf));
  CHECK_TRUE(r.status == TlsStatus::want_write);

  c2s.set_limit(SIZE_MAX);  // writable again
  check_transfer(client, server, 300, 64, 18);
  check_transfer(server, client, 300, 64, 19);
}

TEST(TlsEngine, NegotiatesASmallerMaximumFragmentLength) {
  TlsSettings c = client_settings(test_pki().ca);
  c.max_fragment = MaxFragment::bytes_1024;
  init(c, server_settings(test_pki().server));
  connect();
  handshake_ok();
  const std::vector<std::uint8_t> message = pattern(5000, 14);
  const Transfer up = transfer(client, server, message, 4096);
  CHECK_TRUE(message == up.received);
  LONGS_EQUAL(1024, up.max_write);
  const Transfer down = transfer(server, client, message, 4096);
  CHECK_TRUE(message == down.received);
  LONGS_EQUAL(1024, down.max_write);
}

// ---------------------------------------------------------------------------
// Closing
// ---------------------------------------------------------------------------

TEST(TlsEngine, EndsTheStreamWithCloseNotifyInBothDirections) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  check_transfer(client, server, 3000, 512, 15);
  CHECK_TRUE(client.close_notify().ok());
  CHECK_TRUE(client.close_notify().ok());  // idempotent
  CHECK_EC(TlsErrc::not_connected, client.write(ConstByteSpan("x", 1)).error);

  std::uint8_t buf[64];
  CHECK_TRUE(server.read(ByteSpan(buf, sizeof buf)).status == TlsStatus::closed);
  CHECK_TRUE(server.read(ByteSpan(buf, sizeof buf)).status == TlsStatus::closed);
  CHECK_TRUE(server.close_notify().ok());
  CHECK_TRUE(client.read(ByteSpan(buf, sizeof buf)).status == TlsStatus::closed);
}

TEST(TlsEngine, CloseNotifyFlushesAPinnedWriteFirst) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  c2s.set_limit(500);
  const std::vector<std::uint8_t> message = pattern(3000, 16);
  CHECK_TRUE(client.write(ConstByteSpan(message.data(), message.size())).status == TlsStatus::want_write);

  // close_notify waits for room like any write; the server drains meanwhile.
  std::vector<std::uint8_t> received;
  std::uint8_t buf[512];
  TlsResult close;
  TlsResult r;
  for (int i = 0; i < kMaxRounds; ++i) {
    if (!close.ok() || i == 0) close = client.close_notify();
    r = server.read(ByteSpan(buf, sizeof buf));
    if (r.ok()) received.insert(received.end(), buf, buf + r.bytes);
    if (r.status == TlsStatus::closed || r.status == TlsStatus::error) break;
  }
  CHECK_TRUE(close.ok());
  CHECK_TRUE(r.status == TlsStatus::closed);
  CHECK_TRUE(message == received);  // the pinned record arrived before close_notify
}

TEST(TlsEngine, ReportsAnEndOfStreamWithoutCloseNotifyAsConnectionClosed) {
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  connect();
  handshake_ok();
  server_end.close();
  std::uint8_t buf[64];
  CHECK_EC(uplink::Errc::connection_closed, client.read(ByteSpan(buf, sizeof buf)).error);
}

TEST(TlsEngine, RefusesMisuse) {
  std::uint8_t buf[8];
  CHECK_EC(TlsErrc::not_set_up, client.handshake_step().error);
  CHECK_EC(TlsErrc::not_set_up, client.reset());
  CHECK_EC(TlsErrc::not_initialized, client.setup(client_config, "localhost"));
  init(client_settings(test_pki().ca), server_settings(test_pki().server));
  CHECK_EC(TlsErrc::hostname_required, client.setup(client_config, nullptr));
  CHECK_EC(TlsErrc::invalid_settings, server.setup(server_config, "localhost"));
  CHECK_OK_EC(client.setup(client_config, "localhost"));
  CHECK_EC(TlsErrc::no_transport, client.handshake_step().error);
  client.set_transport(client_end.transport());
  CHECK_EC(TlsErrc::not_connected, client.read(ByteSpan(buf, sizeof buf)).error);
  CHECK_EC(TlsErrc::not_connected, client.write(ConstByteSpan(buf, sizeof buf)).error);
  CHECK_TRUE(client.close_notify().ok());  // nothing to close: fine
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

TEST(TlsEngine, ReportsTheHeapBytesOfAConnection) {
#if defined(UPLINK_TLS_HEAP_METER)
  using uplink::test::HeapMeter;
  HeapMeter::start();
  CHECK_OK_EC(client_config.init(client_settings(test_pki().ca)));
  const std::int64_t client_config_bytes = HeapMeter::live();
  CHECK_OK_EC(server_config.init(server_settings(test_pki().server)));
  const std::int64_t server_config_bytes = HeapMeter::live() - client_config_bytes;
  HeapMeter::stop();
  const std::vector<std::uint8_t> message = pattern(20000, 17);
  std::vector<std::uint8_t> chunk(4096);
  std::printf("\n  mbedTLS heap hook (MBEDTLS_PLATFORM_MEMORY): %s; figures from malloc interposition\n",
              uplink::tls::install_tls_heap_counter() ? "installed" : "not in this build");
  std::printf("  TlsConfig, shared by all connections: client (one CA) %lld B, server (certificate, key, "
              "ticket keys) %lld B\n",
              static_cast<long long>(client_config_bytes), static_cast<long long>(server_config_bytes));
  {
    TlsEngine c;
    TlsEngine s;
    HeapMeter::start();
    CHECK_OK_EC(c.setup(client_config, "localhost"));
    const std::int64_t client_setup = HeapMeter::live();
    CHECK_OK_EC(s.setup(server_config, nullptr));
    const std::int64_t server_setup = HeapMeter::live() - client_setup;
    HeapMeter::stop();
    c.set_transport(client_end.transport());
    s.set_transport(server_end.transport());

    // Full handshake, each side metered alone (the meter is per thread and
    // on only around that side's calls).
    std::int64_t c_live = 0, s_live = 0, c_peak = 0, s_peak = 0;
    std::size_t c_allocs = 0, s_allocs = 0;
    auto step = [](TlsEngine& e, std::int64_t& live, std::int64_t& peak, std::size_t& allocs) {
      HeapMeter::start();
      const TlsResult r = e.handshake_step();
      HeapMeter::stop();
      if (live + HeapMeter::peak() > peak) peak = live + HeapMeter::peak();
      live += HeapMeter::live();
      allocs += HeapMeter::allocations();
      return r;
    };
    TlsResult cr, sr;
    cr.status = sr.status = TlsStatus::want_read;
    for (int i = 0; i < kMaxRounds && !(cr.ok() && sr.ok()); ++i) {
      if (!cr.ok()) cr = step(c, c_live, c_peak, c_allocs);
      if (!sr.ok()) sr = step(s, s_live, s_peak, s_allocs);
      CHECK_TRUE(cr.status != TlsStatus::error && sr.status != TlsStatus::error);
    }
    std::printf("  client: setup %lld B; full handshake: peak +%lld B, %zu allocations, holds %+lld B after\n",
                static_cast<long long>(client_setup), static_cast<long long>(c_peak), c_allocs,
                static_cast<long long>(c_live));
    std::printf("  server: setup %lld B; full handshake: peak +%lld B, %zu allocations, holds %+lld B after\n",
                static_cast<long long>(server_setup), static_cast<long long>(s_peak), s_allocs,
                static_cast<long long>(s_live));
    std::printf("  per connection while open: client %lld B, server %lld B\n",
                static_cast<long long>(client_setup + c_live), static_cast<long long>(server_setup + s_live));
    // The two record buffers dominate: 2 x (16 KiB + record overhead).
    CHECK_TRUE(client_setup > 2 * 16384);
    CHECK_TRUE(client_setup + c_live < 64 * 1024);

    // Application data allocates nothing.
    HeapMeter::start();
    std::size_t sent = 0, got = 0;
    for (int i = 0; i < 1000 && got < message.size(); ++i) {
      if (sent < message.size()) {
        const TlsResult w = c.write(ConstByteSpan(message.data() + sent, message.size() - sent));
        if (w.ok()) sent += w.bytes;
      }
      for (TlsResult r = s.read(ByteSpan(chunk.data(), chunk.size())); r.ok();
           r = s.read(ByteSpan(chunk.data(), chunk.size()))) {
        got += r.bytes;
      }
    }
    HeapMeter::stop();
    LONGS_EQUAL(message.size(), got);
    LONGS_EQUAL(0, HeapMeter::allocations());

    // Next connection on the same engines: reset() keeps the record buffers.
    c2s.clear();
    s2c.clear();
    HeapMeter::start();
    CHECK_OK_EC(c.reset());
    const std::int64_t client_reset = HeapMeter::live();
    const std::size_t client_reset_allocs = HeapMeter::allocations();
    HeapMeter::stop();
    CHECK_OK_EC(s.reset());
    c_live = s_live = c_peak = s_peak = 0;
    c_allocs = s_allocs = 0;
    cr = sr = TlsResult();
    cr.status = sr.status = TlsStatus::want_read;
    for (int i = 0; i < kMaxRounds && !(cr.ok() && sr.ok()); ++i) {
      if (!cr.ok()) cr = step(c, c_live, c_peak, c_allocs);
      if (!sr.ok()) sr = step(s, s_live, s_peak, s_allocs);
      CHECK_TRUE(cr.status != TlsStatus::error && sr.status != TlsStatus::error);
    }
    CHECK_TRUE(c.resumed());
    std::printf("  client reset(): %+lld B in %zu allocations (record buffers kept); resumed handshake: peak +%lld B, "
                "%zu allocations, %+lld B after\n",
                static_cast<long long>(client_reset), client_reset_allocs, static_cast<long long>(c_peak), c_allocs,
                static_cast<long long>(c_live));
    CHECK_TRUE(client_reset < 16384);  // no record buffer was allocated again

    HeapMeter::start();
  }  // both engines destroyed while metering
  HeapMeter::stop();
  std::printf("  destroying both engines released %lld B\n", static_cast<long long>(-HeapMeter::live()));

  // The maximum fragment length does not shrink the record buffers in this
  // build (MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH is off): same setup figure.
  TlsConfig small_records;
  TlsSettings small = client_settings(test_pki().ca);
  small.max_fragment = MaxFragment::bytes_512;
  CHECK_OK_EC(small_records.init(small));
  {
    TlsEngine c;
    HeapMeter::start();
    CHECK_OK_EC(c.setup(small_records, "localhost"));
    HeapMeter::stop();
    std::printf("  client setup with max_fragment 512: %lld B\n", static_cast<long long>(HeapMeter::live()));
    HeapMeter::start();
  }
  HeapMeter::stop();
#else
  std::printf("\n  heap figures are not measured in sanitizer builds (AddressSanitizer owns malloc)\n");
#endif
}
