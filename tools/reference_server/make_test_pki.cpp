// SPDX-License-Identifier: Apache-2.0
// uplink_make_test_pki: throwaway certificates for trying the reference
// server's TLS mode, so that no key is ever committed.
//
//   uplink_make_test_pki [--force] <dir>
//
// Writes into <dir> (created with mode 0700 if it does not exist):
//
//   ca.pem      "uplink demo CA": self-signed, basicConstraints CA,
//               keyUsage keyCertSign + cRLSign
//   server.pem  issued by the CA: CN=localhost, subjectAltName
//               DNS:localhost + IP:127.0.0.1, extendedKeyUsage serverAuth
//   server.key  its private key (mode 0600)
//   client.pem  issued by the CA: CN=uplink-demo-device,
//               extendedKeyUsage clientAuth (a device identity for mutual TLS)
//   client.key  its private key (mode 0600)
//
// Every key is a fresh EC key on secp256r1 (P-256), certificates are X.509
// v3 signed with ECDSA-SHA256, with random serial numbers, subject and
// authority key identifiers, valid from one day ago for two years. The CA's
// private key is never written: once the program ends nothing else can be
// signed with it. Existing files are not overwritten unless --force.
//
// Everything is made with mbedTLS's own writers (mbedtls_pk_*,
// mbedtls_x509write_crt_*), the library the server runs on. Exit status: 0
// done, 1 failed (the message names the step), 2 bad usage.
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
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

namespace {

constexpr const char* kCaName = "CN=uplink demo CA,O=uplink";

bool ok(int ret, const char* step) {
  if (ret == 0) return true;
  char text[160];
  mbedtls_strerror(ret, text, sizeof text);
  std::fprintf(stderr, "uplink_make_test_pki: %s failed: %s (-0x%04X)\n", step, text, static_cast<unsigned>(-ret));
  return false;
}

/// The random generator and an EC key, freed on every path.
struct Rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  Rng() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
  }
  ~Rng() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  Rng(const Rng&) = delete;
  Rng& operator=(const Rng&) = delete;
  bool seed() {
    static const unsigned char kPersonalization[] = "uplink_make_test_pki";
    return ok(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, kPersonalization,
                                    sizeof kPersonalization - 1),
              "seeding the random generator");
  }
};

struct Key {
  mbedtls_pk_context pk;
  Key() { mbedtls_pk_init(&pk); }
  ~Key() { mbedtls_pk_free(&pk); }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  bool generate(Rng& rng) {
    return ok(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), "pk_setup") &&
           ok(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random, &rng.drbg),
              "generating an EC key");
  }
};

enum class Kind { ca, server, client };

struct Validity {
  char not_before[16];  // YYYYMMDDhhmmss, UTC
  char not_after[16];
};

bool format_utc(std::time_t t, char (&out)[16]) {
  std::tm tm{};
  return gmtime_r(&t, &tm) != nullptr && std::strftime(out, sizeof out, "%Y%m%d%H%M%S", &tm) == 14;
}

// DER of the extensions this tool writes (all lengths below 128: the short
// length form).
//   subjectAltName ::= SEQUENCE { [2] "localhost", [7] 127.0.0.1 }
constexpr unsigned char kServerSan[] = {0x30, 0x11, 0x82, 0x09, 'l',  'o',  'c', 'a',
                                        'l',  'h',  'o',  's',  't',  0x87, 0x04, 127,
                                        0,    0,    1};
