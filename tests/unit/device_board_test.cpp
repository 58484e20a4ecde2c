// SPDX-License-Identifier: Apache-2.0
// The emulated device's board facts through the Raspberry Pi port: default
// device id from the board serial, SoC temperature payloads, and the flags
// that choose them, against the fake board trees of tests/ports/.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "board_telemetry.hpp"
#include "device_command_line.hpp"
#include "support/temp_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <CppUTest/TestHarness.h>

using uplink::samples::DeviceConfig;

namespace {

std::string fixture(const char* name) { return std::string(UPLINK_PORT_FIXTURES) + "/" + name; }

// Parses `args` after a program name and a server; returns the parser's verdict.
bool parse(DeviceConfig& config, std::vector<std::string> args, std::string& error) {
  args.insert(args.begin(), {"uplink_device", "--server", "127.0.0.1:7000"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return !uplink::samples::parse_device_command_line(static_cast<int>(argv.size()), argv.data(), config, error);
}

}  // namespace

TEST_GROUP(DeviceBoard){};

TEST(DeviceBoard, DefaultDeviceIdIsTheBoardSerialFromTheDeviceTree) {
  DeviceConfig config;
  std::string error;
  CHECK_TEXT(parse(config, {"--board-root", fixture("pi4")}, error), error.c_str());
  STRCMP_EQUAL("10000000a1b2c3d4", config.options.device_id);
  STRCMP_EQUAL("device_tree", config.id_source.c_str());
}

TEST(DeviceBoard, DefaultDeviceIdComesFromCpuinfoWithoutADeviceTreeSerial) {
  DeviceConfig config;
  std::string error;
  CHECK_TEXT(parse(config, {"--board-root", fixture("pi3")}, error), error.c_str());
  STRCMP_EQUAL("00000000deadbeef", config.options.device_id);
  STRCMP_EQUAL("cpuinfo", config.id_source.c_str());
}

TEST(DeviceBoard, OnAPcTheIdFallsBackToTheLinuxPortsIdentity) {
  DeviceConfig config;
  std::string error;
  CHECK_TEXT(parse(config, {"--board-root", fixture("pc")}, error), error.c_str());
  STRCMP_EQUAL("fallback", config.id_source.c_str());
  CHECK(config.options.device_id[0] != '\0');
  STRCMP_EQUAL("unknown", uplink::samples::board_model_name(fixture("pc")).c_str());
}

TEST(DeviceBoard, AnExplicitDeviceIdWinsOverTheBoard) {
  DeviceConfig config;
  std::string error;
  CHECK_TEXT(parse(config, {"--board-root", fixture("pi4"), "--device-id", "bench-7"}, error), error.c_str());
  STRCMP_EQUAL("bench-7", config.options.device_id);
  STRCMP_EQUAL("flag", config.id_source.c_str());
}

TEST(DeviceBoard, TemperaturePayloadCarriesTheSocReading) {
  STRCMP_EQUAL("pi-4 #1 soc_temp_c=48.312", uplink::samples::temperature_payload("pi-4", 1, fixture("pi4")).c_str());
  STRCMP_EQUAL("pi-3 #12 soc_temp_c=-5.250", uplink::samples::temperature_payload("pi-3", 12, fixture("pi3")).c_str());
}

TEST(DeviceBoard, TemperaturePayloadSaysNoneWithoutAReadableThermalZone) {
  STRCMP_EQUAL("pc #3 soc_temp_c=none", uplink::samples::temperature_payload("pc", 3, fixture("pc")).c_str());
  STRCMP_EQUAL("emu #1 soc_temp_c=none", uplink::samples::temperature_payload("emu", 1, fixture("malformed")).c_str());
}

TEST(DeviceBoard, PayloadAndNetworkMonitorFlagsAreParsed) {
  DeviceConfig config;
  std::string error;
  STRCMP_EQUAL("pattern", config.payload.c_str());
  CHECK_TRUE(config.network_monitor);
  CHECK_TEXT(parse(config, {"--payload", "temperature", "--no-network-monitor"}, error), error.c_str());
  STRCMP_EQUAL("temperature", config.payload.c_str());
  CHECK_FALSE(config.network_monitor);
  DeviceConfig refused;
  CHECK_FALSE(parse(refused, {"--payload", "weather"}, error));
  STRCMP_CONTAINS("--payload", error.c_str());
}

TEST(DeviceBoard, BoundsOnServerValuesAreFlagsAndABadOneIsRefusedAtStartNamingTheField) {
  DeviceConfig config;
  std::string error;
  CHECK_TEXT(parse(config, {"--device-id", "d1", "--heartbeat-ms", "30000", "--read-timeout-ms", "60000",
                            "--server-heartbeat-min-ms", "5000", "--server-heartbeat-max-ms", "120000",
                            "--max-retry-after-ms", "60000"},
                   error),
             error.c_str());
  UNSIGNED_LONGS_EQUAL(5000, config.options.server_heartbeat_min_ms);
  UNSIGNED_LONGS_EQUAL(120000, config.options.server_heartbeat_max_ms);
  UNSIGNED_LONGS_EQUAL(60000, config.options.max_retry_after_ms);
  CHECK_TRUE(static_cast<bool>(uplink::validate(config.options)));
  config.options.server_heartbeat_min_ms = 40000;  // above the device's own heartbeat
  STRCMP_EQUAL("server_heartbeat_min_ms", uplink::validate(config.options).field);
}

TEST(DeviceBoard, SpoolReformatDamagedIsAnExplicitFlagOffByDefault) {
  DeviceConfig plain;
  std::string error;
  CHECK_TEXT(parse(plain, {"--device-id", "d1", "--spool", "/tmp/x.spool"}, error), error.c_str());
  CHECK_FALSE(plain.spool_reformat_damaged);
  DeviceConfig asked;
  CHECK_TEXT(parse(asked, {"--device-id", "d1", "--spool", "/tmp/x.spool", "--spool-reformat-damaged"}, error),
             error.c_str());
  CHECK_TRUE(asked.spool_reformat_damaged);
}

TEST(DeviceBoard, TheTokenComesFromAPrivateFileAndACommandLineTokenIsWarnedAbout) {
  const std::string dir = uplink::test::make_temp_dir("uplink-token");
  CHECK_FALSE(dir.empty());
  const std::string path = dir + "/token";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    CHECK(f != nullptr);
    std::fputs("s3cret\n", f);
    std::fclose(f);
  }
  ::chmod(path.c_str(), 0600);
  DeviceConfig from_file;
  std::string error;
  CHECK_TEXT(parse(from_file, {"--device-id", "d1", "--token-file", path}, error), error.c_str());
  UNSIGNED_LONGS_EQUAL(6, from_file.options.token_size);  // the newline is not part of it
  CHECK_EQUAL(0, std::memcmp(from_file.options.token, "s3cret", 6));
  CHECK_TRUE(from_file.warnings.empty());

  ::chmod(path.c_str(), 0644);
  DeviceConfig readable;
  CHECK_TEXT(parse(readable, {"--device-id", "d1", "--token-file", path}, error), error.c_str());
  UNSIGNED_LONGS_EQUAL(1, readable.warnings.size());
  CHECK_TRUE(readable.warnings[0].find("chmod 600") != std::string::npos);
  ::unlink(path.c_str());

  DeviceConfig missing;
  CHECK_FALSE(parse(missing, {"--device-id", "d1", "--token-file", path}, error));
  CHECK_TRUE(error.find("--token-file") != std::string::npos);

  DeviceConfig on_command_line;
  CHECK_TEXT(parse(on_command_line, {"--device-id", "d1", "--token", "s3cret"}, error), error.c_str());
  UNSIGNED_LONGS_EQUAL(1, on_command_line.warnings.size());
  CHECK_TRUE(on_command_line.warnings[0].find("ps") != std::string::npos);
  uplink::test::remove_temp_dir(dir);
}

TEST(DeviceBoard, ATokenInAConfigFileIsWarnedAboutOnlyWhenOthersCanReadTheFile) {
  const std::string dir = uplink::test::make_temp_dir("uplink-token-config");
  CHECK_FALSE(dir.empty());
  const std::string path = dir + "/device.conf";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    CHECK(f != nullptr);
    std::fputs("device-id = d1\ntoken = s3cret\n", f);
    std::fclose(f);
  }
  ::chmod(path.c_str(), 0600);
  DeviceConfig private_file;
  std::string error;
  CHECK_TEXT(parse(private_file, {"--config", path}, error), error.c_str());
  UNSIGNED_LONGS_EQUAL(6, private_file.options.token_size);
  CHECK_TRUE(private_file.warnings.empty());  // no "ps shows it": it is not on a command line

