// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the emulated device's config file parser
// (tools/emulated_device/device_config.*: what --config FILE reads).
// Property: any text is applied or refused with a message naming a line,
// never a crash; what it accepts passes the Options validation or is
// refused by it with a field name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "device_config.hpp"
#include "uplink/codec/frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  uplink::samples::DeviceConfig config;
  std::string error;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (!uplink::samples::parse_config_text(config, text, "fuzz.conf", error)) {
    if (error.rfind("fuzz.conf:", 0) != 0) std::abort();  // a refusal names the file and line
    return 0;
  }
  // Values the parser accepted are within the bounds it states.
  if (!(config.rate_per_s >= 0 && config.rate_per_s <= 1e6)) std::abort();
  if (config.size != 0 && (config.size < 16 || config.size > uplink::kMaxDataPayload)) std::abort();
  if (config.fleet == 0 || config.fleet > 100000) std::abort();
  const uplink::OptionsCheck check = uplink::validate(config.options);
  if (!check && (check.field == nullptr || check.reason == nullptr)) std::abort();
  return 0;
}
