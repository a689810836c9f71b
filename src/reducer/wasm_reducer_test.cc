// The WASM reducer host on both backends (wabt's interpreter and wasm2c AOT):
// every behaviour test runs on each, plus tests of the AOT cache and of AOT
// engines on several threads.
#include "reducer/wasm_reducer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "reducer/wasm_aot.h"
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

Bytes read_todo_module() {
  Result<Bytes> module = Env::posix()->read_file(SQLSYNC_TODO_REDUCER_WASM);
  EXPECT_TRUE(module.is_ok()) << module.status().to_string();
  return module.is_ok() ? *module : Bytes();
}

// A fresh directory under the system's temporary directory, removed with
// everything in it when the object dies.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sqlsync-aot-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    EXPECT_FALSE(path_.empty()) << "cannot create a scratch directory";
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The AOT cache every test of this binary shares: each module is compiled
// once per run.
const std::string& shared_cache_dir() {
  static ScratchDir dir;
  return dir.path();
}

WasmLimits limits_for(WasmBackend backend) {
  WasmLimits limits;
  limits.backend = backend;
  limits.aot_cache_dir = shared_cache_dir();
  return limits;
}

std::string backend_name(const ::testing::TestParamInfo<WasmBackend>& info) {
  return info.param == WasmBackend::kAot ? "Aot" : "Interpreter";
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

class WasmReducerTest : public ::testing::TestWithParam<WasmBackend> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Database>> db = Database::open(":memory:", nullptr, Database::Access::kReadWrite);
    ASSERT_TRUE(db.is_ok()) << db.status().to_string();
    db_ = std::move(*db);
  }

  // Limits with this test's backend.
  WasmLimits limits() const { return limits_for(GetParam()); }

  // Loads commands.wasm (see testdata/commands.wat) and migrates to create t.
  void load() { load(limits()); }
  void load(WasmLimits limits) {
    Result<std::shared_ptr<Reducer>> reducer =
        load_wasm_reducer(read_testdata("commands.wasm"), limits, [this](WasmLogLevel level, std::string_view message) {
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

TEST_P(WasmReducerTest, ReduceRunsSqlThroughExecute) {
  load();
  ASSERT_TRUE(reduce("ihello").is_ok());
  ASSERT_TRUE(reduce("iworld").is_ok());
  EXPECT_EQ(rows(), (std::vector<std::string>{"hello", "world"}));
}

TEST_P(WasmReducerTest, RejectedMutationIsUndoneAndCarriesItsMessage) {
  load();
  Status status = reduce("rnot today");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message(), "not today");
  EXPECT_TRUE(rows().empty());
}

TEST_P(WasmReducerTest, BatchGetsOneVerdictPerMutation) {
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

TEST_P(WasmReducerTest, QueryResultsReachTheGuest) {
  load();
  ASSERT_TRUE(reduce("ifirst").is_ok());
  Status status = reduce("q");
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(rows(), (std::vector<std::string>{"first", "first"}));
}

TEST_P(WasmReducerTest, GuestLogsReachTheSink) {
  load();
  ASSERT_TRUE(reduce("g").is_ok());
  EXPECT_EQ(logs_, (std::vector<std::string>{"1:hello from wasm"}));
}

TEST_P(WasmReducerTest, MigrationErrorIsRejectedWithTheGuestsMessage) {
  load();
  Status status = migrate();  // t exists already
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_NE(status.message().find("table t already exists"), std::string::npos) << status.to_string();
  EXPECT_NE(status.message().find("migration from schema version 0 to 1"), std::string::npos);
  expect_usable("after migration");
}

TEST_P(WasmReducerTest, SqlErrorIsReturnedToTheGuestWhichRejects) {
  load();
  Status status = reduce("s");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_NE(status.message().find("no such table: missing_table"), std::string::npos) << status.to_string();
  EXPECT_EQ(status.message().find("trapped"), std::string::npos) << status.to_string();
  expect_usable("after sql error");
}

TEST_P(WasmReducerTest, TrapRejectsTheMutationAndTheReducerRecovers) {
  load();
  Status status = reduce("t");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message().rfind("reducer trapped: ", 0), 0u) << status.to_string();
  EXPECT_NE(status.message().find("unreachable"), std::string::npos) << status.to_string();
  expect_usable("after trap");
}

TEST_P(WasmReducerTest, InfiniteLoopExhaustsTheBudget) {
  WasmLimits limits = this->limits();
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

TEST_P(WasmReducerTest, MemoryGrowthPastTheCapFails) {
  WasmLimits limits = this->limits();
  limits.memory_bytes = 1 << 20;
  load(limits);
  Status status = reduce("m");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message(), "reducer exceeded its memory limit (1048576 bytes)");
  expect_usable("after memory");
}

TEST_P(WasmReducerTest, OutOfBoundsPointerFromTheGuestIsATrapNotACrash) {
  load();
  Status status = reduce("p");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message().rfind("reducer trapped: execute: sql (address 4294967040, 1000 bytes) is outside", 0), 0u)
      << status.to_string();
  expect_usable("after bad pointer");
}

TEST_P(WasmReducerTest, AbiMisuseIsATrap) {
  load();
  Status status = reduce("k");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message(), "reducer trapped: mutation_begin: mutation 0 is still open (call mutation_end first)");
  expect_usable("after misuse");
}

