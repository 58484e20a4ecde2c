// SPDX-License-Identifier: Apache-2.0
// Names of frame types and close reasons, for logs and JSON events.
#include "uplink/codec/frame.hpp"

namespace uplink {

const char* frame_type_name(FrameType type) noexcept {
  switch (type) {
    case FrameType::ping: return "PING";
    case FrameType::pong: return "PONG";
    case FrameType::hello: return "HELLO";
    case FrameType::welcome: return "WELCOME";
    case FrameType::data: return "DATA";
    case FrameType::ack: return "ACK";
    case FrameType::close: return "CLOSE";
  }
  return "UNKNOWN";
}

const char* close_reason_name(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::normal: return "normal";
    case CloseReason::protocol_error: return "protocol_error";
    case CloseReason::unsupported_version: return "unsupported_version";
    case CloseReason::frame_too_large: return "frame_too_large";
    case CloseReason::unauthorized: return "unauthorized";
    case CloseReason::silent: return "silent";
    case CloseReason::idle_timeout: return "idle_timeout";
    case CloseReason::going_away: return "going_away";
    case CloseReason::overloaded: return "overloaded";
    case CloseReason::sequence_error: return "sequence_error";
    case CloseReason::session_replaced: return "session_replaced";
  }
  return "unknown";
}

}  // namespace uplink
