// A replica's copy of one document: mutate locally (optimistically), query,
// subscribe to queries, and sync with the coordinator through the sans-IO
// methods connect()/receive()/poll() that exchange protocol messages as bytes.
//
// Not thread-safe: use one LocalDocument from one thread (the native client
// library wraps it in a thread-safe facade).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sqlsync/env.h"
#include "sqlsync/reducer.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// A mutation the coordinator's reducer refused, reported to its author.
struct Rejection {
  JournalId timeline;
  Lsn lsn = 0;
  std::string message;  // the reducer's reason, e.g. "no task with id \"t1\""
};

class LocalDocument {
 public:
  struct Options {
    JournalId document_id;  // required; == the id of the coordinator's first storage log
    JournalId timeline_id;  // zero: a fresh random id from env
    std::shared_ptr<Reducer> reducer;  // required
    Env* env = nullptr;                // required; must outlive the document
    // Directory holding the replica's storage log and timeline, through
    // `env` (created if missing, reopened if it exists: data and unsent
    // mutations survive a restart). Empty: memory only.
    std::string directory = {};
    // Rebase at most after this many frames while the sender says more are
    // coming (the frames hint).
    uint32_t max_deferred_frames = 256;
    // With a directory: whether mutate() makes each mutation durable before
    // returning (true), or leaves it to sync() so that one flush serves a
    // burst of mutations and the caller can answer before flushing (false;
    // the browser's worker syncs at the end of each task). Until synced, a
    // mutation is visible locally but not sent, and a crash loses it.
    bool sync_each_mutation = true;
    // Whether receive() rebases as soon as a burst of frames is complete
    // (true), or leaves every rebase to flush() (false: the caller batches
    // many bursts into one rebase, e.g. while the user is typing).
    bool rebase_in_receive = true;
  };

  using SubscriptionId = uint64_t;
  // Called with fresh results (or the error) whenever a subscribed query's
  // tables changed. Runs synchronously inside the call that changed them.
  // Callbacks (these and rejection callbacks) may query() and unsubscribe();
  // mutate/receive/subscribe/flush/set_reducer from them return Busy.
  using QueryCallback = std::function<void(const Result<QueryResult>&)>;
  using RejectionCallback = std::function<void(const Rejection&)>;

  static Result<std::unique_ptr<LocalDocument>> open(Options options);
  ~LocalDocument();

  JournalId document_id() const;
  JournalId timeline_id() const;

  // Runs the reducer on `mutation` in one transaction. On success the
  // mutation joins the timeline (to be sent; durable before this returns
  // when the document has a directory, unless sync_each_mutation is off)
  // and subscriptions refresh; on failure the error is returned and nothing
  // is kept. Unsupported while the document's schema is newer than the
  // reducer (see set_reducer).
  Status mutate(ByteView mutation);
  // Makes every mutation made so far durable, so that it can be sent (only
  // needed with Options::sync_each_mutation off; a no-op when nothing is
  // unsynced or without a directory). On error the timeline is unusable
  // (reopen the document), the effects of the unsynced mutations are
  // withdrawn where possible, and the error is returned.
  Status sync();
  // Replaces the reducer (an application update without a reload). Runs its
  // migrations locally if its schema version is higher than the document's;
  // pending mutations are re-applied with it at the next rebase.
  Status set_reducer(std::shared_ptr<Reducer> reducer);

  // Read-only query of the local state (pending mutations included).
  Result<QueryResult> query(std::string_view sql, std::span<const Value> params = {});

  // Runs `sql` now (callback fires before returning) and again whenever a
  // table it reads changes.
  Result<SubscriptionId> subscribe(std::string sql, std::vector<Value> params, QueryCallback callback);
  void unsubscribe(SubscriptionId id);
  void on_rejection(RejectionCallback callback);

  // --- Sync (sans-IO) ---
  // A connection to the coordinator opened: returns the messages to send.
  std::vector<Bytes> connect();
  // A message arrived: returns the messages to send. An error means the
  // message or the peer is bad: close the connection (nothing is lost;
  // connect() again later).
  Result<std::vector<Bytes>> receive(ByteView message);
  // Messages that became ready since the last call (new mutations to send).
  Result<std::vector<Bytes>> poll();
  // The connection closed. Rebases onto any frames the hint had deferred.
  Status disconnect();
  bool connected() const;

  // Rebases now if frames were received but not yet made visible (the frames
  // hint may have deferred it). Call when the connection goes idle, and
  // after each batch of receive() calls when rebase_in_receive is off.
  Status flush();

  // Mutations made here that the coordinator has not applied yet.
  uint64_t pending_mutations() const;
  // LSN range of those mutations in this replica's timeline: a successful
  // mutate() appends at next(); a rebase drops every LSN the coordinator
  // applied or rejected, so first() passes it once its verdict is known.
  LsnRange timeline_range() const;
  // LSN range of the storage log held here: after the coordinator compacted
  // its log, the new log's (which starts with the snapshot at LSN 0).
  LsnRange storage_range() const;
  // Id of the storage log held here: the document id until the coordinator
  // compacts its log, then the id of the log the replica switched to.
  JournalId storage_log_id() const;

 private:
  class Impl;
  explicit LocalDocument(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqlsync
