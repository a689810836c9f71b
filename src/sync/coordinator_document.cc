#include "sqlsync/coordinator_document.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <tuple>

#include <sqlite3.h>

#include "base/encoding.h"
#include "storage/file_journal.h"
#include "storage/log_manifest.h"
#include "sync/document_database.h"
#include "sync/replication.h"

namespace sqlsync {
namespace {

Value blob(const JournalId& id) { return Bytes(id.view().begin(), id.view().end()); }

// A received mutation as the inbox journal stores it (docs/storage-format.md,
// "Coordinator inbox"): which timeline, which LSN, the mutation.
constexpr uint8_t kInboxEntryVersion = 1;

Bytes encode_inbox_entry(const JournalId& timeline, Lsn lsn, ByteView mutation) {
  Bytes out;
  Encoder encoder(&out);
  encoder.u8(kInboxEntryVersion);
  encoder.journal_id(timeline);
  encoder.u64(lsn);
  encoder.raw(mutation);
  return out;
}

struct InboxEntry {
  JournalId timeline;
  Lsn lsn = 0;
  ByteView mutation;
};

Result<InboxEntry> decode_inbox_entry(ByteView bytes) {
  Decoder decoder(bytes, StatusCode::kCorruption, "inbox entry");
  SQLSYNC_ASSIGN_OR_RETURN(uint8_t version, decoder.u8());
  if (version != kInboxEntryVersion) {
    return decoder.error("unsupported version " + std::to_string(version));
  }
  InboxEntry entry;
  SQLSYNC_ASSIGN_OR_RETURN(entry.timeline, decoder.journal_id());
  SQLSYNC_ASSIGN_OR_RETURN(entry.lsn, decoder.u64());
  SQLSYNC_ASSIGN_OR_RETURN(entry.mutation, decoder.raw(decoder.remaining()));
  return entry;
}

const std::string kCreateInternalTables =
    std::string("CREATE TABLE IF NOT EXISTS ") + kTimelinesTable +
    "(id BLOB PRIMARY KEY, lsn INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS " + kRejectionsTable +
    "(timeline BLOB NOT NULL, lsn INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (timeline, lsn)) WITHOUT ROWID;";

}  // namespace

class CoordinatorDocument::Impl {
 public:
  Impl(Options options, std::unique_ptr<DocumentDatabase> db, std::unique_ptr<Journal> inbox,
       std::vector<std::unique_ptr<Journal>> retained)
      : options_(std::move(options)), db_(std::move(db)), inbox_(std::move(inbox)) {
    const uint64_t expires_at = options_.env->now_micros() + options_.old_log_grace_micros;
    for (auto& log : retained) {
      const JournalId id = log->id();
      retained_.emplace(id, RetainedLog{std::move(log), expires_at});
    }
  }

  JournalId document_id() const { return options_.document_id; }

  // The document is born with its internal tables in frame 0; the reducer's
  // migrations follow in a frame of their own.
  Status initialize() {
    // A crash after the end-log marker became durable: redo the rest.
    if (db_->storage().end_of_log()) SQLSYNC_RETURN_IF_ERROR(finish_compaction());
    if (db_->storage().log().range().is_empty()) {
      SQLSYNC_RETURN_IF_ERROR(db_->in_transaction([&] { return db_->writer().exec(kCreateInternalTables); }));
      SQLSYNC_RETURN_IF_ERROR(db_->storage().commit().status());
    }
    SQLSYNC_RETURN_IF_ERROR(db_->migrate(*options_.reducer));
    SQLSYNC_RETURN_IF_ERROR(db_->storage().commit().status());
    return recover_inbox();
  }

  std::vector<Bytes> connect(ConnectionId connection) {
    auto session = std::make_unique<ReplicationSession>(
        ReplicationSession::Options{}, [this, connection](const JournalId& journal, const LsnRange& source_range) {
          return timeline_destination(connection, journal, source_range);
        });
    session->add_source(&db_->storage().log());
    std::vector<Bytes> out;
    for (const Message& message : session->start()) out.push_back(encode_message(message));
    sessions_[connection] = std::move(session);
    return out;
  }

