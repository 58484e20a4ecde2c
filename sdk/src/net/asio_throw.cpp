// SPDX-License-Identifier: Apache-2.0
// Asio's error hook for builds without exceptions (ASIO_NO_EXCEPTIONS).
//
// uplink only calls Asio overloads that report errors through
// std::error_code, so this is reached only by a bug (an overload that
// throws slipped in); stopping loudly beats continuing in an unknown state.
#include "uplink/net/asio.hpp"

#if defined(ASIO_NO_EXCEPTIONS)
#include <cstdio>
#include <cstdlib>

namespace uplink::detail {
void asio_error_without_exceptions() noexcept {
  std::fputs("uplink: an Asio call that throws was used in a build without exceptions; aborting\n", stderr);
  std::abort();
}
}  // namespace uplink::detail
#endif
