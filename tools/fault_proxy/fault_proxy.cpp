// SPDX-License-Identifier: Apache-2.0
// FaultProxy: see fault_proxy.hpp.
//
// Structure: the public object owns a shared Impl (listener, mode,
// counters, connections, schedule). Each proxied connection is a Connection
// owned by a shared_ptr; every asynchronous handler holds that shared_ptr,
// and a finished connection ignores every later completion. finish() runs
// exactly once per connection and removes it from the Impl's list.
//
// A connection has two sides (0 = device, 1 = server) and two pipes; pipe p
// reads side p and writes side 1 - p, so pipe 0 is "up" and pipe 1 "down".
// Reads wait for readability first and then read without blocking, so that
// a stalled device's bytes stay in the kernel instead of in a read already
// in flight.
#include "fault_proxy.hpp"  // first: it includes the Asio gate before any standard header

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <list>
#include <utility>
#include <vector>

#include <asio/error.hpp>
#include <asio/socket_base.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

namespace uplink::tools {

namespace {

using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;
using Direction = FaultProxy::Direction;
using Side = FaultProxy::Side;
using EventType = FaultProxy::EventType;

// Small receive buffer on accepted device sockets (set on the acceptor, so
// inherited before the handshake fixes the window scale): a stalled device
// then fills the kernel's buffers after a few KiB instead of megabytes.
constexpr int kDeviceReceiveBuffer = 4096;
constexpr std::size_t kReadChunk = 16384;
// Above this many bytes queued in a pipe (latency, slow receiver) the proxy
// stops reading its source: TCP backpressure instead of unbounded memory.
constexpr std::size_t kMaxQueuedBytes = std::size_t{4} << 20;
// How long a side the proxy closed gracefully (FIN) is drained before its
// socket is closed anyway.
constexpr std::chrono::milliseconds kDrainDeadline{2000};
constexpr std::chrono::milliseconds kAcceptRetry{100};
constexpr std::uint64_t kMaxLatencyMs = 600000;
constexpr std::uint64_t kMaxScheduleMs = 86400000;
constexpr std::size_t kMaxScheduleEntries = 256;
constexpr std::size_t kMaxCommandTokens = 3;
// `inject up|down <hex bytes...>`: at most this many bytes per command.
constexpr std::size_t kMaxInjectBytes = 1024;

// --- Commands ------------------------------------------------------------------

struct Command {
  enum class Kind : std::uint8_t { forward, blackhole, latency, bytewise, reset, close, stall, refuse, inject };
  Kind kind = Kind::forward;
  Direction direction = Direction::both;
  Side side = Side::device;
  std::chrono::milliseconds delay{0};
  bool on = false;
  std::vector<std::uint8_t> bytes;  // inject
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on blanks into at most max_tokens + 1 tokens (one more than the
// command takes, so that extra arguments are detected).
std::vector<std::string_view> tokens_of(std::string_view line, std::size_t max_tokens = kMaxCommandTokens) {
  std::vector<std::string_view> tokens;
  line = trim(line);
  while (!line.empty() && tokens.size() <= max_tokens) {
    std::size_t end = 0;
    while (end < line.size() && !is_space(line[end])) ++end;
    tokens.push_back(line.substr(0, end));
    line = trim(line.substr(end));
  }
  return tokens;
}

bool parse_u64(std::string_view text, std::uint64_t& value) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `inject up|down <hex bytes...>`: each token is an even number of hex
// digits ("ff", or "ffff" for two bytes).
std::string parse_inject(const std::vector<std::string_view>& t, Command& out) {
  if (t.size() < 3) return "inject: missing argument (usage: inject up|down <hex bytes...>)";
  if (t[1] == "up") {
    out.direction = Direction::up;
  } else if (t[1] == "down") {
    out.direction = Direction::down;
  } else {
    return "inject: expected up or down, got " + quoted(t[1]);
  }
  out.bytes.clear();
  for (std::size_t i = 2; i < t.size(); ++i) {
    const std::string_view token = t[i];
    if (token.size() % 2 != 0) return "inject: expected hex bytes such as 'ff', got " + quoted(token);
    for (std::size_t j = 0; j < token.size(); j += 2) {
      const int high = hex_digit(token[j]);
      const int low = hex_digit(token[j + 1]);
      if (high < 0 || low < 0) return "inject: expected hex bytes such as 'ff', got " + quoted(token);
      if (out.bytes.size() == kMaxInjectBytes) {
        return "inject: more than " + std::to_string(kMaxInjectBytes) + " bytes";
      }
      out.bytes.push_back(static_cast<std::uint8_t>(high * 16 + low));
    }
  }
  return {};
}

std::string parse_direction(std::string_view name, std::string_view token, Direction& out) {
  if (token == "up") {
    out = Direction::up;
  } else if (token == "down") {
    out = Direction::down;
  } else if (token == "both") {
    out = Direction::both;
  } else {
    return std::string(name) + ": expected up, down or both, got " + quoted(token);
  }
  return {};
}

std::string parse_on_off(std::string_view name, std::string_view token, bool& out) {
  if (token == "on") {
    out = true;
  } else if (token == "off") {
    out = false;
  } else {
    return std::string(name) + ": expected on or off, got " + quoted(token);
  }
  return {};
}

// Parses one command; returns "" or a message naming the command.
std::string parse_command(std::string_view line, Command& out) {
  const std::vector<std::string_view> t = tokens_of(line);
  if (t.empty()) return "empty command";
  const std::string_view name = t[0];
  if (name == "inject") {
    out.kind = Command::Kind::inject;
    // Every token, plus one past the byte limit so that too many is detected.
    return parse_inject(tokens_of(line, kMaxInjectBytes + 2), out);
  }
  auto arity = [&](std::size_t min_args, std::size_t max_args) -> std::string {
    const std::size_t args = t.size() - 1;
    if (args < min_args) return std::string(name) + ": missing argument";
    if (args > max_args) return std::string(name) + ": unexpected argument " + quoted(t[max_args + 1]);
    return {};
  };
  using Kind = Command::Kind;
  std::string error;
  if (name == "forward") {
    out.kind = Kind::forward;
    error = arity(0, 0);
  } else if (name == "reset") {
    out.kind = Kind::reset;
    error = arity(0, 0);
  } else if (name == "blackhole") {
    out.kind = Kind::blackhole;
    error = arity(1, 1);
    if (error.empty()) error = parse_direction(name, t[1], out.direction);
  } else if (name == "latency") {
    out.kind = Kind::latency;
    error = arity(1, 2);
    std::uint64_t ms = 0;
    if (error.empty() && (!parse_u64(t[1], ms) || ms > kMaxLatencyMs)) {
      error = "latency: expected milliseconds 0.." + std::to_string(kMaxLatencyMs) + ", got " + quoted(t[1]);
    }
    out.delay = std::chrono::milliseconds(ms);
    out.direction = Direction::both;
    if (error.empty() && t.size() == 3) error = parse_direction(name, t[2], out.direction);
  } else if (name == "bytewise" || name == "stall" || name == "refuse") {
    out.kind = name == "bytewise" ? Kind::bytewise : name == "stall" ? Kind::stall : Kind::refuse;
    error = arity(1, 1);
    if (error.empty()) error = parse_on_off(name, t[1], out.on);
  } else if (name == "close") {
    out.kind = Kind::close;
    error = arity(1, 1);
    if (error.empty()) {
      if (t[1] == "device") {
        out.side = Side::device;
      } else if (t[1] == "server") {
        out.side = Side::server;
      } else {
        error = "close: expected device or server, got " + quoted(t[1]);
      }
    }
  } else {
    error = "unknown command " + quoted(name) +
            " (expected forward, blackhole, latency, bytewise, reset, close, stall, refuse or inject)";
  }
  return error;
}

struct ScheduleEntry {
  std::chrono::milliseconds at{0};
  Command command;
};

// "<seconds>s": decimal seconds with up to three decimals.
bool parse_seconds(std::string_view token, std::chrono::milliseconds& out) {
  if (token.size() < 2 || token.back() != 's') return false;
  token.remove_suffix(1);
  const std::size_t dot = token.find('.');
  const std::string_view whole = token.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view() : token.substr(dot + 1);
  if (dot != std::string_view::npos && (fraction.empty() || fraction.size() > 3)) return false;
  std::uint64_t seconds = 0;
  std::uint64_t millis = 0;
  if (!parse_u64(whole, seconds)) return false;
  if (!fraction.empty()) {
    if (!parse_u64(fraction, millis)) return false;
    for (std::size_t i = fraction.size(); i < 3; ++i) millis *= 10;
  }
  if (seconds > kMaxScheduleMs / 1000) return false;
  const std::uint64_t total = seconds * 1000 + millis;
  if (total > kMaxScheduleMs) return false;
  out = std::chrono::milliseconds(total);
  return true;
}

std::string parse_schedule(std::string_view spec, std::vector<ScheduleEntry>& out) {
  if (trim(spec).empty()) return "schedule: empty";
  while (!spec.empty()) {
    const std::size_t semi = spec.find(';');
    const std::string_view item = trim(spec.substr(0, semi));
    spec = semi == std::string_view::npos ? std::string_view() : spec.substr(semi + 1);
    if (item.empty()) continue;  // "a; ; b" and a trailing ';' are fine
    if (out.size() == kMaxScheduleEntries) {
      return "schedule: more than " + std::to_string(kMaxScheduleEntries) + " entries";
    }
    std::size_t end = 0;
    while (end < item.size() && !is_space(item[end])) ++end;
    ScheduleEntry entry;
    if (!parse_seconds(item.substr(0, end), entry.at)) {
      return "schedule: expected '<seconds>s <command>' (e.g. '3s blackhole both'), got " + quoted(item);
    }
    const std::string error = parse_command(item.substr(end), entry.command);
    if (!error.empty()) return "schedule: " + error;
    out.push_back(entry);
  }
  if (out.empty()) return "schedule: empty";
  return {};
}

const char* on_off(bool on) { return on ? "on" : "off"; }

// The canonical text of a command, as reported in "mode" events.
std::string command_text(const Command& c) {
  using Kind = Command::Kind;
  switch (c.kind) {
    case Kind::forward: return "forward";
    case Kind::blackhole: return std::string("blackhole ") + to_string(c.direction);
    case Kind::latency:
      return "latency " + std::to_string(c.delay.count()) + " " + to_string(c.direction);
    case Kind::bytewise: return std::string("bytewise ") + on_off(c.on);
    case Kind::reset: return "reset";
    case Kind::close: return std::string("close ") + to_string(c.side);
    case Kind::stall: return std::string("stall ") + on_off(c.on);
    case Kind::refuse: return std::string("refuse ") + on_off(c.on);
    case Kind::inject: {
      static const char kHex[] = "0123456789abcdef";
      std::string text = std::string("inject ") + to_string(c.direction);
      for (const std::uint8_t b : c.bytes) {
        text += ' ';
        text += kHex[b >> 4];
        text += kHex[b & 0x0F];
      }
      return text;
    }
  }
  return "?";
}

class Connection;

}  // namespace

// --- Impl ------------------------------------------------------------------------

class FaultProxy::Impl : public std::enable_shared_from_this<FaultProxy::Impl> {
 public:
  Impl(asio::io_context& io, const tcp::endpoint& upstream, const tcp::endpoint& listen, EventHandler on_event)
      : io_(io),
        upstream_(upstream),
        listen_address_(listen.address()),
        port_(listen.port()),
        acceptor_(io),
        accept_retry_(io),
        on_event_(std::move(on_event)) {}

