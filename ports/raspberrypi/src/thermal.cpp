// SPDX-License-Identifier: Apache-2.0
// SoC temperature from the first thermal zone. See raspberrypi.hpp.
#include <charconv>
#include <cstdint>
#include <cstring>

#include "board_files.hpp"
#include "uplink/port/raspberrypi.hpp"

namespace uplink::port::raspberrypi {

std::error_code parse_millicelsius(const char* text, std::size_t length, std::int32_t& millicelsius) noexcept {
  if (text == nullptr) return std::make_error_code(std::errc::bad_message);
  const char* end = text + length;
  while (end > text && detail::is_blank(end[-1])) --end;
  if (end == text) return std::make_error_code(std::errc::bad_message);
  std::int32_t value = 0;
  const std::from_chars_result result = std::from_chars(text, end, value, 10);
  if (result.ec == std::errc::result_out_of_range) return std::make_error_code(std::errc::result_out_of_range);
  if (result.ec != std::errc{} || result.ptr != end) return std::make_error_code(std::errc::bad_message);
  millicelsius = value;
  return {};
}

std::error_code soc_temperature(std::int32_t& millicelsius, const char* root) noexcept {
  // "-2147483648\n" is 12 bytes; a file that fills the buffer is not a temperature.
  char text[32];
  std::size_t length = 0;
  if (const std::error_code error =
          detail::read_file(root, "/sys/class/thermal/thermal_zone0/temp", text, sizeof text, length)) {
    return error;
  }
  if (length == sizeof text) return std::make_error_code(std::errc::bad_message);
  return parse_millicelsius(text, length, millicelsius);
}

std::size_t format_celsius(std::int32_t millicelsius, char* out, std::size_t size) noexcept {
  char text[16];  // "-2147483.648" and a NUL
  char* p = text;
  std::int64_t value = millicelsius;
  if (value < 0) {
    *p++ = '-';
    value = -value;
  }
  const std::to_chars_result whole = std::to_chars(p, text + sizeof text, value / 1000);
  p = whole.ptr;
  const auto fraction = static_cast<int>(value % 1000);
  *p++ = '.';
  *p++ = static_cast<char>('0' + fraction / 100);
  *p++ = static_cast<char>('0' + fraction / 10 % 10);
  *p++ = static_cast<char>('0' + fraction % 10);
  const auto length = static_cast<std::size_t>(p - text);
  if (out == nullptr || size < length + 1) {
    if (out != nullptr && size > 0) out[0] = '\0';
    return 0;
  }
  std::memcpy(out, text, length);
  out[length] = '\0';
  return length;
}

std::error_code soc_temperature_payload(char* out, std::size_t size, std::size_t& length,
                                        const char* root) noexcept {
  constexpr char kKey[] = "soc_temp_c=";
  constexpr std::size_t key_length = sizeof kKey - 1;
  length = 0;
  if (out != nullptr && size > 0) out[0] = '\0';
  std::int32_t millicelsius = 0;
  if (const std::error_code error = soc_temperature(millicelsius, root)) return error;
  if (out == nullptr || size <= key_length) return std::make_error_code(std::errc::no_buffer_space);
  const std::size_t value_length = format_celsius(millicelsius, out + key_length, size - key_length);
  if (value_length == 0) {
    out[0] = '\0';
    return std::make_error_code(std::errc::no_buffer_space);
  }
  std::memcpy(out, kKey, key_length);
  length = key_length + value_length;
  return {};
}

}  // namespace uplink::port::raspberrypi
