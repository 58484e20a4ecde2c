// SPDX-License-Identifier: Apache-2.0
// The client over TLS on loopback: a server-role TLS front (tests/support)
// terminates TLS in front of the scripted server, so heartbeats, silence
// detection and delivery are checked through mbedTLS, along with
// verification failures, resumption on reconnect and the handshake deadline.
#include "uplink/net/asio.hpp"
#include "support/run_until.hpp"

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "support/scripted_server.hpp"
#include "support/link_fakes.hpp"
#include "support/test_pki.hpp"
#include "support/tls_front.hpp"
#include "uplink/client.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_stream.hpp"
#include "uplink/tls/tls_error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using Behavior = uplink::test::ScriptedServer::Behavior;

namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t slop_ms() {
  const char* env = std::getenv("UPLINK_TEST_SLOP_MS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 150;
}

// Under an emulator (a large UPLINK_TEST_SLOP_MS) a full handshake, done by
// both ends on this one thread, can outlast the native deadlines; the
// deadlines stretch with the slop so that no test meets an unplanned
// timeout. Natively: 1.
std::uint64_t stretch() { return 1 + slop_ms() / 250; }
const std::uint64_t kConnectTimeoutMs = 1000 * stretch();
const std::uint64_t kReadTimeoutMs = 300 * stretch();

bool run_until(asio::io_context& io, const std::function<bool()>& done, std::uint64_t limit_ms = 8000) {
  return test::run_until(io, done, std::chrono::milliseconds(limit_ms));
}

}  // namespace

TEST_GROUP(ClientTls) {
  asio::io_context io;
  std::unique_ptr<test::ScriptedServer> server;
  tls::TlsConfig server_tls;
  tls::TlsConfig other_server_tls;  // for a test that needs another server identity or policy
  std::unique_ptr<test::TlsFront> front;
  tls::TlsConfig client_tls;
  tls::TlsEngine engine;
  tls::TlsStream stream{engine};
  test::RecordingListener listener;
  test::ScriptedRandom random{0x80000000u};
  std::unique_ptr<Client> client;

  void setup() override {
    const test::TestPki& pki = test::test_pki();
    tls::TlsSettings s;
    s.role = tls::TlsRole::server;
    s.certificate = tls::Credential::pem(pki.server.certificate_pem);
    s.private_key = tls::Credential::pem(pki.server.key_pem);
    s.session_tickets = true;
    CHECK(!server_tls.init(s));
    server = std::make_unique<test::ScriptedServer>(io);
    front = std::make_unique<test::TlsFront>(io, server_tls, server->port());
    client = std::make_unique<Client>(io, listener, random);
  }
  void teardown() override {
    client->stop();
    CHECK(run_until(io, [&] { return client->quiescent(); }));
    client.reset();
    front.reset();
    server.reset();
    run_until(io, [] { return false; }, 20);
  }

  // Replaces the front with one that terminates TLS as `s` says.
  void serve(const tls::TlsSettings& s) {
    CHECK(!other_server_tls.init(s));
    front = std::make_unique<test::TlsFront>(io, other_server_tls, server->port());
  }
  // A server that requires client certificates issued by the test CA.
  void serve_requiring_client_certificates() {
    const test::TestPki& pki = test::test_pki();
    tls::TlsSettings s;
    s.role = tls::TlsRole::server;
    s.certificate = tls::Credential::pem(pki.server.certificate_pem);
    s.private_key = tls::Credential::pem(pki.server.key_pem);
    s.ca = tls::Credential::pem(pki.ca.certificate_pem);
    s.require_client_certificate = true;
    serve(s);
  }

  void trust(const char* ca_pem, const char* hostname = "localhost", const test::TestCredential* identity = nullptr) {
    tls::TlsSettings s;
    s.ca = tls::Credential::pem(ca_pem);
    if (identity != nullptr) {
      s.certificate = tls::Credential::pem(identity->certificate_pem);
      s.private_key = tls::Credential::pem(identity->key_pem);
    }
    CHECK(!client_tls.init(s));
    CHECK(!engine.setup(client_tls, hostname));
    client->use_stream(stream);
  }
  Options options() {
    Options o;
    (void)o.add_endpoint("127.0.0.1", front->port());
    (void)o.set_device_id("tls-device");
    o.heartbeat_interval_ms = static_cast<std::uint32_t>(100 * stretch());
    o.read_timeout_ms = static_cast<std::uint32_t>(kReadTimeoutMs);
    o.write_timeout_ms = static_cast<std::uint32_t>(300 * stretch());
    o.connect_timeout_ms = static_cast<std::uint32_t>(kConnectTimeoutMs);
    o.stable_after_ms = static_cast<std::uint32_t>(200 * stretch());
    o.backoff.base_ms = 20;
    o.backoff.cap_ms = 100;
    return o;
  }
};

