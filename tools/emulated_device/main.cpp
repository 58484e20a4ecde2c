// SPDX-License-Identifier: Apache-2.0
// uplink_device: a device running on a host. See --help, and README.md.
//
// Prints one JSON line per event on stdout; on a terminal, a live status
// line on stderr; at exit a "summary" line. Exit status: 0 after a clean
// stop (signal, --duration-s, --count reached), 1 if a device gave up
// (retries exhausted, --max-attempts), 2 on a bad flag or config value, or
// a --fleet larger than the descriptor limit allows (the soft limit is
// raised to the hard one first; the message says what to change), 3 when
// --strict-spool and the spool lost messages to damage. Flags, --help and
// --version as every tool has them (tools/service/command_line.hpp). Under systemd
// (uplink-device@.service, Type=notify): READY=1 once its devices are
// started, WATCHDOG=1 from a timer on the io loop, STOPPING=1
// (tools/service/service_notifier.hpp).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "uplink/net/asio.hpp"

#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "board_telemetry.hpp"
#include "descriptor_limit.hpp"
#include "device_command_line.hpp"
#include "emulated_device.hpp"
#include "json_line.hpp"
#include "service_notifier.hpp"
#include "uplink/tls/tls_config.hpp"
#if defined(__linux__)
#include "uplink/port/linux/netlink_monitor.hpp"
#endif

namespace {

using uplink::samples::EmulatedDevice;

using uplink::tools::wall_clock_ms;

struct Totals {
  std::uint64_t generated = 0, acked = 0, deferred = 0, reconnects = 0, detections = 0, max_detection_ms = 0;
  std::uint64_t online = 0, heartbeats = 0, rtt_ms = 0, bytes_sent = 0;
  std::uint64_t tls_full = 0, tls_resumed = 0;
  bool gave_up = false;
};

Totals totals_of(const std::vector<std::unique_ptr<EmulatedDevice>>& devices) {
  Totals t;
  for (const auto& d : devices) {
    const uplink::Counters c = d->client().counters();
    t.generated += d->generated();
    t.acked += c.messages_acked;
    t.deferred += d->deferred();
    t.reconnects += c.connects > 0 ? c.connects - 1 : 0;
    t.detections += d->detections();
    if (d->max_detection_ms() > t.max_detection_ms) t.max_detection_ms = d->max_detection_ms();
    t.online += d->client().state() == uplink::ClientState::online ? 1 : 0;
    t.heartbeats += c.heartbeats_sent;
    t.rtt_ms = c.last_rtt_ms;
    t.bytes_sent += c.bytes_sent;
    t.tls_full += d->tls_stats().handshakes - d->tls_stats().resumed_handshakes;
    t.tls_resumed += d->tls_stats().resumed_handshakes;
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  uplink::samples::DeviceConfig config;
  std::string refusal;
  if (const std::optional<int> status = uplink::samples::parse_device_command_line(argc, argv, config, refusal)) {
    return *status;
  }
  for (const std::string& warning : config.warnings) std::fprintf(stderr, "uplink_device: warning: %s\n", warning.c_str());
  if (!config.status_forced) config.status = isatty(STDERR_FILENO) != 0;

  // One TLS configuration, built once, shared by every device of a fleet.
  uplink::tls::TlsConfig tls;
  if (config.tls_enabled()) {
    uplink::tls::TlsSettings settings;
    if (!config.tls_ca.empty()) settings.ca = uplink::tls::Credential::file(config.tls_ca.c_str());
    if (!config.tls_cert.empty()) {
      settings.certificate = uplink::tls::Credential::file(config.tls_cert.c_str());
      settings.private_key = uplink::tls::Credential::file(config.tls_key.c_str());
    }
    settings.insecure_skip_verify = config.tls_insecure;
    if (const std::error_code e = tls.init(settings)) {
      // The setting that failed, named as the flag (and file) that set it.
      const std::string_view field = tls.failed_field();
      const std::string flag = field == "ca"            ? "--tls-ca " + config.tls_ca
                               : field == "certificate" ? "--tls-cert " + config.tls_cert
                               : field == "private_key" ? "--tls-key " + config.tls_key
                                                        : "TLS setting " + std::string(field);
      std::fprintf(stderr, "uplink_device: TLS setup failed: %s: %s\n", flag.c_str(), e.message().c_str());
      return 2;
    }
  }

  if (config.json) {
    uplink::tools::JsonLine(wall_clock_ms(), "board")
        .field("model", uplink::samples::board_model_name(config.board_root).c_str())
        .field("device", config.options.device_id)
        .field("id_source", config.id_source.c_str())
        .field("payload", config.payload.c_str())
        .print();
  }

  // A socket per device (and a spool file each), and a few for the process
  // itself (stdio, epoll, timers, signals, netlink, TLS files being read):
  // room is made now, or the run refused, rather than failing half-way.
  const std::uint64_t descriptors = std::uint64_t{config.fleet} * (config.spool_path.empty() ? 1 : 2) + 32;
  const uplink::tools::DescriptorLimit limit = uplink::tools::ensure_descriptors(descriptors);
  if (!limit.enough) {
    const std::string what = "--fleet " + std::to_string(config.fleet);
    std::fprintf(stderr, "uplink_device: %s devices in this process\n",
                 uplink::tools::descriptor_advice(what.c_str(), descriptors, limit).c_str());
    return 2;
  }

  asio::io_context io(1);
  std::vector<std::unique_ptr<EmulatedDevice>> devices;
  for (std::uint32_t i = 1; i <= config.fleet; ++i) {
    devices.push_back(std::make_unique<EmulatedDevice>(io, config, i, config.tls_enabled() ? &tls : nullptr));
    if (!devices.back()->start()) return devices.back()->spool_lost_messages() ? 3 : 2;
  }
  const std::uint64_t started = wall_clock_ms();
  uplink::tools::ServiceNotifier notifier(io);
  notifier.ready(std::to_string(devices.size()) + (devices.size() == 1 ? " device started" : " devices started"));

#if defined(__linux__)
  // A link or address change makes every device probe its connection at
  // once (Client::network_changed()) instead of waiting for its read timeout.
  struct Monitoring {
    std::vector<std::unique_ptr<EmulatedDevice>>* devices;
    bool json;
  } monitoring{&devices, config.json};
  uplink::port::NetlinkMonitor monitor(
      io,
      [](void* context) {
        const auto* m = static_cast<const Monitoring*>(context);
        for (auto& d : *m->devices) d->network_changed();
        if (m->json) {
          uplink::tools::JsonLine(wall_clock_ms(), "network_changed")
              .field("devices", static_cast<std::uint64_t>(m->devices->size()))
              .print();
        }
      },
      &monitoring);
  if (config.network_monitor) {
    if (const std::error_code e = monitor.start()) {
      // The devices work without it (a sandbox without netlink): say so once.
      if (config.json) uplink::tools::JsonLine(wall_clock_ms(), "network_monitor").field("error", e.message().c_str()).print();
    }
  }
  const auto monitor_quiescent = [&] { return monitor.quiescent(); };
  const auto stop_monitor = [&] { monitor.stop(); };
#else
  const auto monitor_quiescent = [] { return true; };
  const auto stop_monitor = [] {};
#endif

  bool stopping = false;
  bool ticking = false;
  std::function<void()> on_tick;
  const auto stop_all = [&] {
    if (stopping) return;
    stopping = true;
    notifier.stopping();
    stop_monitor();
    for (auto& d : devices) d->stop();
    if (!ticking) on_tick();  // the tick notices when every device is done
  };
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& e, int) {
    if (!e) stop_all();
  });
  asio::steady_timer duration(io);
  if (config.duration_s > 0) {
    duration.expires_after(std::chrono::seconds(config.duration_s));
    duration.async_wait([&](const asio::error_code& e) {
      if (!e) stop_all();
    });
  }

