// The only translation unit of the server that includes Boost.Beast/Asio:
// listener, HTTP routing, WebSocket connections and document actors.
#include "server/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "server/auth.h"
#include "server/data_directory.h"
#include "server/document_host.h"
#include "server/http_util.h"
#include "server/log.h"

namespace sqlsync {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Json = nlohmann::json;
using Strand = net::strand<net::io_context::executor_type>;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using ConnectionId = DocumentHost::ConnectionId;

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);

constexpr size_t kMaxHeaderBytes = 16 << 10;
constexpr uint64_t kMaxApiBodyBytes = 64 << 10;  // every body but a reducer upload
constexpr auto kRequestTimeout = std::chrono::seconds(30);
constexpr auto kShutdownGrace = std::chrono::seconds(5);
constexpr size_t kReadChunkBytes = 64 << 10;
// A WebSocket close reason is at most 123 bytes (RFC 6455 section 5.5).
constexpr size_t kMaxCloseReasonBytes = 123;
constexpr uint64_t kInboxTruncationIntervalMicros = 10'000'000;
// No-op acknowledgements fall due this long after their mutation applied;
// the round timer fires a little later so they are due when it checks.
const auto kRoundTimerDelay =
    std::chrono::microseconds(CoordinatorDocument::Options{}.noop_ack_delay_micros) + std::chrono::milliseconds(5);

uint64_t now_micros() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// Completion handler of detached coroutines: an exception escaping one
// (only allocation failures and the like: I/O errors are values here) is
// logged instead of tearing down the I/O thread.
auto log_failure(const char* what) {
  return [what](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      log_error(std::string(what) + " failed: " + error.what());
    }
  };
}

// Runs `f` on `strand` and resumes the caller (on its own executor) with
// f's result. `f` should capture by reference only: GCC 12 may destroy a
// coroutine argument's temporary twice (see Routed).
template <typename F>
net::awaitable<std::invoke_result_t<F&>> run_on(Strand& strand, F f) {
  std::optional<std::invoke_result_t<F&>> result;
  co_await net::co_spawn(
      strand, [&]() -> net::awaitable<void> { result.emplace(f()); co_return; }, net::use_awaitable);
  co_return std::move(*result);
}

std::string truncate_reason(std::string reason) {
  if (reason.size() > kMaxCloseReasonBytes) reason.resize(kMaxCloseReasonBytes);
  return reason;
}

struct Hub;
class DocumentActor;

// One WebSocket sync connection: a read loop feeding its document actor and
// a write queue drained by one writer at a time, both on the connection's
// strand (the executor of its socket).
class SyncConnection : public std::enable_shared_from_this<SyncConnection> {
 public:
  using Stream = websocket::stream<beast::tcp_stream>;

  SyncConnection(Hub& hub, Stream stream, ConnectionId id, std::shared_ptr<DocumentActor> actor, bool can_write)
      : hub_(hub), ws_(std::move(stream)), id_(id), actor_(std::move(actor)), can_write_(can_write) {}

  ConnectionId id() const { return id_; }
  bool can_write() const { return can_write_; }

  // Queues messages, in order; dropped once the connection is closing.
  // Thread-safe; runs at once on a network thread whose strand is free,
  // else one hop to the connection's strand for all of them.
  void send(std::vector<Bytes> messages);
  // Sends what is queued, then closes with `code` and `reason`. Thread-safe.
  void close(websocket::close_code code, std::string reason);
  // The actor took one of this connection's messages off its inbox.
  void message_processed() { waiting_.fetch_sub(1, std::memory_order_relaxed); }

  // Reads until the connection ends, then detaches from the actor.
  net::awaitable<void> read_loop();

 private:
  struct CloseRequest {
    websocket::close_code code;
    std::string reason;
  };
  using Item = std::variant<Bytes, CloseRequest>;
  struct Queued {
    Item item;
    uint64_t queued_at;  // now_micros()
  };

  void enqueue(Item item);
  net::awaitable<void> write_loop();
  // Closes for a fault of the peer found while reading.
  void fail(websocket::close_code code, std::string reason);

  Hub& hub_;
  Stream ws_;
  const ConnectionId id_;
  const std::shared_ptr<DocumentActor> actor_;
  const bool can_write_;
  // Strand-only state.
  std::deque<Queued> queue_;
  bool writing_ = false;
  bool closing_ = false;
  // Messages handed to the actor and not yet processed (any thread).
  std::atomic<uint64_t> waiting_{0};
};

struct DocumentInfo {
  JournalId id;
  std::string reducer;
  uint32_t schema_version = 0;
  JournalId storage_log;  // the document's id until its first compaction
  LsnRange storage_range;
  bool created = false;
};

struct OpenRequest {
  std::optional<std::string> reducer;  // the reducer the caller runs, if it said
  bool create = false;                 // materialize an unknown document bound to `reducer`
};

// One document: its DocumentHost (loaded on demand, unloaded when idle), its
// connections and the inbox of their messages. Everything but the atomics
// and the inbox (under its mutex) is touched only on strand_.
class DocumentActor : public std::enable_shared_from_this<DocumentActor> {
 public:
  DocumentActor(Hub& hub, JournalId id);

  Strand& strand() { return strand_; }
  bool loaded() const { return loaded_.load(std::memory_order_relaxed); }
  size_t connection_count() const { return connection_count_.load(std::memory_order_relaxed); }
  uint64_t last_used() const { return last_used_.load(std::memory_order_relaxed); }
  // Queues a message of `connection` for the next round. Thread-safe: the
  // network threads call it directly, and only the first message since the
  // last round started costs a hop to the strand.
  void deliver(std::shared_ptr<SyncConnection> connection, Bytes message);

  // --- strand only ---
  // Loads (or creates, or upgrades) the document as `request` says.
  Result<DocumentInfo> open(const OpenRequest& request);
  Result<QueryResult> query(const std::string& sql);
  void attach(const std::shared_ptr<SyncConnection>& connection);
  void detach(ConnectionId id);
  void unload_if_idle();
  // Last durable round, then closes every connection with 1001 for good.
  void shutdown();

 private:
  Status load(const DocumentRecord& record);
  DocumentInfo info(bool created) const;
  void run_round();
  void arm_timer();
  bool idle() const;
  void release_if_over_limit();
  void unload();
  void fail(const Status& status);

