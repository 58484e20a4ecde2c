// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by the bench programs: clocks, a reference server on
// its own thread (plain or TLS), the TLS configurations of both ends, and a
// producer that keeps a client's outbound store full.
//
// Include "uplink/net/asio.hpp" before this header (Asio's configuration
// depends on being first).
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <time.h>

#include "server.hpp"
#include "uplink/client.hpp"

#if UPLINK_REFERENCE_SERVER_TLS
#include "support/test_pki.hpp"
#include "uplink/tls/tls_config.hpp"
#endif

namespace uplink::bench {

/// Nanoseconds of CPU time used by the calling thread.
inline std::uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

/// Nanoseconds of CPU time used by `thread` (any thread of this process).
inline std::uint64_t thread_cpu_ns(pthread_t thread) {
  clockid_t id{};
  if (pthread_getcpuclockid(thread, &id) != 0) return 0;
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

/// Nanoseconds of a monotonic clock.
inline std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

/// Parses "--name value" flags of unsigned numbers; unknown flags are an error.
inline bool flag_u64(int argc, char** argv, int& i, const char* name, std::uint64_t& out) {
  if (std::strcmp(argv[i], name) != 0 || i + 1 >= argc) return false;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(argv[i + 1], &end, 10);
  if (end == argv[i + 1] || *end != '\0') {
    std::fprintf(stderr, "%s: expected a number, got '%s'\n", name, argv[i + 1]);
    std::exit(2);
  }
  out = v;
  ++i;
  return true;
}

/// Median and percentiles of a sample (sorts it).
struct Percentiles {
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};
inline Percentiles percentiles(std::vector<double>& v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least q of the sample at or below it.
  const auto at = [&v](double q) {
    std::size_t rank = static_cast<std::size_t>(q * static_cast<double>(v.size()) + 0.999999);
    if (rank < 1) rank = 1;
    return v[rank - 1 < v.size() ? rank - 1 : v.size() - 1];
  };
  p.min = v.front();
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  p.max = v.back();
  return p;
}

#if UPLINK_REFERENCE_SERVER_TLS
/// The server's key and certificate chain in BenchTls.
enum class ServerKey { ec_p256, rsa_2048 };

/// TLS for the bench programs, made from the throwaway test PKI
/// (tests/support/test_pki, generated at start, nothing on disk): the
/// server's config (certificate for "localhost", session tickets on) and
/// the device's (verification against the server's CA; with `mutual`, also
/// the device certificate, which is ECDSA P-256 whatever the server's key).
/// Exits on failure.
class BenchTls {
 public:
  /// Host name the device verifies (the server certificate's name).
  static constexpr const char* kHost = "localhost";

  explicit BenchTls(bool mutual = false, ServerKey key = ServerKey::ec_p256) {
    const test::TestPki& pki = test::test_pki();
    tls::TlsSettings server;
    server.role = tls::TlsRole::server;
    tls::TlsSettings client;
    if (key == ServerKey::rsa_2048) {
      const test::TestRsaPki& rsa = test::test_pki_rsa();
      server.certificate = tls::Credential::pem(rsa.server.certificate_pem);
      server.private_key = tls::Credential::pem(rsa.server.key_pem);
      client.ca = tls::Credential::pem(rsa.ca.certificate_pem);
      key_type_ = mutual ? "RSA-2048 server and CA; ECDSA P-256 device" : "RSA-2048";
    } else {
      server.certificate = tls::Credential::pem(pki.server.certificate_pem);
      server.private_key = tls::Credential::pem(pki.server.key_pem);
      client.ca = tls::Credential::pem(pki.ca.certificate_pem);
    }
    if (mutual) {
      server.ca = tls::Credential::pem(pki.ca.certificate_pem);
      server.require_client_certificate = true;
      client.certificate = tls::Credential::pem(pki.client.certificate_pem);
      client.private_key = tls::Credential::pem(pki.client.key_pem);
    }
    check(server_.init(server), server_, "server");
    check(client_.init(client), client_, "client");
  }
  BenchTls(const BenchTls&) = delete;
  BenchTls& operator=(const BenchTls&) = delete;

  [[nodiscard]] const tls::TlsConfig& server() const { return server_; }
  [[nodiscard]] const tls::TlsConfig& client() const { return client_; }
  /// What the handshake signs and verifies with, for the report.
  [[nodiscard]] const char* key_type() const { return key_type_; }

 private:
  static void check(const std::error_code& error, const tls::TlsConfig& config, const char* role) {
    if (!error) return;
    std::fprintf(stderr, "bench: TLS %s config: %s (%s)\n", role, error.message().c_str(), config.failed_field());
    std::exit(1);
  }
  tls::TlsConfig server_;
  tls::TlsConfig client_;
  const char* key_type_ = "ECDSA P-256";
};
#endif

/// Counts what the reference server reports; prints nothing.
class CountingEvents final : public server::ServerEvents {
 public:
  void on_online(const server::OnlineEvent&) override { online.fetch_add(1, std::memory_order_relaxed); }
  void on_message(const server::MessageEvent&) override { messages.fetch_add(1, std::memory_order_relaxed); }
  void on_offline(const server::OfflineEvent&) override { offline.fetch_add(1, std::memory_order_relaxed); }
  std::atomic<std::uint64_t> online{0}, messages{0}, offline{0};
};

/// The reference server on its own thread and io_context, on 127.0.0.1 and
/// an ephemeral port. `heartbeat_min_ms` lowers the server's heartbeat clamp;
/// with `tls` (a server-role config that outlives this object) every
/// connection is TLS.
class ServerThread {
 public:
  explicit ServerThread(std::uint32_t heartbeat_min_ms = 1000, const tls::TlsConfig* tls = nullptr) {
    server::ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.session.heartbeat_min_ms = heartbeat_min_ms;
    options.tls = tls;
    server_ = std::make_unique<server::Server>(io_, events_, options);
    const std::error_code error = server_->start();
    if (error) {
      std::fprintf(stderr, "bench: the reference server cannot listen: %s\n", error.message().c_str());
      std::exit(1);
    }
    port_ = server_->port();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ServerThread() {
    asio::post(io_, [this] {
      server_->stop();
      io_.stop();
    });
    thread_.join();
    server_.reset();
  }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] CountingEvents& events() { return events_; }
  [[nodiscard]] asio::io_context& io() { return io_; }
  [[nodiscard]] std::uint64_t cpu_ns() { return thread_cpu_ns(thread_.native_handle()); }

 private:
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  CountingEvents events_;
  std::unique_ptr<server::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

/// A listener that keeps the client's outbound store full until `target`
/// messages were accepted, refilling from on_acked (on the io thread). It
/// never allocates: the allocation bench counts the client thread's
/// allocations, and those of the application must not be blamed on uplink.
class Producer final : public Listener {
 public:
  explicit Producer(std::size_t payload_size) : size_(payload_size < sizeof payload_ ? payload_size : sizeof payload_) {
    std::memset(payload_, 'm', sizeof payload_);
  }

  void attach(Client& client) { client_ = &client; }
  /// Start producing `count` more messages (call on the io thread, or
  /// before it runs: the client wakes itself).
  void produce(std::uint64_t count) {
    target_ += count;
    fill();
  }

  void on_state(const StateChange& change) override {
    if (change.state == ClientState::online) online.fetch_add(1, std::memory_order_relaxed);
  }
  void on_disconnected(const DisconnectInfo&) override { disconnects.fetch_add(1, std::memory_order_relaxed); }
  void on_acked(std::uint64_t) override {
    acked.fetch_add(1, std::memory_order_relaxed);
    fill();
  }
  void on_heartbeat(std::uint32_t) override { heartbeats.fetch_add(1, std::memory_order_relaxed); }

  std::atomic<std::uint64_t> online{0}, disconnects{0}, acked{0}, heartbeats{0};
  std::uint64_t accepted = 0;  ///< send() calls that succeeded.

 private:
  void fill() {
    if (client_ == nullptr) return;
    // Bounded: the store refuses once full (at most UPLINK_STORE_MESSAGES).
    while (accepted < target_ && !client_->send(ConstByteSpan{payload_, size_})) ++accepted;
  }

  Client* client_ = nullptr;
  std::size_t size_;
  std::uint64_t target_ = 0;
  char payload_[4096];
};

}  // namespace uplink::bench
