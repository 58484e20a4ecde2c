// SPDX-License-Identifier: Apache-2.0
// Flag and config-file parsing for the emulated device.
#include "device_config.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include <sys/stat.h>

#include "board_telemetry.hpp"
#include "flag_values.hpp"
#include "uplink/codec/frame.hpp"

namespace uplink::samples {
namespace {

bool parse_u32(const std::string& text, std::uint32_t& out) {
  if (text.empty() || text[0] == '-') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v > 0xFFFFFFFFull) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

bool parse_endpoint(const std::string& text, Options& options) {
  tools::HostPort endpoint;
  if (!tools::split_host_port(text, endpoint) || endpoint.port == 0) return false;
  return !options.add_endpoint(endpoint.host.c_str(), endpoint.port);
}

}  // namespace

bool apply_device_setting(DeviceConfig& c, const std::string& name, const std::string& value, std::string& error) {
  std::uint32_t n = 0;
  const auto number = [&](std::uint32_t& target) {
    if (!parse_u32(value, n)) {
      error = "--" + name + ": expected a non-negative integer, got '" + value + "'";
      return false;
    }
    target = n;
    return true;
  };
  Options& o = c.options;
  if (name == "server") {
    if (!parse_endpoint(value, o)) {
      error = "--server: expected host:port (at most " + std::to_string(kMaxEndpoints) + "), got '" + value + "'";
      return false;
    }
    return true;
  }
  if (name == "device-id") {
    if (o.set_device_id(value.c_str())) {
      error = "--device-id: 1.." + std::to_string(kMaxDeviceIdLength) + " printable ASCII characters without spaces";
      return false;
    }
    return true;
  }
  if (name == "token") {
    if (o.set_token(ConstByteSpan{value.data(), value.size()})) {
      error = "--token: longer than " + std::to_string(kMaxTokenLength) + " bytes";
      return false;
    }
    c.warnings.push_back(
        "--token: a token on the command line is visible to every user (ps, /proc); prefer --token-file");
    return true;
  }
  if (name == "token-file") {
    // The secret stays in a file only its owner can read; one trailing
    // newline (as an editor or echo leaves it) is not part of the token.
    struct stat info {};
    if (::stat(value.c_str(), &info) != 0) {
      error = "--token-file: cannot read '" + value + "': " + std::strerror(errno);
      return false;
    }
    // A regular file, read up to one byte past the longest token and its
    // line end: never a device or a FIFO that could block or never end.
    if (!S_ISREG(info.st_mode)) {
      error = "--token-file: '" + value + "' is not a regular file";
      return false;
    }
    std::ifstream in(value, std::ios::binary);
    std::string token(kMaxTokenLength + 3, '\0');
    in.read(&token[0], static_cast<std::streamsize>(token.size()));
    if (in.bad()) {
      error = "--token-file: cannot read '" + value + "'";
      return false;
    }
    token.resize(static_cast<std::size_t>(in.gcount()));
    if (!token.empty() && token.back() == '\n') token.pop_back();
    if (!token.empty() && token.back() == '\r') token.pop_back();
    if (o.set_token(ConstByteSpan{token.data(), token.size()})) {
      error = "--token-file: '" + value + "' holds more than " + std::to_string(kMaxTokenLength) + " bytes";
      return false;
    }
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      c.warnings.push_back("--token-file: '" + value +
                           "' can be read by its group or by others; make it private (chmod 600)");
    }
    return true;
  }
  if (name == "tls-ca") return (c.tls_ca = value), true;
  if (name == "tls-cert") return (c.tls_cert = value), true;
  if (name == "tls-key") return (c.tls_key = value), true;
  if (name == "tls-server-name") return (c.tls_server_name = value), true;
  if (name == "spool") return (c.spool_path = value), true;
  if (name == "spool-size") return number(c.spool_size);
  if (name == "spool-sync") {
    if (value != "every_write" && value != "interval" && value != "none") {
      error = "--spool-sync: expected every_write, interval or none, got '" + value + "'";
      return false;
    }
    c.spool_sync = value;
    return true;
  }
  if (name == "heartbeat-ms") return number(o.heartbeat_interval_ms);
  if (name == "read-timeout-ms") return number(o.read_timeout_ms);
  if (name == "write-timeout-ms") return number(o.write_timeout_ms);
  if (name == "connect-timeout-ms") return number(o.connect_timeout_ms);
  if (name == "idle-timeout-ms") return number(o.idle_timeout_ms);
  if (name == "stable-after-ms") return number(o.stable_after_ms);
  if (name == "backoff-base-ms") return number(o.backoff.base_ms);
  if (name == "backoff-cap-ms") return number(o.backoff.cap_ms);
  if (name == "max-attempts") return number(o.backoff.max_attempts);
  if (name == "server-heartbeat-min-ms") return number(o.server_heartbeat_min_ms);
  if (name == "server-heartbeat-max-ms") return number(o.server_heartbeat_max_ms);
  if (name == "max-retry-after-ms") return number(o.max_retry_after_ms);
  if (name == "ack-timeout-ms") return number(o.ack_timeout_ms);
  if (name == "probe-timeout-ms") return number(o.probe_timeout_ms);
  if (name == "heartbeat-state") return (c.heartbeat_state = value), true;
  if (name == "adaptive-heartbeat") {
    // "on" (automatic floor and start) or MIN_MS:START_MS.
    o.adaptive_heartbeat.enabled = true;
    if (value == "on") return true;
    const auto colon = value.find(':');
    if (colon == std::string::npos || !parse_u32(value.substr(0, colon), o.adaptive_heartbeat.min_ms) ||
        !parse_u32(value.substr(colon + 1), o.adaptive_heartbeat.start_ms)) {
      error = "--adaptive-heartbeat: expected on or MIN_MS:START_MS, got '" + value + "'";
      return false;
    }
    return true;
  }
  if (name == "in-flight") return number(o.max_in_flight);
  if (name == "protocol") {
    if (value == "native") return (o.protocol = WireProtocol::native), true;
    if (value == "mqtt") return (o.protocol = WireProtocol::mqtt), true;
    error = "--protocol: expected native or mqtt, got '" + value + "'";
    return false;
  }
  MqttOptions& m = o.mqtt;
  const auto text = [&](char(&field)[MqttOptions::kMaxTopicLength + 1]) {
    if (MqttOptions::set_text(field, value.c_str())) {
      error = "--" + name + ": longer than " + std::to_string(MqttOptions::kMaxTopicLength) + " bytes";
      return false;
    }
    return true;
  };
  if (name == "mqtt-uplink-topic") return text(m.uplink_topic);
  if (name == "mqtt-downlink-topic") return text(m.downlink_topic);
  if (name == "mqtt-username") return text(m.username);
  if (name == "mqtt-will-topic") return text(m.will_topic);
  if (name == "mqtt-will-message") {
    if (m.set_will_message(ConstByteSpan{value.data(), value.size()})) {
      error = "--mqtt-will-message: longer than " + std::to_string(MqttOptions::kMaxWillMessage) + " bytes";
      return false;
    }
    return true;
  }
  if (name == "mqtt-envelope") {
    if (value != "on" && value != "off") {
      error = "--mqtt-envelope: expected on or off, got '" + value + "'";
      return false;
    }
    m.envelope = value == "on";
    return true;
  }
  if (name == "mqtt-broker-max-keepalive-s") return number(m.broker_max_keepalive_s);
  if (name == "size") {
    if (!number(c.size)) return false;
    if (c.size < 16 || c.size > kMaxDataPayload) {
      error = "--size: must be within 16.." + std::to_string(kMaxDataPayload);
      return false;
    }
    return true;
  }
  if (name == "payload") {
    if (value != "pattern" && value != "temperature") {
      error = "--payload: expected pattern or temperature, got '" + value + "'";
      return false;
    }
    c.payload = value;
    return true;
  }
  if (name == "board-root") return (c.board_root = value), true;
  if (name == "duration-s") return number(c.duration_s);
  if (name == "fleet") {
    if (!number(c.fleet)) return false;
    if (c.fleet == 0 || c.fleet > 100000) {
      error = "--fleet: must be within 1..100000";
      return false;
    }
    return true;
  }
  if (name == "count") {
    std::uint32_t count = 0;
    if (!number(count)) return false;
    c.count = count;
    return true;
  }
  if (name == "rate") {
    char* end = nullptr;
    const double r = std::strtod(value.c_str(), &end);
    // Written so that NaN ("nan" parses) is refused too.
    if (value.empty() || *end != '\0' || !(r >= 0 && r <= 1e6)) {
      error = "--rate: expected messages per second within 0..1000000, got '" + value + "'";
      return false;
    }
    c.rate_per_s = r;
    return true;
  }
  error = "unknown setting '--" + name + "' (see --help)";
  return false;
}

