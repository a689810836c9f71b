#include "reducer/wasm_reducer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "sqlsync/env.h"
#include "storage/database.h"

namespace sqlsync {
namespace {

// Modules assembled from testdata/*.wat at build time.
Bytes read_testdata(const std::string& name) {
  Result<Bytes> module = Env::posix()->read_file(std::string(SQLSYNC_WASM_TESTDATA) + "/" + name);
  EXPECT_TRUE(module.is_ok()) << "missing test module " << name << ": " << module.status().to_string();
  return module.is_ok() ? *module : Bytes();
}

// One SAVEPOINT per mutation, as the runtime does; counts the calls so tests
// can check the bracketing. Fails begin_mutation number `fail_begin_at`
// (0-based) when set.
class SavepointScope final : public MutationScope {
 public:
  explicit SavepointScope(Database& db) : db_(db) {}

  Status begin_mutation() override {
    if (open_) return Status::internal("begin_mutation while a mutation is open");
    if (begins_ == fail_begin_at_) return Status::io_error("injected begin_mutation failure");
    ++begins_;
    open_ = true;
    return db_.exec("SAVEPOINT mutation");
  }
  Status end_mutation(bool keep) override {
    if (!open_) return Status::internal("end_mutation without begin_mutation");
    open_ = false;
    ++ends_;
    if (keep) return db_.exec("RELEASE mutation");
    return db_.exec("ROLLBACK TO mutation; RELEASE mutation");
  }

  void fail_begin_at(int index) { fail_begin_at_ = index; }
  int begins() const { return begins_; }
  int ends() const { return ends_; }
  bool open() const { return open_; }

 private:
  Database& db_;
  int begins_ = 0;
  int ends_ = 0;
  int fail_begin_at_ = -1;
  bool open_ = false;
};

class WasmReducerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Database>> db = Database::open(":memory:", nullptr, Database::Access::kReadWrite);
    ASSERT_TRUE(db.is_ok()) << db.status().to_string();
    db_ = std::move(*db);
  }

  // Loads commands.wasm (see testdata/commands.wat) and migrates to create t.
  void load(WasmLimits limits = {}) {
    Result<std::shared_ptr<Reducer>> reducer =
        load_wasm_reducer(read_testdata("commands.wasm"), limits,
                          [this](WasmLogLevel level, std::string_view message) {
                            logs_.push_back(std::to_string(static_cast<int>(level)) + ":" + std::string(message));
                          });
    ASSERT_TRUE(reducer.is_ok()) << reducer.status().to_string();
    reducer_ = *reducer;
    ASSERT_EQ(reducer_->schema_version(), 1u);
    ASSERT_TRUE(migrate().is_ok());
  }

  Status migrate() {
    SQLSYNC_RETURN_IF_ERROR(db_->exec("BEGIN"));
    Status status = reducer_->migrate(*db_, 0, 1);
    SQLSYNC_RETURN_IF_ERROR(db_->exec(status.is_ok() ? "COMMIT" : "ROLLBACK"));
    return status;
  }

  Status reduce(std::string_view mutation) {
    SQLSYNC_RETURN_IF_ERROR(db_->exec("BEGIN"));
    Status status = reducer_->reduce(*db_, as_bytes(mutation));
    SQLSYNC_RETURN_IF_ERROR(db_->exec(status.is_ok() ? "COMMIT" : "ROLLBACK"));
    return status;
  }

  // Runs `mutations` as one batch in one transaction; returns the verdicts
  // as "ok" or the rejection message.
  std::vector<std::string> reduce_batch(const std::vector<std::string>& mutations, SavepointScope& scope) {
    std::vector<ByteView> views;
    for (const std::string& mutation : mutations) views.push_back(as_bytes(mutation));
    std::vector<Status> verdicts(mutations.size());
    EXPECT_TRUE(db_->exec("BEGIN").is_ok());
    Status status = reducer_->reduce_batch(*db_, scope, views, verdicts);
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    EXPECT_TRUE(db_->exec("COMMIT").is_ok());
    std::vector<std::string> result;
    for (const Status& verdict : verdicts) {
      if (verdict.is_ok()) {
        result.push_back("ok");
      } else {
        EXPECT_EQ(verdict.code(), StatusCode::kRejected) << verdict.to_string();
        result.push_back(verdict.message());
      }
    }
    return result;
  }

  std::vector<std::string> rows() {
    Result<QueryResult> result = db_->query("SELECT v FROM t ORDER BY rowid");
    EXPECT_TRUE(result.is_ok()) << result.status().to_string();
    std::vector<std::string> values;
    if (!result.is_ok()) return values;
    for (const Row& row : result->rows) values.push_back(std::get<std::string>(row[0]));
    return values;
  }

  // Checks that the reducer still works after a failure.
  void expect_usable(const std::string& value) {
    Status status = reduce("i" + value);
    ASSERT_TRUE(status.is_ok()) << status.to_string();
    ASSERT_FALSE(rows().empty());
    EXPECT_EQ(rows().back(), value);
  }

