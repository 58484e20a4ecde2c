// SPDX-License-Identifier: Apache-2.0
// ServiceNotifier (tools/service) against a notify socket the test owns: a
// unix datagram socket standing in for systemd's, named by NOTIFY_SOCKET.
// READY=1 carries the status; WATCHDOG=1 comes every half WATCHDOG_USEC
// while the io loop turns and never while a handler blocks it; STOPPING=1
// ends the pets. With UPLINK_TEST_SERVER_PROGRAM (host builds), the same
// for the uplink_server program: READY=1 once it listens (the port in its
// STATUS accepts a connection), pets, STOPPING=1 and exit 0 on SIGTERM.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "service_notifier.hpp"

#include <asio/post.hpp>

#include "support/run_until.hpp"
#include "support/temp_dir.hpp"

#include <CppUTest/TestHarness.h>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using uplink::tools::ServiceNotifier;

// The service manager's end: a bound unix datagram socket in a fresh directory.
class NotifySocket {
 public:
  NotifySocket() : dir_(uplink::test::make_temp_dir("uplink-notify")) {
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path_.size() < sizeof address.sun_path) std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    bound_ = !dir_.empty() && fd_ >= 0 &&
             ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    uplink::test::remove_temp_dir(dir_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  [[nodiscard]] bool bound() const { return bound_; }
  [[nodiscard]] const std::string& path() const { return path_; }

  /// The next datagram, or "" when none arrives within `timeout`.
  std::string receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return {};
    char buffer[512];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }

  /// The next datagram other than WATCHDOG=1 within `timeout` ("" if none);
  /// counts the pets skipped.
  std::string receive_skipping_pets(std::chrono::milliseconds timeout, int& pets) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int i = 0; i < 10000; ++i) {  // bounded by the deadline too
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      const std::string message = receive(left);
      if (message != "WATCHDOG=1") return message;
      ++pets;
    }
    return {};
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

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

#ifdef UPLINK_TEST_SERVER_PROGRAM
TEST_GROUP(ServerUnderSystemd) {
  NotifySocket* manager = nullptr;
  pid_t pid = -1;

  void setup() override {
    manager = new NotifySocket();
    CHECK_TRUE(manager->bound());
  }
  void teardown() override {
    if (pid > 0) {  // a failed check left it running
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    delete manager;
  }

  // Starts uplink_server on a free loopback port with the service manager's
  // environment; stdin and stdout on /dev/null.
  void start_server() {
    std::vector<std::string> environment = {"NOTIFY_SOCKET=" + manager->path(), "WATCHDOG_USEC=100000"};
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      if (entry.rfind("NOTIFY_SOCKET=", 0) != 0 && entry.rfind("WATCHDOG_", 0) != 0) environment.push_back(entry);
    }
    std::vector<char*> envp;
    for (std::string& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::string program = UPLINK_TEST_SERVER_PROGRAM;
    std::string listen = "--listen";
    std::string address = "127.0.0.1:0";
    std::string stats = "--stats-interval-ms";
    std::string zero = "0";
    char* argv[] = {program.data(), listen.data(), address.data(), stats.data(), zero.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    const int spawned = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    LONGS_EQUAL(0, spawned);
  }

  // The exit status, waiting at most `limit` (polling the notify socket in
  // between, so the wait needs no sleep).
  int wait_exit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    for (int i = 0; i < 100000 && std::chrono::steady_clock::now() < deadline; ++i) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      (void)manager->receive(10ms);
    }
    return -1;
  }
};

TEST(ServerUnderSystemd, SaysReadyOnceItListensPetsTheWatchdogAndSaysStoppingOnSigterm) {
  start_server();
  int pets = 0;
  const std::string ready = manager->receive_skipping_pets(20000ms, pets);
  const std::string prefix = "READY=1\nSTATUS=listening on 127.0.0.1:";
  STRCMP_EQUAL(prefix.c_str(), ready.substr(0, prefix.size()).c_str());
  const int port = std::atoi(ready.c_str() + prefix.size());
  CHECK_TRUE(port > 0 && port < 65536);

  // READY=1 came after the listen: the port accepts a connection now.
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  LONGS_EQUAL(0, ::connect(client, reinterpret_cast<const sockaddr*>(&address), sizeof address));
  ::close(client);

  // WATCHDOG_USEC=100000: a pet every 50 ms, from the server's io loop.
  for (int i = 0; i < 3; ++i) STRCMP_EQUAL("WATCHDOG=1", manager->receive(5000ms).c_str());

  LONGS_EQUAL(0, ::kill(pid, SIGTERM));
  STRCMP_EQUAL("STOPPING=1", manager->receive_skipping_pets(10000ms, pets).c_str());
  LONGS_EQUAL(0, wait_exit(20000ms));
}
#endif
