// SPDX-License-Identifier: Apache-2.0
// MQTT strings and topics: UTF-8 (RFC 3629 as MQTT 3.1.1 spec 1.5.3 restates
// it), topic names and filters (spec 4.7), and topic templates.
#include "uplink/codec/mqtt_topic.hpp"

#include <cstring>

#include "mqtt_fault.hpp"
#include "uplink/codec/mqtt_error.hpp"
#include "uplink/codec/mqtt_packet.hpp"
#include "uplink/error.hpp"

namespace uplink::mqtt {
namespace {

bool is_wildcard(std::uint8_t c) { return c == '+' || c == '#'; }

}  // namespace

Errc utf8_fault(ConstByteSpan text) noexcept {
  const std::size_t n = text.size;
  for (std::size_t i = 0; i < n;) {
    const std::uint8_t b = text[i++];
    if (b == 0) return Errc::invalid_utf8;
    if (b < 0x80) continue;
    // The lead byte fixes how many continuation bytes follow and the range
    // of the first one: that range is what excludes overlong forms (E0, F0),
    // surrogates (ED) and code points above U+10FFFF (F4).
    std::size_t extra = 0;
    std::uint8_t lo = 0x80;
    std::uint8_t hi = 0xBF;
    if (b < 0xC2) return Errc::invalid_utf8;  // continuation byte or overlong C0/C1
    if (b < 0xE0) {
      extra = 1;
    } else if (b < 0xF0) {
      extra = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b < 0xF5) {
      extra = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return Errc::invalid_utf8;
    }
    if (n - i < extra || text[i] < lo || text[i] > hi) return Errc::invalid_utf8;
    for (std::size_t k = 1; k < extra; ++k) {
      if ((text[i + k] & 0xC0) != 0x80) return Errc::invalid_utf8;
    }
    i += extra;
  }
  return kNoFault;
}

Errc topic_name_fault(ConstByteSpan topic) noexcept {
  if (topic.empty() || topic.size > kMaxStringLength) return Errc::invalid_topic;
  for (std::uint8_t c : topic) {
    if (is_wildcard(c)) return Errc::invalid_topic;
  }
  return utf8_fault(topic);
}

Errc topic_filter_fault(ConstByteSpan filter) noexcept {
  const std::size_t n = filter.size;
  if (n == 0 || n > kMaxStringLength) return Errc::invalid_topic;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_wildcard(filter[i])) continue;
    // A wildcard is a whole level: a separator (or the start) before it,
    // and for '+' a separator (or the end) after it; '#' only at the end.
    const bool starts_level = i == 0 || filter[i - 1] == '/';
    const bool ends_level = i + 1 == n || (filter[i] == '+' && filter[i + 1] == '/');
    if (!starts_level || !ends_level) return Errc::invalid_topic;
  }
  return utf8_fault(filter);
}

std::error_code check_utf8(ConstByteSpan text) noexcept { return to_error(utf8_fault(text)); }
std::error_code check_topic_name(ConstByteSpan topic) noexcept { return to_error(topic_name_fault(topic)); }
std::error_code check_topic_filter(ConstByteSpan filter) noexcept { return to_error(topic_filter_fault(filter)); }

EncodeResult expand_topic(ConstByteSpan topic_template, ConstByteSpan device_id, ByteSpan out) noexcept {
  const ConstByteSpan placeholder = literal_bytes(kDeviceIdPlaceholder);
  const ConstByteSpan& t = topic_template;
  // One pass to check the template and the device id and size the result,
  // one to write it: nothing is written past `out`.
  std::size_t size = 0;
  bool uses_id = false;
  for (std::size_t i = 0; i < t.size;) {
    if (t[i] == '{') {
      const std::size_t left = t.size - i;
      if (!equal_bytes(ConstByteSpan{t.data + i, left < placeholder.size ? left : placeholder.size}, placeholder)) {
        return {make_error_code(Errc::invalid_topic_template), 0};
      }
      uses_id = true;
      size += device_id.size;
      i += placeholder.size;
    } else if (t[i] == '}') {
      return {make_error_code(Errc::invalid_topic_template), 0};
    } else {
      ++size;
      ++i;
    }
  }
  if (uses_id) {
    if (device_id.empty()) return {make_error_code(Errc::invalid_topic), 0};
    for (std::uint8_t c : device_id) {
      if (c == '/' || is_wildcard(c)) return {make_error_code(Errc::invalid_topic), 0};
    }
  }
  if (size > kMaxStringLength) return {make_error_code(uplink::Errc::field_too_long), 0};
  if (size > out.size) return {make_error_code(uplink::Errc::buffer_too_small), 0};
  std::size_t at = 0;
  for (std::size_t i = 0; i < t.size;) {
    if (t[i] == '{') {
      if (!device_id.empty()) std::memcpy(out.data + at, device_id.data, device_id.size);
      at += device_id.size;
      i += placeholder.size;
    } else {
      out.data[at++] = t[i++];
    }
  }
  const Errc fault = topic_name_fault(ConstByteSpan{out.data, size});
  return {to_error(fault), fault == kNoFault ? size : 0};
}

}  // namespace uplink::mqtt
