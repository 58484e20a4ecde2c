// SPDX-License-Identifier: Apache-2.0
// uplink_proxy: the FaultProxy as a program, for the demo and by hand.
//
//   uplink_proxy --upstream IP:PORT [--listen IP:PORT] [--schedule SPEC]
//
//   --upstream  the server each device connection is relayed to (required)
//   --listen    where devices connect (default 127.0.0.1:0, an ephemeral
//               port: read it from the "listening" event)
//   --schedule  "<seconds>s <command>; ..." relative to start, e.g.
//               "3s blackhole both; 9s forward"
//
// stdin: one command per line, applied at once: the FaultProxy commands
// (forward | blackhole up|down|both | latency <ms> [up|down|both] |
// bytewise on|off | reset | close device|server | stall on|off |
// refuse on|off | inject up|down <hex bytes...>), plus `schedule SPEC` and
// `stats`. `inject down ff ff ff ff` writes those four bytes into every live
// connection toward the device (up: toward the server): garbage "from the
// server"; it is reported as a mode event, or as an error if no connection
// took the bytes. Blank lines and lines
// starting with '#' are ignored. End of input does not stop the proxy.
//
// stdout: one JSON object per line, each with "ts_ms" (Unix time in ms,
// to line up with other logs) and "event":
//   listening {port} | accepted {conn} | closed {conn, reason} |
//   mode {command, mode: {blackhole, latency_up_ms, latency_down_ms,
//   bytewise, stall, refuse}} | error {message[, conn]} |
//   stats {accepted, live, bytes_up, bytes_down, dropped_up, dropped_down}
//
// Exit: 0 on SIGINT/SIGTERM, 1 if it cannot listen, 2 for a bad flag.

// First, before any standard header: Asio's configuration depends on it.
#include "uplink/net/asio.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <unistd.h>

#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/signal_set.hpp>

#include "fault_proxy.hpp"
#include "tool_version.hpp"

namespace {

using uplink::tools::FaultProxy;
using tcp = asio::ip::tcp;

constexpr int kExitListenFailed = 1;
constexpr int kExitUsage = 2;
constexpr std::size_t kMaxLine = 4096;
// A regular file on stdin (it cannot be watched by epoll) is read at start,
// up to this much.
constexpr std::size_t kMaxFileInput = std::size_t{1} << 20;

constexpr const char* kUsage =
    "usage: uplink_proxy --upstream IP:PORT [--listen IP:PORT] [--schedule \"<seconds>s <command>; ...\"]\n"
    "       uplink_proxy --version\n"
    "commands (stdin, --schedule): forward | blackhole up|down|both | latency <ms> [up|down|both] |\n"
    "  bytewise on|off | reset | close device|server | stall on|off | refuse on|off |\n"
    "  inject up|down <hex bytes...>   (e.g. inject down ff ff ff ff: raw bytes into every live connection)\n"
    "stdin only: schedule <spec> | stats\n";

// --- JSON output -----------------------------------------------------------------

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      std::array<char, 8> escaped{};
      std::snprintf(escaped.data(), escaped.size(), "\\u%04x", static_cast<unsigned>(c));
      out += escaped.data();
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string head(std::string_view event) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  return "{\"ts_ms\":" + std::to_string(ms.count()) + ",\"event\":" + json_string(event);
}

void print_line(const std::string& json) {
  std::fputs(json.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);  // a script waits for each line
}

void print_error(std::string_view message, std::uint64_t connection = 0) {
  std::string line = head("error") + ",\"message\":" + json_string(message);
  if (connection != 0) line += ",\"conn\":" + std::to_string(connection);
  print_line(line + "}");
}

const char* json_bool(bool b) { return b ? "true" : "false"; }

std::string mode_json(const FaultProxy::Mode& m) {
  const char* blackhole = m.blackhole_up ? (m.blackhole_down ? "both" : "up") : (m.blackhole_down ? "down" : "none");
  return std::string("{\"blackhole\":\"") + blackhole + "\",\"latency_up_ms\":" + std::to_string(m.latency_up.count()) +
         ",\"latency_down_ms\":" + std::to_string(m.latency_down.count()) + ",\"bytewise\":" + json_bool(m.bytewise) +
         ",\"stall\":" + json_bool(m.stall_device) + ",\"refuse\":" + json_bool(m.refusing) + "}";
}

