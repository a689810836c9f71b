// The authoritative copy of one document. Receives replicas' timelines,
// applies queued mutations in arrival order (step), and replicates its storage
// log back. Sans-IO: connections are ids, messages are bytes.
//
// Not thread-safe: one coordinator document is driven by one thread (the
// server runs it on its own strand).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sqlsync/env.h"
#include "sqlsync/reducer.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

class CoordinatorDocument {
 public:
  struct Options {
    JournalId document_id;             // required; the storage log's id
    std::shared_ptr<Reducer> reducer;  // required
    Env* env = nullptr;                // required; must outlive the document
    // Directory holding the document's journals (created if missing;
    // reopened and recovered if it exists). Empty: memory only, lost with
    // the object (tests, simulations).
    std::string directory = {};
    // Applied no-op mutations are acknowledged in the document no later than
    // this long after they were applied, even if nothing else changes.
    uint64_t noop_ack_delay_micros = 50'000;
    // A durable document drops applied mutations from its inbox file at most
    // this often (each truncation costs a few syncs; group commit should
    // not pay them every round).
    uint64_t inbox_truncation_interval_micros = 1'000'000;
    // Log compaction (DESIGN 6.7): poll() compacts once the storage log holds
    // more than `compaction_ratio` times the database size and at least
    // `compaction_min_log_bytes` (so tiny documents do not churn). A ratio
    // of 0 disables automatic compaction; compact() still works.
    double compaction_ratio = 4;
    uint64_t compaction_min_log_bytes = 1 << 20;
    // A compacted log stays servable to replicas still on it for this long,
    // measured with env->now_micros() from the compaction (or from open()
    // for logs kept from before a restart); then it is deleted.
    uint64_t old_log_grace_micros = 600'000'000;
  };
  using ConnectionId = uint64_t;

  struct StepReport {
    uint64_t applied = 0;   // mutations the reducer accepted
    uint64_t rejected = 0;  // mutations the reducer refused (recorded)
    bool committed_frame = false;
  };

  static Result<std::unique_ptr<CoordinatorDocument>> open(Options options);
  ~CoordinatorDocument();

  JournalId document_id() const;

  // --- Sync (sans-IO) ---
  std::vector<Bytes> connect(ConnectionId connection);
  // An error means the message or peer is bad: close that connection;
  // other connections and the document are unaffected.
  Result<std::vector<Bytes>> receive(ConnectionId connection, ByteView message);
  void disconnect(ConnectionId connection);
  // Makes everything received and committed so far durable (group commit:
  // one sync per journal, however many mutations and frames), then returns
  // the messages ready for each connection: acknowledgements of durable
  // mutations and durable storage frames. Nothing is acknowledged or sent
  // before it is durable. Call once per round, after receive() and step().
  Result<std::vector<std::pair<ConnectionId, Bytes>>> poll();

  // Applies every queued mutation in arrival order in one transaction,
  // each under its own savepoint: a rejected mutation is rolled back alone,
  // consumed, and recorded for its author. Commits at most one frame. If a
  // reducer ends the transaction from inside, the queue is applied one
  // mutation per transaction and only that mutation is refused. On any
  // other error nothing is consumed; the same work is tried at the next step.
  Result<StepReport> step();
  // True if step() has work: queued mutations, a due no-op acknowledgement,
  // or rejections a reconnected author has seen and that can be pruned.
  bool has_work() const;

  // Replaces the reducer (an application update). If the new reducer's
  // schema version is higher, its migrations run now in a frame of their own;
  // if it is lower than the document's, Unsupported and nothing changes.
  Status set_reducer(std::shared_ptr<Reducer> reducer);

  // A server-initiated change, in its own transaction and frame.
  Status mutate_direct(const std::function<Status(Transaction&)>& change);
  // Read-only query of the authoritative state.
  Result<QueryResult> query(std::string_view sql, std::span<const Value> params = {});

  // Compacts the storage log now (DESIGN 6.7, docs/storage-format.md "Log
  // compaction"): the database becomes the snapshot at LSN 0 of a new log,
  // and the old log ends with a marker naming it; connected replicas are
  // told at the next poll(). Call between steps. With a directory every
  // step is durable before the next starts and reopening finishes or
  // discards a compaction a crash interrupted. On error the document keeps
  // the old log if the marker was not appended; otherwise reopen it.
  Status compact();

  // The current storage log: its id (the document id until the first
  // compaction) and range.
  JournalId storage_log_id() const;
  LsnRange storage_range() const;
  // Bytes of the frames in the current storage log.
  uint64_t storage_log_bytes() const;
  // Older logs still served to replicas (within the grace period).
  size_t retained_logs() const;
  // Replica timelines held in memory: those with a connection, or with
  // mutations not yet applied and recorded. Others are unloaded and resume
  // from the document's __sqlsync_timelines when their replica reconnects.
  size_t timelines_in_memory() const;

 private:
  class Impl;
  explicit CoordinatorDocument(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqlsync
