// SPDX-License-Identifier: Apache-2.0
// uplink_server: the reference server as a program.
//
//   uplink_server [--listen host:port] [--heartbeat-min-ms N] [--heartbeat-max-ms N]
//                 [--read-factor X] [--max-connections N]
//                 [--shutdown-retry-after-ms N] [--print-payloads] [--state-dir DIR]
//                 [--events all|connections|none] [--stats-interval-ms N]
//                 [--tls-cert FILE --tls-key FILE [--tls-ca FILE --require-client-cert
//                  [--client-cert-id cn|san]] [--no-session-tickets]]
//                 [--credentials FILE] [--insecure-no-auth]
//   uplink_server provision --credentials FILE --device ID [--token-file OUT] [--iterations N]
//   uplink_server provision --credentials FILE --device ID --revoke
//
// Device authentication is on by default (authenticator.hpp): the server
// refuses to start unless devices prove who they are with a token checked
// against --credentials FILE (salted PBKDF2 hashes, credentials_file.hpp;
// `uplink_server provision` adds or rotates a device and prints its new
// token once, provision.cpp), or with a client certificate whose CN (or,
// with --client-cert-id san, a dNSName SAN) is the device id
// (--require-client-cert), or both. --insecure-no-auth runs without and
// says so on stderr at start. A refused HELLO gets CLOSE unauthorized and
// an error event "unauthorized" naming the cause; tokens are never printed.
// The credentials file is read again when it changes (a rotation takes
// effect at the next HELLO); a broken edit is reported on stderr and the
// previous credentials stay in use.
//
// Prints one JSON line per event on stdout (json_events.hpp), the first
// being {"event":"listening","port":P}. Lines are buffered: connection-level
// lines (online, offline, error, listening, shutdown, state, stats) are
// written at once, message lines before the ACK that covers them, the lines
// a stdin command caused once it is done, and any other line within 200 ms
// (a timer); all at exit. --events connections drops the per-message lines
// (message, duplicate, downlink), --events none all but error, listening,
// shutdown and stats; --stats-interval-ms N prints a stats line every N ms
// (default 10000, 0 = never). Reads commands on stdin, one per line:
//
//   send <device-id> <text>                   downlink DATA (held if the device is offline)
//   close <device-id> <retry_after_ms> [reason]  CLOSE (default reason normal)
//   close-all <retry_after_ms>                CLOSE going_away to every connection
//   quit                                      as SIGINT
//
// SIGINT / SIGTERM: CLOSE going_away to everyone, wait for them to hang up
// (bounded), print {"event":"shutdown","received":N,"duplicates":M}, exit 0.
// Flags, --help and --version as every tool has them
// (tools/service/command_line.hpp): a bad flag or value is refused with a
// message naming the flag on stderr, exit 2. Cannot listen: exit 1.
//
// Under systemd (uplink-server.service, Type=notify): READY=1 once it
// listens, WATCHDOG=1 from a timer on the io loop when WatchdogSec= is set,
// STOPPING=1 at shutdown (tools/service/service_notifier.hpp).
//
// Durable sessions (--state-dir DIR): sessions, their uplink positions and
// their unacknowledged downlink are journaled in DIR (file_session_store.hpp)
// and committed before the ACK, WELCOME or downlink DATA that depends on
// them, so a server killed with SIGKILL and restarted on the same DIR
// resumes every session: no uplink message reaches the durable record
// twice, and each downlink message reaches the device application once.
// The start prints {"event":"state",...}; a torn last record (a crash
// mid-write) is dropped and counted there ("torn_bytes"); a corrupt state
// file is refused: a message naming the file and the problem on stderr,
// exit 1. If the state cannot be written, the server exits 1 at once (a
// restart continues from what was committed). Message events are printed
// after the commit, so stdout never shows a message twice across kills,
// but a kill between the commit and the write of the read batch's lines
// (before its ACK) can leave them out: a
// consumer that needs every message exactly once reads the durable record,
// `uplink_server --state-dir DIR --dump-delivered` (one "delivered" line per
// message, oldest first), or makes its sink idempotent on (session, seq).
//
// TLS (builds with uplink_tls): --tls-cert and --tls-key (PEM or DER files)
// make every connection TLS 1.2 (mbedTLS); session tickets are issued unless
// --no-session-tickets. --require-client-cert with --tls-ca FILE demands a
// device certificate issued by that CA (mutual TLS). The listening line
// then carries "tls":true; failed handshakes are error events
// tls_handshake_failed / tls_handshake_timeout. Credentials that cannot be
// loaded: a message naming the setting on stderr, exit 1. Throwaway
// certificates for a demo: uplink_make_test_pki <dir> (make_test_pki.cpp),
// then
//   uplink_server --tls-cert <dir>/server.pem --tls-key <dir>/server.key
//                 [--tls-ca <dir>/ca.pem --require-client-cert]
////
// All protocol handling lives in the uplink_reference_server library; this
// file only parses flags and commands.
#include "uplink/net/asio.hpp"