  Hub& hub_;
  const JournalId id_;
  Strand strand_;
  // On the network threads: hands each round's messages to the connections
  // in round order (a plain post per round could run two rounds' hand-offs
  // on two threads at once and swap a connection's frames).
  Strand send_strand_;
  net::steady_timer timer_;
  std::unique_ptr<DocumentHost> host_;
  std::string reducer_digest_;
  std::map<ConnectionId, std::shared_ptr<SyncConnection>> connections_;
  // Messages for the next round, and whether it is posted; any thread, under
  // inbox_mutex_.
  mutable std::mutex inbox_mutex_;
  struct Received {
    std::shared_ptr<SyncConnection> connection;
    Bytes message;
    uint64_t received_at;  // now_micros()
  };
  std::vector<Received> inbox_;
  bool round_scheduled_ = false;
  bool timer_armed_ = false;
  bool stopping_ = false;
  std::atomic<bool> loaded_{false};
  std::atomic<size_t> connection_count_{0};
  std::atomic<uint64_t> last_used_{0};
};

// State shared by every connection and document of one server. Members are
// declared so that the io_context goes before everything its handlers use,
// and the actors (whose strands and timers belong to it) before it.
struct Hub {
  explicit Hub(const Server::Options& options)
      : config(options.config),
        env(options.env != nullptr                ? options.env
            : options.config.sync_filesystem ? Env::posix_shared_sync()
                                             : Env::posix(),
            &metrics),
        auth(options.config.auth_secret),
        documents_io(static_cast<int>(options.config.document_threads)),
        documents_work(documents_io.get_executor()),
        io(static_cast<int>(options.config.threads)),
        acceptor_strand(net::make_strand(io)),
        acceptor(acceptor_strand) {}

  std::shared_ptr<DocumentActor> actor_for(const JournalId& id) {
    std::lock_guard<std::mutex> lock(mutex);
    std::shared_ptr<DocumentActor>& actor = actors[id];
    if (!actor) actor = std::make_shared<DocumentActor>(*this, id);
    return actor;
  }

  std::vector<std::shared_ptr<DocumentActor>> all_actors() {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<std::shared_ptr<DocumentActor>> out;
    for (const auto& [id, actor] : actors) out.push_back(actor);
    return out;
  }

  // Asks the least recently used idle documents to unload while more than
  // max_documents are loaded.
  void enforce_document_limit() {
    const int64_t excess =
        metrics.documents_loaded.load() - static_cast<int64_t>(config.max_documents);
    if (excess <= 0) return;
    std::vector<std::shared_ptr<DocumentActor>> idle;
    for (const auto& actor : all_actors()) {
      if (actor->loaded() && actor->connection_count() == 0) idle.push_back(actor);
    }
    std::sort(idle.begin(), idle.end(), [](const auto& a, const auto& b) { return a->last_used() < b->last_used(); });
    if (idle.size() > static_cast<size_t>(excess)) idle.resize(static_cast<size_t>(excess));
    for (const auto& actor : idle) net::post(actor->strand(), [actor] { actor->unload_if_idle(); });
  }

  void begin_shutdown();
  net::awaitable<void> shutdown_sequence();
  net::awaitable<void> accept_loop();

  ServerConfig config;
  ServerMetrics metrics;
  MeteringEnv env;
  Authenticator auth;
  std::unique_ptr<DataDirectory> data;
  // Documents run on their own threads: a round blocks on fsync, and the
  // network threads keep reading meanwhile (the next round finds more work:
  // group commit).
  net::io_context documents_io;
  net::executor_work_guard<net::io_context::executor_type> documents_work;
  net::io_context io;
  Strand acceptor_strand;
  tcp::acceptor acceptor;
  std::optional<net::signal_set> signals;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_connection_id{1};
  std::atomic<uint64_t> open_sockets{0};
  std::mutex mutex;
  std::map<JournalId, std::shared_ptr<DocumentActor>> actors;
};

// --- SyncConnection ---

void SyncConnection::send(std::vector<Bytes> messages) {
  if (messages.empty()) return;
  net::dispatch(ws_.get_executor(), [self = shared_from_this(), messages = std::move(messages)]() mutable {
    for (Bytes& message : messages) self->enqueue(std::move(message));
  });
}

void SyncConnection::close(websocket::close_code code, std::string reason) {
  net::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
    self->enqueue(CloseRequest{code, std::move(reason)});
  });
}

void SyncConnection::enqueue(Item item) {
  if (closing_) return;
  closing_ = std::holds_alternative<CloseRequest>(item);
  queue_.push_back(Queued{std::move(item), now_micros()});
  if (writing_) return;
  writing_ = true;
  net::co_spawn(
      ws_.get_executor(), [self = shared_from_this()]() { return self->write_loop(); },
      log_failure("WebSocket writer"));
}

net::awaitable<void> SyncConnection::write_loop() {
  while (!queue_.empty()) {
    if (const auto* request = std::get_if<CloseRequest>(&queue_.front().item)) {
      // Whether the peer answered the close or not, the connection is over.
      co_await ws_.async_close(websocket::close_reason(request->code, truncate_reason(request->reason)), kUseTuple);
      queue_.clear();
      break;
    }
    // Everything queued while the last write was under way goes as one
    // batch: under load, one WebSocket message (and one system call) carries
    // many protocol messages.
    std::vector<Bytes> batch;
    size_t batch_bytes = 0;
    size_t largest = 0;
    const uint64_t now = now_micros();
    while (!queue_.empty() && std::holds_alternative<Bytes>(queue_.front().item)) {
      Bytes& next = std::get<Bytes>(queue_.front().item);
      if (!batch.empty() && batch_bytes + next.size() > kMaxBatchBytes) break;
      hub_.metrics.send_wait_seconds.observe_micros(now - queue_.front().queued_at);
      batch_bytes += next.size();
      largest = std::max(largest, next.size());
      batch.push_back(std::move(next));
      queue_.pop_front();
    }
    const Bytes message = encode_batch(std::move(batch));
    // The threshold is about what a message is worth compressing: a batch of
    // small messages is not, whatever its total size.
    ws_.compress(largest >= hub_.config.deflate_min_bytes);
    ws_.binary(true);
    auto [error, written] = co_await ws_.async_write(net::buffer(message), kUseTuple);
    if (error) {
      closing_ = true;
      queue_.clear();
      break;
    }
    hub_.metrics.messages_out.fetch_add(1, std::memory_order_relaxed);
    hub_.metrics.bytes_out.fetch_add(written, std::memory_order_relaxed);
  }
  writing_ = false;
}

