// SPDX-License-Identifier: Apache-2.0
// TLS front: see tls_front.hpp.
#include "support/tls_front.hpp"

#include <asio/connect.hpp>
#include <asio/write.hpp>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "uplink/tls/fd_transport.hpp"
#include "uplink/tls/tls_engine.hpp"

namespace uplink::test {
namespace {
using asio::ip::tcp;
}

class TlsFront::Impl : public std::enable_shared_from_this<TlsFront::Impl> {
 public:
  Impl(asio::io_context& io, const tls::TlsConfig& config, std::uint16_t upstream)
      : io_(io), config_(config), acceptor_(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)), upstream_(upstream) {}

  void start() { accept(); }
  void stop() {
    stopped_ = true;
    asio::error_code ignored;
    acceptor_.close(ignored);
  }

  class Conn;

  void accept();

  asio::io_context& io_;
  const tls::TlsConfig& config_;
  tcp::acceptor acceptor_;
  std::uint16_t upstream_;
  std::size_t handshakes_ = 0;
  std::size_t failures_ = 0;
  bool mute_ = false;
  bool stopped_ = false;
  const char* junk_ = nullptr;
  std::vector<std::weak_ptr<Conn>> conns_;
  // Sockets kept open without reading: mute or junk connections, and those
  // whose handshake failed (see Conn::handshake).
  std::vector<std::shared_ptr<tcp::socket>> muted_;
};

class TlsFront::Impl::Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(std::shared_ptr<Impl> front, tcp::socket down)
      : front_(std::move(front)), down_(std::move(down)), up_(front_->io_) {}

  void start() {
    auto self = shared_from_this();
    up_.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), front_->upstream_),
                      [self](const asio::error_code& e) {
                        if (e) return self->close();
                        self->begin_tls();
                      });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ignored;
    down_.close(ignored);
    up_.close(ignored);
  }

 private:
  void begin_tls() {
    asio::error_code ignored;
    down_.non_blocking(true, ignored);
    if (engine_.setup(front_->config_, nullptr)) return close();
    engine_.set_transport(tls::fd_transport(down_.native_handle()));
    handshake();
  }

  void wait(bool for_write, void (Conn::*next)()) {
    auto self = shared_from_this();
    down_.async_wait(for_write ? tcp::socket::wait_write : tcp::socket::wait_read,
                     [self, next](const asio::error_code& e) {
                       if (e || self->closed_) return self->close();
                       ((*self).*next)();
                     });
  }

  void handshake() {
    const tls::TlsResult r = engine_.handshake_step();
    if (r.ok()) {
      ++front_->handshakes_;
      read_down();
      read_up();
      return;
    }
    if (r.wants_io()) return wait(r.status == tls::TlsStatus::want_write, &Conn::handshake);
    ++front_->failures_;
    // End like a careful server: stop sending (after any alert) but keep the
    // socket. Closing it with the client's unread flight in the receive
    // buffer would send a RST, which can overtake the alert and turn the
    // client's reason into a reset, a race a test cannot assert on.
    asio::error_code ignored;
    down_.shutdown(tcp::socket::shutdown_send, ignored);
    front_->muted_.push_back(std::make_shared<tcp::socket>(std::move(down_)));
    close();
  }

  // Device -> server: decrypt, then forward in order.
  void read_down() {
    for (;;) {
      const tls::TlsResult r = engine_.read(ByteSpan{down_buf_, sizeof down_buf_});
      if (r.ok()) {
        to_up_.push_back(std::string(reinterpret_cast<const char*>(down_buf_), r.bytes));
        flush_up();
        continue;
      }
      if (r.wants_io()) return wait(r.status == tls::TlsStatus::want_write, &Conn::read_down);
      return close();
    }
  }

  void flush_up() {
    if (up_writing_ || to_up_.empty() || closed_) return;
    up_writing_ = true;
    auto self = shared_from_this();
    asio::async_write(up_, asio::buffer(to_up_.front()), [self](const asio::error_code& e, std::size_t) {
      self->up_writing_ = false;
      if (e) return self->close();
      self->to_up_.pop_front();
      self->flush_up();
    });
  }

  // Server -> device: encrypt with the pinned-write rule.
  void read_up() {
    auto self = shared_from_this();
    up_.async_read_some(asio::buffer(up_buf_), [self](const asio::error_code& e, std::size_t n) {
      if (e) return self->close();
      self->to_down_.append(reinterpret_cast<const char*>(self->up_buf_), n);
      if (!self->down_writing_) self->write_down();
      self->read_up();
    });
  }

  void write_down() {
    while (!to_down_.empty()) {
      // Pinned: the same pointer and size until the write completes.
      if (!down_writing_) pinned_.assign(to_down_.begin(), to_down_.end());
      down_writing_ = true;
      const tls::TlsResult r = engine_.write(ConstByteSpan{pinned_.data(), pinned_.size()});
      if (r.ok()) {
        down_writing_ = false;
        to_down_.erase(0, r.bytes);
        continue;
      }
      if (r.wants_io()) return wait(r.status == tls::TlsStatus::want_write, &Conn::write_down);
      return close();
    }
  }

  std::shared_ptr<Impl> front_;
  tcp::socket down_;
  tcp::socket up_;
  tls::TlsEngine engine_;
  std::uint8_t down_buf_[2048] = {};
  std::uint8_t up_buf_[2048] = {};
  std::deque<std::string> to_up_;
  std::string to_down_;
  std::string pinned_;
  bool up_writing_ = false;
  bool down_writing_ = false;
  bool closed_ = false;
};

void TlsFront::Impl::accept() {
  auto self = shared_from_this();
  acceptor_.async_accept([self](const asio::error_code& e, tcp::socket socket) {
    if (e || self->stopped_) return;
    if (self->junk_ != nullptr) {
      auto held = std::make_shared<tcp::socket>(std::move(socket));
      asio::error_code ignored;
      asio::write(*held, asio::buffer(self->junk_, std::strlen(self->junk_)), ignored);
      self->muted_.push_back(held);
    } else if (self->mute_) {
      // Keep the socket open and never read: a server that speaks TCP only.
      self->muted_.push_back(std::make_shared<tcp::socket>(std::move(socket)));
    } else {
      auto conn = std::make_shared<Conn>(self, std::move(socket));
      self->conns_.push_back(conn);
      conn->start();
    }
    self->accept();
  });
}

TlsFront::TlsFront(asio::io_context& io, const tls::TlsConfig& server_config, std::uint16_t upstream_port)
    : impl_(std::make_shared<Impl>(io, server_config, upstream_port)) {
  impl_->start();
}

TlsFront::~TlsFront() {
  impl_->stop();
  for (auto& weak : impl_->conns_) {
    if (auto c = weak.lock()) c->close();
  }
  impl_->muted_.clear();
}

std::uint16_t TlsFront::port() const { return impl_->acceptor_.local_endpoint().port(); }
std::size_t TlsFront::handshakes() const { return impl_->handshakes_; }
std::size_t TlsFront::failures() const { return impl_->failures_; }
void TlsFront::set_mute(bool mute) { impl_->mute_ = mute; }
void TlsFront::set_junk(const char* junk) { impl_->junk_ = junk; }

}  // namespace uplink::test
