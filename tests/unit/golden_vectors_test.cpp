// SPDX-License-Identifier: Apache-2.0
// docs/PROTOCOL.md and the code agree: every golden vector of the test
// suite appears in the spec, byte for byte, and the spec has no vector the
// tests do not know.
#include <cstdio>
#include <cstring>
#include <string>

#include "support/golden_vectors.hpp"

#include <CppUTest/TestHarness.h>

namespace {

// Reads the whole spec; empty when it cannot be opened.
std::string read_spec() {
  std::string text;
  std::FILE* f = std::fopen(UPLINK_PROTOCOL_MD, "rb");
  if (f == nullptr) return text;
  char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) text.append(chunk, n);
  std::fclose(f);
  return text;
}

// The hex bytes of the fenced block right after "<!-- golden: NAME -->".
std::string golden_block(const std::string& spec, const std::string& name) {
  const std::string marker = "<!-- golden: " + name + " -->";
  const std::size_t at = spec.find(marker);
  if (at == std::string::npos) return {};
  const std::size_t fence = spec.find("```text\n", at + marker.size());
  if (fence == std::string::npos) return {};
  const std::size_t begin = fence + 8;
  const std::size_t end = spec.find("```", begin);
  if (end == std::string::npos) return {};
  return spec.substr(begin, end - begin);
}

}  // namespace

TEST_GROUP(ProtocolSpec) {
  std::string spec;
  void setup() override { spec = read_spec(); }
};

TEST(ProtocolSpec, SpecIsReadable) { CHECK_FALSE(spec.empty()); }

TEST(ProtocolSpec, EveryGoldenVectorAppearsInTheSpecByteForByte) {
  std::size_t count = 0;
  const uplink::test::GoldenVector* v = uplink::test::golden_vectors(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string block = golden_block(spec, v[i].name);
    CHECK_TEXT(!block.empty(), v[i].name);
    std::uint8_t in_spec[256];
    std::uint8_t in_code[256];
    const std::size_t a = uplink::test::parse_hex(block.c_str(), in_spec, sizeof in_spec);
    const std::size_t b = uplink::test::parse_hex(v[i].hex, in_code, sizeof in_code);
    CHECK_TEXT(a > 0, v[i].name);
    UNSIGNED_LONGS_EQUAL_TEXT(b, a, v[i].name);
    MEMCMP_EQUAL_TEXT(in_code, in_spec, b, v[i].name);
  }
}

TEST(ProtocolSpec, SpecHasNoGoldenVectorTheTestsDoNotKnow) {
  std::size_t count = 0;
  (void)uplink::test::golden_vectors(count);
  std::size_t markers = 0;
  for (std::size_t at = spec.find("<!-- golden: "); at != std::string::npos;
       at = spec.find("<!-- golden: ", at + 1)) {
    ++markers;
  }
  UNSIGNED_LONGS_EQUAL(count, markers);
}
