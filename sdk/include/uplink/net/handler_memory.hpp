// SPDX-License-Identifier: Apache-2.0
// Preallocated memory for Asio completion handlers (Asio's allocation
// example, bound with asio::bind_allocator).
//
// Every asynchronous operation allocates its state through the handler's
// associated allocator. A client keeps a few fixed blocks per kind of
// operation, so steady-state I/O never reaches the heap. A request that does
// not fit (a bigger operation, or more in flight than blocks) falls back to
// the heap and is counted, so a test can prove the fallback never happens.
#pragma once

#include <asio/bind_allocator.hpp>
#include <cstddef>
#include <new>
#include <utility>

namespace uplink::detail {

/// `Blocks` blocks of `BlockSize` bytes each, for one kind of operation.
/// Not thread-safe: allocate and deallocate on the thread that runs the
/// io_context (or serialise otherwise, as the client's wake-up post does).
template <std::size_t BlockSize, std::size_t Blocks>
class HandlerMemory {
 public:
  HandlerMemory() = default;
  HandlerMemory(const HandlerMemory&) = delete;
  HandlerMemory& operator=(const HandlerMemory&) = delete;

  void* allocate(std::size_t size) {
    if (size <= BlockSize) {
      for (std::size_t i = 0; i < Blocks; ++i) {
        if (!in_use_[i]) {
          in_use_[i] = true;
          return storage_[i];
        }
      }
    }
    ++heap_fallbacks_;
    return ::operator new(size);
  }

  void deallocate(void* pointer) {
    for (std::size_t i = 0; i < Blocks; ++i) {
      if (pointer == storage_[i]) {
        in_use_[i] = false;
        return;
      }
    }
    ::operator delete(pointer);
  }

  /// Allocations that did not fit the blocks since construction.
  [[nodiscard]] std::size_t heap_fallbacks() const { return heap_fallbacks_; }

 private:
  alignas(std::max_align_t) unsigned char storage_[Blocks][BlockSize] = {};
  bool in_use_[Blocks] = {};
  std::size_t heap_fallbacks_ = 0;
};

/// A standard allocator over a HandlerMemory, for asio::bind_allocator.
template <typename T, typename Memory>
class HandlerAllocator {
 public:
  using value_type = T;

  explicit HandlerAllocator(Memory& memory) : memory_(&memory) {}
  template <typename U>
  HandlerAllocator(const HandlerAllocator<U, Memory>& other) noexcept : memory_(other.memory_) {}

  T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
  void deallocate(T* pointer, std::size_t /*n*/) { memory_->deallocate(pointer); }

  template <typename U>
  bool operator==(const HandlerAllocator<U, Memory>& other) const noexcept { return memory_ == other.memory_; }
  template <typename U>
  bool operator!=(const HandlerAllocator<U, Memory>& other) const noexcept { return memory_ != other.memory_; }

 private:
  template <typename, typename>
  friend class HandlerAllocator;
  Memory* memory_;
};

/// `handler`, allocating its operation's state in `memory`.
template <typename Memory, typename Handler>
auto with_memory(Memory& memory, Handler&& handler) {
  return asio::bind_allocator(HandlerAllocator<int, Memory>(memory), std::forward<Handler>(handler));
}

}  // namespace uplink::detail
