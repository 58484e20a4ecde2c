// SPDX-License-Identifier: Apache-2.0
// Throughput of small messages, device to server, over loopback.
//
//   uplink_bench_throughput --mode fire|acked [--count N] [--size BYTES] [--runs R] [--in-flight K] [--tls]
//                           [--server HOST:PORT]
//
// One process, two threads, two io_contexts: the reference server
// (tools/reference_server, counting events, printing nothing) on one
// thread, an uplink::Client on the main thread. With --server, no server
// thread: the client connects to a running server (e.g. the uplink_server
// program, bench/run server), the server side's CPU is not measured here
// ("server_cpu_ns_per_msg" is 0) and "server_received" is what the client
// saw acknowledged; the caller counts what the server printed. A listener keeps the
// client's outbound store full (send() until queue_full, refilled from
// on_acked) until N messages were accepted.
//
//   --mode fire   "fire-and-forget": max_in_flight = UPLINK_STORE_MESSAGES
//                 (the store's byte budget may cap the window below that);
//                 the rate is N / time until the client had written its N-th
//                 DATA frame (Counters::data_frames_sent). uplink has no
//                 unacknowledged mode: the store still waits for ACKs to
//                 make room, so this is the pipelined rate with the largest
//                 window, not a rate without acknowledgements.
//   --mode acked  default options (the automatic window, 128); the rate is N / time
//                 until the server had acknowledged all N.
//
//   --tls         the same over TLS 1.2 (the server's TLS mode, an ECDSA
//                 P-256 certificate from the throwaway test PKI, the device
//                 verifying it); one full handshake per run, before the
//                 measured window.
//
// CPU time is per thread (CLOCK_THREAD_CPUTIME_ID) from the first send()
// until the last ACK arrived, divided by N, for each side. Each run prints
// one JSON line; the last line is {"event":"summary", ...} with the medians.
#include "uplink/net/asio.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench_common.hpp"
#include "uplink/codec/frame.hpp"
#include "uplink/port/random.hpp"

#if UPLINK_REFERENCE_SERVER_TLS
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_stream.hpp"
#endif

namespace {

using namespace uplink;
using bench::wall_ns;

struct RunResult {
  bool ok = false;
  double rate = 0;            // messages per second (as defined by the mode)
  double client_cpu_ns = 0;   // per message
  double server_cpu_ns = 0;   // per message
};

template <typename Done>
bool run_until(asio::io_context& io, Done done, std::uint64_t limit_ms) {
  const std::uint64_t deadline = wall_ns() + limit_ms * 1000000ull;
  while (!done() && wall_ns() < deadline) io.run_one_for(std::chrono::milliseconds(50));
  return done();
}

#if UPLINK_REFERENCE_SERVER_TLS
using TlsFixture = bench::BenchTls;
#else
struct TlsFixture {};
#endif

// A server for one run: the in-process one, or a running one (--server).
class BenchServer {
 public:
  BenchServer(const TlsFixture* tls, std::uint16_t external_port) : external_port_(external_port) {
    if (external_port != 0) return;
#if UPLINK_REFERENCE_SERVER_TLS
    thread_ = std::make_unique<bench::ServerThread>(1000, tls != nullptr ? &tls->server() : nullptr);
#else
    (void)tls;
    thread_ = std::make_unique<bench::ServerThread>();
#endif
  }
  [[nodiscard]] std::uint16_t port() const { return thread_ ? thread_->port() : external_port_; }
  /// Messages the server reported; for a running server, `acked` (what the client saw acknowledged).
  [[nodiscard]] std::uint64_t messages(std::uint64_t acked) const {
    return thread_ ? thread_->events().messages.load() : acked;
  }
  [[nodiscard]] std::uint64_t cpu_ns() const { return thread_ ? thread_->cpu_ns() : 0; }

