// LocalDocument and CoordinatorDocument together, linked by a TestNetwork.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>

#include "base/memory_env.h"
#include "sim/test_status.h"
#include "sqlsync/coordinator_document.h"
#include "sqlsync/local_document.h"
#include "storage/database.h"
#include "storage/frame.h"
#include "sync/protocol.h"
#include "sync/test_network.h"

namespace sqlsync {
namespace {

using testing::dump;

// Mutations are small commands: "add <text>", "incr", "rename <id> <text>",
// "delete <id>", "noop", and from schema version 2 "color <id> <color>".
// Schema v1: notes(id, body), counter(id, value); v2 adds notes.color with a
// default and an index on it.
class NotesReducer final : public Reducer {
 public:
  explicit NotesReducer(uint32_t version = 1) : version_(version) {}

  uint32_t schema_version() const override { return version_; }

  Status migrate(Transaction& tx, uint32_t from, uint32_t to) override {
    for (uint32_t version = from + 1; version <= to; ++version) {
      if (version == 1) {
        SQLSYNC_RETURN_IF_ERROR(tx.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)"));
        SQLSYNC_RETURN_IF_ERROR(tx.execute("CREATE TABLE counter(id INTEGER PRIMARY KEY, value INTEGER)"));
      } else if (version == 2) {
        SQLSYNC_RETURN_IF_ERROR(tx.execute("ALTER TABLE notes ADD COLUMN color TEXT NOT NULL DEFAULT 'none'"));
        SQLSYNC_RETURN_IF_ERROR(tx.execute("CREATE INDEX notes_by_color ON notes(color)"));
      }
    }
    return Status::ok();
  }

  Status reduce(Transaction& tx, ByteView mutation) override {
    std::string text(as_text(mutation));
    if (text.rfind("add ", 0) == 0) {
      Value body = text.substr(4);
      return tx.execute("INSERT INTO notes(body) VALUES (?)", std::span<const Value>(&body, 1));
    }
    if (text == "incr") {
      return tx.execute(
          "INSERT INTO counter(id, value) VALUES (1, 1) ON CONFLICT(id) DO UPDATE SET value = value + 1");
    }
    if (text.rfind("rename ", 0) == 0 || (version_ >= 2 && text.rfind("color ", 0) == 0)) {
      bool rename = text[0] == 'r';
      size_t start = rename ? 7 : 6;
      size_t space = text.find(' ', start);
      Value params[] = {int64_t{std::stoll(text.substr(start, space - start))}, text.substr(space + 1)};
      SQLSYNC_RETURN_IF_ERROR(
          tx.execute(rename ? "UPDATE notes SET body = ?2 WHERE id = ?1" : "UPDATE notes SET color = ?2 WHERE id = ?1",
                     params));
      if (tx.changes() == 0) return Status::rejected("no note " + text.substr(start, space - start));
      return Status::ok();
    }
    if (text.rfind("delete ", 0) == 0) {
      Value id = int64_t{std::stoll(text.substr(7))};
      return tx.execute("DELETE FROM notes WHERE id = ?", std::span<const Value>(&id, 1));
    }
    if (text == "noop") return tx.execute("UPDATE notes SET body = body WHERE id < 0");
    if (text == "peek") return tx.query("SELECT * FROM __sqlsync_timelines").status();
    if (text == "temp") return tx.execute("CREATE TEMP TABLE scratch(x)");
    if (text == "bomb") {
      // Ends the runtime's transaction when note 1 exists, then writes more.
      SQLSYNC_RETURN_IF_ERROR(tx.execute("INSERT OR ROLLBACK INTO notes(id, body) VALUES (1, 'bomb')"));
      return tx.execute("INSERT INTO notes(body) VALUES ('after the bomb')");
    }
    return Status::rejected("unknown mutation '" + text + "'");
  }

 private:
  uint32_t version_;
};

class DocumentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = std::make_unique<MemoryEnv>(42);
    document_id_ = env_->new_journal_id();
    reducer_ = std::make_shared<NotesReducer>();
    auto coordinator = CoordinatorDocument::open({document_id_, reducer_, env_.get()});
    ASSERT_TRUE(coordinator.is_ok()) << coordinator.status().to_string();
    coordinator_ = std::move(coordinator).value();
  }

  void reopen_coordinator(const CoordinatorDocument::Options& options) {
    coordinator_.reset();
    auto coordinator = CoordinatorDocument::open(options);
    ASSERT_TRUE(coordinator.is_ok()) << coordinator.status().to_string();
    coordinator_ = std::move(coordinator).value();
  }