  Result<std::vector<Bytes>> receive(ConnectionId connection, ByteView bytes) {
    auto it = sessions_.find(connection);
    if (it == sessions_.end()) {
      return Status::invalid_argument("message on unknown connection " + std::to_string(connection));
    }
    SQLSYNC_ASSIGN_OR_RETURN(Message message, decode_message(bytes));
    std::vector<Bytes> out;
    if (const auto* reply = std::get_if<RangeReply>(&message); reply && !it->second->has_source(reply->journal)) {
      // The replica holds an older log: serve it up to its end-log marker,
      // or, once it is gone, say so (a RangeRequest holding nothing of it)
      // so the replica drops its storage and takes the current log's
      // snapshot (docs/protocol.md, "Log compaction").
      auto retained = retained_.find(reply->journal);
      if (retained == retained_.end()) {
        out.push_back(encode_message(RangeRequest{reply->journal, LsnRange::empty(0)}));
        return out;
      }
      it->second->add_source(retained->second.log.get());  // the reply answers its RangeRequest
    }
    SQLSYNC_ASSIGN_OR_RETURN(std::vector<Message> replies, it->second->handle(message));
    for (const Message& reply : replies) out.push_back(encode_message(reply));
    return out;
  }

  void disconnect(ConnectionId connection) {
    sessions_.erase(connection);
    announcements_.erase(connection);
    auto it = session_timelines_.find(connection);
    if (it == session_timelines_.end()) return;
    for (const JournalId& id : it->second) --timelines_.at(id)->sessions;
    session_timelines_.erase(it);
    evict_idle_timelines();
  }

  size_t timelines_in_memory() const { return timelines_.size(); }

  Result<std::vector<std::pair<ConnectionId, Bytes>>> poll() {
    SQLSYNC_RETURN_IF_ERROR(make_durable());
    if (compaction_due()) SQLSYNC_RETURN_IF_ERROR(compact());
    SQLSYNC_RETURN_IF_ERROR(expire_retained_logs());
    std::vector<std::pair<ConnectionId, Bytes>> out;
    for (auto& [connection, messages] : announcements_) {
      for (const Message& message : messages) out.emplace_back(connection, encode_message(message));
    }
    announcements_.clear();
    // Most sessions are caught up and get the same new storage frames:
    // encode each (journal, lsn, remaining) once per poll.
    std::map<std::tuple<JournalId, Lsn, uint64_t>, Bytes> encoded_frames;
    for (auto& [connection, session] : sessions_) {
      SQLSYNC_ASSIGN_OR_RETURN(std::vector<Message> messages, session->poll());
      for (const Message& message : messages) {
        const auto* frame = std::get_if<FrameMessage>(&message);
        if (frame == nullptr) {
          out.emplace_back(connection, encode_message(message));
          continue;
        }
        auto [it, added] = encoded_frames.try_emplace({frame->journal, frame->lsn, frame->remaining});
        if (added) it->second = encode_message(message);
        out.emplace_back(connection, it->second);
      }
    }
    return out;
  }

  bool has_work() const { return !queue_.empty() || noop_ack_due() || !prunes_.empty(); }

  Result<StepReport> step() {
    if (!has_work()) return StepReport{};
    Result<StepReport> report = step_through(queue_.size());
    if (report.is_ok() || !ended_by_reducer(report.status())) return report;
    // A reducer ended the transaction from inside (nothing was kept). Find
    // the mutation by applying the queue one at a time: it alone is refused,
    // so no mutation can hold the document hostage.
    StepReport total;
    while (!queue_.empty()) {
      Result<StepReport> one = step_through(1);
      if (!one.is_ok() && ended_by_reducer(one.status())) one = refuse_front(one.status());
      if (!one.is_ok()) return one.status();
      total.applied += one->applied;
      total.rejected += one->rejected;
      total.committed_frame = total.committed_frame || one->committed_frame;
    }
    return total;
  }

  Status set_reducer(std::shared_ptr<Reducer> reducer) {
    if (!reducer) return Status::invalid_argument("set_reducer needs a reducer");
    SQLSYNC_RETURN_IF_ERROR(db_->migrate(*reducer));
    SQLSYNC_RETURN_IF_ERROR(db_->storage().commit().status());
    options_.reducer = std::move(reducer);
    return Status::ok();
  }

