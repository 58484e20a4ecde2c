// SPDX-License-Identifier: Apache-2.0
// fd_transport: non-blocking send/recv on a socket descriptor. See
// fd_transport.hpp.
#include "uplink/tls/fd_transport.hpp"

#include <cerrno>
#include <cstdint>

#include <sys/socket.h>
#include <sys/types.h>

namespace uplink::tls {
namespace {

int fd_of(void* context) { return static_cast<int>(reinterpret_cast<std::intptr_t>(context)); }

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

std::ptrdiff_t fd_send(void* context, const std::uint8_t* data, std::size_t size, std::error_code& error) {
  for (;;) {
    const ssize_t n = ::send(fd_of(context), data, size, MSG_NOSIGNAL);
    if (n > 0) return n;
    if (n == 0) return kWouldBlock;  // not expected for size > 0; wait and retry rather than spin
    if (errno == EINTR) continue;
    if (would_block(errno)) return kWouldBlock;
    error = std::error_code(errno, std::system_category());
    return kTransportError;
  }
}

std::ptrdiff_t fd_recv(void* context, std::uint8_t* data, std::size_t size, std::error_code& error) {
  for (;;) {
    const ssize_t n = ::recv(fd_of(context), data, size, 0);
    if (n > 0) return n;
    if (n == 0) return kEndOfStream;
    if (errno == EINTR) continue;
    if (would_block(errno)) return kWouldBlock;
    error = std::error_code(errno, std::system_category());
    return kTransportError;
  }
}

}  // namespace

Transport fd_transport(int fd) noexcept {
  Transport t;
  t.context = reinterpret_cast<void*>(static_cast<std::intptr_t>(fd));
  t.send = &fd_send;
  t.recv = &fd_recv;
  return t;
}

}  // namespace uplink::tls
