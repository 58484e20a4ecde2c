// SPDX-License-Identifier: Apache-2.0
// Options: documented defaults, the demo profile, the setters' refusals and
// every validation rule, each checked for the exact field it names.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "uplink/config_defaults.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/error.hpp"
#include "uplink/options.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;

namespace {

// The smallest configuration that passes validation.
Options valid_options() {
  Options o;
  const std::error_code ep = o.add_endpoint("uplink.example.com", 7000);
  CHECK(!ep);
  const std::error_code id = o.set_device_id("device-42");
  CHECK(!id);
  return o;
}

// A string of `n` copies of `c` in a buffer of `size` bytes (n < size).
void fill(char* buffer, std::size_t size, std::size_t n, char c) {
  std::memset(buffer, 0, size);
  std::memset(buffer, c, n);
}

}  // namespace

// validate() refuses `options`, with Errc::invalid_option, naming `expected_field`.
#define CHECK_REFUSED(options, expected_field)               \
  do {                                                       \
    const OptionsCheck check_ = validate(options);           \
    CHECK_FALSE(static_cast<bool>(check_));                  \
    CHECK(check_.error == Errc::invalid_option);             \
    STRCMP_EQUAL(expected_field, check_.field);              \
    CHECK(check_.reason != nullptr && *check_.reason != 0); \
  } while (0)

#define CHECK_ACCEPTED(options)                        \
  do {                                                 \
    const OptionsCheck check_ = validate(options);     \
    STRCMP_EQUAL("", check_.field);                    \
    CHECK_TRUE(static_cast<bool>(check_));             \
    CHECK_FALSE(static_cast<bool>(check_.error));      \
  } while (0)

TEST_GROUP(Options){};

// --- Defaults and demo ------------------------------------------------------

TEST(Options, DefaultsAreTheDocumentedValues) {
  const Options o;
  UNSIGNED_LONGS_EQUAL(30000u, o.heartbeat_interval_ms);
  UNSIGNED_LONGS_EQUAL(60000u, o.read_timeout_ms);
  UNSIGNED_LONGS_EQUAL(10000u, o.write_timeout_ms);
  UNSIGNED_LONGS_EQUAL(10000u, o.connect_timeout_ms);
  UNSIGNED_LONGS_EQUAL(0u, o.idle_timeout_ms);
  UNSIGNED_LONGS_EQUAL(30000u, o.stable_after_ms);
  UNSIGNED_LONGS_EQUAL(1000u, o.backoff.base_ms);
  UNSIGNED_LONGS_EQUAL(60000u, o.backoff.cap_ms);
  UNSIGNED_LONGS_EQUAL(0u, o.backoff.max_attempts);
}

TEST(Options, TheAutomaticWindowIs128NativeAnd32OverMqttWithinTheStore) {
  Options o = valid_options();
  UNSIGNED_LONGS_EQUAL(0u, o.max_in_flight);
  UNSIGNED_LONGS_EQUAL(kStoreMessages < 128 ? kStoreMessages : 128u, o.in_flight_window());
  o.protocol = WireProtocol::mqtt;
  UNSIGNED_LONGS_EQUAL(kStoreMessages < 32 ? kStoreMessages : 32u, o.in_flight_window());
  o.max_in_flight = 20;  // a value set is the window, for either protocol
  UNSIGNED_LONGS_EQUAL(20u, o.in_flight_window());
  o.protocol = WireProtocol::native;
  UNSIGNED_LONGS_EQUAL(20u, o.in_flight_window());
}

TEST(Options, AWindowLargerThanTheStoreIsRefusedNamingMaxInFlight) {
  Options o = valid_options();
  o.max_in_flight = static_cast<std::uint32_t>(kStoreMessages);
  CHECK_TRUE(static_cast<bool>(validate(o)));
  o.max_in_flight = static_cast<std::uint32_t>(kStoreMessages) + 1;
  const OptionsCheck check = validate(o);
  CHECK_FALSE(static_cast<bool>(check));
  STRCMP_EQUAL("max_in_flight", check.field);
}

TEST(Options, DefaultsHaveNoEndpointNoDeviceIdAndNoToken) {
  const Options o;
  UNSIGNED_LONGS_EQUAL(0u, o.endpoint_count);
  STRCMP_EQUAL("", o.device_id);
  UNSIGNED_LONGS_EQUAL(0u, o.token_size);
}

TEST(Options, DefaultReadTimeoutIsTwiceTheHeartbeat) {
  const Options o;
  UNSIGNED_LONGS_EQUAL(2u * o.heartbeat_interval_ms, o.read_timeout_ms);
}

