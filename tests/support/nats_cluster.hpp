// SPDX-License-Identifier: Apache-2.0
// A 3-node nats-server cluster on loopback for tests and for trying by hand:
// each node a Broker (broker.hpp) with its own server_name, state directory
// and MQTT listener, the nodes routed to each other in one `cluster` block,
// the MQTT streams replicated on all three. start() returns once every
// node's MQTT listener accepts and its HTTP monitor reports JetStream
// healthy (/healthz?js-server-only=true: in contact with a meta leader); a
// node can be killed with SIGKILL and restarted on its state; the
// destructor stops every node. Every wait is bounded.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "support/broker.hpp"

namespace uplink::test {

class NatsCluster {
 public:
  static constexpr std::size_t kNodes = 3;

  NatsCluster() = default;
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;
  ~NatsCluster() { stop(); }

  /// True when nats-server is installed.
  [[nodiscard]] bool installed() const { return nodes_[0].installed(); }
  /// Starts the three nodes on free loopback ports and waits, at most
  /// `limit` in all, until each accepts MQTT connections and reports
  /// JetStream healthy. A route port taken by someone else in between makes
  /// it start the whole cluster again on other ports (three attempts). False
  /// with why() on failure.
  [[nodiscard]] bool start(std::chrono::milliseconds limit = std::chrono::seconds(30));
  /// SIGKILL to node `i` (by its PID), as a crash: its state directory and
  /// ports are kept for restart().
  void kill(std::size_t i) { nodes_[i].kill(); }
  /// Starts node `i` again on its ports and state directory and waits, at
  /// most `limit`, until it accepts MQTT connections and reports JetStream
  /// healthy (it has rejoined the cluster). False with why() on failure.
  [[nodiscard]] bool restart(std::size_t i, std::chrono::milliseconds limit = std::chrono::seconds(30));
  /// Stops every node still running (SIGTERM, then SIGKILL) and removes
  /// their state directories.
  void stop();

  /// Node `i`'s MQTT port on 127.0.0.1; 0 before start().
  [[nodiscard]] std::uint16_t mqtt_port(std::size_t i) const { return nodes_[i].port(); }
  /// Node `i`'s HTTP monitoring port on 127.0.0.1 (`/healthz`, `/jsz`).
  [[nodiscard]] std::uint16_t monitor_port(std::size_t i) const { return monitor_ports_[i]; }
  /// Node `i`'s PID; -1 when it is not running.
  [[nodiscard]] pid_t pid(std::size_t i) const { return nodes_[i].pid(); }
  /// The server name ("node0".."node2") of the JetStream leader of
  /// `stream` (e.g. "$MQTT_msgs") as node `i`'s monitor reports it; empty
  /// when it does not know. For reports: which node a kill hit.
  [[nodiscard]] std::string stream_leader(std::size_t i, const std::string& stream) const;
  /// Why start() or restart() failed.
  [[nodiscard]] const std::string& why() const { return why_; }

 private:
  bool start_once(std::chrono::steady_clock::time_point deadline);
  bool wait_healthy(std::size_t i, std::chrono::steady_clock::time_point deadline);

  std::array<Broker, kNodes> nodes_{Broker{BrokerKind::nats}, Broker{BrokerKind::nats}, Broker{BrokerKind::nats}};
  std::array<std::uint16_t, kNodes> monitor_ports_{};
  std::string why_;
};

}  // namespace uplink::test
