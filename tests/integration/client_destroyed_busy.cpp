// SPDX-License-Identifier: Apache-2.0
// Not a CppUTest suite: a program that destroys a client with a connect
// still pending. The CTest client_destroyed_while_busy_aborts_loudly expects
// the destructor's message (and the abort): in every build, never undefined
// behaviour later.
#include "uplink/net/asio.hpp"

#include <cstdio>

#include "uplink/client.hpp"
#include "uplink/port/random.hpp"

int main() {
  asio::io_context io;
  struct Quiet : uplink::Listener {} listener;
  uplink::Options options;
  // A loopback port nobody listens on: the connect is in flight, never run.
  if (options.add_endpoint("127.0.0.1", 9) || options.set_device_id("busy")) return 2;
  {
    uplink::Client client(io, listener, uplink::port::system_random());
    if (!client.start(options)) return 2;
    std::printf("destroying a client that is not quiescent\n");
    std::fflush(stdout);
  }  // the destructor must refuse here
  std::printf("the destructor returned: wrong\n");
  return 0;
}
