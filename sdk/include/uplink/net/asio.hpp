// SPDX-License-Identifier: Apache-2.0
// The single gate through which uplink (and its tests and samples) include
// Asio: it supplies asio::detail::throw_exception for builds without
// exceptions, which must be visible wherever Asio can instantiate it.
#pragma once

#include <asio/detail/throw_exception.hpp>

#if defined(ASIO_NO_EXCEPTIONS)
namespace uplink::detail {
/// Reached only if an Asio overload that throws is used: logs and aborts.
[[noreturn]] void asio_error_without_exceptions() noexcept;
}  // namespace uplink::detail

namespace asio::detail {
template <typename Exception>
void throw_exception(const Exception&) {
  uplink::detail::asio_error_without_exceptions();
}
}  // namespace asio::detail
#endif

#include <asio/io_context.hpp>
