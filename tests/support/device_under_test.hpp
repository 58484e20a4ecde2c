// SPDX-License-Identifier: Apache-2.0
// A Client with a recording listener, for the loopback tests that drive
// the client against a real server or broker. Its destructor stops the
// client and waits until it is quiescent, so that a failed check that
// leaves a test early does not abort the whole run by destroying a busy
// client.
#pragma once

#include <chrono>
#include <memory>

#include "support/link_fakes.hpp"
#include "support/run_until.hpp"
#include "uplink/client.hpp"

namespace uplink::test {

struct DeviceUnderTest {
  explicit DeviceUnderTest(asio::io_context& io) : io_(io), client(std::make_unique<Client>(io, listener, random)) {}
  ~DeviceUnderTest() {
    client->stop();
    run_until(io_, [&] { return client->quiescent(); }, std::chrono::seconds(20));
  }
  DeviceUnderTest(const DeviceUnderTest&) = delete;
  DeviceUnderTest& operator=(const DeviceUnderTest&) = delete;

  asio::io_context& io_;
  RecordingListener listener;
  // Half of every backoff range: deterministic, and neither 0 nor the cap.
  ScriptedRandom random{0x80000000u};
  std::unique_ptr<Client> client;
};

}  // namespace uplink::test
