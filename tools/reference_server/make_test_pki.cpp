// SPDX-License-Identifier: Apache-2.0
// uplink_make_test_pki: throwaway certificates for trying the reference
// server's TLS mode, so that no key is ever committed.
//
//   uplink_make_test_pki [--force] [--device ID] [--second-device ID2] <dir>
//
// Writes into <dir> (created with mode 0700 if it does not exist):
//
//   ca.pem      "uplink demo CA": self-signed, basicConstraints CA,
//               keyUsage keyCertSign + cRLSign
//   server.pem  issued by the CA: CN=localhost, subjectAltName
//               DNS:localhost + IP:127.0.0.1, extendedKeyUsage serverAuth
//   server.key  its private key (mode 0600)
//   client.pem  issued by the CA: CN=uplink-demo-device (or CN=ID with
//               --device ID), extendedKeyUsage clientAuth: the identity of
//               that one device for mutual TLS (uplink_server
//               --require-client-cert accepts it for that device id only)
//   client2.pem, client2.key   with --second-device ID2 only: the same for
//               a second device, CN=ID2, from the same CA
//   client.key  its private key (mode 0600)
//
// Every key is a fresh EC key on secp256r1 (P-256), certificates are X.509
// v3 signed with ECDSA-SHA256, with random serial numbers, subject and
// authority key identifiers, valid from one day ago for two years. The CA's
// private key is never written: once the program ends nothing else can be
// signed with it. Existing files are not overwritten unless --force.
//
// Everything is made with mbedTLS's own writers (mbedtls_pk_*,
// mbedtls_x509write_crt_*), the library the server runs on, through the
// test PKI generator that the tests use too (tools/test_pki). Exit status:
// 0 done, 1 failed (the message names the step), 2 bad usage.
//
// A TLS demo on one machine:
//
//   uplink_make_test_pki /tmp/uplink-pki
//   uplink_server --tls-cert /tmp/uplink-pki/server.pem --tls-key /tmp/uplink-pki/server.key
//   # mutual TLS: add --tls-ca /tmp/uplink-pki/ca.pem --require-client-cert, and give
//   # devices client.pem / client.key; devices trust ca.pem and connect to "localhost".
//   openssl s_client -connect 127.0.0.1:7400 -CAfile /tmp/uplink-pki/ca.pem   # a look by hand
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certificate_writer.hpp"
#include "command_line.hpp"

namespace {

using uplink::test_pki::CertificateSpec;
using uplink::test_pki::CertificateWriter;
using uplink::test_pki::ExtendedKeyUsage;
using uplink::test_pki::Key;

constexpr const char* kCaName = "CN=uplink demo CA,O=uplink";

struct Validity {
  char not_before[16];  // YYYYMMDDhhmmss, UTC
  char not_after[16];
};

bool format_utc(std::time_t t, char (&out)[16]) {
  std::tm tm{};
  return gmtime_r(&t, &tm) != nullptr && std::strftime(out, sizeof out, "%Y%m%d%H%M%S", &tm) == 14;
}

// Every certificate of the set: valid from one day ago for two years, with a
// random serial (the specs' serial 0).
CertificateSpec valid(CertificateSpec spec, const Validity& validity) {
  spec.not_before = validity.not_before;
  spec.not_after = validity.not_after;
  return spec;
}

/// Writes `text` to dir/name with `mode`; refuses to replace a file unless `force`.
bool write_file(const std::string& dir, const char* name, const char* text, mode_t mode, bool force) {
  const std::string path = dir + "/" + name;
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    std::fprintf(stderr, "uplink_make_test_pki: %s: %s%s\n", path.c_str(), std::strerror(errno),
                 errno == EEXIST ? " (use --force to replace it)" : "");
    return false;
  }
  // A replaced key file keeps its old mode otherwise.
  bool good = !force || ::fchmod(fd, mode) == 0;
  const std::size_t size = std::strlen(text);
  std::size_t written = 0;
  while (good && written < size) {  // every pass writes >= 1 byte or fails
    const ssize_t n = ::write(fd, text + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      good = false;
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  if (!good) std::fprintf(stderr, "uplink_make_test_pki: %s: %s\n", path.c_str(), std::strerror(errno));
  if (::close(fd) != 0 && good) {
    std::fprintf(stderr, "uplink_make_test_pki: %s: %s\n", path.c_str(), std::strerror(errno));
    good = false;
  }
  return good;
}

constexpr const char* kFiles[] = {"ca.pem", "server.pem", "server.key", "client.pem", "client.key"};

// A device id as HELLO carries it, that is also safe inside a subject
// string (no ',', '=', '+', '\\' or quotes, which mbedTLS would parse).
bool usable_device_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (const char c : id) {
    if (c < 0x21 || c > 0x7e || std::strchr(",=+\\\"<>;#", c) != nullptr) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool force = false;
  std::string dir;
  std::string device = "uplink-demo-device";
  std::string second_device;
  uplink::tools::CommandLine command_line(
      "uplink_make_test_pki",
      "uplink_make_test_pki: writes ca.pem, server.pem, server.key (CN/SAN localhost, 127.0.0.1 and ::1),\n"
      "client.pem, client.key (CN=ID, default uplink-demo-device) into DIR: throwaway certificates for the TLS\n"
      "demo; with --second-device, client2.pem and client2.key for a second device (CN=ID2).\n"
      "Exit status: 0 done, 1 failed (the message names the step), 2 bad usage.");
  CLI::App& app = command_line.app();
  const CLI::Validator device_id(
      [](std::string& id) -> std::string {
        return usable_device_id(id) ? std::string() : "1..64 printable ASCII characters, none of ,=+\\\"<>;#";
      },
      "", "");
  app.add_flag("--force", force, "replace existing files");
  app.add_option("--device", device, "the device of client.pem (default uplink-demo-device)")
      ->type_name("ID")
      ->check(device_id);
  app.add_option("--second-device", second_device, "also client2.pem and client2.key, for device ID2")
      ->type_name("ID2")
      ->check(device_id);
  app.add_option("dir", dir, "where the files go (created with mode 0700 if missing)")
      ->type_name("DIR")
      ->required()
      ->check(uplink::tools::not_empty("expected a directory"));
  if (const std::optional<int> status = command_line.parse(argc, argv)) return *status;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "uplink_make_test_pki: %s: %s\n", dir.c_str(), std::strerror(errno));
    return 1;
  }

