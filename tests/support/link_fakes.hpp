// SPDX-License-Identifier: Apache-2.0
// Test doubles around uplink::Link: a recording LinkIo, a recording
// Listener, a scripted RandomSource, a "server" that feeds encoded frames to
// the session, and a "device wire" that writes what the session has pending
// and decodes it back into frames.
//
// Everything here is plain, deterministic and driven by the test's virtual
// clock: no sockets, no threads, no real time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <system_error>
#include <vector>

#include "support/frame_compare.hpp"
#include "uplink/codec/frame.hpp"
#include "uplink/codec/frame_decoder.hpp"
#include "uplink/codec/frame_encoder.hpp"
#include "uplink/core/random_source.hpp"
#include "uplink/core/link.hpp"
#include "uplink/error.hpp"
#include "uplink/listener.hpp"

namespace uplink::test {

using Bytes = std::vector<std::uint8_t>;

inline ConstByteSpan span_of(const Bytes& bytes) { return {bytes.data(), bytes.size()}; }

inline Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// Stable name of any error code: errc_name() for uplink's own codes,
/// "<category>:<value>" for the others, "ok" for success. Lets tests compare
/// errors with STRCMP_EQUAL and get readable failures.
inline std::string error_name(std::error_code ec) {
  if (!ec) return "ok";
  if (ec.category() == error_category()) return errc_name(static_cast<Errc>(ec.value()));
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value());
}

// ------------------------------------------------------------- frames

/// One decoded frame with owned copies of every byte field (a decoded
/// uplink::Frame only holds views into the decoder's buffer).
struct WireFrame {
  FrameType type = FrameType::ping;
  // HELLO / WELCOME
  std::uint8_t version = 0;
  std::string device_id;
  std::string token;
  std::uint32_t heartbeat_ms = 0;
  std::uint64_t session_id = 0;
  std::uint64_t last_downlink_seq = 0;
  std::uint64_t next_uplink_seq = 0;
  // DATA / ACK
  std::uint64_t seq = 0;
  std::string payload;
  // CLOSE
  CloseReason close_reason = CloseReason::normal;
  std::uint32_t retry_after_ms = 0;
  std::string text;
};

inline std::string to_string(ConstByteSpan bytes) {
  return bytes.empty() ? std::string() : std::string(reinterpret_cast<const char*>(bytes.data), bytes.size);
}

inline WireFrame to_wire_frame(const Frame& f) {
  WireFrame w;
  w.type = f.type;
  switch (f.type) {
    case FrameType::ping:
    case FrameType::pong: break;
    case FrameType::hello:
      w.version = f.hello.version;
      w.device_id = to_string(f.hello.device_id);
      w.token = to_string(f.hello.token);
      w.heartbeat_ms = f.hello.heartbeat_ms;
      w.session_id = f.hello.session_id;
      w.last_downlink_seq = f.hello.last_downlink_seq;
      break;
    case FrameType::welcome:
      w.version = f.welcome.version;
      w.heartbeat_ms = f.welcome.heartbeat_ms;
      w.session_id = f.welcome.session_id;
      w.next_uplink_seq = f.welcome.next_uplink_seq;
      break;
    case FrameType::data:
      w.seq = f.data.seq;
      w.payload = to_string(f.data.payload);
      break;
    case FrameType::ack: w.seq = f.ack.seq; break;
    case FrameType::close:
      w.close_reason = f.close.reason;
      w.retry_after_ms = f.close.retry_after_ms;
      w.text = to_string(f.close.text);
      break;
  }
  return w;
}

/// Decodes a byte stream made of whole frames. `ok` becomes false on a
/// decode error or a trailing partial frame.
inline std::vector<WireFrame> decode_frames(ConstByteSpan bytes, bool& ok) {
  std::vector<WireFrame> frames;
  FrameDecoder<> decoder;
  ok = true;
  while (!bytes.empty()) {
    const FrameDecoderBase::Result r = decoder.feed(bytes);
    bytes = bytes.subspan(r.consumed);
    if (r.status == DecodeStatus::error) {
      ok = false;
      return frames;
    }
    if (r.status == DecodeStatus::frame_ready) frames.push_back(to_wire_frame(decoder.frame()));
  }
  if (decoder.mid_frame()) ok = false;
  return frames;
}

inline std::vector<WireFrame> decode_frames(const Bytes& bytes) {
  bool ok = true;
  std::vector<WireFrame> frames = decode_frames(span_of(bytes), ok);
  if (!ok) frames.clear();
  return frames;
}

