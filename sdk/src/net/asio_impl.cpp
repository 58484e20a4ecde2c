// SPDX-License-Identifier: Apache-2.0
// The one translation unit that compiles Asio's implementation
// (ASIO_SEPARATE_COMPILATION): every other file includes only declarations,
// which keeps builds fast and the code size of the SDK small.
#include "uplink/net/asio.hpp"

#include <asio/impl/src.hpp>