TEST_P(WasmReducerTest, FailuresInABatchRejectOnlyTheirMutation) {
  WasmLimits limits = this->limits();
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

TEST_P(WasmReducerTest, HostScopeFailureFailsTheBatch) {
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

TEST_P(WasmReducerTest, OutOfBoundsAccessIsATrapNotACrash) {
  load();
  Status status = reduce("o");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message().rfind("reducer trapped: out of bounds memory access", 0), 0u) << status.to_string();
  expect_usable("after out-of-bounds access");
}

TEST_P(WasmReducerTest, UnboundedRecursionIsATrapNotACrash) {
  load();
  Status status = reduce("d");
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.message().rfind("reducer trapped: ", 0), 0u) << status.to_string();
  EXPECT_NE(status.message().find("call stack exhausted"), std::string::npos) << status.to_string();
  expect_usable("after recursion");
}

TEST_P(WasmReducerTest, InternalTablesAreOutOfReach) {
  load();
  ASSERT_TRUE(db_->exec("CREATE TABLE __sqlsync_timelines(id BLOB PRIMARY KEY, lsn INTEGER)").is_ok());
  ASSERT_TRUE(db_->exec("BEGIN").is_ok());
  db_->set_confined(true);  // as the runtime runs every reducer
  Status status = reducer_->reduce(*db_, as_bytes("u"));
  db_->set_confined(false);
  ASSERT_TRUE(db_->exec("ROLLBACK").is_ok());
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_NE(status.message().find("__sqlsync_timelines"), std::string::npos) << status.to_string();
  EXPECT_EQ(status.message().find("trapped"), std::string::npos) << status.to_string();
  Result<QueryResult> rows = db_->query("SELECT count(*) FROM __sqlsync_timelines");
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  EXPECT_EQ(rows->rows[0][0], Value(int64_t{0}));
  expect_usable("after touching __sqlsync_timelines");
}

TEST_P(WasmReducerTest, MalformedJsonIsRejectedAndTheReducerGoesOn) {
  Result<std::shared_ptr<Reducer>> todo = load_wasm_reducer(read_todo_module(), limits());
  ASSERT_TRUE(todo.is_ok()) << todo.status().to_string();
  reducer_ = *todo;
  ASSERT_TRUE(migrate().is_ok());
  SavepointScope scope(*db_);
  std::vector<std::string> verdicts = reduce_batch({"{", R"({"tag":"CreateTask","id":"t1","description":"first"})",
                                                    "[1,2]", R"({"tag":"CreateTask","id":"t2","description":"x",})",
                                                    R"({"tag":"CreateTask","id":"t3","description":"third"})"},
                                                   scope);
  ASSERT_EQ(verdicts.size(), 5u);
  EXPECT_EQ(verdicts[0], "todo mutation is not valid JSON (1 bytes)");
  EXPECT_EQ(verdicts[1], "ok");
  EXPECT_EQ(verdicts[2], "todo mutation must be a JSON object, not array");
  EXPECT_EQ(verdicts[3].rfind("todo mutation is not valid JSON", 0), 0u) << verdicts[3];
  EXPECT_EQ(verdicts[4], "ok");
  Result<QueryResult> tasks = db_->query("SELECT count(*) FROM tasks");
  ASSERT_TRUE(tasks.is_ok()) << tasks.status().to_string();
  EXPECT_EQ(tasks->rows[0][0], Value(int64_t{2}));
}

