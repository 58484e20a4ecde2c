// SPDX-License-Identifier: Apache-2.0
// uplink::Link over the MQTT 3.1.1 profile (core/mqtt_profile.hpp), driven
// in virtual time: the bytes a broker would send go in, the packets the
// link writes are read back with a reader written from the specification.
//
// Timings (Options::demo()): heartbeat 1000 ms, read timeout 2000 ms, so
// the keepalive in CONNECT is ceil(3000 / 1500) = 2 s.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "support/link_fakes.hpp"
#include "support/mqtt_broker_bytes.hpp"
#include "uplink/codec/mqtt_envelope.hpp"
#include "uplink/core/link.hpp"
#include "uplink/error.hpp"
#include "uplink/options.hpp"

#include <CppUTest/TestHarness.h>

using namespace uplink;
using namespace uplink::test;
namespace mb = uplink::test::mqtt_bytes;

namespace {

constexpr Millis kStart = 100000;

Options mqtt_options() {
  Options o = Options::demo();
  o.protocol = WireProtocol::mqtt;
  (void)o.add_endpoint("127.0.0.1", 1883);
  (void)o.add_endpoint("127.0.0.2", 1883);
  (void)o.set_device_id("dev-0001");
  (void)o.set_token(literal_bytes("s3cret"));
  return o;
}

}  // namespace

class MqttLinkFixture : public Utest {
 public:
  MqttLinkFixture() { io.attach(link); }

 protected:
  Millis now = kStart;
  ScriptedRandom random{0xFFFFFFFFu};
  RecordingListener listener;
  FakeIo io;
  Link link{io, listener, random};
  Options options = mqtt_options();

  /// Writes everything the link has pending (each write completes at
  /// once) and returns the packets written.
  std::vector<mb::ClientPacket> flush() {
    std::vector<mb::ClientPacket> out;
    for (int guard = 0; guard < 64; ++guard) {
      const ConstByteSpan pending = link.pending_write();
      if (pending.empty()) break;
      const mb::Bytes bytes(pending.begin(), pending.end());
      link.on_write_started(now);
      bool ok = true;
      const std::vector<mb::ClientPacket> packets = mb::read_client_packets(bytes, ok);
      CHECK_TEXT(ok, "the link wrote something that is not whole MQTT packets");
      link.on_write_complete(now, link.generation(), bytes.size());
      out.insert(out.end(), packets.begin(), packets.end());
    }
    return out;
  }

  /// One read of `bytes`, as the client shell feeds it (pausing after each
  /// downlink message until the listener had it).
  void receive(const mb::Bytes& bytes) {
    ConstByteSpan rest{bytes.data(), bytes.size()};
    for (std::size_t round = 0; round <= bytes.size(); ++round) {
      rest = rest.subspan(link.on_received(now, link.generation(), rest));
      if (!link.message_pending()) return;
      link.message_delivered();
    }
  }

  void open() {
    link.on_transport_open(now, link.generation());
  }

  /// Starts, opens, reads the CONNECT back, answers CONNACK(session present
  /// = `present`), and returns what the link wrote after it.
  std::vector<mb::ClientPacket> go_online(bool present = false) {
    CHECK_TRUE(static_cast<bool>(link.start(options, now)));
    open();
    const std::vector<mb::ClientPacket> connect = flush();
    CHECK_EQUAL(1u, connect.size());
    CHECK_EQUAL(1, connect.at(0).type);
    receive(mb::connack(present));
    return flush();
  }

  /// Comes back after a lost connection: waits out the backoff, opens,
  /// answers CONNACK(`present`) and returns what the link wrote after it.
  std::vector<mb::ClientPacket> reconnect(bool present) {
    CHECK_TRUE(link.state() == ClientState::backing_off || link.state() == ClientState::connecting);
    for (int guard = 0; guard < 16 && link.state() == ClientState::backing_off; ++guard) {
      now = link.next_wakeup();
      link.on_timer(now);
    }
    CHECK_TRUE(link.state() == ClientState::connecting);
    open();
    (void)flush();  // CONNECT
    receive(mb::connack(present));
    return flush();
  }