  std::error_code open_listener();
  void close_listener();
  void shutdown();

  std::string apply(const Command& command);
  std::error_code forward();
  void blackhole(Direction direction);
  void set_latency(std::chrono::milliseconds delay, Direction direction);
  void set_bytewise(bool on);
  void stall_device(bool on);
  std::error_code refuse(bool on);
  void reset_all();
  void close_side(Side side);
  std::size_t inject(Direction direction, const std::vector<std::uint8_t>& bytes);
  std::string run_schedule(std::string_view spec);
  void cancel_schedule();

  void emit(EventType type, std::uint64_t connection, std::string text);
  void on_connection_finished(const Connection* connection, const std::string& reason);

  asio::io_context& io_;
  const tcp::endpoint upstream_;
  const asio::ip::address listen_address_;
  std::uint16_t port_ = 0;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::error_code listen_error_;
  std::uint64_t accept_generation_ = 0;
  bool alive_ = true;
  Mode mode_;
  Counters counters_;
  EventHandler on_event_;
  std::uint64_t next_connection_id_ = 1;
  std::vector<std::shared_ptr<Connection>> connections_;
  std::list<std::shared_ptr<asio::steady_timer>> schedule_;

 private:
  void arm_accept();
  void on_accept(std::uint64_t generation, std::error_code error, tcp::socket socket);
  void emit_mode(const Command& command) { emit(EventType::mode, 0, command_text(command)); }
  // Calls f on every live connection; finish() may edit the list meanwhile.
  template <typename F>
  void for_each_connection(F f) {
    const std::vector<std::shared_ptr<Connection>> copy = connections_;
    for (const auto& c : copy) f(*c);
  }
};

namespace {

enum class SideState : std::uint8_t {
  connecting,  // server side only: upstream connect in progress
  open,        // read and written
  read_ended,  // the peer sent FIN: no more reads; still written (half-close)
  shut,        // the proxy sent FIN: drained (read and discarded) until EOF or deadline
  closed,      // socket closed
};

enum class ChunkKind : std::uint8_t { data, end_graceful, end_abortive };

// What a pipe delivers, in order: bytes, then possibly the end of the
// stream (FIN or RST to the destination).
struct Chunk {
  ChunkKind kind = ChunkKind::data;
  std::vector<std::uint8_t> bytes;
  std::size_t offset = 0;  // bytes already written
  Clock::time_point due;
};

struct Pipe {
  explicit Pipe(asio::io_context& io) : timer(io) {}
  std::deque<Chunk> queue;
  std::size_t queued_bytes = 0;
  bool writing = false;        // the front chunk has a write in flight
  bool timer_pending = false;  // waiting for the front chunk's due time
  std::uint64_t timer_generation = 0;
  Clock::time_point last_due{};  // due times never go backwards: order is kept
  asio::steady_timer timer;
};

constexpr int kDevice = 0;
constexpr int kServer = 1;

const char* side_name(int side) { return side == kDevice ? "device" : "server"; }

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<FaultProxy::Impl> owner, std::uint64_t id, tcp::socket device)
      : owner_(std::move(owner)),
        id_(id),
        sockets_{std::move(device), tcp::socket(owner_->io_)},
        pipes_{Pipe(owner_->io_), Pipe(owner_->io_)},
        drain_timers_{asio::steady_timer(owner_->io_), asio::steady_timer(owner_->io_)} {}

