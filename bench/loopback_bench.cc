// The machine's own cost of a small message over 127.0.0.1, and what a
// WebSocket layer adds to it: the floor under the server load benchmark
// (scripts/load-bench.sh), where every mutation and every round's reply is
// one such message. One thread sends fixed-size messages round-robin over
// 1,000 connections; another receives them, as a server's network thread
// does:
// - raw TCP (the baseline): send(2) on one side, epoll and recv(2) on the
//   other; nothing but the kernel;
// - WebSocket: Boost.Beast streams, a blocking masked write per message on
//   the client side and an Asio coroutine per connection reading whole
//   messages on the server side, as sqlsync-server reads.
// Runs are paced in 1 ms ticks (many clients, each sending now and then):
// the more messages per tick, the more each wake-up of a thread carries.
// Prints the process's CPU time (user + system) per message, the ratio to
// raw TCP at the same rate, and the cores used. No sqlsync code is involved.
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr int kConnections = 1000;     // as the load benchmark's clients
constexpr size_t kMessageBytes = 200;  // about a mutation frame
constexpr double kSecondsPerRun = 3;
// At 1,000/s each tick sends one message, so every message wakes both
// threads: what a message costs when nothing else is going on.
constexpr uint64_t kRates[] = {1'000, 10'000, 20'000, 40'000};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "loopback_bench: %s\n", what.c_str());
  std::exit(1);
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// One way of moving messages from the sending thread to a receiving thread
// that counts the payload bytes it got.
class Transport {
 public:
  virtual ~Transport() = default;
  // Sends one message on connection `index` (sending thread only).
  virtual void send(size_t index, const std::vector<char>& message) = 0;
  uint64_t received_bytes() const { return received_.load(); }

 protected:
  std::atomic<uint64_t> received_{0};
};

tcp::endpoint listen_on_loopback(tcp::acceptor& acceptor) {
  const tcp::endpoint any(net::ip::address_v4::loopback(), 0);
  acceptor.open(any.protocol());
  acceptor.bind(any);
  acceptor.listen(kConnections);
  return acceptor.local_endpoint();
}

class RawTcp final : public Transport {
 public:
  RawTcp() {
    tcp::acceptor acceptor(io_);
    const tcp::endpoint endpoint = listen_on_loopback(acceptor);
    epoll_ = epoll_create1(0);
    for (int i = 0; i < kConnections; ++i) {
      senders_.emplace_back(io_);
      senders_.back().connect(endpoint);
      senders_.back().set_option(tcp::no_delay(true));  // as the server and browsers do
      receivers_.push_back(acceptor.accept());
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.fd = receivers_.back().native_handle();
      if (epoll_ctl(epoll_, EPOLL_CTL_ADD, event.data.fd, &event) != 0) fail("epoll_ctl failed");
    }
    receiver_ = std::thread([this] {
      std::vector<char> buffer(1 << 16);
      epoll_event events[256];
      while (!stopping_.load()) {
        const int ready = epoll_wait(epoll_, events, 256, 10);
        for (int i = 0; i < ready; ++i) {
          const ssize_t got = recv(events[i].data.fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
          if (got > 0) received_ += static_cast<uint64_t>(got);
        }
      }
    });
  }
  ~RawTcp() override {
    stopping_ = true;
    receiver_.join();
    close(epoll_);
  }
  void send(size_t index, const std::vector<char>& message) override {
    if (::send(senders_[index].native_handle(), message.data(), message.size(), 0) !=
        static_cast<ssize_t>(message.size())) {
      fail("send failed");
    }
  }

 private:
  net::io_context io_;
  std::vector<tcp::socket> senders_;
  std::vector<tcp::socket> receivers_;
  int epoll_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread receiver_;
};

class BeastWebSocket final : public Transport {
 public:
  BeastWebSocket() {
    tcp::acceptor acceptor(server_io_);
    const tcp::endpoint endpoint = listen_on_loopback(acceptor);
    net::co_spawn(server_io_, accept_all(std::move(acceptor)), net::detached);
    server_ = std::thread([this] { server_io_.run(); });
    for (int i = 0; i < kConnections; ++i) {
      auto client = std::make_unique<websocket::stream<tcp::socket>>(client_io_);
      client->next_layer().connect(endpoint);
      client->next_layer().set_option(tcp::no_delay(true));
      client->handshake("127.0.0.1", "/");
      client->binary(true);
      clients_.push_back(std::move(client));
    }
  }
  ~BeastWebSocket() override {
    for (auto& client : clients_) {
      boost::system::error_code ignored;
      client->next_layer().close(ignored);
    }
    server_io_.stop();
    server_.join();
  }
  void send(size_t index, const std::vector<char>& message) override {
    clients_[index]->write(net::buffer(message));
  }

