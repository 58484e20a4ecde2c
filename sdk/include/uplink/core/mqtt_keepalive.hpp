// SPDX-License-Identifier: Apache-2.0
// The keepalive uplink sends in MQTT's CONNECT, derived from its own
// heartbeat and read timeout so that the broker never cuts a device before
// the device itself would find the link dead (docs/MQTT.md).
//
// An MQTT server closes a connection it has received nothing on for 1.5 x
// the keepalive (spec 3.1.2.10). The device writes at least every heartbeat
// interval H (a PINGREQ when it has written nothing for H), and declares the
// link dead after the read timeout R without receiving. When the link dies
// at T, the broker last heard from the device at T - H at the earliest, so
// it cuts at T - H + 1.5 K at the earliest; the device finds out at T + R at
// the latest. The broker never cuts first when 1.5 K >= R + H:
//
//     K = ceil((R + H) / 1500 ms)
//
// which also keeps the device's side of the keepalive (H <= K) whenever
// H <= R, as Options requires.
#pragma once

#include <cstdint>
#include <system_error>

#include "uplink/error.hpp"

namespace uplink {

/// A keepalive in seconds for MQTT's CONNECT, or why there is none.
struct MqttKeepalive {
  std::error_code error;      ///< Empty when `seconds` is usable.
  std::uint16_t seconds = 0;  ///< 1..65535 (never 0, which would turn the broker's check off).
};

/// The keepalive for a heartbeat interval and a read timeout (both > 0),
/// refused when it exceeds `broker_max_s` (0: MQTT's own limit, 65535; AWS
/// IoT Core allows 1200, Azure IoT Hub 1177) or when the device could not
/// write within it (heartbeat above the keepalive). Errors:
/// Errc::invalid_option.
[[nodiscard]] inline MqttKeepalive mqtt_keepalive(std::uint32_t heartbeat_ms, std::uint32_t read_timeout_ms,
                                                     std::uint32_t broker_max_s = 0) {
  const std::uint32_t max_s = broker_max_s == 0 || broker_max_s > 65535u ? 65535u : broker_max_s;
  // A sum above 65535 x 1500 ms needs a keepalive above MQTT's limit;
  // below it, the arithmetic fits 32 bits (no 64-bit division on a 32-bit core).
  constexpr std::uint32_t kLongestSumMs = 65535u * 1500u;
  if (heartbeat_ms == 0 || read_timeout_ms == 0 || heartbeat_ms > kLongestSumMs ||
      read_timeout_ms > kLongestSumMs - heartbeat_ms) {
    return {make_error_code(Errc::invalid_option), 0};
  }
  const std::uint32_t seconds = (heartbeat_ms + read_timeout_ms + 1499u) / 1500u;
  if (seconds > max_s || heartbeat_ms > seconds * 1000u) return {make_error_code(Errc::invalid_option), 0};
  return {{}, static_cast<std::uint16_t>(seconds)};
}

}  // namespace uplink
