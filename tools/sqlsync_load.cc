// sqlsync-load: the load generator of scripts/load-bench.sh (issue 5). It
// opens N WebSocket clients over D documents of a running sqlsync-server;
// each client speaks the replication protocol itself (no local SQLite: the
// generator measures the server, not replicas), sends one mutation at a
// steady rate into its own timeline and acknowledges the storage frames it
// receives, as a replica would. A mutation counts as confirmed when the
// server acknowledges its LSN: the server sends that acknowledgement in the
// round that applied the mutation and made it durable.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "sqlsync/env.h"
#include "sync/protocol.h"

namespace sqlsync {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);

constexpr const char* kUsage =
    "Usage: sqlsync-load --server http://HOST:PORT --reducer FILE [flags]\n"
    "\n"
    "Runs N WebSocket clients over D documents against a running sqlsync-server;\n"
    "each sends mutations at a steady rate. Prints confirmed mutations per second,\n"
    "the latency from sending a mutation to the server's confirmation, and errors.\n"
    "\n"
    "  --server URL        the server (default http://127.0.0.1:8080)\n"
    "  --reducer FILE      reducer to upload; mutations are guestbook AddEntry\n"
    "                      objects, so use examples/guestbook/guestbook.sql or a\n"
    "                      reducer accepting them (required)\n"
    "  --clients N         WebSocket clients (default 1000)\n"
    "  --documents D       documents, clients spread evenly (default 100)\n"
    "  --rate R            mutations per second per client (default 25)\n"
    "  --seconds S         duration (default 60)\n"
    "  --threads T         I/O threads of the generator (default 2)\n"
    "  --token TOKEN       bearer token when the server has an auth secret\n"
    "  --deflate on|off    offer permessage-deflate, as browsers do (default on)\n"
    "  --help              print this help\n"
    "\n"
    "Exit status: 0 if every mutation was confirmed and no connection failed,\n"
    "1 otherwise, 2 on a usage error.\n";

// Frames a client may have unacknowledged: the protocol window.
constexpr uint64_t kWindow = 64;
// After the run, how long unconfirmed mutations may still be confirmed.
constexpr auto kDrain = std::chrono::seconds(10);

struct Flags {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string reducer_file;
  uint64_t clients = 1000;
  uint64_t documents = 100;
  double rate = 25;
  double seconds = 60;
  uint64_t threads = 2;
  std::string token;
  bool deflate = true;
};

// One confirmed mutation: when it was sent (ms since the run started) and
// how long its confirmation took.
struct Sample {
  uint32_t sent_ms = 0;
  uint32_t latency_micros = 0;
};

struct Totals {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> confirmed{0};
  std::atomic<uint64_t> throttled{0};  // ticks skipped because the window was full
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> closed_early{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::mutex mutex;
  std::vector<Sample> samples;
};

// One synchronous HTTP request (setup only).
Result<std::string> http_call(const Flags& flags, http::verb verb, const std::string& target, std::string body) {
  net::io_context io;
  beast::tcp_stream stream(io);
  tcp::resolver resolver(io);
  beast::error_code error;
  auto endpoints = resolver.resolve(flags.host, flags.port, error);
  if (!error) stream.connect(endpoints, error);
  if (error) return Status::io_error("connecting to " + flags.host + ":" + flags.port + ": " + error.message());
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, flags.host);
  if (!flags.token.empty()) request.set(http::field::authorization, "Bearer " + flags.token);
  request.body() = std::move(body);
  request.prepare_payload();
  http::write(stream, request, error);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  if (!error) http::read(stream, buffer, response, error);
  if (error) return Status::io_error(target + ": " + error.message());
  if (response.result_int() >= 300) {
    return Status::io_error(target + ": HTTP " + std::to_string(response.result_int()) + " " + response.body());
  }
  return response.body();
}

class LoadClient : public std::enable_shared_from_this<LoadClient> {
 public:
  // `io` must be run by one thread: the client's handlers need no strand.
  LoadClient(net::io_context& io, const Flags& flags, Totals& totals, std::string target, uint64_t seed)
      : flags_(flags), totals_(totals), target_(std::move(target)), rng_(seed), ws_(io.get_executor()) {
    std::array<uint8_t, JournalId::kSize> id{};
    for (uint8_t& byte : id) byte = static_cast<uint8_t>(rng_());
    timeline_ = JournalId(id);
    author_ = "c" + std::to_string(seed);
  }

