// SPDX-License-Identifier: Apache-2.0
// The MQTT keepalive derived from the heartbeat and the read timeout: the
// broker's 1.5 x keepalive cut never comes before the device's own detection.
#include <cstdint>

#include "uplink/core/mqtt_keepalive.hpp"
#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

TEST_GROUP(MqttKeepalive) {};

TEST(MqttKeepalive, TheBrokersCutNeverComesBeforeTheDevicesOwnDetection) {
  // The defaults: heartbeat 30 s, read timeout 60 s -> 60 s (the broker cuts after 90 s).
  const MqttKeepalive k = mqtt_keepalive(30000, 60000);
  CHECK_FALSE(k.error);
  CHECK_EQUAL(60, k.seconds);
  for (std::uint32_t heartbeat = 1000; heartbeat <= 600000; heartbeat += 7919) {
    for (std::uint32_t factor = 1; factor <= 4; ++factor) {
      const std::uint32_t read_timeout = heartbeat * factor + factor * 13;
      const MqttKeepalive r = mqtt_keepalive(heartbeat, read_timeout);
      CHECK_FALSE(r.error);
      // Broker cut >= device detection when the broker last heard a heartbeat ago.
      CHECK(1.5 * r.seconds * 1000.0 >= static_cast<double>(read_timeout) + heartbeat);
      // The smallest such keepalive, and the device writes within it.
      CHECK(1.5 * (r.seconds - 1) * 1000.0 < static_cast<double>(read_timeout) + heartbeat);
      CHECK(heartbeat <= r.seconds * 1000u);
    }
  }
}

TEST(MqttKeepalive, ShortTimeoutsRoundUpToOneSecondAndNeverToZero) {
  CHECK_EQUAL(1, mqtt_keepalive(100, 200).seconds);
  CHECK_EQUAL(2, mqtt_keepalive(1000, 1001).seconds);
}

TEST(MqttKeepalive, BrokerLimitsAndImpossibleSettingsAreRefused) {
  CHECK(mqtt_keepalive(0, 60000).error == Errc::invalid_option);
  CHECK(mqtt_keepalive(30000, 0).error == Errc::invalid_option);
  // AWS IoT Core allows up to 1200 s: a read timeout of 20 min with a 10 min heartbeat needs 1200.
  CHECK_EQUAL(1200, mqtt_keepalive(600000, 1200000, 1200).seconds);
  CHECK(mqtt_keepalive(600000, 1200001, 1200).error == Errc::invalid_option);
  CHECK(mqtt_keepalive(60000000, 60000000).error == Errc::invalid_option);  // above 65535 s
  // A read timeout far below the heartbeat: the device could not write within the keepalive.
  CHECK(mqtt_keepalive(60000, 1000).error == Errc::invalid_option);
}