  LocalDocument& add_client() {
    LocalDocument::Options options;
    options.document_id = document_id_;
    options.reducer = reducer_;
    options.env = env_.get();
    auto client = LocalDocument::open(options);
    EXPECT_TRUE(client.is_ok()) << client.status().to_string();
    clients_.push_back(std::move(client).value());
    return *clients_.back();
  }

  void connect(size_t index) { network_.connect(index); }
  void disconnect(size_t index) { ASSERT_OK(network_.disconnect(index)); }
  void run_until_quiet() { ASSERT_OK(network_.run_until_quiet()); }
  void connect_all_and_sync() {
    for (size_t i = 0; i < clients_.size(); ++i) connect(i);
    run_until_quiet();
  }

  static std::string notes(LocalDocument& doc) { return dump(doc.query("SELECT id, body FROM notes ORDER BY id")); }
  std::string server_notes() { return dump(coordinator_->query("SELECT id, body FROM notes ORDER BY id")); }

  testing::TestNetwork::Options network_options() {
    testing::TestNetwork::Options options;
    options.on_deliver_to_client = [this](size_t index, Bytes& message) { note_to_client(index, message); };
    return options;
  }
  // Records the frames delivered to client `index` (and lets a test rewrite
  // them first).
  void note_to_client(size_t index, Bytes& message) {
    Result<Message> decoded = decode_message(message);
    ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
    auto* frame = std::get_if<FrameMessage>(&*decoded);
    if (frame == nullptr) return;
    if (rewrite_frame_ && rewrite_frame_(index, *frame)) message = encode_message(*frame);
    frames_to_client_[index].push_back({frame->journal, frame->lsn, frame->data.size()});
  }
  struct Delivered {
    JournalId journal;
    Lsn lsn;
    size_t bytes;
  };
  uint64_t bytes_to_client(size_t index) const {
    uint64_t total = 0;
    if (auto it = frames_to_client_.find(index); it != frames_to_client_.end()) {
      for (const Delivered& frame : it->second) total += frame.bytes;
    }
    return total;
  }
  bool received(size_t index, const JournalId& journal, Lsn lsn) const {
    auto it = frames_to_client_.find(index);
    if (it == frames_to_client_.end()) return false;
    for (const Delivered& frame : it->second) {
      if (frame.journal == journal && frame.lsn == lsn) return true;
    }
    return false;
  }
  std::map<size_t, std::vector<Delivered>> frames_to_client_;
  std::function<bool(size_t, FrameMessage&)> rewrite_frame_;

  std::unique_ptr<MemoryEnv> env_;
  JournalId document_id_;
  std::shared_ptr<NotesReducer> reducer_;
  std::unique_ptr<CoordinatorDocument> coordinator_;
  std::vector<std::unique_ptr<LocalDocument>> clients_;
  testing::TestNetwork network_{coordinator_, clients_, network_options()};
};

Status mutate(LocalDocument& doc, std::string_view text) { return doc.mutate(as_bytes(text)); }

TEST_F(DocumentTest, LocalMutationIsVisibleAtOnceAndAFailedOneKeepsNothing) {
  LocalDocument& a = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  EXPECT_EQ(notes(a), "1 'milk' \n");
  EXPECT_EQ(a.pending_mutations(), 1u);

  Status failed = mutate(a, "bogus");
  EXPECT_EQ(failed.code(), StatusCode::kRejected);
  EXPECT_EQ(a.pending_mutations(), 1u);
  EXPECT_EQ(notes(a), "1 'milk' \n");
}

TEST_F(DocumentTest, ClientsConvergeThroughTheCoordinator) {
  LocalDocument& a = add_client();
  LocalDocument& b = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  ASSERT_TRUE(mutate(b, "add eggs").is_ok());
  connect_all_and_sync();
  EXPECT_EQ(server_notes(), "1 'milk' \n2 'eggs' \n");
  EXPECT_EQ(notes(a), server_notes());
  EXPECT_EQ(notes(b), server_notes());
  EXPECT_EQ(a.pending_mutations(), 0u);
  EXPECT_EQ(b.pending_mutations(), 0u);
}

