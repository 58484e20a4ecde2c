// SPDX-License-Identifier: Apache-2.0
// uplink_bench_mqtt_broker: a mosquitto for bench/mqtt_clients.sh, started
// exactly as the broker tests start theirs (tests/support/broker: a free
// 127.0.0.1 port, its own configuration and state directory, never the
// system's service), but logging only errors and warnings.
//
//   uplink_bench_mqtt_broker
//
// stdout: {"event":"listening","port":P,"pid":PID} once mosquitto accepts
// connections, or {"event":"error","message":...}. Runs until SIGINT or
// SIGTERM, then stops mosquitto (SIGTERM, then SIGKILL after 5 s) and
// removes its directory. Exit: 0, or 1 if mosquitto could not start.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>

#include "support/broker.hpp"

int main() {
  // Taken with sigwait below: block them before anything else runs.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  uplink::test::Broker broker(uplink::test::BrokerKind::mosquitto);
  broker.log_errors_only();
  if (!broker.start(std::chrono::seconds(10))) {
    std::printf("{\"event\":\"error\",\"message\":\"");
    for (const char c : broker.why()) {
      if (c == '"' || c == '\\') std::putchar('\\');
      std::putchar(c == '\n' ? ' ' : c);
    }
    std::printf("\"}\n");
    return 1;
  }
  std::printf("{\"event\":\"listening\",\"port\":%u,\"pid\":%d}\n", static_cast<unsigned>(broker.port()),
              static_cast<int>(broker.pid()));
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop, &signal_number);
  broker.stop();
  return 0;
}
