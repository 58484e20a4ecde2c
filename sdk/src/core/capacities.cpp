// SPDX-License-Identifier: Apache-2.0
// The symbol that stands for the capacities these libraries were built with
// (see the end of uplink/config_defaults.hpp): an application compiled with
// other capacities fails to link, naming both sets.
#include "uplink/config_defaults.hpp"

extern "C" const char UPLINK_CAPACITIES_SYMBOL = 0;
