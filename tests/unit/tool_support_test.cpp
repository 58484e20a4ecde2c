// SPDX-License-Identifier: Apache-2.0
// What every tool shares (tools/service): the command line's conventions
// and value checks (command_line.hpp, flag_values.hpp) and the JSON event
// writer (json_line.hpp).
#include <cstdint>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "flag_values.hpp"
#include "json_line.hpp"

#include <CppUTest/TestHarness.h>

using uplink::tools::CommandLine;
using uplink::tools::HostPort;
using uplink::tools::JsonLine;

namespace {

std::string json(std::string_view text) {
  std::string out;
  uplink::tools::append_json_string(out, text);
  return out;
}

// Parses `args` after the program's name.
std::optional<int> parse(CommandLine& command_line, std::vector<std::string> args) {
  args.insert(args.begin(), command_line.program());
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  return command_line.parse(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

// ---- JSON lines ---------------------------------------------------------------

TEST_GROUP(ToolJsonLine){};

TEST(ToolJsonLine, StringsAreEscaped) {
  STRCMP_EQUAL("\"plain\"", json("plain").c_str());
  STRCMP_EQUAL("\"a\\\"b\\\\c\"", json("a\"b\\c").c_str());
  STRCMP_EQUAL("\"\\n\\r\\t\\u0001\\u001f\\u007f\"", json("\n\r\t\x01\x1f\x7f").c_str());
  STRCMP_EQUAL("\"\"", json("").c_str());
  STRCMP_EQUAL("\"nul\\u0000\"", json(std::string_view("nul\0", 4)).c_str());
}

TEST(ToolJsonLine, ValidUtf8IsKeptAndEveryOtherByteBecomesAReplacementCharacter) {
  STRCMP_EQUAL("\"caf\xc3\xa9\"", json("caf\xc3\xa9").c_str());            // valid: kept
  STRCMP_EQUAL("\"\xf0\x9f\x98\x80\"", json("\xf0\x9f\x98\x80").c_str());  // 4-byte: kept
  STRCMP_EQUAL("\"\\ufffd\"", json("\xff").c_str());
  STRCMP_EQUAL("\"\\ufffd\\ufffd\"", json("\xc0\x80").c_str());              // overlong
  STRCMP_EQUAL("\"\\ufffd\\ufffd\\ufffd\"", json("\xed\xa0\x80").c_str());  // surrogate
  STRCMP_EQUAL("\"\\ufffd\\ufffdx\"", json("\xe2\x82x").c_str());           // truncated: one per byte
  STRCMP_EQUAL("\"\\ufffd\\ufffd\\ufffd\\ufffd\"", json("\xf4\x90\x80\x80").c_str());  // above U+10FFFF
}

TEST(ToolJsonLine, ALineIsTheTimeTheEventAndTheFieldsInOrder) {
  JsonLine line(1700000000123, "online");
  line.field("device", "pi-1")
      .field("port", std::uint64_t{7400})
      .field("resumed", true)
      .field("reason", std::string("a \"b\""))
      .raw("mode", "{\"x\":1}");
  STRCMP_EQUAL(
      "{\"ts_ms\":1700000000123,\"event\":\"online\",\"device\":\"pi-1\",\"port\":7400,\"resumed\":true,"
      "\"reason\":\"a \\\"b\\\"\",\"mode\":{\"x\":1}}\n",
      line.finish().c_str());
}

TEST(ToolJsonLine, IdsAreDecimalDigitsInAStringAllSixtyFourBitsOfThem) {
  JsonLine line(0, "online");
  line.id("session", 18446744073709551615ull).id("other", 255);
  STRCMP_EQUAL("{\"ts_ms\":0,\"event\":\"online\",\"session\":\"18446744073709551615\",\"other\":\"255\"}\n",
               line.finish().c_str());
}

TEST(ToolJsonLine, AReusedStringHoldsOnlyTheNewLine) {
  std::string scratch = "left over";
  JsonLine(scratch, 5, "stats").field("online", std::uint64_t{2}).finish();
  STRCMP_EQUAL("{\"ts_ms\":5,\"event\":\"stats\",\"online\":2}\n", scratch.c_str());
}

// ---- Values of flags ------------------------------------------------------------

TEST_GROUP(ToolFlagValues){};

TEST(ToolFlagValues, HostPortTakesNamesIPv4AndBracketedIPv6) {
  HostPort endpoint;
  CHECK_TRUE(uplink::tools::split_host_port("example.org:7400", endpoint));
  STRCMP_EQUAL("example.org", endpoint.host.c_str());
  UNSIGNED_LONGS_EQUAL(7400, endpoint.port);
  CHECK_TRUE(uplink::tools::split_host_port("127.0.0.1:0", endpoint));
  UNSIGNED_LONGS_EQUAL(0, endpoint.port);
  CHECK_TRUE(uplink::tools::split_host_port("[::1]:65535", endpoint));
  STRCMP_EQUAL("::1", endpoint.host.c_str());
  UNSIGNED_LONGS_EQUAL(65535, endpoint.port);
  CHECK_TRUE(uplink::tools::split_host_port("::1:7400", endpoint));  // the last colon ends the host
  STRCMP_EQUAL("::1", endpoint.host.c_str());
  UNSIGNED_LONGS_EQUAL(7400, endpoint.port);
}

TEST(ToolFlagValues, HostPortRefusesWhatIsNotOne) {
  HostPort endpoint;
  for (const char* bad :
       {"", "host", ":7400", "host:", "host:65536", "host:-1", "host:+1", "host:7400x", "[::1]7400", "[::1", "host: 7400"}) {
    CHECK_FALSE_TEXT(uplink::tools::split_host_port(bad, endpoint), bad);
  }
}

TEST(ToolFlagValues, NumericAddressesOnlyWhereAskedFor) {
  CHECK_TRUE(uplink::tools::is_numeric_address("192.0.2.1"));
  CHECK_TRUE(uplink::tools::is_numeric_address("::1"));
  CHECK_FALSE(uplink::tools::is_numeric_address("localhost"));
}

TEST(ToolFlagValues, UnsignedNumbersAreDigitsOnlyAndFitInSixtyFourBits) {
  std::uint64_t n = 0;
  CHECK_TRUE(uplink::tools::parse_unsigned("18446744073709551615", n));
  CHECK_TRUE(n == 18446744073709551615ull);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x10", "18446744073709551616", "1.5"}) {
    CHECK_FALSE_TEXT(uplink::tools::parse_unsigned(bad, n), bad);
  }
}

// ---- The command line -----------------------------------------------------------

TEST_GROUP(ToolCommandLine) {
  CommandLine command_line{"uplink_test_tool", "a tool for the tests"};
  std::uint32_t ms = 7;
  std::string level;
  std::string listen;
  bool verbose = false;
  void setup() override {
    command_line.number("--timeout-ms", ms, "help", "expected milliseconds, 1..60000", 1, 60000);
    command_line.app().add_option("--level", level, "help")->check(uplink::tools::one_of({"all", "some", "none"}));
    command_line.app().add_option("--listen", listen, "help")->check(uplink::tools::numeric_host_port());
    command_line.app().add_flag("--verbose", verbose, "help");
  }
};

TEST(ToolCommandLine, ValuesComeAfterASpaceOrAnEqualsSign) {
  CHECK_FALSE(parse(command_line, {"--timeout-ms", "250", "--level=some", "--listen=[::1]:7400", "--verbose"}));
  UNSIGNED_LONGS_EQUAL(250, ms);
  STRCMP_EQUAL("some", level.c_str());
  STRCMP_EQUAL("[::1]:7400", listen.c_str());
  CHECK_TRUE(verbose);
}

TEST(ToolCommandLine, AFlagGivenTwiceTakesTheLastValue) {
  CHECK_FALSE(parse(command_line, {"--timeout-ms", "250", "--timeout-ms", "300"}));
  UNSIGNED_LONGS_EQUAL(300, ms);
}

TEST(ToolCommandLine, AValueOutOfRangeIsRefusedNamingTheFlagWithStatusTwo) {
  const std::optional<int> status = parse(command_line, {"--timeout-ms", "0"});
  CHECK_TRUE(status.has_value());
  LONGS_EQUAL(uplink::tools::kExitUsage, *status);
  STRCMP_EQUAL("--timeout-ms: expected milliseconds, 1..60000, got '0'", command_line.refusal().c_str());
  UNSIGNED_LONGS_EQUAL(7, ms);  // unchanged
}

TEST(ToolCommandLine, ANumberThatIsNotOneIsRefusedBeforeConversion) {
  LONGS_EQUAL(2, parse(command_line, {"--timeout-ms=-5"}).value_or(-1));
  STRCMP_EQUAL("--timeout-ms: expected milliseconds, 1..60000, got '-5'", command_line.refusal().c_str());
}

TEST(ToolCommandLine, AChoiceOutsideTheListNamesTheChoices) {
  LONGS_EQUAL(2, parse(command_line, {"--level", "most"}).value_or(-1));
  STRCMP_EQUAL("--level: expected all, some or none, got 'most'", command_line.refusal().c_str());
}

TEST(ToolCommandLine, AHostNameIsRefusedWhereANumericAddressIsNeeded) {
  LONGS_EQUAL(2, parse(command_line, {"--listen", "localhost:7400"}).value_or(-1));
  STRCMP_CONTAINS("--listen: expected host:port with a numeric", command_line.refusal().c_str());
}

TEST(ToolCommandLine, AnUnknownFlagIsRefusedByName) {
  LONGS_EQUAL(2, parse(command_line, {"--verbose", "--no-such-flag", "x"}).value_or(-1));
  STRCMP_EQUAL("--no-such-flag: unknown flag", command_line.refusal().c_str());
}

TEST(ToolCommandLine, AStrayArgumentIsRefused) {
  LONGS_EQUAL(2, parse(command_line, {"stray"}).value_or(-1));
  STRCMP_EQUAL("'stray': unexpected argument", command_line.refusal().c_str());
}

TEST(ToolCommandLine, AMissingValueIsRefusedNamingTheFlag) {
  LONGS_EQUAL(2, parse(command_line, {"--timeout-ms"}).value_or(-1));
  STRCMP_CONTAINS("--timeout-ms", command_line.refusal().c_str());
}

TEST(ToolCommandLine, RefuseNamesTheFlagForChecksAcrossFlags) {
  LONGS_EQUAL(2, command_line.refuse("--tls-key", "needs --tls-cert"));
  STRCMP_EQUAL("--tls-key: needs --tls-cert", command_line.refusal().c_str());
}
