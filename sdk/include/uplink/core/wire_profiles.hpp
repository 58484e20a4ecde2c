// SPDX-License-Identifier: Apache-2.0
// uplink::WireProfiles: the wire profiles this build of the SDK carries,
// and the one place that knows which (UPLINK_WITH_MQTT,
// config_defaults.hpp).
//
// The link holds its profiles in place, one built at a time (no heap);
// a build without MQTT holds only the native profile, so a device that
// speaks only the native protocol carries neither the MQTT profile's code
// nor its RAM (the size tables in the README show both). Options naming a
// protocol the build lacks are refused by validate(), with the field named.
#pragma once

#include <cstddef>
#include <variant>

#include "uplink/config_defaults.hpp"
#include "uplink/core/native_profile.hpp"
#include "uplink/core/wire_profile.hpp"
#include "uplink/options.hpp"

// The one switch between the two builds: what the link holds, and the room
// its largest downlink acknowledgement needs.
#if UPLINK_WITH_MQTT
#include "uplink/core/mqtt_profile.hpp"
namespace uplink::detail {
using HeldProfiles = std::variant<NativeProfile, MqttProfile>;
inline constexpr std::size_t kMaxProfileDownlinkAck = MqttProfile::kMaxDownlinkAck;
}  // namespace uplink::detail
#else
namespace uplink::detail {
using HeldProfiles = std::variant<NativeProfile>;
inline constexpr std::size_t kMaxProfileDownlinkAck = 0;
}  // namespace uplink::detail
#endif

namespace uplink {

/// Checks the part of `options` that depends on Options::protocol: refused
/// when this build lacks the protocol, else that profile's own rules
/// (validate_mqtt()). Called by validate().
[[nodiscard]] OptionsCheck validate_wire_protocol(const Options& options);

/// The profiles of this build, held in place; current() is the one chosen
/// by the last select() (the native profile before any). Not thread-safe:
/// its Link serialises every call.
class WireProfiles {
 public:
  /// The most bytes the encode_downlink_ack() of any profile of this
  /// build writes at once (the native one: one cumulative ACK).
  static constexpr std::size_t kMaxDownlinkAck = kFrameHeaderSize + wire::kAckBody > detail::kMaxProfileDownlinkAck
                                                     ? kFrameHeaderSize + wire::kAckBody
                                                     : detail::kMaxProfileDownlinkAck;

  WireProfiles() = default;
  WireProfiles(const WireProfiles&) = delete;
  WireProfiles& operator=(const WireProfiles&) = delete;

  /// Builds afresh the profile of `protocol`, which validate_wire_protocol()
  /// accepted, and makes it current().
  WireProfile& select(WireProtocol protocol);
  /// The profile chosen last.
  [[nodiscard]] WireProfile& current() { return *current_; }

 private:
  detail::HeldProfiles held_;
  WireProfile* current_ = std::get_if<NativeProfile>(&held_);
};

}  // namespace uplink
