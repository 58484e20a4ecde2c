// SPDX-License-Identifier: Apache-2.0
// The broker's side of MQTT 3.1.1 as bytes, for tests that drive the link
// in virtual time without a broker: builders of what a broker sends
// (CONNACK, PUBACK, SUBACK, PUBLISH, PINGRESP) and a reader of what a
// client sends (CONNECT, PUBLISH, PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT).
// The SDK's own codec is what is under test, so the reader here is written
// from the specification (chapters 2 and 3), independently of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace uplink::test::mqtt_bytes {

using Bytes = std::vector<std::uint8_t>;

inline void put_u16(Bytes& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

/// A packet: the first byte, the remaining length, the body.
inline Bytes packet(std::uint8_t first, const Bytes& body) {
  Bytes out{first};
  std::size_t n = body.size();
  do {
    std::uint8_t digit = static_cast<std::uint8_t>(n % 128);
    n /= 128;
    if (n > 0) digit |= 0x80;
    out.push_back(digit);
  } while (n > 0);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

inline Bytes connack(bool session_present, std::uint8_t return_code = 0) {
  return packet(0x20, Bytes{static_cast<std::uint8_t>(session_present ? 1 : 0), return_code});
}
inline Bytes puback(std::uint16_t id) {
  Bytes body;
  put_u16(body, id);
  return packet(0x40, body);
}
inline Bytes suback(std::uint16_t id, std::uint8_t code) {
  Bytes body;
  put_u16(body, id);
  body.push_back(code);
  return packet(0x90, body);
}
inline Bytes pingresp() { return packet(0xD0, Bytes{}); }
/// A PUBLISH from the broker at QoS `qos` (0 or 1; id ignored at 0).
inline Bytes publish(const std::string& topic, const std::string& payload, std::uint8_t qos, std::uint16_t id = 0,
                     bool dup = false) {
  Bytes body;
  put_u16(body, topic.size());
  body.insert(body.end(), topic.begin(), topic.end());
  if (qos > 0) put_u16(body, id);
  body.insert(body.end(), payload.begin(), payload.end());
  return packet(static_cast<std::uint8_t>(0x30 | (dup ? 0x08 : 0) | (qos << 1)), body);
}

/// One packet a client sent, its fields read back.
struct ClientPacket {
  std::uint8_t type = 0;  ///< 1 CONNECT, 3 PUBLISH, 4 PUBACK, 8 SUBSCRIBE, 12 PINGREQ, 14 DISCONNECT.
  std::uint8_t flags = 0;
  // CONNECT
  std::uint8_t connect_flags = 0;
  std::uint16_t keepalive_s = 0;
  std::string client_id, will_topic, will_message, username, password;
  // PUBLISH / PUBACK / SUBSCRIBE
  std::uint16_t packet_id = 0;
  std::string topic;  ///< PUBLISH topic, SUBSCRIBE's first filter
  std::uint8_t requested_qos = 0;
  std::string payload;

  [[nodiscard]] bool dup() const { return (flags & 0x08) != 0; }
  [[nodiscard]] std::uint8_t qos() const { return static_cast<std::uint8_t>((flags >> 1) & 3); }
};

/// Splits `bytes` into client packets; `ok` turns false on anything that
/// does not parse or a trailing partial packet.
inline std::vector<ClientPacket> read_client_packets(const Bytes& bytes, bool& ok) {
  std::vector<ClientPacket> packets;
  ok = true;
  std::size_t at = 0;
  auto u16 = [&](std::size_t& p, std::size_t end) -> std::uint16_t {
    if (p + 2 > end) {
      ok = false;
      return 0;
    }
    const std::uint16_t v = static_cast<std::uint16_t>(bytes[p] << 8 | bytes[p + 1]);
    p += 2;
    return v;
  };
  auto str = [&](std::size_t& p, std::size_t end) -> std::string {
    const std::size_t n = u16(p, end);
    if (!ok || p + n > end) {
      ok = false;
      return {};
    }
    std::string s(bytes.begin() + static_cast<long>(p), bytes.begin() + static_cast<long>(p + n));
    p += n;
    return s;
  };
  while (ok && at < bytes.size()) {
    ClientPacket c;
    c.type = bytes[at] >> 4;
    c.flags = bytes[at] & 0x0F;
    std::size_t p = at + 1;
    std::size_t length = 0;
    for (std::size_t shift = 0, i = 0;; ++i, shift += 7) {
      if (p >= bytes.size() || i == 4) {
        ok = false;
        return packets;
      }
      length |= static_cast<std::size_t>(bytes[p] & 0x7F) << shift;
      if ((bytes[p++] & 0x80) == 0) break;
    }
    const std::size_t end = p + length;
    if (end > bytes.size()) {
      ok = false;
      return packets;
    }
    switch (c.type) {
      case 1: {
        if (str(p, end) != "MQTT" || p + 4 > end || bytes[p] != 4) ok = false;
        p += 1;
        c.connect_flags = bytes[p++];
        c.keepalive_s = u16(p, end);
        c.client_id = str(p, end);
        if (c.connect_flags & 0x04) {
          c.will_topic = str(p, end);
          c.will_message = str(p, end);
        }
        if (c.connect_flags & 0x80) c.username = str(p, end);
        if (c.connect_flags & 0x40) c.password = str(p, end);
        break;
      }
      case 3:
        c.topic = str(p, end);
        if (c.qos() > 0) c.packet_id = u16(p, end);
        c.payload.assign(bytes.begin() + static_cast<long>(p), bytes.begin() + static_cast<long>(end));
        p = end;
        break;
      case 4: c.packet_id = u16(p, end); break;
      case 8:
        c.packet_id = u16(p, end);
        c.topic = str(p, end);
        if (p < end) c.requested_qos = bytes[p++];
        p = end;
        break;
      case 12:
      case 14: break;
      default: ok = false; break;
    }
    if (p != end) ok = false;
    packets.push_back(c);
    at = end;
  }
  return packets;
}

}  // namespace uplink::test::mqtt_bytes
