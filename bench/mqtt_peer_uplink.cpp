// SPDX-License-Identifier: Apache-2.0
// uplink over MQTT 3.1.1 as an MQTT peer of bench/mqtt_clients.sh; flags and
// output in mqtt_peer.hpp.
//
// One uplink::Client on one io_context on the main thread, as a device runs
// it (README's device example), Options::protocol = WireProtocol::mqtt:
// send() until the outbound store refuses, more from on_acked;
// Options::max_in_flight = --window; no downlink topic (the other peers
// subscribe to nothing either). The keepalive: the
// heartbeat and read timeout given, or from --keepalive-s K a heartbeat of
// K and a read timeout of 2 K (the defaults' ratio: 30 s and 60 s).
//
// Built against a client without the MQTT profile, the program only says
// so and exits 3.
#include "uplink/net/asio.hpp"

#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <cinttypes>
#include <cstdint>
#include <cstdio>

#include "mqtt_peer.hpp"
#include "uplink/client.hpp"
#include "uplink/port/random.hpp"

#if UPLINK_BENCH_HAVE_MQTT_PROFILE

namespace {

using namespace uplink;
using namespace uplink::bench::mqtt_peer;

class Peer final : public Listener {
 public:
  Peer(const PeerArgs& args, asio::io_context& io) : args_(args), limit_(io), signals_(io, SIGINT, SIGTERM) {}

  /// Starts the client; false (with the reason printed) when it refuses the options.
  bool start(Client& client, const Options& options) {
    client_ = &client;
    if (auto check = client.start(options); !check) {
      std::fprintf(stderr, "%s: %s\n", check.field, check.reason);
      print_error(check.reason);
      return false;
    }
    // A --count run ends at the last PUBACK or at the limit; an idle run at
    // SIGINT/SIGTERM.
    if (args_.count > 0) {
      limit_.expires_after(std::chrono::seconds(args_.limit_s));
      limit_.async_wait([this](asio::error_code e) {
        if (!e) finish();
      });
    }
    signals_.async_wait([this](asio::error_code e, int) {
      if (e) return;
      if (args_.count == 0) print_exit();
      finish();
    });
    return true;
  }

  void on_state(const StateChange& change) override {
    if (change.state != ClientState::online) return;
    print_online();
    if (args_.count == 0 || started_) return;
    started_ = true;
    meter.begin();
    fill();
  }
  void on_disconnected(const DisconnectInfo& info) override {
    if (info.reason == make_error_code(Errc::stopped)) return;  // our own stop()
    char extra[64];
    std::snprintf(extra, sizeof extra, ",\"since_last_rx_ms\":%" PRIu64, info.since_last_rx_ms);
    print_offline(info.reason.message().c_str(), extra);
  }
  void on_connect_failed(const ConnectFailure& failure) override { print_error(failure.reason.message().c_str()); }
  void on_acked(std::uint64_t) override {
    ++acked;
    if (acked == args_.count) {
      meter.end();
      finish();
      return;
    }
    fill();
  }

  ThroughputMeter meter;
  std::uint64_t acked = 0;

 private:
  void fill() {
    // Bounded: the store refuses once full.
    while (accepted_ < args_.count &&
           !client_->send(ConstByteSpan{reinterpret_cast<const std::uint8_t*>(payload()), args_.size})) {
      ++accepted_;
    }
  }

  // Stops the client and cancels what else is pending, so that io.run() returns.
  void finish() {
    limit_.cancel();
    signals_.cancel();
    client_->stop();
  }

  const PeerArgs& args_;
  asio::steady_timer limit_;
  asio::signal_set signals_;
  Client* client_ = nullptr;
  std::uint64_t accepted_ = 0;
  bool started_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  note_start();
  PeerArgs args;
  if (!parse_args(argc, argv, args)) return 2;
  Options o;
  o.protocol = WireProtocol::mqtt;
  if (o.add_endpoint(args.host.c_str(), args.port) || o.set_device_id(args.client_id.c_str())) {
    print_error("bad endpoint or device id");
    return 2;
  }
  o.heartbeat_interval_ms = args.heartbeat_ms != 0 ? args.heartbeat_ms : args.keepalive_s * 1000u;
  o.read_timeout_ms = args.read_timeout_ms != 0 ? args.read_timeout_ms : 2u * o.heartbeat_interval_ms;
  o.max_in_flight = args.window;  // with MQTT also the window of packet identifiers
  // No downlink: the other peers subscribe to nothing either.
  o.mqtt.downlink_topic[0] = '\0';

  asio::io_context io(1);
  Peer peer(args, io);
  Client client(io, peer, port::system_random());
  if (!peer.start(client, o)) return 2;
  io.run();
  int exit_code = 0;
  if (args.count > 0) {
    peer.meter.print(args.count, peer.acked);
    exit_code = peer.acked == args.count ? 0 : 1;
  }
  return exit_code;
}

#else  // !UPLINK_BENCH_HAVE_MQTT_PROFILE

int main() {
  uplink::bench::mqtt_peer::print_error("needs the MQTT profile: this uplink has no Options::protocol");
  std::fprintf(stderr, "uplink_bench_mqtt_uplink: needs the MQTT profile (Options::protocol = WireProtocol::mqtt)\n");
  return 3;
}

#endif
