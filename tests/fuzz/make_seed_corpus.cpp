// SPDX-License-Identifier: Apache-2.0
// Seeds for the decoder fuzzers, from the golden vectors:
//   make_seed_corpus frame <directory>   the protocol's frames
//   make_seed_corpus mqtt <directory>    the MQTT 3.1.1 packets
// Each vector is one file, prefixed with a chunk-size byte (0, 1, 3: the
// fuzzer feeds it whole, byte by byte, three at a time); for MQTT also all
// packets back to back as one more file.
#include <cstdio>
#include <cstring>
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

// One file per vector and chunk size; `stream` (if given) collects them all.
template <typename Vector>
bool write_vectors(const std::string& dir, const Vector* v, std::size_t count, std::uint8_t* stream,
                   std::size_t stream_capacity, std::size_t& stream_size) {
  for (std::size_t i = 0; i < count; ++i) {
    for (unsigned char chunk : {0, 1, 3}) {
      std::uint8_t bytes[257];
      bytes[0] = chunk;
      const std::size_t n = uplink::test::parse_hex(v[i].hex, bytes + 1, sizeof bytes - 1);
      if (!write_seed(dir + "/" + v[i].name + "_" + std::to_string(chunk), bytes, n + 1)) return false;
    }
    if (stream != nullptr) {
      stream_size += uplink::test::parse_hex(v[i].hex, stream + stream_size, stream_capacity - stream_size);
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const bool frame = argc == 3 && std::strcmp(argv[1], "frame") == 0;
  const bool mqtt = argc == 3 && std::strcmp(argv[1], "mqtt") == 0;
  if (!frame && !mqtt) {
    std::fprintf(stderr, "usage: make_seed_corpus frame|mqtt <directory>\n");
    return 2;
  }
  const std::string dir = argv[2];
  std::size_t count = 0;
  std::size_t stream_size = 0;
  if (frame) {
    const uplink::test::GoldenVector* v = uplink::test::golden_vectors(count);
    if (!write_vectors(dir, v, count, nullptr, 0, stream_size)) return 1;
  } else {
    std::uint8_t stream[1024] = {0};  // chunk byte 0: the stream in one go
    stream_size = 1;
    const uplink::test::MqttGoldenVector* v = uplink::test::mqtt_golden_vectors(count);
    if (!write_vectors(dir, v, count, stream, sizeof stream, stream_size)) return 1;
    if (!write_seed(dir + "/all_packets", stream, stream_size)) return 1;
  }
  std::printf("%zu %s golden vectors written to %s\n", count, argv[1], dir.c_str());
  return 0;
}
