// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the Raspberry Pi port's board file parsers
// (ports/raspberrypi: device-tree serial-number and model, /proc/cpuinfo,
// the thermal zone's temperature), over files written under a temporary
// root directory, and the emulated device's use of them.
//
// Input layout: up to four parts separated by the bytes "@@@@": the
// device-tree serial-number, /proc/cpuinfo, the device-tree model, the
// thermal zone's temp. A part left out is a file that does not exist.
// Properties: the device id is 1..max printable bytes without spaces
// (whatever the files hold), the model printable and NUL-terminated, a
// temperature either parsed back to the same text or refused.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "board_telemetry.hpp"
#include "uplink/config_defaults.hpp"
#include "uplink/core/device_id.hpp"
#include "uplink/port/raspberrypi.hpp"

namespace {

const char* const kFiles[] = {"/proc/device-tree/serial-number", "/proc/cpuinfo", "/proc/device-tree/model",
                              "/sys/class/thermal/thermal_zone0/temp"};
const char* const kDirectories[] = {"/proc", "/proc/device-tree", "/sys", "/sys/class", "/sys/class/thermal",
                                    "/sys/class/thermal/thermal_zone0"};
// In memory when the machine has /dev/shm: the files change at every run.
char g_root[64] = {};

// The temporary root goes when the fuzzer exits (it calls exit()).
void remove_root() {
  for (const char* file : kFiles) (void)::unlink((std::string(g_root) + file).c_str());
  for (std::size_t i = sizeof kDirectories / sizeof kDirectories[0]; i-- > 0;) {
    (void)::rmdir((std::string(g_root) + kDirectories[i]).c_str());
  }
  (void)::rmdir(g_root);
}

std::string make_root() {
  struct stat shm {};
  const bool in_memory = ::stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) && ::access("/dev/shm", W_OK) == 0;
  std::snprintf(g_root, sizeof g_root, "%s/uplink_board_fuzz_XXXXXX", in_memory ? "/dev/shm" : "/tmp");
  if (::mkdtemp(g_root) == nullptr) std::abort();
  std::atexit(remove_root);
  const std::string root = g_root;
  for (const char* sub : kDirectories) {
    if (::mkdir((root + sub).c_str(), 0700) != 0) std::abort();
  }
  return root;
}

void put(const std::string& path, const std::uint8_t* data, std::size_t size, bool present) {
  if (!present) {
    (void)::unlink(path.c_str());
    return;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) std::abort();
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace rpi = uplink::port::raspberrypi;
  static const std::string root = make_root();
  const std::uint8_t* part = data;
  const std::uint8_t* end = data + size;
  bool more = true;  // a part is left for the next file
  for (const char* file : kFiles) {
    if (!more) {
      put(root + file, nullptr, 0, false);
      continue;
    }
    const std::uint8_t* cut = part;
    while (cut != end && !(end - cut >= 4 && std::memcmp(cut, "@@@@", 4) == 0)) ++cut;
    put(root + file, part, static_cast<std::size_t>(cut - part), true);
    more = cut != end;
    part = more ? cut + 4 : end;
  }

  char id[UPLINK_MAX_DEVICE_ID_LENGTH + 1];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, root.c_str());
  if (identity.length == 0 || identity.length != std::strlen(id) || identity.length > UPLINK_MAX_DEVICE_ID_LENGTH) {
    std::abort();
  }
  for (std::size_t i = 0; i < identity.length; ++i) {
    if (!uplink::is_device_id_byte(static_cast<unsigned char>(id[i]))) std::abort();
  }
  char small[3];
  (void)rpi::board_identity(small, sizeof small, root.c_str());
  if (std::strlen(small) > 2) std::abort();

  char model[64];
  const std::size_t model_length = rpi::board_model(model, sizeof model, root.c_str());
  if (model_length != std::strlen(model)) std::abort();
  for (std::size_t i = 0; i < model_length; ++i) {
    if (model[i] < 0x20 || model[i] > 0x7E) std::abort();
  }
  (void)rpi::is_raspberry_pi(root.c_str());

  std::int32_t millicelsius = 0;
  if (!rpi::soc_temperature(millicelsius, root.c_str())) {
    char text[32];
    const std::size_t n = rpi::format_celsius(millicelsius, text, sizeof text);
    if (n == 0 || n != std::strlen(text)) std::abort();
  }
  char payload[64];
  std::size_t length = 0;
  if (!rpi::soc_temperature_payload(payload, sizeof payload, length, root.c_str()) &&
      length != std::strlen(payload)) {
    std::abort();
  }
  // The emulated device's view: the same files through its helpers.
  char device_id[UPLINK_MAX_DEVICE_ID_LENGTH + 1];
  (void)uplink::samples::board_device_id(device_id, sizeof device_id, root);
  if (std::strlen(device_id) == 0) std::abort();
  if (uplink::samples::temperature_payload(device_id, 7, root).find(" #7 soc_temp_c=") == std::string::npos) std::abort();
  if (uplink::samples::board_model_name(root).empty()) std::abort();
  return 0;
}
