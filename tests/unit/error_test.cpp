// SPDX-License-Identifier: Apache-2.0
// The uplink error category: names, messages, comparisons.
#include <cstring>
#include <system_error>

#include "uplink/error.hpp"

#include <CppUTest/TestHarness.h>

TEST_GROUP(ErrorCategory){};

TEST(ErrorCategory, CodesCarryTheUplinkCategoryName) {
  const std::error_code ec = uplink::Errc::server_silent;
  STRCMP_EQUAL("uplink", ec.category().name());
  CHECK(ec == uplink::Errc::server_silent);
  CHECK(ec != uplink::Errc::write_timeout);
}

TEST(ErrorCategory, EveryCodeHasANameAndAMessage) {
  for (int v = static_cast<int>(uplink::Errc::frame_too_large);
       v <= static_cast<int>(uplink::Errc::probe_failed); ++v) {
    const auto e = static_cast<uplink::Errc>(v);
    STRCMP_NOCASE_CONTAINS("", uplink::errc_name(e));
    CHECK_TEXT(std::strcmp(uplink::errc_name(e), "unknown") != 0, "code without a name");
    CHECK_FALSE(uplink::make_error_code(e).message().empty());
  }
}

TEST(ErrorCategory, OutOfRangeValueIsNamedUnknown) {
  STRCMP_EQUAL("unknown", uplink::errc_name(static_cast<uplink::Errc>(9999)));
}

TEST(ErrorCategory, DefaultErrorCodeIsSuccess) {
  const std::error_code ec;
  CHECK_FALSE(ec);
}
