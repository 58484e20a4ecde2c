// Number of open file descriptors of this process, for leak checks
// ("after N reconnects, as many fds as before").
#pragma once

#include <cstddef>

#include <dirent.h>

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

}  // namespace uplink::test
