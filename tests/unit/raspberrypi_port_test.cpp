// SPDX-License-Identifier: Apache-2.0
// The Raspberry Pi port against fake board file trees (tests/ports/*, see its
// README): serial number from the device tree, from /proc/cpuinfo, or the
// fallback; the protocol's device-id rules; board model; SoC temperature
// parsing and formatting; the hardware RNG; and no heap use.
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#include "uplink/config_defaults.hpp"
#include "uplink/port/device_identity.hpp"
#include "uplink/port/raspberrypi.hpp"

#if defined(UPLINK_PORT_TEST_COUNTS_ALLOCATIONS)
#include "support/alloc_counter.hpp"
#endif

#include <CppUTest/TestHarness.h>

namespace rpi = uplink::port::raspberrypi;

namespace {

std::string fixture(const char* name) { return std::string(UPLINK_PORT_FIXTURES) + "/" + name; }

// Every byte of a device id must be printable ASCII without space.
bool valid_device_id(const char* id, std::size_t length) {
  if (length == 0 || length > UPLINK_MAX_DEVICE_ID_LENGTH || std::strlen(id) != length) return false;
  for (std::size_t i = 0; i < length; ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

std::size_t fixed_fallback(char* out, std::size_t size) noexcept {
  std::snprintf(out, size, "%s", "pc-emulated-42");
  return std::strlen(out);
}

// A careless fallback: white space around, a space and control bytes inside,
// and far longer than the protocol allows.
std::size_t messy_fallback(char* out, std::size_t size) noexcept {
  std::snprintf(out, size, "  my board\t\x01\x7F%s  ",
                "0123456789012345678901234567890123456789012345678901234567890123456789");
  return std::strlen(out);
}

std::size_t empty_fallback(char* out, std::size_t size) noexcept {
  if (size > 0) out[0] = '\0';
  return 0;
}

std::size_t lying_fallback(char* out, std::size_t size) noexcept {
  std::snprintf(out, size, "%s", "short");
  return 1000;  // more than it wrote
}

}  // namespace

// --- identity ---------------------------------------------------------------

TEST_GROUP(RaspberryPiIdentity){};

TEST(RaspberryPiIdentity, SerialFromTheDeviceTreeEndsAtItsNul) {
  char id[65];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, fixture("pi4").c_str(), fixed_fallback);
  STRCMP_EQUAL("10000000a1b2c3d4", id);
  LONGS_EQUAL(16, identity.length);
  CHECK(identity.source == rpi::IdentitySource::device_tree);
  STRCMP_EQUAL("device_tree", rpi::identity_source_name(identity.source));
}

TEST(RaspberryPiIdentity, SerialFromCpuinfoWhenTheDeviceTreeHasNone) {
  char id[65];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, fixture("pi3").c_str(), fixed_fallback);
  STRCMP_EQUAL("00000000deadbeef", id);
  LONGS_EQUAL(16, identity.length);
  CHECK(identity.source == rpi::IdentitySource::cpuinfo);
}

TEST(RaspberryPiIdentity, CpuinfoSerialLineIsFoundPastOverlongLinesAndLookAlikeKeys) {
  char id[65];
  const rpi::Identity identity =
      rpi::board_identity(id, sizeof id, fixture("long-cpuinfo").c_str(), fixed_fallback);
  STRCMP_EQUAL("ABCDEF0123456789", id);
  CHECK(identity.source == rpi::IdentitySource::cpuinfo);
}

TEST(RaspberryPiIdentity, CallersFallbackWhenNeitherFileExists) {
  char id[65];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, fixture("pc").c_str(), fixed_fallback);
  STRCMP_EQUAL("pc-emulated-42", id);
  LONGS_EQUAL(14, identity.length);
  CHECK(identity.source == rpi::IdentitySource::fallback);
  STRCMP_EQUAL("fallback", rpi::identity_source_name(identity.source));
}

TEST(RaspberryPiIdentity, AllZeroSerialsCountAsAbsent) {
  char id[65];
  const rpi::Identity identity =
      rpi::board_identity(id, sizeof id, fixture("malformed").c_str(), fixed_fallback);
  STRCMP_EQUAL("pc-emulated-42", id);
  CHECK(identity.source == rpi::IdentitySource::fallback);
}

TEST(RaspberryPiIdentity, DefaultFallbackIsTheDefaultPortsDeviceIdentity) {
  char expected[65];
  const std::size_t expected_length = uplink::port::device_identity(expected, sizeof expected);
  char id[65];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, fixture("pc").c_str());
  CHECK(identity.source == rpi::IdentitySource::fallback);
  STRCMP_EQUAL(expected, id);
  LONGS_EQUAL(expected_length, identity.length);
  CHECK(valid_device_id(id, identity.length));
}

