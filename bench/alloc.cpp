// SPDX-License-Identifier: Apache-2.0
// Heap allocations per message and per heartbeat in steady state.
//
//   uplink_bench_alloc [--messages N] [--heartbeats M] [--heartbeat-ms H] [--size BYTES]
//
// Links tests/support/heap_interposer.cpp, which interposes malloc & co. and
// counts the allocations of each thread separately. The reference server
// runs on its own thread and io_context (its heartbeat clamp lowered to
// 10 ms); the client runs on the main thread with a listener that never
// allocates and keeps the outbound store full from on_acked.
//
// After a warm-up (online, 2000 messages acknowledged, 5 heartbeats):
//   messages phase:   N messages sent and acknowledged; allocations counted
//                     on the client thread (and, separately, the server thread);
//   heartbeat phase:  M heartbeats (PING out, PONG back) with no other
//                     traffic, at a short interval H so that the phase is
//                     quick; the code path is the one a 30 s heartbeat takes.
// Prints one JSON line. Exit status 1 if a phase timed out.
#include "uplink/net/asio.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "bench_common.hpp"
#include "support/alloc_counter.hpp"
#include "uplink/codec/frame.hpp"

namespace {

using namespace uplink;
using bench::wall_ns;
using test::AllocCounter;

class FixedRandom final : public RandomSource {
 public:
  std::uint32_t next_u32() override { return 0x10000000u; }
};

// No allocation of its own (run_one_for and the clock do not allocate).
template <typename Done>
bool run_until(asio::io_context& io, Done done, std::uint64_t limit_ms) {
  const std::uint64_t deadline = wall_ns() + limit_ms * 1000000ull;
  while (!done() && wall_ns() < deadline) io.run_one_for(std::chrono::milliseconds(20));
  return done();
}

// Counts the server thread's allocations between begin() and end().
class ServerCount {
 public:
  explicit ServerCount(bench::ServerThread& server) : server_(server) {}
  void begin() {
    done_ = false;
    asio::post(server_.io(), [] {
      AllocCounter::reset();
      AllocCounter::start();
    });
  }
  std::size_t end() {
    asio::post(server_.io(), [this] {
      AllocCounter::stop();
      count_ = AllocCounter::count();
      done_ = true;
    });
    const std::uint64_t deadline = wall_ns() + 5000000000ull;
    while (!done_ && wall_ns() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return count_;
  }

 private:
  bench::ServerThread& server_;
  std::atomic<bool> done_{false};
  std::size_t count_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t messages = 20000;
  std::uint64_t heartbeats = 50;
  std::uint64_t heartbeat_ms = 50;
  std::uint64_t size = 64;
  for (int i = 1; i < argc; ++i) {
    if (bench::flag_u64(argc, argv, i, "--messages", messages) ||
        bench::flag_u64(argc, argv, i, "--heartbeats", heartbeats) ||
        bench::flag_u64(argc, argv, i, "--heartbeat-ms", heartbeat_ms) || bench::flag_u64(argc, argv, i, "--size", size)) {
      continue;
    }
    std::fprintf(stderr,
                 "usage: uplink_bench_alloc [--messages N] [--heartbeats M] [--heartbeat-ms H (10..60000)] "
                 "[--size BYTES]\n");
    return 2;
  }
  if (messages == 0 || heartbeats == 0 || heartbeat_ms < 10 || heartbeat_ms > 60000 || size == 0 ||
      size > kMaxDataPayload) {
    std::fprintf(stderr, "uplink_bench_alloc: a value is out of range (see the usage)\n");
    return 2;
  }

  // The counter must see an allocation made through a call the compiler
  // cannot elide; otherwise every zero below would mean nothing.
  {
    void* (*volatile allocate)(std::size_t) = std::malloc;
    AllocCounter::reset();
    AllocCounter::start();
    void* p = allocate(16);
    AllocCounter::stop();
    std::free(p);
    if (AllocCounter::count() != 1) {
      std::fprintf(stderr, "uplink_bench_alloc: the allocation counter does not work here (%zu)\n",
                   AllocCounter::count());
      return 1;
    }
  }

  bench::ServerThread server(10);
  ServerCount server_count(server);
  asio::io_context io(1);
  bench::Producer producer(static_cast<std::size_t>(size));
  FixedRandom random;
  Client client(io, producer, random);
  producer.attach(client);
  Options o;
  if (o.add_endpoint("127.0.0.1", server.port()) || o.set_device_id("bench-alloc")) return 1;
  o.heartbeat_interval_ms = static_cast<std::uint32_t>(heartbeat_ms);
  // Generous: only the heartbeat matters here, and other deadlines (a
  // network-change probe, say) must fit under the read timeout.
  o.read_timeout_ms = static_cast<std::uint32_t>(heartbeat_ms * 10 > 30000 ? heartbeat_ms * 10 : 30000);
  if (const OptionsCheck check = client.start(o); !check) {
    std::fprintf(stderr, "uplink_bench_alloc: invalid option %s: %s\n", check.field, check.reason);
    return 1;
  }

  bool ok = run_until(io, [&] { return producer.online.load() > 0; }, 10000);
  // Warm-up: the first connection, Asio's reactor and descriptor state, the
  // first timer waits and heartbeats.
  const std::uint64_t warm = 2000;
  producer.produce(warm);
  ok = ok && run_until(io, [&] { return producer.acked.load() >= warm; }, 30000);
  std::uint64_t beats = producer.heartbeats.load();
  ok = ok && run_until(io, [&] { return producer.heartbeats.load() >= beats + 5; }, 5 * 10 * heartbeat_ms + 5000);

  // Messages phase.
  server_count.begin();
  AllocCounter::reset();
  AllocCounter::start();
  producer.produce(messages);
  ok = ok && run_until(io, [&] { return producer.acked.load() >= warm + messages; }, 120000);
  AllocCounter::stop();
  const std::size_t client_msg_allocs = AllocCounter::count();
  const std::size_t server_msg_allocs = server_count.end();

  // Heartbeat phase: nothing else is sent either way.
  beats = producer.heartbeats.load();
  server_count.begin();
  AllocCounter::reset();
  AllocCounter::start();
  ok = ok && run_until(io, [&] { return producer.heartbeats.load() >= beats + heartbeats; },
                       (heartbeats + 5) * heartbeat_ms * 3 + 5000);
  AllocCounter::stop();
  const std::size_t client_hb_allocs = AllocCounter::count();
  const std::size_t server_hb_allocs = server_count.end();
  const std::uint64_t hb_done = producer.heartbeats.load() - beats;
  const std::uint64_t disconnects = producer.disconnects.load();
  const std::size_t fallbacks = client.handler_heap_fallbacks();

  client.stop();
  run_until(io, [&] { return client.quiescent(); }, 5000);
  ok = ok && disconnects == 0;

  const double m = static_cast<double>(messages);
  const double h = static_cast<double>(hb_done == 0 ? 1 : hb_done);
  std::printf(
      "{\"event\":\"alloc\",\"messages\":%llu,\"size\":%llu,\"client_allocs_messages\":%zu,"
      "\"client_allocs_per_msg\":%.4f,\"server_allocs_per_msg\":%.2f,\"heartbeats\":%llu,\"heartbeat_ms\":%llu,"
      "\"client_allocs_heartbeats\":%zu,\"client_allocs_per_heartbeat\":%.4f,\"server_allocs_per_heartbeat\":%.2f,"
      "\"handler_heap_fallbacks\":%zu,\"disconnects\":%llu,\"client_object_bytes\":%zu,\"ok\":%s}\n",
      static_cast<unsigned long long>(messages), static_cast<unsigned long long>(size), client_msg_allocs,
      static_cast<double>(client_msg_allocs) / m, static_cast<double>(server_msg_allocs) / m,
      static_cast<unsigned long long>(hb_done), static_cast<unsigned long long>(heartbeat_ms), client_hb_allocs,
      static_cast<double>(client_hb_allocs) / h, static_cast<double>(server_hb_allocs) / h, fallbacks,
      static_cast<unsigned long long>(disconnects), sizeof(Client), ok ? "true" : "false");
  return ok ? 0 : 1;
}