/// "HELLO,PING,DATA": the types of `frames`, for one-line assertions.
inline std::string type_names(const std::vector<WireFrame>& frames) {
  std::string names;
  for (const WireFrame& f : frames) {
    if (!names.empty()) names += ",";
    names += frame_type_name(f.type);
  }
  return names;
}

inline std::size_t count_type(const std::vector<WireFrame>& frames, FrameType type) {
  std::size_t n = 0;
  for (const WireFrame& f : frames) n += f.type == type ? 1 : 0;
  return n;
}

// Encoders of what a server sends (and of a HELLO, which it must not).

inline Bytes encode_to_bytes(const Frame& frame) {
  Bytes out(kMaxFrameSize + 16);
  const EncodeResult r = encode_frame(frame, ByteSpan{out.data(), out.size()});
  out.resize(r.error ? 0 : r.size);
  return out;
}

inline Bytes ping_frame() {
  Frame f;
  f.type = FrameType::ping;
  return encode_to_bytes(f);
}

inline Bytes pong_frame() {
  Frame f;
  f.type = FrameType::pong;
  return encode_to_bytes(f);
}

inline Bytes welcome_frame(std::uint64_t session_id, std::uint32_t heartbeat_ms, std::uint64_t next_uplink_seq = 1) {
  Frame f;
  f.type = FrameType::welcome;
  f.welcome.heartbeat_ms = heartbeat_ms;
  f.welcome.session_id = session_id;
  f.welcome.next_uplink_seq = next_uplink_seq;
  return encode_to_bytes(f);
}

inline Bytes data_frame(std::uint64_t seq, const std::string& payload) {
  Frame f;
  f.type = FrameType::data;
  f.data.seq = seq;
  f.data.payload = ConstByteSpan{payload.data(), payload.size()};
  return encode_to_bytes(f);
}

inline Bytes ack_frame(std::uint64_t seq) {
  Frame f;
  f.type = FrameType::ack;
  f.ack.seq = seq;
  return encode_to_bytes(f);
}

inline Bytes close_frame(CloseReason reason, std::uint32_t retry_after_ms = 0, const std::string& text = "") {
  Frame f;
  f.type = FrameType::close;
  f.close.reason = reason;
  f.close.retry_after_ms = retry_after_ms;
  f.close.text = ConstByteSpan{text.data(), text.size()};
  return encode_to_bytes(f);
}

inline Bytes hello_frame(const std::string& device_id, std::uint32_t heartbeat_ms, std::uint64_t session_id = 0,
                         std::uint64_t last_downlink_seq = 0) {
  Frame f;
  f.type = FrameType::hello;
  f.hello.device_id = ConstByteSpan{device_id.data(), device_id.size()};
  f.hello.heartbeat_ms = heartbeat_ms;
  f.hello.session_id = session_id;
  f.hello.last_downlink_seq = last_downlink_seq;
  return encode_to_bytes(f);
}

/// A first byte that names no frame type: the decoder fails with unknown_frame_type.
inline Bytes garbage_bytes() { return Bytes{0x66, 0x6F, 0x6F, 0x0A}; }

// ------------------------------------------------------------- LinkIo

/// Records what the session asks of its I/O shell, with the session's
/// generation at the time of each call.
class FakeIo final : public LinkIo {
 public:
  struct Open {
    std::size_t endpoint_index = 0;
    std::string host;
    std::uint16_t port = 0;
    Link::Generation generation = 0;
  };
  struct Close {
    Link::Generation generation = 0;
    Bytes farewell;
  };

  /// The session whose generation the records carry (set before start()).
  void attach(const Link& link) { link_ = &link; }

  void open_transport(std::size_t endpoint_index, const Endpoint& endpoint) override {
    Open o;
    o.endpoint_index = endpoint_index;
    o.host = endpoint.host;
    o.port = endpoint.port;
    o.generation = link_ != nullptr ? link_->generation() : 0;
    opens.push_back(o);
  }

  void close_transport(ConstByteSpan farewell) override {
    Close c;
    c.generation = link_ != nullptr ? link_->generation() : 0;
    c.farewell.assign(farewell.begin(), farewell.end());
    closes.push_back(c);
  }

  [[nodiscard]] std::size_t closes_of(Link::Generation generation) const {
    std::size_t n = 0;
    for (const Close& c : closes) n += c.generation == generation ? 1 : 0;
    return n;
  }

