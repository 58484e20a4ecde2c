// SPDX-License-Identifier: Apache-2.0
// Device authentication of the reference server (authenticator.hpp), in
// three groups:
//  - CredentialsFile: token hashes (PBKDF2-HMAC-SHA256 through mbedTLS):
//    right and wrong tokens, unknown devices, every malformed line named,
//    files others may write refused, saving, rotation, reloading.
//  - CertificateAuthenticator: the device id bound to a certificate's CN
//    or a dNSName SAN, names read from real certificates (test PKI).
//  - AuthenticatedSession: ServerSession with an authenticator, in virtual
//    time: a refused HELLO gets CLOSE unauthorized and touches no session;
//    a HELLO naming another device's session opens a new one.
// Files go to a fresh directory under $TMPDIR, removed afterwards.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <mbedtls/x509_crt.h>

#include "authenticator.hpp"
#include "certificate_names.hpp"
#include "certificate_writer.hpp"
#include "credentials_file.hpp"
#include "server_session.hpp"
#include "session_registry.hpp"
#include "support/test_pki.hpp"
#include "support/wire_frames.hpp"
#include "uplink/codec/frame_decoder.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::server;
using namespace uplink::test;

namespace {

AuthRequest request_for(const char* device, const std::string& token, const PeerCertificate* certificate = nullptr) {
  AuthRequest r;
  r.device_id = device;
  r.token = ConstByteSpan{token.data(), token.size()};
  r.certificate = certificate;
  return r;
}

/// A directory of its own under $TMPDIR for one test, removed with it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/uplink-auth.XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    for (const std::string& file : files_) ::unlink(file.c_str());
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// The path of `name` inside; remembered for removal.
  std::string file(const char* name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }
  /// Writes `text` to `name` with `mode`; returns the path.
  std::string write(const char* name, const std::string& text, mode_t mode = 0600) {
    const std::string path = file(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  [[nodiscard]] bool ok() const { return !path_.empty(); }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

std::string hex(const std::uint8_t* bytes, std::size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = 0; i < size; ++i) {
    text += digits[bytes[i] >> 4];
    text += digits[bytes[i] & 0x0f];
  }
  return text;
}

const char* const kSalt = "000102030405060708090a0b0c0d0e0f";
const char* const kHash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::string line(const char* device, const char* iterations = "1000", const char* salt = kSalt,
                 const char* hash = kHash) {
  return std::string(device) + " pbkdf2-sha256 " + iterations + " " + salt + " " + hash + "\n";
}

}  // namespace

// ============================================================================
// CredentialsFile
// ============================================================================

TEST_GROUP(CredentialsFile) {
  CredentialsFile credentials;
};

TEST(CredentialsFile, DerivationIsPbkdf2HmacSha256) {
  // RFC 7914, section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64); first 32 bytes.
  std::uint8_t out[32];
  const std::string password = "passwd";
  CHECK_TRUE(derive_token_hash(ConstByteSpan{password.data(), password.size()},
                               reinterpret_cast<const std::uint8_t*>("salt"), 4, 1, out, sizeof out));
  STRCMP_EQUAL("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc", hex(out, sizeof out).c_str());
}

TEST(CredentialsFile, AProvisionedTokenIsAllowedAndAWrongOneRefused) {
  std::string token;
  CHECK_FALSE(credentials.provision("dev-1", token, CredentialsFile::kMinIterations));
  UNSIGNED_LONGS_EQUAL(2 * CredentialsFile::kTokenBytes, token.size());
  CHECK(credentials.authenticate(request_for("dev-1", token)) == AuthVerdict::allowed);

  std::string wrong = token;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  CHECK(credentials.authenticate(request_for("dev-1", wrong)) == AuthVerdict::wrong_token);
  CHECK(credentials.authenticate(request_for("dev-1", "")) == AuthVerdict::wrong_token);
  CHECK(credentials.authenticate(request_for("dev-1", token.substr(0, 63))) == AuthVerdict::wrong_token);
  // The right token for another device.
  std::string other;
  CHECK_FALSE(credentials.provision("dev-2", other, CredentialsFile::kMinIterations));
  CHECK(credentials.authenticate(request_for("dev-2", token)) == AuthVerdict::wrong_token);
  CHECK(credentials.authenticate(request_for("dev-2", other)) == AuthVerdict::allowed);
}

TEST(CredentialsFile, AnUnknownDeviceIsRefused) {
  std::string token;
  CHECK_FALSE(credentials.provision("dev-1", token, CredentialsFile::kMinIterations));
  CHECK(credentials.authenticate(request_for("dev-9", token)) == AuthVerdict::unknown_device);
  CHECK(credentials.authenticate(request_for("DEV-1", token)) == AuthVerdict::unknown_device);
  // An empty file knows nobody.
  CredentialsFile empty;
  CHECK_FALSE(empty.parse("# nobody yet\n\n"));
  CHECK(empty.authenticate(request_for("dev-1", token)) == AuthVerdict::unknown_device);
}

TEST(CredentialsFile, TheFileHoldsOnlyTheHashAndReadsBackTheSame) {
  std::string token;
  CHECK_FALSE(credentials.provision("dev-1", token, 2000));
  const std::string text = credentials.serialize();
  CHECK(text.find(token) == std::string::npos);
  CHECK(text.find("dev-1 pbkdf2-sha256 2000 ") != std::string::npos);

  CredentialsFile again;
  CHECK_FALSE(again.parse(text));
  UNSIGNED_LONGS_EQUAL(1, again.size());
  UNSIGNED_LONGS_EQUAL(2000, again.find("dev-1")->iterations);
  CHECK(again.authenticate(request_for("dev-1", token)) == AuthVerdict::allowed);
}

TEST(CredentialsFile, EveryMalformedLineIsRefusedWithItsNumberAndProblem) {
  struct Case {
    std::string text;
    const char* problem;
  };
  const std::string good = line("ok");
  const Case cases[] = {
      {good + "dev pbkdf2-sha256 1000 " + kSalt + "\n", "f:2: expected 5 fields"},
      {good + line("dev") + "# fine\n" + line("x", "1000", kSalt, (std::string(kHash) + " more").c_str()),
       "f:4: expected 5 fields"},
      {"dev md5 1000 " + std::string(kSalt) + " " + kHash + "\n", "f:1: unknown scheme 'md5'"},
      {line("dev", "999"), "f:1: iterations must be a number within 1000 .. 10000000"},
      {line("dev", "10000001"), "f:1: iterations"},
      {line("dev", "12x"), "f:1: iterations"},
      {line("dev", "1000", "0011"), "f:1: salt must be 32 hex digits"},
      {line("dev", "1000", "zz0102030405060708090a0b0c0d0e0f"), "f:1: salt must be 32 hex digits"},
      {line("dev", "1000", kSalt, "00"), "f:1: hash must be 64 hex digits"},
      {line(std::string(65, 'd').c_str()), "f:1: device id must be 1..64 printable ASCII characters"},
      {line("d\x7f"), "f:1: device id"},
      {"# header\n\n" + line("dev") + line("dev"), "f:4: device 'dev' appears a second time"},
  };
  for (const Case& c : cases) {
    CredentialsFile file;
    const std::error_code error = file.parse(c.text, "f");
    CHECK_TEXT(error == std::errc::invalid_argument, c.text.c_str());
    CHECK_TEXT(file.problem().rfind(c.problem, 0) == 0, (file.problem() + " <- expected " + c.problem).c_str());
    UNSIGNED_LONGS_EQUAL(0, file.size());
  }
  // Blanks of any width, tabs, CRLF and uppercase hex are fine.
  CHECK_FALSE(credentials.parse("  dev\tpbkdf2-sha256  1000 " + std::string(kSalt) + " " +
                                "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\r\n"));
  UNSIGNED_LONGS_EQUAL(1, credentials.size());
}

TEST(CredentialsFile, AFileItsGroupOrOthersMayWriteIsRefused) {
  TempDir dir;
  CHECK_TRUE(dir.ok());
  const std::string text = line("dev");
  for (const mode_t mode : {mode_t{0620}, mode_t{0602}, mode_t{0666}}) {
    const std::string path = dir.write("open", text, mode);
    CredentialsFile file;
    const std::error_code error = file.load(path);
    CHECK(error == std::errc::permission_denied);
    CHECK_TEXT(file.problem().find("its group or others may write it") != std::string::npos, file.problem().c_str());
    UNSIGNED_LONGS_EQUAL(0, file.size());
  }
  // Readable by others is the operator's choice (hashes only); writable is not.
  CHECK_FALSE(credentials.load(dir.write("fine", text, 0644)));
  UNSIGNED_LONGS_EQUAL(1, credentials.size());
  // A directory is not a credentials file; a missing file says so.
  CredentialsFile other;
  CHECK(other.load(dir.file("missing")) == std::errc::no_such_file_or_directory);
}

TEST(CredentialsFile, SaveWritesAPrivateFileThatLoadsBack) {
  TempDir dir;
  const std::string path = dir.file("credentials");
  std::string token;
  CHECK_FALSE(credentials.provision("dev-1", token, CredentialsFile::kMinIterations));
  CHECK_FALSE(credentials.save(path));
  struct stat info {};
  CHECK_EQUAL(0, ::stat(path.c_str(), &info));
  UNSIGNED_LONGS_EQUAL(0600, info.st_mode & 0777);

  CredentialsFile loaded;
  CHECK_FALSE(loaded.load(path));
  CHECK(loaded.authenticate(request_for("dev-1", token)) == AuthVerdict::allowed);
}

TEST(CredentialsFile, RotationReplacesTheTokenAndRevocationRemovesTheDevice) {
  std::string first;
  std::string second;
  CHECK_FALSE(credentials.provision("dev-1", first, CredentialsFile::kMinIterations));
  CHECK_FALSE(credentials.provision("dev-1", second, CredentialsFile::kMinIterations));
  CHECK(first != second);
  UNSIGNED_LONGS_EQUAL(1, credentials.size());
  CHECK(credentials.authenticate(request_for("dev-1", first)) == AuthVerdict::wrong_token);
  CHECK(credentials.authenticate(request_for("dev-1", second)) == AuthVerdict::allowed);
  CHECK_TRUE(credentials.revoke("dev-1"));
  CHECK_FALSE(credentials.revoke("dev-1"));
  CHECK(credentials.authenticate(request_for("dev-1", second)) == AuthVerdict::unknown_device);
  // Provisioning refuses what HELLO could never carry.
  std::string token;
  CHECK(credentials.provision("has space", token) == std::errc::invalid_argument);
  CHECK(credentials.provision("dev", token, 10) == std::errc::invalid_argument);
  // A '#' first would make the line a comment of the file.
  CHECK(credentials.provision("#dev", token) == std::errc::invalid_argument);
}

TEST(CredentialsFile, AChangedFileIsReloadedAndABrokenOneKeepsThePreviousEntries) {
  TempDir dir;
  const std::string path = dir.file("credentials");
  std::string old_token;
  CHECK_FALSE(credentials.provision("dev-1", old_token, CredentialsFile::kMinIterations));
  CHECK_FALSE(credentials.save(path));
  CredentialsFile server;
  std::vector<std::string> reloads;
  server.set_on_reload([&](bool ok, const std::string& message) { reloads.push_back((ok ? "ok " : "bad ") + message); });
  CHECK_FALSE(server.load(path));

  // Rotated by another process (provision writes a new file and renames it).
  CredentialsFile provisioning;
  CHECK_FALSE(provisioning.load(path));
  std::string new_token;
  CHECK_FALSE(provisioning.provision("dev-1", new_token, CredentialsFile::kMinIterations));
  CHECK_FALSE(provisioning.save(path));
  CHECK(server.authenticate(request_for("dev-1", new_token)) == AuthVerdict::allowed);
  CHECK(server.authenticate(request_for("dev-1", old_token)) == AuthVerdict::wrong_token);
  UNSIGNED_LONGS_EQUAL(1, reloads.size());
  CHECK(reloads[0].rfind("ok ", 0) == 0);

  // A broken edit: refused, named, and the server goes on with what it had.
  dir.write("credentials", "garbage\n", 0600);
  CHECK(server.authenticate(request_for("dev-1", new_token)) == AuthVerdict::allowed);
  UNSIGNED_LONGS_EQUAL(2, reloads.size());
  CHECK_TEXT(reloads[1].find("bad " + path + ":1: expected 5 fields") == 0, reloads[1].c_str());
}

TEST(CredentialsFile, AnUnknownDeviceCostsAboutAsMuchAsAKnownOne) {
  // Timing must not tell which device ids exist: both derive a hash at the
  // default count. Generous bound (a loaded machine): within a factor of 4.
  std::string token;
  CHECK_FALSE(credentials.provision("dev-1", token));
  using Clock = std::chrono::steady_clock;
  const auto time = [&](const char* device) {
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < 3; ++i) (void)credentials.authenticate(request_for(device, token));
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  const double known = time("dev-1");
  const double unknown = time("dev-9");
  CHECK_TEXT(unknown * 4 > known && known * 4 > unknown,
             ("known " + std::to_string(known) + " s, unknown " + std::to_string(unknown) + " s").c_str());
}

// ============================================================================
// CertificateAuthenticator
// ============================================================================

namespace {

/// A certificate parsed by mbedTLS, from PEM.
class ParsedCertificate {
 public:
  explicit ParsedCertificate(const char* pem) {
    mbedtls_x509_crt_init(&crt_);
    ok_ = mbedtls_x509_crt_parse(&crt_, reinterpret_cast<const unsigned char*>(pem), std::strlen(pem) + 1) == 0;
  }
  ~ParsedCertificate() { mbedtls_x509_crt_free(&crt_); }
  ParsedCertificate(const ParsedCertificate&) = delete;
  ParsedCertificate& operator=(const ParsedCertificate&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] const mbedtls_x509_crt& crt() const { return crt_; }

