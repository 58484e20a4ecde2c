// SPDX-License-Identifier: Apache-2.0
// TLS front: see tls_front.hpp.
#include "support/tls_front.hpp"

#include <asio/connect.hpp>
#include <asio/write.hpp>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "uplink/net/stream.hpp"
#include "uplink/tls/tls_engine.hpp"
#include "uplink/tls/tls_stream.hpp"

namespace uplink::test {
namespace {
using asio::ip::tcp;
using Acceptor = asio::basic_socket_acceptor<tcp, net::Executor>;
}

class TlsFront::Impl : public std::enable_shared_from_this<TlsFront::Impl> {
 public:
  Impl(asio::io_context& io, const tls::TlsConfig& config, std::uint16_t upstream)
      : io_(io),
        config_(config),
        acceptor_(io.get_executor(), tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
        upstream_(upstream) {}

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
  Acceptor acceptor_;
  std::uint16_t upstream_;
  std::size_t handshakes_ = 0;
  std::size_t failures_ = 0;
  bool mute_ = false;
  bool stopped_ = false;
  const char* junk_ = nullptr;
  std::vector<std::weak_ptr<Conn>> conns_;
  // Sockets kept open without reading: mute or junk connections, and those
  // whose handshake failed (see Conn::handshake).
  std::vector<std::shared_ptr<net::TcpSocket>> muted_;
};

// One device connection: TLS terminated by the SDK's TlsStream (the same
// layer the client and the reference server use), plaintext forwarded.
class TlsFront::Impl::Conn : public std::enable_shared_from_this<Conn>, private net::StreamHandler {
 public:
  Conn(std::shared_ptr<Impl> front, net::TcpSocket down)
      : front_(std::move(front)), down_(std::move(down)), up_(front_->io_), stream_(engine_) {}

  void start() {
    auto self = shared_from_this();
    up_.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), front_->upstream_),
                      [self](const asio::error_code& e) {
                        if (e) return self->close();
                        if (self->engine_.setup(self->front_->config_, nullptr)) return self->close();
                        self->stream_.async_open(self->down_, *self, 0, self);
                      });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    stream_.close({});
    asio::error_code ignored;
    down_.close(ignored);
    up_.close(ignored);
  }

 private:
  void on_stream_open(std::uint32_t, std::error_code error) override {
    if (closed_) return;
    if (!error) {
      ++front_->handshakes_;
      read_down();
      read_up();
      return;
    }
    ++front_->failures_;
    // End like a careful server: stop sending (after any alert) but keep the
    // socket. Closing it with the client's unread flight in the receive
    // buffer would send a RST, which can overtake the alert and turn the
    // client's reason into a reset, a race a test cannot assert on.
    asio::error_code ignored;
    down_.shutdown(tcp::socket::shutdown_send, ignored);
    front_->muted_.push_back(std::make_shared<net::TcpSocket>(std::move(down_)));
    close();
  }

  // Device -> server: decrypted, then forwarded in order.
  void read_down() { stream_.async_read_some(ByteSpan{down_buf_, sizeof down_buf_}); }

  void on_stream_read(std::uint32_t, std::error_code error, std::size_t bytes) override {
    if (error || closed_) return close();
    to_up_.push_back(std::string(reinterpret_cast<const char*>(down_buf_), bytes));
    flush_up();
    read_down();
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

  // Server -> device: encrypted; the span in flight stays put until written.
  void read_up() {
    auto self = shared_from_this();
    up_.async_read_some(asio::buffer(up_buf_), [self](const asio::error_code& e, std::size_t n) {
      if (e) return self->close();
      self->to_down_.append(reinterpret_cast<const char*>(self->up_buf_), n);
      self->write_down();
      self->read_up();
    });
  }

  void write_down() {
    if (down_writing_ || closed_) return;
    if (written_ == in_flight_.size()) {
      if (to_down_.empty()) return;
      in_flight_.swap(to_down_);
      to_down_.clear();
      written_ = 0;
    }
    down_writing_ = true;
    stream_.async_write_some(ConstByteSpan{in_flight_.data() + written_, in_flight_.size() - written_});
  }

  void on_stream_written(std::uint32_t, std::error_code error, std::size_t bytes) override {
    down_writing_ = false;
    if (error || closed_) return close();
    written_ += bytes;
    write_down();
  }

  std::shared_ptr<Impl> front_;
  net::TcpSocket down_;
  tcp::socket up_;
  tls::TlsEngine engine_;
  tls::TlsStream stream_;
  std::uint8_t down_buf_[2048] = {};
  std::uint8_t up_buf_[2048] = {};
  std::deque<std::string> to_up_;
  std::string to_down_;
  std::string in_flight_;  // being written to the device; to_down_ collects what follows
  std::size_t written_ = 0;
  bool up_writing_ = false;
  bool down_writing_ = false;
  bool closed_ = false;
};

void TlsFront::Impl::accept() {
  auto self = shared_from_this();
  acceptor_.async_accept([self](const asio::error_code& e, net::TcpSocket socket) {
    if (e || self->stopped_) return;
    if (self->junk_ != nullptr) {
      auto held = std::make_shared<net::TcpSocket>(std::move(socket));
      asio::error_code ignored;
      asio::write(*held, asio::buffer(self->junk_, std::strlen(self->junk_)), ignored);
      self->muted_.push_back(held);
    } else if (self->mute_) {
      // Keep the socket open and never read: a server that speaks TCP only.
      self->muted_.push_back(std::make_shared<net::TcpSocket>(std::move(socket)));
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
