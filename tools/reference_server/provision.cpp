// SPDX-License-Identifier: Apache-2.0
// `uplink_server provision` (provision.hpp): the only place a device's
// token exists in clear on the server side, and only until it is printed.
#include "provision.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "credentials_file.hpp"

namespace uplink::server {
namespace {

constexpr const char* kUsage =
    "usage: uplink_server provision --credentials FILE --device ID [--token-file OUT] [--iterations N]\n"
    "       uplink_server provision --credentials FILE --device ID --revoke\n"
    "  adds ID to FILE (created 0600 if missing) with a new random token, or replaces its entry (rotation:\n"
    "  the old token stops working at the server's next HELLO check); FILE keeps only a salted PBKDF2 hash.\n"
    "  The token is printed once on stdout, or written to OUT (mode 0600) and not printed.\n"
    "  --iterations N   PBKDF2 iterations of the new entry (default 10000, 1000..10000000)\n"
    "  --revoke         remove ID from FILE instead\n";

int usage_error(const char* flag, const char* problem) {
  std::fprintf(stderr, "uplink_server provision: %s: %s\n%s", flag, problem, kUsage);
  return 2;
}

// The token into a new or replaced file only its owner can read.
bool write_token_file(const std::string& path, const std::string& token) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "uplink_server provision: --token-file %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  const std::string text = token + "\n";
  bool good = ::fchmod(fd, 0600) == 0;  // a replaced file keeps its old mode otherwise
  std::size_t written = 0;
  while (good && written < text.size()) {  // every pass writes >= 1 byte or fails
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      good = false;
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  if (good && ::fsync(fd) != 0) good = false;
  const int error = errno;
  if (::close(fd) != 0) good = false;
  if (!good) std::fprintf(stderr, "uplink_server provision: --token-file %s: %s\n", path.c_str(), std::strerror(error));
  return good;
}

}  // namespace

int run_provision(int argc, char** argv) {
  std::string path;
  std::string device;
  std::string token_file;
  std::uint32_t iterations = CredentialsFile::kDefaultIterations;
  bool revoke = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (flag == "--revoke") {
      revoke = true;
      continue;
    }
    if (flag != "--credentials" && flag != "--device" && flag != "--token-file" && flag != "--iterations") {
      return usage_error(argv[i], "unknown flag");
    }
    if (i + 1 >= argc) return usage_error(argv[i], "missing value");
    const std::string value = argv[++i];
    if (flag == "--credentials") {
      path = value;
    } else if (flag == "--device") {
      device = value;
    } else if (flag == "--token-file") {
      token_file = value;
    } else {
      const char* end = value.data() + value.size();
      const std::from_chars_result parsed = std::from_chars(value.data(), end, iterations);
      if (value.empty() || parsed.ec != std::errc() || parsed.ptr != end) {
        return usage_error("--iterations", "expected a number");
      }
    }
  }
  if (path.empty()) return usage_error("--credentials", "missing");
  if (device.empty()) return usage_error("--device", "missing");
  if (revoke && !token_file.empty()) return usage_error("--token-file", "not with --revoke");

  CredentialsFile credentials;
  const std::error_code loaded = credentials.load(path);
  const bool exists = !loaded;
  if (loaded && loaded != std::errc::no_such_file_or_directory) {
    std::fprintf(stderr, "uplink_server provision: %s\n", credentials.problem().c_str());
    return 1;
  }
  const bool replacing = credentials.find(device) != nullptr;

  if (revoke) {
    if (!credentials.revoke(device)) {
      std::fprintf(stderr, "uplink_server provision: %s: no device '%s'\n", path.c_str(), device.c_str());
      return 1;
    }
    if (credentials.save(path)) {
      std::fprintf(stderr, "uplink_server provision: %s\n", credentials.problem().c_str());
      return 1;
    }
    std::fprintf(stderr, "uplink_server provision: revoked device '%s' in %s\n", device.c_str(), path.c_str());
    return 0;
  }

  std::string token;
  if (const std::error_code error = credentials.provision(device, token, iterations)) {
    std::fprintf(stderr, "uplink_server provision: --device %s: %s\n", device.c_str(),
                 credentials.problem().empty() ? error.message().c_str() : credentials.problem().c_str());
    return error == std::errc::invalid_argument ? 2 : 1;
  }
  if (credentials.save(path)) {
    std::fprintf(stderr, "uplink_server provision: %s\n", credentials.problem().c_str());
    return 1;
  }
  std::fprintf(stderr, "uplink_server provision: %s device '%s' in %s%s\n", replacing ? "rotated the token of" : "added",
               device.c_str(), path.c_str(), exists ? "" : " (new file, mode 0600)");
  // The credentials now hold the new hash only: should the token file
  // fail, the token goes to stdout rather than nowhere (a token nobody
  // holds would lock the device out).
  if (!token_file.empty() && !write_token_file(token_file, token)) {
    std::fprintf(stderr, "uplink_server provision: the token follows instead, shown this once\n");
    std::printf("%s\n", token.c_str());
    return 1;
  }
  if (token_file.empty()) {
    std::fprintf(stderr, "uplink_server provision: its token follows, shown this once; give it to the device in a "
                         "file only it can read (uplink_device --token-file)\n");
    std::printf("%s\n", token.c_str());
  } else {
    std::fprintf(stderr, "uplink_server provision: its token is in %s (mode 0600)\n", token_file.c_str());
  }
  return 0;
}

}  // namespace uplink::server
