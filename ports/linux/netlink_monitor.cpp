// SPDX-License-Identifier: Apache-2.0
// Network-change monitor on Linux: an rtnetlink socket subscribed to link
// and address groups, read through Asio. Only "something changed" matters,
// so messages are looked at for their type and nothing else.
#include "uplink/port/linux/netlink_monitor.hpp"

#include <asio/bind_allocator.hpp>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace uplink::port {

NetlinkMonitor::NetlinkMonitor(asio::io_context& io, Callback on_change, void* context)
    : descriptor_(io.get_executor()), on_change_(on_change), context_(context) {}

NetlinkMonitor::~NetlinkMonitor() { stop(); }

std::error_code NetlinkMonitor::start() {
  if (descriptor_.is_open()) return {};
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) return {errno, std::generic_category()};
  sockaddr_nl address{};
  address.nl_family = AF_NETLINK;
  address.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    return {error, std::generic_category()};
  }
  asio::error_code error;
  descriptor_.assign(fd, error);
  if (error) {
    ::close(fd);
    return {error.value(), std::system_category()};
  }
  start_read();
  return {};
}

void NetlinkMonitor::stop() {
  asio::error_code ignored;
  descriptor_.close(ignored);
}

void NetlinkMonitor::start_read() {
  reading_ = true;
  // One burst of netlink messages arrives per read; a burst is one report.
  descriptor_.async_read_some(asio::buffer(buffer_),
                              asio::bind_allocator(detail::HandlerAllocator<int, Memory>(memory_),
                                                   [this](const asio::error_code& error, std::size_t size) {
                                                     handle_read(error, size);
                                                   }));
}

void NetlinkMonitor::handle_read(const asio::error_code& error, std::size_t size) {
  reading_ = false;
  if (error) return;  // closed by stop(), or the socket failed: stop reporting
  bool relevant = false;
  const auto* header = reinterpret_cast<const nlmsghdr*>(buffer_);
  // NLMSG_OK/NEXT take an int length and work on it in place.
  int left = static_cast<int>(size);
  for (; NLMSG_OK(header, static_cast<unsigned>(left)); header = NLMSG_NEXT(header, left)) {
    const auto type = header->nlmsg_type;
    relevant = relevant || type == RTM_NEWLINK || type == RTM_DELLINK || type == RTM_NEWADDR || type == RTM_DELADDR;
  }
  if (relevant) {
    ++changes_;
    on_change_(context_);
  }
  start_read();
}

}  // namespace uplink::port
