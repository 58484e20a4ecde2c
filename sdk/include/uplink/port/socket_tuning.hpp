// SPDX-License-Identifier: Apache-2.0
// Port contract: socket options a platform applies to every connected socket.
#pragma once

#include <cstdint>
#include <system_error>

namespace uplink::port {

/// What the client wants from the kernel for one connection.
struct SocketTuning {
  /// Send small frames at once (TCP_NODELAY): heartbeats must not wait for Nagle.
  bool no_delay = true;
  /// Let the kernel give up on data unacknowledged for this long
  /// (TCP_USER_TIMEOUT on Linux), matching the client's write timeout, so the
  /// kernel and the client agree that a stalled link is dead. 0 = leave as is.
  std::uint32_t user_timeout_ms = 0;
  /// Kernel send buffer size (SO_SNDBUF) in bytes; 0 = leave as is.
  std::uint32_t send_buffer_bytes = 0;
  /// TCP keepalive as an extra safety net under uplink's own heartbeats:
  /// idle seconds before the first probe (also the probe interval), with
  /// the platform's probe count; 0 = off.
  std::uint32_t keepalive_idle_s = 0;
};

/// Applies `tuning` to the connected TCP socket `native_handle`.
/// Must not block or allocate. Returns the first option that failed (the
/// client logs it and carries on: tuning is an optimisation, not a
/// requirement); an option the platform lacks is skipped silently.
[[nodiscard]] std::error_code tune_socket(int native_handle, const SocketTuning& tuning) noexcept;

}  // namespace uplink::port