  std::unique_ptr<Database> db_;
  std::shared_ptr<Reducer> reducer_;
  std::vector<std::string> logs_;
};

TEST_F(WasmReducerTest, ReduceRunsSqlThroughExecute) {
  load();
  ASSERT_TRUE(reduce("ihello").is_ok());
  ASSERT_TRUE(reduce("iworld").is_ok());
  EXPECT_EQ(rows(), (std::vector<std::string>{"hello", "world"}));
}

TEST_F(WasmReducerTest, RejectedMutationIsUndoneAndCarriesItsMessage) {
  load();
  Status status = reduce("rnot today");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message(), "not today");
  EXPECT_TRUE(rows().empty());
}

TEST_F(WasmReducerTest, BatchGetsOneVerdictPerMutation) {
  load();
  SavepointScope scope(*db_);
  std::vector<std::string> verdicts = reduce_batch({"ia", "rb", "s", "ic", "x?"}, scope);
  ASSERT_EQ(verdicts.size(), 5u);
  EXPECT_EQ(verdicts[0], "ok");
  EXPECT_EQ(verdicts[1], "b");
  EXPECT_NE(verdicts[2].find("no such table: missing_table"), std::string::npos) << verdicts[2];
  EXPECT_EQ(verdicts[3], "ok");
  EXPECT_EQ(verdicts[4], "x?");
  EXPECT_EQ(scope.begins(), 5);
  EXPECT_EQ(scope.ends(), 5);
  EXPECT_EQ(rows(), (std::vector<std::string>{"a", "c"}));
}

TEST_F(WasmReducerTest, QueryResultsReachTheGuest) {
  load();
  ASSERT_TRUE(reduce("ifirst").is_ok());
  Status status = reduce("q");
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(rows(), (std::vector<std::string>{"first", "first"}));
}

TEST_F(WasmReducerTest, GuestLogsReachTheSink) {
  load();
  ASSERT_TRUE(reduce("g").is_ok());
  EXPECT_EQ(logs_, (std::vector<std::string>{"1:hello from wasm"}));
}

TEST_F(WasmReducerTest, MigrationErrorIsRejectedWithTheGuestsMessage) {
  load();
  Status status = migrate();  // t exists already
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_NE(status.message().find("table t already exists"), std::string::npos) << status.to_string();
  EXPECT_NE(status.message().find("migration from schema version 0 to 1"), std::string::npos);
  expect_usable("after migration");
}

TEST_F(WasmReducerTest, SqlErrorIsReturnedToTheGuestWhichRejects) {
  load();
  Status status = reduce("s");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_NE(status.message().find("no such table: missing_table"), std::string::npos) << status.to_string();
  EXPECT_EQ(status.message().find("trapped"), std::string::npos) << status.to_string();
  expect_usable("after sql error");
}

TEST_F(WasmReducerTest, TrapRejectsTheMutationAndTheReducerRecovers) {
  load();
  Status status = reduce("t");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message().rfind("reducer trapped: ", 0), 0u) << status.to_string();
  EXPECT_NE(status.message().find("unreachable"), std::string::npos) << status.to_string();
  expect_usable("after trap");
}

TEST_F(WasmReducerTest, InfiniteLoopExhaustsTheBudget) {
  WasmLimits limits;
  limits.fuel_per_call = 1'000'000;
  load(limits);
  auto start = std::chrono::steady_clock::now();
  Status status = reduce("l");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message(), "reducer exceeded its execution budget (1000000 units)");
  std::printf("1M fuel units in %.3f s\n", seconds);
  expect_usable("after loop");
}

TEST_F(WasmReducerTest, MemoryGrowthPastTheCapFails) {
  WasmLimits limits;
  limits.memory_bytes = 1 << 20;
  load(limits);
  Status status = reduce("m");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message(), "reducer exceeded its memory limit (1048576 bytes)");
  expect_usable("after memory");
}

TEST_F(WasmReducerTest, OutOfBoundsPointerFromTheGuestIsATrapNotACrash) {
  load();
  Status status = reduce("p");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message().rfind("reducer trapped: execute: sql (address 4294967040, 1000 bytes) is outside", 0),
            0u)
      << status.to_string();
  expect_usable("after bad pointer");
}

TEST_F(WasmReducerTest, AbiMisuseIsATrap) {
  load();
  Status status = reduce("k");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message(), "reducer trapped: mutation_begin: mutation 0 is still open (call mutation_end first)");
  expect_usable("after misuse");
}

