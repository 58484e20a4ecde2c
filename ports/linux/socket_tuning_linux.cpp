// SPDX-License-Identifier: Apache-2.0
// Socket tuning on Linux: TCP_NODELAY, SO_SNDBUF, TCP keepalive and TCP_USER_TIMEOUT.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "uplink/port/socket_tuning.hpp"

namespace uplink::port {

std::error_code tune_socket(int native_handle, const SocketTuning& tuning) noexcept {
  if (tuning.no_delay) {
    const int on = 1;
    if (setsockopt(native_handle, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) {
      return {errno, std::generic_category()};
    }
  }
  if (tuning.send_buffer_bytes != 0) {
    const int bytes = static_cast<int>(tuning.send_buffer_bytes);
    if (setsockopt(native_handle, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0) {
      return {errno, std::generic_category()};
    }
  }
  if (tuning.keepalive_idle_s != 0) {
    const int on = 1;
    const int idle = static_cast<int>(tuning.keepalive_idle_s);
    if (setsockopt(native_handle, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0 ||
        setsockopt(native_handle, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) != 0 ||
        setsockopt(native_handle, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle) != 0) {
      return {errno, std::generic_category()};
    }
  }
#if defined(TCP_USER_TIMEOUT)
  if (tuning.user_timeout_ms != 0) {
    const unsigned int timeout = tuning.user_timeout_ms;
    if (setsockopt(native_handle, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout) != 0) {
      return {errno, std::generic_category()};
    }
  }
#endif
  return {};
}

}  // namespace uplink::port
