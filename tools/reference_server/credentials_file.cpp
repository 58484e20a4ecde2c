// SPDX-License-Identifier: Apache-2.0
// Credentials file of device tokens (credentials_file.hpp): parsing,
// PBKDF2 through mbedTLS, constant-time comparison, atomic saving.
#include "credentials_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <vector>

// 2.28's constant_time.h lacks the C++ guard the other headers have.
extern "C" {
#include <mbedtls/constant_time.h>
}
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>

#include "uplink/config_defaults.hpp"

namespace uplink::server {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr const char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Exactly `size` bytes as 2 x size hex digits.
bool parse_hex(std::string_view text, std::uint8_t* out, std::size_t size) {
  if (text.size() != 2 * size) return false;
  for (std::size_t i = 0; i < size; ++i) {
    const int high = hex_value(text[2 * i]);
    const int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return true;
}

void append_hex(std::string& out, const std::uint8_t* bytes, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    out += kHexDigits[bytes[i] >> 4];
    out += kHexDigits[bytes[i] & 0x0f];
  }
}

// The rules of HELLO's device id (PROTOCOL.md 3.1).
bool valid_device_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxDeviceIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Splits `line` at blanks into at most `max` fields; returns how many
// there were (max + 1 when there were more).
std::size_t split_fields(std::string_view line, std::string_view* fields, std::size_t max) {
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < line.size()) {  // every pass consumes at least one character
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) break;
    const std::size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (count == max) return max + 1;
    fields[count++] = line.substr(start, i - start);
  }
  return count;
}

// Random bytes from mbedTLS's CTR_DRBG, seeded from the system's entropy.
bool random_bytes(std::uint8_t* out, std::size_t size) {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  static const unsigned char kPersonalization[] = "uplink credentials";
  int ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, kPersonalization,
                                  sizeof kPersonalization - 1);
  if (ret == 0) ret = mbedtls_ctr_drbg_random(&drbg, out, size);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return ret == 0;
}

// The dummy entry an unknown device id is checked against: the same work
// as a real one, a result that matches no token.
const CredentialEntry& dummy_entry() {
  static const CredentialEntry entry = [] {
    CredentialEntry e;
    e.iterations = CredentialsFile::kDefaultIterations;
    return e;
  }();
  return entry;
}

}  // namespace

bool derive_token_hash(ConstByteSpan token, const std::uint8_t* salt, std::size_t salt_size, std::uint32_t iterations,
                       std::uint8_t* out, std::size_t out_size) {
  static const unsigned char kEmpty = 0;  // mbedTLS wants a pointer even for an empty token
  const unsigned char* password = token.size != 0 ? token.data : &kEmpty;
#if MBEDTLS_VERSION_NUMBER >= 0x03030000
  return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, password, token.size, salt, salt_size, iterations,
                                       static_cast<std::uint32_t>(out_size), out) == 0;
#else
  // 2.28 (and 3.0 .. 3.2): the HMAC context is the caller's.
  mbedtls_md_context_t md;
  mbedtls_md_init(&md);
  const mbedtls_md_info_t* info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  int ret = info != nullptr ? mbedtls_md_setup(&md, info, 1) : -1;
  if (ret == 0) {
    ret = mbedtls_pkcs5_pbkdf2_hmac(&md, password, token.size, salt, salt_size, iterations,
                                    static_cast<std::uint32_t>(out_size), out);
  }
  mbedtls_md_free(&md);
  return ret == 0;
#endif
}

std::error_code CredentialsFile::fail(std::errc code, std::string text) {
  problem_ = std::move(text);
  return std::make_error_code(code);
}

std::error_code CredentialsFile::read_file(const std::string& path, std::string& text, Identity& identity) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int error = errno;
    problem_ = path + ": " + std::strerror(error);
    return {error, std::generic_category()};
  }
  struct stat info {};
  std::error_code result;
  // Checked on the open file, not the name: nothing can swap it in between.
  if (::fstat(fd, &info) != 0) {
    result = {errno, std::generic_category()};
    problem_ = path + ": " + result.message();
  } else if (!S_ISREG(info.st_mode)) {
    result = fail(std::errc::permission_denied, path + ": not a regular file");
  } else if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    result = fail(std::errc::permission_denied,
                  path + ": its group or others may write it (anyone who can write it decides who may connect); "
                         "chmod go-w it");
  } else if (static_cast<unsigned long long>(info.st_size) > kMaxFileSize) {
    result = fail(std::errc::file_too_large, path + ": larger than " + std::to_string(kMaxFileSize) + " bytes");
  } else {
    text.clear();
    text.reserve(static_cast<std::size_t>(info.st_size));
    char buffer[8192];
    while (true) {  // bounded: the size check above, and read() returning 0 at the end
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        result = {errno, std::generic_category()};
        problem_ = path + ": " + result.message();
        break;
      }
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > kMaxFileSize) {
        result = fail(std::errc::file_too_large, path + ": larger than " + std::to_string(kMaxFileSize) + " bytes");
        break;
      }
    }
    identity.device = static_cast<unsigned long long>(info.st_dev);
    identity.inode = static_cast<unsigned long long>(info.st_ino);
    identity.size = static_cast<unsigned long long>(info.st_size);
    identity.mtime_s = static_cast<long long>(info.st_mtim.tv_sec);
    identity.mtime_ns = static_cast<long long>(info.st_mtim.tv_nsec);
  }
  ::close(fd);
  return result;
}

