// SPDX-License-Identifier: Apache-2.0
// paho.mqtt.c (Debian libpaho-mqtt-dev), its asynchronous client MQTTAsync,
// as an MQTT peer of bench/mqtt_clients.sh; flags and output in
// mqtt_peer.hpp.
//
// MQTTAsync is paho's API for applications that do not block on every
// publish: the library runs its own send and receive threads and calls
// back on them. In-memory persistence (MQTTCLIENT_PERSISTENCE_NONE; the
// default writes every message to a file, which neither other client
// does), MQTT 3.1.1, clean session 0, maxInflight = --window. The window is
// also kept by the application: a new PUBLISH from deliveryComplete (the
// PUBACK), so that at most --window messages are unacknowledged.
#include <MQTTAsync.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

#include "mqtt_peer.hpp"

namespace {

using namespace uplink::bench::mqtt_peer;

struct Peer {
  PeerArgs args;
  MQTTAsync client = nullptr;
  ThroughputMeter meter;
  Done done;
  Done connected;
  bool connect_failed = false;
  std::uint64_t sent = 0;   // on paho's threads, one at a time (callbacks are serialised)
  std::uint64_t acked = 0;  // same
  std::atomic<std::uint64_t> acked_seen{0};

  void publish_more() {
    // Bounded by the window and by the count.
    while (sent < args.count && sent - acked < args.window) {
      MQTTAsync_message message = MQTTAsync_message_initializer;
      message.payload = const_cast<char*>(payload());
      message.payloadlen = static_cast<int>(args.size);
      message.qos = 1;
      MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
      if (MQTTAsync_sendMessage(client, args.topic.c_str(), &message, &response) != MQTTASYNC_SUCCESS) return;
      ++sent;
    }
  }
};

void on_connected(void* context, MQTTAsync_successData*) {
  auto& peer = *static_cast<Peer*>(context);
  print_online();
  if (peer.args.count > 0) {
    peer.meter.begin();
    peer.publish_more();
  }
  peer.connected.set();
}

void on_connect_failure(void* context, MQTTAsync_failureData* response) {
  auto& peer = *static_cast<Peer*>(context);
  print_error(response != nullptr && response->message != nullptr ? response->message : "connect failed");
  peer.connect_failed = true;
  peer.connected.set();
}

void on_connection_lost(void*, char* cause) {
  print_offline(cause != nullptr ? cause : "connection lost");
  if (cause != nullptr) MQTTAsync_free(cause);
}

int on_message(void*, char* topic, int, MQTTAsync_message* message) {
  // Nothing is subscribed; free what paho hands over anyway.
  MQTTAsync_freeMessage(&message);
  MQTTAsync_free(topic);
  return 1;
}

void on_delivery_complete(void* context, MQTTAsync_token) {
  auto& peer = *static_cast<Peer*>(context);
  ++peer.acked;
  peer.acked_seen.store(peer.acked, std::memory_order_relaxed);
  if (peer.acked == peer.args.count) {
    peer.meter.end();
    peer.done.set();
    return;
  }
  peer.publish_more();
}

}  // namespace

int main(int argc, char** argv) {
  note_start();
  block_stop_signals();
  Peer peer;
  if (!parse_args(argc, argv, peer.args)) return 2;
  const std::string uri = "tcp://" + peer.args.host + ":" + std::to_string(peer.args.port);
  MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
  create.MQTTVersion = MQTTVERSION_3_1_1;
  if (MQTTAsync_createWithOptions(&peer.client, uri.c_str(), peer.args.client_id.c_str(), MQTTCLIENT_PERSISTENCE_NONE,
                                  nullptr, &create) != MQTTASYNC_SUCCESS) {
    print_error("MQTTAsync_createWithOptions failed");
    return 1;
  }
  (void)MQTTAsync_setCallbacks(peer.client, &peer, on_connection_lost, on_message, on_delivery_complete);
  MQTTAsync_connectOptions connect = MQTTAsync_connectOptions_initializer;
  connect.keepAliveInterval = static_cast<int>(peer.args.keepalive_s);
  connect.cleansession = 0;
  connect.maxInflight = static_cast<int>(peer.args.window);
  connect.MQTTVersion = MQTTVERSION_3_1_1;
  connect.onSuccess = on_connected;
  connect.onFailure = on_connect_failure;
  connect.context = &peer;
  int exit_code = 0;
  if (MQTTAsync_connect(peer.client, &connect) != MQTTASYNC_SUCCESS) {
    print_error("MQTTAsync_connect refused the request");
    exit_code = 1;
  } else if (!peer.connected.wait_for(std::chrono::seconds(30)) || peer.connect_failed) {
    exit_code = 1;
  } else if (peer.args.count > 0) {
    const bool finished = peer.done.wait_for(std::chrono::seconds(peer.args.limit_s));
    peer.meter.print(peer.args.count, peer.acked_seen.load(std::memory_order_relaxed));
    exit_code = finished ? 0 : 1;
  } else {
    wait_stop_signal();
    print_exit();
  }
  MQTTAsync_disconnectOptions disconnect = MQTTAsync_disconnectOptions_initializer;
  disconnect.timeout = 1000;
  (void)MQTTAsync_disconnect(peer.client, &disconnect);
  MQTTAsync_destroy(&peer.client);
  return exit_code;
}
