// SPDX-License-Identifier: Apache-2.0
// A TlsEngine Transport over a non-blocking socket file descriptor: what
// production uses under Asio (socket.non_blocking(true), then
// fd_transport(socket.native_handle())). POSIX only.
//
// send: ::send(fd, ..., MSG_NOSIGNAL) (a dead peer is an EPIPE error, never
//       a SIGPIPE); EAGAIN / EWOULDBLOCK -> kWouldBlock; EINTR is retried.
// recv: ::recv; 0 -> kEndOfStream; EAGAIN / EWOULDBLOCK -> kWouldBlock;
//       EINTR is retried.
// Other errno values are kTransportError with the errno in the system
// category (ECONNRESET, ETIMEDOUT from TCP_USER_TIMEOUT, ...).
//
// The fd is carried in the context pointer: nothing to keep alive, nothing
// allocated. The descriptor must be non-blocking, or the engine blocks in
// the transport (see tls_engine.hpp).
#pragma once

#include "uplink/tls/tls_engine.hpp"

namespace uplink::tls {

/// A Transport on `fd`. The caller owns (and closes) the descriptor.
[[nodiscard]] Transport fd_transport(int fd) noexcept;

}  // namespace uplink::tls