  std::vector<mb::ClientPacket> of_type(const std::vector<mb::ClientPacket>& packets, std::uint8_t type) {
    std::vector<mb::ClientPacket> out;
    for (const mb::ClientPacket& p : packets) {
      if (p.type == type) out.push_back(p);
    }
    return out;
  }

  void send(const std::string& payload) {
    CHECK_FALSE(link.send(ConstByteSpan{payload.data(), payload.size()}, now));
  }
};

TEST_GROUP_BASE(MqttLinkConnect, MqttLinkFixture){};

TEST(MqttLinkConnect, ConnectCarriesTheDeviceIdAPersistentSessionTheKeepaliveAndTheToken) {
  CHECK_TRUE(static_cast<bool>(link.start(options, now)));
  open();
  const std::vector<mb::ClientPacket> written = flush();
  CHECK_EQUAL(1u, written.size());
  const mb::ClientPacket& connect = written.at(0);
  CHECK_EQUAL(1, connect.type);
  STRCMP_EQUAL("dev-0001", connect.client_id.c_str());
  CHECK_EQUAL(0, connect.connect_flags & 0x02);  // clean session 0
  CHECK_EQUAL(2, connect.keepalive_s);           // ceil((2000 + 1000) / 1500)
  STRCMP_EQUAL("dev-0001", connect.username.c_str());
  STRCMP_EQUAL("s3cret", connect.password.c_str());
  CHECK_EQUAL(0, connect.connect_flags & 0x04);  // no will
}

TEST(MqttLinkConnect, WithoutATokenNoUserNameOrPasswordIsSent) {
  options.token_size = 0;
  CHECK_TRUE(static_cast<bool>(link.start(options, now)));
  open();
  const mb::ClientPacket connect = flush().at(0);
  CHECK_EQUAL(0, connect.connect_flags & 0xC0);
}

TEST(MqttLinkConnect, AWillIsSentWithItsTopicExpanded) {
  CHECK_FALSE(MqttOptions::set_text(options.mqtt.will_topic, "devices/{device_id}/status"));
  CHECK_FALSE(options.mqtt.set_will_message(literal_bytes("offline")));
  CHECK_TRUE(static_cast<bool>(link.start(options, now)));
  open();
  const mb::ClientPacket connect = flush().at(0);
  CHECK_EQUAL(0x04, connect.connect_flags & 0x04);
  CHECK_EQUAL(1 << 3, connect.connect_flags & 0x18);  // will QoS 1
  STRCMP_EQUAL("devices/dev-0001/status", connect.will_topic.c_str());
  STRCMP_EQUAL("offline", connect.will_message.c_str());
}

TEST(MqttLinkConnect, ConnackAcceptedBringsItOnlineAndSubscribesToTheDownlinkTopic) {
  const std::vector<mb::ClientPacket> after = go_online(false);
  CHECK_TRUE(link.state() == ClientState::online);
  CHECK_EQUAL(1u, listener.online.size());
  CHECK_FALSE(listener.online.at(0).resumed);
  CHECK_EQUAL(1000u, listener.online.at(0).heartbeat_ms);
  CHECK_EQUAL(2000u, listener.online.at(0).read_timeout_ms);
  CHECK_EQUAL(1u, after.size());
  CHECK_EQUAL(8, after.at(0).type);
  STRCMP_EQUAL("devices/dev-0001/down", after.at(0).topic.c_str());
  CHECK_EQUAL(1, after.at(0).requested_qos);
  CHECK_TRUE(after.at(0).packet_id != 0);
}

TEST(MqttLinkConnect, NoPublishCarriesTheIdentifierOfTheSubscribeAwaitingItsSuback) {
  // MQTT has one identifier space for PUBLISH and SUBSCRIBE (spec 2.3.1).
  const std::vector<mb::ClientPacket> after = go_online(false);
  const std::uint16_t subscribe_id = after.at(0).packet_id;
  for (const char* text : {"one", "two", "three"}) send(text);
  const std::vector<mb::ClientPacket> publishes = of_type(flush(), 3);
  CHECK_EQUAL(3u, publishes.size());
  for (const mb::ClientPacket& p : publishes) CHECK_TRUE(p.packet_id != subscribe_id);
}

TEST(MqttLinkConnect, AnEmptyDownlinkTopicSubscribesToNothing) {
  options.mqtt.downlink_topic[0] = '\0';
  CHECK_EQUAL(0u, go_online(false).size());
}