TEST_F(DocumentTest, ServerResultReplacesTheOptimisticOneAndRejectionsReachTheAuthor) {
  LocalDocument& a = add_client();
  LocalDocument& b = add_client();
  std::vector<Rejection> rejected;
  a.on_rejection([&](const Rejection& rejection) { rejected.push_back(rejection); });
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  connect_all_and_sync();
  disconnect(0);

  // A renames offline while B deletes the note and syncs first.
  ASSERT_TRUE(mutate(a, "rename 1 oat milk").is_ok());
  EXPECT_EQ(notes(a), "1 'oat milk' \n");
  ASSERT_TRUE(mutate(b, "delete 1").is_ok());
  run_until_quiet();
  connect(0);
  run_until_quiet();

  EXPECT_EQ(notes(a), "");
  EXPECT_EQ(notes(b), "");
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].timeline, a.timeline_id());
  EXPECT_NE(rejected[0].message.find("no note 1"), std::string::npos) << rejected[0].message;
  EXPECT_EQ(a.pending_mutations(), 0u);
}

TEST_F(DocumentTest, ConcurrentIncrementsAllCount) {
  LocalDocument& a = add_client();
  LocalDocument& b = add_client();
  connect(0);
  connect(1);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(mutate(a, "incr").is_ok());
    ASSERT_TRUE(mutate(b, "incr").is_ok());
    if (i % 7 == 0) run_until_quiet();
  }
  run_until_quiet();
  for (LocalDocument* doc : {&a, &b}) {
    EXPECT_EQ(dump(doc->query("SELECT value FROM counter")), "200 \n");
  }
  EXPECT_EQ(dump(coordinator_->query("SELECT value FROM counter")), "200 \n");
}

TEST_F(DocumentTest, NoOpMutationWritesNoFrameUntilTheAcknowledgementIsDue) {
  LocalDocument& a = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  connect(0);
  run_until_quiet();
  LsnRange before = coordinator_->storage_range();

  int refreshes = 0;
  auto id = a.subscribe("SELECT body FROM notes", {}, [&](const Result<QueryResult>&) { ++refreshes; });
  ASSERT_TRUE(id.is_ok());
  EXPECT_EQ(refreshes, 1);
  ASSERT_TRUE(mutate(a, "noop").is_ok());
  EXPECT_EQ(refreshes, 1) << "a no-op mutation must not refresh queries";
  run_until_quiet();
  EXPECT_EQ(coordinator_->storage_range(), before) << "a no-op mutation must not produce a frame";
  EXPECT_EQ(a.pending_mutations(), 1u);

  env_->advance_micros(1'000'000);
  run_until_quiet();
  EXPECT_EQ(coordinator_->storage_range().next(), before.next() + 1);
  EXPECT_EQ(a.pending_mutations(), 0u);
}

TEST_F(DocumentTest, SubscriptionsRefreshOnlyForTablesTheyRead) {
  LocalDocument& a = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  ASSERT_TRUE(mutate(a, "incr").is_ok());
  std::vector<std::string> seen;
  auto id = a.subscribe("SELECT body FROM notes ORDER BY id", {},
                        [&](const Result<QueryResult>& result) { seen.push_back(dump(result)); });
  ASSERT_TRUE(id.is_ok());
  ASSERT_TRUE(mutate(a, "incr").is_ok());
  EXPECT_EQ(seen.size(), 1u) << "counter changes must not refresh a notes query";
  ASSERT_TRUE(mutate(a, "add eggs").is_ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen.back(), "'milk' \n'eggs' \n");

  // Server frames that change notes refresh it too.
  LocalDocument& b = add_client();
  connect(0);
  connect(1);
  ASSERT_TRUE(mutate(b, "add bread").is_ok());
  run_until_quiet();
  EXPECT_EQ(seen.back(), "'milk' \n'eggs' \n'bread' \n");
  a.unsubscribe(*id);
}

TEST_F(DocumentTest, CorruptMessageIsRefusedAndChangesNothing) {
  LocalDocument& a = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  std::vector<Bytes> hello = coordinator_->connect(0);
  a.connect();
  ASSERT_FALSE(hello.empty());
  Bytes corrupt = hello[0];
  corrupt[corrupt.size() / 2] ^= 0x40;
  auto result = a.receive(corrupt);
  EXPECT_FALSE(result.is_ok());
  auto truncated = a.receive(ByteView(hello[0]).first(hello[0].size() - 3));
  EXPECT_FALSE(truncated.is_ok());
  EXPECT_EQ(notes(a), "1 'milk' \n");
  EXPECT_EQ(a.pending_mutations(), 1u);
}