TEST(Options, DefaultOptionsAreRefusedForLackOfAnEndpoint) {
  const Options o;
  CHECK_REFUSED(o, "endpoints");
}

TEST(Options, DemoHasTheDocumentedShortTimings) {
  const Options o = Options::demo();
  UNSIGNED_LONGS_EQUAL(1000u, o.heartbeat_interval_ms);
  UNSIGNED_LONGS_EQUAL(2000u, o.read_timeout_ms);
  UNSIGNED_LONGS_EQUAL(2000u, o.write_timeout_ms);
  UNSIGNED_LONGS_EQUAL(2000u, o.connect_timeout_ms);
  UNSIGNED_LONGS_EQUAL(200u, o.backoff.base_ms);
  UNSIGNED_LONGS_EQUAL(2000u, o.backoff.cap_ms);
  UNSIGNED_LONGS_EQUAL(3000u, o.stable_after_ms);
  UNSIGNED_LONGS_EQUAL(0u, o.endpoint_count);
}

TEST(Options, DemoWithAnEndpointAndADeviceIdValidates) {
  Options o = Options::demo();
  CHECK(!o.add_endpoint("127.0.0.1", 7000));
  CHECK(!o.set_device_id("demo-device"));
  CHECK_ACCEPTED(o);
}

TEST(Options, AValidOptionsObjectPassesWithNoFieldAndNoReason) {
  const Options o = valid_options();
  CHECK_ACCEPTED(o);
  const OptionsCheck check = validate(o);
  STRCMP_EQUAL("", check.reason);
}

TEST(Options, AFullyLoadedValidOptionsObjectPasses) {
  Options o;
  for (std::size_t i = 0; i < kMaxEndpoints; ++i) CHECK(!o.add_endpoint("10.0.0.1", static_cast<std::uint16_t>(1 + i)));
  char id[kMaxDeviceIdLength + 1];
  fill(id, sizeof id, kMaxDeviceIdLength, 'x');
  CHECK(!o.set_device_id(id));
  std::uint8_t token[kMaxTokenLength] = {};
  CHECK(!o.set_token(ConstByteSpan{token, sizeof token}));
  o.idle_timeout_ms = 120000;
  o.backoff.max_attempts = 5;
  CHECK_ACCEPTED(o);
}

// --- Validation: endpoints ----------------------------------------------------

TEST(Options, NoEndpointIsRefusedNamingEndpoints) {
  Options o = valid_options();
  o.endpoint_count = 0;
  CHECK_REFUSED(o, "endpoints");
}

TEST(Options, MoreEndpointsThanTheBuildAllowsIsRefusedNamingEndpointCount) {
  Options o = valid_options();
  o.endpoint_count = kMaxEndpoints + 1;
  CHECK_REFUSED(o, "endpoint_count");
}

TEST(Options, EmptyHostIsRefusedNamingEndpointsHost) {
  Options o = valid_options();
  o.endpoints[0].host[0] = '\0';
  CHECK_REFUSED(o, "endpoints.host");
}

TEST(Options, UnterminatedOverlongHostIsRefusedNamingEndpointsHost) {
  Options o = valid_options();
  std::memset(o.endpoints[0].host, 'h', sizeof o.endpoints[0].host);  // kMaxHostLength + 1 bytes, no terminator
  CHECK_REFUSED(o, "endpoints.host");
}

TEST(Options, HostOfExactlyTheMaximumLengthIsValid) {
  Options o = valid_options();
  fill(o.endpoints[0].host, sizeof o.endpoints[0].host, kMaxHostLength, 'h');
  CHECK_ACCEPTED(o);
}

TEST(Options, PortZeroIsRefusedNamingEndpointsPort) {
  Options o = valid_options();
  o.endpoints[0].port = 0;
  CHECK_REFUSED(o, "endpoints.port");
}

TEST(Options, EveryEndpointIsCheckedNotOnlyTheFirst) {
  Options o = valid_options();
  CHECK(!o.add_endpoint("backup.example.com", 7001));
  CHECK_ACCEPTED(o);
  o.endpoints[1].port = 0;
  CHECK_REFUSED(o, "endpoints.port");
  o.endpoints[1].port = 7001;
  o.endpoints[1].host[0] = '\0';
  CHECK_REFUSED(o, "endpoints.host");
}

TEST(Options, EndpointsBeyondTheCountAreIgnored) {
  Options o = valid_options();
  // endpoints[1] is empty with port 0, but not counted.
  UNSIGNED_LONGS_EQUAL(1u, o.endpoint_count);
  CHECK_ACCEPTED(o);
}

