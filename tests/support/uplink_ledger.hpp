// SPDX-License-Identifier: Apache-2.0
// What an application received of a device's uplink over MQTT, counted by
// message number: copies of each, duplicates, gaps and order. The device
// under test sends reading(k) as its k-th message, so the number is the
// envelope's sequence number when the envelope is on, and the number in the
// payload's text when it is off. One copy for every client-against-a-broker
// test (scenarios, cluster failover).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "uplink/codec/mqtt_envelope.hpp"
#include "uplink/codec/mqtt_packet.hpp"
#include "uplink/core/byte_span.hpp"

namespace uplink::test {

/// The payload of the device's message number `seq`.
inline std::string reading(std::uint64_t seq) { return "reading " + std::to_string(seq); }

struct UplinkLedger {
  std::vector<std::uint32_t> copies{0};  // copies[seq]
  std::uint64_t distinct = 0;
  std::uint64_t total = 0;
  std::uint64_t next_in_order = 1;
  /// Every copy came in order: no duplicate, no message before an earlier one.
  bool in_order = true;
  /// With the duplicates dropped, the messages came in order: each message
  /// seen for the first time was the one after the last new one.
  bool deduplicated_in_order = true;
  std::string first_out_of_order;  // where deduplicated_in_order broke
  std::string problem;  // the first thing wrong, for the failure message

  /// A PUBLISH with the sequence envelope.
  void record(const mqtt::Publish& p) {
    mqtt::Enveloped e;
    if (mqtt::decode_envelope(p.payload, e)) {
      note("a PUBLISH without the envelope");
      return;
    }
    const std::string expected = reading(e.seq);
    if (!equal_bytes(ConstByteSpan{expected.data(), expected.size()}, e.payload)) {
      note("seq " + std::to_string(e.seq) + ": wrong payload");
    }
    count(e.seq);
  }

  /// A PUBLISH without the envelope: the number is in the text.
  void record_plain(const mqtt::Publish& p) {
    const std::string text(reinterpret_cast<const char*>(p.payload.data), p.payload.size);
    static const std::string kPrefix = reading(0).substr(0, reading(0).size() - 1);
    const std::uint64_t seq =
        text.compare(0, kPrefix.size(), kPrefix) == 0 ? std::strtoull(text.c_str() + kPrefix.size(), nullptr, 10) : 0;
    if (seq == 0 || text != reading(seq)) {
      note("a payload that is no reading: " + text.substr(0, 40));
      return;
    }
    count(seq);
  }

  [[nodiscard]] std::uint64_t duplicates() const { return total - distinct; }
  // Sequence numbers in 1..upto never received (the first few named).
  [[nodiscard]] std::uint64_t missing(std::uint64_t upto, std::string* which = nullptr) const {
    std::uint64_t n = 0;
    for (std::uint64_t s = 1; s <= upto; ++s) {
      if (s < copies.size() && copies[s] != 0) continue;
      if (which != nullptr && n < 10) *which += std::to_string(s) + " ";
      ++n;
    }
    return n;
  }
  void note(const std::string& what) {
    if (problem.empty()) problem = what;
  }

 private:
  void count(std::uint64_t seq) {
    if (copies.size() <= seq) copies.resize(seq + 1, 0);
    ++total;
    if (copies[seq]++ == 0) {
      if (seq != distinct + 1 && deduplicated_in_order) {
        deduplicated_in_order = false;
        first_out_of_order = "new message " + std::to_string(seq) + " after " + std::to_string(distinct) + " distinct ones";
      }
      ++distinct;
    }
    if (seq == next_in_order) {
      ++next_in_order;
    } else if (in_order) {
      in_order = false;
      note("got seq " + std::to_string(seq) + ", expected " + std::to_string(next_in_order));
    }
  }
};

}  // namespace uplink::test