  // The client's executor: run() must be spawned on it.
  net::any_io_executor executor() { return ws_.get_executor(); }

  net::awaitable<void> run(Clock::time_point start, Clock::time_point end) {
    start_ = start;
    auto self = shared_from_this();
    tcp::resolver resolver(ws_.get_executor());
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(flags_.host, flags_.port, kUseTuple);
    if (!resolve_error) {
      auto [connect_error, endpoint] = co_await beast::get_lowest_layer(ws_).async_connect(endpoints, kUseTuple);
      resolve_error = connect_error;
      boost::system::error_code ignored;
      beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);  // as browsers do
    }
    if (!resolve_error) {
      websocket::permessage_deflate deflate;
      deflate.client_enable = flags_.deflate;
      // Every message is compressed, as browsers do, at the level the server
      // uses: the generator shares the server's CPU, so it should cost little.
      deflate.compLevel = 1;
      ws_.set_option(deflate);
      auto [handshake_error] = co_await ws_.async_handshake(flags_.host + ":" + flags_.port, target_, kUseTuple);
      resolve_error = handshake_error;
    }
    if (resolve_error) {
      totals_.connect_failures.fetch_add(1);
      co_return;
    }
    send(encode_message(RangeRequest{timeline_, LsnRange::empty(0)}));
    net::co_spawn(ws_.get_executor(), [self]() { return self->read_loop(); }, net::detached);
    // Clients start spread over one period so the load is steady.
    net::steady_timer timer(ws_.get_executor());
    const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / flags_.rate));
    auto next = start + std::chrono::duration_cast<Clock::duration>(period * (static_cast<double>(rng_() % 1000) / 1000));
    while (next < end && !closed_) {
      timer.expires_at(next);
      co_await timer.async_wait(kUseTuple);
      next += period;
      if (closed_) break;
      if (!replied_ || next_lsn_ - acked_ >= kWindow) {
        totals_.throttled.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      send_mutation();
    }
    const auto drain_end = Clock::now() + kDrain;
    while (acked_ < next_lsn_ && !closed_ && Clock::now() < drain_end) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(kUseTuple);
    }
    finished_ = true;
    if (!closed_) co_await ws_.async_close(websocket::close_code::normal, kUseTuple);
    std::lock_guard<std::mutex> lock(totals_.mutex);
    totals_.samples.insert(totals_.samples.end(), samples_.begin(), samples_.end());
  }

 private:
  void send_mutation() {
    const nlohmann::json mutation = {{"tag", "AddEntry"},
                                     {"id", author_ + "-" + std::to_string(next_lsn_)},
                                     {"author", author_},
                                     {"message", "load"},
                                     {"at", next_lsn_}};
    const std::string text = mutation.dump();
    sent_at_.push_back(Clock::now());
    send(encode_message(FrameMessage{timeline_, next_lsn_, 0, Bytes(text.begin(), text.end())}));
    ++next_lsn_;
    totals_.sent.fetch_add(1, std::memory_order_relaxed);
  }

  void handle(const Message& message) {
    if (const auto* request = std::get_if<RangeRequest>(&message)) {
      // A storage log. At the start this client holds nothing and takes all
      // of it. A log announced later is the new log of a compaction: a
      // replica that follows the old log builds the new log's snapshot from
      // its own pages and takes only what follows the snapshot
      // (docs/protocol.md, "Log compaction"); this client, which keeps no
      // pages, answers as such a replica does, without the work.
      const Lsn first = request->source_range.first();
      const bool has_snapshot = !logs_.empty() && !request->source_range.is_empty();
      const Lsn next = has_snapshot ? first + 1 : first;
      logs_[request->journal] = LogState{first, next, 0};
      send(encode_message(RangeReply{request->journal, LsnRange::half_open(first, next)}));
    } else if (const auto& reply = std::get<RangeReply>(message); reply.journal == timeline_) {
      replied_ = true;
      const auto now = Clock::now();
      while (acked_ < reply.range.next() && acked_ < next_lsn_) {
        const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - sent_at_.front());
        const auto sent = std::chrono::duration_cast<std::chrono::milliseconds>(sent_at_.front() - start_);
        samples_.push_back(Sample{static_cast<uint32_t>(sent.count()), static_cast<uint32_t>(latency.count())});
        sent_at_.pop_front();
        ++acked_;
        totals_.confirmed.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  void handle_frame(const JournalId& journal, Lsn lsn) {
    LogState& log = logs_[journal];
    log.next = lsn + 1;
    // As a replica does (ReplicationSession::Options::acknowledge_each_burst
    // off): every half window, whatever the frames hint says.
    if (++log.unacknowledged >= kWindow / 2) {
      log.unacknowledged = 0;
      send(encode_message(RangeReply{journal, LsnRange::half_open(log.first, log.next)}));
    }
  }

  // Storage frames are only acknowledged: their header is read in place
  // (docs/protocol.md, Frame) instead of checking and copying pages the
  // generator never uses, so the generator's CPU goes to the load.
  bool handle_frame_header(ByteView bytes) {
    constexpr size_t kHeaderEnd = 2 + JournalId::kSize + 8;
    if (bytes.size() < kHeaderEnd || bytes[0] != kProtocolVersion ||
        bytes[kTypeOffset] != static_cast<uint8_t>(MessageType::kFrame)) {
      return false;
    }
    Decoder decoder(bytes.subspan(2), StatusCode::kInvalidArgument, "frame");
    Result<JournalId> journal = decoder.journal_id();
    Result<uint64_t> lsn = decoder.u64();
    if (!journal.is_ok() || !lsn.is_ok()) return false;
    handle_frame(*journal, *lsn);
    return true;
  }

  net::awaitable<void> read_loop() {
    auto self = shared_from_this();
    beast::flat_buffer buffer;
    for (;;) {
      auto [error, read] = co_await ws_.async_read(buffer, kUseTuple);
      if (error) break;
      const auto data = buffer.cdata();
      Result<std::vector<ByteView>> messages =
          split_batch(ByteView(static_cast<const uint8_t*>(data.data()), data.size()));
      if (!messages.is_ok()) {
        totals_.protocol_errors.fetch_add(1);
      } else {
        for (ByteView bytes : *messages) {
          if (handle_frame_header(bytes)) continue;
          Result<Message> message = decode_message(bytes);
          if (!message.is_ok()) {
            totals_.protocol_errors.fetch_add(1);
            continue;
          }
          handle(*message);
        }
      }
      buffer.consume(buffer.size());
    }
    if (!finished_) totals_.closed_early.fetch_add(1);
    closed_ = true;
  }

  // Queues `message`; one write at a time, each started by the last one's
  // completion (a plain handler: the generator's CPU should go to the load).
  void send(Bytes message) {
    queue_.push_back(std::move(message));
    if (!writing_) write_next();
  }

  void write_next() {
    writing_ = !queue_.empty() && !closed_;
    if (!writing_) {
      queue_.clear();
      return;
    }
    ws_.binary(true);
    ws_.async_write(net::buffer(queue_.front()),
                    [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                      self->queue_.pop_front();
                      if (error) self->queue_.clear();  // the read loop sees the connection end
                      self->write_next();
                    });
  }

  const Flags& flags_;
  Totals& totals_;
  const std::string target_;
  std::mt19937_64 rng_;
  websocket::stream<beast::tcp_stream> ws_;
  JournalId timeline_;
  std::string author_;
  // What this client holds of each storage log the server sends.
  struct LogState {
    Lsn first = 0;
    Lsn next = 0;
    uint64_t unacknowledged = 0;
  };
  std::map<JournalId, LogState> logs_;
  Lsn next_lsn_ = 0;
  Lsn acked_ = 0;
  bool replied_ = false;
  bool closed_ = false;
  bool finished_ = false;
  std::deque<Clock::time_point> sent_at_;
  std::vector<Sample> samples_;
  Clock::time_point start_;  // of the run
  std::deque<Bytes> queue_;
  bool writing_ = false;
};

bool parse_flags(int argc, char** argv, Flags& flags, int& exit_status) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      exit_status = 0;
      return false;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "sqlsync-load: %s needs a value\n\n%s", flag.c_str(), kUsage);
      exit_status = 2;
      return false;
    }
    const std::string value = argv[++i];
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    const bool numeric = end != value.c_str() && *end == '\0' && number > 0;
    if (flag == "--server") {
      const std::string prefix = "http://";
      const size_t colon = value.rfind(':');
      if (value.compare(0, prefix.size(), prefix) != 0 || colon < prefix.size()) {
        std::fprintf(stderr, "sqlsync-load: --server must look like http://HOST:PORT\n");
        exit_status = 2;
        return false;
      }
      flags.host = value.substr(prefix.size(), colon - prefix.size());
      flags.port = value.substr(colon + 1);
      while (!flags.port.empty() && flags.port.back() == '/') flags.port.pop_back();
    } else if (flag == "--reducer") {
      flags.reducer_file = value;
    } else if (flag == "--token") {
      flags.token = value;
    } else if (flag == "--deflate" && (value == "on" || value == "off")) {
      flags.deflate = value == "on";
    } else if (numeric && flag == "--clients") {
      flags.clients = static_cast<uint64_t>(number);
    } else if (numeric && flag == "--documents") {
      flags.documents = static_cast<uint64_t>(number);
    } else if (numeric && flag == "--rate") {
      flags.rate = number;
    } else if (numeric && flag == "--seconds") {
      flags.seconds = number;
    } else if (numeric && flag == "--threads") {
      flags.threads = static_cast<uint64_t>(number);
    } else {
      std::fprintf(stderr, "sqlsync-load: bad argument %s %s\n\n%s", flag.c_str(), value.c_str(), kUsage);
      exit_status = 2;
      return false;
    }
  }
  if (flags.reducer_file.empty()) {
    std::fprintf(stderr, "sqlsync-load: --reducer FILE is required\n\n%s", kUsage);
    exit_status = 2;
    return false;
  }
  return true;
}

