// SPDX-License-Identifier: Apache-2.0
// In-memory byte streams for TLS tests: deterministic, single-threaded
// stand-ins for a pair of non-blocking sockets, with the knobs that make a
// TLS engine wait: delivery of N bytes per recv, acceptance of N bytes per
// send, a bounded buffer (a full socket send buffer), "stutter" (every
// other call would block), an end of stream and a reset.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <vector>

#include "uplink/tls/tls_engine.hpp"

namespace uplink::test {

/// One direction: a fixed ring of bytes (allocated once, at construction).
class ByteQueue {
 public:
  explicit ByteQueue(std::size_t capacity = 128 * 1024) : ring_(capacity), limit_(capacity) {}

  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::size_t room() const { return size_ >= limit_ ? 0 : limit_ - size_; }
  /// Caps how many bytes may wait in the queue (like a socket buffer).
  void set_limit(std::size_t limit) { limit_ = std::min(limit, ring_.size()); }

  std::size_t push(const std::uint8_t* data, std::size_t n) {
    n = std::min(n, room());
    for (std::size_t i = 0; i < n; ++i) ring_[(head_ + size_ + i) % ring_.size()] = data[i];
    size_ += n;
    return n;
  }
  std::size_t pop(std::uint8_t* out, std::size_t n) {
    n = std::min(n, size_);
    for (std::size_t i = 0; i < n; ++i) out[i] = ring_[(head_ + i) % ring_.size()];
    head_ = (head_ + n) % ring_.size();
    size_ -= n;
    return n;
  }
  void clear() { head_ = size_ = 0; }

  bool writer_closed = false;  ///< The reader gets end of stream once the queue is empty.
  bool reader_closed = false;  ///< The writer gets EPIPE.

 private:
  std::vector<std::uint8_t> ring_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::size_t limit_;
};

/// One side's view of a bidirectional in-memory link: reads `rx`, writes `tx`.
struct PipeEnd {
  ByteQueue* rx = nullptr;
  ByteQueue* tx = nullptr;
  std::size_t recv_chunk = SIZE_MAX;  ///< At most this many bytes per recv (1: byte at a time).
  std::size_t send_chunk = SIZE_MAX;  ///< At most this many bytes per send (1: byte at a time).
  bool stutter = false;               ///< Every other call of each direction would block first.
  std::error_code fail_with;          ///< Non-empty: every call fails with this error.

  // Observations.
  std::size_t recv_calls = 0;
  std::size_t send_calls = 0;
  std::size_t would_blocks = 0;

  /// Closes this side: the peer reads end of stream, writes get EPIPE.
  void close() {
    tx->writer_closed = true;
    rx->reader_closed = true;
  }

  [[nodiscard]] tls::Transport transport() {
    tls::Transport t;
    t.context = this;
    t.send = &PipeEnd::send_cb;
    t.recv = &PipeEnd::recv_cb;
    return t;
  }

 private:
  bool send_toggle_ = false;
  bool recv_toggle_ = false;

  static std::ptrdiff_t send_cb(void* context, const std::uint8_t* data, std::size_t size, std::error_code& error) {
    auto* self = static_cast<PipeEnd*>(context);
    ++self->send_calls;
    if (self->fail_with) {
      error = self->fail_with;
      return tls::kTransportError;
    }
    if (self->tx->reader_closed || self->tx->writer_closed) {
      error = std::error_code(EPIPE, std::system_category());
      return tls::kTransportError;
    }
    if (self->stutter && (self->send_toggle_ = !self->send_toggle_)) {
      ++self->would_blocks;
      return tls::kWouldBlock;
    }
    const std::size_t n = self->tx->push(data, std::min(size, self->send_chunk));
    if (n == 0) {
      ++self->would_blocks;
      return tls::kWouldBlock;
    }
    return static_cast<std::ptrdiff_t>(n);
  }

  static std::ptrdiff_t recv_cb(void* context, std::uint8_t* data, std::size_t size, std::error_code& error) {
    auto* self = static_cast<PipeEnd*>(context);
    ++self->recv_calls;
    if (self->fail_with) {
      error = self->fail_with;
      return tls::kTransportError;
    }
    if (self->stutter && (self->recv_toggle_ = !self->recv_toggle_)) {
      ++self->would_blocks;
      return tls::kWouldBlock;
    }
    if (self->rx->size() == 0) {
      if (self->rx->writer_closed) return tls::kEndOfStream;
      ++self->would_blocks;
      return tls::kWouldBlock;
    }
    return static_cast<std::ptrdiff_t>(self->rx->pop(data, std::min(size, self->recv_chunk)));
  }
};

}  // namespace uplink::test
