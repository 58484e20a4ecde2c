// SPDX-License-Identifier: Apache-2.0
// The Linux port's small pieces, for real: socket tuning on a loopback
// socket (read back with getsockopt), log sinks, device identity.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "uplink/port/device_identity.hpp"
#include "uplink/port/linux/log_sink.hpp"
#include "uplink/port/network_identity.hpp"
#include "uplink/port/socket_tuning.hpp"

#include <CppUTest/TestHarness.h>

namespace {
int option_of(int fd, int level, int name) {
  int value = 0;
  socklen_t size = sizeof value;
  CHECK(getsockopt(fd, level, name, &value, &size) == 0);
  return value;
}
}  // namespace

TEST_GROUP(LinuxPort) {
  int fd = -1;
  void setup() override { fd = socket(AF_INET, SOCK_STREAM, 0); }
  void teardown() override { close(fd); }
};

TEST(LinuxPort, SocketTuningSetsNoDelayUserTimeoutSendBufferAndKeepalive) {
  uplink::port::SocketTuning t;
  t.user_timeout_ms = 1234;
  t.send_buffer_bytes = 8192;
  t.keepalive_idle_s = 45;
  CHECK_FALSE(uplink::port::tune_socket(fd, t));
  CHECK(option_of(fd, IPPROTO_TCP, TCP_NODELAY) != 0);
  LONGS_EQUAL(1234, option_of(fd, IPPROTO_TCP, TCP_USER_TIMEOUT));
  CHECK(option_of(fd, SOL_SOCKET, SO_SNDBUF) >= 8192);  // the kernel doubles it
  CHECK(option_of(fd, SOL_SOCKET, SO_KEEPALIVE) != 0);
  LONGS_EQUAL(45, option_of(fd, IPPROTO_TCP, TCP_KEEPIDLE));
}

TEST(LinuxPort, KeepaliveStaysOffByDefault) {
  CHECK_FALSE(uplink::port::tune_socket(fd, uplink::port::SocketTuning{}));
  LONGS_EQUAL(0, option_of(fd, SOL_SOCKET, SO_KEEPALIVE));
}

TEST(LinuxPort, TuningAClosedDescriptorReportsTheError) {
  CHECK(static_cast<bool>(uplink::port::tune_socket(-1, uplink::port::SocketTuning{})));
}

TEST(LinuxPort, DeviceIdentityIsPrintableAsciiWithoutSpaces) {
  char id[65];
  const std::size_t n = uplink::port::device_identity(id, sizeof id);
  CHECK(n > 0);
  UNSIGNED_LONGS_EQUAL(n, std::strlen(id));
  for (std::size_t i = 0; i < n; ++i) CHECK(id[i] >= 0x21 && id[i] <= 0x7E);
}

TEST(LinuxPort, NetworkIdentityIsAStableKeyOrNothing) {
  // Whatever this machine's routes: a key of printable ASCII without
  // spaces, the same twice in a row, or nothing (no default route).
  char key[64];
  char again[64];
  const std::size_t n = uplink::port::network_identity(key, sizeof key);
  UNSIGNED_LONGS_EQUAL(n, std::strlen(key));
  for (std::size_t i = 0; i < n; ++i) CHECK(key[i] >= 0x21 && key[i] <= 0x7E);
  UNSIGNED_LONGS_EQUAL(n, uplink::port::network_identity(again, sizeof again));
  STRCMP_EQUAL(key, again);
  // Too small a buffer: nothing, never a cut key.
  char tiny[2] = {'x', 'x'};
  const std::size_t small = uplink::port::network_identity(tiny, sizeof tiny);
  CHECK(small == 0 || small == 1);
  if (small == 0) STRCMP_EQUAL("", tiny);
}

TEST(LinuxPort, StderrSinkWritesOneWholeLine) {
  int pipe_fds[2];
  CHECK(pipe(pipe_fds) == 0);
  const int saved = dup(STDERR_FILENO);
  dup2(pipe_fds[1], STDERR_FILENO);
  uplink::port::log_to_stderr(uplink::LogLevel::warning, "link probe");
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(pipe_fds[1]);
  char buffer[128] = {};
  const ssize_t got = read(pipe_fds[0], buffer, sizeof buffer - 1);
  close(pipe_fds[0]);
  CHECK(got > 0);
  STRCMP_EQUAL("uplink warning: link probe\n", buffer);
}

TEST(LinuxPort, SyslogSinkDoesNotBlockWithoutADaemon) {
  // LOG_NDELAY connects at once; with no daemon on /dev/log, syslog(3)
  // drops the line: the sink must neither crash nor wait.
  const auto started = std::chrono::steady_clock::now();
  uplink::port::open_syslog("uplink-test");
  for (int i = 0; i < 100; ++i) uplink::port::log_to_syslog(uplink::LogLevel::info, "hello from the test");
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  CHECK_TEXT(took.count() < 2000, std::to_string(took.count()).c_str());
}

TEST(LinuxPort, EachLevelHasItsSyslogPriority) {
  using uplink::LogLevel;
  LONGS_EQUAL(LOG_ERR, uplink::port::syslog_priority(LogLevel::error));
  LONGS_EQUAL(LOG_WARNING, uplink::port::syslog_priority(LogLevel::warning));
  LONGS_EQUAL(LOG_INFO, uplink::port::syslog_priority(LogLevel::info));
  LONGS_EQUAL(LOG_DEBUG, uplink::port::syslog_priority(LogLevel::debug));
  LONGS_EQUAL(LOG_NOTICE, uplink::port::syslog_priority(static_cast<LogLevel>(0x7f)));
}