 private:
  net::awaitable<void> accept_all(tcp::acceptor acceptor) {
    for (int i = 0; i < kConnections; ++i) {
      auto [error, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
      if (error) fail("accept: " + error.message());
      net::co_spawn(server_io_, read_all(websocket::stream<tcp::socket>(std::move(socket))), net::detached);
    }
  }

  net::awaitable<void> read_all(websocket::stream<tcp::socket> ws) {
    auto [accept_error] = co_await ws.async_accept(net::as_tuple(net::use_awaitable));
    if (accept_error) fail("WebSocket accept: " + accept_error.message());
    beast::flat_buffer buffer;
    for (;;) {
      auto [error, read] = co_await ws.async_read(buffer, net::as_tuple(net::use_awaitable));
      if (error) co_return;
      received_ += read;
      buffer.consume(read);
    }
  }

  net::io_context server_io_{1};
  net::io_context client_io_;
  std::vector<std::unique_ptr<websocket::stream<tcp::socket>>> clients_;
  std::thread server_;
};

struct Figures {
  double cpu_micros_per_message = 0;
  double cores = 0;
};

// Sends for kSecondsPerRun at `rate` messages/s and waits until `transport`
// has received every byte.
Figures run(Transport& transport, uint64_t rate) {
  const std::vector<char> message(kMessageBytes, 'x');
  const uint64_t received_before = transport.received_bytes();
  const double cpu_before = cpu_seconds();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kSecondsPerRun));
  uint64_t messages = 0;
  // Each 1 ms tick sends what is due by then.
  for (auto tick = start; tick < end; tick += std::chrono::milliseconds(1)) {
    std::this_thread::sleep_until(tick);
    const double due = (std::chrono::duration<double>(tick - start).count() + 1e-3) * static_cast<double>(rate);
    for (; static_cast<double>(messages) < due; ++messages) transport.send(messages % kConnections, message);
  }
  while (transport.received_bytes() - received_before < messages * kMessageBytes) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = cpu_seconds() - cpu_before;
  return Figures{cpu / static_cast<double>(messages) * 1e6, cpu / seconds};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::printf(
        "Usage: loopback_bench\n\n"
        "Measures the CPU cost of one %zu-byte message over 127.0.0.1 across %d\n"
        "connections, paced at 1,000, 10,000, 20,000 and 40,000 messages/s (%.0f s each): over\n"
        "raw TCP (send, epoll, recv: the baseline), then as Boost.Beast WebSocket messages.\n",
        kMessageBytes, kConnections, kSecondsPerRun);
    return std::string(argv[1]) == "--help" ? 0 : 2;
  }
  std::printf("loopback_bench: %zu-byte messages over %d connections on 127.0.0.1, %.0f s per run\n", kMessageBytes,
              kConnections, kSecondsPerRun);
  std::vector<Figures> raw;
  {
    RawTcp transport;
    for (const uint64_t rate : kRates) {
      raw.push_back(run(transport, rate));
      std::printf("  raw TCP at %llu/s: %.1f us of CPU per message (baseline), %.2f cores\n",
                  static_cast<unsigned long long>(rate), raw.back().cpu_micros_per_message, raw.back().cores);
    }
  }
  BeastWebSocket transport;
  for (size_t i = 0; i < std::size(kRates); ++i) {
    const Figures figures = run(transport, kRates[i]);
    std::printf("  Beast WebSocket at %llu/s: %.1f us of CPU per message (%.2fx raw TCP), %.2f cores\n",
                static_cast<unsigned long long>(kRates[i]), figures.cpu_micros_per_message,
                figures.cpu_micros_per_message / raw[i].cpu_micros_per_message, figures.cores);
  }
  return 0;
}
