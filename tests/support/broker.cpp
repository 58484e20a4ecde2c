// SPDX-License-Identifier: Apache-2.0
// Starting and stopping real brokers for loopback tests (broker.hpp).
#include "support/broker.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "support/temp_dir.hpp"

extern char** environ;

namespace uplink::test {

namespace {

// True when `port` (0: any) can be bound on 127.0.0.1 now; the port bound in `bound`.
bool bindable(std::uint16_t port, std::uint16_t& bound) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (ok) bound = ntohs(a.sin_port);
  ::close(fd);
  return ok;
}

}  // namespace

// A port below the kernel's ephemeral range when there is room for one
// (as tests/e2e/lib.sh's port_candidate): a broker killed and restarted on
// the same port cannot find it taken meanwhile by some connection's local
// port, nor a connect to it while nobody listens end up connected to itself.
// Another process may still take the port before the broker does: start()
// retries.
std::uint16_t free_loopback_port() {
  unsigned low = 32768;
  if (std::FILE* range = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(range, "%u", &low) != 1) low = 32768;
    std::fclose(range);
  }
  constexpr unsigned kFirst = 10000;
  std::uint16_t port = 0;
  if (low > kFirst + 2000) {
    std::mt19937 pick(std::random_device{}());
    std::uniform_int_distribution<unsigned> below_ephemeral(kFirst, low - 1);
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (bindable(static_cast<std::uint16_t>(below_ephemeral(pick)), port)) return port;
    }
  }
  return bindable(0, port) ? port : 0;
}

