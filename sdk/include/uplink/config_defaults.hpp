// SPDX-License-Identifier: Apache-2.0
// Compile-time capacities of uplink, each overridable by the integrator.
//
// Every knob follows the same rule: define it before this header is seen
// (compiler flag or an optional "uplink_config.hpp" on the include path) to
// override the default. Capacities are fixed at build time because uplink
// never allocates after a client is started: the receiver's frame buffer,
// the transmit slots and the outbound store are all sized here.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__has_include)
#if __has_include("uplink_config.hpp")
#include "uplink_config.hpp"
#endif
#endif

/// Largest frame (4-byte header + body) a receiver accepts, in bytes.
/// A frame announcing a larger length is rejected from its header alone,
/// before any byte of its body is buffered.
/// Possible values: 64 .. 65539 (the 16-bit length field plus the header).
/// Default value: 4096.
#ifndef UPLINK_MAX_FRAME_SIZE
#define UPLINK_MAX_FRAME_SIZE 4096
#endif

/// Longest device id carried in HELLO, in bytes.
/// Possible values: 1 .. 255. Default value: 64.
#ifndef UPLINK_MAX_DEVICE_ID_LENGTH
#define UPLINK_MAX_DEVICE_ID_LENGTH 64
#endif

/// Longest authentication token carried in HELLO, in bytes.
/// Possible values: 0 .. 255. Default value: 255.
#ifndef UPLINK_MAX_TOKEN_LENGTH
#define UPLINK_MAX_TOKEN_LENGTH 255
#endif

/// Maximum number of server endpoints a client tries in turn (failover).
/// Possible values: 1 .. 16. Default value: 4.
#ifndef UPLINK_MAX_ENDPOINTS
#define UPLINK_MAX_ENDPOINTS 4
#endif

/// Longest host name of one endpoint, in bytes.
/// Possible values: 1 .. 253. Default value: 128.
#ifndef UPLINK_MAX_HOST_LENGTH
#define UPLINK_MAX_HOST_LENGTH 128
#endif

/// Bytes of encoded frames a client holds waiting for the socket (HELLO,
/// heartbeats, acknowledgements and application DATA). Must hold one
/// maximum-size frame plus room reserved for control frames.
/// Possible values: UPLINK_MAX_FRAME_SIZE + 64 .. 1 MiB. Default value: 8192.
#ifndef UPLINK_TX_BUFFER_SIZE
#define UPLINK_TX_BUFFER_SIZE 8192
#endif

/// Bytes of the outbound store: application messages accepted by send()
/// and kept until the server acknowledges them (payload + 10 bytes each).
/// Possible values: UPLINK_MAX_FRAME_SIZE .. 16 MiB. Default value: 16384.
#ifndef UPLINK_STORE_BYTES
#define UPLINK_STORE_BYTES 16384
#endif

/// Most messages the outbound store holds, whatever their size.
/// Possible values: 1 .. 65535. Default value: 256.
#ifndef UPLINK_STORE_MESSAGES
#define UPLINK_STORE_MESSAGES 256
#endif

/// Size of the buffer each socket read lands in before it is fed to the
/// decoder. Small values cost more system calls; large values cost RAM.
/// Possible values: 16 .. 65536. Default value: 1024.
#ifndef UPLINK_RX_CHUNK_SIZE
#define UPLINK_RX_CHUNK_SIZE 1024
#endif

/// Whether the SDK carries the MQTT 3.1.1 profile (Options::protocol =
/// WireProtocol::mqtt; docs/MQTT.md). Without it (0) the MQTT codec and
/// profile are neither compiled nor linked, the client is smaller by the
/// profile's RAM, and start() refuses WireProtocol::mqtt (invalid_option,
/// field "protocol"). Set with the CMake option of the same name, which
/// leaves the MQTT sources out (sdk/cmake/uplinkFilePaths.cmake lists them
/// apart for other build systems).
/// Possible values: 0, 1. Default value: 1.
#ifndef UPLINK_WITH_MQTT
#define UPLINK_WITH_MQTT 1
#endif