TEST_F(DocumentTest, MutateDirectReachesClients) {
  LocalDocument& a = add_client();
  ASSERT_TRUE(coordinator_
                  ->mutate_direct([](Transaction& tx) {
                    return tx.execute("INSERT INTO notes(body) VALUES ('from server')");
                  })
                  .is_ok());
  connect(0);
  run_until_quiet();
  EXPECT_EQ(notes(a), "1 'from server' \n");
}

TEST_F(DocumentTest, ReducerCannotTouchInternalTables) {
  LocalDocument& a = add_client();
  connect(0);
  run_until_quiet();  // the internal tables arrive with the coordinator's first frame
  Status status = mutate(a, "peek");
  EXPECT_EQ(status.code(), StatusCode::kRejected) << status.to_string();
  EXPECT_NE(status.message().find("__sqlsync_timelines"), std::string::npos) << status.to_string();
  // TEMP objects would be state that is never replicated.
  status = mutate(a, "temp");
  EXPECT_EQ(status.code(), StatusCode::kRejected) << status.to_string();
  EXPECT_NE(status.message().find("temporary"), std::string::npos) << status.to_string();
  EXPECT_EQ(a.pending_mutations(), 0u);
}

TEST_F(DocumentTest, MigrationsRunEverywhereAndOldReducersAreRefused) {
  LocalDocument& a = add_client();
  LocalDocument& b = add_client();
  // A brand-new document is usable offline at once: migrations ran at open.
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  ASSERT_TRUE(mutate(b, "add eggs").is_ok());
  connect_all_and_sync();
  ASSERT_EQ(server_notes(), "1 'milk' \n2 'eggs' \n");

  // The application ships schema v2: the coordinator and A upgrade, B not.
  ASSERT_TRUE(coordinator_->set_reducer(std::make_shared<NotesReducer>(2)).is_ok());
  ASSERT_TRUE(a.set_reducer(std::make_shared<NotesReducer>(2)).is_ok());
  ASSERT_TRUE(mutate(a, "color 1 green").is_ok());
  run_until_quiet();

  const char* kColors = "SELECT id, body, color FROM notes ORDER BY id";
  EXPECT_EQ(dump(coordinator_->query(kColors)), "1 'milk' 'green' \n2 'eggs' 'none' \n");
  EXPECT_EQ(dump(a.query(kColors)), dump(coordinator_->query(kColors)));
  EXPECT_EQ(dump(b.query(kColors)), dump(coordinator_->query(kColors))) << "B still receives the new state";
  EXPECT_EQ(dump(coordinator_->query("SELECT version FROM __sqlsync_schema")), "2 \n");
  EXPECT_EQ(dump(coordinator_->query("SELECT name FROM sqlite_schema WHERE type = 'index' AND name = 'notes_by_color'")),
            "'notes_by_color' \n");

  Status refused = mutate(b, "add bread");
  EXPECT_EQ(refused.code(), StatusCode::kUnsupported) << refused.to_string();
  EXPECT_NE(refused.message().find("version 2"), std::string::npos) << refused.to_string();
  EXPECT_EQ(b.pending_mutations(), 0u);

  // A coordinator cannot be downgraded below the document's schema.
  EXPECT_EQ(coordinator_->set_reducer(std::make_shared<NotesReducer>(1)).code(), StatusCode::kUnsupported);
  // Updating B's reducer lets it write again.
  ASSERT_TRUE(b.set_reducer(std::make_shared<NotesReducer>(2)).is_ok());
  ASSERT_TRUE(mutate(b, "add bread").is_ok());
  run_until_quiet();
  EXPECT_EQ(dump(a.query(kColors)), "1 'milk' 'green' \n2 'eggs' 'none' \n3 'bread' 'none' \n");
}

