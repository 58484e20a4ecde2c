// SPDX-License-Identifier: Apache-2.0
// One JSON object per line on stdout, built without the heap: scripts and
// tests follow the device by reading these lines.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace uplink::samples {

/// Accumulates `"key":value` pairs into a fixed buffer, then prints the
/// object as one line and flushes. Overlong content is truncated, never overflowed.
class JsonLine {
 public:
  JsonLine(std::uint64_t ts_ms, const char* event) {
    append("{\"ts_ms\":%llu,\"event\":", static_cast<unsigned long long>(ts_ms));
    string_value(event);
  }

  JsonLine& field(const char* key, const char* value) {
    append(",\"%s\":", key);
    string_value(value);
    return *this;
  }
  JsonLine& field(const char* key, std::uint64_t value) {
    append(",\"%s\":%llu", key, static_cast<unsigned long long>(value));
    return *this;
  }
  JsonLine& field(const char* key, bool value) {
    append(",\"%s\":%s", key, value ? "true" : "false");
    return *this;
  }

  /// Prints the line (with the closing brace) to `out` and flushes it.
  void print(std::FILE* out = stdout) {
    append("}");
    std::fprintf(out, "%s\n", text_);
    std::fflush(out);
  }

 private:
  template <typename... Args>
  void append(const char* format, Args... args) {
    if (used_ >= sizeof text_ - 1) return;
    const int n = std::snprintf(text_ + used_, sizeof text_ - used_, format, args...);
    if (n > 0) used_ += static_cast<std::size_t>(n) < sizeof text_ - used_ ? static_cast<std::size_t>(n) : sizeof text_ - 1 - used_;
  }
  void append(const char* text) { append("%s", text); }

  void string_value(const char* value) {
    append("\"");
    for (const char* p = value; *p != '\0'; ++p) {
      const unsigned char c = static_cast<unsigned char>(*p);
      if (c == '"' || c == '\\') {
        append("\\%c", static_cast<int>(c));
      } else if (c < 0x20) {
        append("\\u%04x", static_cast<unsigned>(c));
      } else {
        append("%c", static_cast<int>(c));
      }
    }
    append("\"");
  }

  char text_[512] = {};
  std::size_t used_ = 0;
};

}  // namespace uplink::samples
