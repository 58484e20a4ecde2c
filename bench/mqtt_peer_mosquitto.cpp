// SPDX-License-Identifier: Apache-2.0
// libmosquitto (Debian libmosquitto-dev) as an MQTT peer of
// bench/mqtt_clients.sh; flags and output in mqtt_peer.hpp.
//
// Used the way its documentation shows: mosquitto_connect(), then
// mosquitto_loop_start() (the library's own network thread, which also
// keeps the keepalive and reconnects), callbacks on that thread. The window
// is kept by the application: a new PUBLISH from on_publish (the PUBACK) so
// that at most --window messages are unacknowledged, and the library's own
// limit (MOSQ_OPT_SEND_MAXIMUM) set to the same value.
#include <mosquitto.h>

#include <atomic>
#include <cstdint>
#include <cstdio>

#include "mqtt_peer.hpp"

namespace {

using namespace uplink::bench::mqtt_peer;

struct Peer {
  PeerArgs args;
  ThroughputMeter meter;
  Done done;
  std::uint64_t sent = 0;   // on the library's thread only
  std::uint64_t acked = 0;  // on the library's thread only
  std::atomic<std::uint64_t> acked_seen{0};

  void publish_more(mosquitto* mosq) {
    // Bounded by the window and by the count.
    while (sent < args.count && sent - acked < args.window) {
      if (mosquitto_publish(mosq, nullptr, args.topic.c_str(), static_cast<int>(args.size), payload(), 1, false) !=
          MOSQ_ERR_SUCCESS) {
        return;  // not connected: the rest goes after the next CONNACK
      }
      ++sent;
    }
  }
};

void on_connect(mosquitto* mosq, void* obj, int rc) {
  auto& peer = *static_cast<Peer*>(obj);
  if (rc != 0) {
    print_error(mosquitto_connack_string(rc));
    return;
  }
  print_online();
  if (peer.args.count == 0) return;
  if (peer.sent == 0) peer.meter.begin();
  peer.publish_more(mosq);
}

void on_publish(mosquitto* mosq, void* obj, int /*mid*/) {
  auto& peer = *static_cast<Peer*>(obj);
  ++peer.acked;
  peer.acked_seen.store(peer.acked, std::memory_order_relaxed);
  if (peer.acked == peer.args.count) {
    peer.meter.end();
    peer.done.set();
    return;
  }
  peer.publish_more(mosq);
}

void on_disconnect(mosquitto*, void*, int rc) {
  // rc 0: our own mosquitto_disconnect(). libmosquitto 2.0.11 has no text
  // for some codes (MOSQ_ERR_KEEPALIVE, 19, is "Unknown error."): the number too.
  if (rc == 0) return;
  char extra[32];
  std::snprintf(extra, sizeof extra, ",\"rc\":%d", rc);
  print_offline(mosquitto_strerror(rc), extra);
}

}  // namespace

int main(int argc, char** argv) {
  note_start();
  block_stop_signals();
  Peer peer;
  if (!parse_args(argc, argv, peer.args)) return 2;
  if (peer.args.keepalive_s < 5) {
    // libmosquitto refuses it (mosquitto_connect returns MOSQ_ERR_INVAL).
    print_error("libmosquitto refuses a keepalive under 5 s");
    return 2;
  }
  mosquitto_lib_init();
  mosquitto* mosq = mosquitto_new(peer.args.client_id.c_str(), /*clean_session=*/false, &peer);
  if (mosq == nullptr) {
    print_error("mosquitto_new failed");
    return 1;
  }
  mosquitto_connect_callback_set(mosq, on_connect);
  mosquitto_publish_callback_set(mosq, on_publish);
  mosquitto_disconnect_callback_set(mosq, on_disconnect);
  (void)mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  (void)mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, static_cast<int>(peer.args.window));
  int rc = mosquitto_connect(mosq, peer.args.host.c_str(), peer.args.port, static_cast<int>(peer.args.keepalive_s));
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop_start(mosq);
  if (rc != MOSQ_ERR_SUCCESS) {
    print_error(mosquitto_strerror(rc));
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    return 1;
  }
  int exit_code = 0;
  if (peer.args.count > 0) {
    const bool finished = peer.done.wait_for(std::chrono::seconds(peer.args.limit_s));
    peer.meter.print(peer.args.count, peer.acked_seen.load(std::memory_order_relaxed));
    exit_code = finished ? 0 : 1;
  } else {
    wait_stop_signal();
    print_exit();
  }
  (void)mosquitto_disconnect(mosq);
  (void)mosquitto_loop_stop(mosq, /*force=*/false);
  mosquitto_destroy(mosq);
  mosquitto_lib_cleanup();
  return exit_code;
}