TEST_F(DocumentTest, ReducerEndingTheTransactionIsRefusedAloneEverywhere) {
  LocalDocument& a = add_client();
  LocalDocument& b = add_client();
  std::vector<Rejection> rejected;
  a.on_rejection([&](const Rejection& rejection) { rejected.push_back(rejection); });
  connect_all_and_sync();
  disconnect(0);

  // Offline, A's bomb is harmless (no note 1 yet) ...
  ASSERT_TRUE(mutate(a, "bomb").is_ok());
  ASSERT_TRUE(mutate(a, "add tea").is_ok());
  // ... but B creates note 1 first, so on the coordinator (and in A's rebase)
  // the bomb rolls back the whole transaction.
  ASSERT_TRUE(mutate(b, "add milk").is_ok());
  run_until_quiet();
  connect(0);
  run_until_quiet();

  EXPECT_EQ(server_notes(), "1 'milk' \n2 'tea' \n") << "the bomb alone is refused; its neighbour applies";
  EXPECT_EQ(notes(a), server_notes());
  EXPECT_EQ(notes(b), server_notes());
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].lsn, 0u);
  EXPECT_EQ(rejected[0].message, kTransactionEndedByReducer);
  EXPECT_EQ(a.pending_mutations(), 0u);

  // Locally the same mutation now fails at once and keeps nothing.
  Status status = mutate(a, "bomb");
  EXPECT_EQ(status.code(), StatusCode::kRejected) << status.to_string();
  EXPECT_EQ(notes(a), server_notes());
  EXPECT_EQ(a.pending_mutations(), 0u);
}

TEST_F(DocumentTest, CallbackMayUnsubscribeItself) {
  LocalDocument& a = add_client();
  int calls = 0;
  LocalDocument::SubscriptionId id = 0;
  auto subscribed = a.subscribe("SELECT body FROM notes", {}, [&](const Result<QueryResult>&) {
    if (++calls == 2) a.unsubscribe(id);
  });
  ASSERT_TRUE(subscribed.is_ok());
  id = *subscribed;
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  ASSERT_TRUE(mutate(a, "add eggs").is_ok());
  EXPECT_EQ(calls, 2);
}

TEST_F(DocumentTest, QueriesCannotHoldATransactionOpen) {
  LocalDocument& a = add_client();
  EXPECT_EQ(a.query("BEGIN").status().code(), StatusCode::kRejected);
  EXPECT_EQ(coordinator_->query("BEGIN").status().code(), StatusCode::kRejected);
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
}

TEST_F(DocumentTest, IdleTimelinesLeaveCoordinatorMemoryAndResume) {
  LocalDocument& a = add_client();
  connect(0);
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  run_until_quiet();
  EXPECT_EQ(coordinator_->timelines_in_memory(), 1u) << "connected";

  disconnect(0);
  EXPECT_EQ(coordinator_->timelines_in_memory(), 0u) << "applied, recorded and disconnected";

  // Offline mutations resume after the recorded LSN: applied once each.
  ASSERT_TRUE(mutate(a, "add eggs").is_ok());
  ASSERT_TRUE(mutate(a, "incr").is_ok());
  connect(0);
  run_until_quiet();
  EXPECT_EQ(server_notes(), "1 'milk' \n2 'eggs' \n");
  EXPECT_EQ(dump(coordinator_->query("SELECT value FROM counter")), "1 \n");
  EXPECT_EQ(notes(a), server_notes());
  EXPECT_EQ(a.pending_mutations(), 0u);

  // A timeline with unapplied mutations stays until they are applied.
  ASSERT_TRUE(mutate(a, "add tea").is_ok());
  auto polled = a.poll();
  ASSERT_TRUE(polled.is_ok());
  for (Bytes& message : *polled) ASSERT_TRUE(coordinator_->receive(0, message).is_ok());
  coordinator_->disconnect(0);
  EXPECT_EQ(coordinator_->timelines_in_memory(), 1u) << "queued, not applied";
  ASSERT_TRUE(coordinator_->step().is_ok());
  EXPECT_EQ(coordinator_->timelines_in_memory(), 0u);
}

// --- Log compaction (DESIGN 6.7) ---

