// A durable replica (LocalDocument with a directory) crashed at random I/O
// steps while the coordinator compacts its log and the replica follows it
// from log to log. The replica's files live in a MemoryEnv behind a
// FaultInjectionEnv; after each crash its un-synced bytes are dropped or
// torn, it is reopened from its directory and reconnected, and in the end
// every mutation it confirmed must be applied exactly once and its database
// must equal the coordinator's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

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

constexpr const char* kReplicaDir = "/replica/doc";
// Clients: the durable replica under test, and an in-memory replica whose
// mutations keep frames coming while the first one is down.
constexpr size_t kDurable = 0;
constexpr size_t kMemory = 1;
constexpr size_t kClients = 2;
constexpr int kMutationsPerClient = 12;
constexpr uint64_t kRoundMicros = 500;
constexpr uint64_t kGraceMicros = 2'000;

// Every table of a document (internal ones included), rows sorted, so two
// databases with the same content dump the same text.
template <typename Document>
std::string dump_tables(Document& document) {
  Result<QueryResult> tables = document.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
  if (!tables.is_ok()) return tables.status().to_string();
  std::string out;
  for (const Row& table : tables->rows) {
    const std::string name = value_to_string(table.at(0));
    out += name + ":\n";
    Result<QueryResult> rows = document.query("SELECT * FROM " + name);
    if (!rows.is_ok()) return out + rows.status().to_string();
    std::sort(rows->rows.begin(), rows->rows.end());
    out += testing::dump(rows);
  }
  return out;
}

// What part of the replica's work an I/O step belongs to.
enum class Step { kTimeline, kStorageFrames, kLogSwitch, kOther };
constexpr size_t kStepKinds = 4;
const char* step_name(Step step) {
  switch (step) {
    case Step::kTimeline: return "timeline";
    case Step::kStorageFrames: return "storage frames";
    case Step::kLogSwitch: return "log switch";
    case Step::kOther: return "other";
  }
  return "unknown";
}

// Appends and syncs of storage log segments are frame writes; every other
// step on a storage log directory or on the manifest (creating a log,
// publishing its metadata, the manifest, deleting the old log) belongs to
// a switch.
Step classify(const std::string& path) {
  const std::string relative = path.substr(std::string(kReplicaDir).size());
  if (relative.rfind("/timeline-", 0) == 0) return Step::kTimeline;
  const bool storage_log = relative.rfind("/storage", 0) == 0 || relative.rfind("/logs", 0) == 0;
  const bool segment = relative.size() > 4 && relative.compare(relative.size() - 4, 4, ".log") == 0;
  if (storage_log && segment) return Step::kStorageFrames;
  if (storage_log || relative.rfind("/LOGS", 0) == 0) return Step::kLogSwitch;
  return Step::kOther;
}

// Where the replica crashes: at the `target`-th I/O step (counting only
// steps of `only`, if set), and at every step after it until the env is
// revived. Shared with the env's failure predicate.
struct CrashPlan {
  std::optional<Step> only;
  std::string path_contains;  // if not empty, counts only steps on such paths
  uint64_t target = 0;
  uint64_t seen = 0;
  bool fired = false;
  Step hit = Step::kOther;
  std::string hit_step;
};

