// SPDX-License-Identifier: Apache-2.0
#include "uplink/net/tcp_stream.hpp"

#include <asio/post.hpp>

namespace uplink::net {

void TcpStream::async_open(TcpSocket& socket, StreamHandler& handler, std::uint32_t tag,
                           std::shared_ptr<void> keep_alive) {
  socket_ = &socket;
  handler_ = &handler;
  tag_ = tag;
  keep_alive_ = std::move(keep_alive);
  // Nothing to bring up; posted, never completed inside this call.
  asio::post(socket.get_executor(), detail::with_memory(open_memory_, [this, tag, owner = keep_alive_] {
               handler_->on_stream_open(tag, {});
             }));
}

void TcpStream::async_read_some(ByteSpan buffer) {
  socket_->async_read_some(asio::buffer(buffer.data, buffer.size),
                           detail::with_memory(read_memory_, [this, tag = tag_, owner = keep_alive_](const asio::error_code& error,
                                                                                 std::size_t bytes) {
                             handler_->on_stream_read(tag, stream_error(error), bytes);
                           }));
}

void TcpStream::async_write_some(ConstByteSpan bytes) {
  // One write_some at a time, never the composed asio::async_write: a
  // composed write that outlives its connection would carry on writing the
  // rest of its buffer into the next connection on the same socket object.
  socket_->async_write_some(asio::buffer(bytes.data, bytes.size),
                            detail::with_memory(write_memory_, [this, tag = tag_, owner = keep_alive_](const asio::error_code& error,
                                                                                   std::size_t written) {
                              handler_->on_stream_written(tag, stream_error(error),
                                                          written);
                            }));
}

void TcpStream::async_shutdown() {
  asio::error_code error;
  socket_->shutdown(TcpSocket::shutdown_send, error);
  asio::post(socket_->get_executor(),
             detail::with_memory(write_memory_, [this, tag = tag_, owner = keep_alive_, result = stream_error(error)] {
               handler_->on_stream_shutdown(tag, result);
             }));
}

void TcpStream::close(ConstByteSpan farewell) {
  keep_alive_.reset();
  if (socket_ == nullptr || !socket_->is_open() || farewell.empty()) return;
  // Best effort: a non-blocking write of the last frame straight into the
  // kernel buffer. If it does not fit at once it is dropped; a close must
  // never wait on a link that may be dead.
  asio::error_code ignored;
  socket_->non_blocking(true, ignored);
  socket_->write_some(asio::buffer(farewell.data, farewell.size), ignored);
}

std::size_t TcpStream::handler_heap_fallbacks() const {
  return open_memory_.heap_fallbacks() + read_memory_.heap_fallbacks() + write_memory_.heap_fallbacks();
}

}  // namespace uplink::net
