#include "sqlsync/local_document.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "storage/file_journal.h"
#include "storage/log_manifest.h"
#include "storage/reactive_query.h"
#include "sync/document_database.h"
#include "sync/replication.h"

namespace sqlsync {
namespace {

// Sends encoded messages; the protocol's structs never leave this file.
std::vector<Bytes> encode_all(const std::vector<Message>& messages) {
  std::vector<Bytes> out;
  out.reserve(messages.size());
  for (const Message& message : messages) out.push_back(encode_message(message));
  return out;
}

Value blob(const JournalId& id) { return Bytes(id.view().begin(), id.view().end()); }

// A durable replica's directory: storage/ (the storage log) and
// timeline-<id hex>/ (its timeline).
constexpr const char* kTimelinePrefix = "timeline-";

Result<std::optional<JournalId>> find_timeline(Env& env, const std::string& directory) {
  SQLSYNC_ASSIGN_OR_RETURN(bool exists, env.file_exists(directory));
  if (!exists) return std::optional<JournalId>();
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<std::string> names, env.list_dir(directory));
  std::optional<JournalId> found;
  for (const std::string& name : names) {
    if (name.rfind(kTimelinePrefix, 0) != 0) continue;
    Result<JournalId> id = JournalId::from_hex(std::string_view(name).substr(std::string_view(kTimelinePrefix).size()));
    if (!id.is_ok() || found) {
      return Status::corruption(directory + " holds an unexpected timeline directory " + name);
    }
    found = *id;
  }
  return found;
}

}  // namespace

class LocalDocument::Impl final : public ReplicationDestination {
 public:
  Impl(Options options, std::unique_ptr<Journal> timeline, std::unique_ptr<DocumentDatabase> db)
      : options_(std::move(options)), timeline_(std::move(timeline)), db_(std::move(db)) {}

  // A reopened replica shows its stored state plus its unsent mutations.
  // Nothing is dropped from the timeline here: rejections found now could
  // not be reported yet (no callback), so the next rebase does it.
  Status open() {
    // Reopened after reaching an end-log marker but before switching.
    if (db_->storage().end_of_log()) SQLSYNC_RETURN_IF_ERROR(switch_at_end_of_log());
    SQLSYNC_RETURN_IF_ERROR(migrate());
    SQLSYNC_ASSIGN_OR_RETURN(applied_, db_->applied_lsn(timeline_->id()));
    return reapply_range(pending_range());
  }

  Status set_reducer(std::shared_ptr<Reducer> reducer) {
    SQLSYNC_RETURN_IF_ERROR(check_not_reentrant());
    if (!reducer) return Status::invalid_argument("set_reducer needs a reducer");
    options_.reducer = std::move(reducer);
    SQLSYNC_RETURN_IF_ERROR(migrate());
    refresh_subscriptions();
    return Status::ok();
  }

  JournalId document_id() const { return options_.document_id; }
  JournalId timeline_id() const { return timeline_->id(); }

  Status mutate(ByteView mutation) {
    SQLSYNC_RETURN_IF_ERROR(check_not_reentrant());
    if (!schema_status_.is_ok()) return schema_status_;
    Status status = db_->in_transaction([&] { return db_->apply_mutation(*options_.reducer, mutation); });
    if (!status.is_ok()) return status;
    status = timeline_->append(mutation);
    if (status.is_ok() && options_.sync_each_mutation) status = timeline_->sync();
    if (!status.is_ok()) {
      // The effects are committed locally but the mutation is not safely in
      // the timeline: rebuild the state from the timeline so nothing shows
      // that could vanish. (A mutation appended but not synced may still be
      // sent once a later sync succeeds; it was applied, so that is sound.)
      rebase().ignore();
      return status.with_context("storing the mutation in the timeline");
    }
    refresh_subscriptions();
    return Status::ok();
  }

  Status sync() {
    SQLSYNC_RETURN_IF_ERROR(check_not_reentrant());
    Status status = timeline_->sync();
    if (status.is_ok()) return status;
    // As in mutate(): show nothing that a crash could take back.
    rebase().ignore();
    return status.with_context("syncing mutations " + std::to_string(timeline_->durable_next()) + ".." +
                               std::to_string(timeline_->range().next() - 1) + " of the timeline");
  }

