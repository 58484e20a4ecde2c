// SPDX-License-Identifier: Apache-2.0
// Runtime options of a client: plain data with documented defaults.
//
// Strings live in fixed arrays (no heap); the setters refuse values that do
// not fit. validate() is called by Client::start() and names the first field
// that is wrong, so a bad configuration is refused before anything connects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "uplink/config_defaults.hpp"
#include "uplink/core/backoff.hpp"
#include "uplink/core/byte_span.hpp"
#include "uplink/core/heartbeat_learner.hpp"

namespace uplink {

/// One server address. `host` is a numeric IPv4/IPv6 address or a DNS name.
struct Endpoint {
  char host[kMaxHostLength + 1] = {};  ///< NUL-terminated; set through Options::add_endpoint().
  std::uint16_t port = 0;              ///< TCP port, 1..65535.
};

/// What send() does when the outbound store is full.
enum class FullPolicy : std::uint8_t {
  refuse,       ///< send() fails with Errc::queue_full; the caller keeps the message (default).
  drop_oldest,  ///< The oldest message not yet transmitted is dropped (counted, reported) to make room.
};

/// The adaptive heartbeat (Options::adaptive_heartbeat; README "Choosing a
/// heartbeat", docs/ARCHITECTURE.md "Adaptive heartbeat"). Off by default.
///
/// When enabled, heartbeat_interval_ms is the ceiling: HELLO requests it, so
/// the server's read deadline (2.5 x the accepted interval) covers every
/// interval the device may use; the interval the server accepts in WELCOME
/// narrows the ceiling for that connection. Within [min_ms, ceiling] the
/// device learns how long the path lets the connection idle (core/
/// heartbeat_learner.hpp) and sends its write-idle and read-idle PINGs at
/// the learned interval. Every such PING must be answered within
/// probe_timeout_ms, else the link is dead (Errc::probe_failed): a mapping
/// lost to a NAT is found one probe timeout after the PING, not after the
/// read timeout (which stays as the backstop). Lengthened intervals are
/// tried only while no message is queued or in flight.
struct AdaptiveHeartbeat {
  bool enabled = false;  ///< Learn the interval; false (default): heartbeat_interval_ms as negotiated.
  /// Shortest interval ever used. 0 (default) means automatic: the smaller
  /// of 10 s and the start.
  std::uint32_t min_ms = 0;
  /// The first interval, a safe guess for any path. 0 (default) means
  /// automatic: the smaller of 30 s and heartbeat_interval_ms. Must lie
  /// within [min_ms, heartbeat_interval_ms].
  std::uint32_t start_ms = 0;
  /// Survived idle periods at the settled interval after which one trial
  /// checks whether the path's timeout grew (costs a reconnect when it did
  /// not). 0 = never. Default 32.
  std::uint32_t reprobe_after = 32;
};

/// The wire protocol a client speaks (Options::protocol).
enum class WireProtocol : std::uint8_t {
  native,  ///< uplink's own protocol v1 to the reference server (docs/PROTOCOL.md). Default.
  mqtt,    ///< MQTT 3.1.1 to a broker (docs/MQTT.md): QoS 1 up and down, persistent session.
};

/// Stable lower-case name of a wire protocol ("native", "mqtt").
[[nodiscard]] const char* wire_protocol_name(WireProtocol protocol) noexcept;

/// How the client speaks MQTT 3.1.1 (Options::mqtt; used when
/// Options::protocol is WireProtocol::mqtt). docs/MQTT.md has the mapping.
///
/// The client connects with clean session 0 and the device id as client
/// id; the token, if any, is the password. Each message is one PUBLISH at
/// QoS 1 to the uplink topic; downlink messages arrive on the downlink
/// topic (subscribed at QoS 1 after every CONNACK). The keepalive sent in
/// CONNECT is derived from heartbeat_interval_ms and read_timeout_ms so that
/// the broker's cut (1.5 x keepalive) never comes before the device's own
/// detection (core/mqtt_keepalive.hpp).
struct MqttOptions {
  /// Longest topic template, user name and will topic, in bytes.
  static constexpr std::size_t kMaxTopicLength = 128;
  /// Longest will message, in bytes.
  static constexpr std::size_t kMaxWillMessage = 128;

