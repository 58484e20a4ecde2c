// SPDX-License-Identifier: Apache-2.0
// What the MQTT client peers of bench/mqtt_clients.sh share: one program per
// client library (uplink, libmosquitto, paho.mqtt.c), each its own process so
// that its CPU time and peak RSS are its own, all with the same flags and the
// same output. A peer connects to an MQTT broker (clean session 0, keepalive
// as given) and then does one of two things:
//
//   --count N (N > 0)  publishes N messages of --size bytes at QoS 1 to
//                      devices/<client id>/up with at most --window unacknowledged,
//                      prints a summary line and exits (0 when every one was acknowledged)
//   --count 0          stays connected and idle until SIGINT/SIGTERM (idle cost,
//                      dead-link detection), then prints an exit line
//
//   PEER --server IP:PORT --client-id ID [--keepalive-s K] [--count N] [--size B]
//        [--window W] [--limit-s S] [--heartbeat-ms H --read-timeout-ms R]
//
// --heartbeat-ms / --read-timeout-ms: uplink only (its two knobs behind the
// keepalive it sends); without them the uplink peer maps --keepalive-s K to a
// heartbeat of K and a read timeout of 2 K.
//
// stdout, one JSON object per line, each with "ts_ms" (Unix time in ms, to line
// up with uplink_proxy's events):
//   {"event":"online"}                      CONNACK accepted
//   {"event":"offline","reason":...}         the client reported the connection lost
//   {"event":"summary","messages":N,"acked":A,"wall_ns":..,"cpu_user_ns":..,
//    "cpu_sys_ns":..,"maxrss_kib":..,"start_rss_kib":..,"ok":true|false}
//                                           after a --count run: wall and CPU time
//                                           (getrusage RUSAGE_SELF: every thread of
//                                           the peer) from CONNACK to the last PUBACK;
//                                           maxrss_kib: peak RSS (VmHWM);
//                                           start_rss_kib: the peak RSS when main() began
//   {"event":"exit","maxrss_kib":..,"start_rss_kib":..,"cpu_user_ns":..,"cpu_sys_ns":..}
//                                           idle mode, on SIGINT/SIGTERM
//   {"event":"error","message":...}         could not start or connect
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace uplink::bench::mqtt_peer {

/// The flags every peer takes.
struct PeerArgs {
  std::string host;
  std::uint16_t port = 0;
  std::string client_id;
  std::uint32_t keepalive_s = 30;
  std::uint64_t count = 0;
  std::uint32_t size = 64;
  std::uint32_t window = 20;  ///< mosquitto's default max_inflight_messages
  std::uint32_t limit_s = 600;  ///< a --count run gives up after this long
  std::uint32_t heartbeat_ms = 0;     ///< uplink only; 0: from keepalive_s
  std::uint32_t read_timeout_ms = 0;  ///< uplink only; 0: from keepalive_s
  std::string topic;                  ///< devices/<client id>/up
};

inline constexpr const char* kUsage =
    "usage: %s --server IP:PORT --client-id ID [--keepalive-s K] [--count N] [--size B] [--window W]\n"
    "          [--limit-s S] [--heartbeat-ms H --read-timeout-ms R]\n";

/// Largest payload a peer sends (the buffer is static in every peer).
inline constexpr std::uint32_t kMaxPayload = 4096;

inline bool parse_number(const char* text, std::uint64_t max, std::uint64_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || v > max) return false;
  out = v;
  return true;
}