#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <poll.h>
#include <unistd.h>

#include "authenticator.hpp"
#include "command_line.hpp"
#include "file_session_store.hpp"
#include "json_events.hpp"
#include "server.hpp"
#include "service_notifier.hpp"
#include "uplink/error.hpp"

#if UPLINK_REFERENCE_SERVER_TLS
#include "credentials_file.hpp"
#include "provision.hpp"
#include "uplink/tls/tls_config.hpp"
#endif

namespace {

using uplink::server::FileSessionStore;
using uplink::server::JsonEventPrinter;
using uplink::server::Server;
using uplink::server::ServerOptions;

constexpr const char* kDescription =
    "uplink_server: the reference server. One JSON line per event on stdout; commands on stdin.\n"
    "Exit status: 0 after SIGINT, SIGTERM or quit; 1 when it cannot listen or keep its state; 2 on a bad flag.\n"
    "  uplink_server provision --credentials FILE --device ID [--token-file OUT] [--iterations N] [--revoke]\n"
    "                               adds a device to the credentials file (or rotates its token): prints a new\n"
    "                               random token once (or writes it, mode 0600, to --token-file OUT), stores\n"
    "                               only its salted hash; --revoke removes the device (see provision --help)";

constexpr const char* kFooter =
    "stdin: send <device-id> <text> | close <device-id> <retry_after_ms> [reason] | close-all <retry_after_ms> | quit\n"
    "stdout: JSON lines, buffered: online, offline, error, listening, shutdown, state and stats lines are written\n"
    "        at once; message lines before the ACK that covers them; a command's lines once it is done; any\n"
    "        other line (a duplicate) within 200 ms; everything at exit (SIGINT, SIGTERM, quit)";

struct Config {
  ServerOptions server;
  bool print_payloads = false;
  uplink::server::EventLevel events = uplink::server::EventLevel::all;
  std::uint32_t stats_interval_ms = 10000;
  std::uint32_t shutdown_retry_after_ms = 1000;
  std::string state_dir;
  bool dump_delivered = false;
  // TLS: enabled by --tls-cert + --tls-key.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  bool require_client_cert = false;
  bool session_tickets = true;
  // Device authentication.
  std::string credentials;
  uplink::server::CertificateIdField client_cert_id = uplink::server::CertificateIdField::common_name;
  bool client_cert_id_given = false;
  bool insecure_no_auth = false;
};

template <typename T>
bool parse_number(std::string_view text, T& value) {
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  return !text.empty() && result.ec == std::errc() && result.ptr == end;
}

// Returns nothing to run, or the exit status.
std::optional<int> parse_args(int argc, char** argv, Config& config) {
  using uplink::tools::unsigned_within;
  uplink::tools::CommandLine command_line("uplink_server", kDescription);
  CLI::App& app = command_line.app();
  app.footer(kFooter);
  ServerOptions& server = config.server;
  std::string listen;
  app.add_option("--listen", listen,
                 "numeric IPv4 or [IPv6] address and port (default 127.0.0.1:7400; port 0 = any)")
      ->type_name("host:port")
      ->check(uplink::tools::numeric_host_port());
  constexpr const char* kMs = "expected milliseconds, 1..4294967295";
  command_line.number("--heartbeat-min-ms", server.session.heartbeat_min_ms, "smallest heartbeat granted (default 1000)",
                      kMs, 1);
  command_line.number("--heartbeat-max-ms", server.session.heartbeat_max_ms,
                      "largest heartbeat granted (default 300000)", kMs, 1);
  app.add_option("--read-factor", server.session.read_factor, "read deadline = X x heartbeat, 1..100 (default 2.5)")
      ->type_name("X")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            double factor = 0;
            if (parse_number(value, factor) && factor >= 1.0 && factor <= 100.0) return {};
            return "expected a number within 1 .. 100, got '" + value + "'";
          },
          "", ""));
  command_line.number("--max-connections", server.max_connections, "beyond this, CLOSE overloaded (default 1000)",
                      "expected a count > 0", 1);
  command_line.number("--hello-timeout-ms", server.session.hello_timeout_ms,
                      "a connection must send HELLO within this (default 5000)", kMs, 1);
  command_line.number("--max-pending-hello", server.max_pending_hello,
                      "connections without HELLO at once; a newcomer beyond it evicts the oldest of them (default 256)",
                      "expected a count > 0", 1);
  command_line.number("--max-pending-hello-per-source", server.max_pending_hello_per_source,
                      "of those, from one address; beyond it CLOSE overloaded (default 64; 0 = no such limit)",
                      "expected a count (0 = no limit)");
  command_line.number("--shutdown-retry-after-ms", config.shutdown_retry_after_ms,
                      "retry hint of the CLOSE going_away sent on exit (default 1000)",
                      "expected milliseconds, 0..4294967295");
  command_line.number("--shutdown-reconnect-rate", server.shutdown_reconnect_rate,
                      "on exit, spread those hints so devices return at about N per second (default 500; 0 = the "
                      "same hint for all)",
                      "expected devices per second, 0..4294967295 (0 = no spreading)");
  app.add_flag("--print-payloads", config.print_payloads, "add \"payload\" to message events");
  std::string events;
  app.add_option("--events", events,
                 "which JSON lines go to stdout: all (default); connections (all but the per-message message, "
                 "duplicate and downlink lines); none (only error, listening, shutdown and stats)")
      ->type_name("LEVEL")
      ->check(uplink::tools::one_of({"all", "connections", "none"}));
  app.add_option("--stats-interval-ms", config.stats_interval_ms,
                 "a {\"event\":\"stats\"} line (connections, online, received, duplicates, bytes, msgs_per_s) every "
                 "N ms, 100..3600000; 0 = none (default 10000)")
      ->type_name("N")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            std::uint64_t ms = 0;
            if (uplink::tools::parse_unsigned(value, ms) && (ms == 0 || (ms >= 100 && ms <= 3600000))) return {};
            return "expected milliseconds, 100..3600000, or 0 for no stats lines, got '" + value + "'";
          },
          "", ""));
  command_line.text("--state-dir", config.state_dir,
                    "durable sessions in DIR (created if missing): a killed and restarted server resumes them, "
                    "exactly once both ways; a corrupt state file: exit 1",
                    "DIR", "expected a directory");
  app.add_flag("--dump-delivered", config.dump_delivered,
               "print the uplink messages delivered into DIR's durable record, oldest first, one \"delivered\" line "
               "each, and exit (needs --state-dir)");
  constexpr const char* kFile = "expected a file name";
  command_line.text("--tls-cert", config.tls_cert, "TLS: the server certificate (chain), PEM or DER; needs --tls-key",
                    "FILE", kFile);
  command_line.text("--tls-key", config.tls_key, "TLS: its private key", "FILE", kFile);
  command_line.text("--tls-ca", config.tls_ca, "TLS: CA of device certificates, with --require-client-cert", "FILE",
                    kFile);
  app.add_flag("--require-client-cert", config.require_client_cert,
               "TLS: devices must present a certificate from --tls-ca (mutual TLS)");
  bool no_session_tickets = false;
  app.add_flag("--no-session-tickets", no_session_tickets, "TLS: issue no session tickets (no resumption)");
  std::string client_cert_id;
  app.add_option("--client-cert-id", client_cert_id,
                 "mutual TLS: the device id must be the certificate's CN (default) or one of its DNS subjectAltNames")
      ->type_name("cn|san")
      ->check(uplink::tools::one_of({"cn", "san"}));
  command_line.text("--credentials", config.credentials,
                    "devices must send the token provisioned for them in FILE (salted PBKDF2 hashes; see provision); "
                    "FILE must not be writable by group or others",
                    "FILE", kFile);
  app.add_flag("--insecure-no-auth", config.insecure_no_auth,
               "run WITHOUT device authentication: anyone who reaches the port can claim any device id (tests only; "
               "warns at start). Without it, the server needs --credentials or --require-client-cert (or both) and "
               "refuses to start");

  if (const std::optional<int> status = command_line.parse(argc, argv)) return status;
  if (!listen.empty()) {
    uplink::tools::HostPort endpoint;
    (void)uplink::tools::split_host_port(listen, endpoint);  // checked by numeric_host_port()
    server.address = endpoint.host;
    server.port = endpoint.port;
  }
  if (!events.empty()) (void)uplink::server::parse_event_level(events, config.events);  // checked by one_of()
  config.session_tickets = !no_session_tickets;
  if (!client_cert_id.empty()) {
    config.client_cert_id_given = true;
    config.client_cert_id = client_cert_id == "cn" ? uplink::server::CertificateIdField::common_name
                                                   : uplink::server::CertificateIdField::dns_san;
  }
  const auto bad_flag = [&command_line](std::string_view flag, std::string_view problem) {
    return std::optional<int>(command_line.refuse(flag, problem));
  };
  const bool tls = !config.tls_cert.empty() || !config.tls_key.empty();
  if (tls) {
#if !UPLINK_REFERENCE_SERVER_TLS
    return bad_flag(config.tls_cert.empty() ? "--tls-key" : "--tls-cert",
                    "this build has no TLS support (UPLINK_WITH_TLS=OFF)");
#endif
    if (config.tls_cert.empty()) return bad_flag("--tls-key", "needs --tls-cert");
    if (config.tls_key.empty()) return bad_flag("--tls-cert", "needs --tls-key");
  } else {
    if (!config.tls_ca.empty()) return bad_flag("--tls-ca", "needs --tls-cert and --tls-key");
    if (config.require_client_cert) return bad_flag("--require-client-cert", "needs --tls-cert and --tls-key");
    if (!config.session_tickets) return bad_flag("--no-session-tickets", "needs --tls-cert and --tls-key");
  }
  if (config.require_client_cert && config.tls_ca.empty()) {
    return bad_flag("--require-client-cert", "needs --tls-ca (the CA of device certificates)");
  }
  if (!config.tls_ca.empty() && !config.require_client_cert) {
    return bad_flag("--tls-ca", "only used with --require-client-cert");
  }
  if (config.client_cert_id_given && !config.require_client_cert) {
    return bad_flag("--client-cert-id", "needs --require-client-cert");
  }