  Status mutate_direct(const std::function<Status(Transaction&)>& change) {
    SQLSYNC_RETURN_IF_ERROR(db_->in_transaction([&] { return change(db_->writer()); }));
    return db_->storage().commit().status();
  }

  Result<QueryResult> query(std::string_view sql, std::span<const Value> params) {
    return db_->reader().query(sql, params);
  }

  JournalId storage_log_id() { return db_->storage().log().id(); }
  LsnRange storage_range() { return db_->storage().log().range(); }
  uint64_t storage_log_bytes() { return db_->storage().log_bytes(); }
  size_t retained_logs() const { return retained_.size(); }

  // Snapshot, new log (durable), end-log marker in the old log (durable),
  // manifest, switch: a crash between any two steps is repaired at open.
  Status compact() {
    Storage& storage = db_->storage();
    if (storage.end_of_log()) return finish_compaction();
    if (storage.has_pending()) {
      return Status::busy("compact: the document has uncommitted pages; call it between steps");
    }
    const Bytes snapshot = storage.snapshot_frame();
    // Random ids do not collide, but a seeded test env may repeat another's.
    JournalId next = options_.env->new_journal_id();
    while (next == options_.document_id || next == storage.log().id() || retained_.count(next) != 0) {
      next = options_.env->new_journal_id();
    }
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<Journal> log, create_log(next, snapshot));
    SQLSYNC_RETURN_IF_ERROR(storage.end_log(next, snapshot_hash(snapshot)));
    SQLSYNC_RETURN_IF_ERROR(storage.log().sync().with_context("syncing the end-log marker"));
    return switch_to(std::move(log));
  }

 private:
  struct RetainedLog {
    std::unique_ptr<Journal> log;
    uint64_t expires_at = 0;  // env->now_micros() after which it is deleted
  };

