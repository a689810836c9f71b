// Durable documents: a coordinator and replicas on journals in files, killed
// and reopened. The coordinator's files live in a MemoryEnv behind a
// FaultInjectionEnv, so a test can crash it at any I/O step and drop (or
// corrupt) everything it had not synced; replicas live in their own env.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "base/fault_env.h"
#include "base/memory_env.h"
#include "sim/test_status.h"
#include "sim/todo_reducer.h"
#include "sqlsync/coordinator_document.h"
#include "sqlsync/local_document.h"
#include "sync/test_network.h"

namespace sqlsync {
namespace {

using testing::counted;
using testing::dump;
using testing::TestNetwork;

constexpr const char* kServerDir = "/server/doc";

ByteView view(const std::string& text) { return ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()); }

class Durability : public ::testing::Test {
 protected:
  void SetUp() override { document_id_ = client_env_.new_journal_id(); }

  Status open_coordinator() {
    CoordinatorDocument::Options options;
    options.document_id = document_id_;
    options.reducer = reducer_;
    options.env = fault_env_.get();
    options.directory = kServerDir;
    if (compaction_) {
      // Compact often (automatically too) and delete old logs soon after,
      // so crashes hit every compaction step.
      options.compaction_min_log_bytes = 48 * 1024;
      options.old_log_grace_micros = 2'000;
    }
    SQLSYNC_ASSIGN_OR_RETURN(coordinator_, CoordinatorDocument::open(options));
    return Status::ok();
  }

  // The server process dies: connections drop, unsynced data is lost.
  void crash_coordinator(CrashMode mode = CrashMode::kDropUnsynced) {
    coordinator_.reset();
    for (size_t i = 0; i < clients_.size(); ++i) ASSERT_OK(network_.disconnect(i));
    server_env_->simulate_crash(mode, ++crashes_);
    fault_env_->clear_faults();
  }

  LocalDocument& add_client(std::string directory = "", bool sync_each_mutation = true) {
    LocalDocument::Options options;
    options.sync_each_mutation = sync_each_mutation;
    options.document_id = document_id_;
    options.reducer = reducer_;
    options.env = &client_env_;
    options.directory = std::move(directory);
    auto client = LocalDocument::open(options);
    EXPECT_TRUE(client.is_ok()) << client.status().to_string();
    clients_.push_back(std::move(client).value());
    return *clients_.back();
  }

  // A coordinator error is returned as is (the caller decides: crash or
  // bug); client errors fail the test.
  static TestNetwork::Options network_options() {
    TestNetwork::Options options;
    options.check = [](size_t who, const Status& status) {
      EXPECT_TRUE(who == TestNetwork::kCoordinator || status.is_ok()) << status.to_string();
      return status;
    };
    return options;
  }
  void connect(size_t index) { network_.connect(index); }
  Status run_until_quiet() { return network_.run_until_quiet(); }

  std::string applied_counts() { return testing::applied_counts(*coordinator_); }

  void random_crash_points(bool compaction, int default_points);

