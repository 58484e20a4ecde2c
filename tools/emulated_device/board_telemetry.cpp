// SPDX-License-Identifier: Apache-2.0
// Board facts for the emulated device, through the Raspberry Pi port.
#include "board_telemetry.hpp"

#include <cstdio>

#include "uplink/port/raspberrypi.hpp"

namespace uplink::samples {

namespace rpi = uplink::port::raspberrypi;

const char* board_device_id(char* out, std::size_t size, const std::string& root) {
  return rpi::identity_source_name(rpi::board_identity(out, size, root.c_str()).source);
}

std::string temperature_payload(const char* device_id, std::uint64_t number, const std::string& root) {
  char reading[rpi::kTemperaturePayloadCapacity];
  std::size_t length = 0;
  if (rpi::soc_temperature_payload(reading, sizeof reading, length, root.c_str())) {
    std::snprintf(reading, sizeof reading, "soc_temp_c=none");
  }
  char head[96];
  std::snprintf(head, sizeof head, "%s #%llu ", device_id, static_cast<unsigned long long>(number));
  return std::string(head) + reading;
}

std::string board_model_name(const std::string& root) {
  char model[128];
  const std::size_t length = rpi::board_model(model, sizeof model, root.c_str());
  return std::string(model, length);
}

}  // namespace uplink::samples
