// SPDX-License-Identifier: Apache-2.0
#include "uplink/tls/tls_stream.hpp"

#include <asio/post.hpp>

#include "uplink/error.hpp"
#include "uplink/tls/fd_transport.hpp"

namespace uplink::tls {
namespace {

// An engine error, or the end of the transport when it names none.
std::error_code failure(const TlsResult& result) {
  return result.error ? result.error : make_error_code(Errc::connection_closed);
}

}  // namespace

void TlsStream::async_open(net::TcpSocket& socket, net::StreamHandler& handler, std::uint32_t tag,
                           std::shared_ptr<void> keep_alive) {
  socket_ = &socket;
  handler_ = &handler;
  tag_ = tag;
  keep_alive_ = std::move(keep_alive);
  asio::error_code blocking_error;
  socket.non_blocking(true, blocking_error);  // the engine's transport must never block
  if (blocking_error) {
    complete(Op::open, false, net::stream_error(blocking_error), 0);
    return;
  }
  if (used_) {
    if (const std::error_code reset_error = engine_.reset()) {
      complete(Op::open, false, reset_error, 0);
      return;
    }
  }
  used_ = true;
  engine_.set_transport(fd_transport(socket.native_handle()));
  opening_ = true;
  handshake(false);
}

void TlsStream::async_read_some(ByteSpan buffer) {
  read_buffer_ = buffer;
  read(false);
}

void TlsStream::async_write_some(ConstByteSpan bytes) {
  write_bytes_ = bytes;
  write(false);
}

void TlsStream::async_shutdown() { shutdown(false); }

void TlsStream::close(ConstByteSpan farewell) {
  opening_ = false;
  keep_alive_.reset();
  if (!engine_.handshake_done()) return;
  // Best effort, never waiting: the farewell through TLS unless a pinned
  // write holds the record layer, then close_notify.
  if (!farewell.empty() && !engine_.write_pending()) (void)engine_.write(farewell);
  (void)engine_.close_notify();
}

std::error_code TlsStream::open_timeout_reason() const {
  return opening_ ? make_error_code(TlsErrc::handshake_timeout) : std::error_code{};
}

const char* TlsStream::open_warning() const {
  return engine_.verifies_peer() ? nullptr
                                 : "TLS server verification is OFF (insecure): anyone can impersonate the server";
}

std::size_t TlsStream::handler_heap_fallbacks() const {
  return open_memory_.heap_fallbacks() + read_memory_.heap_fallbacks() + write_memory_.heap_fallbacks();
}

void TlsStream::step(Op op, bool in_completion) {
  switch (op) {
    case Op::open: handshake(in_completion); return;
    case Op::read: read(in_completion); return;
    case Op::write: write(in_completion); return;
    case Op::shutdown: shutdown(in_completion); return;
  }
}

void TlsStream::handshake(bool in_completion) {
  const TlsResult r = engine_.handshake_step();
  if (r.wants_io()) {
    wait(Op::open, r.status);
    return;
  }
  opening_ = false;
  complete(Op::open, in_completion, r.ok() ? std::error_code{} : failure(r), 0);
}

void TlsStream::read(bool in_completion) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const TlsResult r = engine_.read(read_buffer_);
    if (r.ok()) {
      complete(Op::read, in_completion, {}, r.bytes);
      return;
    }
    if (r.wants_io()) {
      // A whole record inside mbedTLS: read it before waiting on a socket
      // that may never become readable for it.
      if (r.status == TlsStatus::want_read && attempt == 0 && engine_.has_pending_input()) continue;
      wait(Op::read, r.status);
      return;
    }
    // closed: the peer's close_notify; error: an end without it, a reset,
    // a bad record. Either way nothing more will be read.
    complete(Op::read, in_completion,
             r.status == TlsStatus::closed ? make_error_code(Errc::connection_closed) : failure(r), 0);
    return;
  }
  wait(Op::read, TlsStatus::want_read);
}

void TlsStream::write(bool in_completion) {
  const TlsResult r = engine_.write(write_bytes_);
  if (r.wants_io()) {
    wait(Op::write, r.status);
    return;
  }
  complete(Op::write, in_completion, r.ok() ? std::error_code{} : failure(r), r.bytes);
}

void TlsStream::shutdown(bool in_completion) {
  const TlsResult r = engine_.close_notify();
  if (r.wants_io()) {
    wait(Op::shutdown, r.status);
    return;
  }
  // Sent, or failed: FIN either way.
  asio::error_code error;
  socket_->shutdown(net::TcpSocket::shutdown_send, error);
  complete(Op::shutdown, in_completion, r.ok() ? net::stream_error(error) : failure(r), 0);
}

void TlsStream::wait(Op op, TlsStatus want) {
  // The owner's deadline bounds every wait: on expiry it closes the
  // socket, which completes the wait with operation_aborted.
  socket_->async_wait(want == TlsStatus::want_write ? net::TcpSocket::wait_write : net::TcpSocket::wait_read,
                      detail::with_memory(memory(op), [this, op, tag = tag_, owner = keep_alive_](const asio::error_code& error) {
                        if (error || tag != tag_) {
                          // A stale wait (its connection is gone) never touches the engine.
                          deliver(*handler_, op, tag,
                                  error ? net::stream_error(error) : make_error_code(Errc::connection_closed), 0);
                          return;
                        }
                        step(op, true);
                      }));
}

void TlsStream::complete(Op op, bool in_completion, std::error_code error, std::size_t bytes) {
  if (in_completion) {
    deliver(*handler_, op, tag_, error, bytes);
    return;
  }
  // Never from inside the call that started the operation.
  asio::post(socket_->get_executor(),
             detail::with_memory(memory(op), [this, op, tag = tag_, owner = keep_alive_, error, bytes] {
               deliver(*handler_, op, tag, error, bytes);
             }));
}

void TlsStream::deliver(net::StreamHandler& handler, Op op, std::uint32_t tag, std::error_code error,
                        std::size_t bytes) {
  switch (op) {
    case Op::open: handler.on_stream_open(tag, error); return;
    case Op::read: handler.on_stream_read(tag, error, bytes); return;
    case Op::write: handler.on_stream_written(tag, error, bytes); return;
    case Op::shutdown: handler.on_stream_shutdown(tag, error); return;
  }
}

net::OpMemory& TlsStream::memory(Op op) {
  switch (op) {
    case Op::open: return open_memory_;
    case Op::read: return read_memory_;
    case Op::write:
    case Op::shutdown: break;
  }
  return write_memory_;
}

}  // namespace uplink::tls