class ReplicaCrash : public ::testing::Test {
 protected:
  void new_world(uint64_t seed) {
    clients_.clear();
    coordinator_.reset();
    fault_env_.reset();
    network_.drop_all();
    server_env_ = std::make_unique<MemoryEnv>(seed);
    replica_env_ = std::make_unique<MemoryEnv>(seed + 1'000'000'007);
    memory_client_env_ = std::make_unique<MemoryEnv>(seed + 2'000'000'014);
    fault_env_ = std::make_unique<FaultInjectionEnv>(replica_env_.get());
    plan_ = std::make_shared<CrashPlan>();
    crash_history_.clear();
    crashes_ = 0;
    switches_in_run_ = 0;
    document_id_ = server_env_->new_journal_id();
    durable_log_ = document_id_;

    CoordinatorDocument::Options options;
    options.document_id = document_id_;
    options.reducer = reducer_;
    options.env = server_env_.get();
    // Compact often (automatically too) and delete old logs soon, so a
    // replica that is down a few rounds finds its log gone.
    options.compaction_min_log_bytes = 32 * 1024;
    options.old_log_grace_micros = kGraceMicros;
    auto coordinator = CoordinatorDocument::open(options);
    ASSERT_OK(coordinator);
    coordinator_ = std::move(coordinator).value();

    clients_.resize(kClients);
    ASSERT_OK(open_durable());
    LocalDocument::Options memory;
    memory.document_id = document_id_;
    memory.reducer = reducer_;
    memory.env = memory_client_env_.get();
    auto client = LocalDocument::open(memory);
    ASSERT_OK(client);
    clients_[kMemory] = std::move(client).value();
  }

  Status open_durable() {
    LocalDocument::Options options;
    options.document_id = document_id_;
    options.reducer = reducer_;
    options.env = fault_env_.get();
    options.directory = kReplicaDir;
    SQLSYNC_ASSIGN_OR_RETURN(clients_[kDurable], LocalDocument::open(options));
    return Status::ok();
  }

  // Crashes the replica at the step `plan` chooses (replacing any plan).
  void arm(const CrashPlan& plan) {
    plan_ = std::make_shared<CrashPlan>(plan);
    fault_env_->set_failure_predicate([plan = plan_](IoOp op, const std::string& path) {
      if (plan->fired) return true;
      const Step step = classify(path);
      if (plan->only && *plan->only != step) return false;
      if (path.find(plan->path_contains) == std::string::npos) return false;
      if (plan->seen++ < plan->target) return false;
      plan->fired = true;
      plan->hit = step;
      plan->hit_step = std::string(io_op_name(op)) + " " + path;
      return true;
    });
  }

  // The replica process dies (power loss): its connection drops and the
  // env keeps only what was synced. It is not reopened here.
  void crash_durable(CrashMode mode) {
    if (plan_->fired) crash_history_ += plan_->hit_step + "; ";
    clients_[kDurable].reset();
    ASSERT_OK(network_.disconnect(kDurable));
    replica_env_->simulate_crash(mode, ++crashes_);
    fault_env_->clear_faults();
    plan_ = std::make_shared<CrashPlan>();
  }

  // A crash, then reopens from the directory; `plan` (if any) may crash
  // the recovery too, in which case it is crashed and reopened again.
  void crash_and_reopen(CrashMode mode, const std::optional<CrashPlan>& recovery_plan) {
    crash_durable(mode);
    if (recovery_plan) arm(*recovery_plan);
    for (int attempt = 0;; ++attempt) {
      ASSERT_LT(attempt, 5) << "reopening keeps failing";
      Status opened = open_durable();
      if (opened.is_ok() && !plan_->fired) break;
      ASSERT_TRUE(plan_->fired) << "reopen after a crash: " << opened.to_string();
      crash_durable(mode);
    }
  }

  void connect(size_t i) { network_.connect(i); }

  // The durable replica's result: an error, or a crash the call survived
  // (a dead process returns nothing), both mean it must be crashed. Any
  // other failure (coordinator, in-memory replica) is a bug.
  Status checked(size_t i, Status status) {
    if (i == kDurable && plan_->fired) return status.is_ok() ? Status::io_error("the replica crashed") : status;
    if (!status.is_ok() && i == kDurable) ADD_FAILURE() << "durable replica failed without a crash: " << status.to_string();
    if (!status.is_ok() && i != kDurable) ADD_FAILURE() << status.to_string();
    return status;
  }

  // Every round moves the coordinator's clock on.
  testing::TestNetwork::Options network_options() {
    testing::TestNetwork::Options options;
    options.check = [this](size_t who, const Status& status) { return checked(who, status); };
    options.after_round = [this](const Status& round) {
      if (round.is_ok()) note_log_switch();
      server_env_->advance_micros(kRoundMicros);
    };
    return options;
  }
  Status run_until_quiet() { return network_.run_until_quiet(); }

  void note_log_switch() {
    if (!clients_[kDurable]) return;
    const JournalId log = clients_[kDurable]->storage_log_id();
    if (log != durable_log_) ++switches_in_run_;
    durable_log_ = log;
  }

  std::string applied_counts() { return testing::applied_counts(*coordinator_); }

  // The replica keeps exactly one storage log: the current one.
  void expect_only_current_log_on_disk() {
    const JournalId current = clients_[kDurable]->storage_log_id();
    auto names = replica_env_->list_dir(kReplicaDir);
    ASSERT_OK(names);
    const bool has_storage = std::find(names->begin(), names->end(), "storage") != names->end();
    EXPECT_EQ(has_storage, current == document_id_);
    auto logs = replica_env_->list_dir(std::string(kReplicaDir) + "/logs");
    std::vector<std::string> expected;
    if (current != document_id_) expected.push_back(current.to_hex());
    EXPECT_EQ(logs.is_ok() ? *logs : std::vector<std::string>(), expected);
  }

  std::unique_ptr<MemoryEnv> server_env_;
  std::unique_ptr<MemoryEnv> replica_env_;
  std::unique_ptr<MemoryEnv> memory_client_env_;
  std::unique_ptr<FaultInjectionEnv> fault_env_;
  std::shared_ptr<CrashPlan> plan_ = std::make_shared<CrashPlan>();
  JournalId document_id_;
  std::shared_ptr<Reducer> reducer_ = std::make_shared<TodoReducer>();
  std::unique_ptr<CoordinatorDocument> coordinator_;
  std::vector<std::unique_ptr<LocalDocument>> clients_;
  testing::TestNetwork network_{coordinator_, clients_, network_options()};
  uint64_t crashes_ = 0;  // seeds the torn tails, so a seed replays alone
  // The durable replica's storage log after the last round, and how often
  // it changed in this world.
  JournalId durable_log_;
  int switches_in_run_ = 0;
  // The step of every crash so far, for failure messages.
  std::string crash_history_;
};

// Found by seed 207: a crash after the frames recording the replica's
// mutations as applied were durable, but before the timeline dropped them
// (publishing its metadata). Reopened, the replica keeps them in its
// timeline until the next rebase, and until then they are not pending.
TEST_F(ReplicaCrash, CrashBeforeTheTimelineDropsAppliedMutations) {
  new_world(1);
  for (size_t i = 0; i < kClients; ++i) connect(i);
  for (int seq = 0; seq < 3; ++seq) ASSERT_OK(clients_[kDurable]->mutate(as_bytes(counted("a", seq))));
  CrashPlan plan;
  plan.only = Step::kTimeline;
  plan.path_contains = "/metadata.tmp";
  arm(plan);
  Status quiet = run_until_quiet();
  ASSERT_TRUE(plan_->fired) << quiet.to_string();
  ASSERT_FALSE(quiet.is_ok());
  crash_and_reopen(CrashMode::kDropUnsynced, std::nullopt);
  EXPECT_EQ(clients_[kDurable]->pending_mutations(), 0u);
  EXPECT_TRUE(clients_[kDurable]->timeline_range().is_empty()) << clients_[kDurable]->timeline_range().to_string();
  EXPECT_EQ(dump_tables(*clients_[kDurable]), dump_tables(*coordinator_));

  connect(kDurable);
  ASSERT_OK(run_until_quiet());
  EXPECT_EQ(clients_[kDurable]->pending_mutations(), 0u);
  ASSERT_OK(clients_[kDurable]->mutate(as_bytes(counted("a", 3))));
  EXPECT_EQ(clients_[kDurable]->pending_mutations(), 1u);
  ASSERT_OK(run_until_quiet());
  EXPECT_EQ(clients_[kDurable]->pending_mutations(), 0u);
  EXPECT_EQ(applied_counts(), "'a' 0 1 \n'a' 1 1 \n'a' 2 1 \n'a' 3 1 \n");
  EXPECT_EQ(dump_tables(*clients_[kDurable]), dump_tables(*coordinator_));
}

TEST_F(ReplicaCrash, RandomCrashPointsLoseNothingAndApplyNothingTwice) {
  const char* points_env = std::getenv("SQLSYNC_CRASH_POINTS");
  const int points = points_env ? std::atoi(points_env) : 500;
  const char* seed_env = std::getenv("SQLSYNC_CRASH_SEED");
  const uint64_t first_seed = seed_env ? std::strtoull(seed_env, nullptr, 10) : 1;

  int crashed_mid_workload = 0;
  int crossed_switch = 0;
  int fell_back = 0;
  int crashes_at[kStepKinds] = {};
  for (uint64_t seed = first_seed; seed < first_seed + static_cast<uint64_t>(points); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: SQLSYNC_CRASH_SEED=" + std::to_string(seed) +
                 " SQLSYNC_CRASH_POINTS=1)");
    std::mt19937_64 random(seed);
    new_world(seed);
    if (HasFatalFailure()) return;
    for (size_t i = 0; i < kClients; ++i) connect(i);

    // A third of the points crash at a step of a log switch; the others
    // at any step.
    CrashPlan plan;
    if (random() % 3 == 0) {
      plan.only = Step::kLogSwitch;
      plan.target = random() % 60;
    } else {
      plan.target = random() % 400;
    }
    arm(plan);

    // What the durable replica's mutate() answered, per seq.
    std::vector<bool> confirmed;
    int sent_by_memory = 0;
    int offline_rounds = 0;
    bool crashed = false;
    bool fell_back_here = false;
    std::optional<Step> first_crash;
    auto handle_crash = [&]() {
      if (!first_crash) first_crash = plan_->hit;
      crashed = true;
      const CrashMode mode = random() % 2 ? CrashMode::kDropUnsynced : CrashMode::kCorruptUnsyncedTail;
      std::optional<CrashPlan> recovery;
      if (random() % 4 == 0) {
        recovery.emplace();
        recovery->target = random() % 40;
      }
      crash_and_reopen(mode, recovery);
      // Down for a while: long enough, sometimes, for the coordinator to
      // compact and drop the log the replica holds.
      offline_rounds = static_cast<int>(random() % 3 == 0 ? 4 + random() % 8 : random() % 2);
    };

    for (int round = 0; round < 400; ++round) {
      const bool durable_done = static_cast<int>(confirmed.size()) >= kMutationsPerClient;
      if (durable_done && sent_by_memory >= kMutationsPerClient) break;
      if (clients_[kDurable]->connected() || offline_rounds == 0) {
        if (!clients_[kDurable]->connected()) {
          if (clients_[kDurable]->storage_log_id() != coordinator_->storage_log_id() &&
              coordinator_->retained_logs() == 0) {
            fell_back_here = true;
          }
          connect(kDurable);
        }
      } else {
        --offline_rounds;
      }
      if (!durable_done && random() % 2 == 0) {
        const Status answer = clients_[kDurable]->mutate(as_bytes(counted("a", static_cast<int>(confirmed.size()))));
        confirmed.push_back(answer.is_ok());
        const Status status = checked(kDurable, answer);
        if (!status.is_ok()) {
          ASSERT_TRUE(plan_->fired) << status.to_string();
          handle_crash();
          if (HasFatalFailure()) return;
        }
      }
      if (sent_by_memory < kMutationsPerClient && random() % 2 == 0) {
        ASSERT_OK(clients_[kMemory]->mutate(as_bytes(counted("b", sent_by_memory++))));
      }
      Status status = network_.round().status();
      if (!status.is_ok()) {
        ASSERT_TRUE(plan_->fired) << status.to_string();
        handle_crash();
        if (HasFatalFailure()) return;
      }
      if (random() % 5 == 0) ASSERT_OK(coordinator_->compact());
    }
    ASSERT_GE(static_cast<int>(confirmed.size()), kMutationsPerClient) << "workload did not finish";

    for (int attempt = 0;; ++attempt) {
      ASSERT_LT(attempt, 5) << "never quiet";
      if (!clients_[kDurable]->connected()) connect(kDurable);
      Status quiet = run_until_quiet();
      if (quiet.is_ok() && !plan_->fired) break;
      ASSERT_TRUE(plan_->fired) << quiet.to_string();
      if (!first_crash) first_crash = plan_->hit;
      crash_and_reopen(random() % 2 ? CrashMode::kDropUnsynced : CrashMode::kCorruptUnsyncedTail, std::nullopt);
      if (HasFatalFailure()) return;
    }

    SCOPED_TRACE("replica crashed at: " + crash_history_);
    crashed_mid_workload += crashed;
    crossed_switch += switches_in_run_ > 0;
    fell_back += fell_back_here;
    if (first_crash) ++crashes_at[static_cast<size_t>(*first_crash)];

    std::string expected;
    for (int seq = 0; seq < static_cast<int>(confirmed.size()); ++seq) {
      if (confirmed[static_cast<size_t>(seq)]) expected += "'a' " + std::to_string(seq) + " 1 \n";
    }
    for (int seq = 0; seq < kMutationsPerClient; ++seq) expected += "'b' " + std::to_string(seq) + " 1 \n";
    ASSERT_EQ(applied_counts(), expected);
    for (size_t i = 0; i < kClients; ++i) ASSERT_EQ(clients_[i]->pending_mutations(), 0u) << "client " << i;
    const std::string coordinator_tables = dump_tables(*coordinator_);
    ASSERT_EQ(dump_tables(*clients_[kDurable]), coordinator_tables);
    ASSERT_EQ(dump_tables(*clients_[kMemory]), coordinator_tables);
    ASSERT_EQ(clients_[kDurable]->storage_log_id().to_hex(), coordinator_->storage_log_id().to_hex());
    expect_only_current_log_on_disk();
  }

  std::printf("%d crash points: %d crashed the replica mid-workload, %d crossed a log switch, %d reconnected "
              "behind a deleted log; first crash at:",
              points, crashed_mid_workload, crossed_switch, fell_back);
  for (size_t kind = 0; kind < kStepKinds; ++kind) {
    std::printf(" %s %d", step_name(static_cast<Step>(kind)), crashes_at[kind]);
  }
  std::printf("\n");
  EXPECT_GT(crashed_mid_workload, points / 2);
  EXPECT_GT(crossed_switch, 0);
  if (points >= 100) {
    EXPECT_GT(fell_back, 0);
    EXPECT_GT(crashes_at[static_cast<size_t>(Step::kTimeline)], 0);
    EXPECT_GT(crashes_at[static_cast<size_t>(Step::kStorageFrames)], 0);
    EXPECT_GT(crashes_at[static_cast<size_t>(Step::kLogSwitch)], 0);
  }
}

}  // namespace
}  // namespace sqlsync
