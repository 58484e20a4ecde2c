// SPDX-License-Identifier: Apache-2.0
// Device-side cost of a TLS handshake, full versus resumed (session ticket).
//
//   uplink_bench_tls_handshake [--count N] [--warmup W] [--mutual] [--key p256|rsa2048]
//                              [--via engine|client]
//
// One process, two threads: the reference server in TLS mode (a
// certificate from the throwaway test PKI, session tickets on) on one
// thread; the device side on the main thread, a uplink::tls::TlsEngine over
// a non-blocking loopback socket (fd_transport, the transport the client
// uses), driven by poll() in the direction the engine asks for, the way the
// client drives it with async_wait. Only the engine is measured, not the
// uplink protocol that follows the handshake: each connection is closed
// right after its handshake (the server then sees a connection that never
// said HELLO).
//
// Handshakes alternate: a full one (forget_session() first), then a resumed
// one offering the ticket that full handshake received, N of each after W
// discarded pairs. For each: CPU time of the device thread
// (CLOCK_THREAD_CPUTIME_ID) and wall time from the first handshake_step()
// until it returns ok (TCP connect excluded), and the handshake's bytes on
// the wire (TlsStats::handshake_bytes_*, TLS records, TCP/IP headers not
// counted). The server thread's CPU time is summed over the whole run and
// reported per handshake of each kind from separate phases. Every
// "resumed" handshake is checked with TlsEngine::resumed() and the engine's
// resumed_handshakes counter; a full one that resumed, or a resumed one that
// did not, fails the run.
//
// --mutual: the server requires a client certificate (mutual TLS); the
// device then also signs with its own ECDSA P-256 key in a full handshake.
// --key: the server's key and chain: ECDSA P-256 (default; the device
// verifies two ECDSA signatures, the CA's on the certificate and the
// server's on its ephemeral key, and the suite is ECDHE-ECDSA) or RSA-2048
// (the same two as RSA signatures, ECDHE-RSA). The key exchange is ECDHE
// either way, on the curve mbedTLS's defaults pick.
//
// --via client: each connect is a whole uplink::Client connect instead,
// measured from start() to on_state(online) (TCP connect, TLS handshake through
// the client's async_wait loop, HELLO/WELCOME), then stop() until
// quiescent; the same engine is handed to the client (a TlsStream). A third
// kind, "plain", connects a second client without TLS to a second, plain
// server, as the baseline of what a reconnect costs without TLS. Bytes
// are the TLS handshake's only.
//
// Prints one JSON line per kind ({"event":"handshake","kind":"full"|"resumed"|"plain",...})
// and a summary line. Exit status 1 if a handshake failed or the resumption
// check did not hold.
#include "uplink/net/asio.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.hpp"
#include "uplink/port/random.hpp"
#include "uplink/tls/fd_transport.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_stream.hpp"

namespace {

using namespace uplink;
using bench::thread_cpu_ns;
using bench::wall_ns;

constexpr int kHandshakeLimitMs = 10000;

struct Sample {
  double cpu_us = 0;
  double wall_us = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  bool resumed = false;
};

/// A blocking connect to 127.0.0.1:port, then non-blocking with TCP_NODELAY
/// (as the client's socket tuning does: without it, Nagle holds back the
/// second of two small handshake flights for a delayed ACK). -1 on failure.
int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// One handshake on a fresh connection. `first` skips reset() (the engine
/// comes straight from setup()).
bool handshake_once(tls::TlsEngine& engine, std::uint16_t port, bool first, Sample& out) {
  const int fd = connect_loopback(port);
  if (fd < 0) {
    std::fprintf(stderr, "uplink_bench_tls_handshake: connect: %s\n", std::strerror(errno));
    return false;
  }
  if (!first) {
    if (const std::error_code error = engine.reset()) {
      std::fprintf(stderr, "uplink_bench_tls_handshake: reset: %s\n", error.message().c_str());
      ::close(fd);
      return false;
    }
  }
  engine.set_transport(tls::fd_transport(fd));

  const std::uint64_t deadline = wall_ns() + kHandshakeLimitMs * 1000000ull;
  const std::uint64_t wall0 = wall_ns();
  const std::uint64_t cpu0 = thread_cpu_ns();
  tls::TlsResult result = engine.handshake_step();
  // Bounded: every wait is at most the time left before the deadline.
  while (result.wants_io() && wall_ns() < deadline) {
    pollfd p{fd, static_cast<short>(result.status == tls::TlsStatus::want_read ? POLLIN : POLLOUT), 0};
    const int left_ms = static_cast<int>((deadline - wall_ns()) / 1000000ull) + 1;
    if (::poll(&p, 1, left_ms) < 0 && errno != EINTR) break;
    result = engine.handshake_step();
  }
  const std::uint64_t cpu1 = thread_cpu_ns();
  const std::uint64_t wall1 = wall_ns();
  const bool ok = result.ok();
  if (!ok) {
    std::fprintf(stderr, "uplink_bench_tls_handshake: handshake: %s\n",
                 result.wants_io() ? "timed out" : result.error.message().c_str());
  }
  out.cpu_us = static_cast<double>(cpu1 - cpu0) / 1e3;
  out.wall_us = static_cast<double>(wall1 - wall0) / 1e3;
  out.bytes_sent = engine.stats().handshake_bytes_sent;
  out.bytes_received = engine.stats().handshake_bytes_received;
  out.resumed = engine.resumed();
  // Best effort, as the client does on stop(); the server then closes too.
  (void)engine.close_notify();
  ::close(fd);
  return ok;
}

/// Whole client connects (--via client): start() to on_state(online), then stop().
/// With `engine` (set up), over TLS.
class ClientConnector final : public Listener {
 public:
  ClientConnector(std::uint16_t port, tls::TlsEngine* engine)
      : engine_(engine), client_(io_, *this, port::system_random()) {
    if (engine_ != nullptr) stream_.emplace(*engine_);
    ok_ = !options_.add_endpoint("127.0.0.1", port) && !options_.set_device_id("bench-reconnect");
    if (stream_) client_.use_stream(*stream_);
  }
  ~ClientConnector() { stop(); }
  ClientConnector(const ClientConnector&) = delete;
  ClientConnector& operator=(const ClientConnector&) = delete;