  // The storage log has ended with a durable marker: rebuild the snapshot
  // it names (deterministic from the pages) and move to its log.
  Status finish_compaction() {
    Storage& storage = db_->storage();
    const Storage::EndOfLog end = *storage.end_of_log();
    const Bytes snapshot = storage.snapshot_frame();
    if (snapshot_hash(snapshot) != end.snapshot_hash) {
      return Status::corruption("storage log " + storage.log().id().to_hex() + " ends at lsn " +
                                std::to_string(storage.log().range().next() - 1) +
                                " with a marker whose snapshot hash does not match the document's pages");
    }
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<Journal> log, create_log(end.next_log, snapshot));
    return switch_to(std::move(log));
  }

  // A new storage log holding `snapshot` at LSN 0, durable. A directory left
  // by an interrupted attempt is deleted first.
  Result<std::unique_ptr<Journal>> create_log(const JournalId& id, ByteView snapshot) {
    std::unique_ptr<Journal> log;
    if (options_.directory.empty()) {
      log = std::make_unique<MemoryJournal>(id);
    } else {
      const std::string directory = log_directory(options_.directory, options_.document_id, id);
      SQLSYNC_RETURN_IF_ERROR(FileJournal::remove(options_.env, directory));
      SQLSYNC_ASSIGN_OR_RETURN(log, FileJournal::open(options_.env, directory, id));
    }
    SQLSYNC_RETURN_IF_ERROR(log->append(snapshot).with_context("writing the snapshot of log " + id.to_hex()));
    SQLSYNC_RETURN_IF_ERROR(log->sync().with_context("syncing the snapshot of log " + id.to_hex()));
    return log;
  }

  // Publishes `log` as current (the old one retained), switches the storage
  // to it and announces it to every connection.
  Status switch_to(std::unique_ptr<Journal> log) {
    Storage& storage = db_->storage();
    const JournalId previous_id = storage.log().id();
    if (!options_.directory.empty()) {
      LogManifest manifest{log->id(), {}};
      for (const auto& [id, retained] : retained_) manifest.retained.push_back(id);
      manifest.retained.push_back(previous_id);
      SQLSYNC_RETURN_IF_ERROR(publish_log_manifest(*options_.env, options_.directory, manifest));
    }
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<Journal> previous, storage.switch_log(std::move(log)));
    retained_[previous_id] =
        RetainedLog{std::move(previous), options_.env->now_micros() + options_.old_log_grace_micros};
    for (auto& [connection, session] : sessions_) {
      for (Message& message : session->add_source(&storage.log())) {
        announcements_[connection].push_back(std::move(message));
      }
    }
    return Status::ok();
  }

  bool compaction_due() {
    const Storage& storage = db_->storage();
    const uint64_t log_bytes = storage.log_bytes();
    return options_.compaction_ratio > 0 && log_bytes >= options_.compaction_min_log_bytes &&
           static_cast<double>(log_bytes) > options_.compaction_ratio * static_cast<double>(storage.file_size()) &&
           !storage.has_pending();
  }

  // Deletes the retained logs whose grace period is over: first from every
  // session and the manifest, then from disk (a crash in between leaves a
  // directory that open() deletes).
  Status expire_retained_logs() {
    const uint64_t now = options_.env->now_micros();
    std::vector<JournalId> expired;
    for (const auto& [id, retained] : retained_) {
      if (now >= retained.expires_at) expired.push_back(id);
    }
    if (expired.empty()) return Status::ok();
    for (const JournalId& id : expired) {
      for (auto& [connection, session] : sessions_) {
        if (!session->has_source(id)) continue;
        // A replica still before the marker falls back to the snapshot.
        session->remove_source(id);
        announcements_[connection].push_back(RangeRequest{id, LsnRange::empty(0)});
      }
      retained_.erase(id);
    }
    if (options_.directory.empty()) return Status::ok();
    LogManifest manifest{db_->storage().log().id(), {}};
    for (const auto& [id, retained] : retained_) manifest.retained.push_back(id);
    SQLSYNC_RETURN_IF_ERROR(publish_log_manifest(*options_.env, options_.directory, manifest));
    for (const JournalId& id : expired) {
      SQLSYNC_RETURN_IF_ERROR(
          FileJournal::remove(options_.env, log_directory(options_.directory, options_.document_id, id)));
    }
    return Status::ok();
  }

  // A replica's timeline as received here: its mutations wait in the queue
  // (and, durably, in the inbox) until applied; only LSNs are kept here.
  class Timeline final : public ReplicationDestination {
   public:
    Timeline(Impl* owner, JournalId id, Lsn next) : owner_(owner), id_(id), first_(next), next_(next), durable_next_(next) {}
    LsnRange range() override { return LsnRange::half_open(first_, next_); }
    // Durable here, or applied: an applied mutation's frame may already be
    // on its way to the replica, which then drops it from its timeline.
    Lsn acknowledged_next() override { return std::max(durable_next_, applied ? *applied + 1 : Lsn{0}); }
    Status write(Lsn lsn, ByteView entry, uint64_t) override {
      SQLSYNC_RETURN_IF_ERROR(owner_->enqueue(id_, lsn, entry));
      next_ = lsn + 1;
      if (!owner_->inbox_) made_durable();  // memory is all there is
      return Status::ok();
    }
    const JournalId& id() const { return id_; }
    // An inbox entry at `lsn` survived a restart and is queued again.
    void recovered(Lsn lsn) { next_ = lsn + 1; }

    // Everything received is durable; everything recorded in a durable frame
    // is no longer held.
    void made_durable() {
      durable_next_ = next_;
      if (recorded) first_ = std::max(first_, *recorded + 1);
    }

    // Last LSN applied (in the open or a committed transaction) and last LSN
    // recorded in the timelines table.
    std::optional<Lsn> applied;
    std::optional<Lsn> recorded;
    uint32_t sessions = 0;  // connections replicating this timeline

    // Nothing here that the document does not already hold durably.
    bool idle() const { return sessions == 0 && first_ == next_ && applied == recorded; }

   private:
    Impl* owner_;
    JournalId id_;
    Lsn first_;         // mutations before it are applied and durably recorded
    Lsn next_;          // next LSN accepted
    Lsn durable_next_;  // mutations before it are durable here
  };

  // A received mutation waiting to be applied.
  struct Queued {
    JournalId timeline;
    Lsn lsn = 0;
    Lsn inbox_lsn = 0;  // its entry in the inbox (0 without one)
    Bytes mutation;
  };

  Status enqueue(const JournalId& timeline, Lsn lsn, ByteView mutation) {
    Lsn inbox_lsn = 0;
    if (inbox_) {
      inbox_lsn = inbox_->range().next();
      SQLSYNC_RETURN_IF_ERROR(inbox_->append(encode_inbox_entry(timeline, lsn, mutation)));
    }
    queue_.push_back(Queued{timeline, lsn, inbox_lsn, Bytes(mutation.begin(), mutation.end())});
    return Status::ok();
  }

  // Requeues the inbox's mutations that the document does not record as
  // applied (a restart lost only what was never acknowledged).
  Status recover_inbox() {
    if (!inbox_) return Status::ok();
    const LsnRange range = inbox_->range();
    Lsn drop_before = range.first();
    Status status = scan_journal(*inbox_, range, [&](Lsn inbox_lsn, ByteView bytes) -> Status {
      SQLSYNC_ASSIGN_OR_RETURN(InboxEntry entry, decode_inbox_entry(bytes));
      auto it = timelines_.find(entry.timeline);
      if (it == timelines_.end()) {
        SQLSYNC_ASSIGN_OR_RETURN(std::optional<Lsn> applied, db_->applied_lsn(entry.timeline));
        auto timeline = std::make_unique<Timeline>(this, entry.timeline, applied ? *applied + 1 : 0);
        timeline->applied = applied;
        timeline->recorded = applied;
        it = timelines_.emplace(entry.timeline, std::move(timeline)).first;
      }
      Timeline& timeline = *it->second;
      const Lsn next = timeline.range().next();
      if (entry.lsn < next) {
        // Applied before the restart: part of the prefix that can go.
        if (queue_.empty()) drop_before = inbox_lsn + 1;
        return Status::ok();
      }
      if (entry.lsn > next) {
        return Status::corruption("inbox lsn " + std::to_string(inbox_lsn) + " holds lsn " +
                                  std::to_string(entry.lsn) + " of timeline " + entry.timeline.to_hex() +
                                  ", expected " + std::to_string(next));
      }
      queue_.push_back(Queued{entry.timeline, entry.lsn, inbox_lsn, Bytes(entry.mutation.begin(), entry.mutation.end())});
      timeline.recovered(entry.lsn);
      return Status::ok();
    });
    SQLSYNC_RETURN_IF_ERROR(status.with_context("recovering the inbox"));
    recorded_inbox_next_ = drop_before;
    applied_inbox_next_ = drop_before;
    for (auto& [id, timeline] : timelines_) timeline->made_durable();
    return Status::ok();
  }

  Result<ReplicationDestination*> timeline_destination(ConnectionId connection, const JournalId& id,
                                                       const LsnRange& source_range) {
    if (id == options_.document_id) {
      return Status::invalid_argument("a replica offered the document's own storage log as a timeline");
    }
    auto it = timelines_.find(id);
    if (it == timelines_.end()) {
      // A timeline unloaded when it went idle (or never seen) resumes after
      // the last LSN the document records as applied.
      SQLSYNC_ASSIGN_OR_RETURN(std::optional<Lsn> applied, db_->applied_lsn(id));
      auto timeline = std::make_unique<Timeline>(this, id, applied ? *applied + 1 : 0);
      timeline->applied = applied;
      timeline->recorded = applied;
      it = timelines_.emplace(id, std::move(timeline)).first;
    }
    if (session_timelines_[connection].insert(id).second) ++it->second->sessions;
    // The replica dropped everything before source_range.first(): it has
    // seen the verdicts on those mutations, so their rejections can go.
    if (source_range.first() > 0) prunes_[id] = source_range.first();
    return static_cast<ReplicationDestination*>(it->second.get());
  }

  // Hands every queued mutation to the reducer as one batch, in arrival
  // order; each one is accepted or rejected on its own.
  static bool ended_by_reducer(const Status& status) {
    return status.code() == StatusCode::kRejected && status.message() == kTransactionEndedByReducer;
  }

  // One transaction over the first `count` queued mutations (one batch),
  // due rejection prunes and the timeline bookkeeping; at most one frame.
  // The queue and the timelines' applied LSNs change only once the outcome
  // is final (committed, or a no-op rolled back), so a failed step loses
  // nothing and is simply tried again.
  Result<StepReport> step_through(size_t count) {
    StepReport report;
    Database& writer = db_->writer();
    const int64_t changes_before = total_changes();
    SQLSYNC_ASSIGN_OR_RETURN(int64_t schema_before, schema_version());

    SQLSYNC_RETURN_IF_ERROR(writer.execute("BEGIN"));
    Status status = apply_queue(count, report);
    if (status.is_ok()) status = prune_rejections();
    if (!status.is_ok()) {
      if (writer.in_transaction()) writer.execute("ROLLBACK").ignore();
      return status;
    }
    SQLSYNC_ASSIGN_OR_RETURN(int64_t schema_after, schema_version());
    const bool changed = total_changes() != changes_before || schema_after != schema_before;
    if (!changed && !noop_ack_due()) {
      // Every mutation was a no-op: nothing to store, and the timeline
      // bookkeeping waits for the next real change (or the delay).
      SQLSYNC_RETURN_IF_ERROR(writer.execute("ROLLBACK"));
      consume(count);
      prunes_.clear();
      return report;
    }
    return commit_step(count, report);
  }

  // Records the applied LSNs (the first `count` queued mutations included),
  // commits, turns the commit into a frame, and only then consumes them.
  Result<StepReport> commit_step(size_t count, StepReport report) {
    Database& writer = db_->writer();
    Status status = record_applied(count);
    if (status.is_ok()) status = writer.execute("COMMIT");
    if (!status.is_ok()) {
      if (writer.in_transaction()) writer.execute("ROLLBACK").ignore();
      return status;
    }
    SQLSYNC_ASSIGN_OR_RETURN(report.committed_frame, db_->storage().commit());
    consume(count);
    prunes_.clear();
    note_recorded();
    return report;
  }

  // The front mutation ended the transaction: consume it as rejected.
  Result<StepReport> refuse_front(const Status& reason) {
    StepReport report;
    report.rejected = 1;
    SQLSYNC_RETURN_IF_ERROR(db_->writer().execute("BEGIN"));
    Status status = record_rejection(queue_.front().timeline, queue_.front().lsn, reason);
    if (!status.is_ok()) {
      db_->writer().execute("ROLLBACK").ignore();
      return status;
    }
    return commit_step(1, report);
  }

  // Hands the first `count` queued mutations to the reducer as one batch, in
  // arrival order; each one is accepted or rejected on its own.
  Status apply_queue(size_t count, StepReport& report) {
    if (count == 0) return Status::ok();
    std::vector<ByteView> mutations;
    mutations.reserve(count);
    for (size_t i = 0; i < count; ++i) mutations.push_back(queue_[i].mutation);
    std::vector<Status> verdicts(count);
    SQLSYNC_RETURN_IF_ERROR(db_->apply_batch(*options_.reducer, mutations, verdicts));
    for (size_t i = 0; i < count; ++i) {
      if (verdicts[i].is_ok()) {
        ++report.applied;
      } else {
        // Consumed, never retried: the author learns the reason.
        ++report.rejected;
        SQLSYNC_RETURN_IF_ERROR(record_rejection(queue_[i].timeline, queue_[i].lsn, verdicts[i]));
      }
    }
    return Status::ok();
  }

  Status record_rejection(const JournalId& id, Lsn lsn, const Status& verdict) {
    static const std::string kRecordRejection =
        std::string("INSERT OR REPLACE INTO ") + kRejectionsTable + "(timeline, lsn, message) VALUES (?1, ?2, ?3)";
    Value params[] = {blob(id), static_cast<int64_t>(lsn), verdict.message()};
    return db_->writer().execute(kRecordRejection, params);
  }

  // The first `count` queued mutations are applied (their effects committed
  // or, for no-ops, nothing to commit).
  void consume(size_t count) {
    if (count == 0) return;
    for (size_t i = 0; i < count; ++i) timelines_.at(queue_[i].timeline)->applied = queue_[i].lsn;
    applied_inbox_next_ = queue_[count - 1].inbox_lsn + 1;
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count));
    if (!unrecorded_since_) unrecorded_since_ = options_.env->now_micros();
  }

  Status prune_rejections() {
    static const std::string kPrune =
        std::string("DELETE FROM ") + kRejectionsTable + " WHERE timeline = ?1 AND lsn < ?2";
    for (const auto& [id, first] : prunes_) {
      Value params[] = {blob(id), static_cast<int64_t>(first)};
      SQLSYNC_RETURN_IF_ERROR(db_->writer().execute(kPrune, params));
    }
    return Status::ok();
  }

  // Writes each timeline's newest applied LSN, counting the first `count`
  // queued mutations as applied.
  Status record_applied(size_t count) {
    static const std::string kRecord =
        std::string("INSERT OR REPLACE INTO ") + kTimelinesTable + "(id, lsn) VALUES (?1, ?2)";
    std::map<JournalId, Lsn> newest;
    for (const auto& [id, timeline] : timelines_) {
      if (timeline->applied && timeline->applied != timeline->recorded) newest[id] = *timeline->applied;
    }
    for (size_t i = 0; i < count; ++i) newest[queue_[i].timeline] = queue_[i].lsn;
    for (const auto& [id, lsn] : newest) {
      Value params[] = {blob(id), static_cast<int64_t>(lsn)};
      SQLSYNC_RETURN_IF_ERROR(db_->writer().execute(kRecord, params));
    }
    return Status::ok();
  }

  // After the commit every applied mutation is recorded in the document;
  // once that frame is durable (make_durable) they are no longer kept.
  void note_recorded() {
    for (auto& [id, timeline] : timelines_) timeline->recorded = timeline->applied;
    recorded_inbox_next_ = applied_inbox_next_;
    unrecorded_since_.reset();
    if (inbox_) return;
    // In memory, recorded is as durable as it gets.
    for (auto& [id, timeline] : timelines_) timeline->made_durable();
    evict_idle_timelines();
  }

  // Group commit: one sync of the inbox and one of the storage log make
  // everything received and committed so far durable. The inbox needs no
  // sync when every entry in it is recorded in a committed frame: syncing
  // the storage log makes those mutations durable (recovery skips what the
  // document records as applied). Then mutations that durable frames record
  // as applied leave memory and disk (DESIGN 6.4).
  Status make_durable() {
    if (inbox_ && inbox_->range().next() > recorded_inbox_next_) SQLSYNC_RETURN_IF_ERROR(inbox_->sync());
    SQLSYNC_RETURN_IF_ERROR(db_->storage().log().sync());
    for (auto& [id, timeline] : timelines_) timeline->made_durable();
    const uint64_t now = options_.env->now_micros();
    if (inbox_ && recorded_inbox_next_ > inbox_->range().first() &&
        (!last_truncation_ || now - *last_truncation_ >= options_.inbox_truncation_interval_micros)) {
      SQLSYNC_RETURN_IF_ERROR(inbox_->drop_prefix(recorded_inbox_next_ - 1));
      last_truncation_ = now;
    }
    evict_idle_timelines();
    return Status::ok();
  }

  // Timelines no connection replicates and whose every mutation is applied
  // and recorded in the document leave memory (DESIGN 6.4); they come back
  // from __sqlsync_timelines when their replica reconnects.
  void evict_idle_timelines() {
    for (auto it = timelines_.begin(); it != timelines_.end();) {
      it = it->second->idle() ? timelines_.erase(it) : std::next(it);
    }
  }

  bool noop_ack_due() const {
    return unrecorded_since_ && options_.env->now_micros() - *unrecorded_since_ >= options_.noop_ack_delay_micros;
  }

  // Rows changed on the writer since it opened (triggers included).
  int64_t total_changes() { return sqlite3_total_changes64(db_->writer().handle()); }
  Result<int64_t> schema_version() {
    SQLSYNC_ASSIGN_OR_RETURN(QueryResult result, db_->writer().query("PRAGMA schema_version"));
    if (result.rows.empty() || !std::holds_alternative<int64_t>(result.rows[0][0])) {
      return Status::internal("PRAGMA schema_version returned no integer");
    }
    return std::get<int64_t>(result.rows[0][0]);
  }

  Options options_;
  std::unique_ptr<DocumentDatabase> db_;
  std::map<ConnectionId, std::unique_ptr<ReplicationSession>> sessions_;
  // RangeRequests announcing a new storage log, sent at the next poll().
  std::map<ConnectionId, std::vector<Message>> announcements_;
  // Compacted logs still served to replicas that have not reached their end.
  std::map<JournalId, RetainedLog> retained_;
  std::map<JournalId, std::unique_ptr<Timeline>> timelines_;
  // The timelines each connection's session resolved (holds pointers to).
  std::map<ConnectionId, std::set<JournalId>> session_timelines_;
  // Received mutations not yet applied, in arrival order (= inbox order).
  std::deque<Queued> queue_;
  // Durable home of the queue (null in memory): an entry leaves it once a
  // durable frame records its mutation as applied.
  std::unique_ptr<Journal> inbox_;
  // Inbox LSN after the last applied mutation, and after the last one
  // recorded in a committed frame.
  Lsn applied_inbox_next_ = 0;
  Lsn recorded_inbox_next_ = 0;
  std::optional<uint64_t> last_truncation_;
  // Timelines whose rejections before an LSN can be deleted.
  std::map<JournalId, Lsn> prunes_;
  // When the oldest applied-but-unrecorded (no-op) mutation was applied.
  std::optional<uint64_t> unrecorded_since_;
};

