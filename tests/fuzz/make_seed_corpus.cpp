// SPDX-License-Identifier: Apache-2.0
// Writes each golden vector (prefixed with a chunk-size byte) as one seed
// file for the decoder fuzzer: make_seed_corpus <directory>.
#include <cstdio>
#include <string>

#include "support/golden_vectors.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seed_corpus <directory>\n");
    return 2;
  }
  std::size_t count = 0;
  const uplink::test::GoldenVector* v = uplink::test::golden_vectors(count);
  for (std::size_t i = 0; i < count; ++i) {
    for (unsigned char chunk : {0, 1, 3}) {
      std::uint8_t bytes[257];
      bytes[0] = chunk;
      const std::size_t n = uplink::test::parse_hex(v[i].hex, bytes + 1, sizeof bytes - 1);
      const std::string path = std::string(argv[1]) + "/" + v[i].name + "_" + std::to_string(chunk);
      std::FILE* f = std::fopen(path.c_str(), "wb");
      if (f == nullptr || std::fwrite(bytes, 1, n + 1, f) != n + 1) {
        std::fprintf(stderr, "cannot write %s\n", path.c_str());
        return 1;
      }
      std::fclose(f);
    }
  }
  std::printf("%zu golden vectors written to %s\n", count, argv[1]);
  return 0;
}