//   extKeyUsage ::= SEQUENCE { id-kp-serverAuth (1.3.6.1.5.5.7.3.1) } / clientAuth (.2)
constexpr unsigned char kServerAuth[] = {0x30, 0x0A, 0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
constexpr unsigned char kClientAuth[] = {0x30, 0x0A, 0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02};

/// Signs `subject`'s key with `issuer_key` and writes the PEM into `pem`.
bool issue(Rng& rng, Kind kind, const char* subject, Key& subject_key, Key& issuer_key, const Validity& validity,
           unsigned char* pem, std::size_t pem_size) {
  mbedtls_x509write_cert crt;
  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi serial;
  mbedtls_mpi_init(&serial);

  // A random positive 128-bit serial (RFC 5280: unique per CA, <= 20 bytes).
  unsigned char serial_bytes[16];
  bool good = ok(mbedtls_ctr_drbg_random(&rng.drbg, serial_bytes, sizeof serial_bytes), "drawing a serial number");
  serial_bytes[0] = static_cast<unsigned char>((serial_bytes[0] & 0x7F) | 0x01);
  good = good && ok(mbedtls_mpi_read_binary(&serial, serial_bytes, sizeof serial_bytes), "mpi_read_binary");

  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, &subject_key.pk);
  mbedtls_x509write_crt_set_issuer_key(&crt, &issuer_key.pk);
  const bool ca = kind == Kind::ca;
  good = good && ok(mbedtls_x509write_crt_set_subject_name(&crt, subject), "set_subject_name");
  good = good && ok(mbedtls_x509write_crt_set_issuer_name(&crt, kCaName), "set_issuer_name");
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  // 3.x deprecates the bignum setter for the raw big-endian bytes.
  good = good && ok(mbedtls_x509write_crt_set_serial_raw(&crt, serial_bytes, sizeof serial_bytes), "set_serial");
#else
  good = good && ok(mbedtls_x509write_crt_set_serial(&crt, &serial), "set_serial");
#endif
  good = good && ok(mbedtls_x509write_crt_set_validity(&crt, validity.not_before, validity.not_after), "set_validity");
  good = good && ok(mbedtls_x509write_crt_set_basic_constraints(&crt, ca ? 1 : 0, ca ? 0 : -1),
                    "set_basic_constraints");
  good = good && ok(mbedtls_x509write_crt_set_subject_key_identifier(&crt), "set_subject_key_identifier");
  good = good && ok(mbedtls_x509write_crt_set_authority_key_identifier(&crt), "set_authority_key_identifier");
  const unsigned int usage =
      ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN) : MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
  good = good && ok(mbedtls_x509write_crt_set_key_usage(&crt, usage), "set_key_usage");
  if (kind == Kind::server) {
    good = good && ok(mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                          MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                                          kServerSan, sizeof kServerSan),
                      "set_extension(subjectAltName)");
  }
  if (!ca) {
    const unsigned char* eku = kind == Kind::server ? kServerAuth : kClientAuth;
    good = good && ok(mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                                          MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku,
                                                          sizeof kServerAuth),
                      "set_extension(extendedKeyUsage)");
  }
  good = good && ok(mbedtls_x509write_crt_pem(&crt, pem, pem_size, mbedtls_ctr_drbg_random, &rng.drbg),
                    "writing the certificate");
  mbedtls_mpi_free(&serial);
  mbedtls_x509write_crt_free(&crt);
  return good;
}

/// Writes `text` to dir/name with `mode`; refuses to replace a file unless `force`.
bool write_file(const std::string& dir, const char* name, const unsigned char* text, mode_t mode, bool force) {
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
  const std::size_t size = std::strlen(reinterpret_cast<const char*>(text));
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

int usage() {
  std::fputs("usage: uplink_make_test_pki [--force] <dir>\n"
             "  writes ca.pem, server.pem, server.key (CN/SAN localhost + 127.0.0.1),\n"
             "  client.pem, client.key into <dir>: throwaway certificates for the TLS demo\n",
             stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool force = false;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--force") {
      force = true;
    } else if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else if (!arg.empty() && arg[0] != '-' && dir.empty()) {
      dir = arg;
    } else {
      return usage();
    }
  }
  if (dir.empty()) return usage();
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

  Rng rng;
  Key ca_key;
  Key server_key;
  Key client_key;
  if (!rng.seed() || !ca_key.generate(rng) || !server_key.generate(rng) || !client_key.generate(rng)) return 1;

  static unsigned char ca_pem[4096];
  static unsigned char server_pem[4096];
  static unsigned char client_pem[4096];
  static unsigned char server_key_pem[1024];
  static unsigned char client_key_pem[1024];
  const bool made =
      issue(rng, Kind::ca, kCaName, ca_key, ca_key, validity, ca_pem, sizeof ca_pem) &&
      issue(rng, Kind::server, "CN=localhost,O=uplink", server_key, ca_key, validity, server_pem,
            sizeof server_pem) &&
      issue(rng, Kind::client, "CN=uplink-demo-device,O=uplink", client_key, ca_key, validity, client_pem,
            sizeof client_pem) &&
      ok(mbedtls_pk_write_key_pem(&server_key.pk, server_key_pem, sizeof server_key_pem), "writing server.key") &&
      ok(mbedtls_pk_write_key_pem(&client_key.pk, client_key_pem, sizeof client_key_pem), "writing client.key");
  if (!made) return 1;

  const unsigned char* contents[] = {ca_pem, server_pem, server_key_pem, client_pem, client_key_pem};
  const mode_t modes[] = {0644, 0644, 0600, 0644, 0600};
  bool written = true;
  for (std::size_t i = 0; i < sizeof kFiles / sizeof kFiles[0] && written; ++i) {
    written = write_file(dir, kFiles[i], contents[i], modes[i], force);
  }
  if (!written) return 1;
  std::printf("wrote %s/{ca.pem,server.pem,server.key,client.pem,client.key}\n", dir.c_str());
  return 0;
}
