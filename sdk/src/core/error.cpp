// SPDX-License-Identifier: Apache-2.0
// The "uplink" std::error_category: messages and stable short names.
#include "uplink/error.hpp"

namespace uplink {
namespace {

struct ErrcInfo {
  const char* name;
  const char* message;
};

ErrcInfo info_of(Errc e) noexcept {
  switch (e) {
    case Errc::frame_too_large: return {"frame_too_large", "frame larger than the receiver's maximum"};
    case Errc::unknown_frame_type: return {"unknown_frame_type", "unknown frame type"};
    case Errc::unknown_control_frame: return {"unknown_control_frame", "unknown control frame code"};
    case Errc::reserved_flags_set: return {"reserved_flags_set", "reserved flag bits set"};
    case Errc::malformed_frame: return {"malformed_frame", "frame body does not match its type"};
    case Errc::unsupported_version: return {"unsupported_version", "unsupported protocol version"};
    case Errc::buffer_too_small: return {"buffer_too_small", "output buffer too small for the frame"};
    case Errc::field_too_long: return {"field_too_long", "field longer than the protocol allows"};
    case Errc::invalid_option: return {"invalid_option", "invalid option"};
    case Errc::connect_timeout: return {"connect_timeout", "connect timed out"};
    case Errc::handshake_timeout: return {"handshake_timeout", "handshake timed out"};
    case Errc::server_silent: return {"server_silent", "server silent"};
    case Errc::write_timeout: return {"write_timeout", "write timed out"};
    case Errc::idle_timeout: return {"idle_timeout", "idle timeout"};
    case Errc::closed_by_server: return {"closed_by_server", "closed by server"};
    case Errc::connection_closed: return {"connection_closed", "connection closed by peer"};
    case Errc::protocol_error: return {"protocol_error", "protocol error"};
    case Errc::sequence_error: return {"sequence_error", "sequence number error"};
    case Errc::stopped: return {"stopped", "stopped by the application"};
    case Errc::retries_exhausted: return {"retries_exhausted", "reconnect attempts exhausted"};
    case Errc::resolve_failed: return {"resolve_failed", "could not resolve any endpoint"};
    case Errc::queue_full: return {"queue_full", "outbound queue full"};
    case Errc::not_running: return {"not_running", "client not running"};
    case Errc::offline: return {"offline", "client not online"};
    case Errc::already_running: return {"already_running", "client already running"};
    case Errc::flush_timeout: return {"flush_timeout", "messages still unacknowledged at the flush deadline"};
    case Errc::wrong_thread: return {"wrong_thread", "blocking call on the io_context's thread"};
    case Errc::messages_dropped: return {"messages_dropped", "messages dropped before they were acknowledged"};
    case Errc::ack_timeout: return {"ack_timeout", "messages in flight and no acknowledgement for the ack timeout"};
    case Errc::probe_failed:
      return {"probe_failed", "the link did not answer the probe after a network change"};
    case Errc::spool_damaged:
      return {"spool_damaged", "both spool headers are damaged: refusing to reformat what may hold messages"};
  }
  return {"unknown", "unknown uplink error"};
}

class UplinkCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "uplink"; }
  std::string message(int value) const override {
    return info_of(static_cast<Errc>(value)).message;
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  // A function-local static: constructed once, thread-safe, no heap.
  static const UplinkCategory category;
  return category;
}

const char* errc_name(Errc e) noexcept { return info_of(e).name; }

}  // namespace uplink
