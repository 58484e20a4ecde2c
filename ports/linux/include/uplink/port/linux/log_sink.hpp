// SPDX-License-Identifier: Apache-2.0
// The Linux port's log sinks. The client hands its lines to
// Listener::on_log; an application that wants them on the platform's log
// forwards them to one of these (or its own sink).
#pragma once

#include "uplink/listener.hpp"

namespace uplink::port {

/// Writes one line to standard error, prefixed with the level. One write(2)
/// per line (lines from several threads do not interleave); no allocation.
void log_to_stderr(LogLevel level, const char* text) noexcept;

/// Sends one line to syslog with the matching priority (LOG_ERR, LOG_WARNING,
/// LOG_INFO, LOG_DEBUG) under the identity given to the first call of
/// open_syslog(), or "uplink". No allocation after open_syslog().
void log_to_syslog(LogLevel level, const char* text) noexcept;

/// The syslog priority log_to_syslog() gives a level: LOG_ERR, LOG_WARNING,
/// LOG_INFO, LOG_DEBUG; LOG_NOTICE for a value outside the enum.
[[nodiscard]] int syslog_priority(LogLevel level) noexcept;

/// Opens the syslog connection with `ident` (kept by pointer: pass a string
/// that lives as long as the program) and facility LOG_DAEMON.
void open_syslog(const char* ident) noexcept;

}  // namespace uplink::port