#if !UPLINK_REFERENCE_SERVER_TLS
  if (!config.credentials.empty()) {
    return bad_flag("--credentials", "this build has no mbedTLS (UPLINK_WITH_TLS=OFF) for the token hashes");
  }
#endif
  const bool authenticated = !config.credentials.empty() || config.require_client_cert;
  if (config.insecure_no_auth && authenticated) {
    return bad_flag("--insecure-no-auth", "contradicts --credentials / --require-client-cert");
  }
  if (!authenticated && !config.insecure_no_auth && !config.dump_delivered) {
    return bad_flag("device authentication",
                    "none configured: give --credentials FILE (see uplink_server provision) or mutual TLS "
                    "(--require-client-cert), or --insecure-no-auth to let any client claim any device id");
  }
  if (config.dump_delivered && config.state_dir.empty()) return bad_flag("--dump-delivered", "needs --state-dir");
  if (config.server.session.heartbeat_min_ms > config.server.session.heartbeat_max_ms) {
    return bad_flag("--heartbeat-min-ms", "must not exceed --heartbeat-max-ms");
  }
  return std::nullopt;
}

bool parse_close_reason(std::string_view name, uplink::CloseReason& reason) {
  // Bounded: the codes of protocol v1.
  for (unsigned code = 0; code <= static_cast<unsigned>(uplink::CloseReason::session_replaced); ++code) {
    const auto candidate = static_cast<uplink::CloseReason>(code);
    if (name == uplink::close_reason_name(candidate)) {
      reason = candidate;
      return true;
    }
  }
  return false;
}

