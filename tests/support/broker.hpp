// SPDX-License-Identifier: Apache-2.0
// Real MQTT brokers for loopback tests: mosquitto and nats-server (its MQTT
// gateway, on JetStream), each started by the test on a free 127.0.0.1 port
// with its own configuration and state in a fresh temporary directory,
// waited for (bounded) until it listens, and stopped by its PID; a test
// process that dies without stopping it (a CTest timeout) takes it along
// (PR_SET_PDEATHSIG). A broker the system may run as a service (Debian
// starts mosquitto on 1883 when it is installed) is never used.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

/// CHECKs a broker call that returns false with why() on failure
/// (start(), restart()), quoting why() as it stands after the call:
/// CHECK_TEXT(b.start(), b.why().c_str()) may read why() before start()
/// runs (the order of a call's arguments is unspecified), and quote a stale
/// message or a freed buffer. For test bodies that include CppUTest.
#define CHECK_BROKER(call, broker)                    \
  do {                                                \
    const bool broker_call_ok = (call);               \
    CHECK_TEXT(broker_call_ok, (broker).why().c_str()); \
  } while (0)

namespace uplink::test {

/// Which broker to run.
enum class BrokerKind : std::uint8_t {
  mosquitto,  ///< Debian's `mosquitto` (2.0.11 on Debian 12): persistence on, anonymous clients (or a password, or TLS).
  nats,       ///< Debian's `nats-server` (2.9.10): `mqtt { listen }`, JetStream with its own store_dir.
};

/// Stable lower-case name of a broker kind, for messages.
const char* broker_name(BrokerKind kind);

/// A port of 127.0.0.1 that nobody holds now, below the kernel's ephemeral
/// range when there is room (else one the kernel hands out); another
/// process may take it before the caller binds it. 0 when none could be had.
std::uint16_t free_loopback_port();

/// A nats-server's place in a cluster (`cluster { name, listen, routes }`),
/// with the JetStream replica count of the MQTT streams and the port of
/// its HTTP monitor (`/healthz` says when JetStream has a meta leader).
struct NatsClusterRole {
  std::string cluster_name;
  std::string server_name;
  std::uint16_t route_port = 0;                ///< this node's cluster listener on 127.0.0.1
  std::vector<std::uint16_t> peer_route_ports; ///< the other nodes' cluster listeners
  std::uint16_t monitor_port = 0;              ///< HTTP monitoring on 127.0.0.1
  int mqtt_stream_replicas = 3;                ///< `mqtt { stream_replicas }`
};

/// The absolute path of `name` on PATH or in /usr/sbin, /usr/local/sbin;
/// empty when it is not installed.
std::string find_program(const char* name);

/// One broker process. Not copyable; the destructor stops it.
class Broker {
 public:
  explicit Broker(BrokerKind kind) : kind_(kind) {}
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;
  ~Broker();

  /// Makes the next start() refuse clients without this user name and
  /// password (mosquitto: a password file made with mosquitto_passwd and no
  /// anonymous clients; nats-server: an authorization block).
  void require_password(std::string user, std::string password) {
    user_ = std::move(user);
    password_ = std::move(password);
  }

  /// Makes the next start() listen with TLS (mosquitto only): the server's
  /// certificate and key, and the CA whose certificates clients must present
  /// when `require_client_certificate` (mutual TLS). PEM texts.
  void enable_tls(std::string ca_pem, std::string certificate_pem, std::string key_pem,
                  bool require_client_certificate) {
    tls_ca_ = std::move(ca_pem);
    tls_certificate_ = std::move(certificate_pem);
    tls_key_ = std::move(key_pem);
    tls_require_client_certificate_ = require_client_certificate;
  }

  /// Makes the next start() run this nats-server as a cluster node
  /// (nats only; NatsCluster in nats_cluster.hpp uses it).
  void join_cluster(NatsClusterRole role) { cluster_ = std::move(role); }
  /// Makes the next start() log only errors and warnings (mosquitto; by
  /// default it logs every packet, which the tests read when they fail, and
  /// which would cost the broker more than the clients a benchmark compares).
  void log_errors_only() { log_errors_only_ = true; }

  /// True when the broker's program is installed (start() can work).
  [[nodiscard]] bool installed() const;
  /// Writes the configuration, starts the broker on a free loopback port and
  /// waits until it accepts connections, at most `limit` (a port taken by
  /// someone else in between is retried on another port, three times).
  /// False with why() on failure; the broker's log is kept in the state
  /// directory and its last lines are quoted in why().
  [[nodiscard]] bool start(std::chrono::milliseconds limit = std::chrono::seconds(10));
  /// SIGTERM, then SIGKILL if it has not exited within 5 s; removes the
  /// state directory. Does nothing when not running.
  void stop();
  /// SIGTERM, then SIGKILL if it has not exited within 5 s, keeping the
  /// port and the state directory for restart() (an orderly shutdown: the
  /// broker saves its state).
  void terminate();
  /// SIGKILL, keeping the port and the state directory for restart(), as a
  /// crash would: the broker keeps only what it had already written.
  void kill();
  /// Starts the broker again after terminate() or kill(), on the same port
  /// with the same configuration and state directory, and waits as start()
  /// does. False with why() (e.g. another process took the port meanwhile).
  [[nodiscard]] bool restart(std::chrono::milliseconds limit = std::chrono::seconds(10));

  /// The MQTT port on 127.0.0.1; 0 before start().
  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// PID of the running broker; -1 when none.
  [[nodiscard]] pid_t pid() const { return pid_; }
  /// Why start() failed.
  [[nodiscard]] const std::string& why() const { return why_; }
  /// Which broker this is.
  [[nodiscard]] BrokerKind kind() const { return kind_; }

  /// Lines appended to the configuration the next start() writes, in the
  /// broker's own syntax (e.g. mosquitto's "autosave_on_changes true").
  void add_config(std::string lines) { extra_config_ += lines; }
  /// Deletes what the broker keeps between runs (mosquitto's database,
  /// nats-server's JetStream store), keeping the configuration and the
  /// port: restart() then starts a broker that forgot every session. Only
  /// while it is not running (after terminate() or kill()); false otherwise.
  [[nodiscard]] bool wipe_state();
  /// Everything the broker logged so far, across restarts (mosquitto logs
  /// every packet with its flags: "Received PUBLISH from ID (d1, q1, ...").
  [[nodiscard]] std::string log_text() const;

 private:
  bool write_config();
  bool spawn(const std::string& program);
  bool wait_listening(std::chrono::steady_clock::time_point deadline);
  void reap(std::chrono::milliseconds limit);
  void end_process(int first_signal);
  std::string log_tail() const;

  BrokerKind kind_;
  std::string dir_;
  std::string config_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string why_;
  std::string user_;
  std::string password_;
  std::string tls_ca_;
  std::string tls_certificate_;
  std::string tls_key_;
  bool tls_require_client_certificate_ = false;
  NatsClusterRole cluster_;
  std::string extra_config_;
  bool log_errors_only_ = false;
};

}  // namespace uplink::test