std::error_code CredentialsFile::load(const std::string& path) {
  std::string text;
  Identity identity;
  if (const std::error_code error = read_file(path, text, identity)) return error;
  if (const std::error_code error = parse(text, path)) return error;
  path_ = path;
  identity_ = identity;
  return {};
}

std::error_code CredentialsFile::parse(std::string_view text, std::string_view origin) {
  std::unordered_map<std::string, CredentialEntry> entries;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {  // every pass consumes one line
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto at = [&](const std::string& what) {
      return fail(std::errc::invalid_argument,
                  std::string(origin) + ":" + std::to_string(line_number) + ": " + what);
    };
    std::string_view fields[5];
    const std::size_t count = split_fields(line, fields, 5);
    if (count == 0 || fields[0].front() == '#') continue;
    if (count != 5) {
      return at("expected 5 fields '<device-id> pbkdf2-sha256 <iterations> <salt-hex> <hash-hex>', found " +
                (count > 5 ? std::string("more") : std::to_string(count)));
    }
    CredentialEntry entry;
    if (!valid_device_id(fields[0])) {
      return at("device id must be 1.." + std::to_string(kMaxDeviceIdLength) + " printable ASCII characters");
    }
    entry.device_id = std::string(fields[0]);
    if (fields[1] != kScheme) return at("unknown scheme '" + std::string(fields[1]) + "' (expected pbkdf2-sha256)");
    const char* it_end = fields[2].data() + fields[2].size();
    const std::from_chars_result parsed = std::from_chars(fields[2].data(), it_end, entry.iterations);
    if (parsed.ec != std::errc() || parsed.ptr != it_end || entry.iterations < kMinIterations ||
        entry.iterations > kMaxIterations) {
      return at("iterations must be a number within " + std::to_string(kMinIterations) + " .. " +
                std::to_string(kMaxIterations));
    }
    if (!parse_hex(fields[3], entry.salt.data(), entry.salt.size())) {
      return at("salt must be " + std::to_string(2 * CredentialEntry::kSaltSize) + " hex digits");
    }
    if (!parse_hex(fields[4], entry.hash.data(), entry.hash.size())) {
      return at("hash must be " + std::to_string(2 * CredentialEntry::kHashSize) + " hex digits");
    }
    if (entries.count(entry.device_id) != 0) return at("device '" + entry.device_id + "' appears a second time");
    std::string key = entry.device_id;
    entries.emplace(std::move(key), std::move(entry));
  }
  entries_ = std::move(entries);
  problem_.clear();
  return {};
}

void CredentialsFile::reload_if_changed() {
  if (path_.empty()) return;
  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) return;  // gone for a moment (being replaced): keep what we have
  Identity now;
  now.device = static_cast<unsigned long long>(info.st_dev);
  now.inode = static_cast<unsigned long long>(info.st_ino);
  now.size = static_cast<unsigned long long>(info.st_size);
  now.mtime_s = static_cast<long long>(info.st_mtim.tv_sec);
  now.mtime_ns = static_cast<long long>(info.st_mtim.tv_nsec);
  if (now == identity_) return;
  std::unordered_map<std::string, CredentialEntry> previous = entries_;
  std::string text;
  Identity identity;
  std::error_code error = read_file(path_, text, identity);
  if (!error) error = parse(text, path_);
  // Not tried again until the file changes once more.
  identity_ = error ? now : identity;
  if (error) {
    entries_ = std::move(previous);
    if (on_reload_) on_reload_(false, problem_ + "; the previous credentials stay in use");
    return;
  }
  if (on_reload_) on_reload_(true, path_ + ": reloaded, " + std::to_string(entries_.size()) + " devices");
}

