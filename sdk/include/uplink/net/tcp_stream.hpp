// SPDX-License-Identifier: Apache-2.0
// uplink::net::TcpStream: the plain stream, the socket itself (Stream's
// edge semantics, stream.hpp). The client uses one unless told otherwise.
#pragma once

#include "uplink/net/stream.hpp"

namespace uplink::net {

/// Plain TCP: reads and writes go straight to the socket.
class TcpStream final : public Stream {
 public:
  TcpStream() = default;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  void async_open(TcpSocket& socket, StreamHandler& handler, std::uint32_t tag,
                  std::shared_ptr<void> keep_alive) override;
  void async_read_some(ByteSpan buffer) override;
  void async_write_some(ConstByteSpan bytes) override;
  void async_shutdown() override;
  void close(ConstByteSpan farewell) override;

  [[nodiscard]] std::error_code open_timeout_reason() const override { return {}; }
  [[nodiscard]] std::size_t handler_heap_fallbacks() const override;

 private:
  TcpSocket* socket_ = nullptr;
  StreamHandler* handler_ = nullptr;
  std::uint32_t tag_ = 0;
  std::shared_ptr<void> keep_alive_;
  OpMemory open_memory_;
  OpMemory read_memory_;
  OpMemory write_memory_;
};

}  // namespace uplink::net