TEST(MqttLinkConnect, ConnackRefusalsAreConnectFailuresWithTheBrokersReason) {
  struct Case {
    std::uint8_t code;
    CloseReason reason;
    const char* logged;
  };
  const Case cases[] = {{1, CloseReason::unsupported_version, "unacceptable_protocol_version"},
                        {2, CloseReason::unauthorized, "identifier_rejected"},
                        {3, CloseReason::overloaded, "server_unavailable"},
                        {4, CloseReason::unauthorized, "bad_username_or_password"},
                        {5, CloseReason::unauthorized, "not_authorized"}};
  for (const Case& c : cases) {
    RecordingListener l;
    FakeIo fio;
    Link k{fio, l, random};
    fio.attach(k);
    CHECK_TRUE(static_cast<bool>(k.start(options, now)));
    k.on_transport_open(now, k.generation());
    const mb::Bytes refusal = mb::connack(false, c.code);
    (void)k.on_received(now, k.generation(), ConstByteSpan{refusal.data(), refusal.size()});
    CHECK_EQUAL(1u, l.connect_failures.size());
    STRCMP_EQUAL("closed_by_server", error_name(l.connect_failures.at(0).reason).c_str());
    STRCMP_EQUAL(close_reason_name(c.reason), close_reason_name(l.connect_failures.at(0).server_reason));
    CHECK_TEXT(l.logged(c.logged), c.logged);
    CHECK_TRUE(k.state() == ClientState::connecting);  // the next endpoint
  }
}

TEST(MqttLinkConnect, APacketBeforeConnackIsAProtocolError) {
  CHECK_TRUE(static_cast<bool>(link.start(options, now)));
  open();
  (void)flush();
  receive(mb::pingresp());
  CHECK_EQUAL(1u, listener.connect_failures.size());
  STRCMP_EQUAL("protocol_error", error_name(listener.connect_failures.at(0).reason).c_str());
}

TEST(MqttLinkConnect, ABrokerKickAfterConnackStillBacksOffUntilTheLinkWasStable) {
  (void)go_online(false);
  receive({});
  link.on_transport_error(now, link.generation(), make_error_code(Errc::connection_closed));
  CHECK_TRUE(link.state() == ClientState::backing_off);
  CHECK_EQUAL(1u, listener.last_state().attempt);
  (void)reconnect(true);
  now += 100;  // kicked again at once (a duplicate client id elsewhere)
  link.on_transport_error(now, link.generation(), make_error_code(Errc::connection_closed));
  CHECK_TRUE(link.state() == ClientState::backing_off);
  CHECK_EQUAL(2u, listener.last_state().attempt);
}

TEST_GROUP_BASE(MqttLinkUplink, MqttLinkFixture){};

TEST(MqttLinkUplink, EachMessageIsAQos1PublishToTheUplinkTopicAcknowledgedByItsPuback) {
  (void)go_online(false);
  send("one");
  send("two");
  send("three");
  const std::vector<mb::ClientPacket> publishes = of_type(flush(), 3);
  CHECK_EQUAL(3u, publishes.size());
  for (const mb::ClientPacket& p : publishes) {
    STRCMP_EQUAL("devices/dev-0001/up", p.topic.c_str());
    CHECK_EQUAL(1, p.qos());
    CHECK_FALSE(p.dup());
    CHECK_TRUE(p.packet_id != 0);
  }
  STRCMP_EQUAL("one", publishes.at(0).payload.c_str());
  STRCMP_EQUAL("three", publishes.at(2).payload.c_str());
  CHECK_TRUE(publishes.at(0).packet_id != publishes.at(1).packet_id);
  receive(mb::puback(publishes.at(0).packet_id) + mb::puback(publishes.at(1).packet_id));
  CHECK_EQUAL(2u, listener.acks.size());
  receive(mb::puback(publishes.at(2).packet_id));
  CHECK_EQUAL(3u, listener.acks.size());
  CHECK_EQUAL(3u, listener.acks.back());
  CHECK_EQUAL(0u, link.queued_messages());
}