  // Once a second: the status line, and the exit check. An idle device with
  // neither needs no tick until it stops (each tick is a wake-up).
  asio::steady_timer tick(io);
  on_tick = [&] {
    ticking = true;
    tick.expires_after(std::chrono::milliseconds(stopping ? 50 : 1000));
    tick.async_wait([&](const asio::error_code& e) {
      if (e) return;
      bool all_finished = true;
      bool all_quiescent = monitor_quiescent();
      for (const auto& d : devices) {
        all_finished = all_finished && d->finished();
        all_quiescent = all_quiescent && d->quiescent();
      }
      if (all_finished) {
        stop_all();
        if (all_quiescent) {
          signals.cancel();
          duration.cancel();
          return;
        }
      }
      if (config.status) {
        const Totals t = totals_of(devices);
        const char* state = devices.size() == 1 ? uplink::client_state_name(devices[0]->client().state()) : "fleet";
        std::fprintf(stderr,
                     "\r[%-11s] up %llus  online %llu/%zu  rtt %llu ms  sent %llu  acked %llu  waiting %llu  "
                     "reconnects %llu   ",
                     state, static_cast<unsigned long long>((wall_clock_ms() - started) / 1000),
                     static_cast<unsigned long long>(t.online), devices.size(),
                     static_cast<unsigned long long>(t.rtt_ms), static_cast<unsigned long long>(t.generated),
                     static_cast<unsigned long long>(t.acked),
                     static_cast<unsigned long long>(t.generated - (t.acked < t.generated ? t.acked : t.generated)),
                     static_cast<unsigned long long>(t.reconnects));
        if (config.tls_enabled()) {
          std::fprintf(stderr, "tls full %llu resumed %llu   ", static_cast<unsigned long long>(t.tls_full),
                       static_cast<unsigned long long>(t.tls_resumed));
        }
      }
      on_tick();
    });
  };
  if (config.status || config.count != 0 || config.options.backoff.max_attempts != 0) on_tick();
  io.run();
  if (config.status) std::fprintf(stderr, "\n");

  const Totals t = totals_of(devices);
  bool gave_up = false;
  for (const auto& d : devices) gave_up = gave_up || d->gave_up();
  uplink::tools::JsonLine summary(wall_clock_ms(), "summary");
  summary.field("devices", static_cast<std::uint64_t>(devices.size()))
      .field("sent", t.generated)
      .field("acked", t.acked)
      .field("refused", t.deferred)
      .field("reconnects", t.reconnects)
      .field("silences_detected", t.detections)
      .field("max_detection_ms", t.max_detection_ms)
      .field("heartbeats", t.heartbeats)
      .field("bytes_sent", t.bytes_sent);
  if (config.tls_enabled()) {
    summary.field("tls_full_handshakes", t.tls_full).field("tls_resumed_handshakes", t.tls_resumed);
  }
  summary.print();
  return gave_up ? 1 : 0;
}