  Result<QueryResult> query(std::string_view sql, std::span<const Value> params) {
    return db_->reader().query(sql, params);
  }

  Result<SubscriptionId> subscribe(std::string sql, std::vector<Value> params, QueryCallback callback) {
    SQLSYNC_RETURN_IF_ERROR(check_not_reentrant());
    SubscriptionId id = ++last_subscription_id_;
    Subscription& subscription =
        subscriptions_.emplace(id, Subscription{ReactiveQuery(std::move(sql), std::move(params)), std::move(callback)})
            .first->second;
    Result<QueryResult> result = subscription.query.run(db_->reader());
    subscription.callback(result);
    return id;
  }

  void unsubscribe(SubscriptionId id) {
    // A callback may unsubscribe (itself or another) while the refresh loop
    // walks the map: erase after the loop.
    if (in_callback_) {
      unsubscribed_.push_back(id);
      return;
    }
    subscriptions_.erase(id);
  }
  void on_rejection(RejectionCallback callback) { on_rejection_ = std::move(callback); }

  std::vector<Bytes> connect() {
    // Nothing waits for a replica's acknowledgement of storage frames but
    // the coordinator's window: acknowledging lazily halves what a replica
    // sends when the coordinator's rounds come one frame at a time.
    ReplicationSession::Options session_options;
    session_options.acknowledge_each_burst = false;
    session_ = std::make_unique<ReplicationSession>(
        session_options,
        [this](const JournalId& journal, const LsnRange&) -> Result<ReplicationDestination*> {
          if (journal != db_->storage().log().id()) {
            return Status::invalid_argument("coordinator offered journal " + journal.to_hex() +
                                            " but this replica holds storage log " +
                                            db_->storage().log().id().to_hex() + " of document " +
                                            options_.document_id.to_hex());
          }
          return static_cast<ReplicationDestination*>(this);
        });
    announced_.reset();
    outbox_.clear();
    left_logs_.clear();
    session_->add_source(timeline_.get());
    return encode_all(session_->start());
  }

  Result<std::vector<Bytes>> receive(ByteView bytes) {
    SQLSYNC_RETURN_IF_ERROR(check_not_reentrant());
    if (!session_) return Status::invalid_argument("received a message while disconnected");
    SQLSYNC_ASSIGN_OR_RETURN(Message message, decode_message(bytes));
    std::vector<Message> replies;
    if (const auto* request = std::get_if<RangeRequest>(&message)) {
      SQLSYNC_ASSIGN_OR_RETURN(replies, storage_log_request(*request));
    } else if (const auto* frame = std::get_if<FrameMessage>(&message); frame && left_logs_.count(frame->journal)) {
      // Sent before the coordinator learnt that we moved to a newer log.
    } else {
      SQLSYNC_ASSIGN_OR_RETURN(replies, session_->handle(message));
    }
    if (db_->storage().has_invisible_frames() && !defer_rebase()) SQLSYNC_RETURN_IF_ERROR(rebase());
    take_outbox(replies);
    return encode_all(replies);
  }

  Result<std::vector<Bytes>> poll() {
    if (!session_) return std::vector<Bytes>();
    SQLSYNC_ASSIGN_OR_RETURN(std::vector<Message> messages, session_->poll());
    take_outbox(messages);
    return encode_all(messages);
  }

  Status disconnect() {
    session_.reset();
    return flush();
  }
  bool connected() const { return session_ != nullptr; }

  Status flush() {
    SQLSYNC_RETURN_IF_ERROR(check_not_reentrant());
    if (!db_->storage().has_invisible_frames()) return Status::ok();
    return rebase();
  }

  uint64_t pending_mutations() const { return pending_range().size(); }
  LsnRange timeline_range() const { return pending_range(); }
  LsnRange storage_range() { return db_->storage().log().range(); }
  JournalId storage_log_id() { return db_->storage().log().id(); }

  // ReplicationDestination: frames of the coordinator's storage log.
  LsnRange range() override { return db_->storage().log().range(); }
  Status write(Lsn lsn, ByteView entry, uint64_t) override {
    SQLSYNC_RETURN_IF_ERROR(db_->storage().receive_frame(lsn, entry));
    ++frames_since_rebase_;
    return Status::ok();
  }