INSTANTIATE_TEST_SUITE_P(Backends, WasmReducerTest, ::testing::Values(WasmBackend::kInterpreter, WasmBackend::kAot),
                         backend_name);

class WasmReducerLoadTest : public ::testing::TestWithParam<WasmBackend> {
 protected:
  Result<std::shared_ptr<Reducer>> load(ByteView module, WasmLimits limits) {
    limits.backend = GetParam();
    limits.aot_cache_dir = shared_cache_dir();
    return load_wasm_reducer(module, limits);
  }
  Result<std::shared_ptr<Reducer>> load(ByteView module) { return load(module, WasmLimits()); }
};

TEST_P(WasmReducerLoadTest, RefusesBytesThatAreNotWasm) {
  Result<std::shared_ptr<Reducer>> reducer = load(as_bytes("hello, world"));
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reducer.status().message().rfind("not a WebAssembly module: ", 0), 0u) << reducer.status().to_string();
}

TEST_P(WasmReducerLoadTest, RefusesATruncatedModule) {
  Bytes module = read_testdata("commands.wasm");
  module.resize(module.size() / 2);
  Result<std::shared_ptr<Reducer>> reducer = load(module);
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reducer.status().message().rfind("not a WebAssembly module: ", 0), 0u) << reducer.status().to_string();
}

TEST_P(WasmReducerLoadTest, NamesAMissingExport) {
  Result<std::shared_ptr<Reducer>> reducer = load(read_testdata("missing_export.wasm"));
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reducer.status().message(), "reducer does not export sqlsync_reduce (see docs/reducer-abi.md)");
}

TEST_P(WasmReducerLoadTest, RefusesAnotherAbiVersion) {
  Result<std::shared_ptr<Reducer>> reducer = load(read_testdata("abi_version_2.wasm"));
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(reducer.status().message(), "reducer ABI version 2, this host supports 1");
}

TEST_P(WasmReducerLoadTest, NamesAnImportTheHostDoesNotProvide) {
  Result<std::shared_ptr<Reducer>> reducer = load(read_testdata("foreign_import.wasm"));
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(reducer.status().message().find("wasi_snapshot_preview1.fd_write"), std::string::npos)
      << reducer.status().to_string();
}

TEST_P(WasmReducerLoadTest, RefusesAModuleOverTheSizeLimit) {
  WasmLimits limits;
  limits.module_bytes = 100;
  Result<std::shared_ptr<Reducer>> reducer = load(read_testdata("commands.wasm"), limits);
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(reducer.status().message().find("over the limit of 100 bytes"), std::string::npos);
}

TEST_P(WasmReducerLoadTest, RefusesAnInitialMemoryOverTheCap) {
  WasmLimits limits;
  limits.memory_bytes = 32 << 10;  // half a page: commands.wat starts with one
  Result<std::shared_ptr<Reducer>> reducer = load(read_testdata("commands.wasm"), limits);
  ASSERT_FALSE(reducer.is_ok());
  EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
}

TEST_P(WasmReducerLoadTest, CallsInitializeOfAReactor) {
  Result<std::shared_ptr<Reducer>> reducer = load(read_testdata("reactor.wasm"));
  ASSERT_TRUE(reducer.is_ok()) << reducer.status().to_string();
  EXPECT_EQ((*reducer)->schema_version(), 7u);
}

INSTANTIATE_TEST_SUITE_P(Backends, WasmReducerLoadTest, ::testing::Values(WasmBackend::kInterpreter, WasmBackend::kAot),
                         backend_name);

