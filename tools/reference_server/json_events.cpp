// SPDX-License-Identifier: Apache-2.0
// JSON lines for server events (see json_events.hpp for the fields).
#include "json_events.hpp"

#include <chrono>

#include "uplink/codec/frame.hpp"
#include "uplink/error.hpp"

namespace uplink::server {
namespace {

// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 when
// the bytes there are not one (overlong forms, surrogates and values above
// U+10FFFF included), so that the output is always valid UTF-8.
std::size_t utf8_sequence(const std::uint8_t* s, std::size_t n) {
  const std::uint8_t b = s[0];
  std::size_t length = 0;
  std::uint8_t low = 0x80;
  std::uint8_t high = 0xBF;  // range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    length = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    length = 3;
    if (b == 0xE0) low = 0xA0;
    if (b == 0xED) high = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    length = 4;
    if (b == 0xF0) low = 0x90;
    if (b == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (n < length || s[1] < low || s[1] > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  }
  return length;
}

std::uint64_t wall_clock_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace

void append_json_string(std::string& out, ConstByteSpan text) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < text.size) {  // every pass consumes at least one byte
    const std::uint8_t b = text.data[i];
    if (b == '"' || b == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(b));
      ++i;
    } else if (b == '\n') {
      out += "\\n";
      ++i;
    } else if (b == '\r') {
      out += "\\r";
      ++i;
    } else if (b == '\t') {
      out += "\\t";
      ++i;
    } else if (b < 0x20 || b == 0x7F) {  // DEL too: it is invisible on terminals
      out += "\\u00";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0x0F]);
      ++i;
    } else if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
    } else if (const std::size_t length = utf8_sequence(text.data + i, text.size - i)) {
      out.append(reinterpret_cast<const char*>(text.data + i), length);
      i += length;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out.push_back('"');
}

void append_json_string(std::string& out, std::string_view text) {
  append_json_string(out, ConstByteSpan{text.data(), text.size()});
}

std::string session_hex(std::uint64_t session_id) {
  static const char kHex[] = "0123456789abcdef";
  std::string hex(16, '0');
  for (int i = 15; i >= 0; --i) {
    hex[static_cast<std::size_t>(i)] = kHex[session_id & 0x0F];
    session_id >>= 4;
  }
  return hex;
}

// Builds one line: {"ts_ms":...,"event":"...", fields...}
class JsonEventPrinter::Line {
 public:
  explicit Line(const char* event) {
    text_ = "{\"ts_ms\":" + std::to_string(wall_clock_ms()) + ",\"event\":";
    append_json_string(text_, std::string_view(event));
  }
  Line& str(const char* name, std::string_view value) {
    key(name);
    append_json_string(text_, value);
    return *this;
  }
  Line& bytes(const char* name, ConstByteSpan value) {
    key(name);
    append_json_string(text_, value);
    return *this;
  }
  Line& num(const char* name, std::uint64_t value) {
    key(name);
    text_ += std::to_string(value);
    return *this;
  }
  Line& flag(const char* name, bool value) {
    key(name);
    text_ += value ? "true" : "false";
    return *this;
  }
  Line& device(std::string_view device_id, std::uint64_t session_id) {
    if (!device_id.empty()) str("device", device_id);
    if (session_id != 0) str("session", session_hex(session_id));
    return *this;
  }
  /// A close reason by name, or by number when this build does not know it.
  Line& close_reason(const char* name, CloseReason reason) {
    const char* known = close_reason_name(reason);
    if (std::string_view(known) == "unknown") return num(name, static_cast<std::uint8_t>(reason));
    return str(name, known);
  }
  std::string finish() { return text_ + "}\n"; }

 private:
  void key(const char* name) {
    text_.push_back(',');
    append_json_string(text_, std::string_view(name));
    text_.push_back(':');
  }
  std::string text_;
};

JsonEventPrinter::JsonEventPrinter(std::FILE* out, bool print_payloads)
    : out_(out), print_payloads_(print_payloads) {}

void JsonEventPrinter::emit(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);  // followers read line by line, often through a pipe
  ++lines_;
}

void JsonEventPrinter::on_online(const OnlineEvent& event) {
  emit(Line("online")
           .device(event.device_id, event.session_id)
           .flag("resumed", event.resumed)
           .num("heartbeat_ms", event.heartbeat_ms)
           .num("requested_heartbeat_ms", event.requested_heartbeat_ms)
           .num("next_uplink_seq", event.next_uplink_seq)
           .num("downlink_resent", event.downlink_resent)
           .finish());
}

void JsonEventPrinter::on_offline(const OfflineEvent& event) {
  Line line("offline");
  line.device(event.device_id, event.session_id).str("reason", offline_reason(event));
  // A CLOSE frame was involved in every cause but these two.
  if (event.cause != OfflineCause::connection_lost && event.cause != OfflineCause::server_stopped) {
    line.close_reason("close_reason", event.close_reason);
  }
  if (event.retry_after_ms != 0) line.num("retry_after_ms", event.retry_after_ms);
  emit(line.finish());
}

void JsonEventPrinter::on_message(const MessageEvent& event) {
  Line line("message");
  line.device(event.device_id, event.session_id).num("seq", event.seq).num("bytes", event.payload.size);
  if (print_payloads_) line.bytes("payload", event.payload);
  emit(line.finish());
}

void JsonEventPrinter::on_duplicate(const DuplicateEvent& event) {
  emit(Line("duplicate")
           .device(event.device_id, event.session_id)
           .num("seq", event.seq)
           .num("expected", event.expected_seq)
           .finish());
}

void JsonEventPrinter::on_error(const ErrorEvent& event) {
  emit(Line("error")
           .device(event.device_id, event.session_id)
           .str("reason", event.reason != nullptr ? event.reason : "")
           .str("detail", event.detail)
           .finish());
}

void JsonEventPrinter::on_downlink(const DownlinkEvent& event) {
  emit(Line("downlink")
           .device(event.device_id, event.session_id)
           .num("seq", event.seq)
           .num("bytes", event.bytes)
           .flag("queued", !event.online)
           .finish());
}

void JsonEventPrinter::listening(std::string_view address, std::uint16_t port, bool tls) {
  Line line("listening");
  line.str("address", address).num("port", port);
  if (tls) line.flag("tls", true);
  emit(line.finish());
}

void JsonEventPrinter::shutdown(std::uint64_t received, std::uint64_t duplicates) {
  emit(Line("shutdown").num("received", received).num("duplicates", duplicates).finish());
}

void JsonEventPrinter::error(std::string_view reason, std::string_view detail) {
  emit(Line("error").str("reason", reason).str("detail", detail).finish());
}

void JsonEventPrinter::state(std::string_view dir, std::uint64_t segment, std::uint64_t sessions,
                             std::uint64_t records, std::uint64_t torn_bytes) {
  emit(Line("state")
           .str("dir", dir)
           .num("segment", segment)
           .num("sessions", sessions)
           .num("records", records)
           .num("torn_bytes", torn_bytes)
           .finish());
}

void JsonEventPrinter::delivered(std::string_view device_id, std::uint64_t session_id, std::uint64_t seq,
                                 std::uint64_t segment, ConstByteSpan payload) {
  emit(Line("delivered")
           .device(device_id, session_id)
           .num("seq", seq)
           .num("segment", segment)
           .num("bytes", payload.size)
           .bytes("payload", payload)
           .finish());
}

}  // namespace uplink::server