AuthVerdict CredentialsFile::authenticate(const AuthRequest& request) {
  reload_if_changed();
  const CredentialEntry* entry = find(request.device_id);
  const CredentialEntry& used = entry != nullptr ? *entry : dummy_entry();
  std::array<std::uint8_t, CredentialEntry::kHashSize> derived{};
  const bool derived_ok = derive_token_hash(request.token, used.salt.data(), used.salt.size(), used.iterations,
                                            derived.data(), derived.size());
  const bool equal = mbedtls_ct_memcmp(derived.data(), used.hash.data(), derived.size()) == 0;
  mbedtls_platform_zeroize(derived.data(), derived.size());
  if (entry == nullptr) return AuthVerdict::unknown_device;
  return derived_ok && equal ? AuthVerdict::allowed : AuthVerdict::wrong_token;
}

const CredentialEntry* CredentialsFile::find(std::string_view device_id) const {
  const auto it = entries_.find(std::string(device_id));
  return it == entries_.end() ? nullptr : &it->second;
}

std::error_code CredentialsFile::set_token(std::string_view device_id, ConstByteSpan token, std::uint32_t iterations) {
  if (!valid_device_id(device_id)) {
    return fail(std::errc::invalid_argument, "device id must be 1.." + std::to_string(kMaxDeviceIdLength) +
                                                 " printable ASCII characters without blanks");
  }
  if (device_id.front() == '#') {  // valid in HELLO, but the file would read its line as a comment
    return fail(std::errc::invalid_argument, "a device id starting with '#' cannot be stored in a credentials file");
  }
  if (iterations < kMinIterations || iterations > kMaxIterations) {
    return fail(std::errc::invalid_argument, "iterations must be within " + std::to_string(kMinIterations) +
                                                 " .. " + std::to_string(kMaxIterations));
  }
  CredentialEntry entry;
  entry.device_id = std::string(device_id);
  entry.iterations = iterations;
  if (!random_bytes(entry.salt.data(), entry.salt.size())) return fail(std::errc::io_error, "random generator failed");
  if (!derive_token_hash(token, entry.salt.data(), entry.salt.size(), iterations, entry.hash.data(),
                         entry.hash.size())) {
    return fail(std::errc::io_error, "PBKDF2 failed");
  }
  entries_[entry.device_id] = entry;
  problem_.clear();
  return {};
}

std::error_code CredentialsFile::provision(std::string_view device_id, std::string& token, std::uint32_t iterations) {
  std::uint8_t secret[kTokenBytes];
  if (!random_bytes(secret, sizeof secret)) return fail(std::errc::io_error, "random generator failed");
  std::string text;
  append_hex(text, secret, sizeof secret);
  mbedtls_platform_zeroize(secret, sizeof secret);
  if (const std::error_code error = set_token(device_id, ConstByteSpan{text.data(), text.size()}, iterations)) {
    return error;
  }
  token = std::move(text);
  return {};
}

bool CredentialsFile::revoke(std::string_view device_id) { return entries_.erase(std::string(device_id)) != 0; }

std::string CredentialsFile::serialize() const {
  std::vector<const CredentialEntry*> sorted;
  sorted.reserve(entries_.size());
  for (const auto& item : entries_) sorted.push_back(&item.second);
  std::sort(sorted.begin(), sorted.end(),
            [](const CredentialEntry* a, const CredentialEntry* b) { return a->device_id < b->device_id; });
  std::string text =
      "# uplink device credentials: <device-id> pbkdf2-sha256 <iterations> <salt-hex> <hash-hex>\n"
      "# Written by uplink_server provision; only salted hashes of the tokens, never a token.\n";
  for (const CredentialEntry* e : sorted) {
    text += e->device_id;
    text += ' ';
    text += kScheme;
    text += ' ';
    text += std::to_string(e->iterations);
    text += ' ';
    append_hex(text, e->salt.data(), e->salt.size());
    text += ' ';
    append_hex(text, e->hash.data(), e->hash.size());
    text += '\n';
  }
  return text;
}

std::error_code CredentialsFile::save(const std::string& path) {
  const std::string text = serialize();
  std::string temporary = path + ".XXXXXX";
  const int fd = ::mkstemp(temporary.data());  // mode 0600
  if (fd < 0) {
    const int error = errno;
    problem_ = path + ": cannot create a temporary file beside it: " + std::strerror(error);
    return {error, std::generic_category()};
  }
  std::size_t written = 0;
  int error = 0;
  while (written < text.size()) {  // every pass writes >= 1 byte or fails
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : EIO;
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(temporary.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(temporary.c_str());
    problem_ = path + ": " + std::strerror(error);
    return {error, std::generic_category()};
  }
  // The rename is durable once the directory is.
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
  problem_.clear();
  return {};
}

}  // namespace uplink::server