Result<std::unique_ptr<CoordinatorDocument>> CoordinatorDocument::open(Options options) {
  if (options.document_id.is_zero()) return Status::invalid_argument("CoordinatorDocument needs a document id");
  if (!options.reducer) return Status::invalid_argument("CoordinatorDocument needs a reducer");
  if (!options.env) return Status::invalid_argument("CoordinatorDocument needs an env");
  std::unique_ptr<Journal> log;
  std::unique_ptr<Journal> inbox;
  std::vector<std::unique_ptr<Journal>> retained;
  if (options.directory.empty()) {
    log = std::make_unique<MemoryJournal>(options.document_id);
  } else {
    LogManifest manifest;
    SQLSYNC_ASSIGN_OR_RETURN(log, open_current_log(*options.env, options.directory, options.document_id, &manifest));
    for (const JournalId& id : manifest.retained) {
      SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<FileJournal> old,
                               FileJournal::open(options.env, log_directory(options.directory, options.document_id, id), id));
      retained.push_back(std::move(old));
    }
    SQLSYNC_ASSIGN_OR_RETURN(inbox, FileJournal::open(options.env, options.directory + "/inbox", options.document_id));
  }
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<DocumentDatabase> db,
                           DocumentDatabase::open(options.document_id, "coordinator", std::move(log)));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(db), std::move(inbox), std::move(retained));
  SQLSYNC_RETURN_IF_ERROR(impl->initialize());
  return std::unique_ptr<CoordinatorDocument>(new CoordinatorDocument(std::move(impl)));
}

