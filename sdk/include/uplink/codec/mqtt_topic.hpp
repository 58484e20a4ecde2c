// SPDX-License-Identifier: Apache-2.0
// MQTT 3.1.1 strings and topics: the UTF-8 rules (spec 1.5.3), topic names
// and filters (spec 4.7), and the topic templates a device publishes and
// subscribes with ("devices/{device_id}/up").
//
// Pure functions over caller-owned bytes: nothing is allocated, nothing is
// written past the output buffer.
#pragma once

#include <system_error>

#include "uplink/codec/codec_result.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::mqtt {

/// The placeholder a topic template replaces with the device id.
inline constexpr char kDeviceIdPlaceholder[] = "{device_id}";
/// The default template of the topic a device publishes its messages to.
inline constexpr char kDefaultUplinkTopic[] = "devices/{device_id}/up";
/// The default template of the topic a device subscribes to for downlink messages.
inline constexpr char kDefaultDownlinkTopic[] = "devices/{device_id}/down";

/// Checks that `text` is well-formed UTF-8 (RFC 3629: no overlong form, no
/// surrogate, nothing above U+10FFFF) without U+0000, as MQTT requires of
/// every string. Errors: mqtt::Errc::invalid_utf8.
[[nodiscard]] std::error_code check_utf8(ConstByteSpan text) noexcept;

/// Checks a topic name (what PUBLISH carries): 1..65535 bytes, UTF-8, no
/// '+' or '#'. Errors: mqtt::Errc::invalid_topic, mqtt::Errc::invalid_utf8.
[[nodiscard]] std::error_code check_topic_name(ConstByteSpan topic) noexcept;

/// Checks a topic filter (what SUBSCRIBE carries): 1..65535 bytes, UTF-8,
/// '+' only as a whole level, '#' only as the whole last level.
/// Errors: mqtt::Errc::invalid_topic, mqtt::Errc::invalid_utf8.
[[nodiscard]] std::error_code check_topic_filter(ConstByteSpan filter) noexcept;

/// Writes `topic_template` into `out` with every "{device_id}" replaced by
/// `device_id`, and checks the result as a topic name (a device publishes
/// to it and subscribes to it exactly, so it holds no wildcard either way).
/// The device id may not contain '/', '+' or '#': it must stay one level.
/// Errors: mqtt::Errc::invalid_topic_template (another "{...}" or a lone
/// brace), mqtt::Errc::invalid_topic (empty result, wildcard, or a device id
/// that is empty or holds '/', '+', '#'), mqtt::Errc::invalid_utf8,
/// uplink::Errc::field_too_long (over 65535 bytes), uplink::Errc::buffer_too_small.
/// Nothing is guaranteed about `out` on error.
[[nodiscard]] EncodeResult expand_topic(ConstByteSpan topic_template, ConstByteSpan device_id, ByteSpan out) noexcept;

}  // namespace uplink::mqtt
