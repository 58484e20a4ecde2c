// SPDX-License-Identifier: Apache-2.0
// A bare MQTT 3.1.1 connection for loopback tests against real brokers: an
// Asio TCP socket, the SDK's MQTT encoder for what it sends and its decoder
// for what it receives, every wait bounded with run_until(). It proves the
// codec on the wire; it is not the client (no keep-alive, no retries).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "support/run_until.hpp"
#include "uplink/codec/mqtt_decoder.hpp"
#include "uplink/codec/mqtt_encoder.hpp"
#include "uplink/net/asio.hpp"

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

namespace uplink::test {

class MqttTestConnection {
 public:
  /// How long each wait may take.
  static constexpr std::chrono::milliseconds kLimit{5000};

  explicit MqttTestConnection(asio::io_context& io) : io_(io), socket_(io) {}

  /// Connects to 127.0.0.1:`port`; false on failure or timeout.
  bool connect(std::uint16_t port) {
    bool done = false;
    std::error_code result;
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    // A connect that does not finish in time is abandoned with the socket.
    socket_.async_connect(endpoint, [&](const std::error_code& ec) {
      result = ec;
      done = true;
    });
    if (!run_until(io_, [&] { return done; }, kLimit)) return false;
    return !result;
  }

  /// Sends what `encode` writes into a 1 KiB buffer; false when it refuses or the write fails.
  template <typename Encode>
  bool send(Encode&& encode) {
    std::uint8_t bytes[1024];
    const EncodeResult r = encode(ByteSpan{bytes, sizeof bytes});
    if (r.error) return false;
    bool done = false;
    std::error_code result;
    // The bytes live on this frame: run_until() returns only once the write completed.
    asio::async_write(socket_, asio::buffer(bytes, r.size), [&](const std::error_code& ec, std::size_t) {
      result = ec;
      done = true;
    });
    if (!run_until(io_, [&] { return done; }, kLimit)) {
      socket_.close();
      run_until(io_, [&] { return done; }, kLimit);
      return false;
    }
    return !result;
  }

  /// Reads until the decoder yields a packet; null on timeout, a closed
  /// connection or a decoding error (see error()).
  const mqtt::Packet* receive() {
    for (int reads = 0; reads < 1000; ++reads) {
      if (pending_.size != 0) {
        const mqtt::DecoderBase::Result r = decoder_.feed(pending_);
        pending_ = pending_.subspan(r.consumed);
        if (r.status == DecodeStatus::frame_ready) return &decoder_.packet();
        if (r.status == DecodeStatus::error) {
          error_ = decoder_.error();
          return nullptr;
        }
      }
      bool done = false;
      std::size_t got = 0;
      // The read fills rx_, which pending_ views once it completed.
      socket_.async_read_some(asio::buffer(rx_, sizeof rx_), [&](const std::error_code& ec, std::size_t n) {
        error_ = ec;
        got = n;
        done = true;
      });
      if (!run_until(io_, [&] { return done; }, kLimit)) {
        socket_.close();
        run_until(io_, [&] { return done; }, kLimit);
        error_ = std::make_error_code(std::errc::timed_out);
        return nullptr;
      }
      if (error_) return nullptr;
      pending_ = ConstByteSpan{rx_, got};
    }
    return nullptr;
  }

  /// Why the last receive() returned null.
  [[nodiscard]] std::error_code error() const { return error_; }
  /// Closes the socket.
  void close() {
    std::error_code ignored;
    socket_.close(ignored);
  }

 private:
  asio::io_context& io_;
  asio::ip::tcp::socket socket_;
  mqtt::Decoder<4096> decoder_;
  std::uint8_t rx_[512] = {};
  ConstByteSpan pending_;
  std::error_code error_;
};

}  // namespace uplink::test
