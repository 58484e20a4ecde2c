// SPDX-License-Identifier: Apache-2.0
// Byte-driven frame parser (the shape of nats.c's parser.c): each state
// knows how many bytes it still needs, so a frame split across any number of
// reads resumes exactly where it stopped.
//
//   start --0x00--> control_code --0x01/0x02--> frame_ready
//     \--type--> header (flags, u16 length) --> body (length bytes) --> frame_ready
//   any malformed byte --> failed (sticky until reset)
#include "uplink/codec/frame_decoder.hpp"

#include "big_endian.hpp"
#include "uplink/core/device_id.hpp"
#include "uplink/error.hpp"

namespace uplink {
namespace {

bool is_known_type(std::uint8_t type_byte) {
  return type_byte >= wire::kHello && type_byte <= wire::kClose;
}

std::error_code parse_hello(ConstByteSpan body, Hello& out) {
  detail::BigEndianReader r(body);
  out.version = r.u8();
  // A version we do not speak may lay out the rest differently: refuse it
  // before reading further, so the receiver can answer unsupported_version.
  if (!r.failed() && out.version != kProtocolVersion) return make_error_code(Errc::unsupported_version);
  const std::uint8_t id_len = r.u8();
  out.device_id = r.bytes(id_len);
  const std::uint8_t token_len = r.u8();
  out.token = r.bytes(token_len);
  out.heartbeat_ms = r.u32();
  out.session_id = r.u64();
  out.last_downlink_seq = r.u64();
  if (r.failed() || r.remaining() != 0) return make_error_code(Errc::malformed_frame);
  if (id_len == 0 || id_len > kMaxDeviceIdLength || token_len > kMaxTokenLength || out.heartbeat_ms == 0) {
    return make_error_code(Errc::malformed_frame);
  }
  for (std::uint8_t b : out.device_id) {
    if (!is_device_id_byte(b)) return make_error_code(Errc::malformed_frame);
  }
  return {};
}

std::error_code parse_welcome(ConstByteSpan body, Welcome& out) {
  detail::BigEndianReader r(body);
  out.version = r.u8();
  if (!r.failed() && out.version != kProtocolVersion) return make_error_code(Errc::unsupported_version);
  out.heartbeat_ms = r.u32();
  out.session_id = r.u64();
  out.next_uplink_seq = r.u64();
  if (r.failed() || r.remaining() != 0) return make_error_code(Errc::malformed_frame);
  if (out.heartbeat_ms == 0 || out.session_id == 0 || out.next_uplink_seq == 0) {
    return make_error_code(Errc::malformed_frame);
  }
  return {};
}

std::error_code parse_data(ConstByteSpan body, Data& out) {
  detail::BigEndianReader r(body);
  out.seq = r.u64();
  out.payload = r.rest();
  if (r.failed() || out.seq == 0) return make_error_code(Errc::malformed_frame);
  return {};
}

std::error_code parse_ack(ConstByteSpan body, Ack& out) {
  detail::BigEndianReader r(body);
  out.seq = r.u64();
  if (r.failed() || r.remaining() != 0 || out.seq == 0) return make_error_code(Errc::malformed_frame);
  return {};
}

std::error_code parse_close(ConstByteSpan body, Close& out) {
  detail::BigEndianReader r(body);
  out.reason = static_cast<CloseReason>(r.u8());
  out.retry_after_ms = r.u32();
  const std::uint8_t text_len = r.u8();
  out.text = r.bytes(text_len);
  if (r.failed() || r.remaining() != 0) return make_error_code(Errc::malformed_frame);
  return {};
}

}  // namespace

std::error_code parse_frame_body(std::uint8_t type_byte, ConstByteSpan body, Frame& frame) {
  switch (type_byte) {
    case wire::kHello: frame.type = FrameType::hello; return parse_hello(body, frame.hello);
    case wire::kWelcome: frame.type = FrameType::welcome; return parse_welcome(body, frame.welcome);
    case wire::kData: frame.type = FrameType::data; return parse_data(body, frame.data);
    case wire::kAck: frame.type = FrameType::ack; return parse_ack(body, frame.ack);
    case wire::kClose: frame.type = FrameType::close; return parse_close(body, frame.close);
    default: return make_error_code(Errc::unknown_frame_type);
  }
}

void FrameDecoderBase::reset() {
  state_ = State::start;
  filled_ = 0;
  body_size_ = 0;
  error_.clear();
}

FrameDecoderBase::Result FrameDecoderBase::fail(std::error_code error, std::size_t consumed) {
  state_ = State::failed;
  error_ = error;
  return {DecodeStatus::error, consumed};
}

std::error_code FrameDecoderBase::complete_frame() {
  const ConstByteSpan body{storage_ + kFrameHeaderSize, body_size_};
  return parse_frame_body(storage_[0], body, frame_);
}

FrameDecoderBase::Result FrameDecoderBase::feed(ConstByteSpan input) {
  if (state_ == State::failed) return {DecodeStatus::error, 0};
  std::size_t used = 0;
  while (used < input.size) {
    const std::uint8_t byte = input.data[used];
    switch (state_) {
      case State::start:
        ++used;
        if (byte == kControlPrefix) {
          state_ = State::control_code;
          break;
        }
        if (!is_known_type(byte)) return fail(make_error_code(Errc::unknown_frame_type), used);
        storage_[0] = byte;
        filled_ = 1;
        state_ = State::header;
        break;

      case State::control_code:
        ++used;
        state_ = State::start;
        if (byte == wire::kPing) {
          frame_.type = FrameType::ping;
          return {DecodeStatus::frame_ready, used};
        }
        if (byte == wire::kPong) {
          frame_.type = FrameType::pong;
          return {DecodeStatus::frame_ready, used};
        }
        return fail(make_error_code(Errc::unknown_control_frame), used);

      case State::header:
        ++used;
        // The flags byte is checked as soon as it arrives: no reason to read on.
        if (filled_ == 1 && byte != 0) return fail(make_error_code(Errc::reserved_flags_set), used);
        storage_[filled_++] = byte;
        if (filled_ == kFrameHeaderSize) {
          body_size_ = (static_cast<std::size_t>(storage_[2]) << 8) | storage_[3];
          // Refused from the header alone: no body byte of an oversized frame is stored.
          if (kFrameHeaderSize + body_size_ > capacity_) {
            return fail(make_error_code(Errc::frame_too_large), used);
          }
          state_ = State::body;
          if (body_size_ == 0) {
            state_ = State::start;
            if (std::error_code ec = complete_frame()) return fail(ec, used);
            return {DecodeStatus::frame_ready, used};
          }
        }
        break;

      case State::body: {
        const std::size_t wanted = kFrameHeaderSize + body_size_ - filled_;
        const std::size_t available = input.size - used;
        const std::size_t take = wanted < available ? wanted : available;
        std::memcpy(storage_ + filled_, input.data + used, take);
        filled_ += take;
        used += take;
        if (filled_ == kFrameHeaderSize + body_size_) {
          state_ = State::start;
          if (std::error_code ec = complete_frame()) return fail(ec, used);
          return {DecodeStatus::frame_ready, used};
        }
        break;
      }

      case State::failed:
        return {DecodeStatus::error, used};
    }
  }
  return {DecodeStatus::need_more, used};
}

}  // namespace uplink