namespace {

// A config file larger than this is refused (it is a few lines; a device
// or a FIFO named by mistake must not be read forever).
constexpr std::size_t kMaxConfigFileBytes = 1 << 20;

}  // namespace

bool load_device_config_file(DeviceConfig& c, const std::string& path, std::string& error) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    error = "--config: cannot read '" + path + "' (not a regular file)";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "--config: cannot read '" + path + "'";
    return false;
  }
  std::string text(kMaxConfigFileBytes + 1, '\0');
  in.read(&text[0], static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    error = "--config: cannot read '" + path + "'";
    return false;
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxConfigFileBytes) {
    error = "--config: '" + path + "' is larger than " + std::to_string(kMaxConfigFileBytes) + " bytes";
    return false;
  }
  return parse_config_text(c, text, path, error);
}


bool parse_config_text(DeviceConfig& c, const std::string& text, const std::string& path, std::string& error) {
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    const auto trim = [](std::string s) {
      const auto b = s.find_first_not_of(" \t\r");
      const auto e = s.find_last_not_of(" \t\r");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    line = trim(line);
    if (line.empty()) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      error = path + ":" + std::to_string(line_no) + ": expected 'name = value'";
      return false;
    }
    std::string message;
    const std::string name = trim(line.substr(0, eq));
    if (!apply_device_setting(c, name, trim(line.substr(eq + 1)), message)) {
      error = path + ":" + std::to_string(line_no) + ": " + message;
      return false;
    }
    if (name == "token") {
      // Not on a command line, so ps does not show it; the file's own
      // permissions decide who can read it.
      c.warnings.pop_back();
      struct stat info {};
      if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        c.warnings.push_back("--config: '" + path +
                             "' holds a token and can be read by its group or others; make it private (chmod 600) "
                             "or use token-file");
      }
    }
  }
  return true;
}

