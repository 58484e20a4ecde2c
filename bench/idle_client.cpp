// SPDX-License-Identifier: Apache-2.0
// A connected device that does nothing but keep its link alive: one
// uplink::Client on one io_context and nothing else (no generator, no status
// timer), so that the idle cost measured on it (bench/run) is the SDK's own.
//
//   uplink_bench_idle --server 127.0.0.1:PORT [--heartbeat-ms H] [--read-timeout-ms R] [--device-id ID]
//                     [--tls-ca FILE [--tls-server-name NAME]]
//
// --tls-ca: connect over TLS, verifying the server against the CA in FILE
// (e.g. uplink_make_test_pki's ca.pem) and the name NAME (default
// "localhost"); the summary then also counts the TLS handshakes.
//
// Prints {"event":"online",...} when online, {"event":"offline",...} on a
// disconnect, and on SIGINT/SIGTERM {"event":"summary",...} with the
// heartbeats sent and answered, then exits.
#include "uplink/net/asio.hpp"

#include <asio/signal_set.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_common.hpp"
#include "uplink/port/random.hpp"

#if UPLINK_REFERENCE_SERVER_TLS
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_stream.hpp"
#endif

namespace {

using namespace uplink;

class Printer final : public Listener {
 public:
  void on_state(const StateChange& change) override {
    if (change.state != ClientState::online) return;
    const OnlineInfo& info = change.online;
    std::printf("{\"event\":\"online\",\"heartbeat_ms\":%u,\"read_timeout_ms\":%u}\n",
                static_cast<unsigned>(info.heartbeat_ms), static_cast<unsigned>(info.read_timeout_ms));
    std::fflush(stdout);
  }
  void on_disconnected(const DisconnectInfo& info) override {
    std::printf("{\"event\":\"offline\",\"reason\":\"%s\"}\n", info.reason.message().c_str());
    std::fflush(stdout);
  }
  void on_heartbeat(std::uint32_t) override { ++pongs; }
  std::uint64_t pongs = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  std::uint64_t port = 0;
  std::uint64_t heartbeat_ms = 30000;
  std::uint64_t read_timeout_ms = 60000;
  const char* device_id = "bench-idle";
  const char* tls_ca = nullptr;
  const char* tls_server_name = "localhost";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
      const std::string value = argv[++i];
      const auto colon = value.rfind(':');
      if (colon == std::string::npos) port = 0;
      else {
        host = value.substr(0, colon);
        port = std::strtoull(value.c_str() + colon + 1, nullptr, 10);
      }
      continue;
    }
    if (std::strcmp(argv[i], "--device-id") == 0 && i + 1 < argc) {
      device_id = argv[++i];
      continue;
    }
    if (std::strcmp(argv[i], "--tls-ca") == 0 && i + 1 < argc) {
      tls_ca = argv[++i];
      continue;
    }
    if (std::strcmp(argv[i], "--tls-server-name") == 0 && i + 1 < argc) {
      tls_server_name = argv[++i];
      continue;
    }
    if (bench::flag_u64(argc, argv, i, "--heartbeat-ms", heartbeat_ms) ||
        bench::flag_u64(argc, argv, i, "--read-timeout-ms", read_timeout_ms)) {
      continue;
    }
    port = 0;
    break;
  }
  Options o;
  if (port == 0 || port > 65535 || heartbeat_ms > 0xFFFFFFFFull || read_timeout_ms > 0xFFFFFFFFull ||
      o.add_endpoint(host.c_str(), static_cast<std::uint16_t>(port)) || o.set_device_id(device_id)) {
    std::fprintf(stderr,
                 "usage: uplink_bench_idle --server IP:PORT [--heartbeat-ms H] [--read-timeout-ms R] [--device-id ID]\n"
                 "                         [--tls-ca FILE [--tls-server-name NAME]]\n");
    return 2;
  }
  o.heartbeat_interval_ms = static_cast<std::uint32_t>(heartbeat_ms);
  o.read_timeout_ms = static_cast<std::uint32_t>(read_timeout_ms);

  asio::io_context io(1);
  Printer printer;
#if UPLINK_REFERENCE_SERVER_TLS
  // Both outlive the client that uses them.
  tls::TlsConfig tls_config;
  tls::TlsEngine tls_engine;
  tls::TlsStream tls_stream(tls_engine);
#endif
  Client client(io, printer, port::system_random());
  if (tls_ca != nullptr) {
#if UPLINK_REFERENCE_SERVER_TLS
    tls::TlsSettings settings;
    settings.ca = tls::Credential::file(tls_ca);
    std::error_code error = tls_config.init(settings);
    if (!error) error = tls_engine.setup(tls_config, tls_server_name);
    if (error) {
      std::fprintf(stderr, "uplink_bench_idle: TLS: %s (%s)\n", error.message().c_str(), tls_config.failed_field());
      return 2;
    }
    client.use_stream(tls_stream);
#else
    (void)tls_server_name;
    std::fprintf(stderr, "uplink_bench_idle: --tls-ca: this build has no TLS (UPLINK_WITH_TLS=OFF)\n");
    return 2;
#endif
  }
  if (const OptionsCheck check = client.start(o); !check) {
    std::fprintf(stderr, "uplink_bench_idle: invalid option %s: %s\n", check.field, check.reason);
    return 2;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& error, int) {
    if (!error) client.stop();
  });
  io.run();  // returns once the client is stopped and quiescent, and the signal wait is done
  const Counters c = client.counters();
  std::uint64_t tls_handshakes = 0;
#if UPLINK_REFERENCE_SERVER_TLS
  tls_handshakes = tls_engine.stats().handshakes;
#endif
  std::printf("{\"event\":\"summary\",\"heartbeats\":%llu,\"answered\":%llu,\"connects\":%llu,\"frames_sent\":%llu,"
              "\"frames_received\":%llu,\"tls_handshakes\":%llu}\n",
              static_cast<unsigned long long>(c.heartbeats_sent), static_cast<unsigned long long>(printer.pongs),
              static_cast<unsigned long long>(c.connects), static_cast<unsigned long long>(c.frames_sent),
              static_cast<unsigned long long>(c.frames_received), static_cast<unsigned long long>(tls_handshakes));
  return 0;
}
