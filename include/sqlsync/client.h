// The native client library: a replica of one document kept in sync with a
// sqlsync-server (docs/server.md) over a WebSocket, behind a thread-safe
// facade, and blocking calls to the server's HTTP endpoints. Native builds
// only (library target `sqlsync_client`). Guide: docs/client.md.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsync/env.h"
#include "sqlsync/local_document.h"
#include "sqlsync/reducer.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// A reducer loaded from the bytes the server stores, with its content
// address.
struct LoadedReducer {
  std::shared_ptr<Reducer> reducer;
  std::string digest;  // lowercase hex SHA-256 of the bytes
};

// Loads a reducer from its file contents: a WebAssembly module (it starts
// with "\0asm", see src/reducer/wasm_reducer.h; default limits, the guest's
// log dropped) or else the text of a SQL reducer (docs/sql-reducer.md).
// Errors: the loader's InvalidArgument/Unsupported/Rejected, naming the
// problem. Any thread.
Result<LoadedReducer> load_reducer(ByteView bytes);

// What the server answered to an upload.
struct ReducerUpload {
  std::string digest;  // lowercase hex SHA-256, the reducer's name on the server
  std::string kind;    // "wasm" or "sql"
};

// What the server knows of a document (GET /docs/{id}).
struct DocumentInfo {
  JournalId id;
  std::string reducer_digest;
  uint32_t schema_version = 0;
  LsnRange storage_range;  // the server's storage log
};

// Blocking calls to a sqlsync-server's HTTP endpoints. Each call opens its own
// connection, so one ServerClient may be used from any number of threads at
// once. Errors: IOError when the server cannot be reached, times out or
// answers 5xx; NotFound for 404; InvalidArgument for any other refusal (bad
// input, 401/403 token problems, 413 too large), with the server's own
// message; Corruption for an answer that is not what docs/server.md says.
class ServerClient {
 public:
  // `server_url` is "http://host:port", optionally with a path prefix;
  // `token` (may be empty) is sent as "Authorization: Bearer <token>".
  // InvalidArgument if the URL is malformed (https is not supported).
  static Result<ServerClient> create(std::string_view server_url, std::string token = {});

  // "http://host:port[/prefix]", normalized.
  const std::string& url() const { return url_; }
  // Each call fails with IOError after this long (default 30 s).
  void set_timeout_micros(uint64_t timeout) { timeout_micros_ = timeout; }

  // GET /healthz: ok if the server answers 2xx.
  Status health() const;
  // PUT /reducers: uploads a .wasm module or .sql reducer text. The server
  // validates it by loading it (InvalidArgument with its loader's message).
  Result<ReducerUpload> upload_reducer(ByteView reducer) const;
  // GET /reducers/<digest>: the reducer's bytes, checked against `digest`
  // (Corruption if they do not match).
  Result<Bytes> download_reducer(std::string_view digest) const;
  // POST /docs: a new document bound to the reducer `reducer_digest`. With a
  // `name`, the server derives the id from it: the same name always gives
  // the same document (idempotent).
  Result<JournalId> create_document(std::string_view reducer_digest, std::string_view name = {}) const;
  // GET /docs/{id}; NotFound if the server does not know the document.
  Result<DocumentInfo> document_info(const JournalId& document) const;
  // document_info(), then download_reducer() and load_reducer(): the reducer
  // a replica of `document` needs.
  Result<LoadedReducer> fetch_reducer(const JournalId& document) const;
  // GET /docs/{id}/query: a read-only query of the server's authoritative
  // state (not of any replica). BLOBs arrive as {"blob": [...]}, INTEGERs
  // beyond 2^53 may lose precision on the way (docs/server.md).
  Result<QueryResult> query(const JournalId& document, std::string_view sql) const;

 private:
  struct Response;
  ServerClient(std::string host, std::string port, std::string path, std::string url, std::string token)
      : host_(std::move(host)), port_(std::move(port)), path_(std::move(path)), url_(std::move(url)),
        token_(std::move(token)) {}
  Result<Response> request(std::string_view method, const std::string& target, ByteView body,
                           std::string_view content_type) const;

