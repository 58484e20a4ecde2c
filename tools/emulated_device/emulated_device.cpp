// SPDX-License-Identifier: Apache-2.0
// The emulated device's behaviour and its JSON event lines.
#include "emulated_device.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "board_telemetry.hpp"
#include "json_line.hpp"  // tools/service: the tools' one JSON event writer
#include "uplink/port/random.hpp"

namespace uplink::samples {

using tools::JsonLine;

namespace {
constexpr std::uint32_t kGeneratorTickMs = 20;
}

std::string reason_name(const std::error_code& error) {
  if (error.category() == error_category()) return errc_name(static_cast<Errc>(error.value()));
  return error.message();
}

EmulatedDevice::EmulatedDevice(asio::io_context& io, const DeviceConfig& config, std::uint32_t index,
                               const tls::TlsConfig* tls)
    : io_(io),
      config_(config),
      options_(config.options),
      tls_config_(tls),
      client_(io, *this, port::system_random()),
      generator_(io) {
  if (config.fleet > 1) {
    char id[kMaxDeviceIdLength + 1];
    std::snprintf(id, sizeof id, "%.*s-%04u", static_cast<int>(kMaxDeviceIdLength - 6), config.options.device_id,
                  static_cast<unsigned>(index));
    (void)options_.set_device_id(id);
  }
  payload_.reserve(config.size > 128 ? config.size : 128);
}

bool EmulatedDevice::start() {
  if (tls_config_ != nullptr) {
    const char* name = config_.tls_server_name.empty() ? options_.endpoints[0].host : config_.tls_server_name.c_str();
    if (const std::error_code error = tls_engine_.setup(*tls_config_, name)) {
      std::fprintf(stderr, "uplink_device: TLS setup: %s\n", error.message().c_str());
      return false;
    }
    client_.use_stream(tls_stream_);
  }
  if (!config_.spool_path.empty()) {
    const std::size_t size = config_.spool_size != 0 ? config_.spool_size : Spool::recommended_storage_size();
    SpoolOptions spool_options;
    spool_options.sync = config_.spool_sync == "none"       ? SpoolSync::none
                         : config_.spool_sync == "interval" ? SpoolSync::interval
                                                            : SpoolSync::every_write;
    spool_options.reformat_damaged = config_.spool_reformat_damaged;
    std::error_code error = spool_storage_.open(config_.spool_path.c_str(), size);
    if (!error) error = spool_.open(spool_storage_, spool_options);
    if (!error && spool_.damage().lost_messages()) {
      // Reported whatever the flags: a spool never loses silently.
      const SpoolDamage& damage = spool_.damage();
      std::fprintf(stderr,
                   "uplink_device: --spool %s: %llu messages lost to damage%s in %u damaged stretches; the messages "
                   "after them were recovered\n",
                   config_.spool_path.c_str(), static_cast<unsigned long long>(damage.messages_lost),
                   damage.estimated ? " (at least, estimated)" : "", static_cast<unsigned>(damage.damaged_stretches));
      if (print_events()) {
        JsonLine(now_ms(), "spool_damaged")
            .field("device", options_.device_id)
            .field("messages_lost", damage.messages_lost)
            .field("damaged_stretches", static_cast<std::uint64_t>(damage.damaged_stretches))
            .field("estimated", damage.estimated)
            .print();
      }
      if (config_.strict_spool) {
        spool_lost_messages_ = true;
        return false;
      }
    }
    if (!error) error = client_.attach_spool(spool_);
    if (error) {
      std::fprintf(stderr, "uplink_device: --spool %s: %s\n", config_.spool_path.c_str(), error.message().c_str());
      if (error == Errc::spool_damaged) {
        std::fprintf(stderr,
                     "uplink_device: keep the file for salvage (move it aside) and start afresh, or pass "
                     "--spool-reformat-damaged to format it in place (its messages are lost)\n");
      }
      return false;
    }
    // Messages generated before the restart keep their numbers.
    generated_ = spool_.state().next_message_id - 1;
  }
  if (!config_.heartbeat_state.empty()) {
    // A missing file is a first run; a file of another format is refused.
    std::ifstream in(config_.heartbeat_state, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in && !text.empty() && !client_.load_heartbeats(text.data(), text.size())) {
      std::fprintf(stderr, "uplink_device: --heartbeat-state %s: not a heartbeat state file\n",
                   config_.heartbeat_state.c_str());
      return false;
    }
  }
  const OptionsCheck check = client_.start(options_);
  if (!check) {
    std::fprintf(stderr, "uplink_device: invalid option %s: %s\n", check.field, check.reason);
    return false;
  }
  if (config_.rate_per_s > 0) arm_generator();
  return true;
}

void EmulatedDevice::stop() {
  stopping_ = true;
  generator_.cancel();
  client_.stop();
}

std::uint64_t EmulatedDevice::now_ms() const {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

void EmulatedDevice::arm_generator() {
  generator_armed_ = true;
  generator_.expires_after(std::chrono::milliseconds(kGeneratorTickMs));
  generator_.async_wait([this](const asio::error_code& error) {
    generator_armed_ = false;
    if (error || stopping_) return;
    generate();
    if (!stopping_) arm_generator();
  });
}

void EmulatedDevice::generate() {
  // Done when every message up to --count was generated and acknowledged
  // (counted from the spool across restarts, so not from this process's acks).
  if (config_.count != 0 && generated_ >= config_.count && !have_pending_ && client_.queued() == 0 && !stopping_) {
    if (print_events()) JsonLine(now_ms(), "done").field("device", options_.device_id).field("generated", generated_).print();
    stop();
    return;
  }
  budget_ += config_.rate_per_s * kGeneratorTickMs / 1000.0;
  if (config_.count != 0 && generated_ >= config_.count && !have_pending_) budget_ = 0;
  while (budget_ >= 1.0 || have_pending_) {
    if (!try_send_next()) return;  // refused: the same message is retried next tick
    budget_ = budget_ >= 1.0 ? budget_ - 1.0 : 0;
    if (config_.count != 0 && generated_ >= config_.count) {
      budget_ = 0;
      return;
    }
  }
}

bool EmulatedDevice::try_send_next() {
  if (!have_pending_ && config_.payload == "temperature") {
    payload_ = temperature_payload(options_.device_id, generated_ + 1, config_.board_root);
    have_pending_ = true;
  }
  if (!have_pending_) {
    // The payload says who and which message, padded to the configured size.
    char head[96];
    const int n = std::snprintf(head, sizeof head, "%s #%llu ", options_.device_id,
                                static_cast<unsigned long long>(generated_ + 1));
    payload_.assign(head, static_cast<std::size_t>(n > 0 ? n : 0));
    payload_.resize(config_.size, '.');
    have_pending_ = true;
  }
  std::uint64_t seq = 0;
  const std::error_code error = client_.send(ConstByteSpan{payload_.data(), payload_.size()}, &seq);
  if (error) {
    ++deferred_;
    return false;
  }
  have_pending_ = false;
  ++generated_;
  return true;
}

void EmulatedDevice::on_state(const StateChange& change) {
  if (change.state == ClientState::online) {
    came_online(change.online);
    return;
  }
  if (change.state == ClientState::stopped && change.reason == Errc::retries_exhausted) gave_up_ = true;
  if (!print_events()) {
    if (change.state == ClientState::stopped) {
      finished_ = true;
      save_heartbeat_state();
    }
    return;
  }
  JsonLine line(now_ms(), client_state_name(change.state));
  line.field("device", options_.device_id);
  switch (change.state) {
    case ClientState::connecting:
    case ClientState::handshaking: {
      const Endpoint& ep = options_.endpoints[change.endpoint_index];
      line.field("endpoint", ep.host).field("port", static_cast<std::uint64_t>(ep.port));
      break;
    }
    case ClientState::backing_off:
      line.field("delay_ms", static_cast<std::uint64_t>(change.backoff_delay_ms))
          .field("attempt", static_cast<std::uint64_t>(change.attempt));
      break;
    case ClientState::stopped:
      line.field("reason", reason_name(change.reason).c_str());
      finished_ = true;
      save_heartbeat_state();
      break;
    default:
      break;
  }
  line.print();
}

void EmulatedDevice::save_heartbeat_state() {
  if (config_.heartbeat_state.empty()) return;
  char text[HeartbeatBook::kMaxTextSize];
  const std::size_t n = client_.save_heartbeats(text, sizeof text);
  // Written aside and renamed: a crash mid-write leaves the old file whole.
  const std::string aside = config_.heartbeat_state + ".tmp";
  std::FILE* f = std::fopen(aside.c_str(), "wb");
  const bool written = f != nullptr && std::fwrite(text, 1, n, f) == n;
  if (f != nullptr && std::fclose(f) != 0) f = nullptr;
  if (!written || f == nullptr || std::rename(aside.c_str(), config_.heartbeat_state.c_str()) != 0) {
    std::fprintf(stderr, "uplink_device: --heartbeat-state %s: cannot write it\n", config_.heartbeat_state.c_str());
  }
}

void EmulatedDevice::came_online(const OnlineInfo& info) {
  read_timeout_ms_ = info.read_timeout_ms;
  online_since_ms_ = now_ms();
  if (!print_events()) return;
  JsonLine line(now_ms(), "online");
  line.field("device", options_.device_id)
      .id("session", info.session_id)
      .field("resumed", info.resumed)
      .field("heartbeat_ms", static_cast<std::uint64_t>(info.heartbeat_ms))
      .field("read_timeout_ms", static_cast<std::uint64_t>(info.read_timeout_ms));
  // "resumed" above is the protocol session; this one is the TLS session
  // (an abbreviated handshake), which is about CPU and round trips.
  if (tls_config_ != nullptr) line.field("tls_resumed", tls_engine_.resumed());
  line.print();
}

void EmulatedDevice::on_disconnected(const DisconnectInfo& info) {
  online_since_ms_ = 0;
  const bool dead_link = info.reason == Errc::server_silent || info.reason == Errc::write_timeout ||
                         info.reason == Errc::probe_failed;
  if (info.reason == Errc::server_silent) {
    ++detections_;
    if (info.since_last_rx_ms > max_detection_ms_) max_detection_ms_ = info.since_last_rx_ms;
  }
  if (!print_events()) return;
  JsonLine line(now_ms(), "offline");
  line.field("device", options_.device_id).field("reason", reason_name(info.reason).c_str());
  if (dead_link) {
    line.field("detection_ms", info.since_last_rx_ms).field("bound_ms", static_cast<std::uint64_t>(read_timeout_ms_));
  }
  line.field("online_ms", info.online_ms);
  if (info.closed_by_server) {
    // A reason this build does not know is printed by its number.
    char code[8];
    std::snprintf(code, sizeof code, "0x%02x", static_cast<unsigned>(info.server_reason));
    const char* name = close_reason_name(info.server_reason);
    line.field("server_reason", std::strcmp(name, "unknown") == 0 ? static_cast<const char*>(code) : name)
        .field("retry_after_ms", static_cast<std::uint64_t>(info.retry_after_ms));
  }
  line.print();
}

void EmulatedDevice::on_connect_failed(const ConnectFailure& failure) {
  if (!print_events()) return;
  const Endpoint& ep = options_.endpoints[failure.endpoint_index];
  JsonLine line(now_ms(), "connect_failed");
  line.field("device", options_.device_id)
      .field("endpoint", ep.host)
      .field("port", static_cast<std::uint64_t>(ep.port))
      .field("reason", reason_name(failure.reason).c_str());
  if (failure.reason == Errc::closed_by_server) {
    // Why the server refused the HELLO (unauthorized: the id or token);
    // a reason this build does not know is printed by its number.
    char code[8];
    std::snprintf(code, sizeof code, "0x%02x", static_cast<unsigned>(failure.server_reason));
    const char* name = close_reason_name(failure.server_reason);
    line.field("server_reason", std::strcmp(name, "unknown") == 0 ? static_cast<const char*>(code) : name)
        .field("retry_after_ms", static_cast<std::uint64_t>(failure.retry_after_ms));
  }
  if (failure.cause) line.field("cause", failure.cause.message().c_str());  // the resolver's own words
  line.print();
}

void EmulatedDevice::on_session_reset(const SessionReset& reset) {
  if (!print_events()) return;
  JsonLine(now_ms(), "session_reset")
      .field("device", options_.device_id)
      .id("abandoned_session", reset.abandoned_session_id)
      .field("cause", reset.cause == SessionResetCause::resume_refused  ? "resume_refused"
                      : reset.cause == SessionResetCause::spool_damaged ? "spool_damaged"
                                                                        : "sequence_limit")
      .print();
}

void EmulatedDevice::on_acked(std::uint64_t seq) {
  if (print_events()) JsonLine(now_ms(), "acked").field("device", options_.device_id).field("seq", seq).print();
}

void EmulatedDevice::on_heartbeat(std::uint32_t rtt_ms) {
  if (print_events()) {
    JsonLine(now_ms(), "heartbeat").field("device", options_.device_id).field("rtt_ms", static_cast<std::uint64_t>(rtt_ms)).print();
  }
}

void EmulatedDevice::on_message(std::uint64_t seq, ConstByteSpan payload) {
  if (print_events()) {
    // The head of the payload, so that scripts can check what arrived (the
    // e2e downlink scenarios number their messages); NUL ends it early.
    char head[65];
    const std::size_t n = payload.size < sizeof head - 1 ? payload.size : sizeof head - 1;
    std::memcpy(head, payload.data, n);
    head[n] = '\0';
    JsonLine(now_ms(), "downlink")
        .field("device", options_.device_id)
        .field("seq", seq)
        .field("bytes", static_cast<std::uint64_t>(payload.size))
        .field("payload", static_cast<const char*>(head))
        .print();
  }
}

void EmulatedDevice::on_log(LogLevel level, const char* text) {
  if ((level == LogLevel::error || config_.verbose) && print_events()) {
    const char* name = level == LogLevel::error ? "error" : level == LogLevel::warning ? "warning"
                     : level == LogLevel::info  ? "info"
                                                : "debug";
    JsonLine(now_ms(), "log").field("device", options_.device_id).field("level", name).field("text", text).print();
  }
}

}  // namespace uplink::samples
