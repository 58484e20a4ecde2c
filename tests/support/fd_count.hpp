// SPDX-License-Identifier: Apache-2.0
// Number of open file descriptors of this process, for leak checks
// ("after N reconnects, as many fds as before"), and finding one of its
// sockets by its peer, to read back the options the client set on it.
#pragma once

#include <cstddef>
#include <cstdint>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace uplink::test {

/// Counts the entries of /proc/self/fd, not counting the descriptor used to
/// read that directory. Returns 0 if /proc is not available.
inline std::size_t open_fd_count() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  std::size_t count = 0;
  // Bounded: a process cannot have more descriptors than this anyway.
  for (std::size_t i = 0; i < (std::size_t{1} << 24); ++i) {
    const dirent* entry = readdir(dir);
    if (entry == nullptr) break;
    if (entry->d_name[0] == '.') continue;  // "." and ".."
    ++count;
  }
  closedir(dir);
  return count > 0 ? count - 1 : 0;  // minus the fd of `dir` itself
}

/// The lowest descriptor of this process that is a TCP/IPv4 socket
/// connected to 127.0.0.1:`peer_port`, or -1. In a loopback test with the
/// server in the same process, that is the client's end.
inline int socket_connected_to(std::uint16_t peer_port) {
  for (int fd = 0; fd < 4096; ++fd) {
    sockaddr_in peer{};
    socklen_t size = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) != 0) continue;
    if (peer.sin_family == AF_INET && ntohs(peer.sin_port) == peer_port && ntohl(peer.sin_addr.s_addr) == INADDR_LOOPBACK) {
      return fd;
    }
  }
  return -1;
}

}  // namespace uplink::test
