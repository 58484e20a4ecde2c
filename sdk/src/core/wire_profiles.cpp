// SPDX-License-Identifier: Apache-2.0
// The wire profiles of this build (UPLINK_WITH_MQTT): which protocols the
// options may name, and building the chosen profile in place.
#include "uplink/core/wire_profiles.hpp"

#include <cassert>

#include "uplink/error.hpp"

namespace uplink {
namespace {

// What MQTT needs of this file, in the build with it and in the one without.
#if UPLINK_WITH_MQTT
OptionsCheck check_mqtt(const Options& options) { return validate_mqtt(options); }
WireProfile* build_mqtt(detail::HeldProfiles& held) { return &held.emplace<MqttProfile>(); }
#else
OptionsCheck check_mqtt(const Options&) {
  return refuse_option("protocol", "this SDK was built without MQTT (UPLINK_WITH_MQTT=OFF)");
}
WireProfile* build_mqtt(detail::HeldProfiles&) { return nullptr; }
#endif

}  // namespace

OptionsCheck validate_wire_protocol(const Options& options) {
  switch (options.protocol) {
    case WireProtocol::native: return {};
    case WireProtocol::mqtt: return check_mqtt(options);
  }
  return refuse_option("protocol", "not a WireProtocol");
}

WireProfile& WireProfiles::select(WireProtocol protocol) {
  WireProfile* chosen = nullptr;
  if (protocol == WireProtocol::mqtt) chosen = build_mqtt(held_);
  // validate_wire_protocol() refused what this build lacks.
  assert(chosen != nullptr || protocol == WireProtocol::native);
  if (chosen == nullptr) chosen = &held_.emplace<NativeProfile>();
  current_ = chosen;
  return *current_;
}

}  // namespace uplink
