// SPDX-License-Identifier: Apache-2.0
// `uplink_server provision` (provision.hpp): the only place a device's
// token exists in clear on the server side, and only until it is printed.
#include "provision.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "command_line.hpp"
#include "credentials_file.hpp"

namespace uplink::server {
namespace {

constexpr const char* kDescription =
    "uplink_server provision: adds device ID to the credentials FILE (created 0600 if missing) with a new random\n"
    "token, or replaces its entry (rotation: the old token stops working at the server's next HELLO check); FILE\n"
    "keeps only a salted PBKDF2 hash. The token is printed once on stdout, or written to OUT (mode 0600) and not\n"
    "printed. Exit status: 0 done, 1 failed, 2 bad usage.";

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
  tools::CommandLine command_line("uplink_server provision", kDescription);
  CLI::App& app = command_line.app();
  command_line.text("--credentials", path, "the credentials file (uplink_server --credentials)", "FILE",
                    "expected a file name")
      ->required();
  command_line.text("--device", device, "the device id", "ID", "expected a device id")->required();
  command_line.text("--token-file", token_file, "write the token to OUT (mode 0600) instead of printing it", "OUT",
                    "expected a file name");
  command_line.number("--iterations", iterations, "PBKDF2 iterations of the new entry (default 10000, 1000..10000000)",
                      "expected a number");
  app.add_flag("--revoke", revoke, "remove ID from FILE instead");
  if (const std::optional<int> status = command_line.parse(argc, argv)) return *status;
  if (revoke && !token_file.empty()) return command_line.refuse("--token-file", "not with --revoke");

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