TEST(RaspberryPiIdentity, FallbackAnswerIsHeldToTheProtocolRules) {
  char id[200];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, fixture("pc").c_str(), messy_fallback);
  LONGS_EQUAL(UPLINK_MAX_DEVICE_ID_LENGTH, identity.length);
  CHECK(valid_device_id(id, identity.length));
  STRCMP_EQUAL("my-board---01234567890123456789012345678901234567890123456789012", id);
}

TEST(RaspberryPiIdentity, EmptyFallbackAnswerStillGivesAnId) {
  char id[65];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, fixture("pc").c_str(), empty_fallback);
  STRCMP_EQUAL("uplink-device", id);
  LONGS_EQUAL(13, identity.length);
}

TEST(RaspberryPiIdentity, FallbackLengthIsCheckedAgainstWhatItWrote) {
  char id[65];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, fixture("pc").c_str(), lying_fallback);
  STRCMP_EQUAL("short", id);
  LONGS_EQUAL(5, identity.length);
}

TEST(RaspberryPiIdentity, IdIsCutToTheCallersBuffer) {
  char id[9];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, fixture("pi4").c_str(), fixed_fallback);
  STRCMP_EQUAL("10000000", id);
  LONGS_EQUAL(8, identity.length);

  char two[2];
  LONGS_EQUAL(1, rpi::board_identity(two, sizeof two, fixture("pi3").c_str(), fixed_fallback).length);
  STRCMP_EQUAL("0", two);

  char one[1] = {'x'};
  LONGS_EQUAL(0, rpi::board_identity(one, sizeof one, fixture("pi4").c_str(), fixed_fallback).length);
  LONGS_EQUAL('\0', one[0]);
  LONGS_EQUAL(0, rpi::board_identity(nullptr, 0, fixture("pi4").c_str(), fixed_fallback).length);
}

TEST(RaspberryPiIdentity, RootTooLongMeansNothingIsFound) {
  const std::string root = fixture("pi4") + std::string(rpi::kMaxPathLength, '/');
  char id[65];
  const rpi::Identity identity = rpi::board_identity(id, sizeof id, root.c_str(), fixed_fallback);
  CHECK(identity.source == rpi::IdentitySource::fallback);
  STRCMP_EQUAL("pc-emulated-42", id);
}

// --- model ------------------------------------------------------------------

TEST_GROUP(RaspberryPiModel){};

TEST(RaspberryPiModel, ModelFromTheDeviceTree) {
  char model[64];
  LONGS_EQUAL(30, rpi::board_model(model, sizeof model, fixture("pi4").c_str()));
  STRCMP_EQUAL("Raspberry Pi 4 Model B Rev 1.4", model);
  CHECK(rpi::is_raspberry_pi(fixture("pi4").c_str()));
  CHECK(rpi::is_raspberry_pi(fixture("pi3").c_str()));
}

TEST(RaspberryPiModel, UnknownWhenAbsentOrEmpty) {
  char model[64];
  LONGS_EQUAL(7, rpi::board_model(model, sizeof model, fixture("pc").c_str()));
  STRCMP_EQUAL("unknown", model);
  LONGS_EQUAL(7, rpi::board_model(model, sizeof model, fixture("malformed").c_str()));
  STRCMP_EQUAL("unknown", model);
  CHECK_FALSE(rpi::is_raspberry_pi(fixture("pc").c_str()));
  CHECK_FALSE(rpi::is_raspberry_pi(fixture("malformed").c_str()));
}

TEST(RaspberryPiModel, CutToTheCallersBuffer) {
  char model[10];
  LONGS_EQUAL(9, rpi::board_model(model, sizeof model, fixture("pi4").c_str()));
  STRCMP_EQUAL("Raspberry", model);
  char small[4];
  LONGS_EQUAL(3, rpi::board_model(small, sizeof small, fixture("pc").c_str()));
  STRCMP_EQUAL("unk", small);
  LONGS_EQUAL(0, rpi::board_model(nullptr, 0, fixture("pi4").c_str()));
}

// --- temperature ----------------------------------------------------------------

TEST_GROUP(RaspberryPiTemperature){};

TEST(RaspberryPiTemperature, ReadsMillidegrees) {
  std::int32_t mc = 0;
  const std::error_code error = rpi::soc_temperature(mc, fixture("pi4").c_str());
  CHECK_FALSE(error);
  LONGS_EQUAL(48312, mc);
}

