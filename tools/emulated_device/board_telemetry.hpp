// SPDX-License-Identifier: Apache-2.0
// What the emulated device reads from its board through the Raspberry Pi
// port (ports/raspberrypi): its default device id (the board serial) and the
// SoC temperature for `--payload temperature`. On a PC, where the board files
// are absent, the port's fallbacks answer: the Linux port's identity, and
// no temperature.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace uplink::samples {

/// Writes the default device id into `out` (capacity `size`): the board
/// serial under `root` ("" = this system), else the Linux port's identity.
/// Returns the source's name ("device_tree", "cpuinfo", "fallback").
const char* board_device_id(char* out, std::size_t size, const std::string& root);

/// The payload of message `number` for `--payload temperature`:
/// "<device_id> #<number> soc_temp_c=48.312", or "... soc_temp_c=none" when
/// the SoC temperature cannot be read (no thermal zone: a PC, a container).
std::string temperature_payload(const char* device_id, std::uint64_t number, const std::string& root);

/// The board model under `root` ("unknown" on a PC), for the start-up line.
std::string board_model_name(const std::string& root);

}  // namespace uplink::samples