// --- Validation: device id and token ------------------------------------------

TEST(Options, MissingDeviceIdIsRefusedNamingDeviceId) {
  Options o;
  CHECK(!o.add_endpoint("uplink.example.com", 7000));
  CHECK_REFUSED(o, "device_id");
}

TEST(Options, UnterminatedOverlongDeviceIdIsRefusedNamingDeviceId) {
  Options o = valid_options();
  std::memset(o.device_id, 'd', sizeof o.device_id);  // kMaxDeviceIdLength + 1 bytes, no terminator
  CHECK_REFUSED(o, "device_id");
}

TEST(Options, DeviceIdWithASpaceIsRefusedNamingDeviceId) {
  Options o = valid_options();
  std::strcpy(o.device_id, "dev 42");
  CHECK_REFUSED(o, "device_id");
}

TEST(Options, DeviceIdWithANonPrintableByteIsRefusedNamingDeviceId) {
  const char bad[] = {'\t', '\n', '\x01', '\x1F', '\x7F', static_cast<char>(0x80), static_cast<char>(0xFF)};
  for (const char c : bad) {
    Options o = valid_options();
    o.device_id[3] = c;
    CHECK_REFUSED(o, "device_id");
  }
}

TEST(Options, TokenSizeAboveTheMaximumIsRefusedNamingTokenSize) {
  Options o = valid_options();
  o.token_size = kMaxTokenLength + 1;
  CHECK_REFUSED(o, "token_size");
  o.token_size = kMaxTokenLength;
  CHECK_ACCEPTED(o);
}

// --- Validation: timings --------------------------------------------------------

TEST(Options, ZeroHeartbeatIsRefusedNamingHeartbeatIntervalMs) {
  Options o = valid_options();
  o.heartbeat_interval_ms = 0;
  CHECK_REFUSED(o, "heartbeat_interval_ms");
}

TEST(Options, ReadTimeoutEqualToTheHeartbeatIsRefusedNamingReadTimeoutMs) {
  Options o = valid_options();
  o.read_timeout_ms = o.heartbeat_interval_ms;
  CHECK_REFUSED(o, "read_timeout_ms");
}

TEST(Options, ReadTimeoutBelowTheHeartbeatIsRefusedNamingReadTimeoutMs) {
  Options o = valid_options();
  o.read_timeout_ms = o.heartbeat_interval_ms - 1;
  CHECK_REFUSED(o, "read_timeout_ms");
  o.read_timeout_ms = 0;
  CHECK_REFUSED(o, "read_timeout_ms");
}

TEST(Options, ReadTimeoutOneMsAboveTheHeartbeatIsValid) {
  Options o = valid_options();
  o.read_timeout_ms = o.heartbeat_interval_ms + 1;
  CHECK_ACCEPTED(o);
}

TEST(Options, ZeroWriteTimeoutIsRefusedNamingWriteTimeoutMs) {
  Options o = valid_options();
  o.write_timeout_ms = 0;
  CHECK_REFUSED(o, "write_timeout_ms");
  o.write_timeout_ms = 1;
  CHECK_ACCEPTED(o);
}

TEST(Options, ZeroConnectTimeoutIsRefusedNamingConnectTimeoutMs) {
  Options o = valid_options();
  o.connect_timeout_ms = 0;
  CHECK_REFUSED(o, "connect_timeout_ms");
  o.connect_timeout_ms = 1;
  CHECK_ACCEPTED(o);
}

TEST(Options, IdleTimeoutNotAboveTheHeartbeatIsRefusedNamingIdleTimeoutMs) {
  Options o = valid_options();
  o.idle_timeout_ms = o.heartbeat_interval_ms;
  CHECK_REFUSED(o, "idle_timeout_ms");
  o.idle_timeout_ms = 1;
  CHECK_REFUSED(o, "idle_timeout_ms");
}

TEST(Options, IdleTimeoutOfZeroOrAboveTheHeartbeatIsValid) {
  Options o = valid_options();
  o.idle_timeout_ms = 0;
  CHECK_ACCEPTED(o);
  o.idle_timeout_ms = o.heartbeat_interval_ms + 1;
  CHECK_ACCEPTED(o);
}

TEST(Options, ZeroBackoffBaseIsRefusedNamingBackoffBaseMs) {
  Options o = valid_options();
  o.backoff.base_ms = 0;
  CHECK_REFUSED(o, "backoff.base_ms");
}

TEST(Options, BackoffCapBelowTheBaseIsRefusedNamingBackoffCapMs) {
  Options o = valid_options();
  o.backoff.base_ms = 5000;
  o.backoff.cap_ms = 4999;
  CHECK_REFUSED(o, "backoff.cap_ms");
}