  /// Where messages are published; "{device_id}" is replaced by the device
  /// id. Default "devices/{device_id}/up".
  char uplink_topic[kMaxTopicLength + 1] = "devices/{device_id}/up";
  /// What the device subscribes to for downlink messages (a topic name, no
  /// wildcard); "" subscribes to nothing. Default "devices/{device_id}/down".
  char downlink_topic[kMaxTopicLength + 1] = "devices/{device_id}/down";
  /// Put the message's 8-byte sequence number (big endian) before each
  /// payload, so a consumer can drop QoS 1's duplicates exactly
  /// (codec/mqtt_envelope.hpp). Default off.
  bool envelope = false;
  /// The CONNECT user name; "" (default) sends the device id when a token
  /// is set, and no user name without one (mutual TLS or an open broker).
  char username[kMaxTopicLength + 1] = {};
  /// A will: what the broker publishes when the connection ends without
  /// DISCONNECT (a dead link, a crash). Off when will_topic is "".
  /// "{device_id}" is replaced as in the topics.
  char will_topic[kMaxTopicLength + 1] = {};
  std::uint8_t will_message[kMaxWillMessage] = {};  ///< The will's payload.
  std::size_t will_message_size = 0;                ///< Bytes of will_message in use.
  std::uint8_t will_qos = 1;                        ///< 0 or 1.
  bool will_retain = false;                         ///< Ask the broker to retain the will.
  /// The broker's largest keepalive in seconds (AWS IoT Core 1200, Azure IoT
  /// Hub 1177), so a heartbeat and read timeout it cannot honour are refused
  /// at start instead of being lowered by the broker. 0: MQTT's own limit.
  std::uint32_t broker_max_keepalive_s = 0;

  /// Sets a text field (one of the char arrays above). Errors: invalid_option (too long).
  [[nodiscard]] static std::error_code set_text(char (&field)[kMaxTopicLength + 1], const char* text);
  /// Sets the will's message. Errors: invalid_option (too long).
  [[nodiscard]] std::error_code set_will_message(ConstByteSpan message);
};

/// Everything a client needs to know before start(). Defaults suit a real
/// device on a real network; Options::demo() is tuned for a quick look.
struct Options {
  Endpoint endpoints[kMaxEndpoints];  ///< Tried in order before backing off (failover).
  std::size_t endpoint_count = 0;     ///< Entries of `endpoints` in use; at least 1 to start.

  char device_id[kMaxDeviceIdLength + 1] = {};  ///< Printable ASCII, no spaces.
  std::uint8_t token[kMaxTokenLength] = {};     ///< Optional secret; never logged.
  std::size_t token_size = 0;                   ///< Bytes of `token` in use; 0 = no token.

