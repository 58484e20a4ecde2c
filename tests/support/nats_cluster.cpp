// SPDX-License-Identifier: Apache-2.0
// Starting, killing and restarting a 3-node nats-server cluster on loopback
// (nats_cluster.hpp).
#include "support/nats_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <thread>

namespace uplink::test {
namespace {

// One HTTP/1.0 GET of the monitor's /healthz: nats-server answers 200 and
// {"status":"ok"} once JetStream is up and, in a cluster, in contact with a
// meta leader ("JetStream has not established contact with a meta leader"
// before). Socket timeouts of 1 s bound every call; HTTP/1.0 makes the
// server close after the answer, so reading to the end is bounded too.
bool reports_healthy(std::uint16_t monitor_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const timeval one_second{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &one_second, sizeof one_second);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &one_second, sizeof one_second);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(monitor_port);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    static const char kRequest[] = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof kRequest - 1)) {
      char buffer[512];
      for (int reads = 0; reads < 16 && answer.size() < 4096; ++reads) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        answer.append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return answer.compare(0, 12, "HTTP/1.1 200") == 0 || answer.compare(0, 12, "HTTP/1.0 200") == 0
             ? answer.find("\"ok\"") != std::string::npos
             : false;
}

}  // namespace

bool NatsCluster::wait_healthy(std::size_t i, std::chrono::steady_clock::time_point deadline) {
  // Polled every 20 ms: the cluster is other processes, so there is nothing
  // to wait on but their answers. Bounded by the deadline and by the count.
  for (int polls = 0; polls < 10000 && std::chrono::steady_clock::now() < deadline; ++polls) {
    if (reports_healthy(monitor_ports_[i])) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  why_ = "nats-server node " + std::to_string(i) + " did not report JetStream healthy on 127.0.0.1:" +
         std::to_string(monitor_ports_[i]) + "/healthz in time";
  return false;
}

bool NatsCluster::start_once(std::chrono::steady_clock::time_point deadline) {
  std::array<std::uint16_t, kNodes> route_ports{};
  for (std::size_t i = 0; i < kNodes; ++i) {
    route_ports[i] = free_loopback_port();
    monitor_ports_[i] = free_loopback_port();
    if (route_ports[i] == 0 || monitor_ports_[i] == 0) {
      why_ = "cannot find free loopback ports for the cluster";
      return false;
    }
  }
  // The cluster's name is unique per test process and port, so that two
  // clusters started side by side can never route to each other.
  const std::string cluster_name = "uplink_test_" + std::to_string(::getpid()) + "_" + std::to_string(route_ports[0]);
  for (std::size_t i = 0; i < kNodes; ++i) {
    NatsClusterRole role;
    role.cluster_name = cluster_name;
    role.server_name = "node" + std::to_string(i);
    role.route_port = route_ports[i];
    role.monitor_port = monitor_ports_[i];
    for (std::size_t j = 0; j < kNodes; ++j) {
      if (j != i) role.peer_route_ports.push_back(route_ports[j]);
    }
    nodes_[i].join_cluster(std::move(role));
  }
  // Each node listens for MQTT at once, before the cluster has formed:
  // start them one after the other, then wait for JetStream on each.
  for (std::size_t i = 0; i < kNodes; ++i) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !nodes_[i].start(left)) {
      why_ = "node " + std::to_string(i) + ": " + (left.count() <= 0 ? std::string("out of time") : nodes_[i].why());
      return false;
    }
  }
  for (std::size_t i = 0; i < kNodes; ++i) {
    if (!wait_healthy(i, deadline)) return false;
  }
  return true;
}

bool NatsCluster::start(std::chrono::milliseconds limit) {
  stop();
  why_.clear();
  if (!installed()) {
    why_ = "nats-server is not installed (scripts/setup test installs it)";
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (start_once(deadline)) return true;
    stop();
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
  return false;
}

bool NatsCluster::restart(std::size_t i, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  if (!nodes_[i].restart(limit)) {
    why_ = "node " + std::to_string(i) + ": " + nodes_[i].why();
    return false;
  }
  return wait_healthy(i, deadline);
}

void NatsCluster::stop() {
  for (Broker& node : nodes_) node.stop();
}

}  // namespace uplink::test
