// SPDX-License-Identifier: Apache-2.0
// The Raspberry Pi port against a real ARM kernel: the board files of
// /proc and /sys as the kernel writes them, not a test root. Built with the
// other tests but not registered with CTest: on a PC these files do not
// exist. scripts/pi-test runs it inside the emulated Raspberry Pi (qemu
// -M raspi3b / raspi2b with Debian's kernel); on a real Pi run it as root
// (/dev/hwrng is root-only there).
//
// Environment (set by scripts/pi-test):
//   UPLINK_EXPECTED_MODEL   the model the device tree must name
//                           (default "Raspberry Pi 3 Model B")
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "uplink/port/device_identity.hpp"
#include "uplink/port/raspberrypi.hpp"
#if UPLINK_WITH_TLS
#include "uplink/tls/tls_config.hpp"
#endif

#include <CppUTest/TestHarness.h>

namespace rpi = uplink::port::raspberrypi;

namespace {

std::string expected_model() {
  const char* model = std::getenv("UPLINK_EXPECTED_MODEL");
  return model != nullptr && *model != '\0' ? model : "Raspberry Pi 3 Model B";
}

// The start of a small file up to its first NUL (device-tree strings end
// with one), or "" when it cannot be read.
std::string read_small_file(const char* path) {
  char text[64] = {};
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  const ssize_t got = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  return got > 0 ? std::string(text) : std::string();
}

// The first 16 characters of /etc/machine-id, or "" without one.
std::string machine_id_prefix() {
  const std::string id = read_small_file("/etc/machine-id");
  return id.size() >= 16 ? id.substr(0, 16) : std::string();
}

// The device tree's serial number, or "" without one.
std::string device_tree_serial() { return read_small_file("/proc/device-tree/serial-number"); }

}  // namespace

TEST_GROUP(RealRaspberryPi){};

TEST(RealRaspberryPi, the_device_tree_names_the_board) {
  char model[96];
  const std::size_t length = rpi::board_model(model, sizeof model);
  STRCMP_EQUAL(expected_model().c_str(), std::string(model, length).c_str());
  CHECK_TRUE(rpi::is_raspberry_pi());
}

TEST(RealRaspberryPi, the_hardware_rng_delivers_bytes_that_vary) {
  unsigned char first[64] = {};
  unsigned char second[64] = {};
  const std::size_t got_first = rpi::hwrng_read(first, sizeof first);
  const std::size_t got_second = rpi::hwrng_read(second, sizeof second);
  CHECK_TRUE(got_first > 0);
  CHECK_TRUE(got_second > 0);
  // 64 random bytes that are all the same, or two reads that repeat each
  // other, mean a stuck generator, not a random one.
  bool varied = false;
  for (std::size_t i = 1; i < got_first; ++i) varied = varied || first[i] != first[0];
  CHECK_TRUE(varied);
  const std::size_t common = got_first < got_second ? got_first : got_second;
  CHECK_TRUE(std::memcmp(first, second, common) != 0);
}

TEST(RealRaspberryPi, the_hardware_rng_works_as_an_mbedtls_entropy_source) {
  unsigned char out[32] = {};
  std::size_t produced = 0;
  LONGS_EQUAL(0, rpi::hwrng_entropy_source(nullptr, out, sizeof out, &produced));
  CHECK_TRUE(produced > 0);
#if UPLINK_WITH_TLS
  // The TLS random generator seeded with the board's RNG beside mbedTLS's
  // platform source, as a firmware would configure it.
  uplink::tls::TlsSettings settings;
  settings.insecure_skip_verify = true;
  settings.entropy_source = {rpi::hwrng_entropy_source, nullptr, 0, false};
  uplink::tls::TlsConfig config;
  const std::error_code error = config.init(settings);
  STRCMP_EQUAL("", error ? error.message().c_str() : "");
#endif
}

TEST(RealRaspberryPi, the_soc_temperature_is_read_from_the_thermal_zone) {
  std::int32_t millicelsius = INT32_MIN;
  const std::error_code error = rpi::soc_temperature(millicelsius);
  STRCMP_EQUAL("", error ? error.message().c_str() : "");
  // A SoC that works is between -40 and 125 degrees Celsius.
  CHECK_TRUE(millicelsius > -40000 && millicelsius < 125000);
}

TEST(RealRaspberryPi, the_identity_is_the_serial_number_or_without_one_the_linux_ports) {
  char board[80];
  const rpi::Identity identity = rpi::board_identity(board, sizeof board);
  const std::string serial = device_tree_serial();
  if (!serial.empty() && serial.find_first_not_of('0') != std::string::npos) {
    // A real Pi: its firmware wrote the serial into the device tree.
    STRCMP_EQUAL("device_tree", rpi::identity_source_name(identity.source));
    STRCMP_EQUAL(serial.c_str(), board);
    return;
  }
  // qemu's Raspberry Pi has no firmware to write the serial number: the
  // device tree's serial-number is empty, and the kernel (arm64, armmp)
  // prints no Serial line in /proc/cpuinfo. The board identity must then be
  // the Linux port's, which is "linux-" and the first 16 characters of
  // /etc/machine-id (scripts/pi-test writes one, as systemd does on a Pi).
  STRCMP_EQUAL("fallback", rpi::identity_source_name(identity.source));
  char linux_port[80];
  const std::size_t length = uplink::port::device_identity(linux_port, sizeof linux_port);
  STRCMP_EQUAL(std::string(linux_port, length).c_str(), std::string(board, identity.length).c_str());
  const std::string machine = machine_id_prefix();
  CHECK_FALSE(machine.empty());
  STRCMP_EQUAL(("linux-" + machine).c_str(), board);
}