// Splits off the first space-separated word of `rest`.
std::string_view next_word(std::string_view& rest) {
  const std::size_t start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  const std::size_t end = rest.find(' ');
  const std::string_view word = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  return word;
}

// Passes every event to the printer and counts the payload bytes (stats
// lines); a failed commit of the durable state ends the program (the server
// has already stopped itself).
class EventSink final : public uplink::server::ServerEvents {
 public:
  EventSink(JsonEventPrinter& printer, std::function<void()> on_state_failure)
      : printer_(printer), on_state_failure_(std::move(on_state_failure)) {}
  void on_online(const uplink::server::OnlineEvent& event) override { printer_.on_online(event); }
  void on_message(const uplink::server::MessageEvent& event) override {
    bytes_ += event.payload.size;
    printer_.on_message(event);
  }
  void on_batch_delivered() override { printer_.on_batch_delivered(); }
  void on_duplicate(const uplink::server::DuplicateEvent& event) override { printer_.on_duplicate(event); }
  void on_offline(const uplink::server::OfflineEvent& event) override { printer_.on_offline(event); }
  void on_downlink(const uplink::server::DownlinkEvent& event) override { printer_.on_downlink(event); }
  void on_error(const uplink::server::ErrorEvent& event) override {
    printer_.on_error(event);
    if (std::string_view(event.reason) == "state_write_failed") on_state_failure_();
  }