TEST_F(WasmReducerTest, FailuresInABatchRejectOnlyTheirMutation) {
  WasmLimits limits;
  limits.fuel_per_call = 1'000'000;
  load(limits);
  SavepointScope scope(*db_);
  std::vector<std::string> verdicts = reduce_batch({"ia", "t", "ib", "l", "rx", "m", "p", "ic"}, scope);
  ASSERT_EQ(verdicts.size(), 8u);
  EXPECT_EQ(verdicts[0], "ok");
  EXPECT_EQ(verdicts[1].rfind("reducer trapped: ", 0), 0u) << verdicts[1];
  EXPECT_EQ(verdicts[2], "ok");
  EXPECT_EQ(verdicts[3].rfind("reducer exceeded its execution budget", 0), 0u) << verdicts[3];
  // "rx" ended rejected in the same guest call as "m", whose failure lost the
  // verdicts buffer: still rejected (and undone), but without its message.
  EXPECT_EQ(verdicts[4].rfind("reducer rejected the mutation (its message was lost", 0), 0u) << verdicts[4];
  EXPECT_EQ(verdicts[5].rfind("reducer exceeded its memory limit", 0), 0u) << verdicts[5];
  EXPECT_EQ(verdicts[6].rfind("reducer trapped: execute: ", 0), 0u) << verdicts[6];
  EXPECT_EQ(verdicts[7], "ok");
  EXPECT_EQ(scope.begins(), 8);
  EXPECT_EQ(scope.ends(), 8);
  EXPECT_EQ(rows(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(WasmReducerTest, HostScopeFailureFailsTheBatch) {
  load();
  SavepointScope scope(*db_);
  scope.fail_begin_at(1);
  std::vector<ByteView> views = {as_bytes("ia"), as_bytes("ib")};
  std::vector<Status> verdicts(2);
  ASSERT_TRUE(db_->exec("BEGIN").is_ok());
  Status status = reducer_->reduce_batch(*db_, scope, views, verdicts);
  ASSERT_TRUE(db_->exec("ROLLBACK").is_ok());
  EXPECT_EQ(status.code(), StatusCode::kIOError);
  EXPECT_EQ(status.message(), "injected begin_mutation failure");
  expect_usable("after host failure");
}

TEST(WasmReducerLoadTest, RefusesBytesThatAreNotWasm) {
  Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(as_bytes("hello, world"));
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reducer.status().message().rfind("not a WebAssembly module: ", 0), 0u) << reducer.status().to_string();
}

TEST(WasmReducerLoadTest, RefusesATruncatedModule) {
  Bytes module = read_testdata("commands.wasm");
  module.resize(module.size() / 2);
  Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(module);
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reducer.status().message().rfind("not a WebAssembly module: ", 0), 0u) << reducer.status().to_string();
}

TEST(WasmReducerLoadTest, NamesAMissingExport) {
  Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(read_testdata("missing_export.wasm"));
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reducer.status().message(), "reducer does not export sqlsync_reduce (see docs/reducer-abi.md)");
}

TEST(WasmReducerLoadTest, RefusesAnotherAbiVersion) {
  Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(read_testdata("abi_version_2.wasm"));
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(reducer.status().message(), "reducer ABI version 2, this host supports 1");
}

TEST(WasmReducerLoadTest, NamesAnImportTheHostDoesNotProvide) {
  Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(read_testdata("foreign_import.wasm"));
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(reducer.status().message().find("wasi_snapshot_preview1.fd_write"), std::string::npos)
      << reducer.status().to_string();
}

TEST(WasmReducerLoadTest, RefusesAModuleOverTheSizeLimit) {
  WasmLimits limits;
  limits.module_bytes = 100;
  Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(read_testdata("commands.wasm"), limits);
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(reducer.status().message().find("over the limit of 100 bytes"), std::string::npos);
}

TEST(WasmReducerLoadTest, RefusesAnInitialMemoryOverTheCap) {
  WasmLimits limits;
  limits.memory_bytes = 32 << 10;  // half a page: commands.wat starts with one
  Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(read_testdata("commands.wasm"), limits);
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
}

TEST(WasmReducerLoadTest, CallsInitializeOfAReactor) {
  Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(read_testdata("reactor.wasm"));
  ASSERT_TRUE(reducer.is_ok()) << reducer.status().to_string();
  EXPECT_EQ((*reducer)->schema_version(), 7u);
}

// Not a benchmark gate: prints the cost of crossing into the guest.
TEST_F(WasmReducerTest, TrivialCallSpeed) {
  load();
  ASSERT_TRUE(db_->exec("BEGIN").is_ok());
  constexpr int kCalls = 20000;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) ASSERT_TRUE(reducer_->reduce(*db_, as_bytes("n")).is_ok());
  double single = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  SavepointScope scope(*db_);
  std::vector<ByteView> batch(100, as_bytes("n"));
  std::vector<Status> verdicts(batch.size());
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls / 100; ++i) ASSERT_TRUE(reducer_->reduce_batch(*db_, scope, batch, verdicts).is_ok());
  double batched = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(db_->exec("COMMIT").is_ok());
  std::printf("trivial reduce: %.0f calls/s; batches of 100 with savepoints: %.0f mutations/s\n", kCalls / single,
              kCalls / batched);
}

}  // namespace
}  // namespace sqlsync
