// SPDX-License-Identifier: Apache-2.0
// Starting, killing and restarting a 3-node nats-server cluster on loopback
// (nats_cluster.hpp).
#include "support/nats_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <thread>

namespace uplink::test {
namespace {

// One HTTP/1.0 GET of `path` from the monitor on 127.0.0.1:`port`; the
// whole answer (status line, headers, body), empty when there was none.
// Socket timeouts of 1 s and a read count bound it; HTTP/1.0 makes the
// server close after the answer.
std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  const timeval one_second{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &one_second, sizeof one_second);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &one_second, sizeof one_second);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (int reads = 0; reads < 256 && answer.size() < (1u << 20); ++reads) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        answer.append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return answer;
}

// nats-server's /healthz?js-server-only=true answers 200 and
// {"status":"ok"} once JetStream is up and, in a cluster, in contact with a
// meta leader (503 and "JetStream has not established contact with a meta
// leader" before). Not the plain /healthz: it also wants every stream and
// consumer replica current, and 2.9.10 reports an idle MQTT consumer's
// replica on a restarted node "not current" for minutes.
bool reports_healthy(std::uint16_t monitor_port) {
  const std::string answer = http_get(monitor_port, "/healthz?js-server-only=true");
  return answer.compare(0, 7, "HTTP/1.") == 0 && answer.compare(9, 3, "200") == 0 &&
         answer.find("\"ok\"") != std::string::npos;
}

}  // namespace

bool NatsCluster::wait_healthy(std::size_t i, std::chrono::steady_clock::time_point deadline) {
  // Polled every 20 ms: the cluster is other processes, so there is nothing
  // to wait on but their answers. Bounded by the deadline and by the count.
  for (int polls = 0; polls < 10000 && std::chrono::steady_clock::now() < deadline; ++polls) {
    if (reports_healthy(monitor_ports_[i])) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  why_ = "nats-server node " + std::to_string(i) +
         " did not report JetStream healthy on 127.0.0.1:" + std::to_string(monitor_ports_[i]) +
         "/healthz?js-server-only=true in time";
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
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
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
  // Each attempt gets a third of the limit: a cluster that has not formed
  // by then (seen once on a loaded machine: a node never reported
  // JetStream healthy) is started afresh rather than waited for to the end.
  const auto deadline = std::chrono::steady_clock::now() + limit;
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const auto attempt_deadline = std::min(deadline, std::chrono::steady_clock::now() + limit / kAttempts);
    if (start_once(attempt_deadline)) return true;
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

std::string NatsCluster::stream_leader(std::size_t i, const std::string& stream) const {
  // /jsz lists each stream as {"name": ..., "cluster": {"name": ...,
  // "leader": ...}}: the first "leader" after the stream's name is its own.
  // The JSON is indented; names hold no blanks, so drop them all.
  std::string answer = http_get(monitor_ports_[i], "/jsz?streams=true");
  const auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  answer.erase(std::remove_if(answer.begin(), answer.end(), blank), answer.end());
  const std::size_t named = answer.find("\"name\":\"" + stream + "\"");
  if (named == std::string::npos) return {};
  static const std::string kLeader = "\"leader\":\"";
  const std::size_t leader = answer.find(kLeader, named);
  if (leader == std::string::npos) return {};
  const std::size_t begin = leader + kLeader.size();
  const std::size_t end = answer.find('"', begin);
  return end == std::string::npos ? std::string() : answer.substr(begin, end - begin);
}

void NatsCluster::stop() {
  for (Broker& node : nodes_) node.stop();
}

}  // namespace uplink::test