TEST(ClientTls, VerifiedHandshakeThenMessagesAndHeartbeatsFlow) {
  trust(test::test_pki().ca.certificate_pem);
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return listener.online.size() == 1; }));
  for (int i = 1; i <= 5; ++i) {
    const std::string payload = "secure " + std::to_string(i);
    CHECK(!client->send(ConstByteSpan{payload.data(), payload.size()}));
  }
  CHECK(run_until(io, [&] { return client->queued() == 0; }));
  UNSIGNED_LONGS_EQUAL(5, server->received().size());
  STRCMP_EQUAL("secure 5", server->received().back().payload.c_str());
  CHECK(run_until(io, [&] { return listener.heartbeats.size() >= 2; }));
  UNSIGNED_LONGLONGS_EQUAL(1, engine.stats().handshakes);
  UNSIGNED_LONGS_EQUAL(1, front->handshakes());
  UNSIGNED_LONGLONGS_EQUAL(0, engine.stats().resumed_handshakes);
}

TEST(ClientTls, ReconnectResumesTheTlsSession) {
  trust(test::test_pki().ca.certificate_pem);
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return listener.online.size() == 1; }));
  server->close_all();
  CHECK(run_until(io, [&] { return listener.online.size() == 2; }));
  UNSIGNED_LONGLONGS_EQUAL(2, engine.stats().handshakes);
  UNSIGNED_LONGLONGS_EQUAL(1, engine.stats().resumed_handshakes);  // checked, not assumed
  CHECK(engine.resumed());
  // The server's side agrees: it accepted the ticket the client presented.
  UNSIGNED_LONGLONGS_EQUAL(1, server_tls.tickets_accepted());
  UNSIGNED_LONGS_EQUAL(2, front->handshakes());
}

TEST(ClientTls, UnknownCaFailsTheConnectWithThatReason) {
  trust(test::test_pki().other_ca.certificate_pem);
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return !listener.connect_failures.empty(); }));
  CHECK(listener.connect_failures[0].reason == make_error_code(tls::TlsErrc::unknown_ca));
  CHECK(listener.online.empty());
}

TEST(ClientTls, ANumericEndpointVerifiesAgainstTheCertificatesIpAddress) {
  // The README recommends numeric addresses (no resolver on the path); the
  // test server certificate names 127.0.0.1 as an iPAddress SAN.
  trust(test::test_pki().ca.certificate_pem, "127.0.0.1");
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return listener.online.size() == 1; }));
  CHECK(listener.connect_failures.empty());
}

TEST(ClientTls, HostnameMismatchFailsTheConnectWithThatReason) {
  trust(test::test_pki().ca.certificate_pem, "not-the-server.example");
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return !listener.connect_failures.empty(); }));
  CHECK(listener.connect_failures[0].reason == make_error_code(tls::TlsErrc::hostname_mismatch));
}

TEST(ClientTls, ServerThatNeverAnswersTheTlsHandshakeIsCaughtByTheConnectDeadline) {
  trust(test::test_pki().ca.certificate_pem);
  front->set_mute(true);
  const auto begin = Clock::now();
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return !listener.connect_failures.empty(); }));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - begin).count();
  // The TLS reason also proves the deadline struck inside the TLS handshake.
  CHECK(listener.connect_failures[0].reason == make_error_code(tls::TlsErrc::handshake_timeout));
  STRCMP_EQUAL("TLS handshake timed out", listener.connect_failures[0].reason.message().c_str());
  CHECK_TEXT(static_cast<std::uint64_t>(took + 1) >= kConnectTimeoutMs,
             std::to_string(took).c_str());  // the client keeps whole milliseconds
  CHECK_TEXT(static_cast<std::uint64_t>(took) <= kConnectTimeoutMs + slop_ms(), std::to_string(took).c_str());
}