namespace {
// The --help text of each setting, in --help order (an array: nothing is
// allocated when it is first used).
constexpr DeviceSetting kSettings[] = {
    {"server", "HOST:PORT", "the server (repeat for fallbacks, tried in turn)"},
    {"device-id", "ID", "default: the board serial (ports/raspberrypi), else this machine's identity"},
    {"token-file", "FILE",
     "authentication token, read from FILE (one trailing newline dropped; warns when the file is readable by its "
     "group or others)"},
    {"token", "TEXT", "the same on the command line (warns: ps shows it; never printed)"},
    {"heartbeat-ms", "N", "heartbeat interval (default 30000; --demo: 1000)"},
    {"read-timeout-ms", "N", "silence bound, > heartbeat (default 60000; --demo: 2000)"},
    {"write-timeout-ms", "N", "(default 10000)"},
    {"connect-timeout-ms", "N", "(default 10000)"},
    {"idle-timeout-ms", "N", "0 = off (default)"},
    {"stable-after-ms", "N", "(default 30000)"},
    {"backoff-base-ms", "N", "(default 1000)"},
    {"backoff-cap-ms", "N", "(default 60000)"},
    {"max-attempts", "N", "0 = forever (default)"},
    {"server-heartbeat-min-ms", "N",
     "heartbeats a server may name in WELCOME, with --server-heartbeat-max-ms; outside them the WELCOME is refused "
     "(0 = automatic: 500 ms and 10 min, widened to include --heartbeat-ms)"},
    {"server-heartbeat-max-ms", "N", "see --server-heartbeat-min-ms"},
    {"max-retry-after-ms", "N", "cap on a server's CLOSE retry-after (default 600000; 0 = ignore hints)"},
    {"ack-timeout-ms", "N",
     "messages in flight and no acknowledgement for this long: reconnect (default 0 = twice the read timeout)"},
    {"probe-timeout-ms", "N", "a probe PING unanswered for this long: the link is dead (default 3000)"},
    {"adaptive-heartbeat", "on|MIN_MS:START_MS",
     "learn the heartbeat the path allows, from START_MS (default 30000) within MIN_MS (default 10000) .. "
     "--heartbeat-ms (README: \"Choosing a heartbeat\")"},
    {"heartbeat-state", "FILE", "keep what it learned per network in FILE (read at start, written at stop)"},
    {"in-flight", "N",
     "most messages transmitted and not yet acknowledged (default 0 = automatic: 128, with MQTT 32; keep it within "
     "the broker's limit)"},
    {"protocol", "native|mqtt", "the wire protocol: uplink's own (default) or MQTT 3.1.1 to a broker (docs/MQTT.md)"},
    {"mqtt-uplink-topic", "TEMPLATE", "where messages are published ({device_id} replaced; default devices/{device_id}/up)"},
    {"mqtt-downlink-topic", "TEMPLATE",
     "subscribed to for downlink (default devices/{device_id}/down; empty: subscribe to nothing)"},
    {"mqtt-envelope", "on|off",
     "put the 8-byte sequence number before each payload so a consumer drops duplicates exactly (default off)"},
    {"mqtt-username", "NAME", "the CONNECT user name (default: the device id when a token is set)"},
    {"mqtt-will-topic", "TOPIC", "where the broker publishes the will when the link dies ({device_id} replaced)"},
    {"mqtt-will-message", "TEXT", "the will's payload"},
    {"mqtt-broker-max-keepalive-s", "N",
     "the broker's largest keepalive (AWS IoT Core 1200): refuse timings it cannot honour (0 = MQTT's 65535)"},
    {"rate", "R", "messages per second (default 1)"},
    {"size", "N", "payload bytes (default 64)"},
    {"payload", "pattern|temperature",
     "'ID #N ....' padded to --size (default), or 'ID #N soc_temp_c=48.312' read from the SoC (soc_temp_c=none "
     "without one)"},
    {"board-root", "DIR", "read the board files (serial, model, temperature) under DIR"},
    {"count", "N", "exit once N messages are acknowledged"},
    {"duration-s", "N", "exit after N seconds"},
    {"fleet", "N", "run N devices in this process (ids ID-0001 ...)"},
    {"tls-ca", "FILE", "use TLS, verifying the server against this CA bundle"},
    {"tls-cert", "FILE", "this device's certificate (mutual TLS), with --tls-key"},
    {"tls-key", "FILE", "its private key"},
    {"tls-server-name", "NAME", "host name to verify (default: the --server host)"},
    {"spool", "FILE", "keep queued messages on disk across crashes and restarts"},
    {"spool-size", "BYTES", "spool file size"},
    {"spool-sync", "every_write|interval|none", "when the spool reaches the disk (default every_write)"},
};
}  // namespace

