// SPDX-License-Identifier: Apache-2.0
// The one JSON event writer of the tools: one object per line, so that
// scripts and tests follow a running tool with a line reader.
//
// Every line starts {"ts_ms":T,"event":"NAME" (T: wall clock, ms since the
// Unix epoch), then the fields in the order they are added. Strings are
// escaped (quote, backslash, \n \r \t, other control characters and DEL as
// \u00XX); bytes that are not valid UTF-8 become U+FFFD, so a line is always
// valid JSON whatever a device sent. Ids (sessions) are decimal digits in a
// string (id()): a u64 does not survive every JSON parser as a number.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace uplink::tools {

/// Appends `bytes` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view bytes);

/// Appends `value` in decimal.
void append_decimal(std::string& out, std::uint64_t value);

/// Milliseconds since the Unix epoch (the "ts_ms" of a line).
[[nodiscard]] std::uint64_t wall_clock_ms();

/// One line being built. Writes into a string the caller keeps (reused: no
/// allocation once it has grown), or into its own.
class JsonLine {
 public:
  /// A line in its own string.
  JsonLine(std::uint64_t ts_ms, std::string_view event);
  /// A line in `text` (cleared first), e.g. a printer's scratch string.
  JsonLine(std::string& text, std::uint64_t ts_ms, std::string_view event);
  JsonLine(const JsonLine&) = delete;
  JsonLine& operator=(const JsonLine&) = delete;

  JsonLine& field(const char* key, std::string_view value);
  JsonLine& field(const char* key, const char* value) { return field(key, std::string_view(value)); }
  JsonLine& field(const char* key, const std::string& value) { return field(key, std::string_view(value)); }
  JsonLine& field(const char* key, std::uint64_t value);
  JsonLine& field(const char* key, std::uint32_t value) { return field(key, std::uint64_t{value}); }
  JsonLine& field(const char* key, bool value);
  /// An id (a session id) as decimal digits in a string: "session":"123".
  JsonLine& id(const char* key, std::uint64_t value);
  /// `json` as it is (a nested object the caller built).
  JsonLine& raw(const char* key, std::string_view json);

  /// Closes the object and adds the newline; returns the whole line.
  const std::string& finish();
  /// finish(), then writes the line to `out` and flushes it (a script
  /// waits for each line).
  void print(std::FILE* out = stdout);

 private:
  // Keys are the tools' own ASCII literals: no escaping needed.
  void key(const char* name);

  std::string own_;
  std::string& text_;
};

}  // namespace uplink::tools
