// SPDX-License-Identifier: Apache-2.0
// A temporary directory for tests that need real files: made under $TMPDIR
// (or /tmp), removed with its files (one level: the tests make no
// subdirectories).
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace uplink::test {

/// Makes "<tmp>/<prefix>.XXXXXX"; empty when that fails.
inline std::string make_temp_dir(const char* prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + prefix + ".XXXXXX";
  return ::mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
}

/// Removes `dir`'s files, then `dir`.
inline void remove_temp_dir(const std::string& dir) {
  if (dir.empty()) return;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  for (dirent* e = ::readdir(d); e != nullptr; e = ::readdir(d)) {  // bounded by the entries
    const std::string name = e->d_name;
    if (name != "." && name != "..") (void)::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
  (void)::rmdir(dir.c_str());
}

}  // namespace uplink::test