TEST(ClientTls, SilentServerIsDetectedWithinTheReadTimeoutOverTls) {
  trust(test::test_pki().ca.certificate_pem);
  server->set_behavior(Behavior::silent_after_welcome);
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return !listener.disconnects.empty(); }));
  const DisconnectInfo& d = listener.disconnects[0];
  CHECK(d.reason == Errc::server_silent);
  CHECK(d.since_last_rx_ms >= kReadTimeoutMs);
  CHECK_TEXT(d.since_last_rx_ms <= kReadTimeoutMs + slop_ms(), std::to_string(d.since_last_rx_ms).c_str());
}

TEST(ClientTls, InsecureModeLogsAWarningOnEveryConnect) {
  tls::TlsSettings s;
  s.insecure_skip_verify = true;  // no CA at all
  CHECK(!client_tls.init(s));
  CHECK(!engine.setup(client_tls, "localhost"));
  client->use_stream(stream);  // the warning follows from insecure_skip_verify alone
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return listener.online.size() == 1; }));
  server->close_all();
  CHECK(run_until(io, [&] { return listener.online.size() == 2; }));
  std::size_t warnings = 0;
  for (const auto& line : listener.logs) warnings += line.text.find("verification is OFF") != std::string::npos ? 1 : 0;
  UNSIGNED_LONGS_EQUAL(2, warnings);
}

TEST(ClientTls, MutualTlsWithADeviceCertificateFromTheTrustedCaComesOnline) {
  serve_requiring_client_certificates();
  trust(test::test_pki().ca.certificate_pem, "localhost", &test::test_pki().client);
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return listener.online.size() == 1; }));
  const std::string payload = "from a known device";
  CHECK(!client->send(ConstByteSpan{payload.data(), payload.size()}));
  CHECK(run_until(io, [&] { return client->queued() == 0; }));
  UNSIGNED_LONGS_EQUAL(1, front->handshakes());
  UNSIGNED_LONGS_EQUAL(0, front->failures());
}

TEST(ClientTls, MissingClientCertificateWhereOneIsRequiredFailsTheConnect) {
  serve_requiring_client_certificates();
  trust(test::test_pki().ca.certificate_pem);  // no identity
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return !listener.connect_failures.empty(); }));
  // The server's handshake_failure alert, after a CertificateRequest this
  // device could not answer, reads as what it means.
  const std::error_code reason = listener.connect_failures[0].reason;
  CHECK_TEXT(reason == tls::TlsErrc::client_certificate_required, reason.message().c_str());
  CHECK(run_until(io, [&] { return front->failures() >= 1; }));
  CHECK(listener.online.empty());
}

TEST(ClientTls, ClientCertificateFromAnotherCaIsRefusedByTheServer) {
  serve_requiring_client_certificates();
  trust(test::test_pki().ca.certificate_pem, "localhost", &test::test_pki().other_client);
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return !listener.connect_failures.empty(); }));
  // The server's fatal alert (unknown CA) reaches the client as what it means.
  const std::error_code reason = listener.connect_failures[0].reason;
  CHECK_TEXT(reason == tls::TlsErrc::client_certificate_rejected, reason.message().c_str());
  STRCMP_EQUAL("the server rejected our client certificate", reason.message().c_str());
  CHECK(listener.online.empty());
}

TEST(ClientTls, ExpiredServerCertificateFailsTheConnectWithThatReason) {
  const test::TestPki& pki = test::test_pki();
  tls::TlsSettings s;
  s.role = tls::TlsRole::server;
  s.certificate = tls::Credential::pem(pki.expired_server.certificate_pem);
  s.private_key = tls::Credential::pem(pki.expired_server.key_pem);
  serve(s);
  trust(pki.ca.certificate_pem);
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return !listener.connect_failures.empty(); }));
  CHECK(listener.connect_failures[0].reason == make_error_code(tls::TlsErrc::certificate_expired));
  CHECK(listener.online.empty());
}

TEST(ClientTls, GarbageInsteadOfAServerHelloFailsTheConnectWithATlsError) {
  front->set_junk("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  trust(test::test_pki().ca.certificate_pem);
  CHECK(static_cast<bool>(client->start(options())));
  CHECK(run_until(io, [&] { return !listener.connect_failures.empty(); }));
  // Not a timeout: the first bytes are no TLS record, and mbedTLS says so.
  const std::error_code reason = listener.connect_failures[0].reason;
  CHECK_TEXT(reason == tls::mbedtls_error(MBEDTLS_ERR_SSL_INVALID_RECORD), reason.message().c_str());
  CHECK(listener.online.empty());
}