void SyncConnection::fail(websocket::close_code code, std::string reason) {
  hub_.metrics.protocol_errors.fetch_add(1, std::memory_order_relaxed);
  log_warning("connection " + std::to_string(id_) + ": " + reason);
  enqueue(CloseRequest{code, std::move(reason)});
  net::post(actor_->strand(), [actor = actor_, id = id_] { actor->detach(id); });
}

net::awaitable<void> SyncConnection::read_loop() {
  auto self = shared_from_this();
  const uint64_t limit = hub_.config.max_message_bytes;
  // A well-behaved client has at most a window of frames and a few replies
  // unprocessed; twice the window means it does not wait for the server.
  const uint64_t max_waiting = 2 * hub_.config.max_in_flight_frames + 16;
  beast::flat_buffer buffer;
  for (;;) {
    buffer.clear();
    bool too_big = false;
    boost::system::error_code error;
    do {
      auto [read_error, read] = co_await ws_.async_read_some(buffer, kReadChunkBytes, kUseTuple);
      error = read_error;
      if (error) break;
      if (closing_) {
        buffer.clear();  // draining until the peer answers our close
      } else if (buffer.size() > limit) {
        too_big = true;
        break;
      }
    } while (!ws_.is_message_done());
    if (error) break;
    if (closing_) continue;
    if (too_big) {
      fail(websocket::close_code::too_big,
           "message too big: more than " + std::to_string(limit) + " bytes (the server's max-message-bytes)");
      continue;
    }
    if (!ws_.got_binary()) {
      fail(websocket::close_code::unknown_data, "sync messages must be binary WebSocket messages");
      continue;
    }
    const auto data = buffer.cdata();
    const auto* begin = static_cast<const uint8_t*>(data.data());
    Bytes message(begin, begin + data.size());
    hub_.metrics.messages_in.fetch_add(1, std::memory_order_relaxed);
    hub_.metrics.bytes_in.fetch_add(message.size(), std::memory_order_relaxed);
    if (waiting_.fetch_add(1, std::memory_order_relaxed) + 1 > max_waiting) {
      fail(websocket::close_code::policy_error,
           "flow control: more than " + std::to_string(max_waiting) + " messages waiting for the server");
      continue;
    }
    actor_->deliver(self, std::move(message));
  }
  closing_ = true;
  queue_.clear();
  hub_.metrics.connections.fetch_sub(1, std::memory_order_relaxed);
  net::post(actor_->strand(), [actor = actor_, id = id_] { actor->detach(id); });
}

// --- DocumentActor ---

DocumentActor::DocumentActor(Hub& hub, JournalId id)
    : hub_(hub),
      id_(id),
      strand_(net::make_strand(hub.documents_io)),
      send_strand_(net::make_strand(hub.io)),
      timer_(strand_) {
  last_used_ = now_micros();
}

Status DocumentActor::load(const DocumentRecord& record) {
  SQLSYNC_ASSIGN_OR_RETURN(std::shared_ptr<Reducer> reducer, hub_.data->load_reducer(record.reducer_digest));
  DocumentHost::Options options;
  options.document.document_id = id_;
  options.document.reducer = std::move(reducer);
  options.document.env = &hub_.env;
  options.document.directory = hub_.data->journal_directory(id_);
  // Each truncation costs a few fsyncs of the disk every document shares;
  // applied entries then stay on disk (never in memory) for up to 10 s.
  options.document.inbox_truncation_interval_micros = kInboxTruncationIntervalMicros;
  options.max_in_flight_frames = hub_.config.max_in_flight_frames;
  options.metrics = &hub_.metrics;
  Result<std::unique_ptr<DocumentHost>> host = DocumentHost::open(std::move(options));
  if (!host.is_ok()) return host.status().with_context("opening document " + id_.to_hex());
  host_ = std::move(*host);
  reducer_digest_ = record.reducer_digest;
  loaded_ = true;
  hub_.metrics.documents_loaded.fetch_add(1);
  hub_.enforce_document_limit();
  return Status::ok();
}

Result<DocumentInfo> DocumentActor::open(const OpenRequest& request) {
  if (stopping_) return Status::busy("the server is shutting down");
  last_used_ = now_micros();
  bool created = false;
  if (!host_) {
    SQLSYNC_ASSIGN_OR_RETURN(std::optional<DocumentRecord> record, hub_.data->find_document(id_));
    if (!record) {
      if (!request.create || !request.reducer) {
        return Status::not_found("unknown document " + id_.to_hex() +
                                 ": create it with POST /docs, or name its reducer (?reducer=<digest>)");
      }
      // Fails with NotFound before anything is written if the reducer is unknown.
      SQLSYNC_RETURN_IF_ERROR(hub_.data->load_reducer(*request.reducer).status());
      record = DocumentRecord{id_, *request.reducer};
      SQLSYNC_RETURN_IF_ERROR(hub_.data->save_document(*record));
      created = true;
      log_info("document " + id_.to_hex() + " created with reducer " + *request.reducer);
    }
    SQLSYNC_RETURN_IF_ERROR(load(*record));
  }
  if (request.reducer && *request.reducer != reducer_digest_) {
    Result<std::shared_ptr<Reducer>> candidate = hub_.data->load_reducer(*request.reducer);
    if (!candidate.is_ok()) {
      log_warning("document " + id_.to_hex() + ": a client runs reducer " + *request.reducer +
                  " the server cannot load (" + candidate.status().message() + "); serving with " + reducer_digest_);
    } else {
      const uint32_t from = host_->schema_version();
      SQLSYNC_ASSIGN_OR_RETURN(bool upgraded, host_->upgrade_reducer(*candidate));
      if (upgraded) {
        SQLSYNC_RETURN_IF_ERROR(hub_.data->save_document(DocumentRecord{id_, *request.reducer}));
        log_info("document " + id_.to_hex() + " upgraded from schema version " + std::to_string(from) + " to " +
                 std::to_string(host_->schema_version()) + " (reducer " + *request.reducer + ")");
        reducer_digest_ = *request.reducer;
        run_round();  // sends the migration's frame to the connected replicas
      }
    }
  }
  return info(created);
}

DocumentInfo DocumentActor::info(bool created) const {
  DocumentInfo info;
  info.id = id_;
  info.reducer = reducer_digest_;
  info.schema_version = host_->schema_version();
  info.storage_log = host_->document().storage_log_id();
  info.storage_range = host_->document().storage_range();
  info.created = created;
  return info;
}