TEST(Options, BackoffCapEqualToTheBaseIsValid) {
  Options o = valid_options();
  o.backoff.base_ms = 5000;
  o.backoff.cap_ms = 5000;
  CHECK_ACCEPTED(o);
}

TEST(Options, AnyBackoffAttemptLimitIsValid) {
  Options o = valid_options();
  const std::uint32_t limits[] = {0u, 1u, 10u, 0xFFFFFFFFu};
  for (const std::uint32_t limit : limits) {
    o.backoff.max_attempts = limit;
    CHECK_ACCEPTED(o);
  }
}

// --- add_endpoint ---------------------------------------------------------------

TEST(Options, AddEndpointStoresHostAndPortInOrder) {
  Options o;
  CHECK(!o.add_endpoint("primary.example.com", 443));
  CHECK(!o.add_endpoint("::1", 65535));
  UNSIGNED_LONGS_EQUAL(2u, o.endpoint_count);
  STRCMP_EQUAL("primary.example.com", o.endpoints[0].host);
  UNSIGNED_LONGS_EQUAL(443u, o.endpoints[0].port);
  STRCMP_EQUAL("::1", o.endpoints[1].host);
  UNSIGNED_LONGS_EQUAL(65535u, o.endpoints[1].port);
}

TEST(Options, AddEndpointRefusesAnEmptyHost) {
  Options o;
  const std::error_code ec = o.add_endpoint("", 7000);
  CHECK(ec == Errc::invalid_option);
  UNSIGNED_LONGS_EQUAL(0u, o.endpoint_count);
}

TEST(Options, AddEndpointRefusesPortZero) {
  Options o;
  const std::error_code ec = o.add_endpoint("uplink.example.com", 0);
  CHECK(ec == Errc::invalid_option);
  UNSIGNED_LONGS_EQUAL(0u, o.endpoint_count);
}

TEST(Options, AddEndpointAcceptsAHostOfExactlyTheMaximumLength) {
  Options o;
  char host[kMaxHostLength + 1];
  fill(host, sizeof host, kMaxHostLength, 'a');
  CHECK(!o.add_endpoint(host, 1));
  UNSIGNED_LONGS_EQUAL(1u, o.endpoint_count);
  STRCMP_EQUAL(host, o.endpoints[0].host);
  UNSIGNED_LONGS_EQUAL(kMaxHostLength, std::strlen(o.endpoints[0].host));
}

TEST(Options, AddEndpointRefusesAHostLongerThanTheMaximum) {
  Options o;
  char host[kMaxHostLength + 2];
  fill(host, sizeof host, kMaxHostLength + 1, 'a');
  const std::error_code ec = o.add_endpoint(host, 7000);
  CHECK(ec == Errc::invalid_option);
  UNSIGNED_LONGS_EQUAL(0u, o.endpoint_count);
}

TEST(Options, AddEndpointRefusesMoreThanTheMaximumNumberOfEndpoints) {
  Options o;
  for (std::size_t i = 0; i < kMaxEndpoints; ++i) {
    CHECK(!o.add_endpoint("10.0.0.1", static_cast<std::uint16_t>(1000 + i)));
  }
  UNSIGNED_LONGS_EQUAL(kMaxEndpoints, o.endpoint_count);
  const std::error_code ec = o.add_endpoint("10.0.0.2", 2000);
  CHECK(ec == Errc::invalid_option);
  UNSIGNED_LONGS_EQUAL(kMaxEndpoints, o.endpoint_count);
  for (std::size_t i = 0; i < kMaxEndpoints; ++i) {
    STRCMP_EQUAL("10.0.0.1", o.endpoints[i].host);
    UNSIGNED_LONGS_EQUAL(1000 + i, o.endpoints[i].port);
  }
}

// --- set_device_id ----------------------------------------------------------------

TEST(Options, SetDeviceIdStoresTheId) {
  Options o;
  CHECK(!o.set_device_id("sensor-7/rack:B"));
  STRCMP_EQUAL("sensor-7/rack:B", o.device_id);
  CHECK(!o.set_device_id("x"));
  STRCMP_EQUAL("x", o.device_id);  // a shorter id replaces a longer one completely
}

TEST(Options, SetDeviceIdRefusesAnEmptyId) {
  Options o;
  const std::error_code ec = o.set_device_id("");
  CHECK(ec == Errc::invalid_option);
  STRCMP_EQUAL("", o.device_id);
}

