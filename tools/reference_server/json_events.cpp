// SPDX-License-Identifier: Apache-2.0
// JSON lines for server events (see json_events.hpp for the fields).
#include "json_events.hpp"

#include <cerrno>
#include <cstring>

#include <unistd.h>

#include "json_line.hpp"
#include "uplink/codec/frame.hpp"
#include "uplink/error.hpp"

namespace uplink::server {

bool parse_event_level(std::string_view text, EventLevel& level) {
  if (text == "all") {
    level = EventLevel::all;
  } else if (text == "connections") {
    level = EventLevel::connections;
  } else if (text == "none") {
    level = EventLevel::none;
  } else {
    return false;
  }
  return true;
}

StatsFigures StatsMeter::sample(std::uint64_t now_ms, std::uint64_t connections, std::uint64_t online,
                                std::uint64_t received, std::uint64_t duplicates, std::uint64_t bytes) {
  StatsFigures figures;
  figures.connections = connections;
  figures.online = online;
  figures.received = received;
  figures.duplicates = duplicates;
  figures.bytes = bytes;
  figures.interval_ms = now_ms > last_ms_ ? now_ms - last_ms_ : 0;
  // Unsigned wrap-around gives the delta even across a wrap of the counter.
  const std::uint64_t delta = received - last_received_;
  // delta * 1000 cannot overflow for any real delta (< 2^54 messages).
  figures.msgs_per_s = figures.interval_ms == 0 ? 0 : delta * 1000 / figures.interval_ms;
  if (now_ms > last_ms_) last_ms_ = now_ms;
  last_received_ = received;
  return figures;
}

// Builds one line in the printer's scratch string with the tools' JSON
// writer (tools/service/json_line.hpp), plus the server's own fields.
class JsonEventPrinter::Line {
 public:
  Line(std::string& text, const char* event) : line_(text, tools::wall_clock_ms(), event) {}
  Line& str(const char* name, std::string_view value) {
    line_.field(name, value);
    return *this;
  }
  Line& bytes(const char* name, ConstByteSpan value) {
    line_.field(name, std::string_view(reinterpret_cast<const char*>(value.data), value.size));
    return *this;
  }
  Line& num(const char* name, std::uint64_t value) {
    line_.field(name, value);
    return *this;
  }
  Line& flag(const char* name, bool value) {
    line_.field(name, value);
    return *this;
  }
  Line& device(std::string_view device_id, std::uint64_t session_id) {
    if (!device_id.empty()) line_.field("device", device_id);
    if (session_id != 0) line_.id("session", session_id);
    return *this;
  }
  /// A close reason by name, or by number when this build does not know it.
  Line& close_reason(const char* name, CloseReason reason) {
    const char* known = close_reason_name(reason);
    if (std::string_view(known) == "unknown") return num(name, static_cast<std::uint8_t>(reason));
    return str(name, known);
  }
  void finish() { (void)line_.finish(); }

