// SPDX-License-Identifier: Apache-2.0
// Golden MQTT 3.1.1 packets a client receives, taken from the examples of
// the OASIS MQTT Version 3.1.1 specification where it gives one (the
// figure or section is named with each vector), and the packets that
// complete the set. Shared by the decoder tests and the fuzzer's seed corpus.
#pragma once

#include <cstddef>

#include "uplink/codec/mqtt_packet.hpp"

namespace uplink::test {

struct MqttGoldenVector {
  const char* name;
  const char* hex;     // lowercase bytes separated by spaces (parse_hex, golden_vectors.hpp)
  mqtt::Packet packet;  // the packet these bytes decode to
};

/// The received-side golden packets, in a fixed order.
const MqttGoldenVector* mqtt_golden_vectors(std::size_t& count);

/// True when `a` and `b` are the same packet (members for the type only;
/// byte views compare by content).
bool same_packet(const mqtt::Packet& a, const mqtt::Packet& b);

}  // namespace uplink::test
