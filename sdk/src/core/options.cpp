// SPDX-License-Identifier: Apache-2.0
// Options setters and validation: every rule names its field.
#include "uplink/options.hpp"

#include <cstring>

#include "uplink/core/device_id.hpp"
#include "uplink/core/wire_profiles.hpp"
#include "uplink/error.hpp"

namespace uplink {
namespace {

// The automatic bounds on a WELCOME's heartbeat (Options::server_heartbeat_*):
// a floor that keeps a hostile server from starting a PING storm, a ceiling
// that keeps silence detection within 20 minutes.
constexpr std::uint32_t kAutomaticServerHeartbeatFloorMs = 500;
constexpr std::uint32_t kAutomaticServerHeartbeatCeilingMs = 600000;
// The automatic windows (Options::max_in_flight = 0), per protocol.
constexpr std::uint32_t kAutomaticNativeWindow = 128;
constexpr std::uint32_t kAutomaticMqttWindow = 32;
// The automatic start and floor of the adaptive heartbeat: 30 s survives
// every NAT measured in the field so far; 10 s is a floor below which a
// path is better served by a fixed heartbeat.
constexpr std::uint32_t kAutomaticAdaptiveStartMs = 30000;
constexpr std::uint32_t kAutomaticAdaptiveFloorMs = 10000;

std::size_t bounded_length(const char* text, std::size_t limit) {
  std::size_t n = 0;
  while (n <= limit && text[n] != '\0') ++n;
  return n;
}

}  // namespace

OptionsCheck refuse_option(const char* field, const char* reason) {
  return {make_error_code(Errc::invalid_option), field, reason};
}

std::error_code Options::add_endpoint(const char* host, std::uint16_t port) {
  if (host == nullptr || endpoint_count >= kMaxEndpoints || port == 0) return Errc::invalid_option;
  const std::size_t n = bounded_length(host, kMaxHostLength);
  if (n == 0 || n > kMaxHostLength) return Errc::invalid_option;
  Endpoint& ep = endpoints[endpoint_count++];
  std::memcpy(ep.host, host, n);
  ep.host[n] = '\0';
  ep.port = port;
  return {};
}

std::error_code Options::set_device_id(const char* id) {
  if (id == nullptr) return Errc::invalid_option;
  const std::size_t n = bounded_length(id, kMaxDeviceIdLength);
  if (n == 0 || n > kMaxDeviceIdLength) return Errc::invalid_option;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_device_id_byte(static_cast<unsigned char>(id[i]))) return Errc::invalid_option;
  }
  std::memcpy(device_id, id, n);
  device_id[n] = '\0';
  return {};
}

const char* wire_protocol_name(WireProtocol protocol) noexcept {
  switch (protocol) {
    case WireProtocol::native: return "native";
    case WireProtocol::mqtt: return "mqtt";
  }
  return "unknown";
}

std::error_code MqttOptions::set_text(char (&field)[kMaxTopicLength + 1], const char* text) {
  if (text == nullptr) return Errc::invalid_option;
  const std::size_t n = bounded_length(text, kMaxTopicLength);
  if (n > kMaxTopicLength) return Errc::invalid_option;
  std::memcpy(field, text, n);
  field[n] = '\0';
  return {};
}

std::error_code MqttOptions::set_will_message(ConstByteSpan message) {
  if (message.size > kMaxWillMessage) return Errc::invalid_option;
  if (message.size != 0) std::memcpy(will_message, message.data, message.size);
  will_message_size = message.size;
  return {};
}

std::error_code Options::set_token(ConstByteSpan token_bytes) {
  if (token_bytes.size > kMaxTokenLength) return Errc::invalid_option;
  if (token_bytes.size != 0) std::memcpy(token, token_bytes.data, token_bytes.size);
  token_size = token_bytes.size;
  return {};
}

Options Options::demo() {
  Options o;
  o.heartbeat_interval_ms = 1000;
  o.read_timeout_ms = 2000;
  o.write_timeout_ms = 2000;
  o.connect_timeout_ms = 2000;
  o.stable_after_ms = 3000;
  o.probe_timeout_ms = 1000;
  o.backoff.base_ms = 200;
  o.backoff.cap_ms = 2000;
  return o;
}

std::uint32_t Options::in_flight_window() const {
  if (max_in_flight != 0) return max_in_flight;
  // The native server takes any window; 128 frames of 64 bytes is 8 KiB on
  // the wire per round trip, and halves the device's CPU per message against
  // a window of 32 (docs/PERFORMANCE.md). Brokers cap theirs (EMQX 32, AWS
  // IoT Core 100, HiveMQ 10): 32 stays the MQTT default.
  const std::uint32_t automatic = protocol == WireProtocol::mqtt ? kAutomaticMqttWindow : kAutomaticNativeWindow;
  return automatic < kStoreMessages ? automatic : static_cast<std::uint32_t>(kStoreMessages);
}

std::uint32_t Options::accepted_server_heartbeat_min_ms() const {
  if (server_heartbeat_min_ms != 0) return server_heartbeat_min_ms;
  return heartbeat_interval_ms < kAutomaticServerHeartbeatFloorMs ? heartbeat_interval_ms
                                                                  : kAutomaticServerHeartbeatFloorMs;
}