  /// Payload bytes of the messages delivered.
  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }

 private:
  JsonEventPrinter& printer_;
  std::function<void()> on_state_failure_;
  std::uint64_t bytes_ = 0;
};

std::uint64_t steady_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

class Program {
 public:
  Program(asio::io_context& io, const Config& config)
      : io_(io), config_(config), printer_(stdout, config.print_payloads, config.events),
        sink_(printer_, [this] { state_failed(); }), server_(io, sink_, config.server), signals_(io),
        flush_timer_(io), stats_timer_(io), stats_meter_(steady_ms()) {
    printer_.set_on_buffered([this] { arm_flush(); });
  }
  // The server is destroyed after the timers and may still report events:
  // from here on, lines wait for the printer's own final flush.
  ~Program() { printer_.set_on_buffered({}); }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  int run() {
    if (!config_.state_dir.empty()) {
      if (const std::error_code error = store_.open(config_.state_dir, server_.registry())) {
        const std::string problem = store_.problem().empty() ? error.message() : store_.problem();
        std::fprintf(stderr, "uplink_server: cannot use the state in %s: %s\n", config_.state_dir.c_str(),
                     problem.c_str());
        return 1;
      }
      if (store_.torn_bytes() != 0) {
        std::fprintf(stderr, "uplink_server: %s: dropped a torn last record (%zu bytes) left by a crash\n",
                     config_.state_dir.c_str(), store_.torn_bytes());
      }
      printer_.state(config_.state_dir, store_.segment_number(), server_.registry().size(),
                     store_.replayed_records(), store_.torn_bytes());
    }
    if (const std::error_code error = server_.start()) {
      printer_.error("listen_failed", error.message());
      std::fprintf(stderr, "uplink_server: cannot listen on %s:%u: %s\n", config_.server.address.c_str(),
                   static_cast<unsigned>(config_.server.port), error.message().c_str());
      return 1;
    }
    printer_.listening(config_.server.address, server_.port(), config_.server.tls != nullptr);
    notifier_.ready("listening on " + config_.server.address + ":" + std::to_string(server_.port()));
    if (config_.stats_interval_ms != 0) {
      stats_timer_.expires_after(std::chrono::milliseconds(config_.stats_interval_ms));
      arm_stats();
    }

    asio::error_code error;
    signals_.add(SIGINT, error);
    if (!error) signals_.add(SIGTERM, error);
    if (error) std::fprintf(stderr, "uplink_server: cannot watch signals: %s\n", error.message().c_str());
    signals_.async_wait([this](const asio::error_code& wait_error, int) {
      if (!wait_error) begin_shutdown();
    });

    std::thread reader([this] { read_commands(); });
    io_.run();
    stop_reading_ = true;
    reader.join();  // bounded: the reader polls stop_reading_ every 100 ms
    return exit_status_;
  }

 private:
  // Runs on its own thread: stdin may be a pipe, a terminal or a file, and
  // only a thread reads all three alike. Lines go to the I/O thread.
  void read_commands() {
    std::string pending;
    char buffer[4096];
    while (!stop_reading_) {
      pollfd fd{STDIN_FILENO, POLLIN, 0};
      const int ready = ::poll(&fd, 1, 100);
      if (ready < 0 && errno != EINTR) return;
      if (ready <= 0) continue;
      const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // end of input: keep serving, stop reading
      pending.append(buffer, static_cast<std::size_t>(n));
      std::size_t newline = pending.find('\n');
      while (newline != std::string::npos) {  // bounded by the bytes just read
        std::string line = pending.substr(0, newline);
        pending.erase(0, newline + 1);
        asio::post(io_, [this, line = std::move(line)] { execute(line); });
        newline = pending.find('\n');
      }
      if (pending.size() > 65536) {  // a "line" without end: drop it
        pending.clear();
        asio::post(io_, [this] { printer_.error("bad_command", "line longer than 64 KiB"); });
      }
    }
  }

