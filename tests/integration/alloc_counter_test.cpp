// SPDX-License-Identifier: Apache-2.0
// AllocCounter: counts this thread's allocations while started, and only
// those. Built only without sanitizers (see tests/CMakeLists.txt).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <thread>

#include <malloc.h>

#include "support/alloc_counter.hpp"

#include <CppUTest/TestHarness.h>

using uplink::test::AllocCounter;

namespace {

// Stores through a volatile pointer keep the compiler from eliding the
// allocations under test (new/delete and malloc/free pairs may be removed).
void* volatile g_sink = nullptr;

// Waits (bounded) until `flag` is set, without allocating.
bool wait_for(const std::atomic<bool>& flag) {
  for (int i = 0; i < 5000 && !flag.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return flag.load();
}

}  // namespace

TEST_GROUP(AllocCounter) {
  void setup() override {
    AllocCounter::stop();
    AllocCounter::reset();
  }
  void teardown() override {
    AllocCounter::stop();
    AllocCounter::reset();
  }
};

TEST(AllocCounter, CountsNewOnThisThreadWhileStarted) {
  AllocCounter::start();
  int* p = new int(42);
  g_sink = p;
  AllocCounter::stop();
  delete p;
  // CppUTest's leak-detecting operator new may take more than one malloc.
  CHECK(AllocCounter::count() >= 1);
}

TEST(AllocCounter, DoesNotCountWhileStopped) {
  int* p = new int(7);
  g_sink = p;
  delete p;
  void* q = std::malloc(32);
  g_sink = q;
  std::free(q);
  LONGS_EQUAL(0, AllocCounter::count());
}

TEST(AllocCounter, CountsEveryAllocationFunctionOnceAndNotFree) {
  AllocCounter::start();
  void* a = std::malloc(16);
  g_sink = a;
  void* b = std::calloc(4, 4);
  g_sink = b;
  a = std::realloc(a, 64);
  g_sink = a;
  void* c = aligned_alloc(64, 64);
  g_sink = c;
  void* d = nullptr;
  const int rc = posix_memalign(&d, 64, 64);
  g_sink = d;
  void* e = memalign(64, 64);
  g_sink = e;
  void* f = valloc(64);
  g_sink = f;
  std::free(a);
  std::free(b);
  std::free(c);
  std::free(d);
  std::free(e);
  std::free(f);
  AllocCounter::stop();
  LONGS_EQUAL(0, rc);
  LONGS_EQUAL(7, AllocCounter::count());
  AllocCounter::reset();
  LONGS_EQUAL(0, AllocCounter::count());
}

TEST(AllocCounter, DoesNotCountAllocationsOfAnotherThread) {
  std::atomic<bool> go{false};
  std::atomic<bool> done{false};
  std::atomic<std::size_t> other_count{0};
  // The thread is created before counting starts (std::thread allocates its
  // state on the creating thread).
  std::thread other([&] {
    if (!wait_for(go)) return;
    AllocCounter::start();  // counting there is independent of this thread
    void* p = std::malloc(64);
    g_sink = p;
    int* q = new int(1);
    g_sink = q;
    delete q;
    std::free(p);
    AllocCounter::stop();
    other_count = AllocCounter::count();
    done = true;
  });
  AllocCounter::start();
  go = true;
  const bool finished = wait_for(done);
  AllocCounter::stop();
  other.join();
  CHECK(finished);
  LONGS_EQUAL(0, AllocCounter::count());
  CHECK(other_count.load() >= 2);
}
