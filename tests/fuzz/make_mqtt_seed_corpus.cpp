// SPDX-License-Identifier: Apache-2.0
// Writes each MQTT golden packet (prefixed with a chunk-size byte) as one
// seed file for the MQTT decoder fuzzer, and all of them back to back as one
// more: make_mqtt_seed_corpus <directory>.
#include <cstdio>
#include <string>

#include "support/golden_vectors.hpp"
#include "support/mqtt_golden_vectors.hpp"

namespace {

bool write_seed(const std::string& path, const std::uint8_t* bytes, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  const bool ok = f != nullptr && std::fwrite(bytes, 1, size, f) == size;
  if (f != nullptr) std::fclose(f);
  if (!ok) std::fprintf(stderr, "cannot write %s\n", path.c_str());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_mqtt_seed_corpus <directory>\n");
    return 2;
  }
  std::size_t count = 0;
  const uplink::test::MqttGoldenVector* v = uplink::test::mqtt_golden_vectors(count);
  std::uint8_t stream[1024] = {0};  // chunk byte 0: the stream in one go
  std::size_t stream_size = 1;
  for (std::size_t i = 0; i < count; ++i) {
    for (unsigned char chunk : {0, 1, 3}) {
      std::uint8_t bytes[257];
      bytes[0] = chunk;
      const std::size_t n = uplink::test::parse_hex(v[i].hex, bytes + 1, sizeof bytes - 1);
      if (!write_seed(std::string(argv[1]) + "/" + v[i].name + "_" + std::to_string(chunk), bytes, n + 1)) return 1;
    }
    stream_size += uplink::test::parse_hex(v[i].hex, stream + stream_size, sizeof stream - stream_size);
  }
  if (!write_seed(std::string(argv[1]) + "/all_packets", stream, stream_size)) return 1;
  std::printf("%zu MQTT golden packets written to %s\n", count, argv[1]);
  return 0;
}