 private:
  struct Subscription {
    ReactiveQuery query;
    QueryCallback callback;
  };

  // Runs the reducer's migrations locally (into pending pages, so a document
  // born offline is usable at once; the coordinator's own migration frame
  // replaces them at the next rebase). A document whose schema is newer than
  // this reducer refuses mutations until the application updates.
  Status migrate() {
    Status status = db_->migrate(*options_.reducer);
    if (status.code() == StatusCode::kUnsupported) {
      schema_status_ = status;
      return Status::ok();
    }
    schema_status_ = Status::ok();
    return status;
  }

  // The timeline's mutations the coordinator has not applied yet. Usually
  // the whole timeline; after a crash between making the frames that
  // applied a prefix durable and dropping that prefix, open() keeps the
  // prefix (its rejections are reported by the next rebase) but it is not
  // pending.
  LsnRange pending_range() const {
    const LsnRange range = timeline_->range();
    if (!applied_ || *applied_ < range.first()) return range;
    return LsnRange::half_open(std::min(*applied_ + 1, range.next()), range.next());
  }

  // Callbacks run inside mutate/receive; calling back into the document from
  // them would interleave two transactions.
  Status check_not_reentrant() const {
    if (in_callback_) return Status::busy("LocalDocument called from one of its own callbacks");
    return Status::ok();
  }

  // The frames hint: while the coordinator says more frames are ready, wait
  // for them (bounded) so a burst costs one rebase instead of one per frame.
  // Without rebase_in_receive the caller's flush() decides.
  bool defer_rebase() const {
    if (!options_.rebase_in_receive) return true;
    return session_ && session_->expecting_more_frames() && frames_since_rebase_ < options_.max_deferred_frames;
  }

  // Moves to the newest server state and re-applies the mutations the
  // coordinator has not applied yet (DESIGN section 3, step 6).
  Status rebase() {
    Storage& storage = db_->storage();
    storage.reset();
    SQLSYNC_RETURN_IF_ERROR(storage.make_visible());
    frames_since_rebase_ = 0;
    if (storage.end_of_log()) SQLSYNC_RETURN_IF_ERROR(switch_at_end_of_log());

    std::vector<Rejection> rejections;
    SQLSYNC_ASSIGN_OR_RETURN(std::optional<Lsn> applied, db_->applied_lsn(timeline_->id()));
    LsnRange pending = timeline_->range();
    if (applied && !pending.is_empty() && *applied >= pending.first()) {
      SQLSYNC_RETURN_IF_ERROR(collect_rejections(pending.first(), *applied, rejections));
      // The frames saying these mutations are applied must outlive them.
      SQLSYNC_RETURN_IF_ERROR(storage.log().sync());
      SQLSYNC_RETURN_IF_ERROR(timeline_->drop_prefix(*applied));
      // Reported now: once dropped, no later rebase would find them again.
      report(rejections);
    }
    // Set only once the prefix is dropped: a mutation leaves the pending
    // range only with its verdict reported (SyncedDocument settles on it).
    applied_ = applied;

    // The server may not have migrated yet (or has, further): bring the
    // local schema to the reducer's version before re-applying.
    SQLSYNC_RETURN_IF_ERROR(migrate());

    SQLSYNC_RETURN_IF_ERROR(reapply_range(timeline_->range()));
    refresh_subscriptions();
    return Status::ok();
  }

