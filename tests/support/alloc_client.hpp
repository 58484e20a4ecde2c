// SPDX-License-Identifier: Apache-2.0
// Helpers for the allocation tests of a live Client (tests/integration/
// client_alloc_test.cpp and client_tls_alloc_test.cpp): a listener and a
// random source that never allocate, and a traffic phase that sends
// messages and waits for their acknowledgements and for heartbeats without
// allocating either, so that every allocation counted is the SDK's.
//
// No CppUTest check may run while counting (a check allocates its
// message): the helpers report failure through their return values.
#pragma once

#include "uplink/net/asio.hpp"
#include "support/run_until.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <utility>

#include "uplink/client.hpp"

namespace uplink::test {

class CountingListener final : public Listener {
 public:
  void on_state(const StateChange& change) override {
    if (change.state == ClientState::online) ++online;
  }
  void on_disconnected(const DisconnectInfo&) override { ++disconnects; }
  void on_acked(std::uint64_t seq) override { acked = seq; }
  void on_heartbeat(std::uint32_t) override { ++heartbeats; }
  std::atomic<std::uint64_t> online{0}, disconnects{0}, acked{0}, heartbeats{0};

  /// Online means one more connection than disconnects.
  [[nodiscard]] bool is_online() const { return online > disconnects; }
};

class FixedRandom final : public RandomSource {
 public:
  std::uint32_t next_u32() override { return 0x10000000u; }
};

/// An io_context run by a thread of its own: the servers of a test live
/// there, so their (allowed) allocations are not counted on the client's
/// thread.
class ServerThread {
 public:
  asio::io_context io;

  /// Runs `io` on the thread; create the servers on `io` before.
  void start() {
    thread_ = std::thread([this] { io.run(); });
  }
  /// Runs `f` (e.g. destroying the servers) on the thread and joins it.
  template <typename F>
  void finish(F f) {
    asio::post(io, std::move(f));
    work_.reset();
    if (thread_.joinable()) thread_.join();
  }

 private:
  asio::executor_work_guard<asio::io_context::executor_type> work_{io.get_executor()};
  std::thread thread_;
};

/// Runs `io` until `done()` or `limit_ms` have passed; returns done().
template <typename Done>
bool run_until_done(asio::io_context& io, Done done, std::uint64_t limit_ms) {
  return run_until(io, done, std::chrono::milliseconds(limit_ms));
}

/// Sends `messages` copies of `message` (letting the queue drain when it is
/// full), waits until all of them are acknowledged, then for `heartbeats`
/// more heartbeats. `sent` counts every message ever sent. False when a wait
/// ran out of time.
inline bool exchange_traffic(asio::io_context& io, Client& client, const CountingListener& listener,
                             ConstByteSpan message, std::uint64_t messages, std::uint64_t& sent,
                             std::uint64_t heartbeats) {
  // The whole sending loop has one deadline: a client that never takes a
  // message (not online, queue never drained) ends it in bounded time.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (std::uint64_t i = 0; i < messages; ++i) {
    // A full queue drains as acknowledgements arrive: let io run meanwhile.
    while (client.send(message)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io.run_for(std::chrono::milliseconds(1));
    }
    ++sent;
    if (i % 64 == 0) io.poll();
  }
  bool ok = run_until_done(io, [&] { return listener.acked >= sent; }, 5000);
  const std::uint64_t beats = listener.heartbeats;
  ok &= run_until_done(io, [&] { return listener.heartbeats >= beats + heartbeats; }, 5000);
  return ok;
}

}  // namespace uplink::test