 private:
  std::unique_ptr<bench::ServerThread> thread_;
  std::uint16_t external_port_;
};

// `tls`: null for plain TCP. `external_port`: a running server on 127.0.0.1, or 0.
RunResult run_once(bool fire, std::uint64_t count, std::size_t size, std::uint32_t in_flight, int run,
                   const TlsFixture* tls, std::uint16_t external_port) {
  RunResult result;
  BenchServer server(tls, external_port);
#if UPLINK_REFERENCE_SERVER_TLS
  tls::TlsEngine engine;  // outlives the client that uses it
  tls::TlsStream stream(engine);
#endif
  asio::io_context io(1);
  bench::Producer producer(size);
  Client client(io, producer, port::system_random());
  producer.attach(client);
#if UPLINK_REFERENCE_SERVER_TLS
  if (tls != nullptr) {
    if (const std::error_code error = engine.setup(tls->client(), bench::BenchTls::kHost)) {
      std::fprintf(stderr, "uplink_bench_throughput: TLS setup: %s\n", error.message().c_str());
      return result;
    }
    client.use_stream(stream);
  }
#endif

  Options o;
  if (o.add_endpoint("127.0.0.1", server.port()) || o.set_device_id("bench-throughput")) return result;
  o.max_in_flight = in_flight;
  if (const OptionsCheck check = client.start(o); !check) {
    std::fprintf(stderr, "uplink_bench_throughput: invalid option %s: %s\n", check.field, check.reason);
    return result;
  }
  if (!run_until(io, [&] { return producer.online.load() > 0; }, 10000)) {
    std::fprintf(stderr, "uplink_bench_throughput: the client did not come online\n");
    return result;
  }

  const std::uint64_t frames0 = client.counters().data_frames_sent;
  const std::uint64_t t0 = wall_ns();
  const std::uint64_t client_cpu0 = bench::thread_cpu_ns();
  const std::uint64_t server_cpu0 = server.cpu_ns();
  producer.produce(count);  // outside a handler: send() wakes the io thread itself

  std::uint64_t t_written = 0;
  std::uint64_t t_received = 0;
  // Bounded: at most 300 s, whatever happens.
  const bool all_acked = run_until(
      io,
      [&] {
        if (t_written == 0 && producer.accepted >= count && client.counters().data_frames_sent - frames0 >= count) {
          t_written = wall_ns();
        }
        if (t_received == 0 && server.messages(producer.acked.load()) >= count) t_received = wall_ns();
        return producer.acked.load() >= count;
      },
      300000);
  const std::uint64_t t_acked = wall_ns();
  const std::uint64_t client_cpu = bench::thread_cpu_ns() - client_cpu0;
  const std::uint64_t server_cpu = server.cpu_ns() - server_cpu0;
  if (t_written == 0) t_written = t_acked;
  if (t_received == 0) t_received = t_acked;
  const Counters counters = client.counters();

  client.stop();
  run_until(io, [&] { return client.quiescent(); }, 5000);

  const double written_s = static_cast<double>(t_written - t0) / 1e9;
  const double received_s = static_cast<double>(t_received - t0) / 1e9;
  const double acked_s = static_cast<double>(t_acked - t0) / 1e9;
  const double n = static_cast<double>(count);
  result.ok = all_acked && server.messages(producer.acked.load()) == count && counters.connects == 1;
#if UPLINK_REFERENCE_SERVER_TLS
  if (tls != nullptr) result.ok = result.ok && engine.stats().handshakes == 1;
#endif
  result.rate = n / (fire ? written_s : acked_s);
  result.client_cpu_ns = static_cast<double>(client_cpu) / n;
  result.server_cpu_ns = static_cast<double>(server_cpu) / n;
  std::printf(
      "{\"event\":\"run\",\"mode\":\"%s\",\"run\":%d,\"messages\":%llu,\"size\":%zu,\"max_in_flight\":%u,"
      "\"written_s\":%.4f,\"received_s\":%.4f,\"acked_s\":%.4f,\"msgs_per_s\":%.0f,"
      "\"client_cpu_ns_per_msg\":%.0f,\"server_cpu_ns_per_msg\":%.0f,\"data_frames_sent\":%llu,"
      "\"server_received\":%llu,\"connects\":%llu,\"tls\":%s,\"ok\":%s}\n",
      fire ? "fire" : "acked", run, static_cast<unsigned long long>(count), size, static_cast<unsigned>(in_flight),
      written_s, received_s, acked_s, result.rate, result.client_cpu_ns, result.server_cpu_ns,
      static_cast<unsigned long long>(counters.data_frames_sent - frames0),
      static_cast<unsigned long long>(server.messages(producer.acked.load())),
      static_cast<unsigned long long>(counters.connects), tls != nullptr ? "true" : "false",
      result.ok ? "true" : "false");
  std::fflush(stdout);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  bool fire = false;
  bool mode_given = false;
  std::uint64_t count = 200000;
  std::uint64_t size = 64;
  std::uint64_t runs = 3;
  std::uint64_t in_flight = 0;
  bool use_tls = false;
  std::uint64_t external_port = 0;
  for (int i = 1; i < argc; ++i) {
    // Only the loopback address: the bench never leaves the machine.
    if (std::strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
      const char* host_port = argv[++i];
      const char* prefix = "127.0.0.1:";
      char* end = nullptr;
      if (std::strncmp(host_port, prefix, std::strlen(prefix)) == 0) {
        external_port = std::strtoull(host_port + std::strlen(prefix), &end, 10);
      }
      if (end == nullptr || *end != '\0' || external_port == 0 || external_port > 65535) {
        std::fprintf(stderr, "uplink_bench_throughput: --server: expected 127.0.0.1:PORT, got '%s'\n", host_port);
        return 2;
      }
      continue;
    }
    if (std::strcmp(argv[i], "--tls") == 0) {
      use_tls = true;
      continue;
    }
    if (std::strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
      const char* m = argv[++i];
      fire = std::strcmp(m, "fire") == 0;
      mode_given = fire || std::strcmp(m, "acked") == 0;
      if (!mode_given) break;
      continue;
    }
    if (bench::flag_u64(argc, argv, i, "--count", count) || bench::flag_u64(argc, argv, i, "--size", size) ||
        bench::flag_u64(argc, argv, i, "--runs", runs) || bench::flag_u64(argc, argv, i, "--in-flight", in_flight)) {
      continue;
    }
    mode_given = false;
    break;
  }
  if (!mode_given || count == 0 || runs == 0 || runs > 100 || size == 0 || size > kMaxDataPayload) {
    std::fprintf(stderr,
                 "usage: uplink_bench_throughput --mode fire|acked [--count N] [--size BYTES] [--runs R (1..100)] "
                 "[--in-flight K] [--tls] [--server 127.0.0.1:PORT]\n");
    return 2;
  }
  if (use_tls && external_port != 0) {
    std::fprintf(stderr, "uplink_bench_throughput: --tls and --server: the device's CA is the in-process test PKI's; "
                         "use one or the other\n");
    return 2;
  }
  std::unique_ptr<TlsFixture> tls;
#if UPLINK_REFERENCE_SERVER_TLS
  if (use_tls) tls = std::make_unique<TlsFixture>();
#else
  if (use_tls) {
    std::fprintf(stderr, "uplink_bench_throughput: --tls: this build has no TLS (UPLINK_WITH_TLS=OFF)\n");
    return 2;
  }
#endif
  if (in_flight == 0) in_flight = fire ? kStoreMessages : Options{}.in_flight_window();

  std::vector<double> rates, client_cpu, server_cpu;
  bool ok = true;
  for (std::uint64_t r = 1; r <= runs; ++r) {
    const RunResult result =
        run_once(fire, count, static_cast<std::size_t>(size), static_cast<std::uint32_t>(in_flight),
                 static_cast<int>(r), tls.get(), static_cast<std::uint16_t>(external_port));
    ok = ok && result.ok;
    rates.push_back(result.rate);
    client_cpu.push_back(result.client_cpu_ns);
    server_cpu.push_back(result.server_cpu_ns);
  }
  const bench::Percentiles rate = bench::percentiles(rates);
  std::printf(
      "{\"event\":\"summary\",\"mode\":\"%s\",\"tls\":%s,\"runs\":%llu,\"messages\":%llu,\"size\":%llu,\"max_in_flight\":%llu,"
      "\"msgs_per_s\":%.0f,\"msgs_per_s_min\":%.0f,\"msgs_per_s_max\":%.0f,"
      "\"client_cpu_ns_per_msg\":%.0f,\"server_cpu_ns_per_msg\":%.0f,\"ok\":%s}\n",
      fire ? "fire" : "acked", tls != nullptr ? "true" : "false", static_cast<unsigned long long>(runs), static_cast<unsigned long long>(count),
      static_cast<unsigned long long>(size), static_cast<unsigned long long>(in_flight), rate.p50, rate.min,
      rate.max,
      bench::percentiles(client_cpu).p50, bench::percentiles(server_cpu).p50, ok ? "true" : "false");
  return ok ? 0 : 1;
}
