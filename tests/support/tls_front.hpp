// SPDX-License-Identifier: Apache-2.0
// A TLS front for loopback tests: terminates TLS from the device with the
// SDK's TlsStream (server role) and forwards the plaintext to a plain
// upstream (the ScriptedServer), so every scripted misbehaviour also runs
// over TLS.
// Test support: allocation is fine here. One io_context thread.
#pragma once

#include "uplink/net/asio.hpp"

#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>

#include "uplink/tls/tls_config.hpp"

namespace uplink::test {

class TlsFront {
 public:
  /// Listens on 127.0.0.1 (ephemeral port) and forwards to 127.0.0.1:upstream_port.
  TlsFront(asio::io_context& io, const tls::TlsConfig& server_config, std::uint16_t upstream_port);
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;

  [[nodiscard]] std::uint16_t port() const;
  /// TLS handshakes completed / failed on the server side.
  [[nodiscard]] std::size_t handshakes() const;
  [[nodiscard]] std::size_t failures() const;
  /// Accepts connections but never answers the TLS handshake (a server that
  /// speaks TCP and nothing else).
  void set_mute(bool mute);
  /// Answers each new connection with `junk` (plain bytes, not TLS, e.g. a
  /// text banner) instead of a ServerHello, then keeps it open and silent.
  /// nullptr: back to TLS.
  void set_junk(const char* junk);

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace uplink::test