  /// The frames of the last farewell (empty when there was none).
  [[nodiscard]] std::vector<WireFrame> last_farewell() const {
    if (closes.empty()) return {};
    return decode_frames(closes.back().farewell);
  }

  /// Close exactly once: every opened generation was closed exactly once,
  /// except the session's live one (not closed yet), and nothing else was
  /// closed. Returns an empty string when that holds, else what broke.
  [[nodiscard]] std::string close_once_violation() const {
    for (const Close& c : closes) {
      bool opened = false;
      for (const Open& o : opens) opened = opened || o.generation == c.generation;
      if (!opened) return "closed generation " + std::to_string(c.generation) + " that was never opened";
    }
    for (const Open& o : opens) {
      const bool live = link_ != nullptr && link_->transport_active() && link_->generation() == o.generation;
      const std::size_t expected = live ? 0 : 1;
      const std::size_t n = closes_of(o.generation);
      if (n != expected) {
        return "generation " + std::to_string(o.generation) + " closed " + std::to_string(n) + " times, expected " +
               std::to_string(expected);
      }
    }
    return "";
  }

  std::vector<Open> opens;
  std::vector<Close> closes;

 private:
  const Link* link_ = nullptr;
};

// ------------------------------------------------------------- Listener

struct ReceivedMessage {
  std::uint64_t seq = 0;
  std::string payload;
};

struct DroppedMessage {
  std::uint64_t id = 0;
  std::error_code reason;
};

struct LogLine {
  LogLevel level = LogLevel::info;
  std::string text;
};

/// Records every callback, each in its own list and all together, in order,
/// in `events` ("state:online", "disconnected:...", ...).
class RecordingListener : public Listener {
 public:
  void on_state(const StateChange& change) override {
    states.push_back(change);
    if (change.state == ClientState::online) online.push_back(change.online);
    events.push_back(std::string("state:") + client_state_name(change.state));
  }
  void on_disconnected(const DisconnectInfo& info) override {
    disconnects.push_back(info);
    events.push_back("disconnected:" + error_name(info.reason));
  }
  void on_connect_failed(const ConnectFailure& failure) override {
    connect_failures.push_back(failure);
    events.push_back("connect_failed:" + error_name(failure.reason));
  }
  void on_message(std::uint64_t seq, ConstByteSpan payload) override {
    messages.push_back(ReceivedMessage{seq, to_string(payload)});
    events.push_back("message:" + std::to_string(seq));
  }
  void on_acked(std::uint64_t id) override {
    acks.push_back(id);
    events.push_back("acked:" + std::to_string(id));
  }
  void on_dropped(std::uint64_t id, std::error_code reason) override {
    dropped.push_back(DroppedMessage{id, reason});
    events.push_back("dropped:" + std::to_string(id));
  }
  void on_session_reset(const SessionReset& reset) override {
    session_resets.push_back(reset);
    events.push_back("session_reset:" + std::to_string(reset.abandoned_session_id));
  }
  void on_heartbeat(std::uint32_t rtt_ms) override {
    heartbeats.push_back(rtt_ms);
    events.push_back("heartbeat:" + std::to_string(rtt_ms));
  }
  void on_log(LogLevel level, const char* text) override { logs.push_back(LogLine{level, text}); }