CoordinatorDocument::CoordinatorDocument(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CoordinatorDocument::~CoordinatorDocument() = default;

JournalId CoordinatorDocument::document_id() const { return impl_->document_id(); }
std::vector<Bytes> CoordinatorDocument::connect(ConnectionId connection) { return impl_->connect(connection); }
Result<std::vector<Bytes>> CoordinatorDocument::receive(ConnectionId connection, ByteView message) {
  return impl_->receive(connection, message);
}
void CoordinatorDocument::disconnect(ConnectionId connection) { impl_->disconnect(connection); }
Result<std::vector<std::pair<CoordinatorDocument::ConnectionId, Bytes>>> CoordinatorDocument::poll() {
  return impl_->poll();
}
Result<CoordinatorDocument::StepReport> CoordinatorDocument::step() { return impl_->step(); }
bool CoordinatorDocument::has_work() const { return impl_->has_work(); }
Status CoordinatorDocument::set_reducer(std::shared_ptr<Reducer> reducer) {
  return impl_->set_reducer(std::move(reducer));
}
Status CoordinatorDocument::mutate_direct(const std::function<Status(Transaction&)>& change) {
  return impl_->mutate_direct(change);
}
Result<QueryResult> CoordinatorDocument::query(std::string_view sql, std::span<const Value> params) {
  return impl_->query(sql, params);
}
Status CoordinatorDocument::compact() { return impl_->compact(); }
JournalId CoordinatorDocument::storage_log_id() const { return impl_->storage_log_id(); }
LsnRange CoordinatorDocument::storage_range() const { return impl_->storage_range(); }
uint64_t CoordinatorDocument::storage_log_bytes() const { return impl_->storage_log_bytes(); }
size_t CoordinatorDocument::retained_logs() const { return impl_->retained_logs(); }
size_t CoordinatorDocument::timelines_in_memory() const { return impl_->timelines_in_memory(); }

}  // namespace sqlsync
