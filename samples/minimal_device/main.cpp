// SPDX-License-Identifier: Apache-2.0
// The smallest useful device: stays online against a server speaking
// docs/PROTOCOL.md and queues a reading every 5 seconds; uplink keeps each
// one until the server acknowledges it, across disconnects.
//   uplink_minimal_device <host> <port> <device-id>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include <asio/signal_set.hpp>

#include "uplink/client.hpp"
#include "uplink/port/random.hpp"

struct Printer : uplink::Listener {
  void on_state(const uplink::StateChange& c) override { std::printf("state: %s\n", uplink::client_state_name(c.state)); }
  void on_disconnected(const uplink::DisconnectInfo& d) override {
    std::printf("offline: %s (detected %llu ms after the last frame)\n", d.reason.message().c_str(),
                static_cast<unsigned long long>(d.since_last_rx_ms));
  }
  void on_connect_failed(const uplink::ConnectFailure& f) override {  // why it is not online yet
    std::printf("cannot connect: %s%s%s\n", f.reason.message().c_str(),  // and the resolver's words, if any
                f.cause ? ": " : "", f.cause ? f.cause.message().c_str() : "");
  }
  void on_acked(std::uint64_t id) override { std::printf("reading #%llu delivered\n", static_cast<unsigned long long>(id)); }
};

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc != 4) return std::fprintf(stderr, "usage: %s <host> <port> <device-id>\n", argv[0]), 2;
  uplink::Options options;  // documented defaults: heartbeat 30 s, read timeout 60 s, backoff 1..60 s
  if (options.add_endpoint(argv[1], static_cast<std::uint16_t>(std::atoi(argv[2]))) || options.set_device_id(argv[3]))
    return std::fprintf(stderr, "bad endpoint or device id\n"), 2;
  asio::io_context io;
  Printer printer;
  uplink::Client client(io, printer, uplink::port::system_random());
  if (auto check = client.start(options); !check) return std::fprintf(stderr, "%s: %s\n", check.field, check.reason), 2;
  asio::steady_timer tick(io);
  std::function<void()> every_5s = [&] {
    tick.expires_after(std::chrono::seconds(5));
    tick.async_wait([&](asio::error_code error) {
      if (error) return;  // cancelled: shutting down
      (void)client.send(uplink::literal_bytes("temp=21.5"));
      every_5s();
    });
  };
  every_5s();
  // Ctrl-C or a service stop: stop the client (a CLOSE goes out if online);
  // io.run() returns once nothing is pending, so the client is quiescent
  // when it is destroyed.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](asio::error_code, int) {
    tick.cancel();
    client.stop();
  });
  io.run();
}