  // The lines a command caused (its downlink line, an error) go out once it is done.
  void execute(std::string_view line) {
    execute_command(line);
    printer_.flush();
  }

  void execute_command(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view rest = line;
    const std::string_view command = next_word(rest);
    if (command.empty()) return;
    if (command == "send") {
      const std::string_view device = next_word(rest);
      if (device.empty()) return printer_.error("bad_command", "usage: send <device-id> <text>");
      const std::error_code error = server_.send_downlink(device, uplink::ConstByteSpan{rest.data(), rest.size()});
      if (error == uplink::Errc::offline) {  // Server::send_downlink: no session known for the device
        printer_.error("send_failed", std::string(device) + ": unknown device (no session)");
      } else if (error) {
        printer_.error("send_failed", std::string(device) + ": " + error.message());
      }
      return;
    }
    if (command == "close") {
      const std::string_view device = next_word(rest);
      const std::string_view retry = next_word(rest);
      const std::string_view reason_name = next_word(rest);
      std::uint32_t retry_after_ms = 0;
      uplink::CloseReason reason = uplink::CloseReason::normal;
      if (device.empty() || !parse_number(retry, retry_after_ms) ||
          (!reason_name.empty() && !parse_close_reason(reason_name, reason))) {
        return printer_.error("bad_command", "usage: close <device-id> <retry_after_ms> [reason]");
      }
      if (server_.close_device(device, reason, retry_after_ms)) {
        printer_.error("close_failed", std::string(device) + ": not connected");
      }
      return;
    }
    if (command == "close-all") {
      std::uint32_t retry_after_ms = 0;
      if (!parse_number(next_word(rest), retry_after_ms)) {
        return printer_.error("bad_command", "usage: close-all <retry_after_ms>");
      }
      server_.close_all(uplink::CloseReason::going_away, retry_after_ms);
      return;
    }
    if (command == "quit") return begin_shutdown();
    printer_.error("bad_command", "unknown command: " + std::string(command));
  }

  // Lines buffered by the printer are written within kFlushIntervalMs. A
  // wait already pending covers the new line too (it ends sooner), so a
  // flood, which asks again after every batch written, never re-arms it.
  void arm_flush() {
    if (flush_armed_) return;
    flush_armed_ = true;
    flush_timer_.expires_after(std::chrono::milliseconds(JsonEventPrinter::kFlushIntervalMs));
    flush_timer_.async_wait([this](const asio::error_code& error) {
      flush_armed_ = false;
      if (!error) printer_.flush();
    });
  }

  // One stats line per interval; the next expiry counts from the previous
  // one, not from now, so that the lines do not drift.
  void arm_stats() {
    stats_timer_.async_wait([this](const asio::error_code& error) {
      if (error) return;
      const uplink::server::ServerCounters& c = server_.counters();
      printer_.stats(stats_meter_.sample(steady_ms(), server_.connection_count(), server_.online_count(), c.messages,
                                         c.duplicates, sink_.bytes()));
      stats_timer_.expires_at(stats_timer_.expiry() + std::chrono::milliseconds(config_.stats_interval_ms));
      arm_stats();
    });
  }

  void state_failed() {
    notifier_.stopping();
    std::fprintf(stderr, "uplink_server: cannot write the session state: %s; exiting (a restart continues from what was committed)\n",
                 store_.problem().c_str());
    exit_status_ = 1;
    asio::error_code ignored;
    signals_.cancel(ignored);
    cancel_timers();
    io_.stop();
  }

  void cancel_timers() {
    flush_timer_.cancel();
    stats_timer_.cancel();
  }

  void begin_shutdown() {
    notifier_.stopping();
    server_.shutdown(uplink::CloseReason::going_away, config_.shutdown_retry_after_ms, [this] {
      printer_.shutdown(server_.counters().messages, server_.counters().duplicates);
      asio::error_code ignored;
      signals_.cancel(ignored);
      cancel_timers();
      io_.stop();
    });
  }

