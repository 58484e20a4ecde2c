// SPDX-License-Identifier: Apache-2.0
// uplink::tls::TlsStream: TLS as a transport layer (net::Stream, with its
// edge semantics: stream.hpp), shared by the client and the reference server.
//
//   uplink::tls::TlsEngine engine;
//   (void)engine.setup(config, "server.example");   // tls_engine.hpp
//   uplink::tls::TlsStream tls(engine);
//   client.use_stream(tls);                         // before start()
//
// mbedTLS does its own socket I/O through non-blocking send/recv on the
// socket's descriptor (Asio's third-party-library pattern, fd_transport.hpp):
// an engine operation that would block reports want_read or want_write; the
// stream waits for THAT readiness with async_wait and calls the same
// operation again. A write that wanted I/O is retried with the very same
// span (the engine pins it; Stream's contract keeps the bytes in place).
// Decrypted bytes already inside mbedTLS are read before waiting on the
// socket, which may never become readable for them.
//
// One engine carries one connection at a time; the stream reset()s it
// before every connection after the first, so a client resumes its TLS
// session on reconnect. engine().stats() are the TLS layer's own counters
// (full and resumed handshakes, bytes).
#pragma once

#include "uplink/net/stream.hpp"
#include "uplink/tls/tls_engine.hpp"

namespace uplink::tls {

/// A net::Stream through a TlsEngine the caller owns and has set up.
class TlsStream final : public net::Stream {
 public:
  /// `engine` must outlive the stream and be set up (setup()) before the
  /// first async_open.
  explicit TlsStream(TlsEngine& engine) : engine_(engine) {}
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  /// Makes the socket non-blocking and runs the handshake. Errors: those
  /// of TlsEngine::handshake_step and reset(), Errc::connection_closed when
  /// the peer hung up mid-handshake.
  void async_open(net::TcpSocket& socket, net::StreamHandler& handler, std::uint32_t tag,
                  std::shared_ptr<void> keep_alive) override;
  /// Errors: Errc::connection_closed when the peer ended the stream (with
  /// or without close_notify), the transport's or mbedTLS's error.
  void async_read_some(ByteSpan buffer) override;
  void async_write_some(ConstByteSpan bytes) override;
  /// close_notify (waiting for the socket if it must), then FIN.
  void async_shutdown() override;
  void close(ConstByteSpan farewell) override;

  /// TlsErrc::handshake_timeout while a handshake runs: the deadline then
  /// ran out inside TLS, which tells an operator to look at the server's
  /// TLS side rather than the network.
  [[nodiscard]] std::error_code open_timeout_reason() const override;
  /// A warning when the engine does not verify the server
  /// (insecure_skip_verify): it follows from the config alone, so it cannot
  /// be forgotten.
  [[nodiscard]] const char* open_warning() const override;
  [[nodiscard]] std::size_t handler_heap_fallbacks() const override;

  /// The engine, for its stats() and the peer's certificate.
  [[nodiscard]] const TlsEngine& engine() const { return engine_; }

 private:
  enum class Op : std::uint8_t { open, read, write, shutdown };

  void step(Op op, bool in_completion);
  void handshake(bool in_completion);
  void read(bool in_completion);
  void write(bool in_completion);
  void shutdown(bool in_completion);
  void wait(Op op, TlsStatus want);
  void complete(Op op, bool in_completion, std::error_code error, std::size_t bytes);
  static void deliver(net::StreamHandler& handler, Op op, std::uint32_t tag, std::error_code error,
                      std::size_t bytes);
  [[nodiscard]] net::OpMemory& memory(Op op);

  TlsEngine& engine_;
  net::TcpSocket* socket_ = nullptr;
  net::StreamHandler* handler_ = nullptr;
  std::uint32_t tag_ = 0;
  std::shared_ptr<void> keep_alive_;
  bool used_ = false;     // the engine has carried a connection: reset() it before the next
  bool opening_ = false;  // a handshake runs (open_timeout_reason)
  ByteSpan read_buffer_;
  ConstByteSpan write_bytes_;  // pinned: a want_* retry passes the very same span
  net::OpMemory open_memory_;
  net::OpMemory read_memory_;
  net::OpMemory write_memory_;
};

}  // namespace uplink::tls
