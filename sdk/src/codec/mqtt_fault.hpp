// SPDX-License-Identifier: Apache-2.0
// Inside the MQTT codec a check reports a plain mqtt::Errc, Errc{} when the
// input is fine: it travels in a register, where a std::error_code is a
// structure returned through memory with a call for its category at every
// return. The public functions turn it into a std::error_code once, at the
// boundary (to_error()). For the codec only.
#pragma once

#include <system_error>

#include "uplink/codec/mqtt_error.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::mqtt {

/// No fault: the input is fine.
inline constexpr Errc kNoFault = Errc{};

/// The error of `fault`: empty for kNoFault.
[[nodiscard]] std::error_code to_error(Errc fault) noexcept;

/// check_utf8(), check_topic_name() and check_topic_filter() (mqtt_topic.hpp) as faults.
[[nodiscard]] Errc utf8_fault(ConstByteSpan text) noexcept;
[[nodiscard]] Errc topic_name_fault(ConstByteSpan topic) noexcept;
[[nodiscard]] Errc topic_filter_fault(ConstByteSpan filter) noexcept;

}  // namespace uplink::mqtt
