// SPDX-License-Identifier: Apache-2.0
// One emulated device: an uplink::Client plus a message generator, printing
// one JSON line per event. Many of them can share one io_context (fleet mode).
#pragma once

#include <cstdint>
#include <string>

#include "uplink/net/asio.hpp"

#include <asio/steady_timer.hpp>

#include "device_config.hpp"
#include "uplink/client.hpp"
#include "uplink/core/spool.hpp"
#include "uplink/port/linux/file_spool_storage.hpp"
#include "uplink/tls/tls_config.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_stream.hpp"

namespace uplink::samples {

class EmulatedDevice final : public Listener {
 public:
  /// `index` (from 1) suffixes the device id in fleet mode. `tls` (shared by
  /// a fleet) is null for plain TCP.
  EmulatedDevice(asio::io_context& io, const DeviceConfig& config, std::uint32_t index,
                 const tls::TlsConfig* tls = nullptr);

  /// Starts the client and the generator. Returns false (after printing why) on refusal.
  bool start();
  /// start() failed because the spool lost messages to damage and --strict-spool was given.
  bool spool_lost_messages() const { return spool_lost_messages_; }
  /// Stops generating and stops the client.
  void stop();
  /// The network moved (port::NetworkMonitor): probe the link now.
  void network_changed() { client_.network_changed(); }

  [[nodiscard]] bool finished() const { return finished_; }
  /// The client stopped on its own: its reconnect attempts ran out (--max-attempts).
  [[nodiscard]] bool gave_up() const { return gave_up_; }
  [[nodiscard]] bool quiescent() const { return client_.quiescent() && !generator_armed_; }
  [[nodiscard]] const Client& client() const { return client_; }
  /// The TLS layer's own counters (all zero without --tls-ca).
  [[nodiscard]] const tls::TlsStats& tls_stats() const { return tls_engine_.stats(); }
  [[nodiscard]] const char* device_id() const { return options_.device_id; }
  [[nodiscard]] std::uint64_t generated() const { return generated_; }
  [[nodiscard]] std::uint64_t deferred() const { return deferred_; }
  [[nodiscard]] std::uint64_t max_detection_ms() const { return max_detection_ms_; }
  [[nodiscard]] std::uint64_t detections() const { return detections_; }
  [[nodiscard]] std::uint32_t read_timeout_ms() const { return read_timeout_ms_; }
  [[nodiscard]] std::uint64_t online_since_ms() const { return online_since_ms_; }

  // Listener
  void on_state(const StateChange& change) override;
  void on_disconnected(const DisconnectInfo& info) override;
  void on_connect_failed(const ConnectFailure& failure) override;
  void on_acked(std::uint64_t seq) override;
  void on_session_reset(const SessionReset& reset) override;
  void on_heartbeat(std::uint32_t rtt_ms) override;
  void on_message(std::uint64_t seq, ConstByteSpan payload) override;
  void on_log(LogLevel level, const char* text) override;

 private:
  void came_online(const OnlineInfo& info);
  void arm_generator();
  void generate();
  bool try_send_next();
  void save_heartbeat_state();
  std::uint64_t now_ms() const;
  bool print_events() const { return config_.json && config_.fleet == 1; }

  asio::io_context& io_;
  const DeviceConfig& config_;
  Options options_;
  const tls::TlsConfig* tls_config_;
  tls::TlsEngine tls_engine_;
  tls::TlsStream tls_stream_{tls_engine_};  // the client's transport with --tls-ca
  port::FileSpoolStorage spool_storage_;
  Spool spool_;
  bool spool_lost_messages_ = false;
  Client client_;
  asio::steady_timer generator_;
  bool generator_armed_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  bool gave_up_ = false;
  double budget_ = 0;  // messages owed by the rate so far
  std::uint64_t generated_ = 0;
  std::uint64_t deferred_ = 0;  // send() refused (store full): the message is kept and retried
  bool have_pending_ = false;
  std::uint64_t max_detection_ms_ = 0;
  std::uint64_t detections_ = 0;
  std::uint32_t read_timeout_ms_ = 0;
  std::uint64_t online_since_ms_ = 0;
  std::string payload_;
};

/// Short name of an error for JSON lines.
std::string reason_name(const std::error_code& error);

}  // namespace uplink::samples