Result<QueryResult> DocumentActor::query(const std::string& sql) {
  SQLSYNC_RETURN_IF_ERROR(open(OpenRequest{}).status());
  return host_->document().query(sql);
}

void DocumentActor::attach(const std::shared_ptr<SyncConnection>& connection) {
  if (stopping_) {
    connection->close(websocket::close_code::going_away, "server shutting down");
    return;
  }
  Status opened = open(OpenRequest{}).status();
  if (!opened.is_ok()) {
    connection->close(websocket::close_code::internal_error, opened.message());
    return;
  }
  connections_[connection->id()] = connection;
  connection_count_ = connections_.size();
  connection->send(host_->attach(connection->id(), connection->can_write()));
}

void DocumentActor::deliver(std::shared_ptr<SyncConnection> connection, Bytes message) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_.push_back(Received{std::move(connection), std::move(message), now_micros()});
    if (round_scheduled_) return;
    round_scheduled_ = true;
  }
  net::post(strand_, [self = shared_from_this()] { self->run_round(); });
}

void DocumentActor::detach(ConnectionId id) {
  if (connections_.erase(id) == 0) return;
  connection_count_ = connections_.size();
  if (host_) host_->detach(id);
  release_if_over_limit();
}

void DocumentActor::run_round() {
  std::vector<Received> inbox;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    round_scheduled_ = false;
    inbox.swap(inbox_);
  }
  const uint64_t started = now_micros();
  for (const Received& received : inbox) {
    received.connection->message_processed();
    hub_.metrics.inbox_wait_seconds.observe_micros(started - received.received_at);
  }
  if (!host_) return;
  last_used_ = started;
  for (auto& [connection, message, _] : inbox) {
    const ConnectionId id = connection->id();
    if (connections_.count(id) == 0) continue;
    Status status = host_->receive(id, message);
    if (status.is_ok()) continue;
    hub_.metrics.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    log_warning("document " + id_.to_hex() + " connection " + std::to_string(id) + ": " + status.to_string());
    const bool forbidden = status.code() == StatusCode::kRejected;
    connection->close(forbidden ? websocket::close_code::policy_error : websocket::close_code::protocol_error,
                      forbidden ? status.message() : "protocol error: " + status.message());
    connections_.erase(id);
    connection_count_ = connections_.size();
    host_->detach(id);
  }
  Result<DocumentHost::Outbox> outbox = host_->end_round();
  if (!outbox.is_ok()) {
    fail(outbox.status());
    return;
  }
  std::map<ConnectionId, std::vector<Bytes>> by_connection;  // each in outbox order
  for (auto& [id, message] : *outbox) by_connection[id].push_back(std::move(message));
  std::vector<std::pair<std::shared_ptr<SyncConnection>, std::vector<Bytes>>> sends;
  for (auto& [id, messages] : by_connection) {
    auto it = connections_.find(id);
    if (it != connections_.end()) sends.emplace_back(it->second, std::move(messages));
  }
  // One hop to the network threads for the whole round: there each
  // connection's send runs inline on its strand (SyncConnection::send), so a
  // round wakes one network thread, not one per connection.
  if (!sends.empty()) {
    net::post(send_strand_, [sends = std::move(sends)]() mutable {
      for (auto& [connection, messages] : sends) connection->send(std::move(messages));
    });
  }
  hub_.metrics.rounds.fetch_add(1, std::memory_order_relaxed);
  hub_.metrics.round_seconds.observe_micros(now_micros() - started);
  if (!inbox.empty() || !outbox->empty()) arm_timer();
}

// After a round that did something, one more round a little after the no-op
// acknowledgement delay finds any acknowledgement that fell due; a timer that
// finds nothing to do is not re-armed.
void DocumentActor::arm_timer() {
  if (timer_armed_ || stopping_) return;
  timer_armed_ = true;
  timer_.expires_after(kRoundTimerDelay);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    self->timer_armed_ = false;
    if (error || !self->host_) return;
    if (self->host_->has_work()) {
      self->run_round();
    } else {
      self->release_if_over_limit();
    }
  });
}

// Unloading is safe only when nothing is pending: no connection, no message,
// no round or timer (a timer means a no-op acknowledgement may not be due
// yet: has_work() cannot see it).
bool DocumentActor::idle() const {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  return host_ && connections_.empty() && inbox_.empty() && !round_scheduled_ && !timer_armed_ &&
         !host_->has_work();
}

void DocumentActor::unload_if_idle() {
  if (idle()) unload();
}

void DocumentActor::release_if_over_limit() {
  if (idle() && hub_.metrics.documents_loaded.load() > static_cast<int64_t>(hub_.config.max_documents)) unload();
}

void DocumentActor::unload() {
  if (!host_) return;
  host_.reset();
  loaded_ = false;
  hub_.metrics.documents_loaded.fetch_sub(1);
  hub_.metrics.documents_unloaded.fetch_add(1, std::memory_order_relaxed);
}

void DocumentActor::fail(const Status& status) {
  log_error("document " + id_.to_hex() + " failed: " + status.to_string() +
            "; its connections are closed and it reopens from disk on the next request");
  for (auto& [id, connection] : connections_) {
    connection->close(websocket::close_code::internal_error, "document failed: " + status.to_string());
  }
  connections_.clear();
  connection_count_ = 0;
  unload();
}

void DocumentActor::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  timer_.cancel();
  if (host_) run_round();
  // Behind the last round's messages, which take the same way.
  net::post(send_strand_, [connections = std::move(connections_)] {
    for (const auto& [id, connection] : connections) {
      connection->close(websocket::close_code::going_away, "server shutting down");
    }
  });
  connections_.clear();
  connection_count_ = 0;
  unload();
}

// --- HTTP ---

http::status http_status_for(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound: return http::status::not_found;
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnsupported:
    case StatusCode::kRejected: return http::status::bad_request;
    case StatusCode::kBusy: return http::status::service_unavailable;
    default: return http::status::internal_server_error;
  }
}

Response make_response(const Request& request, http::status status, std::string_view content_type,
                       std::string body) {
  Response response{status, request.version()};
  response.set(http::field::server, "sqlsync-server");
  response.set(http::field::content_type, content_type);
  response.set(http::field::access_control_allow_origin, "*");
  response.body() = std::move(body);
  response.keep_alive(request.keep_alive());
  response.prepare_payload();
  return response;
}