  // The coordinator announces a storage log (docs/protocol.md, "Log
  // compaction"). Ours: the usual reply, unless the coordinator says it
  // holds less of it than we do after announcing a newer one (it no longer
  // keeps our log): then drop our storage and take the newer log's snapshot.
  // A newer one: with nothing stored yet, start on it; otherwise tell the
  // coordinator which log we hold and switch at its end-log marker.
  Result<std::vector<Message>> storage_log_request(const RangeRequest& request) {
    Storage& storage = db_->storage();
    const JournalId held = storage.log().id();
    if (request.journal == held) {
      if (announced_ && request.source_range.next() < storage.log().range().next()) {
        SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<Journal> log, new_log(announced_->journal));
        SQLSYNC_RETURN_IF_ERROR(switch_storage(std::move(log)));
        std::vector<Message> replies;
        take_outbox(replies);
        return replies;
      }
      return session_->handle(request);
    }
    // The coordinator no longer keeps a log we already left.
    if (request.source_range == LsnRange::empty(0)) return std::vector<Message>();
    if (storage.log().range().next() == 0) {
      SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<Journal> log, new_log(request.journal));
      announced_ = request;
      SQLSYNC_RETURN_IF_ERROR(switch_storage(std::move(log)));
      std::vector<Message> replies;
      take_outbox(replies);
      return replies;
    }
    announced_ = request;
    return session_->handle(RangeRequest{held, storage.log().range()});
  }

  // Every frame up to the end-log marker is visible: build the snapshot the
  // marker describes; if its hash matches, the new log starts with it and
  // only later frames need to travel; otherwise start the new log empty and
  // download the coordinator's snapshot.
  Status switch_at_end_of_log() {
    Storage& storage = db_->storage();
    const Storage::EndOfLog end = *storage.end_of_log();
    const Bytes snapshot = storage.snapshot_frame();
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<Journal> log, new_log(end.next_log));
    if (snapshot_hash(snapshot) == end.snapshot_hash) {
      SQLSYNC_RETURN_IF_ERROR(log->append(snapshot));
      SQLSYNC_RETURN_IF_ERROR(log->sync());
    }
    return switch_storage(std::move(log));
  }

  // An empty storage log `id` (a directory left by an interrupted switch is
  // deleted first).
  Result<std::unique_ptr<Journal>> new_log(const JournalId& id) {
    if (options_.directory.empty()) return std::unique_ptr<Journal>(std::make_unique<MemoryJournal>(id));
    const std::string directory = log_directory(options_.directory, options_.document_id, id);
    SQLSYNC_RETURN_IF_ERROR(FileJournal::remove(options_.env, directory));
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<FileJournal> log, FileJournal::open(options_.env, directory, id));
    return std::unique_ptr<Journal>(std::move(log));
  }

  // Moves the storage to `log` (durably: manifest first, then the old log
  // is deleted) and answers the coordinator's announcement of it. Pending
  // pages are dropped and re-applied by a rebase.
  Status switch_storage(std::unique_ptr<Journal> log) {
    Storage& storage = db_->storage();
    const JournalId id = log->id();
    const JournalId previous_id = storage.log().id();
    // Pending pages over nothing (a replica that never synced) stay as they
    // are; otherwise they are dropped and re-applied by a rebase.
    const bool rebase_after = storage.has_pending() && !(storage.holds_nothing() && log->range().is_empty());
    if (rebase_after) storage.reset();
    if (!options_.directory.empty()) {
      SQLSYNC_RETURN_IF_ERROR(publish_log_manifest(*options_.env, options_.directory, LogManifest{id, {}}));
    }
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<Journal> previous, storage.switch_log(std::move(log)));
    previous.reset();
    if (!options_.directory.empty()) {
      SQLSYNC_RETURN_IF_ERROR(
          FileJournal::remove(options_.env, log_directory(options_.directory, options_.document_id, previous_id)));
    }
    if (session_) {
      session_->remove_destination(previous_id);
      left_logs_.insert(previous_id);
    }
    if (session_ && announced_) {
      // Answer the announcement; if the coordinator has compacted again
      // since, tell it which log we hold now and keep waiting for the next
      // marker.
      const bool answered = announced_->journal == id;
      SQLSYNC_ASSIGN_OR_RETURN(std::vector<Message> replies,
                               session_->handle(answered ? *announced_ : RangeRequest{id, storage.log().range()}));
      outbox_.insert(outbox_.end(), replies.begin(), replies.end());
      if (answered) announced_.reset();
    } else {
      announced_.reset();
    }
    if (rebase_after) return rebase();
    return Status::ok();
  }

  void take_outbox(std::vector<Message>& messages) {
    messages.insert(messages.end(), outbox_.begin(), outbox_.end());
    outbox_.clear();
  }

  // Re-applies the timeline's mutations in `pending`. One that fails now is
  // rolled back alone and stays in the timeline: the coordinator's verdict
  // decides its fate.
  Status reapply_range(LsnRange pending) {
    if (pending.is_empty() || !schema_status_.is_ok()) return Status::ok();
    // Copied: a file journal's views last only until its next read.
    std::vector<Bytes> copies;
    SQLSYNC_RETURN_IF_ERROR(scan_journal(*timeline_, pending, [&](Lsn, ByteView mutation) {
      copies.emplace_back(mutation.begin(), mutation.end());
      return Status::ok();
    }));
    std::vector<ByteView> mutations(copies.begin(), copies.end());
    return reapply(mutations);
  }

  // Re-applies pending mutations in one transaction. If a reducer ended that
  // transaction from inside (nothing was kept), they are applied one per
  // transaction instead and the one that does it is skipped here; it stays
  // in the timeline and the coordinator's verdict decides its fate.
  Status reapply(const std::vector<ByteView>& mutations) {
    std::vector<Status> verdicts(mutations.size());
    Status status = db_->in_transaction([&] { return db_->apply_batch(*options_.reducer, mutations, verdicts); });
    if (status.code() != StatusCode::kRejected || status.message() != kTransactionEndedByReducer) return status;
    for (ByteView mutation : mutations) {
      Status verdict;
      status = db_->in_transaction([&] { return db_->apply_batch(*options_.reducer, {&mutation, 1}, {&verdict, 1}); });
      if (!status.is_ok() && (status.code() != StatusCode::kRejected || status.message() != kTransactionEndedByReducer)) {
        return status;
      }
    }
    return Status::ok();
  }

  Status collect_rejections(Lsn first, Lsn last, std::vector<Rejection>& out) {
    static const std::string kSql = std::string("SELECT lsn, message FROM ") + kRejectionsTable +
                                    " WHERE timeline = ?1 AND lsn BETWEEN ?2 AND ?3 ORDER BY lsn";
    Value params[] = {blob(timeline_->id()), static_cast<int64_t>(first), static_cast<int64_t>(last)};
    SQLSYNC_ASSIGN_OR_RETURN(QueryResult rows, db_->writer().query(kSql, params));
    for (const Row& row : rows.rows) {
      if (row.size() != 2 || !std::holds_alternative<int64_t>(row[0]) || !std::holds_alternative<std::string>(row[1])) {
        return Status::corruption(std::string(kRejectionsTable) + " has a malformed row");
      }
      out.push_back(Rejection{timeline_->id(), static_cast<Lsn>(std::get<int64_t>(row[0])), std::get<std::string>(row[1])});
    }
    return Status::ok();
  }

  void report(const std::vector<Rejection>& rejections) {
    if (!on_rejection_) return;
    in_callback_ = true;
    for (const Rejection& rejection : rejections) on_rejection_(rejection);
    in_callback_ = false;
  }

  void refresh_subscriptions() {
    Changes changes = db_->storage().take_changes();
    if (changes.empty()) return;
    in_callback_ = true;
    for (auto& [id, subscription] : subscriptions_) {
      if (!subscription.query.note_changes(changes)) continue;
      if (std::find(unsubscribed_.begin(), unsubscribed_.end(), id) != unsubscribed_.end()) continue;
      Result<QueryResult> result = subscription.query.run(db_->reader());
      subscription.callback(result);
    }
    in_callback_ = false;
    for (SubscriptionId id : unsubscribed_) subscriptions_.erase(id);
    unsubscribed_.clear();
  }

  Options options_;
  std::unique_ptr<Journal> timeline_;
  std::unique_ptr<DocumentDatabase> db_;
  std::unique_ptr<ReplicationSession> session_;
  // The coordinator's announcement of a storage log newer than ours,
  // answered once we switch to it; replies to send with the next messages.
  std::optional<RangeRequest> announced_;
  std::vector<Message> outbox_;
  // Storage logs this connection's session stopped receiving.
  std::set<JournalId> left_logs_;
  uint32_t frames_since_rebase_ = 0;
  // This timeline's LSN recorded as applied in the visible state, as of the
  // last open() or rebase.
  std::optional<Lsn> applied_;
  std::map<SubscriptionId, Subscription> subscriptions_;
  SubscriptionId last_subscription_id_ = 0;
  std::vector<SubscriptionId> unsubscribed_;  // during callbacks
  RejectionCallback on_rejection_;
  bool in_callback_ = false;
  // Not ok while the document's schema is newer than the reducer.
  Status schema_status_;
};

