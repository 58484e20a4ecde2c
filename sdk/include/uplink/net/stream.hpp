// SPDX-License-Identifier: Apache-2.0
// uplink::net::Stream: the transport seam. A byte stream layered on a
// connected TCP socket (plain TCP, TLS, tomorrow a WebSocket or a serial
// link), driven by the client shell and by the reference server alike.
//
// The owner connects the socket (its own resolver, deadlines and socket
// options), then hands it to a stream for one connection:
//
//   stream.async_open(socket, handler, tag, keep_alive) -> handler.on_stream_open(tag, error)
//   stream.async_read_some(buffer)            -> handler.on_stream_read(tag, error, bytes)
//   stream.async_write_some(bytes)            -> handler.on_stream_written(tag, error, bytes)
//   stream.async_shutdown()                   -> handler.on_stream_shutdown(tag, error)
//   stream.close(farewell); socket.close();   (no completion: best effort, never waits)
//
// Edge semantics, which every stream keeps and its owner relies on:
//  - At most one open, one read, one write and one shutdown in flight; a
//    read and a write may be in flight together.
//  - Every operation completes exactly once, with the tag of the async_open
//    it belongs to, and never from inside the call that started it (an
//    immediate result is posted), so an owner can start the next operation
//    from a completion without re-entering itself.
//  - Closing the socket completes what is in flight with an error (usually
//    asio::error::operation_aborted); the owner recognises stale
//    completions by their tag.
//  - The bytes given to async_write_some stay untouched and in place until
//    its completion: a TLS stream retries the very same span.
//  - A read completes with >= 1 byte, or an error; the end of the stream is
//    Errc::connection_closed, socket errors are std::system_category codes.
//  - Completions run on the socket's io_context thread; operations are
//    started on it too. No operation allocates after the first connection
//    (handler memory is preallocated, per kind of operation).
//  - The stream and its handler must outlive the operations in flight.
//    Either the owner waits for every completion before destroying them
//    (the client: quiescent()), or it passes `keep_alive` to async_open,
//    typically its own shared_ptr: every pending completion then holds a
//    copy, and releases it only after its handler memory is returned
//    (Asio's custom-allocation pattern), so an owner that lives in a
//    shared_ptr stays alive until its last completion has run, even when
//    the io_context is destroyed with operations still queued. close()
//    drops the stream's own copy, so an owner never keeps itself alive.
#pragma once

#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>

#include "uplink/core/byte_span.hpp"
#include "uplink/net/asio.hpp"
#include "uplink/net/handler_memory.hpp"

namespace uplink::net {

/// The io_context's own executor type rather than any_io_executor: then
/// completions never pass through a type-erased function object, which
/// would allocate (seen without RTTI).
using Executor = asio::io_context::executor_type;
/// The socket every stream is layered on.
using TcpSocket = asio::basic_stream_socket<asio::ip::tcp, Executor>;

/// Preallocated handler memory for one kind of stream operation: a wait or
/// a read in flight, plus a cancelled one whose completion is still queued.
using OpMemory = detail::HandlerMemory<256, 3>;

/// An Asio error as the stream reports it: "the peer or the network ended
/// the connection" (eof, reset, broken pipe, aborted by the peer) is
/// Errc::connection_closed; other socket errors are handed on in the
/// standard system category (on POSIX Asio's values are errno values), so
/// comparisons with std::errc work.
[[nodiscard]] std::error_code stream_error(const asio::error_code& error);

/// Receives one stream's completions (see the file comment).
class StreamHandler {
 public:
  /// The layer is up (a TLS handshake done), or failed with `error`.
  virtual void on_stream_open(std::uint32_t tag, std::error_code error) = 0;
  /// `bytes` (>= 1) arrived in the buffer of async_read_some, or `error`.
  virtual void on_stream_read(std::uint32_t tag, std::error_code error, std::size_t bytes) = 0;
  /// `bytes` (>= 1) of the span of async_write_some were sent, or `error`.
  virtual void on_stream_written(std::uint32_t tag, std::error_code error, std::size_t bytes) = 0;
  /// The send side is closed (TLS: close_notify sent, then FIN), or `error`.
  virtual void on_stream_shutdown(std::uint32_t tag, std::error_code error) {
    (void)tag;
    (void)error;
  }

 protected:
  ~StreamHandler() = default;
};

/// A byte stream over a connected TCP socket. See the file comment.
class Stream {
 public:
  virtual ~Stream() = default;

  /// Takes `socket` (connected, and open until the owner closes it) for one
  /// connection and brings the layer up; reports to `handler` with `tag`.
  /// `keep_alive` (may be empty) is held by every completion of this
  /// connection until it has run (see the file comment).
  virtual void async_open(TcpSocket& socket, StreamHandler& handler, std::uint32_t tag,
                          std::shared_ptr<void> keep_alive) = 0;
  /// Reads at least one byte into `buffer`, which stays valid until the completion.
  virtual void async_read_some(ByteSpan buffer) = 0;
  /// Writes at least one byte of `bytes`, which stay valid and unchanged until the completion.
  virtual void async_write_some(ConstByteSpan bytes) = 0;
  /// Closes the send side gracefully once everything written has gone out.
  virtual void async_shutdown() = 0;
  /// Ends the connection without waiting: `farewell` (a last frame, may be
  /// empty) goes out only if it fits at once and no write is half done,
  /// then the layer's own goodbye (TLS close_notify), best effort. The
  /// owner closes the socket afterwards. Drops the stream's copy of
  /// async_open's `keep_alive`.
  virtual void close(ConstByteSpan farewell) = 0;

  /// Why an open still running at the owner's connect deadline failed: a
  /// TLS handshake timeout, for example; empty when no open is running.
  [[nodiscard]] virtual std::error_code open_timeout_reason() const = 0;
  /// A warning the owner logs on every open, e.g. that TLS does not verify
  /// the server; nullptr when there is none.
  [[nodiscard]] virtual const char* open_warning() const { return nullptr; }
  /// Handler allocations that missed the preallocated blocks (should stay 0).
  [[nodiscard]] virtual std::size_t handler_heap_fallbacks() const = 0;
};

}  // namespace uplink::net
