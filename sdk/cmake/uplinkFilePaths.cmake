# SPDX-License-Identifier: Apache-2.0
# Plain source lists for integrators who do not use our CMakeLists.txt
# (the idea of coreMQTT's mqttFilePaths.cmake). Paths are absolute.
set(UPLINK_INCLUDE_PUBLIC_DIRS ${CMAKE_CURRENT_LIST_DIR}/../include)

# The pure core: codec and state machines, standard library only.
set(UPLINK_CORE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/error.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/crc32.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/backoff.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/capacities.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/delivery.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/event_queue.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/keep_alive.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/heartbeat_learner.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/heartbeat_book.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/options.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/outbound_store.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/native_profile.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/wire_profiles.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/link.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/spool.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/frame.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/frame_encoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/frame_decoder.cpp)

# The MQTT 3.1.1 profile and its codec, part of the core unless the SDK is
# built without MQTT (UPLINK_WITH_MQTT=OFF; a build system of your own
# compiles the core without these and defines UPLINK_WITH_MQTT=0 for the
# SDK and everything built against it).
set(UPLINK_MQTT_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/mqtt_profile.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/core/in_flight_table.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/mqtt_error.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/mqtt_encoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/mqtt_decoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/mqtt_topic.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/mqtt_envelope.cpp)

set(UPLINK_CORE_HEADERS
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/config_defaults.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/error.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/byte_order.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/byte_span.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/counters.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/crc32.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/delivery.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/device_id.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/event_queue.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/time.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/backoff.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/keep_alive.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/heartbeat_learner.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/heartbeat_book.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/outbound_store.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/random_source.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/wire_profile.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/native_profile.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/wire_profiles.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/link.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/spool.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/spool_damage.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/listener.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/options.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/frame.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/frame_encoder.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/frame_decoder.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/codec_result.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/big_endian.hpp)

set(UPLINK_MQTT_HEADERS
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/mqtt_profile.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/mqtt_packet.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/mqtt_error.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/mqtt_encoder.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/mqtt_decoder.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/mqtt_topic.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/codec/mqtt_envelope.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/in_flight_table.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../include/uplink/core/mqtt_keepalive.hpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/codec/mqtt_fault.hpp)

# Asio's compiled implementation, once for the client, the ports and the tools.
set(UPLINK_ASIO_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../src/net/asio_impl.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/net/asio_throw.cpp)

# Transports: the stream seam and plain TCP (TLS is in uplink_tls).
set(UPLINK_NET_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../src/net/stream.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../src/net/tcp_stream.cpp)

# The Asio shell.
set(UPLINK_CLIENT_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../src/client.cpp)
