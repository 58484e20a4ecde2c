// SPDX-License-Identifier: Apache-2.0
// JSON event lines of the tools (see json_line.hpp).
#include "json_line.hpp"

#include <chrono>
#include <charconv>

namespace uplink::tools {
namespace {

// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 when
// the bytes there are not one (overlong forms, surrogates and values above
// U+10FFFF included), so that the output is always valid UTF-8.
std::size_t utf8_sequence(const unsigned char* s, std::size_t n) {
  const unsigned char b = s[0];
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;  // range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    length = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    length = 3;
    if (b == 0xE0) low = 0xA0;
    if (b == 0xED) high = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    length = 4;
    if (b == 0xF0) low = 0x90;
    if (b == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (n < length || s[1] < low || s[1] > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  }
  return length;
}

}  // namespace

void append_json_string(std::string& out, std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  const auto* text = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t size = bytes.size();
  out.push_back('"');
  std::size_t i = 0;
  while (i < size) {  // every pass consumes at least one byte
    // Printable ASCII but the quote and the backslash is copied as it is,
    // a run at a time (device ids and most payloads are nothing else).
    std::size_t run = i;
    while (run < size && text[run] >= 0x20 && text[run] < 0x7F && text[run] != '"' && text[run] != '\\') ++run;
    if (run != i) {
      out.append(bytes.data() + i, run - i);
      i = run;
      continue;
    }
    const unsigned char b = text[i];
    if (b == '"' || b == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(b));
      ++i;
    } else if (b == '\n') {
      out += "\\n";
      ++i;
    } else if (b == '\r') {
      out += "\\r";
      ++i;
    } else if (b == '\t') {
      out += "\\t";
      ++i;
    } else if (b < 0x20 || b == 0x7F) {  // DEL too: it is invisible on terminals
      out += "\\u00";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0x0F]);
      ++i;
    } else if (const std::size_t length = utf8_sequence(text + i, size - i)) {
      out.append(bytes.data() + i, length);
      i += length;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out.push_back('"');
}

void append_decimal(std::string& out, std::uint64_t value) {
  char digits[20];  // 2^64 - 1 has 20 digits
  const std::to_chars_result result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, static_cast<std::size_t>(result.ptr - digits));
}

std::uint64_t wall_clock_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

JsonLine::JsonLine(std::uint64_t ts_ms, std::string_view event) : JsonLine(own_, ts_ms, event) {}

JsonLine::JsonLine(std::string& text, std::uint64_t ts_ms, std::string_view event) : text_(text) {
  text_.clear();
  text_ += "{\"ts_ms\":";
  append_decimal(text_, ts_ms);
  text_ += ",\"event\":";
  append_json_string(text_, event);
}

JsonLine& JsonLine::field(const char* name, std::string_view value) {
  key(name);
  append_json_string(text_, value);
  return *this;
}

JsonLine& JsonLine::field(const char* name, std::uint64_t value) {
  key(name);
  append_decimal(text_, value);
  return *this;
}

JsonLine& JsonLine::field(const char* name, bool value) {
  key(name);
  text_ += value ? "true" : "false";
  return *this;
}

JsonLine& JsonLine::id(const char* name, std::uint64_t value) {
  key(name);
  text_.push_back('"');
  append_decimal(text_, value);
  text_.push_back('"');
  return *this;
}

JsonLine& JsonLine::raw(const char* name, std::string_view json) {
  key(name);
  text_.append(json.data(), json.size());
  return *this;
}

const std::string& JsonLine::finish() {
  text_ += "}\n";
  return text_;
}

void JsonLine::print(std::FILE* out) {
  finish();
  std::fwrite(text_.data(), 1, text_.size(), out);
  std::fflush(out);
}

void JsonLine::key(const char* name) {
  text_ += ",\"";
  text_ += name;
  text_ += "\":";
}

}  // namespace uplink::tools