// Many small frames over a bounded table: history far larger than the data.
// Renames note 1 to v<first>, v<first + 1>, ...
// Renames note 1 `updates` times. `filler` bytes appended to each new body
// (a different letter each time) make every frame carry that much change:
// page deltas keep frames of short renames at a few dozen bytes.
void make_history(LocalDocument& doc, int updates, int first = 0, size_t filler = 0) {
  for (int i = first; i < first + updates; ++i) {
    std::string body = "v" + std::to_string(i);
    if (filler > 0) body += " " + std::string(filler, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(mutate(doc, "rename 1 " + body).is_ok());
  }
}

TEST_F(DocumentTest, ClientBehindTheMarkerSwitchesLogsWithoutFullDownload) {
  LocalDocument& a = add_client();
  LocalDocument& b = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  connect_all_and_sync();
  for (int i = 0; i < 20; ++i) {
    make_history(a, 1, i);
    run_until_quiet();
  }
  disconnect(1);
  ASSERT_TRUE(mutate(b, "add eggs").is_ok());  // pending across the switch
  for (int i = 20; i < 25; ++i) {
    make_history(a, 1, i);
    run_until_quiet();
  }
  const JournalId old_log = coordinator_->storage_log_id();
  const Lsn marker_lsn = coordinator_->storage_range().next();
  ASSERT_TRUE(coordinator_->compact().is_ok());
  const JournalId new_log = coordinator_->storage_log_id();
  ASSERT_NE(new_log, old_log);
  EXPECT_EQ(coordinator_->storage_range(), LsnRange::half_open(0, 1));
  EXPECT_EQ(coordinator_->retained_logs(), 1u);
  ASSERT_TRUE(mutate(a, "add bread").is_ok());
  run_until_quiet();  // a is connected: it switches at the marker too
  EXPECT_FALSE(received(0, new_log, 0));

  frames_to_client_.clear();
  connect(1);
  run_until_quiet();
  EXPECT_EQ(server_notes(), "1 'v24' \n2 'bread' \n3 'eggs' \n");
  EXPECT_EQ(notes(a), server_notes());
  EXPECT_EQ(notes(b), server_notes());
  EXPECT_EQ(b.storage_range(), coordinator_->storage_range());
  EXPECT_EQ(b.storage_log_id(), new_log);
  EXPECT_EQ(a.storage_log_id(), new_log);
  EXPECT_EQ(b.pending_mutations(), 0u);
  // b got the old log's missing frames and the marker, then only frames
  // after the snapshot: it built the snapshot itself.
  EXPECT_TRUE(received(1, old_log, marker_lsn));
  EXPECT_FALSE(received(1, new_log, 0));
  EXPECT_TRUE(received(1, new_log, 1));
}

TEST_F(DocumentTest, ClientOnAnExpiredLogFallsBackToTheSnapshot) {
  CoordinatorDocument::Options options{document_id_, reducer_, env_.get()};
  options.old_log_grace_micros = 0;
  reopen_coordinator(options);
  LocalDocument& a = add_client();
  LocalDocument& b = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  connect_all_and_sync();
  disconnect(1);
  make_history(a, 10);
  ASSERT_TRUE(mutate(b, "add eggs").is_ok());
  run_until_quiet();
  ASSERT_TRUE(coordinator_->compact().is_ok());
  run_until_quiet();  // the grace period is over: the old log is deleted
  EXPECT_EQ(coordinator_->retained_logs(), 0u);

  frames_to_client_.clear();
  connect(1);
  run_until_quiet();
  EXPECT_EQ(server_notes(), "1 'v9' \n2 'eggs' \n");
  EXPECT_EQ(notes(b), server_notes());
  EXPECT_EQ(notes(a), server_notes());
  EXPECT_EQ(b.storage_range(), coordinator_->storage_range());
  EXPECT_EQ(b.storage_log_id(), coordinator_->storage_log_id());
  EXPECT_TRUE(received(1, coordinator_->storage_log_id(), 0));  // the full snapshot
}

TEST_F(DocumentTest, ClientWhoseStateDoesNotMatchTheMarkerFallsBack) {
  LocalDocument& a = add_client();
  LocalDocument& b = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  connect_all_and_sync();
  make_history(a, 5);
  run_until_quiet();
  // The marker b receives carries another hash, as if b's pages had drifted.
  rewrite_frame_ = [](size_t index, FrameMessage& frame) {
    Result<Frame> decoded = decode_frame(frame.data);
    if (index != 1 || !decoded.is_ok() || decoded->kind != FrameKind::kEndLog) return false;
    SnapshotHash wrong = decoded->snapshot_hash;
    wrong[0] ^= 1;
    frame.data = encode_end_log_frame(decoded->lsn, decoded->previous_checksum, decoded->database_pages,
                                      decoded->next_log, wrong);
    return true;
  };
  ASSERT_TRUE(coordinator_->compact().is_ok());
  ASSERT_TRUE(mutate(b, "add eggs").is_ok());
  run_until_quiet();
  EXPECT_TRUE(received(1, coordinator_->storage_log_id(), 0));
  EXPECT_FALSE(received(0, coordinator_->storage_log_id(), 0));
  EXPECT_EQ(server_notes(), "1 'v4' \n2 'eggs' \n");
  EXPECT_EQ(notes(b), server_notes());
  EXPECT_EQ(notes(a), server_notes());
  EXPECT_EQ(b.storage_range(), coordinator_->storage_range());
}

TEST_F(DocumentTest, NewClientBootstrapsFromTheSnapshot) {
  CoordinatorDocument::Options options{document_id_, reducer_, env_.get()};
  options.compaction_ratio = 0;  // by hand only: the whole history stays
  reopen_coordinator(options);
  LocalDocument& a = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  connect(0);
  run_until_quiet();
  for (int i = 0; i < 200; ++i) {
    make_history(a, 1, i, 3000);
    run_until_quiet();
  }
  const uint64_t history_bytes = coordinator_->storage_log_bytes();
  ASSERT_TRUE(coordinator_->compact().is_ok());
  const uint64_t snapshot_bytes = coordinator_->storage_log_bytes();
  EXPECT_LT(snapshot_bytes * 10, history_bytes);

  LocalDocument& c = add_client();
  connect(1);
  run_until_quiet();
  EXPECT_EQ(notes(c), server_notes());
  EXPECT_EQ(notes(c).rfind("1 'v199 ", 0), 0u) << notes(c);
  // Only the snapshot travelled (plus the frame with a's last mutations).
  EXPECT_TRUE(received(1, coordinator_->storage_log_id(), 0));
  EXPECT_LE(bytes_to_client(1), snapshot_bytes + 4 * (kPageSize + 4) + 64);
}

TEST_F(DocumentTest, CompactionIsAutomaticPastTheRatio) {
  CoordinatorDocument::Options options{document_id_, reducer_, env_.get()};
  options.compaction_min_log_bytes = 64 * 1024;
  reopen_coordinator(options);
  LocalDocument& a = add_client();
  ASSERT_TRUE(mutate(a, "add milk").is_ok());
  connect(0);
  run_until_quiet();
  const JournalId first = coordinator_->storage_log_id();
  for (int i = 0; i < 80; ++i) {
    make_history(a, 1, i, 3000);
    run_until_quiet();
    // The log never grows far past 4x the database (a few dozen pages).
    EXPECT_LE(coordinator_->storage_log_bytes(), 256u * 1024);
  }
  EXPECT_NE(coordinator_->storage_log_id(), first);
  EXPECT_EQ(notes(a), server_notes());
  EXPECT_EQ(a.storage_range(), coordinator_->storage_range());
}

TEST_F(DocumentTest, DurableCompactionSurvivesReopenOnBothSides) {
  CoordinatorDocument::Options options{document_id_, reducer_, env_.get()};
  options.directory = "/compaction/server";
  reopen_coordinator(options);
  LocalDocument::Options client_options;
  client_options.document_id = document_id_;
  client_options.reducer = reducer_;
  client_options.env = env_.get();
  client_options.directory = "/compaction/client";
  auto client = LocalDocument::open(client_options);
  ASSERT_TRUE(client.is_ok()) << client.status().to_string();
  clients_.push_back(std::move(client).value());
  ASSERT_TRUE(mutate(*clients_[0], "add milk").is_ok());
  connect(0);
  run_until_quiet();
  make_history(*clients_[0], 5);
  run_until_quiet();
  ASSERT_TRUE(coordinator_->compact().is_ok());
  ASSERT_TRUE(mutate(*clients_[0], "add eggs").is_ok());
  run_until_quiet();
  const JournalId current = coordinator_->storage_log_id();
  ASSERT_EQ(clients_[0]->storage_range(), coordinator_->storage_range());
  disconnect(0);

  reopen_coordinator(options);
  EXPECT_EQ(coordinator_->storage_log_id(), current);
  EXPECT_EQ(coordinator_->retained_logs(), 1u);
  clients_[0].reset();
  client = LocalDocument::open(client_options);
  ASSERT_TRUE(client.is_ok()) << client.status().to_string();
  clients_[0] = std::move(client).value();
  EXPECT_EQ(clients_[0]->storage_range(), coordinator_->storage_range());
  EXPECT_EQ(server_notes(), "1 'v4' \n2 'eggs' \n");
  EXPECT_EQ(notes(*clients_[0]), server_notes());
  frames_to_client_.clear();
  connect(0);
  run_until_quiet();
  EXPECT_EQ(bytes_to_client(0), 0u);
}

}  // namespace
}  // namespace sqlsync