// A module wasm2c cannot translate: kAot fails, kAuto logs why and runs the
// interpreter.
TEST(WasmBackendTest, AutoFallsBackToTheInterpreterWhenCompilationFails) {
  WasmLimits limits = limits_for(WasmBackend::kAot);
  Result<std::shared_ptr<Reducer>> aot = load_wasm_reducer(read_testdata("simd.wasm"), limits);
  ASSERT_FALSE(aot.is_ok());
  EXPECT_EQ(aot.status().code(), StatusCode::kInternal) << aot.status().to_string();
  EXPECT_NE(aot.status().message().find("wasm2c"), std::string::npos) << aot.status().to_string();

  limits.backend = WasmBackend::kAuto;
  std::vector<std::string> logs;
  Result<std::shared_ptr<Reducer>> automatic =
      load_wasm_reducer(read_testdata("simd.wasm"), limits, [&logs](WasmLogLevel level, std::string_view message) {
        logs.push_back(std::to_string(static_cast<int>(level)) + ":" + std::string(message));
      });
  ASSERT_TRUE(automatic.is_ok()) << automatic.status().to_string();
  EXPECT_EQ((*automatic)->schema_version(), 3u);
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].rfind("2:sqlsync: running the reducer in the interpreter, AOT compilation is unavailable: ", 0), 0u)
      << logs[0];
}

// Loads commands.wasm on the AOT backend with the cache in `cache_dir`.
Result<std::shared_ptr<Reducer>> load_aot_commands(const std::string& cache_dir, WasmLimits limits = {}) {
  limits.backend = WasmBackend::kAot;
  limits.aot_cache_dir = cache_dir;
  return load_wasm_reducer(read_testdata("commands.wasm"), limits);
}

// The cache entries (not scratch files) in `cache_dir`.
std::vector<std::string> cache_entries(const std::string& cache_dir) {
  std::vector<std::string> entries;
  for (const auto& entry : std::filesystem::directory_iterator(cache_dir)) {
    if (entry.path().extension() == ".so") entries.push_back(entry.path().string());
  }
  return entries;
}

TEST(WasmAotCacheTest, SecondLoadDoesNotRecompile) {
  ScratchDir cache;
  const wasm::AotCounters before = wasm::aot_counters();
  Result<std::shared_ptr<Reducer>> first = load_aot_commands(cache.path());
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(wasm::aot_counters().compiled, before.compiled + 1);
  EXPECT_EQ(cache_entries(cache.path()).size(), 1u);

  // While the first reducer lives, its library is shared in memory.
  Result<std::shared_ptr<Reducer>> second = load_aot_commands(cache.path());
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_EQ(wasm::aot_counters().compiled, before.compiled + 1);
  EXPECT_EQ(wasm::aot_counters().loaded_from_disk, before.loaded_from_disk);

  // Once none does, the next load reads the cache entry from disk.
  first = Status::internal("dropped");
  second = Status::internal("dropped");
  Result<std::shared_ptr<Reducer>> third = load_aot_commands(cache.path());
  ASSERT_TRUE(third.is_ok()) << third.status().to_string();
  EXPECT_EQ(wasm::aot_counters().compiled, before.compiled + 1);
  EXPECT_EQ(wasm::aot_counters().loaded_from_disk, before.loaded_from_disk + 1);
  EXPECT_EQ(wasm::aot_counters().corrupt_entries, before.corrupt_entries);

  // Other limits make another module, so another entry.
  WasmLimits limits;
  limits.fuel_per_call = 12345;
  Result<std::shared_ptr<Reducer>> other = load_aot_commands(cache.path(), limits);
  ASSERT_TRUE(other.is_ok()) << other.status().to_string();
  EXPECT_EQ(wasm::aot_counters().compiled, before.compiled + 2);
  EXPECT_EQ(cache_entries(cache.path()).size(), 2u);
}