TEST(MqttLinkUplink, PubacksOutOfOrderAcknowledgeOnlyAGapFreeRun) {
  (void)go_online(false);
  send("a");
  send("b");
  send("c");
  const std::vector<mb::ClientPacket> p = of_type(flush(), 3);
  receive(mb::puback(p.at(2).packet_id) + mb::puback(p.at(1).packet_id));
  CHECK_EQUAL(0u, listener.acks.size());
  receive(mb::puback(p.at(0).packet_id));
  CHECK_EQUAL(3u, listener.acks.size());
}

TEST(MqttLinkUplink, APubackForAnIdentifierNotInFlightChangesNothing) {
  (void)go_online(false);
  send("a");
  const std::vector<mb::ClientPacket> p = of_type(flush(), 3);
  receive(mb::puback(static_cast<std::uint16_t>(p.at(0).packet_id + 100)));
  CHECK_TRUE(link.state() == ClientState::online);
  CHECK_EQUAL(0u, listener.acks.size());
}

TEST(MqttLinkUplink, TheEnvelopeCarriesTheSequenceNumberBeforeThePayload) {
  options.mqtt.envelope = true;
  (void)go_online(false);
  send("x");
  send("y");
  const std::vector<mb::ClientPacket> p = of_type(flush(), 3);
  CHECK_EQUAL(2u, p.size());
  mqtt::Enveloped e;
  CHECK_FALSE(mqtt::decode_envelope(ConstByteSpan{p.at(1).payload.data(), p.at(1).payload.size()}, e));
  CHECK_EQUAL(2u, e.seq);
  STRCMP_EQUAL("y", to_string(e.payload).c_str());
}

TEST(MqttLinkUplink, TheWindowBoundsPublishesInFlight) {
  options.max_in_flight = 2;
  (void)go_online(false);
  for (int i = 0; i < 5; ++i) send("m");
  std::vector<mb::ClientPacket> p = of_type(flush(), 3);
  CHECK_EQUAL(2u, p.size());
  receive(mb::puback(p.at(0).packet_id));
  p = of_type(flush(), 3);
  CHECK_EQUAL(1u, p.size());
}

TEST(MqttLinkUplink, SessionPresentResendsTheUnacknowledgedWithTheirIdentifiersAndDup) {
  (void)go_online(false);
  send("a");
  send("b");
  send("c");
  const std::vector<mb::ClientPacket> first = of_type(flush(), 3);
  receive(mb::puback(first.at(0).packet_id));
  link.on_transport_error(now, link.generation(), make_error_code(Errc::connection_closed));
  const std::vector<mb::ClientPacket> again = of_type(reconnect(true), 3);
  CHECK_TRUE(listener.online.back().resumed);
  CHECK_EQUAL(2u, again.size());
  CHECK_EQUAL(first.at(1).packet_id, again.at(0).packet_id);
  CHECK_EQUAL(first.at(2).packet_id, again.at(1).packet_id);
  CHECK_TRUE(again.at(0).dup());
  CHECK_TRUE(again.at(1).dup());
  STRCMP_EQUAL("b", again.at(0).payload.c_str());
  // A new message after the resends is not a resend.
  send("d");
  const std::vector<mb::ClientPacket> fresh = of_type(flush(), 3);
  CHECK_EQUAL(1u, fresh.size());
  CHECK_FALSE(fresh.at(0).dup());
  receive(mb::puback(again.at(0).packet_id) + mb::puback(again.at(1).packet_id) + mb::puback(fresh.at(0).packet_id));
  CHECK_EQUAL(4u, listener.acks.size());
}

TEST(MqttLinkUplink, SessionLostResendsTheUnacknowledgedAsNewPublishes) {
  options.mqtt.envelope = true;
  (void)go_online(false);
  send("a");
  send("b");
  const std::vector<mb::ClientPacket> first = of_type(flush(), 3);
  link.on_transport_error(now, link.generation(), make_error_code(Errc::connection_closed));
  const std::vector<mb::ClientPacket> after = reconnect(false);
  CHECK_FALSE(listener.online.back().resumed);
  CHECK_EQUAL(1u, of_type(after, 8).size());  // subscribed again
  const std::vector<mb::ClientPacket> again = of_type(after, 3);
  CHECK_EQUAL(2u, again.size());
  CHECK_FALSE(again.at(0).dup());
  CHECK_TRUE(again.at(0).packet_id != first.at(0).packet_id);
  CHECK_TRUE(again.at(1).packet_id != first.at(1).packet_id);
  // The sequence numbers stay: a consumer of the envelope drops duplicates.
  mqtt::Enveloped e;
  CHECK_FALSE(mqtt::decode_envelope(ConstByteSpan{again.at(0).payload.data(), again.at(0).payload.size()}, e));
  CHECK_EQUAL(1u, e.seq);
  receive(mb::puback(again.at(0).packet_id) + mb::puback(again.at(1).packet_id));
  CHECK_EQUAL(2u, listener.acks.size());
}