Result<std::unique_ptr<LocalDocument>> LocalDocument::open(Options options) {
  if (options.document_id.is_zero()) return Status::invalid_argument("LocalDocument needs a document id");
  if (!options.reducer) return Status::invalid_argument("LocalDocument needs a reducer");
  if (!options.env) return Status::invalid_argument("LocalDocument needs an env");
  std::unique_ptr<Journal> log;
  std::unique_ptr<Journal> timeline;
  if (options.directory.empty()) {
    log = std::make_unique<MemoryJournal>(options.document_id);
    timeline = std::make_unique<MemoryJournal>(options.timeline_id.is_zero() ? options.env->new_journal_id()
                                                                            : options.timeline_id);
  } else {
    // The timeline's directory is named after its id, so a reopened replica
    // finds and keeps it; a new one gets the given id or a fresh random one.
    SQLSYNC_ASSIGN_OR_RETURN(std::optional<JournalId> stored, find_timeline(*options.env, options.directory));
    JournalId timeline_id = options.timeline_id;
    if (stored && !timeline_id.is_zero() && *stored != timeline_id) {
      return Status::invalid_argument(options.directory + " holds timeline " + stored->to_hex() + ", not " +
                                      timeline_id.to_hex());
    }
    if (stored) timeline_id = *stored;
    if (timeline_id.is_zero()) timeline_id = options.env->new_journal_id();
    const std::string timeline_dir = options.directory + "/" + kTimelinePrefix + timeline_id.to_hex();
    LogManifest manifest;
    SQLSYNC_ASSIGN_OR_RETURN(log, open_current_log(*options.env, options.directory, options.document_id, &manifest));
    SQLSYNC_ASSIGN_OR_RETURN(timeline, FileJournal::open(options.env, timeline_dir, timeline_id));
  }
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<DocumentDatabase> db,
                           DocumentDatabase::open(options.document_id, "local", std::move(log)));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(timeline), std::move(db));
  SQLSYNC_RETURN_IF_ERROR(impl->open());
  return std::unique_ptr<LocalDocument>(new LocalDocument(std::move(impl)));
}