  ::chmod(path.c_str(), 0640);
  DeviceConfig shared_file;
  CHECK_TEXT(parse(shared_file, {"--config", path}, error), error.c_str());
  UNSIGNED_LONGS_EQUAL(1, shared_file.warnings.size());
  CHECK_TRUE(shared_file.warnings[0].find("holds a token") != std::string::npos);
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

TEST(DeviceBoard, StrictSpoolIsAnExplicitFlagOffByDefault) {
  DeviceConfig plain;
  std::string error;
  CHECK_TEXT(parse(plain, {"--device-id", "d1", "--spool", "/tmp/x.spool"}, error), error.c_str());
  CHECK_FALSE(plain.strict_spool);
  DeviceConfig asked;
  CHECK_TEXT(parse(asked, {"--device-id", "d1", "--spool", "/tmp/x.spool", "--strict-spool"}, error), error.c_str());
  CHECK_TRUE(asked.strict_spool);
}

TEST(DeviceBoard, AConfigOrTokenFileThatIsNotARegularFileIsRefusedInsteadOfReadForever) {
  // Found while writing the config file's fuzz target: a device named as the
  // token file (or the config) was read until memory ran out.
  DeviceConfig token;
  std::string error;
  CHECK_FALSE(parse(token, {"--device-id", "d1", "--token-file", "/dev/zero"}, error));
  CHECK_TEXT(error.find("not a regular file") != std::string::npos, error.c_str());
  DeviceConfig config;
  CHECK_FALSE(parse(config, {"--config", "/dev/zero"}, error));
  CHECK_TEXT(error.find("not a regular file") != std::string::npos, error.c_str());
}

TEST(DeviceBoard, ConfigTextIsAppliedLineByLineAndARefusalNamesTheLine) {
  DeviceConfig config;
  std::string error;
  CHECK_TEXT(uplink::samples::parse_config_text(config, "# c\nrate = 2.5\n\n  size = 80  # bytes\n", "a.conf", error),
             error.c_str());
  DOUBLES_EQUAL(2.5, config.rate_per_s, 0.0);
  UNSIGNED_LONGS_EQUAL(80, config.size);
  CHECK_FALSE(uplink::samples::parse_config_text(config, "rate = 1\nsize\n", "b.conf", error));
  STRCMP_EQUAL("b.conf:2: expected 'name = value'", error.c_str());
}

TEST(DeviceBoard, ARateThatIsNotANumberIsRefused) {
  // Found by the config file's fuzz target (its oracle: accepted values are
  // within the stated bounds): "nan" parsed, passed both comparisons, and
  // the generator then never sent a message.
  for (const char* rate : {"nan", "NAN", "-nan", "inf", "-1", "1000001"}) {
    DeviceConfig config;
    std::string error;
    CHECK_FALSE(parse(config, {"--device-id", "d1", "--rate", rate}, error));
    CHECK_TEXT(error.find("--rate") != std::string::npos, error.c_str());
  }
  DeviceConfig config;
  std::string error;
  CHECK_TEXT(parse(config, {"--device-id", "d1", "--rate", "0.5"}, error), error.c_str());
}

TEST(DeviceBoard, EverySettingIsAFlagAndAConfigFileLine) {
  for (const uplink::samples::DeviceSetting& setting : uplink::samples::device_settings()) {
    DeviceConfig config;
    std::string error;
    // "x" is a bad value for most settings: refused by name, never as unknown.
    const std::string line = std::string(setting.name) + " = x\n";
    (void)uplink::samples::parse_config_text(config, line, "t.conf", error);
    CHECK_TEXT(error.find("unknown setting") == std::string::npos, error.c_str());
    CHECK_TEXT(error.empty() || error.find(std::string("--") + setting.name) != std::string::npos, error.c_str());
  }
}

TEST(DeviceBoard, AFlagGivenAfterDemoOverridesItAndBeforeItIsReset) {
  DeviceConfig after;
  std::string error;
  CHECK_TEXT(parse(after, {"--device-id", "d1", "--demo", "--heartbeat-ms", "1500", "--read-timeout-ms=4000"}, error),
             error.c_str());
  UNSIGNED_LONGS_EQUAL(1500, after.options.heartbeat_interval_ms);
  UNSIGNED_LONGS_EQUAL(4000, after.options.read_timeout_ms);
  DeviceConfig before;
  CHECK_TEXT(parse(before, {"--device-id", "d1", "--heartbeat-ms", "1500", "--demo"}, error), error.c_str());
  UNSIGNED_LONGS_EQUAL(uplink::Options::demo().heartbeat_interval_ms, before.options.heartbeat_interval_ms);
  STRCMP_EQUAL("d1", before.options.device_id);
}

TEST(DeviceBoard, RepeatedServersAreFallbacksInOrder) {
  DeviceConfig config;
  std::string error;
  CHECK_TEXT(parse(config, {"--device-id", "d1", "--server", "[::1]:7001", "--server=b.example:7002"}, error),
             error.c_str());
  UNSIGNED_LONGS_EQUAL(3, config.options.endpoint_count);  // parse() gives 127.0.0.1:7000 first
  STRCMP_EQUAL("::1", config.options.endpoints[1].host);
  UNSIGNED_LONGS_EQUAL(7002, config.options.endpoints[2].port);
}

TEST(DeviceBoard, MqttIsAProtocolFlagWithItsTopicsAndEnvelopeAndDemoKeepsThem) {
  DeviceConfig config;
  std::string error;
  CHECK_TEXT(parse(config,
                   {"--device-id", "d1", "--protocol", "mqtt", "--mqtt-uplink-topic", "t/{device_id}/u",
                    "--mqtt-downlink-topic", "", "--mqtt-envelope", "on", "--mqtt-username", "fleet",
                    "--mqtt-will-topic", "t/{device_id}/gone", "--mqtt-will-message", "bye", "--in-flight", "20",
                    "--mqtt-broker-max-keepalive-s", "1200", "--demo"},
                   error),
             error.c_str());
  CHECK_TRUE(config.options.protocol == uplink::WireProtocol::mqtt);
  STRCMP_EQUAL("t/{device_id}/u", config.options.mqtt.uplink_topic);
  STRCMP_EQUAL("", config.options.mqtt.downlink_topic);
  CHECK_TRUE(config.options.mqtt.envelope);
  STRCMP_EQUAL("fleet", config.options.mqtt.username);
  STRCMP_EQUAL("t/{device_id}/gone", config.options.mqtt.will_topic);
  MEMCMP_EQUAL("bye", config.options.mqtt.will_message, 3);
  UNSIGNED_LONGS_EQUAL(3, config.options.mqtt.will_message_size);
  UNSIGNED_LONGS_EQUAL(1200, config.options.mqtt.broker_max_keepalive_s);
  UNSIGNED_LONGS_EQUAL(0, config.options.max_in_flight);  // given before --demo: reset to automatic
  DeviceConfig native;
  CHECK_TEXT(parse(native, {"--device-id", "d1"}, error), error.c_str());
  CHECK_TRUE(native.options.protocol == uplink::WireProtocol::native);
}

TEST(DeviceBoard, ABadMqttSettingIsRefusedNamingTheFlag) {
  std::string error;
  DeviceConfig protocol;
  CHECK_FALSE(parse(protocol, {"--protocol", "amqp"}, error));
  STRCMP_CONTAINS("--protocol", error.c_str());
  DeviceConfig envelope;
  CHECK_FALSE(parse(envelope, {"--mqtt-envelope", "yes"}, error));
  STRCMP_CONTAINS("--mqtt-envelope", error.c_str());
  DeviceConfig topic;
  CHECK_FALSE(parse(topic, {"--mqtt-uplink-topic", std::string(200, 't')}, error));
  STRCMP_CONTAINS("--mqtt-uplink-topic", error.c_str());
  // Refused at start by the SDK's own check, still named as the flag.
  DeviceConfig wildcard;
  CHECK_FALSE(parse(wildcard, {"--device-id", "d1", "--protocol", "mqtt", "--mqtt-uplink-topic", "up/#"}, error));
  STRCMP_CONTAINS("--mqtt-uplink-topic", error.c_str());
}