TEST(RaspberryPiTemperature, ReadsBelowFreezing) {
  std::int32_t mc = 0;
  CHECK_FALSE(rpi::soc_temperature(mc, fixture("pi3").c_str()));
  LONGS_EQUAL(-5250, mc);
}

TEST(RaspberryPiTemperature, AbsentFileIsAnErrorAndLeavesTheValue) {
  std::int32_t mc = 777;
  const std::error_code error = rpi::soc_temperature(mc, fixture("pc").c_str());
  CHECK(error == std::errc::no_such_file_or_directory);
  LONGS_EQUAL(777, mc);
}

TEST(RaspberryPiTemperature, MalformedFileIsBadMessage) {
  std::int32_t mc = 777;
  CHECK(rpi::soc_temperature(mc, fixture("malformed").c_str()) == std::errc::bad_message);
  LONGS_EQUAL(777, mc);
}

TEST(RaspberryPiTemperature, RootTooLong) {
  const std::string root(rpi::kMaxPathLength, 'r');
  std::int32_t mc = 0;
  CHECK(rpi::soc_temperature(mc, root.c_str()) == std::errc::filename_too_long);
}

TEST(RaspberryPiTemperature, ParsesWhatTheKernelWrites) {
  struct Case {
    const char* text;
    std::int32_t expected;
  };
  const Case cases[] = {{"48312\n", 48312},  {"-5250\n", -5250}, {"0\n", 0},
                        {"48312", 48312},    {"85000 \r\n", 85000},
                        {"-2147483648\n", INT32_MIN}, {"2147483647", INT32_MAX}};
  for (const Case& c : cases) {
    std::int32_t mc = 1;
    const std::error_code error = rpi::parse_millicelsius(c.text, std::strlen(c.text), mc);
    CHECK_FALSE_TEXT(error, c.text);
    LONGS_EQUAL_TEXT(c.expected, mc, c.text);
  }
}

TEST(RaspberryPiTemperature, RefusesWhatIsNotOneInteger) {
  const char* const malformed[] = {"", "\n", " ", "48.3\n", "abc\n", "48312abc", "+48312", " 48312",
                                   "-", "--5", "12 34", "0x10", "48312\n\n7"};
  for (const char* text : malformed) {
    std::int32_t mc = 1;
    CHECK_TEXT(rpi::parse_millicelsius(text, std::strlen(text), mc) == std::errc::bad_message, text);
    LONGS_EQUAL_TEXT(1, mc, text);
  }
  std::int32_t mc = 1;
  CHECK(rpi::parse_millicelsius("2147483648", 10, mc) == std::errc::result_out_of_range);
  CHECK(rpi::parse_millicelsius("-99999999999\n", 13, mc) == std::errc::result_out_of_range);
  CHECK(rpi::parse_millicelsius(nullptr, 0, mc) == std::errc::bad_message);
  // A NUL inside the length is content, not an end.
  CHECK(rpi::parse_millicelsius("48\0" "12", 5, mc) == std::errc::bad_message);
  LONGS_EQUAL(1, mc);
}

TEST(RaspberryPiTemperature, FormatsDegreesWithThreeDecimals) {
  char text[16];
  LONGS_EQUAL(6, rpi::format_celsius(48312, text, sizeof text));
  STRCMP_EQUAL("48.312", text);
  LONGS_EQUAL(6, rpi::format_celsius(-5250, text, sizeof text));
  STRCMP_EQUAL("-5.250", text);
  LONGS_EQUAL(6, rpi::format_celsius(-250, text, sizeof text));
  STRCMP_EQUAL("-0.250", text);
  LONGS_EQUAL(5, rpi::format_celsius(7, text, sizeof text));
  STRCMP_EQUAL("0.007", text);
  LONGS_EQUAL(12, rpi::format_celsius(INT32_MIN, text, sizeof text));
  STRCMP_EQUAL("-2147483.648", text);
  LONGS_EQUAL(11, rpi::format_celsius(INT32_MAX, text, sizeof text));
  STRCMP_EQUAL("2147483.647", text);
  char small[6];
  LONGS_EQUAL(0, rpi::format_celsius(48312, small, sizeof small));
  STRCMP_EQUAL("", small);
}

