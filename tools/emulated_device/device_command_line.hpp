// SPDX-License-Identifier: Apache-2.0
// uplink_device's command line: every setting of device_config.hpp as a
// flag, plus the flags that take no value (--demo, --quiet, ...), on the
// tools' shared parser (tools/service/command_line.hpp). Applied in the
// order given, so that a later flag (or --config FILE) overrides an earlier one.
#pragma once

#include <optional>
#include <string>

#include "device_config.hpp"

namespace uplink::samples {

/// Parses argv into `config` and checks it (finish_device_config()).
/// Returns nothing when the device is to run; otherwise the exit status:
/// 0 after --help or --version (printed on stdout), 2 after a refusal
/// printed on stderr and put into `refusal` ("--fleet: must be ...").
std::optional<int> parse_device_command_line(int argc, const char* const* argv, DeviceConfig& config,
                                             std::string& refusal);

}  // namespace uplink::samples
