// SPDX-License-Identifier: Apache-2.0
// uplink_device's flags on the tools' shared parser (see device_command_line.hpp).
#include "device_command_line.hpp"

#include <cstring>
#include <functional>

#include "command_line.hpp"
#include "uplink/options.hpp"

namespace uplink::samples {
namespace {

constexpr const char* kDescription =
    "uplink_device: a device running on a host, or a fleet of them (--fleet). One JSON line per event on stdout.\n"
    "Every flag with a value has a config-file twin: --heartbeat-ms 1000 is \"heartbeat-ms = 1000\" in --config FILE.\n"
    "Exit status: 0 after a clean stop, 1 if a device gave up, 2 on a bad flag or value, 3 with --strict-spool\n"
    "when the spool lost messages.";

// --demo: short timings, keeping what was already given (endpoints, id,
// token, the protocol and its MQTT settings: they are not timings).
void apply_demo(DeviceConfig& c) {
  Options demo = Options::demo();
  for (std::size_t e = 0; e < c.options.endpoint_count; ++e) demo.endpoints[e] = c.options.endpoints[e];
  demo.endpoint_count = c.options.endpoint_count;
  std::memcpy(demo.device_id, c.options.device_id, sizeof demo.device_id);
  std::memcpy(demo.token, c.options.token, sizeof demo.token);
  demo.token_size = c.options.token_size;
  demo.protocol = c.options.protocol;
  demo.mqtt = c.options.mqtt;
  c.options = demo;
}

}  // namespace

std::optional<int> parse_device_command_line(int argc, const char* const* argv, DeviceConfig& c,
                                             std::string& refusal) {
  tools::CommandLine command_line("uplink_device", kDescription);
  CLI::App& app = command_line.app();
  // Every setting is applied as soon as it is read (trigger_on_parse), in
  // the order given: --demo resets timings given before it, --config
  // applies its file where it stands.
  const auto setting = [&](const std::string& name, const char* value_name, const char* help) {
    app.add_option_function<std::string>(
           "--" + name,
           [&c, name](const std::string& value) {
             std::string error;
             if (!apply_device_setting(c, name, value, error)) throw CLI::ValidationError(error);
           },
           help)
        ->type_name(value_name)
        ->trigger_on_parse()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  };
  const auto flag = [&](const char* name, const char* help, std::function<void()> set) {
    app.add_flag_callback(name, std::move(set), help)->trigger_on_parse();
  };
  for (const DeviceSetting& s : device_settings()) setting(s.name, s.value_name, s.help);
  app.add_option_function<std::string>(
         "--config",
         [&c](const std::string& path) {
           std::string error;
           if (!load_device_config_file(c, path, error)) throw CLI::ValidationError(error);
         },
         "'name = value' lines with the flag names above ('#' comments)")
      ->type_name("FILE")
      ->trigger_on_parse()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  flag("--demo", "short timings: heartbeat 1 s, read timeout 2 s, backoff 0.2..2 s", [&c] { apply_demo(c); });
  flag("--quiet", "no JSON event lines", [&c] { c.json = false; });
  flag("--status", "live status line on stderr (default: when stderr is a terminal)", [&c] {
    c.status = true;
    c.status_forced = true;
  });
  flag("--verbose", "also print the client's info and warning log lines as log events", [&c] { c.verbose = true; });
  flag("--no-network-monitor",
       "do not watch the network (Linux netlink): by default a link or address change makes every device probe its "
       "connection at once",
       [&c] { c.network_monitor = false; });
  flag("--tls-insecure-skip-verify", "TLS without verifying the server (INSECURE)", [&c] { c.tls_insecure = true; });
  flag("--spool-reformat-damaged",
       "format a spool file whose headers are both damaged (its messages are lost); without it such a file is "
       "refused and left untouched",
       [&c] { c.spool_reformat_damaged = true; });
  flag("--strict-spool",
       "exit with status 3 when the spool lost messages to damage (they are always reported on stderr and "
       "counted; without it the device runs on)",
       [&c] { c.strict_spool = true; });

  if (const std::optional<int> status = command_line.parse(argc, argv)) {
    refusal = command_line.refusal();
    return status;
  }
  std::string error;
  if (!finish_device_config(c, error)) {
    // error names the flag already: "--tls-key: needs --tls-cert".
    const std::size_t colon = error.find(": ");
    const int status = colon == std::string::npos ? command_line.refuse(error, {})
                                                  : command_line.refuse(error.substr(0, colon), error.substr(colon + 2));
    refusal = command_line.refusal();
    return status;
  }
  return std::nullopt;
}

}  // namespace uplink::samples
