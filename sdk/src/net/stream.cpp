// SPDX-License-Identifier: Apache-2.0
#include "uplink/net/stream.hpp"

#include "uplink/error.hpp"

namespace uplink::net {

std::error_code stream_error(const asio::error_code& error) {
  if (!error) return {};
  if (error == asio::error::eof || error == asio::error::connection_reset || error == asio::error::broken_pipe ||
      error == asio::error::connection_aborted) {
    return make_error_code(Errc::connection_closed);
  }
  if (error.category() == asio::system_category()) return {error.value(), std::system_category()};
  return error;
}

}  // namespace uplink::net
