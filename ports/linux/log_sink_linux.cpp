// SPDX-License-Identifier: Apache-2.0
// Log sinks on Linux: stderr and syslog.
#include <syslog.h>
#include <unistd.h>

#include <cstdio>

#include "uplink/port/linux/log_sink.hpp"

namespace uplink::port {
namespace {

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::error: return "error";
    case LogLevel::warning: return "warning";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
  }
  return "log";
}

bool g_syslog_open = false;

}  // namespace

void log_to_stderr(LogLevel level, const char* text) noexcept {
  char line[320];
  const int n = std::snprintf(line, sizeof line, "uplink %s: %s\n", level_name(level), text);
  if (n <= 0) return;
  const std::size_t size = static_cast<std::size_t>(n) < sizeof line ? static_cast<std::size_t>(n) : sizeof line - 1;
  if (static_cast<std::size_t>(n) >= sizeof line) line[sizeof line - 2] = '\n';
  // One write per line: atomic for pipes up to PIPE_BUF, so lines stay whole.
  const ssize_t ignored = ::write(STDERR_FILENO, line, size);
  (void)ignored;
}

int syslog_priority(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::error: return LOG_ERR;
    case LogLevel::warning: return LOG_WARNING;
    case LogLevel::info: return LOG_INFO;
    case LogLevel::debug: return LOG_DEBUG;
  }
  return LOG_NOTICE;
}

void open_syslog(const char* ident) noexcept {
  ::openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
  g_syslog_open = true;
}

void log_to_syslog(LogLevel level, const char* text) noexcept {
  if (!g_syslog_open) open_syslog("uplink");
  ::syslog(syslog_priority(level), "%s", text);
}

}  // namespace uplink::port
