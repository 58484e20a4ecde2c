// SPDX-License-Identifier: Apache-2.0
// Device tokens, checked against a credentials file that holds only
// salted, slow hashes of them (PBKDF2-HMAC-SHA256, mbedTLS).
//
// The file is text, one device per line, fields separated by blanks:
//
//   # comment lines and blank lines are ignored
//   <device-id> pbkdf2-sha256 <iterations> <salt> <hash>
//
//   device-id   1..64 printable ASCII characters without blanks (as in HELLO),
//               not starting with '#' (a comment)
//   iterations  PBKDF2 iteration count, kMinIterations .. kMaxIterations
//   salt        16 bytes, 32 lowercase or uppercase hex digits, per device
//   hash        PBKDF2-HMAC-SHA256(token, salt, iterations), 32 bytes, 64 hex digits
//
// A device id appears at most once. A file that breaks any of this is
// refused whole, with a message naming the file, the line and the
// problem; so is a file its group or others may write (the list of who
// may connect would be theirs to change), or anything but a regular file.
//
// Tokens are made by provision(): 32 bytes from mbedTLS's CTR_DRBG
// (seeded from the system's entropy), written as 64 hex digits, which is
// what the device sends; the file keeps only the hash. With 256 random
// bits per token the hash protects a stolen file even at the default
// iteration count; the count is stored per entry, so it can be raised for
// new entries without invalidating old ones.
//
// authenticate() derives the hash of the offered token with the entry's
// salt and count and compares it in constant time (mbedtls_ct_memcmp). An
// unknown device id costs the same derivation (against a dummy entry), so
// timing does not tell which ids exist. Each HELLO therefore costs one
// PBKDF2 on the server's I/O thread (about 10 ms at the default count on
// a desktop x86-64; measure with tests/integration/server_auth_test.cpp).
//
// Rotation without a restart: authenticate() looks at the file's identity
// (inode, size, modification time) first, and when it changed, loads it
// again; a reload that fails keeps the entries loaded before and reports
// the problem through the reload hook.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "authenticator.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::server {

/// One device's line of a credentials file.
struct CredentialEntry {
  static constexpr std::size_t kSaltSize = 16;  ///< Bytes of salt.
  static constexpr std::size_t kHashSize = 32;  ///< Bytes of PBKDF2-HMAC-SHA256 output.
  std::string device_id;                        ///< Who this entry speaks for.
  std::uint32_t iterations = 0;                 ///< PBKDF2 iteration count.
  std::array<std::uint8_t, kSaltSize> salt{};   ///< Random, per device.
  std::array<std::uint8_t, kHashSize> hash{};   ///< PBKDF2-HMAC-SHA256(token, salt, iterations).
};

/// A credentials file: parse, check, authenticate, and (for provisioning)
/// change and save. Not thread-safe; the server uses it on its I/O thread.
class CredentialsFile final : public Authenticator {
 public:
  /// Iteration count of new entries.
  static constexpr std::uint32_t kDefaultIterations = 10000;
  /// Smallest and largest count accepted in a file.
  static constexpr std::uint32_t kMinIterations = 1000;
  static constexpr std::uint32_t kMaxIterations = 10000000;
  /// Random bytes of a provisioned token (sent as twice as many hex digits).
  static constexpr std::size_t kTokenBytes = 32;
  /// A credentials file larger than this is refused (a million devices fit).
  static constexpr std::size_t kMaxFileSize = 256u << 20;

  CredentialsFile() = default;

  /// Reads and checks the file at `path` and remembers the path for
  /// reloads. Errors: the open/read errno (no such file, ...),
  /// permission_denied (group- or world-writable, or not a regular file),
  /// invalid_argument (malformed: problem() names the line), file_too_large.
  /// On error the entries loaded before are kept.
  [[nodiscard]] std::error_code load(const std::string& path);
  /// Replaces the entries with those of `text` (no file involved);
  /// `origin` names it in problem(). invalid_argument when malformed.
  [[nodiscard]] std::error_code parse(std::string_view text, std::string_view origin = "credentials");
  /// Why the last load(), parse() or reload failed ("FILE:LINE: ..."), or "".
  [[nodiscard]] const std::string& problem() const { return problem_; }

  /// Called with a message when a reload (the file changed) failed and the
  /// previous entries stay in use; or after a successful reload.
  void set_on_reload(std::function<void(bool ok, const std::string& message)> hook) { on_reload_ = std::move(hook); }

  /// allowed, unknown_device or wrong_token (see the file comment). Reloads
  /// the file first if it changed since it was loaded.
  [[nodiscard]] AuthVerdict authenticate(const AuthRequest& request) override;

  /// Entries loaded.
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  /// The entry of `device_id`, or nullptr.
  [[nodiscard]] const CredentialEntry* find(std::string_view device_id) const;

  // ---- Provisioning --------------------------------------------------------

  /// A new random token for `device_id` (64 hex digits into `token`), and
  /// its entry (fresh salt, `iterations`) added, or replacing the device's
  /// previous one (rotation: the old token stops working). Errors:
  /// invalid_argument (bad device id or count; problem() says which), or
  /// the random generator's failure (io_error).
  [[nodiscard]] std::error_code provision(std::string_view device_id, std::string& token,
                                          std::uint32_t iterations = kDefaultIterations);
  /// Adds or replaces the entry of `device_id` for a given `token`.
  /// Errors as provision().
  [[nodiscard]] std::error_code set_token(std::string_view device_id, ConstByteSpan token,
                                          std::uint32_t iterations = kDefaultIterations);
  /// Drops the entry of `device_id`; false when there was none.
  bool revoke(std::string_view device_id);
  /// The file's text: a header comment and one line per entry, sorted by device id.
  [[nodiscard]] std::string serialize() const;
  /// Writes serialize() to `path` atomically (a new file, mode 0600, synced,
  /// then renamed over the old one). Errors: errno of the failing step
  /// (problem() names it).
  [[nodiscard]] std::error_code save(const std::string& path);

 private:
  struct Identity {
    unsigned long long device = 0, inode = 0, size = 0;
    long long mtime_s = 0, mtime_ns = 0;
    bool operator==(const Identity& o) const {
      return device == o.device && inode == o.inode && size == o.size && mtime_s == o.mtime_s &&
             mtime_ns == o.mtime_ns;
    }
  };
  std::error_code read_file(const std::string& path, std::string& text, Identity& identity);
  void reload_if_changed();
  std::error_code fail(std::errc code, std::string text);

  std::unordered_map<std::string, CredentialEntry> entries_;
  std::string path_;
  Identity identity_;
  std::string problem_;
  std::function<void(bool, const std::string&)> on_reload_;
};

/// PBKDF2-HMAC-SHA256 of `token` with `salt` and `iterations` into `out`
/// (mbedTLS 2.28 and 3.x). False when mbedTLS fails.
[[nodiscard]] bool derive_token_hash(ConstByteSpan token, const std::uint8_t* salt, std::size_t salt_size,
                                     std::uint32_t iterations, std::uint8_t* out, std::size_t out_size);

}  // namespace uplink::server