TEST(Options, SetDeviceIdAcceptsExactlyTheMaximumLength) {
  Options o;
  char id[kMaxDeviceIdLength + 1];
  fill(id, sizeof id, kMaxDeviceIdLength, 'z');
  CHECK(!o.set_device_id(id));
  STRCMP_EQUAL(id, o.device_id);
  UNSIGNED_LONGS_EQUAL(kMaxDeviceIdLength, std::strlen(o.device_id));
}

TEST(Options, SetDeviceIdRefusesOneByteMoreThanTheMaximum) {
  Options o;
  CHECK(!o.set_device_id("previous"));
  char id[kMaxDeviceIdLength + 2];
  fill(id, sizeof id, kMaxDeviceIdLength + 1, 'z');
  const std::error_code ec = o.set_device_id(id);
  CHECK(ec == Errc::invalid_option);
  STRCMP_EQUAL("previous", o.device_id);
}

TEST(Options, SetDeviceIdRefusesSpaces) {
  const char* const ids[] = {"dev 42", " dev42", "dev42 ", " "};
  for (const char* id : ids) {
    Options o;
    CHECK(!o.set_device_id("previous"));
    const std::error_code ec = o.set_device_id(id);
    CHECK_TEXT(ec == Errc::invalid_option, id);
    STRCMP_EQUAL("previous", o.device_id);
  }
}

TEST(Options, SetDeviceIdRefusesNonPrintableBytes) {
  const char bad[] = {'\x01', '\t', '\n', '\r', '\x1B', '\x1F', '\x7F', static_cast<char>(0x80),
                      static_cast<char>(0xC3), static_cast<char>(0xFF)};
  for (const char c : bad) {
    char id[] = "dev?42";
    id[3] = c;
    Options o;
    const std::error_code ec = o.set_device_id(id);
    CHECK(ec == Errc::invalid_option);
    STRCMP_EQUAL("", o.device_id);
  }
}

TEST(Options, SetDeviceIdAcceptsEveryPrintableNonSpaceByte) {
  for (int c = 0x21; c <= 0x7E; ++c) {
    const char id[] = {'a', static_cast<char>(c), 'b', '\0'};
    Options o;
    CHECK_TEXT(!o.set_device_id(id), id);
    STRCMP_EQUAL(id, o.device_id);
  }
}

TEST(Options, ARefusedDeviceIdLeavesTheOptionsInvalid) {
  Options o;
  CHECK(!o.add_endpoint("uplink.example.com", 7000));
  CHECK(o.set_device_id("bad id") == Errc::invalid_option);
  CHECK_REFUSED(o, "device_id");
}

// --- set_token --------------------------------------------------------------------

TEST(Options, SetTokenStoresTheBytes) {
  Options o;
  const std::uint8_t secret[] = {0x00, 0x01, 0xFE, 0xFF, 0x20};
  CHECK(!o.set_token(ConstByteSpan{secret, sizeof secret}));
  UNSIGNED_LONGS_EQUAL(sizeof secret, o.token_size);
  MEMCMP_EQUAL(secret, o.token, sizeof secret);
}

TEST(Options, SetTokenAcceptsExactlyTheMaximumLength) {
  Options o;
  std::uint8_t secret[kMaxTokenLength];
  for (std::size_t i = 0; i < sizeof secret; ++i) secret[i] = static_cast<std::uint8_t>(i * 7 + 3);
  CHECK(!o.set_token(ConstByteSpan{secret, sizeof secret}));
  UNSIGNED_LONGS_EQUAL(kMaxTokenLength, o.token_size);
  MEMCMP_EQUAL(secret, o.token, sizeof secret);
}

TEST(Options, SetTokenRefusesMoreThanTheMaximumLength) {
  Options o;
  const std::uint8_t previous[] = {1, 2, 3};
  CHECK(!o.set_token(ConstByteSpan{previous, sizeof previous}));
  std::uint8_t secret[kMaxTokenLength + 1] = {};
  const std::error_code ec = o.set_token(ConstByteSpan{secret, sizeof secret});
  CHECK(ec == Errc::invalid_option);
  UNSIGNED_LONGS_EQUAL(3u, o.token_size);
  MEMCMP_EQUAL(previous, o.token, sizeof previous);
}

TEST(Options, SetTokenWithNoBytesClearsTheToken) {
  Options o;
  const std::uint8_t secret[] = {9, 9, 9};
  CHECK(!o.set_token(ConstByteSpan{secret, sizeof secret}));
  CHECK(!o.set_token(ConstByteSpan{}));
  UNSIGNED_LONGS_EQUAL(0u, o.token_size);
}
