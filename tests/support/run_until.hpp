// SPDX-License-Identifier: Apache-2.0
// Running an io_context in a loopback test until something happened, bounded
// in wall-clock time and in turns. One copy for every integration test.
#pragma once

#include <chrono>
#include <thread>

#include "uplink/net/asio.hpp"

#include <asio/io_context.hpp>

namespace uplink::test {

/// Runs `io` in 5 ms slices until `done()` is true or `limit` has passed
/// (restarting it if it ran out of work); returns `done()`. A template, not
/// std::function: the allocation tests call it while counting.
template <typename Done>
bool run_until(asio::io_context& io, Done&& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  // The slice count is a second bound, should the clock misbehave.
  const long slices = static_cast<long>(limit.count() / 5) + 1000;
  for (long i = 0; i < slices && !done(); ++i) {
    if (std::chrono::steady_clock::now() >= deadline) break;
    if (io.stopped()) io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return done();
}

/// Like run_until(), but checks `done()` after every handler that ran (at
/// most 5 ms of waiting each time), so it returns as soon as it holds: for
/// loops that wait for one packet at a time, where a 5 ms slice per wait
/// would dominate. Bounded in time and in turns like run_until().
template <typename Done>
bool run_until_prompt(asio::io_context& io, Done&& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  // Handlers may run far faster than one per 5 ms: the turn bound allows
  // a million per second of the limit.
  const long turns = static_cast<long>(limit.count()) * 1000 + 1000;
  for (long i = 0; i < turns && !done(); ++i) {
    if (std::chrono::steady_clock::now() >= deadline) break;
    if (io.stopped()) io.restart();
    if (io.run_one_for(std::chrono::milliseconds(5)) == 0 && io.stopped()) {
      // Out of work: nothing can make done() true but time (or another
      // thread); do not spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return done();
}

/// Runs `io` for `duration`, whatever happens.
inline void run_for(asio::io_context& io, std::chrono::milliseconds duration) {
  run_until(io, [] { return false; }, duration);
}

}  // namespace uplink::test