 private:
  mbedtls_x509_crt crt_;
  bool ok_ = false;
};

}  // namespace

TEST_GROUP(CertificateAuthenticator){};

TEST(CertificateAuthenticator, TheCommonNameMustBeTheDeviceId) {
  CertificateAuthenticator by_cn;
  PeerCertificate certificate;
  certificate.common_name = "device-0001";
  certificate.dns_names = {"device-0002"};
  CHECK(by_cn.authenticate(request_for("device-0001", "", &certificate)) == AuthVerdict::allowed);
  CHECK(by_cn.authenticate(request_for("device-0002", "", &certificate)) == AuthVerdict::certificate_mismatch);
  CHECK(by_cn.authenticate(request_for("DEVICE-0001", "", &certificate)) == AuthVerdict::certificate_mismatch);
  CHECK(by_cn.authenticate(request_for("device-0001", "")) == AuthVerdict::certificate_missing);
}

TEST(CertificateAuthenticator, ASubjectAltNameMatchesInSanMode) {
  CertificateAuthenticator by_san(CertificateIdField::dns_san);
  PeerCertificate certificate;
  certificate.common_name = "device-0001";
  certificate.dns_names = {"gateway.example", "device-0002"};
  CHECK(by_san.authenticate(request_for("device-0002", "", &certificate)) == AuthVerdict::allowed);
  CHECK(by_san.authenticate(request_for("gateway.example", "", &certificate)) == AuthVerdict::allowed);
  // The CN does not count in SAN mode, and a wildcard is only a name.
  CHECK(by_san.authenticate(request_for("device-0001", "", &certificate)) == AuthVerdict::certificate_mismatch);
  certificate.dns_names = {"*.example"};
  CHECK(by_san.authenticate(request_for("a.example", "", &certificate)) == AuthVerdict::certificate_mismatch);
}

TEST(CertificateAuthenticator, NamesAreReadFromARealCertificate) {
  ParsedCertificate client(uplink::test::test_pki().client.certificate_pem);  // CN=device-0001, no SAN
  CHECK_TRUE(client.ok());
  const PeerCertificate names = peer_certificate_of(client.crt());
  STRCMP_EQUAL("device-0001", names.common_name.c_str());
  UNSIGNED_LONGS_EQUAL(0, names.dns_names.size());

  // A device certificate with a dNSName SAN, made here.
  uplink::test_pki::CertificateWriter writer("server_auth_test");
  uplink::test_pki::Key ca_key;
  uplink::test_pki::Key key;
  CHECK_TRUE(writer.seed("server_auth_test") && writer.generate(ca_key) && writer.generate(key));
  uplink::test_pki::CertificateSpec spec = uplink::test_pki::device_spec("CN=device-0007,O=uplink", "CN=auth test CA");
  spec.dns_name = "device-0042";
  static char pem[4096];
  CHECK_TRUE(writer.issue(spec, key, ca_key, pem, sizeof pem));
  ParsedCertificate with_san(pem);
  CHECK_TRUE(with_san.ok());
  const PeerCertificate both = peer_certificate_of(with_san.crt());
  STRCMP_EQUAL("device-0007", both.common_name.c_str());
  UNSIGNED_LONGS_EQUAL(1, both.dns_names.size());
  STRCMP_EQUAL("device-0042", both.dns_names[0].c_str());

  CertificateAuthenticator by_san(CertificateIdField::dns_san);
  CertificateAuthenticator by_cn;
  CHECK(by_san.authenticate(request_for("device-0042", "", &both)) == AuthVerdict::allowed);
  CHECK(by_san.authenticate(request_for("device-0007", "", &both)) == AuthVerdict::certificate_mismatch);
  CHECK(by_cn.authenticate(request_for("device-0007", "", &both)) == AuthVerdict::allowed);
}

TEST(CertificateAuthenticator, AllOfNeedsEveryAuthenticatorAndReportsTheFirstRefusal) {
  CredentialsFile credentials;
  std::string token;
  CHECK_FALSE(credentials.provision("device-0001", token, CredentialsFile::kMinIterations));
  CertificateAuthenticator by_cn;
  AllOf both(by_cn, credentials);
  PeerCertificate certificate;
  certificate.common_name = "device-0001";
  CHECK(both.authenticate(request_for("device-0001", token, &certificate)) == AuthVerdict::allowed);
  CHECK(both.authenticate(request_for("device-0001", "guess", &certificate)) == AuthVerdict::wrong_token);
  CHECK(both.authenticate(request_for("device-0001", token)) == AuthVerdict::certificate_missing);
}

// ============================================================================
// AuthenticatedSession: ServerSession with an authenticator, in virtual time
// ============================================================================

namespace {

std::vector<Owned> frames_of(const std::vector<std::uint8_t>& bytes) {
  FrameDecoder<> decoder;
  std::vector<Owned> frames;
  std::size_t offset = 0;
  while (offset < bytes.size()) {  // every pass consumes input or ends
    const FrameDecoderBase::Result result = decoder.feed(ConstByteSpan{bytes.data() + offset, bytes.size() - offset});
    offset += result.consumed;
    if (result.status != DecodeStatus::frame_ready) break;
    frames.push_back(own(decoder.frame()));
  }
  return frames;
}

class Log final : public ServerEvents {
 public:
  void on_online(const OnlineEvent& e) override { lines.push_back("online " + std::string(e.device_id)); }
  void on_offline(const OfflineEvent& e) override {
    lines.push_back("offline " + std::string(e.device_id) + " " + offline_reason(e));
  }
  void on_error(const ErrorEvent& e) override {
    lines.push_back("error " + std::string(e.device_id) + " " + e.reason + " " + std::string(e.detail));
  }
  std::vector<std::string> lines;
};

}  // namespace

TEST_GROUP(AuthenticatedSession) {
  SessionRegistry registry{7};
  Log log;
  SessionLimits limits;
  CredentialsFile credentials;
  std::string token_a;
  std::string token_b;
  std::uint64_t connections = 0;

  void setup() override {
    CHECK_FALSE(credentials.provision("dev-a", token_a, CredentialsFile::kMinIterations));
    CHECK_FALSE(credentials.provision("dev-b", token_b, CredentialsFile::kMinIterations));
  }
  std::unique_ptr<ServerSession> open() {
    auto session = std::make_unique<ServerSession>(registry, log, limits, 0, ++connections);
    session->set_authenticator(&credentials);
    return session;
  }
  std::vector<Owned> feed(ServerSession& session, const Bytes& bytes) {
    session.on_bytes(0, ConstByteSpan{bytes.data(), bytes.size()});
    return frames_of(session.take_output());
  }
  std::vector<Owned> say_hello(ServerSession& session, const char* device, const std::string& token,
                               std::uint64_t resume = 0, std::uint64_t last_downlink = 0) {
    return feed(session, hello(device, 1000, resume, last_downlink, token.c_str()));
  }
};

TEST(AuthenticatedSession, TheRightTokenIsWelcomed) {
  auto a = open();
  const std::vector<Owned> out = say_hello(*a, "dev-a", token_a);
  UNSIGNED_LONGS_EQUAL(1, out.size());
  CHECK(out[0].type == FrameType::welcome);
  CHECK(a->state() == ServerSession::State::online);
}

TEST(AuthenticatedSession, AGuessedTokenGetsCloseUnauthorizedAndTakesNothing) {
  auto a = open();
  const std::uint64_t session_a = say_hello(*a, "dev-a", token_a)[0].welcome.session_id;
  Bytes downlink = {'d', 'l'};
  CHECK_FALSE(a->queue_downlink(ConstByteSpan{downlink.data(), downlink.size()}));
  (void)a->take_output();
  log.lines.clear();

  // The attacker knows the id and the session, not the token.
  auto attacker = open();
  const std::vector<Owned> out = say_hello(*attacker, "dev-a", "guess", session_a, 0);
  UNSIGNED_LONGS_EQUAL(1, out.size());
  CHECK(out[0].type == FrameType::close);
  CHECK(out[0].reason == CloseReason::unauthorized);
  STRCMP_EQUAL("unauthorized", out[0].text.c_str());
  UNSIGNED_LONGS_EQUAL(ServerSession::kUnauthorizedRetryAfterMs, out[0].retry_after_ms);
  CHECK_TRUE(attacker->closed());
  // The real device keeps its connection and its session; no downlink leaked.
  CHECK(a->state() == ServerSession::State::online);
  CHECK(registry.find(session_a)->connection == a.get());
  UNSIGNED_LONGS_EQUAL(1, log.lines.size());
  STRCMP_EQUAL("error dev-a unauthorized wrong_token", log.lines[0].c_str());
}

TEST(AuthenticatedSession, UnknownDeviceAndWrongTokenLookTheSameToTheDevice) {
  auto unknown = open();
  auto wrong = open();
  const std::vector<Owned> a = say_hello(*unknown, "dev-z", token_a);
  const std::vector<Owned> b = say_hello(*wrong, "dev-b", token_a);
  CHECK(a[0].reason == b[0].reason && a[0].text == b[0].text && a[0].retry_after_ms == b[0].retry_after_ms);
  STRCMP_EQUAL("error dev-z unauthorized unknown_device", log.lines[0].c_str());
  STRCMP_EQUAL("error dev-b unauthorized wrong_token", log.lines[1].c_str());
  UNSIGNED_LONGS_EQUAL(0, registry.size());
}

TEST(AuthenticatedSession, AHelloNamingAnotherDevicesSessionGetsANewSessionOfItsOwn) {
  auto a = open();
  const std::uint64_t session_a = say_hello(*a, "dev-a", token_a)[0].welcome.session_id;
  Bytes downlink = {'s', 'e', 'c', 'r', 'e', 't'};
  CHECK_FALSE(a->queue_downlink(ConstByteSpan{downlink.data(), downlink.size()}));
  (void)a->take_output();

  // dev-b is authenticated, but the session is dev-a's: dev-b gets a new
  // one, nothing of dev-a's, and dev-a is not disturbed. Also with a
  // last_downlink_seq outside dev-a's range: no refusal that would
  // disclose the range, just a new session.
  for (const std::uint64_t last : {std::uint64_t{0}, std::uint64_t{99}}) {
    auto b = open();
    const std::vector<Owned> out = say_hello(*b, "dev-b", token_b, session_a, last);
    UNSIGNED_LONGS_EQUAL(1, out.size());
    CHECK(out[0].type == FrameType::welcome);
    CHECK(out[0].welcome.session_id != session_a);
    UNSIGNED_LONGS_EQUAL(1, out[0].welcome.next_uplink_seq);
  }
  CHECK(a->state() == ServerSession::State::online);
  CHECK(registry.find(session_a)->connection == a.get());
  UNSIGNED_LONGS_EQUAL(1, registry.find(session_a)->unacked.size());
}

TEST(AuthenticatedSession, ARefusedResumeTellsTheDeviceNothingAboutTheSession) {
  auto a = open();
  const std::uint64_t session_a = say_hello(*a, "dev-a", token_a)[0].welcome.session_id;
  a.reset();
  log.lines.clear();
  // The owner, with a position the server never sent: refused, and the
  // range goes to the server's log only.
  auto again = open();
  const std::vector<Owned> out = say_hello(*again, "dev-a", token_a, session_a, 7);
  CHECK(out[0].reason == CloseReason::sequence_error);
  STRCMP_EQUAL("resume refused", out[0].text.c_str());
  CHECK(log.lines[0].find("last_downlink_seq 7 outside 0 .. 0") != std::string::npos);
}

TEST(AuthenticatedSession, WithoutAnAuthenticatorEveryDeviceIsTakenAtItsWord) {
  ServerSession session(registry, log, limits, 0, 1);
  const std::vector<Owned> out = feed(session, hello("anyone", 1000, 0, 0, "whatever"));
  CHECK(out[0].type == FrameType::welcome);
}