/// Parses argv into `args`; prints the usage and returns false on a bad flag.
inline bool parse_args(int argc, char** argv, PeerArgs& args) {
  bool ok = true;
  for (int i = 1; ok && i < argc; ++i) {
    const char* flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (value == nullptr) {
      ok = false;
      break;
    }
    ++i;
    std::uint64_t n = 0;
    if (std::strcmp(flag, "--server") == 0) {
      const std::string s = value;
      const auto colon = s.rfind(':');
      ok = colon != std::string::npos && parse_number(s.c_str() + colon + 1, 65535, n) && n > 0;
      args.host = s.substr(0, colon == std::string::npos ? 0 : colon);
      args.port = static_cast<std::uint16_t>(n);
    } else if (std::strcmp(flag, "--client-id") == 0) {
      args.client_id = value;
    } else if (std::strcmp(flag, "--keepalive-s") == 0) {
      ok = parse_number(value, 65535, n);
      args.keepalive_s = static_cast<std::uint32_t>(n);
    } else if (std::strcmp(flag, "--count") == 0) {
      ok = parse_number(value, UINT64_MAX, args.count);
    } else if (std::strcmp(flag, "--size") == 0) {
      ok = parse_number(value, kMaxPayload, n);
      args.size = static_cast<std::uint32_t>(n);
    } else if (std::strcmp(flag, "--window") == 0) {
      ok = parse_number(value, 65535, n) && n > 0;
      args.window = static_cast<std::uint32_t>(n);
    } else if (std::strcmp(flag, "--limit-s") == 0) {
      ok = parse_number(value, 86400, n) && n > 0;
      args.limit_s = static_cast<std::uint32_t>(n);
    } else if (std::strcmp(flag, "--heartbeat-ms") == 0) {
      ok = parse_number(value, UINT32_MAX, n);
      args.heartbeat_ms = static_cast<std::uint32_t>(n);
    } else if (std::strcmp(flag, "--read-timeout-ms") == 0) {
      ok = parse_number(value, UINT32_MAX, n);
      args.read_timeout_ms = static_cast<std::uint32_t>(n);
    } else {
      ok = false;
    }
  }
  if (!ok || args.port == 0 || args.host.empty() || args.client_id.empty()) {
    std::fprintf(stderr, kUsage, argc > 0 ? argv[0] : "peer");
    return false;
  }
  args.topic = "devices/" + args.client_id + "/up";
  return true;
}

/// Unix time in milliseconds (CLOCK_REALTIME), as uplink_proxy stamps its events.
inline std::uint64_t unix_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
}

inline std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

/// The peak resident set of this program's own memory (VmHWM of
/// /proc/self/status, kB), or -1 when unreadable. Not getrusage's
/// ru_maxrss: Linux keeps that across execve(), so it is at least the RSS of
/// the process that forked the peer (a shell: 1.8 to 2.5 MiB), which hides
/// any peer smaller than its parent.
inline long peak_rss_kib() {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) return -1;
  long kib = -1;
  char line[128];
  while (std::fgets(line, sizeof line, status) != nullptr) {
    if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  }
  std::fclose(status);
  return kib;
}

/// CPU time of the whole peer process (every thread, the library's own
/// included), from getrusage(RUSAGE_SELF), and its peak resident set.
struct Usage {
  std::uint64_t user_ns = 0;
  std::uint64_t sys_ns = 0;
  long maxrss_kib = 0;
};

inline Usage process_usage() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  Usage u;
  u.user_ns = static_cast<std::uint64_t>(ru.ru_utime.tv_sec) * 1000000000u +
              static_cast<std::uint64_t>(ru.ru_utime.tv_usec) * 1000u;
  u.sys_ns = static_cast<std::uint64_t>(ru.ru_stime.tv_sec) * 1000000000u +
             static_cast<std::uint64_t>(ru.ru_stime.tv_usec) * 1000u;
  u.maxrss_kib = peak_rss_kib();
  return u;
}

/// Peak RSS when main() began, before the client library did anything:
/// the program and its shared libraries as loaded. Set by note_start().
inline long& start_rss_kib() {
  static long kib = 0;
  return kib;
}
/// Call first in main().
inline void note_start() { start_rss_kib() = process_usage().maxrss_kib; }

// One line at a time from any thread: the libraries call back on their own.
inline std::mutex& output_mutex() {
  static std::mutex m;
  return m;
}

inline void print_online() {
  std::lock_guard<std::mutex> lock(output_mutex());
  std::printf("{\"event\":\"online\",\"ts_ms\":%llu}\n", static_cast<unsigned long long>(unix_ms()));
  std::fflush(stdout);
}