namespace uplink {

/// Size of the header of every length-prefixed frame: type, flags, u16 length.
inline constexpr std::size_t kFrameHeaderSize = 4;
/// Size of a heartbeat (control) frame: 0x00 and a code.
inline constexpr std::size_t kControlFrameSize = 2;
/// The largest frame this build accepts, header included.
inline constexpr std::size_t kMaxFrameSize = UPLINK_MAX_FRAME_SIZE;
/// The largest body this build accepts.
inline constexpr std::size_t kMaxFrameBody = kMaxFrameSize - kFrameHeaderSize;
/// Longest device id, in bytes (UPLINK_MAX_DEVICE_ID_LENGTH).
inline constexpr std::size_t kMaxDeviceIdLength = UPLINK_MAX_DEVICE_ID_LENGTH;
/// Longest token, in bytes (UPLINK_MAX_TOKEN_LENGTH).
inline constexpr std::size_t kMaxTokenLength = UPLINK_MAX_TOKEN_LENGTH;
/// Most endpoints an Options holds (UPLINK_MAX_ENDPOINTS).
inline constexpr std::size_t kMaxEndpoints = UPLINK_MAX_ENDPOINTS;
/// Longest endpoint host name, in bytes, without the NUL (UPLINK_MAX_HOST_LENGTH).
inline constexpr std::size_t kMaxHostLength = UPLINK_MAX_HOST_LENGTH;
/// Bytes of encoded frames waiting for the socket (UPLINK_TX_BUFFER_SIZE).
inline constexpr std::size_t kTxBufferSize = UPLINK_TX_BUFFER_SIZE;
/// Transmit room kept free for control frames (PONG, PING, ACK, CLOSE), so
/// application data can never starve the heartbeat.
inline constexpr std::size_t kTxControlReserve = 64;
/// Bytes one socket read can deliver to the decoder (UPLINK_RX_CHUNK_SIZE).
inline constexpr std::size_t kRxChunkSize = UPLINK_RX_CHUNK_SIZE;
/// Bytes of the outbound store (UPLINK_STORE_BYTES).
inline constexpr std::size_t kStoreBytes = UPLINK_STORE_BYTES;
/// Most messages in the outbound store (UPLINK_STORE_MESSAGES).
inline constexpr std::size_t kStoreMessages = UPLINK_STORE_MESSAGES;

static_assert(kMaxFrameSize >= 64 && kMaxFrameSize <= 65535 + kFrameHeaderSize,
              "UPLINK_MAX_FRAME_SIZE must be within 64 .. 65539");
static_assert(kMaxDeviceIdLength >= 1 && kMaxDeviceIdLength <= 255,
              "UPLINK_MAX_DEVICE_ID_LENGTH must be within 1 .. 255");
static_assert(kMaxTokenLength <= 255, "UPLINK_MAX_TOKEN_LENGTH must be within 0 .. 255");
static_assert(kMaxEndpoints >= 1 && kMaxEndpoints <= 16,
              "UPLINK_MAX_ENDPOINTS must be within 1 .. 16");
static_assert(kMaxHostLength >= 1 && kMaxHostLength <= 253,
              "UPLINK_MAX_HOST_LENGTH must be within 1 .. 253");
static_assert(kTxBufferSize >= kMaxFrameSize + kTxControlReserve && kTxBufferSize <= (1u << 20),
              "UPLINK_TX_BUFFER_SIZE must be within UPLINK_MAX_FRAME_SIZE + 64 .. 1 MiB");
static_assert(kStoreBytes >= kMaxFrameSize && kStoreBytes <= (16u << 20),
              "UPLINK_STORE_BYTES must be within UPLINK_MAX_FRAME_SIZE .. 16 MiB");
static_assert(kStoreMessages >= 1 && kStoreMessages <= 65535, "UPLINK_STORE_MESSAGES must be within 1 .. 65535");
static_assert(UPLINK_WITH_MQTT == 0 || UPLINK_WITH_MQTT == 1, "UPLINK_WITH_MQTT must be 0 or 1");
static_assert(kRxChunkSize >= 16 && kRxChunkSize <= 65536,
              "UPLINK_RX_CHUNK_SIZE must be within 16 .. 65536");

}  // namespace uplink

// ---- The capacities an application and the libraries were built with must
// agree: they size the structures both sides share (uplink::Client,
// uplink::Options, ...), and so must UPLINK_WITH_MQTT, which sizes the
// link. The libraries define one symbol named after their
// capacities (src/core/capacities.cpp); every translation unit that
// includes this header refers to the symbol named after its own. A
// mismatch is a link error that names both sets, e.g.
//   undefined reference to `uplink_capacities_frame4096_id64_token255_endpoints4_host128_tx8192_store8192_msgs256_rx1024_mqtt1'
// instead of memory corruption at run time. The installed CMake package and
// uplink.pc carry the capacities the libraries were built with; values must
// be plain decimal numbers (they become part of the symbol's name).
#define UPLINK_DETAIL_CAPACITIES_PASTE(f, i, t, e, h, x, s, m, r, q)                                          \
  uplink_capacities_frame##f##_id##i##_token##t##_endpoints##e##_host##h##_tx##x##_store##s##_msgs##m##_rx##r##_mqtt##q
#define UPLINK_DETAIL_CAPACITIES_NAME(f, i, t, e, h, x, s, m, r, q)                                              \
  UPLINK_DETAIL_CAPACITIES_PASTE(f, i, t, e, h, x, s, m, r, q)
/// The name of the symbol that stands for this build's capacities.
#define UPLINK_CAPACITIES_SYMBOL                                                                                 \
  UPLINK_DETAIL_CAPACITIES_NAME(UPLINK_MAX_FRAME_SIZE, UPLINK_MAX_DEVICE_ID_LENGTH, UPLINK_MAX_TOKEN_LENGTH,       \
                                UPLINK_MAX_ENDPOINTS, UPLINK_MAX_HOST_LENGTH, UPLINK_TX_BUFFER_SIZE,              \
                                UPLINK_STORE_BYTES, UPLINK_STORE_MESSAGES, UPLINK_RX_CHUNK_SIZE, UPLINK_WITH_MQTT)

/// Defined only by libraries built with these capacities; its address is
/// all that is used.
extern "C" const char UPLINK_CAPACITIES_SYMBOL;
namespace uplink::detail {
/// Refers to the capacities symbol from every translation unit (kept by
/// `used` even when nothing else reads it), so the linker checks them.
[[maybe_unused]] __attribute__((used)) static const char* const capacities_check = &UPLINK_CAPACITIES_SYMBOL;
}  // namespace uplink::detail