  asio::io_context& io_;
  const Config& config_;
  JsonEventPrinter printer_;
  EventSink sink_;
  // Before the server: the server's registry uses it until the server is gone.
  FileSessionStore store_;
  Server server_;
  asio::signal_set signals_;
  asio::steady_timer flush_timer_;
  bool flush_armed_ = false;
  asio::steady_timer stats_timer_;
  uplink::server::StatsMeter stats_meter_;
  std::atomic<bool> stop_reading_{false};
  int exit_status_ = 0;
  uplink::tools::ServiceNotifier notifier_{io_};
};

int dump_delivered(const Config& config) {
  JsonEventPrinter printer(stdout, true);
  std::string problem;
  const std::error_code error = FileSessionStore::read_delivered(
      config.state_dir,
      [&printer](const FileSessionStore::Delivered& d) {
        printer.delivered(d.device_id, d.session_id, d.seq, d.segment,
                          uplink::ConstByteSpan{d.payload.data(), d.payload.size()});
      },
      problem);
  if (error) {
    std::fprintf(stderr, "uplink_server: cannot read the state in %s: %s\n", config.state_dir.c_str(), problem.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "provision") {
#if UPLINK_REFERENCE_SERVER_TLS
    return uplink::server::run_provision(argc - 1, argv + 1);
#else
    std::fputs("uplink_server: provision: this build has no mbedTLS (UPLINK_WITH_TLS=OFF)\n", stderr);
    return 2;
#endif
  }
  Config config;
  if (const std::optional<int> status = parse_args(argc, argv, config)) return *status;
  if (config.dump_delivered) return dump_delivered(config);
#if UPLINK_REFERENCE_SERVER_TLS
  // Outlives the server (ServerOptions::tls is not owned).
  uplink::tls::TlsConfig tls_config;
  if (!config.tls_cert.empty()) {
    uplink::tls::TlsSettings settings;
    settings.role = uplink::tls::TlsRole::server;
    settings.certificate = uplink::tls::Credential::file(config.tls_cert.c_str());
    settings.private_key = uplink::tls::Credential::file(config.tls_key.c_str());
    if (!config.tls_ca.empty()) settings.ca = uplink::tls::Credential::file(config.tls_ca.c_str());
    settings.require_client_certificate = config.require_client_cert;
    settings.session_tickets = config.session_tickets;
    if (const std::error_code error = tls_config.init(settings)) {
      // The TlsSettings field named as the flag that set it.
      const std::string_view field = tls_config.failed_field();
      const std::string flag = field == "certificate" ? "--tls-cert " + config.tls_cert
                               : field == "private_key" ? "--tls-key " + config.tls_key
                               : field == "ca"          ? "--tls-ca " + config.tls_ca
                                                        : std::string(field);
      std::fprintf(stderr, "uplink_server: TLS setup failed: %s: %s\n", flag.c_str(), error.message().c_str());
      return 1;
    }
    config.server.tls = &tls_config;
  }
  // Outlive the server too (ServerOptions::authenticator is not owned).
  uplink::server::CredentialsFile credentials;
  uplink::server::CertificateAuthenticator by_certificate(config.client_cert_id);
  std::unique_ptr<uplink::server::AllOf> both;
  if (!config.credentials.empty()) {
    if (const std::error_code error = credentials.load(config.credentials)) {
      std::fprintf(stderr, "uplink_server: --credentials: %s\n",
                   credentials.problem().empty() ? error.message().c_str() : credentials.problem().c_str());
      return 1;
    }
    credentials.set_on_reload([](bool ok, const std::string& message) {
      std::fprintf(stderr, "uplink_server: %scredentials %s\n", ok ? "" : "cannot reload the ", message.c_str());
    });
    config.server.authenticator = &credentials;
  }
  if (config.require_client_cert) {
    if (config.server.authenticator != nullptr) {
      both = std::make_unique<uplink::server::AllOf>(by_certificate, credentials);
      config.server.authenticator = both.get();
    } else {
      config.server.authenticator = &by_certificate;
    }
  }
#endif
  if (config.insecure_no_auth) {
    std::fputs("uplink_server: WARNING: --insecure-no-auth: devices are NOT authenticated; anyone who can reach "
               "this port can claim any device id, take over its session and read its downlink\n",
               stderr);
  }
  asio::io_context io;
  Program program(io, config);
  return program.run();
}
