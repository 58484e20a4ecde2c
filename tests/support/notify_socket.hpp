// SPDX-License-Identifier: Apache-2.0
// The service manager's end of sd_notify(3) in a test: a unix datagram
// socket bound in a fresh directory, for NOTIFY_SOCKET.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "support/temp_dir.hpp"

namespace uplink::test {

/// A bound unix datagram socket in a fresh directory: what systemd listens on.
class NotifySocket {
 public:
  NotifySocket() : dir_(uplink::test::make_temp_dir("uplink-notify")) {
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path_.size() < sizeof address.sun_path) std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    bound_ = !dir_.empty() && fd_ >= 0 &&
             ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    uplink::test::remove_temp_dir(dir_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  [[nodiscard]] bool bound() const { return bound_; }
  [[nodiscard]] const std::string& path() const { return path_; }

  /// The next datagram, or "" when none arrives within `timeout`.
  std::string receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return {};
    char buffer[512];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }

  /// The next datagram other than WATCHDOG=1 within `timeout` ("" if none);
  /// counts the pets skipped.
  std::string receive_skipping_pets(std::chrono::milliseconds timeout, int& pets) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int i = 0; i < 10000; ++i) {  // bounded by the deadline too
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      const std::string message = receive(left);
      if (message != "WATCHDOG=1") return message;
      ++pets;
    }
    return {};
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

}  // namespace uplink::test
