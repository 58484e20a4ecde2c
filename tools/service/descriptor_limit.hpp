// SPDX-License-Identifier: Apache-2.0
// Making room for the file descriptors a tool is about to open (a fleet of
// devices: a socket each), before it opens them: running out half-way
// fails in the middle of the work (Asio throws, the program aborts) instead
// of at start with a message that says what to change.
#pragma once

#include <cstdint>
#include <string>

namespace uplink::tools {

/// What ensure_descriptors() found and did.
struct DescriptorLimit {
  std::uint64_t soft = 0;   ///< The soft limit (RLIMIT_NOFILE) now in effect.
  std::uint64_t hard = 0;   ///< The hard limit: the most an unprivileged process may raise the soft one to.
  bool raised = false;      ///< The soft limit was raised to make room.
  bool enough = false;      ///< The soft limit now covers the descriptors asked for.
};

/// Makes sure this process may open `needed` file descriptors: when the
/// soft limit is lower, raises it to the hard limit (or to `needed`, if the
/// hard limit is unlimited). `enough` is false when even the hard limit is
/// lower, or the raise was refused; the limits are then as they were.
DescriptorLimit ensure_descriptors(std::uint64_t needed);

/// What to tell the operator when ensure_descriptors(`needed`) was not
/// enough for `what` (e.g. "--fleet 1100"): the limits, and how to raise them.
std::string descriptor_advice(const char* what, std::uint64_t needed, const DescriptorLimit& limit);

}  // namespace uplink::tools