 private:
  tools::JsonLine line_;
};

JsonEventPrinter::JsonEventPrinter(std::FILE* out, bool print_payloads, EventLevel level)
    : out_(out), print_payloads_(print_payloads), level_(level), buffer_(new char[kBufferBytes]) {}

JsonEventPrinter::~JsonEventPrinter() { flush(); }

JsonEventPrinter::Line JsonEventPrinter::begin(const char* event) { return Line(line_, event); }

void JsonEventPrinter::emit(When when) {
  if (used_ + line_.size() > kBufferBytes) flush();
  if (line_.size() > kBufferBytes) {
    write_out(line_.data(), line_.size());  // a huge line on its own (buffer empty: order kept)
  } else {
    std::memcpy(buffer_.get() + used_, line_.data(), line_.size());
    used_ += line_.size();
  }
  ++lines_;
  if (when == When::now) {
    flush();
  } else if (!flush_asked_ && used_ != 0) {
    flush_asked_ = true;
    if (on_buffered_) on_buffered_();
  }
}

void JsonEventPrinter::flush() {
  flush_asked_ = false;
  if (used_ != 0) {
    write_out(buffer_.get(), used_);
    used_ = 0;
  }
}

// One write(2) for the whole buffer where the stream has a descriptor:
// stdio would split a write larger than its own buffer in two. A failed
// write (disk full, closed pipe) loses these lines, as stdio would have;
// the next lines are tried again.
void JsonEventPrinter::write_out(const char* data, std::size_t size) {
  std::fflush(out_);  // what others left in the stream's buffer goes first
  const int fd = ::fileno(out_);
  if (fd < 0) {  // a stream without a descriptor (open_memstream, fopencookie)
    std::fwrite(data, 1, size, out_);
    std::fflush(out_);
    return;
  }
  while (size != 0) {  // bounded: every pass writes a byte, returns, or was interrupted by a signal
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void JsonEventPrinter::on_batch_delivered() {
  if (used_ != 0) flush();
}

void JsonEventPrinter::on_online(const OnlineEvent& event) {
  if (!per_connection()) return;
  begin("online")
      .device(event.device_id, event.session_id)
      .flag("resumed", event.resumed)
      .num("heartbeat_ms", event.heartbeat_ms)
      .num("requested_heartbeat_ms", event.requested_heartbeat_ms)
      .num("next_uplink_seq", event.next_uplink_seq)
      .num("downlink_resent", event.downlink_resent)
      .finish();
  emit(When::now);
}

void JsonEventPrinter::on_offline(const OfflineEvent& event) {
  if (!per_connection()) return;
  Line line = begin("offline");
  line.device(event.device_id, event.session_id).str("reason", offline_reason(event));
  // A CLOSE frame was involved in every cause but these two.
  if (event.cause != OfflineCause::connection_lost && event.cause != OfflineCause::server_stopped) {
    line.close_reason("close_reason", event.close_reason);
  }
  if (event.retry_after_ms != 0) line.num("retry_after_ms", event.retry_after_ms);
  line.finish();
  emit(When::now);
}

void JsonEventPrinter::on_message(const MessageEvent& event) {
  if (!per_message()) return;
  Line line = begin("message");
  line.device(event.device_id, event.session_id).num("seq", event.seq).num("bytes", event.payload.size);
  if (print_payloads_) line.bytes("payload", event.payload);
  line.finish();
  emit(When::buffered);
}

void JsonEventPrinter::on_duplicate(const DuplicateEvent& event) {
  if (!per_message()) return;
  begin("duplicate")
      .device(event.device_id, event.session_id)
      .num("seq", event.seq)
      .num("expected", event.expected_seq)
      .finish();
  emit(When::buffered);
}

void JsonEventPrinter::on_error(const ErrorEvent& event) {
  begin("error")
      .device(event.device_id, event.session_id)
      .str("reason", event.reason != nullptr ? event.reason : "")
      .str("detail", event.detail)
      .finish();
  emit(When::now);
}

void JsonEventPrinter::on_downlink(const DownlinkEvent& event) {
  if (!per_message()) return;
  begin("downlink")
      .device(event.device_id, event.session_id)
      .num("seq", event.seq)
      .num("bytes", event.bytes)
      .flag("queued", !event.online)
      .finish();
  emit(When::buffered);
}

void JsonEventPrinter::listening(std::string_view address, std::uint16_t port, bool tls) {
  Line line = begin("listening");
  line.str("address", address).num("port", port);
  if (tls) line.flag("tls", true);
  line.finish();
  emit(When::now);
}

void JsonEventPrinter::shutdown(std::uint64_t received, std::uint64_t duplicates) {
  begin("shutdown").num("received", received).num("duplicates", duplicates).finish();
  emit(When::now);
}

void JsonEventPrinter::error(std::string_view reason, std::string_view detail) {
  begin("error").str("reason", reason).str("detail", detail).finish();
  emit(When::now);
}

void JsonEventPrinter::state(std::string_view dir, std::uint64_t segment, std::uint64_t sessions,
                             std::uint64_t records, std::uint64_t torn_bytes) {
  if (!per_connection()) return;
  begin("state")
      .str("dir", dir)
      .num("segment", segment)
      .num("sessions", sessions)
      .num("records", records)
      .num("torn_bytes", torn_bytes)
      .finish();
  emit(When::now);
}

void JsonEventPrinter::delivered(std::string_view device_id, std::uint64_t session_id, std::uint64_t seq,
                                 std::uint64_t segment, ConstByteSpan payload) {
  begin("delivered")
      .device(device_id, session_id)
      .num("seq", seq)
      .num("segment", segment)
      .num("bytes", payload.size)
      .bytes("payload", payload)
      .finish();
  emit(When::buffered);
}

void JsonEventPrinter::stats(const StatsFigures& figures) {
  begin("stats")
      .num("connections", figures.connections)
      .num("online", figures.online)
      .num("received", figures.received)
      .num("duplicates", figures.duplicates)
      .num("bytes", figures.bytes)
      .num("msgs_per_s", figures.msgs_per_s)
      .num("interval_ms", figures.interval_ms)
      .finish();
  emit(When::now);
}

}  // namespace uplink::server