TEST(RaspberryPiTemperature, TelemetryPayload) {
  char payload[rpi::kTemperaturePayloadCapacity];
  std::size_t length = 99;
  CHECK_FALSE(rpi::soc_temperature_payload(payload, sizeof payload, length, fixture("pi4").c_str()));
  STRCMP_EQUAL("soc_temp_c=48.312", payload);
  LONGS_EQUAL(17, length);
  CHECK_FALSE(rpi::soc_temperature_payload(payload, sizeof payload, length, fixture("pi3").c_str()));
  STRCMP_EQUAL("soc_temp_c=-5.250", payload);

  CHECK(rpi::soc_temperature_payload(payload, sizeof payload, length, fixture("pc").c_str()) ==
        std::errc::no_such_file_or_directory);
  LONGS_EQUAL(0, length);
  STRCMP_EQUAL("", payload);

  char small[17];  // one short of "soc_temp_c=48.312" and its NUL
  length = 99;
  CHECK(rpi::soc_temperature_payload(small, sizeof small, length, fixture("pi4").c_str()) ==
        std::errc::no_buffer_space);
  LONGS_EQUAL(0, length);
  STRCMP_EQUAL("", small);
}

// --- hardware RNG -----------------------------------------------------------------

TEST_GROUP(RaspberryPiHwrng){};

TEST(RaspberryPiHwrng, AbsentDeviceGivesNothing) {
  unsigned char bytes[32] = {};
  LONGS_EQUAL(0, rpi::hwrng_read(bytes, sizeof bytes, fixture("pc").c_str()));
  for (unsigned char b : bytes) LONGS_EQUAL(0, b);
  std::size_t olen = 99;
  const std::string root = fixture("pc");
  LONGS_EQUAL(0, rpi::hwrng_entropy_source(const_cast<char*>(root.c_str()), bytes, sizeof bytes, &olen));
  LONGS_EQUAL(0, olen);
}

TEST(RaspberryPiHwrng, ReturnsWhatTheDeviceHad) {
  // The fixture is a regular file of 16 known bytes: a short read, then end of file.
  unsigned char bytes[32] = {};
  LONGS_EQUAL(16, rpi::hwrng_read(bytes, sizeof bytes, fixture("pi4").c_str()));
  MEMCMP_EQUAL("0123456789abcdef", bytes, 16);
  LONGS_EQUAL(0, bytes[16]);
  unsigned char few[4] = {};
  LONGS_EQUAL(4, rpi::hwrng_read(few, sizeof few, fixture("pi4").c_str()));
  MEMCMP_EQUAL("0123", few, 4);
  LONGS_EQUAL(0, rpi::hwrng_read(few, 0, fixture("pi4").c_str()));
  LONGS_EQUAL(0, rpi::hwrng_read(nullptr, 4, fixture("pi4").c_str()));

  std::size_t olen = 0;
  const std::string root = fixture("pi4");
  LONGS_EQUAL(0, rpi::hwrng_entropy_source(const_cast<char*>(root.c_str()), bytes, sizeof bytes, &olen));
  LONGS_EQUAL(16, olen);
}

// --- no heap --------------------------------------------------------------------

TEST_GROUP(RaspberryPiPortAllocations){};

#if defined(UPLINK_PORT_TEST_COUNTS_ALLOCATIONS)
TEST(RaspberryPiPortAllocations, NoFunctionAllocates) {
  using uplink::test::AllocCounter;
  const std::string roots[] = {fixture("pi4"), fixture("pi3"), fixture("malformed"), fixture("long-cpuinfo"),
                               fixture("pc")};
  char id[65];
  char model[64];
  char payload[rpi::kTemperaturePayloadCapacity];
  unsigned char random[32];
  std::size_t checksum = 0;
  AllocCounter::reset();
  AllocCounter::start();
  for (const std::string& root : roots) {
    checksum += rpi::board_identity(id, sizeof id, root.c_str(), fixed_fallback).length;
    checksum += rpi::board_model(model, sizeof model, root.c_str());
    checksum += rpi::is_raspberry_pi(root.c_str()) ? 1 : 0;
    std::int32_t mc = 0;
    checksum += rpi::soc_temperature(mc, root.c_str()) ? 0 : 1;
    std::size_t length = 0;
    checksum += rpi::soc_temperature_payload(payload, sizeof payload, length, root.c_str()) ? 0 : length;
    checksum += rpi::hwrng_read(random, sizeof random, root.c_str());
  }
  AllocCounter::stop();
  LONGS_EQUAL(0, AllocCounter::count());
  CHECK(checksum > 0);
}
#else
// AddressSanitizer owns malloc in this build: nothing to count with.
IGNORE_TEST(RaspberryPiPortAllocations, NoFunctionAllocates) {}
#endif