Response json_response(const Request& request, http::status status, const Json& body) {
  return make_response(request, status, "application/json",
                       body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Response error_response(const Request& request, http::status status, std::string_view message) {
  return make_response(request, status, "application/json", error_json(message));
}

Response error_response(const Request& request, const Status& status) {
  return error_response(request, http_status_for(status), status.message());
}

std::string bearer_token(const Request& request, const RequestTarget& target) {
  const auto header = request.find(http::field::authorization);
  if (header != request.end()) {
    const std::string_view value(header->value().data(), header->value().size());
    constexpr std::string_view kScheme = "bearer ";
    if (value.size() > kScheme.size() && beast::iequals(value.substr(0, kScheme.size()), kScheme)) {
      return std::string(value.substr(kScheme.size()));
    }
  }
  auto token = target.query.find("token");
  return token == target.query.end() ? std::string() : token->second;
}

// The refusal for `decision`, or nullopt if allowed.
std::optional<Response> refusal(const Request& request, const AccessDecision& decision) {
  switch (decision.outcome) {
    case AccessDecision::Outcome::kAllowed: return std::nullopt;
    case AccessDecision::Outcome::kUnauthenticated: {
      Response response = error_response(request, http::status::unauthorized, decision.reason);
      response.set(http::field::www_authenticate, "Bearer");
      return response;
    }
    case AccessDecision::Outcome::kForbidden: return error_response(request, http::status::forbidden, decision.reason);
  }
  return std::nullopt;
}

AccessDecision authorize(Hub& hub, const Request& request, const RequestTarget& target,
                         std::optional<std::string_view> document, AccessRight needed) {
  return hub.auth.check(bearer_token(request, target), document, needed, static_cast<int64_t>(std::time(nullptr)));
}

Json info_json(const DocumentInfo& info) {
  return Json{{"id", info.id.to_hex()},
              {"reducer", info.reducer},
              {"schema_version", info.schema_version},
              {"storage_log", info.storage_log.to_hex()},
              {"storage_range", Json{{"first", info.storage_range.first()}, {"next", info.storage_range.next()}}}};
}

// The `reducer` query parameter (or body field), checked.
Result<std::optional<std::string>> reducer_parameter(const std::map<std::string, std::string>& query,
                                                     const Json* body) {
  std::optional<std::string> reducer;
  if (body != nullptr && body->contains("reducer")) {
    if (!(*body)["reducer"].is_string()) return Status::invalid_argument("\"reducer\" must be a digest string");
    reducer = (*body)["reducer"].get<std::string>();
  }
  if (auto it = query.find("reducer"); it != query.end()) reducer = it->second;
  if (reducer && !is_reducer_digest(*reducer)) {
    return Status::invalid_argument("reducer '" + *reducer +
                                    "' is not a digest: use the 64 lowercase hex digits PUT /reducers returned");
  }
  return reducer;
}

// What a request needs: a response now, or work on a document's strand
// that produces it. Routing is plain code; only serve_http awaits, so no
// temporary crosses a co_await or co_return (GCC 12 destroys some of those
// twice).
struct Routed {
  std::optional<Response> response;
  std::shared_ptr<DocumentActor> actor;
  std::function<Response()> on_actor;  // runs on actor's strand
};

Routed respond(Response response) {
  Routed routed;
  routed.response = std::move(response);
  return routed;
}

// The actor of document `id` and a check that it exists, unless `request`
// creates it: ids that name nothing get no actor, so probing random ids
// costs no memory.
Result<std::shared_ptr<DocumentActor>> document_actor(Hub& hub, const JournalId& id, const OpenRequest& request) {
  if (!request.create) {
    SQLSYNC_ASSIGN_OR_RETURN(std::optional<DocumentRecord> record, hub.data->find_document(id));
    if (!record) {
      return Status::not_found("unknown document " + id.to_hex() +
                               ": create it with POST /docs, or name its reducer (?reducer=<digest>)");
    }
  }
  return hub.actor_for(id);
}

// Opens document `id` on its strand as `open` says, then answers with
// `answer(info)`.
Routed on_document(Hub& hub, const Request& request, const JournalId& id, OpenRequest open,
                   std::function<Response(DocumentActor&, const DocumentInfo&)> answer) {
  Result<std::shared_ptr<DocumentActor>> actor = document_actor(hub, id, open);
  if (!actor.is_ok()) return respond(error_response(request, actor.status()));
  Routed routed;
  routed.actor = *actor;
  routed.on_actor = [&request, actor = *actor, open = std::move(open), answer = std::move(answer)]() {
    Result<DocumentInfo> info = actor->open(open);
    if (!info.is_ok()) return error_response(request, info.status());
    return answer(*actor, *info);
  };
  return routed;
}

Response put_reducer(Hub& hub, const Request& request) {
  Result<StoredReducer> stored = hub.data->put_reducer(as_bytes(request.body()));
  if (!stored.is_ok()) {
    const bool invalid = stored.status().code() != StatusCode::kIOError && stored.status().code() != StatusCode::kInternal;
    return error_response(request, invalid ? http::status::bad_request : http::status::internal_server_error,
                          "invalid reducer: " + stored.status().message());
  }
  log_info("reducer " + stored->digest + " stored (" + reducer_kind_name(stored->kind) + ", " +
           std::to_string(request.body().size()) + " bytes)");
  return json_response(request, http::status::ok, Json{{"digest", stored->digest}, {"kind", reducer_kind_name(stored->kind)}});
}

Response get_reducer(Hub& hub, const Request& request, const std::string& digest) {
  Result<Bytes> bytes = hub.data->read_reducer(digest);
  if (!bytes.is_ok()) return error_response(request, bytes.status());
  Response response = make_response(request, http::status::ok, reducer_content_type(reducer_kind_of(*bytes)),
                                    std::string(as_text(*bytes)));
  response.set(http::field::cache_control, "public, max-age=31536000, immutable");
  return response;
}

Routed post_docs(Hub& hub, const Request& request, const RequestTarget& target) {
  Json body = Json::object();
  if (!request.body().empty()) {
    body = Json::parse(request.body(), nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return respond(error_response(request, http::status::bad_request,
                                    R"(POST /docs body must be a JSON object such as {"reducer":"<digest>"})"));
    }
  }
  Result<std::optional<std::string>> reducer = reducer_parameter(target.query, &body);
  if (!reducer.is_ok()) return respond(error_response(request, reducer.status()));
  if (!reducer->has_value()) {
    return respond(error_response(request, http::status::bad_request,
                                  R"(POST /docs needs a reducer: {"reducer":"<digest>"} or ?reducer=<digest>)"));
  }
  std::optional<std::string> name;
  if (body.contains("name")) {
    if (!body["name"].is_string()) {
      return respond(error_response(request, http::status::bad_request, "\"name\" must be a string"));
    }
    name = body["name"].get<std::string>();
  }
  if (auto it = target.query.find("name"); it != target.query.end()) name = it->second;
  if (name && name->empty()) {
    return respond(error_response(request, http::status::bad_request, "a document name may not be empty"));
  }
  const JournalId id = name ? document_id_for_name(*name) : hub.env.new_journal_id();
  return on_document(hub, request, id, OpenRequest{*reducer, /*create=*/true},
                     [&request](DocumentActor&, const DocumentInfo& info) {
                       Json json = info_json(info);
                       json["created"] = info.created;
                       return json_response(request, info.created ? http::status::created : http::status::ok, json);
                     });
}

Routed query_document(Hub& hub, const Request& request, const RequestTarget& target, const JournalId& id) {
  auto sql = target.query.find("sql");
  if (sql == target.query.end() || sql->second.empty()) {
    return respond(error_response(request, http::status::bad_request, "query needs ?sql=<statement>"));
  }
  return on_document(hub, request, id, OpenRequest{},
                     [&request, sql = sql->second](DocumentActor& actor, const DocumentInfo&) {
                       Result<QueryResult> result = actor.query(sql);
                       if (!result.is_ok()) {
                         return error_response(request, http::status::bad_request,
                                               "query failed: " + result.status().message());
                       }
                       return make_response(request, http::status::ok, "application/json",
                                            query_result_json(*result));
                     });
}

Response static_file(Hub& hub, const Request& request, const RequestTarget& target) {
  Result<std::string> path = resolve_static_file(hub.config.static_directory, target.path);
  if (!path.is_ok()) return error_response(request, path.status());
  Result<Bytes> content = hub.env.read_file(*path);
  if (!content.is_ok()) return error_response(request, content.status());
  Response response =
      make_response(request, http::status::ok, content_type_for(*path), std::string(as_text(*content)));
  response.set(http::field::cache_control, "no-cache");
  return response;
}

Result<JournalId> document_id_segment(const std::string& segment) {
  Result<JournalId> id = JournalId::from_hex(segment);
  if (!id.is_ok()) {
    return Status::invalid_argument("'" + segment + "' is not a document id (32 hex digits)");
  }
  return id;
}

// Every HTTP request but a WebSocket upgrade.
Routed route_request(Hub& hub, const Request& request, const RequestTarget& target) {
  const auto& segments = target.segments;
  // HEAD is answered as GET; the body is dropped when the answer is written.
  const http::verb method = request.method() == http::verb::head ? http::verb::get : request.method();
  if (method == http::verb::options) {
    Response response = make_response(request, http::status::no_content, "text/plain", "");
    response.set(http::field::access_control_allow_methods, "GET, HEAD, PUT, POST, OPTIONS");
    response.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
    response.set(http::field::access_control_max_age, "86400");
    return respond(std::move(response));
  }
  if (method == http::verb::get && target.path == "/healthz") {
    return respond(json_response(request, http::status::ok,
                                 Json{{"status", "ok"},
                                      {"documents_loaded", hub.metrics.documents_loaded.load()},
                                      {"connections", hub.metrics.connections.load()}}));
  }
  if (method == http::verb::get && target.path == "/metrics") {
    return respond(make_response(request, http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                                 hub.metrics.render_prometheus()));
  }
  if (!segments.empty() && segments[0] == "reducers") {
    if (segments.size() == 1 && method == http::verb::put) {
      if (auto refused = refusal(request, authorize(hub, request, target, "*", AccessRight::kWrite))) {
        return respond(std::move(*refused));
      }
      return respond(put_reducer(hub, request));
    }
    if (segments.size() == 2 && method == http::verb::get) {
      if (auto refused = refusal(request, authorize(hub, request, target, std::nullopt, AccessRight::kRead))) {
        return respond(std::move(*refused));
      }
      return respond(get_reducer(hub, request, segments[1]));
    }
    return respond(error_response(request, http::status::method_not_allowed,
                                  "use PUT /reducers (upload) or GET /reducers/<digest> (download)"));
  }
  if (!segments.empty() && segments[0] == "docs") {
    if (segments.size() == 1) {
      if (method != http::verb::post) {
        return respond(error_response(request, http::status::method_not_allowed, "use POST /docs to create a document"));
      }
      if (auto refused = refusal(request, authorize(hub, request, target, "*", AccessRight::kWrite))) {
        return respond(std::move(*refused));
      }
      return post_docs(hub, request, target);
    }
    Result<JournalId> id = document_id_segment(segments[1]);
    if (!id.is_ok()) return respond(error_response(request, id.status()));
    if (auto refused = refusal(request, authorize(hub, request, target, id->to_hex(), AccessRight::kRead))) {
      return respond(std::move(*refused));
    }
    if (segments.size() == 2 && method == http::verb::get) {
      return on_document(hub, request, *id, OpenRequest{}, [&request](DocumentActor&, const DocumentInfo& info) {
        return json_response(request, http::status::ok, info_json(info));
      });
    }
    if (segments.size() == 3 && segments[2] == "query" && method == http::verb::get) {
      return query_document(hub, request, target, *id);
    }
    if (segments.size() == 3 && segments[2] == "sync") {
      return respond(error_response(request, http::status::upgrade_required,
                                    "/docs/{id}/sync is a WebSocket endpoint: connect with a WebSocket client"));
    }
    return respond(error_response(request, http::status::not_found, "no such endpoint: " + target.path));
  }
  if (method == http::verb::get && !hub.config.static_directory.empty()) {
    return respond(static_file(hub, request, target));
  }
  return respond(error_response(request, http::status::not_found, "no such endpoint: " + target.path));
}

// A WebSocket upgrade of /docs/{id}/sync: its refusal, or the document to
// open (on its strand) and the connection's right.
struct SyncRoute {
  std::optional<Response> refusal;
  std::shared_ptr<DocumentActor> actor;
  OpenRequest open;
  bool can_write = false;
};

SyncRoute route_sync(Hub& hub, const Request& request, const RequestTarget& target) {
  SyncRoute route;
  const auto& segments = target.segments;
  if (segments.size() != 3 || segments[0] != "docs" || segments[2] != "sync") {
    route.refusal = error_response(request, http::status::not_found, "WebSocket endpoint is /docs/{id}/sync");
    return route;
  }
  Result<JournalId> id = document_id_segment(segments[1]);
  if (!id.is_ok()) {
    route.refusal = error_response(request, id.status());
    return route;
  }
  const AccessDecision decision = authorize(hub, request, target, id->to_hex(), AccessRight::kRead);
  route.refusal = refusal(request, decision);
  if (route.refusal) return route;
  Result<std::optional<std::string>> reducer = reducer_parameter(target.query, nullptr);
  if (!reducer.is_ok()) {
    route.refusal = error_response(request, reducer.status());
    return route;
  }
  route.can_write = decision.granted == AccessRight::kWrite;
  // Materializing a document born offline writes it: only a writer may.
  route.open = OpenRequest{*reducer, reducer->has_value() && route.can_write};
  Result<std::shared_ptr<DocumentActor>> actor = document_actor(hub, *id, route.open);
  if (!actor.is_ok()) {
    route.refusal = error_response(request, actor.status());
    return route;
  }
  route.actor = *actor;
  return route;
}

websocket::permessage_deflate deflate_options(uint64_t min_bytes) {
  websocket::permessage_deflate deflate;
  deflate.server_enable = true;
  // Smaller windows than zlib's 32 KiB keep a connection's compressor state
  // near 30 KiB, so thousands of connections fit in memory.
  deflate.server_max_window_bits = 12;
  deflate.client_max_window_bits = 12;
  // Smaller messages go out uncompressed (ServerConfig::deflate_min_bytes;
  // a batch only if one of its messages is that large, SyncConnection):
  // every connection compresses each frame again, and for frames of page
  // deltas the per-message Huffman tree costs more CPU than the bytes it
  // saves. What is compressed uses the fastest level, which does well on
  // SQLite pages at a fraction of the CPU of zlib's default.
  deflate.msg_size_threshold = static_cast<std::size_t>(min_bytes);
  deflate.compLevel = 1;
  return deflate;
}

websocket::stream_base::timeout websocket_timeouts() {
  websocket::stream_base::timeout timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = std::chrono::seconds(60);
  timeouts.keep_alive_pings = true;
  return timeouts;
}

// Accepts the upgrade on `stream` (moved into the connection) and serves
// the connection until it ends.
net::awaitable<void> serve_sync(Hub& hub, beast::tcp_stream& stream, const Request& request,
                                const SyncRoute& route) {
  beast::get_lowest_layer(stream).expires_never();
  SyncConnection::Stream ws(std::move(stream));
  ws.set_option(deflate_options(hub.config.deflate_min_bytes));
  ws.set_option(websocket_timeouts());
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& response) { response.set(http::field::server, "sqlsync-server"); }));
  // Sizes are checked while reading (SyncConnection::read_loop) so the close
  // can say what the limit is.
  ws.read_message_max(0);
  // A message goes out as one frame: Beast otherwise cuts messages larger
  // than its 4 KiB write buffer into frames, one system call each.
  ws.auto_fragment(false);
  auto [error] = co_await ws.async_accept(request, kUseTuple);
  if (error) co_return;
  auto connection = std::make_shared<SyncConnection>(hub, std::move(ws), hub.next_connection_id.fetch_add(1),
                                                     route.actor, route.can_write);
  hub.metrics.connections.fetch_add(1);
  hub.metrics.connections_total.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<DocumentActor> actor = route.actor;
  co_await run_on(actor->strand(), [&] {
    actor->attach(connection);
    return true;
  });
  co_await connection->read_loop();
}