void print_event(const FaultProxy::Event& e, const FaultProxy* proxy) {
  using Type = FaultProxy::EventType;
  switch (e.type) {
    case Type::listening: print_line(head("listening") + ",\"port\":" + std::to_string(e.port) + "}"); break;
    case Type::accepted: print_line(head("accepted") + ",\"conn\":" + std::to_string(e.connection) + "}"); break;
    case Type::closed:
      print_line(head("closed") + ",\"conn\":" + std::to_string(e.connection) + ",\"reason\":" + json_string(e.text) +
                 "}");
      break;
    case Type::mode: {
      std::string line = head("mode") + ",\"command\":" + json_string(e.text);
      if (proxy != nullptr) line += ",\"mode\":" + mode_json(proxy->mode());
      print_line(line + "}");
      break;
    }
    case Type::error: print_error(e.text, e.connection); break;
  }
}

void print_stats(const FaultProxy::Counters& c) {
  print_line(head("stats") + ",\"accepted\":" + std::to_string(c.accepted) + ",\"live\":" + std::to_string(c.live) +
             ",\"bytes_up\":" + std::to_string(c.bytes_up) + ",\"bytes_down\":" + std::to_string(c.bytes_down) +
             ",\"dropped_up\":" + std::to_string(c.dropped_up) + ",\"dropped_down\":" + std::to_string(c.dropped_down) +
             "}");
}

// --- Flags -----------------------------------------------------------------------

// "IP:PORT" or "[IPv6]:PORT"; IP literals only (no name resolution).
bool parse_endpoint(std::string_view text, tcp::endpoint& out) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::error_code error;
  const asio::ip::address address = asio::ip::make_address(std::string(host), error);
  if (error) return false;
  std::uint16_t port = 0;
  const auto [end, parse_error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || parse_error != std::errc() || end != port_text.data() + port_text.size()) return false;
  out = tcp::endpoint(address, port);
  return true;
}

struct Args {
  tcp::endpoint listen{asio::ip::address_v4::loopback(), 0};
  tcp::endpoint upstream;
  bool has_upstream = false;
  std::string schedule;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "uplink_proxy: %s\n%s", message.c_str(), kUsage);
  return kExitUsage;
}

// Returns -1 to go on, or the exit status.
int parse_args(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (flag == "--version") {
      uplink::tools::print_version("uplink_proxy");
      return 0;
    }
    std::string_view value;
    bool has_value = false;
    const std::size_t eq = flag.find('=');
    if (flag.substr(0, 2) == "--" && eq != std::string_view::npos) {  // --flag=value
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    if (flag != "--listen" && flag != "--upstream" && flag != "--schedule") {
      return usage_error("unknown flag '" + std::string(flag) + "'");
    }
    if (!has_value) {
      if (i + 1 >= argc) return usage_error(std::string(flag) + " needs a value");
      value = argv[++i];
    }
    if (flag == "--schedule") {
      std::string error = FaultProxy::check_schedule(value);
      constexpr std::string_view kPrefix = "schedule: ";  // the flag names it already
      if (error.compare(0, kPrefix.size(), kPrefix) == 0) error.erase(0, kPrefix.size());
      if (!error.empty()) return usage_error("--schedule: " + error);
      args.schedule = std::string(value);
      continue;
    }
    tcp::endpoint endpoint;
    if (!parse_endpoint(value, endpoint)) {
      return usage_error(std::string(flag) + ": expected IP:PORT, got '" + std::string(value) + "'");
    }
    if (flag == "--listen") {
      args.listen = endpoint;
    } else {
      if (endpoint.port() == 0) return usage_error("--upstream: port 0 is not a server");
      args.upstream = endpoint;
      args.has_upstream = true;
    }
  }
  if (!args.has_upstream) return usage_error("--upstream is required");
  return -1;
}

// --- stdin -----------------------------------------------------------------------