TEST(WasmAotCacheTest, CorruptEntryIsDetectedAndRebuilt) {
  ScratchDir cache;
  {
    Result<std::shared_ptr<Reducer>> reducer = load_aot_commands(cache.path());
    ASSERT_TRUE(reducer.is_ok()) << reducer.status().to_string();
  }
  std::vector<std::string> entries = cache_entries(cache.path());
  ASSERT_EQ(entries.size(), 1u);
  const std::string entry = entries[0];
  const auto size = std::filesystem::file_size(entry);

  // One flipped byte in the middle of the library, then a truncated entry.
  for (int damage = 0; damage < 2; ++damage) {
    if (damage == 0) {
      std::fstream file(entry, std::ios::in | std::ios::out | std::ios::binary);
      file.seekg(static_cast<std::streamoff>(size / 2));
      char byte = 0;
      file.read(&byte, 1);
      byte = static_cast<char>(byte ^ 0x5a);
      file.seekp(static_cast<std::streamoff>(size / 2));
      file.write(&byte, 1);
    } else {
      std::filesystem::resize_file(entry, size - 10);
    }
    const wasm::AotCounters before = wasm::aot_counters();
    Result<std::shared_ptr<Reducer>> reducer = load_aot_commands(cache.path());
    ASSERT_TRUE(reducer.is_ok()) << reducer.status().to_string();
    EXPECT_EQ(wasm::aot_counters().corrupt_entries, before.corrupt_entries + 1) << "damage " << damage;
    EXPECT_EQ(wasm::aot_counters().compiled, before.compiled + 1) << "damage " << damage;
    EXPECT_EQ(std::filesystem::file_size(entry), size) << "the rebuilt entry replaced the damaged one";

    auto db = Database::open(":memory:", nullptr, Database::Access::kReadWrite);
    ASSERT_TRUE(db.is_ok());
    ASSERT_TRUE((*db)->exec("BEGIN").is_ok());
    ASSERT_TRUE((*reducer)->migrate(**db, 0, 1).is_ok());
    EXPECT_TRUE((*reducer)->reduce(**db, as_bytes("iworks")).is_ok());
    ASSERT_TRUE((*db)->exec("COMMIT").is_ok());
  }
}

// Documents on three threads, each with its own reducer on the AOT backend
// (two share a library, one has its own), trapping in every way concurrently.
TEST(WasmAotThreadTest, EnginesOnSeveralThreadsTrapIndependently) {
  // With a small budget, unbounded recursion runs out of fuel before it runs
  // out of stack.
  WasmLimits small_budget = limits_for(WasmBackend::kAot);
  small_budget.fuel_per_call = 100'000;
  const std::string stack_exhausted = "reducer trapped: call stack exhausted";
  const std::string budget_exhausted = "reducer exceeded its execution budget";
  auto run = [](WasmLimits limits, std::string deep_recursion, std::vector<std::string>* failures) {
    Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(read_testdata("commands.wasm"), limits);
    if (!reducer.is_ok()) {
      failures->push_back(reducer.status().to_string());
      return;
    }
    auto db = Database::open(":memory:", nullptr, Database::Access::kReadWrite);
    if (!db.is_ok() || !(*db)->exec("BEGIN").is_ok() || !(*reducer)->migrate(**db, 0, 1).is_ok()) {
      failures->push_back("setup failed");
      return;
    }
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"ia", ""},
        {"t", "reducer trapped: unreachable executed"},
        {"o", "reducer trapped: out of bounds memory access"},
        {"d", deep_recursion},
        {"p", "reducer trapped: execute: sql (address 4294967040"},
        {"l", "reducer exceeded its execution budget"},
        {"ib", ""}};
    for (int round = 0; round < 20; ++round) {
      for (const auto& [mutation, prefix] : expected) {
        Status status = (*reducer)->reduce(**db, as_bytes(mutation));
        const std::string got = status.is_ok() ? "" : status.message();
        if (got.rfind(prefix, 0) != 0 || (prefix.empty() && !got.empty())) {
          failures->push_back(mutation + ": " + got);
        }
      }
    }
    Result<QueryResult> count = (*db)->query("SELECT count(*) FROM t");
    if (!count.is_ok() || count->rows[0][0] != Value(int64_t{40})) failures->push_back("wrong row count");
  };
  std::vector<std::string> failures[3];
  std::thread first(run, limits_for(WasmBackend::kAot), stack_exhausted, &failures[0]);
  std::thread second(run, limits_for(WasmBackend::kAot), stack_exhausted, &failures[1]);
  std::thread third(run, small_budget, budget_exhausted, &failures[2]);
  first.join();
  second.join();
  third.join();
  for (const auto& thread_failures : failures) {
    EXPECT_TRUE(thread_failures.empty()) << thread_failures.front();
  }
}

// Not a benchmark gate: prints the cost of crossing into the guest.
TEST_P(WasmReducerTest, TrivialCallSpeed) {
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