net::awaitable<void> serve_http(Hub& hub, tcp::socket socket) {
  const bool over_limit = hub.open_sockets.fetch_add(1) >= hub.config.max_connections;
  struct Release {
    Hub& hub;
    ~Release() { hub.open_sockets.fetch_sub(1); }
  } release{hub};
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  bool upgraded = false;
  while (!hub.stopping && !upgraded) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    // The limit depends on the endpoint: set once the header is known (a
    // limit here would refuse a large Content-Length without a response).
    parser.body_limit(boost::none);
    stream.expires_after(kRequestTimeout);
    auto [header_error, header_bytes] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
    if (header_error) break;
    const Request& header = parser.get();
    Result<RequestTarget> target = parse_target(std::string_view(header.target().data(), header.target().size()));
    const bool reducer_upload = header.method() == http::verb::put && target.is_ok() && target->path == "/reducers";
    const uint64_t body_limit = reducer_upload ? hub.config.max_reducer_bytes : kMaxApiBodyBytes;
    parser.body_limit(body_limit);
    const std::string too_large = "request body over the limit of " + std::to_string(body_limit) + " bytes" +
                                  (reducer_upload ? " (the server's max-reducer-bytes)" : "");
    // Refusals that end the connection (the body, if any, is left unread).
    std::optional<Response> final_response;
    if (parser.content_length() && *parser.content_length() > body_limit) {
      final_response = error_response(header, http::status::payload_too_large, too_large);
    } else {
      if (beast::iequals(header[http::field::expect], "100-continue")) {
        http::response<http::empty_body> proceed{http::status::continue_, header.version()};
        auto [continue_error, continue_bytes] = co_await http::async_write(stream, proceed, kUseTuple);
        if (continue_error) break;
      }
      auto [body_error, body_bytes] = co_await http::async_read(stream, buffer, parser, kUseTuple);
      if (body_error == http::error::body_limit) {
        final_response = error_response(parser.get(), http::status::payload_too_large, too_large);
      } else if (body_error) {
        final_response =
            error_response(parser.get(), http::status::bad_request, "malformed HTTP request: " + body_error.message());
      }
    }
    if (!final_response) {
      hub.metrics.http_requests.fetch_add(1, std::memory_order_relaxed);
      if (over_limit) {
        hub.metrics.connections_refused.fetch_add(1, std::memory_order_relaxed);
        final_response = error_response(parser.get(), http::status::service_unavailable,
                                        "server at its limit of " + std::to_string(hub.config.max_connections) +
                                            " connections (max-connections); retry later");
      } else if (!target.is_ok()) {
        final_response = error_response(parser.get(), target.status());
      }
    }
    if (final_response) {
      final_response->keep_alive(false);
      co_await http::async_write(stream, *final_response, kUseTuple);
      break;
    }
    const Request request = parser.release();
    if (websocket::is_upgrade(request)) {
      SyncRoute route = route_sync(hub, request, *target);
      if (!route.refusal) {
        std::shared_ptr<DocumentActor> actor = route.actor;
        Status opened = co_await run_on(actor->strand(), [&] { return actor->open(route.open).status(); });
        if (!opened.is_ok()) route.refusal = error_response(request, opened);
      }
      if (route.refusal) {
        hub.metrics.connections_refused.fetch_add(1, std::memory_order_relaxed);
        route.refusal->keep_alive(false);
        co_await http::async_write(stream, *route.refusal, kUseTuple);
        break;
      }
      upgraded = true;
      co_await serve_sync(hub, stream, request, route);
      break;
    }
    Routed routed = route_request(hub, request, *target);
    Response response;
    if (routed.actor) {
      response = co_await run_on(routed.actor->strand(), [&] { return routed.on_actor(); });
    } else {
      response = std::move(*routed.response);
    }
    if (hub.stopping) response.keep_alive(false);
    if (request.method() == http::verb::head) {
      const size_t length = response.body().size();
      response.body().clear();
      response.content_length(length);
    }
    auto [write_error, written] = co_await http::async_write(stream, response, kUseTuple);
    if (write_error || !response.keep_alive()) break;
  }
  if (!upgraded) {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
}