// Feeds stdin to `on_line` one line at a time, without blocking the
// io_context. Lines longer than kMaxLine are reported and skipped.
class LineReader {
 public:
  LineReader(asio::io_context& io, std::function<void(std::string_view)> on_line)
      : input_(io), on_line_(std::move(on_line)) {}

  void start() {
    std::error_code error;
    input_.assign(::dup(STDIN_FILENO), error);
    if (error) {  // a regular file or /dev/null: epoll refuses it, but reading cannot block
      std::error_code ignored;
      input_.close(ignored);
      read_all_now();
      return;
    }
    arm();
  }

 private:
  void arm() {
    input_.async_read_some(asio::buffer(rx_), [this](std::error_code error, std::size_t n) {
      if (error) return;  // EOF, or closed at exit: the proxy keeps running
      feed(std::string_view(rx_.data(), n));
      arm();
    });
  }

  void read_all_now() {
    std::size_t total = 0;
    while (total < kMaxFileInput) {  // bounded: ends at EOF or the cap
      const ssize_t n = ::read(STDIN_FILENO, rx_.data(), rx_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      total += static_cast<std::size_t>(n);
      feed(std::string_view(rx_.data(), static_cast<std::size_t>(n)));
    }
    if (!line_.empty()) on_line_(line_);
    line_.clear();
  }

  void feed(std::string_view bytes) {
    for (const char c : bytes) {
      if (c == '\n') {
        if (overlong_) {
          print_error("command line longer than " + std::to_string(kMaxLine) + " bytes ignored");
        } else {
          on_line_(line_);
        }
        line_.clear();
        overlong_ = false;
      } else if (line_.size() < kMaxLine) {
        line_ += c;
      } else {
        overlong_ = true;
      }
    }
  }

  asio::posix::stream_descriptor input_;
  std::function<void(std::string_view)> on_line_;
  std::array<char, 1024> rx_{};
  std::string line_;
  bool overlong_ = false;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

void handle_line(FaultProxy& proxy, std::string_view line) {
  line = trim(line);
  if (line.empty() || line.front() == '#') return;
  if (line == "stats") {
    print_stats(proxy.counters());
    return;
  }
  constexpr std::string_view kSchedule = "schedule";
  if (line.substr(0, kSchedule.size()) == kSchedule &&
      (line.size() == kSchedule.size() || line[kSchedule.size()] == ' ' || line[kSchedule.size()] == '\t')) {
    const std::string error = proxy.run_schedule(line.substr(kSchedule.size()));
    if (!error.empty()) print_error(error);
    return;
  }
  const std::string error = proxy.apply_command(line);
  if (!error.empty()) print_error(error);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  const int status = parse_args(argc, argv, args);
  if (status >= 0) return status;

  // A peer that vanishes must surface as an error code, not kill the proxy.
  std::signal(SIGPIPE, SIG_IGN);

  asio::io_context io;
  const FaultProxy* observed = nullptr;  // set once constructed: mode events show the whole mode
  FaultProxy proxy(io, args.upstream, args.listen,
                   [&observed](const FaultProxy::Event& event) { print_event(event, observed); });
  observed = &proxy;
  if (proxy.listen_error()) {
    print_error("cannot listen on " + args.listen.address().to_string() + ":" + std::to_string(args.listen.port()) +
                ": " + proxy.listen_error().message());
    return kExitListenFailed;
  }

  asio::signal_set signals(io);
  std::error_code signal_error;
  signals.add(SIGINT, signal_error);
  if (!signal_error) signals.add(SIGTERM, signal_error);
  if (signal_error) print_error("cannot catch SIGINT/SIGTERM: " + signal_error.message());
  signals.async_wait([&io](std::error_code error, int) {
    if (!error) io.stop();  // destructors then close every connection
  });

  if (!args.schedule.empty()) {
    const std::string error = proxy.run_schedule(args.schedule);
    if (!error.empty()) print_error(error);  // checked with the flags: not expected
  }

  LineReader reader(io, [&proxy](std::string_view line) { handle_line(proxy, line); });
  reader.start();

  io.run();
  return 0;
}
