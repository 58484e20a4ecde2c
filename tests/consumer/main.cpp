// SPDX-License-Identifier: Apache-2.0
// Consumer of the installed uplink package: validates options, constructs a
// client on an io_context, starts and stops it. Exits non-zero (with a
// message) on anything unexpected. No network traffic leaves 127.0.0.1.
#include <chrono>
#include <cstdio>
#include <cstring>

#include "uplink/client.hpp"
#include "uplink/options.hpp"
#include "uplink/port/random.hpp"

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "uplink_consumer: FAILED: %s\n", what);
    ++failures;
  }
}

struct StateRecorder : uplink::Listener {
  uplink::ClientState last = uplink::ClientState::idle;
  void on_state(const uplink::StateChange& change) override { last = change.state; }
};

}  // namespace

int main() {
  uplink::Options options;
  const uplink::OptionsCheck empty = uplink::validate(options);
  expect(!empty, "default options (no endpoint) are refused");
  expect(std::strcmp(empty.field, "endpoints") == 0, "the refusal names the field 'endpoints'");

  expect(!options.add_endpoint("127.0.0.1", 9), "add_endpoint(127.0.0.1, 9)");
  expect(!options.set_device_id("consumer-0001"), "set_device_id");
  const uplink::OptionsCheck valid = uplink::validate(options);
  if (!valid) std::fprintf(stderr, "uplink_consumer: %s: %s\n", valid.field, valid.reason);
  expect(static_cast<bool>(valid), "complete options validate");

  asio::io_context io;
  StateRecorder listener;
  {
    uplink::Client client(io, listener, uplink::port::system_random());
    expect(client.state() == uplink::ClientState::idle, "a new client is idle");
    expect(!client.start(uplink::Options{}), "start() refuses invalid options");
    expect(client.state() == uplink::ClientState::idle, "nothing started after a refusal");

    expect(static_cast<bool>(client.start(options)), "start() accepts valid options");
    client.stop();
    // Run until every cancelled operation has completed (bounded).
    for (int i = 0; i < 100 && !client.quiescent(); ++i) io.run_one_for(std::chrono::milliseconds(100));
    expect(client.quiescent(), "the client is quiescent after stop()");
    expect(client.state() == uplink::ClientState::stopped, "the client is stopped");
    expect(listener.last == uplink::ClientState::stopped, "the listener saw the stopped state");
  }

  if (failures != 0) return 1;
  std::printf("uplink_consumer: ok (%s)\n", uplink::client_state_name(listener.last));
  return 0;
}