DeviceSettings device_settings() { return {std::begin(kSettings), std::end(kSettings)}; }

bool finish_device_config(DeviceConfig& c, std::string& error) {
  if (c.options.device_id[0] == '\0') {
    char id[kMaxDeviceIdLength + 1];
    c.id_source = board_device_id(id, sizeof id, c.board_root);
    (void)c.options.set_device_id(id);
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    error = c.tls_cert.empty() ? "--tls-key: needs --tls-cert" : "--tls-cert: needs --tls-key";
    return false;
  }
  if (!c.tls_cert.empty() && !c.tls_enabled()) {
    error = "--tls-cert: needs --tls-ca (or --tls-insecure-skip-verify)";
    return false;
  }
  if (!c.heartbeat_state.empty() && c.fleet > 1) {
    error = "--heartbeat-state: one state file per device; not with --fleet";
    return false;
  }
  if (!c.spool_path.empty() && c.fleet > 1) {
    error = "--spool: one spool file per device; not with --fleet";
    return false;
  }
  const OptionsCheck check = validate(c.options);
  if (!check) {
    // Options fields are named like the flags, with '-' for '_' and '.'.
    std::string flag = check.field;
    for (char& ch : flag) {
      if (ch == '_' || ch == '.') ch = '-';
    }
    if (flag.rfind("endpoints", 0) == 0) flag = "server";
    if (flag == "heartbeat-interval-ms") flag = "heartbeat-ms";
    if (flag == "max-in-flight") flag = "in-flight";
    if (flag == "mqtt-will-message-size") flag = "mqtt-will-message";
    if (flag.rfind("adaptive-heartbeat", 0) == 0) flag = "adaptive-heartbeat";
    if (flag.rfind("backoff-", 0) == 0 && flag == "backoff-max-attempts") flag = "max-attempts";
    error = "--" + flag + ": " + check.reason;
    return false;
  }
  return true;
}

}  // namespace uplink::samples