net::awaitable<void> Hub::accept_loop() {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(net::make_strand(io), kUseTuple);
    if (stopping) break;
    if (error) {
      // Out of descriptors and the like: wait a little instead of spinning.
      log_warning("accept failed: " + error.message());
      net::steady_timer pause(acceptor_strand, std::chrono::milliseconds(100));
      co_await pause.async_wait(kUseTuple);
      continue;
    }
    // Sync messages are small and latency-bound: no Nagle delay.
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto executor = socket.get_executor();
    net::co_spawn(executor, serve_http(*this, std::move(socket)), log_failure("HTTP connection"));
  }
}

void Hub::begin_shutdown() {
  if (stopping.exchange(true)) return;
  net::co_spawn(io, shutdown_sequence(), log_failure("shutdown"));
}

net::awaitable<void> Hub::shutdown_sequence() {
  log_info("shutting down: no new connections; finishing every document's round");
  co_await run_on(acceptor_strand, [&] {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    if (signals) signals->cancel(ignored);
    return true;
  });
  for (const auto& actor : all_actors()) {
    co_await run_on(actor->strand(), [&] {
      actor->shutdown();
      return true;
    });
  }
  // Lets the close handshakes finish; HTTP keep-alive connections and
  // anything else still open end with the io_context.
  const auto deadline = std::chrono::steady_clock::now() + kShutdownGrace;
  net::steady_timer pause(io);
  while (metrics.connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    pause.expires_after(std::chrono::milliseconds(20));
    co_await pause.async_wait(kUseTuple);
  }
  log_info("stopped");
  io.stop();
}

}  // namespace

