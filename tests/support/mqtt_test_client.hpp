// SPDX-License-Identifier: Apache-2.0
// A bare MQTT 3.1.1 connection for loopback tests against real brokers: the
// SDK's own transport (a net::Stream: TcpStream, or TlsStream for a TLS
// listener) on an Asio socket, the SDK's MQTT encoder for what it sends and
// its decoder for what it receives, every wait bounded with run_until(). It
// proves the codec on the wire; it is not the client (no keep-alive, no
// retries).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "support/run_until.hpp"
#include "uplink/codec/mqtt_decoder.hpp"
#include "uplink/codec/mqtt_encoder.hpp"
#include "uplink/net/asio.hpp"
#include "uplink/net/stream.hpp"
#include "uplink/net/tcp_stream.hpp"

#include <asio/ip/tcp.hpp>

namespace uplink::test {

class MqttTestConnection final : private net::StreamHandler {
 public:
  /// How long each wait may take.
  static constexpr std::chrono::milliseconds kLimit{5000};

  /// Over plain TCP (the connection's own TcpStream).
  explicit MqttTestConnection(asio::io_context& io) : MqttTestConnection(io, tcp_) {}
  /// Over `stream` (e.g. a TlsStream), which must outlive the connection.
  MqttTestConnection(asio::io_context& io, net::Stream& stream)
      : io_(io), stream_(stream), socket_(io.get_executor()) {}
  MqttTestConnection(const MqttTestConnection&) = delete;
  MqttTestConnection& operator=(const MqttTestConnection&) = delete;
  ~MqttTestConnection() { close(); }

  /// Connects to 127.0.0.1:`port` and opens the stream (a TLS handshake);
  /// false on failure (see error()) or timeout.
  bool connect(std::uint16_t port) {
    bool done = false;
    // Connecting again after close(): nothing of the last connection stays.
    error_ = {};
    decoder_.reset();
    pending_bytes_ = ConstByteSpan{};
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    ++pending_;
    // The socket is the connection's: the completion cannot outlive it (close() drains).
    socket_.async_connect(endpoint, [&done, this](const std::error_code& ec) {
      --pending_;
      if (ec && !error_) error_ = ec;
      done = true;
    });
    if (!run_until_prompt(io_, [&] { return done; }, kLimit) || error_) return fail_timeout_or_error(done);
    opened_ = false;
    ++pending_;
    stream_.async_open(socket_, *this, 1, nullptr);
    if (!run_until_prompt(io_, [&] { return opened_; }, kLimit) || error_) return fail_timeout_or_error(opened_);
    return true;
  }

  /// Sends what `encode` writes into a 1 KiB buffer; false when it refuses
  /// or the write fails.
  template <typename Encode>
  bool send(Encode&& encode) {
    std::uint8_t bytes[1024];
    const EncodeResult r = encode(ByteSpan{bytes, sizeof bytes});
    if (r.error) return false;
    // The bytes live on this frame: each write completes before it returns.
    for (std::size_t sent = 0; sent < r.size;) {
      written_ = 0;
      wrote_ = false;
      ++pending_;
      stream_.async_write_some(ConstByteSpan{bytes + sent, r.size - sent});
      if (!run_until_prompt(io_, [&] { return wrote_; }, kLimit) || error_) return fail_timeout_or_error(wrote_);
      sent += written_;
    }
    return true;
  }

  /// Reads until the decoder yields a packet; null on timeout, a closed
  /// connection or a decoding error (see error()).
  const mqtt::Packet* receive() { return receive_within(kLimit, true); }

  /// Like receive(), waiting at most `limit`; on a timeout returns null
  /// with error() empty and the connection open when `close_on_timeout` is
  /// false (the read stays pending, the next call continues it).
  const mqtt::Packet* receive_within(std::chrono::milliseconds limit, bool close_on_timeout) {
    for (int reads = 0; reads < 1000; ++reads) {
      if (const mqtt::Packet* p = receive_buffered(); p != nullptr || error_) return p;
      if (!reading_) {
        got_ = 0;
        read_ = false;
        reading_ = true;
        ++pending_;
        // rx_ is the connection's: pending_bytes_ views it once the read completed.
        stream_.async_read_some(ByteSpan{rx_, sizeof rx_});
      }
      if (!run_until_prompt(io_, [&] { return read_; }, limit) || error_) {
        if (!read_ && !close_on_timeout) return nullptr;
        fail_timeout_or_error(read_);
        return nullptr;
      }
    }
    return nullptr;
  }

  /// The next packet among the bytes already read, without reading more;
  /// null when they hold no complete packet (or on a decoding error, see
  /// error()). Lets a reader take every packet of one read in one go.
  const mqtt::Packet* receive_buffered() {
    if (pending_bytes_.size == 0) return nullptr;
    const mqtt::DecoderBase::Result r = decoder_.feed(pending_bytes_);
    pending_bytes_ = pending_bytes_.subspan(r.consumed);
    if (r.status == DecodeStatus::frame_ready) return &decoder_.packet();
    if (r.status == DecodeStatus::error) error_ = decoder_.error();
    return nullptr;
  }

  /// Why the last call failed.
  [[nodiscard]] std::error_code error() const { return error_; }

  /// Ends the connection and waits (bounded) until no completion is pending.
  void close() {
    stream_.close(ConstByteSpan{});
    std::error_code ignored;
    socket_.close(ignored);
    run_until(io_, [&] { return pending_ == 0; }, kLimit);
  }

 private:
  void on_stream_open(std::uint32_t, std::error_code error) override {
    --pending_;
    if (error && !error_) error_ = error;  // the first error stays: a close() aborts the rest
    opened_ = true;
  }
  void on_stream_read(std::uint32_t, std::error_code error, std::size_t bytes) override {
    --pending_;
    reading_ = false;
    if (error && !error_) error_ = error;
    got_ = bytes;
    read_ = true;
    // A read starts only once the bytes before were all decoded; these are
    // taken even when the reader stopped waiting (receive_within()).
    pending_bytes_ = ConstByteSpan{rx_, error ? 0 : bytes};
  }
  void on_stream_written(std::uint32_t, std::error_code error, std::size_t bytes) override {
    --pending_;
    if (error && !error_) error_ = error;
    written_ = bytes;
    wrote_ = true;
  }

  bool fail_timeout_or_error(bool completed) {
    if (!completed) error_ = std::make_error_code(std::errc::timed_out);
    close();
    return false;
  }

  asio::io_context& io_;
  net::TcpStream tcp_;
  net::Stream& stream_;
  net::TcpSocket socket_;
  mqtt::Decoder<4096> decoder_;
  // Large enough to take many small packets per read (a fast reader).
  std::uint8_t rx_[16384] = {};
  ConstByteSpan pending_bytes_;
  std::error_code error_;
  int pending_ = 0;
  bool opened_ = false;
  bool read_ = false;
  bool reading_ = false;  // a read is pending (receive_within() may leave one)
  bool wrote_ = false;
  std::size_t got_ = 0;
  std::size_t written_ = 0;
};

}  // namespace uplink::test