  std::uint64_t id() const { return id_; }

  void connect(const tcp::endpoint& upstream) {
    std::error_code ignored;
    sockets_[kDevice].set_option(tcp::no_delay(true), ignored);
    sockets_[kDevice].non_blocking(true, ignored);
    sockets_[kServer].async_connect(upstream, [self = shared_from_this()](std::error_code error) {
      self->on_connected(error);
    });
  }

  // A mode changed: drop what a blackhole swallows, resume unstalled reads.
  void on_mode_changed() {
    for (int p = 0; p < 2; ++p) pump(p);
    arm_read(kDevice);
  }

  void reset() {
    if (finished_) return;
    for (int s = 0; s < 2; ++s) close_socket(s, /*abortive=*/true);
    reason_ = "reset";
    finish();
  }

  // FIN to `side` only; the other side is left as it is.
  void close_side(int side) {
    if (finished_) return;
    note_reason(std::string(side_name(side)) + " closed by proxy");
    switch (state_[side]) {
      case SideState::connecting:
        close_socket(side, false);  // cancels the connect
        arm_read(kDevice);          // the device's bytes are now read and dropped
        break;
      case SideState::open: begin_shut(side); break;
      case SideState::read_ended: close_socket(side, false); break;
      case SideState::shut:
      case SideState::closed: break;
    }
    pump(1 - side);  // drops what was queued for it
    maybe_finish();
  }