namespace {

bool accepts_connections(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Runs a program to completion (at most `limit`); true when it exits 0.
bool run_program(char* const argv[], std::chrono::milliseconds limit) {
  pid_t pid = -1;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv, environ) != 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 0; i < 100000; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  (void)::waitpid(pid, &status, 0);
  return false;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

int remove_entry(const char* path, const struct stat*, int, FTW*) { return ::remove(path); }

// The state directory holds subdirectories (JetStream's store): depth first.
void remove_tree(const std::string& dir) {
  if (!dir.empty()) (void)::nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace

const char* broker_name(BrokerKind kind) { return kind == BrokerKind::mosquitto ? "mosquitto" : "nats-server"; }

std::string find_program(const char* name) {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/usr/local/sbin:/usr/bin";
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

Broker::~Broker() { stop(); }

bool Broker::installed() const { return !find_program(broker_name(kind_)).empty(); }

bool Broker::write_config() {
  config_ = dir_ + "/broker.conf";
  const bool with_password = !user_.empty();
  std::ofstream out(config_);
  if (kind_ == BrokerKind::mosquitto) {
    out << "listener " << port_ << " 127.0.0.1\n";
    if (!tls_certificate_.empty()) {
      // The listener's own options follow its line.
      if (!write_file(dir_ + "/ca.pem", tls_ca_) || !write_file(dir_ + "/server.pem", tls_certificate_) ||
          !write_file(dir_ + "/server.key", tls_key_)) {
        why_ = "cannot write the broker's TLS files";
        return false;
      }
      out << "cafile " << dir_ << "/ca.pem\n"
          << "certfile " << dir_ << "/server.pem\n"
          << "keyfile " << dir_ << "/server.key\n"
          << "require_certificate " << (tls_require_client_certificate_ ? "true" : "false") << "\n";
    }
    out << "persistence true\n"
        << "persistence_location " << dir_ << "/\n"
        << "autosave_interval 1\n"
        << "log_dest stderr\n"
        << (log_errors_only_ ? "log_type error\nlog_type warning\n" : "log_type all\n");
    // As root, mosquitto switches to the `mosquitto` user, which cannot
    // write the test's state directory: stay who we are.
    if (::geteuid() == 0) out << "user root\n";
    if (with_password) {
      // mosquitto 2.0 reads only hashed password files: mosquitto_passwd makes one.
      const std::string file = dir_ + "/passwords";
      std::string tool = find_program("mosquitto_passwd");
      std::string batch = "-b";
      std::string create = "-c";
      std::string file_arg = file;
      char* argv[] = {tool.data(), batch.data(), create.data(), file_arg.data(), user_.data(), password_.data(),
                      nullptr};
      if (tool.empty() || !run_program(argv, std::chrono::seconds(10))) {
        why_ = "mosquitto_passwd could not make the password file";
        return false;
      }
      out << "allow_anonymous false\n"
          << "password_file " << file << "\n";
    } else {
      out << "allow_anonymous true\n";
    }
  } else {
    if (cluster_.cluster_name.empty()) {
      out << "server_name: uplink_test_" << ::getpid() << "_" << port_ << "\n";
    } else {
      // A cluster node: the routes name the other nodes (a node's own
      // route would be harmless, but this is the config a user writes).
      out << "server_name: " << cluster_.server_name << "\n"
          << "http: \"127.0.0.1:" << cluster_.monitor_port << "\"\n"
          << "cluster {\n  name: " << cluster_.cluster_name << "\n  listen: \"127.0.0.1:" << cluster_.route_port
          << "\"\n  routes: [\n";
      for (const std::uint16_t peer : cluster_.peer_route_ports) {
        out << "    \"nats-route://127.0.0.1:" << peer << "\"\n";
      }
      out << "  ]\n}\n";
    }
    out << "host: 127.0.0.1\n"
        << "port: -1\n"  // the NATS client port: any free one, unused by the tests
        << "jetstream {\n  store_dir: \"" << dir_ << "/jetstream\"\n"
        << "  max_memory_store: 67108864\n  max_file_store: 268435456\n}\n"
        // ack_wait: a QoS 1 message pushed to a connection that was going
        // away as it was sent (nats-server handles a close asynchronously)
        // comes again after this long; the default, 30 s, outlasts a test.
        // Longer than any test subscriber lags behind, or it gets duplicates.
        << "mqtt {\n  listen: \"127.0.0.1:" << port_ << "\"\n  ack_wait: \"10s\"\n";
    // The MQTT streams (sessions, messages, retained) are made on the first
    // CONNECT with this many replicas (written out: surviving a node is
    // what the cluster is for, so the recipe says it rather than trusting
    // a default).
    if (!cluster_.cluster_name.empty()) out << "  stream_replicas: " << cluster_.mqtt_stream_replicas << "\n";
    out << "}\n";
    if (with_password) {
      out << "authorization {\n  user: \"" << user_ << "\"\n  password: \"" << password_ << "\"\n}\n";
    }
  }
  out << extra_config_;
  out.close();
  return static_cast<bool>(out);
}

bool Broker::spawn(const std::string& program) {
  const std::string log = dir_ + "/broker.log";
  std::string flag = "-c";
  char* argv[] = {const_cast<char*>(program.c_str()), flag.data(), config_.data(), nullptr};
  const pid_t parent = ::getpid();
  // fork + exec rather than posix_spawn, for one thing posix_spawn cannot
  // do: PR_SET_PDEATHSIG, so that a test process that dies without its
  // teardown (a CTest timeout kills it) takes its brokers with it instead
  // of leaving them running (the signal follows the thread that forked:
  // the tests start brokers from their main thread). The child calls only
  // async-signal-safe functions, with everything prepared before the fork.
  const pid_t pid = ::fork();
  if (pid < 0) {
    why_ = std::string("cannot start ") + program + ": " + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0 || ::dup2(in, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 ||
        ::dup2(out, STDERR_FILENO) < 0) {
      ::_exit(127);
    }
    ::execve(program.c_str(), argv, environ);
    ::_exit(127);
  }
  pid_ = pid;
  return true;
}

bool Broker::wait_listening(std::chrono::steady_clock::time_point deadline) {
  // Polled every 10 ms: the broker is another process, so there is nothing
  // to wait on but its port. Bounded by the deadline and by the count.
  for (int i = 0; i < 100000 && std::chrono::steady_clock::now() < deadline; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;  // exited: most likely the port was taken meanwhile
    }
    if (accepts_connections(port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

bool Broker::start(std::chrono::milliseconds limit) {
  stop();
  why_.clear();
  const std::string program = find_program(broker_name(kind_));
  if (program.empty()) {
    why_ = std::string(broker_name(kind_)) + " is not installed (scripts/setup test installs it)";
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int attempt = 0; attempt < 3; ++attempt) {
    dir_ = make_temp_dir("uplink-broker");
    port_ = free_loopback_port();
    if (dir_.empty() || port_ == 0) {
      why_ = "cannot make the broker's directory or find a free port";
      return false;
    }
    if (!write_config()) {
      if (why_.empty()) why_ = "cannot write the broker's configuration";
      return false;
    }
    if (!spawn(program)) return false;
    if (wait_listening(deadline)) return true;
    why_ = std::string(broker_name(kind_)) + " did not listen on 127.0.0.1:" + std::to_string(port_) +
           "; its log ends with:\n" + log_tail();
    stop();
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
  port_ = 0;
  return false;
}

void Broker::reap(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 0; i < 100000; ++i) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      pid_ = -1;
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Broker::end_process(int first_signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, first_signal);
  reap(std::chrono::seconds(5));
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap(std::chrono::seconds(5));
  }
}

void Broker::stop() {
  end_process(SIGTERM);
  remove_tree(dir_);
  dir_.clear();
}

void Broker::terminate() { end_process(SIGTERM); }

void Broker::kill() { end_process(SIGKILL); }

bool Broker::restart(std::chrono::milliseconds limit) {
  end_process(SIGTERM);
  if (dir_.empty() || port_ == 0) {
    why_ = "restart() needs a broker started before";
    return false;
  }
  if (!spawn(find_program(broker_name(kind_)))) return false;
  if (wait_listening(std::chrono::steady_clock::now() + limit)) return true;
  why_ = std::string(broker_name(kind_)) + " did not listen again on 127.0.0.1:" + std::to_string(port_) +
         "; its log ends with:\n" + log_tail();
  return false;
}

std::string Broker::log_tail() const {
  std::ifstream in(dir_ + "/broker.log");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

bool Broker::wipe_state() {
  if (pid_ > 0 || dir_.empty()) return false;
  if (kind_ == BrokerKind::mosquitto) {
    // mosquitto keeps everything in one file in persistence_location.
    const std::string db = dir_ + "/mosquitto.db";
    return ::remove(db.c_str()) == 0 || errno == ENOENT;
  }
  remove_tree(dir_ + "/jetstream");
  struct stat st {};
  return ::stat((dir_ + "/jetstream").c_str(), &st) != 0;
}

std::string Broker::log_text() const {
  std::ifstream in(dir_ + "/broker.log");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace uplink::test