  if (!force) {  // all or nothing: no half-replaced set
    for (const char* name : kFiles) {
      const std::string path = dir + "/" + name;
      if (::access(path.c_str(), F_OK) == 0) {
        std::fprintf(stderr, "uplink_make_test_pki: %s exists (use --force to replace it)\n", path.c_str());
        return 1;
      }
    }
  }

  Validity validity{};
  const std::time_t now = std::time(nullptr);
  if (!format_utc(now - 86400, validity.not_before) || !format_utc(now + 2 * 365 * 86400, validity.not_after)) {
    std::fputs("uplink_make_test_pki: cannot format the validity period\n", stderr);
    return 1;
  }

  CertificateWriter writer("uplink_make_test_pki");
  Key ca_key;
  Key server_key;
  Key client_key;
  if (!writer.seed("uplink_make_test_pki") || !writer.generate(ca_key) || !writer.generate(server_key) ||
      !writer.generate(client_key)) {
    return 1;
  }

  CertificateSpec server =
      valid(uplink::test_pki::server_spec("CN=localhost,O=uplink", "localhost", true, kCaName), validity);
  server.extended_key_usage = ExtendedKeyUsage::server_auth;
  const std::string client_subject = "CN=" + device + ",O=uplink";
  CertificateSpec client = valid(uplink::test_pki::device_spec(client_subject.c_str(), kCaName), validity);
  client.extended_key_usage = ExtendedKeyUsage::client_auth;

  static char ca_pem[4096];
  static char server_pem[4096];
  static char client_pem[4096];
  static char server_key_pem[1024];
  static char client_key_pem[1024];
  const bool made =
      writer.issue(valid(uplink::test_pki::ca_spec(kCaName), validity), ca_key, ca_key, ca_pem, sizeof ca_pem) &&
      writer.issue(server, server_key, ca_key, server_pem, sizeof server_pem) &&
      writer.issue(client, client_key, ca_key, client_pem, sizeof client_pem) &&
      writer.write_key(server_key, server_key_pem, sizeof server_key_pem) &&
      writer.write_key(client_key, client_key_pem, sizeof client_key_pem);
  if (!made) return 1;

  const char* contents[] = {ca_pem, server_pem, server_key_pem, client_pem, client_key_pem};
  const mode_t modes[] = {0644, 0644, 0600, 0644, 0600};
  bool written = true;
  for (std::size_t i = 0; i < sizeof kFiles / sizeof kFiles[0] && written; ++i) {
    written = write_file(dir, kFiles[i], contents[i], modes[i], force);
  }
  if (!written) return 1;
  if (!second_device.empty()) {
    Key second_key;
    static char second_pem[4096];
    static char second_key_pem[1024];
    const std::string subject = "CN=" + second_device + ",O=uplink";
    CertificateSpec second = valid(uplink::test_pki::device_spec(subject.c_str(), kCaName), validity);
    second.extended_key_usage = ExtendedKeyUsage::client_auth;
    if (!writer.generate(second_key) || !writer.issue(second, second_key, ca_key, second_pem, sizeof second_pem) ||
        !writer.write_key(second_key, second_key_pem, sizeof second_key_pem) ||
        !write_file(dir, "client2.pem", second_pem, 0644, force) ||
        !write_file(dir, "client2.key", second_key_pem, 0600, force)) {
      return 1;
    }
  }
  std::printf("wrote %s/{ca.pem,server.pem,server.key,client.pem,client.key%s}\n", dir.c_str(),
              second_device.empty() ? "" : ",client2.pem,client2.key");
  return 0;
}
