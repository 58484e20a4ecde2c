// SPDX-License-Identifier: Apache-2.0
// Settings of the emulated device, from flags or a config file.
//
// Every flag has a config-file twin: "--heartbeat-ms 1000" is
// "heartbeat-ms = 1000" in the file given with --config. A value that does
// not parse, or breaks a rule of uplink::Options, is refused with a message
// naming the flag.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "uplink/options.hpp"

namespace uplink::samples {

struct DeviceConfig {
  Options options;               ///< The client's options (endpoints, id, timings).
  double rate_per_s = 1.0;       ///< Messages generated per second (0 = none).
  std::uint32_t size = 64;       ///< Payload bytes per message (>= 16).
  std::uint64_t count = 0;       ///< Stop after this many messages are acknowledged (0 = unlimited).
  std::uint32_t duration_s = 0;  ///< Stop after this long (0 = run until a signal).
  std::uint32_t fleet = 1;       ///< Devices in this process (ids get a -NNNN suffix when > 1).
  bool json = true;              ///< One JSON line per event on stdout.
  bool verbose = false;          ///< Also print the client's info and warning log lines (--verbose).
  /// What the parser wants the operator to know without refusing the
  /// configuration (a token on the command line, a token file others can
  /// read); uplink_device prints each on stderr at start.
  std::vector<std::string> warnings;
  bool status = false;           ///< Live status line on stderr (default: when stderr is a terminal).
  bool status_forced = false;
  std::string payload = "pattern";  ///< --payload pattern|temperature (the SoC temperature, ports/raspberrypi).
  std::string board_root;          ///< --board-root DIR: read the board files under DIR (default: this system).
  std::string id_source = "flag";  ///< Where the device id came from: flag, or the board's source.
  bool network_monitor = true;   ///< Probe the link on network changes (Linux netlink); --no-network-monitor.

  // TLS (empty tls_ca and no insecure flag = plain TCP).
  std::string tls_ca;           ///< --tls-ca FILE: CA bundle that signs the server's certificate.
  std::string tls_cert;         ///< --tls-cert FILE: this device's certificate (mutual TLS).
  std::string tls_key;          ///< --tls-key FILE: its private key.
  std::string tls_server_name;  ///< --tls-server-name NAME: SNI and verified host name (default: the --server host).
  bool tls_insecure = false;    ///< --tls-insecure-skip-verify: encrypt without verifying the server.

  // Spool (empty path = RAM only).
  std::string spool_path;             ///< --spool FILE
  std::uint32_t spool_size = 0;       ///< --spool-size BYTES (default: the spool's recommended size)
  std::string spool_sync = "every_write";  ///< --spool-sync every_write|interval|none
  bool spool_reformat_damaged = false;     ///< --spool-reformat-damaged: format a spool whose headers are both damaged.
  bool strict_spool = false;  ///< --strict-spool: refuse to run (exit 3) when the spool lost messages to damage.

  /// --heartbeat-state FILE: what the adaptive heartbeat learned per
  /// network, read at start and written when the device stops (empty: none).
  std::string heartbeat_state;

  [[nodiscard]] bool tls_enabled() const { return !tls_ca.empty() || tls_insecure; }
};

/// A setting that takes a value: the flag "--NAME VALUE" (or --NAME=VALUE)
/// and the config-file line "NAME = VALUE".
struct DeviceSetting {
  const char* name;        ///< Without the dashes, e.g. "heartbeat-ms".
  const char* value_name;  ///< What --help shows for the value, e.g. "N".
  const char* help;        ///< Its line in --help.
};

/// Every setting apply_device_setting() knows, in --help order. A new
/// setting is a row here and a branch in apply_device_setting(); the
/// command line (device_command_line.cpp) and the config file both follow.
struct DeviceSettings {
  const DeviceSetting* first;
  const DeviceSetting* last;
  [[nodiscard]] const DeviceSetting* begin() const { return first; }
  [[nodiscard]] const DeviceSetting* end() const { return last; }
};
DeviceSettings device_settings();

/// Applies one setting (`name` without the dashes). On failure returns
/// false and puts a message naming the flag ("--rate: ...") into `error`.
bool apply_device_setting(DeviceConfig& config, const std::string& name, const std::string& value, std::string& error);

/// Reads the config file at `path` (what --config reads) and applies it.
bool load_device_config_file(DeviceConfig& config, const std::string& path, std::string& error);

/// Applies the settings of a config file's `text` (lines "name = value",
/// '#' comments; what --config reads), naming `origin` and the line in
/// `error` on failure. --config's parser without the file read (a fuzz
/// target drives it: tests/fuzz/device_config_fuzz.cpp).
bool parse_config_text(DeviceConfig& config, const std::string& text, const std::string& origin, std::string& error);

/// The checks once every setting is in: the default device id (the
/// board's), the TLS files that go together, one state file per device,
/// and uplink::Options' own rules, each refused naming its flag.
bool finish_device_config(DeviceConfig& config, std::string& error);

}  // namespace uplink::samples
