// SPDX-License-Identifier: Apache-2.0
// Golden frames: bytes and the values they encode.
#include "support/golden_vectors.hpp"

#include <cctype>

namespace uplink::test {
namespace {

Frame make_hello() {
  Frame f;
  f.type = FrameType::hello;
  f.hello.device_id = literal_bytes("pi-0001");
  f.hello.token = literal_bytes("s3cret");
  f.hello.heartbeat_ms = 30000;
  return f;
}
Frame make_hello_resume() {
  Frame f;
  f.type = FrameType::hello;
  f.hello.device_id = literal_bytes("pi-0001");
  f.hello.heartbeat_ms = 30000;
  f.hello.session_id = 0x1122334455667788ULL;
  f.hello.last_downlink_seq = 5;
  return f;
}
Frame make_welcome() {
  Frame f;
  f.type = FrameType::welcome;
  f.welcome.heartbeat_ms = 30000;
  f.welcome.session_id = 0x1122334455667788ULL;
  f.welcome.next_uplink_seq = 1;
  return f;
}
Frame make_data(std::uint64_t seq, ConstByteSpan payload) {
  Frame f;
  f.type = FrameType::data;
  f.data.seq = seq;
  f.data.payload = payload;
  return f;
}
Frame make_ack() {
  Frame f;
  f.type = FrameType::ack;
  f.ack.seq = 1;
  return f;
}
Frame make_close() {
  Frame f;
  f.type = FrameType::close;
  f.close.reason = CloseReason::going_away;
  f.close.retry_after_ms = 5000;
  f.close.text = literal_bytes("restart");
  return f;
}
Frame make_control(FrameType type) {
  Frame f;
  f.type = type;
  return f;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const GoldenVector* golden_vectors(std::size_t& count) {
  static const GoldenVector vectors[] = {
      {"ping", "00 01", make_control(FrameType::ping)},
      {"pong", "00 02", make_control(FrameType::pong)},
      {"hello",
       "01 00 00 24 01 07 70 69 2d 30 30 30 31 06 73 33 63 72 65 74 00 00 75 30 "
       "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
       make_hello()},
      {"hello_resume",
       "01 00 00 1e 01 07 70 69 2d 30 30 30 31 00 00 00 75 30 11 22 33 44 55 66 77 88 "
       "00 00 00 00 00 00 00 05",
       make_hello_resume()},
      {"welcome", "02 00 00 15 01 00 00 75 30 11 22 33 44 55 66 77 88 00 00 00 00 00 00 00 01",
       make_welcome()},
      {"data", "03 00 00 0a 00 00 00 00 00 00 00 01 68 69", make_data(1, literal_bytes("hi"))},
      {"data_empty", "03 00 00 08 00 00 00 00 00 00 00 02", make_data(2, {})},
      {"ack", "04 00 00 08 00 00 00 00 00 00 00 01", make_ack()},
      {"close", "05 00 00 0d 07 00 00 13 88 07 72 65 73 74 61 72 74", make_close()},
  };
  count = sizeof(vectors) / sizeof(vectors[0]);
  return vectors;
}

std::size_t parse_hex(const char* hex, std::uint8_t* out, std::size_t capacity) {
  std::size_t n = 0;
  const char* p = hex;
  while (*p != '\0') {
    if (std::isspace(static_cast<unsigned char>(*p)) != 0) {
      ++p;
      continue;
    }
    const int hi = hex_digit(p[0]);
    const int lo = p[1] == '\0' ? -1 : hex_digit(p[1]);
    if (hi < 0 || lo < 0 || n == capacity) return 0;
    out[n++] = static_cast<std::uint8_t>(hi * 16 + lo);
    p += 2;
  }
  return n;
}

}  // namespace uplink::test