TEST(MqttLinkUplink, PacketIdentifiersWrapPast65535AndAreNeverZero) {
  options.max_in_flight = 4;
  (void)go_online(false);
  std::uint16_t previous = 0;
  bool wrapped = false;
  for (std::uint32_t i = 0; i < 70000; ++i) {
    send("m");
    const std::vector<mb::ClientPacket> p = of_type(flush(), 3);
    CHECK_EQUAL(1u, p.size());
    CHECK_TRUE(p.at(0).packet_id != 0);
    if (p.at(0).packet_id < previous) wrapped = true;
    previous = p.at(0).packet_id;
    receive(mb::puback(p.at(0).packet_id));
  }
  CHECK_TRUE(wrapped);
  CHECK_EQUAL(70000u, listener.acks.size());
  CHECK_EQUAL(70001u, link.next_uplink_seq());
}

TEST(MqttLinkUplink, APayloadTooLargeForAPublishIsRefusedBySend) {
  (void)go_online(false);
  const std::string big(kTxBufferSize, 'x');
  CHECK_TRUE(link.send(ConstByteSpan{big.data(), big.size()}, now) == Errc::field_too_long);
}

TEST_GROUP_BASE(MqttLinkDownlink, MqttLinkFixture){};

TEST(MqttLinkDownlink, AQos1PublishIsDeliveredThenAcknowledgedOnlyAfterTheApplicationHadIt) {
  (void)go_online(false);
  const mb::Bytes bytes = mb::publish("devices/dev-0001/down", "cmd", 1, 7);
  const std::size_t taken = link.on_received(now, link.generation(), ConstByteSpan{bytes.data(), bytes.size()});
  CHECK_TRUE(link.message_pending());
  CHECK_EQUAL(1u, listener.messages.size());
  STRCMP_EQUAL("cmd", listener.messages.at(0).payload.c_str());
  CHECK_EQUAL(1u, listener.messages.at(0).seq);
  CHECK_EQUAL(0u, flush().size());  // no PUBACK while the application has it
  link.message_delivered();
  (void)link.on_received(now, link.generation(), ConstByteSpan{bytes.data() + taken, bytes.size() - taken});
  const std::vector<mb::ClientPacket> acks = of_type(flush(), 4);
  CHECK_EQUAL(1u, acks.size());
  CHECK_EQUAL(7, acks.at(0).packet_id);
}

TEST(MqttLinkDownlink, ManyPublishesInOneReadAreEachAcknowledged) {
  (void)go_online(false);
  mb::Bytes burst;
  for (std::uint16_t id = 1; id <= 150; ++id) burst = burst + mb::publish("devices/dev-0001/down", "c", 1, id);
  receive(burst);
  CHECK_EQUAL(150u, listener.messages.size());
  CHECK_EQUAL(150u, listener.messages.back().seq);
  const std::vector<mb::ClientPacket> acks = of_type(flush(), 4);
  CHECK_EQUAL(150u, acks.size());
  for (std::size_t i = 0; i < acks.size(); ++i) CHECK_EQUAL(i + 1, acks.at(i).packet_id);
  CHECK_TRUE(link.state() == ClientState::online);
}

TEST(MqttLinkDownlink, AQos0PublishIsDeliveredWithoutAcknowledgement) {
  (void)go_online(false);
  receive(mb::publish("devices/dev-0001/down", "hint", 0));
  CHECK_EQUAL(1u, listener.messages.size());
  CHECK_EQUAL(0u, of_type(flush(), 4).size());
}

