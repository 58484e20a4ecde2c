// SPDX-License-Identifier: Apache-2.0
// ensure_descriptors(): RLIMIT_NOFILE, raised within the hard limit. See
// descriptor_limit.hpp.
#include "descriptor_limit.hpp"

#include <sys/resource.h>

namespace uplink::tools {

namespace {

constexpr std::uint64_t kUnlimited = ~std::uint64_t{0};

std::uint64_t as_count(rlim_t value) { return value == RLIM_INFINITY ? kUnlimited : static_cast<std::uint64_t>(value); }

}  // namespace

DescriptorLimit ensure_descriptors(std::uint64_t needed) {
  DescriptorLimit result;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return result;
  result.soft = as_count(limit.rlim_cur);
  result.hard = as_count(limit.rlim_max);
  if (result.soft >= needed) {
    result.enough = true;
    return result;
  }
  if (result.hard < needed) return result;
  // Up to the hard limit: room for whatever else the run opens, at no cost
  // (descriptors are not reserved by the limit).
  rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? static_cast<rlim_t>(needed) : limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) return result;  // e.g. refused by a seccomp filter
  result.soft = as_count(raised.rlim_cur);
  result.raised = true;
  result.enough = true;
  return result;
}

std::string descriptor_advice(const char* what, std::uint64_t needed, const DescriptorLimit& limit) {
  const std::string n = std::to_string(needed);
  std::string text = std::string(what) + " needs about " + n + " file descriptors, but this process may open " +
                     std::to_string(limit.soft) + " (ulimit -n; hard limit " + std::to_string(limit.hard) + ")";
  if (limit.hard < needed) {
    text += ", and may not raise that past " + std::to_string(limit.hard) +
            ": raise the hard limit (as root: ulimit -Hn " + n + "; LimitNOFILE=" + n +
            " in a systemd unit; 'nofile' in /etc/security/limits.conf), or run fewer";
  } else {
    text += ", and raising it failed: raise it before the start (ulimit -n " + n + "; LimitNOFILE=" + n +
            " in a systemd unit), or run fewer";
  }
  return text;
}

}  // namespace uplink::tools
