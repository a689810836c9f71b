// SyncedDocument: a LocalDocument driven by one I/O thread that runs an
// io_context with a Boost.Beast WebSocket client in C++20 coroutines.
//
// Threading model: the facade's methods post tasks to the io_context (under
// mutex_, so that no task is ever posted after close() queued its own: every
// promise handed to a task is kept). Everything else below runs on the I/O
// thread only, so it needs no locks.
#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "client/backoff.h"
#include "client/server_answers.h"
#include "client/url.h"
#include "sqlsync/client.h"
#include "sync/protocol.h"

namespace sqlsync {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using Micros = std::chrono::microseconds;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// Beast pings a quiet server after half of this and gives the connection up
// if nothing at all arrives for this long (a server that vanished without
// closing its sockets, a dead network path).
constexpr auto kIdleTimeout = std::chrono::seconds(20);
// A protocol message is one journal entry plus a small envelope.
constexpr size_t kMaxMessageBytes = kMaxFrameBytes + 4096;

template <typename T>
std::future<T> ready_future(T value) {
  std::promise<T> promise;
  promise.set_value(std::move(value));
  return promise.get_future();
}

Status closed_error(const char* what) {
  return Status::invalid_argument(std::string(what) + " on a SyncedDocument that is closed");
}

bool same_status(const ConnectionStatus& a, const ConnectionStatus& b) {
  return a.state == b.state && a.reason == b.reason && a.failed_attempts == b.failed_attempts &&
         a.retry_in_micros == b.retry_in_micros;
}

// One WebSocket connection attempt and, once open, the connection.
struct Session {
  explicit Session(asio::io_context& io) : resolver(io), ws(io), close_deadline(io) {}

  asio::ip::tcp::resolver resolver;
  websocket::stream<beast::tcp_stream> ws;
  asio::steady_timer close_deadline;
  bool open = false;              // the WebSocket handshake succeeded
  std::deque<Bytes> outbox;       // the one write queue, sent in order
  bool writing = false;           // a write loop is draining the outbox
  bool close_requested = false;   // close once the outbox is sent
  bool closing = false;           // the close handshake started: no more writes
  std::string failure;            // why we ended the session, if we did
};

// Drops the TCP connection at once; pending operations complete with
// operation_aborted.
void drop_connection(Session& session) {
  session.resolver.cancel();
  beast::get_lowest_layer(session.ws).close();
}

std::string describe_end(const beast::error_code& error, const Session& session) {
  if (!session.failure.empty()) return session.failure;
  if (error == websocket::error::closed) {
    const websocket::close_reason& reason = session.ws.reason();
    std::string text = "server closed the connection (code " + std::to_string(reason.code);
    if (!reason.reason.empty()) text += ": " + std::string(reason.reason.data(), reason.reason.size());
    return text + ")";
  }
  if (error == beast::error::timeout) {
    return "server stopped answering (nothing received for " + std::to_string(kIdleTimeout.count()) + " s)";
  }
  return "connection lost: " + error.message();
}

asio::awaitable<void> close_handshake(std::shared_ptr<Session> session, websocket::close_code code) {
  auto [error] = co_await session->ws.async_close(code, kAsTuple);
  if (error) drop_connection(*session);
}

}  // namespace

const char* connection_state_name(ConnectionState state) {
  switch (state) {
    case ConnectionState::kDisconnected: return "disconnected";
    case ConnectionState::kConnecting: return "connecting";
    case ConnectionState::kConnected: return "connected";
  }
  return "unknown";
}

class SyncedDocument::Impl {
 public:
  Impl(Options options, HttpUrl server, std::unique_ptr<LocalDocument> document, uint64_t jitter_seed)
      : options_(std::move(options)),
        server_(std::move(server)),
        target_(server_.path + "/docs/" + options_.document_id.to_hex() +
                "/sync?reducer=" + percent_encode(options_.reducer_digest)),
        work_(io_.get_executor()),
        document_(std::move(document)),
        backoff_(options_.reconnect_min_micros, options_.reconnect_max_micros, jitter_seed),
        wake_timer_(io_),
        idle_timer_(io_),
        enabled_(options_.connection_enabled) {
    document_->on_rejection([this](const Rejection& rejection) { note_rejection(rejection); });
  }