  void on_state(const StateChange& change) override {
    if (change.state == ClientState::online) ++online_;
  }

  bool once(Sample& out) {
    if (!ok_) return false;
    const std::uint64_t before = online_;
    const std::uint64_t wall0 = wall_ns();
    const std::uint64_t cpu0 = thread_cpu_ns();
    if (const OptionsCheck check = client_.start(options_); !check) {
      std::fprintf(stderr, "uplink_bench_tls_handshake: invalid option %s: %s\n", check.field, check.reason);
      return false;
    }
    run_until([&] { return online_ != before; });
    const std::uint64_t cpu1 = thread_cpu_ns();
    const std::uint64_t wall1 = wall_ns();
    const bool online = online_ != before;
    if (!online) std::fprintf(stderr, "uplink_bench_tls_handshake: the client did not come online\n");
    out.cpu_us = static_cast<double>(cpu1 - cpu0) / 1e3;
    out.wall_us = static_cast<double>(wall1 - wall0) / 1e3;
    out.bytes_sent = engine_ != nullptr ? engine_->stats().handshake_bytes_sent : 0;
    out.bytes_received = engine_ != nullptr ? engine_->stats().handshake_bytes_received : 0;
    out.resumed = engine_ != nullptr && engine_->resumed();
    return stop() && online;
  }

 private:
  // Bounded: at most kHandshakeLimitMs.
  template <typename Done>
  void run_until(Done done) {
    const std::uint64_t deadline = wall_ns() + kHandshakeLimitMs * 1000000ull;
    while (!done() && wall_ns() < deadline) {
      if (io_.stopped()) io_.restart();
      io_.run_one_for(std::chrono::milliseconds(50));
    }
  }
  bool stop() {
    client_.stop();
    run_until([&] { return client_.quiescent(); });
    return client_.quiescent();
  }