  // Queues `bytes` in pipe p, after what is queued there, as if side p had
  // sent them. Returns false if they cannot go (destination not writable,
  // or the direction is blackholed: then they count as dropped).
  bool inject(int p, const std::vector<std::uint8_t>& bytes) {
    const int d = 1 - p;
    if (finished_ || bytes.empty() || !writable(d)) return false;
    if (blackholed(p)) {
      dropped(p) += bytes.size();
      return false;
    }
    Chunk chunk;
    chunk.bytes = bytes;
    chunk.due = next_due(p);
    pipes_[p].queue.push_back(std::move(chunk));
    pipes_[p].queued_bytes += bytes.size();
    pump(p);
    return true;
  }

  // The proxy is going away: close quietly.
  void shutdown() {
    if (finished_) return;
    for (int s = 0; s < 2; ++s) close_socket(s, false);
    finish();
  }

 private:
  const FaultProxy::Mode& mode() const { return owner_->mode_; }
  bool blackholed(int p) const { return p == kDevice ? mode().blackhole_up : mode().blackhole_down; }
  std::chrono::milliseconds latency(int p) const { return p == kDevice ? mode().latency_up : mode().latency_down; }
  bool writable(int s) const { return state_[s] == SideState::open || state_[s] == SideState::read_ended; }
  std::uint64_t& delivered(int p) { return p == kDevice ? owner_->counters_.bytes_up : owner_->counters_.bytes_down; }
  std::uint64_t& dropped(int p) { return p == kDevice ? owner_->counters_.dropped_up : owner_->counters_.dropped_down; }

  void note_reason(std::string reason) {
    if (reason_.empty()) reason_ = std::move(reason);
  }

  void on_connected(std::error_code error) {
    if (finished_ || state_[kServer] != SideState::connecting) return;  // closed meanwhile
    if (error) {
      owner_->emit(EventType::error, id_, "upstream connect failed: " + error.message());
      note_reason("upstream connect failed");
      // The device sees what it would see connecting to a dead server: a reset.
      close_socket(kDevice, /*abortive=*/true);
      close_socket(kServer, false);
      finish();
      return;
    }
    state_[kServer] = SideState::open;
    std::error_code ignored;
    sockets_[kServer].set_option(tcp::no_delay(true), ignored);
    sockets_[kServer].non_blocking(true, ignored);
    arm_read(kDevice);
    arm_read(kServer);
  }

  // --- Reading ---------------------------------------------------------------

  void arm_read(int s) {
    if (finished_ || wait_pending_[s]) return;
    if (state_[s] == SideState::open) {
      if (state_[kServer] == SideState::connecting) return;  // nowhere to send yet
      if (s == kDevice && mode().stall_device) return;
      if (pipes_[s].queued_bytes >= kMaxQueuedBytes) return;  // resumed by on_written
    } else if (state_[s] != SideState::shut) {
      return;
    }
    wait_pending_[s] = true;
    sockets_[s].async_wait(tcp::socket::wait_read, [self = shared_from_this(), s](std::error_code error) {
      self->on_readable(s, error);
    });
  }