  std::string host_;
  std::string port_;
  std::string path_;
  std::string url_;
  std::string token_;
  uint64_t timeout_micros_ = 30'000'000;
};

enum class ConnectionState { kDisconnected, kConnecting, kConnected };
// "disconnected", "connecting", "connected".
const char* connection_state_name(ConnectionState state);

struct ConnectionStatus {
  ConnectionState state = ConnectionState::kDisconnected;
  // kDisconnected: why the last connection ended or the last attempt failed
  // ("cannot connect to 127.0.0.1:8080: Connection refused", "connection
  // disabled", "closed", ...); empty before the first attempt and otherwise.
  std::string reason;
  // Attempts that failed since the last successful connection.
  uint32_t failed_attempts = 0;
  // kDisconnected: microseconds until the next attempt starts; 0 when none is
  // scheduled (disabled or closed).
  uint64_t retry_in_micros = 0;
};

// A document replica (a LocalDocument, in memory or in a directory) synced
// with a sqlsync-server by a background I/O thread that this object owns.
//
// Threads: every method may be called from any thread at once. All work on
// the replica happens on the I/O thread, in the order the calls were made;
// methods return at once with a future or take a callback. Callbacks run on
// the I/O thread, in order, unless Options::callback_executor is set: then
// each one is handed to the executor instead. A callback on the I/O thread
// must not block, must not wait on a future of this document (that work is
// queued behind the callback: deadlock) and must not close() it; it may call
// every other method.
//
// Connection: the thread connects to
// `<server_url>/docs/<id>/sync?reducer=<digest>` (the server creates a
// document it does not know, bound to that reducer), runs the replication
// protocol, and reconnects after any failure with exponential backoff and
// jitter, for as long as the connection is enabled. Mutations made while
// disconnected are sent when a connection opens; nothing is lost and nothing
// is applied twice across reconnects.
class SyncedDocument {
 public:
  using SubscriptionId = uint64_t;
  using QueryCallback = LocalDocument::QueryCallback;
  using RejectionCallback = LocalDocument::RejectionCallback;
  using StatusCallback = std::function<void(const ConnectionStatus&)>;
  // Runs a callback somewhere else (a UI thread's queue, a thread pool...).
  // Called on the I/O thread; must not block and must eventually run `task`
  // (the order of tasks is the order of calls to the executor).
  using Executor = std::function<void(std::function<void()> task)>;

  struct Options {
    // Required: the server, "http://host:port" with an optional path prefix.
    std::string server_url;
    // Required: the document (a random id made offline, or one from
    // ServerClient::create_document).
    JournalId document_id;
    // Required: the reducer and its digest (load_reducer gives both, or
    // ServerClient::fetch_reducer for a document the server already has).
    std::shared_ptr<Reducer> reducer;
    std::string reducer_digest;
    // Bearer token for the server; empty: none.
    std::string token;
    // Directory of a durable replica (state and unsent mutations survive a
    // restart, see LocalDocument::Options::directory); empty: memory only.
    std::string directory;
    // This replica's timeline; zero: a fresh random id (or the one stored in
    // `directory`).
    JournalId timeline_id;
    // Files, clock and randomness; nullptr: Env::posix(). Must outlive this
    // object.
    Env* env = nullptr;

    // Whether to connect at once (see set_connection_enabled).
    bool connection_enabled = true;
    // Reconnection delays (ReconnectBackoff): the n-th consecutive failure
    // waits a random time in [d/2, d], d = min(max, min * 2^(n-1)).
    uint64_t reconnect_min_micros = 100'000;
    uint64_t reconnect_max_micros = 10'000'000;
    // Seed of the jitter; 0: drawn from `env`.
    uint64_t jitter_seed = 0;
    // Bound on the TCP connect and the WebSocket opening and closing
    // handshakes.
    uint64_t connect_timeout_micros = 10'000'000;
    // Frames the server announced as a burst are made visible (one rebase)
    // once the connection has been quiet this long.
    uint64_t idle_flush_micros = 5'000;