TEST(MqttLinkDownlink, AQos2PublishIsRefusedWithAClearError) {
  (void)go_online(false);
  mb::Bytes qos2 = mb::publish("devices/dev-0001/down", "x", 1, 9);
  qos2[0] = 0x34;  // QoS 2
  receive(qos2);
  CHECK_EQUAL(0u, listener.messages.size());
  CHECK_EQUAL(1u, listener.disconnects.size());
  CHECK_TRUE(listener.logged("qos2_not_supported"));
}

TEST(MqttLinkDownlink, ARefusedSubscriptionEndsTheConnectionNamingWhy) {
  const std::vector<mb::ClientPacket> after = go_online(false);
  receive(mb::suback(after.at(0).packet_id, 0x80));
  CHECK_EQUAL(1u, listener.disconnects.size());
  CHECK_TRUE(listener.logged("refused the downlink subscription"));
}

TEST(MqttLinkDownlink, AGrantedSubscriptionChangesNothing) {
  const std::vector<mb::ClientPacket> after = go_online(false);
  receive(mb::suback(after.at(0).packet_id, 0x01));
  CHECK_TRUE(link.state() == ClientState::online);
}

TEST(MqttLinkDownlink, DownlinkNumbersContinueOnAKeptSessionAndRestartOnANewOne) {
  (void)go_online(false);
  receive(mb::publish("devices/dev-0001/down", "a", 1, 1) + mb::publish("devices/dev-0001/down", "b", 1, 2));
  link.on_transport_error(now, link.generation(), make_error_code(Errc::connection_closed));
  (void)reconnect(true);
  receive(mb::publish("devices/dev-0001/down", "c", 1, 3));
  CHECK_EQUAL(3u, listener.messages.back().seq);
  link.on_transport_error(now, link.generation(), make_error_code(Errc::connection_closed));
  (void)reconnect(false);
  receive(mb::publish("devices/dev-0001/down", "d", 1, 4));
  CHECK_EQUAL(1u, listener.messages.back().seq);
}

TEST_GROUP_BASE(MqttLinkKeepAlive, MqttLinkFixture){};

TEST(MqttLinkKeepAlive, AnIdleLinkSendsPingreqAndAPingrespKeepsItOnline) {
  (void)go_online(false);
  for (int round = 0; round < 5; ++round) {
    now = link.next_wakeup();
    link.on_timer(now);
    const std::vector<mb::ClientPacket> written = flush();
    CHECK_EQUAL(1u, of_type(written, 12).size());
    now += 10;
    receive(mb::pingresp());
  }
  CHECK_TRUE(link.state() == ClientState::online);
  CHECK_EQUAL(5u, listener.heartbeats.size());
}

TEST(MqttLinkKeepAlive, SilenceIsFoundAtTheReadTimeoutAfterTheLastByte) {
  (void)go_online(false);
  const Millis last_byte = now;
  for (int guard = 0; guard < 100 && listener.disconnects.empty(); ++guard) {
    now = link.next_wakeup();
    link.on_timer(now);
    (void)flush();
  }
  CHECK_EQUAL(1u, listener.disconnects.size());
  STRCMP_EQUAL("server_silent", error_name(listener.disconnects.at(0).reason).c_str());
  CHECK_EQUAL(last_byte + 2000, now);
}

TEST(MqttLinkKeepAlive, StopSaysDisconnectAndADeadLinkSaysNothing) {
  (void)go_online(false);
  link.stop(now);
  CHECK_EQUAL(1u, io.closes.size());
  CHECK_EQUAL(2u, io.closes.back().farewell.size());
  CHECK_EQUAL(0xE0, io.closes.back().farewell.at(0));

  RecordingListener l;
  FakeIo fio;
  Link k{fio, l, random};
  fio.attach(k);
  CHECK_TRUE(static_cast<bool>(k.start(options, now)));
  k.on_transport_open(now, k.generation());
  const mb::Bytes connack = mb::connack(false);
  (void)k.on_received(now, k.generation(), ConstByteSpan{connack.data(), connack.size()});
  for (int guard = 0; guard < 100 && l.disconnects.empty(); ++guard) {
    now = k.next_wakeup();
    k.on_timer(now);
  }
  CHECK_EQUAL(1u, fio.closes.size());
  CHECK_EQUAL(0u, fio.closes.back().farewell.size());  // the broker publishes the will
}

TEST_GROUP(MqttOptionsCheck){};

TEST(MqttOptionsCheck, BadMqttSettingsAreRefusedNamingTheField) {
  struct Case {
    const char* field;
    void (*spoil)(Options&);
  };
  const Case cases[] = {
      {"mqtt.uplink_topic", [](Options& o) { (void)MqttOptions::set_text(o.mqtt.uplink_topic, "up/{devce_id}"); }},
      {"mqtt.uplink_topic", [](Options& o) { (void)MqttOptions::set_text(o.mqtt.uplink_topic, "up/#"); }},
      {"mqtt.uplink_topic", [](Options& o) { o.mqtt.uplink_topic[0] = '\0'; }},
      {"mqtt.downlink_topic", [](Options& o) { (void)MqttOptions::set_text(o.mqtt.downlink_topic, "down/+"); }},
      {"mqtt.will_topic", [](Options& o) { (void)MqttOptions::set_text(o.mqtt.will_topic, "{x}"); }},
      {"mqtt.will_qos", [](Options& o) { o.mqtt.will_qos = 2; }},
      {"read_timeout_ms",
       [](Options& o) {
         o.heartbeat_interval_ms = 600000;
         o.read_timeout_ms = 1300000;
         o.mqtt.broker_max_keepalive_s = 1200;  // AWS IoT Core
       }},
      {"mqtt.uplink_topic", [](Options& o) { (void)o.set_device_id("a/b"); }},
  };
  for (const Case& c : cases) {
    Options o = mqtt_options();
    c.spoil(o);
    const OptionsCheck check = validate(o);
    CHECK_TEXT(!check, c.field);
    STRCMP_EQUAL(c.field, check.field);
  }
  CHECK_TRUE(static_cast<bool>(validate(mqtt_options())));
}

TEST(MqttOptionsCheck, TheNativeProtocolIgnoresTheMqttSettings) {
  Options o = mqtt_options();
  o.protocol = WireProtocol::native;
  (void)MqttOptions::set_text(o.mqtt.uplink_topic, "{bad}");
  CHECK_TRUE(static_cast<bool>(validate(o)));
}

TEST_GROUP_BASE(MqttLinkAdaptiveHeartbeat, MqttLinkFixture){};

// Issue 14, item 4: the keepalive announced in CONNECT covers the longest
// interval the adaptive heartbeat may reach (heartbeat_interval_ms is its
// ceiling), so the broker's 1.5 x keepalive cut never comes before the
// device's own detection, however far the learning goes.
TEST(MqttLinkAdaptiveHeartbeat, TheKeepaliveCoversTheLongestIntervalTheLearningMayReach) {
  options.heartbeat_interval_ms = 300000;  // the ceiling
  options.read_timeout_ms = 600000;
  options.adaptive_heartbeat.enabled = true;
  options.adaptive_heartbeat.start_ms = 30000;
  options.adaptive_heartbeat.min_ms = 10000;
  CHECK_TRUE(static_cast<bool>(link.start(options, now)));
  open();
  const mb::ClientPacket connect = flush().at(0);
  CHECK_EQUAL(600, connect.keepalive_s);  // ceil((600 + 300) / 1.5)
  receive(mb::connack(false));
  (void)flush();
  receive(mb::suback(1, 0x01));
  // Let the learner lengthen the interval as far as it goes: every idle
  // period survives (a PINGRESP answers each PINGREQ).
  std::uint32_t longest = 0;
  Millis last_write = now;
  for (int round = 0; round < 200 && link.state() == ClientState::online; ++round) {
    now = link.next_wakeup();
    link.on_timer(now);
    if (!of_type(flush(), 12).empty()) {
      longest = std::max<std::uint32_t>(longest, static_cast<std::uint32_t>(now - last_write));
      last_write = now;
      now += 5;
      receive(mb::pingresp());
    }
  }
  CHECK_TRUE(link.state() == ClientState::online);
  CHECK_TEXT(longest > 30000, std::to_string(longest).c_str());  // it did learn longer intervals
  // The broker cuts 1.5 x keepalive after the last packet it received; the
  // device writes at least every `longest`, and gives up after its read timeout.
  CHECK_TRUE(longest <= options.heartbeat_interval_ms);
  CHECK_TRUE(1500u * connect.keepalive_s >= longest + options.read_timeout_ms);
}