  void on_readable(int s, std::error_code error) {
    wait_pending_[s] = false;
    if (finished_ || (state_[s] != SideState::open && state_[s] != SideState::shut)) return;
    if (error == asio::error::operation_aborted) return;
    if (error) {
      side_failed(s, error);
      return;
    }
    // Stalled while the wait was in flight: leave the bytes in the kernel.
    if (s == kDevice && state_[s] == SideState::open && mode().stall_device) return;
    const std::size_t n = sockets_[s].read_some(asio::buffer(rx_), error);
    if (error == asio::error::would_block || error == asio::error::try_again) {
      arm_read(s);
      return;
    }
    if (error == asio::error::eof) {
      side_eof(s);
      return;
    }
    if (error) {
      side_failed(s, error);
      return;
    }
    on_data(s, n);
    arm_read(s);
  }

  void on_data(int p, std::size_t n) {
    const int d = 1 - p;
    if (state_[p] == SideState::shut || !writable(d) || blackholed(p)) {
      dropped(p) += n;
      return;
    }
    Chunk chunk;
    chunk.bytes.assign(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(n));
    chunk.due = next_due(p);
    pipes_[p].queue.push_back(std::move(chunk));
    pipes_[p].queued_bytes += n;
    pump(p);
  }

  Clock::time_point next_due(int p) {
    Pipe& pipe = pipes_[p];
    pipe.last_due = std::max(Clock::now() + latency(p), pipe.last_due);
    return pipe.last_due;
  }

  void side_eof(int s) {
    if (state_[s] == SideState::shut) {  // the peer answered our FIN
      close_socket(s, false);
      maybe_finish();
      return;
    }
    state_[s] = SideState::read_ended;
    note_reason(std::string(side_name(s)) + " closed");
    propagate_end(s, /*abortive=*/false);
    maybe_finish();
  }

  void side_failed(int s, std::error_code error) {
    const bool was_shut = state_[s] == SideState::shut;
    close_socket(s, false);
    if (!was_shut) {  // errors while draining our own close are expected
      note_reason(std::string(side_name(s)) + " error: " + error.message());
      propagate_end(s, /*abortive=*/true);
    }
    pump(1 - s);  // drops what was queued for it
    maybe_finish();
  }

  // Side s ended: the other side gets the same after the data queued for
  // it, unless that direction is blackholed (then it stays half-open).
  void propagate_end(int s, bool abortive) {
    if (finished_ || !writable(1 - s) || blackholed(s)) return;
    Chunk end;
    end.kind = abortive ? ChunkKind::end_abortive : ChunkKind::end_graceful;
    end.due = next_due(s);
    pipes_[s].queue.push_back(std::move(end));
    pump(s);
  }

  // --- Writing ---------------------------------------------------------------

  void pump(int p) {
    Pipe& pipe = pipes_[p];
    const int d = 1 - p;
    if (finished_ || pipe.writing) return;
    if (!writable(d) || blackholed(p)) {
      drop_queue(p);
      return;
    }
    if (pipe.timer_pending || pipe.queue.empty()) return;
    Chunk& front = pipe.queue.front();
    if (front.due > Clock::now()) {
      pipe.timer_pending = true;
      pipe.timer.expires_at(front.due);
      pipe.timer.async_wait([self = shared_from_this(), p, generation = pipe.timer_generation](std::error_code) {
        Pipe& timed = self->pipes_[p];
        if (generation != timed.timer_generation) return;  // cancelled by drop_queue
        timed.timer_pending = false;
        self->pump(p);
      });
      return;
    }
    if (front.kind != ChunkKind::data) {
      const bool abortive = front.kind == ChunkKind::end_abortive;
      pipe.queue.pop_front();
      end_side(d, abortive);
      return;
    }
    const std::size_t n = mode().bytewise ? 1 : front.bytes.size() - front.offset;
    pipe.writing = true;
    asio::async_write(sockets_[d], asio::buffer(front.bytes.data() + front.offset, n),
                      [self = shared_from_this(), p](std::error_code error, std::size_t written) {
                        self->on_written(p, error, written);
                      });
  }

  void on_written(int p, std::error_code error, std::size_t n) {
    Pipe& pipe = pipes_[p];
    const int d = 1 - p;
    pipe.writing = false;
    if (finished_) return;
    if (!pipe.queue.empty()) {  // drop_queue keeps the chunk in flight
      Chunk& front = pipe.queue.front();
      front.offset += n;
      pipe.queued_bytes -= n;
      delivered(p) += n;
      if (front.offset == front.bytes.size()) pipe.queue.pop_front();
    }
    if (error && writable(d)) {
      side_failed(d, error);
      return;
    }
    pump(p);
    arm_read(p);  // in case backpressure had paused it
    maybe_finish();
  }

