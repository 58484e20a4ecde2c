// SPDX-License-Identifier: Apache-2.0
// The Raspberry Pi port: what a Pi tells about itself through procfs and
// sysfs. It sits next to the Linux port (ports/linux), which still implements
// the contracts of sdk/include/uplink/port/; link both.
//
// Every function reads its files under `root`: "" (or nullptr) is the real
// system, a directory such as tests/ports/pi4 makes the function read
// <root>/proc/device-tree/serial-number and so on. Every file may be absent
// (an emulated device on a PC): each function says what it does then.
//
// No function allocates, throws, blocks (beyond reading a procfs/sysfs file)
// or keeps state: all are safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

namespace uplink::port::raspberrypi {

/// Longest path the port builds (root + file name), in bytes including the
/// terminating NUL. A longer root makes every file count as absent
/// (std::errc::filename_too_long where an error code is returned).
inline constexpr std::size_t kMaxPathLength = 512;

// --- Device identity ----------------------------------------------------------

/// Where board_identity() found the id.
enum class IdentitySource : std::uint8_t {
  device_tree,  ///< `<root>/proc/device-tree/serial-number`
  cpuinfo,      ///< the "Serial" line of `<root>/proc/cpuinfo`
  fallback,     ///< neither had a usable serial: the fallback's answer
};

/// Stable name of a source ("device_tree", "cpuinfo", "fallback").
[[nodiscard]] const char* identity_source_name(IdentitySource source) noexcept;

/// The signature of the device-identity port contract
/// (uplink::port::device_identity): writes a NUL-terminated id into `out`
/// (capacity `size`), returns its length.
using IdentityFallback = std::size_t (*)(char* out, std::size_t size) noexcept;

/// What board_identity() wrote.
struct Identity {
  std::size_t length = 0;  ///< strlen of the id written (0 only when size < 2)
  IdentitySource source = IdentitySource::fallback;  ///< Where the id came from.
};

/// Writes the board's serial number as the device id into `out` (capacity
/// `size` bytes, >= 2), NUL-terminated. First match wins:
///  1. `<root>/proc/device-tree/serial-number` (a device-tree string: the
///     trailing NUL, and anything after it, is not part of the serial);
///  2. the value of the "Serial" line of `<root>/proc/cpuinfo`;
///  3. `fallback(out, ...)`; nullptr means uplink::port::device_identity(),
///     the default port's identity (the Linux port's: machine-id, host name).
/// A serial that is empty or all zeros (emulators report
/// 0000000000000000) counts as absent: it would not tell devices apart.
/// The id is sanitised to the protocol rule whatever its source: leading and
/// trailing white space is dropped, every other byte outside 0x21..0x7E
/// becomes '-', and it is cut to UPLINK_MAX_DEVICE_ID_LENGTH (64) bytes and
/// to `size - 1`. On a Pi the id is the same as the Linux port's (both read
/// the device-tree serial), so switching ports keeps the device's identity.
[[nodiscard]] Identity board_identity(char* out, std::size_t size, const char* root = "",
                                      IdentityFallback fallback = nullptr) noexcept;

// --- Board model --------------------------------------------------------------

/// Writes the board model from `<root>/proc/device-tree/model` (for example
/// "Raspberry Pi 4 Model B Rev 1.4") into `out` (capacity `size` >= 1),
/// NUL-terminated, cut to `size - 1`. Bytes outside printable ASCII
/// (0x20..0x7E) become '?'; surrounding white space is dropped. Writes
/// "unknown" (cut to fit) when the file is absent or empty.
/// Returns the length written.
std::size_t board_model(char* out, std::size_t size, const char* root = "") noexcept;

/// True when `<root>/proc/device-tree/model` starts with "Raspberry Pi".
[[nodiscard]] bool is_raspberry_pi(const char* root = "") noexcept;

// --- Hardware random number generator -------------------------------------------

/// Fills up to `size` bytes of `out` from the hardware RNG `<root>/dev/hwrng`,
/// opened non-blocking: returns how many bytes it got, which may be fewer
/// than asked when the generator has no more ready; 0 when the device is
/// absent (a PC without one, a kernel without the driver) or not readable
/// (on Raspberry Pi OS /dev/hwrng is root-only unless a udev rule opens it).
/// An extra entropy source only: never the sole one.
[[nodiscard]] std::size_t hwrng_read(void* out, std::size_t size, const char* root = "") noexcept;

/// The same as an mbedTLS entropy source (mbedtls_entropy_f_source_ptr):
/// `data` is the root (a const char*, nullptr for the real system). Always
/// returns 0 with `*olen` = bytes obtained (0 when absent), so register it as
/// an extra source with threshold 0, next to mbedTLS's platform source (which
/// stays the strong one that must deliver):
///   mbedtls_entropy_add_source(&ctx, hwrng_entropy_source, nullptr, 0,
///                              MBEDTLS_ENTROPY_SOURCE_WEAK);
/// Its bytes are mixed into every gather. A threshold above 0 would make
/// mbedtls_entropy_func fail on a board without the device.
/// For uplink's TLS, whose entropy context is private, pass it as
/// uplink::tls::TlsSettings::entropy_source = {hwrng_entropy_source, nullptr, 0, false}.
int hwrng_entropy_source(void* data, unsigned char* output, std::size_t len, std::size_t* olen) noexcept;

// --- SoC temperature ------------------------------------------------------------

/// Reads the SoC temperature in millidegrees Celsius from
/// `<root>/sys/class/thermal/thermal_zone0/temp` (the "cpu-thermal" zone on a
/// Pi). Errors, with `millicelsius` left untouched:
///  - the errno of open()/read(), e.g. std::errc::no_such_file_or_directory
///    when the file is absent (a PC without thermal zones, a container);
///  - std::errc::bad_message when the content is not one decimal integer;
///  - std::errc::result_out_of_range when it does not fit 32 bits;
///  - std::errc::filename_too_long when `root` is too long.
[[nodiscard]] std::error_code soc_temperature(std::int32_t& millicelsius, const char* root = "") noexcept;

/// Parses the content of a thermal zone "temp" file: an optional '-', decimal
/// digits, then optional white space (the kernel writes "48312\n").
/// Errors: std::errc::bad_message, std::errc::result_out_of_range.
[[nodiscard]] std::error_code parse_millicelsius(const char* text, std::size_t length,
                                                 std::int32_t& millicelsius) noexcept;

/// Writes millidegrees as degrees with three decimals ("48.312", "-0.250")
/// and a NUL into `out`. Returns the length, 0 when `size` is too small.
std::size_t format_celsius(std::int32_t millicelsius, char* out, std::size_t size) noexcept;

/// Bytes that always hold soc_temperature_payload()'s output with its NUL
/// ("soc_temp_c=-2147483.648").
inline constexpr std::size_t kTemperaturePayloadCapacity = 24;

/// A ready telemetry payload for the samples: writes "soc_temp_c=48.312"
/// (NUL-terminated, length in `length`) from soc_temperature(). Returns its
/// error when the temperature cannot be read, or std::errc::no_buffer_space
/// when `size` is too small (kTemperaturePayloadCapacity always does); on
/// error `length` is 0 and `out` (if size > 0) holds "".
[[nodiscard]] std::error_code soc_temperature_payload(char* out, std::size_t size, std::size_t& length,
                                                      const char* root = "") noexcept;

}  // namespace uplink::port::raspberrypi