  asio::io_context io_{1};
  Options options_;
  tls::TlsEngine* engine_;
  std::optional<tls::TlsStream> stream_;
  Client client_;
  std::uint64_t online_ = 0;
  bool ok_ = false;
};

void print_kind(const char* kind, std::vector<Sample>& samples, double server_cpu_us) {
  std::vector<double> cpu, wall;
  std::uint64_t sent = 0, received = 0;
  for (const Sample& s : samples) {
    cpu.push_back(s.cpu_us);
    wall.push_back(s.wall_us);
    sent += s.bytes_sent;
    received += s.bytes_received;
  }
  const double n = samples.empty() ? 1.0 : static_cast<double>(samples.size());
  const bench::Percentiles c = bench::percentiles(cpu);
  const bench::Percentiles w = bench::percentiles(wall);
  std::printf(
      "{\"event\":\"handshake\",\"kind\":\"%s\",\"count\":%zu,"
      "\"client_cpu_us_min\":%.1f,\"client_cpu_us_p50\":%.1f,\"client_cpu_us_p90\":%.1f,\"client_cpu_us_p99\":%.1f,"
      "\"client_cpu_us_max\":%.1f,\"wall_us_p50\":%.1f,\"wall_us_p90\":%.1f,\"wall_us_p99\":%.1f,"
      "\"server_cpu_us_mean\":%.1f,\"bytes_sent\":%.0f,\"bytes_received\":%.0f}\n",
      kind, samples.size(), c.min, c.p50, c.p90, c.p99, c.max, w.p50, w.p90, w.p99, server_cpu_us,
      static_cast<double>(sent) / n, static_cast<double>(received) / n);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t count = 200;
  std::uint64_t warmup = 5;
  bool mutual = false;
  bool via_client = false;
  bench::ServerKey key = bench::ServerKey::ec_p256;
  bool usage = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--via") == 0 && i + 1 < argc) {
      const char* v = argv[++i];
      via_client = std::strcmp(v, "client") == 0;
      if (!via_client && std::strcmp(v, "engine") != 0) {
        usage = true;
        break;
      }
      continue;
    }
    if (std::strcmp(argv[i], "--mutual") == 0) {
      mutual = true;
      continue;
    }
    if (std::strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
      const char* k = argv[++i];
      if (std::strcmp(k, "rsa2048") == 0) {
        key = bench::ServerKey::rsa_2048;
      } else if (std::strcmp(k, "p256") != 0) {
        usage = true;
        break;
      }
      continue;
    }
    if (bench::flag_u64(argc, argv, i, "--count", count) || bench::flag_u64(argc, argv, i, "--warmup", warmup)) continue;
    usage = true;
    break;
  }
  if (usage || count == 0 || count > 100000 || warmup > 1000) {
    std::fprintf(stderr, "usage: uplink_bench_tls_handshake [--count N (1..100000)] [--warmup W] [--mutual] "
                 "[--key p256|rsa2048] [--via engine|client]\n");
    return 2;
  }

  bench::BenchTls tls(mutual, key);
  bench::ServerThread server(1000, &tls.server());
  tls::TlsEngine engine;
  if (const std::error_code error = engine.setup(tls.client(), bench::BenchTls::kHost)) {
    std::fprintf(stderr, "uplink_bench_tls_handshake: setup: %s\n", error.message().c_str());
    return 1;
  }

  // One handshake of the chosen kind of connect.
  bool first = true;
  std::unique_ptr<ClientConnector> tls_client, plain_client;
  std::unique_ptr<bench::ServerThread> plain_server;
  if (via_client) {
    tls_client = std::make_unique<ClientConnector>(server.port(), &engine);
    plain_server = std::make_unique<bench::ServerThread>();
    plain_client = std::make_unique<ClientConnector>(plain_server->port(), nullptr);
  }
  const auto connect = [&](Sample& out) {
    if (tls_client) return tls_client->once(out);
    const bool done = handshake_once(engine, server.port(), first, out);
    first = false;
    return done;
  };

  // Warm-up pairs: page faults, the first DRBG reseed, lazily built tables.
  bool ok = true;
  Sample sample;
  for (std::uint64_t i = 0; ok && i < warmup; ++i) {
    engine.forget_session();
    ok = connect(sample) && connect(sample) && (!plain_client || plain_client->once(sample));
  }

  // Alternating pairs (and a plain connect, --via client); the server's CPU
  // is attributed to the kind of the handshake it served (read between
  // handshakes, when it is idle: the device waits for the server's last
  // flight, and the server waits for the device's next connection).
  std::vector<Sample> full, resumed, plain;
  double server_full_ns = 0, server_resumed_ns = 0, server_plain_ns = 0;
  const std::uint64_t stats_resumed0 = engine.stats().resumed_handshakes;
  std::uint64_t wrong_kind = 0;
  for (std::uint64_t i = 0; ok && i < count; ++i) {
    engine.forget_session();
    std::uint64_t s0 = server.cpu_ns();
    ok = connect(sample);
    server_full_ns += static_cast<double>(server.cpu_ns() - s0);
    if (sample.resumed) ++wrong_kind;
    full.push_back(sample);
    if (!ok) break;

    s0 = server.cpu_ns();
    ok = connect(sample);
    server_resumed_ns += static_cast<double>(server.cpu_ns() - s0);
    if (!sample.resumed) ++wrong_kind;
    resumed.push_back(sample);
    if (!ok || !plain_client) continue;

    s0 = plain_server->cpu_ns();
    ok = plain_client->once(sample);
    server_plain_ns += static_cast<double>(plain_server->cpu_ns() - s0);
    plain.push_back(sample);
  }
  const std::uint64_t counted_resumed = engine.stats().resumed_handshakes - stats_resumed0;
  ok = ok && wrong_kind == 0 && counted_resumed == count && resumed.size() == count &&
       (!via_client || plain.size() == count);

  print_kind("full", full, server_full_ns / 1e3 / static_cast<double>(full.empty() ? 1 : full.size()));
  print_kind("resumed", resumed, server_resumed_ns / 1e3 / static_cast<double>(resumed.empty() ? 1 : resumed.size()));
  if (via_client) print_kind("plain", plain, server_plain_ns / 1e3 / static_cast<double>(plain.empty() ? 1 : plain.size()));
  std::printf(
      "{\"event\":\"summary\",\"via\":\"%s\",\"pairs\":%llu,\"warmup_pairs\":%llu,\"mutual\":%s,\"key_type\":\"%s\","
      "\"ciphersuite\":\"%s\",\"resumed_counted\":%llu,\"wrong_kind\":%llu,\"ok\":%s}\n",
      via_client ? "client" : "engine", static_cast<unsigned long long>(count), static_cast<unsigned long long>(warmup),
      mutual ? "true" : "false",
      tls.key_type(), engine.ciphersuite(), static_cast<unsigned long long>(counted_resumed),
      static_cast<unsigned long long>(wrong_kind), ok ? "true" : "false");
  return ok ? 0 : 1;
}