  // Discards what is queued in pipe p except a chunk being written.
  void drop_queue(int p) {
    Pipe& pipe = pipes_[p];
    auto first = pipe.queue.begin();
    if (pipe.writing && first != pipe.queue.end()) ++first;
    for (auto it = first; it != pipe.queue.end(); ++it) {
      const std::size_t left = it->bytes.size() - it->offset;
      dropped(p) += left;
      pipe.queued_bytes -= left;
    }
    pipe.queue.erase(first, pipe.queue.end());
    if (pipe.timer_pending) {
      pipe.timer_pending = false;
      ++pipe.timer_generation;
      pipe.timer.cancel();
    }
    if (pipe.queue.empty()) pipe.last_due = Clock::time_point{};
  }

  // The end of the stream reached side d.
  void end_side(int d, bool abortive) {
    if (abortive || state_[d] == SideState::read_ended) {
      close_socket(d, abortive);  // read_ended: read to EOF, so nothing unread (no RST)
    } else if (state_[d] == SideState::open) {
      begin_shut(d);
    }
    maybe_finish();
  }

  // Graceful close: FIN now, then read and discard until the peer closes, so
  // that closing the socket does not turn into an RST over unread bytes.
  void begin_shut(int s) {
    std::error_code ignored;
    sockets_[s].shutdown(tcp::socket::shutdown_send, ignored);
    state_[s] = SideState::shut;
    drain_timers_[s].expires_after(kDrainDeadline);
    drain_timers_[s].async_wait([self = shared_from_this(), s](std::error_code error) {
      if (error || self->finished_ || self->state_[s] != SideState::shut) return;
      self->close_socket(s, false);
      self->maybe_finish();
    });
    arm_read(s);
  }

  void close_socket(int s, bool abortive) {
    if (state_[s] == SideState::closed) return;
    std::error_code ignored;
    if (abortive) sockets_[s].set_option(asio::socket_base::linger(true, 0), ignored);
    sockets_[s].close(ignored);
    drain_timers_[s].cancel();
    state_[s] = SideState::closed;
  }

  // Over when neither side can send anything more and nothing is queued.
  void maybe_finish() {
    if (finished_) return;
    for (int s = 0; s < 2; ++s) {
      if (state_[s] != SideState::read_ended && state_[s] != SideState::closed) return;
      if (pipes_[s].writing || !pipes_[s].queue.empty()) return;
    }
    finish();
  }

  // The one exit of every connection: runs once.
  void finish() {
    if (finished_) return;
    const std::shared_ptr<Connection> self = shared_from_this();
    finished_ = true;
    for (int s = 0; s < 2; ++s) {
      close_socket(s, false);
      pipes_[s].timer.cancel();
      pipes_[s].queue.clear();
    }
    owner_->on_connection_finished(this, reason_.empty() ? "closed" : reason_);
  }