    // Where callbacks run; empty: on the I/O thread (see the class comment).
    Executor callback_executor;
    // Each change of connection state (also each failed attempt).
    StatusCallback on_connection_status;
    // Each mutation of this replica's timeline the server's reducer refused,
    // including mutations made before a restart of a durable replica.
    RejectionCallback on_rejection;
  };

  // The three stages of a mutation. Both futures always get a value.
  struct MutationHandle {
    // The LSN the mutation got in the timeline, or the local reducer's error
    // (then nothing was kept or sent).
    std::future<Result<Lsn>> applied;
    // Ok once the server applied it and this replica has rebased onto the
    // result; Rejected with the server reducer's message if it refused it;
    // the local error if it was not applied; Busy if the document closed
    // first (a durable replica still sends the mutation after it reopens).
    std::future<Status> confirmed;
  };

  // A snapshot of the replica's progress.
  struct SyncState {
    ConnectionStatus connection;
    uint64_t pending_mutations = 0;  // made here, not yet confirmed or rejected
    LsnRange timeline_range;         // their LSNs
    LsnRange storage_range;          // the server's storage log held here
  };

  // Opens the replica (on the caller's thread), then starts the I/O thread.
  // Errors: InvalidArgument for a missing field or malformed URL; the
  // replica's own errors (LocalDocument::open), e.g. IOError for the
  // directory. Network problems are not errors here: they show in the
  // connection status while the thread retries.
  static Result<std::unique_ptr<SyncedDocument>> open(Options options);
  // close(), ignoring its status. Like close(), must not run on the I/O
  // thread (in a callback).
  ~SyncedDocument();
  SyncedDocument(const SyncedDocument&) = delete;
  SyncedDocument& operator=(const SyncedDocument&) = delete;

  JournalId document_id() const { return document_id_; }
  JournalId timeline_id() const { return timeline_id_; }

  // Runs the reducer on a copy of `mutation` locally (optimistically) and
  // sends it to the server. See MutationHandle for the stages.
  MutationHandle mutate(ByteView mutation);

  // A read-only query of the local state, pending mutations included.
  std::future<Result<QueryResult>> query(std::string sql, std::vector<Value> params = {});

  // Runs `sql` now and again whenever a table it reads changes (local
  // mutations, server frames), passing the results (or the error, e.g. bad
  // SQL) to `callback` where callbacks run. The first call comes soon after
  // this returns, not inside it. InvalidArgument if the document is closed.
  Result<SubscriptionId> subscribe(std::string sql, std::vector<Value> params, QueryCallback callback);
  // After this returns the subscription's callback is not started again
  // (one already running, on another thread, finishes). Unknown ids are
  // ignored.
  void unsubscribe(SubscriptionId id);

  // Enables or disables the connection. Disabling closes an open connection
  // gracefully (queued messages are sent first) and stops reconnecting; the
  // replica keeps working offline. Enabling connects at once, skipping any
  // backoff delay.
  void set_connection_enabled(bool enabled);
  // The latest connection status (the one last given to the status
  // callback).
  ConnectionStatus connection_status() const;

  // Resolves ok once, over one connection, every mutation made before this
  // call has been confirmed or rejected and the replica holds (and shows) its
  // storage log up to where the server announced that log on the connection
  // (when it opened, or after a compaction), and at least up to
  // `storage_next` (to catch up with changes made since: pass
  // DocumentInfo::storage_range.next() from ServerClient::document_info).
  // Waits through disconnections. Busy if the document closes first.
  std::future<Status> sync(Lsn storage_next = 0);
  // The replica's progress, computed on the I/O thread.
  std::future<SyncState> sync_state();

  // Sends what is queued, closes the connection gracefully (bounded by
  // Options::connect_timeout_micros), makes frames received but not yet
  // shown visible, resolves every outstanding future (unconfirmed mutations
  // and sync() with Busy), and joins the I/O thread. Idempotent: later calls
  // return ok. Returns the replica's last error, if any. Must not be called
  // from a callback on the I/O thread (Busy: nothing happens).
  Status close();

 private:
  class Impl;
  SyncedDocument(JournalId document_id, JournalId timeline_id, std::unique_ptr<Impl> impl);

  JournalId document_id_;
  JournalId timeline_id_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqlsync
