// SPDX-License-Identifier: Apache-2.0
// Not compiled: the input of the test core_layer_guard_refuses_forbidden_includes
// (tests/CMakeLists.txt), which runs sdk/cmake/check_core_includes.cmake on
// it and expects every include below except the first two to be named.
#pragma once

#include <cstdint>
#include "uplink/core/time.hpp"
#include "uplink/client.hpp"
#include "uplink/port/clock.hpp"
#include <asio.hpp>
#include <mbedtls/ssl.h>
#include "uplink/core/../client.hpp"