  /// Interval of heartbeats: a PING goes out when nothing was written, or
  /// nothing received, for this long. The server may clamp it in WELCOME.
  std::uint32_t heartbeat_interval_ms = 30000;
  /// Silence after which the link is declared dead ("server silent"),
  /// measured from the last complete frame received. Must exceed the
  /// heartbeat interval; default 2x. When the server clamps the heartbeat,
  /// this is scaled by the same ratio.
  std::uint32_t read_timeout_ms = 60000;
  /// A write that has not completed after this long means the link is dead.
  std::uint32_t write_timeout_ms = 10000;
  /// One deadline for resolve + connect + (TLS) + HELLO/WELCOME, per endpoint.
  std::uint32_t connect_timeout_ms = 10000;
  /// No business traffic (DATA/ACK) either way for this long closes the
  /// connection on purpose. 0 = off (default).
  std::uint32_t idle_timeout_ms = 0;
  /// A connection must stay online this long before the backoff attempt
  /// counter resets, so a server that accepts and drops cannot cause a tight
  /// reconnect loop.
  std::uint32_t stable_after_ms = 30000;
  BackoffPolicy backoff;  ///< Default base 1 s, cap 60 s, retry forever.
  /// After a network change (Client::network_changed(), e.g. from the
  /// netlink monitor), the link must show life within this long or it is
  /// declared dead at once instead of after the full read timeout (the
  /// read timeout still applies when it is shorter). > 0; default 3000.
  std::uint32_t probe_timeout_ms = 3000;
  /// What send() does when the outbound store is full. Default: refuse.
  FullPolicy when_full = FullPolicy::refuse;
  /// Most DATA frames transmitted and not yet acknowledged at once (the
  /// window), 1 .. UPLINK_STORE_MESSAGES, or 0 (the default) for automatic:
  /// 128 with the native protocol, 32 with MQTT (brokers cap it), never more
  /// than the store holds. A larger window batches more messages into each
  /// write and each acknowledgement, so the device spends less CPU per
  /// message (docs/PERFORMANCE.md); it also bounds what may be delivered
  /// twice when the server lost the session (a session reset, or a broker
  /// without the envelope). See in_flight_window().
  std::uint32_t max_in_flight = 0;
  /// The window max_in_flight stands for, automatic resolved.
  [[nodiscard]] std::uint32_t in_flight_window() const;
  /// Bounds on the heartbeat a server may name in WELCOME (the server may
  /// clamp the requested interval; a hostile or broken one could name 1 ms,
  /// a PING storm, or 18 hours, silence detection switched off). A WELCOME
  /// outside [server_heartbeat_min_ms, server_heartbeat_max_ms] is refused:
  /// the device sends CLOSE(protocol_error), reports Errc::protocol_error
  /// for the attempt and tries the next endpoint, then backs off.
  /// 0 (the default) means automatic: the smaller of 500 ms and
  /// heartbeat_interval_ms. A value set must not exceed heartbeat_interval_ms.
  std::uint32_t server_heartbeat_min_ms = 0;
  /// See server_heartbeat_min_ms. 0 (the default) means automatic: the
  /// larger of 10 minutes and heartbeat_interval_ms. A value set must not be
  /// below heartbeat_interval_ms.
  std::uint32_t server_heartbeat_max_ms = 0;
  /// The bounds server_heartbeat_min_ms and server_heartbeat_max_ms stand
  /// for, automatic ones resolved.
  [[nodiscard]] std::uint32_t accepted_server_heartbeat_min_ms() const;
  /// See accepted_server_heartbeat_min_ms().
  [[nodiscard]] std::uint32_t accepted_server_heartbeat_max_ms() const;
  /// Longest pause a server's CLOSE retry-after may impose; a longer one is
  /// cut to this (and logged), so one frame cannot park a device for days.
  /// A random delay from the backoff (full jitter) is always added on top of
  /// the pause, so the devices a restarting server closed at once do not
  /// all come back in the same millisecond. 0: ignore retry-after hints.
  /// Default 10 min.
  std::uint32_t max_retry_after_ms = 600000;
  /// A stuck server is a dead link: with messages transmitted and not
  /// acknowledged, no acknowledgement progress for this long closes the
  /// connection (Errc::ack_timeout, CLOSE protocol_error) and reconnects,
  /// even while the server still answers PINGs. 0 (the default) means
  /// twice the read timeout in effect on the connection, so a link that
  /// died is still reported as server_silent first.
  std::uint32_t ack_timeout_ms = 0;
  /// Kernel send buffer of the socket (SO_SNDBUF), 0 = the system default.
  /// A small buffer bounds how much unacknowledged data can pile up in the
  /// kernel on a half-open link, so a stalled link shows as a write timeout
  /// sooner, at the cost of throughput on long fat links.
  std::uint32_t socket_send_buffer_bytes = 0;
  /// Kernel TCP keepalive (idle seconds before probing), an extra under
  /// the application heartbeats for links where the kernel should also
  /// notice; 0 = off (default: the heartbeats already do the job faster).
  std::uint32_t tcp_keepalive_idle_s = 0;
  /// Learn the heartbeat interval the path allows (off by default); see AdaptiveHeartbeat.
  AdaptiveHeartbeat adaptive_heartbeat;
  /// The wire protocol: the native protocol (default) or MQTT 3.1.1.
  WireProtocol protocol = WireProtocol::native;
  /// MQTT topics, envelope, user name and will; used with WireProtocol::mqtt.
  /// With MQTT, max_in_flight is also the window of packet identifiers:
  /// keep it within the broker's limit (mosquitto 20 for what it sends;
  /// AWS IoT Core 100, HiveMQ 10, EMQX 32).
  MqttOptions mqtt;
  /// The learner's policy that adaptive_heartbeat stands for, automatic
  /// values resolved (max_ms is heartbeat_interval_ms).
  [[nodiscard]] HeartbeatLearnerPolicy heartbeat_learner_policy() const;

  /// Appends an endpoint. Errors: invalid_option (empty or too long host,
  /// port 0, list full).
  [[nodiscard]] std::error_code add_endpoint(const char* host, std::uint16_t port);
  /// Sets the device id. Errors: invalid_option (empty, too long, or a byte
  /// outside printable ASCII 0x21..0x7E).
  [[nodiscard]] std::error_code set_device_id(const char* id);
  /// Sets the authentication token. Errors: invalid_option (too long).
  [[nodiscard]] std::error_code set_token(ConstByteSpan token_bytes);

  /// Short timings for demos and tests: heartbeat 1 s, read timeout 2 s,
  /// write timeout 2 s, connect timeout 2 s, backoff 200 ms .. 2 s, stable after 3 s.
  [[nodiscard]] static Options demo();
};

/// Result of Options validation: `field` names the offending field (as in
/// the struct, e.g. "read_timeout_ms") and `reason` says what is wrong.
struct OptionsCheck {
  std::error_code error;  ///< Empty, or Errc::invalid_option.
  const char* field = "";   ///< Name of the offending field; "" when valid. A static string.
  const char* reason = "";  ///< What is wrong with it, one sentence; "" when valid. A static string.

  /// True when the options are valid.
  [[nodiscard]] explicit operator bool() const { return !error; }
};

/// The OptionsCheck that refuses `field` for `reason` (Errc::invalid_option;
/// both static strings): one copy for every check of the options.
[[nodiscard]] OptionsCheck refuse_option(const char* field, const char* reason);

/// Checks every rule of the options; returns the first violation.
[[nodiscard]] OptionsCheck validate(const Options& options);

}  // namespace uplink
