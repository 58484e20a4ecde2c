// SPDX-License-Identifier: Apache-2.0
// The uplink_server program under a notify socket the test owns
// (NOTIFY_SOCKET, WATCHDOG_USEC), as systemd runs it for
// uplink-server.service: READY=1 once it listens (the port in its STATUS
// accepts a connection), WATCHDOG=1 pets, STOPPING=1 and exit 0 on SIGTERM.
// Host builds only (it starts the program): UPLINK_TEST_SERVER_PROGRAM.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/notify_socket.hpp"

#include <CppUTest/TestHarness.h>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using uplink::test::NotifySocket;

}  // namespace

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
