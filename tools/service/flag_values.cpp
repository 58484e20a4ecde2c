// SPDX-License-Identifier: Apache-2.0
// host:port and numbers of the tools' flags (see flag_values.hpp).
#include "flag_values.hpp"

#include <charconv>

namespace uplink::tools {

bool split_host_port(std::string_view text, HostPort& out) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    // The last colon: "::1:7400" is ::1, port 7400 (brackets are clearer,
    // but the tools have always taken this form).
    port_text = text.substr(colon + 1);
  }
  std::uint64_t port = 0;
  if (host.empty() || !parse_unsigned(port_text, port) || port > 65535) return false;
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(port);
  return true;
}

bool parse_unsigned(std::string_view text, std::uint64_t& value) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return false;  // from_chars would take a '-'
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  return result.ec == std::errc() && result.ptr == end;
}

}  // namespace uplink::tools