  std::shared_ptr<FaultProxy::Impl> owner_;
  const std::uint64_t id_;
  std::array<tcp::socket, 2> sockets_;
  std::array<Pipe, 2> pipes_;
  std::array<asio::steady_timer, 2> drain_timers_;
  std::array<SideState, 2> state_{SideState::open, SideState::connecting};
  std::array<bool, 2> wait_pending_{false, false};
  std::array<std::uint8_t, kReadChunk> rx_{};
  bool finished_ = false;
  std::string reason_;  // why it ended: the first cause seen
};

}  // namespace

// --- Impl: listener ------------------------------------------------------------

std::error_code FaultProxy::Impl::open_listener() {
  std::error_code error;
  const tcp::endpoint endpoint(listen_address_, port_);
  acceptor_.open(endpoint.protocol(), error);
  if (error) return error;
  // The same port must be reusable right after refuse on/off.
  acceptor_.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_.set_option(asio::socket_base::receive_buffer_size(kDeviceReceiveBuffer), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (!error) {
    const tcp::endpoint local = acceptor_.local_endpoint(error);
    if (!error) port_ = local.port();
  }
  if (error) {
    std::error_code ignored;
    acceptor_.close(ignored);
    return error;
  }
  ++accept_generation_;
  arm_accept();
  emit(EventType::listening, 0, {});
  return {};
}

void FaultProxy::Impl::close_listener() {
  std::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  ++accept_generation_;  // a completion still queued is stale
}

void FaultProxy::Impl::arm_accept() {
  acceptor_.async_accept([self = shared_from_this(), generation = accept_generation_](std::error_code error,
                                                                                     tcp::socket socket) {
    self->on_accept(generation, error, std::move(socket));
  });
}

void FaultProxy::Impl::on_accept(std::uint64_t generation, std::error_code error, tcp::socket socket) {
  if (!alive_ || generation != accept_generation_ || error == asio::error::operation_aborted) return;
  if (error) {  // e.g. out of descriptors: retry later rather than spin
    emit(EventType::error, 0, "accept failed: " + error.message());
    accept_retry_.expires_after(kAcceptRetry);
    accept_retry_.async_wait([self = shared_from_this(), generation](std::error_code wait_error) {
      if (!wait_error && self->alive_ && generation == self->accept_generation_) self->arm_accept();
    });
    return;
  }
  auto connection = std::make_shared<Connection>(shared_from_this(), next_connection_id_++, std::move(socket));
  connections_.push_back(connection);
  ++counters_.accepted;
  ++counters_.live;
  emit(EventType::accepted, connection->id(), {});
  connection->connect(upstream_);
  arm_accept();
}

void FaultProxy::Impl::shutdown() {
  alive_ = false;
  on_event_ = nullptr;
  close_listener();
  cancel_schedule();
  for_each_connection([](Connection& c) { c.shutdown(); });
  connections_.clear();
}

void FaultProxy::Impl::emit(EventType type, std::uint64_t connection, std::string text) {
  if (!alive_ || !on_event_) return;
  Event event;
  event.type = type;
  event.port = port_;
  event.connection = connection;
  event.text = std::move(text);
  const EventHandler handler = on_event_;  // the handler may replace itself
  handler(event);
}

void FaultProxy::Impl::on_connection_finished(const Connection* connection, const std::string& reason) {
  const auto it = std::find_if(connections_.begin(), connections_.end(),
                               [connection](const auto& c) { return c.get() == connection; });
  if (it == connections_.end()) return;
  const std::uint64_t id = connection->id();
  connections_.erase(it);
  --counters_.live;
  emit(EventType::closed, id, reason);
}

// --- Impl: modes -----------------------------------------------------------------

std::string FaultProxy::Impl::apply(const Command& c) {
  using Kind = Command::Kind;
  std::error_code error;
  switch (c.kind) {
    case Kind::forward: error = forward(); break;
    case Kind::blackhole: blackhole(c.direction); break;
    case Kind::latency: set_latency(c.delay, c.direction); break;
    case Kind::bytewise: set_bytewise(c.on); break;
    case Kind::reset: reset_all(); break;
    case Kind::close: close_side(c.side); break;
    case Kind::stall: stall_device(c.on); break;
    case Kind::refuse: error = refuse(c.on); break;
    case Kind::inject:
      if (inject(c.direction, c.bytes) == 0) {
        return command_text(c) + ": no live connection to write to (none open that way, or it is blackholed)";
      }
      return {};
  }
  if (!error) return {};
  return command_text(c) + ": cannot listen again on port " + std::to_string(port_) + ": " + error.message();
}

std::error_code FaultProxy::Impl::forward() {
  const bool refusing = mode_.refusing;
  mode_ = Mode{};
  mode_.refusing = refusing;
  for_each_connection([](Connection& c) { c.on_mode_changed(); });
  std::error_code error;
  if (refusing && !acceptor_.is_open()) {
    error = open_listener();
    mode_.refusing = !acceptor_.is_open();
  }
  emit_mode(Command{});
  return error;
}

void FaultProxy::Impl::blackhole(Direction direction) {
  if (direction != Direction::down) mode_.blackhole_up = true;
  if (direction != Direction::up) mode_.blackhole_down = true;
  for_each_connection([](Connection& c) { c.on_mode_changed(); });
  Command c;
  c.kind = Command::Kind::blackhole;
  c.direction = direction;
  emit_mode(c);
}

void FaultProxy::Impl::set_latency(std::chrono::milliseconds delay, Direction direction) {
  delay = std::max(delay, std::chrono::milliseconds(0));
  if (direction != Direction::down) mode_.latency_up = delay;
  if (direction != Direction::up) mode_.latency_down = delay;
  Command c;
  c.kind = Command::Kind::latency;
  c.delay = delay;
  c.direction = direction;
  emit_mode(c);
}

void FaultProxy::Impl::set_bytewise(bool on) {
  mode_.bytewise = on;
  Command c;
  c.kind = Command::Kind::bytewise;
  c.on = on;
  emit_mode(c);
}

void FaultProxy::Impl::stall_device(bool on) {
  mode_.stall_device = on;
  for_each_connection([](Connection& c) { c.on_mode_changed(); });
  Command c;
  c.kind = Command::Kind::stall;
  c.on = on;
  emit_mode(c);
}

std::error_code FaultProxy::Impl::refuse(bool on) {
  std::error_code error;
  if (on) {
    close_listener();
  } else if (!acceptor_.is_open()) {
    error = open_listener();
  }
  mode_.refusing = !acceptor_.is_open();
  Command c;
  c.kind = Command::Kind::refuse;
  c.on = on;
  emit_mode(c);
  return error;
}

void FaultProxy::Impl::reset_all() {
  for_each_connection([](Connection& c) { c.reset(); });
  Command c;
  c.kind = Command::Kind::reset;
  emit_mode(c);
}

void FaultProxy::Impl::close_side(Side side) {
  const int s = side == Side::device ? kDevice : kServer;
  for_each_connection([s](Connection& c) { c.close_side(s); });
  Command c;
  c.kind = Command::Kind::close;
  c.side = side;
  emit_mode(c);
}

std::size_t FaultProxy::Impl::inject(Direction direction, const std::vector<std::uint8_t>& bytes) {
  std::size_t written = 0;
  for_each_connection([&](Connection& c) {
    bool took = false;
    if (direction != Direction::down) took = c.inject(kDevice, bytes) || took;  // pipe 0: toward the server
    if (direction != Direction::up) took = c.inject(kServer, bytes) || took;    // pipe 1: toward the device
    if (took) ++written;
  });
  if (written > 0) {
    Command c;
    c.kind = Command::Kind::inject;
    c.direction = direction;
    c.bytes = bytes;
    emit_mode(c);
  }
  return written;
}

// --- Impl: schedule --------------------------------------------------------------

std::string FaultProxy::Impl::run_schedule(std::string_view spec) {
  std::vector<ScheduleEntry> entries;
  std::string error = parse_schedule(spec, entries);
  if (!error.empty()) return error;
  if (schedule_.size() + entries.size() > kMaxScheduleEntries) {
    return "schedule: more than " + std::to_string(kMaxScheduleEntries) + " commands pending";
  }
  const Clock::time_point start = Clock::now();
  for (const ScheduleEntry& entry : entries) {
    auto timer = std::make_shared<asio::steady_timer>(io_, start + entry.at);
    schedule_.push_back(timer);
    timer->async_wait([self = shared_from_this(), timer, command = entry.command](std::error_code wait_error) {
      if (wait_error || !self->alive_) return;
      self->schedule_.remove(timer);
      const std::string failure = self->apply(command);
      if (!failure.empty()) self->emit(EventType::error, 0, "schedule: " + failure);
    });
  }
  return {};
}

void FaultProxy::Impl::cancel_schedule() {
  // Each handler holds its timer, so clearing the list does not free one
  // that still has a wait queued.
  for (const auto& timer : schedule_) timer->cancel();
  schedule_.clear();
}

// --- FaultProxy ------------------------------------------------------------------

FaultProxy::FaultProxy(asio::io_context& io, const tcp::endpoint& upstream, const tcp::endpoint& listen,
                       EventHandler on_event)
    : impl_(std::make_shared<Impl>(io, upstream, listen, std::move(on_event))) {
  impl_->listen_error_ = impl_->open_listener();
  if (impl_->listen_error_) {
    impl_->port_ = 0;
    impl_->mode_.refusing = true;
  }
}

FaultProxy::~FaultProxy() { impl_->shutdown(); }

std::uint16_t FaultProxy::port() const { return impl_->port_; }
std::error_code FaultProxy::listen_error() const { return impl_->listen_error_; }
void FaultProxy::set_event_handler(EventHandler on_event) { impl_->on_event_ = std::move(on_event); }

std::error_code FaultProxy::forward() { return impl_->forward(); }
void FaultProxy::blackhole(Direction direction) { impl_->blackhole(direction); }
void FaultProxy::set_latency(std::chrono::milliseconds delay, Direction direction) {
  impl_->set_latency(delay, direction);
}
void FaultProxy::set_bytewise(bool on) { impl_->set_bytewise(on); }
void FaultProxy::stall_device(bool on) { impl_->stall_device(on); }
std::error_code FaultProxy::refuse(bool on) { return impl_->refuse(on); }
void FaultProxy::reset_all() { impl_->reset_all(); }
void FaultProxy::close_side(Side side) { impl_->close_side(side); }
std::size_t FaultProxy::inject(Direction direction, const std::vector<std::uint8_t>& bytes) {
  return impl_->inject(direction, bytes);
}

std::string FaultProxy::apply_command(std::string_view line) {
  Command command;
  const std::string error = parse_command(line, command);
  if (!error.empty()) return error;
  return impl_->apply(command);
}

std::string FaultProxy::check_command(std::string_view line) {
  Command command;
  return parse_command(line, command);
}

std::string FaultProxy::check_schedule(std::string_view spec) {
  std::vector<ScheduleEntry> entries;
  return parse_schedule(spec, entries);
}

std::string FaultProxy::run_schedule(std::string_view spec) { return impl_->run_schedule(spec); }
void FaultProxy::cancel_schedule() { impl_->cancel_schedule(); }

FaultProxy::Mode FaultProxy::mode() const { return impl_->mode_; }
FaultProxy::Counters FaultProxy::counters() const { return impl_->counters_; }

const char* to_string(FaultProxy::Direction direction) {
  switch (direction) {
    case FaultProxy::Direction::up: return "up";
    case FaultProxy::Direction::down: return "down";
    case FaultProxy::Direction::both: return "both";
  }
  return "?";
}

const char* to_string(FaultProxy::Side side) { return side == FaultProxy::Side::device ? "device" : "server"; }

}  // namespace uplink::tools