  ~Impl() {
    // close() joined the thread; this only guards against a missed close.
    if (thread_.joinable()) {
      io_.stop();
      thread_.join();
    }
  }

  void start() {
    asio::co_spawn(io_, run(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  // --- Facade (any thread) ---

  MutationHandle mutate(ByteView mutation) {
    std::promise<Result<Lsn>> applied;
    std::promise<Status> confirmed;
    MutationHandle handle{applied.get_future(), confirmed.get_future()};
    bool posted = post([this, bytes = Bytes(mutation.begin(), mutation.end()), applied = std::move(applied),
                        confirmed = std::move(confirmed)]() mutable {
      apply_mutation(bytes, std::move(applied), std::move(confirmed));
    });
    if (!posted) {
      handle.applied = ready_future<Result<Lsn>>(closed_error("mutate"));
      handle.confirmed = ready_future<Status>(closed_error("mutate"));
    }
    return handle;
  }

  std::future<Result<QueryResult>> query(std::string sql, std::vector<Value> params) {
    std::promise<Result<QueryResult>> promise;
    std::future<Result<QueryResult>> future = promise.get_future();
    bool posted = post([this, sql = std::move(sql), params = std::move(params), promise = std::move(promise)]() mutable {
      promise.set_value(document_->query(sql, params));
    });
    if (!posted) return ready_future<Result<QueryResult>>(closed_error("query"));
    return future;
  }

  Result<SubscriptionId> subscribe(std::string sql, std::vector<Value> params, QueryCallback callback) {
    auto subscriber = std::make_shared<Subscriber>(std::move(callback));
    std::lock_guard lock(mutex_);
    if (closed_) return closed_error("subscribe");
    const SubscriptionId id = ++last_subscription_id_;
    subscribers_.emplace(id, subscriber);
    asio::post(io_, [this, id, subscriber, sql = std::move(sql), params = std::move(params)]() mutable {
      start_subscription(id, subscriber, std::move(sql), std::move(params));
    });
    return id;
  }

  void unsubscribe(SubscriptionId id) {
    std::lock_guard lock(mutex_);
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) return;
    it->second->active = false;
    subscribers_.erase(it);
    if (!closed_) asio::post(io_, [this, id] { end_subscription(id); });
  }

  void set_connection_enabled(bool enabled) {
    post([this, enabled] { enable_connection(enabled); });
  }

  ConnectionStatus connection_status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }

  std::future<Status> sync(Lsn storage_next) {
    std::promise<Status> promise;
    std::future<Status> future = promise.get_future();
    bool posted = post([this, storage_next, promise = std::move(promise)]() mutable {
      sync_waiters_.push_back(SyncWaiter{document_->timeline_range().next(), storage_next, std::move(promise)});
      resolve_sync_waiters();
    });
    if (!posted) return ready_future<Status>(closed_error("sync"));
    return future;
  }

  std::future<SyncState> sync_state() {
    std::promise<SyncState> promise;
    std::future<SyncState> future = promise.get_future();
    bool posted = post([this, promise = std::move(promise)]() mutable {
      promise.set_value(SyncState{connection_status(), document_->pending_mutations(), document_->timeline_range(),
                                  document_->storage_range()});
    });
    if (!posted) {
      SyncState state;
      state.connection = connection_status();
      return ready_future<SyncState>(std::move(state));
    }
    return future;
  }

  Status close() {
    // Serializes concurrent close() calls: the second waits for the first.
    std::lock_guard close_lock(close_mutex_);
    {
      std::lock_guard lock(mutex_);
      if (closed_) return Status::ok();
      if (std::this_thread::get_id() == thread_.get_id()) {
        return Status::busy("SyncedDocument::close() called from a callback on its own I/O thread");
      }
      closed_ = true;
      asio::post(io_, [this] { begin_close(); });
    }
    thread_.join();
    return last_error_;
  }

 private:
  struct Subscriber {
    explicit Subscriber(QueryCallback callback) : callback(std::move(callback)) {}
    QueryCallback callback;
    std::atomic<bool> active{true};
  };
  struct UnconfirmedMutation {
    Lsn lsn = 0;
    std::promise<Status> confirmed;
    std::optional<std::string> rejection;  // the server reducer's message
  };
  struct SyncWaiter {
    Lsn timeline_next = 0;  // every mutation before this LSN must be settled
    Lsn storage_next = 0;   // the storage log must reach this LSN
    std::promise<Status> done;
  };

  // Queues `task` for the I/O thread; false (task dropped) once closed.
  template <typename Task>
  bool post(Task&& task) {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    asio::post(io_, std::forward<Task>(task));
    return true;
  }

  // Runs a user callback where callbacks run.
  void deliver(std::function<void()> task) {
    if (options_.callback_executor) {
      options_.callback_executor(std::move(task));
    } else {
      task();
    }
  }

  void set_status(ConnectionState state, std::string reason, uint64_t retry_in_micros) {
    ConnectionStatus status{state, std::move(reason), backoff_.failures(), retry_in_micros};
    {
      std::lock_guard lock(mutex_);
      if (same_status(status, status_)) return;
      status_ = status;
    }
    if (options_.on_connection_status) {
      deliver([callback = options_.on_connection_status, status] { callback(status); });
    }
  }

  // Keeps the first error of the replica for close() to return.
  void record(const Status& status) {
    if (!status.is_ok() && last_error_.is_ok()) last_error_ = status;
  }

  // --- I/O thread ---

  // Connects, serves, and reconnects after a backoff, while enabled and not
  // closing; then finishes the close.
  asio::awaitable<void> run() {
    while (!closing_) {
      if (!enabled_) {
        set_status(ConnectionState::kDisconnected, "connection disabled", 0);
        wake_timer_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_timer_.async_wait(kAsTuple);
        continue;
      }
      set_status(ConnectionState::kConnecting, {}, 0);
      std::string reason = co_await run_session();
      if (closing_ || !enabled_) continue;
      const uint64_t delay = backoff_.next_delay_micros();
      set_status(ConnectionState::kDisconnected, std::move(reason), delay);
      wake_timer_.expires_after(Micros(delay));
      co_await wake_timer_.async_wait(kAsTuple);
    }
    finish_close();
  }

  // One connection from attempt to end; returns why it ended.
  asio::awaitable<std::string> run_session() {
    auto session = std::make_shared<Session>(io_);
    session_ = session;
    std::string reason = co_await open_session(*session);
    if (reason.empty()) reason = co_await serve(session);
    session->close_deadline.cancel();
    session_.reset();
    idle_timer_.cancel();
    announced_.clear();
    if (document_->connected()) record(document_->disconnect());
    after_document_call();
    co_return reason;
  }

  // Resolves, connects and opens the WebSocket; "" on success.
  asio::awaitable<std::string> open_session(Session& session) {
    auto [resolve_error, endpoints] = co_await session.resolver.async_resolve(server_.host, server_.port, kAsTuple);
    if (resolve_error) co_return "cannot resolve " + server_.host + ": " + resolve_error.message();
    if (session.close_requested) co_return "connection attempt cancelled";

    beast::tcp_stream& tcp = beast::get_lowest_layer(session.ws);
    tcp.expires_after(Micros(options_.connect_timeout_micros));
    auto [connect_error, endpoint] = co_await tcp.async_connect(endpoints, kAsTuple);
    if (connect_error) co_return "cannot connect to " + server_.authority() + ": " + connect_error.message();
    tcp.expires_never();
    beast::error_code ignored;
    tcp.socket().set_option(asio::ip::tcp::no_delay(true), ignored);

    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = Micros(options_.connect_timeout_micros);
    timeouts.idle_timeout = kIdleTimeout;
    timeouts.keep_alive_pings = true;
    session.ws.set_option(timeouts);
    websocket::permessage_deflate deflate;
    deflate.client_enable = true;
    session.ws.set_option(deflate);
    session.ws.set_option(websocket::stream_base::decorator([token = options_.token](websocket::request_type& request) {
      request.set(beast::http::field::user_agent, "sqlsync-client");
      if (!token.empty()) request.set(beast::http::field::authorization, "Bearer " + token);
    }));
    session.ws.read_message_max(kMaxMessageBytes);
    session.ws.binary(true);

    websocket::response_type response;
    auto [handshake_error] = co_await session.ws.async_handshake(response, server_.authority(), target_, kAsTuple);
    if (handshake_error) {
      const unsigned code = response.result_int();
      if (code != 0 && code != 101) {
        co_return "server refused the connection: " + std::to_string(code) + " " + std::string(response.reason()) +
            ": " + server_error_message(response.body());
      }
      co_return "WebSocket handshake with " + server_.authority() + " failed: " + handshake_error.message();
    }
    // A close requested while the handshake completed dropped the socket.
    if (session.close_requested) co_return "connection attempt cancelled";
    session.open = true;
    co_return std::string();
  }

  // Runs the replication protocol until the connection ends.
  asio::awaitable<std::string> serve(std::shared_ptr<Session> session) {
    backoff_.reset();
    set_status(ConnectionState::kConnected, {}, 0);
    enqueue(session, document_->connect());
    send_ready();

    beast::flat_buffer buffer;
    for (;;) {
      auto [read_error, size] = co_await session->ws.async_read(buffer, kAsTuple);
      if (read_error) co_return describe_end(read_error, *session);
      if (session->closing) {
        buffer.consume(buffer.size());
        continue;
      }
      if (!session->ws.got_binary()) {
        fail(session, "the server sent a text message; the protocol is binary");
        continue;
      }
      const ByteView transport_message(static_cast<const uint8_t*>(buffer.data().data()), buffer.size());
      Status received = receive(session, transport_message);
      buffer.consume(buffer.size());
      if (!received.is_ok()) {
        fail(session, "the server sent a message this replica refuses: " + received.to_string());
        continue;
      }
      send_ready();
      after_document_call();
      arm_idle_flush();
    }
  }

  // Hands the protocol messages of one transport message (one, or a batch)
  // to the replica and queues its replies.
  Status receive(const std::shared_ptr<Session>& session, ByteView transport_message) {
    SQLSYNC_ASSIGN_OR_RETURN(std::vector<ByteView> messages, split_batch(transport_message));
    for (ByteView message : messages) {
      note_announcement(message);
      SQLSYNC_ASSIGN_OR_RETURN(std::vector<Bytes> replies, document_->receive(message));
      enqueue(session, std::move(replies));
    }
    return Status::ok();
  }

  // Remembers where each storage log of the server ended when the server
  // announced it (its RangeRequests: at the start of a connection, and for
  // the new log after a compaction): the targets of sync().
  void note_announcement(ByteView message) {
    Result<Message> decoded = decode_message(message);
    if (!decoded.is_ok()) return;  // receive() reports it
    if (const auto* request = std::get_if<RangeRequest>(&*decoded)) {
      announced_[request->journal] = request->source_range.next();
    }
  }

  // True if the replica holds its current storage log up to where the
  // server announced it on this connection.
  bool holds_announced_log() {
    auto it = announced_.find(document_->storage_log_id());
    return it != announced_.end() && document_->storage_range().next() >= it->second;
  }

  void enqueue(const std::shared_ptr<Session>& session, std::vector<Bytes> messages) {
    if (session->closing) return;
    for (Bytes& message : messages) session->outbox.push_back(std::move(message));
    if (!session->writing && !session->outbox.empty()) {
      session->writing = true;
      asio::co_spawn(io_, write_loop(session), asio::detached);
    }
  }

  asio::awaitable<void> write_loop(std::shared_ptr<Session> session) {
    while (!session->outbox.empty() && !session->closing) {
      auto [error, written] = co_await session->ws.async_write(asio::buffer(session->outbox.front()), kAsTuple);
      if (error) {
        if (session->failure.empty()) session->failure = "sending to the server failed: " + error.message();
        drop_connection(*session);
        break;
      }
      session->outbox.pop_front();
    }
    session->writing = false;
    if (session->close_requested) start_close(session, websocket::close_code::normal);
  }

  // Sends the messages the replica has ready (new mutations, acks).
  void send_ready() {
    if (!session_ || !session_->open) return;
    Result<std::vector<Bytes>> messages = document_->poll();
    if (!messages.is_ok()) {
      fail(session_, "the replica could not prepare messages: " + messages.status().to_string());
      return;
    }
    enqueue(session_, std::move(*messages));
  }

  // Ends the session because of `reason`, without sending what is queued.
  // The queue itself is left alone: a write in flight still reads its front
  // element, and the write loop stops after that write once the close has
  // started.
  void fail(const std::shared_ptr<Session>& session, std::string reason) {
    if (session->failure.empty()) session->failure = std::move(reason);
    start_close(session, websocket::close_code::protocol_error);
  }

  // Ends the session gracefully: what is queued is sent first. Bounded by
  // connect_timeout_micros.
  void request_close(const std::shared_ptr<Session>& session) {
    if (session->close_requested) return;
    session->close_requested = true;
    session->close_deadline.expires_after(Micros(options_.connect_timeout_micros));
    session->close_deadline.async_wait([session](const beast::error_code& error) {
      if (!error) drop_connection(*session);
    });
    if (!session->open) {
      drop_connection(*session);
    } else if (!session->writing) {
      start_close(session, websocket::close_code::normal);
    }
  }

  void start_close(const std::shared_ptr<Session>& session, websocket::close_code code) {
    if (session->closing || !session->open) return;
    session->closing = true;
    asio::co_spawn(io_, close_handshake(session, code), asio::detached);
  }

  // The frames hint may have deferred a rebase: once the connection is quiet,
  // show what arrived.
  void arm_idle_flush() {
    idle_timer_.expires_after(Micros(options_.idle_flush_micros));
    idle_timer_.async_wait([this](const beast::error_code& error) {
      if (error) return;
      record(document_->flush());
      after_document_call();
    });
  }

  // After any call that may have rebased: settle mutations, wake sync().
  void after_document_call() {
    settle_mutations();
    resolve_sync_waiters();
  }

  // A rebase drops every timeline LSN the server has given a verdict on.
  void settle_mutations() {
    const Lsn first_pending = document_->timeline_range().first();
    while (!unconfirmed_.empty() && unconfirmed_.front().lsn < first_pending) {
      UnconfirmedMutation& mutation = unconfirmed_.front();
      mutation.confirmed.set_value(mutation.rejection ? Status::rejected(*mutation.rejection) : Status::ok());
      unconfirmed_.pop_front();
    }
  }

  // Called by the replica inside the call that rebases; settle_mutations()
  // runs after that call, so the verdict is in place when it resolves.
  void note_rejection(const Rejection& rejection) {
    auto it = std::lower_bound(unconfirmed_.begin(), unconfirmed_.end(), rejection.lsn,
                               [](const UnconfirmedMutation& mutation, Lsn lsn) { return mutation.lsn < lsn; });
    if (it != unconfirmed_.end() && it->lsn == rejection.lsn) it->rejection = rejection.message;
    if (options_.on_rejection) deliver([callback = options_.on_rejection, rejection] { callback(rejection); });
  }

  void resolve_sync_waiters() {
    if (sync_waiters_.empty() || !session_ || !session_->open || !holds_announced_log()) return;
    // What the hint deferred must show before anyone is told "synced"; the
    // rebase may also move the replica to a compacted log.
    record(document_->flush());
    settle_mutations();
    if (!holds_announced_log()) return;
    const Lsn held = document_->storage_range().next();
    const Lsn first_pending = document_->timeline_range().first();
    for (auto it = sync_waiters_.begin(); it != sync_waiters_.end();) {
      if (held >= it->storage_next && first_pending >= it->timeline_next) {
        it->done.set_value(Status::ok());
        it = sync_waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void apply_mutation(ByteView mutation, std::promise<Result<Lsn>> applied, std::promise<Status> confirmed) {
    const Lsn lsn = document_->timeline_range().next();
    Status status = document_->mutate(mutation);
    if (!status.is_ok()) {
      applied.set_value(status);
      confirmed.set_value(status);
      return;
    }
    applied.set_value(lsn);
    unconfirmed_.push_back(UnconfirmedMutation{lsn, std::move(confirmed), std::nullopt});
    send_ready();
  }

  void start_subscription(SubscriptionId id, const std::shared_ptr<Subscriber>& subscriber, std::string sql,
                          std::vector<Value> params) {
    if (!subscriber->active) return;
    Result<LocalDocument::SubscriptionId> local = document_->subscribe(
        std::move(sql), std::move(params),
        [this, subscriber](const Result<QueryResult>& result) { deliver_result(subscriber, result); });
    if (!local.is_ok()) {
      deliver_result(subscriber, local.status());
      return;
    }
    local_subscriptions_.emplace(id, *local);
  }

  void end_subscription(SubscriptionId id) {
    auto it = local_subscriptions_.find(id);
    if (it == local_subscriptions_.end()) return;
    document_->unsubscribe(it->second);
    local_subscriptions_.erase(it);
  }

  void deliver_result(const std::shared_ptr<Subscriber>& subscriber, const Result<QueryResult>& result) {
    if (!options_.callback_executor) {
      if (subscriber->active) subscriber->callback(result);
      return;
    }
    auto copy = std::make_shared<Result<QueryResult>>(result);
    options_.callback_executor([subscriber, copy] {
      if (subscriber->active) subscriber->callback(*copy);
    });
  }

  void enable_connection(bool enabled) {
    if (enabled_ == enabled) return;
    enabled_ = enabled;
    if (!enabled && session_) request_close(session_);
    wake_timer_.cancel();
  }

  void begin_close() {
    closing_ = true;
    enabled_ = false;
    if (session_) request_close(session_);
    wake_timer_.cancel();
  }

  void finish_close() {
    idle_timer_.cancel();
    record(document_->flush());
    settle_mutations();
    for (UnconfirmedMutation& mutation : unconfirmed_) {
      mutation.confirmed.set_value(Status::busy("the document closed before the server confirmed the mutation at lsn " +
                                                std::to_string(mutation.lsn)));
    }
    unconfirmed_.clear();
    for (SyncWaiter& waiter : sync_waiters_) waiter.done.set_value(Status::busy("the document closed before it synced"));
    sync_waiters_.clear();
    set_status(ConnectionState::kDisconnected, "closed", 0);
    work_.reset();
    // Every task posted before close() ran before begin_close(); nothing
    // left in the queue holds a promise.
    io_.stop();
  }

  const Options options_;
  const HttpUrl server_;
  const std::string target_;  // path and query of the WebSocket URL

  // Shared between callers and the I/O thread.
  std::mutex close_mutex_;
  mutable std::mutex mutex_;
  bool closed_ = false;  // guarded by mutex_; no task is posted once set
  ConnectionStatus status_;  // guarded by mutex_
  std::map<SubscriptionId, std::shared_ptr<Subscriber>> subscribers_;  // guarded by mutex_
  SubscriptionId last_subscription_id_ = 0;  // guarded by mutex_

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;

  // I/O thread only (and the closing thread after the join).
  std::unique_ptr<LocalDocument> document_;
  ReconnectBackoff backoff_;
  asio::steady_timer wake_timer_;  // backoff delay, or waiting while disabled
  asio::steady_timer idle_timer_;
  bool enabled_;
  bool closing_ = false;
  std::shared_ptr<Session> session_;  // the current attempt or connection
  std::map<JournalId, Lsn> announced_;  // storage logs' ends, on this connection
  std::deque<UnconfirmedMutation> unconfirmed_;  // by LSN
  std::vector<SyncWaiter> sync_waiters_;
  std::map<SubscriptionId, LocalDocument::SubscriptionId> local_subscriptions_;
  Status last_error_;
};

Result<std::unique_ptr<SyncedDocument>> SyncedDocument::open(Options options) {
  if (options.document_id.is_zero()) return Status::invalid_argument("SyncedDocument needs a document id");
  if (!options.reducer) return Status::invalid_argument("SyncedDocument needs a reducer");
  if (options.reducer_digest.empty()) {
    return Status::invalid_argument("SyncedDocument needs the reducer's digest (load_reducer computes it)");
  }
  if (options.reconnect_min_micros == 0 || options.reconnect_min_micros > options.reconnect_max_micros) {
    return Status::invalid_argument("SyncedDocument needs 0 < reconnect_min_micros <= reconnect_max_micros");
  }
  Result<HttpUrl> server = parse_http_url(options.server_url);
  if (!server.is_ok()) return server.status().with_context("SyncedDocument server_url");
  Env* env = options.env ? options.env : Env::posix();

  LocalDocument::Options local;
  local.document_id = options.document_id;
  local.timeline_id = options.timeline_id;
  local.reducer = options.reducer;
  local.env = env;
  local.directory = options.directory;
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<LocalDocument> document, LocalDocument::open(std::move(local)));

  uint64_t seed = options.jitter_seed;
  if (seed == 0) {
    uint8_t bytes[8];
    env->random_bytes(bytes);
    for (uint8_t byte : bytes) seed = (seed << 8) | byte;
  }
  const JournalId document_id = document->document_id();
  const JournalId timeline_id = document->timeline_id();
  auto impl = std::make_unique<Impl>(std::move(options), std::move(*server), std::move(document), seed);
  impl->start();
  return std::unique_ptr<SyncedDocument>(new SyncedDocument(document_id, timeline_id, std::move(impl)));
}

SyncedDocument::SyncedDocument(JournalId document_id, JournalId timeline_id, std::unique_ptr<Impl> impl)
    : document_id_(document_id), timeline_id_(timeline_id), impl_(std::move(impl)) {}

SyncedDocument::~SyncedDocument() { close().ignore(); }

SyncedDocument::MutationHandle SyncedDocument::mutate(ByteView mutation) { return impl_->mutate(mutation); }

std::future<Result<QueryResult>> SyncedDocument::query(std::string sql, std::vector<Value> params) {
  return impl_->query(std::move(sql), std::move(params));
}

Result<SyncedDocument::SubscriptionId> SyncedDocument::subscribe(std::string sql, std::vector<Value> params,
                                                                 QueryCallback callback) {
  return impl_->subscribe(std::move(sql), std::move(params), std::move(callback));
}

void SyncedDocument::unsubscribe(SubscriptionId id) { impl_->unsubscribe(id); }
void SyncedDocument::set_connection_enabled(bool enabled) { impl_->set_connection_enabled(enabled); }
ConnectionStatus SyncedDocument::connection_status() const { return impl_->connection_status(); }
std::future<Status> SyncedDocument::sync(Lsn storage_next) { return impl_->sync(storage_next); }
std::future<SyncedDocument::SyncState> SyncedDocument::sync_state() { return impl_->sync_state(); }
Status SyncedDocument::close() { return impl_->close(); }

}  // namespace sqlsync