class Server::Impl {
 public:
  explicit Impl(const Options& options) : hub(options) {}
  ~Impl() {
    hub.begin_shutdown();
    join();
  }

  // The network threads end with the shutdown sequence; the document
  // threads then finish what is queued for them (nothing can be added any
  // more), so neither context is destroyed holding the other's work.
  void join() {
    std::lock_guard<std::mutex> lock(join_mutex);
    for (std::thread& thread : threads) {
      if (thread.joinable()) thread.join();
    }
    hub.documents_work.reset();
    for (std::thread& thread : document_threads) {
      if (thread.joinable()) thread.join();
    }
  }

  Hub hub;
  uint16_t port = 0;
  std::string url;
  std::vector<std::thread> threads;           // network
  std::vector<std::thread> document_threads;  // document rounds
  std::mutex join_mutex;
};

Result<std::unique_ptr<Server>> Server::start(Options options) {
  auto impl = std::make_unique<Impl>(options);
  Hub& hub = impl->hub;
  const ServerConfig& config = hub.config;
  SQLSYNC_ASSIGN_OR_RETURN(hub.data, DataDirectory::open(&hub.env, config.data_directory, config.max_reducer_bytes));

  boost::system::error_code error;
  const net::ip::address address = net::ip::make_address(config.listen_address, error);
  if (error) return Status::invalid_argument("--listen '" + config.listen_address + "' is not an IP address");
  const tcp::endpoint endpoint(address, config.port);
  const std::string where = config.listen_address + ":" + std::to_string(config.port);
  if (hub.acceptor.open(endpoint.protocol(), error)) return Status::io_error("opening a socket: " + error.message());
  if (hub.acceptor.set_option(net::socket_base::reuse_address(true), error)) {
    return Status::io_error("setting SO_REUSEADDR: " + error.message());
  }
  if (hub.acceptor.bind(endpoint, error)) return Status::io_error("binding " + where + ": " + error.message());
  if (hub.acceptor.listen(net::socket_base::max_listen_connections, error)) {
    return Status::io_error("listening on " + where + ": " + error.message());
  }
  impl->port = hub.acceptor.local_endpoint().port();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  impl->url = "http://" + host + ":" + std::to_string(impl->port);

  if (options.handle_signals) {
    hub.signals.emplace(hub.acceptor_strand, SIGINT, SIGTERM);
    hub.signals->async_wait([&hub](boost::system::error_code signal_error, int signal) {
      if (signal_error) return;
      log_info(std::string("received ") + (signal == SIGINT ? "SIGINT" : "SIGTERM"));
      hub.begin_shutdown();
    });
  }
  net::co_spawn(hub.acceptor_strand, hub.accept_loop(), log_failure("accept loop"));
  for (uint32_t i = 0; i < config.threads; ++i) impl->threads.emplace_back([&hub] { hub.io.run(); });
  for (uint32_t i = 0; i < config.document_threads; ++i) {
    impl->document_threads.emplace_back([&hub] { hub.documents_io.run(); });
  }

  if (!hub.auth.enabled()) {
    log_warning("no auth secret: anyone who can reach this server may read and write every document "
                "(fine for local development; set --auth-secret in production)");
  }
  log_info("sqlsync-server listening on " + impl->url + " (data " + config.data_directory + ")");
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

uint16_t Server::port() const { return impl_->port; }
std::string Server::url() const { return impl_->url; }
const ServerMetrics& Server::metrics() const { return impl_->hub.metrics; }
void Server::shutdown() { impl_->hub.begin_shutdown(); }
void Server::wait() { impl_->join(); }

}  // namespace sqlsync
