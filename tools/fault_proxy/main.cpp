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
// Flags, --help and --version as every tool has them
// (tools/service/command_line.hpp); JSON lines from the tools' one writer
// (tools/service/json_line.hpp).

// First, before any standard header: Asio's configuration depends on it.
#include "uplink/net/asio.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
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
#include "command_line.hpp"
#include "json_line.hpp"

namespace {

using uplink::tools::FaultProxy;
using tcp = asio::ip::tcp;

constexpr int kExitListenFailed = 1;
constexpr std::size_t kMaxLine = 4096;
// A regular file on stdin (it cannot be watched by epoll) is read at start,
// up to this much.
constexpr std::size_t kMaxFileInput = std::size_t{1} << 20;

constexpr const char* kDescription =
    "uplink_proxy: a TCP proxy that injects faults between devices and a server. One JSON line per event on\n"
    "stdout. Exit status: 0 on SIGINT/SIGTERM, 1 if it cannot listen, 2 on a bad flag.";

constexpr const char* kFooter =
    "commands (stdin, --schedule): forward | blackhole up|down|both | latency <ms> [up|down|both] |\n"
    "  bytewise on|off | reset | close device|server | stall on|off | refuse on|off |\n"
    "  inject up|down <hex bytes...>   (e.g. inject down ff ff ff ff: raw bytes into every live connection)\n"
    "stdin only: schedule <spec> | stats";

// --- JSON output -----------------------------------------------------------------

using uplink::tools::JsonLine;
using uplink::tools::wall_clock_ms;

void print_error(std::string_view message, std::uint64_t connection = 0) {
  JsonLine line(wall_clock_ms(), "error");
  line.field("message", message);
  if (connection != 0) line.field("conn", connection);
  line.print();
}

std::string mode_json(const FaultProxy::Mode& m) {
  const char* blackhole = m.blackhole_up ? (m.blackhole_down ? "both" : "up") : (m.blackhole_down ? "down" : "none");
  const auto flag = [](bool b) { return b ? "true" : "false"; };
  return std::string("{\"blackhole\":\"") + blackhole + "\",\"latency_up_ms\":" + std::to_string(m.latency_up.count()) +
         ",\"latency_down_ms\":" + std::to_string(m.latency_down.count()) + ",\"bytewise\":" + flag(m.bytewise) +
         ",\"stall\":" + flag(m.stall_device) + ",\"refuse\":" + flag(m.refusing) + "}";
}

void print_event(const FaultProxy::Event& e, const FaultProxy* proxy) {
  using Type = FaultProxy::EventType;
  switch (e.type) {
    case Type::listening:
      JsonLine(wall_clock_ms(), "listening").field("port", std::uint64_t{e.port}).print();
      break;
    case Type::accepted:
      JsonLine(wall_clock_ms(), "accepted").field("conn", std::uint64_t{e.connection}).print();
      break;
    case Type::closed:
      JsonLine(wall_clock_ms(), "closed").field("conn", std::uint64_t{e.connection}).field("reason", e.text).print();
      break;
    case Type::mode: {
      JsonLine line(wall_clock_ms(), "mode");
      line.field("command", e.text);
      if (proxy != nullptr) line.raw("mode", mode_json(proxy->mode()));
      line.print();
      break;
    }
    case Type::error: print_error(e.text, e.connection); break;
  }
}

void print_stats(const FaultProxy::Counters& c) {
  JsonLine(wall_clock_ms(), "stats")
      .field("accepted", std::uint64_t{c.accepted})
      .field("live", std::uint64_t{c.live})
      .field("bytes_up", std::uint64_t{c.bytes_up})
      .field("bytes_down", std::uint64_t{c.bytes_down})
      .field("dropped_up", std::uint64_t{c.dropped_up})
      .field("dropped_down", std::uint64_t{c.dropped_down})
      .print();
}

// --- Flags -----------------------------------------------------------------------

struct Args {
  tcp::endpoint listen{asio::ip::address_v4::loopback(), 0};
  tcp::endpoint upstream;
  std::string schedule;
};

tcp::endpoint endpoint_of(const std::string& text) {
  uplink::tools::HostPort endpoint;
  (void)uplink::tools::split_host_port(text, endpoint);  // checked by numeric_host_port()
  return tcp::endpoint(asio::ip::make_address(endpoint.host), endpoint.port);
}

// Returns nothing to run, or the exit status.
std::optional<int> parse_args(int argc, char** argv, Args& args) {
  uplink::tools::CommandLine command_line("uplink_proxy", kDescription);
  CLI::App& app = command_line.app();
  app.footer(kFooter);
  std::string listen;
  std::string upstream;
  app.add_option("--upstream", upstream, "the server each device connection is relayed to (required)")
      ->type_name("IP:PORT")
      ->required()
      ->check(uplink::tools::numeric_host_port());
  app.add_option("--listen", listen,
                 "where devices connect (default 127.0.0.1:0, an ephemeral port: read it from the \"listening\" "
                 "event)")
      ->type_name("IP:PORT")
      ->check(uplink::tools::numeric_host_port());
  app.add_option("--schedule", args.schedule,
                 "\"<seconds>s <command>; ...\" relative to start, e.g. \"3s blackhole both; 9s forward\"")
      ->type_name("SPEC")
      ->check(CLI::Validator(
          [](std::string& value) {
            std::string error = FaultProxy::check_schedule(value);
            constexpr std::string_view kPrefix = "schedule: ";  // the flag names it already
            if (error.compare(0, kPrefix.size(), kPrefix) == 0) error.erase(0, kPrefix.size());
            return error;
          },
          "", ""));
  if (const std::optional<int> status = command_line.parse(argc, argv)) return status;
  if (!listen.empty()) args.listen = endpoint_of(listen);
  args.upstream = endpoint_of(upstream);
  if (args.upstream.port() == 0) return command_line.refuse("--upstream", "port 0 is not a server");
  return std::nullopt;
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
  if (const std::optional<int> status = parse_args(argc, argv, args)) return *status;

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
