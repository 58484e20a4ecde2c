// SPDX-License-Identifier: Apache-2.0
// ServiceNotifier (tools/service) against a notify socket the test owns: a
// unix datagram socket standing in for systemd's, named by NOTIFY_SOCKET.
// READY=1 carries the status; WATCHDOG=1 comes every half WATCHDOG_USEC
// while the io loop turns and never while a handler blocks it; STOPPING=1
// ends the pets. The uplink_server program under the same socket:
// server_under_systemd_test.cpp.

#include <chrono>
#include <cstdlib>
#include <string>

#include "service_notifier.hpp"

#include <asio/post.hpp>

#include "support/notify_socket.hpp"
#include "support/run_until.hpp"

#include <CppUTest/TestHarness.h>

namespace {

using namespace std::chrono_literals;
using uplink::test::NotifySocket;
using uplink::tools::ServiceNotifier;

}  // namespace

TEST_GROUP(ServiceNotifier) {
  NotifySocket* manager = nullptr;
  asio::io_context io;

  void setup() override {
    manager = new NotifySocket();
    CHECK_TRUE(manager->bound());
    ::setenv("NOTIFY_SOCKET", manager->path().c_str(), 1);
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  void teardown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    delete manager;
  }
};

TEST(ServiceNotifier, ReadySendsReadyWithTheStatusAndNoPetsWithoutAWatchdog) {
  ServiceNotifier notifier(io);
  notifier.ready("listening on 127.0.0.1:7400");
  STRCMP_EQUAL("READY=1\nSTATUS=listening on 127.0.0.1:7400", manager->receive(1000ms).c_str());
  CHECK_EQUAL(0, notifier.watchdog_interval().count());
  uplink::test::run_for(io, 50ms);
  STRCMP_EQUAL("", manager->receive(0ms).c_str());
}

TEST(ServiceNotifier, WatchdogPetsArriveEveryHalfIntervalWhileTheIoLoopTurns) {
  ::setenv("WATCHDOG_USEC", "40000", 1);
  ServiceNotifier notifier(io);
  notifier.ready("up");
  CHECK_EQUAL(40000, notifier.watchdog_interval().count());
  STRCMP_EQUAL("READY=1\nSTATUS=up", manager->receive(1000ms).c_str());
  STRCMP_EQUAL("WATCHDOG=1", manager->receive(0ms).c_str());  // the first at once
  int pets = 0;
  const auto started = std::chrono::steady_clock::now();
  CHECK_TRUE(uplink::test::run_until(
      io,
      [&] {
        if (manager->receive(0ms) == "WATCHDOG=1") ++pets;
        return pets >= 3;
      },
      5000ms));
  // Three more pets, each half an interval (20 ms) after the one before.
  CHECK_TRUE(std::chrono::steady_clock::now() - started >= 55ms);
  notifier.stopping();
}

TEST(ServiceNotifier, WatchdogPetsStopWhileAHandlerBlocksTheIoLoop) {
  ::setenv("WATCHDOG_USEC", "40000", 1);
  ServiceNotifier notifier(io);
  notifier.ready("up");
  STRCMP_EQUAL("READY=1\nSTATUS=up", manager->receive(1000ms).c_str());
  STRCMP_EQUAL("WATCHDOG=1", manager->receive(0ms).c_str());
  // A handler that holds the loop for ten pet intervals: a watchdog petted
  // from any other thread would be heard meanwhile; this one is not.
  std::string heard_while_blocked = "(handler did not run)";
  bool ran = false;
  asio::post(io, [&] {
    ran = true;
    for (int i = 0; i < 100 && !manager->receive(0ms).empty(); ++i) {  // pets sent before it began
    }
    heard_while_blocked = manager->receive(200ms);
  });
  for (int i = 0; i < 100 && !ran; ++i) io.run_one();
  STRCMP_EQUAL("", heard_while_blocked.c_str());
  // Once the loop turns again, so do the pets.
  bool petted = false;
  CHECK_TRUE(uplink::test::run_until(
      io, [&] { return petted = petted || manager->receive(0ms) == "WATCHDOG=1"; }, 5000ms));
  notifier.stopping();
}

TEST(ServiceNotifier, StoppingSendsStoppingAndReleasesTheIoLoop) {
  ::setenv("WATCHDOG_USEC", "40000", 1);
  ServiceNotifier notifier(io);
  notifier.ready("up");
  uplink::test::run_for(io, 30ms);
  notifier.stopping();
  int pets = 0;
  STRCMP_EQUAL("READY=1\nSTATUS=up", manager->receive_skipping_pets(1000ms, pets).c_str());
  STRCMP_EQUAL("STOPPING=1", manager->receive_skipping_pets(1000ms, pets).c_str());
  CHECK_TRUE(pets >= 1);
  // Nothing holds the loop any more: run() returns once the cancelled wait is done.
  io.restart();
  io.run_for(std::chrono::seconds(5));
  CHECK_TRUE(io.stopped());
  STRCMP_EQUAL("", manager->receive(0ms).c_str());
}

TEST(ServiceNotifier, AWatchdogMeantForAnotherProcessIsNotPetted) {
  ::setenv("WATCHDOG_USEC", "40000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);  // not this process (the tests never run as pid 1)
  ServiceNotifier notifier(io);
  notifier.ready("up");
  STRCMP_EQUAL("READY=1\nSTATUS=up", manager->receive(1000ms).c_str());
  CHECK_EQUAL(0, notifier.watchdog_interval().count());
  uplink::test::run_for(io, 50ms);
  STRCMP_EQUAL("", manager->receive(0ms).c_str());
}

TEST(ServiceNotifier, OutsideSystemdNothingIsSent) {
  ::unsetenv("NOTIFY_SOCKET");
  ServiceNotifier notifier(io);
  notifier.ready("up");
  notifier.status("still up");
  notifier.stopping();
  STRCMP_EQUAL("", manager->receive(50ms).c_str());
}