/// `extra`: more JSON members, starting with a comma, or "".
inline void print_offline(const char* reason, const char* extra = "") {
  std::lock_guard<std::mutex> lock(output_mutex());
  std::printf("{\"event\":\"offline\",\"ts_ms\":%llu,\"reason\":\"%s\"%s}\n",
              static_cast<unsigned long long>(unix_ms()), reason, extra);
  std::fflush(stdout);
}

inline void print_error(const char* message) {
  std::lock_guard<std::mutex> lock(output_mutex());
  std::printf("{\"event\":\"error\",\"ts_ms\":%llu,\"message\":\"%s\"}\n", static_cast<unsigned long long>(unix_ms()),
              message);
  std::fflush(stdout);
}

inline void print_exit() {
  const Usage u = process_usage();
  std::lock_guard<std::mutex> lock(output_mutex());
  std::printf(
      "{\"event\":\"exit\",\"ts_ms\":%llu,\"maxrss_kib\":%ld,\"start_rss_kib\":%ld,\"cpu_user_ns\":%llu,"
      "\"cpu_sys_ns\":%llu}\n",
      static_cast<unsigned long long>(unix_ms()), u.maxrss_kib, start_rss_kib(),
      static_cast<unsigned long long>(u.user_ns), static_cast<unsigned long long>(u.sys_ns));
  std::fflush(stdout);
}

/// The measured part of a --count run: from CONNACK (begin) to the last
/// PUBACK (end), on whichever thread the library calls back on.
class ThroughputMeter {
 public:
  void begin() {
    start_usage_ = process_usage();
    start_ns_ = monotonic_ns();
  }
  void end() {
    end_ns_ = monotonic_ns();
    end_usage_ = process_usage();
  }
  void print(std::uint64_t messages, std::uint64_t acked) const {
    const bool ended = end_ns_ != 0;
    const Usage last = ended ? end_usage_ : process_usage();
    const std::uint64_t stop_ns = ended ? end_ns_ : monotonic_ns();
    std::lock_guard<std::mutex> lock(output_mutex());
    std::printf(
        "{\"event\":\"summary\",\"ts_ms\":%llu,\"messages\":%llu,\"acked\":%llu,\"wall_ns\":%llu,"
        "\"cpu_user_ns\":%llu,\"cpu_sys_ns\":%llu,\"maxrss_kib\":%ld,\"start_rss_kib\":%ld,\"ok\":%s}\n",
        static_cast<unsigned long long>(unix_ms()), static_cast<unsigned long long>(messages),
        static_cast<unsigned long long>(acked), static_cast<unsigned long long>(stop_ns - start_ns_),
        static_cast<unsigned long long>(last.user_ns - start_usage_.user_ns),
        static_cast<unsigned long long>(last.sys_ns - start_usage_.sys_ns), last.maxrss_kib, start_rss_kib(),
        acked == messages ? "true" : "false");
    std::fflush(stdout);
  }

 private:
  Usage start_usage_;
  Usage end_usage_;
  std::uint64_t start_ns_ = 0;
  std::uint64_t end_ns_ = 0;
};

/// A one-shot event a library thread sets and the main thread waits for.
class Done {
 public:
  void set() {
    {
      std::lock_guard<std::mutex> lock(m_);
      done_ = true;
    }
    cv_.notify_all();
  }
  /// True when set() was called within `limit`.
  bool wait_for(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(m_);
    return cv_.wait_for(lock, limit, [this] { return done_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
};

/// Blocks SIGINT and SIGTERM in the calling thread and in every thread it
/// creates afterwards (call it first in main, before a library starts its
/// threads), so that wait_stop_signal() takes them with sigwait: the main
/// thread then sleeps without a timeout and adds no wake-up of its own.
inline void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

inline void wait_stop_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int signal_number = 0;
  sigwait(&set, &signal_number);
}

/// The payload every peer sends: `size` bytes of 'm'.
inline const char* payload() {
  static char bytes[kMaxPayload];
  static const bool filled = (std::memset(bytes, 'm', sizeof bytes), true);
  (void)filled;
  return bytes;
}

}  // namespace uplink::bench::mqtt_peer