  bool compaction_ = false;
  std::unique_ptr<MemoryEnv> server_env_ = std::make_unique<MemoryEnv>(7);
  std::unique_ptr<FaultInjectionEnv> fault_env_ = std::make_unique<FaultInjectionEnv>(server_env_.get());
  MemoryEnv client_env_{8};
  JournalId document_id_;
  std::shared_ptr<Reducer> reducer_ = std::make_shared<TodoReducer>();
  std::unique_ptr<CoordinatorDocument> coordinator_;
  std::vector<std::unique_ptr<LocalDocument>> clients_;
  TestNetwork network_{coordinator_, clients_, network_options()};
  uint64_t crashes_ = 0;
};

TEST_F(Durability, CoordinatorRestartKeepsEveryAppliedMutation) {
  ASSERT_TRUE(open_coordinator().is_ok());
  LocalDocument& client = add_client();
  connect(0);
  for (int seq = 0; seq < 20; ++seq) ASSERT_TRUE(client.mutate(view(counted("a", seq))).is_ok());
  ASSERT_TRUE(run_until_quiet().is_ok());
  ASSERT_EQ(client.pending_mutations(), 0u);
  const std::string before = applied_counts();
  const LsnRange storage_before = coordinator_->storage_range();

  crash_coordinator();
  ASSERT_TRUE(open_coordinator().is_ok());
  EXPECT_EQ(coordinator_->storage_range().to_string(), storage_before.to_string());
  EXPECT_EQ(applied_counts(), before);

  // The replica reconnects and keeps syncing.
  connect(0);
  ASSERT_TRUE(client.mutate(view(counted("a", 20))).is_ok());
  ASSERT_TRUE(run_until_quiet().is_ok());
  EXPECT_EQ(client.pending_mutations(), 0u);
  EXPECT_EQ(dump(todo_query(client)("SELECT value FROM counters", {})), "21 \n");
}

TEST_F(Durability, AcknowledgedMutationsSurviveARestartBeforeTheyAreApplied) {
  ASSERT_TRUE(open_coordinator().is_ok());
  LocalDocument& client = add_client();
  connect(0);
  for (int seq = 0; seq < 5; ++seq) ASSERT_TRUE(client.mutate(view(counted("a", seq))).is_ok());
  // Deliver the mutations and the acknowledgements, but never step.
  for (int round = 0; round < 6; ++round) ASSERT_OK(network_.round(TestNetwork::Step::kNever));
  auto outgoing = coordinator_->poll();  // durable now
  ASSERT_TRUE(outgoing.is_ok());
  ASSERT_TRUE(coordinator_->has_work());

  crash_coordinator();
  ASSERT_TRUE(open_coordinator().is_ok());
  ASSERT_TRUE(coordinator_->has_work());
  auto report = coordinator_->step();
  ASSERT_TRUE(report.is_ok()) << report.status().to_string();
  EXPECT_EQ(report->applied, 5u);
  connect(0);
  ASSERT_TRUE(run_until_quiet().is_ok());
  EXPECT_EQ(client.pending_mutations(), 0u);
  EXPECT_EQ(applied_counts(), "'a' 0 1 \n'a' 1 1 \n'a' 2 1 \n'a' 3 1 \n'a' 4 1 \n");
}

// DESIGN 6.4: once durable frames record mutations as applied, the
// coordinator keeps none of them, in memory or on disk.
TEST_F(Durability, AppliedMutationsLeaveMemoryAndDisk) {
  ASSERT_TRUE(open_coordinator().is_ok());
  LocalDocument& client = add_client();
  connect(0);
  const std::string marker = "needle-in-the-inbox";
  ASSERT_TRUE(client.mutate(view(todo::create_task("t1", marker))).is_ok());
  ASSERT_TRUE(run_until_quiet().is_ok());
  ASSERT_EQ(client.pending_mutations(), 0u);
  ASSERT_OK(network_.disconnect(0));
  EXPECT_EQ(coordinator_->timelines_in_memory(), 0u);
  // Inbox truncation runs at most once per interval.
  server_env_->advance_micros(1'000'000);
  ASSERT_TRUE(coordinator_->poll().is_ok());

  const std::string inbox = std::string(kServerDir) + "/inbox";
  auto files = server_env_->list_dir(inbox);
  ASSERT_TRUE(files.is_ok()) << files.status().to_string();
  for (const std::string& name : *files) {
    auto bytes = server_env_->read_file(inbox + "/" + name);
    ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
    std::string text(bytes->begin(), bytes->end());
    EXPECT_EQ(text.find(marker), std::string::npos) << inbox << "/" << name << " still holds the mutation";
  }

  // The replica reconnects later and keeps syncing.
  connect(0);
  ASSERT_TRUE(client.mutate(view(todo::create_task("t2", "second"))).is_ok());
  ASSERT_TRUE(run_until_quiet().is_ok());
  EXPECT_EQ(client.pending_mutations(), 0u);
  EXPECT_EQ(dump(coordinator_->query("SELECT id FROM tasks ORDER BY id")), "'t1' \n't2' \n");
}

TEST_F(Durability, ReplicaReopensOfflineWithDataAndUnsentMutations) {
  ASSERT_TRUE(open_coordinator().is_ok());
  const std::string dir = "/replica/doc";
  JournalId timeline;
  {
    LocalDocument& client = add_client(dir);
    timeline = client.timeline_id();
    connect(0);
    ASSERT_TRUE(client.mutate(view(todo::create_task("t1", "synced"))).is_ok());
    ASSERT_TRUE(run_until_quiet().is_ok());
    ASSERT_OK(network_.disconnect(0));
    // Offline now.
    ASSERT_TRUE(client.mutate(view(todo::create_task("t2", "offline 1"))).is_ok());
    ASSERT_TRUE(client.mutate(view(todo::create_task("t3", "offline 2"))).is_ok());
    clients_.clear();
  }
  client_env_.simulate_crash();

  LocalDocument& reopened = add_client(dir);
  EXPECT_EQ(reopened.timeline_id().to_hex(), timeline.to_hex());
  EXPECT_EQ(reopened.pending_mutations(), 2u);
  EXPECT_EQ(dump(reopened.query("SELECT id FROM tasks ORDER BY id")), "'t1' \n't2' \n't3' \n");

  connect(0);
  ASSERT_TRUE(run_until_quiet().is_ok());
  EXPECT_EQ(reopened.pending_mutations(), 0u);
  EXPECT_EQ(dump(coordinator_->query("SELECT id FROM tasks ORDER BY id")), "'t1' \n't2' \n't3' \n");
}

// With sync_each_mutation off, a mutation is visible at once but neither
// durable nor sent until sync(): a crash before it loses the mutation (and
// the coordinator never saw it), one after it keeps it.
TEST_F(Durability, LazilySyncedReplicaSendsOnlyWhatSyncMadeDurable) {
  ASSERT_TRUE(open_coordinator().is_ok());
  const std::string dir = "/replica/lazy";
  {
    LocalDocument& client = add_client(dir, /*sync_each_mutation=*/false);
    connect(0);
    ASSERT_TRUE(client.mutate(view(todo::create_task("t1", "synced"))).is_ok());
    ASSERT_TRUE(client.sync().is_ok());
    ASSERT_TRUE(client.mutate(view(todo::create_task("t2", "not synced"))).is_ok());
    EXPECT_EQ(dump(client.query("SELECT id FROM tasks ORDER BY id")), "'t1' \n't2' \n");
    ASSERT_TRUE(run_until_quiet().is_ok());
    EXPECT_EQ(dump(coordinator_->query("SELECT id FROM tasks ORDER BY id")), "'t1' \n");
    EXPECT_EQ(client.pending_mutations(), 1u);
    coordinator_->disconnect(0);
    clients_.clear();
  }
  client_env_.simulate_crash();
  {
    LocalDocument& reopened = add_client(dir, /*sync_each_mutation=*/false);
    EXPECT_EQ(reopened.pending_mutations(), 0u);
    EXPECT_EQ(dump(reopened.query("SELECT id FROM tasks ORDER BY id")), "'t1' \n");
    ASSERT_TRUE(reopened.mutate(view(todo::create_task("t3", "synced later"))).is_ok());
    ASSERT_TRUE(reopened.sync().is_ok());
    clients_.clear();
  }
  client_env_.simulate_crash();
  LocalDocument& again = add_client(dir, /*sync_each_mutation=*/false);
  EXPECT_EQ(again.pending_mutations(), 1u);
  connect(0);
  ASSERT_TRUE(run_until_quiet().is_ok());
  EXPECT_EQ(again.pending_mutations(), 0u);
  EXPECT_EQ(dump(coordinator_->query("SELECT id FROM tasks ORDER BY id")), "'t1' \n't3' \n");
}

// Crashes the coordinator at random I/O steps (append, fsync, rename,
// directory sync, deletes...) while replicas push mutations, drops or
// corrupts what was not synced, reopens, and checks that replicas converge
// with every mutation applied exactly once: nothing a replica saw confirmed
// is lost (it would not resend it), nothing is applied twice.
TEST_F(Durability, RandomCrashPointsLoseNothingAndApplyNothingTwice) { random_crash_points(false, 1000); }

// The same with log compactions by hand and by policy during the workload,
// and old logs deleted after a short grace period: crashes hit every
// compaction step (snapshot log, marker, manifest, deletion), replicas switch
// logs or fall back to the snapshot, and still nothing is lost or doubled.
TEST_F(Durability, RandomCrashPointsDuringCompaction) { random_crash_points(true, 500); }

void Durability::random_crash_points(bool compaction, int default_points) {
  compaction_ = compaction;
  const char* points_env = std::getenv("SQLSYNC_CRASH_POINTS");
  const int points = points_env ? std::atoi(points_env) : default_points;
  const uint64_t first_seed = std::getenv("SQLSYNC_CRASH_SEED") ? std::strtoull(std::getenv("SQLSYNC_CRASH_SEED"), nullptr, 10) : 1;
  int crashes_fired = 0;
  for (uint64_t seed = first_seed; seed < first_seed + static_cast<uint64_t>(points); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: SQLSYNC_CRASH_SEED=" + std::to_string(seed) +
                 " SQLSYNC_CRASH_POINTS=1)");
    std::mt19937_64 random(seed);
    // A fresh world per crash point.
    coordinator_.reset();
    clients_.clear();
    network_.drop_all();
    fault_env_.reset();
    server_env_ = std::make_unique<MemoryEnv>(seed);
    fault_env_ = std::make_unique<FaultInjectionEnv>(server_env_.get());
    ASSERT_TRUE(open_coordinator().is_ok());
    for (int c = 0; c < 2; ++c) {
      add_client();
      connect(c);
    }

    fault_env_->crash_after(std::uniform_int_distribution<uint64_t>(0, 120)(random));
    const int kPerClient = 12;
    int sent[2] = {0, 0};
    bool crashed = false;
    for (int round = 0; round < 400 && (sent[0] < kPerClient || sent[1] < kPerClient); ++round) {
      for (int c = 0; c < 2; ++c) {
        if (sent[c] < kPerClient && random() % 2 == 0) {
          ASSERT_TRUE(clients_[c]->mutate(view(counted(std::string(1, static_cast<char>('a' + c)), sent[c]++))).is_ok());
        }
      }
      const auto step = random() % 2 == 0 ? TestNetwork::Step::kBeforeAndAfter : TestNetwork::Step::kAfterDelivery;
      Status status = network_.round(step).status();
      if (compaction && status.is_ok() && random() % 6 == 0) status = coordinator_->compact();
      server_env_->advance_micros(500);
      if (!status.is_ok()) {
        ASSERT_TRUE(fault_env_->crashed()) << status.to_string();
        crashed = true;
        crash_coordinator(random() % 2 ? CrashMode::kDropUnsynced : CrashMode::kCorruptUnsyncedTail);
        Status reopened = open_coordinator();
        ASSERT_TRUE(reopened.is_ok()) << reopened.to_string();
        for (int c = 0; c < 2; ++c) connect(c);
      }
    }
    Status quiet = run_until_quiet();
    if (!quiet.is_ok() && fault_env_->crashed()) {
      crashed = true;
      crash_coordinator();
      ASSERT_TRUE(open_coordinator().is_ok());
      for (int c = 0; c < 2; ++c) connect(c);
      quiet = run_until_quiet();
    }
    ASSERT_TRUE(quiet.is_ok()) << quiet.to_string();
    crashes_fired += crashed;

    std::string expected;
    for (int c = 0; c < 2; ++c) {
      for (int seq = 0; seq < kPerClient; ++seq) {
        expected += "'" + std::string(1, static_cast<char>('a' + c)) + "' " + std::to_string(seq) + " 1 \n";
      }
    }
    ASSERT_EQ(applied_counts(), expected);
    for (auto& client : clients_) {
      ASSERT_EQ(client->pending_mutations(), 0u);
      ASSERT_EQ(dump(client->query("SELECT author, seq FROM applied ORDER BY 1, 2")),
                dump(coordinator_->query("SELECT author, seq FROM applied ORDER BY 1, 2")));
    }
  }
  // Most points must actually crash the coordinator mid-workload.
  EXPECT_GT(crashes_fired, points / 2);
  std::printf("%d crash points, %d crashed the coordinator\n", points, crashes_fired);
}

}  // namespace
}  // namespace sqlsync