int run(const Flags& flags) {
  Result<Bytes> reducer = Env::posix()->read_file(flags.reducer_file);
  if (!reducer.is_ok()) {
    std::fprintf(stderr, "sqlsync-load: %s\n", reducer.status().to_string().c_str());
    return 2;
  }
  Result<std::string> pushed = http_call(flags, http::verb::put, "/reducers", std::string(as_text(*reducer)));
  if (!pushed.is_ok()) {
    std::fprintf(stderr, "sqlsync-load: uploading the reducer: %s\n", pushed.status().to_string().c_str());
    return 1;
  }
  const std::string digest = nlohmann::json::parse(*pushed, nullptr, false).value("digest", "");
  std::vector<std::string> documents;
  for (uint64_t i = 0; i < flags.documents; ++i) {
    Result<std::string> created = http_call(
        flags, http::verb::post, "/docs?name=load-" + std::to_string(i) + "&reducer=" + digest, "");
    if (!created.is_ok()) {
      std::fprintf(stderr, "sqlsync-load: creating document %llu: %s\n", static_cast<unsigned long long>(i),
                   created.status().to_string().c_str());
      return 1;
    }
    documents.push_back(nlohmann::json::parse(*created, nullptr, false).value("id", ""));
  }
  std::printf("sqlsync-load: %llu clients over %llu documents, %g mutations/s each (%g/s offered) for %g s\n",
              static_cast<unsigned long long>(flags.clients), static_cast<unsigned long long>(flags.documents),
              flags.rate, flags.rate * static_cast<double>(flags.clients), flags.seconds);
  std::fflush(stdout);

  // One io_context per thread, each client on one of them: no strands or
  // locks between the generator's threads.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  for (uint64_t i = 0; i < flags.threads; ++i) contexts.push_back(std::make_unique<net::io_context>(1));
  Totals totals;
  const auto start = Clock::now() + std::chrono::seconds(2);  // connections first
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(flags.seconds));
  std::string token_query = flags.token.empty() ? "" : "&token=" + flags.token;
  for (uint64_t i = 0; i < flags.clients; ++i) {
    const std::string target = "/docs/" + documents[i % documents.size()] + "/sync?reducer=" + digest + token_query;
    auto client = std::make_shared<LoadClient>(*contexts[i % contexts.size()], flags, totals, target, i + 1);
    net::co_spawn(client->executor(), [client, start, end]() { return client->run(start, end); }, net::detached);
  }
  std::vector<std::thread> threads;
  for (auto& io : contexts) threads.emplace_back([&io] { io->run(); });
  // Progress every 5 s, so long runs show they are alive.
  uint64_t last = 0;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::seconds(5));
    const uint64_t confirmed = totals.confirmed.load();
    std::printf("  ... %llu confirmed (%llu/s over the last 5 s)\n", static_cast<unsigned long long>(confirmed),
                static_cast<unsigned long long>((confirmed - last) / 5));
    std::fflush(stdout);
    last = confirmed;
  }
  for (std::thread& thread : threads) thread.join();

  // In ms; sorts `latencies`.
  auto percentile = [](std::vector<uint32_t>& latencies, double p) {
    if (latencies.empty()) return 0.0;
    std::sort(latencies.begin(), latencies.end());
    const size_t index = std::min(latencies.size() - 1, static_cast<size_t>(p * static_cast<double>(latencies.size())));
    return latencies[index] / 1000.0;
  };
  std::vector<uint32_t> latencies;
  // Per 5 s of sending: shows a warm-up or a stall apart from the steady state.
  std::vector<std::vector<uint32_t>> by_window(static_cast<size_t>((flags.seconds + 4) / 5));
  // Confirmations go on after sending ends when the server is behind: the
  // rate is over the time until the last one, not over the sending time.
  double confirming_seconds = flags.seconds;
  for (const Sample& sample : totals.samples) {
    latencies.push_back(sample.latency_micros);
    by_window[std::min<size_t>(by_window.size() - 1, sample.sent_ms / 5000)].push_back(sample.latency_micros);
    confirming_seconds = std::max(confirming_seconds, sample.sent_ms / 1e3 + sample.latency_micros / 1e6);
  }
  const uint64_t sent = totals.sent.load();
  const uint64_t confirmed = totals.confirmed.load();
  const uint64_t errors = totals.connect_failures.load() + totals.closed_early.load() + totals.protocol_errors.load() +
                          (sent - confirmed);
  std::printf("confirmed %llu of %llu mutations in %.1f s: %.0f mutations/s\n",
              static_cast<unsigned long long>(confirmed), static_cast<unsigned long long>(sent), confirming_seconds,
              static_cast<double>(confirmed) / confirming_seconds);
  const double p50 = percentile(latencies, 0.50);
  std::printf("latency mutate -> confirmation: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", p50,
              percentile(latencies, 0.99), latencies.empty() ? 0.0 : latencies.back() / 1000.0);
  std::printf("p99 by time sent:");
  for (size_t i = 0; i < by_window.size(); ++i) {
    std::printf(" %zu-%zu s %.0f ms;", i * 5, i * 5 + 5, percentile(by_window[i], 0.99));
  }
  std::printf("\n");
  std::printf("errors: %llu (connections failed %llu, closed early %llu, undecodable messages %llu, unconfirmed %llu); "
              "%llu ticks skipped with a full window\n",
              static_cast<unsigned long long>(errors), static_cast<unsigned long long>(totals.connect_failures.load()),
              static_cast<unsigned long long>(totals.closed_early.load()),
              static_cast<unsigned long long>(totals.protocol_errors.load()),
              static_cast<unsigned long long>(sent - confirmed), static_cast<unsigned long long>(totals.throttled.load()));
  // The generator shares the machine with the server: when the two together
  // use every core, its own lag is part of the latency (docs/server.md).
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("generator CPU time: %.1f s (user + system, whole run)\n",
              static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                  static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6);
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sqlsync

int main(int argc, char** argv) {
  sqlsync::Flags flags;
  int exit_status = 0;
  if (!sqlsync::parse_flags(argc, argv, flags, exit_status)) return exit_status;
  return sqlsync::run(flags);
}
