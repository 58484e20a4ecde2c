// SPDX-License-Identifier: Apache-2.0
// The SDK built without the MQTT profile (UPLINK_WITH_MQTT=OFF): start()
// refuses WireProtocol::mqtt with the field named, and the native protocol
// works as before (tests/CMakeLists.txt also runs the link's own tests
// against this build of the core).
#include <cstring>
#include <string>

#include "support/link_fakes.hpp"
#include "uplink/core/link.hpp"
#include "uplink/error.hpp"
#include "uplink/options.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::test;

static_assert(UPLINK_WITH_MQTT == 0, "this test belongs to the build without MQTT");

namespace {

constexpr Millis kStart = 100000;

Options native_options() {
  Options o = Options::demo();
  (void)o.add_endpoint("10.0.0.1", 7000);
  (void)o.set_device_id("dev-0001");
  return o;
}

}  // namespace

TEST_GROUP(WithoutMqtt) {
  ScriptedRandom random{0xFFFFFFFFu};
  RecordingListener listener;
  FakeIo io;
  Link link{io, listener, random};
  FakeServer server{link};
  DeviceWire wire{link};
  Options options = native_options();

  void setup() override { io.attach(link); }
};

TEST(WithoutMqtt, StartRefusesMqttNamingTheProtocolField) {
  options.protocol = WireProtocol::mqtt;  // with the default topics, valid where MQTT is built in

  const OptionsCheck check = link.start(options, kStart);

  STRCMP_EQUAL(errc_name(Errc::invalid_option), error_name(check.error).c_str());
  STRCMP_EQUAL("protocol", check.field);
  CHECK_TEXT(std::strstr(check.reason, "built without MQTT") != nullptr, check.reason);
  STRCMP_EQUAL(client_state_name(ClientState::idle), client_state_name(link.state()));
  LONGS_EQUAL(0, io.opens.size());
}

TEST(WithoutMqtt, ValidateRefusesMqttAsStartDoes) {
  options.protocol = WireProtocol::mqtt;

  const OptionsCheck check = validate(options);

  STRCMP_EQUAL(errc_name(Errc::invalid_option), error_name(check.error).c_str());
  STRCMP_EQUAL("protocol", check.field);
}

TEST(WithoutMqtt, TheNativeProtocolConnectsAndDelivers) {
  const OptionsCheck check = link.start(options, kStart);
  CHECK_TEXT(static_cast<bool>(check), check.field);
  LONGS_EQUAL(1, io.opens.size());

  link.on_transport_open(kStart, link.generation());
  const std::vector<WireFrame> hello = wire.flush(kStart);
  LONGS_EQUAL(1, hello.size());
  CHECK(hello[0].type == FrameType::hello);
  STRCMP_EQUAL("dev-0001", hello[0].device_id.c_str());
  server.welcome(kStart, 0x5E55, 1000, 1);
  STRCMP_EQUAL(client_state_name(ClientState::online), client_state_name(link.state()));

  std::uint64_t id = 0;
  CHECK_FALSE(link.send(literal_bytes("reading"), kStart, &id));
  const std::vector<WireFrame> data = wire.flush(kStart);
  LONGS_EQUAL(1, data.size());
  CHECK(data[0].type == FrameType::data);
  STRCMP_EQUAL("reading", data[0].payload.c_str());
  server.ack(kStart, data[0].seq);
  LONGS_EQUAL(1, listener.acks.size());
  LONGS_EQUAL(id, listener.acks[0]);
}