std::uint32_t Options::accepted_server_heartbeat_max_ms() const {
  if (server_heartbeat_max_ms != 0) return server_heartbeat_max_ms;
  return heartbeat_interval_ms > kAutomaticServerHeartbeatCeilingMs ? heartbeat_interval_ms
                                                                    : kAutomaticServerHeartbeatCeilingMs;
}

HeartbeatLearnerPolicy Options::heartbeat_learner_policy() const {
  HeartbeatLearnerPolicy p;
  p.max_ms = heartbeat_interval_ms;
  p.start_ms = adaptive_heartbeat.start_ms != 0 ? adaptive_heartbeat.start_ms
               : heartbeat_interval_ms < kAutomaticAdaptiveStartMs ? heartbeat_interval_ms
                                                                   : kAutomaticAdaptiveStartMs;
  p.min_ms = adaptive_heartbeat.min_ms != 0 ? adaptive_heartbeat.min_ms
             : p.start_ms < kAutomaticAdaptiveFloorMs ? p.start_ms
                                                      : kAutomaticAdaptiveFloorMs;
  p.reprobe_after = adaptive_heartbeat.reprobe_after;
  return p;
}

OptionsCheck validate(const Options& o) {
  if (o.endpoint_count == 0) return refuse_option("endpoints", "at least one endpoint is required");
  if (o.endpoint_count > kMaxEndpoints)
    return refuse_option("endpoint_count", "more endpoints than UPLINK_MAX_ENDPOINTS");
  for (std::size_t i = 0; i < o.endpoint_count; ++i) {
    const std::size_t n = bounded_length(o.endpoints[i].host, kMaxHostLength);
    if (n == 0 || n > kMaxHostLength)
      return refuse_option("endpoints.host", "empty or longer than UPLINK_MAX_HOST_LENGTH");
    if (o.endpoints[i].port == 0) return refuse_option("endpoints.port", "port 0 is not a server port");
  }
  const std::size_t id_len = bounded_length(o.device_id, kMaxDeviceIdLength);
  if (id_len == 0) return refuse_option("device_id", "a device id is required");
  if (id_len > kMaxDeviceIdLength) return refuse_option("device_id", "longer than UPLINK_MAX_DEVICE_ID_LENGTH");
  for (std::size_t i = 0; i < id_len; ++i) {
    if (!is_device_id_byte(static_cast<unsigned char>(o.device_id[i])))
      return refuse_option("device_id", "only printable ASCII without spaces");
  }
  if (o.token_size > kMaxTokenLength) return refuse_option("token_size", "longer than UPLINK_MAX_TOKEN_LENGTH");
  if (o.heartbeat_interval_ms == 0) return refuse_option("heartbeat_interval_ms", "must be greater than zero");
  if (o.read_timeout_ms <= o.heartbeat_interval_ms) {
    return refuse_option("read_timeout_ms", "must be larger than heartbeat_interval_ms");
  }
  if (o.server_heartbeat_min_ms > o.heartbeat_interval_ms) {
    return refuse_option("server_heartbeat_min_ms", "must be 0 (automatic) or not exceed heartbeat_interval_ms");
  }
  if (o.server_heartbeat_max_ms != 0 && o.server_heartbeat_max_ms < o.heartbeat_interval_ms) {
    return refuse_option("server_heartbeat_max_ms", "must be 0 (automatic) or not be below heartbeat_interval_ms");
  }
  if (o.write_timeout_ms == 0) return refuse_option("write_timeout_ms", "must be greater than zero");
  if (o.connect_timeout_ms == 0) return refuse_option("connect_timeout_ms", "must be greater than zero");
  if (o.idle_timeout_ms != 0 && o.idle_timeout_ms <= o.heartbeat_interval_ms) {
    return refuse_option("idle_timeout_ms", "must be 0 (off) or larger than heartbeat_interval_ms");
  }
  if (o.probe_timeout_ms == 0) return refuse_option("probe_timeout_ms", "must be greater than zero");
  if (o.max_in_flight > kStoreMessages) {
    return refuse_option("max_in_flight", "must be 0 (automatic) or within 1 .. UPLINK_STORE_MESSAGES");
  }
  if (o.adaptive_heartbeat.enabled) {
    const HeartbeatLearnerPolicy p = o.heartbeat_learner_policy();
    if (p.start_ms > o.heartbeat_interval_ms) {
      return refuse_option("adaptive_heartbeat.start_ms", "must not exceed heartbeat_interval_ms (the ceiling)");
    }
    if (p.min_ms > p.start_ms)
      return refuse_option("adaptive_heartbeat.min_ms", "must not exceed adaptive_heartbeat.start_ms");
  }
  if (o.backoff.base_ms == 0) return refuse_option("backoff.base_ms", "must be greater than zero");
  if (o.backoff.cap_ms < o.backoff.base_ms) return refuse_option("backoff.cap_ms", "must not be below backoff.base_ms");
  return validate_wire_protocol(o);
}

}  // namespace uplink