  [[nodiscard]] std::size_t count_state(ClientState state) const {
    std::size_t n = 0;
    for (const StateChange& s : states) n += s.state == state ? 1 : 0;
    return n;
  }
  [[nodiscard]] const StateChange& last_state() const {
    static const StateChange none;
    return states.empty() ? none : states.back();
  }
  /// True when some log line contains `needle`.
  [[nodiscard]] bool logged(const std::string& needle) const {
    for (const LogLine& l : logs) {
      if (l.text.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  std::vector<StateChange> states;
  std::vector<OnlineInfo> online;
  std::vector<DisconnectInfo> disconnects;
  std::vector<ConnectFailure> connect_failures;
  std::vector<ReceivedMessage> messages;
  std::vector<std::uint64_t> acks;  ///< Message ids (what send() returned), one per acknowledged message.
  std::vector<DroppedMessage> dropped;
  std::vector<std::uint32_t> heartbeats;
  std::vector<LogLine> logs;
  std::vector<SessionReset> session_resets;
  std::vector<std::string> events;
};

// ------------------------------------------------------------- RandomSource

/// Returns the scripted values in order, then `fallback` forever.
class ScriptedRandom final : public RandomSource {
 public:
  explicit ScriptedRandom(std::uint32_t fallback_value = 0xFFFFFFFFu) : fallback(fallback_value) {}

  std::uint32_t next_u32() override {
    ++calls;
    if (script.empty()) return fallback;
    const std::uint32_t v = script.front();
    script.pop_front();
    return v;
  }

  std::deque<std::uint32_t> script;
  std::uint32_t fallback;
  std::size_t calls = 0;
};

// ------------------------------------------------------------- the server side

/// Feeds encoded frames to the session as reads of its current connection.
class FakeServer {
 public:
  explicit FakeServer(Link& link) : link_(link) {}

  /// One read carrying `bytes`, on the session's current generation.
  void send(Millis now, const Bytes& bytes) { read(now, link_.generation(), span_of(bytes)); }
  /// One read on an explicit (maybe stale) generation.
  void send_on(Millis now, Link::Generation generation, const Bytes& bytes) {
    read(now, generation, span_of(bytes));
  }
  /// The bytes one at a time, each its own read.
  void send_bytewise(Millis now, const Bytes& bytes) {
    for (const std::uint8_t b : bytes) read(now, link_.generation(), ConstByteSpan{&b, 1});
  }
  /// One read as the client shell feeds it: after each downlink message the
  /// listener had, confirm it and give the rest (bounded: each round takes
  /// at least one frame).
  void read(Millis now, Link::Generation generation, ConstByteSpan bytes) {
    const std::size_t rounds = bytes.size + 1;
    for (std::size_t round = 0; round < rounds; ++round) {
      bytes = bytes.subspan(link_.on_received(now, generation, bytes));
      if (!link_.message_pending()) return;
      link_.message_delivered();
    }
  }

  void welcome(Millis now, std::uint64_t session_id, std::uint32_t heartbeat_ms, std::uint64_t next_uplink_seq = 1) {
    send(now, welcome_frame(session_id, heartbeat_ms, next_uplink_seq));
  }
  void ping(Millis now) { send(now, ping_frame()); }
  void pong(Millis now) { send(now, pong_frame()); }
  void data(Millis now, std::uint64_t seq, const std::string& payload) { send(now, data_frame(seq, payload)); }
  void ack(Millis now, std::uint64_t seq) { send(now, ack_frame(seq)); }
  void close(Millis now, CloseReason reason, std::uint32_t retry_after_ms = 0, const std::string& text = "") {
    send(now, close_frame(reason, retry_after_ms, text));
  }
  void garbage(Millis now) { send(now, garbage_bytes()); }

 private:
  Link& link_;
};

// ------------------------------------------------------------- the device's writes

/// Plays the shell's writer: takes pending_write(), reports the write as
/// started and completed, and decodes what was written.
class DeviceWire {
 public:
  explicit DeviceWire(Link& link) : link_(link) {}

  /// Writes everything pending (each write completes at once, at `now`);
  /// returns the frames written by this call. Every write must hold whole
  /// frames, else `ok` turns false.
  std::vector<WireFrame> flush(Millis now) {
    std::vector<WireFrame> written;
    for (int guard = 0; guard < 64; ++guard) {
      if (!start(now)) break;
      complete(now, written);
    }
    return written;
  }

  /// Starts writing the pending bytes without completing; false when nothing was pending.
  bool start(Millis now) {
    const ConstByteSpan pending = link_.pending_write();
    if (pending.empty()) return false;
    in_flight_.assign(pending.begin(), pending.end());
    in_flight_generation_ = link_.generation();
    link_.on_write_started(now);
    return true;
  }

  /// Completes the write started last; returns the frames it carried.
  std::vector<WireFrame> complete(Millis now) {
    std::vector<WireFrame> written;
    complete(now, written);
    return written;
  }

  /// The bytes of the write in flight.
  [[nodiscard]] const Bytes& in_flight() const { return in_flight_; }

  std::vector<WireFrame> all;  ///< Every frame written so far, in order.
  std::size_t bytes_written = 0;
  bool ok = true;  ///< False once a write held something that did not decode.

 private:
  void complete(Millis now, std::vector<WireFrame>& written) {
    bool decoded = true;
    std::vector<WireFrame> frames = decode_frames(span_of(in_flight_), decoded);
    ok = ok && decoded;
    bytes_written += in_flight_.size();
    link_.on_write_complete(now, in_flight_generation_, in_flight_.size());
    in_flight_.clear();
    for (WireFrame& f : frames) {
      all.push_back(f);
      written.push_back(f);
    }
  }

  Link& link_;
  Bytes in_flight_;
  Link::Generation in_flight_generation_ = 0;
};

}  // namespace uplink::test