LocalDocument::LocalDocument(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalDocument::~LocalDocument() = default;

JournalId LocalDocument::document_id() const { return impl_->document_id(); }
JournalId LocalDocument::timeline_id() const { return impl_->timeline_id(); }
Status LocalDocument::mutate(ByteView mutation) { return impl_->mutate(mutation); }
Status LocalDocument::sync() { return impl_->sync(); }
Status LocalDocument::set_reducer(std::shared_ptr<Reducer> reducer) { return impl_->set_reducer(std::move(reducer)); }
Result<QueryResult> LocalDocument::query(std::string_view sql, std::span<const Value> params) {
  return impl_->query(sql, params);
}
Result<LocalDocument::SubscriptionId> LocalDocument::subscribe(std::string sql, std::vector<Value> params,
                                                               QueryCallback callback) {
  return impl_->subscribe(std::move(sql), std::move(params), std::move(callback));
}
void LocalDocument::unsubscribe(SubscriptionId id) { impl_->unsubscribe(id); }
void LocalDocument::on_rejection(RejectionCallback callback) { impl_->on_rejection(std::move(callback)); }
std::vector<Bytes> LocalDocument::connect() { return impl_->connect(); }
Result<std::vector<Bytes>> LocalDocument::receive(ByteView message) { return impl_->receive(message); }
Result<std::vector<Bytes>> LocalDocument::poll() { return impl_->poll(); }
Status LocalDocument::disconnect() { return impl_->disconnect(); }
bool LocalDocument::connected() const { return impl_->connected(); }
Status LocalDocument::flush() { return impl_->flush(); }
uint64_t LocalDocument::pending_mutations() const { return impl_->pending_mutations(); }
LsnRange LocalDocument::timeline_range() const { return impl_->timeline_range(); }
LsnRange LocalDocument::storage_range() const { return impl_->storage_range(); }
JournalId LocalDocument::storage_log_id() const { return impl_->storage_log_id(); }

}  // namespace sqlsync
