// SPDX-License-Identifier: Apache-2.0
// Built by check_capacities.cmake against the uplink_core archive, once with
// the library's capacities (must link) and once with another
// UPLINK_STORE_BYTES (must fail to link, naming the capacities).
#include "uplink/options.hpp"

int main() {
  const uplink::Options options;
  return uplink::validate(options) ? 0 : 1;
}
